//! A backend that keeps everything in memory: the registry's changes are
//! "durable" for as long as the process lives. Tests drive the real write
//! front over it, and a snapshot of it restores like one from disk.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::{Backend, CommitError, Revision, Snapshot, StoreError};
use crate::registry::{Change, Instance, Namespace, Operation, Service};

/// How many operations are kept, as the redb store keeps them.
const MAX_OPERATIONS: usize = 100_000;

#[derive(Default)]
struct Rows {
    namespaces: BTreeMap<String, Namespace>,
    /// Each service with its instances, keyed by lower-cased id as the
    /// registry files them.
    services: BTreeMap<String, (Service, BTreeMap<String, Instance>)>,
    operations: VecDeque<Operation>,
    changes: Revision,
}

/// The in-memory backend. Shared by reference: clone the `Arc` it lives in.
#[derive(Default)]
pub struct MemoryBackend {
    rows: Mutex<Rows>,
}

impl MemoryBackend {
    fn rows(&self) -> MutexGuard<'_, Rows> {
        // Every change to the rows is a plain insert or remove, so a panic
        // elsewhere cannot leave them half-changed.
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Rows {
    /// Refuses a batch that would file an instance under a service that is
    /// not stored, as the redb store does, before any of it is applied.
    fn check(&self, changes: &[Change]) -> Result<(), CommitError> {
        let mut in_batch: BTreeMap<&str, bool> = BTreeMap::new();
        for change in changes {
            match change {
                Change::Service(service) => {
                    in_batch.insert(&service.id, true);
                }
                Change::ServiceDeleted { service_id } => {
                    in_batch.insert(service_id, false);
                }
                Change::Instance {
                    service_id,
                    instance,
                } => {
                    let stored = in_batch
                        .get(service_id.as_str())
                        .copied()
                        .unwrap_or_else(|| self.services.contains_key(service_id));
                    if !stored {
                        return Err(CommitError(format!(
                            "the store refused instance {:?}: its service {service_id:?} is not stored",
                            instance.id
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Namespace(namespace) => {
                self.namespaces.insert(namespace.id.clone(), namespace);
            }
            Change::NamespaceDeleted { namespace_id } => {
                self.namespaces.remove(&namespace_id);
            }
            Change::Service(service) => match self.services.get_mut(&service.id) {
                Some((stored, _)) => *stored = service,
                None => {
                    self.services
                        .insert(service.id.clone(), (service, BTreeMap::new()));
                }
            },
            Change::ServiceDeleted { service_id } => {
                self.services.remove(&service_id);
            }
            Change::Instance {
                service_id,
                instance,
            } => {
                if let Some((_, instances)) = self.services.get_mut(&service_id) {
                    instances.insert(instance.id.to_ascii_lowercase(), instance);
                }
            }
            Change::InstanceDeleted {
                service_id,
                instance_id,
            } => {
                if let Some((_, instances)) = self.services.get_mut(&service_id) {
                    instances.remove(&instance_id.to_ascii_lowercase());
                }
            }
            Change::Operation(operation) => {
                self.operations.push_back(operation);
                if self.operations.len() > MAX_OPERATIONS {
                    self.operations.pop_front();
                }
            }
        }
    }
}

impl Backend for MemoryBackend {
    fn commit(&self, changes: Vec<Change>) -> oneshot::Receiver<Result<Revision, CommitError>> {
        let (done, receiver) = oneshot::channel();
        let mut rows = self.rows();
        let verdict = rows.check(&changes).map(|()| {
            rows.changes += changes.len() as Revision;
            for change in changes {
                rows.apply(change);
            }
            rows.changes
        });
        let _ = done.send(verdict);
        receiver
    }

    fn snapshot(&self) -> oneshot::Receiver<Result<Snapshot, StoreError>> {
        let (done, receiver) = oneshot::channel();
        let rows = self.rows();
        let snapshot = Snapshot {
            namespaces: rows.namespaces.values().cloned().collect(),
            services: rows
                .services
                .values()
                .map(|(service, instances)| {
                    (service.clone(), instances.values().cloned().collect())
                })
                .collect(),
            operations: rows.operations.iter().cloned().collect(),
            changes: rows.changes,
            zones_applied: None,
        };
        let _ = done.send(Ok(snapshot));
        receiver
    }
}
