//! Cloud Map's validation rules: names, limits, record-type combinations and
//! what an instance must carry for its service's template. Each check turns
//! raw input into a value that can no longer be wrong, or an `InvalidInput`
//! that says what is wrong and how to fix it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{RegistryError, Result};
use super::model::{
    DnsTemplate, Endpoint, HealthCheckConfig, HealthCheckType, HealthStatus, Heartbeat,
    NamespaceType, RecordKind, RoutingPolicy, Service, Tags,
};

pub const ATTR_IPV4: &str = "AWS_INSTANCE_IPV4";
pub const ATTR_IPV6: &str = "AWS_INSTANCE_IPV6";
pub const ATTR_PORT: &str = "AWS_INSTANCE_PORT";
pub const ATTR_CNAME: &str = "AWS_INSTANCE_CNAME";
pub const ATTR_INIT_HEALTH: &str = "AWS_INIT_HEALTH_STATUS";
/// cairn's extension: a WEIGHTED service picks instances in proportion to it.
pub const ATTR_WEIGHT: &str = "weight";

const MAX_DNS_NAME: usize = 253;
const MAX_LABEL: usize = 63;
const MAX_SERVICE_NAME: usize = 127;
const MAX_HTTP_NAMESPACE_NAME: usize = 1024;
const MAX_INSTANCE_ID: usize = 64;
const MAX_REQUEST_ID: usize = 64;
const MAX_DESCRIPTION: usize = 1024;
const MAX_ATTRIBUTE_KEY: usize = 255;
const MAX_ATTRIBUTE_VALUE: usize = 1024;
const MAX_CUSTOM_ATTRIBUTES: usize = 30;
const MAX_ATTRIBUTES_TOTAL: usize = 5000;
const MAX_TTL: u32 = 2_147_483_647;
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
const MAX_RESOURCE_PATH: usize = 255;
const MAX_WEIGHT: u32 = 1_000_000;

const RESERVED: [&str; 7] = [
    ATTR_IPV4,
    ATTR_IPV6,
    ATTR_PORT,
    ATTR_CNAME,
    ATTR_INIT_HEALTH,
    "AWS_ALIAS_DNS_NAME",
    "AWS_EC2_INSTANCE_ID",
];

fn invalid(message: impl Into<String>) -> RegistryError {
    RegistryError::invalid(message)
}

/// Checks one DNS label. `strict` is the hostname rule (letters, digits,
/// hyphens); otherwise underscores are allowed too, as service names like
/// `_web._tcp` need.
fn check_label(label: &str, strict: bool) -> std::result::Result<(), String> {
    if label.is_empty() {
        return Err("has an empty label (two dots in a row, or a leading dot)".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!("has a label longer than {MAX_LABEL} characters"));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || c == '-' || (!strict && c == '_');
    if let Some(bad) = label.chars().find(|c| !legal(*c)) {
        let allowed = if strict {
            "letters, digits and '-'"
        } else {
            "letters, digits, '-' and '_'"
        };
        return Err(format!("contains '{bad}'; labels may hold only {allowed}"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label '{label}' starts or ends with '-'"));
    }
    Ok(())
}

/// Checks a dotted DNS name and returns it without a trailing dot.
pub fn dns_name(what: &str, name: &str, strict: bool) -> Result<String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if trimmed.len() > MAX_DNS_NAME {
        return Err(invalid(format!(
            "{what} '{name}' is longer than {MAX_DNS_NAME} characters"
        )));
    }
    for label in trimmed.split('.') {
        check_label(label, strict).map_err(|why| invalid(format!("{what} '{name}' {why}")))?;
    }
    Ok(trimmed.to_string())
}

/// Checks a namespace name for its type and returns its canonical spelling.
pub fn namespace_name(kind: NamespaceType, name: &str) -> Result<String> {
    match kind {
        NamespaceType::Http => {
            let printable = |c: char| c.is_ascii_graphic();
            if name.is_empty() || name.len() > MAX_HTTP_NAMESPACE_NAME {
                return Err(invalid(format!(
                    "namespace name must be 1 to {MAX_HTTP_NAMESPACE_NAME} characters"
                )));
            }
            if !name.chars().all(printable) || name.starts_with("arn:") {
                return Err(invalid(format!(
                    "namespace name '{name}' must be printable ASCII without spaces and must not start with 'arn:'"
                )));
            }
            Ok(name.to_string())
        }
        NamespaceType::DnsPublic => dns_name("namespace name", name, true),
        NamespaceType::DnsPrivate => dns_name("namespace name", name, false),
    }
}

/// Checks a service name: dot-separated labels of letters, digits, '-' and
/// '_', at most 127 characters, so `_web._tcp` is legal.
pub fn service_name(name: &str) -> Result<String> {
    if name.is_empty() || name.len() > MAX_SERVICE_NAME {
        return Err(invalid(format!(
            "service name must be 1 to {MAX_SERVICE_NAME} characters, got {}",
            name.len()
        )));
    }
    if name.ends_with('.') {
        return Err(invalid(format!(
            "service name '{name}' must not end with '.'; it is relative to its namespace"
        )));
    }
    dns_name("service name", name, false)
}

/// Checks that a service's full DNS name fits in a DNS name.
pub fn service_fqdn_length(service: &str, namespace: &str) -> Result<()> {
    // Instance names add one more label below the service; leave room for it.
    let total = service.len() + 1 + namespace.len();
    if total > MAX_DNS_NAME {
        return Err(invalid(format!(
            "'{service}.{namespace}' is longer than {MAX_DNS_NAME} characters"
        )));
    }
    Ok(())
}

pub fn description(text: Option<&str>) -> Result<()> {
    match text {
        Some(text) if text.len() > MAX_DESCRIPTION => Err(invalid(format!(
            "description is longer than {MAX_DESCRIPTION} characters"
        ))),
        _ => Ok(()),
    }
}

pub fn request_id(what: &str, id: Option<&str>) -> Result<()> {
    match id {
        Some(id) if id.is_empty() || id.len() > MAX_REQUEST_ID => Err(invalid(format!(
            "{what} must be 1 to {MAX_REQUEST_ID} characters"
        ))),
        _ => Ok(()),
    }
}

pub fn ttl(what: &str, ttl: i64) -> Result<u32> {
    u32::try_from(ttl)
        .ok()
        .filter(|ttl| *ttl <= MAX_TTL)
        .ok_or_else(|| invalid(format!("{what} must be 0 to {MAX_TTL}, got {ttl}")))
}

/// Checks a DNS template: Cloud Map's legal record-type combinations (A,
/// AAAA, A+AAAA, SRV, SRV+A, SRV+AAAA, SRV+A+AAAA, and CNAME alone with
/// WEIGHTED routing), each type once.
pub fn template(template: &DnsTemplate) -> Result<()> {
    if template.records.is_empty() {
        return Err(invalid("DnsRecords must list at least one record type"));
    }
    let mut kinds: Vec<RecordKind> = template.records.iter().map(|r| r.kind).collect();
    kinds.sort();
    if kinds.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(invalid("DnsRecords lists a record type twice"));
    }
    for record in &template.records {
        if record.ttl > MAX_TTL {
            return Err(invalid(format!("TTL must be 0 to {MAX_TTL}")));
        }
    }
    if kinds.contains(&RecordKind::Cname) {
        if kinds.len() > 1 {
            return Err(invalid(
                "a CNAME record cannot be combined with other record types",
            ));
        }
        if template.routing_policy != RoutingPolicy::Weighted {
            return Err(invalid("CNAME records require the WEIGHTED routing policy"));
        }
    }
    Ok(())
}

pub fn health_check(check: &HealthCheckConfig) -> Result<()> {
    if !(1..=10).contains(&check.failure_threshold) {
        return Err(invalid("FailureThreshold must be 1 to 10"));
    }
    match (&check.kind, &check.resource_path) {
        (HealthCheckType::Tcp, Some(_)) => Err(invalid(
            "ResourcePath is only for HTTP and HTTPS health checks; remove it for TCP",
        )),
        (_, Some(path)) if path.is_empty() || path.len() > MAX_RESOURCE_PATH => Err(invalid(
            format!("ResourcePath must be 1 to {MAX_RESOURCE_PATH} characters"),
        )),
        (_, Some(path)) if !path.starts_with('/') => Err(invalid(format!(
            "ResourcePath '{path}' must start with '/'"
        ))),
        _ => Ok(()),
    }
}

/// The shortest heartbeat TTL: 0.1 s. Values under a second are for tests;
/// in production a TTL should span a few of the instance's heartbeats.
pub const MIN_HEARTBEAT_TTL_MS: u64 = 100;
/// The longest heartbeat TTL and grace period: one day and thirty days.
pub const MAX_HEARTBEAT_TTL_MS: u64 = 86_400_000;
pub const MAX_DEREGISTER_AFTER_MS: u64 = 30 * 86_400_000;

/// Seconds as the API and zone files write them (fractions allowed) →
/// whole milliseconds, named `field` in the error.
pub fn seconds_to_millis(field: &str, seconds: f64) -> Result<u64> {
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 1e9 {
        return Err(invalid(format!(
            "{field} is {seconds}; it must be a positive number of seconds"
        )));
    }
    Ok((seconds * 1000.0).round() as u64)
}

/// Checks a heartbeat check: TTL in range, grace period longer than it.
pub fn heartbeat(config: &Heartbeat) -> Result<()> {
    if !(MIN_HEARTBEAT_TTL_MS..=MAX_HEARTBEAT_TTL_MS).contains(&config.ttl_ms) {
        return Err(invalid(format!(
            "HeartbeatConfig.TTL must be {} to {} seconds",
            MIN_HEARTBEAT_TTL_MS as f64 / 1000.0,
            MAX_HEARTBEAT_TTL_MS / 1000
        )));
    }
    if let Some(grace) = config.deregister_after_ms {
        if grace <= config.ttl_ms {
            return Err(invalid(
                "HeartbeatConfig.DeregisterAfter must be longer than its TTL: an instance turns UNHEALTHY first",
            ));
        }
        if grace > MAX_DEREGISTER_AFTER_MS {
            return Err(invalid(format!(
                "HeartbeatConfig.DeregisterAfter must be at most {} seconds",
                MAX_DEREGISTER_AFTER_MS / 1000
            )));
        }
    }
    Ok(())
}

/// Checks everything about a service definition that does not depend on
/// other services.
pub fn service(service: &Service) -> Result<()> {
    description(service.description.as_deref())?;
    if let Some(dns) = &service.dns {
        template(dns)?;
        if dns.has(RecordKind::Cname) && service.health_check.is_some() {
            return Err(invalid("a CNAME service cannot have a HealthCheckConfig"));
        }
    }
    if let Some(check) = &service.health_check {
        health_check(check)?;
        if service.custom_health_check.is_some() {
            return Err(invalid(
                "a service has either HealthCheckConfig or HealthCheckCustomConfig, not both",
            ));
        }
    }
    if let Some(custom) = &service.custom_health_check
        && !(1..=10).contains(&custom.failure_threshold)
    {
        return Err(invalid("FailureThreshold must be 1 to 10"));
    }
    if let Some(config) = &service.heartbeat {
        heartbeat(config)?;
        if service.health_check.is_some() || service.custom_health_check.is_some() {
            return Err(invalid(
                "a service's health comes from one source: HeartbeatConfig, HealthCheckConfig or HealthCheckCustomConfig",
            ));
        }
    }
    tags(&service.tags)
}

/// Checks an instance id. Where the id becomes a DNS label (services with SRV
/// records name their targets `<id>.<service>.<namespace>`), it must be one.
pub fn instance_id(id: &str, service: &Service) -> Result<()> {
    if id.is_empty() || id.len() > MAX_INSTANCE_ID {
        return Err(invalid(format!(
            "InstanceId must be 1 to {MAX_INSTANCE_ID} characters"
        )));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || "_/:.@-".contains(c);
    if let Some(bad) = id.chars().find(|c| !legal(*c)) {
        return Err(invalid(format!(
            "InstanceId '{id}' contains '{bad}'; use letters, digits and _/:.@-"
        )));
    }
    let names_target = service
        .dns
        .as_ref()
        .is_some_and(|dns| dns.has(RecordKind::Srv));
    if names_target {
        check_label(id, false).map_err(|why| {
            invalid(format!(
                "InstanceId '{id}' {why}; in a service with SRV records it names the target host <id>.{}",
                service.name
            ))
        })?;
    }
    Ok(())
}

fn attribute_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY || !key.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(invalid(format!(
            "attribute key '{key}' must be 1 to {MAX_ATTRIBUTE_KEY} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

fn attribute_value(key: &str, value: &str) -> Result<()> {
    let legal = |c: char| c.is_ascii_graphic() || c == ' ' || c == '\t';
    if value.len() > MAX_ATTRIBUTE_VALUE
        || !value.chars().all(legal)
        || value.starts_with([' ', '\t'])
    {
        return Err(invalid(format!(
            "attribute '{key}' must be at most {MAX_ATTRIBUTE_VALUE} printable ASCII characters, not starting with a space"
        )));
    }
    Ok(())
}

fn parse_reserved<T: std::str::FromStr>(
    attributes: &BTreeMap<String, String>,
    key: &str,
    expected: &str,
) -> Result<Option<T>> {
    attributes
        .get(key)
        .map(|value| {
            value
                .parse()
                .map_err(|_| invalid(format!("{key} '{value}' is not {expected}")))
        })
        .transpose()
}

/// Checks an instance's attributes against Cloud Map's limits and its
/// service's template, and parses what DNS needs out of them.
pub fn endpoint(attributes: &BTreeMap<String, String>, service: &Service) -> Result<Endpoint> {
    let mut custom = 0;
    let mut total = 0;
    for (key, value) in attributes {
        attribute_key(key)?;
        attribute_value(key, value)?;
        total += key.len() + value.len();
        if !RESERVED.contains(&key.as_str()) {
            custom += 1;
        }
    }
    if custom > MAX_CUSTOM_ATTRIBUTES {
        return Err(invalid(format!(
            "an instance may carry at most {MAX_CUSTOM_ATTRIBUTES} custom attributes, got {custom}"
        )));
    }
    if total > MAX_ATTRIBUTES_TOTAL {
        return Err(invalid(format!(
            "attributes total {total} characters; the limit is {MAX_ATTRIBUTES_TOTAL}"
        )));
    }
    for unsupported in ["AWS_ALIAS_DNS_NAME", "AWS_EC2_INSTANCE_ID"] {
        if attributes.contains_key(unsupported) {
            return Err(invalid(format!(
                "{unsupported} names an AWS resource; cairn does not support it"
            )));
        }
    }
    let ipv4: Option<Ipv4Addr> = parse_reserved(attributes, ATTR_IPV4, "an IPv4 address")?;
    let ipv6: Option<Ipv6Addr> = parse_reserved(attributes, ATTR_IPV6, "an IPv6 address")?;
    let port: Option<u16> = parse_reserved(attributes, ATTR_PORT, "a port from 0 to 65535")?;
    let cname = attributes
        .get(ATTR_CNAME)
        .map(|name| dns_name(ATTR_CNAME, name, false))
        .transpose()?;
    initial_health(attributes)?;
    let weight = match parse_reserved::<u32>(attributes, ATTR_WEIGHT, "a whole number")? {
        Some(weight) if weight > MAX_WEIGHT => {
            return Err(invalid(format!(
                "{ATTR_WEIGHT} must be 0 to {MAX_WEIGHT}, got {weight}"
            )));
        }
        Some(weight) => weight,
        None => 1,
    };

    if let Some(dns) = &service.dns {
        let needs = |kind| dns.has(kind);
        // A+AAAA takes either address or both, as Cloud Map does; a single
        // address type needs its own.
        let missing = match (needs(RecordKind::A), needs(RecordKind::Aaaa)) {
            (true, true) if ipv4.is_none() && ipv6.is_none() => Some((
                "A and AAAA",
                format!("{ATTR_IPV4} or {ATTR_IPV6} (or both)"),
            )),
            (true, false) if ipv4.is_none() => Some(("A", ATTR_IPV4.to_string())),
            (false, true) if ipv6.is_none() => Some(("AAAA", ATTR_IPV6.to_string())),
            _ => None,
        };
        if let Some((kinds, attribute)) = missing {
            return Err(invalid(format!(
                "service '{}' has {kinds} records, so the instance needs {attribute}",
                service.name
            )));
        }
        if needs(RecordKind::Srv) {
            if port.is_none() {
                return Err(invalid(format!(
                    "service '{}' has SRV records, so the instance needs {ATTR_PORT}",
                    service.name
                )));
            }
            if ipv4.is_none() && ipv6.is_none() {
                return Err(invalid(format!(
                    "service '{}' has SRV records, so the instance needs {ATTR_IPV4} or {ATTR_IPV6} for its target host",
                    service.name
                )));
            }
        }
        if needs(RecordKind::Cname) && cname.is_none() {
            return Err(invalid(format!(
                "service '{}' has CNAME records, so the instance needs {ATTR_CNAME}",
                service.name
            )));
        }
    }
    if service.health_check.is_some() && port.is_none() {
        return Err(invalid(format!(
            "service '{}' has a health check, so the instance needs {ATTR_PORT} to probe",
            service.name
        )));
    }
    Ok(Endpoint {
        ipv4,
        ipv6,
        port,
        cname: cname.map(String::into_boxed_str),
        weight,
    })
}

/// Parses `AWS_INIT_HEALTH_STATUS`, if given. Only a service with a custom
/// health check starts instances with it (see `Registry::register_instance`);
/// elsewhere instances start UNKNOWN.
pub fn initial_health(attributes: &BTreeMap<String, String>) -> Result<Option<HealthStatus>> {
    match attributes.get(ATTR_INIT_HEALTH).map(String::as_str) {
        None => Ok(None),
        Some("HEALTHY") => Ok(Some(HealthStatus::Healthy)),
        Some("UNHEALTHY") => Ok(Some(HealthStatus::Unhealthy)),
        Some(other) => Err(invalid(format!(
            "{ATTR_INIT_HEALTH} must be HEALTHY or UNHEALTHY, got '{other}'"
        ))),
    }
}

pub fn tags(tags: &Tags) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(RegistryError::TooManyTags(format!(
            "a resource may carry at most {MAX_TAGS} tags"
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.len() > MAX_TAG_KEY {
            return Err(invalid(format!(
                "tag key must be 1 to {MAX_TAG_KEY} characters"
            )));
        }
        if value.len() > MAX_TAG_VALUE {
            return Err(invalid(format!(
                "tag '{key}' has a value longer than {MAX_TAG_VALUE} characters"
            )));
        }
    }
    Ok(())
}
