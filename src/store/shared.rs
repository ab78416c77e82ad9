//! What a store shared by several servers (etcd) offers beyond
//! [`Backend`]: commits guarded against other servers' concurrent changes,
//! and the stream of every committed change, this server's and the
//! others', in the store's order. The write front (`writer/cluster.rs`)
//! applies that stream to the registry; this module only describes it, so
//! the front builds without any particular shared store compiled in.

use tokio::sync::{mpsc, oneshot};

use super::{Backend, CommitError, Snapshot, StoreError};
use crate::registry::Change;

/// A shared store's revision (etcd's): one per committed transaction,
/// the same on every server.
pub type SharedRevision = u64;

/// Who committed a transaction: every transaction names the server and the
/// write, so the server that made it applies its own plan (with the
/// outputs its caller waits for) rather than the bare changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Random per process start: a restarted server is another origin.
    pub node: u64,
    pub write: u64,
}

/// What a guarded commit compares: the revision at which this server last
/// saw a namespace change (0 when it has never seen it, which etcd reads
/// as "no change ever"). `None` is the set of namespaces itself, which
/// creating and deleting a namespace also guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub namespace: Option<String>,
    pub seen: SharedRevision,
    /// The namespace goes with this commit: its marker is removed, not
    /// moved.
    pub removes: bool,
}

/// The verdict on a guarded commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Made, at this revision.
    Committed(SharedRevision),
    /// Nothing was made: another server changed a guarded namespace since
    /// this one saw it. The store was at this revision then; once it has
    /// applied that far, the plan is made again.
    Conflict(SharedRevision),
}

/// One step of the stream a shared store hands its follower.
#[derive(Debug)]
pub enum Followed {
    /// One committed transaction: its changes in commit order, the
    /// namespaces whose markers it moved, and who made it (when it says).
    Batch {
        revision: SharedRevision,
        changes: Vec<Change>,
        namespaces: Vec<String>,
        /// It moved the marker of the set of namespaces too.
        namespaces_marker: bool,
        origin: Option<Origin>,
    },
    /// Nothing more was committed up to this revision.
    Progress(SharedRevision),
    /// The history since the last applied revision is gone (compacted): this
    /// is the whole state now, to put in place of what the server holds.
    Resync(SharedSnapshot),
    /// The store cannot be reached; the follower keeps trying. Writes are
    /// refused with this reason until a `Batch` or `Progress` arrives.
    Unreachable(String),
}

/// A snapshot of a shared store, with the revision it was read at and, per
/// namespace, the revision of its last change (its SOA serial).
#[derive(Debug, Clone, Default)]
pub struct SharedSnapshot {
    pub snapshot: Snapshot,
    pub revision: SharedRevision,
    /// `None` is the marker of the set of namespaces.
    pub markers: Vec<(Option<String>, SharedRevision)>,
}

/// A store several servers write and each follows.
pub trait SharedBackend: Backend {
    /// Commits `changes` only if no guarded namespace changed since this
    /// server saw it, moving each guarded namespace's marker to the new
    /// revision. A batch too large for one transaction is refused whole.
    fn commit_guarded(
        &self,
        changes: Vec<Change>,
        guards: Vec<Guard>,
        origin: Origin,
    ) -> oneshot::Receiver<Result<Guarded, CommitError>>;

    /// Everything, read at one revision.
    fn shared_snapshot(&self) -> oneshot::Receiver<Result<SharedSnapshot, StoreError>>;

    /// The stream of every transaction after `revision`, resumed across
    /// disconnections, until the receiver is dropped.
    fn follow(&self, revision: SharedRevision) -> mpsc::Receiver<Followed>;

    /// Changes per commit a bulk load should keep below.
    fn max_batch(&self) -> usize;
}
