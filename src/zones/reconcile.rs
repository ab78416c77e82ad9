//! A service a zones file declares that exists already: what may change in
//! place (TTLs, the description, the health check) and what may not.

use crate::config::zones::ZoneService;
use crate::registry::{DnsTemplate, RegistryError, Service, ServiceUpdate, Writer};

/// Brings an existing service in line with its declaration: TTLs, the
/// description and the health check may change; record types and the custom
/// health check may not (Cloud Map's UpdateService rules).
pub(super) async fn service(
    writer: &Writer,
    existing: &Service,
    declared: &ZoneService,
) -> Result<(), RegistryError> {
    if existing.heartbeat != declared.heartbeat {
        return Err(RegistryError::invalid(
            "the service exists with a different heartbeat, which cannot change; delete the service through the API first",
        ));
    }
    if existing.custom_health_check != declared.custom_health_check {
        return Err(RegistryError::invalid(
            "the service exists with a different custom health check, which cannot change; delete the service through the API first",
        ));
    }
    let records = |dns: &Option<DnsTemplate>| dns.as_ref().map(|dns| dns.records.clone());
    let same_policy = existing.dns.as_ref().map(|dns| dns.routing_policy)
        == declared.dns.as_ref().map(|dns| dns.routing_policy);
    if existing.dns.is_some() != declared.dns.is_some() || !same_policy {
        return Err(RegistryError::invalid(
            "the service exists with a different DNS template or routing policy, which cannot change; delete the service through the API first",
        ));
    }
    let unchanged = records(&existing.dns) == records(&declared.dns)
        && existing.health_check == declared.health_check
        && (declared.description.is_none() || existing.description == declared.description);
    if unchanged {
        return Ok(());
    }
    writer
        .update_service(
            &existing.id,
            ServiceUpdate {
                description: declared.description.clone(),
                dns_records: records(&declared.dns),
                health_check: declared.health_check.clone(),
            },
        )
        .await
        .map(|_| ())
}
