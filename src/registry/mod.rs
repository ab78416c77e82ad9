//! The registry: namespaces, services, instances, health and revisions, and
//! the rules that keep them consistent.
//!
//! Pure by design: no sockets, no files, no DNS wire format, no JSON. The
//! DNS responder, the admin API and the store are edges that translate to
//! and from these types. Observers registered at construction hear about
//! every change while it is being made, so a service's compiled DNS answers
//! are replaced before the call that changed it returns.
//!
//! Every mutation comes in two halves: `plan_*` validates against the
//! current state and computes the result without changing anything, and
//! `apply_*` makes it so. Both are crate-private: the write front
//! (`crate::writer::Writer`) is the one way in, and it stores a plan's
//! changes between the two, so nothing is applied before it is durable.
//! The registry reads no clock either: plans take the moment as [`Now`].

mod attributes;
mod change;
mod discover;
mod error;
mod follow;
mod heartbeats;
mod ids;
mod instance_table;
mod instances;
mod model;
mod namespaces;
pub mod networks;
mod operations;
mod plan;
mod registrations;
mod serial;
mod service_attributes;
mod services;
mod tags;
mod tree;
pub mod validate;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arc_swap::ArcSwap;
use dashmap::{DashMap, DashSet};
use ipnet::IpNet;

pub use attributes::Attributes;
pub use change::Change;
pub use error::{RegistryError, Result};
pub use heartbeats::{HeartbeatReceived, Lapse, Overdue};
pub use ids::id_from_arn;
pub use instance_table::{Instances, cmp_ids, hash_id};
pub use model::*;
use operations::OperationLog;
pub use operations::{OPERATION_LOG_CAPACITY, Targets};
pub use plan::{Pending, Plan};

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
    pub instances: &'a Instances,
    /// How much of the service the change touched, so that an observer
    /// can redo only that much.
    pub touched: Touched<'a>,
}

/// What one change to a service touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched<'a> {
    /// The service itself, or any number of its instances.
    Service,
    /// This one instance and nothing else: registered again or for the
    /// first time, or its health changed (then it is in
    /// [`ServiceView::instances`]), or deregistered (then it is not).
    Instance(&'a str),
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
    /// The registry is about to be told again whole (a cluster node
    /// re-reading its shared store): every namespace and service it holds
    /// once the replacement ends is told between this call and
    /// [`replacement_ended`](Self::replacement_ended), so an observer may
    /// gather them aside and show them all at once. Changes from other
    /// writers may come in between; they belong to the new state.
    fn replacement_begun(&self) {}
    /// The replacement begun by [`replacement_begun`](Self::replacement_begun)
    /// is complete.
    fn replacement_ended(&self) {}
}

/// A namespace to create.
#[derive(Debug, Clone)]
pub struct NewNamespace {
    pub name: String,
    pub kind: NamespaceType,
    pub description: Option<String>,
    pub soa: SoaSettings,
    pub allowed_networks: Vec<IpNet>,
    /// See [`Namespace::transfer`].
    pub transfer: Option<TransferSettings>,
    pub creator_request_id: Option<String>,
    pub tags: Tags,
    /// See [`Namespace::region`].
    pub region: Option<String>,
}

/// Changes to a namespace; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct NamespaceUpdate {
    pub description: Option<String>,
    /// Every SOA setting at once (zones files); applied before `soa_ttl`.
    pub soa: Option<SoaSettings>,
    pub soa_ttl: Option<u32>,
    pub allowed_networks: Option<Vec<IpNet>>,
    /// `Some(None)` gives the zone back to `[transfer]`'s settings.
    pub transfer: Option<Option<TransferSettings>>,
    /// A retry with the same token is answered with the first call's
    /// operation and changes nothing.
    pub updater_request_id: Option<String>,
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
    pub heartbeat: Option<Heartbeat>,
    pub creator_request_id: Option<String>,
    pub tags: Tags,
    /// See [`Namespace::region`].
    pub region: Option<String>,
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
    /// The namespace's id and name once more, shared by its services rather
    /// than copied into each.
    id: Arc<str>,
    name: Arc<str>,
    revision: Arc<serial::NamespaceRevision>,
    /// Kept as services come and go, so reading it costs nothing.
    service_count: std::sync::atomic::AtomicUsize,
}

impl NamespaceEntry {
    fn snapshot(&self) -> Namespace {
        let mut namespace = self.namespace.clone();
        namespace.revision = self.revision.load();
        namespace.service_count = self.service_count.load(Ordering::SeqCst);
        namespace
    }
}

/// A service as the registry keeps it. What only some services need is
/// boxed and made on first use: most services have neither.
struct ServiceEntry {
    service: Service,
    instances: Instances,
    namespace_name: Arc<str>,
    namespace_kind: NamespaceType,
    namespace_revision: Arc<serial::NamespaceRevision>,
    /// CreatorRequestId → (instance id, operation id), for idempotent
    /// retries. The operation is unknown for instances restored from disk.
    registrations: Option<Box<registrations::Registrations>>,
    /// Instance id → the last sign of life (registration or heartbeat),
    /// for services with a heartbeat check. Memory only: it starts again
    /// with the server.
    // Boxed on purpose: an empty HashMap would take 48 bytes in every
    // service, a `None` box takes 8.
    #[allow(clippy::box_collection)]
    heartbeats: Option<Box<HashMap<String, Instant>>>,
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
            namespace_revision: self.namespace_revision.load(),
            service: &self.service,
            instances: &self.instances,
            touched: Touched::Service,
        }
    }

    /// The view after a change to the one instance `id`.
    fn view_of<'a>(&'a self, id: &'a str) -> ServiceView<'a> {
        ServiceView {
            touched: Touched::Instance(id),
            ..self.view()
        }
    }

    /// Marks a change: the service's and its namespace's revisions grow.
    fn bump(&mut self) {
        self.service.revision += 1;
        self.service.instance_count = self.instances.len();
        self.namespace_revision.bump();
    }
}

struct Inner {
    namespaces: DashMap<String, NamespaceEntry>,
    /// Lowercased namespace name → id.
    namespace_ids: DashMap<String, String>,
    /// Boxed: a table's empty buckets are as large as its full ones, and an
    /// entry is a few hundred bytes.
    services: DashMap<Arc<str>, Box<ServiceEntry>>,
    /// The ids of the services with a health check or a heartbeat: what the
    /// health loop walks every round, instead of every service (at 250,000
    /// services with neither, three walks a second of all of them were
    /// most of an idle server's CPU).
    watched: DashSet<Arc<str>>,
    /// (namespace id, lowercased service name) → service id.
    service_ids: DashMap<(Arc<str>, Box<str>), Arc<str>>,
    /// (namespace id, lowercased name) → how many services lie below that
    /// name: what the name tree (`tree.rs`) asks of a new name.
    service_ancestors: DashMap<(Arc<str>, Box<str>), usize>,
    operations: OperationLog,
    /// Serialises changes to the set of namespaces and services, so checks
    /// like "no services left" cannot race a concurrent create. Instance
    /// changes do not take it.
    structure: Mutex<()>,
    observers: Vec<Arc<dyn RegistryObserver>>,
    /// Swapped whole by a reload. Only plans read it (the answer path reads
    /// the networks compiled into each zone), so a swap never waits and no
    /// reader ever locks.
    network_policy: ArcSwap<networks::NetworkPolicy>,
    /// The names of the TSIG keys the server holds (`[[transfer.keys]]`):
    /// the only keys a zone's own transfer settings may name.
    transfer_keys: ArcSwap<Vec<String>>,
}

/// The registry handle: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Registry {
    /// A registry that tells `observers` of every change, with the default
    /// network policy (private namespaces answer loopback unless told).
    pub fn new(observers: Vec<Arc<dyn RegistryObserver>>) -> Self {
        Self::with_policy(observers, networks::NetworkPolicy::default())
    }

    /// A registry that tells `observers` of every change and gives private
    /// namespaces their networks by `network_policy`.
    pub fn with_policy(
        observers: Vec<Arc<dyn RegistryObserver>>,
        network_policy: networks::NetworkPolicy,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                namespaces: DashMap::new(),
                namespace_ids: DashMap::new(),
                services: DashMap::new(),
                watched: DashSet::new(),
                service_ids: DashMap::new(),
                service_ancestors: DashMap::new(),
                operations: OperationLog::default(),
                structure: Mutex::new(()),
                observers,
                network_policy: ArcSwap::from_pointee(network_policy),
                transfer_keys: ArcSwap::from_pointee(Vec::new()),
            }),
        }
    }

    /// Records whether the health loop must look at `service`, stored
    /// under `id`: whether it has a health check or a heartbeat. Every
    /// change that puts a service's configuration in place calls it. It
    /// may be called with the service's entry held: `visit_watched` never
    /// holds `watched` while it waits for an entry.
    fn note_watched(&self, id: &Arc<str>, service: &Service) {
        if service.health_check.is_some() || service.heartbeat.is_some() {
            if !self.inner.watched.contains(id) {
                self.inner.watched.insert(Arc::clone(id));
            }
        } else if self.inner.watched.contains(id) {
            self.inner.watched.remove(id);
        }
    }

    /// Visits each service with a health check or a heartbeat. The ids are
    /// copied out first, so no lock of `watched` is held while a service's
    /// entry is: a change holds its entry while it notes the service.
    fn visit_watched(&self, mut visit: impl FnMut(&ServiceEntry)) {
        let ids: Vec<Arc<str>> = self
            .inner
            .watched
            .iter()
            .map(|id| Arc::clone(id.key()))
            .collect();
        for id in ids {
            if let Some(entry) = self.inner.services.get(&id) {
                visit(&entry);
            }
        }
    }

    fn structure(&self) -> MutexGuard<'_, ()> {
        // The guard protects no data of its own, so poisoning is harmless.
        self.inner
            .structure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry of the service with this id (or ARN), or ServiceNotFound.
    fn service_entry(
        &self,
        id: &str,
    ) -> Result<dashmap::mapref::one::Ref<'_, Arc<str>, Box<ServiceEntry>>> {
        self.inner
            .services
            .get(id_from_arn(id))
            .ok_or_else(|| services::not_found(id))
    }

    /// How private namespaces get their networks, as of now.
    pub fn network_policy(&self) -> Arc<networks::NetworkPolicy> {
        self.inner.network_policy.load_full()
    }

    /// Replaces the network policy (a reload). Namespaces keep the networks
    /// they store; what they are given from now on follows `policy`.
    pub fn set_network_policy(&self, policy: networks::NetworkPolicy) {
        self.inner.network_policy.store(Arc::new(policy));
    }

    /// The TSIG keys zones may name in their transfer settings, by name
    /// (lower case, no trailing dot). Namespaces that name a key no longer
    /// held keep it: their zone is then transferred to no one.
    pub fn set_transfer_keys(&self, names: Vec<String>) {
        self.inner.transfer_keys.store(Arc::new(names));
    }

    /// `settings` as a namespace of `kind` would store them, or why not:
    /// what a zones file is compared with.
    pub fn transfer_as_stored(
        &self,
        kind: NamespaceType,
        settings: TransferSettings,
    ) -> Result<TransferSettings> {
        validate::transfer(kind, settings, &self.inner.transfer_keys.load())
    }

    fn each_observer(&self, call: impl Fn(&dyn RegistryObserver)) {
        for observer in &self.inner.observers {
            call(observer.as_ref());
        }
    }
}

/// The moment a change is planned, as the write front read it. The registry
/// never reads a clock itself, so a plan depends on its inputs alone.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Wall-clock time, for the `created_at`/`updated_at` the API reports.
    pub wall: Millis,
    /// Monotonic time, for heartbeat clocks.
    pub instant: Instant,
}
