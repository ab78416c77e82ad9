//! `cairn store copy` between the embedded store and etcd.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::{Etcd, instances, own_address, registration};
use crate::admin::{ZONE, ok, service_id};
use crate::support::TestServer;

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
fn a_registry_copied_into_etcd_and_back_is_the_same() {
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

    // And back into a new embedded store.
    let mut back = TestServer::start(&[]);
    back.kill();
    copy_store(&node.config_path, &back.config_path);
    back.restart();
    assert_eq!(registry_view(&back), before);

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
