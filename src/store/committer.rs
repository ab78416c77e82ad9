//! Group commit: one thread owns the database and turns whatever commits
//! are waiting into one transaction and one fsync.
//!
//! While a commit is being fsync'd, new requests queue up; the next round
//! takes all of them at once. One writer pays one fsync per commit, 64
//! writers share each fsync, so throughput grows with concurrency while
//! every answer still comes after the data is on disk. A plain thread (not
//! a tokio task) because the fsync blocks, and std's channel because the
//! thread blocks on it too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use redb::Database;
use tokio::sync::oneshot;

use super::error::write_failure;
use super::stats::{Commits, StoreWatch};
use super::tables::{self, WriteError};
use super::{Backend, CommitError, Opener, Revision, Snapshot, StoreError};
use crate::registry::Change;

/// How many waiting commits one transaction takes at most, so that a flood
/// of writers still gets answers in bounded rounds.
const MAX_BATCH: usize = 1024;

type Verdict = Result<Revision, CommitError>;

/// Whether a commit must be on disk before it is answered; see
/// [`Backend::commit_unsynced`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sync {
    Now,
    Later,
}

enum Request {
    Commit(Vec<Change>, Sync, oneshot::Sender<Verdict>),
    Snapshot(oneshot::Sender<Result<Snapshot, StoreError>>),
    ZonesApplied(u64, oneshot::Sender<Result<(), CommitError>>),
}

/// The redb backend: a handle on the committer thread. Cheap to clone; the
/// thread stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct RedbBackend {
    requests: mpsc::Sender<Request>,
    path: Arc<Path>,
    commits: Arc<Commits>,
}

impl RedbBackend {
    /// A view of this store for `cairn status`, which does not keep the
    /// committer alive.
    pub fn watch(&self) -> StoreWatch {
        StoreWatch::redb(Arc::clone(&self.path), Arc::clone(&self.commits))
    }

    /// Records that zones/ with `digest` has been applied in full, after
    /// every commit sent before; see [`super::Snapshot::zones_unchanged`].
    pub fn mark_zones_applied(&self, digest: u64) -> oneshot::Receiver<Result<(), CommitError>> {
        let (done, receiver) = oneshot::channel();
        if let Err(mpsc::SendError(Request::ZonesApplied(_, done))) =
            self.requests.send(Request::ZonesApplied(digest, done))
        {
            let _ = done.send(Err(CommitError(self.stopped())));
        }
        receiver
    }

    fn send_commit(&self, changes: Vec<Change>, sync: Sync) -> oneshot::Receiver<Verdict> {
        let (done, receiver) = oneshot::channel();
        if let Err(mpsc::SendError(Request::Commit(_, _, done))) =
            self.requests.send(Request::Commit(changes, sync, done))
        {
            let _ = done.send(Err(CommitError(self.stopped())));
        }
        receiver
    }

    fn stopped(&self) -> String {
        // Only a panic ends the thread while a backend is alive.
        format!(
            "cannot use {}: the store's committer has stopped",
            self.path.display()
        )
    }
}

impl Backend for RedbBackend {
    fn commit(&self, changes: Vec<Change>) -> oneshot::Receiver<Verdict> {
        self.send_commit(changes, Sync::Now)
    }

    fn commit_unsynced(&self, changes: Vec<Change>) -> oneshot::Receiver<Verdict> {
        self.send_commit(changes, Sync::Later)
    }

    fn snapshot(&self) -> oneshot::Receiver<Result<Snapshot, StoreError>> {
        let (done, receiver) = oneshot::channel();
        if let Err(mpsc::SendError(Request::Snapshot(done))) =
            self.requests.send(Request::Snapshot(done))
        {
            let _ = done.send(Err(StoreError::Io {
                path: self.path.to_path_buf(),
                detail: self.stopped(),
            }));
        }
        receiver
    }
}

pub(super) fn start(
    path: PathBuf,
    db: Database,
    known_changes: u64,
    opener: Opener,
) -> std::io::Result<(RedbBackend, thread::JoinHandle<()>)> {
    let (sender, requests) = mpsc::channel();
    let commits = Arc::new(Commits::new(known_changes));
    let backend = RedbBackend {
        requests: sender,
        path: Arc::from(path.as_path()),
        commits: Arc::clone(&commits),
    };
    let committer = Committer {
        commits,
        known_changes,
        lost_unsynced: false,
        path,
        db: Some(db),
        opener,
    };
    let handle = thread::Builder::new()
        .name("cairn-store".into())
        .spawn(move || committer.run(requests))?;
    Ok((backend, handle))
}

struct Committer {
    path: PathBuf,
    /// `None` after a failed commit until it is reopened.
    db: Option<Database>,
    opener: Opener,
    /// The `changes` counter as of the last commit known to be in the file.
    known_changes: u64,
    /// Whether reopening lost unsynced commits that the registry had
    /// already applied: from then on zones/ must not be marked applied, or
    /// the next start would not apply it again.
    lost_unsynced: bool,
    /// What status readers see of the last commit.
    commits: Arc<Commits>,
}

impl Committer {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut next = Some(first);
            while let Some(request) = next.take() {
                let (changes, sync, done) = match request {
                    Request::Snapshot(done) => {
                        let _ = done.send(self.snapshot());
                        continue;
                    }
                    Request::ZonesApplied(digest, done) => {
                        let _ = done.send(self.mark_zones_applied(digest));
                        continue;
                    }
                    Request::Commit(changes, sync, done) => (changes, sync, done),
                };
                let mut batch = vec![(changes, sync, done)];
                while batch.len() < MAX_BATCH {
                    match requests.try_recv() {
                        Ok(Request::Commit(changes, sync, done)) => {
                            batch.push((changes, sync, done));
                        }
                        // Answered after this batch, so it sees it.
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let mut changes = Vec::with_capacity(batch.len());
                let mut syncs = Vec::with_capacity(batch.len());
                let mut senders = Vec::with_capacity(batch.len());
                for (request, sync, sender) in batch {
                    changes.push(request);
                    syncs.push(sync);
                    senders.push(sender);
                }
                let sync = if syncs.contains(&Sync::Now) {
                    Sync::Now
                } else {
                    Sync::Later
                };
                let started = std::time::Instant::now();
                let verdicts = self.commit(&changes, sync);
                let refused_unsynced = syncs
                    .iter()
                    .zip(&verdicts)
                    .filter(|(sync, verdict)| **sync == Sync::Later && verdict.is_err())
                    .count();
                if refused_unsynced > 0 && !self.lost_unsynced {
                    // Their callers may have applied them already.
                    self.lost_unsynced("refused", refused_unsynced as u64);
                }
                crate::metrics::events().committed(changes.len(), started.elapsed());
                let revision = self.known_changes;
                if verdicts.iter().any(Result::is_ok) {
                    self.commits.committed(revision);
                }
                for (sender, verdict) in senders.into_iter().zip(verdicts) {
                    // A caller that stopped waiting needs no answer.
                    let _ = sender.send(verdict.map(|()| revision));
                }
            }
        }
        tracing::debug!(path = %self.path.display(), "store committer stopped");
    }

    fn mark_zones_applied(&mut self, digest: u64) -> Result<(), CommitError> {
        if self.lost_unsynced {
            return Err(CommitError(format!(
                "cannot mark zones/ applied in {}: changes from zones/ are missing from it after a failed write; restart cairn to apply zones/ again",
                self.path.display()
            )));
        }
        let db = self
            .database()
            .map_err(|error| CommitError(error.to_string()))?;
        tables::mark_zones_applied(db, digest)
            .map_err(|error| CommitError(write_failure(&self.path, &error)))
    }

    fn snapshot(&mut self) -> Result<Snapshot, StoreError> {
        let path = self.path.clone();
        tables::read_snapshot(&path, self.database()?)
    }

    /// Writes one batch; one verdict per request, in order.
    fn commit(&mut self, requests: &[Vec<Change>], sync: Sync) -> Vec<Result<(), CommitError>> {
        let all_failed = |message: String| vec![Err(CommitError(message)); requests.len()];
        let db = match self.database() {
            Ok(db) => db,
            Err(err) => return all_failed(err.to_string()),
        };
        let mut verdicts = Vec::with_capacity(requests.len());
        let err = match tables::write_batch(db, requests, &mut verdicts, sync) {
            Ok(changes) => {
                self.known_changes = changes;
                return verdicts;
            }
            Err(WriteError::Encode(err)) => {
                // The transaction was dropped unwritten: nothing changed.
                return all_failed(format!(
                    "cannot write {}: cannot encode a change: {err}",
                    self.path.display()
                ));
            }
            Err(WriteError::Storage(err)) => err,
        };
        let message = write_failure(&self.path, &err);
        tracing::error!(path = %self.path.display(), error = %err, "store commit failed");

        // redb refuses every write after an I/O error until the database is
        // reopened; reopening also shows what a restart would find, which
        // is what the answers must agree with.
        let accepted: u64 = requests
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.is_ok())
            .map(|(request, _)| request.len() as u64)
            .sum();
        let before = self.known_changes;
        let stored = match self.reopen() {
            Ok(stored) => stored,
            Err(reopen) => {
                tracing::error!(path = %self.path.display(), error = %reopen, "cannot reopen the store");
                return all_failed(message);
            }
        };
        self.known_changes = stored;
        if stored < before {
            self.lost_unsynced("lost", before - stored);
            all_failed(message)
        } else if stored == before {
            all_failed(message)
        } else if verdicts.len() == requests.len() && stored == before + accepted {
            // The commit reached the file after all (the fsync, not the
            // write, failed): a restart would load it, so it counts.
            tracing::warn!(path = %self.path.display(), "the failed commit reached the file; answering it as committed");
            verdicts
        } else {
            tracing::error!(
                path = %self.path.display(),
                stored,
                expected = before,
                "the store holds changes that were answered as failed; restart cairn to reload them"
            );
            all_failed(message)
        }
    }

    /// The open database, reopening it if the last commit failed.
    fn database(&mut self) -> Result<&Database, StoreError> {
        if self.db.is_none() {
            let stored = self.reopen()?;
            if stored < self.known_changes {
                self.lost_unsynced("lost", self.known_changes - stored);
                self.known_changes = stored;
            } else if stored != self.known_changes {
                // Only a commit answered as failed can have moved it.
                tracing::error!(
                    path = %self.path.display(),
                    stored,
                    expected = self.known_changes,
                    "the store holds changes that were answered as failed; restart cairn to reload them"
                );
                self.known_changes = stored;
            }
        }
        self.db.as_ref().ok_or_else(|| StoreError::Io {
            path: self.path.clone(),
            detail: "the database is not open".into(),
        })
    }

    /// Opens the database afresh and returns its `changes` counter.
    fn reopen(&mut self) -> Result<u64, StoreError> {
        // The old handle holds the file lock: let go of it first.
        self.db = None;
        let db = (self.opener)()?;
        let stored =
            tables::stored_changes(&db).map_err(|err| StoreError::from_redb(&self.path, err))?;
        self.db = Some(db);
        Ok(stored)
    }

    /// Commits made with [`Sync::Later`] that the registry may hold and the
    /// store does not: `count` changes the reopened file lacks, or
    /// requests refused. The store will not hold them until zones/ is
    /// applied again.
    fn lost_unsynced(&mut self, how: &str, count: u64) {
        self.lost_unsynced = true;
        tracing::error!(
            path = %self.path.display(),
            how,
            count,
            "changes from zones/ are missing from the store after a failed write; restart cairn to apply zones/ again"
        );
    }
}
