//! Changes another server made, as a shared store reports them: the write
//! front of a cluster node applies each [`Change`] of a committed
//! transaction here, in the store's order. There is nothing to plan —
//! another node planned and the store accepted it — so these apply the
//! facts as they are, with what a local apply does beside them (observers
//! told, service counts, names in the tree, heartbeat clocks).
//!
//! Also where a namespace's revision is pinned to the store's: see
//! `serial.rs`.

use std::sync::Arc;
use std::time::Instant;

use super::{Change, Plan, Registry, RegistryObserver};

impl Registry {
    /// Pins `namespace_id`'s revision (its SOA serial) to the store's
    /// `revision` and tells the observers if it moved. A namespace this
    /// registry does not hold is left alone.
    pub(crate) fn pin_revision(&self, namespace_id: &str, revision: u64) {
        let snapshot = {
            let Some(entry) = self.inner.namespaces.get(namespace_id) else {
                return;
            };
            if !entry.revision.pin(revision) {
                return;
            }
            entry.snapshot()
        };
        self.each_observer(|observer| observer.namespace_changed(&snapshot));
    }

    /// Applies one change committed by another server at the store's
    /// `revision`; heartbeat clocks of instances it registers start at
    /// `now`. A change that does not fit (an instance of a service that is
    /// gone) is logged and skipped: the store's next re-read puts it right.
    pub(crate) fn apply_stored(&self, change: Change, revision: u64, now: Instant) {
        match change {
            Change::Namespace(namespace) => self.store_namespace(namespace, revision),
            Change::NamespaceDeleted { namespace_id } => {
                let _structure = self.structure();
                if let Some((_, entry)) = self.inner.namespaces.remove(&namespace_id) {
                    self.inner
                        .namespace_ids
                        .remove(&entry.namespace.name.to_ascii_lowercase());
                    let namespace = entry.snapshot();
                    self.each_observer(|observer| observer.namespace_removed(&namespace));
                    tracing::info!(namespace = %namespace.name, id = %namespace.id, "namespace deleted (by another node)");
                }
            }
            Change::Service(service) => {
                let _structure = self.structure();
                if let Some(mut entry) = self.inner.services.get_mut(service.id.as_str()) {
                    let count = entry.instances.len();
                    entry.service = service;
                    entry.service.instance_count = count;
                    entry.bump();
                    self.note_watched(entry.key(), &entry.service);
                    self.each_observer(|observer| observer.service_changed(entry.view()));
                    return;
                }
                let name = service.name.clone();
                if let Err(error) = self.insert_service(service, Vec::new(), now) {
                    tracing::error!(service = %name, %error, "a service created by another node has no namespace here; it waits for the next re-read");
                }
            }
            Change::ServiceDeleted { service_id } => {
                // The same checks a local delete makes: no instances left.
                match self.plan_delete_service(&service_id) {
                    Ok(Plan::Apply(pending)) => self.apply_delete_service(pending),
                    Ok(Plan::Done(())) => {}
                    Err(error) => {
                        tracing::error!(service = %service_id, %error, "a service deleted by another node could not be deleted here");
                    }
                }
            }
            Change::Instance {
                service_id,
                instance,
            } => {
                let Some(mut entry) = self.inner.services.get_mut(service_id.as_str()) else {
                    tracing::error!(service = %service_id, instance = %instance.id, "an instance registered by another node has no service here");
                    return;
                };
                if let Some(token) = &instance.creator_request_id {
                    // The operation id stays unknown here, as for an
                    // instance restored from disk.
                    entry
                        .registrations
                        .get_or_insert_default()
                        .insert(token, &instance.id, None);
                }
                if entry.service.heartbeat.is_some() {
                    let heartbeats = entry.heartbeats.get_or_insert_default();
                    heartbeats.entry(instance.id.clone()).or_insert(now);
                }
                let id = instance.id.clone();
                entry.instances.insert(instance);
                entry.bump();
                self.each_observer(|observer| observer.service_changed(entry.view_of(&id)));
            }
            Change::InstanceDeleted {
                service_id,
                instance_id,
            } => {
                let Some(mut entry) = self.inner.services.get_mut(service_id.as_str()) else {
                    return;
                };
                if entry.instances.remove(&instance_id).is_none() {
                    return;
                }
                if let Some(heartbeats) = &mut entry.heartbeats {
                    heartbeats.retain(|id, _| !id.eq_ignore_ascii_case(&instance_id));
                }
                if let Some(registrations) = &mut entry.registrations {
                    registrations.remove_instance(&instance_id);
                }
                entry.bump();
                self.each_observer(|observer| {
                    observer.service_changed(entry.view_of(&instance_id))
                });
            }
            Change::Operation(operation) => self.inner.operations.insert(operation),
        }
    }

    fn store_namespace(&self, mut namespace: super::Namespace, revision: u64) {
        let _structure = self.structure();
        let snapshot = match self.inner.namespaces.get_mut(&namespace.id) {
            Some(mut entry) => {
                entry.namespace.description = namespace.description;
                entry.namespace.soa = namespace.soa;
                entry.namespace.allowed_networks = namespace.allowed_networks;
                entry.namespace.transfer = namespace.transfer;
                entry.namespace.tags = namespace.tags;
                entry.revision.pin(revision);
                entry.snapshot()
            }
            None => {
                namespace.revision = revision;
                let id = namespace.id.clone();
                self.insert_namespace(namespace);
                if let Some(entry) = self.inner.namespaces.get(&id) {
                    entry.revision.pin(revision);
                }
                return;
            }
        };
        self.each_observer(|observer: &dyn RegistryObserver| observer.namespace_changed(&snapshot));
    }

    /// Puts `service` with exactly `instances` in place of what is held of
    /// it, in one step: DNS sees the service as it was, then as it is,
    /// never a mix (a re-read of the shared store). Heartbeat clocks and
    /// the operations of registrations carry over for instances kept.
    pub(crate) fn replace_stored_service(
        &self,
        service: super::Service,
        instances: Vec<super::Instance>,
        now: Instant,
    ) -> super::Result<()> {
        let id = service.id.clone();
        let kept = self
            .inner
            .services
            .get(id.as_str())
            .map(|entry| (entry.heartbeats.clone(), entry.registrations.clone()));
        self.insert_service(service, instances, now)?;
        let (Some((heartbeats, registrations)), Some(mut entry)) =
            (kept, self.inner.services.get_mut(id.as_str()))
        else {
            return Ok(());
        };
        if let (Some(old), Some(new)) = (heartbeats, entry.heartbeats.as_mut()) {
            for (instance_id, at) in old.iter() {
                if let Some(last) = new.get_mut(instance_id) {
                    *last = *at;
                }
            }
        }
        if let (Some(old), Some(new)) = (registrations, entry.registrations.as_mut()) {
            new.keep_operations_of(&old);
        }
        Ok(())
    }

    /// Runs `replace`, which tells the registry's whole state again, as one
    /// replacement for the observers: DNS shows all of it at once when it
    /// returns (or unwinds), nothing of it before.
    pub(crate) fn replacing<T>(&self, replace: impl FnOnce() -> T) -> T {
        struct Ended<'a>(&'a Registry);
        impl Drop for Ended<'_> {
            fn drop(&mut self) {
                self.0
                    .each_observer(|observer| observer.replacement_ended());
            }
        }
        self.each_observer(|observer| observer.replacement_begun());
        let _ended = Ended(self);
        replace()
    }

    /// Every namespace, service and instance id this registry holds: what
    /// a re-read compares the store's state with.
    pub(crate) fn held_ids(&self) -> (Vec<String>, Vec<(String, Vec<String>)>) {
        let namespaces = self
            .inner
            .namespaces
            .iter()
            .map(|entry| entry.key().clone())
            .collect();
        let services = self
            .inner
            .services
            .iter()
            .map(|entry| {
                let ids = entry.instances.values().map(|i| i.id.clone()).collect();
                (Arc::clone(entry.key()).to_string(), ids)
            })
            .collect();
        (namespaces, services)
    }
}
