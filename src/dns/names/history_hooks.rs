//! The name table's side of the IXFR history: each zone's serial raised
//! together with what the change did, and the steps a transfer reads.

use std::sync::{Arc, MutexGuard};

use super::{Names, Node, ZoneCell};
use crate::dns::transfer::history::{self, Difference, History};

impl ZoneCell {
    /// The history, taken whatever a panicking holder left: at worst a
    /// transfer falls back to the whole zone.
    pub fn history(&self) -> MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Names {
    /// How many bytes of changes a zone keeps for IXFR; `None` while this
    /// generation is gathered aside, when no history is kept: it starts
    /// when the generation is published, and none of its secondaries can
    /// hold a serial from the middle of the gathering.
    pub(super) fn history_bytes(&self) -> Option<usize> {
        self.writer_state().history_budget()
    }

    /// Raises the zone's serial to `serial` and records what the change
    /// did (`None`: not known, and the history is forgotten), under the
    /// history's lock so that concurrent writers' steps do not interleave.
    pub(super) fn raise_serial(
        &self,
        zone: &ZoneCell,
        serial: u64,
        difference: Option<Difference>,
    ) {
        self.raise_serial_holding(zone, &mut zone.history(), serial, difference);
    }

    /// [`raise_serial`](Self::raise_serial) with the zone's history held
    /// by the caller.
    pub(super) fn raise_serial_holding(
        &self,
        zone: &ZoneCell,
        history: &mut History,
        serial: u64,
        difference: Option<Difference>,
    ) {
        let current = zone.apex.load_full();
        let newer = current.with_serial(serial);
        match (&newer, difference) {
            (_, None) => history.forget(),
            (Some(newer), Some(difference)) => history.rose(
                (current.serial as u32, &current.soa_answer),
                (newer.serial as u32, &newer.soa_answer),
                difference,
            ),
            (None, Some(difference)) => history.changed_at(current.serial as u32, difference),
        }
        if let Some(newer) = newer {
            zone.apex.store(Arc::new(newer));
            self.serial_raised.notify_one();
        }
    }

    /// The zone's changes from serial `client` to `current`, when its
    /// history still holds them all.
    pub(super) fn history_since(
        &self,
        origin: &[u8],
        client: u32,
        current: u32,
    ) -> Option<Vec<history::Step>> {
        let Node::Apex(zone) = self.nodes.get(origin)?.value().clone() else {
            return None;
        };
        zone.history().since(client, current)
    }
}
