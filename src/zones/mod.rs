//! Applying the `zones/` directory to the registry when `cairn serve`
//! starts: each file's namespace, its services and their static instances
//! are created, or brought in line with the file. [`crate::config::zones`]
//! reads and checks the files; this module decides, against what the
//! registry holds, what has to change, and changes it through the
//! [`Writer`], so every change is durable like any other.
//!
//! Applying is idempotent: what exists already (restored from the store, or
//! created by an earlier start) is brought in line with its declaration
//! instead of being created twice, and left alone when it matches; instances
//! registered at run time are never touched. Every step is durable before
//! the next, so a start that stops half-way is finished by the next start
//! from the same files.
//!
//! - `namespace.rs`: a file's namespace, created or updated.
//! - `services.rs`: a batch of a file's services and their instances.
//! - `reconcile.rs`: what to do with a service that exists already.
//! - `read_ahead.rs`: the files' services parsed, in groups of batches, on
//!   a thread of their own while the group before is applied.
//!
//! Zones are applied before the admin socket is bound, so no error here may
//! tell the operator to use the API "first": each names a fix that can be
//! carried out with the server stopped, or with it started from the
//! previous files.
//!
//! Knows nothing of DNS, sockets or TOML.

mod digest;
mod namespace;
mod read_ahead;
mod reconcile;
mod record;
mod services;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::config::ConfigError;
use crate::config::zones;
use crate::writer::Writer;

pub use digest::digest;
pub use record::Record;

/// Why the zones directory could not be applied.
#[derive(Debug, Error)]
pub enum ZonesError {
    /// A file could not be read or is not a valid zones file.
    #[error(transparent)]
    File(#[from] ConfigError),
    /// A valid file declares something that cannot be applied over what the
    /// registry holds; the message names the entry and the fix.
    #[error("{path}: {message}")]
    Refused { path: PathBuf, message: String },
}

impl ZonesError {
    fn refused(path: &Path, message: impl Into<String>) -> Self {
        Self::Refused {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// What [`apply`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Zones files read (one namespace each).
    pub files: usize,
    /// Namespaces, services and instances declared (created, updated or
    /// already as declared).
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
    /// Services replaced because the file changed what cannot change in
    /// place (record types, routing policy, custom health check,
    /// heartbeat); counted among `services` too.
    pub replaced: usize,
}

/// Applies every zones file in `dir` (see [`zones::read_dir`]) through
/// `writer`. Nothing is applied unless every file is valid.
pub async fn apply(dir: &Path, writer: &Writer) -> Result<Applied, ZonesError> {
    let files = Arc::new(zones::read_dir(dir)?);
    let mut applied = Applied {
        files: files.len(),
        ..Applied::default()
    };
    let mut groups = read_ahead::start(Arc::clone(&files));
    let mut namespace = None;
    while let Some(group) = groups.recv().await {
        let group = group?;
        let file = &files[group.file];
        let namespace = match &mut namespace {
            Some((index, namespace)) if *index == group.file => namespace,
            current => {
                if let Some((index, namespace)) = current.take() {
                    file_applied(&files[index], &namespace);
                }
                applied.namespaces += 1;
                let created = namespace::apply(file, writer).await?;
                &current.insert((group.file, created)).1
            }
        };
        if !group.services.is_empty() {
            services::apply(
                file,
                namespace,
                group.first,
                group.services,
                writer,
                &mut applied,
            )
            .await?;
        }
    }
    if let Some((index, namespace)) = namespace {
        file_applied(&files[index], &namespace);
    }
    Ok(applied)
}

fn file_applied(file: &zones::ZoneSource, namespace: &crate::registry::Namespace) {
    tracing::debug!(file = %file.path.display(), namespace = %namespace.name, "zone file applied");
}

#[cfg(test)]
mod tests;
