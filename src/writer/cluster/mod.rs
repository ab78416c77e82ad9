//! The write front of a cluster node: changes go to a shared store (etcd)
//! in guarded transactions, and every committed transaction — this node's
//! and the others' — is applied here in the store's order by one follower
//! task.
//!
//! - **Guards.** Each transaction checks that what its plan read is
//!   unchanged after the revision this node had applied when it planned
//!   (`mod_revision <= applied`, read under the follow lock's read side
//!   together with the plan, so the plan saw exactly that state): an
//!   instance change reads its service and its instance, so registrations
//!   of different instances never conflict; a structural change reads its
//!   namespace's marker, which every change in the namespace moves; a
//!   namespace created or deleted also reads the set of namespaces. If
//!   another node changed something read, nothing is written: the front
//!   waits until it has applied the store's revision and plans again
//!   against the updated registry, up to [`ATTEMPTS`] times.
//!   Concurrent writes of one node need no turn-taking: the write front's
//!   locks already keep two writes to one instance, or a structural change
//!   and anything else, apart.
//! - **One applier.** A node's own transaction is applied by the follower
//!   too, when the watch brings it, by running the node's own plan (the
//!   caller's answer, its operation id, comes from it); the front waits
//!   for that before it answers. So a write is acknowledged only once it
//!   is in etcd *and* in this node's registry and DNS, and changes apply
//!   in one order on every node.
//! - **Serials.** Before and after each transaction, every namespace it
//!   touched is pinned to the transaction's revision (plus the namespace's
//!   serial offset, which a copy into etcd sets so serials never go
//!   back): a zone's SOA serial follows the revision of its last change,
//!   the same on every node.
//! - **etcd away.** Once the follower reports etcd unreachable, writes are
//!   refused at once with the reason; DNS answers from what was applied,
//!   and the node reports itself stale (`store::Following`, `cairn status`).
//! - **Heartbeats** received here are shared with every node a few times
//!   a second (`beats.rs`); the health leader acts on silence.
//! - **Re-reads** (after compaction, and a periodic consistency check
//!   against the store at the applied revision) are `resync.rs`; a write
//!   whose transaction a re-read holds is run and answered by the re-read
//!   (`in_flight.rs`).

mod beats;
mod in_flight;
mod resync;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::registry::{Change, Pending, Plan, Registry, RegistryError, Result};
use crate::store::{
    Followed, Following, Guard, Guarded, Origin, Read, SharedBackend, SharedRevision,
    SharedSnapshot,
};
pub(crate) use beats::HEARD_WITHIN;
use in_flight::LocalWrite;
#[cfg(test)]
pub(super) use resync::differences;

/// Plans made per write before giving up to other nodes' changes.
pub(super) const ATTEMPTS: usize = 16;
/// How long a committed write may wait to be applied here.
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// What a commit came to.
enum Committed<O> {
    /// Made at this revision and applied here, with the plan's output and
    /// the markers it moved.
    Applied(SharedRevision, O, Vec<Option<String>>),
    /// Another node changed a guarded namespace first; nothing was made.
    Conflict(SharedRevision),
}

/// What this node has applied: the guards' reading.
#[derive(Default, Clone)]
pub(super) struct Seen {
    applied: SharedRevision,
}

pub(crate) struct Cluster {
    store: Arc<dyn SharedBackend>,
    node: u64,
    writes: AtomicU64,
    /// Read side: a plan and the guards it is read with. Write side: the
    /// follower applying one transaction. Never held across an await.
    seen: RwLock<Seen>,
    /// This node's writes in flight, by write number: what the follower
    /// runs when their transaction comes back.
    local: Mutex<HashMap<u64, LocalWrite>>,
    /// Woken when a write in flight learns its revision or ends: what a
    /// re-read waits on before it settles which writes it holds.
    settled: tokio::sync::Notify,
    applied: watch::Sender<SharedRevision>,
    /// Applied and heard-of revisions, and why etcd cannot be reached,
    /// while it cannot: what status calls read.
    following: Arc<Following>,
    /// Heartbeats received here since they were last shared.
    beats: Mutex<HashMap<(String, String), Instant>>,
    /// How often the applied state is checked against the store's.
    check_every: Option<Duration>,
    /// For tests only: the instance id whose first transaction the
    /// follower drops, taken when it is dropped.
    lose_event_of_instance: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps, changed by single inserts and removes: a panic elsewhere
    // cannot leave them half-changed.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Cluster {
    pub(super) fn new(
        store: Arc<dyn SharedBackend>,
        snapshot: &SharedSnapshot,
        check_every: Option<Duration>,
        lose_event_of_instance: Option<String>,
    ) -> Self {
        let seen = Seen {
            applied: snapshot.revision,
        };
        Self {
            store,
            node: fastrand::u64(..),
            writes: AtomicU64::new(1),
            seen: RwLock::new(seen),
            local: Mutex::new(HashMap::new()),
            settled: tokio::sync::Notify::new(),
            applied: watch::Sender::new(snapshot.revision),
            following: Arc::new(Following::new(snapshot.revision)),
            beats: Mutex::new(HashMap::new()),
            check_every,
            lose_event_of_instance: Mutex::new(lose_event_of_instance),
        }
    }

    /// What status calls read.
    pub(super) fn following(&self) -> Arc<Following> {
        Arc::clone(&self.following)
    }

    pub(super) fn max_batch(&self) -> usize {
        self.store.max_batch()
    }

    /// The registry held at one whole applied revision, while the guard
    /// lives; `None` while the follower is applying one (then wait for
    /// [`applied_changes`](Self::applied_changes)).
    pub(super) fn whole_revision(&self) -> Option<std::sync::RwLockReadGuard<'_, Seen>> {
        match self.seen.try_read() {
            Ok(seen) => Some(seen),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Changes whenever the follower has applied something.
    pub(super) fn applied_changes(&self) -> watch::Receiver<SharedRevision> {
        self.applied.subscribe()
    }

    fn refuse_if_unreachable(&self) -> Result<()> {
        match self.following.stale() {
            Some(stale) => Err(RegistryError::Internal(format!(
                "the cluster store cannot be reached, so nothing changed (DNS keeps answering from this node's last state): {}",
                stale.reason
            ))),
            None => Ok(()),
        }
    }

    /// Waits until this node has applied `revision`.
    async fn applied_to(&self, revision: SharedRevision) -> Result<()> {
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(APPLY_WAIT, applied.wait_for(|at| *at >= revision)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(RegistryError::Internal(format!(
                "this node has not caught up with the cluster store (revision {revision}) within {APPLY_WAIT:?}, so nothing changed; retry"
            ))),
        }
    }

    /// Plans with `plan`, commits the plan's changes guarded, and returns
    /// `apply`'s output once the follower has applied them here.
    pub(super) async fn write<P>(
        &self,
        registry: &Registry,
        plan: &(dyn Fn(&Registry) -> Result<Plan<P>> + Send + Sync),
        apply: fn(&Registry, P) -> P::Output,
    ) -> Result<P::Output>
    where
        P: Pending + Send + 'static,
        P::Output: Send + 'static,
    {
        for attempt in 0..ATTEMPTS {
            self.refuse_if_unreachable()?;
            let (pending, planned) = {
                let seen = self
                    .seen
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let pending = match plan(registry)? {
                    Plan::Done(output) => return Ok(output),
                    Plan::Apply(pending) => pending,
                };
                let changes = pending.changes();
                (pending, planned(registry, changes, |_| seen.applied))
            };
            if planned.0.is_empty() {
                // Nothing to keep (a heartbeat from a healthy instance):
                // only this node's memory changes.
                return Ok(apply(registry, pending));
            }
            match self
                .commit(planned, move |registry| apply(registry, pending))
                .await?
            {
                Committed::Applied(_, output, _) => return Ok(output),
                Committed::Conflict(revision) => {
                    tracing::debug!(
                        revision,
                        "another node changed the namespace meanwhile; planning again"
                    );
                    self.applied_to(revision).await?;
                    // Nodes that lost the same race would otherwise all
                    // come back at once, and again: a random pause, growing
                    // with the attempts, spreads them out.
                    let pause = fastrand::u64(0..=(attempt as u64 + 1) * 2);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        Err(RegistryError::Internal(format!(
            "other nodes kept changing the same namespace: {ATTEMPTS} attempts conflicted, so nothing changed; retry"
        )))
    }

    /// Plans many changes at once and commits them in transactions of at
    /// most `chunk` changes, each applied before the next is sent (bulk
    /// loads: zones/ at start). A conflict with another node stops it
    /// with an error; what was committed before stays, and zones/ are
    /// idempotent, so the next start finishes the load.
    pub(super) async fn write_many<P>(
        &self,
        registry: &Registry,
        plan: impl FnOnce(&Registry) -> Result<Vec<Plan<P>>>,
        apply: fn(&Registry, Vec<P>) -> Vec<P::Output>,
        chunk: usize,
    ) -> Result<Vec<P::Output>>
    where
        P: Pending + Send + 'static,
        P::Output: Send + 'static,
    {
        self.refuse_if_unreachable()?;
        let mut moved: HashMap<Read, SharedRevision> = HashMap::new();
        let (plans, expected) = {
            let seen = self
                .seen
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (plan(registry)?, seen.clone())
        };
        let mut outputs = Vec::new();
        let mut pending = Vec::new();
        for plan in plans {
            match plan {
                Plan::Done(output) => outputs.push(Some(output)),
                Plan::Apply(change) => {
                    pending.push((outputs.len(), change));
                    outputs.push(None);
                }
            }
        }
        while !pending.is_empty() {
            let part: Vec<(usize, P)> = pending.drain(..pending.len().min(chunk.max(1))).collect();
            let (indices, part): (Vec<usize>, Vec<P>) = part.into_iter().unzip();
            let changes: Vec<Change> = part.iter().flat_map(Pending::changes).collect();
            // What an earlier part moved was moved by this load: checked
            // as unchanged since that part; everything else since the plan.
            let planned = planned(registry, changes, |read| {
                moved.get(read).copied().unwrap_or(expected.applied)
            });
            match self
                .commit(planned, move |registry| apply(registry, part))
                .await?
            {
                Committed::Applied(revision, applied, moves) => {
                    for namespace in moves {
                        let read = match namespace {
                            Some(id) => Read::Namespace(id),
                            None => Read::Namespaces,
                        };
                        moved.insert(read, revision);
                    }
                    for (index, output) in indices.into_iter().zip(applied) {
                        outputs[index] = Some(output);
                    }
                }
                Committed::Conflict(_) => {
                    return Err(RegistryError::Internal(
                        "another node changed the same namespace during this bulk load; what was saved before stays: run it again".into(),
                    ));
                }
            }
        }
        Ok(outputs.into_iter().flatten().collect())
    }

    /// Commits one transaction and, once the follower has run `apply` for
    /// it here, returns its output.
    async fn commit<O: Send + 'static>(
        &self,
        (changes, guards, moves): Planned,
        apply: impl FnOnce(&Registry) -> O + Send + 'static,
    ) -> Result<Committed<O>> {
        let (answer, answered) = oneshot::channel();
        let write = self.writes.fetch_add(1, Ordering::SeqCst);
        lock(&self.local).insert(
            write,
            LocalWrite {
                apply: Box::new(move |registry: &Registry| {
                    let output = apply(registry);
                    Box::new(move || {
                        let _ = answer.send(output);
                    })
                }),
                committed: None,
                reread: None,
            },
        );
        let origin = Origin {
            node: self.node,
            write,
        };
        let verdict = self
            .store
            .commit_guarded(changes, guards, moves.clone(), origin)
            .await;
        let failed = |message: String| {
            lock(&self.local).remove(&write);
            self.settled.notify_one();
            Err(RegistryError::Internal(message))
        };
        match verdict {
            Ok(Ok(Guarded::Committed(revision))) => {
                if self.committed(write, revision) {
                    return Err(RegistryError::Internal(format!(
                        "the change was committed (etcd revision {revision}) while this node re-read the whole cluster store, which holds it: it is made; a retry finds it made (a registration, or any call with the same CreatorRequestId or UpdaterRequestId, answers success without changing anything)"
                    )));
                }
                match tokio::time::timeout(APPLY_WAIT, answered).await {
                    Ok(Ok(output)) => Ok(Committed::Applied(revision, output, moves)),
                    Ok(Err(_)) => Err(RegistryError::Internal(
                        "the change was committed, but this node stopped following the cluster store before applying it".into(),
                    )),
                    Err(_) => Err(RegistryError::Internal(format!(
                        "the change was committed to the cluster store, but this node has not applied it within {APPLY_WAIT:?}; it will appear once the node catches up"
                    ))),
                }
            }
            Ok(Ok(Guarded::Conflict(revision))) => {
                lock(&self.local).remove(&write);
                self.settled.notify_one();
                Ok(Committed::Conflict(revision))
            }
            Ok(Err(error)) => failed(format!("the change was not saved: {error}")),
            Err(_) => failed("the store has stopped, so nothing changed".into()),
        }
    }

    /// Follows the store from the snapshot's revision until `shutdown`,
    /// checking every `check_every` that what it applied is what the store
    /// holds at that revision.
    pub(super) async fn follow(
        self: Arc<Self>,
        registry: Registry,
        mut stream: mpsc::Receiver<Followed>,
        shutdown: CancellationToken,
    ) {
        let mut applied = *self.applied.borrow();
        let mut check = self.check_every.map(|every| {
            let mut ticker = tokio::time::interval_at((Instant::now() + every).into(), every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        });
        loop {
            let due = async {
                match check.as_mut() {
                    Some(ticker) => drop(ticker.tick().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let step = tokio::select! {
                _ = shutdown.cancelled() => return,
                step = stream.recv() => step,
                () = due => {
                    // The loop applies nothing while it checks, so the
                    // registry stays at `applied` for the comparison.
                    if let Some(snapshot) = self.check(&registry, applied).await {
                        applied = snapshot.revision;
                        self.resync(&registry, snapshot).await;
                    }
                    continue;
                }
            };
            let Some(step) = step else { return };
            match step {
                Followed::Batch {
                    revision,
                    changes,
                    namespaces,
                    origin,
                    beats,
                } => {
                    self.reachable();
                    // Debian's etcd 3.4.23 can repeat events: what was
                    // applied is never applied again.
                    if revision <= applied {
                        continue;
                    }
                    if self.loses_for_testing(&changes) {
                        tracing::warn!(
                            revision,
                            "testing: dropped this watch event as store.testing_lose_one_event_of_instance asks"
                        );
                    } else {
                        self.apply(&registry, revision, changes, &namespaces, origin);
                    }
                    beats::hear(&registry, beats);
                    applied = revision;
                    self.following.applied(applied);
                    self.applied.send_replace(applied);
                }
                Followed::Progress(revision) => {
                    self.reachable();
                    self.following.heard(revision);
                    // Only waits learn from progress: Debian's etcd 3.4.23
                    // can send a progress notice before the events it
                    // covers (etcd#15220), so it never marks a revision as
                    // applied for the skip above or for the guards.
                    self.applied.send_if_modified(|at| {
                        let moved = revision > *at;
                        *at = (*at).max(revision);
                        moved
                    });
                }
                Followed::Resync(snapshot) => {
                    self.reachable();
                    applied = snapshot.revision;
                    self.resync(&registry, snapshot).await;
                }
                Followed::Unreachable(reason) => {
                    let logged = reason.clone();
                    if self.following.unreachable(reason) {
                        tracing::warn!(reason = %logged, "the cluster store is unreachable; refusing writes, answering DNS from the last state");
                    }
                }
            }
        }
    }

    fn reachable(&self) {
        if self.following.reachable() {
            tracing::info!("the cluster store is reachable again; accepting writes");
        }
    }

    fn apply(
        &self,
        registry: &Registry,
        revision: SharedRevision,
        changes: Vec<Change>,
        namespaces: &[(String, u64)],
        origin: Option<Origin>,
    ) {
        let mut seen = self
            .seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Pinned first, so DNS sees this revision's serial as the
        // service recompiles; namespaces this revision creates are
        // pinned after.
        for (namespace, serial) in namespaces {
            registry.pin_revision(namespace, *serial);
        }
        let mine = origin
            .filter(|origin| origin.node == self.node)
            .and_then(|origin| lock(&self.local).remove(&origin.write));
        match mine {
            Some(write) => (write.apply)(registry)(),
            None => {
                let now = Instant::now();
                for change in changes {
                    registry.apply_stored(change, revision, now);
                }
            }
        }
        for (namespace, serial) in namespaces {
            registry.pin_revision(namespace, *serial);
        }
        seen.applied = revision;
    }
}

/// A transaction ready to commit: its changes, its guards and the
/// markers it moves.
type Planned = (Vec<Change>, Vec<Guard>, Vec<Option<String>>);

/// `changes` with their guards (what their plan read, each unchanged
/// since `since(read)`) and the markers they move: every namespace they
/// touch, and the set of namespaces when one is created, changed or
/// deleted.
fn planned(
    registry: &Registry,
    changes: Vec<Change>,
    since: impl Fn(&Read) -> SharedRevision,
) -> Planned {
    let mut reads = BTreeSet::new();
    let mut moves: BTreeSet<Option<String>> = BTreeSet::new();
    let mut created: HashMap<&str, &str> = HashMap::new();
    for change in &changes {
        if let Change::Service(service) = change {
            created.insert(&service.id, &service.namespace_id);
        }
    }
    let namespace_of = |service_id: &str| {
        created
            .get(service_id)
            .map(|id| id.to_string())
            .or_else(|| registry.service(service_id).map(|s| s.namespace_id))
    };
    for change in &changes {
        match change {
            Change::Namespace(namespace) => {
                reads.insert(Read::Namespaces);
                reads.insert(Read::Namespace(namespace.id.clone()));
                moves.insert(None);
                moves.insert(Some(namespace.id.clone()));
            }
            Change::NamespaceDeleted { namespace_id } => {
                reads.insert(Read::Namespaces);
                reads.insert(Read::Namespace(namespace_id.clone()));
                moves.insert(None);
                moves.insert(Some(namespace_id.clone()));
            }
            Change::Service(service) => {
                reads.insert(Read::Namespace(service.namespace_id.clone()));
                reads.insert(Read::NamespaceExists(service.namespace_id.clone()));
                moves.insert(Some(service.namespace_id.clone()));
            }
            Change::ServiceDeleted { service_id } => {
                if let Some(namespace) = namespace_of(service_id) {
                    reads.insert(Read::Namespace(namespace.clone()));
                    moves.insert(Some(namespace));
                }
            }
            Change::Instance {
                service_id,
                instance,
            } => {
                // A service created in this same batch is not in etcd yet.
                if !created.contains_key(service_id.as_str()) {
                    reads.insert(Read::Service(service_id.clone()));
                }
                reads.insert(Read::Instance {
                    service_id: service_id.clone(),
                    instance_id: instance.id.clone(),
                });
                moves.extend(namespace_of(service_id).map(Some));
            }
            Change::InstanceDeleted {
                service_id,
                instance_id,
            } => {
                reads.insert(Read::Service(service_id.clone()));
                reads.insert(Read::Instance {
                    service_id: service_id.clone(),
                    instance_id: instance_id.clone(),
                });
                moves.extend(namespace_of(service_id).map(Some));
            }
            Change::Operation(_) => {}
        }
    }
    let guards = reads
        .into_iter()
        .map(|read| Guard {
            since: since(&read),
            read,
        })
        .collect();
    (changes, guards, moves.into_iter().collect())
}
