//! A service a zones file declares that exists already: brought in line in
//! place where Cloud Map's UpdateService allows it (TTLs, the description,
//! the health check), replaced where it does not (record types, routing
//! policy, custom health check, heartbeat) — if that is safe.
//!
//! Zones are applied before the admin socket is bound, so "delete the
//! service through the API first" is advice nobody can follow. Instead the
//! file wins when replacing the service loses nothing the file does not
//! declare: the service's instances are deregistered, the service deleted,
//! and it is created again from the file with its declared instances. Each
//! step is durable before the next, and every state in between is one the
//! next start from the same file finishes: a service with the old template
//! and only declared instances (some gone) is replaced again; no service is
//! created; the new service without its instances gets them registered.
//!
//! The registry does not record who registered an instance, so an instance
//! counts as the file's when the file declares its id (case ignored): an
//! instance registered at run time under such an id would be overwritten by
//! the file at every start anyway. Any other instance — registered at run
//! time, or declared by an earlier version of the file and since removed —
//! blocks the replacement, and start-up stops naming it and the fixes.

use std::collections::HashSet;

use crate::config::zones::{ZoneService, ZoneSource};
use crate::registry::{DnsTemplate, Namespace, RegistryError, Service, ServiceUpdate};
use crate::writer::Writer;

use super::ZonesError;

/// What became of an existing service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reconciled {
    /// It was as declared, or has been brought in line in place.
    InPlace,
    /// It has been deleted, its instances first, to be created again from
    /// the file.
    Deleted,
}

/// Brings `existing`, the file's `services[index]`, in line with
/// `declared`.
pub(super) async fn service(
    file: &ZoneSource,
    namespace: &Namespace,
    index: usize,
    writer: &Writer,
    existing: &Service,
    declared: &ZoneService,
) -> Result<Reconciled, ZonesError> {
    let context = format!("services[{index}] \"{}\"", declared.name);
    let refused =
        |error: RegistryError| ZonesError::refused(&file.path, format!("{context}: {error}"));
    if let Some(change) = fixed_change(existing, declared) {
        replace(
            file, namespace, &context, writer, existing, declared, &change,
        )
        .await?;
        return Ok(Reconciled::Deleted);
    }
    let unchanged = records(&existing.dns) == records(&declared.dns)
        && existing.health_check == declared.health_check
        && (declared.description.is_none() || existing.description == declared.description);
    if !unchanged {
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
            .map_err(refused)?;
    }
    Ok(Reconciled::InPlace)
}

fn records(dns: &Option<DnsTemplate>) -> Option<Vec<crate::registry::DnsRecord>> {
    dns.as_ref().map(|dns| dns.records.clone())
}

/// What the declaration changes that an update cannot, in words for the
/// operator (`record types A → A+SRV`); `None` when an update will do.
fn fixed_change(existing: &Service, declared: &ZoneService) -> Option<String> {
    let types = |dns: &Option<DnsTemplate>| match dns {
        None => "none (API only)".to_string(),
        Some(dns) => {
            let mut kinds: Vec<&str> = dns.records.iter().map(|r| r.kind.as_str()).collect();
            kinds.sort_unstable();
            kinds.join("+")
        }
    };
    let policy = |dns: &Option<DnsTemplate>| {
        dns.as_ref()
            .map_or("none", |dns| dns.routing_policy.as_str())
    };
    let (old, new) = (types(&existing.dns), types(&declared.dns));
    if old != new {
        return Some(format!("record types {old} → {new}"));
    }
    let (old, new) = (policy(&existing.dns), policy(&declared.dns));
    if old != new {
        return Some(format!("routing policy {old} → {new}"));
    }
    if existing.custom_health_check != declared.custom_health_check {
        return Some("custom health check".to_string());
    }
    if existing.heartbeat != declared.heartbeat {
        return Some("heartbeat".to_string());
    }
    None
}

/// Deletes the service, its instances first, so it can be created again
/// from the file — or refuses, changing nothing, when it has instances the
/// file does not declare (see the module docs).
async fn replace(
    file: &ZoneSource,
    namespace: &Namespace,
    context: &str,
    writer: &Writer,
    existing: &Service,
    declared: &ZoneService,
    change: &str,
) -> Result<(), ZonesError> {
    let refused =
        |error: RegistryError| ZonesError::refused(&file.path, format!("{context}: {error}"));
    let instances = writer
        .registry()
        .list_instances(&existing.id)
        .map_err(refused)?;
    let declared_ids: HashSet<String> = declared
        .instances
        .iter()
        .map(|instance| instance.id.to_ascii_lowercase())
        .collect();
    let undeclared: Vec<&str> = instances
        .iter()
        .map(|instance| instance.id.as_str())
        .filter(|id| !declared_ids.contains(&id.to_ascii_lowercase()))
        .collect();
    if let Some(first) = undeclared.first() {
        const NAMED: usize = 10;
        let mut names = undeclared
            .iter()
            .take(NAMED)
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(", ");
        if undeclared.len() > NAMED {
            names.push_str(&format!(" and {} more", undeclared.len() - NAMED));
        }
        let service = format!("{}.{}", existing.name, namespace.name);
        return Err(ZonesError::refused(
            &file.path,
            format!(
                "{context}: the file changes the service's {change}, which cannot change in place, so the service would have to be replaced; but it has instances this file does not declare (registered at run time, or removed from the file): {names}. Replacing it would drop them, so nothing was changed. Either restore the service's previous {change} in this file, or start cairn with the previous file, deregister them (`cairn instance deregister --service {service} --id {first}`, and so on for each) and start again with this file; or declare them in this file"
            ),
        ));
    }
    tracing::info!(
        file = %file.path.display(),
        namespace = %namespace.name,
        service = %existing.name,
        change,
        instances = instances.len(),
        "replacing the service: the zones file changed what cannot change in place; its declared instances are registered again"
    );
    for instance in &instances {
        writer
            .deregister_instance(&existing.id, &instance.id)
            .await
            .map_err(refused)?;
    }
    writer.delete_service(&existing.id).await.map_err(refused)
}
