//! What a start knows of the last full apply of zones/: the store's record
//! of it against the files found now ([`super::digest`]), and the record
//! written once the files are applied again.

use crate::config::Config;
use crate::store::{RedbBackend, Snapshot};

/// The zones/ a start found, against what its store recorded of the last
/// full apply (the embedded store only: on a cluster, other nodes change
/// the store too).
pub struct Record {
    backend: RedbBackend,
    digest: u64,
    /// Applying the files again would change nothing.
    unchanged: bool,
}

impl Record {
    pub fn new(config: &Config, snapshot: &Snapshot, backend: &RedbBackend) -> Option<Self> {
        if !config.zones_dir.is_dir() {
            return None;
        }
        // What a declared namespace gets depends on the network policy,
        // and whether its transfer settings hold on the keys held.
        let keys: Vec<&str> = config
            .transfer
            .keys
            .iter()
            .map(|key| key.name.as_str())
            .collect();
        let context = format!("{:?} {keys:?}", config.private_namespaces);
        // A file that cannot be read is reported by the apply, which runs.
        let digest = super::digest(&config.zones_dir, &context).ok()?;
        Some(Self {
            backend: backend.clone(),
            digest,
            unchanged: snapshot.zones_unchanged(digest),
        })
    }

    /// Whether applying the files again would change nothing.
    pub fn unchanged(&self) -> bool {
        self.unchanged
    }

    /// Records the full apply just made, so that the next start from the
    /// same files and store can skip it; failing that, it applies them.
    pub async fn applied(self) {
        let error = match self.backend.mark_zones_applied(self.digest).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error.to_string(),
            Err(_) => "the store's committer stopped".to_string(),
        };
        tracing::warn!(%error, "cannot record zones/ as applied; the next start applies them again");
    }
}
