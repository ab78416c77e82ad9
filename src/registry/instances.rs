//! Instances and their health.

use std::time::Instant;

use super::model::{HealthCheckConfig, HealthStatus, Instance, Operation, OperationType, Service};
use super::operations::{Targets, succeeded};
use super::{
    Attributes, Change, InstanceRegistration, Now, Pending, Plan, Registry, RegistryError, Result,
    ServiceEntry, validate,
};

/// An instance about to be created or replaced.
#[derive(Debug)]
pub struct Registration {
    service_id: String,
    instance: Instance,
    operation: Operation,
    /// Whether the operation goes in the log: not for bulk loads (zones/
    /// at start-up), which would push every API call's operation out of
    /// the bounded log.
    logged: bool,
    /// When it was planned: a registration restarts the heartbeat clock.
    at: Instant,
}

impl Registration {
    /// The same registration, without an operation record.
    pub(crate) fn unlogged(self) -> Self {
        Self {
            logged: false,
            ..self
        }
    }
}

impl Pending for Registration {
    type Output = String;
    fn changes(&self) -> Vec<Change> {
        vec![
            Change::Instance {
                service_id: self.service_id.clone(),
                instance: self.instance.clone(),
            },
            Change::Operation(self.operation.clone()),
        ]
        .into_iter()
        .filter(|change| self.logged || !matches!(change, Change::Operation(_)))
        .collect()
    }
}

/// An instance about to be removed.
#[derive(Debug)]
pub struct Deregistration {
    service_id: String,
    instance_id: String,
    operation: Operation,
}

impl Pending for Deregistration {
    type Output = String;
    fn changes(&self) -> Vec<Change> {
        vec![
            Change::InstanceDeleted {
                service_id: self.service_id.clone(),
                instance_id: self.instance_id.clone(),
            },
            Change::Operation(self.operation.clone()),
        ]
    }
}

/// An instance with a new health status.
#[derive(Debug)]
pub struct HealthChange {
    service_id: String,
    instance: Instance,
}

impl Pending for HealthChange {
    /// Whether the status changed.
    type Output = bool;
    fn changes(&self) -> Vec<Change> {
        vec![Change::Instance {
            service_id: self.service_id.clone(),
            instance: self.instance.clone(),
        }]
    }
}

fn instance_not_found(instance_id: &str, service: &Service) -> RegistryError {
    RegistryError::InstanceNotFound(format!(
        "no instance '{instance_id}' in service '{}'",
        service.name
    ))
}

impl ServiceEntry {
    /// The instance registered under exactly this id, or InstanceNotFound.
    /// The table finds ids whatever their case; the API answers only for the
    /// id as registered.
    pub(super) fn instance(&self, instance_id: &str) -> Result<&Instance> {
        self.instances
            .get(instance_id)
            .filter(|instance| instance.id == instance_id)
            .ok_or_else(|| instance_not_found(instance_id, &self.service))
    }
}

impl Registry {
    /// Creates an instance or replaces its attributes; returns the id of the
    /// REGISTER_INSTANCE operation. A retry with the same CreatorRequestId
    /// changes nothing and returns the first call's operation.
    pub(crate) fn plan_register_instance(
        &self,
        registration: InstanceRegistration,
        now: Now,
    ) -> Result<Plan<Registration>> {
        validate::request_id(
            "CreatorRequestId",
            registration.creator_request_id.as_deref(),
        )?;
        let entry = self.service_entry(&registration.service_id)?;
        let instance_id = registration.instance_id;
        validate::instance_id(&instance_id, &entry.service)?;
        if entry.service.names_instances() {
            validate::instance_host_length(
                &instance_id,
                &entry.service.name,
                &entry.namespace_name,
            )?;
        }
        if let Some(token) = &registration.creator_request_id
            && let Some((first_instance, operation)) = entry
                .registrations
                .as_deref()
                .and_then(|registrations| registrations.get(token))
        {
            match operation {
                Some(operation) if *first_instance == instance_id => {
                    return Ok(Plan::Done(operation.clone()));
                }
                // Restored from disk: the first call's operation is not
                // known, so the retry registers again (to the same effect).
                None if *first_instance == instance_id => {}
                _ => {
                    return Err(RegistryError::DuplicateRequest {
                        message: format!(
                            "CreatorRequestId '{token}' was already used to register instance '{first_instance}'"
                        ),
                        operation_id: operation.clone(),
                    });
                }
            }
        }
        let endpoint = validate::endpoint(&registration.attributes, &entry.service)?;
        let previous = entry.instances.get(&instance_id);
        if let Some(existing) = previous
            && existing.id != instance_id
        {
            return Err(RegistryError::invalid(format!(
                "instance '{}' exists already; ids differing only in case would share one DNS name",
                existing.id
            )));
        }
        let initial_health = validate::initial_health(&registration.attributes)?;
        let instance = Instance {
            created_at: previous.map_or(now.wall, |p| p.created_at),
            health: match previous {
                Some(previous) => previous.health,
                None => starting_health(&entry.service, initial_health),
            },
            id: instance_id.clone(),
            attributes: Attributes::from(registration.attributes),
            endpoint,
            creator_request_id: registration.creator_request_id.map(Into::into),
            updated_at: now.wall,
        };
        let operation = succeeded(
            OperationType::RegisterInstance,
            Targets {
                namespace_id: Some(entry.service.namespace_id.clone()),
                service_id: Some(entry.service.id.clone()),
                instance_id: Some(instance_id),
            },
            now.wall,
        );
        Ok(Plan::Apply(Registration {
            service_id: entry.service.id.clone(),
            instance,
            operation,
            logged: true,
            at: now.instant,
        }))
    }

    pub(crate) fn apply_register_instance(&self, pending: Registration) -> String {
        let Registration {
            service_id,
            instance,
            operation,
            logged,
            at,
        } = pending;
        let operation_id = operation.id.clone();
        let Some(mut entry) = self.inner.services.get_mut(service_id.as_str()) else {
            tracing::error!(service = %service_id, instance = %instance.id, "a registration to a service that is gone was not applied");
            return operation_id;
        };
        let id = instance.id.clone();
        entry.register(instance, &operation_id, at);
        self.each_observer(|observer| observer.service_changed(entry.view_of(&id)));
        drop(entry);
        if logged {
            self.inner.operations.insert(operation);
        }
        operation_id
    }

    /// Applies many registrations (a bulk load) and returns their operation
    /// ids in the same order. Each service's registrations are applied in
    /// order under one hold of its entry, and its observers hear once, after
    /// the last: a service loaded with n instances is compiled once, not n
    /// times (which, each compile being O(n), made large services O(n²)).
    pub(crate) fn apply_register_instances(&self, pending: Vec<Registration>) -> Vec<String> {
        let mut operation_ids = vec![String::new(); pending.len()];
        let mut pending: Vec<(usize, Registration)> = pending.into_iter().enumerate().collect();
        // Stable, so each service's registrations keep their order.
        pending.sort_by(|(_, a), (_, b)| a.service_id.cmp(&b.service_id));
        let mut pending = pending.into_iter().peekable();
        while let Some((index, first)) = pending.next() {
            let mut group = vec![(index, first)];
            while let Some(next) = pending
                .next_if(|(_, registration)| registration.service_id == group[0].1.service_id)
            {
                group.push(next);
            }
            let mut entry = self.inner.services.get_mut(group[0].1.service_id.as_str());
            let mut operations = Vec::new();
            for (index, registration) in group {
                let Registration {
                    service_id,
                    instance,
                    operation,
                    logged,
                    at,
                } = registration;
                match entry.as_mut() {
                    Some(entry) => entry.register(instance, &operation.id, at),
                    None => {
                        tracing::error!(service = %service_id, instance = %instance.id, "a registration to a service that is gone was not applied");
                    }
                }
                operation_ids[index] = operation.id.clone();
                if logged {
                    operations.push(operation);
                }
            }
            if let Some(entry) = entry {
                self.each_observer(|observer| observer.service_changed(entry.view()));
            }
            for operation in operations {
                self.inner.operations.insert(operation);
            }
        }
        operation_ids
    }

    /// Removes an instance; returns the id of the DEREGISTER_INSTANCE
    /// operation.
    pub(crate) fn plan_deregister_instance(
        &self,
        service_id: &str,
        instance_id: &str,
        now: Now,
    ) -> Result<Plan<Deregistration>> {
        let entry = self.service_entry(service_id)?;
        entry.instance(instance_id)?;
        let operation = succeeded(
            OperationType::DeregisterInstance,
            Targets {
                namespace_id: Some(entry.service.namespace_id.clone()),
                service_id: Some(entry.service.id.clone()),
                instance_id: Some(instance_id.to_string()),
            },
            now.wall,
        );
        Ok(Plan::Apply(Deregistration {
            service_id: entry.service.id.clone(),
            instance_id: instance_id.to_string(),
            operation,
        }))
    }

    pub(crate) fn apply_deregister_instance(&self, pending: Deregistration) -> String {
        let Deregistration {
            service_id,
            instance_id,
            operation,
        } = pending;
        let operation_id = operation.id.clone();
        if let Some(mut entry) = self.inner.services.get_mut(service_id.as_str()) {
            entry.instances.remove(&instance_id);
            if let Some(heartbeats) = &mut entry.heartbeats {
                heartbeats.remove(instance_id.as_str());
            }
            if let Some(registrations) = &mut entry.registrations {
                registrations.remove_instance(&instance_id);
            }
            entry.bump();
            self.each_observer(|observer| observer.service_changed(entry.view_of(&instance_id)));
            tracing::debug!(namespace = %entry.namespace_name, service = %entry.service.name, instance = %instance_id, "instance deregistered");
        }
        self.inner.operations.insert(operation);
        operation_id
    }

    /// One instance of a service.
    pub fn get_instance(&self, service_id: &str, instance_id: &str) -> Result<Instance> {
        let entry = self.service_entry(service_id)?;
        entry.instance(instance_id).cloned()
    }

    /// Every instance of a service, ordered by id (case ignored).
    pub fn list_instances(&self, service_id: &str) -> Result<Vec<Instance>> {
        let entry = self.service_entry(service_id)?;
        Ok(entry.instances.sorted().into_iter().cloned().collect())
    }

    /// Sets an instance's health. `custom` calls
    /// (UpdateInstanceCustomHealthStatus) need a service with
    /// HealthCheckCustomConfig. Returns whether the status changed.
    pub(crate) fn plan_set_health(
        &self,
        service_id: &str,
        instance_id: &str,
        status: HealthStatus,
        custom: bool,
    ) -> Result<Plan<HealthChange>> {
        let entry = self.service_entry(service_id)?;
        if custom && entry.service.custom_health_check.is_none() {
            return Err(RegistryError::CustomHealthNotFound(format!(
                "service '{}' has no HealthCheckCustomConfig",
                entry.service.name
            )));
        }
        if status == HealthStatus::Unknown {
            return Err(RegistryError::invalid(
                "Status must be HEALTHY or UNHEALTHY",
            ));
        }
        let mut instance = entry.instance(instance_id)?.clone();
        if instance.health == status {
            return Ok(Plan::Done(false));
        }
        instance.health = status;
        Ok(Plan::Apply(HealthChange {
            service_id: entry.service.id.clone(),
            instance,
        }))
    }

    pub(crate) fn apply_set_health(&self, pending: HealthChange) -> bool {
        let HealthChange {
            service_id,
            instance,
        } = pending;
        let Some(mut entry) = self.inner.services.get_mut(service_id.as_str()) else {
            return false;
        };
        let Some(current) = entry.instances.get_mut(&instance.id) else {
            return false;
        };
        current.health = instance.health;
        entry.bump();
        self.each_observer(|observer| observer.service_changed(entry.view_of(&instance.id)));
        tracing::info!(namespace = %entry.namespace_name, service = %entry.service.name, instance = %instance.id, status = instance.health.as_str(), "health changed");
        true
    }

    /// Shows `visit` every instance of every service with an active health
    /// check, copying nothing: the health loop asks every round, and most
    /// services of a large registry have no check, so cloning every service
    /// to find the few that do cost a million-instance server 100 MB a
    /// round. `visit` runs while the service's entry is held.
    pub fn visit_health_checked(
        &self,
        mut visit: impl FnMut(&Service, &HealthCheckConfig, &Instance),
    ) {
        self.visit_watched(|entry| {
            let Some(check) = &entry.service.health_check else {
                return;
            };
            for instance in entry.instances.values() {
                visit(&entry.service, check, instance);
            }
        });
    }

    /// The health of some (or, with `None`, all) of a service's instances.
    pub fn health_statuses(
        &self,
        service_id: &str,
        instance_ids: Option<&[String]>,
    ) -> Result<Vec<(String, HealthStatus)>> {
        let instances = self.list_instances(service_id)?;
        match instance_ids {
            None => Ok(instances.into_iter().map(|i| (i.id, i.health)).collect()),
            Some(ids) => ids
                .iter()
                .map(|id| {
                    instances
                        .iter()
                        .find(|instance| instance.id == *id)
                        .map(|instance| (instance.id.clone(), instance.health))
                        .ok_or_else(|| {
                            RegistryError::InstanceNotFound(format!(
                                "no instance '{id}' in this service"
                            ))
                        })
                })
                .collect(),
        }
    }
}

impl ServiceEntry {
    /// Puts a registered instance in, replacing one with its id; the caller
    /// tells the observers.
    pub(super) fn register(&mut self, instance: Instance, operation_id: &str, at: Instant) {
        if let Some(token) = &instance.creator_request_id {
            self.registrations.get_or_insert_default().insert(
                token,
                &instance.id,
                Some(operation_id.to_string()),
            );
        }
        tracing::debug!(namespace = %self.namespace_name, service = %self.service.name, instance = %instance.id, "instance registered");
        if self.service.heartbeat.is_some() {
            // A registration is a sign of life: the heartbeat clock starts.
            let heartbeats = self.heartbeats.get_or_insert_default();
            heartbeats.insert(instance.id.clone(), at);
        }
        self.instances.insert(instance);
        self.bump();
    }
}

/// The health a new instance starts with: `AWS_INIT_HEALTH_STATUS` under a
/// custom check (HEALTHY by default); otherwise UNKNOWN, which DNS serves,
/// until a probe says otherwise. Cloud Map reports UNKNOWN where nothing
/// checks.
fn starting_health(service: &Service, initial: Option<HealthStatus>) -> HealthStatus {
    if service.custom_health_check.is_some() {
        initial.unwrap_or(HealthStatus::Healthy)
    } else {
        HealthStatus::Unknown
    }
}
