//! `cairn store copy --from A.toml --to B.toml`: moves a registry from the
//! store one config names to the store another names — the embedded file
//! into etcd, to grow a single server into a cluster, or back. Every
//! namespace, service (with its tags and settings), instance (with its
//! health) and operation is copied as the store keeps it; the target must
//! be empty, so nothing there is mixed with or overwritten by the copy.
//! No server may be running on either store meanwhile (redb's file lock
//! enforces it for the file; for etcd it is the operator's to keep).

use std::sync::Arc;

use super::{Backend, Snapshot, Store, StoreError};
use crate::config::{Config, StoreConfig};
use crate::registry::Change;

/// Changes per commit: within one etcd transaction's limit, and an
/// fsync per hundred rows is fast enough for a one-off copy to redb.
const CHUNK: usize = 100;

/// What a copy moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
    pub operations: usize,
}

/// An open store and what keeps it running.
struct Opened {
    backend: Arc<dyn Backend>,
    snapshot: Snapshot,
    committer: Option<std::thread::JoinHandle<()>>,
    name: String,
    /// The etcd store itself, whose serials the copy keeps.
    #[cfg(feature = "etcd")]
    etcd: Option<super::etcd::EtcdStore>,
}

async fn open(config: &Config) -> Result<Opened, StoreError> {
    match &config.store {
        StoreConfig::Redb => {
            let (store, snapshot) = Store::open_and_load(&config.data_dir)?;
            let name = store.path().display().to_string();
            let (backend, committer) = store.start()?;
            Ok(Opened {
                backend: Arc::new(backend),
                snapshot,
                committer: Some(committer),
                name,
                #[cfg(feature = "etcd")]
                etcd: None,
            })
        }
        #[cfg(feature = "etcd")]
        StoreConfig::Etcd(etcd) => {
            let store = super::etcd::EtcdStore::connect(etcd).await?;
            let snapshot = store.snapshot().await.map_err(|_| StoreError::Shared {
                detail: "the etcd store stopped while it was being read".into(),
            })??;
            Ok(Opened {
                backend: Arc::new(store.clone()),
                snapshot,
                committer: None,
                name: format!("etcd {} under {}", etcd.endpoints.join(","), etcd.prefix),
                etcd: Some(store),
            })
        }
        #[cfg(not(feature = "etcd"))]
        StoreConfig::Etcd(_) => Err(StoreError::Shared {
            detail: "this cairn was built without etcd support: build it with `--features etcd`"
                .into(),
        }),
    }
}

fn is_empty(snapshot: &Snapshot) -> bool {
    snapshot.namespaces.is_empty() && snapshot.services.is_empty() && snapshot.operations.is_empty()
}

/// Copies everything the store of `from` holds into the (empty) store of
/// `to`.
pub async fn copy(from: &Config, to: &Config) -> Result<Copied, StoreError> {
    let source = open(from).await?;
    let target = open(to).await?;
    if !is_empty(&target.snapshot) {
        return Err(StoreError::Shared {
            detail: format!(
                "{} already holds {} namespaces and {} services; copy only into an empty store (a new data_dir, or an unused etcd prefix)",
                target.name,
                target.snapshot.namespaces.len(),
                target.snapshot.services.len()
            ),
        });
    }
    let Snapshot {
        namespaces,
        services,
        operations,
        changes,
        // The record of the source's zones/ says nothing of the target.
        zones_applied: _,
    } = source.snapshot;
    // The serial each zone was served with: its revision, restored as no
    // less than the store's count of changes (`writer::restore`).
    #[cfg_attr(not(feature = "etcd"), allow(unused_variables))]
    let serials: Vec<(String, u64)> = namespaces
        .iter()
        .map(|namespace| (namespace.id.clone(), namespace.revision.max(changes)))
        .collect();
    let copied = Copied {
        namespaces: namespaces.len(),
        services: services.len(),
        instances: services.iter().map(|(_, instances)| instances.len()).sum(),
        operations: operations.len(),
    };
    // Parents before children, as a load expects them.
    let mut changes: Vec<Change> = namespaces.into_iter().map(Change::Namespace).collect();
    for (service, instances) in services {
        let service_id = service.id.clone();
        changes.push(Change::Service(service));
        changes.extend(instances.into_iter().map(|instance| Change::Instance {
            service_id: service_id.clone(),
            instance,
        }));
    }
    changes.extend(operations.into_iter().map(Change::Operation));
    let total = changes.len();
    let mut done = 0;
    let mut changes = changes.into_iter().peekable();
    while changes.peek().is_some() {
        let chunk: Vec<Change> = changes.by_ref().take(CHUNK).collect();
        let count = chunk.len();
        let verdict = target
            .backend
            .commit(chunk)
            .await
            .map_err(|_| StoreError::Shared {
                detail: format!("{} stopped during the copy", target.name),
            })?;
        verdict.map_err(|error| StoreError::Shared {
            detail: format!(
                "{}: {error}; {done} of {total} rows were copied: empty the target and copy again",
                target.name
            ),
        })?;
        done += count;
    }
    // etcd's revisions start again low: each zone's serial is raised to
    // the source's, so secondaries keep transferring from the copy. (A
    // copy into redb keeps them as it is: rows carry their serials.)
    #[cfg(feature = "etcd")]
    if let Some(etcd) = &target.etcd {
        etcd.keep_serials(&serials)
            .await
            .map_err(|error| StoreError::Shared {
                detail: format!("{}: the rows were copied, but the zones' serials were not kept ({error}); empty the target and copy again", target.name),
            })?;
    }
    // The redb committers answer what they hold and stop once their last
    // handle is gone.
    drop(source.backend);
    drop(target.backend);
    for committer in [source.committer, target.committer].into_iter().flatten() {
        let _ = tokio::task::spawn_blocking(move || committer.join()).await;
    }
    Ok(copied)
}
