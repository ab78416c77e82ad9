//! How the name table is published: queries read one generation
//! ([`Names`]) through an `ArcSwap`, loaded once per query; changes go to
//! the generation being written, which is the published one except while
//! the registry is told again whole (a re-read of a shared store), when a
//! successor gathers it aside and is then published in one store.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{Apex, Fqdn, NameTable, Names, ServerNames, WriterState, ZoneSnapshot};
use crate::dns::transfer::history;
use crate::metrics::ZoneCounters;
use crate::registry::{Namespace, RegistryObserver, Service, ServiceView};

/// A zone's counter slot and serial, carried from one generation to the
/// next: its counts go on, and its serial never goes back.
#[derive(Clone, Copy)]
pub(super) struct Carried {
    pub(super) counted: Option<u32>,
    pub(super) serial: u64,
}

impl Default for NameTable {
    fn default() -> Self {
        Self::of(Names::new(Arc::default(), Arc::default()))
    }
}

impl NameTable {
    /// A table whose zones' default name server has no addresses: for
    /// tests that do not ask for it.
    pub fn new() -> Self {
        Self::default()
    }

    fn of(names: Names) -> Self {
        let serial_raised = Arc::clone(&names.serial_raised);
        let names = Arc::new(names);
        Self {
            published: Arc::new(ArcSwap::new(Arc::clone(&names))),
            writing: Arc::new(ArcSwap::new(names)),
            serial_raised,
        }
    }

    /// The generation queries answer from now: loaded once per query, so
    /// every lookup of one answer sees the same names.
    pub fn names(&self) -> arc_swap::Guard<Arc<Names>> {
        self.published.load()
    }

    /// A table whose zones' default name server (`ns1.<zone>`, or the SOA's
    /// primary name server) is answered with `server_addresses`.
    pub fn with_server_addresses(server_addresses: Vec<IpAddr>) -> Self {
        Self::with_server(server_addresses, &[])
    }

    /// A table whose zones' default name server is answered with
    /// `server_addresses`, and which answers each of `own_hosts` (dotted
    /// names, such as the API's host) with its addresses in whichever zone
    /// it falls in. A name that is not a DNS name is left out, logged.
    pub fn with_server(server_addresses: Vec<IpAddr>, own_hosts: &[(String, Vec<IpAddr>)]) -> Self {
        let own_hosts = own_hosts
            .iter()
            .filter_map(|(name, addresses)| match Fqdn::parse(name) {
                Ok(name) => Some((name, addresses.clone())),
                Err(error) => {
                    tracing::error!(host = %name, %error, "not answered in DNS");
                    None
                }
            })
            .collect();
        let server = Arc::new(ServerNames {
            addresses: server_addresses,
            own_hosts,
        });
        Self::of(Names::new(server, Arc::default()))
    }

    /// Counts queries per zone in `counters` from now on: each zone added
    /// after this call gets a slot, released when the zone goes. Called
    /// before any zone is restored.
    pub fn count_zones(&self, counters: ZoneCounters) {
        self.writing.load().writer_state().counters = Some(counters);
    }

    /// Keeps at most `bytes` of changes per zone for IXFR, for zones added
    /// after this call. Called before any zone is restored.
    pub fn keep_history(&self, bytes: usize) {
        self.writing.load().writer_state().history_bytes = Some(bytes);
    }

    /// The service compiled at `name` in the published generation.
    #[cfg(test)]
    pub(in crate::dns) fn service_at(&self, name: &[u8]) -> Option<Arc<super::CompiledService>> {
        self.names().service_at(name)
    }

    /// See [`Names::zone_snapshot`].
    pub fn zone_snapshot(&self, origin: &[u8]) -> Option<ZoneSnapshot> {
        self.names().zone_snapshot(origin)
    }

    /// Every published zone's current apex.
    pub fn apexes(&self) -> Vec<Arc<Apex>> {
        self.names().apexes()
    }

    /// See [`Names::history_since`].
    pub fn history_since(
        &self,
        origin: &[u8],
        client: u32,
        current: u32,
    ) -> Option<Vec<history::Step>> {
        self.names().history_since(origin, client, current)
    }

    /// Resolves once a zone's serial has risen since the last call (or
    /// since the table was made, for the first).
    pub async fn serial_raised(&self) {
        self.serial_raised.notified().await;
    }
}

impl Names {
    /// An empty generation to gather a replacement of this one in, taking
    /// its settings and what its zones carry over.
    fn successor(&self) -> Self {
        let state = self.writer_state();
        let carried = state
            .zones
            .iter()
            .map(|(id, zone)| {
                let carried = Carried {
                    counted: zone.counted,
                    serial: zone.apex.load().serial,
                };
                (id.clone(), carried)
            })
            .collect();
        let next = Self::new(Arc::clone(&self.server), Arc::clone(&self.serial_raised));
        *next.writer_state() = WriterState {
            counters: state.counters.clone(),
            history_bytes: state.history_bytes,
            carried,
            gathering: true,
            ..WriterState::default()
        };
        next
    }

    /// Gives back the counter slots of zones the replacement did not keep.
    fn release_uncarried(&self) {
        let mut state = self.writer_state();
        let carried = std::mem::take(&mut state.carried);
        if let Some(counters) = &state.counters {
            for slot in carried.values().filter_map(|carried| carried.counted) {
                counters.release(slot);
            }
        }
    }
}

impl RegistryObserver for NameTable {
    fn namespace_changed(&self, namespace: &Namespace) {
        self.writing.load().namespace_changed(namespace);
    }

    fn namespace_removed(&self, namespace: &Namespace) {
        self.writing.load().namespace_removed(namespace);
    }

    fn service_changed(&self, view: ServiceView<'_>) {
        self.writing.load().service_changed(view);
    }

    fn service_removed(&self, namespace: &Namespace, service: &Service) {
        self.writing.load().service_removed(namespace, service);
    }

    fn replacement_begun(&self) {
        let next = self.writing.load().successor();
        self.writing.store(Arc::new(next));
    }

    fn replacement_ended(&self) {
        let next = self.writing.load_full();
        next.release_uncarried();
        next.writer_state().gathering = false;
        self.published.store(next);
        self.serial_raised.notify_one();
    }
}
