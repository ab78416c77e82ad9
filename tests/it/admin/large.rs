//! Services large enough (above 16 instances) that a change to one
//! instance is made to the compiled answers in place: through a real
//! server, DNS answers follow every registration, health change and
//! deregistration exactly.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::json;

use super::{a_records, ok, register, service_id, start};
use crate::support::{TestServer, rcode};

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, n)
}

fn ips(addresses: impl IntoIterator<Item = Ipv4Addr>) -> BTreeSet<Ipv4Addr> {
    addresses.into_iter().collect()
}

fn set_health(server: &TestServer, service: &str, n: u8, healthy: bool) {
    let status = if healthy { "HEALTHY" } else { "UNHEALTHY" };
    ok(
        server,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": service, "InstanceId": format!("i-{n}"), "Status": status}),
    );
}

/// Every address `api.svc.test` A answers, over a few queries: MULTIVALUE
/// answers up to 8, so a pool of 8 or fewer is answered whole each time.
fn answered(server: &TestServer) -> BTreeSet<Ipv4Addr> {
    (0..4)
        .flat_map(|_| a_records(server, "api.svc.test."))
        .collect()
}

#[test]
fn a_large_service_answers_exactly_what_each_change_leaves() {
    let server = start();
    let api = service_id(&server, "api");
    for n in 0..40 {
        register(&server, &api, &format!("i-{n}"), &ip(n).to_string());
    }
    let all = ips((0..40).map(ip));
    let first = a_records(&server, "api.svc.test.");
    assert_eq!(first.len(), 8, "8 of 40: {first:?}");
    assert!(first.iter().all(|a| all.contains(a)), "{first:?}");

    for n in 6..40 {
        set_health(&server, &api, n, false);
    }
    assert_eq!(answered(&server), ips((0..6).map(ip)), "the 6 healthy");

    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": api, "InstanceId": "i-0"}),
    );
    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": api, "InstanceId": "i-39"}),
    );
    assert_eq!(answered(&server), ips((1..6).map(ip)), "i-0 is gone");

    // A new address for a healthy instance replaces its old one.
    register(&server, &api, "i-1", "10.1.1.1");
    let mut healthy = ips((2..6).map(ip));
    healthy.insert(Ipv4Addr::new(10, 1, 1, 1));
    assert_eq!(answered(&server), healthy, "i-1 moved");

    // None healthy: every instance answers again, rather than none.
    for n in 1..6 {
        set_health(&server, &api, n, false);
    }
    let remaining = ips((1..39).map(|n| {
        if n == 1 {
            Ipv4Addr::new(10, 1, 1, 1)
        } else {
            ip(n)
        }
    }));
    let reply = a_records(&server, "api.svc.test.");
    assert_eq!(reply.len(), 8, "8 of all 38: {reply:?}");
    assert!(reply.iter().all(|a| remaining.contains(a)), "{reply:?}");

    set_health(&server, &api, 20, true);
    set_health(&server, &api, 30, true);
    assert_eq!(answered(&server), ips([ip(20), ip(30)]), "the 2 healthy");
}

#[test]
fn instance_names_in_a_large_service_follow_deregistrations() {
    let server = start();
    let web = service_id(&server, "web");
    for n in 0..30 {
        register(&server, &web, &format!("i-{n}"), &ip(n).to_string());
    }
    for n in (0..30).step_by(3) {
        ok(
            &server,
            "DeregisterInstance",
            json!({"ServiceId": web, "InstanceId": format!("i-{n}")}),
        );
    }
    for n in 0..30u8 {
        let name = format!("I-{n}.web.svc.test.");
        if n % 3 == 0 {
            let gone = server.udp(&name, RecordType::A);
            assert_eq!(rcode(&gone), ResponseCode::NXDomain, "{name}: {gone:?}");
        } else {
            assert_eq!(a_records(&server, &name), [ip(n)], "{name}");
        }
    }
}
