//! What a client of a caching resolver in front of cairn must get, the same
//! for every resolver: answers of each kind ([`check_answers`]) and a
//! deregistration that leaves within its TTL ([`check_deregistration`]).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

use super::{Daemon, TTL};
use crate::admin::{namespace_id, ok};
use crate::support::{TestServer, rcode};

fn ipv4s(reply: &Message, owner: &str) -> BTreeSet<Ipv4Addr> {
    reply
        .answers
        .iter()
        .chain(&reply.additionals)
        .filter(|record| record.name.to_ascii().eq_ignore_ascii_case(owner))
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn ipv6s(reply: &Message, owner: &str) -> BTreeSet<Ipv6Addr> {
    reply
        .answers
        .iter()
        .chain(&reply.additionals)
        .filter(|record| record.name.to_ascii().eq_ignore_ascii_case(owner))
        .filter_map(|record| match &record.data {
            RData::AAAA(aaaa) => Some(aaaa.0),
            _ => None,
        })
        .collect()
}

/// The SRV answer as (port, target) pairs.
fn srv(reply: &Message) -> BTreeSet<(u16, String)> {
    reply
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some((srv.port, srv.target.to_ascii().to_ascii_lowercase())),
            _ => None,
        })
        .collect()
}

fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

/// The addresses of an SRV target: from the additional section when the
/// resolver passed it on, else from a follow-up query, as a client does.
fn target_addresses(
    resolver: &Daemon,
    reply: &Message,
    target: &str,
) -> (BTreeSet<Ipv4Addr>, BTreeSet<Ipv6Addr>) {
    let mut v4 = ipv4s(reply, target);
    let mut v6 = ipv6s(reply, target);
    if v4.is_empty() {
        v4 = ipv4s(&resolver.ask(target, RecordType::A), target);
    }
    if v6.is_empty() {
        v6 = ipv6s(&resolver.ask(target, RecordType::AAAA), target);
    }
    (v4, v6)
}

/// The answer must be NOERROR with exactly these A or AAAA addresses.
fn expect_addresses(resolver: &Daemon, name: &str, qtype: RecordType, expected: &[IpAddr]) {
    let reply = resolver.ask(name, qtype);
    let got: BTreeSet<IpAddr> = ipv4s(&reply, name)
        .into_iter()
        .map(IpAddr::V4)
        .chain(ipv6s(&reply, name).into_iter().map(IpAddr::V6))
        .collect();
    assert_eq!(
        (rcode(&reply), got),
        (ResponseCode::NoError, set(expected)),
        "{name} {qtype} through {}: {reply:?}",
        resolver.name
    );
}

/// The answer must have this rcode and no records in its answer section.
fn expect_empty(resolver: &Daemon, name: &str, qtype: RecordType, expected: ResponseCode) {
    let reply = resolver.ask(name, qtype);
    assert_eq!(
        (rcode(&reply), reply.answers.len()),
        (expected, 0),
        "{name} {qtype} through {}: {reply:?}",
        resolver.name
    );
}

/// What a client of the resolver must get for the test zone: addresses,
/// SRV with its targets' addresses, NXDOMAIN, NODATA, and an empty
/// non-terminal that a resolver minimising its queries asks about on the
/// way to the name below it.
pub(super) fn check_answers(resolver: &Daemon) {
    let v4 = |text: &str| IpAddr::V4(text.parse().expect("an IPv4 address"));
    let v6 = |text: &str| IpAddr::V6(text.parse().expect("an IPv6 address"));
    let web = "web.svc.internal.";
    expect_addresses(
        resolver,
        web,
        RecordType::A,
        &[v4("10.0.1.1"), v4("10.0.1.2")],
    );
    expect_addresses(
        resolver,
        web,
        RecordType::AAAA,
        &[v6("fd00::1:1"), v6("fd00::1:2")],
    );

    let reply = resolver.ask(web, RecordType::SRV);
    let targets = ["web-1.web.svc.internal.", "web-2.web.svc.internal."];
    assert_eq!(
        (rcode(&reply), srv(&reply)),
        (
            ResponseCode::NoError,
            set(&targets.map(|target| (8080, target.to_string())))
        ),
        "{web} SRV through {}: {reply:?}",
        resolver.name
    );
    for (n, target) in targets.iter().enumerate() {
        let (a, aaaa) = target_addresses(resolver, &reply, target);
        let n = n + 1;
        assert_eq!(
            (a, aaaa),
            (
                set(&[format!("10.0.1.{n}").parse().expect("IPv4")]),
                set(&[format!("fd00::1:{n}").parse().expect("IPv6")])
            ),
            "{target}'s addresses through {}",
            resolver.name
        );
    }

    // Under QNAME minimisation the resolver asks `_tcp.svc.internal` first:
    // an NXDOMAIN there would end the lookup of everything below it.
    let reply = resolver.ask("_http._tcp.svc.internal.", RecordType::SRV);
    assert_eq!(
        (rcode(&reply), srv(&reply)),
        (
            ResponseCode::NoError,
            set(&[(80, "h1._http._tcp.svc.internal.".to_string())])
        ),
        "_http._tcp.svc.internal SRV through {}: {reply:?}",
        resolver.name
    );
    expect_empty(
        resolver,
        "_tcp.svc.internal.",
        RecordType::A,
        ResponseCode::NoError,
    );

    expect_empty(resolver, web, RecordType::TXT, ResponseCode::NoError);
    expect_empty(
        resolver,
        "db.svc.internal.",
        RecordType::AAAA,
        ResponseCode::NoError,
    );
    expect_addresses(
        resolver,
        "db.svc.internal.",
        RecordType::A,
        &[v4("10.0.2.1")],
    );
    expect_empty(
        resolver,
        "nope.svc.internal.",
        RecordType::A,
        ResponseCode::NXDomain,
    );
    expect_empty(
        resolver,
        "x.web-1.web.svc.internal.",
        RecordType::AAAA,
        ResponseCode::NXDomain,
    );
    check_cname(resolver);
}

/// `web`'s service id, through the admin API.
fn web_service_id(server: &TestServer) -> String {
    let namespace = namespace_id(server, "svc.internal");
    let list = ok(
        server,
        "ListServices",
        json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]}),
    );
    list["Services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["Name"] == "web"))
        .and_then(|s| s["Id"].as_str())
        .unwrap_or_else(|| panic!("no service web: {list}"))
        .to_string()
}

/// Polls `check` until it holds; fails the test once `limit` has passed
/// since `start`.
fn within(start: Instant, limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    loop {
        if check() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?} (the TTL is {TTL} s)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An instance registered through the admin API shows through the resolver
/// once what it cached runs out, and a deregistered one leaves within its
/// TTL: the resolver caches the answer for the TTL cairn gave it, no more.
pub(super) fn check_deregistration(server: &TestServer, resolver: &Daemon) {
    let web = web_service_id(server);
    let name = "web-9.web.svc.internal.";
    let address = Ipv4Addr::new(10, 0, 1, 9);
    let has_web_9 = || {
        ipv4s(
            &resolver.ask("web.svc.internal.", RecordType::A),
            "web.svc.internal.",
        )
        .contains(&address)
    };
    // Before: web is cached without web-9, and web-9 as NXDOMAIN.
    assert!(!has_web_9());
    expect_empty(resolver, name, RecordType::A, ResponseCode::NXDomain);

    ok(
        server,
        "RegisterInstance",
        json!({"ServiceId": web, "InstanceId": "web-9", "Attributes": {
            "AWS_INSTANCE_IPV4": address.to_string(),
            "AWS_INSTANCE_IPV6": "fd00::1:9",
            "AWS_INSTANCE_PORT": "8080"}}),
    );
    // A resolver's clock counts whole seconds, so an entry may outlive its
    // TTL by up to one; one more second is the test's slack.
    let limit = Duration::from_secs(TTL + 2);
    let registered = Instant::now();
    within(
        registered,
        limit,
        "web-9 shows in web.svc.internal A",
        has_web_9,
    );
    within(
        registered,
        limit,
        "web-9.web.svc.internal A answers",
        || ipv4s(&resolver.ask(name, RecordType::A), name).contains(&address),
    );

    ok(
        server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "web-9"}),
    );
    let deregistered = Instant::now();
    within(
        deregistered,
        limit,
        "web-9 leaves web.svc.internal A",
        || !has_web_9(),
    );
    within(
        deregistered,
        limit,
        "web-9 leaves web.svc.internal SRV",
        || {
            !srv(&resolver.ask("web.svc.internal.", RecordType::SRV))
                .iter()
                .any(|(_, target)| target == name)
        },
    );
    within(
        deregistered,
        limit,
        "web-9.web.svc.internal A is NXDOMAIN",
        || rcode(&resolver.ask(name, RecordType::A)) == ResponseCode::NXDomain,
    );
}

/// A CNAME service whose target cairn serves: cairn follows the chain, so
/// the client gets the target's addresses from the one answer, and a
/// resolver that caches what came with the CNAME (dnsmasq did: it then held
/// `web` as having no address for the TTL) still answers `web` in full.
fn check_cname(resolver: &Daemon) {
    let reply = resolver.ask("alias.svc.internal.", RecordType::A);
    let cname_target = reply.answers.iter().find_map(|record| match &record.data {
        RData::CNAME(target) => Some(target.0.to_ascii().to_ascii_lowercase()),
        _ => None,
    });
    assert_eq!(
        (rcode(&reply), cname_target.as_deref()),
        (ResponseCode::NoError, Some("web.svc.internal.")),
        "alias.svc.internal A through {}: {reply:?}",
        resolver.name
    );
    let web: BTreeSet<Ipv4Addr> = ipv4s(&reply, "web.svc.internal.");
    assert_eq!(
        web,
        set(&["10.0.1.1", "10.0.1.2"].map(|ip| ip.parse::<Ipv4Addr>().expect("an address"))),
        "the target's addresses follow the CNAME through {}: {reply:?}",
        resolver.name
    );
    let v4 = |text: &str| IpAddr::V4(text.parse().expect("an IPv4 address"));
    expect_addresses(
        resolver,
        "web.svc.internal.",
        RecordType::A,
        &[v4("10.0.1.1"), v4("10.0.1.2")],
    );
}
