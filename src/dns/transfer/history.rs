//! A zone's recent changes, for incremental IXFR (RFC 1995 §4): for each
//! rise of its serial, the records taken out and the records put in,
//! bounded in bytes with the oldest steps dropped first.
//!
//! Only what changed is copied here (owned bytes, never a compile), so a
//! change costs in proportion to its records and the table's compiles stay
//! unshared, free to change in place.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::axfr::{self, Owner};
use super::serial_lt;
use crate::dns::compile::CompiledService;
use crate::registry::RecordKind;

/// One record of a difference: its owner (lower-case wire form, the full
/// name) and the record as compiled (owner placeholder, type, class, TTL,
/// RDATA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: Box<[u8]>,
    pub record: Box<[u8]>,
}

impl Record {
    /// What it holds, with a share of the bookkeeping around it.
    fn bytes(&self) -> usize {
        self.owner.len() + self.record.len() + 2 * std::mem::size_of::<Box<[u8]>>()
    }
}

/// What one change did to a zone's records.
#[derive(Debug, Default, Clone)]
pub struct Difference {
    pub deleted: Vec<Record>,
    pub added: Vec<Record>,
}

impl Difference {
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.added.is_empty()
    }

    /// From one compile of the service `name` to the next (`None`: not
    /// served): the multiset difference of their records, in time linear
    /// in the two compiles, which a whole compile has spent already.
    /// `None` when it would hold more than `budget` bytes (more than a
    /// history keeps).
    pub fn between(
        name: &[u8],
        previous: Option<&CompiledService>,
        next: Option<&CompiledService>,
        budget: usize,
    ) -> Option<Self> {
        // Every owner is the service's name or an instance's below it, so
        // the instance's id tells them apart without building names.
        let mut counts: HashMap<(Option<&[u8]>, &[u8]), i64> = HashMap::new();
        for (service, sign) in [(previous, -1), (next, 1)] {
            let Some(service) = service else { continue };
            for (owner, record) in axfr::service_records(name, service) {
                let id = match owner {
                    Owner::Instance { id, .. } => Some(id),
                    Owner::Apex | Owner::Name(_) => None,
                };
                *counts.entry((id, record)).or_default() += sign;
            }
        }
        let mut difference = Self::default();
        let mut bytes = 0usize;
        for ((id, record), count) in counts {
            if count == 0 {
                continue;
            }
            let owner = match id {
                Some(id) => owner_name(Owner::Instance { service: name, id }),
                None => name.into(),
            };
            let side = if count < 0 {
                &mut difference.deleted
            } else {
                &mut difference.added
            };
            for _ in 0..count.unsigned_abs() {
                let record = Record {
                    owner: owner.clone(),
                    record: record.into(),
                };
                bytes += record.bytes();
                if bytes > budget {
                    return None;
                }
                side.push(record);
            }
        }
        Some(difference)
    }
}

/// The full name of a record's owner below a service.
pub fn owner_name(owner: Owner<'_>) -> Box<[u8]> {
    match owner {
        Owner::Apex => Box::default(),
        Owner::Name(name) => name.into(),
        Owner::Instance { service, id } => {
            let mut name = Vec::with_capacity(1 + id.len() + service.len());
            // The id is one label, checked when the SRV target was built.
            name.push(id.len() as u8);
            name.extend_from_slice(id);
            name.extend_from_slice(service);
            name.into()
        }
    }
}

/// One rise of the serial: RFC 1995's difference sequence.
#[derive(Debug, Clone)]
pub struct Step {
    pub from: u32,
    pub to: u32,
    /// The SOA records at `from` and at `to`, as compiled.
    pub from_soa: Box<[u8]>,
    pub to_soa: Box<[u8]>,
    pub difference: Arc<Difference>,
    bytes: usize,
}

/// A zone's steps, oldest first, each one's `from` the previous one's `to`.
#[derive(Debug)]
pub struct History {
    limit: usize,
    steps: VecDeque<Step>,
    bytes: usize,
}

impl History {
    /// Keeps at most `limit` bytes of changes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            steps: VecDeque::new(),
            bytes: 0,
        }
    }

    /// The serial rose from `from` to `to` with `difference`.
    pub fn rose(
        &mut self,
        (from, from_soa): (u32, &[u8]),
        (to, to_soa): (u32, &[u8]),
        difference: Difference,
    ) {
        if self.steps.back().is_some_and(|last| last.to != from) {
            self.forget();
        }
        let bytes = from_soa.len()
            + to_soa.len()
            + difference
                .deleted
                .iter()
                .chain(&difference.added)
                .map(Record::bytes)
                .sum::<usize>();
        if bytes > self.limit {
            // Larger than the whole history: nothing before it is reachable.
            return self.forget();
        }
        self.bytes += bytes;
        self.steps.push_back(Step {
            from,
            to,
            from_soa: from_soa.into(),
            to_soa: to_soa.into(),
            difference: Arc::new(difference),
            bytes,
        });
        while self.bytes > self.limit {
            let Some(oldest) = self.steps.pop_front() else {
                break;
            };
            self.bytes -= oldest.bytes;
        }
    }

    /// A change made without a rise of the serial, at serial `current`:
    /// part of the step that reached it, or, when none is kept, the end
    /// of what is (clients at `current` may or may not have it).
    pub fn changed_at(&mut self, current: u32, difference: Difference) {
        if difference.is_empty() {
            return;
        }
        let Some(last) = self.steps.back_mut().filter(|last| last.to == current) else {
            return self.forget();
        };
        let merged = Arc::make_mut(&mut last.difference);
        let added: usize = difference
            .deleted
            .iter()
            .chain(&difference.added)
            .map(Record::bytes)
            .sum();
        merged.deleted.extend(difference.deleted);
        merged.added.extend(difference.added);
        last.bytes += added;
        self.bytes += added;
        while self.bytes > self.limit {
            let Some(oldest) = self.steps.pop_front() else {
                break;
            };
            self.bytes -= oldest.bytes;
        }
    }

    /// Nothing before now is known: the apex changed, or a change was too
    /// large to keep.
    pub fn forget(&mut self) {
        self.steps.clear();
        self.bytes = 0;
    }

    /// The steps from `client` to `current`, or `None` when the history
    /// does not reach back to `client` or forward to `current`. Steps past
    /// `current` (changes made since the transfer read its serial) are
    /// left for the next transfer.
    pub fn since(&self, client: u32, current: u32) -> Option<Vec<Step>> {
        if serial_lt(current, client) {
            return None;
        }
        let first = self.steps.iter().position(|step| step.from == client)?;
        let mut steps = Vec::new();
        for step in self.steps.range(first..) {
            steps.push(step.clone());
            if step.to == current {
                return Some(steps);
            }
        }
        None
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub fn steps(&self) -> usize {
        self.steps.len()
    }
}

/// One instance's records in a large service, in constant time: `None`
/// when they cannot be told apart from the rest (a CNAME goes to
/// secondaries as the heaviest of all the instances').
pub fn instance_records(name: &[u8], service: &CompiledService, id: &[u8]) -> Option<Vec<Record>> {
    if service.pool(RecordKind::Cname).is_some() {
        return None;
    }
    let mut records = Vec::new();
    let Some(wire) = service.instance(id).filter(|wire| wire.id() == id) else {
        return Some(records);
    };
    for kind in [RecordKind::A, RecordKind::Aaaa, RecordKind::Srv] {
        if service.pool(kind).is_some()
            && service.in_pool(id, kind)
            && let Some(record) = wire.record(kind)
        {
            records.push(Record {
                owner: name.into(),
                record: record.into(),
            });
        }
    }
    if service.names_instances() {
        let owner = owner_name(Owner::Instance {
            service: name,
            id: wire.id(),
        });
        for kind in [RecordKind::A, RecordKind::Aaaa] {
            if let Some(record) = wire.record(kind) {
                records.push(Record {
                    owner: owner.clone(),
                    record: record.into(),
                });
            }
        }
    }
    Some(records)
}
