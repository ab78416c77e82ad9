//! A batch of a zones file's services and their static instances: new
//! services created, existing ones reconciled, changed instances
//! registered, all in bulk.

use crate::config::zones::{ZoneService, ZoneSource};
use crate::registry::{InstanceRegistration, Namespace, NewService, RegistryError, Service};
use crate::writer::Writer;

use super::reconcile::{self, Reconciled};
use super::{Applied, ZonesError};

/// Brings a batch of a file's services and their instances into the
/// registry; `first` is the index of the first in the file. Errors name the
/// file and the entry the registry refused.
pub(super) async fn apply(
    file: &ZoneSource,
    namespace: &Namespace,
    first: usize,
    declared: Vec<ZoneService>,
    writer: &Writer,
    applied: &mut Applied,
) -> Result<(), ZonesError> {
    let refused = |context: String, error: RegistryError| {
        ZonesError::refused(&file.path, format!("{context}: {error}"))
    };
    let registry = writer.registry();
    // New services and changed instances go in bulk: one commit for many,
    // so a large zones directory does not cost one fsync per entry.
    let mut services = Vec::with_capacity(declared.len());
    let mut created = Vec::new();
    for (index, declared) in (first..).zip(&declared) {
        match registry.service_by_name(&namespace.name, &declared.name) {
            Ok(existing) => {
                let reconciled =
                    reconcile::service(file, namespace, index, writer, &existing, declared).await?;
                match reconciled {
                    Reconciled::InPlace => services.push(Some(existing)),
                    Reconciled::Deleted => {
                        applied.replaced += 1;
                        created.push(new_service(namespace, declared));
                        services.push(None);
                    }
                }
            }
            Err(_) => {
                created.push(new_service(namespace, declared));
                services.push(None);
            }
        }
    }
    let mut created = writer
        .create_services(created)
        .await
        .map_err(|error| refused("services".to_string(), error))?
        .into_iter();
    let services: Vec<Service> = services
        .into_iter()
        .map(|existing| existing.or_else(|| created.next()))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            ZonesError::refused(&file.path, "services: fewer were created than declared")
        })?;
    applied.services += services.len();

    let mut registrations = Vec::new();
    for (service, declared) in services.iter().zip(declared) {
        for instance in declared.instances {
            applied.instances += 1;
            let current = registry.get_instance(&service.id, &instance.id);
            if current.is_ok_and(|current| current.attributes == instance.attributes) {
                continue;
            }
            registrations.push(InstanceRegistration {
                service_id: service.id.clone(),
                instance_id: instance.id,
                attributes: instance.attributes,
                creator_request_id: None,
            });
        }
    }
    writer
        .register_instances(registrations)
        .await
        .map_err(|error| refused("instances".to_string(), error))?;
    Ok(())
}

/// The service a declaration creates.
fn new_service(namespace: &Namespace, declared: &ZoneService) -> NewService {
    NewService {
        region: None,
        namespace_id: namespace.id.clone(),
        name: declared.name.clone(),
        description: declared.description.clone(),
        dns: declared.dns.clone(),
        health_check: declared.health_check.clone(),
        custom_health_check: declared.custom_health_check,
        heartbeat: declared.heartbeat,
        creator_request_id: None,
        tags: declared.tags.clone(),
    }
}
