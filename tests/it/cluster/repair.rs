//! The consistency check's repair, against a real etcd: one node is made
//! to lose one watch event, finds out by its periodic check, says so and
//! puts etcd's state in place, and then answers exactly as a node that
//! never lost anything.
//!
//! The loss is induced by `store.testing_lose_one_event_of_instance`
//! (for tests only): the follower drops the first transaction touching
//! that instance and counts its revision as applied, which is what a watch
//! that never delivered an event leaves behind (Debian's etcd 3.4.23 has
//! such bugs, and they cannot be triggered on demand). Everything after
//! the loss is the real path: the check's read of etcd at the applied
//! revision, its comparison, its log line and the re-read that repairs.
//! Pausing a node while writing cannot do it: the watch resumes from the
//! node's revision and delivers everything it missed.

use std::collections::BTreeSet;

use hickory_proto::rr::{RData, RecordType};

use super::{Etcd, instances, own_address, registration, serial, store_status};
use crate::admin::{ZONE, ok, service_id};
use crate::support::{TestServer, eventually};

/// Every record a node answers for the service: its A and SRV sets,
/// sorted (MULTIVALUE shuffles them, and there are fewer than eight).
fn records(node: &TestServer) -> BTreeSet<String> {
    [RecordType::A, RecordType::SRV]
        .into_iter()
        .flat_map(|kind| node.udp("web.svc.test.", kind).answers)
        .map(|record| match &record.data {
            RData::A(a) => format!("A {}", a.0),
            RData::SRV(srv) => format!("SRV {} {}", srv.port, srv.target),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_node_that_lost_a_watch_event_logs_the_difference_repairs_and_answers_as_the_others() {
    let Some(etcd) = Etcd::start() else {
        return;
    };
    let store = etcd.store_config();
    let healthy = TestServer::start_with(&[("svc.test.toml", ZONE)], &store);
    let diverging = TestServer::start_with(
        &[],
        &format!("{store}testing_lose_one_event_of_instance = \"lost\"\n"),
    );
    let web = service_id(&healthy, "web");
    ok(
        &healthy,
        "RegisterInstance",
        registration(&web, "kept", "10.9.0.1"),
    );
    eventually("the diverging node to follow", || {
        own_address(&diverging, "kept").is_some().then_some(())
    });
    // Last, so the loss also leaves the diverging node's SOA serial behind.
    ok(
        &healthy,
        "RegisterInstance",
        registration(&web, "lost", "10.9.0.2"),
    );

    eventually("the node to drop the event", || {
        diverging
            .log()
            .contains("testing: dropped this watch event")
            .then_some(())
    });
    eventually("the check to find the difference and repair it", || {
        let log = diverging.log();
        (log.contains("differs from the cluster store's at the revision it applied")
            && log.contains("its instances differ")
            && log.contains("re-read the cluster store"))
        .then_some(())
    });
    eventually("the repaired node to answer as the other", || {
        (records(&diverging) == records(&healthy)
            && serial(&diverging) == serial(&healthy)
            && instances(&diverging, &web) == instances(&healthy, &web))
        .then_some(())
    });
    assert_eq!(own_address(&diverging, "lost").as_deref(), Some("10.9.0.2"));
    assert_eq!(records(&healthy).len(), 4, "{:?}", records(&healthy));
    let cluster = &store_status(&diverging)["Cluster"];
    assert!(cluster["Repairs"].as_u64() >= Some(1), "{cluster:#}");
    assert_eq!(store_status(&healthy)["Cluster"]["Repairs"], 0);

    // It follows on from the repair like any node.
    ok(
        &healthy,
        "RegisterInstance",
        registration(&web, "later", "10.9.0.3"),
    );
    eventually("the repaired node to follow on", || {
        (records(&diverging) == records(&healthy) && serial(&diverging) == serial(&healthy))
            .then_some(())
    });
}

/// A write whose own transaction comes back in a re-read rather than
/// through the watch (here: its watch event lost, so the consistency
/// check re-reads the store while the write waits) answers what it would
/// have answered: success, with an operation that is found and a record
/// that is served.
#[test]
fn a_write_a_re_read_brings_back_answers_success() {
    let Some(etcd) = Etcd::start() else {
        return;
    };
    let node = TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        &format!(
            "{}testing_lose_one_event_of_instance = \"mine\"\n",
            etcd.store_config()
        ),
    );
    let web = service_id(&node, "web");
    let reply = ok(
        &node,
        "RegisterInstance",
        registration(&web, "mine", "10.9.1.1"),
    );
    let log = node.log();
    assert!(log.contains("testing: dropped this watch event"), "{log}");
    // The re-read logs once it has answered the writes it held.
    eventually("the re-read to say it answered the write", || {
        node.log().contains("writes_answered=1").then_some(())
    });
    assert_eq!(own_address(&node, "mine").as_deref(), Some("10.9.1.1"));
    let operation = ok(
        &node,
        "GetOperation",
        serde_json::json!({"OperationId": reply["OperationId"]}),
    );
    assert_eq!(operation["Operation"]["Status"], "SUCCESS", "{operation}");
}
