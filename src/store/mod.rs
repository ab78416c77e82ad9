//! The durable store: what the write front keeps the registry's changes in
//! before it applies them, and what a restart reads back.
//!
//! [`Backend`] is the interface: commit a batch of changes and learn the
//! store's revision after it; read a consistent [`Snapshot`]. A backend
//! shared by several servers ([`SharedBackend`], etcd) also lets a server
//! follow the changes the others commit; one that only this server writes
//! has nothing to follow. Three backends exist today:
//!
//! - redb, the embedded default: the registry's state in one file,
//!   `<data_dir>/cairn.redb`. [`Store::open`] takes the file (and its lock:
//!   one server per data directory) and [`Store::start`] hands the database
//!   to a committer thread behind a [`RedbBackend`]. Concurrent commits are
//!   grouped into one transaction and one fsync, so throughput grows with
//!   the number of writers.
//! - [`MemoryBackend`], which keeps everything in memory: for tests and for
//!   a registry that need not outlive its process.
//! - etcd (the `etcd` cargo feature, `etcd/`): one key per namespace,
//!   service, instance and operation under a prefix, shared by every node
//!   of a cluster.
//!
//! This module is the only one that touches the data directory. It keeps
//! the registry's values in row types of its own (`rows.rs`, the on-disk
//! format, which the registry knows nothing of): it never decides whether
//! a change is valid, beyond refusing an instance whose service is not
//! stored (which would make the store impossible to load).

mod checksum;
mod committer;
pub mod copy;
mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
mod following;
mod memory;
mod rows;
mod shared;
mod stats;
mod tables;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::thread;

use redb::backends::FileBackend;
use redb::{Builder, Database, StorageBackend};
use tokio::sync::oneshot;

pub use committer::RedbBackend;
pub use error::StoreError;
pub use following::{Following, FollowingStatus, Stale};
pub use memory::MemoryBackend;
pub use shared::{
    Beat, Followed, Guard, Guarded, Origin, Read, SharedBackend, SharedRevision, SharedSnapshot,
};
pub use stats::{StoreStatus, StoreWatch};

use crate::registry::{Change, Instance, Namespace, Operation, Service};

/// redb's page cache: enough for the B-tree paths a commit touches.
const STORE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "cairn.redb";

/// A store's revision: how many [`Change`]s it has ever committed. It only
/// grows, across restarts too.
pub type Revision = u64;

/// Why a batch of changes was not made durable (a full disk, a read-only
/// directory, an I/O error, a row the store refuses). Nothing of the batch
/// was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommitError(pub String);

/// What the write front keeps the registry's changes in.
pub trait Backend: Send + Sync + 'static {
    /// Makes `changes` durable, together. The receiver resolves once they
    /// are, with the store's revision after them, or once they are known
    /// not to be; concurrent commits may share one disk write (and one
    /// revision).
    fn commit(&self, changes: Vec<Change>) -> oneshot::Receiver<Result<Revision, CommitError>>;

    /// [`Backend::commit`] for changes a restart derives again (what
    /// zones/ declares), which need not be on disk when answered: they
    /// reach it with the next [`Backend::commit`] or zones mark at the
    /// latest, and a crash before that may lose them, and only them. Until
    /// zones/ is marked applied a start applies zones/ again, so nothing
    /// lost that way stays lost. The caller may apply them before the
    /// answer comes: one that fails counts as lost, and keeps zones/ from
    /// being marked applied until a restart. A backend that has no cheaper
    /// way commits them as any other.
    fn commit_unsynced(
        &self,
        changes: Vec<Change>,
    ) -> oneshot::Receiver<Result<Revision, CommitError>> {
        self.commit(changes)
    }

    /// Everything the store holds, read at one revision.
    fn snapshot(&self) -> oneshot::Receiver<Result<Snapshot, StoreError>>;
}

/// Everything the store holds, read at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub namespaces: Vec<Namespace>,
    /// Each service with its instances.
    pub services: Vec<(Service, Vec<Instance>)>,
    /// Oldest first; at most the last 100,000.
    pub operations: Vec<Operation>,
    /// The store's revision: how many `Change`s were ever committed. Every
    /// revision bump commits at least one change,
    /// so no revision ever handed out exceeds it: restoring each revision
    /// as `max(stored revision, changes)` never goes backwards, even for a
    /// namespace whose row was last written before its services changed.
    pub changes: Revision,
    /// The last full apply of zones/ recorded in this store, if any.
    pub zones_applied: Option<ZonesApplied>,
}

/// A full apply of zones/: the digest of the files (and of what else
/// decided the outcome, see [`crate::zones::digest`]) and the store's
/// `changes` counter once everything it changed was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZonesApplied {
    pub digest: u64,
    pub at: Revision,
}

impl Snapshot {
    /// Whether applying zones/ with `digest` again would change nothing:
    /// the same files were applied in full and nothing was committed since.
    pub fn zones_unchanged(&self, digest: u64) -> bool {
        self.zones_applied
            == Some(ZonesApplied {
                digest,
                at: self.changes,
            })
    }
}

/// Opens the database afresh: at start, and again after a failed commit
/// (redb refuses every write after an I/O error until it is reopened).
type Opener = Box<dyn Fn() -> Result<Database, StoreError> + Send>;

/// The open store, before it is handed to its committer thread.
pub struct Store {
    path: PathBuf,
    db: Database,
    opener: Opener,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens `data_dir/cairn.redb`, creating the directory and the file if
    /// they are missing. Fails if another cairn has the file open, if it is
    /// not a readable store, or if it cannot be read and written.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(data_dir, |backend| backend)
    }

    /// [`Store::open`], with the file's backend wrapped by `wrap` (tests
    /// inject I/O failures this way).
    fn open_with<B: StorageBackend>(
        data_dir: &Path,
        wrap: impl Fn(FileBackend) -> B + Send + 'static,
    ) -> Result<Store, StoreError> {
        fs::create_dir_all(data_dir)
            .map_err(|err| StoreError::from_io(data_dir.to_path_buf(), err))?;
        let path = data_dir.join(FILE_NAME);
        let file_path = path.clone();
        let opener: Opener = Box::new(move || open_database(&file_path, &wrap));
        let db = opener()?;
        tracing::info!(path = %path.display(), "store opened");
        Ok(Store { path, db, opener })
    }

    /// [`Store::open`] then [`Store::load`], as start-up does, with any
    /// panic on the way turned into [`StoreError::Unreadable`].
    ///
    /// Why catch a panic: redb trusts its pages. A file damaged below the
    /// level of our rows (a torn or overwritten page, a bad sector) makes
    /// its B-tree code hit `unreachable!` rather than return an error, and
    /// a start-up that dies with a panic tells the operator nothing. Every
    /// read of the file at start happens in here, on values that are
    /// dropped if it panics, so nothing half-read survives the panic.
    pub fn open_and_load(data_dir: &Path) -> Result<(Store, Snapshot), StoreError> {
        let opened = std::panic::catch_unwind(|| {
            let store = Store::open(data_dir)?;
            let snapshot = store.load()?;
            Ok((store, snapshot))
        });
        opened.unwrap_or_else(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(StoreError::Unreadable {
                path: data_dir.join(FILE_NAME),
                detail: format!("its pages are damaged: redb failed reading them: {detail}"),
            })
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads everything stored. A row that does not decode is an error that
    /// names its table and key: a damaged store is never half-loaded.
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        tables::read_snapshot(&self.path, &self.db)
    }

    /// Starts the committer thread, which owns the database from now on,
    /// and returns the backend that feeds it. The thread ends once every
    /// clone of the backend is dropped and the last batch is answered.
    pub fn start(self) -> Result<(RedbBackend, thread::JoinHandle<()>), StoreError> {
        let known_changes = tables::stored_changes(&self.db)
            .map_err(|err| StoreError::from_redb(&self.path, err))?;
        let path = self.path.clone();
        committer::start(self.path, self.db, known_changes, self.opener).map_err(|err| {
            StoreError::Io {
                path,
                detail: format!("cannot start the committer thread: {err}"),
            }
        })
    }
}

fn open_database<B: StorageBackend>(
    path: &Path,
    wrap: &impl Fn(FileBackend) -> B,
) -> Result<Database, StoreError> {
    // Only a missing file is a new store. redb turns an empty file into a
    // new database without a word, and an empty cairn.redb is a store lost
    // (truncated, copied before its data, restored from a backup that never
    // ran), not a first start: starting empty over it would hide the loss.
    let exists = match fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => {
            return Err(StoreError::Unreadable {
                path: path.to_path_buf(),
                detail: "the file is empty".into(),
            });
        }
        Ok(_) => true,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
        Err(err) => return Err(StoreError::from_io(path.to_path_buf(), err)),
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(!exists)
        .truncate(false)
        .open(path)
        .map_err(|err| StoreError::from_io(path.to_path_buf(), err))?;
    let backend = FileBackend::new(file).map_err(|err| StoreError::from_redb(path, err))?;
    let db = Builder::new()
        // The registry in memory is what cairn reads; the store is read once
        // at start and then only written. redb's default 1 GiB page cache
        // would hold a large store twice.
        .set_cache_size(STORE_CACHE_BYTES)
        .create_with_backend(wrap(backend))
        .map_err(|err| StoreError::from_redb(path, err))?;
    let txn = db
        .begin_write()
        .map_err(|err| StoreError::from_redb(path, err))?;
    tables::create_tables(&txn).map_err(|err| StoreError::from_redb(path, err))?;
    txn.commit()
        .map_err(|err| StoreError::from_redb(path, err))?;
    Ok(db)
}

#[cfg(test)]
mod tests;
