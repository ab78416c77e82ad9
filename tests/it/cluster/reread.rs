//! A node's re-read of everything (after etcd compacted the history it
//! needed) under DNS query load: the whole registry switches from what it
//! was to what it is in one step, so no answer mixes the two, and once one
//! service answers as it is, every other does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

use super::{Etcd, instances_all, nodes, registration, try_call};
use crate::admin::{ok, service_id};
use crate::support::{
    DEADLINE, TestServer, eventually, exchange_udp, query_message, rcode, send_signal,
};

/// Instances of `web`: enough that re-applying them one by one would
/// take long enough for queries to see the service half changed.
const INSTANCES: usize = 300;

fn address(generation: u8, n: usize) -> String {
    format!("10.{generation}.{}.{}", n / 200, n % 200 + 1)
}

#[test]
fn a_re_read_under_query_load_switches_each_service_whole() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    for n in 0..INSTANCES {
        ok(
            &nodes[0],
            "RegisterInstance",
            registration(&web, &format!("w{n}"), &address(1, n)),
        );
    }
    eventually("B to have every instance", || {
        (instances_all(&nodes[1], &web).len() == INSTANCES).then_some(())
    });

    // B stops and etcd restarts, which ends B's watch; every instance then
    // moves to a new address and etcd forgets the history, so B must read
    // everything again when it wakes.
    let pid = nodes[1].pid();
    if send_signal(pid, "STOP").is_none() {
        return;
    }
    etcd.kill();
    etcd.run();
    for n in 0..INSTANCES {
        let body = registration(&web, &format!("w{n}"), &address(2, n));
        eventually("A to accept the move", || {
            let (status, _) = try_call(&nodes[0].admin_socket, "RegisterInstance", &body)?;
            (status == 200).then_some(())
        });
    }
    etcd.compact();

    // Queries for the service's addresses (eight at random per answer)
    // from before B wakes until it has switched.
    let done = AtomicBool::new(false);
    let dns = nodes[1].dns;
    let (old, new, mixed) = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let (mut old, mut new, mut mixed) = (0usize, 0usize, Vec::new());
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) && started.elapsed() < DEADLINE {
                let query = query_message("web.svc.test.", RecordType::A, None);
                let Ok(reply) = exchange_udp(dns, &query, None, Duration::from_millis(200)) else {
                    continue;
                };
                let generations: Vec<u8> = reply
                    .answers
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::A(a) => Some(a.0.octets()[1]),
                        _ => None,
                    })
                    .collect();
                match () {
                    _ if generations.iter().all(|&g| g == 1) && !generations.is_empty() => old += 1,
                    _ if generations.iter().all(|&g| g == 2) && !generations.is_empty() => new += 1,
                    _ => mixed.push(generations),
                }
                if new > 200 {
                    break;
                }
            }
            (old, new, mixed)
        });
        send_signal(pid, "CONT").expect("kill, found for STOP");
        eventually("B to re-read and serve the new addresses", || {
            nodes[1]
                .log()
                .contains("re-read the cluster store")
                .then_some(())
        });
        // The load ends by itself after 200 new answers, or at its deadline.
        let result = load.join().expect("the load thread");
        done.store(true, Ordering::Relaxed);
        result
    });
    eprintln!(
        "answers during B's re-read: {old} old, {new} new, {} mixed",
        mixed.len()
    );
    assert!(mixed.is_empty(), "answers mixing old and new: {mixed:?}");
    assert!(
        old > 0 && new > 200,
        "{old} old, {new} new: the load did not span the switch"
    );
}

/// Services, each with static instances: enough that switching them one
/// service at a time would let queries see some switched and others not.
const SERVICES: usize = 40;
const STATIC_INSTANCES: usize = 100;

fn services_zone() -> String {
    let mut text = String::from(
        "[namespace]\nname = \"svc.test\"\ntype = \"DNS_PRIVATE\"\nallowed_networks = [\"127.0.0.0/8\"]\n",
    );
    for s in 0..SERVICES {
        text.push_str(&format!(
            "\n[[services]]\nname = \"s{s}\"\nrecords = [{{ type = \"A\", ttl = 10 }}, {{ type = \"SRV\", ttl = 10 }}]\n"
        ));
        for n in 0..STATIC_INSTANCES {
            text.push_str(&format!(
                "\n[[services.instances]]\nid = \"i{n}\"\nipv4 = \"10.1.{s}.{}\"\nport = 80\n",
                n + 1
            ));
        }
    }
    text
}

#[test]
fn a_re_read_switches_every_service_at_once() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let config = etcd.store_config();
    let a = TestServer::start_with(&[("svc.test.toml", &services_zone())], &config);
    let b = TestServer::start_with(&[], &config);
    let last = service_id(&a, &format!("s{}", SERVICES - 1));
    eventually("B to have every service", || {
        (instances_all(&b, &last).len() == STATIC_INSTANCES).then_some(())
    });

    // B stops and misses, in compacted history, one new instance in each
    // service: `new.sN.svc.test` is NXDOMAIN before the switch, an address
    // after.
    let pid = b.pid();
    if send_signal(pid, "STOP").is_none() {
        return;
    }
    etcd.kill();
    etcd.run();
    for s in 0..SERVICES {
        let body = registration(&service_id(&a, &format!("s{s}")), "new", "10.2.0.1");
        eventually("A to accept the new instance", || {
            let (status, _) = try_call(&a.admin_socket, "RegisterInstance", &body)?;
            (status == 200).then_some(())
        });
    }
    etcd.compact();

    // One question after another, round the services, from before B wakes
    // until every service has answered new twice over: over DNS
    // (`new.sN` NXDOMAIN or an address) and over the API (GetInstance).
    let ids: Vec<String> = (0..SERVICES)
        .map(|s| service_id(&a, &format!("s{s}")))
        .collect();
    let dns = b.dns;
    let (by_dns, by_api) = std::thread::scope(|scope| {
        let by_dns = scope.spawn(|| {
            round_the_services(|s| {
                let query = query_message(&format!("new.s{s}.svc.test."), RecordType::A, None);
                let reply = exchange_udp(dns, &query, None, Duration::from_millis(200)).ok()?;
                Some(rcode(&reply) == ResponseCode::NoError && !reply.answers.is_empty())
            })
        });
        let by_api = scope.spawn(|| {
            round_the_services(|s| {
                let body = json!({"ServiceId": ids[s], "InstanceId": "new"});
                let (status, _) = try_call(&b.admin_socket, "GetInstance", &body)?;
                Some(status == 200)
            })
        });
        send_signal(pid, "CONT").expect("kill, found for STOP");
        (
            by_dns.join().expect("the DNS load"),
            by_api.join().expect("the API load"),
        )
    });
    let log = b.log();
    let reread = log
        .lines()
        .find(|line| line.contains("re-read the cluster store"))
        .unwrap_or_else(|| panic!("no re-read in B's log: {log}"));
    eprintln!("{reread}");
    let first_new = switched_once("DNS", &by_dns);
    assert!(first_new > 0, "the DNS load did not span the switch");
    switched_once("the API", &by_api);
}

/// Asks `ask(service)` round the services until every one has answered
/// new twice over in a row (or the deadline): each answer, in order, as
/// (service, new).
fn round_the_services(ask: impl Fn(usize) -> Option<bool>) -> Vec<(usize, bool)> {
    let mut seen: Vec<(usize, bool)> = Vec::new();
    let (started, mut new_in_a_row) = (Instant::now(), 0);
    while new_in_a_row < 2 * SERVICES && started.elapsed() < DEADLINE {
        let s = seen.len() % SERVICES;
        let Some(new) = ask(s) else { continue };
        new_in_a_row = if new { new_in_a_row + 1 } else { 0 };
        seen.push((s, new));
    }
    seen
}

/// Checks that once any service answered new, none answered old after:
/// returns where the first new answer was.
fn switched_once(by: &str, seen: &[(usize, bool)]) -> usize {
    let first_new = seen
        .iter()
        .position(|(_, new)| *new)
        .unwrap_or_else(|| panic!("{by}: no service ever answered new"));
    let old_after_new: Vec<usize> = seen[first_new..]
        .iter()
        .filter(|(_, new)| !new)
        .map(|(s, _)| *s)
        .collect();
    eprintln!(
        "{by}: {} answers, the first new at {first_new}, {} old after it",
        seen.len(),
        old_after_new.len()
    );
    assert!(
        old_after_new.is_empty(),
        "{by}: {} answers as services were after another answered as it is, the first from {:?}",
        old_after_new.len(),
        &old_after_new[..old_after_new.len().min(20)]
    );
    first_new
}
