//! What `cairn status` says of the store: its file and its last commit.
//! The committer thread records each commit in two atomics (one store per
//! batch, not per change); a status call reads them and the file's size.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Revision;
use super::following::{Following, FollowingStatus};

/// The committer's record of its last commit, shared with status readers.
#[derive(Debug, Default)]
pub(super) struct Commits {
    /// Epoch milliseconds of the last commit; 0 before the first.
    last_millis: AtomicU64,
    /// The store's revision after it (changes ever committed).
    revision: AtomicU64,
}

impl Commits {
    pub(super) fn new(revision: Revision) -> Self {
        Self {
            last_millis: AtomicU64::new(0),
            revision: AtomicU64::new(revision),
        }
    }

    /// Called by the committer after a batch reached the file.
    pub(super) fn committed(&self, revision: Revision) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        self.revision.store(revision, Ordering::Relaxed);
        self.last_millis.store(now, Ordering::Relaxed);
    }
}

/// A read-only view of a store for status: cheap to clone, and it keeps the
/// committer running no longer than it would (it holds no request channel).
#[derive(Debug, Clone)]
pub struct StoreWatch {
    backend: &'static str,
    path: Option<Arc<Path>>,
    commits: Arc<Commits>,
    following: Option<Arc<Following>>,
}

/// The store as `cairn status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// `redb` or `memory`.
    pub backend: &'static str,
    pub path: Option<PathBuf>,
    /// The file's size on disk, when it can be read.
    pub file_bytes: Option<u64>,
    /// Epoch milliseconds of the last commit since the server started.
    pub last_commit_millis: Option<u64>,
    pub revision: Revision,
    /// A cluster node's following of its shared store.
    pub following: Option<FollowingStatus>,
}

impl StoreWatch {
    pub(super) fn redb(path: Arc<Path>, commits: Arc<Commits>) -> Self {
        Self {
            backend: "redb",
            path: Some(path),
            commits,
            following: None,
        }
    }

    /// A store this server does not commit to itself (etcd): no file, no
    /// commit times of its own; its revision is the one applied here.
    pub fn elsewhere(backend: &'static str, following: Option<Arc<Following>>) -> Self {
        Self {
            backend,
            path: None,
            commits: Arc::default(),
            following,
        }
    }

    /// What the store looks like now.
    pub fn status(&self) -> StoreStatus {
        let last = self.commits.last_millis.load(Ordering::Relaxed);
        let following = self.following.as_deref().map(Following::status);
        StoreStatus {
            backend: self.backend,
            path: self.path.as_deref().map(Path::to_path_buf),
            file_bytes: self
                .path
                .as_deref()
                .and_then(|path| std::fs::metadata(path).ok())
                .map(|metadata| metadata.len()),
            last_commit_millis: (last != 0).then_some(last),
            revision: following.as_ref().map_or_else(
                || self.commits.revision.load(Ordering::Relaxed),
                |following| following.applied,
            ),
            following,
        }
    }
}
