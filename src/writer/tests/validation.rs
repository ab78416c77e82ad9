//! Cloud Map's validation rules, each shown refused by the call that enforces
//! it, next to the nearest legal input.

use super::*;
use crate::registry::validate::{ATTR_INIT_HEALTH, ATTR_WEIGHT};

use NamespaceType::{DnsPrivate, DnsPublic, Http};
use RecordKind::{A, Aaaa, Cname, Srv};
use RoutingPolicy::{Multivalue, Weighted};

// ----- templates and health checks -------------------------------------------

#[test]
fn legal_record_type_combinations_are_accepted() {
    let combinations: [&[RecordKind]; 7] = [
        &[A],
        &[Aaaa],
        &[A, Aaaa],
        &[Srv],
        &[Srv, A],
        &[Srv, Aaaa],
        &[Srv, A, Aaaa],
    ];
    for kinds in combinations {
        for policy in [Multivalue, Weighted] {
            let registry = TestRegistry::default();
            let created = registry.create_service(NewService {
                dns: Some(template(policy, kinds)),
                ..internal_service(&registry, "web")
            });
            assert!(created.is_ok(), "{kinds:?} {policy:?}: {created:?}");
        }
    }
    let registry = TestRegistry::default();
    web_service(&registry, &[Cname], Weighted);
}

#[test]
fn illegal_templates_and_health_checks_are_invalid_input() {
    let http_check = |path: &str| HealthCheckConfig {
        kind: HealthCheckType::Http,
        resource_path: Some(path.to_string()),
        failure_threshold: 3,
    };
    let threshold = |failure_threshold| HealthCheckConfig {
        failure_threshold,
        ..tcp_check()
    };
    let custom = |failure_threshold| Some(CustomHealthCheck { failure_threshold });
    let mut too_long_ttl = template(Multivalue, &[A]);
    too_long_ttl.records[0].ttl = u32::MAX;
    let cases = [
        (
            "no record types",
            Some(template(Multivalue, &[])),
            None,
            None,
        ),
        ("A twice", Some(template(Multivalue, &[A, A])), None, None),
        ("CNAME+A", Some(template(Weighted, &[Cname, A])), None, None),
        (
            "CNAME under MULTIVALUE",
            Some(template(Multivalue, &[Cname])),
            None,
            None,
        ),
        (
            "CNAME with a HealthCheckConfig",
            Some(template(Weighted, &[Cname])),
            Some(tcp_check()),
            None,
        ),
        (
            "both kinds of health check",
            Some(template(Multivalue, &[A])),
            Some(tcp_check()),
            custom(1),
        ),
        ("FailureThreshold 0", None, Some(threshold(0)), None),
        ("FailureThreshold 11", None, Some(threshold(11)), None),
        ("custom FailureThreshold 0", None, None, custom(0)),
        ("custom FailureThreshold 11", None, None, custom(11)),
        (
            "ResourcePath with TCP",
            None,
            Some(HealthCheckConfig {
                resource_path: Some("/health".into()),
                ..tcp_check()
            }),
            None,
        ),
        (
            "ResourcePath without '/'",
            None,
            Some(http_check("health")),
            None,
        ),
        ("TTL above 2^31-1", Some(too_long_ttl), None, None),
        (
            "ResourcePath with a space",
            None,
            Some(http_check("/health check")),
            None,
        ),
        (
            "ResourcePath with CR/LF",
            None,
            Some(http_check("/health HTTP/1.1\r\nHost: evil\r\n\r\nGET /")),
            None,
        ),
        (
            "ResourcePath with a tab",
            None,
            Some(http_check("/a\tb")),
            None,
        ),
        (
            "ResourcePath not ASCII",
            None,
            Some(http_check("/gesundheit/ü")),
            None,
        ),
    ];
    for (case, dns, health_check, custom_health_check) in cases {
        let registry = TestRegistry::default();
        let created = registry.create_service(NewService {
            dns,
            health_check,
            custom_health_check,
            ..internal_service(&registry, "web")
        });
        assert_code(created, "InvalidInput", case);
    }

    let registry = TestRegistry::default();
    for (name, health_check, custom_health_check) in [
        ("http", Some(http_check("/health")), None),
        ("low", Some(threshold(1)), None),
        ("high", Some(threshold(10)), None),
        ("custom-low", None, custom(1)),
        ("custom-high", None, custom(10)),
    ] {
        let created = registry.create_service(NewService {
            health_check,
            custom_health_check,
            ..internal_service(&registry, name)
        });
        assert!(created.is_ok(), "{name}: {created:?}");
    }
}

// ----- what an instance must carry ---------------------------------------------

#[test]
fn an_instance_carries_what_its_template_needs() {
    let cases: [(&[RecordKind], Pairs, bool); 18] = [
        (&[A], &[], false),
        (&[A], &[V6], false),
        (&[A], &[V4], true),
        (&[Aaaa], &[V4], false),
        (&[Aaaa], &[V6], true),
        // Either address, or both, for A+AAAA.
        (&[A, Aaaa], &[], false),
        (&[A, Aaaa], &[V4], true),
        (&[A, Aaaa], &[V6], true),
        (&[A, Aaaa], &[V4, V6], true),
        (&[Srv], &[V4], false),
        (&[Srv], &[PORT], false),
        (&[Srv], &[PORT, V4], true),
        (&[Srv], &[PORT, V6], true),
        (&[Srv, A], &[PORT, V6], false),
        (&[Srv, A, Aaaa], &[PORT, V4, V6], true),
        (&[Srv, A, Aaaa], &[PORT, V4], true),
        (&[Cname], &[V4], false),
        (&[Cname], &[CNAME], true),
    ];
    for (kinds, pairs, legal) in cases {
        let registry = TestRegistry::default();
        let service = web_service(&registry, kinds, Weighted);
        let registered = register(&registry, &service, "web-1", pairs);
        let case = format!("{kinds:?} with {pairs:?}");
        if legal {
            assert!(registered.is_ok(), "{case}: {registered:?}");
        } else {
            assert_code(registered, "InvalidInput", &case);
        }
    }
}

#[test]
fn an_instance_of_a_health_checked_service_needs_a_port() {
    let registry = TestRegistry::default();
    let service = registry
        .create_service(NewService {
            dns: Some(template(Multivalue, &[A])),
            health_check: Some(tcp_check()),
            ..internal_service(&registry, "web")
        })
        .expect("service is valid");
    assert_code(
        register(&registry, &service, "web-1", &[V4]),
        "InvalidInput",
        "no port",
    );
    register(&registry, &service, "web-1", &[V4, PORT]).expect("port given");
}

#[test]
fn malformed_or_unsupported_reserved_attributes_are_invalid_input() {
    let cases = [
        (ATTR_IPV4, "192.0.2.256"),
        (ATTR_IPV4, "2001:db8::1"),
        (ATTR_IPV4, "host"),
        (ATTR_IPV6, "2001:db8::zz"),
        (ATTR_IPV6, "192.0.2.1"),
        (ATTR_PORT, "65536"),
        (ATTR_PORT, "-1"),
        (ATTR_PORT, "http"),
        // Only canonical decimal: what is stored (and GetInstance returns)
        // must be what DNS serves, so "+80" or "080" are not taken as 80.
        (ATTR_PORT, "+80"),
        (ATTR_PORT, "080"),
        (ATTR_PORT, "00"),
        (ATTR_PORT, ""),
        (ATTR_PORT, "8080 "),
        (ATTR_CNAME, "backend..example.net"),
        (ATTR_CNAME, "-backend.example.net"),
        (ATTR_CNAME, ""),
        (ATTR_INIT_HEALTH, "UNKNOWN"),
        (ATTR_INIT_HEALTH, "healthy"),
        (ATTR_WEIGHT, "heavy"),
        (ATTR_WEIGHT, "-1"),
        (ATTR_WEIGHT, "1000001"),
        (ATTR_WEIGHT, "+5"),
        (ATTR_WEIGHT, "05"),
        (ATTR_WEIGHT, ""),
        ("AWS_ALIAS_DNS_NAME", "lb.example.net"),
        ("AWS_EC2_INSTANCE_ID", "i-0123456789abcdef0"),
    ];
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    for (key, value) in cases {
        let registered = register(&registry, &service, "api-1", &[(key, value)]);
        assert_code(registered, "InvalidInput", &format!("{key}={value}"));
    }
    assert_eq!(registry.list_instances(&service.id), Ok(Vec::new()));
}

#[test]
fn well_formed_reserved_attributes_become_the_endpoint() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    let pairs = [
        V4,
        V6,
        PORT,
        (ATTR_CNAME, "backend.example.net."),
        (ATTR_WEIGHT, "1000000"),
        (ATTR_INIT_HEALTH, "HEALTHY"),
    ];
    register(&registry, &service, "full", &pairs).expect("attributes are valid");
    register(&registry, &service, "bare", &[]).expect("no attributes is valid");

    let full = registry
        .get_instance(&service.id, "full")
        .expect("registered");
    assert_eq!(
        full.endpoint,
        Endpoint {
            ipv4: Some("192.0.2.10".parse().expect("literal")),
            ipv6: Some("2001:db8::10".parse().expect("literal")),
            port: Some(8080),
            cname: Some("backend.example.net".into()),
            weight: 1_000_000,
        }
    );
    let bare = registry
        .get_instance(&service.id, "bare")
        .expect("registered");
    assert_eq!(
        bare.endpoint,
        Endpoint {
            weight: 1,
            ..Endpoint::default()
        }
    );
}

#[test]
fn zero_is_the_one_port_and_weight_written_with_a_leading_zero() {
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    register(
        &registry,
        &service,
        "zero",
        &[(ATTR_PORT, "0"), (ATTR_WEIGHT, "0")],
    )
    .expect("0 is canonical");
    let zero = registry
        .get_instance(&service.id, "zero")
        .expect("registered");
    assert_eq!((zero.endpoint.port, zero.endpoint.weight), (Some(0), 0));
}

// ----- names ------------------------------------------------------------------

#[test]
fn namespace_names_follow_the_rules_of_their_type() {
    let label_63 = "a".repeat(63);
    let cases: Vec<(NamespaceType, String, bool)> = vec![
        (DnsPublic, "example.com".into(), true),
        (DnsPublic, "Ex-ample1.COM".into(), true),
        (DnsPublic, "_tcp.example.com".into(), false),
        (DnsPrivate, "_tcp.example.internal".into(), true),
        (DnsPrivate, "example..internal".into(), false),
        (DnsPrivate, ".example.internal".into(), false),
        (DnsPrivate, "".into(), false),
        (DnsPrivate, ".".into(), false),
        (DnsPrivate, "exa mple.internal".into(), false),
        (DnsPublic, format!("{label_63}.com"), true),
        (DnsPublic, format!("a{label_63}.com"), false),
        // 242 characters leave room for the default SOA rname
        // `hostmaster.<zone>`; 243 do not (see the test below for names up
        // to 253 with SOA names of their own).
        (
            DnsPublic,
            format!("{label_63}.{label_63}.{label_63}.{}", "a".repeat(50)),
            true,
        ),
        (
            DnsPublic,
            format!("{label_63}.{label_63}.{label_63}.{}", "a".repeat(51)),
            false,
        ),
        (DnsPublic, "-example.com".into(), false),
        (DnsPublic, "example-.com".into(), false),
        (Http, "shop_prod/v1:blue".into(), true),
        (Http, "x".repeat(1024), true),
        (Http, "x".repeat(1025), false),
        (Http, "".into(), false),
        (Http, "my shop".into(), false),
        (Http, "tab\there".into(), false),
        (Http, "arn:aws:servicediscovery".into(), false),
    ];
    for (kind, name, legal) in cases {
        let registry = TestRegistry::default();
        let created = registry.create_namespace(new_namespace(&name, kind));
        let case = format!("{} '{name}'", kind.as_str());
        if legal {
            assert!(created.is_ok(), "{case}: {created:?}");
        } else {
            assert_code(created, "InvalidInput", &case);
        }
    }
}

#[test]
fn a_long_namespace_name_needs_soa_names_that_fit() {
    let label_63 = "a".repeat(63);
    let longest = format!("{label_63}.{label_63}.{label_63}.{}", "a".repeat(61));
    assert_eq!(longest.len(), 253);
    let registry = TestRegistry::default();
    assert_code(
        registry.create_namespace(new_namespace(&longest, DnsPublic)),
        "InvalidInput",
        "default SOA names",
    );
    let own_names = NewNamespace {
        soa: SoaSettings {
            mname: Some("ns1.example.net".into()),
            rname: Some("hostmaster.example.net".into()),
            ..SoaSettings::default()
        },
        ..new_namespace(&longest, DnsPublic)
    };
    let (created, _) = registry.create_namespace(own_names).expect("SOA names fit");
    // Going back to the default names later is refused too.
    let back = NamespaceUpdate {
        soa: Some(SoaSettings::default()),
        ..NamespaceUpdate::default()
    };
    assert_code(
        registry.update_namespace(&created.id, back),
        "InvalidInput",
        "default SOA names on update",
    );
    assert_code(
        registry.create_namespace(new_namespace(&format!("a{longest}"), DnsPrivate)),
        "InvalidInput",
        "254 characters",
    );
}

#[test]
fn a_namespace_name_is_kept_without_its_trailing_dot() {
    let registry = TestRegistry::default();
    let created = namespace(&registry, "example.com.", DnsPublic);
    assert_eq!(created.name, "example.com");
    assert_eq!(
        registry.namespace_by_name("example.com.").map(|n| n.id),
        Some(created.id)
    );
}

#[test]
fn only_private_namespaces_have_allowed_networks() {
    let networks = vec!["10.0.0.0/8".parse().expect("literal")];
    for (kind, legal) in [(DnsPrivate, true), (DnsPublic, false), (Http, false)] {
        let registry = TestRegistry::default();
        let created = registry.create_namespace(NewNamespace {
            allowed_networks: networks.clone(),
            ..new_namespace("example.org", kind)
        });
        if legal {
            assert!(created.is_ok(), "{kind:?}: {created:?}");
        } else {
            assert_code(created, "InvalidInput", kind.as_str());
        }
    }
}

#[test]
fn service_names_are_relative_dns_names_of_at_most_127_characters() {
    let at_limit = format!("{}.{}", "a".repeat(63), "b".repeat(63));
    let over_limit = format!("{}.{}.c", "a".repeat(63), "b".repeat(62));
    let cases: Vec<(String, bool)> = vec![
        ("web".into(), true),
        ("_web._tcp".into(), true),
        ("Web-1".into(), true),
        (at_limit, true),
        (over_limit, false),
        ("web.".into(), false),
        ("".into(), false),
        ("web..api".into(), false),
        ("-web".into(), false),
        ("web-".into(), false),
        ("web api".into(), false),
        ("a".repeat(64), false),
    ];
    for (name, legal) in cases {
        let registry = TestRegistry::default();
        let created = registry.create_service(internal_service(&registry, &name));
        if legal {
            assert!(created.is_ok(), "'{name}': {created:?}");
        } else {
            assert_code(created, "InvalidInput", &name);
        }
    }
}

/// A 196-character zone: `a{63}.b{63}.c{63}.test`.
fn long_zone() -> String {
    let zone = ["a", "b", "c"].map(|letter| letter.repeat(63)).join(".") + ".test";
    assert_eq!(zone.len(), 196);
    zone
}

#[test]
fn a_service_name_leaves_room_for_an_instance_label_in_its_zone() {
    let zone = long_zone();
    let registry = TestRegistry::default();
    let namespace = namespace(&registry, &zone, DnsPrivate);
    let create = |name: String, kinds: &[RecordKind]| {
        registry.create_service(NewService {
            namespace_id: namespace.id.clone(),
            dns: Some(template(Multivalue, kinds)),
            ..internal_service(&registry, &name)
        })
    };
    // SRV records name instances `<id>.<service>.<zone>`: a 251-character
    // service leaves room for a one-character id, 252 characters do not.
    let srv = create("s".repeat(54), &[A, Srv]).expect("251 characters with SRV");
    assert_code(
        create("t".repeat(55), &[A, Srv]),
        "InvalidInput",
        "252 characters with SRV",
    );
    // Without SRV nothing is named below the service: up to 253 characters.
    create("u".repeat(56), &[A]).expect("253 characters without SRV");
    assert_code(
        create("v".repeat(57), &[A]),
        "InvalidInput",
        "254 characters",
    );

    // Every id that is accepted has a host name that fits.
    register(&registry, &srv, "i", &[V4, PORT]).expect("a 253-character host name");
    assert_code(
        register(&registry, &srv, "ii", &[V4, PORT]),
        "InvalidInput",
        "a 254-character host name",
    );
    let instances = registry.list_instances(&srv.id).expect("exists");
    assert_eq!(
        instances.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["i"]
    );
}

#[test]
fn an_instance_id_must_fit_its_host_name_in_a_service_with_srv_records() {
    let zone = long_zone();
    let registry = TestRegistry::default();
    let namespace = namespace(&registry, &zone, DnsPrivate);
    let service = registry
        .create_service(NewService {
            namespace_id: namespace.id.clone(),
            dns: Some(template(Multivalue, &[A, Srv])),
            ..internal_service(&registry, &"s".repeat(53))
        })
        .expect("250 characters with SRV");
    for (id, fits) in [("i", true), ("ii", true), ("iii", false), ("j", true)] {
        let registered = register(&registry, &service, id, &[V4, PORT]);
        if fits {
            registered.unwrap_or_else(|error| panic!("'{id}': {error}"));
        } else {
            assert_code(registered, "InvalidInput", id);
        }
    }
    // A service without SRV records names no host: long ids are fine.
    let plain = registry
        .create_service(NewService {
            namespace_id: namespace.id,
            dns: Some(template(Multivalue, &[A])),
            ..internal_service(&registry, &"p".repeat(53))
        })
        .expect("valid");
    register(&registry, &plain, &"x".repeat(64), &[V4]).expect("no host name to fit");
}

#[test]
fn services_in_an_http_namespace_have_no_dns_template() {
    let registry = TestRegistry::default();
    let shop = namespace(&registry, "shop", Http);
    let created = registry.create_service(NewService {
        namespace_id: shop.id,
        dns: Some(template(Multivalue, &[A])),
        ..internal_service(&registry, "cart")
    });
    assert_code(created, "InvalidInput", "DnsConfig in HTTP namespace");
}

// ----- instance ids -------------------------------------------------------------

#[test]
fn instance_ids_are_1_to_64_characters_of_cloud_maps_set() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    let at_limit = "x".repeat(64);
    for id in [
        "i-0abc",
        "a.b",
        "a/b",
        "user@host:8080",
        "under_score",
        &at_limit,
    ] {
        register(&registry, &service, id, &[V4]).unwrap_or_else(|error| panic!("'{id}': {error}"));
    }
    let over_limit = "x".repeat(65);
    for id in ["", &over_limit, "a b", "a#b", "é"] {
        assert_code(register(&registry, &service, id, &[V4]), "InvalidInput", id);
    }
}

#[test]
fn in_an_srv_service_an_instance_id_is_one_dns_label() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[Srv], Multivalue);
    let at_limit = "x".repeat(63);
    for id in ["web-1", "_web", &at_limit] {
        register(&registry, &service, id, &[PORT, V4])
            .unwrap_or_else(|error| panic!("'{id}': {error}"));
    }
    let over_limit = "x".repeat(64);
    for id in ["a.b", "a/b", "a:b", "a@b", "-web", "web-", &over_limit] {
        assert_code(
            register(&registry, &service, id, &[PORT, V4]),
            "InvalidInput",
            id,
        );
    }
}

#[test]
fn instance_ids_differing_only_in_case_are_refused_in_one_service() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    register(&registry, &service, "Web-1", &[V4]).expect("first registration");
    assert_code(
        register(&registry, &service, "web-1", &[V4]),
        "InvalidInput",
        "web-1",
    );
    register(&registry, &service, "Web-1", &[V4]).expect("same id again");
    assert_eq!(
        registry.list_instances(&service.id).map(|list| list.len()),
        Ok(1)
    );
    assert_code(
        registry.get_instance(&service.id, "web-1"),
        "InstanceNotFound",
        "web-1",
    );
}

// ----- attribute limits ----------------------------------------------------------

#[test]
fn attribute_keys_and_values_have_cloud_maps_limits() {
    let key_255 = "k".repeat(255);
    let key_256 = "k".repeat(256);
    let value_1024 = "v".repeat(1024);
    let value_1025 = "v".repeat(1025);
    let cases: [(&str, &str, bool); 11] = [
        (&key_255, "v", true),
        ("k", &value_1024, true),
        ("k", "two words", true),
        ("k", "", true),
        ("", "v", false),
        (&key_256, "v", false),
        ("my key", "v", false),
        ("k", &value_1025, false),
        ("k", " leading space", false),
        ("k", "\tleading tab", false),
        ("k", "line\nbreak", false),
    ];
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    for (key, value, legal) in cases {
        let registered = register(&registry, &service, "api-1", &[(key, value)]);
        let case = format!(
            "{key:.10}={value:.10} ({} + {} characters)",
            key.len(),
            value.len()
        );
        if legal {
            assert!(registered.is_ok(), "{case}: {registered:?}");
        } else {
            assert_code(registered, "InvalidInput", &case);
        }
    }
}

#[test]
fn an_instance_carries_at_most_30_custom_attributes() {
    let registry = TestRegistry::default();
    let service = web_service(&registry, &[A], Multivalue);
    let custom = |count: usize| -> BTreeMap<String, String> {
        let mut attributes = numbered_tags(count);
        attributes.insert(V4.0.to_string(), V4.1.to_string());
        attributes
    };
    // The reserved IPv4 attribute does not count towards the 30.
    registry
        .register_instance(InstanceRegistration {
            attributes: custom(30),
            ..registration(&service, "web-1", &[])
        })
        .expect("30 custom attributes");
    let over = registry.register_instance(InstanceRegistration {
        attributes: custom(31),
        ..registration(&service, "web-1", &[])
    });
    assert_code(over, "InvalidInput", "31 custom attributes");
}

#[test]
fn an_instances_attributes_total_at_most_5000_characters() {
    // Four pairs of 2 + 1024 characters, and a fifth that brings the total
    // to `total`.
    let attributes_totalling = |total: usize| -> BTreeMap<String, String> {
        let mut attributes: BTreeMap<String, String> = (0..4)
            .map(|n| (format!("k{n}"), "v".repeat(1024)))
            .collect();
        attributes.insert("k4".to_string(), "v".repeat(total - 4 * 1026 - 2));
        attributes
    };
    let registry = TestRegistry::default();
    let service = api_service(&registry);
    registry
        .register_instance(InstanceRegistration {
            attributes: attributes_totalling(5000),
            ..registration(&service, "api-1", &[])
        })
        .expect("5000 characters");
    let over = registry.register_instance(InstanceRegistration {
        attributes: attributes_totalling(5001),
        ..registration(&service, "api-1", &[])
    });
    assert_code(over, "InvalidInput", "5001 characters");
}

// ----- tags ------------------------------------------------------------------------

#[test]
fn more_than_50_tags_are_too_many_tags() {
    let registry = TestRegistry::default();
    let fifty = registry.create_namespace(NewNamespace {
        tags: numbered_tags(50),
        ..new_namespace("fifty.example.com", DnsPublic)
    });
    assert!(fifty.is_ok(), "{fifty:?}");
    let namespace = registry.create_namespace(NewNamespace {
        tags: numbered_tags(51),
        ..new_namespace("example.com", DnsPublic)
    });
    assert_code(namespace, "TooManyTagsException", "namespace with 51 tags");
    let service = registry.create_service(NewService {
        tags: numbered_tags(51),
        ..internal_service(&registry, "web")
    });
    assert_code(service, "TooManyTagsException", "service with 51 tags");

    let service = api_service(&registry);
    registry
        .retag(&service.id, &numbered_tags(50), &[])
        .expect("50 tags");
    let one_more = Tags::from([("extra".to_string(), "v".to_string())]);
    assert_code(
        registry.retag(&service.id, &one_more, &[]),
        "TooManyTagsException",
        "retag to 51",
    );
    assert_eq!(registry.tags(&service.id), Ok(numbered_tags(50)));
}

#[test]
fn tag_keys_are_1_to_128_characters_and_values_at_most_256() {
    let key_128 = "k".repeat(128);
    let key_129 = "k".repeat(129);
    let value_256 = "v".repeat(256);
    let value_257 = "v".repeat(257);
    let cases: [(&str, &str, bool); 5] = [
        (&key_128, "v", true),
        ("k", &value_256, true),
        ("", "v", false),
        (&key_129, "v", false),
        ("k", &value_257, false),
    ];
    for (key, value, legal) in cases {
        let registry = TestRegistry::default();
        let created = registry.create_namespace(NewNamespace {
            tags: Tags::from([(key.to_string(), value.to_string())]),
            ..new_namespace("example.com", DnsPublic)
        });
        let case = format!("tag of {} + {} characters", key.len(), value.len());
        if legal {
            assert!(created.is_ok(), "{case}: {created:?}");
        } else {
            assert_code(created, "InvalidInput", &case);
        }
    }
}

fn nets(texts: &[&str]) -> Vec<ipnet::IpNet> {
    texts
        .iter()
        .map(|text| text.parse().expect("a network"))
        .collect()
}

/// The registry applies the rule whoever calls it, on create and update.
#[test]
fn the_registry_stores_what_the_rule_says() {
    let registry = TestRegistry::default();
    let new = |name: &str, networks: &[&str]| NewNamespace {
        region: None,
        name: name.to_string(),
        kind: NamespaceType::DnsPrivate,
        description: None,
        soa: SoaSettings::default(),
        allowed_networks: nets(networks),
        transfer: None,
        creator_request_id: None,
        tags: Default::default(),
    };
    let (with, _) = registry
        .create_namespace(new("a.internal", &["10.0.0.1/8"]))
        .expect("valid");
    assert_eq!(with.allowed_networks, nets(&["10.0.0.0/8"]));
    let (without, _) = registry
        .create_namespace(new("b.internal", &[]))
        .expect("valid");
    assert_eq!(
        without.allowed_networks,
        crate::registry::networks::loopback()
    );

    registry
        .update_namespace(
            &with.id,
            NamespaceUpdate {
                allowed_networks: Some(nets(&["192.168.1.1/16"])),
                ..NamespaceUpdate::default()
            },
        )
        .expect("valid");
    let updated = registry.get_namespace(&with.id).expect("valid");
    assert_eq!(updated.allowed_networks, nets(&["192.168.0.0/16"]));
}
