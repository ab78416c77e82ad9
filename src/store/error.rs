//! Why the store could not be opened or read, in words an operator can act
//! on: every message names the file and, where there is one, the fix.

use std::io;
use std::path::{Path, PathBuf};

/// A failure to open or load the store. Start-up stops on any of these:
/// cairn never falls back to an empty registry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this one) holds the file lock.
    #[error(
        "{path} is in use by another cairn (one data directory per server): stop the other \
         server or give this one its own data_dir"
    )]
    InUse { path: PathBuf },
    #[error(
        "cannot open {path}: permission denied; make it readable and writable by the user \
         cairn runs as"
    )]
    PermissionDenied { path: PathBuf },
    /// The file exists but is not a store redb can open (garbage, truncated,
    /// a newer or older file format).
    #[error(
        "{path} is not a readable cairn store ({detail}); restore it from a backup, or move it \
         aside to start with an empty registry"
    )]
    Unreadable { path: PathBuf, detail: String },
    /// The database is sound but one of our rows is not: a row that does
    /// not decode, or an instance filed under a service that is not stored.
    #[error(
        "{path} is damaged: {table} row {key:?}: {detail}; restore it from a backup, or move \
         it aside to start with an empty registry"
    )]
    CorruptRow {
        path: PathBuf,
        table: &'static str,
        key: String,
        detail: String,
    },
    #[error("cannot use {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    /// A shared store (etcd) could not be read, or holds a key cairn
    /// cannot decode; `detail` names the endpoints or the key.
    #[error("etcd store: {detail}")]
    Shared { detail: String },
}

impl StoreError {
    /// Classifies an error from opening or reading the database at `path`.
    pub(super) fn from_redb(path: &Path, err: impl Into<redb::Error>) -> Self {
        let path = path.to_path_buf();
        match err.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                Self::InUse { path }
            }
            redb::Error::Io(err) => Self::from_io(path, err),
            err @ (redb::Error::Corrupted(_)
            | redb::Error::UpgradeRequired(_)
            | redb::Error::RepairAborted
            | redb::Error::TableTypeMismatch { .. }
            | redb::Error::TypeDefinitionChanged { .. }
            | redb::Error::TableIsMultimap(_)
            | redb::Error::TableIsNotMultimap(_)) => Self::Unreadable {
                path,
                detail: err.to_string(),
            },
            err => Self::Io {
                path,
                detail: err.to_string(),
            },
        }
    }

    /// Classifies an I/O error on `path` (the file or the data directory).
    pub(super) fn from_io(path: PathBuf, err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::PermissionDenied => Self::PermissionDenied { path },
            // redb reports a file that is not a database as InvalidData.
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => Self::Unreadable {
                path,
                detail: err.to_string(),
            },
            _ => Self::Io {
                path,
                detail: err.to_string(),
            },
        }
    }
}

/// The message a failed commit answers every caller of its batch with.
pub(super) fn write_failure(path: &Path, err: &redb::Error) -> String {
    match err {
        // redb's own wording ("I/O error: …") adds nothing for an operator.
        redb::Error::Io(err) => format!("cannot write {}: {err}", path.display()),
        err => format!("cannot write {}: {err}", path.display()),
    }
}
