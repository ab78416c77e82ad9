//! The write front's own promises: a plan computes and changes nothing, so
//! what a failed commit leaves is exactly what was there, and whatever a
//! call answered survives a restart.

use std::time::{Duration, Instant};

use super::*;

/// A namespace stored by an earlier server, created with `token-1`.
fn stored_namespace() -> Namespace {
    Namespace {
        region: None,
        id: "ns-stored0000000000".into(),
        name: "example.com".into(),
        kind: NamespaceType::DnsPublic,
        description: None,
        soa: SoaSettings::default(),
        allowed_networks: Vec::new(),
        transfer: None,
        creator_request_id: Some("token-1".into()),
        created_at: 1,
        tags: Tags::new(),
        revision: 1,
        service_count: 0,
    }
}

#[test]
fn a_retried_namespace_creation_whose_operation_left_the_log_is_stored() {
    // A namespace stored by an earlier server whose CREATE_NAMESPACE
    // operation has since left the bounded log.
    let stored = stored_namespace();
    let registry = TestRegistry::stored(vec![Change::Namespace(stored.clone())]);
    assert!(registry.list_operations().is_empty());

    let retry = NewNamespace {
        creator_request_id: Some("token-1".into()),
        ..new_namespace("example.com", NamespaceType::DnsPublic)
    };
    let (namespace, operation) = registry.create_namespace(retry.clone()).expect("retried");
    assert_eq!(namespace.id, stored.id);
    assert!(registry.get_operation(&operation).is_ok());
    let (again, again_operation) = registry.create_namespace(retry).expect("retried");
    assert_eq!(
        (again.id, &again_operation),
        (stored.id.clone(), &operation)
    );

    let (restarted, _) = registry.restarted(Vec::new());
    let after = restarted
        .get_operation(&operation)
        .expect("the answered operation survives a restart");
    assert_eq!(after.namespace_id.as_deref(), Some(stored.id.as_str()));
    assert_eq!(restarted.list_namespaces().len(), 1);
}

#[test]
fn a_failed_retry_of_a_namespace_creation_records_no_operation() {
    let stored = stored_namespace();
    let registry = TestRegistry::stored(vec![Change::Namespace(stored)]);
    registry.refuse_commits(true);
    let retry = NewNamespace {
        creator_request_id: Some("token-1".into()),
        ..new_namespace("example.com", NamespaceType::DnsPublic)
    };
    assert_code(
        registry.create_namespace(retry),
        "InternalFailure",
        "store refuses",
    );
    assert!(registry.list_operations().is_empty());
}

fn heartbeat_service(registry: &TestRegistry, ttl: Duration) -> Service {
    registry
        .create_service(NewService {
            dns: Some(template(RoutingPolicy::Multivalue, &[RecordKind::A])),
            heartbeat: Some(Heartbeat {
                ttl_ms: ttl.as_millis() as u64,
                deregister_after_ms: None,
            }),
            ..internal_service(registry, "beats")
        })
        .expect("service is valid")
}

#[test]
fn a_heartbeat_that_cannot_be_stored_leaves_the_heartbeat_clock_alone() {
    const TTL: Duration = Duration::from_secs(10);
    let registry = TestRegistry::default();
    let service = heartbeat_service(&registry, TTL);
    register(&registry, &service, "b-1", &[V4]).expect("registered");
    let registered = Instant::now();
    // The heartbeat comes strictly later than the registration.
    while Instant::now() == registered {
        std::hint::spin_loop();
    }
    let before_heartbeat = Instant::now();

    registry.refuse_commits(true);
    assert_code(
        registry.heartbeat(&service.id, "b-1"),
        "InternalFailure",
        "store refuses",
    );
    registry.refuse_commits(false);

    // Measured from the registration, the instance is overdue one TTL after
    // the refused heartbeat began; had the refused heartbeat counted, it
    // would not be yet.
    let lapse = registry
        .heartbeat_lapse(&service.id, "b-1", before_heartbeat + TTL)
        .expect("the instance exists");
    assert_eq!(lapse, Some(Lapse::Unhealthy));
    let health = registry
        .get_instance(&service.id, "b-1")
        .expect("exists")
        .health;
    assert_eq!(
        health,
        HealthStatus::Unknown,
        "the refused heartbeat changed nothing"
    );

    // A heartbeat that is stored restarts the clock and makes it HEALTHY.
    let stored_heartbeat = Instant::now();
    assert_eq!(registry.heartbeat(&service.id, "b-1"), Ok(true));
    let lapse = registry
        .heartbeat_lapse(
            &service.id,
            "b-1",
            stored_heartbeat + TTL - Duration::from_millis(1),
        )
        .expect("the instance exists");
    assert_eq!(lapse, None);
}

#[test]
fn a_heartbeat_from_a_healthy_instance_commits_nothing_but_restarts_its_clock() {
    const TTL: Duration = Duration::from_secs(10);
    let registry = TestRegistry::default();
    let service = heartbeat_service(&registry, TTL);
    register(&registry, &service, "b-1", &[V4]).expect("registered");
    assert_eq!(registry.heartbeat(&service.id, "b-1"), Ok(true));
    let revision = registry.get_service(&service.id).expect("exists").revision;

    // Nothing to store: even a store that refuses everything is not asked.
    registry.refuse_commits(true);
    let later = Instant::now();
    assert_eq!(registry.heartbeat(&service.id, "b-1"), Ok(false));
    let lapse = registry
        .heartbeat_lapse(&service.id, "b-1", later + TTL - Duration::from_millis(1))
        .expect("the instance exists");
    assert_eq!(lapse, None);
    assert_eq!(
        registry.get_service(&service.id).map(|s| s.revision),
        Ok(revision)
    );
}

#[test]
fn a_refused_commit_changes_nothing_the_api_or_a_restart_can_see() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[RecordKind::A], RoutingPolicy::Multivalue);
    register(&registry, &service, "web-1", &[V4]).expect("registered");
    let before = (
        registry.list_instances(&service.id),
        registry.get_service(&service.id),
        registry.list_operations().len(),
    );

    registry.refuse_commits(true);
    assert_code(
        register(&registry, &service, "web-2", &[V4]),
        "InternalFailure",
        "register",
    );
    assert_code(
        registry.deregister_instance(&service.id, "web-1"),
        "InternalFailure",
        "deregister",
    );
    assert_code(
        registry.set_health(&service.id, "web-1", HealthStatus::Unhealthy, false),
        "InternalFailure",
        "health",
    );
    let after = (
        registry.list_instances(&service.id),
        registry.get_service(&service.id),
        registry.list_operations().len(),
    );
    assert_eq!(after, before);

    let (restarted, restored) = registry.restarted(Vec::new());
    assert_eq!(restored.instances, 1);
    assert_eq!(
        restarted.list_instances(&service.id).map(|i| i.len()),
        Ok(1)
    );
}

/// The instances the health loop would probe, as "service/instance".
fn probed(registry: &Registry) -> Vec<String> {
    let mut probed = Vec::new();
    registry.visit_health_checked(|service, _, instance| {
        probed.push(format!("{}/{}", service.name, instance.id));
    });
    probed.sort();
    probed
}

#[test]
fn the_health_loop_sees_exactly_the_services_with_a_check_or_a_heartbeat() {
    const TTL: Duration = Duration::from_secs(2);
    let registry = TestRegistry::default();
    let created = |name: &str, check: Option<HealthCheckConfig>| {
        registry
            .create_service(NewService {
                dns: Some(template(RoutingPolicy::Multivalue, &[RecordKind::A])),
                health_check: check,
                ..internal_service(&registry, name)
            })
            .expect("service is valid")
    };
    let plain = created("plain", None);
    let checked = created("checked", Some(tcp_check()));
    let beats = heartbeat_service(&registry, TTL);
    for service in [&plain, &checked, &beats] {
        register(&registry, service, "i-1", &[V4, PORT]).expect("registered");
    }
    assert_eq!(probed(&registry), ["checked/i-1"]);
    assert_eq!(registry.shortest_heartbeat_ttl(), Some(TTL));
    let overdue: Vec<_> = registry
        .overdue_heartbeats(Instant::now() + TTL * 2)
        .into_iter()
        .map(|overdue| overdue.service_id)
        .collect();
    assert_eq!(overdue, [beats.id.as_str()]);

    // A check moved from one service to another by updates.
    let set_check = |service: &Service, check: Option<HealthCheckConfig>| {
        let update = ServiceUpdate {
            health_check: check,
            ..ServiceUpdate::default()
        };
        registry
            .update_service(&service.id, update)
            .expect("updated");
    };
    set_check(&checked, None);
    set_check(&plain, Some(tcp_check()));
    assert_eq!(probed(&registry), ["plain/i-1"]);

    // Another node's update, as a cluster node follows it: the check
    // moves back.
    for (service, check) in [(&plain, None), (&checked, Some(tcp_check()))] {
        let stored = Service {
            health_check: check,
            ..registry.service(&service.id).expect("held")
        };
        registry.apply_stored(Change::Service(stored), 50, Instant::now());
    }
    assert_eq!(probed(&registry), ["checked/i-1"]);

    // A deleted service is gone from the loop's view.
    registry
        .deregister_instance(&beats.id, "i-1")
        .expect("deregistered");
    registry.delete_service(&beats.id).expect("deleted");
    assert_eq!(registry.shortest_heartbeat_ttl(), None);

    // And a restart sees what the store holds, which the other node's
    // updates never reached.
    let (restarted, _) = registry.restarted(Vec::new());
    assert_eq!(probed(&restarted), ["plain/i-1"]);
    assert_eq!(restarted.shortest_heartbeat_ttl(), None);
}
