//! The operation log: what GetOperation and ListOperations read. Bounded, so
//! a long-running server does not grow without end; the oldest go first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::model::{Millis, Operation, OperationStatus, OperationType};

/// How many operations are remembered.
pub const OPERATION_LOG_CAPACITY: usize = 100_000;

#[derive(Default)]
struct Log {
    next_seq: u64,
    by_seq: BTreeMap<u64, Operation>,
    seq_by_id: HashMap<String, u64>,
}

/// A bounded, ordered log of operations.
#[derive(Default)]
pub struct OperationLog {
    log: Mutex<Log>,
}

/// What an operation was about.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub namespace_id: Option<String>,
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
}

/// A finished, successful operation, not yet recorded.
pub fn succeeded(kind: OperationType, targets: Targets, now: Millis) -> Operation {
    Operation {
        id: super::ids::operation_id(),
        kind,
        status: OperationStatus::Success,
        error_code: None,
        error_message: None,
        created_at: now,
        updated_at: now,
        namespace_id: targets.namespace_id,
        service_id: targets.service_id,
        instance_id: targets.instance_id,
        request_token: None,
    }
}

impl OperationLog {
    /// Records an operation.
    pub fn insert(&self, operation: Operation) {
        let mut log = self.lock();
        let seq = log.next_seq;
        log.next_seq += 1;
        log.seq_by_id.insert(operation.id.clone(), seq);
        log.by_seq.insert(seq, operation);
        while log.by_seq.len() > OPERATION_LOG_CAPACITY {
            if let Some((_, oldest)) = log.by_seq.pop_first() {
                log.seq_by_id.remove(&oldest.id);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Operation> {
        let log = self.lock();
        let seq = log.seq_by_id.get(id)?;
        log.by_seq.get(seq).cloned()
    }

    /// The newest remembered operation that `matches`.
    pub fn find_newest(&self, matches: impl Fn(&Operation) -> bool) -> Option<Operation> {
        self.lock()
            .by_seq
            .values()
            .rev()
            .find(|op| matches(op))
            .cloned()
    }

    /// Every remembered operation, oldest first.
    pub fn list(&self) -> Vec<Operation> {
        self.lock().by_seq.values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        // The log holds no invariant a panicking holder could break halfway,
        // so a poisoned lock is still safe to use.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
