//! A namespace's revision, which DNS serves as its zone's SOA serial.
//!
//! Alone, a server counts: each change to the namespace adds one. A server
//! that follows a shared store (etcd) instead *pins* it to the store's
//! revision of the namespace's last change, the same number on every node
//! for the same state; once pinned, the registry's own bumps no longer
//! move it, so a transaction that changes a namespace many times still
//! leaves exactly the store's revision, never more.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug)]
pub(super) struct NamespaceRevision {
    value: AtomicU64,
    pinned: AtomicBool,
}

impl NamespaceRevision {
    pub(super) fn new(value: u64) -> Self {
        Self {
            value: AtomicU64::new(value),
            pinned: AtomicBool::new(false),
        }
    }

    pub(super) fn load(&self) -> u64 {
        self.value.load(Ordering::SeqCst)
    }

    /// A change: one more, unless the store gives the number.
    pub(super) fn bump(&self) {
        if !self.pinned.load(Ordering::SeqCst) {
            self.value.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// From now on the store gives the number; it never goes backwards.
    /// Returns whether it moved.
    pub(super) fn pin(&self, revision: u64) -> bool {
        self.pinned.store(true, Ordering::SeqCst);
        self.value.fetch_max(revision, Ordering::SeqCst) < revision
    }
}
