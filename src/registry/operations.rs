//! The operation log: what GetOperation and ListOperations read. Bounded, so
//! a long-running server does not grow without end; the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::model::{Millis, Operation, OperationStatus, OperationType};

/// How many operations are remembered.
pub const OPERATION_LOG_CAPACITY: usize = 100_000;

/// Operations in the order they were recorded, the oldest at the front: a
/// ring rather than an ordered map, since every change appends one and
/// drops the oldest (the map's node allocations were ~3 % of cairn's CPU
/// under 64 registering clients; perf, 2026-12-03).
#[derive(Default)]
struct Log {
    /// The sequence number of `operations[0]`.
    first_seq: u64,
    operations: VecDeque<Operation>,
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
        let seq = log.first_seq + log.operations.len() as u64;
        // An id recorded again (never, for ids this server makes) names
        // the newest; the older entry stays listed until it ages out.
        log.seq_by_id.insert(operation.id.clone(), seq);
        log.operations.push_back(operation);
        while log.operations.len() > OPERATION_LOG_CAPACITY {
            let Some(oldest) = log.operations.pop_front() else {
                break;
            };
            let aged = log.first_seq;
            log.first_seq += 1;
            if log.seq_by_id.get(&oldest.id) == Some(&aged) {
                log.seq_by_id.remove(&oldest.id);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Operation> {
        let log = self.lock();
        let seq = log.seq_by_id.get(id)?;
        let index = usize::try_from(seq.checked_sub(log.first_seq)?).ok()?;
        log.operations.get(index).cloned()
    }

    /// The newest remembered operation that `matches`.
    pub fn find_newest(&self, matches: impl Fn(&Operation) -> bool) -> Option<Operation> {
        self.lock()
            .operations
            .iter()
            .rev()
            .find(|op| matches(op))
            .cloned()
    }

    /// Every remembered operation, oldest first.
    pub fn list(&self) -> Vec<Operation> {
        self.lock().operations.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        // The log holds no invariant a panicking holder could break halfway,
        // so a poisoned lock is still safe to use.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(n: usize) -> Operation {
        let mut operation = succeeded(OperationType::RegisterInstance, Targets::default(), 0);
        operation.id = format!("op-{n}");
        operation
    }

    #[test]
    fn the_log_keeps_the_newest_operations_and_finds_each_by_id() {
        let log = OperationLog::default();
        let total = OPERATION_LOG_CAPACITY + 3;
        for n in 0..total {
            log.insert(operation(n));
        }
        let listed = log.list();
        assert_eq!(listed.len(), OPERATION_LOG_CAPACITY);
        assert_eq!(listed[0].id, "op-3", "the three oldest went");
        assert_eq!(listed[listed.len() - 1].id, format!("op-{}", total - 1));
        assert!(
            log.get("op-2").is_none(),
            "an operation aged out is not found"
        );
        for n in [3, 50_000, total - 1] {
            let id = format!("op-{n}");
            assert_eq!(log.get(&id).map(|op| op.id), Some(id));
        }
        let newest_ending_in_7 = (0..total).rev().find(|n| n % 10 == 7);
        assert_eq!(
            log.find_newest(|op| op.id.ends_with('7')).map(|op| op.id),
            newest_ending_in_7.map(|n| format!("op-{n}"))
        );
    }
}
