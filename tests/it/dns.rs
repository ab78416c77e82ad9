//! DNS behaviour over UDP and TCP against a real server, as a table: for
//! each query, the rcode, flags and section counts a client must get
//! (positive answers, NODATA and NXDOMAIN with the negative SOA, REFUSED
//! outside every namespace or outside a private zone's networks), then the
//! behaviours a table cannot show (truncation, random subsets, case).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

use crate::support::{
    DEADLINE, TestServer, Transport, exchange_tcp_raw, exchange_udp_raw, query_message, rcode,
};

/// More instances than one MULTIVALUE answer holds, with long ids so a full
/// SRV answer outgrows 512 bytes.
const BIG_INSTANCES: usize = 20;

fn zone_text() -> String {
    let mut text = String::from(
        r#"
[namespace]
name = "svc.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.1/32"]

[namespace.soa]
ttl = 60
minimum = 30

[[services]]
name = "web"
routing_policy = "MULTIVALUE"
records = [{ type = "A", ttl = 10 }, { type = "AAAA", ttl = 10 }, { type = "SRV", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.0.1"
ipv6 = "fd00::1"
port = 8080

[[services.instances]]
id = "web-2"
ipv4 = "10.0.0.2"
ipv6 = "fd00::2"
port = 8080

[[services.instances]]
id = "web-3"
ipv4 = "10.0.0.3"
ipv6 = "fd00::3"
port = 8080

[[services]]
name = "_web._tcp"
records = [{ type = "SRV", ttl = 10 }, { type = "A", ttl = 10 }]

[[services.instances]]
id = "a"
ipv4 = "10.0.3.1"
port = 443

[[services]]
name = "db"
routing_policy = "WEIGHTED"
records = [{ type = "A", ttl = 30 }]

[[services.instances]]
id = "db-1"
ipv4 = "10.0.2.1"

[[services.instances]]
id = "db-2"
ipv4 = "10.0.2.2"

[[services.instances]]
id = "db-3"
ipv4 = "10.0.2.3"

[[services]]
name = "alias"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 15 }]

[[services.instances]]
id = "alias-1"
cname = "target.example.com"

[[services]]
name = "big"
routing_policy = "MULTIVALUE"
records = [{ type = "A", ttl = 5 }, { type = "AAAA", ttl = 5 }, { type = "SRV", ttl = 5 }]
"#,
    );
    for n in 0..BIG_INSTANCES {
        text.push_str(&format!(
            "\n[[services.instances]]\nid = \"instance-with-a-rather-long-name-{n:02}\"\nipv4 = \"10.1.0.{n}\"\nipv6 = \"fd00::1:{n}\"\nport = 9000\n"
        ));
    }
    text
}

fn start() -> TestServer {
    TestServer::start(&[("svc.test.toml", &zone_text())])
}

/// What one row of the table expects of an answer.
struct Expect {
    rcode: ResponseCode,
    aa: bool,
    answers: usize,
    /// The TTL of the SOA in the authority section, if one must be there.
    negative_soa_ttl: Option<u32>,
    /// NS records in the authority section (with an SOA answer, as NSD).
    authority_ns: usize,
    additionals: usize,
}

const fn positive(answers: usize, additionals: usize) -> Expect {
    Expect {
        rcode: ResponseCode::NoError,
        aa: true,
        answers,
        negative_soa_ttl: None,
        authority_ns: 0,
        additionals,
    }
}

const NODATA: Expect = Expect {
    rcode: ResponseCode::NoError,
    aa: true,
    answers: 0,
    negative_soa_ttl: Some(30),
    authority_ns: 0,
    additionals: 0,
};

const NXDOMAIN: Expect = Expect {
    rcode: ResponseCode::NXDomain,
    aa: true,
    answers: 0,
    negative_soa_ttl: Some(30),
    authority_ns: 0,
    additionals: 0,
};

const REFUSED: Expect = Expect {
    rcode: ResponseCode::Refused,
    aa: false,
    answers: 0,
    negative_soa_ttl: None,
    authority_ns: 0,
    additionals: 0,
};

/// Records in a section other than OPT.
fn records(section: &[Record]) -> Vec<&Record> {
    section
        .iter()
        .filter(|record| record.record_type() != RecordType::OPT)
        .collect()
}

fn check(reply: &Message, expect: &Expect, what: &str) {
    assert_eq!(rcode(reply), expect.rcode, "{what}: rcode\n{reply:?}");
    assert_eq!(reply.metadata.authoritative, expect.aa, "{what}: AA flag");
    assert!(!reply.metadata.truncation, "{what}: TC flag");
    assert!(!reply.metadata.recursion_available, "{what}: RA flag");
    assert_eq!(
        records(&reply.answers).len(),
        expect.answers,
        "{what}: answers\n{reply:?}"
    );
    let authorities = records(&reply.authorities);
    match expect.negative_soa_ttl {
        Some(ttl) => {
            assert_eq!(authorities.len(), 1, "{what}: one SOA in authority");
            assert_eq!(
                authorities[0].record_type(),
                RecordType::SOA,
                "{what}: SOA in authority"
            );
            assert_eq!(
                authorities[0].ttl, ttl,
                "{what}: negative TTL = min(SOA TTL, MINIMUM)"
            );
        }
        None => {
            assert_eq!(
                authorities.len(),
                expect.authority_ns,
                "{what}: authority\n{reply:?}"
            );
            assert!(
                authorities
                    .iter()
                    .all(|record| record.record_type() == RecordType::NS),
                "{what}: only NS in authority\n{reply:?}"
            );
        }
    }
    assert_eq!(
        records(&reply.additionals).len(),
        expect.additionals,
        "{what}: additionals\n{reply:?}"
    );
}

#[test]
fn every_row_of_the_table_over_udp_and_tcp() {
    let server = start();
    let cases: &[(&str, RecordType, Expect)] = &[
        ("web.svc.test.", RecordType::A, positive(3, 0)),
        ("web.svc.test.", RecordType::AAAA, positive(3, 0)),
        // SRV answers carry every target's A and AAAA.
        ("web.svc.test.", RecordType::SRV, positive(3, 6)),
        ("web-1.web.svc.test.", RecordType::A, positive(1, 0)),
        ("web-2.web.svc.test.", RecordType::AAAA, positive(1, 0)),
        ("WEB-3.Web.Svc.Test.", RecordType::A, positive(1, 0)),
        // The name server ns1.svc.test (at the listen address) comes as
        // glue, and with the SOA its NS record too.
        (
            "svc.test.",
            RecordType::SOA,
            Expect {
                authority_ns: 1,
                ..positive(1, 1)
            },
        ),
        ("svc.test.", RecordType::NS, positive(1, 1)),
        ("ns1.svc.test.", RecordType::A, positive(1, 0)),
        ("db.svc.test.", RecordType::A, positive(1, 0)),
        ("alias.svc.test.", RecordType::CNAME, positive(1, 0)),
        ("alias.svc.test.", RecordType::A, positive(1, 0)),
        ("_web._tcp.svc.test.", RecordType::SRV, positive(1, 1)),
        ("big.svc.test.", RecordType::A, positive(8, 0)),
        // A name that exists, with a type it lacks.
        ("web.svc.test.", RecordType::TXT, NODATA),
        ("db.svc.test.", RecordType::AAAA, NODATA),
        ("web-1.web.svc.test.", RecordType::TXT, NODATA),
        ("svc.test.", RecordType::A, NODATA),
        // An empty non-terminal exists (RFC 8020).
        ("_tcp.svc.test.", RecordType::A, NODATA),
        // Names that do not exist.
        ("nope.svc.test.", RecordType::A, NXDOMAIN),
        ("nosuch.web.svc.test.", RecordType::A, NXDOMAIN),
        ("below.web-1.web.svc.test.", RecordType::A, NXDOMAIN),
        ("x._tcp.svc.test.", RecordType::A, NXDOMAIN),
        // db has no SRV, so its instances have no names of their own.
        ("db-1.db.svc.test.", RecordType::A, NXDOMAIN),
        // Outside every namespace.
        ("example.com.", RecordType::A, REFUSED),
        ("test.", RecordType::SOA, REFUSED),
    ];
    for (name, qtype, expect) in cases {
        for transport in [Transport::Udp, Transport::Tcp] {
            let reply = server.ask(&query_message(name, *qtype, Some(1232)), transport);
            check(
                &reply,
                expect,
                &format!("{name} {qtype} over {transport:?}"),
            );
        }
        let plain = server.ask(&query_message(name, *qtype, None), Transport::Udp);
        check(&plain, expect, &format!("{name} {qtype} without EDNS"));
        assert!(
            plain.edns.is_none(),
            "{name}: no OPT in an answer to a query without one"
        );
    }
}

fn rdata_of(reply: &Message) -> Vec<RData> {
    records(&reply.answers)
        .into_iter()
        .map(|r| r.data.clone())
        .collect()
}

#[test]
fn answers_carry_the_registered_data() {
    let server = start();
    let a = rdata_of(&server.udp("web.svc.test.", RecordType::A));
    let mut addresses: Vec<String> = a.iter().map(|d| d.to_string()).collect();
    addresses.sort();
    assert_eq!(addresses, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    for record in records(&server.udp("web.svc.test.", RecordType::A).answers) {
        assert_eq!(record.ttl, 10, "TTL from the template");
    }

    let srv = server.udp("web.svc.test.", RecordType::SRV);
    let mut targets: Vec<String> = Vec::new();
    for record in records(&srv.answers) {
        let RData::SRV(srv) = &record.data else {
            panic!("not an SRV: {record:?}")
        };
        assert_eq!((srv.priority, srv.weight, srv.port), (1, 1, 8080));
        targets.push(srv.target.to_ascii());
    }
    targets.sort();
    assert_eq!(
        targets,
        [
            "web-1.web.svc.test.",
            "web-2.web.svc.test.",
            "web-3.web.svc.test."
        ]
    );
    let glue: BTreeSet<String> = records(&srv.additionals)
        .iter()
        .map(|r| format!("{} {}", r.name.to_ascii(), r.data))
        .collect();
    assert!(glue.contains("web-1.web.svc.test. 10.0.0.1"), "{glue:?}");
    assert!(glue.contains("web-3.web.svc.test. fd00::3"), "{glue:?}");

    let cname = rdata_of(&server.udp("alias.svc.test.", RecordType::A));
    assert_eq!(cname[0].to_string(), "target.example.com.");

    let soa = server.udp("svc.test.", RecordType::SOA);
    let RData::SOA(soa) = &records(&soa.answers)[0].data else {
        panic!("not an SOA")
    };
    assert!(soa.serial >= 1, "serial is the namespace revision");
    assert_eq!(soa.minimum, 30);
}

#[test]
fn private_namespace_refuses_other_networks() {
    let server = start();
    let outsider = Transport::UdpFrom(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    for (name, qtype) in [
        ("web.svc.test.", RecordType::A),
        ("svc.test.", RecordType::SOA),
        ("nope.svc.test.", RecordType::A),
        ("web-1.web.svc.test.", RecordType::A),
    ] {
        let refused = server.ask(&query_message(name, qtype, Some(1232)), outsider);
        check(&refused, &REFUSED, &format!("{name} from 127.0.0.2"));
        let unknown = server.ask(&query_message("example.com.", qtype, Some(1232)), outsider);
        // Same shape as a zone cairn does not serve: nothing reveals the zone.
        assert_eq!(
            refused.metadata.authoritative,
            unknown.metadata.authoritative
        );
        assert_eq!(refused.answers.len() + refused.authorities.len(), 0);
    }
    check(
        &server.udp("web.svc.test.", RecordType::A),
        &positive(3, 0),
        "from 127.0.0.1",
    );
}

#[test]
fn multivalue_answers_eight_of_twenty_with_different_subsets() {
    let server = start();
    let mut seen = BTreeSet::new();
    let mut subsets = BTreeSet::new();
    for _ in 0..30 {
        let reply = server.udp("big.svc.test.", RecordType::A);
        let addresses: BTreeSet<String> = rdata_of(&reply).iter().map(|d| d.to_string()).collect();
        assert_eq!(addresses.len(), 8, "eight distinct records");
        seen.extend(addresses.iter().cloned());
        subsets.insert(addresses.into_iter().collect::<Vec<_>>());
    }
    assert!(subsets.len() > 1, "every query gave the same subset");
    assert!(
        seen.len() > 8,
        "only {} of 20 instances ever answered",
        seen.len()
    );
}

#[test]
fn weighted_answers_exactly_one() {
    let server = start();
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let answers = rdata_of(&server.udp("db.svc.test.", RecordType::A));
        assert_eq!(answers.len(), 1);
        seen.insert(answers[0].to_string());
    }
    assert!(seen.len() > 1, "a random choice should vary: {seen:?}");
}

#[test]
fn truncates_over_udp_and_answers_whole_over_tcp() {
    let server = start();
    // With a 512-byte EDNS buffer and without EDNS (512 by RFC 1035): a
    // real reply, to this query, with TC set, in at most 512 bytes.
    for (edns, what) in [(Some(512), "a 512-byte EDNS buffer"), (None, "no EDNS")] {
        let query = query_message("big.svc.test.", RecordType::SRV, edns);
        let bytes = query.to_vec().expect("encode the query");
        let raw = exchange_udp_raw(server.dns, &bytes, None, DEADLINE)
            .unwrap_or_else(|e| panic!("no UDP reply with {what}: {e}\n{}", server.log()));
        let reply = Message::from_vec(&raw)
            .unwrap_or_else(|e| panic!("undecodable UDP reply with {what}: {e}"));
        assert_eq!(reply.metadata.id, query.metadata.id, "{what}: reply id");
        assert_eq!(rcode(&reply), ResponseCode::NoError, "{what}: rcode");
        assert!(reply.metadata.truncation, "TC over UDP with {what}");
        assert!(
            raw.len() <= 512,
            "a UDP answer with {what} fits 512 bytes, got {}",
            raw.len()
        );
    }

    let whole = server.tcp("big.svc.test.", RecordType::SRV);
    assert!(!whole.metadata.truncation);
    assert_eq!(records(&whole.answers).len(), 8);
    assert_eq!(
        records(&whole.additionals).len(),
        16,
        "each target's A and AAAA"
    );
}

#[test]
fn the_question_echoes_the_query_case() {
    let server = start();
    let reply = server.udp("WeB.sVc.TeSt.", RecordType::A);
    assert_eq!(reply.queries[0].name().to_ascii(), "WeB.sVc.TeSt.");
    check(&reply, &positive(3, 0), "mixed case");
}

#[test]
fn other_opcodes_get_notimp_and_two_questions_formerr() {
    let server = start();
    let mut notify = query_message("svc.test.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    notify.metadata.recursion_desired = true;
    let reply = server.ask(&notify, Transport::Udp);
    assert_eq!(rcode(&reply), ResponseCode::NotImp);
    // Nothing of an unknown opcode's flags is echoed (RFC 8906 §8.1).
    assert!(!reply.metadata.authoritative && !reply.metadata.recursion_desired);
    assert!(reply.edns.is_none(), "no OPT for a query without one");

    // A client that sent OPT gets one back, even with NOTIMP (RFC 6891 §7).
    let mut status = query_message("svc.test.", RecordType::SOA, Some(1232));
    status.metadata.op_code = OpCode::Status;
    let reply = server.ask(&status, Transport::Udp);
    assert_eq!(rcode(&reply), ResponseCode::NotImp);
    assert!(reply.edns.is_some(), "OPT in the NOTIMP reply");

    let mut two = query_message("web.svc.test.", RecordType::A, None);
    two.add_query(query_message("db.svc.test.", RecordType::A, None).queries[0].clone());
    assert_eq!(
        rcode(&server.ask(&two, Transport::Udp)),
        ResponseCode::FormErr
    );
}

#[test]
fn garbage_never_stops_the_server() {
    let server = start();
    let valid = query_message("web.svc.test.", RecordType::A, None)
        .to_vec()
        .unwrap_or_default();
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xff; 11],
        vec![0xff; 12],
        vec![0xff; 512],
        // A header that promises five questions and carries none.
        vec![0x12, 0x34, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0],
        // A question name whose compression pointer points at itself.
        vec![
            0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
        ],
        // A label longer than the packet.
        vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'a', b'b'],
    ];
    for cut in 0..valid.len() {
        garbage.push(valid[..cut].to_vec());
    }
    let mut rng = fastrand::Rng::with_seed(0xca1e);
    for _ in 0..300 {
        let mut mutated = valid.clone();
        for _ in 0..rng.usize(1..6) {
            let at = rng.usize(..mutated.len());
            mutated[at] = rng.u8(..);
        }
        garbage.push(mutated);
    }
    for packet in &garbage {
        // Answers to garbage are optional; silence is fine.
        let _ = exchange_udp_raw(server.dns, packet, None, Duration::from_millis(20));
    }
    for packet in garbage.iter().take(40).filter(|p| !p.is_empty()) {
        let _ = exchange_tcp_raw(server.dns, packet, Duration::from_millis(50));
    }
    check(
        &server.udp("web.svc.test.", RecordType::A),
        &positive(3, 0),
        "after garbage (UDP)",
    );
    check(
        &server.tcp("web.svc.test.", RecordType::A),
        &positive(3, 0),
        "after garbage (TCP)",
    );
}

/// A namespace file for `name`: private to `allowed` when given, else
/// public; one `web` service (A and SRV) with one instance.
fn nested_zone_file(name: &str, allowed: Option<&str>) -> String {
    let access = match allowed {
        Some(network) => format!("type = \"DNS_PRIVATE\"\nallowed_networks = [\"{network}\"]"),
        None => "type = \"DNS_PUBLIC\"".to_string(),
    };
    format!(
        r#"
[namespace]
name = "{name}"
{access}

[namespace.soa]
ttl = 60
minimum = 30

[[services]]
name = "web"
records = [{{ type = "A", ttl = 10 }}, {{ type = "SRV", ttl = 10 }}]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.0.1"
port = 8080
"#
    )
}

#[test]
fn a_denied_client_cannot_tell_a_nested_private_zone_from_a_missing_name() {
    // Two private zones inside enclosing zones, both allowing 127.0.0.1
    // only: priv.pub.test inside a public zone, vault.corp.test inside a
    // private zone that allows all of 127/8.
    let server = TestServer::start(&[
        ("pub.test.toml", &nested_zone_file("pub.test", None)),
        (
            "priv.pub.test.toml",
            &nested_zone_file("priv.pub.test", Some("127.0.0.1/32")),
        ),
        (
            "corp.test.toml",
            &nested_zone_file("corp.test", Some("127.0.0.0/8")),
        ),
        (
            "vault.corp.test.toml",
            &nested_zone_file("vault.corp.test", Some("127.0.0.1/32")),
        ),
    ]);
    let outsider = Transport::UdpFrom(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    // (a name in the private zone, a name that does not exist in the
    // zone around it)
    let cases = [
        ("web.priv.pub.test.", RecordType::A, "nope.pub.test."),
        ("web-1.web.priv.pub.test.", RecordType::A, "nope.pub.test."),
        ("priv.pub.test.", RecordType::SOA, "nope.pub.test."),
        ("nope.priv.pub.test.", RecordType::A, "nope.pub.test."),
        ("web.vault.corp.test.", RecordType::A, "nope.corp.test."),
        ("vault.corp.test.", RecordType::SOA, "nope.corp.test."),
    ];
    for (hidden, qtype, missing) in cases {
        let what = format!("{hidden} {qtype} from 127.0.0.2");
        let denied = server.ask(&query_message(hidden, qtype, Some(1232)), outsider);
        check(&denied, &NXDOMAIN, &what);
        let mut expected = server.ask(&query_message(missing, qtype, Some(1232)), outsider);
        // Everything but the id and the question must match.
        expected.metadata.id = denied.metadata.id;
        expected.queries = denied.queries.clone();
        assert_eq!(denied, expected, "{what} is answered like {missing}");
    }

    for (name, qtype) in [
        ("web.priv.pub.test.", RecordType::A),
        ("web-1.web.priv.pub.test.", RecordType::A),
        ("priv.pub.test.", RecordType::SOA),
        ("web.vault.corp.test.", RecordType::A),
        ("vault.corp.test.", RecordType::SOA),
    ] {
        // An SOA answer brings the zone's NS record and its glue.
        let expect = match qtype {
            RecordType::SOA => Expect {
                authority_ns: 1,
                ..positive(1, 1)
            },
            _ => positive(1, 0),
        };
        check(
            &server.udp(name, qtype),
            &expect,
            &format!("{name} {qtype} from 127.0.0.1"),
        );
    }
    check(
        &server.udp("nope.priv.pub.test.", RecordType::A),
        &NXDOMAIN,
        "a missing name in the private zone, from 127.0.0.1",
    );
}
