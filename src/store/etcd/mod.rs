//! The etcd store: every node of a cluster keeps its registry's changes in
//! one etcd and follows the others' there (`store.backend = "etcd"`, the
//! `etcd` cargo feature).
//!
//! - Layout: one key per namespace, service, instance and operation under
//!   the configured prefix, values in the redb store's row format, and one
//!   marker per namespace (`keys.rs`).
//! - Snapshots are read page by page at one revision (`snapshot.rs`).
//! - A guarded commit is one transaction: compare that what the plan read
//!   (the namespace's marker for structural changes; the service and the
//!   instance for an instance change) is unchanged since the revision the
//!   plan's state included, put the changes and move the markers of the
//!   namespaces they touch. It is refused whole if it would pass
//!   etcd's per-transaction limits (128 operations, 1.5 MiB by default):
//!   nothing is ever half-visible.
//! - Following is `follow.rs`; the health leader's lease `leader.rs`;
//!   heartbeats shared between nodes `beats.rs`.
//!
//! This module knows etcd and the row format; it never touches the
//! registry: the write front applies what it reports.

mod beats;
mod follow;
mod keys;
mod leader;
mod snapshot;
mod trim;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, Txn, TxnOp};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    Backend, Beat, CommitError, Guard, Guarded, Origin, Read, Revision, SharedBackend,
    SharedRevision, SharedSnapshot, Snapshot, StoreError,
};
use crate::config::EtcdConfig;
use crate::registry::Change;
use keys::Keys;

/// etcd's default `--max-txn-ops`: operations in one transaction.
const MAX_TXN_OPS: usize = 128;
/// Below etcd's default `--max-request-bytes` (1.5 MiB), with room for the
/// request's framing and compares.
const MAX_TXN_BYTES: usize = 1_400_000;
/// Keys per page of a snapshot: well under gRPC's 4 MiB per message for
/// rows of a few hundred bytes, instance rows with many attributes too.
const PAGE: i64 = 1000;

/// A connection to etcd for one cluster (one prefix). Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    keys: Keys,
    endpoints: String,
    beats_lease: Arc<tokio::sync::Mutex<beats::Lease>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.keys.prefix())
            .finish()
    }
}

fn unreachable(endpoints: &str, error: impl std::fmt::Display) -> String {
    format!("etcd at {endpoints} did not answer: {error}")
}

impl EtcdStore {
    /// Connects (lazily: etcd may be down; the first call says so).
    ///
    /// Why these options: `require_leader` makes a member cut off from its
    /// cluster fail calls and watches instead of going silent; keepalive
    /// pings (no more often than etcd's 5 s minimum) find a dead
    /// connection; the timeout bounds every call, so a write is refused
    /// rather than left hanging while etcd is away.
    pub async fn connect(config: &EtcdConfig) -> Result<Self, StoreError> {
        let endpoints = config.endpoints.join(",");
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.timeout)
            .with_timeout(config.timeout)
            .with_keep_alive(Duration::from_secs(5), config.timeout)
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            let password = password
                .read()
                .map_err(|detail| StoreError::Shared { detail })?;
            options = options.with_user(user.clone(), password);
        }
        if let Some(tls) = tls_options(config)? {
            options = options.with_tls(tls);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|error| StoreError::Shared {
                detail: unreachable(&endpoints, error),
            })?;
        Ok(Self {
            client,
            keys: Keys::new(&config.prefix),
            endpoints,
            beats_lease: Arc::default(),
        })
    }

    /// Whether this node runs the cluster's health checks, kept current
    /// until `shutdown` (`leader.rs`), and the task that keeps it, which
    /// gives the lease back before it ends.
    /// While it leads, it also keeps etcd's operation log to the last
    /// `operations_kept` (`trim.rs`).
    pub fn health_leadership(
        &self,
        operations_kept: usize,
        shutdown: CancellationToken,
    ) -> (
        tokio::sync::watch::Receiver<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        leader::start(
            self.client.clone(),
            self.keys.clone(),
            operations_kept,
            shutdown,
        )
    }

    /// Reads everything under the prefix at one revision: `at`, or the
    /// latest.
    async fn read_snapshot(
        &self,
        at: Option<SharedRevision>,
    ) -> Result<SharedSnapshot, StoreError> {
        read_snapshot(&self.client, &self.keys, &self.endpoints, at).await
    }

    /// Raises each namespace's SOA serial to at least the wanted one by
    /// setting its serial offset (`cairn store copy` into etcd, before any
    /// node serves the copy): secondaries refuse a serial that goes back.
    pub async fn keep_serials(&self, wanted: &[(String, u64)]) -> Result<(), StoreError> {
        let now = self.read_snapshot(None).await?;
        let mut kv = self.client.kv_client();
        for (id, wanted) in wanted {
            let Some(namespace) = now.snapshot.namespaces.iter().find(|n| &n.id == id) else {
                continue;
            };
            if namespace.revision >= *wanted {
                continue;
            }
            let offset = now
                .offsets
                .iter()
                .find_map(|(of, offset)| (of == id).then_some(*offset))
                .unwrap_or(0);
            let raised = offset + (wanted - namespace.revision);
            kv.put(self.keys.serial_offset(id), raised.to_string(), None)
                .await
                .map_err(|error| StoreError::Shared {
                    detail: unreachable(&self.endpoints, error),
                })?;
        }
        Ok(())
    }

    /// The operations of one transaction, duplicates of a key folded into
    /// the last (etcd refuses a transaction that names a key twice), and
    /// its size in bytes.
    fn operations(&self, changes: &[Change]) -> Result<(Vec<TxnOp>, usize), CommitError> {
        let mut by_key: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(changes.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        for change in changes {
            let (key, value) = self.keys.encode(change).map_err(CommitError)?;
            match index.get(&key) {
                Some(&at) => by_key[at].1 = value,
                None => {
                    index.insert(key.clone(), by_key.len());
                    by_key.push((key, value));
                }
            }
        }
        let bytes = by_key
            .iter()
            .map(|(key, value)| key.len() + value.as_ref().map_or(0, Vec::len) + 16)
            .sum();
        let ops = by_key
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => TxnOp::put(key, value, None),
                None => TxnOp::delete(key, None),
            })
            .collect();
        Ok((ops, bytes))
    }

    /// The compares of one guard: `mod_revision <= since` (a missing key
    /// reads 0, so "still absent" passes), and for what must exist,
    /// `version > 0`.
    fn compares(&self, guard: &Guard) -> Vec<Compare> {
        let unchanged =
            |key: String| Compare::mod_revision(key, CompareOp::Less, guard.since as i64 + 1);
        let exists = |key: String| Compare::version(key, CompareOp::Greater, 0);
        match &guard.read {
            Read::Namespaces => vec![unchanged(self.keys.marker(None))],
            Read::Namespace(id) => vec![unchanged(self.keys.marker(Some(id)))],
            Read::NamespaceExists(id) => vec![exists(self.keys.namespace(id))],
            Read::Service(id) => vec![
                exists(self.keys.service(id)),
                unchanged(self.keys.service(id)),
            ],
            Read::Instance {
                service_id,
                instance_id,
            } => vec![unchanged(self.keys.instance(service_id, instance_id))],
        }
    }

    async fn commit_txn(
        &self,
        changes: Vec<Change>,
        guards: Vec<Guard>,
        moves: Vec<Option<String>>,
        origin: Option<Origin>,
    ) -> Result<Guarded, CommitError> {
        let (mut ops, mut bytes) = self.operations(&changes)?;
        let compares: Vec<Compare> = guards
            .iter()
            .flat_map(|guard| self.compares(guard))
            .collect();
        bytes += compares.len() * 64;
        // Markers are put, never deleted (not even with their namespace):
        // a deleted key reads as revision 0, which would let a change
        // planned before the deletion pass its guard.
        let marker_value = origin.map(keys::origin_value).unwrap_or_default();
        for namespace in &moves {
            let marker = self.keys.marker(namespace.as_deref());
            bytes += marker.len() + marker_value.len() + 16;
            ops.push(TxnOp::put(marker, marker_value.clone(), None));
        }
        if ops.len() > MAX_TXN_OPS || compares.len() > MAX_TXN_OPS || bytes > MAX_TXN_BYTES {
            return Err(CommitError(format!(
                "the change is too large for one etcd transaction ({} operations, {} compares, {bytes} bytes; etcd takes at most {MAX_TXN_OPS} of each and about 1.5 MiB): make it in smaller steps",
                ops.len(),
                compares.len()
            )));
        }
        // Built in one expression: `when` and `and_then` are each called
        // once, in order (the builder panics otherwise).
        let txn = Txn::new().when(compares).and_then(ops);
        let mut client = self.client.kv_client();
        let response = client.txn(txn).await.map_err(|error| {
            // The request may have reached etcd before the connection
            // failed: say so rather than promise nothing changed. (If
            // it was made, the watch brings it to every node.)
            CommitError(format!(
                "{}; the change may or may not have been made: read it back before retrying",
                unreachable(&self.endpoints, error)
            ))
        })?;
        let revision = response
            .header()
            .map(|header| header.revision().max(0) as SharedRevision)
            .ok_or_else(|| CommitError("etcd answered a transaction without a header".into()))?;
        Ok(if response.succeeded() {
            Guarded::Committed(revision)
        } else {
            Guarded::Conflict(revision)
        })
    }
}

/// TLS to etcd from the configured PEM files; `None` without a CA.
fn tls_options(config: &EtcdConfig) -> Result<Option<etcd_client::TlsOptions>, StoreError> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|error| StoreError::Shared {
            detail: format!("store.{what} {}: {error}", path.display()),
        })
    };
    let mut tls = etcd_client::TlsOptions::new();
    if let Some(ca) = &config.ca_file {
        tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read(ca, "ca_file")?));
    } else if config.cert_file.is_none() {
        return Ok(None);
    }
    if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
        tls = tls.identity(etcd_client::Identity::from_pem(
            read(cert, "cert_file")?,
            read(key, "key_file")?,
        ));
    }
    Ok(Some(tls))
}

/// What a commit without guards made (import, and the plain `Backend`).
impl Backend for EtcdStore {
    fn commit(&self, changes: Vec<Change>) -> oneshot::Receiver<Result<Revision, CommitError>> {
        let (done, receiver) = oneshot::channel();
        let store = self.clone();
        tokio::spawn(async move {
            let verdict = match store
                .commit_txn(changes, Vec::new(), Vec::new(), None)
                .await
            {
                Ok(Guarded::Committed(revision) | Guarded::Conflict(revision)) => Ok(revision),
                Err(error) => Err(error),
            };
            let _ = done.send(verdict);
        });
        receiver
    }

    fn snapshot(&self) -> oneshot::Receiver<Result<Snapshot, StoreError>> {
        let (done, receiver) = oneshot::channel();
        let store = self.clone();
        tokio::spawn(async move {
            let _ = done.send(
                store
                    .read_snapshot(None)
                    .await
                    .map(|shared| shared.snapshot),
            );
        });
        receiver
    }
}

impl SharedBackend for EtcdStore {
    fn commit_guarded(
        &self,
        changes: Vec<Change>,
        guards: Vec<Guard>,
        moves: Vec<Option<String>>,
        origin: Origin,
    ) -> oneshot::Receiver<Result<Guarded, CommitError>> {
        let (done, receiver) = oneshot::channel();
        let store = self.clone();
        tokio::spawn(async move {
            let _ = done.send(store.commit_txn(changes, guards, moves, Some(origin)).await);
        });
        receiver
    }

    fn shared_snapshot(&self) -> oneshot::Receiver<Result<SharedSnapshot, StoreError>> {
        let (done, receiver) = oneshot::channel();
        let store = self.clone();
        tokio::spawn(async move {
            let _ = done.send(store.read_snapshot(None).await);
        });
        receiver
    }

    fn shared_snapshot_at(
        &self,
        revision: SharedRevision,
    ) -> oneshot::Receiver<Result<SharedSnapshot, StoreError>> {
        let (done, receiver) = oneshot::channel();
        let store = self.clone();
        tokio::spawn(async move {
            let _ = done.send(store.read_snapshot(Some(revision)).await);
        });
        receiver
    }

    fn share_beats(
        &self,
        node: u64,
        beats: Vec<Beat>,
    ) -> oneshot::Receiver<Result<(), CommitError>> {
        let (done, receiver) = oneshot::channel();
        let store = self.clone();
        tokio::spawn(async move {
            let shared = beats::share(&store.client, &store.keys, &store.beats_lease, node, beats);
            let _ = done.send(shared.await);
        });
        receiver
    }

    fn follow(
        &self,
        from: &SharedSnapshot,
        shutdown: CancellationToken,
    ) -> (mpsc::Receiver<Followed>, tokio::task::JoinHandle<()>) {
        follow::start(
            self.client.clone(),
            self.keys.clone(),
            self.endpoints.clone(),
            from,
            shutdown,
        )
    }

    fn max_batch(&self) -> usize {
        // Room for the markers beside the changes.
        MAX_TXN_OPS - 8
    }
}

use super::Followed;
use snapshot::read_snapshot;
