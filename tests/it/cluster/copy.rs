//! `cairn store copy` between the embedded store and etcd.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::{Etcd, instances, own_address, registration, serial};
use crate::admin::{ZONE, ok, service_id};
use crate::support::{TestServer, eventually};

/// Everything a copy must carry, as the API reports it: namespaces,
/// services, each service's instances, health and tags.
fn registry_view(node: &TestServer) -> Value {
    let namespaces = ok(node, "ListNamespaces", json!({}))["Namespaces"].clone();
    let mut services = ok(node, "ListServices", json!({}))["Services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    services.sort_by_key(|service| service["Id"].as_str().unwrap_or("").to_string());
    let details: Vec<Value> = services
        .iter()
        .map(|service| {
            let id = service["Id"].as_str().unwrap_or("");
            let full = ok(node, "GetService", json!({"Id": id}))["Service"].clone();
            let tags = ok(
                node,
                "ListTagsForResource",
                json!({"ResourceARN": full["Arn"]}),
            )["Tags"]
                .clone();
            let health =
                ok(node, "GetInstancesHealthStatus", json!({"ServiceId": id}))["Status"].clone();
            json!({
                "service": full,
                "tags": tags,
                "instances": instances(node, id),
                "health": health,
            })
        })
        .collect();
    json!({"namespaces": namespaces, "services": details})
}

fn copy_store(from: &Path, to: &Path) {
    let output = Command::new(crate::support::cairn_binary())
        .args(["store", "copy", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .expect("run cairn store copy");
    assert!(
        output.status.success(),
        "cairn store copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_registry_copied_into_etcd_and_back_is_the_same_and_keeps_its_serials() {
    let Some(etcd) = Etcd::start() else { return };
    // A single server on its embedded store, with instances, custom health
    // and tags.
    let mut single = TestServer::start(&[("svc.test.toml", ZONE)]);
    let web = service_id(&single, "web");
    let api = service_id(&single, "api");
    for n in 0..5 {
        ok(
            &single,
            "RegisterInstance",
            registration(&web, &format!("w{n}"), &format!("10.5.0.{}", n + 1)),
        );
    }
    ok(
        &single,
        "RegisterInstance",
        registration(&api, "a-1", "10.5.1.1"),
    );
    ok(
        &single,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": api, "InstanceId": "a-1", "Status": "UNHEALTHY"}),
    );
    let arn = ok(&single, "GetService", json!({"Id": web}))["Service"]["Arn"].clone();
    ok(
        &single,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "team", "Value": "web"}]}),
    );
    let before = registry_view(&single);
    let served = serial(&single);
    single.kill();

    // Into etcd: a cluster node started on the copy serves the same.
    let mut node = TestServer::start_with(&[], &etcd.store_config());
    node.kill();
    copy_store(&single.config_path, &node.config_path);
    node.restart();
    assert_eq!(registry_view(&node), before);
    assert_eq!(
        own_address(&node, "w3").as_deref(),
        Some("10.5.0.4"),
        "DNS on the copy"
    );
    // etcd's revisions start low, but the zone's serial does not go back
    // (secondaries would refuse it).
    let copied = serial(&node);
    assert!(
        copied >= served,
        "serial {served} before the copy, {copied} after"
    );

    // And back into a new embedded store.
    let mut back = TestServer::start(&[]);
    back.kill();
    copy_store(&node.config_path, &back.config_path);
    back.restart();
    assert_eq!(registry_view(&back), before);
    let back_serial = serial(&back);
    assert!(
        back_serial >= copied,
        "serial {copied} in etcd, {back_serial} copied back"
    );
    // Changes on the copy move its serial on from there.
    ok(
        &node,
        "RegisterInstance",
        registration(&web, "w9", "10.5.0.9"),
    );
    eventually("the serial to move past the copied one", || {
        (serial(&node) > copied).then_some(())
    });

    // A copy never lands on a store that holds something.
    let output = Command::new(crate::support::cairn_binary())
        .args(["store", "copy", "--from"])
        .arg(&single.config_path)
        .arg("--to")
        .arg(&node.config_path)
        .output()
        .expect("run cairn store copy");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("copy only into an empty store"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
