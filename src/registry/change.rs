//! What a change to the registry amounts to, as durable facts: the write
//! front hands a plan's [`Change`]s to the store and applies the plan only
//! once they are kept. The registry defines what a change is; the store
//! decides how to keep it.

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
