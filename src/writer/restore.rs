//! Start-up: the registry is filled from its store's snapshot before the
//! write front opens, so the front and the store agree from the first
//! change on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Writer;
use super::cluster::Cluster;
use crate::registry::{Instance, Registry, RegistryError, Service};
use crate::store::{Backend, Revision, SharedBackend, Snapshot, StoreError};

/// What a restore put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub namespaces: usize,
    pub instances: usize,
}

/// Why the stored state could not be put back. Start-up stops on either.
#[derive(Debug, Error)]
pub enum RestoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The snapshot read, but its rows contradict each other (a service
    /// whose namespace is not stored).
    #[error("the stored state does not fit together: {0}")]
    Inconsistent(RegistryError),
    #[error("the store stopped before its snapshot was read")]
    Stopped,
}

impl Writer {
    /// Reads `store`'s snapshot into `registry` (which must be empty; its
    /// observers, DNS among them, follow as it fills) and returns the front
    /// over both.
    pub async fn restore(
        registry: Registry,
        store: Arc<dyn Backend>,
    ) -> Result<(Writer, Restored), RestoreError> {
        let snapshot = store
            .snapshot()
            .await
            .map_err(|_| RestoreError::Stopped)??;
        Self::restore_from(registry, store, snapshot)
    }

    /// [`Writer::restore`] from a snapshot read already (at start-up, the
    /// redb store is read before its committer starts; see
    /// `Store::open_and_load`). `snapshot` must be what `store` holds.
    pub fn restore_from(
        registry: Registry,
        store: Arc<dyn Backend>,
        snapshot: Snapshot,
    ) -> Result<(Writer, Restored), RestoreError> {
        let restored = fill(&registry, snapshot, false).map_err(RestoreError::Inconsistent)?;
        Ok((Writer::new(registry, store), restored))
    }

    /// A cluster node's start: reads `store`'s snapshot at one revision
    /// into `registry` (empty; DNS follows as it fills), then follows the
    /// store from the next revision, checking it every `check_every`, and
    /// shares the heartbeats it receives, in a task that runs until
    /// `shutdown` (returned, for the caller to drain). Zones' serials are
    /// the store's revisions of their last changes from the first answer on.
    /// `lose_event_of_instance` is for tests only (see
    /// `store.testing_lose_one_event_of_instance`).
    pub async fn restore_clustered(
        registry: Registry,
        store: Arc<dyn SharedBackend>,
        check_every: Option<Duration>,
        lose_event_of_instance: Option<String>,
        shutdown: CancellationToken,
    ) -> Result<(Writer, Restored, JoinHandle<()>), RestoreError> {
        let shared = store
            .shared_snapshot()
            .await
            .map_err(|_| RestoreError::Stopped)??;
        let cluster = Arc::new(Cluster::new(
            Arc::clone(&store),
            &shared,
            check_every,
            lose_event_of_instance,
        ));
        let revision = shared.revision;
        // Started before the registry fills, from the snapshot's revision
        // and serial offsets; what it brings waits in its channel.
        let (stream, watching) = store.follow(&shared, shutdown.clone());
        let restored =
            fill(&registry, shared.snapshot, true).map_err(RestoreError::Inconsistent)?;
        let follow = Arc::clone(&cluster).follow(registry.clone(), stream, shutdown.clone());
        let share = Arc::clone(&cluster).share_beats(shutdown);
        // One task to drain: the follower, the sharing of heartbeats and
        // the watch under them all end on `shutdown`.
        let follower = tokio::spawn(async move {
            let (_, _, _) = tokio::join!(follow, share, watching);
        });
        let backend: Arc<dyn Backend> = store;
        let mut writer = Writer::new(registry, backend);
        writer.cluster = Some(cluster);
        tracing::info!(revision, "following the cluster store");
        Ok((writer, restored, follower))
    }
}

/// Revisions restart at no less than the store's revision, which no
/// revision handed out before can exceed, so they and SOA serials never go
/// backwards across restarts. With `pinned` (a shared store), each
/// namespace's revision is the store's, pinned before its services go in
/// so that filling does not move it.
///
/// The fill is one replacement for the observers: DNS gathers it aside,
/// keeps no change history while it does (nothing can ask for steps
/// older than the start), and shows it whole at the end.
fn fill(registry: &Registry, snapshot: Snapshot, pinned: bool) -> Result<Restored, RegistryError> {
    let floor = snapshot.changes;
    let namespaces = snapshot.namespaces.len();
    let instances = snapshot.services.iter().map(|(_, held)| held.len()).sum();
    // Heartbeat times are not stored: every restored instance gets a full
    // TTL from now to report in.
    let now = Instant::now();
    registry.replacing(|| {
        for mut namespace in snapshot.namespaces {
            namespace.revision = namespace.revision.max(floor);
            let (id, revision) = (namespace.id.clone(), namespace.revision);
            registry.insert_namespace(namespace);
            if pinned {
                registry.pin_revision(&id, revision);
            }
        }
        insert_services(registry, snapshot.services, floor, now)
    })?;
    for operation in snapshot.operations {
        registry.insert_operation(operation);
    }
    Ok(Restored {
        namespaces,
        instances,
    })
}

/// Puts the services in on every core: compiling each one's records is
/// most of a restart's time (a million instances: 5.8 of 10 s on one
/// core), and services are independent of each other; the registry and
/// DNS take changes to different services from any thread.
fn insert_services(
    registry: &Registry,
    mut services: Vec<(Service, Vec<Instance>)>,
    floor: Revision,
    now: Instant,
) -> Result<(), RegistryError> {
    let insert = |services: Vec<(Service, Vec<Instance>)>| {
        services.into_iter().try_for_each(|(mut service, held)| {
            service.revision = service.revision.max(floor);
            registry.insert_service(service, held, now)
        })
    };
    let Some(share) = crate::cores::share_of(services.len()) else {
        return insert(services);
    };
    let mut shares = Vec::new();
    while services.len() > share {
        shares.push(services.split_off(services.len() - share));
    }
    shares.push(services);
    std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(move || insert(share)))
            .collect();
        crate::cores::join_all(workers)
    })
}
