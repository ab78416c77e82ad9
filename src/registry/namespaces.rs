//! Namespaces: creating, reading, updating and deleting them.

use std::sync::Arc;

use super::model::{Millis, Namespace, NamespaceType, Operation, OperationType};
use super::operations::{Targets, succeeded};
use super::{
    Change, NamespaceEntry, NamespaceUpdate, NewNamespace, Now, Pending, Plan, Registry,
    RegistryError, Result, id_from_arn, ids, validate,
};

/// A namespace about to be created, or a retried creation whose operation
/// record has left the bounded log and is recorded anew.
#[derive(Debug)]
pub struct NamespaceCreation {
    namespace: Namespace,
    operation: Operation,
    /// False for the retry: the namespace exists, only the operation is new.
    creates: bool,
}

impl Pending for NamespaceCreation {
    type Output = (Namespace, String);
    fn changes(&self) -> Vec<Change> {
        let operation = Change::Operation(self.operation.clone());
        if self.creates {
            vec![Change::Namespace(self.namespace.clone()), operation]
        } else {
            vec![operation]
        }
    }
}

/// A namespace as it will be after an update.
#[derive(Debug)]
pub struct NamespaceChange {
    namespace: Namespace,
    operation: Operation,
}

impl Pending for NamespaceChange {
    type Output = String;
    fn changes(&self) -> Vec<Change> {
        vec![
            Change::Namespace(self.namespace.clone()),
            Change::Operation(self.operation.clone()),
        ]
    }
}

/// A namespace about to be deleted.
#[derive(Debug)]
pub struct NamespaceDeletion {
    namespace: Namespace,
    operation: Operation,
}

impl Pending for NamespaceDeletion {
    type Output = String;
    fn changes(&self) -> Vec<Change> {
        vec![
            Change::NamespaceDeleted {
                namespace_id: self.namespace.id.clone(),
            },
            Change::Operation(self.operation.clone()),
        ]
    }
}

/// A CREATE_NAMESPACE operation record for this namespace.
fn creation_operation(namespace_id: &str, now: Millis) -> Operation {
    succeeded(
        OperationType::CreateNamespace,
        Targets {
            namespace_id: Some(namespace_id.to_string()),
            ..Targets::default()
        },
        now,
    )
}

pub(super) fn not_found(id: &str) -> RegistryError {
    RegistryError::NamespaceNotFound(format!("no namespace with id '{id}'"))
}

impl Registry {
    /// Creates a namespace; returns it and the id of its CREATE_NAMESPACE
    /// operation. A retry with the same CreatorRequestId returns the same
    /// namespace and operation.
    pub(crate) fn plan_create_namespace(
        &self,
        new: NewNamespace,
        now: Now,
    ) -> Result<Plan<NamespaceCreation>> {
        let name = validate::namespace_name(new.kind, &new.name)?;
        validate::description(new.description.as_deref())?;
        validate::request_id("CreatorRequestId", new.creator_request_id.as_deref())?;
        validate::tags(&new.tags)?;
        validate::region(new.region.as_deref())?;
        validate::ttl("SOA TTL", i64::from(new.soa.ttl))?;
        if new.kind.has_dns() {
            validate::soa_names(&name, &new.soa)?;
        }
        let allowed_networks = self
            .network_policy()
            .allowed_networks(new.kind, new.allowed_networks)?;
        let transfer = new
            .transfer
            .map(|settings| self.transfer_as_stored(new.kind, settings))
            .transpose()?;
        if let Some(existing) = self.namespace_by_name(&name) {
            let same_request = new.creator_request_id.is_some()
                && existing.creator_request_id == new.creator_request_id;
            if same_request {
                return Ok(match self.creation_operation(&existing.id) {
                    Some(operation) => Plan::Done((existing, operation)),
                    None => Plan::Apply(NamespaceCreation {
                        operation: creation_operation(&existing.id, now.wall),
                        namespace: existing,
                        creates: false,
                    }),
                });
            }
            return Err(RegistryError::NamespaceAlreadyExists {
                message: format!(
                    "a namespace named '{name}' exists already ({})",
                    existing.id
                ),
                namespace_id: existing.id,
                creator_request_id: existing.creator_request_id,
            });
        }
        if new.kind.has_dns() {
            self.check_new_zone(&name)?;
        }
        let namespace = Namespace {
            id: ids::namespace_id(),
            name,
            kind: new.kind,
            description: new.description,
            soa: new.soa,
            allowed_networks,
            transfer,
            creator_request_id: new.creator_request_id,
            created_at: now.wall,
            tags: new.tags,
            revision: 1,
            service_count: 0,
            region: new.region,
        };
        Ok(Plan::Apply(NamespaceCreation {
            operation: creation_operation(&namespace.id, now.wall),
            namespace,
            creates: true,
        }))
    }

    pub(crate) fn apply_create_namespace(&self, pending: NamespaceCreation) -> (Namespace, String) {
        let NamespaceCreation {
            namespace,
            operation,
            creates,
        } = pending;
        let _structure = self.structure();
        if creates {
            self.insert_namespace(namespace.clone());
            tracing::info!(namespace = %namespace.name, id = %namespace.id, kind = namespace.kind.as_str(), "namespace created");
        }
        let operation_id = operation.id.clone();
        self.inner.operations.insert(operation);
        (namespace, operation_id)
    }

    /// Puts a namespace in as it is (creation, and the store restoring
    /// state).
    pub(crate) fn insert_namespace(&self, namespace: Namespace) {
        self.inner
            .namespace_ids
            .insert(namespace.name.to_ascii_lowercase(), namespace.id.clone());
        let entry = NamespaceEntry {
            id: namespace.id.as_str().into(),
            name: namespace.name.as_str().into(),
            revision: Arc::new(super::serial::NamespaceRevision::new(namespace.revision)),
            namespace: namespace.clone(),
            service_count: std::sync::atomic::AtomicUsize::new(0),
        };
        self.inner.namespaces.insert(namespace.id.clone(), entry);
        self.each_observer(|observer| observer.namespace_changed(&namespace));
    }

    /// The id of the operation that created a namespace, while the bounded
    /// log still holds it.
    fn creation_operation(&self, namespace_id: &str) -> Option<String> {
        self.inner
            .operations
            .list()
            .into_iter()
            .find(|op| {
                op.kind == OperationType::CreateNamespace
                    && op.namespace_id.as_deref() == Some(namespace_id)
            })
            .map(|operation| operation.id)
    }

    /// The namespace with this id (or ARN).
    pub fn namespace(&self, id: &str) -> Option<Namespace> {
        let id = id_from_arn(id);
        self.inner.namespaces.get(id).map(|entry| entry.snapshot())
    }

    /// The namespace with this id (or ARN), or NamespaceNotFound.
    pub fn get_namespace(&self, id: &str) -> Result<Namespace> {
        self.namespace(id).ok_or_else(|| not_found(id))
    }

    /// The namespace with this name (case-insensitive, trailing dot or not).
    pub fn namespace_by_name(&self, name: &str) -> Option<Namespace> {
        let name = name.strip_suffix('.').unwrap_or(name);
        let id = self
            .inner
            .namespace_ids
            .get(&name.to_ascii_lowercase())
            .map(|id| id.clone())?;
        self.namespace(&id)
    }

    /// Every namespace, oldest first.
    pub fn list_namespaces(&self) -> Vec<Namespace> {
        let ids: Vec<String> = self
            .inner
            .namespaces
            .iter()
            .map(|entry| entry.key().clone())
            .collect();
        let mut namespaces: Vec<Namespace> =
            ids.iter().filter_map(|id| self.namespace(id)).collect();
        namespaces.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        namespaces
    }

    /// The id of the namespace with this name, without building a snapshot.
    pub(super) fn namespace_id_by_name(&self, name: &str) -> Option<String> {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.inner
            .namespace_ids
            .get(&name.to_ascii_lowercase())
            .map(|id| id.clone())
    }

    /// Changes a namespace's description, SOA, allowed networks or transfer
    /// settings.
    pub(crate) fn plan_update_namespace(
        &self,
        id: &str,
        update: NamespaceUpdate,
        now: Now,
    ) -> Result<Plan<NamespaceChange>> {
        validate::description(update.description.as_deref())?;
        if let Some(ttl) = update.soa_ttl {
            validate::ttl("SOA TTL", i64::from(ttl))?;
        }
        if let Some(soa) = &update.soa {
            validate::ttl("SOA TTL", i64::from(soa.ttl))?;
        }
        validate::request_id("UpdaterRequestId", update.updater_request_id.as_deref())?;
        let mut namespace = self.get_namespace(id)?;
        if let Some(token) = update.updater_request_id.as_deref()
            && let Some(first) = self.inner.operations.find_newest(|op| {
                op.kind == OperationType::UpdateNamespace
                    && op.namespace_id.as_deref() == Some(namespace.id.as_str())
                    && op.request_token.as_deref() == Some(token)
            })
        {
            // A retry of an update already made: its answer, nothing changed.
            return Ok(Plan::Done(first.id));
        }
        if update.allowed_networks.is_some() && namespace.kind != NamespaceType::DnsPrivate {
            return Err(RegistryError::invalid(
                "only DNS_PRIVATE namespaces have allowed networks",
            ));
        }
        if (update.soa_ttl.is_some() || update.soa.is_some()) && !namespace.kind.has_dns() {
            return Err(RegistryError::invalid(
                "an HTTP namespace has no SOA record",
            ));
        }
        if let Some(description) = update.description {
            namespace.description = Some(description);
        }
        if let Some(soa) = update.soa {
            validate::soa_names(&namespace.name, &soa)?;
            self.check_name_server_hosts(&namespace.id, &namespace.name, &soa)?;
            namespace.soa = soa;
        }
        if let Some(ttl) = update.soa_ttl {
            namespace.soa.ttl = ttl;
        }
        if let Some(given) = update.allowed_networks {
            namespace.allowed_networks = self
                .network_policy()
                .allowed_networks(namespace.kind, given)?;
        }
        if let Some(given) = update.transfer {
            namespace.transfer = given
                .map(|settings| self.transfer_as_stored(namespace.kind, settings))
                .transpose()?;
        }
        namespace.revision += 1;
        let mut operation = succeeded(
            OperationType::UpdateNamespace,
            Targets {
                namespace_id: Some(namespace.id.clone()),
                ..Targets::default()
            },
            now.wall,
        );
        operation.request_token = update.updater_request_id;
        Ok(Plan::Apply(NamespaceChange {
            namespace,
            operation,
        }))
    }

    pub(crate) fn apply_update_namespace(&self, pending: NamespaceChange) -> String {
        let NamespaceChange {
            namespace,
            operation,
        } = pending;
        let _structure = self.structure();
        let snapshot = {
            let Some(mut entry) = self.inner.namespaces.get_mut(&namespace.id) else {
                tracing::error!(namespace = %namespace.id, "an update to a namespace that is gone was not applied");
                return operation.id;
            };
            entry.namespace.description = namespace.description;
            entry.namespace.soa = namespace.soa;
            entry.namespace.allowed_networks = namespace.allowed_networks;
            entry.namespace.transfer = namespace.transfer;
            entry.namespace.tags = namespace.tags;
            entry.revision.bump();
            entry.snapshot()
        };
        self.each_observer(|observer| observer.namespace_changed(&snapshot));
        let id = operation.id.clone();
        self.inner.operations.insert(operation);
        id
    }

    /// Deletes a namespace that has no services.
    pub(crate) fn plan_delete_namespace(
        &self,
        id: &str,
        now: Now,
    ) -> Result<Plan<NamespaceDeletion>> {
        let namespace = self.get_namespace(id)?;
        if namespace.service_count > 0 {
            return Err(RegistryError::ResourceInUse(format!(
                "namespace '{}' has {} services; delete the services before deleting the namespace",
                namespace.name, namespace.service_count
            )));
        }
        let operation = succeeded(
            OperationType::DeleteNamespace,
            Targets {
                namespace_id: Some(namespace.id.clone()),
                ..Targets::default()
            },
            now.wall,
        );
        Ok(Plan::Apply(NamespaceDeletion {
            namespace,
            operation,
        }))
    }

    pub(crate) fn apply_delete_namespace(&self, pending: NamespaceDeletion) -> String {
        let NamespaceDeletion {
            namespace,
            operation,
        } = pending;
        let _structure = self.structure();
        self.inner.namespaces.remove(&namespace.id);
        self.inner
            .namespace_ids
            .remove(&namespace.name.to_ascii_lowercase());
        self.each_observer(|observer| observer.namespace_removed(&namespace));
        tracing::info!(namespace = %namespace.name, id = %namespace.id, "namespace deleted");
        let id = operation.id.clone();
        self.inner.operations.insert(operation);
        id
    }
}
