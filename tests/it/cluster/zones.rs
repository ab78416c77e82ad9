//! zones/ applied by several nodes starting at once: they race to write
//! the same namespace, services and instances into etcd, and every one
//! must start and serve the same.

use super::{Etcd, instances_all, serial};
use crate::admin::service_id;
use crate::support::TestServer;

/// A zone with `count` instances, enough for several etcd transactions.
fn zone(count: usize) -> String {
    let mut text = String::from(
        "[namespace]\nname = \"svc.test\"\ntype = \"DNS_PRIVATE\"\nallowed_networks = [\"127.0.0.0/8\"]\n\n[[services]]\nname = \"web\"\nrecords = [{ type = \"A\", ttl = 10 }]\n",
    );
    for n in 0..count {
        text.push_str(&format!(
            "\n[[services.instances]]\nid = \"z{n}\"\nipv4 = \"10.0.{}.{}\"\n",
            n / 200,
            n % 200 + 1
        ));
    }
    text
}

#[test]
fn nodes_starting_at_once_with_the_same_zones_all_start_and_agree() {
    let Some(etcd) = Etcd::start() else { return };
    let zone = zone(400);
    let config = etcd.store_config();
    let nodes: Vec<TestServer> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| TestServer::start_with(&[("svc.test.toml", &zone)], &config)))
            .collect();
        starting
            .into_iter()
            .map(|node| node.join().expect("a node started"))
            .collect()
    });
    let web = service_id(&nodes[0], "web");
    for node in &nodes {
        assert_eq!(service_id(node, "web"), web, "one service for all");
        assert_eq!(instances_all(node, &web).len(), 400);
        assert_eq!(serial(node), serial(&nodes[0]));
    }
}

#[test]
fn a_zones_file_that_does_not_parse_stops_a_node_at_once_without_retries() {
    let Some(etcd) = Etcd::start() else { return };
    let mut node = TestServer::start_with(&[("svc.test.toml", &zone(2))], &etcd.store_config());
    let path = node.dir.path().join("zones").join("svc.test.toml");
    std::fs::write(&path, "[namespace\nname = \"svc.test\"\n").expect("rewrite the zones file");
    let before = node.log().len();
    let log = crate::zones::start_fails(&mut node);
    let log = log.get(before..).unwrap_or(&log);
    assert!(log.contains("svc.test.toml"), "the file is named:\n{log}");
    assert!(
        !log.contains("crossed another node's changes"),
        "a parse error is no race with another node:\n{log}"
    );
}
