//! The labels' rules, and the compose example's labels.

use super::*;

fn container(labels: &[(&str, &str)]) -> Container {
    Container {
        id: "0123456789abcdef0123".to_string(),
        name: "web-1".to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        running: true,
        health: None,
        networks: [(
            "bridge".to_string(),
            NetworkAddress {
                ipv4: Some(Ipv4Addr::new(172, 17, 0, 2)),
                ipv6: None,
            },
        )]
        .into(),
        exposed_ports: vec!["8080/tcp".to_string()],
    }
}

#[test]
fn a_container_without_the_service_label_is_not_ours() {
    assert_eq!(parse(&container(&[("cairn.port", "80")])), Ok(None));
}

#[test]
fn defaults_come_from_the_container() {
    let c = container(&[(SERVICE, "web.svc.internal")]);
    let desired = parse(&c).expect("valid").expect("labelled");
    assert_eq!(desired.service, "web.svc.internal");
    assert_eq!(desired.instance_id, "web-1");
    assert_eq!(desired.port, Some(8080));
    assert_eq!(desired.address.ipv4, Some(Ipv4Addr::new(172, 17, 0, 2)));
    let attributes = desired.registration("host-a", &c);
    assert_eq!(attributes["AWS_INSTANCE_IPV4"], "172.17.0.2");
    assert_eq!(attributes["AWS_INSTANCE_PORT"], "8080");
    assert_eq!(attributes[OWNER_ATTR], "host-a");
    assert_eq!(attributes[CONTAINER_ATTR], "0123456789ab");
}

#[test]
fn labels_override_the_defaults() {
    let mut c = container(&[
        (SERVICE, "web.svc.internal."),
        (INSTANCE, "blue"),
        (PORT, "9000"),
        (NETWORK, "backend"),
        ("cairn.attr.zone", "a"),
        (HEALTH, "unhealthy"),
        (CREATE_SERVICE, "A+SRV@30"),
    ]);
    c.networks.insert(
        "backend".to_string(),
        NetworkAddress {
            ipv4: Some(Ipv4Addr::new(10, 1, 0, 5)),
            ipv6: None,
        },
    );
    let desired = parse(&c).expect("valid").expect("labelled");
    assert_eq!(desired.service, "web.svc.internal");
    assert_eq!(desired.instance_id, "blue");
    assert_eq!(desired.port, Some(9000));
    assert_eq!(desired.address.ipv4, Some(Ipv4Addr::new(10, 1, 0, 5)));
    assert_eq!(desired.attributes["zone"], "a");
    assert_eq!(desired.attributes["AWS_INIT_HEALTH_STATUS"], "UNHEALTHY");
    assert_eq!(
        desired.create,
        Some(ServiceTemplate {
            records: vec![RecordType::A, RecordType::Srv],
            ttl: 30
        })
    );
}

#[test]
fn mistakes_are_named() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[(SERVICE, "web")], "not SERVICE.NAMESPACE"),
        (&[(SERVICE, "w.s"), (PORT, "http")], "not a port number"),
        (&[(SERVICE, "w.s"), (PORT, "0")], "not a port number"),
        (
            &[(SERVICE, "w.s"), (NETWORK, "nope")],
            "not on that network",
        ),
        (
            &[(SERVICE, "w.s"), (HEALTH, "green")],
            "HEALTHY or UNHEALTHY",
        ),
        (
            &[(SERVICE, "w.s"), ("cairn.prot", "80")],
            "unknown label cairn.prot",
        ),
        (
            &[(SERVICE, "w.s"), ("cairn.attr.cairn.agent", "x")],
            "sets this",
        ),
        (
            &[(SERVICE, "w.s"), (CREATE_SERVICE, "MX")],
            "expected record types",
        ),
        (&[(SERVICE, "w.s"), (CREATE_SERVICE, "A@ten")], "TTL"),
    ];
    for (labels, expected) in cases {
        let error = parse(&container(labels)).expect_err("a bad label");
        assert!(
            error.to_string().contains(expected),
            "{labels:?}: {error} lacks '{expected}'"
        );
    }
}

#[test]
fn several_ports_or_networks_need_a_label() {
    let mut c = container(&[(SERVICE, "w.s")]);
    c.exposed_ports.push("9090/tcp".to_string());
    assert_eq!(parse(&c), Err(LabelError::AmbiguousPort(2)));
    c.exposed_ports.clear();
    assert_eq!(parse(&c).expect("valid").expect("labelled").port, None);
    c.networks.insert(
        "other".to_string(),
        NetworkAddress {
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ipv6: None,
        },
    );
    assert!(matches!(parse(&c), Err(LabelError::AmbiguousNetwork(_))));
    c.networks.clear();
    assert!(matches!(parse(&c), Err(LabelError::NoAddress(_))));
}

/// examples/compose.yaml's services, each with its `cairn.*` labels.
fn compose_services() -> Vec<(String, Vec<(String, String)>)> {
    let mut services: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut in_services = false;
    for line in include_str!("../../../examples/compose.yaml").lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            in_services = line == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            services.push((name.to_string(), Vec::new()));
        } else if let Some(label) = line.trim().strip_prefix("- \"cairn.")
            && let Some((key, value)) = label.trim_end_matches('"').split_once('=')
            && let Some((_, labels)) = services.last_mut()
        {
            labels.push((format!("cairn.{key}"), value.to_string()));
        }
    }
    services
}

#[test]
fn the_compose_examples_labels_parse() {
    let services = compose_services();
    assert_eq!(services.len(), 2, "{services:?}");
    for (name, labels) in services {
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut c = container(&labels);
        c.networks.insert(
            "backend".to_string(),
            NetworkAddress {
                ipv4: Some(Ipv4Addr::new(172, 18, 0, 2)),
                ipv6: None,
            },
        );
        let desired = parse(&c)
            .unwrap_or_else(|error| panic!("{name}: {error}"))
            .unwrap_or_else(|| panic!("{name} has no cairn.service"));
        assert_eq!(desired.service, "app.svc.internal", "{name}");
        assert_eq!(desired.address.ipv4, Some(Ipv4Addr::new(172, 18, 0, 2)));
    }
}
