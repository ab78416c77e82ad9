//! DNS queries per namespace: each zone the name table serves gets a slot,
//! a small integer assigned when the zone is first compiled and kept in its
//! `ZoneCell`, which the answer path already holds when it answers. Every
//! writer's block of [`DnsCounters`](super::dns) has an array of
//! [`MAX_COUNTED_ZONES`] counters indexed by it; the scrape sums them and
//! labels each with the namespace that holds the slot now.
//!
//! Zones come and go, so slots are reused, and two rules keep one zone's
//! counts from showing up under another's name:
//! - a removed zone's slot stops being exported at once, and is reused
//!   only after every slot never used before is taken (first in, first
//!   out after that), so an answer still in flight for the removed zone
//!   (microseconds) has long landed before its slot names anything else;
//! - the counters are never reset (a worker's block has one writer, which
//!   a reset from the scrape side would race): a slot's counts at the
//!   moment it is assigned are its baseline, and the namespace is exported
//!   as the counts since.
//!
//! A zone beyond [`MAX_COUNTED_ZONES`] gets no slot: its queries count in
//! every other family but this one, and the server says so once in the log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::dns::DnsSlots;

/// The zones counted apart; Cloud Map's own quota is 50 namespaces per
/// account. Each slot costs every UDP worker (and TCP) 8 bytes.
pub const MAX_COUNTED_ZONES: usize = 1024;

/// Which slots name which namespaces: written when a zone is added or
/// removed, read at scrape time; never touched by the answer path.
#[derive(Debug, Clone)]
pub struct ZoneCounters {
    slots: Arc<DnsSlots>,
    assigned: Arc<Mutex<Assigned>>,
}

#[derive(Debug, Default)]
struct Assigned {
    /// Slots below this have been used at least once.
    next: usize,
    /// Released slots, oldest first.
    free: VecDeque<usize>,
    zones: HashMap<usize, Zone>,
    /// Whether the log has said that zones beyond the limit go uncounted.
    warned_full: bool,
}

#[derive(Debug)]
struct Zone {
    name: String,
    id: String,
    /// The slot's counts when it was assigned to this zone.
    baseline: u64,
}

impl ZoneCounters {
    /// Slots counted in `slots`' blocks.
    pub fn new(slots: Arc<DnsSlots>) -> Self {
        Self {
            slots,
            assigned: Arc::default(),
        }
    }

    fn assigned(&self) -> std::sync::MutexGuard<'_, Assigned> {
        // Every change under the lock is one step; a panicking holder
        // leaves nothing half-done.
        self.assigned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for the namespace `id` named `name`; `None` when all are
    /// taken.
    pub fn assign(&self, id: &str, name: &str) -> Option<u32> {
        let mut assigned = self.assigned();
        let slot = if assigned.next < MAX_COUNTED_ZONES {
            assigned.next += 1;
            assigned.next - 1
        } else if let Some(slot) = assigned.free.pop_front() {
            slot
        } else {
            if !assigned.warned_full {
                assigned.warned_full = true;
                tracing::warn!(
                    namespace = name,
                    limit = MAX_COUNTED_ZONES,
                    "more namespaces than cairn_dns_namespace_queries_total counts apart; this one and any beyond are counted only in the other DNS metrics"
                );
            }
            return None;
        };
        let baseline = self.slots.zone_total(slot);
        assigned.zones.insert(
            slot,
            Zone {
                name: name.to_string(),
                id: id.to_string(),
                baseline,
            },
        );
        u32::try_from(slot).ok()
    }

    /// The zone holding `slot` is gone: stop exporting it.
    pub fn release(&self, slot: u32) {
        let slot = slot as usize;
        let mut assigned = self.assigned();
        if assigned.zones.remove(&slot).is_some() {
            assigned.free.push_back(slot);
        }
    }

    /// Writes `cairn_dns_namespace_queries_total`, one sample per zone
    /// served now.
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut zones: Vec<(String, String, u64)> = self
            .assigned()
            .zones
            .iter()
            .map(|(&slot, zone)| {
                let count = self.slots.zone_total(slot).wrapping_sub(zone.baseline);
                (zone.name.clone(), zone.id.clone(), count)
            })
            .collect();
        zones.sort();
        let mut family = encoder.encode_descriptor(
            "cairn_dns_namespace_queries",
            "DNS responses given from each namespace (UDP and TCP), whatever their rcode; a private namespace's refusals count for the zone the client was answered from",
            None,
            MetricType::Counter,
        )?;
        for (name, id, count) in &zones {
            let labels = [("namespace", name.as_str()), ("namespace_id", id.as_str())];
            ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_slot_is_reused_last_and_starts_from_zero() {
        let slots = DnsSlots::new(1, 1);
        let zones = ZoneCounters::new(Arc::clone(&slots));
        let first = zones.assign("ns-1", "a.test").expect("a slot");
        let worker = slots.udp_worker(0);
        for _ in 0..3 {
            worker.zone_answered(Some(first));
        }
        zones.release(first);
        // Every fresh slot goes before the released one.
        for n in 1..MAX_COUNTED_ZONES {
            let slot = zones.assign(&format!("ns-{n}x"), "x.test").expect("a slot");
            assert_ne!(slot, first);
        }
        let again = zones.assign("ns-2", "b.test").expect("the released slot");
        assert_eq!(again, first);
        assert!(zones.assign("ns-3", "c.test").is_none(), "all taken");
        worker.zone_answered(Some(again));
        let assigned = zones.assigned();
        let zone = &assigned.zones[&(again as usize)];
        assert_eq!(zone.name, "b.test");
        assert_eq!(slots.zone_total(again as usize) - zone.baseline, 1);
    }
}
