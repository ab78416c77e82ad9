//! The registry's write-ahead contract: every change is handed to a
//! [`Journal`] and applied only once the journal says it is durable. The
//! registry defines what a change is; the store decides how to keep it.

use tokio::sync::oneshot;

use super::model::{Instance, Namespace, Operation, Service};

/// One durable fact. A batch of them is committed atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A namespace as it now is (created, updated or retagged).
    Namespace(Namespace),
    NamespaceDeleted {
        namespace_id: String,
    },
    /// A service as it now is, without its instances.
    Service(Service),
    ServiceDeleted {
        service_id: String,
    },
    /// An instance as it now is (registered, re-registered, health changed).
    Instance {
        service_id: String,
        instance: Instance,
    },
    InstanceDeleted {
        service_id: String,
        instance_id: String,
    },
    Operation(Operation),
}

/// Why a journal could not make changes durable (disk full, read-only
/// directory, I/O error). Nothing of the batch was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JournalError(pub String);

/// Where changes go before they are applied.
pub trait Journal: Send + Sync + 'static {
    /// Makes `changes` durable, together. The receiver resolves once they
    /// are (or are known not to be); concurrent commits may share one disk
    /// write.
    fn commit(&self, changes: Vec<Change>) -> oneshot::Receiver<Result<(), JournalError>>;
}

/// A journal that keeps nothing: for a registry that lives in memory only.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryJournal;

impl Journal for MemoryJournal {
    fn commit(&self, _changes: Vec<Change>) -> oneshot::Receiver<Result<(), JournalError>> {
        let (done, receiver) = oneshot::channel();
        let _ = done.send(Ok(()));
        receiver
    }
}
