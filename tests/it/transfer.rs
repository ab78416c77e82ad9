//! Zone transfers end to end: AXFR and IXFR read by a raw client and by
//! kdig, refusals compared byte for byte, real NSD and Knot secondaries
//! that follow cairn's zones through NOTIFY, and a zone of 100,000
//! instances streamed to Knot in bounded memory.

pub mod client;
mod follow;
mod ixfr;
mod large;
mod per_namespace;
mod secondaries;
mod tsig;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use self::client::{axfr_lines, axfr_query, ixfr_query, transfer, transfer_raw};
use crate::support::{TestServer, exchange_udp, query_message, rcode, require_tool};

/// A public zone `svc.test` with `web` (A + SRV) and an alias.
const ZONE: &str = r#"
[namespace]
name = "svc.test"
type = "DNS_PUBLIC"

[namespace.soa]
ttl = 60

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }, { type = "SRV", ttl = 10 }]

[[services.instances]]
id = "w1"
ipv4 = "10.0.0.1"
port = 8080

[[services]]
name = "alias"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 30 }]
instances = [{ id = "to-web", cname = "web.svc.test" }]
"#;

/// Transfers open to loopback.
const OPEN: &str = "[transfer]\nallow = [\"127.0.0.1\"]\n";

fn big_zone(instances: usize) -> String {
    big_zone_of(&["many"], instances)
}

/// `big.test` with one A+SRV service per name in `services`, each with
/// `per_service` instances; instance ids and addresses count on across
/// services, so every address is distinct.
pub fn big_zone_of(services: &[&str], per_service: usize) -> String {
    let mut zone = String::from("[namespace]\nname = \"big.test\"\ntype = \"DNS_PUBLIC\"\n");
    let mut index = 0usize;
    for service in services {
        zone.push_str(&format!(
            "\n[[services]]\nname = \"{service}\"\nrecords = [{{ type = \"A\", ttl = 10 }}, {{ type = \"SRV\", ttl = 10 }}]\n"
        ));
        for _ in 0..per_service {
            zone.push_str(&format!(
                "\n[[services.instances]]\nid = \"i{index}\"\nipv4 = \"10.{}.{}.{}\"\nport = 80\n",
                index >> 16,
                (index >> 8) & 0xff,
                index & 0xff
            ));
            index += 1;
        }
    }
    zone
}

#[test]
fn axfr_streams_every_record_in_messages_of_bounded_size() {
    let instances = 2000;
    let server = TestServer::start_with(&[("big.test.toml", &big_zone(instances))], OPEN);
    let raw = transfer_raw(server.dns, &axfr_query("big.test.")).expect("AXFR");
    assert!(raw.len() > 1, "{} instances fit one message?", instances);
    assert!(
        raw.iter().all(|message| message.len() < 16 * 1024),
        "message sizes {:?}",
        raw.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let messages: Vec<Message> = raw.iter().map(|m| Message::from_vec(m).unwrap()).collect();
    let records: Vec<_> = messages.iter().flat_map(|m| m.answers.iter()).collect();
    assert_eq!(records.first().unwrap().record_type(), RecordType::SOA);
    assert_eq!(records.last().unwrap().record_type(), RecordType::SOA);
    assert!(messages.iter().all(|m| m.metadata.authoritative));
    let count = |rtype| records.iter().filter(|r| r.record_type() == rtype).count();
    // Every instance: A at the service, SRV, and A at its own name; one NS
    // with its glue.
    assert_eq!(count(RecordType::SRV), instances);
    assert_eq!(count(RecordType::A), 2 * instances + 1);
    assert_eq!(count(RecordType::NS), 1);
    assert_eq!(count(RecordType::SOA), 2);
    let soa = |record: &hickory_proto::rr::Record| match &record.data {
        RData::SOA(soa) => soa.serial,
        _ => unreachable!(),
    };
    assert_eq!(soa(records.first().unwrap()), soa(records.last().unwrap()));
    let names: std::collections::BTreeSet<String> = records
        .iter()
        .map(|r| r.name.to_ascii().to_ascii_lowercase())
        .collect();
    assert!(names.contains("i1999.many.big.test."), "{names:?}");

    // kdig reads the same transfer and counts the same records.
    if let Some(kdig) = require_tool("kdig") {
        let output = Command::new(kdig)
            .args([
                &format!("@{}", server.dns.ip()),
                "-p",
                &server.dns.port().to_string(),
                "big.test.",
                "AXFR",
            ])
            .output()
            .expect("run kdig");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains(&format!(
                "({} messages, {} records)",
                raw.len(),
                records.len()
            )),
            "kdig: {text}"
        );
    }
}

#[test]
fn the_zone_transferred_is_the_zone_answered() {
    let server = TestServer::start_with(&[("svc.test.toml", ZONE)], OPEN);
    let lines = axfr_lines(server.dns, "svc.test.", "cairn");
    let expected = [
        "svc.test. 60 NS ns1.svc.test.",
        "ns1.svc.test. 60 A 127.0.0.1",
        "web.svc.test. 10 A 10.0.0.1",
        "web.svc.test. 10 SRV 1 1 8080 w1.web.svc.test.",
        "w1.web.svc.test. 10 A 10.0.0.1",
        "alias.svc.test. 30 CNAME web.svc.test.",
    ];
    for line in expected {
        assert!(lines.contains(line), "{line} missing from {lines:#?}");
    }
    assert_eq!(lines.len(), expected.len() + 1, "{lines:#?}");
}

/// The bytes of a reply to `query` over TCP, with the id set to 0 so two
/// replies compare.
fn refusal_bytes(server: SocketAddr, query: &Message) -> Vec<u8> {
    let mut reply = transfer_raw(server, query).expect("a reply").remove(0);
    reply[..2].copy_from_slice(&[0, 0]);
    reply
}

#[test]
fn transfers_are_refused_unless_allowed_and_alike_for_every_reason() {
    let private = r#"
[namespace]
name = "hidden.test"
type = "DNS_PRIVATE"
allowed_networks = ["10.0.0.0/8"]
"#;
    let visible = r#"
[namespace]
name = "visible.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]
"#;
    let server = TestServer::start_with(
        &[
            ("svc.test.toml", ZONE),
            ("hidden.test.toml", private),
            ("visible.test.toml", visible),
        ],
        OPEN,
    );
    // A private namespace transfers to a client both it and [transfer]
    // allow.
    let lines = axfr_lines(server.dns, "visible.test.", "cairn");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("visible.test. 60 NS")),
        "{lines:?}"
    );
    let closed = TestServer::start(&[("svc.test.toml", ZONE)]);
    let elsewhere = TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        "[transfer]\nallow = [\"10.0.0.0/8\"]\n",
    );
    // What a server that serves nothing answers: the refusal every other
    // must be, byte for byte (ids aside), so that none tells anything.
    let nothing = TestServer::start(&[]);
    for (what, target, zone) in [
        ("a zone not served", &server, "nowhere.test."),
        ("transfers off (the default)", &closed, "svc.test."),
        ("a client not allowed", &elsewhere, "svc.test."),
        (
            "a private zone that does not answer the client",
            &server,
            "hidden.test.",
        ),
        ("a name below a zone's apex", &server, "web.svc.test."),
    ] {
        let refused = refusal_bytes(target.dns, &axfr_query(zone));
        assert_eq!(
            Message::from_vec(&refused).unwrap().metadata.response_code,
            ResponseCode::Refused,
            "{what}"
        );
        assert_eq!(
            refused,
            refusal_bytes(nothing.dns, &axfr_query(zone)),
            "{what}: not the refusal for a zone cairn does not serve"
        );
        let ixfr = refusal_bytes(target.dns, &ixfr_query(zone, 1));
        assert_eq!(
            Message::from_vec(&ixfr).unwrap().metadata.response_code,
            ResponseCode::Refused,
            "{what}, IXFR"
        );
    }
    // cairn is a primary only: an inbound NOTIFY is not implemented, over
    // either transport, and leaves nothing to do (no state, no task).
    let mut notify = query_message("svc.test.", RecordType::SOA, None);
    notify.metadata.op_code = hickory_proto::op::OpCode::Notify;
    notify.metadata.authoritative = true;
    let reply = exchange_udp(server.dns, &notify, None, Duration::from_secs(2)).expect("UDP");
    assert_eq!(rcode(&reply), ResponseCode::NotImp);
    let reply = crate::support::exchange_tcp(server.dns, &notify).expect("TCP");
    assert_eq!(rcode(&reply), ResponseCode::NotImp);
    // Over UDP: AXFR refused, even where TCP would transfer; IXFR answered
    // with the SOA alone ("up to date, or come over TCP", RFC 1995 §2),
    // which is how NSD checks a zone at each refresh, and refused as any
    // other where TCP would refuse it.
    let query = query_message("svc.test.", RecordType::AXFR, None);
    let reply = exchange_udp(server.dns, &query, None, Duration::from_secs(2)).expect("UDP");
    assert_eq!(rcode(&reply), ResponseCode::Refused, "AXFR over UDP");
    assert!(reply.answers.is_empty());
    let serial = client::serial(server.dns, "svc.test.").expect("SOA");
    for client_serial in [serial - 1, serial] {
        let reply = exchange_udp(
            server.dns,
            &ixfr_query("svc.test.", client_serial),
            None,
            Duration::from_secs(2),
        )
        .expect("UDP");
        assert_eq!(rcode(&reply), ResponseCode::NoError, "IXFR over UDP");
        assert!(reply.metadata.authoritative);
        assert_eq!(reply.answers.len(), 1, "{:?}", reply.answers);
        assert!(matches!(&reply.answers[0].data, RData::SOA(soa) if soa.serial == serial));
    }
    for (target, zone) in [
        (&closed, "svc.test."),
        (&server, "hidden.test."),
        (&server, "nowhere.test."),
    ] {
        let mut query = ixfr_query(zone, 1);
        query.metadata.id = 9;
        let refused = exchange_udp_bytes(target.dns, &query);
        assert_eq!(
            refused,
            exchange_udp_bytes(nothing.dns, &query),
            "IXFR over UDP for {zone}"
        );
    }
}

/// The bytes of the reply to `query` over UDP.
fn exchange_udp_bytes(server: SocketAddr, query: &Message) -> Vec<u8> {
    let bytes = query.to_vec().expect("encode");
    crate::support::exchange_udp_raw(server, &bytes, None, Duration::from_secs(2))
        .expect("UDP reply")
}

#[test]
fn ixfr_answers_one_soa_when_current_and_the_zone_otherwise() {
    let server = TestServer::start_with(&[("svc.test.toml", ZONE)], OPEN);
    let serial = client::serial(server.dns, "svc.test.").expect("SOA");
    let current = transfer(server.dns, &ixfr_query("svc.test.", serial)).expect("IXFR");
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].answers.len(), 1, "{:?}", current[0].answers);
    assert_eq!(current[0].answers[0].record_type(), RecordType::SOA);
    // A client "ahead" (by serial arithmetic) also hears there is nothing newer.
    let ahead = transfer(server.dns, &ixfr_query("svc.test.", serial.wrapping_add(5))).unwrap();
    assert_eq!(ahead[0].answers.len(), 1);
    // A serial from before anything the history holds (the zone's changes
    // as its file was applied are kept, and answered incrementally).
    let behind = transfer(
        server.dns,
        &ixfr_query("svc.test.", serial.wrapping_sub(1000)),
    )
    .expect("IXFR");
    assert_eq!(
        client::zone_lines(&behind),
        axfr_lines(server.dns, "svc.test.", "cairn"),
        "an IXFR past the history is the whole zone, AXFR-style"
    );
}
