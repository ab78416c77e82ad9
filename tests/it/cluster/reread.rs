//! A node's re-read of everything (after etcd compacted the history it
//! needed) under DNS query load: each service switches from what it was
//! to what it is in one step, so no answer mixes the two.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, RecordType};

use super::{Etcd, instances_all, nodes, registration, try_call};
use crate::admin::{ok, service_id};
use crate::support::{DEADLINE, eventually, exchange_udp, query_message, send_signal};

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
