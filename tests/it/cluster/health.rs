//! Health in a cluster: active checks on one node, moving when it dies;
//! heartbeats to any node, silence acted on once.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Etcd, instances, nodes, registration};
use crate::admin::{namespace_id, ok};
use crate::support::{TestServer, eventually, send_signal};

#[test]
fn health_checks_run_on_one_node_and_move_when_it_dies() {
    let Some(etcd) = Etcd::start() else { return };
    let mut nodes = nodes(&etcd, 2);
    let running = |node: &TestServer| node.log().contains("health checks running");
    let leader = eventually("one node to run the health checks", || {
        nodes.iter().position(running)
    });
    let other = 1 - leader;
    assert!(
        !running(&nodes[other]),
        "both nodes run the health checks:\n{}",
        nodes[other].log()
    );
    nodes[leader].kill();
    let start = Instant::now();
    eventually("the other node to take the health checks over", || {
        running(&nodes[other]).then_some(())
    });
    eprintln!(
        "health checks moved to the surviving node {:?} after the leader's kill -9",
        start.elapsed()
    );
}

/// Lines of `node`'s log holding every one of `parts`.
fn log_lines(node: &TestServer, parts: &[&str]) -> usize {
    node.log()
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .count()
}

#[test]
fn heartbeats_sent_to_any_node_count_and_silence_is_acted_on_once_for_all() {
    let Some(etcd) = Etcd::start() else { return };
    let nodes = nodes(&etcd, 2);
    let running = |node: &TestServer| node.log().contains("health checks running");
    let leader = eventually("one node to lead the health checks", || {
        nodes.iter().position(running)
    });
    let (leader, other) = (&nodes[leader], &nodes[1 - leader]);
    let namespace = namespace_id(leader, "svc.test");
    let created = ok(
        leader,
        "CreateService",
        json!({"Name": "jobs", "NamespaceId": namespace,
               "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 5}]},
               "HeartbeatConfig": {"TTL": 1, "DeregisterAfter": 4}}),
    );
    let jobs = created["Service"]["Id"].as_str().unwrap_or("").to_string();
    ok(
        other,
        "RegisterInstance",
        registration(&jobs, "j1", "10.4.0.1"),
    );
    let health = |node: &TestServer| {
        ok(node, "GetInstancesHealthStatus", json!({"ServiceId": jobs}))["Status"].clone()
    };
    let beat = || {
        ok(
            other,
            "Heartbeat",
            json!({"ServiceId": jobs, "InstanceId": "j1"}),
        )
    };

    // Heartbeats go to the node that does not lead, for three TTLs (two
    // beyond the leader's slack): the leader hears of them and keeps j1.
    beat();
    eventually("j1 HEALTHY on both nodes", || {
        (health(leader) == json!({"j1": "HEALTHY"}) && health(other) == health(leader))
            .then_some(())
    });
    let beating = Instant::now();
    while beating.elapsed() < Duration::from_secs(3) {
        beat();
        for node in [leader, other] {
            assert_eq!(
                health(node),
                json!({"j1": "HEALTHY"}),
                "{:?} into heartbeats sent to the other node\n{}",
                beating.elapsed(),
                leader.log()
            );
        }
    }

    // Silence: UNHEALTHY after the TTL, then deregistered after the grace
    // period, seen the same on both nodes.
    let silent = Instant::now();
    eventually("j1 UNHEALTHY on both nodes", || {
        (health(leader) == json!({"j1": "UNHEALTHY"}) && health(other) == health(leader))
            .then_some(())
    });
    let unhealthy_after = silent.elapsed();
    eventually("j1 deregistered on both nodes", || {
        (instances(leader, &jobs).is_empty() && instances(other, &jobs).is_empty()).then_some(())
    });
    let gone_after = silent.elapsed();
    eprintln!("silent j1: UNHEALTHY after {unhealthy_after:?}, deregistered after {gone_after:?}");
    assert!(
        unhealthy_after >= Duration::from_secs(1),
        "{unhealthy_after:?}"
    );
    assert!(gone_after >= Duration::from_secs(4), "{gone_after:?}");

    // Once for the cluster: one status change, one deregistration, made
    // by the leader alone, one DEREGISTER_INSTANCE operation on each node.
    let changed: usize = [leader, other]
        .iter()
        .map(|node| log_lines(node, &["health changed", "j1", "UNHEALTHY"]))
        .sum();
    assert_eq!(changed, 1, "{}\n{}", leader.log(), other.log());
    let lapse = "instance deregistered: no heartbeat within its grace period";
    eventually("the leader's deregistration line", || {
        (log_lines(leader, &[lapse]) == 1).then_some(())
    });
    assert_eq!(log_lines(other, &[lapse]), 0, "{}", other.log());
    for node in [leader, other] {
        let operations = ok(
            node,
            "ListOperations",
            json!({"Filters": [{"Name": "TYPE", "Values": ["DEREGISTER_INSTANCE"]}]}),
        );
        assert_eq!(operations["Operations"].as_array().map(Vec::len), Some(1));
    }
}

#[test]
fn a_leader_stopped_with_sigterm_gives_its_lease_back_and_exits_cleanly() {
    let Some(etcd) = Etcd::start() else { return };
    let mut nodes = nodes(&etcd, 2);
    let running = |node: &TestServer| node.log().contains("health checks running");
    let leader = eventually("one node to run the health checks", || {
        nodes.iter().position(running)
    });
    let other = 1 - leader;
    let pid = nodes[leader].pid();
    if send_signal(pid, "TERM").is_none() {
        return;
    }
    let stopped = Instant::now();
    let status = eventually("the leader to exit", || nodes[leader].try_wait());
    assert!(status.success(), "{status:?}\n{}", nodes[leader].log());
    // The lease goes back before the process says it stopped: the leader's
    // task is drained, not dropped with the runtime.
    let log = nodes[leader].log();
    let gave_back = log.find("gave the health-check lease back");
    let stopped_at = log.find("cairn stopped");
    assert!(
        gave_back.is_some() && stopped_at.is_some() && gave_back < stopped_at,
        "{log}"
    );
    eventually("the other node to take the health checks over", || {
        running(&nodes[other]).then_some(())
    });
    let took = stopped.elapsed();
    eprintln!("health checks moved {took:?} after the leader's SIGTERM");
    // The lease was revoked on the way out: the other node took over at
    // its next try (every TTL/3, 1.7 s), not after the lease's 5 s TTL.
    assert!(
        took < Duration::from_secs(4),
        "took {took:?}: the lease was not given back"
    );
}
