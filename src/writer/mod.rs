//! The write front: the one way to change the registry. Every mutation is
//! planned against the current state, committed to the store, and only
//! then applied — so nothing is visible (to the API or to DNS) before it is
//! durable, and a failed commit changes nothing. It is also where the clock
//! is read: the registry's plans take the moment as an argument.
//!
//! Locks keep a plan valid until it is applied: structural changes
//! (namespaces, services, tags) exclude everything else; instance changes
//! exclude only changes to the same instance, so concurrent registrations
//! reach the journal together and share one disk write.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, OwnedMutexGuard, OwnedRwLockReadGuard, RwLock, oneshot};

use crate::metrics;
use crate::registry::{
    Change, HealthStatus, InstanceRegistration, Lapse, Millis, Namespace, NamespaceUpdate,
    NewNamespace, NewService, Now, Pending, Plan, Registry, RegistryError, Result, Service,
    ServiceUpdate, Tags, id_from_arn,
};
use crate::store::{Backend, CommitError, Revision};

mod cluster;
mod restore;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use restore::{RestoreError, Restored};

/// Instance changes are serialised per stripe; more stripes, fewer false
/// conflicts between different instances.
const STRIPES: usize = 1024;

struct Locks {
    structure: Arc<RwLock<()>>,
    stripes: Vec<Arc<Mutex<()>>>,
}

/// The registry's durable front: what the admin API, the zones files and
/// the health checker change state through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    registry: Registry,
    store: Arc<dyn Backend>,
    locks: Arc<Locks>,
    /// Set on a cluster node: changes go through the shared store's
    /// guarded commits and come back through its follower (`cluster.rs`).
    cluster: Option<Arc<cluster::Cluster>>,
}

/// The moment, read once per change.
fn now() -> Now {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as Millis)
        .unwrap_or(0);
    Now {
        wall,
        instant: Instant::now(),
    }
}

fn stripe_of(service_id: &str, instance_id: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    id_from_arn(service_id).hash(&mut hasher);
    // Case ignored: ids differing only in case are one instance.
    for byte in instance_id.bytes() {
        hasher.write_u8(byte.to_ascii_lowercase());
    }
    (hasher.finish() as usize) % STRIPES
}

/// Commits `changes` to the store; `consequence` tells the caller what a
/// failure left behind. A change that keeps nothing (a heartbeat that finds
/// its instance healthy already) costs no commit.
async fn save(store: &dyn Backend, changes: Vec<Change>, consequence: &str) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    answered(store.commit(changes), consequence).await
}

/// What a commit's answer means to the caller; see [`save`].
async fn answered(
    commit: oneshot::Receiver<std::result::Result<Revision, CommitError>>,
    consequence: &str,
) -> Result<()> {
    match commit.await {
        Ok(Ok(_revision)) => Ok(()),
        Ok(Err(error)) => Err(RegistryError::Internal(format!(
            "the change could not be saved, so {consequence}: {error}"
        ))),
        Err(_) => Err(RegistryError::Internal(format!(
            "the store has stopped, so {consequence}"
        ))),
    }
}

impl Writer {
    /// A front over `registry` that keeps changes in `store`. The registry
    /// must hold what the store holds already (see [`Writer::restore`]).
    pub fn new(registry: Registry, store: Arc<dyn Backend>) -> Self {
        Self {
            registry,
            store,
            locks: Arc::new(Locks {
                structure: Arc::new(RwLock::new(())),
                stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
            }),
            cluster: None,
        }
    }

    /// The registry, for reads.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `read` (of the registry) at once on a single server; on a
    /// cluster node, as of one whole applied revision of the shared store:
    /// never in the middle of a transaction being applied, nor of a
    /// re-read, so the API sees every namespace, service and instance of
    /// one revision together, as DNS does. Waits (without blocking a
    /// thread) while the follower applies.
    pub async fn read<T>(&self, read: impl FnOnce() -> T) -> T {
        let Some(cluster) = &self.cluster else {
            return read();
        };
        loop {
            let mut applied = cluster.applied_changes();
            if let Some(_whole) = cluster.whole_revision() {
                return read();
            }
            // Woken once the follower has let go, whatever it applied.
            let _ = applied.changed().await;
        }
    }

    /// On a cluster node, how it follows the shared store (for status).
    pub fn following(&self) -> Option<Arc<crate::store::Following>> {
        self.cluster.as_ref().map(|cluster| cluster.following())
    }

    async fn instance_locks(
        &self,
        service_id: &str,
        instance_id: &str,
    ) -> (OwnedRwLockReadGuard<()>, OwnedMutexGuard<()>) {
        let shared = Arc::clone(&self.locks.structure).read_owned().await;
        let stripe = Arc::clone(&self.locks.stripes[stripe_of(service_id, instance_id)])
            .lock_owned()
            .await;
        (shared, stripe)
    }

    /// Plans, stores and applies one change in a task of its own, so a
    /// caller that goes away (a client hanging up) cannot leave a journaled
    /// change unapplied. On a cluster node the plan may run again, when
    /// another node changed the namespace first.
    async fn run<P, G>(
        &self,
        guards: G,
        plan: impl Fn(&Registry) -> Result<Plan<P>> + Send + Sync + 'static,
        apply: fn(&Registry, P) -> P::Output,
    ) -> Result<P::Output>
    where
        P: Pending + Send + 'static,
        P::Output: Send + 'static,
        G: Send + 'static,
    {
        let registry = self.registry.clone();
        let store = Arc::clone(&self.store);
        let cluster = self.cluster.clone();
        let task = tokio::spawn(async move {
            let _guards = guards;
            if let Some(cluster) = cluster {
                return cluster.write(&registry, &plan, apply).await;
            }
            let pending = match plan(&registry)? {
                Plan::Done(output) => return Ok(output),
                Plan::Apply(pending) => pending,
            };
            save(store.as_ref(), pending.changes(), "nothing changed").await?;
            Ok(apply(&registry, pending))
        });
        task.await
            .map_err(|error| RegistryError::Internal(format!("the change failed: {error}")))?
    }

    /// Plans many changes at once (nothing else runs meanwhile), stores
    /// them in a few large commits and applies each commit's changes
    /// together: for loading zones/, where one commit (and one recompile of
    /// the service) per change would be slow. `apply` returns one output
    /// per change, in order.
    ///
    /// The commits are unsynced ([`Backend::commit_unsynced`]): what zones/
    /// declares a start applies again until zones/ is marked applied, and
    /// that mark is durable, so an fsync per commit would buy nothing. So
    /// each commit's changes are applied while it is written: the registry
    /// may hold them a moment before the store does, as it may hold them
    /// after a crash that the store does not survive with them.
    async fn run_many<P>(
        &self,
        plan: impl FnOnce(&Registry) -> Result<Vec<Plan<P>>> + Send + 'static,
        apply: fn(&Registry, Vec<P>) -> Vec<P::Output>,
    ) -> Result<Vec<P::Output>>
    where
        P: Pending + Send + 'static,
        P::Output: Send + 'static,
    {
        /// Changes per commit: large enough to amortise the fsync, small
        /// enough to keep one transaction's memory bounded.
        const CHUNK: usize = 10_000;
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let registry = self.registry.clone();
        let store = Arc::clone(&self.store);
        let cluster = self.cluster.clone();
        let task = tokio::spawn(async move {
            let _guard = guard;
            if let Some(cluster) = cluster {
                let chunk = cluster.max_batch();
                return cluster.write_many(&registry, plan, apply, chunk).await;
            }
            let mut outputs = Vec::new();
            let mut pending = Vec::new();
            for plan in plan(&registry)? {
                match plan {
                    Plan::Done(output) => outputs.push(Some(output)),
                    Plan::Apply(change) => {
                        pending.push((outputs.len(), change));
                        outputs.push(None);
                    }
                }
            }
            while !pending.is_empty() {
                let chunk: Vec<(usize, P)> = pending.drain(..pending.len().min(CHUNK)).collect();
                let changes = chunk
                    .iter()
                    .flat_map(|(_, change)| change.changes())
                    .collect();
                // The store writes while the registry applies: the two are
                // a first start's largest costs, on two threads.
                let committed = store.commit_unsynced(changes);
                let (indices, chunk): (Vec<usize>, Vec<P>) = chunk.into_iter().unzip();
                for (index, output) in indices.into_iter().zip(apply(&registry, chunk)) {
                    outputs[index] = Some(output);
                }
                answered(
                    committed,
                    "zones/ is applied again at the next start, which it needs",
                )
                .await?;
            }
            Ok(outputs.into_iter().flatten().collect())
        });
        task.await
            .map_err(|error| RegistryError::Internal(format!("the change failed: {error}")))?
    }

    /// Creates many services in one go (see `run_many`); all or none are
    /// planned, so an invalid one fails the call before anything changes.
    pub async fn create_services(&self, new: Vec<NewService>) -> Result<Vec<Service>> {
        self.run_many(
            move |r| {
                let now = now();
                new.into_iter()
                    .map(|service| r.plan_create_service(service, now))
                    .collect()
            },
            Registry::apply_create_services,
        )
        .await
    }

    /// Registers many distinct instances in one go (see `run_many`), for
    /// bulk loads: they leave no operation records, which would push the
    /// API's out of the bounded log.
    pub async fn register_instances(
        &self,
        registrations: Vec<InstanceRegistration>,
    ) -> Result<Vec<String>> {
        self.run_many(
            move |r| {
                let now = now();
                registrations
                    .into_iter()
                    .map(|registration| {
                        Ok(match r.plan_register_instance(registration, now)? {
                            Plan::Apply(pending) => Plan::Apply(pending.unlogged()),
                            done => done,
                        })
                    })
                    .collect()
            },
            Registry::apply_register_instances,
        )
        .await
        .inspect(|ids| metrics::events().registered(ids.len() as u64))
    }

    pub async fn create_namespace(&self, new: NewNamespace) -> Result<(Namespace, String)> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        self.run(
            guard,
            move |r| r.plan_create_namespace(new.clone(), now()),
            Registry::apply_create_namespace,
        )
        .await
    }

    pub async fn update_namespace(&self, id: &str, update: NamespaceUpdate) -> Result<String> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let id = id.to_string();
        self.run(
            guard,
            move |r| r.plan_update_namespace(&id, update.clone(), now()),
            Registry::apply_update_namespace,
        )
        .await
    }

    pub async fn delete_namespace(&self, id: &str) -> Result<String> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let id = id.to_string();
        self.run(
            guard,
            move |r| r.plan_delete_namespace(&id, now()),
            Registry::apply_delete_namespace,
        )
        .await
    }

    pub async fn create_service(&self, new: NewService) -> Result<Service> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        self.run(
            guard,
            move |r| r.plan_create_service(new.clone(), now()),
            Registry::apply_create_service,
        )
        .await
    }

    pub async fn update_service(&self, id: &str, update: ServiceUpdate) -> Result<String> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let id = id.to_string();
        self.run(
            guard,
            move |r| r.plan_update_service(&id, update.clone(), now()),
            Registry::apply_update_service,
        )
        .await
    }

    pub async fn delete_service(&self, id: &str) -> Result<()> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let id = id.to_string();
        self.run(
            guard,
            move |r| r.plan_delete_service(&id),
            Registry::apply_delete_service,
        )
        .await
    }

    pub async fn register_instance(&self, registration: InstanceRegistration) -> Result<String> {
        let guards = self
            .instance_locks(&registration.service_id, &registration.instance_id)
            .await;
        self.run(
            guards,
            move |r| r.plan_register_instance(registration.clone(), now()),
            Registry::apply_register_instance,
        )
        .await
        .inspect(|_| metrics::events().registered(1))
    }

    pub async fn deregister_instance(&self, service_id: &str, instance_id: &str) -> Result<String> {
        let guards = self.instance_locks(service_id, instance_id).await;
        let (service_id, instance_id) = (service_id.to_string(), instance_id.to_string());
        self.run(
            guards,
            move |r| r.plan_deregister_instance(&service_id, &instance_id, now()),
            Registry::apply_deregister_instance,
        )
        .await
        .inspect(|_| metrics::events().deregistered())
    }

    pub async fn set_health(
        &self,
        service_id: &str,
        instance_id: &str,
        status: HealthStatus,
        custom: bool,
    ) -> Result<bool> {
        let guards = self.instance_locks(service_id, instance_id).await;
        let (service_id, instance_id) = (service_id.to_string(), instance_id.to_string());
        self.run(
            guards,
            move |r| r.plan_set_health(&service_id, &instance_id, status, custom),
            Registry::apply_set_health,
        )
        .await
        .inspect(|&changed| {
            if changed {
                metrics::events().health_changed(status.as_str());
            }
        })
    }

    /// Records a heartbeat and makes the instance HEALTHY (if it was not).
    /// Returns whether its status changed. Holds the instance's lock, so a
    /// heartbeat and the lapse it answers cannot cross.
    pub async fn heartbeat(&self, service_id: &str, instance_id: &str) -> Result<bool> {
        let guards = self.instance_locks(service_id, instance_id).await;
        let (service_id, instance_id) = (service_id.to_string(), instance_id.to_string());
        let heard = (service_id.clone(), instance_id.clone());
        self.run(
            guards,
            move |r| r.plan_heartbeat(&service_id, &instance_id, now()),
            Registry::apply_heartbeat,
        )
        .await
        .inspect(|&changed| {
            if let Some(cluster) = &self.cluster {
                cluster.heard(&heard.0, &heard.1);
            }
            if changed {
                metrics::events().health_changed(HealthStatus::Healthy.as_str());
            }
        })
    }

    /// How much later than its TTL silence is acted on: on a cluster node,
    /// the time a heartbeat received elsewhere may take to be heard here
    /// (`cluster/beats.rs`); nothing on a server of its own.
    pub fn heartbeat_slack(&self) -> std::time::Duration {
        match &self.cluster {
            Some(_) => cluster::HEARD_WITHIN,
            None => std::time::Duration::ZERO,
        }
    }

    /// Acts on an instance's silence: UNHEALTHY past the TTL, deregistered
    /// past the grace period. Looks again under the instance's lock, so a
    /// heartbeat that arrived meanwhile wins. Returns what was done.
    pub async fn expire_heartbeat(
        &self,
        service_id: &str,
        instance_id: &str,
    ) -> Result<Option<Lapse>> {
        // On a cluster node this runs on the health leader only, and
        // heartbeats other nodes received reach its clocks within the
        // slack: silence is judged that much later.
        let guards = self.instance_locks(service_id, instance_id).await;
        let lapse = self
            .registry
            .heartbeat_lapse(service_id, instance_id, self.judged_at())?;
        let (service_id, instance_id) = (service_id.to_string(), instance_id.to_string());
        match lapse {
            None => Ok(None),
            Some(Lapse::Unhealthy) => self
                .run(
                    guards,
                    move |r| {
                        r.plan_set_health(&service_id, &instance_id, HealthStatus::Unhealthy, false)
                    },
                    Registry::apply_set_health,
                )
                .await
                .map(|changed| {
                    if changed {
                        metrics::events().health_changed(HealthStatus::Unhealthy.as_str());
                    }
                    lapse
                }),
            Some(Lapse::Deregister) => self
                .run(
                    guards,
                    move |r| r.plan_deregister_instance(&service_id, &instance_id, now()),
                    Registry::apply_deregister_instance,
                )
                .await
                .map(|_| {
                    metrics::events().deregistered();
                    lapse
                }),
        }
    }

    /// The moment silence is judged at: now, less the slack.
    fn judged_at(&self) -> Instant {
        let now = Instant::now();
        now.checked_sub(self.heartbeat_slack()).unwrap_or(now)
    }

    /// UpdateServiceAttributes: sets these keys on the service.
    pub async fn update_service_attributes(&self, service_id: &str, set: Tags) -> Result<()> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let service_id = service_id.to_string();
        self.run(
            guard,
            move |r| r.plan_update_service_attributes(&service_id, &set),
            Registry::apply_service_attributes,
        )
        .await
    }

    /// DeleteServiceAttributes: removes these keys from the service.
    pub async fn delete_service_attributes(
        &self,
        service_id: &str,
        keys: Vec<String>,
    ) -> Result<()> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let service_id = service_id.to_string();
        self.run(
            guard,
            move |r| r.plan_delete_service_attributes(&service_id, &keys),
            Registry::apply_service_attributes,
        )
        .await
    }

    pub async fn retag(&self, resource: &str, add: Tags, remove: Vec<String>) -> Result<()> {
        let guard = Arc::clone(&self.locks.structure).write_owned().await;
        let resource = resource.to_string();
        self.run(
            guard,
            move |r| r.plan_retag(&resource, &add, &remove),
            Registry::apply_retag,
        )
        .await
    }
}
