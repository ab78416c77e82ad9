//! Many clients at once: nothing lost, nothing doubled, API and DNS agree.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::json;

use super::{a_records, call, ok, service_id, start};
use crate::support::rcode;

const THREADS: usize = 40;
const PER_THREAD: usize = 5;

#[test]
fn two_hundred_concurrent_registrations_are_all_in_dns_and_the_api() {
    let server = Arc::new(start());
    let web = service_id(&server, "web");
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (server, web) = (Arc::clone(&server), web.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let n = t * PER_THREAD + i;
                    let ip = format!("10.1.{}.{}", n / 250, n % 250 + 1);
                    let reply = call(
                        &server,
                        "RegisterInstance",
                        json!({"ServiceId": web, "InstanceId": format!("c-{n}"),
                        "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "80"}}),
                    );
                    assert_eq!(reply.status, 200, "{reply:?}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a registering thread panicked");
    }
    let total = THREADS * PER_THREAD;

    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let mut body = json!({"ServiceId": web});
        if let Some(token) = token {
            body["NextToken"] = token;
        }
        let page = ok(&server, "ListInstances", body);
        listed.extend(
            page["Instances"]
                .as_array()
                .expect("list")
                .iter()
                .filter_map(|i| i["Id"].as_str().map(str::to_string)),
        );
        match page.get("NextToken") {
            Some(next) => token = Some(next.clone()),
            None => break,
        }
    }
    assert_eq!(listed.len(), total, "none lost or doubled");
    let expected: BTreeSet<String> = (0..total).map(|n| format!("c-{n}")).collect();
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), expected);
    for n in 0..total {
        let ip: Ipv4Addr = format!("10.1.{}.{}", n / 250, n % 250 + 1)
            .parse()
            .expect("ip");
        assert_eq!(
            a_records(&server, &format!("c-{n}.web.svc.test.")),
            [ip],
            "instance c-{n} in DNS"
        );
    }
    let service = ok(&server, "GetService", json!({"Id": web}));
    assert_eq!(
        service["Service"]["InstanceCount"].as_u64(),
        Some(total as u64)
    );
}

#[test]
fn racing_register_and_deregister_of_one_instance_ends_consistent() {
    let server = Arc::new(start());
    let web = service_id(&server, "web");
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (server, web) = (Arc::clone(&server), web.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let reply = if (t + i) % 2 == 0 {
                        call(&server, "RegisterInstance", json!({"ServiceId": web, "InstanceId": "flip",
                            "Attributes": {"AWS_INSTANCE_IPV4": format!("10.2.0.{}", t + 1), "AWS_INSTANCE_PORT": "80"}}))
                    } else {
                        call(&server, "DeregisterInstance", json!({"ServiceId": web, "InstanceId": "flip"}))
                    };
                    // A deregistration may find nothing to remove; nothing else may fail.
                    assert!(reply.status == 200 || reply.code() == "InstanceNotFound", "{reply:?}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a racing thread panicked");
    }
    let api = call(
        &server,
        "GetInstance",
        json!({"ServiceId": web, "InstanceId": "flip"}),
    );
    let dns = server.udp("flip.web.svc.test.", RecordType::A);
    match api.status {
        200 => {
            let ip: Ipv4Addr = api.body["Instance"]["Attributes"]["AWS_INSTANCE_IPV4"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("ip");
            assert_eq!(
                a_records(&server, "flip.web.svc.test."),
                [ip],
                "DNS has what the API has"
            );
            assert_eq!(a_records(&server, "web.svc.test."), [ip]);
        }
        _ => {
            assert_eq!(api.code(), "InstanceNotFound");
            assert_eq!(
                rcode(&dns),
                ResponseCode::NXDomain,
                "gone from the API, gone from DNS: {dns:?}"
            );
        }
    }
}
