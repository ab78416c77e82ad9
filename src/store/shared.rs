//! What a store shared by several servers (etcd) offers beyond
//! [`Backend`]: commits guarded against other servers' concurrent changes,
//! and the stream of every committed change, this server's and the
//! others', in the store's order. The write front (`writer/cluster.rs`)
//! applies that stream to the registry; this module only describes it, so
//! the front builds without any particular shared store compiled in.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// Something a plan read, which a guarded commit checks is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Read {
    /// The set of namespaces (creating or deleting one reads it: names
    /// must stay unique).
    Namespaces,
    /// Everything in a namespace: its marker, which every change there
    /// moves. Structural changes (a service created, changed, deleted)
    /// read it, so they conflict with any concurrent change in the
    /// namespace.
    Namespace(String),
    /// A namespace exists (a service created in it).
    NamespaceExists(String),
    /// A service exists and is unchanged (an instance change reads it, so
    /// it conflicts with the service's deletion or update, not with
    /// other instances).
    Service(String),
    /// An instance is unchanged, or still absent.
    Instance {
        service_id: String,
        instance_id: String,
    },
}

/// What a guarded commit checks: each read unchanged after `since`, the
/// last revision the plan's state included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub read: Read,
    pub since: SharedRevision,
}

/// The verdict on a guarded commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Made, at this revision.
    Committed(SharedRevision),
    /// Nothing was made: another server changed something the plan read
    /// after this one's state. The store was at this revision then; once it has
    /// applied that far, the plan is made again.
    Conflict(SharedRevision),
}

/// A heartbeat one server received, as it tells the others: heartbeats
/// are not worth a store write each, so each server sends the latest of
/// every instance a few times a second in one write (`share_beats`), and
/// every server's heartbeat clocks follow them. The time is an age, how
/// long before the message was sent: servers' clocks need not agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub service_id: String,
    pub instance_id: String,
    pub age: Duration,
}

/// One step of the stream a shared store hands its follower.
#[derive(Debug)]
pub enum Followed {
    /// One committed transaction: its changes in commit order, the
    /// namespaces whose markers it moved with each one's SOA serial now,
    /// who made it (when it says), and the heartbeats it shares (ages as
    /// of its arrival).
    Batch {
        revision: SharedRevision,
        changes: Vec<Change>,
        namespaces: Vec<(String, u64)>,
        origin: Option<Origin>,
        beats: Vec<Beat>,
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
    /// Per namespace, what its SOA serial adds to its revision (none: 0).
    pub offsets: Vec<(String, u64)>,
}

/// A store several servers write and each follows.
pub trait SharedBackend: Backend {
    /// Commits `changes` only if every guard holds, moving the marker of
    /// each namespace in `moves` (`None`: the set of namespaces) to the new
    /// revision. A batch too large for one transaction is refused whole.
    fn commit_guarded(
        &self,
        changes: Vec<Change>,
        guards: Vec<Guard>,
        moves: Vec<Option<String>>,
        origin: Origin,
    ) -> oneshot::Receiver<Result<Guarded, CommitError>>;

    /// Everything, read at one revision.
    fn shared_snapshot(&self) -> oneshot::Receiver<Result<SharedSnapshot, StoreError>>;

    /// Everything as it was at `revision` (a consistency check of what a
    /// server applied up to it). An error if the store has forgotten it.
    fn shared_snapshot_at(
        &self,
        revision: SharedRevision,
    ) -> oneshot::Receiver<Result<SharedSnapshot, StoreError>>;

    /// Tells every server (through their `follow` streams) of heartbeats
    /// `node` received; nothing of it is kept for long.
    fn share_beats(
        &self,
        node: u64,
        beats: Vec<Beat>,
    ) -> oneshot::Receiver<Result<(), CommitError>>;

    /// The stream of every transaction after `from`'s revision, resumed
    /// across disconnections, until `shutdown` (or the receiver is
    /// dropped); the task that reads it, for the caller to drain.
    fn follow(
        &self,
        from: &SharedSnapshot,
        shutdown: CancellationToken,
    ) -> (mpsc::Receiver<Followed>, JoinHandle<()>);

    /// Changes per commit a bulk load should keep below.
    fn max_batch(&self) -> usize;
}
