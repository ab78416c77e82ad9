//! This node's own writes in flight: each waits, between its commit and
//! its answer, for the follower to run its plan when its transaction comes
//! back through the watch — or, when a re-read of the whole store comes
//! first and holds it, for the re-read to run it (`resync.rs`). Which of
//! the two holds a write is settled by the revision it was committed at,
//! noted here under one lock shared with the follower.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Cluster, lock};
use crate::registry::Registry;
use crate::store::SharedRevision;

/// How long a re-read waits for this node's writes in flight to learn
/// their revisions. A write still waiting on the store past it, and
/// committed at or below the re-read's revision, is answered with an
/// error that says it was made (see `Cluster::committed`).
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// A write of this node's own, run when its transaction comes back: it
/// applies the plan and returns how to answer the caller, which is called
/// once the change is visible.
pub(super) type LocalApply = Box<dyn FnOnce(&Registry) -> Answer + Send>;
pub(super) type Answer = Box<dyn FnOnce() + Send>;

/// One of this node's writes in flight.
pub(super) struct LocalWrite {
    pub(super) apply: LocalApply,
    /// The revision its transaction was committed at, once the store said.
    pub(super) committed: Option<SharedRevision>,
    /// The revision of the latest re-read made while `committed` was not
    /// known: a commit at or below it is in what was read.
    pub(super) reread: Option<SharedRevision>,
}

impl Cluster {
    /// Notes that write `write` was committed at `revision`; returns whether
    /// a re-read made meanwhile already holds it (its plan is then never
    /// run: the registry has moved on from what it planned against).
    pub(super) fn committed(&self, write: u64, revision: SharedRevision) -> bool {
        let covered = {
            let mut local = lock(&self.local);
            match local.get_mut(&write) {
                Some(entry) if entry.reread.is_some_and(|at| at >= revision) => {
                    local.remove(&write);
                    true
                }
                Some(entry) => {
                    entry.committed = Some(revision);
                    false
                }
                // The follower has run it already.
                None => false,
            }
        };
        self.settled.notify_one();
        covered
    }

    /// Waits (at most [`SETTLE_WAIT`]) until every write in flight now
    /// knows the revision it was committed at, or has ended. Writes begun
    /// later are not waited for (a steady stream of them would hold the
    /// re-read back): the store's state was read before they began, so
    /// they are committed above it and come through the watch.
    pub(super) async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        let begun = self.writes.load(Ordering::SeqCst);
        loop {
            let woken = self.settled.notified();
            let unsettled = lock(&self.local)
                .iter()
                .any(|(number, write)| *number < begun && write.committed.is_none());
            if !unsettled || tokio::time::timeout_at(deadline, woken).await.is_err() {
                return;
            }
        }
    }

    /// The writes in flight that a re-read at `revision` holds, in the
    /// order they were committed; those whose revision is not known yet are
    /// marked as having seen it.
    pub(super) fn held_by_reread(&self, revision: SharedRevision) -> Vec<LocalApply> {
        let mut local = lock(&self.local);
        let mut held: Vec<(SharedRevision, u64)> = Vec::new();
        for (number, write) in local.iter_mut() {
            match write.committed {
                Some(at) if at <= revision => held.push((at, *number)),
                Some(_) => {}
                None => write.reread = Some(revision),
            }
        }
        held.sort_unstable();
        held.into_iter()
            .filter_map(|(_, number)| local.remove(&number))
            .map(|write| write.apply)
            .collect()
    }
}
