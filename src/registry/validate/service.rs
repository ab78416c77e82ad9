//! A service's template and its health checks.

use super::{MAX_TTL, description, invalid, tags};
use crate::registry::error::Result;
use crate::registry::model::{
    DnsTemplate, HealthCheckConfig, HealthCheckType, Heartbeat, RecordKind, RoutingPolicy, Service,
};

const MAX_RESOURCE_PATH: usize = 255;

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
        // The path goes into the probe's request line as it is: a space or a
        // CR/LF would split the request sent to the operator's instance.
        (_, Some(path)) if !path.bytes().all(|byte| byte.is_ascii_graphic()) => {
            Err(invalid(format!(
                "ResourcePath {path:?} may hold only printable ASCII without spaces; percent-encode anything else (%20 for a space)"
            )))
        }
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
