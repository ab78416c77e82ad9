//! etcd's copy of the operation log stays bounded: the health leader
//! deletes the oldest beyond `store.operations_kept`.

use serde_json::json;

use super::{Etcd, registration};
use crate::admin::{ZONE, ok, service_id};
use crate::support::{TestServer, base64, eventually};

/// How many operations etcd holds for the test cluster.
fn stored_operations(etcd: &Etcd) -> u64 {
    let prefix = b"/cairn-test/op/";
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let reply = etcd.gateway(
        "/v3/kv/range",
        &json!({"key": base64(prefix), "range_end": base64(&end), "count_only": true}),
    );
    // int64 comes as a string, and a zero is left out.
    reply["count"]
        .as_str()
        .map_or(0, |count| count.parse().unwrap_or(0))
}

#[test]
fn etcd_keeps_only_the_newest_operations() {
    assert_eq!(base64(b"/c"), "L2M=");
    assert_eq!(base64(b"abc"), "YWJj");
    let Some(etcd) = Etcd::start() else { return };
    let config = format!("{}operations_kept = 20\n", etcd.store_config());
    let nodes = [
        TestServer::start_with(&[("svc.test.toml", ZONE)], &config),
        TestServer::start_with(&[], &config),
    ];
    let web = service_id(&nodes[0], "web");
    let mut last = String::new();
    for n in 0..60 {
        let node = &nodes[n % 2];
        let reply = ok(
            node,
            "RegisterInstance",
            registration(&web, &format!("o{n}"), &format!("10.3.0.{}", n + 1)),
        );
        last = reply["OperationId"].as_str().unwrap_or("").to_string();
    }
    // 60 registrations and the zone's own operations were stored; the
    // leader trims every 5 s.
    eventually("etcd to keep only the newest 20 operations", || {
        (stored_operations(&etcd) == 20).then_some(())
    });
    // The leader logs once the deletions are committed, so the count can
    // be seen before the line.
    eventually("a node to log its trim", || {
        nodes
            .iter()
            .any(|node| node.log().contains("trimmed etcd's operation log"))
            .then_some(())
    });
    // The newest are kept: the last registration's operation is still
    // answered on both nodes.
    for node in &nodes {
        let operation = ok(node, "GetOperation", json!({"OperationId": last}));
        assert_eq!(operation["Operation"]["Status"], "SUCCESS", "{operation}");
    }
}
