//! The state rules: uniqueness, idempotent retries, deletes that must wait
//! for their contents, instances' lifecycle and health, revisions and
//! operations.

use super::*;
use crate::registry::validate::ATTR_INIT_HEALTH;

use RecordKind::{A, Srv};
use RoutingPolicy::Multivalue;

// ----- namespaces and services -------------------------------------------------

#[test]
fn namespace_names_are_unique_regardless_of_case() {
    let registry = TestRegistry::default();
    let first = namespace(&registry, "Example.com", NamespaceType::DnsPublic);
    let again = registry.create_namespace(new_namespace("example.COM", NamespaceType::DnsPrivate));
    match again {
        Err(RegistryError::NamespaceAlreadyExists { namespace_id, .. }) => {
            assert_eq!(namespace_id, first.id);
        }
        other => panic!("expected NamespaceAlreadyExists, got {other:?}"),
    }
    assert_eq!(registry.list_namespaces().len(), 1);
}

#[test]
fn a_namespace_created_again_with_its_creator_request_id_is_returned() {
    let registry = TestRegistry::default();
    let request = NewNamespace {
        creator_request_id: Some("token-1".to_string()),
        ..new_namespace("example.com", NamespaceType::DnsPublic)
    };
    let (first, first_operation) = registry.create_namespace(request.clone()).expect("created");
    let (again, again_operation) = registry.create_namespace(request.clone()).expect("retried");
    assert_eq!(again.id, first.id);
    assert_eq!(again_operation, first_operation);

    let other_token = NewNamespace {
        creator_request_id: Some("token-2".to_string()),
        ..request
    };
    assert_code(
        registry.create_namespace(other_token),
        "NamespaceAlreadyExists",
        "another token",
    );
}

#[test]
fn service_names_are_unique_in_a_namespace_regardless_of_case() {
    let registry = TestRegistry::default();
    let request = NewService {
        creator_request_id: Some("token-1".to_string()),
        ..internal_service(&registry, "Web")
    };
    let first = registry.create_service(request.clone()).expect("created");
    let retried = registry.create_service(request).expect("retried");
    assert_eq!(retried.id, first.id);
    match registry.create_service(internal_service(&registry, "web")) {
        Err(RegistryError::ServiceAlreadyExists { service_id, .. }) => {
            assert_eq!(service_id, first.id);
        }
        other => panic!("expected ServiceAlreadyExists, got {other:?}"),
    }
    let elsewhere = namespace(&registry, "example.org", NamespaceType::DnsPrivate);
    let created = registry.create_service(NewService {
        namespace_id: elsewhere.id,
        ..internal_service(&registry, "web")
    });
    assert!(
        created.is_ok(),
        "same name in another namespace: {created:?}"
    );
}

#[test]
fn a_namespace_with_services_cannot_be_deleted() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    assert_code(
        registry.delete_namespace(&service.namespace_id),
        "ResourceInUse",
        "namespace with a service",
    );
    registry.delete_service(&service.id).expect("empty service");
    registry
        .delete_namespace(&service.namespace_id)
        .expect("empty namespace");
    assert_code(
        registry.get_namespace(&service.namespace_id),
        "NamespaceNotFound",
        "deleted namespace",
    );
    assert!(registry.namespace_by_name(INTERNAL).is_none());
}

#[test]
fn a_service_with_instances_cannot_be_deleted() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    register(&registry, &service, "api-1", &[]).expect("registered");
    assert_code(
        registry.delete_service(&service.id),
        "ResourceInUse",
        "service with an instance",
    );
    registry
        .deregister_instance(&service.id, "api-1")
        .expect("deregistered");
    registry.delete_service(&service.id).expect("empty service");
    assert_code(
        registry.get_service(&service.id),
        "ServiceNotFound",
        "deleted service",
    );
}

#[test]
fn update_service_changes_ttls_but_not_record_types() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[Srv, A], Multivalue);
    let ttls = vec![
        DnsRecord { kind: A, ttl: 10 },
        DnsRecord { kind: Srv, ttl: 20 },
    ];
    registry
        .update_service(
            &service.id,
            ServiceUpdate {
                dns_records: Some(ttls.clone()),
                ..ServiceUpdate::default()
            },
        )
        .expect("same types, new TTLs");
    let updated = registry.get_service(&service.id).expect("exists");
    assert_eq!(updated.dns.map(|dns| dns.records), Some(ttls.clone()));
    assert!(updated.revision > service.revision);

    for records in [
        vec![DnsRecord { kind: A, ttl: 10 }],
        vec![
            DnsRecord {
                kind: RecordKind::Aaaa,
                ttl: 10,
            },
            DnsRecord { kind: Srv, ttl: 10 },
        ],
    ] {
        let changed = registry.update_service(
            &service.id,
            ServiceUpdate {
                dns_records: Some(records.clone()),
                ..ServiceUpdate::default()
            },
        );
        assert_code(changed, "InvalidInput", &format!("{records:?}"));
    }
    let unchanged = registry.get_service(&service.id).expect("exists");
    assert_eq!(unchanged.dns.map(|dns| dns.records), Some(ttls));
}

#[test]
fn update_service_refuses_a_health_check_that_instances_cannot_answer() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    register(&registry, &service, "web-1", &[V4]).expect("registered");
    let update = ServiceUpdate {
        health_check: Some(tcp_check()),
        ..ServiceUpdate::default()
    };
    assert_code(
        registry.update_service(&service.id, update.clone()),
        "InvalidInput",
        "instance without a port",
    );
    register(&registry, &service, "web-1", &[V4, PORT]).expect("re-registered");
    registry
        .update_service(&service.id, update)
        .expect("every instance has a port");
}

// ----- instances ------------------------------------------------------------------

#[test]
fn instances_are_registered_listed_and_deregistered() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    register(&registry, &service, "web-2", &[V4, ("zone", "b")]).expect("registered");
    register(&registry, &service, "web-1", &[V4, ("zone", "a")]).expect("registered");

    let web_1 = registry
        .get_instance(&service.id, "web-1")
        .expect("registered");
    assert_eq!(web_1.attributes, attributes(&[V4, ("zone", "a")]));
    let listed: Vec<String> = registry
        .list_instances(&service.id)
        .expect("service exists")
        .into_iter()
        .map(|instance| instance.id)
        .collect();
    assert_eq!(listed, ["web-1", "web-2"]);
    assert_eq!(
        registry.get_service(&service.id).map(|s| s.instance_count),
        Ok(2)
    );

    registry
        .deregister_instance(&service.id, "web-1")
        .expect("deregistered");
    assert_code(
        registry.get_instance(&service.id, "web-1"),
        "InstanceNotFound",
        "web-1",
    );
    assert_code(
        registry.deregister_instance(&service.id, "web-1"),
        "InstanceNotFound",
        "web-1 twice",
    );
    assert_eq!(
        registry.get_service(&service.id).map(|s| s.instance_count),
        Ok(1)
    );
}

#[test]
fn registering_again_replaces_attributes_and_keeps_created_at_and_health() {
    let registry = TestRegistry::default();
    let service = registry
        .create_service(NewService {
            custom_health_check: Some(CustomHealthCheck {
                failure_threshold: 1,
            }),
            ..internal_service(&registry, "api")
        })
        .expect("service is valid");
    // Restored as the store would, so the creation time is in the past.
    let restored = Instance {
        id: "api-1".to_string(),
        attributes: attributes(&[("color", "blue"), ("zone", "a")]).into(),
        endpoint: Endpoint {
            weight: 1,
            ..Endpoint::default()
        },
        health: HealthStatus::Unhealthy,
        creator_request_id: None,
        created_at: 1,
        updated_at: 1,
    };
    let service = registry.get_service(&service.id).expect("exists");
    registry
        .insert_service(service.clone(), vec![restored], std::time::Instant::now())
        .expect("namespace exists");

    register(&registry, &service, "api-1", &[("color", "green")]).expect("re-registered");
    let instance = registry
        .get_instance(&service.id, "api-1")
        .expect("registered");
    assert_eq!(instance.attributes, attributes(&[("color", "green")]));
    assert_eq!(instance.created_at, 1);
    assert!(instance.updated_at > 1);
    assert_eq!(instance.health, HealthStatus::Unhealthy);
}

#[test]
fn a_retried_registration_returns_its_first_operation_and_changes_nothing() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    let request = InstanceRegistration {
        creator_request_id: Some("token-1".to_string()),
        ..registration(&service, "web-1", &[V4])
    };
    let first = registry
        .register_instance(request.clone())
        .expect("registered");
    let revision = registry.get_service(&service.id).expect("exists").revision;
    let operations = registry.list_operations().len();

    let retried = registry.register_instance(request).expect("retried");
    assert_eq!(retried, first);
    assert_eq!(
        registry.get_service(&service.id).map(|s| s.revision),
        Ok(revision)
    );
    assert_eq!(registry.list_operations().len(), operations);
}

#[test]
fn a_request_token_reused_for_another_instance_is_a_duplicate_request() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    let token = Some("token-1".to_string());
    let first = registry
        .register_instance(InstanceRegistration {
            creator_request_id: token.clone(),
            ..registration(&service, "web-1", &[V4])
        })
        .expect("registered");
    let reused = registry.register_instance(InstanceRegistration {
        creator_request_id: token,
        ..registration(&service, "web-2", &[V4])
    });
    match reused {
        Err(RegistryError::DuplicateRequest { operation_id, .. }) => {
            assert_eq!(operation_id, Some(first));
        }
        other => panic!("expected DuplicateRequest, got {other:?}"),
    }
    assert_code(
        registry.get_instance(&service.id, "web-2"),
        "InstanceNotFound",
        "web-2",
    );
}

#[test]
fn every_token_of_a_deregistered_instance_registers_it_again() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    let with_token = |token: &str, id: &str| InstanceRegistration {
        creator_request_id: Some(token.to_string()),
        ..registration(&service, id, &[V4])
    };
    let first = registry
        .register_instance(with_token("token-1", "web-1"))
        .expect("registered");
    let second = registry
        .register_instance(with_token("token-2", "web-1"))
        .expect("registered again");
    let other = registry
        .register_instance(with_token("token-3", "web-2"))
        .expect("registered");
    registry
        .deregister_instance(&service.id, "web-1")
        .expect("deregistered");
    for (token, before) in [("token-1", &first), ("token-2", &second)] {
        let again = registry
            .register_instance(with_token(token, "web-1"))
            .expect("registered after the deregistration");
        assert_ne!(&again, before, "{token} answered its old operation");
        registry
            .deregister_instance(&service.id, "web-1")
            .expect("deregistered");
    }
    let retried = registry
        .register_instance(with_token("token-3", "web-2"))
        .expect("retried");
    assert_eq!(retried, other, "another instance's token was forgotten");
}

#[test]
fn revisions_grow_with_every_change() {
    let registry = TestRegistry::default();
    let revisions = |service: &Service| {
        let service = registry.get_service(&service.id).expect("exists");
        let namespace = registry
            .get_namespace(&service.namespace_id)
            .expect("exists");
        (service.revision, namespace.revision)
    };
    let namespace_before = registry
        .get_namespace(&internal_service(&registry, "web").namespace_id)
        .expect("exists")
        .revision;
    let service = registry
        .create_service(NewService {
            custom_health_check: Some(CustomHealthCheck {
                failure_threshold: 1,
            }),
            ..internal_service(&registry, "web")
        })
        .expect("service is valid");
    let mut last = revisions(&service);
    assert!(
        last.1 > namespace_before,
        "creating a service changes its namespace"
    );

    let changes: [(&str, &dyn Fn()); 5] = [
        ("register", &|| {
            register(&registry, &service, "web-1", &[]).expect("registered");
        }),
        ("register again", &|| {
            register(&registry, &service, "web-1", &[("zone", "a")]).expect("re-registered");
        }),
        ("health", &|| {
            let changed = registry.set_health(&service.id, "web-1", HealthStatus::Unhealthy, true);
            assert_eq!(changed, Ok(true));
        }),
        ("update", &|| {
            let update = ServiceUpdate {
                description: Some("the web tier".to_string()),
                ..ServiceUpdate::default()
            };
            registry
                .update_service(&service.id, update)
                .expect("updated");
        }),
        ("deregister", &|| {
            registry
                .deregister_instance(&service.id, "web-1")
                .expect("deregistered");
        }),
    ];
    for (change, apply) in changes {
        apply();
        let now = revisions(&service);
        assert!(
            now.0 > last.0 && now.1 > last.1,
            "{change}: {last:?} -> {now:?}"
        );
        last = now;
    }
}

#[test]
fn unknown_ids_are_not_found() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    let missing_service = Service {
        id: "srv-missing".to_string(),
        ..service.clone()
    };
    assert_code(
        registry.get_namespace("ns-missing"),
        "NamespaceNotFound",
        "get namespace",
    );
    assert_code(
        registry.delete_namespace("ns-missing"),
        "NamespaceNotFound",
        "delete namespace",
    );
    let orphan = NewService {
        namespace_id: "ns-missing".to_string(),
        ..internal_service(&registry, "orphan")
    };
    assert_code(
        registry.create_service(orphan),
        "NamespaceNotFound",
        "create service",
    );
    assert_code(
        registry.get_service("srv-missing"),
        "ServiceNotFound",
        "get service",
    );
    assert_code(
        registry.delete_service("srv-missing"),
        "ServiceNotFound",
        "delete service",
    );
    assert_code(
        registry.update_service("srv-missing", ServiceUpdate::default()),
        "ServiceNotFound",
        "update service",
    );
    assert_code(
        register(&registry, &missing_service, "api-1", &[]),
        "ServiceNotFound",
        "register",
    );
    assert_code(
        registry.list_instances("srv-missing"),
        "ServiceNotFound",
        "list instances",
    );
    assert_code(
        registry.get_instance(&service.id, "api-1"),
        "InstanceNotFound",
        "get instance",
    );
    assert_code(
        registry.deregister_instance(&service.id, "api-1"),
        "InstanceNotFound",
        "deregister",
    );
    assert_code(
        registry.set_health(&service.id, "api-1", HealthStatus::Healthy, false),
        "InstanceNotFound",
        "set health",
    );
    assert_code(
        registry.get_operation("missing"),
        "OperationNotFound",
        "get operation",
    );
    assert_code(
        registry.tags("srv-missing"),
        "ResourceNotFoundException",
        "tags",
    );
}

#[test]
fn get_operation_reports_a_successful_registration() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    let id = register(&registry, &service, "api-1", &[]).expect("registered");
    let operation = registry.get_operation(&id).expect("recorded");
    assert_eq!(operation.kind, OperationType::RegisterInstance);
    assert_eq!(operation.status, OperationStatus::Success);
    assert_eq!(operation.status.as_str(), "SUCCESS");
    assert_eq!(operation.service_id, Some(service.id));
    assert_eq!(operation.namespace_id, Some(service.namespace_id));
    assert_eq!(operation.instance_id.as_deref(), Some("api-1"));
}

// ----- health ----------------------------------------------------------------------

#[test]
fn instances_start_with_the_health_their_service_gives_them() {
    /// A service's HealthCheckConfig and HealthCheckCustomConfig.
    type Checks = (Option<HealthCheckConfig>, Option<CustomHealthCheck>);
    let custom: Checks = (
        None,
        Some(CustomHealthCheck {
            failure_threshold: 1,
        }),
    );
    let active: Checks = (Some(tcp_check()), None);
    let unchecked: Checks = (None, None);
    let unhealthy = [(ATTR_INIT_HEALTH, "UNHEALTHY")];
    let cases: [(&str, Checks, Pairs, HealthStatus); 5] = [
        ("custom check", custom.clone(), &[], HealthStatus::Healthy),
        (
            "custom check, UNHEALTHY",
            custom,
            &unhealthy,
            HealthStatus::Unhealthy,
        ),
        ("active check", active, &[PORT], HealthStatus::Unknown),
        ("no check", unchecked.clone(), &[], HealthStatus::Unknown),
        (
            "no check, UNHEALTHY",
            unchecked,
            &unhealthy,
            HealthStatus::Unknown,
        ),
    ];
    for (case, (health_check, custom_health_check), pairs, expected) in cases {
        let registry = TestRegistry::default();
        let service = registry
            .create_service(NewService {
                health_check,
                custom_health_check,
                ..internal_service(&registry, "api")
            })
            .expect("service is valid");
        register(&registry, &service, "api-1", pairs).expect("registered");
        let health = registry
            .get_instance(&service.id, "api-1")
            .map(|i| i.health);
        assert_eq!(health, Ok(expected), "{case}");
    }
}

#[test]
fn custom_health_needs_a_custom_health_check() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    register(&registry, &service, "api-1", &[]).expect("registered");
    assert_code(
        registry.set_health(&service.id, "api-1", HealthStatus::Unhealthy, true),
        "CustomHealthNotFound",
        "custom status without a custom check",
    );
    assert_eq!(
        registry
            .get_instance(&service.id, "api-1")
            .map(|i| i.health),
        Ok(HealthStatus::Unknown)
    );
}

#[test]
fn setting_the_same_health_again_changes_nothing() {
    let registry = TestRegistry::default();
    let service = registry
        .create_service(NewService {
            custom_health_check: Some(CustomHealthCheck {
                failure_threshold: 1,
            }),
            ..internal_service(&registry, "api")
        })
        .expect("service is valid");
    register(&registry, &service, "api-1", &[]).expect("registered");
    let revision = registry.get_service(&service.id).map(|s| s.revision);
    assert_eq!(
        registry.set_health(&service.id, "api-1", HealthStatus::Healthy, true),
        Ok(false)
    );
    assert_eq!(
        registry.get_service(&service.id).map(|s| s.revision),
        revision
    );
    assert_code(
        registry.set_health(&service.id, "api-1", HealthStatus::Unknown, true),
        "InvalidInput",
        "UNKNOWN is not a status to set",
    );
}
