//! Unit tests for the registry's rules, each change made through the real
//! write front over an in-memory store ([`TestRegistry`]): Cloud Map's
//! validation rules (`validation`), the state rules of creating, registering
//! and deleting (`state`), and DiscoverInstances, observers and error codes
//! (`discovery`). The helpers here build the inputs every test needs.

mod consistency;
mod discovery;
mod plans;
mod state;
mod transfer;
mod tree;
mod validation;

use std::collections::BTreeMap;
use std::fmt::Debug;

use super::testing::TestRegistry;
use crate::registry::validate::{ATTR_CNAME, ATTR_IPV4, ATTR_IPV6, ATTR_PORT};
use crate::registry::*;

const V4: (&str, &str) = (ATTR_IPV4, "192.0.2.10");
const V6: (&str, &str) = (ATTR_IPV6, "2001:db8::10");
const PORT: (&str, &str) = (ATTR_PORT, "8080");
const CNAME: (&str, &str) = (ATTR_CNAME, "backend.example.net");

/// Attribute pairs as tests write them: `&[V4, ("zone", "a")]`.
type Pairs<'a> = &'a [(&'a str, &'a str)];

/// The private namespace every service helper puts its services in.
const INTERNAL: &str = "example.internal";

fn attributes(pairs: Pairs<'_>) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn new_namespace(name: &str, kind: NamespaceType) -> NewNamespace {
    NewNamespace {
        region: None,
        name: name.to_string(),
        kind,
        description: None,
        soa: SoaSettings::default(),
        allowed_networks: Vec::new(),
        transfer: None,
        creator_request_id: None,
        tags: Tags::new(),
    }
}

fn namespace(registry: &TestRegistry, name: &str, kind: NamespaceType) -> Namespace {
    let (namespace, _operation) = registry
        .create_namespace(new_namespace(name, kind))
        .expect("namespace is valid");
    namespace
}

/// A service named `name` with nothing but its name, in `example.internal`
/// (created on first use); tests fill in the rest with struct update syntax.
fn internal_service(registry: &TestRegistry, name: &str) -> NewService {
    let namespace = registry
        .namespace_by_name(INTERNAL)
        .unwrap_or_else(|| self::namespace(registry, INTERNAL, NamespaceType::DnsPrivate));
    NewService {
        region: None,
        namespace_id: namespace.id,
        name: name.to_string(),
        description: None,
        dns: None,
        health_check: None,
        custom_health_check: None,
        heartbeat: None,
        creator_request_id: None,
        tags: Tags::new(),
    }
}

fn template(policy: RoutingPolicy, kinds: &[RecordKind]) -> DnsTemplate {
    DnsTemplate {
        routing_policy: policy,
        records: kinds
            .iter()
            .map(|&kind| DnsRecord { kind, ttl: 60 })
            .collect(),
    }
}

/// The service `web` in `example.internal` with these record types.
fn web_service(registry: &TestRegistry, kinds: &[RecordKind], policy: RoutingPolicy) -> Service {
    registry
        .create_service(NewService {
            dns: Some(template(policy, kinds)),
            ..internal_service(registry, "web")
        })
        .expect("web service is valid")
}

/// The API-only service `api` in `example.internal`: no template, so an
/// instance's attributes are checked only for themselves.
fn api_service(registry: &TestRegistry) -> Service {
    registry
        .create_service(internal_service(registry, "api"))
        .expect("api service is valid")
}

fn tcp_check() -> HealthCheckConfig {
    HealthCheckConfig {
        kind: HealthCheckType::Tcp,
        resource_path: None,
        failure_threshold: 3,
    }
}

fn registration(service: &Service, id: &str, pairs: Pairs<'_>) -> InstanceRegistration {
    InstanceRegistration {
        service_id: service.id.clone(),
        instance_id: id.to_string(),
        attributes: attributes(pairs),
        creator_request_id: None,
    }
}

fn register(
    registry: &TestRegistry,
    service: &Service,
    id: &str,
    pairs: Pairs<'_>,
) -> Result<String> {
    registry.register_instance(registration(service, id, pairs))
}

/// `count` tags `k0`, `k1`, … with the value `v`.
fn numbered_tags(count: usize) -> Tags {
    (0..count)
        .map(|n| (format!("k{n}"), "v".to_string()))
        .collect()
}

/// Asserts that `result` failed with the Cloud Map error `code`; `case`
/// names the input in the failure message.
#[track_caller]
fn assert_code<T: Debug>(result: Result<T>, code: &str, case: &str) {
    match result {
        Err(error) => assert_eq!(error.code(), code, "{case}: {error}"),
        Ok(value) => panic!("{case}: expected {code}, got Ok({value:?})"),
    }
}
