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

/// How many of the coming calls fail: writes (and resizes) or fsyncs.
#[derive(Debug, Default)]
struct Faults {
    writes: AtomicU32,
    syncs: AtomicU32,
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
        self.inner.sync_data()
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
    let first = journal.commit(setup()).blocking_recv().expect("answered");
    assert!(first.is_ok(), "{first:?}");

    // The disk is full for a while: the commit and the reopen after it fail.
    faults.writes.store(1_000, Ordering::SeqCst);
    let failed = journal
        .commit(register("srv-1", "lost"))
        .blocking_recv()
        .expect("answered");
    let message = failed.expect_err("not written").0;
    assert!(message.contains("cairn.redb"), "{message}");
    assert!(
        message.contains("No space left on device (os error 28)"),
        "{message}"
    );
    let again = journal
        .commit(register("srv-1", "lost-too"))
        .blocking_recv()
        .expect("answered");
    assert!(again.is_err(), "still full: {again:?}");

    // Space is back: the committer reopens the store and carries on.
    faults.writes.store(0, Ordering::SeqCst);
    let later = journal
        .commit(register("srv-1", "kept"))
        .blocking_recv()
        .expect("answered");
    assert!(later.is_ok(), "{later:?}");
    drop(journal);
    committer.join().expect("committer ended cleanly");

    let snapshot = reload(dir.path());
    let instances: Vec<_> = snapshot.services[0]
        .1
        .iter()
        .map(|instance| instance.id.clone())
        .collect();
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
    let first = journal.commit(setup()).blocking_recv().expect("answered");
    assert!(first.is_ok(), "{first:?}");

    faults.syncs.store(1, Ordering::SeqCst);
    let verdict = journal
        .commit(register("srv-1", "maybe"))
        .blocking_recv()
        .expect("answered");
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
        assert!(receiver.blocking_recv().expect("answered").is_err());
    }
    drop(journal);
    committer.join().expect("committer ended cleanly");
    faults.writes.store(0, Ordering::SeqCst);
    let snapshot = reload(dir.path());
    assert!(snapshot.services[0].1.is_empty());
    assert_eq!(snapshot.changes, 2);
}
