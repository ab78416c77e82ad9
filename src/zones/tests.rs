//! Applying zones files to a registry, as `cairn serve` does, through a
//! memory-only writer.

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::*;
use crate::config::zones::tests::{VALID, assert_mentions, many_services};
use crate::registry::{NamespaceType, RecordKind, Registry, RoutingPolicy};
use crate::store::MemoryBackend;
use crate::writer::testing::TestRegistry;

/// Applies `dir` through a memory-only writer, as `cairn serve` would.
fn load(dir: &Path, registry: &Registry) -> Result<Applied, ZonesError> {
    let writer = Writer::new(
        registry.clone(),
        std::sync::Arc::new(MemoryBackend::default()),
    );
    apply_through(dir, &writer)
}

/// Applies `dir` through `writer`, whose store holds what was applied before.
fn apply_through(dir: &Path, writer: &Writer) -> Result<Applied, ZonesError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(apply(dir, writer))
}

#[test]
fn the_shipped_zone_loads_into_a_fresh_registry() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let registry = Registry::default();
    let loaded = load(&dir, &registry).unwrap();
    assert_eq!(
        loaded,
        Applied {
            files: 1,
            namespaces: 1,
            services: 2,
            instances: 5,
            replaced: 0,
        }
    );

    let namespace = registry.namespace_by_name("svc.internal").unwrap();
    assert_eq!(namespace.kind, NamespaceType::DnsPrivate);
    assert_eq!(namespace.soa.ttl, 60);
    let networks: Vec<String> = namespace
        .allowed_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        networks,
        [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "::1/128",
            "fc00::/7"
        ]
    );

    let web = registry.service_by_name("svc.internal", "web").unwrap();
    let template = web.dns.clone().unwrap();
    assert_eq!(template.routing_policy, RoutingPolicy::Multivalue);
    let kinds: Vec<(RecordKind, u32)> = template.records.iter().map(|r| (r.kind, r.ttl)).collect();
    assert_eq!(
        kinds,
        [
            (RecordKind::A, 10),
            (RecordKind::Aaaa, 10),
            (RecordKind::Srv, 10)
        ]
    );
    let web_instances = registry.list_instances(&web.id).unwrap();
    assert_eq!(web_instances.len(), 3);
    for (n, instance) in (1..=3u16).zip(&web_instances) {
        assert_eq!(instance.id, format!("web-{n}"));
        assert_eq!(
            instance.endpoint.ipv4,
            Some(Ipv4Addr::new(10, 0, 1, n as u8))
        );
        assert_eq!(
            instance.endpoint.ipv6,
            Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 1, n))
        );
        assert_eq!(instance.endpoint.port, Some(8080));
    }

    let db = registry.service_by_name("svc.internal", "db").unwrap();
    let template = db.dns.clone().unwrap();
    assert_eq!(template.routing_policy, RoutingPolicy::Weighted);
    let kinds: Vec<(RecordKind, u32)> = template.records.iter().map(|r| (r.kind, r.ttl)).collect();
    assert_eq!(kinds, [(RecordKind::A, 30), (RecordKind::Srv, 30)]);
    let db_instances = registry.list_instances(&db.id).unwrap();
    let endpoints: Vec<(&str, Option<Ipv4Addr>, Option<u16>, u32)> = db_instances
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                i.endpoint.ipv4,
                i.endpoint.port,
                i.endpoint.weight,
            )
        })
        .collect();
    assert_eq!(
        endpoints,
        [
            ("db-1", Some(Ipv4Addr::new(10, 0, 2, 1)), Some(5432), 3),
            ("db-2", Some(Ipv4Addr::new(10, 0, 2, 2)), Some(5432), 1),
        ]
    );
}

#[test]
fn nothing_is_applied_when_any_file_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let broken = VALID
        .replace("svc.internal", "other.internal")
        .replace("ipv4 = \"10.0.1.1\"", "port = 80");
    fs::write(dir.path().join("b.toml"), broken).unwrap();

    let registry = Registry::default();
    let message = load(dir.path(), &registry).unwrap_err().to_string();
    assert_mentions(
        &message,
        &["b.toml", "services[0] \"web\"", "instances[0] \"web-1\""],
    );
    assert!(registry.list_namespaces().is_empty());
}

#[test]
fn a_namespace_declared_in_two_files_names_both() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    // The same name, spelt differently, is the same zone.
    fs::write(
        dir.path().join("b.toml"),
        VALID.replace("svc.internal", "SVC.Internal."),
    )
    .unwrap();

    let registry = Registry::default();
    let message = load(dir.path(), &registry).unwrap_err().to_string();
    assert_mentions(&message, &["a.toml", "b.toml", "declared twice"]);
    // Files are read in name order, so the later one is the one refused.
    assert!(message.starts_with(&dir.path().join("b.toml").display().to_string()));
    assert!(registry.list_namespaces().is_empty());
}

#[test]
fn loading_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let registry = Registry::default();
    let first = load(dir.path(), &registry).unwrap();
    let namespaces = registry.list_namespaces();
    let services = registry.list_services(None);
    let operations = registry.list_operations().len();
    let second = load(dir.path(), &registry).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        registry.list_namespaces(),
        namespaces,
        "same ids, same revisions"
    );
    assert_eq!(registry.list_services(None), services);
    assert_eq!(
        registry.list_operations().len(),
        operations,
        "nothing was re-applied"
    );
}

#[test]
fn a_changed_declaration_updates_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let registry = Registry::default();
    load(dir.path(), &registry).unwrap();
    let before = registry.list_services(None);
    let changed = VALID.replace("ttl = 10", "ttl = 99");
    assert_ne!(changed, VALID, "the fixture sets a TTL of 10");
    fs::write(dir.path().join("a.toml"), changed).unwrap();
    load(dir.path(), &registry).unwrap();
    let after = registry.list_services(None);
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0].id, before[0].id, "updated, not created again");
    let ttls: Vec<u32> = after[0]
        .dns
        .iter()
        .flat_map(|dns| dns.records.iter().map(|r| r.ttl))
        .collect();
    assert!(ttls.contains(&99), "{ttls:?}");
}

#[test]
fn the_directory_is_read_in_file_name_order_and_only_toml() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("b.toml"),
        VALID.replace("svc.internal", "b.internal"),
    )
    .unwrap();
    fs::write(
        dir.path().join("a.toml"),
        VALID.replace("svc.internal", "a.internal"),
    )
    .unwrap();
    fs::write(dir.path().join("README.md"), "not a zone").unwrap();
    fs::write(dir.path().join(".c.toml"), "not = a zone").unwrap();
    fs::write(dir.path().join("d.toml~"), "not = a zone").unwrap();

    let registry = Registry::default();
    let loaded = load(dir.path(), &registry).unwrap();
    assert_eq!(loaded.files, 2);
    let names: Vec<String> = registry
        .list_namespaces()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"a.internal".to_string()) && names.contains(&"b.internal".to_string()));
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-zones");
    let message = load(&missing, &Registry::default())
        .unwrap_err()
        .to_string();
    assert_mentions(&message, &["no-zones"]);
}

#[test]
fn an_empty_directory_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(dir.path(), &Registry::default()).unwrap();
    assert_eq!(loaded, Applied::default());
}

#[test]
fn static_instances_leave_no_operation_records() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let registry = Registry::default();
    let loaded = load(dir.path(), &registry).unwrap();
    assert!(loaded.instances > 0, "the fixture declares instances");
    let registrations = registry
        .list_operations()
        .into_iter()
        .filter(|op| op.kind == crate::registry::OperationType::RegisterInstance)
        .count();
    assert_eq!(
        registrations, 0,
        "a bulk load must not fill the operation log"
    );
}

#[test]
fn a_large_file_loads_batch_by_batch() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("big.toml"), many_services(600)).unwrap();
    let registry = Registry::default();
    let loaded = load(dir.path(), &registry).unwrap();
    assert_eq!(
        loaded,
        Applied {
            files: 1,
            namespaces: 1,
            services: 600,
            instances: 1800,
            replaced: 0,
        }
    );
    let last = registry.service_by_name("big.internal", "s599").unwrap();
    assert_eq!(registry.list_instances(&last.id).unwrap().len(), 3);
    assert_eq!(load(dir.path(), &registry).unwrap(), loaded, "and again");
}

/// The services are read ahead in groups of batches (many groups per file
/// here); every file's namespace is applied before its services (the load
/// fails otherwise), a file with no services still gets its namespace, and
/// every service arrives whole.
#[test]
fn files_read_ahead_in_groups_are_applied_whole() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), many_services(300)).unwrap();
    fs::write(
        dir.path().join("b.toml"),
        "[namespace]\nname = \"empty.internal\"\ntype = \"DNS_PRIVATE\"\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("c.toml"),
        many_services(200).replace("big.internal", "other.internal"),
    )
    .unwrap();
    let registry = Registry::default();
    let loaded = load(dir.path(), &registry).unwrap();
    assert_eq!(
        loaded,
        Applied {
            files: 3,
            namespaces: 3,
            services: 500,
            instances: 1500,
            replaced: 0,
        }
    );
    assert!(registry.namespace_by_name("empty.internal").is_some());
    for (namespace, services) in [("big.internal", 300), ("other.internal", 200)] {
        for n in 0..services {
            let service = registry
                .service_by_name(namespace, &format!("s{n}"))
                .unwrap();
            let instances = registry.list_instances(&service.id).unwrap();
            assert_eq!(instances.len(), 3, "{namespace} s{n}");
        }
    }
}

#[test]
fn nothing_is_applied_when_a_later_batch_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let text = many_services(600).replace("name = \"s599\"", "name = \"s599!\"");
    fs::write(dir.path().join("big.toml"), text).unwrap();
    let registry = Registry::default();
    let message = load(dir.path(), &registry).unwrap_err().to_string();
    assert_mentions(&message, &["big.toml", "services[599] \"s599!\""]);
    assert!(registry.list_namespaces().is_empty());
}

#[test]
fn allowed_networks_follow_the_registry_rule_and_stay_put() {
    let dir = tempfile::tempdir().unwrap();
    let host_bits = VALID.replace("\"127.0.0.0/8\"", "\"10.1.2.3/8\", \"10.0.0.0/8\"");
    fs::write(dir.path().join("a.toml"), host_bits).unwrap();
    let without = VALID
        .replace("svc.internal", "b.internal")
        .replace("allowed_networks = [\"127.0.0.0/8\"]", "");
    fs::write(dir.path().join("b.toml"), without).unwrap();
    let registry = Registry::default();
    load(dir.path(), &registry).unwrap();
    let networks = |name: &str| -> Vec<String> {
        let namespace = registry.namespace_by_name(name).unwrap();
        namespace
            .allowed_networks
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(networks("svc.internal"), ["10.0.0.0/8"]);
    assert_eq!(networks("b.internal"), ["127.0.0.0/8", "::1/128"]);

    let namespaces = registry.list_namespaces();
    load(dir.path(), &registry).unwrap();
    assert_eq!(
        registry.list_namespaces(),
        namespaces,
        "written differently from what is stored is not a change"
    );
}

/// `VALID` with the service's records changed from A to A + SRV, and the
/// port an SRV record needs.
fn with_srv() -> String {
    VALID
        .replace(
            "records = [{ type = \"A\", ttl = 10 }]",
            "records = [{ type = \"A\", ttl = 10 }, { type = \"SRV\", ttl = 10 }]",
        )
        .replace("ipv4 = \"10.0.1.1\"", "ipv4 = \"10.0.1.1\"\nport = 80")
}

fn kinds(registry: &Registry) -> Vec<RecordKind> {
    let web = registry.service_by_name("svc.internal", "web").unwrap();
    web.dns.unwrap().records.iter().map(|r| r.kind).collect()
}

#[test]
fn changed_record_types_replace_a_service_whose_instances_the_file_declares() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let registry = Registry::default();
    load(dir.path(), &registry).unwrap();

    fs::write(dir.path().join("a.toml"), with_srv()).unwrap();
    let applied = load(dir.path(), &registry).unwrap();
    assert_eq!(applied.replaced, 1);
    assert_eq!(kinds(&registry), [RecordKind::A, RecordKind::Srv]);
    let web = registry.service_by_name("svc.internal", "web").unwrap();
    let instances = registry.list_instances(&web.id).unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].endpoint.port, Some(80));

    let again = load(dir.path(), &registry).unwrap();
    assert_eq!(again.replaced, 0, "replaced once, then in line");
}

#[test]
fn a_replacement_cut_short_is_finished_by_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let two = format!("{VALID}\n[[services.instances]]\nid = \"web-2\"\nipv4 = \"10.0.1.2\"\n");
    fs::write(dir.path().join("a.toml"), &two).unwrap();
    let registry = TestRegistry::default();
    apply_through(dir.path(), registry.writer()).unwrap();
    // As a crash after the first deregistration leaves it: the old template,
    // some of the declared instances.
    let web = registry.service_by_name("svc.internal", "web").unwrap();
    registry.deregister_instance(&web.id, "web-1").unwrap();

    let changed = two
        .replace(
            "records = [{ type = \"A\", ttl = 10 }]",
            "records = [{ type = \"A\", ttl = 10 }, { type = \"SRV\", ttl = 10 }]",
        )
        .replace("\"10.0.1.1\"", "\"10.0.1.1\"\nport = 80")
        .replace("\"10.0.1.2\"", "\"10.0.1.2\"\nport = 80");
    fs::write(dir.path().join("a.toml"), changed).unwrap();
    apply_through(dir.path(), registry.writer()).unwrap();
    assert_eq!(kinds(&registry), [RecordKind::A, RecordKind::Srv]);
    let web = registry.service_by_name("svc.internal", "web").unwrap();
    let ids: Vec<String> = registry
        .list_instances(&web.id)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["web-1", "web-2"]);
}

#[test]
fn a_service_with_run_time_instances_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let registry = TestRegistry::default();
    apply_through(dir.path(), registry.writer()).unwrap();
    let web = registry.service_by_name("svc.internal", "web").unwrap();
    registry
        .register_instance(crate::registry::InstanceRegistration {
            service_id: web.id.clone(),
            instance_id: "web-9".to_string(),
            attributes: [("AWS_INSTANCE_IPV4".to_string(), "10.0.1.9".to_string())].into(),
            creator_request_id: None,
        })
        .unwrap();

    fs::write(dir.path().join("a.toml"), with_srv()).unwrap();
    let message = apply_through(dir.path(), registry.writer())
        .unwrap_err()
        .to_string();
    assert_mentions(
        &message,
        &[
            "a.toml",
            "services[0] \"web\"",
            "record types A → A+SRV",
            "\"web-9\"",
            "cairn instance deregister --service web.svc.internal --id web-9",
            "previous",
        ],
    );
    assert!(!message.contains("API first"), "{message}");
    assert_eq!(kinds(&registry), [RecordKind::A], "nothing changed");
    assert_eq!(registry.list_instances(&web.id).unwrap().len(), 2);
}

#[test]
fn a_changed_namespace_type_gives_a_fix_that_works_with_the_server_stopped() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), VALID).unwrap();
    let registry = Registry::default();
    load(dir.path(), &registry).unwrap();
    let public = VALID
        .replace("DNS_PRIVATE", "DNS_PUBLIC")
        .replace("allowed_networks = [\"127.0.0.0/8\"]", "");
    fs::write(dir.path().join("a.toml"), public).unwrap();
    let message = load(dir.path(), &registry).unwrap_err().to_string();
    assert_mentions(
        &message,
        &[
            "a.toml",
            "declare it DNS_PRIVATE again",
            "start cairn with the previous file",
            "cairn namespace delete svc.internal",
        ],
    );
    assert!(!message.contains("API first"), "{message}");
}
