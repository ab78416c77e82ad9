//! Putting the store's whole state in place of a node's: after etcd
//! compacted the history the node needed, and when a periodic consistency
//! check finds the node's state differing from the store's at the
//! revision it applied (Debian's etcd 3.4.23 has watch bugs that can drop
//! or repeat events; the check is how a node finds out).
//!
//! A re-read is one replacement for DNS (`Registry::replacing`): the name
//! table gathers the new state aside and publishes it in one store, so no
//! query sees one service from the store's state and another from the
//! node's old one. Within it, services and namespaces gone from the store
//! go first (a name may have been taken again by a new one), then what the
//! store holds goes in, each service whole. The registry itself is changed
//! in place under the follow lock's write side, which plans and the API's
//! reads (`Writer::read`) take the read side of: they see the registry
//! before the re-read or after it, never during. Plans wait for it; DNS
//! does not (it answers from the published table meanwhile).
//!
//! Writes of this node in flight when the re-read comes are settled first
//! (for at most [`SETTLE_WAIT`]): each learns the revision it was committed
//! at. Those at or below the re-read's revision are in what was read, and
//! their watch events will never come: their own plans run just before the
//! store's state goes in (so their callers get their own answer, operation
//! id and all), and the answers leave once the new state is published.
//! Those above it come through the watch as usual.

use std::collections::HashSet;
use std::time::Instant;

use super::in_flight::Answer;
use super::{Cluster, lock};
use crate::registry::{Change, Instance, Namespace, Registry, Service};
use crate::store::{SharedRevision, SharedSnapshot, Snapshot};

/// Differences named in the log when a check finds some.
const NAMED: usize = 10;
impl Cluster {
    /// Puts `shared` in place of what `registry` holds.
    pub(super) async fn resync(&self, registry: &Registry, shared: SharedSnapshot) {
        let started = Instant::now();
        self.settle().await;
        let settled = started.elapsed();
        let mut seen = self
            .seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let locked = Instant::now();
        let revision = shared.revision;
        let (namespaces, services) = (
            shared.snapshot.namespaces.len(),
            shared.snapshot.services.len(),
        );
        let instances: usize = shared
            .snapshot
            .services
            .iter()
            .map(|(_, held)| held.len())
            .sum();
        let answers = registry.replacing(|| {
            let answers: Vec<Answer> = self
                .held_by_reread(revision)
                .into_iter()
                .map(|apply| apply(registry))
                .collect();
            replace(registry, shared);
            answers
        });
        seen.applied = revision;
        drop(seen);
        let held = locked.elapsed();
        let answered = answers.len();
        for answer in answers {
            answer();
        }
        self.following.applied(revision);
        self.applied.send_replace(revision);
        tracing::info!(
            revision,
            namespaces,
            services,
            instances,
            writes_answered = answered,
            settle_ms = settled.as_secs_f64() * 1e3,
            writes_held_ms = held.as_secs_f64() * 1e3,
            "re-read the cluster store"
        );
    }
}

/// Puts `shared` in place of what `registry` holds, each service whole.
fn replace(registry: &Registry, shared: SharedSnapshot) {
    let now = Instant::now();
    let revision = shared.revision;
    let snapshot = shared.snapshot;
    let stored_services: HashSet<&str> = snapshot
        .services
        .iter()
        .map(|(service, _)| service.id.as_str())
        .collect();
    let (held_namespaces, held_services) = registry.held_ids();
    for (service_id, _) in held_services {
        if stored_services.contains(service_id.as_str()) {
            continue;
        }
        if let Some(service) = registry.service(&service_id)
            && let Err(error) = registry.replace_stored_service(service, Vec::new(), now)
        {
            tracing::error!(service = %service_id, %error, "a service gone from the cluster store could not be emptied");
        }
        registry.apply_stored(Change::ServiceDeleted { service_id }, revision, now);
    }
    for namespace_id in held_namespaces {
        if !snapshot.namespaces.iter().any(|n| n.id == namespace_id) {
            registry.apply_stored(Change::NamespaceDeleted { namespace_id }, revision, now);
        }
    }
    let serials: Vec<(String, u64)> = snapshot
        .namespaces
        .iter()
        .map(|namespace| (namespace.id.clone(), namespace.revision))
        .collect();
    for namespace in snapshot.namespaces {
        let serial = namespace.revision;
        registry.apply_stored(Change::Namespace(namespace), serial, now);
    }
    for (service, instances) in snapshot.services {
        let name = service.name.clone();
        if let Err(error) = registry.replace_stored_service(service, instances, now) {
            tracing::error!(service = %name, %error, "a service in the cluster store does not fit here");
        }
    }
    for (namespace_id, serial) in serials {
        registry.pin_revision(&namespace_id, serial);
    }
}

impl Cluster {
    /// Compares what this node applied up to `applied` with the store's
    /// state at that revision. `Some` (the store's state, to put in place)
    /// if they differ; `None` if they agree or the store could not say
    /// (unreachable, or that revision compacted away: the next check
    /// looks again).
    pub(super) async fn check(
        &self,
        registry: &Registry,
        applied: SharedRevision,
    ) -> Option<SharedSnapshot> {
        let read = self.store.shared_snapshot_at(applied).await;
        let shared = match read {
            Ok(Ok(shared)) => shared,
            Ok(Err(error)) => {
                tracing::debug!(%error, applied, "consistency check skipped");
                return None;
            }
            Err(_) => return None,
        };
        let differences = differences(registry, &shared.snapshot);
        self.following.checked(!differences.is_empty());
        if differences.is_empty() {
            tracing::debug!(
                applied,
                "consistency check: this node agrees with the cluster store"
            );
            return None;
        }
        tracing::error!(
            applied,
            count = differences.len(),
            first = %differences.iter().take(NAMED).cloned().collect::<Vec<_>>().join("; "),
            "this node's state differs from the cluster store's at the revision it applied; putting the store's in its place"
        );
        Some(shared)
    }
}

/// What a node keeps of its own beside the stored state (revisions it
/// counts, counts it keeps), set aside for a comparison.
fn namespace_as_stored(mut namespace: Namespace) -> Namespace {
    namespace.revision = 0;
    namespace.service_count = 0;
    namespace
}

fn service_as_stored(mut service: Service) -> Service {
    service.revision = 0;
    service.instance_count = 0;
    service
}

fn sorted_instances(mut instances: Vec<Instance>) -> Vec<Instance> {
    instances.sort_by_key(|instance| instance.id.to_ascii_lowercase());
    instances
}

/// How `registry` differs from `snapshot`, one line per namespace or
/// service; empty if they hold the same.
pub(in crate::writer) fn differences(registry: &Registry, snapshot: &Snapshot) -> Vec<String> {
    let mut found = Vec::new();
    let mut held: Vec<Namespace> = registry
        .list_namespaces()
        .into_iter()
        .map(namespace_as_stored)
        .collect();
    let mut stored: Vec<Namespace> = snapshot
        .namespaces
        .iter()
        .cloned()
        .map(namespace_as_stored)
        .collect();
    held.sort_by(|a, b| a.id.cmp(&b.id));
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    if held != stored {
        found.push(format!(
            "namespaces: held {:?}, stored {:?}",
            held.iter().map(|n| &n.id).collect::<Vec<_>>(),
            stored.iter().map(|n| &n.id).collect::<Vec<_>>()
        ));
    }
    let mut held_ids: Vec<String> = registry
        .list_services(None)
        .into_iter()
        .map(|service| service.id)
        .collect();
    held_ids.sort();
    let mut stored_ids: Vec<&str> = snapshot
        .services
        .iter()
        .map(|(service, _)| service.id.as_str())
        .collect();
    stored_ids.sort_unstable();
    if held_ids != stored_ids {
        found.push(format!(
            "services: held {held_ids:?}, stored {stored_ids:?}"
        ));
    }
    for (service, instances) in &snapshot.services {
        let Some(mine) = registry.service(&service.id) else {
            continue;
        };
        if service_as_stored(mine) != service_as_stored(service.clone()) {
            found.push(format!("service {}: its settings differ", service.id));
        }
        let held = sorted_instances(registry.list_instances(&service.id).unwrap_or_default());
        if held != sorted_instances(instances.clone()) {
            found.push(format!("service {}: its instances differ", service.id));
        }
    }
    found
}

impl Cluster {
    /// Whether `changes` are the transaction a test asked to lose: the
    /// first to register or deregister that instance. Applied revisions
    /// move past it as if it had been applied, as with an event the watch
    /// never delivered, which only the consistency check can find.
    pub(super) fn loses_for_testing(&self, changes: &[Change]) -> bool {
        let mut lose = lock(&self.lose_event_of_instance);
        let Some(id) = lose.as_deref() else {
            return false;
        };
        let touches = changes.iter().any(|change| match change {
            Change::Instance { instance, .. } => instance.id == id,
            Change::InstanceDeleted { instance_id, .. } => instance_id == id,
            _ => false,
        });
        if touches {
            *lose = None;
        }
        touches
    }
}
