//! The registry as unit tests drive it: every change goes through the real
//! write front into a [`MemoryBackend`], and each call blocks until it is
//! applied, so a test reads like a list of API calls. Reads go straight to
//! the registry (`TestRegistry` derefs to it).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use super::{Restored, Writer};
use crate::registry::{
    Change, HealthStatus, InstanceRegistration, Namespace, NewNamespace, NewService, Registry,
    RegistryObserver, Result, Service, ServiceUpdate, Tags,
};
use crate::store::{Backend, CommitError, MemoryBackend, Revision, Snapshot, StoreError};

/// A memory store that can be told to refuse commits, as a full disk would.
#[derive(Default)]
pub(crate) struct TestStore {
    memory: MemoryBackend,
    refusing: AtomicBool,
}

impl Backend for TestStore {
    fn commit(&self, changes: Vec<Change>) -> oneshot::Receiver<Result<Revision, CommitError>> {
        if self.refusing.load(Ordering::SeqCst) {
            let (done, receiver) = oneshot::channel();
            let _ = done.send(Err(CommitError("the test store refuses commits".into())));
            return receiver;
        }
        self.memory.commit(changes)
    }

    fn snapshot(&self) -> oneshot::Receiver<std::result::Result<Snapshot, StoreError>> {
        self.memory.snapshot()
    }
}

pub(crate) struct TestRegistry {
    runtime: Runtime,
    writer: Writer,
    store: Arc<TestStore>,
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Deref for TestRegistry {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        self.writer.registry()
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime starts")
}

impl TestRegistry {
    /// An empty registry that tells `observers` of every change.
    pub(crate) fn new(observers: Vec<Arc<dyn RegistryObserver>>) -> Self {
        let store = Arc::new(TestStore::default());
        let writer = Writer::new(
            Registry::new(observers),
            Arc::clone(&store) as Arc<dyn Backend>,
        );
        Self {
            runtime: runtime(),
            writer,
            store,
        }
    }

    /// A new registry restored from this one's store, as after a restart.
    pub(crate) fn restarted(&self, observers: Vec<Arc<dyn RegistryObserver>>) -> (Self, Restored) {
        let runtime = runtime();
        let store = Arc::clone(&self.store);
        let (writer, restored) = runtime
            .block_on(Writer::restore(
                Registry::new(observers),
                Arc::clone(&store) as Arc<dyn Backend>,
            ))
            .expect("the memory store restores");
        (
            Self {
                runtime,
                writer,
                store,
            },
            restored,
        )
    }

    /// A registry restored from a store that holds `changes`, as written by
    /// an earlier server.
    pub(crate) fn stored(changes: Vec<Change>) -> Self {
        let store = Arc::new(TestStore::default());
        store
            .memory
            .commit(changes)
            .blocking_recv()
            .expect("answered")
            .expect("the memory store keeps them");
        let runtime = runtime();
        let (writer, _) = runtime
            .block_on(Writer::restore(
                Registry::default(),
                Arc::clone(&store) as Arc<dyn Backend>,
            ))
            .expect("the memory store restores");
        Self {
            runtime,
            writer,
            store,
        }
    }

    /// Everything the store holds now.
    pub(crate) fn stored_snapshot(&self) -> Snapshot {
        self.runtime
            .block_on(self.store.snapshot())
            .expect("answered")
            .expect("the memory store reads")
    }

    /// The write front itself, for code that takes one.
    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// From now on every commit fails (or, with `false`, succeeds again).
    pub(crate) fn refuse_commits(&self, refuse: bool) {
        self.store.refusing.store(refuse, Ordering::SeqCst);
    }

    pub(crate) fn create_namespace(&self, new: NewNamespace) -> Result<(Namespace, String)> {
        self.runtime.block_on(self.writer.create_namespace(new))
    }

    pub(crate) fn update_namespace(
        &self,
        id: &str,
        update: crate::registry::NamespaceUpdate,
    ) -> Result<String> {
        self.runtime
            .block_on(self.writer.update_namespace(id, update))
    }

    pub(crate) fn delete_namespace(&self, id: &str) -> Result<String> {
        self.runtime.block_on(self.writer.delete_namespace(id))
    }

    pub(crate) fn create_service(&self, new: NewService) -> Result<Service> {
        self.runtime.block_on(self.writer.create_service(new))
    }

    pub(crate) fn update_service(&self, id: &str, update: ServiceUpdate) -> Result<String> {
        self.runtime
            .block_on(self.writer.update_service(id, update))
    }

    pub(crate) fn delete_service(&self, id: &str) -> Result<()> {
        self.runtime.block_on(self.writer.delete_service(id))
    }

    pub(crate) fn register_instance(&self, registration: InstanceRegistration) -> Result<String> {
        self.runtime
            .block_on(self.writer.register_instance(registration))
    }

    pub(crate) fn register_instances(
        &self,
        registrations: Vec<InstanceRegistration>,
    ) -> Result<Vec<String>> {
        self.runtime
            .block_on(self.writer.register_instances(registrations))
    }

    pub(crate) fn deregister_instance(
        &self,
        service_id: &str,
        instance_id: &str,
    ) -> Result<String> {
        self.runtime
            .block_on(self.writer.deregister_instance(service_id, instance_id))
    }

    pub(crate) fn set_health(
        &self,
        service_id: &str,
        instance_id: &str,
        status: HealthStatus,
        custom: bool,
    ) -> Result<bool> {
        self.runtime.block_on(
            self.writer
                .set_health(service_id, instance_id, status, custom),
        )
    }

    pub(crate) fn heartbeat(&self, service_id: &str, instance_id: &str) -> Result<bool> {
        self.runtime
            .block_on(self.writer.heartbeat(service_id, instance_id))
    }

    pub(crate) fn retag(&self, resource: &str, add: &Tags, remove: &[String]) -> Result<()> {
        self.runtime
            .block_on(self.writer.retag(resource, add.clone(), remove.to_vec()))
    }
}
