//! Failed commits, through a storage backend that fails on demand: a
//! failed batch is answered with an error, and a restart finds exactly what
//! was answered as committed.

use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

use super::{commit_all, register, reload, setup};
use crate::store::Backend;
use crate::store::Store;

/// How many of the coming calls fail: writes (and resizes) or fsyncs; and
/// how many fsyncs were made.
#[derive(Debug, Default)]
struct Faults {
    writes: AtomicU32,
    syncs: AtomicU32,
    synced: AtomicU32,
}

impl Faults {
    fn take(counter: &AtomicU32) -> io::Result<()> {
        let failing = counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            // ENOSPC, as a full disk reports it.
            return Err(io::Error::from_raw_os_error(28));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Faulty {
    inner: FileBackend,
    faults: Arc<Faults>,
}

impl StorageBackend for Faulty {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        Faults::take(&self.faults.writes)?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        Faults::take(&self.faults.syncs)?;
        self.inner.sync_data()?;
        self.faults.synced.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        Faults::take(&self.faults.writes)?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// The committer's answer to a request, which it always gives.
fn answered<T>(receiver: tokio::sync::oneshot::Receiver<T>) -> T {
    receiver.blocking_recv().expect("answered")
}

/// The ids of the instances stored under the first service.
fn first_service_instances(snapshot: &crate::store::Snapshot) -> Vec<String> {
    let (_, instances) = &snapshot.services[0];
    instances
        .iter()
        .map(|instance| instance.id.clone())
        .collect()
}

fn faulty_store(dir: &std::path::Path) -> (Store, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let shared = Arc::clone(&faults);
    let store = Store::open_with(dir, move |inner| Faulty {
        inner,
        faults: Arc::clone(&shared),
    })
    .expect("opened");
    (store, faults)
}

#[test]
fn a_commit_that_cannot_be_written_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, faults) = faulty_store(dir.path());
    let (journal, committer) = store.start().expect("committer started");
    let first = answered(journal.commit(setup()));
    assert!(first.is_ok(), "{first:?}");

    // The disk is full for a while: the commit and the reopen after it fail.
    faults.writes.store(1_000, Ordering::SeqCst);
    let failed = answered(journal.commit(register("srv-1", "lost")));
    let message = failed.expect_err("not written").0;
    assert!(message.contains("cairn.redb"), "{message}");
    assert!(
        message.contains("No space left on device (os error 28)"),
        "{message}"
    );
    let again = answered(journal.commit(register("srv-1", "lost-too")));
    assert!(again.is_err(), "still full: {again:?}");

    // Space is back: the committer reopens the store and carries on.
    faults.writes.store(0, Ordering::SeqCst);
    let later = answered(journal.commit(register("srv-1", "kept")));
    assert!(later.is_ok(), "{later:?}");
    drop(journal);
    committer.join().expect("committer ended cleanly");

    let snapshot = reload(dir.path());
    let instances = first_service_instances(&snapshot);
    assert_eq!(instances, ["kept"]);
    assert_eq!(snapshot.operations.len(), 1);
    assert_eq!(snapshot.changes, 4);
}

#[test]
fn a_failed_fsync_is_answered_as_what_a_restart_finds() {
    // The pages reached the file but the fsync failed: after reopening, the
    // committer finds the batch there, so the answer must be Ok (a restart
    // would load it); had it not been there, Err.
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, faults) = faulty_store(dir.path());
    let (journal, committer) = store.start().expect("committer started");
    let first = answered(journal.commit(setup()));
    assert!(first.is_ok(), "{first:?}");

    faults.syncs.store(1, Ordering::SeqCst);
    let verdict = answered(journal.commit(register("srv-1", "maybe")));
    assert_eq!(faults.syncs.load(Ordering::SeqCst), 0, "the fsync failed");
    drop(journal);
    committer.join().expect("committer ended cleanly");

    let snapshot = reload(dir.path());
    let stored = snapshot.services[0]
        .1
        .iter()
        .any(|instance| instance.id == "maybe");
    assert_eq!(verdict.is_ok(), stored, "answered {verdict:?}");
}

#[test]
fn a_batch_shares_one_fate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), vec![setup()]);
    assert!(verdicts[0].is_ok());

    let (store, faults) = faulty_store(dir.path());
    let (journal, committer) = store.start().expect("committer started");
    faults.writes.store(1_000, Ordering::SeqCst);
    let receivers: Vec<_> = (0..50)
        .map(|n| journal.commit(register("srv-1", &format!("web-{n}"))))
        .collect();
    for receiver in receivers {
        assert!(answered(receiver).is_err());
    }
    drop(journal);
    committer.join().expect("committer ended cleanly");
    faults.writes.store(0, Ordering::SeqCst);
    let snapshot = reload(dir.path());
    assert!(snapshot.services[0].1.is_empty());
    assert_eq!(snapshot.changes, 2);
}

#[test]
fn unsynced_commits_wait_for_the_next_synced_one_or_the_zones_mark() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, faults) = faulty_store(dir.path());
    let (journal, committer) = store.start().expect("committer started");
    let first = answered(journal.commit_unsynced(setup()));
    assert!(first.is_ok(), "{first:?}");
    let opened = faults.synced.load(Ordering::SeqCst);
    for n in 0..50 {
        let verdict = answered(journal.commit_unsynced(register("srv-1", &format!("zone-{n}"))));
        assert!(verdict.is_ok(), "{verdict:?}");
    }
    // Only growing the file fsyncs (its new length), now and then: each
    // unsynced commit allocates new pages, since the old are freed only
    // once a synced commit has superseded them.
    let unsynced = faults.synced.load(Ordering::SeqCst) - opened;
    assert!(unsynced < 10, "{unsynced} fsyncs for 50 unsynced commits");

    let synced = answered(journal.commit(register("srv-1", "api")));
    assert!(synced.is_ok(), "{synced:?}");
    let after_commit = faults.synced.load(Ordering::SeqCst);
    assert!(after_commit > opened + unsynced, "a synced commit fsyncs");

    let last = answered(journal.commit_unsynced(register("srv-1", "zone-last")));
    assert!(last.is_ok(), "{last:?}");
    assert_eq!(faults.synced.load(Ordering::SeqCst), after_commit);
    let marked = answered(journal.mark_zones_applied(7));
    assert!(marked.is_ok(), "{marked:?}");
    assert!(
        faults.synced.load(Ordering::SeqCst) > after_commit,
        "the mark fsyncs"
    );
    drop(journal);
    committer.join().expect("committer ended cleanly");

    let snapshot = reload(dir.path());
    assert_eq!(snapshot.services[0].1.len(), 52);
    assert!(snapshot.zones_unchanged(7), "{:?}", snapshot.zones_applied);
}

#[test]
fn unsynced_commits_lost_to_a_failed_write_keep_zones_from_being_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, faults) = faulty_store(dir.path());
    let (journal, committer) = store.start().expect("committer started");
    let first = answered(journal.commit(setup()));
    assert!(first.is_ok(), "{first:?}");
    let unsynced = answered(journal.commit_unsynced(register("srv-1", "zone")));
    assert!(unsynced.is_ok(), "{unsynced:?}");

    // The disk fills: the next commit fails, and the store reopened after
    // it holds only what was synced.
    faults.writes.store(1_000, Ordering::SeqCst);
    let failed = answered(journal.commit(register("srv-1", "api")));
    assert!(failed.is_err(), "{failed:?}");
    faults.writes.store(0, Ordering::SeqCst);
    let later = answered(journal.commit(register("srv-1", "later")));
    assert!(later.is_ok(), "{later:?}");

    let marked = answered(journal.mark_zones_applied(7));
    let message = marked.expect_err("zones/ lost changes").0;
    assert!(message.contains("restart cairn"), "{message}");
    drop(journal);
    committer.join().expect("committer ended cleanly");

    let snapshot = reload(dir.path());
    let instances = first_service_instances(&snapshot);
    assert_eq!(instances, ["later"], "the unsynced one was lost");
    assert_eq!(
        snapshot.zones_applied, None,
        "so the next start applies zones/"
    );
}

#[test]
fn an_unsynced_request_the_store_refuses_keeps_zones_from_being_marked() {
    // Its caller may have applied it before the answer, so the registry
    // holds what the store refused until zones/ is applied again.
    let dir = tempfile::tempdir().expect("temp dir");
    let (journal, committer) = Store::open(dir.path())
        .expect("opened")
        .start()
        .expect("committer started");
    let refused = answered(journal.commit_unsynced(register("srv-not-stored", "zone")));
    assert!(refused.is_err(), "{refused:?}");
    let marked = answered(journal.mark_zones_applied(7));
    let message = marked.expect_err("zones/ is not all stored").0;
    assert!(message.contains("restart cairn"), "{message}");
    drop(journal);
    committer.join().expect("committer ended cleanly");
    assert_eq!(reload(dir.path()).zones_applied, None);
}
