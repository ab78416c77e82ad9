//! Nodes converge: concurrent writes through different nodes, a write on
//! one answered by another, a node killed mid-burst.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{
    Etcd, instances, instances_all, nodes, own_address, registration, serial, store_status,
    try_call, view,
};
use crate::admin::{ok, service_id};
use crate::support::{TestServer, eventually};

#[test]
fn three_nodes_under_concurrent_writes_answer_identically_and_check_clean() {
    let Some(etcd) = Etcd::start() else { return };
    let nodes = nodes(&etcd, 3);
    let web = service_id(&nodes[0], "web");
    for node in &nodes[1..] {
        eventually("every node to know the service", || {
            (instances(node, &web).is_empty() && serial(node) == serial(&nodes[0])).then_some(())
        });
    }

    // 3 nodes × 2 writers × 50 registrations over 40 ids: the same ids are
    // registered through different nodes at once, with different addresses.
    let ids: Vec<String> = (0..40).map(|n| format!("i{n}")).collect();
    let acknowledged: BTreeMap<String, Vec<String>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..6)
            .map(|writer| {
                let node = &nodes[writer % 3];
                let web = web.clone();
                scope.spawn(move || {
                    let mut acked = Vec::new();
                    for n in 0..50 {
                        let id = format!("i{}", (n * 7 + writer * 13) % 40);
                        let ip = format!("10.{writer}.{}.{}", n / 200, n % 200 + 1);
                        let (status, body) = try_call(
                            &node.admin_socket,
                            "RegisterInstance",
                            &registration(&web, &id, &ip),
                        )
                        .expect("the node answers");
                        assert_eq!(
                            status,
                            200,
                            "RegisterInstance {id} through node {}: {body}",
                            writer % 3
                        );
                        acked.push((id, ip));
                    }
                    acked
                })
            })
            .collect();
        let mut acknowledged: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for writer in writers {
            for (id, ip) in writer.join().expect("a writer thread") {
                acknowledged.entry(id).or_default().push(ip);
            }
        }
        acknowledged
    });

    let first = eventually("the three nodes to agree", || {
        let views: Vec<_> = nodes.iter().map(|node| view(node, &web, &ids)).collect();
        (views[0] == views[1] && views[1] == views[2]).then(|| views[0].clone())
    });
    let (listed, answers, _serial) = first;
    // Every acknowledged id is there, with an address one of its
    // acknowledged writes gave it, and DNS serves that address.
    assert_eq!(listed.len(), acknowledged.len(), "{listed:?}");
    for (id, attributes) in &listed {
        let ip = attributes["AWS_INSTANCE_IPV4"].as_str().unwrap_or("");
        let answer = ids
            .iter()
            .position(|wanted| wanted == id)
            .and_then(|at| answers[at].clone());
        assert!(
            acknowledged[id].iter().any(|acked| acked == ip),
            "{id} holds {ip}, which no acknowledged write gave it"
        );
        assert_eq!(answer.as_deref(), Some(ip), "{id}'s own name");
    }
    // The consistency checks ran through the burst and found nothing to
    // repair: what each node applied is what etcd held at that revision.
    for node in &nodes {
        let cluster = eventually("a consistency check after the burst", || {
            let cluster = store_status(node)["Cluster"].clone();
            (cluster["ConsistencyChecks"].as_u64() >= Some(2)).then_some(cluster)
        });
        assert_eq!(cluster["Repairs"], 0, "{cluster:#}\n{}", node.log());
    }
}

#[test]
fn a_registration_on_one_node_is_answered_by_another_quickly() {
    let Some(etcd) = Etcd::start() else { return };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    eventually("node B to know the service", || {
        (serial(&nodes[1]) == serial(&nodes[0])).then_some(())
    });
    // From the call on A to B's answer (`took`), and from A's answer to
    // B's (`after_ack`): A answers only once the change came back to it
    // through etcd's watch, which B receives at the same moment.
    let (mut took, mut after_ack) = (Vec::new(), Vec::new());
    for n in 0..30 {
        let id = format!("p{n}");
        let ip = format!("10.9.0.{}", n + 1);
        let start = Instant::now();
        ok(&nodes[0], "RegisterInstance", registration(&web, &id, &ip));
        let acked = Instant::now();
        eventually("B to answer A's registration", || {
            (own_address(&nodes[1], &id).as_deref() == Some(ip.as_str())).then_some(())
        });
        took.push(start.elapsed());
        after_ack.push(acked.elapsed());
    }
    took.sort();
    after_ack.sort();
    let (median, worst) = (took[took.len() / 2], took[took.len() - 1]);
    eprintln!(
        "register on A → answered by B: median {median:?}, worst {worst:?}; after A's answer: median {:?}, worst {:?} ({} registrations)",
        after_ack[after_ack.len() / 2],
        after_ack[after_ack.len() - 1],
        took.len()
    );
    assert!(
        worst < Duration::from_secs(2),
        "B took {worst:?} to answer a registration made on A"
    );
    assert_eq!(serial(&nodes[0]), serial(&nodes[1]));
}

#[test]
fn a_node_killed_in_a_write_burst_loses_nothing_it_acknowledged() {
    let Some(etcd) = Etcd::start() else { return };
    let mut nodes = nodes(&etcd, 3);
    let web = service_id(&nodes[0], "web");
    eventually("node C to know the service", || {
        (serial(&nodes[2]) == serial(&nodes[0])).then_some(())
    });
    let socket = nodes[2].admin_socket.clone();
    let pid = nodes[2].pid();
    let acknowledged: Vec<String> = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acked = Vec::new();
            for n in 0..400 {
                let id = format!("k{n}");
                match try_call(
                    &socket,
                    "RegisterInstance",
                    &registration(&web, &id, &format!("10.7.{}.{}", n / 200, n % 200 + 1)),
                ) {
                    Some((200, _)) => acked.push(id),
                    _ => break,
                }
            }
            acked
        });
        // Kill C with SIGKILL once the burst is under way.
        eventually("the burst to start", || {
            (instances(&nodes[0], &web).len() >= 20).then_some(())
        });
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        writer.join().expect("the writer thread")
    });
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 400,
        "{} acknowledged: the kill came too late",
        acknowledged.len()
    );
    let has_all = |node: &TestServer| {
        let held: Vec<String> = instances_all(node, &web);
        acknowledged.iter().all(|id| held.contains(id))
    };
    for node in &nodes[..2] {
        eventually("every acknowledged change on the survivors", || {
            has_all(node).then_some(())
        });
    }
    nodes[2].restart();
    eventually("every acknowledged change on the restarted node", || {
        has_all(&nodes[2]).then_some(())
    });
    assert_eq!(serial(&nodes[2]), serial(&nodes[0]));
}
