//! Names at every boundary, through the real admin API: what is accepted is
//! served by DNS, one way, before and after a restart; what cannot be served
//! is refused up front with InvalidInput. Lengths are the DNS limits: 253
//! characters in a name (255 bytes on the wire), 63 in a label.

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::admin::{a_records, fails, namespace_id, ok};
use crate::support::{TestServer, rcode};

/// `a{63}.b{63}.c{63}.test`: 196 characters.
fn zone_196() -> String {
    let zone = ["a", "b", "c"].map(|letter| letter.repeat(63)).join(".") + ".test";
    assert_eq!(zone.len(), 196);
    zone
}

/// A zone name of exactly `len` characters: three 63-character labels and
/// the rest.
fn zone_of(len: usize) -> String {
    let zone = format!(
        "{}.{}",
        ["x", "y", "z"].map(|letter| letter.repeat(63)).join("."),
        "w".repeat(len - 192)
    );
    assert_eq!(zone.len(), len);
    zone
}

fn public_namespace(server: &TestServer, name: &str) -> String {
    ok(
        server,
        "CreatePublicDnsNamespace",
        json!({"Name": name, "Properties": {"DnsProperties": {"SOA": {"TTL": 30}}}}),
    );
    namespace_id(server, name)
}

fn service_body(namespace: &str, name: &str, types: &[&str]) -> Value {
    let records: Vec<Value> = types
        .iter()
        .map(|kind| json!({"Type": kind, "TTL": 10}))
        .collect();
    json!({"Name": name, "DnsConfig": {"NamespaceId": namespace, "RoutingPolicy": "MULTIVALUE", "DnsRecords": records}})
}

fn create_service(server: &TestServer, namespace: &str, name: &str, types: &[&str]) -> String {
    let created = ok(
        server,
        "CreateService",
        service_body(namespace, name, types),
    );
    created["Service"]["Id"]
        .as_str()
        .expect("a service id")
        .to_string()
}

fn registration(service: &str, id: &str, ip: &str) -> Value {
    json!({"ServiceId": service, "InstanceId": id,
           "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"}})
}

/// SRV targets over TCP: long names do not fit 512 bytes of UDP.
fn srv_targets(server: &TestServer, name: &str) -> Vec<String> {
    let reply = server.tcp(name, RecordType::SRV);
    assert_eq!(
        rcode(&reply),
        ResponseCode::NoError,
        "{name} SRV: {reply:?}"
    );
    let mut targets: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(srv.target.to_ascii()),
            _ => None,
        })
        .collect();
    targets.sort();
    targets
}

fn soa_answered(reply: &Message) -> bool {
    rcode(reply) == ResponseCode::NoError
        && reply
            .answers
            .iter()
            .any(|record| matches!(record.data, RData::SOA(_)))
}

/// What DNS must say about everything the test had acknowledged.
fn check_served(server: &TestServer, zone: &str, zone_242: &str) {
    let s53 = format!("{}.{zone}", "s".repeat(53));
    assert_eq!(
        srv_targets(server, &s53),
        [format!("ii.{s53}."), format!("j.{s53}.")],
        "the deregistered instance left, the later ones came"
    );
    for (id, ip) in [
        ("ii", Ipv4Addr::new(10, 0, 0, 2)),
        ("j", Ipv4Addr::new(10, 0, 0, 3)),
    ] {
        assert_eq!(
            a_records(server, &format!("{id}.{s53}")),
            [ip],
            "{id}'s own name"
        );
    }
    assert_eq!(
        rcode(&server.udp(&format!("i.{s53}"), RecordType::A)),
        ResponseCode::NXDomain
    );
    let s54 = format!("{}.{zone}", "s".repeat(54));
    assert_eq!(srv_targets(server, &s54), [format!("i.{s54}.")]);
    assert_eq!(
        a_records(server, &format!("{}.{zone}", "u".repeat(56))),
        [Ipv4Addr::new(10, 0, 1, 1)],
        "a 253-character service without SRV"
    );
    assert!(
        soa_answered(&server.udp(zone_242, RecordType::SOA)),
        "the 242-character zone"
    );
    assert_eq!(srv_targets(server, "web.pub.test"), ["x.web.pub.test."]);
    assert_eq!(
        a_records(server, "x.web.pub.test"),
        [Ipv4Addr::new(10, 0, 2, 1)]
    );
    assert!(soa_answered(&server.udp("other.pub.test", RecordType::SOA)));
    assert_eq!(
        rcode(&server.udp("web.other.pub.test", RecordType::A)),
        ResponseCode::NXDomain,
        "the nested zone answers for its names"
    );
}

#[test]
fn names_at_every_boundary_are_refused_or_served_one_way_across_a_restart() {
    let mut server = TestServer::start(&[]);
    let zone = zone_196();
    let namespace = public_namespace(&server, &zone);

    // Zones: 242 characters leave room for the SOA's hostmaster.<zone>.
    let zone_242 = zone_of(242);
    public_namespace(&server, &zone_242);
    for len in [243, 253] {
        fails(
            &server,
            "CreatePublicDnsNamespace",
            json!({"Name": zone_of(len)}),
            "InvalidInput",
        );
    }

    // Services: with SRV, room for a one-character id below them.
    let s54 = create_service(&server, &namespace, &"s".repeat(54), &["A", "SRV"]);
    fails(
        &server,
        "CreateService",
        service_body(&namespace, &"t".repeat(55), &["A", "SRV"]),
        "InvalidInput",
    );
    let u56 = create_service(&server, &namespace, &"u".repeat(56), &["A"]);
    fails(
        &server,
        "CreateService",
        service_body(&namespace, &"v".repeat(57), &["A"]),
        "InvalidInput",
    );
    ok(
        &server,
        "RegisterInstance",
        registration(&s54, "i", "10.0.0.9"),
    );
    fails(
        &server,
        "RegisterInstance",
        registration(&s54, "ii", "10.0.0.9"),
        "InvalidInput",
    );
    ok(
        &server,
        "RegisterInstance",
        registration(&u56, &"x".repeat(64), "10.0.1.1"),
    );

    // Instance ids: their host names must fit, and DNS follows every change.
    let s53 = create_service(&server, &namespace, &"s".repeat(53), &["A", "SRV"]);
    ok(
        &server,
        "RegisterInstance",
        registration(&s53, "i", "10.0.0.1"),
    );
    fails(
        &server,
        "RegisterInstance",
        registration(&s53, "iii", "10.0.0.9"),
        "InvalidInput",
    );
    ok(
        &server,
        "RegisterInstance",
        registration(&s53, "ii", "10.0.0.2"),
    );
    ok(
        &server,
        "RegisterInstance",
        registration(&s53, "j", "10.0.0.3"),
    );
    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": s53, "InstanceId": "i"}),
    );

    // Nesting: a zone inside another owns its names; a name a service holds
    // (its own, and its instances' below it) is nobody else's.
    let pub_test = public_namespace(&server, "pub.test");
    let web = create_service(&server, &pub_test, "web", &["A", "SRV"]);
    ok(
        &server,
        "RegisterInstance",
        registration(&web, "x", "10.0.2.1"),
    );
    for name in ["web.pub.test", "x.web.pub.test"] {
        fails(
            &server,
            "CreatePublicDnsNamespace",
            json!({"Name": name}),
            "InvalidInput",
        );
    }
    fails(
        &server,
        "CreateService",
        service_body(&pub_test, "x.web", &["A"]),
        "InvalidInput",
    );
    public_namespace(&server, "other.pub.test");
    fails(
        &server,
        "CreateService",
        service_body(&pub_test, "web.other", &["A"]),
        "InvalidInput",
    );

    check_served(&server, &zone, &zone_242);
    server.restart();
    check_served(&server, &zone, &zone_242);
}
