//! The registry: namespaces, services, instances, health and revisions, and
//! the rules that keep them consistent.
//!
//! Pure by design: no sockets, no files, no DNS wire format, no JSON. The
//! DNS responder, the admin API and the store are edges that translate to
//! and from these types. Observers registered at construction hear about
//! every change while it is being made, so a service's compiled DNS answers
//! are replaced before the call that changed it returns.

mod error;
mod ids;
mod model;
mod operations;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use ipnet::IpNet;

pub use error::{RegistryError, Result};
pub use ids::{arn, id_from_arn};
pub use model::*;
use operations::OperationLog;
pub use operations::Targets;

/// A service and its instances as they are after a change: what an observer
/// is shown.
#[derive(Debug, Clone, Copy)]
pub struct ServiceView<'a> {
    pub namespace_id: &'a str,
    pub namespace_name: &'a str,
    pub namespace_kind: NamespaceType,
    /// The namespace's revision after this change.
    pub namespace_revision: u64,
    pub service: &'a Service,
    pub instances: &'a BTreeMap<String, Instance>,
}

/// Hears every change to the registry, synchronously, before the call that
/// made it returns. Calls about one service arrive in the order the changes
/// were made; calls about different services may interleave, so revisions
/// only grow and an observer keeps the highest it has seen.
///
/// Observers run while the registry holds the changed service's entry, so
/// they must not call back into the registry.
pub trait RegistryObserver: Send + Sync + 'static {
    /// A namespace was created or changed.
    fn namespace_changed(&self, namespace: &Namespace);
    /// A namespace was deleted (it had no services left).
    fn namespace_removed(&self, namespace: &Namespace);
    /// A service was created or changed, or its instances or their health.
    fn service_changed(&self, view: ServiceView<'_>);
    /// A service was deleted (it had no instances left).
    fn service_removed(&self, namespace: &Namespace, service: &Service);
}

/// A namespace to create.
#[derive(Debug, Clone)]
pub struct NewNamespace {
    pub name: String,
    pub kind: NamespaceType,
    pub description: Option<String>,
    pub soa: SoaSettings,
    pub allowed_networks: Vec<IpNet>,
    pub creator_request_id: Option<String>,
    pub tags: Tags,
}

/// Changes to a namespace; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct NamespaceUpdate {
    pub description: Option<String>,
    pub soa_ttl: Option<u32>,
    pub allowed_networks: Option<Vec<IpNet>>,
}

/// A service to create.
#[derive(Debug, Clone)]
pub struct NewService {
    pub namespace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub dns: Option<DnsTemplate>,
    pub health_check: Option<HealthCheckConfig>,
    pub custom_health_check: Option<CustomHealthCheck>,
    pub creator_request_id: Option<String>,
    pub tags: Tags,
}

/// Changes to a service, with Cloud Map's UpdateService semantics: the
/// record types stay, their TTLs change; a health check left out is removed.
#[derive(Debug, Clone, Default)]
pub struct ServiceUpdate {
    pub description: Option<String>,
    /// New TTLs for the template's records; the types must match the
    /// template's exactly.
    pub dns_records: Option<Vec<DnsRecord>>,
    pub health_check: Option<HealthCheckConfig>,
}

/// A RegisterInstance call.
#[derive(Debug, Clone)]
pub struct InstanceRegistration {
    pub service_id: String,
    pub instance_id: String,
    pub attributes: BTreeMap<String, String>,
    pub creator_request_id: Option<String>,
}

/// DiscoverInstances' health filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthFilter {
    #[default]
    Healthy,
    Unhealthy,
    All,
    /// Healthy instances, or all of them when none is healthy.
    HealthyOrElseAll,
}

impl HealthFilter {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "HEALTHY" => Some(Self::Healthy),
            "UNHEALTHY" => Some(Self::Unhealthy),
            "ALL" => Some(Self::All),
            "HEALTHY_OR_ELSE_ALL" => Some(Self::HealthyOrElseAll),
            _ => None,
        }
    }
}

/// A DiscoverInstances call.
#[derive(Debug, Clone)]
pub struct DiscoverQuery {
    pub namespace_name: String,
    pub service_name: String,
    /// Every pair must match.
    pub query_parameters: BTreeMap<String, String>,
    /// Applied only when some instances match them; ignored otherwise.
    pub optional_parameters: BTreeMap<String, String>,
    pub health: HealthFilter,
    pub max_results: usize,
}

/// DiscoverInstances' answer.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub namespace_name: String,
    pub service_name: String,
    /// In random order, at most `max_results`.
    pub instances: Vec<Instance>,
    pub revision: u64,
}

struct NamespaceEntry {
    namespace: Namespace,
    revision: Arc<AtomicU64>,
}

impl NamespaceEntry {
    fn snapshot(&self) -> Namespace {
        let mut namespace = self.namespace.clone();
        namespace.revision = self.revision.load(Ordering::SeqCst);
        namespace
    }
}

struct ServiceEntry {
    service: Service,
    instances: BTreeMap<String, Instance>,
    namespace_name: String,
    namespace_kind: NamespaceType,
    namespace_revision: Arc<AtomicU64>,
    /// CreatorRequestId → (instance id, operation id), for idempotent retries.
    registrations: BTreeMap<String, (String, String)>,
}

impl ServiceEntry {
    fn snapshot(&self) -> Service {
        let mut service = self.service.clone();
        service.instance_count = self.instances.len();
        service
    }

    fn view(&self) -> ServiceView<'_> {
        ServiceView {
            namespace_id: &self.service.namespace_id,
            namespace_name: &self.namespace_name,
            namespace_kind: self.namespace_kind,
            namespace_revision: self.namespace_revision.load(Ordering::SeqCst),
            service: &self.service,
            instances: &self.instances,
        }
    }

    /// Marks a change: the service's and its namespace's revisions grow.
    fn bump(&mut self) {
        self.service.revision += 1;
        self.service.instance_count = self.instances.len();
        self.namespace_revision.fetch_add(1, Ordering::SeqCst);
    }
}

struct Inner {
    namespaces: DashMap<String, NamespaceEntry>,
    /// Lowercased namespace name → id.
    namespace_ids: DashMap<String, String>,
    services: DashMap<String, ServiceEntry>,
    /// (namespace id, lowercased service name) → service id.
    service_ids: DashMap<(String, String), String>,
    operations: OperationLog,
    /// Serialises changes to the set of namespaces and services, so checks
    /// like "no services left" cannot race a concurrent create. Instance
    /// changes do not take it.
    structure: Mutex<()>,
    observers: Vec<Arc<dyn RegistryObserver>>,
}

/// The registry handle: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as Millis)
        .unwrap_or(0)
}

fn instance_key(id: &str) -> String {
    id.to_ascii_lowercase()
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Registry {
    /// A registry that tells `observers` of every change.
    pub fn new(observers: Vec<Arc<dyn RegistryObserver>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                namespaces: DashMap::new(),
                namespace_ids: DashMap::new(),
                services: DashMap::new(),
                service_ids: DashMap::new(),
                operations: OperationLog::default(),
                structure: Mutex::new(()),
                observers,
            }),
        }
    }

    fn structure(&self) -> MutexGuard<'_, ()> {
        // The guard protects no data of its own, so poisoning is harmless.
        self.inner
            .structure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn each_observer(&self, call: impl Fn(&dyn RegistryObserver)) {
        for observer in &self.inner.observers {
            call(observer.as_ref());
        }
    }

    // ----- namespaces -------------------------------------------------------

    /// Creates a namespace; returns it and the id of its CREATE_NAMESPACE
    /// operation. A retry with the same CreatorRequestId returns the same
    /// namespace and operation.
    pub fn create_namespace(&self, new: NewNamespace) -> Result<(Namespace, String)> {
        let name = validate::namespace_name(new.kind, &new.name)?;
        validate::description(new.description.as_deref())?;
        validate::request_id("CreatorRequestId", new.creator_request_id.as_deref())?;
        validate::tags(&new.tags)?;
        validate::ttl("SOA TTL", i64::from(new.soa.ttl))?;
        if let Some(mname) = &new.soa.mname {
            validate::dns_name("SOA mname", mname, false)?;
        }
        if let Some(rname) = &new.soa.rname {
            validate::dns_name("SOA rname", rname, false)?;
        }
        let allowed_networks = match new.kind {
            NamespaceType::DnsPrivate => new.allowed_networks,
            _ if new.allowed_networks.is_empty() => Vec::new(),
            _ => {
                return Err(RegistryError::invalid(
                    "only DNS_PRIVATE namespaces have allowed networks",
                ));
            }
        };

        let _structure = self.structure();
        let key = name.to_ascii_lowercase();
        if let Some(existing_id) = self.inner.namespace_ids.get(&key).map(|id| id.clone())
            && let Some(existing) = self.namespace(&existing_id)
        {
            let same_request = new.creator_request_id.is_some()
                && existing.creator_request_id == new.creator_request_id;
            if same_request {
                let operation = self.creation_operation(&existing.id);
                return Ok((existing, operation));
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
        let now = now_millis();
        let namespace = Namespace {
            id: ids::namespace_id(),
            name,
            kind: new.kind,
            description: new.description,
            soa: new.soa,
            allowed_networks,
            creator_request_id: new.creator_request_id,
            created_at: now,
            tags: new.tags,
            revision: 1,
            service_count: 0,
        };
        self.insert_namespace(namespace.clone());
        let operation = self.inner.operations.record(
            OperationType::CreateNamespace,
            Targets {
                namespace_id: Some(namespace.id.clone()),
                ..Targets::default()
            },
            now,
        );
        tracing::info!(namespace = %namespace.name, id = %namespace.id, kind = namespace.kind.as_str(), "namespace created");
        Ok((namespace, operation))
    }

    /// Puts a namespace in as it is (used by `create_namespace` and by the
    /// store when it restores state).
    pub fn insert_namespace(&self, namespace: Namespace) {
        self.inner
            .namespace_ids
            .insert(namespace.name.to_ascii_lowercase(), namespace.id.clone());
        let entry = NamespaceEntry {
            revision: Arc::new(AtomicU64::new(namespace.revision)),
            namespace: namespace.clone(),
        };
        self.inner.namespaces.insert(namespace.id.clone(), entry);
        self.each_observer(|observer| observer.namespace_changed(&namespace));
    }

    fn creation_operation(&self, namespace_id: &str) -> String {
        self.inner
            .operations
            .list()
            .into_iter()
            .find(|op| {
                op.kind == OperationType::CreateNamespace
                    && op.namespace_id.as_deref() == Some(namespace_id)
            })
            .map(|op| op.id)
            .unwrap_or_else(|| {
                self.inner.operations.record(
                    OperationType::CreateNamespace,
                    Targets {
                        namespace_id: Some(namespace_id.to_string()),
                        ..Targets::default()
                    },
                    now_millis(),
                )
            })
    }

    /// The namespace with this id (or ARN).
    pub fn namespace(&self, id: &str) -> Option<Namespace> {
        let id = id_from_arn(id);
        let mut namespace = self
            .inner
            .namespaces
            .get(id)
            .map(|entry| entry.snapshot())?;
        namespace.service_count = self.count_services(&namespace.id);
        Some(namespace)
    }

    /// The namespace with this id (or ARN), or NamespaceNotFound.
    pub fn get_namespace(&self, id: &str) -> Result<Namespace> {
        self.namespace(id)
            .ok_or_else(|| RegistryError::NamespaceNotFound(format!("no namespace with id '{id}'")))
    }

    /// The namespace with this name (case-insensitive).
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

    fn count_services(&self, namespace_id: &str) -> usize {
        self.inner
            .service_ids
            .iter()
            .filter(|entry| entry.key().0 == namespace_id)
            .count()
    }

    /// Changes a namespace's description, SOA TTL or allowed networks.
    pub fn update_namespace(&self, id: &str, update: NamespaceUpdate) -> Result<String> {
        validate::description(update.description.as_deref())?;
        if let Some(ttl) = update.soa_ttl {
            validate::ttl("SOA TTL", i64::from(ttl))?;
        }
        let _structure = self.structure();
        let snapshot = {
            let mut entry = self
                .inner
                .namespaces
                .get_mut(id_from_arn(id))
                .ok_or_else(|| {
                    RegistryError::NamespaceNotFound(format!("no namespace with id '{id}'"))
                })?;
            if update.allowed_networks.is_some()
                && entry.namespace.kind != NamespaceType::DnsPrivate
            {
                return Err(RegistryError::invalid(
                    "only DNS_PRIVATE namespaces have allowed networks",
                ));
            }
            if update.soa_ttl.is_some() && !entry.namespace.kind.has_dns() {
                return Err(RegistryError::invalid(
                    "an HTTP namespace has no SOA record",
                ));
            }
            if let Some(description) = update.description {
                entry.namespace.description = Some(description);
            }
            if let Some(ttl) = update.soa_ttl {
                entry.namespace.soa.ttl = ttl;
            }
            if let Some(networks) = update.allowed_networks {
                entry.namespace.allowed_networks = networks;
            }
            entry.revision.fetch_add(1, Ordering::SeqCst);
            entry.snapshot()
        };
        self.each_observer(|observer| observer.namespace_changed(&snapshot));
        Ok(self.inner.operations.record(
            OperationType::UpdateNamespace,
            Targets {
                namespace_id: Some(snapshot.id.clone()),
                ..Targets::default()
            },
            now_millis(),
        ))
    }

    /// Deletes a namespace that has no services.
    pub fn delete_namespace(&self, id: &str) -> Result<String> {
        let _structure = self.structure();
        let namespace = self.get_namespace(id)?;
        if namespace.service_count > 0 {
            return Err(RegistryError::ResourceInUse(format!(
                "namespace '{}' has {} services; delete the services before deleting the namespace",
                namespace.name, namespace.service_count
            )));
        }
        self.inner.namespaces.remove(&namespace.id);
        self.inner
            .namespace_ids
            .remove(&namespace.name.to_ascii_lowercase());
        self.each_observer(|observer| observer.namespace_removed(&namespace));
        tracing::info!(namespace = %namespace.name, id = %namespace.id, "namespace deleted");
        Ok(self.inner.operations.record(
            OperationType::DeleteNamespace,
            Targets {
                namespace_id: Some(namespace.id),
                ..Targets::default()
            },
            now_millis(),
        ))
    }

    // ----- services ---------------------------------------------------------

    /// Creates a service in a namespace. A retry with the same
    /// CreatorRequestId returns the service created the first time.
    pub fn create_service(&self, new: NewService) -> Result<Service> {
        let name = validate::service_name(&new.name)?;
        validate::request_id("CreatorRequestId", new.creator_request_id.as_deref())?;
        let _structure = self.structure();
        let namespace = self.get_namespace(&new.namespace_id)?;
        let dns = match (namespace.kind, new.dns) {
            (NamespaceType::Http, Some(_)) => {
                return Err(RegistryError::invalid(format!(
                    "namespace '{}' is an HTTP namespace; its services cannot have DnsConfig",
                    namespace.name
                )));
            }
            (_, dns) => dns,
        };
        if namespace.kind.has_dns() {
            validate::service_fqdn_length(&name, &namespace.name)?;
        }
        let service = Service {
            id: ids::service_id(),
            namespace_id: namespace.id.clone(),
            name,
            description: new.description,
            dns,
            health_check: new.health_check,
            custom_health_check: new.custom_health_check,
            creator_request_id: new.creator_request_id,
            created_at: now_millis(),
            tags: new.tags,
            revision: 1,
            instance_count: 0,
        };
        validate::service(&service)?;

        let key = (namespace.id.clone(), service.name.to_ascii_lowercase());
        if let Some(existing_id) = self.inner.service_ids.get(&key).map(|id| id.clone())
            && let Some(existing) = self.service(&existing_id)
        {
            if service.creator_request_id.is_some()
                && existing.creator_request_id == service.creator_request_id
            {
                return Ok(existing);
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
        self.insert_service(service.clone(), BTreeMap::new())?;
        tracing::info!(namespace = %namespace.name, service = %service.name, id = %service.id, "service created");
        Ok(service)
    }

    /// Puts a service and its instances in as they are (used by
    /// `create_service` and by the store when it restores state).
    pub fn insert_service(
        &self,
        service: Service,
        instances: BTreeMap<String, Instance>,
    ) -> Result<()> {
        let (namespace_name, namespace_kind, namespace_revision) = {
            let entry = self
                .inner
                .namespaces
                .get(&service.namespace_id)
                .ok_or_else(|| {
                    RegistryError::NamespaceNotFound(format!(
                        "no namespace with id '{}'",
                        service.namespace_id
                    ))
                })?;
            entry.revision.fetch_add(1, Ordering::SeqCst);
            (
                entry.namespace.name.clone(),
                entry.namespace.kind,
                Arc::clone(&entry.revision),
            )
        };
        self.inner.service_ids.insert(
            (
                service.namespace_id.clone(),
                service.name.to_ascii_lowercase(),
            ),
            service.id.clone(),
        );
        let mut entry = ServiceEntry {
            service,
            instances,
            namespace_name,
            namespace_kind,
            namespace_revision,
            registrations: BTreeMap::new(),
        };
        entry.service.instance_count = entry.instances.len();
        let id = entry.service.id.clone();
        // Observers run under the entry's lock so that no later change to the
        // service can overtake this one on its way to them.
        let entry = self.inner.services.entry(id).insert(entry);
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
        self.service(id)
            .ok_or_else(|| RegistryError::ServiceNotFound(format!("no service with id '{id}'")))
    }

    /// The service with this name in the namespace with this name.
    pub fn service_by_name(&self, namespace_name: &str, service_name: &str) -> Result<Service> {
        let namespace = self.namespace_by_name(namespace_name).ok_or_else(|| {
            RegistryError::NamespaceNotFound(format!("no namespace named '{namespace_name}'"))
        })?;
        let key = (namespace.id.clone(), service_name.to_ascii_lowercase());
        let id = self
            .inner
            .service_ids
            .get(&key)
            .map(|id| id.clone())
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!(
                    "no service named '{service_name}' in namespace '{}'",
                    namespace.name
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
    pub fn update_service(&self, id: &str, update: ServiceUpdate) -> Result<String> {
        let _structure = self.structure();
        let mut entry = self
            .inner
            .services
            .get_mut(id_from_arn(id))
            .ok_or_else(|| RegistryError::ServiceNotFound(format!("no service with id '{id}'")))?;
        let mut service = entry.service.clone();
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
        if service.health_check.is_some() {
            for instance in entry.instances.values() {
                if instance.endpoint.port.is_none() {
                    return Err(RegistryError::invalid(format!(
                        "instance '{}' has no {}, which a health check needs",
                        instance.id,
                        validate::ATTR_PORT
                    )));
                }
            }
        }
        entry.service = service;
        entry.bump();
        self.each_observer(|observer| observer.service_changed(entry.view()));
        let service_id = entry.service.id.clone();
        let namespace_id = entry.service.namespace_id.clone();
        drop(entry);
        Ok(self.inner.operations.record(
            OperationType::UpdateService,
            Targets {
                namespace_id: Some(namespace_id),
                service_id: Some(service_id),
                instance_id: None,
            },
            now_millis(),
        ))
    }

    /// Deletes a service that has no instances.
    pub fn delete_service(&self, id: &str) -> Result<()> {
        let _structure = self.structure();
        let id = id_from_arn(id);
        let removed = self
            .inner
            .services
            .remove_if(id, |_, entry| entry.instances.is_empty());
        let Some((_, entry)) = removed else {
            return match self.service(id) {
                Some(service) => Err(RegistryError::ResourceInUse(format!(
                    "service '{}' has {} registered instances; deregister them before deleting the service",
                    service.name, service.instance_count
                ))),
                None => Err(RegistryError::ServiceNotFound(format!(
                    "no service with id '{id}'"
                ))),
            };
        };
        self.inner.service_ids.remove(&(
            entry.service.namespace_id.clone(),
            entry.service.name.to_ascii_lowercase(),
        ));
        entry.namespace_revision.fetch_add(1, Ordering::SeqCst);
        if let Some(namespace) = self.namespace(&entry.service.namespace_id) {
            self.each_observer(|observer| observer.service_removed(&namespace, &entry.service));
        }
        tracing::info!(namespace = %entry.namespace_name, service = %entry.service.name, "service deleted");
        Ok(())
    }

    // ----- instances --------------------------------------------------------

    /// Creates an instance or replaces its attributes; returns the id of the
    /// REGISTER_INSTANCE operation. A retry with the same CreatorRequestId
    /// changes nothing and returns the first call's operation.
    pub fn register_instance(&self, registration: InstanceRegistration) -> Result<String> {
        validate::request_id(
            "CreatorRequestId",
            registration.creator_request_id.as_deref(),
        )?;
        let mut entry = self
            .inner
            .services
            .get_mut(id_from_arn(&registration.service_id))
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!(
                    "no service with id '{}'",
                    registration.service_id
                ))
            })?;
        let instance_id = registration.instance_id;
        validate::instance_id(&instance_id, &entry.service)?;
        if let Some(token) = &registration.creator_request_id
            && let Some((first_instance, operation)) = entry.registrations.get(token)
        {
            if *first_instance == instance_id {
                return Ok(operation.clone());
            }
            return Err(RegistryError::DuplicateRequest {
                message: format!(
                    "CreatorRequestId '{token}' was already used to register instance '{first_instance}'"
                ),
                operation_id: Some(operation.clone()),
            });
        }
        let endpoint = validate::endpoint(&registration.attributes, &entry.service)?;
        let key = instance_key(&instance_id);
        if let Some(existing) = entry.instances.get(&key)
            && existing.id != instance_id
        {
            return Err(RegistryError::invalid(format!(
                "instance '{}' exists already; ids differing only in case would share one DNS name",
                existing.id
            )));
        }

        let now = now_millis();
        let initial_health = validate::initial_health(&registration.attributes)?;
        let previous = entry.instances.get(&key);
        let health = match previous {
            Some(previous) => previous.health,
            None => starting_health(&entry.service, initial_health),
        };
        let instance = Instance {
            created_at: previous.map_or(now, |p| p.created_at),
            id: instance_id.clone(),
            attributes: registration.attributes,
            endpoint,
            health,
            creator_request_id: registration.creator_request_id.clone(),
            updated_at: now,
        };
        let service_id = entry.service.id.clone();
        let namespace_id = entry.service.namespace_id.clone();
        let operation = self.inner.operations.record(
            OperationType::RegisterInstance,
            Targets {
                namespace_id: Some(namespace_id),
                service_id: Some(service_id),
                instance_id: Some(instance_id.clone()),
            },
            now,
        );
        if let Some(token) = registration.creator_request_id {
            entry
                .registrations
                .insert(token, (instance_id.clone(), operation.clone()));
        }
        entry.instances.insert(key, instance);
        entry.bump();
        self.each_observer(|observer| observer.service_changed(entry.view()));
        tracing::debug!(namespace = %entry.namespace_name, service = %entry.service.name, instance = %instance_id, "instance registered");
        Ok(operation)
    }

    /// Removes an instance; returns the id of the DEREGISTER_INSTANCE
    /// operation.
    pub fn deregister_instance(&self, service_id: &str, instance_id: &str) -> Result<String> {
        let mut entry = self
            .inner
            .services
            .get_mut(id_from_arn(service_id))
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!("no service with id '{service_id}'"))
            })?;
        let key = instance_key(instance_id);
        match entry.instances.get(&key) {
            Some(instance) if instance.id == instance_id => {}
            _ => {
                return Err(RegistryError::InstanceNotFound(format!(
                    "no instance '{instance_id}' in service '{}'",
                    entry.service.name
                )));
            }
        }
        entry.instances.remove(&key);
        entry
            .registrations
            .retain(|_, (registered, _)| registered != instance_id);
        entry.bump();
        self.each_observer(|observer| observer.service_changed(entry.view()));
        tracing::debug!(namespace = %entry.namespace_name, service = %entry.service.name, instance = %instance_id, "instance deregistered");
        Ok(self.inner.operations.record(
            OperationType::DeregisterInstance,
            Targets {
                namespace_id: Some(entry.service.namespace_id.clone()),
                service_id: Some(entry.service.id.clone()),
                instance_id: Some(instance_id.to_string()),
            },
            now_millis(),
        ))
    }

    /// One instance of a service.
    pub fn get_instance(&self, service_id: &str, instance_id: &str) -> Result<Instance> {
        let entry = self
            .inner
            .services
            .get(id_from_arn(service_id))
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!("no service with id '{service_id}'"))
            })?;
        entry
            .instances
            .get(&instance_key(instance_id))
            .filter(|instance| instance.id == instance_id)
            .cloned()
            .ok_or_else(|| {
                RegistryError::InstanceNotFound(format!(
                    "no instance '{instance_id}' in service '{}'",
                    entry.service.name
                ))
            })
    }

    /// Every instance of a service, ordered by id.
    pub fn list_instances(&self, service_id: &str) -> Result<Vec<Instance>> {
        let entry = self
            .inner
            .services
            .get(id_from_arn(service_id))
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!("no service with id '{service_id}'"))
            })?;
        Ok(entry.instances.values().cloned().collect())
    }

    /// Sets an instance's health. `custom` calls (UpdateInstanceCustomHealthStatus)
    /// need a service with HealthCheckCustomConfig. Returns whether the
    /// status changed.
    pub fn set_health(
        &self,
        service_id: &str,
        instance_id: &str,
        status: HealthStatus,
        custom: bool,
    ) -> Result<bool> {
        let mut entry = self
            .inner
            .services
            .get_mut(id_from_arn(service_id))
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!("no service with id '{service_id}'"))
            })?;
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
        let key = instance_key(instance_id);
        let instance = entry
            .instances
            .get_mut(&key)
            .filter(|instance| instance.id == instance_id)
            .ok_or_else(|| {
                RegistryError::InstanceNotFound(format!(
                    "no instance '{instance_id}' in this service"
                ))
            })?;
        if instance.health == status {
            return Ok(false);
        }
        instance.health = status;
        entry.bump();
        self.each_observer(|observer| observer.service_changed(entry.view()));
        tracing::info!(namespace = %entry.namespace_name, service = %entry.service.name, instance = %instance_id, status = status.as_str(), "health changed");
        Ok(true)
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

    /// DiscoverInstances: a service's instances found by names, filtered by
    /// attributes and health, in random order.
    pub fn discover(&self, query: &DiscoverQuery) -> Result<Discovered> {
        let service = self.service_by_name(&query.namespace_name, &query.service_name)?;
        let entry = self.inner.services.get(&service.id).ok_or_else(|| {
            RegistryError::ServiceNotFound(format!("no service named '{}'", query.service_name))
        })?;
        let matches_all = |instance: &Instance, wanted: &BTreeMap<String, String>| {
            wanted
                .iter()
                .all(|(key, value)| instance.attributes.get(key) == Some(value))
        };
        // QueryParameters first, so HEALTHY_OR_ELSE_ALL falls back to every
        // *matching* instance rather than to nothing.
        let matching: Vec<&Instance> = entry
            .instances
            .values()
            .filter(|instance| matches_all(instance, &query.query_parameters))
            .collect();
        let healthy = |i: &&&Instance| i.health.serves_traffic();
        let required: Vec<&Instance> = if entry.service.has_health_check() {
            match query.health {
                HealthFilter::All => matching,
                HealthFilter::Healthy => matching.iter().filter(healthy).copied().collect(),
                HealthFilter::Unhealthy => {
                    matching.iter().filter(|i| !healthy(i)).copied().collect()
                }
                HealthFilter::HealthyOrElseAll => {
                    let chosen: Vec<&Instance> = matching.iter().filter(healthy).copied().collect();
                    if chosen.is_empty() { matching } else { chosen }
                }
            }
        } else {
            matching
        };
        let preferred: Vec<&Instance> = required
            .iter()
            .copied()
            .filter(|instance| matches_all(instance, &query.optional_parameters))
            .collect();
        let mut chosen: Vec<Instance> = if preferred.is_empty() {
            required
        } else {
            preferred
        }
        .into_iter()
        .cloned()
        .collect();
        fastrand::shuffle(&mut chosen);
        chosen.truncate(query.max_results);
        Ok(Discovered {
            namespace_name: entry.namespace_name.clone(),
            service_name: entry.service.name.clone(),
            instances: chosen,
            revision: entry.service.revision,
        })
    }

    /// DiscoverInstancesRevision: the service's revision, found by names.
    pub fn revision_by_name(&self, namespace_name: &str, service_name: &str) -> Result<u64> {
        self.service_by_name(namespace_name, service_name)
            .map(|service| service.revision)
    }

    // ----- operations and tags -----------------------------------------------

    pub fn get_operation(&self, id: &str) -> Result<Operation> {
        self.inner
            .operations
            .get(id)
            .ok_or_else(|| RegistryError::OperationNotFound(format!("no operation with id '{id}'")))
    }

    /// Every remembered operation, oldest first.
    pub fn list_operations(&self) -> Vec<Operation> {
        self.inner.operations.list()
    }

    /// Puts an operation back as it was (the store restoring the log).
    pub fn insert_operation(&self, operation: Operation) {
        self.inner.operations.insert(operation);
    }

    /// The tags of the namespace or service this ARN (or id) names.
    pub fn tags(&self, resource: &str) -> Result<Tags> {
        let id = id_from_arn(resource);
        if let Some(namespace) = self.namespace(id) {
            return Ok(namespace.tags);
        }
        if let Some(service) = self.service(id) {
            return Ok(service.tags);
        }
        Err(RegistryError::ResourceNotFound(format!(
            "no namespace or service '{resource}'"
        )))
    }

    /// Adds or overwrites tags, and removes the keys in `remove`.
    pub fn retag(&self, resource: &str, add: &Tags, remove: &[String]) -> Result<()> {
        let apply = |tags: &Tags| -> Result<Tags> {
            let mut tags = tags.clone();
            for key in remove {
                tags.remove(key);
            }
            tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
            validate::tags(&tags)?;
            Ok(tags)
        };
        let id = id_from_arn(resource);
        if let Some(mut entry) = self.inner.namespaces.get_mut(id) {
            entry.namespace.tags = apply(&entry.namespace.tags)?;
            return Ok(());
        }
        if let Some(mut entry) = self.inner.services.get_mut(id) {
            entry.service.tags = apply(&entry.service.tags)?;
            return Ok(());
        }
        Err(RegistryError::ResourceNotFound(format!(
            "no namespace or service '{resource}'"
        )))
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

#[cfg(test)]
mod tests;
