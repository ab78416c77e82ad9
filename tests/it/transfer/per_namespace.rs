//! Zones with transfer settings of their own, made through the admin API
//! and in a zones file: each is transferable only by its own clients and
//! key, refuses everyone else exactly as a zone cairn does not serve, and
//! sends its NOTIFYs to its own secondaries; an update applies to the next
//! transfer, and after a restart.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use serde_json::json;

use super::client::{axfr_query, ixfr_query};
use super::tsig::{KeyFile, SECRET};
use crate::admin::{fails, namespace_id, ok};
use crate::support::{DEADLINE, TestServer, eventually, exchange_udp_raw, require_tool};

/// A public zone that follows `[transfer]`.
const GLOBAL_ZONE: &str = "[namespace]\nname = \"svc.test\"\ntype = \"DNS_PUBLIC\"\n";

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The first message cairn answers an unsigned AXFR of `zone` with, asked
/// from `source`, its id zeroed so that replies compare byte for byte.
fn first_reply(server: SocketAddr, source: IpAddr, zone: &str) -> Vec<u8> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind the source address");
    socket
        .connect_timeout(&server.into(), DEADLINE)
        .expect("connect to cairn");
    let mut stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let query = axfr_query(zone).to_vec().expect("encode the query");
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).expect("send the query");
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).expect("a reply");
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut reply).expect("the whole reply");
    reply[..2].copy_from_slice(&[0, 0]);
    reply
}

fn rcode_of(reply: &[u8]) -> ResponseCode {
    Message::from_vec(reply)
        .expect("a DNS message")
        .metadata
        .response_code
}

/// Whether an unsigned AXFR of `zone` from `source` is answered with the
/// zone (its SOA first).
fn transfers(server: SocketAddr, source: IpAddr, zone: &str) -> bool {
    let reply = first_reply(server, source, zone);
    let message = Message::from_vec(&reply).expect("a DNS message");
    message.metadata.response_code == ResponseCode::NoError && !message.answers.is_empty()
}

/// The reply to an IXFR of `zone` over UDP from `source`, its id zeroed:
/// the SOA alone for a client that may transfer the zone.
/// (An IXFR over UDP is not a transfer, but it shows the zone's serial.)
fn udp_ixfr(server: SocketAddr, source: IpAddr, zone: &str) -> Vec<u8> {
    let query = ixfr_query(zone, 1).to_vec().expect("encode the query");
    let mut reply =
        exchange_udp_raw(server, &query, Some(source), DEADLINE).expect("a reply over UDP");
    reply[..2].copy_from_slice(&[0, 0]);
    reply
}

/// Whether dig, signing with the test key from `source`, transfers `zone`.
fn signed_transfers(dig: &std::path::Path, server: SocketAddr, source: IpAddr, zone: &str) -> bool {
    let output = Command::new(dig)
        .args([
            "-b",
            &source.to_string(),
            "-p",
            &server.port().to_string(),
            &format!("@{}", server.ip()),
            "-y",
            &format!("hmac-sha256:xfrkey:{SECRET}"),
            zone,
            "AXFR",
        ])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("tsig verify failure"),
        "cairn's reply to {zone} from {source} did not verify: {text}"
    );
    text.contains("XFR size")
}

/// A secondary on a test-held UDP socket: acknowledges every NOTIFY and
/// reports each as (zone, signed). Ends once the test has gone.
fn secondary() -> (SocketAddr, mpsc::Receiver<(String, bool)>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the secondary");
    let addr = socket.local_addr().expect("its address");
    socket
        .set_read_timeout(Some(DEADLINE))
        .expect("a read timeout");
    let (heard, notifies) = mpsc::channel();
    std::thread::spawn(move || {
        let mut datagram = [0u8; 1024];
        while let Ok((len, from)) = socket.recv_from(&mut datagram) {
            let Ok(message) = Message::from_vec(&datagram[..len]) else {
                continue;
            };
            let Some(question) = message.queries.first() else {
                continue;
            };
            let zone = question.name().to_ascii().to_ascii_lowercase();
            // cairn's NOTIFY carries nothing in its additional section but
            // a TSIG.
            let signed = datagram[10..12] != [0, 0];
            let mut reply = datagram[..12].to_vec();
            reply[2] |= 0x80;
            reply[4..12].fill(0);
            let _ = socket.send_to(&reply, from);
            if heard.send((zone, signed)).is_err() {
                return;
            }
        }
    });
    (addr, notifies)
}

/// Waits for a NOTIFY of `zone` at `secondary`; returns whether it was
/// signed and every other zone heard meanwhile.
fn notified(notifies: &mpsc::Receiver<(String, bool)>, zone: &str) -> (bool, Vec<String>) {
    let mut others = Vec::new();
    loop {
        match notifies.recv_timeout(DEADLINE) {
            Ok((heard, signed)) if heard == zone => return (signed, others),
            Ok((heard, _)) => others.push(heard),
            Err(error) => panic!("no NOTIFY of {zone} ({error}); heard {others:?}"),
        }
    }
}

#[test]
fn each_zone_transfers_and_notifies_by_its_own_settings() {
    let Some(dig) = require_tool("dig") else {
        return;
    };
    let key = KeyFile::new();
    let (global_secondary, global_heard) = secondary();
    let (a_secondary, a_heard) = secondary();
    let (b_secondary, b_heard) = secondary();
    let (c_secondary, c_heard) = secondary();
    let file_zone = format!(
        "[namespace]\nname = \"c.test\"\ntype = \"DNS_PUBLIC\"\n\n[namespace.transfer]\nallow = [\"127.0.0.4\"]\nnotify = [\"{c_secondary}\"]\n"
    );
    // [transfer]: loopback's first address, signed, NOTIFY to one secondary.
    let mut server = TestServer::start_with(
        &[("svc.test.toml", GLOBAL_ZONE), ("c.test.toml", &file_zone)],
        &format!(
            "[transfer]\nallow = [\"127.0.0.1\"]\nnotify = [\"{global_secondary}\"]\n{}",
            key.config()
        ),
    );
    let nothing = TestServer::start(&[]);
    let dns = server.dns;

    // a.test: by address alone, from 127.0.0.2. b.test: by key, from any
    // loopback address, but answering only 127.0.0.1 and 127.0.0.3.
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "a.test", "Properties": {"DnsProperties": {
            "Transfer": {"Allow": ["127.0.0.2"], "Notify": [a_secondary.to_string()]}}}}),
    );
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "b.test", "Properties": {"DnsProperties": {
            "AllowedNetworks": ["127.0.0.1/32", "127.0.0.3/32"],
            "Transfer": {"Allow": ["127.0.0.0/8"], "Notify": [b_secondary.to_string()], "Key": "XfrKey"}}}}),
    );
    let a = namespace_id(&server, "a.test");
    let shown = ok(&server, "GetNamespace", json!({"Id": a}));
    assert_eq!(
        shown["Namespace"]["Properties"]["DnsProperties"]["Transfer"],
        json!({"Allow": ["127.0.0.2/32"], "Notify": [a_secondary.to_string()]})
    );
    let b = namespace_id(&server, "b.test");
    let shown = ok(&server, "GetNamespace", json!({"Id": b}));
    assert_eq!(
        shown["Namespace"]["Properties"]["DnsProperties"]["Transfer"]["Key"],
        "xfrkey"
    );

    assert!(
        transfers(dns, loopback(2), "a.test."),
        "a.test from its own client"
    );
    assert!(
        transfers(dns, loopback(4), "c.test."),
        "c.test from the file's client"
    );
    assert!(
        signed_transfers(&dig, dns, loopback(3), "b.test."),
        "b.test signed from 127.0.0.3"
    );
    assert!(
        signed_transfers(&dig, dns, loopback(1), "svc.test."),
        "[transfer] for svc.test"
    );
    assert!(
        !signed_transfers(&dig, dns, loopback(2), "b.test."),
        "b.test does not answer 127.0.0.2"
    );
    assert!(
        !signed_transfers(&dig, dns, loopback(1), "c.test."),
        "c.test is not [transfer]'s"
    );
    // Refused as the zone not served: a client [transfer] allows, one the
    // zone's settings allow without its key, one its networks do not answer.
    for (source, zone) in [
        (1, "a.test."),
        (3, "a.test."),
        (3, "b.test."),
        (2, "b.test."),
        (1, "c.test."),
        (2, "svc.test."),
    ] {
        let refused = first_reply(dns, loopback(source), zone);
        assert_eq!(
            rcode_of(&refused),
            ResponseCode::Refused,
            "{zone} from .{source}"
        );
        assert_eq!(
            refused,
            first_reply(nothing.dns, loopback(source), zone),
            "{zone} from 127.0.0.{source}: not the refusal of a zone not served"
        );
    }

    // Over UDP an IXFR gets the SOA only from the zone's own clients.
    assert_eq!(
        rcode_of(&udp_ixfr(dns, loopback(2), "a.test.")),
        ResponseCode::NoError
    );
    // Anyone else gets the answer core's own reply (FORMERR: to a plain
    // query an SOA in the authority section is malformed), as for a zone
    // not served.
    let refused = udp_ixfr(dns, loopback(1), "a.test.");
    assert_ne!(rcode_of(&refused), ResponseCode::NoError);
    assert_eq!(refused, udp_ixfr(nothing.dns, loopback(1), "a.test."));

    // NOTIFY: each zone to its own secondaries, signed with its own key.
    let (signed, others) = notified(&a_heard, "a.test.");
    assert!(
        !signed && others.is_empty(),
        "a.test: signed {signed}, others {others:?}"
    );
    let (signed, others) = notified(&b_heard, "b.test.");
    assert!(
        signed && others.is_empty(),
        "b.test: signed {signed}, others {others:?}"
    );
    let (_, others) = notified(&c_heard, "c.test.");
    assert!(others.is_empty(), "c.test's secondary heard {others:?}");
    let (signed, _) = notified(&global_heard, "svc.test.");
    assert!(signed, "[transfer]'s NOTIFY is signed with its key");

    // Bad settings are refused by name, and change nothing.
    let refused = fails(
        &server,
        "UpdatePrivateDnsNamespace",
        json!({"Id": a, "Namespace": {"Properties": {"DnsProperties": {"Transfer": {"Key": "nokey"}}}}}),
        "InvalidInput",
    );
    assert!(refused.message().contains("'nokey'"), "{refused:?}");
    let refused = fails(
        &server,
        "UpdatePrivateDnsNamespace",
        json!({"Id": a, "Namespace": {"Properties": {"DnsProperties": {"Transfer": {"Allow": ["ten"]}}}}}),
        "InvalidInput",
    );
    assert!(
        refused.message().contains("Transfer.Allow[0]: 'ten'"),
        "{refused:?}"
    );
    assert!(transfers(dns, loopback(2), "a.test."), "a.test unchanged");

    // An update applies to the next transfer and NOTIFY, and after a restart.
    let (moved_secondary, moved_heard) = secondary();
    ok(
        &server,
        "UpdatePrivateDnsNamespace",
        json!({"Id": a, "Namespace": {"Properties": {"DnsProperties": {
            "Transfer": {"Allow": ["127.0.0.5"], "Notify": [moved_secondary.to_string()]}}}}}),
    );
    assert!(
        transfers(dns, loopback(5), "a.test."),
        "a.test from its new client"
    );
    assert!(
        !transfers(dns, loopback(2), "a.test."),
        "a.test from its old client"
    );
    notified(&moved_heard, "a.test.");
    server.restart();
    assert!(transfers(dns, loopback(5), "a.test."), "after a restart");
    assert!(!transfers(dns, loopback(2), "a.test."), "after a restart");
    assert!(
        transfers(dns, loopback(4), "c.test."),
        "the file's zone after a restart"
    );
    notified(&moved_heard, "a.test.");

    // Transfer with nothing in it gives the zone back to [transfer].
    ok(
        &server,
        "UpdatePrivateDnsNamespace",
        json!({"Id": a, "Namespace": {"Properties": {"DnsProperties": {"Transfer": {}}}}}),
    );
    let shown = ok(&server, "GetNamespace", json!({"Id": a}));
    assert!(
        shown["Namespace"]["Properties"]["DnsProperties"]
            .get("Transfer")
            .is_none(),
        "{shown}"
    );
    assert!(
        !transfers(dns, loopback(5), "a.test."),
        "no longer its own client"
    );
    assert!(
        signed_transfers(&dig, dns, loopback(1), "a.test."),
        "[transfer]'s client and key"
    );
    eventually("a.test's NOTIFY at [transfer]'s secondary", || {
        global_heard
            .recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|(zone, signed)| zone == "a.test." && *signed)
    });
}

/// On a cluster the settings travel with the namespace's row: made on one
/// node, changed on another, each node transfers by the latest.
#[cfg(feature = "etcd")]
#[test]
fn a_zones_settings_reach_every_node_of_a_cluster() {
    let Some(etcd) = crate::cluster::Etcd::start() else {
        return;
    };
    let config = etcd.store_config();
    let first = TestServer::start_with(&[], &config);
    let second = TestServer::start_with(&[], &config);
    ok(
        &first,
        "CreatePublicDnsNamespace",
        json!({"Name": "a.test", "Properties": {"DnsProperties": {
            "Transfer": {"Allow": ["127.0.0.2"]}}}}),
    );
    eventually(
        "a.test transferable from 127.0.0.2 on the other node",
        || transfers(second.dns, loopback(2), "a.test.").then_some(()),
    );
    let id = namespace_id(&second, "a.test");
    ok(
        &second,
        "UpdatePublicDnsNamespace",
        json!({"Id": id, "Namespace": {"Properties": {"DnsProperties": {
            "Transfer": {"Allow": ["127.0.0.5"]}}}}}),
    );
    eventually("the first node to follow the update", || {
        transfers(first.dns, loopback(5), "a.test.").then_some(())
    });
    assert!(!transfers(first.dns, loopback(2), "a.test."));
    let shown = ok(&first, "GetNamespace", json!({"Id": id}));
    assert_eq!(
        shown["Namespace"]["Properties"]["DnsProperties"]["Transfer"]["Allow"],
        json!(["127.0.0.5/32"])
    );
}

/// A key the config no longer defines: the zone that names it is
/// transferred to nobody, signed or not, and sends no NOTIFY.
#[test]
fn a_zone_naming_a_key_the_config_dropped_is_transferred_to_nobody() {
    let Some(dig) = require_tool("dig") else {
        return;
    };
    let key = KeyFile::new();
    let (b_secondary, b_heard) = secondary();
    let mut server = TestServer::start_with(&[], &format!("[transfer]\n{}", key.config()));
    ok(
        &server,
        "CreatePublicDnsNamespace",
        json!({"Name": "b.test", "Properties": {"DnsProperties": {
            "Transfer": {"Allow": ["127.0.0.1"], "Notify": [b_secondary.to_string()], "Key": "xfrkey"}}}}),
    );
    assert!(signed_transfers(&dig, server.dns, loopback(1), "b.test."));
    notified(&b_heard, "b.test.");
    let config = std::fs::read_to_string(&server.config_path).expect("the config");
    let without_keys = config.replace(&key.config(), "");
    assert_ne!(config, without_keys, "the key was in the config");
    std::fs::write(&server.config_path, without_keys).expect("write the config");
    server.restart();
    let nothing = TestServer::start(&[]);
    assert!(
        !signed_transfers(&dig, server.dns, loopback(1), "b.test."),
        "signed"
    );
    let refused = first_reply(server.dns, loopback(1), "b.test.");
    assert_eq!(
        refused,
        first_reply(nothing.dns, loopback(1), "b.test."),
        "unsigned"
    );
    eventually("the warning that no NOTIFY was sent", || {
        server
            .log()
            .contains("NOTIFY not sent: the zone's transfer key is not one of [[transfer.keys]]")
            .then_some(())
    });
    assert!(
        b_heard.try_recv().is_err(),
        "a NOTIFY went out for a zone whose key is gone"
    );
}
