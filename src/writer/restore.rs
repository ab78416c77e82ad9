//! Start-up: the registry is filled from its store's snapshot before the
//! write front opens, so the front and the store agree from the first
//! change on.

use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;

use super::Writer;
use crate::registry::{Registry, RegistryError};
use crate::store::{Backend, Snapshot, StoreError};

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
        let restored = fill(&registry, snapshot).map_err(RestoreError::Inconsistent)?;
        Ok((Writer::new(registry, store), restored))
    }
}

/// Revisions restart at no less than the store's revision, which no
/// revision handed out before can exceed, so they and SOA serials never go
/// backwards across restarts.
fn fill(registry: &Registry, snapshot: Snapshot) -> Result<Restored, RegistryError> {
    let floor = snapshot.changes;
    let namespaces = snapshot.namespaces.len();
    let mut instances = 0;
    for mut namespace in snapshot.namespaces {
        namespace.revision = namespace.revision.max(floor);
        registry.insert_namespace(namespace);
    }
    // Heartbeat times are not stored: every restored instance gets a full
    // TTL from now to report in.
    let now = Instant::now();
    for (mut service, service_instances) in snapshot.services {
        service.revision = service.revision.max(floor);
        instances += service_instances.len();
        registry.insert_service(service, service_instances, now)?;
    }
    for operation in snapshot.operations {
        registry.insert_operation(operation);
    }
    Ok(Restored {
        namespaces,
        instances,
    })
}
