//! Services: the DNS templates inside namespaces.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::model::{Instance, NamespaceType, Operation, OperationType, RecordKind, Service, Tags};
use super::operations::{Targets, succeeded};
use super::registrations::Registrations;
use super::{
    Change, Instances, NewService, Now, Pending, Plan, Registry, RegistryError, Result,
    ServiceEntry, ServiceUpdate, id_from_arn, ids, validate,
};

/// A service about to be created.
#[derive(Debug)]
pub struct ServiceCreation {
    service: Service,
    /// When it was planned: where a heartbeat service's clocks start.
    at: Instant,
}

impl Pending for ServiceCreation {
    type Output = Service;
    fn changes(&self) -> Vec<Change> {
        vec![Change::Service(self.service.clone())]
    }
}

/// A service as it will be after an update.
#[derive(Debug)]
pub struct ServiceChange {
    service: Service,
    operation: Operation,
}

impl Pending for ServiceChange {
    type Output = String;
    fn changes(&self) -> Vec<Change> {
        vec![
            Change::Service(self.service.clone()),
            Change::Operation(self.operation.clone()),
        ]
    }
}

/// A service about to be deleted.
#[derive(Debug)]
pub struct ServiceDeletion {
    service: Service,
}

impl Pending for ServiceDeletion {
    type Output = ();
    fn changes(&self) -> Vec<Change> {
        vec![Change::ServiceDeleted {
            service_id: self.service.id.clone(),
        }]
    }
}

pub(super) fn not_found(id: &str) -> RegistryError {
    RegistryError::ServiceNotFound(format!("no service with id '{id}'"))
}

impl Registry {
    /// Creates a service in a namespace. A retry with the same
    /// CreatorRequestId returns the service created the first time.
    pub(crate) fn plan_create_service(
        &self,
        new: NewService,
        now: Now,
    ) -> Result<Plan<ServiceCreation>> {
        let name = validate::service_name(&new.name)?;
        validate::request_id("CreatorRequestId", new.creator_request_id.as_deref())?;
        validate::region(new.region.as_deref())?;
        let namespace = self.get_namespace(&new.namespace_id)?;
        if namespace.kind == NamespaceType::Http && new.dns.is_some() {
            return Err(RegistryError::invalid(format!(
                "namespace '{}' is an HTTP namespace; its services cannot have DnsConfig",
                namespace.name
            )));
        }
        let names_instances = new.dns.as_ref().is_some_and(|dns| dns.has(RecordKind::Srv));
        if namespace.kind.has_dns() {
            validate::service_fqdn_length(&name, &namespace.name, names_instances)?;
        }
        let service = Service {
            id: ids::service_id(),
            namespace_id: namespace.id.clone(),
            name,
            description: new.description,
            dns: new.dns,
            health_check: new.health_check,
            custom_health_check: new.custom_health_check,
            heartbeat: new.heartbeat,
            creator_request_id: new.creator_request_id,
            created_at: now.wall,
            tags: new.tags,
            revision: 1,
            instance_count: 0,
            region: new.region,
            attributes: Tags::new(),
        };
        validate::service(&service)?;
        let key = (
            Arc::<str>::from(namespace.id.as_str()),
            service.name.to_ascii_lowercase().into_boxed_str(),
        );
        if let Some(existing_id) = self.inner.service_ids.get(&key).map(|id| Arc::clone(&id))
            && let Some(existing) = self.service(&existing_id)
        {
            if service.creator_request_id.is_some()
                && existing.creator_request_id == service.creator_request_id
            {
                return Ok(Plan::Done(existing));
            }
            return Err(RegistryError::ServiceAlreadyExists {
                message: format!(
                    "a service named '{}' exists already in namespace '{}' ({})",
                    existing.name, namespace.name, existing.id
                ),
                service_id: existing.id,
                creator_request_id: existing.creator_request_id,
            });
        }
        if namespace.kind.has_dns() {
            self.check_new_service_name(
                &namespace.id,
                &namespace.name,
                &service.name,
                names_instances,
            )?;
        }
        Ok(Plan::Apply(ServiceCreation {
            service,
            at: now.instant,
        }))
    }

    pub(crate) fn apply_create_service(&self, pending: ServiceCreation) -> Service {
        let (service, created) = self.create_planned(pending);
        if created {
            tracing::info!(service = %service.name, id = %service.id, "service created");
        }
        service
    }

    /// Creates planned services in bulk, as a zones file does: by the
    /// hundred thousand, so each is logged at DEBUG only.
    pub(crate) fn apply_create_services(&self, pending: Vec<ServiceCreation>) -> Vec<Service> {
        pending
            .into_iter()
            .map(|pending| {
                let (service, created) = self.create_planned(pending);
                if created {
                    tracing::debug!(service = %service.name, id = %service.id, "service created");
                }
                service
            })
            .collect()
    }

    /// The service, and whether it was created: its namespace may have
    /// gone since the plan.
    fn create_planned(&self, pending: ServiceCreation) -> (Service, bool) {
        let ServiceCreation { service, at } = pending;
        let _structure = self.structure();
        match self.insert_service(service.clone(), Vec::new(), at) {
            Ok(()) => (service, true),
            Err(error) => {
                tracing::error!(service = %service.name, %error, "a service planned in a namespace that is gone was not created");
                (service, false)
            }
        }
    }

    /// Puts a service and its instances in as they are (creation, and the
    /// store restoring state); heartbeat clocks start at `now`.
    pub(crate) fn insert_service(
        &self,
        service: Service,
        instances: Vec<Instance>,
        now: Instant,
    ) -> Result<()> {
        let instances: Instances = instances.into_iter().collect();
        let (namespace_id, namespace_name, namespace_kind, namespace_revision) = {
            let entry = self
                .inner
                .namespaces
                .get(&service.namespace_id)
                .ok_or_else(|| super::namespaces::not_found(&service.namespace_id))?;
            entry.revision.bump();
            if !self.inner.services.contains_key(service.id.as_str()) {
                entry.service_count.fetch_add(1, Ordering::SeqCst);
            }
            (
                Arc::clone(&entry.id),
                Arc::clone(&entry.name),
                entry.namespace.kind,
                Arc::clone(&entry.revision),
            )
        };
        let id: Arc<str> = service.id.as_str().into();
        if !self.inner.services.contains_key(&id) {
            self.note_service_name(&namespace_id, &service.name);
        }
        self.inner.service_ids.insert(
            (namespace_id, service.name.to_ascii_lowercase().into()),
            Arc::clone(&id),
        );
        let mut registrations = Registrations::default();
        for instance in instances.values() {
            if let Some(token) = instance.creator_request_id.as_deref() {
                registrations.insert(token, &instance.id, None);
            }
        }
        // Heartbeat clocks start now: they are not stored, so a restored
        // instance gets a full TTL to report in.
        let heartbeats = service.heartbeat.map(|_| {
            Box::new(
                instances
                    .values()
                    .map(|instance| (instance.id.clone(), now))
                    .collect::<HashMap<_, _>>(),
            )
        });
        let registrations = (!registrations.is_empty()).then(|| Box::new(registrations));
        let mut entry = ServiceEntry {
            service,
            instances,
            namespace_name,
            namespace_kind,
            namespace_revision,
            registrations,
            heartbeats,
        };
        entry.service.instance_count = entry.instances.len();
        // A round of the health loop between the two finds no entry yet
        // and passes it by.
        self.note_watched(&id, &entry.service);
        // Observers run under the entry's lock so that no later change to the
        // service can overtake this one on its way to them.
        let entry = self.inner.services.entry(id).insert(Box::new(entry));
        self.each_observer(|observer| observer.service_changed(entry.view()));
        Ok(())
    }

    /// The service with this id (or ARN).
    pub fn service(&self, id: &str) -> Option<Service> {
        self.inner
            .services
            .get(id_from_arn(id))
            .map(|entry| entry.snapshot())
    }

    /// The service with this id (or ARN), or ServiceNotFound.
    pub fn get_service(&self, id: &str) -> Result<Service> {
        self.service(id).ok_or_else(|| not_found(id))
    }

    /// The service with this name in the namespace with this name.
    pub fn service_by_name(&self, namespace_name: &str, service_name: &str) -> Result<Service> {
        let namespace_id = self.namespace_id_by_name(namespace_name).ok_or_else(|| {
            RegistryError::NamespaceNotFound(format!("no namespace named '{namespace_name}'"))
        })?;
        let key = (
            Arc::<str>::from(namespace_id),
            service_name.to_ascii_lowercase().into_boxed_str(),
        );
        let id = self
            .inner
            .service_ids
            .get(&key)
            .map(|id| Arc::clone(&id))
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!(
                    "no service named '{service_name}' in namespace '{namespace_name}'"
                ))
            })?;
        self.get_service(&id)
    }

    /// Every service, or those of one namespace, oldest first.
    pub fn list_services(&self, namespace_id: Option<&str>) -> Vec<Service> {
        let namespace_id = namespace_id.map(id_from_arn);
        let mut services: Vec<Service> = self
            .inner
            .services
            .iter()
            .filter(|entry| namespace_id.is_none_or(|id| entry.service.namespace_id == id))
            .map(|entry| entry.snapshot())
            .collect();
        services.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        services
    }

    /// Changes a service's description, record TTLs or health check.
    pub(crate) fn plan_update_service(
        &self,
        id: &str,
        update: ServiceUpdate,
        now: Now,
    ) -> Result<Plan<ServiceChange>> {
        let entry = self.service_entry(id)?;
        let mut service = entry.snapshot();
        if let Some(description) = update.description {
            service.description = Some(description);
        }
        if let Some(records) = update.dns_records {
            let Some(dns) = service.dns.as_mut() else {
                return Err(RegistryError::invalid(format!(
                    "service '{}' has no DNS records to update",
                    service.name
                )));
            };
            let mut old: Vec<RecordKind> = dns.records.iter().map(|r| r.kind).collect();
            let mut new: Vec<RecordKind> = records.iter().map(|r| r.kind).collect();
            old.sort();
            new.sort();
            if old != new {
                return Err(RegistryError::invalid(
                    "record types cannot change; only their TTLs can (delete and recreate the service to change types)",
                ));
            }
            dns.records = records;
        }
        if update.health_check.is_some() && service.custom_health_check.is_some() {
            return Err(RegistryError::invalid(
                "a service with HealthCheckCustomConfig cannot get a HealthCheckConfig",
            ));
        }
        service.health_check = update.health_check;
        validate::service(&service)?;
        if service.health_check.is_some()
            && let Some(instance) = entry.instances.values().find(|i| i.endpoint.port.is_none())
        {
            return Err(RegistryError::invalid(format!(
                "instance '{}' has no {}, which a health check needs",
                instance.id,
                validate::ATTR_PORT
            )));
        }
        service.revision += 1;
        let operation = succeeded(
            OperationType::UpdateService,
            Targets {
                namespace_id: Some(service.namespace_id.clone()),
                service_id: Some(service.id.clone()),
                instance_id: None,
            },
            now.wall,
        );
        Ok(Plan::Apply(ServiceChange { service, operation }))
    }

    pub(crate) fn apply_update_service(&self, pending: ServiceChange) -> String {
        let ServiceChange { service, operation } = pending;
        let _structure = self.structure();
        if let Some(mut entry) = self.inner.services.get_mut(service.id.as_str()) {
            entry.service.description = service.description;
            entry.service.dns = service.dns;
            entry.service.health_check = service.health_check;
            entry.service.tags = service.tags;
            entry.bump();
            self.note_watched(entry.key(), &entry.service);
            self.each_observer(|observer| observer.service_changed(entry.view()));
        } else {
            tracing::error!(service = %service.id, "an update to a service that is gone was not applied");
        }
        let id = operation.id.clone();
        self.inner.operations.insert(operation);
        id
    }

    /// Deletes a service that has no instances.
    pub(crate) fn plan_delete_service(&self, id: &str) -> Result<Plan<ServiceDeletion>> {
        let service = self.get_service(id)?;
        if service.instance_count > 0 {
            return Err(RegistryError::ResourceInUse(format!(
                "service '{}' has {} registered instances; deregister them before deleting the service",
                service.name, service.instance_count
            )));
        }
        Ok(Plan::Apply(ServiceDeletion { service }))
    }

    pub(crate) fn apply_delete_service(&self, pending: ServiceDeletion) {
        let _structure = self.structure();
        let Some((_, entry)) = self.inner.services.remove(pending.service.id.as_str()) else {
            return;
        };
        self.inner.watched.remove(entry.service.id.as_str());
        self.inner.service_ids.remove(&(
            Arc::<str>::from(entry.service.namespace_id.as_str()),
            entry.service.name.to_ascii_lowercase().into_boxed_str(),
        ));
        self.forget_service_name(&entry.service.namespace_id, &entry.service.name);
        entry.namespace_revision.bump();
        if let Some(namespace_entry) = self.inner.namespaces.get(&entry.service.namespace_id) {
            namespace_entry.service_count.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(namespace) = self.namespace(&entry.service.namespace_id) {
            self.each_observer(|observer| observer.service_removed(&namespace, &entry.service));
        }
        tracing::info!(namespace = %entry.namespace_name, service = %entry.service.name, "service deleted");
    }
}

impl Registry {
    /// How many instances each namespace holds, by namespace id: one pass
    /// over the services, counting each service's table without copying an
    /// instance (for the metrics scrape).
    pub fn instance_counts(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for entry in self.inner.services.iter() {
            *counts
                .entry(entry.service.namespace_id.clone())
                .or_default() += entry.instances.len();
        }
        counts
    }
}
