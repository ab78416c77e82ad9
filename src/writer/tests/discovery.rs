//! DiscoverInstances' filters, what observers hear, and the Cloud Map codes
//! errors carry.

use std::sync::{Arc, Mutex};

use super::*;

/// The `cart` service in the HTTP namespace `shop`, with a custom health
/// check so tests can set each instance's health.
fn cart(registry: &TestRegistry) -> Service {
    let shop = namespace(registry, "shop", NamespaceType::Http);
    registry
        .create_service(NewService {
            namespace_id: shop.id,
            custom_health_check: Some(CustomHealthCheck {
                failure_threshold: 1,
            }),
            ..internal_service(registry, "cart")
        })
        .expect("cart is valid")
}

fn query(health: HealthFilter) -> DiscoverQuery {
    DiscoverQuery {
        namespace_name: "shop".to_string(),
        service_name: "cart".to_string(),
        query_parameters: BTreeMap::new(),
        optional_parameters: BTreeMap::new(),
        health,
        max_results: 100,
    }
}

/// The ids DiscoverInstances answers with, sorted.
fn discovered(registry: &TestRegistry, query: &DiscoverQuery) -> Vec<String> {
    let mut ids: Vec<String> = registry
        .discover(query)
        .expect("service exists")
        .instances
        .into_iter()
        .map(|instance| instance.id)
        .collect();
    ids.sort();
    ids
}

/// `cart` with four instances: `a1` (env=prod, zone=a), `a2` (env=prod,
/// zone=b, unhealthy), `b1` (env=test, zone=a) and `b2` (env=test, zone=b,
/// unhealthy).
fn stocked_cart(registry: &TestRegistry) -> Service {
    let service = cart(registry);
    for (id, env, zone) in [
        ("a1", "prod", "a"),
        ("a2", "prod", "b"),
        ("b1", "test", "a"),
        ("b2", "test", "b"),
    ] {
        register(registry, &service, id, &[("env", env), ("zone", zone)]).expect("registered");
    }
    for id in ["a2", "b2"] {
        registry
            .set_health(&service.id, id, HealthStatus::Unhealthy, true)
            .expect("custom check");
    }
    service
}

#[test]
fn every_query_parameter_must_match() {
    let registry = TestRegistry::default();
    stocked_cart(&registry);
    let cases: [(Pairs, &[&str]); 4] = [
        (&[], &["a1", "a2", "b1", "b2"]),
        (&[("env", "prod")], &["a1", "a2"]),
        (&[("env", "prod"), ("zone", "b")], &["a2"]),
        (&[("env", "prod"), ("zone", "c")], &[]),
    ];
    for (parameters, expected) in cases {
        let query = DiscoverQuery {
            query_parameters: attributes(parameters),
            ..query(HealthFilter::All)
        };
        assert_eq!(discovered(&registry, &query), expected, "{parameters:?}");
    }
}

#[test]
fn optional_parameters_narrow_only_when_something_matches_them() {
    let registry = TestRegistry::default();
    stocked_cart(&registry);
    let cases: [(Pairs, Pairs, &[&str]); 3] = [
        (&[("env", "prod")], &[("zone", "a")], &["a1"]),
        (&[("env", "prod")], &[("zone", "c")], &["a1", "a2"]),
        (&[], &[("env", "test"), ("zone", "b")], &["b2"]),
    ];
    for (required, optional, expected) in cases {
        let query = DiscoverQuery {
            query_parameters: attributes(required),
            optional_parameters: attributes(optional),
            ..query(HealthFilter::All)
        };
        assert_eq!(
            discovered(&registry, &query),
            expected,
            "{required:?} {optional:?}"
        );
    }
}

#[test]
fn the_health_filter_chooses_by_status() {
    let registry = TestRegistry::default();
    let service = stocked_cart(&registry);
    let cases: [(HealthFilter, &[&str]); 4] = [
        (HealthFilter::Healthy, &["a1", "b1"]),
        (HealthFilter::Unhealthy, &["a2", "b2"]),
        (HealthFilter::All, &["a1", "a2", "b1", "b2"]),
        (HealthFilter::HealthyOrElseAll, &["a1", "b1"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            discovered(&registry, &query(filter)),
            expected,
            "{filter:?}"
        );
    }

    for id in ["a1", "b1"] {
        registry
            .set_health(&service.id, id, HealthStatus::Unhealthy, true)
            .expect("custom check");
    }
    assert_eq!(
        discovered(&registry, &query(HealthFilter::Healthy)),
        Vec::<String>::new()
    );
    assert_eq!(
        discovered(&registry, &query(HealthFilter::HealthyOrElseAll)),
        ["a1", "a2", "b1", "b2"]
    );
}

#[test]
fn the_health_filter_is_ignored_without_a_health_check() {
    let registry = TestRegistry::default();
    let shop = namespace(&registry, "shop", NamespaceType::Http);
    let service = registry
        .create_service(NewService {
            namespace_id: shop.id,
            ..internal_service(&registry, "cart")
        })
        .expect("cart is valid");
    register(&registry, &service, "a1", &[]).expect("registered");
    for filter in [
        HealthFilter::Healthy,
        HealthFilter::Unhealthy,
        HealthFilter::All,
        HealthFilter::HealthyOrElseAll,
    ] {
        assert_eq!(discovered(&registry, &query(filter)), ["a1"], "{filter:?}");
    }
}

#[test]
fn max_results_truncates_and_the_revision_grows_on_register() {
    let registry = TestRegistry::default();
    let service = stocked_cart(&registry);
    let first = registry
        .discover(&DiscoverQuery {
            max_results: 2,
            ..query(HealthFilter::All)
        })
        .expect("service exists");
    assert_eq!(first.instances.len(), 2);
    assert_eq!(
        (first.namespace_name.as_str(), first.service_name.as_str()),
        ("shop", "cart")
    );
    assert_eq!(
        registry.revision_by_name("shop", "cart"),
        Ok(first.revision)
    );

    register(&registry, &service, "c1", &[]).expect("registered");
    let after = registry
        .discover(&query(HealthFilter::All))
        .expect("service exists");
    assert!(after.revision > first.revision);
    assert_eq!(after.instances.len(), 5);
}

#[test]
fn discovering_unknown_names_is_not_found() {
    let registry = TestRegistry::default();
    cart(&registry);
    let no_namespace = DiscoverQuery {
        namespace_name: "mall".to_string(),
        ..query(HealthFilter::All)
    };
    assert_code(
        registry.discover(&no_namespace),
        "NamespaceNotFound",
        "mall",
    );
    let no_service = DiscoverQuery {
        service_name: "till".to_string(),
        ..query(HealthFilter::All)
    };
    assert_code(registry.discover(&no_service), "ServiceNotFound", "till");
}

// ----- observers -------------------------------------------------------------------

/// What an observer heard about a service: its revision and instance ids.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Heard {
    service: String,
    revision: u64,
    namespace_revision: u64,
    instances: Vec<String>,
}

/// An observer that writes down every `service_changed` and counts the rest.
#[derive(Default)]
struct Recorder {
    services: Mutex<Vec<Heard>>,
    others: Mutex<usize>,
}

impl Recorder {
    fn services(&self) -> Vec<Heard> {
        self.services.lock().expect("not poisoned").clone()
    }

    fn others(&self) -> usize {
        *self.others.lock().expect("not poisoned")
    }

    fn count_other(&self) {
        *self.others.lock().expect("not poisoned") += 1;
    }
}

impl RegistryObserver for Recorder {
    fn namespace_changed(&self, _namespace: &Namespace) {
        self.count_other();
    }

    fn namespace_removed(&self, _namespace: &Namespace) {
        self.count_other();
    }

    fn service_changed(&self, view: ServiceView<'_>) {
        let heard = Heard {
            service: view.service.name.clone(),
            revision: view.service.revision,
            namespace_revision: view.namespace_revision,
            instances: view
                .instances
                .sorted()
                .iter()
                .map(|i| i.id.clone())
                .collect(),
        };
        self.services.lock().expect("not poisoned").push(heard);
    }

    fn service_removed(&self, _namespace: &Namespace, _service: &Service) {
        self.count_other();
    }
}

fn observed_registry() -> (TestRegistry, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn RegistryObserver> = recorder.clone();
    (TestRegistry::new(vec![observer]), recorder)
}

#[test]
fn observers_hear_each_registration_with_the_new_instances() {
    let (registry, recorder) = observed_registry();
    let service = web_service(&registry, &[RecordKind::A], RoutingPolicy::Multivalue);
    assert_eq!(recorder.services().len(), 1, "creating the service");

    register(&registry, &service, "web-1", &[V4]).expect("registered");
    register(&registry, &service, "web-2", &[V4]).expect("registered");

    let heard = recorder.services();
    let namespace = registry
        .get_namespace(&service.namespace_id)
        .expect("exists");
    let last = heard.last().expect("heard something");
    assert_eq!(heard.len(), 3);
    assert_eq!(heard[1].instances, ["web-1"]);
    assert_eq!(last.instances, ["web-1", "web-2"]);
    assert_eq!(last.service, "web");
    assert_eq!(
        registry.get_service(&service.id).map(|s| s.revision),
        Ok(last.revision)
    );
    assert_eq!(last.namespace_revision, namespace.revision);
    assert!(heard[1].revision < last.revision);
}

#[test]
fn a_bulk_registration_tells_observers_once_per_service_after_its_last_instance() {
    let (registry, recorder) = observed_registry();
    let web = web_service(&registry, &[RecordKind::A], RoutingPolicy::Multivalue);
    let api = api_service(&registry);
    let ids = |prefix: &'static str| (0..50).map(move |n| format!("{prefix}-{n}"));
    // Interleaved, as no caller should have to sort them.
    let registrations: Vec<_> = ids("web")
        .zip(ids("api"))
        .flat_map(|(web_id, api_id)| {
            [
                registration(&web, &web_id, &[V4]),
                registration(&api, &api_id, &[]),
            ]
        })
        .collect();
    let before = recorder.services().len();

    let operations = registry
        .register_instances(registrations)
        .expect("every registration is valid");

    assert_eq!(operations.len(), 100);
    let heard = &recorder.services()[before..];
    assert_eq!(heard.len(), 2, "one call per service: {heard:?}");
    for (service, prefix) in [(&web, "web"), (&api, "api")] {
        let last = heard
            .iter()
            .find(|heard| heard.service == service.name)
            .expect("the service was heard");
        let mut expected: Vec<String> = ids(prefix).collect();
        expected.sort_by(|a, b| cmp_ids(a, b));
        assert_eq!(last.instances, expected);
        let now = registry.get_service(&service.id).expect("exists");
        assert_eq!(last.revision, now.revision);
        assert_eq!(now.revision, service.revision + 50, "one revision a change");
    }
    // A bulk load leaves no operation records, which would push the API's
    // out of the bounded log; each registration still gets its own id.
    for id in &operations {
        assert_code(registry.get_operation(id), "OperationNotFound", id);
    }
    let distinct: std::collections::BTreeSet<&String> = operations.iter().collect();
    assert_eq!(distinct.len(), operations.len());
}

#[test]
fn a_refused_registration_tells_no_observer_and_changes_nothing() {
    let (registry, recorder) = observed_registry();
    let service = web_service(&registry, &[RecordKind::A], RoutingPolicy::Multivalue);
    register(&registry, &service, "web-1", &[V4]).expect("registered");
    let instances = registry.list_instances(&service.id);
    let revisions = (
        registry.get_service(&service.id).map(|s| s.revision),
        registry
            .get_namespace(&service.namespace_id)
            .map(|n| n.revision),
    );
    let heard = (recorder.services(), recorder.others());
    let operations = registry.list_operations().len();

    let refused = [
        ("no IPv4", register(&registry, &service, "web-2", &[])),
        (
            "bad IPv4",
            register(&registry, &service, "web-1", &[(V4.0, "nowhere")]),
        ),
        ("case clash", register(&registry, &service, "WEB-1", &[V4])),
    ];
    for (case, result) in refused {
        assert_code(result, "InvalidInput", case);
    }

    assert_eq!(registry.list_instances(&service.id), instances);
    let revisions_after = (
        registry.get_service(&service.id).map(|s| s.revision),
        registry
            .get_namespace(&service.namespace_id)
            .map(|n| n.revision),
    );
    assert_eq!(revisions_after, revisions);
    assert_eq!((recorder.services(), recorder.others()), heard);
    assert_eq!(registry.list_operations().len(), operations);
}

// ----- error codes -----------------------------------------------------------------

#[test]
fn errors_carry_their_cloud_map_codes() {
    let text = || "message".to_string();
    let cases = [
        (RegistryError::InvalidInput(text()), "InvalidInput"),
        (
            RegistryError::NamespaceNotFound(text()),
            "NamespaceNotFound",
        ),
        (RegistryError::ServiceNotFound(text()), "ServiceNotFound"),
        (RegistryError::InstanceNotFound(text()), "InstanceNotFound"),
        (
            RegistryError::OperationNotFound(text()),
            "OperationNotFound",
        ),
        (
            RegistryError::NamespaceAlreadyExists {
                message: text(),
                namespace_id: "ns-1".to_string(),
                creator_request_id: None,
            },
            "NamespaceAlreadyExists",
        ),
        (
            RegistryError::ServiceAlreadyExists {
                message: text(),
                service_id: "srv-1".to_string(),
                creator_request_id: None,
            },
            "ServiceAlreadyExists",
        ),
        (RegistryError::ResourceInUse(text()), "ResourceInUse"),
        (
            RegistryError::DuplicateRequest {
                message: text(),
                operation_id: None,
            },
            "DuplicateRequest",
        ),
        (
            RegistryError::ResourceLimitExceeded(text()),
            "ResourceLimitExceeded",
        ),
        (
            RegistryError::CustomHealthNotFound(text()),
            "CustomHealthNotFound",
        ),
        (
            RegistryError::ResourceNotFound(text()),
            "ResourceNotFoundException",
        ),
        (RegistryError::TooManyTags(text()), "TooManyTagsException"),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.to_string(), "message");
    }
}

#[test]
fn healthy_or_else_all_falls_back_among_matching_instances() {
    let registry = TestRegistry::default();
    stocked_cart(&registry);
    // Only a2 matches, and it is unhealthy while a1 elsewhere is healthy: the
    // fallback keeps the match rather than answering nothing.
    let query = DiscoverQuery {
        query_parameters: attributes(&[("env", "prod"), ("zone", "b")]),
        ..query(HealthFilter::HealthyOrElseAll)
    };
    assert_eq!(discovered(&registry, &query), ["a2"]);
    let strict = DiscoverQuery {
        health: HealthFilter::Healthy,
        ..query
    };
    assert!(discovered(&registry, &strict).is_empty());
}
