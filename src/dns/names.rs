//! The name table DNS answers from: every served name mapped to what it is
//! (a zone apex, a service, or an empty non-terminal), kept current by the
//! registry's observer calls. Queries read it; only writers lock.
//!
//! The table is published as one generation ([`Names`]) that queries load
//! once each (an `ArcSwap`: no lock, no shared write). Changes are made to
//! the published generation in place, except while the registry is told
//! again whole (a cluster node re-reading its shared store): that goes
//! into a generation of its own, out of sight, which is then published in
//! one store, so no query sees some services as they were and others as
//! they are.
//!
//! It is named for what it holds, names, and not "zones": in cairn that
//! word means the declarative `zones/` files `config` applies at start.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use dashmap::DashMap;

use super::compile::{Apex, Changed, CompiledService, ServerNames, ServiceName};
use super::encode::{EncodeError, Fqdn};
use super::transfer::history::{self, Difference, History};

mod generations;
mod history_hooks;
use crate::metrics::ZoneCounters;
use crate::registry::{Namespace, Service, ServiceView, Touched};
use generations::Carried;

/// One zone; its apex is swapped whole when the SOA serial or settings change.
#[derive(Debug)]
pub struct ZoneCell {
    pub apex: ArcSwap<Apex>,
    /// Its slot among the per-namespace query counters, for as long as it
    /// is served; `None` without metrics.
    pub counted: Option<u32>,
    /// Its recent changes, for IXFR: written by writers as they raise the
    /// serial, read by transfers; never by the answer path.
    pub history: Mutex<History>,
}

/// What a name in the table is.
#[derive(Debug, Clone)]
pub enum Node {
    Apex(Arc<ZoneCell>),
    Service(Arc<ZoneCell>, Arc<CompiledService>),
    /// A name with nothing of its own but names below it, like `_tcp.zone`
    /// under `_web._tcp.zone`: NODATA, never NXDOMAIN (RFC 8020).
    EmptyNonTerminal(Arc<ZoneCell>),
    /// One of the zone's name servers, in the zone, or one of the server's
    /// own names (the API's host): its A/AAAA records are in the zone's
    /// apex.
    NameServer(Arc<ZoneCell>),
}

impl Node {
    pub fn zone(&self) -> &Arc<ZoneCell> {
        match self {
            Self::Apex(zone)
            | Self::Service(zone, _)
            | Self::EmptyNonTerminal(zone)
            | Self::NameServer(zone) => zone,
        }
    }
}

/// What only writers need. A service is found by its name in the table,
/// which its last compile sits under, so nothing here is per service.
#[derive(Default)]
struct WriterState {
    /// Namespace id → its zone.
    zones: HashMap<String, Arc<ZoneCell>>,
    /// Empty non-terminal → how many service names lie below it.
    below: HashMap<WireName, usize>,
    /// Where zones get their counter slots, when metrics are on.
    counters: Option<ZoneCounters>,
    /// Zone origin → the names of its services, in order: what a zone
    /// transfer walks.
    services: HashMap<WireName, BTreeSet<WireName>>,
    /// Each zone's IXFR history bound, when not the default.
    history_bytes: Option<usize>,
    /// While a replacement is gathered: what each zone of the published
    /// generation had (its counter slot, its serial), for the same
    /// namespace to take on; what is left is released at publication.
    carried: HashMap<String, Carried>,
    /// This generation is gathered aside (a replacement, or the restore at
    /// start-up) and keeps no change history until it is published.
    gathering: bool,
}

impl WriterState {
    /// How many bytes of changes a zone keeps for IXFR, or `None` while
    /// this generation is gathered.
    fn history_budget(&self) -> Option<usize> {
        (!self.gathering).then(|| self.history_bytes.unwrap_or(DEFAULT_HISTORY_BYTES))
    }
}

/// A change made in place: what it did to the zone's records, when that
/// can be told.
type ChangedInPlace = Option<Difference>;

const DEFAULT_HISTORY_BYTES: usize = crate::config::DEFAULT_IXFR_HISTORY_BYTES;

/// A name in lower-case wire form: the table's key.
pub type WireName = Box<[u8]>;

/// The table's hasher: fast on short keys; names come from clients, so it is
/// seeded per process.
type Hasher = foldhash::fast::RandomState;

/// The name one label up, in wire form; `None` at the root.
pub fn parent(name: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*name.first()?);
    if len == 0 {
        return None;
    }
    name.get(1 + len..)
}

/// The table of served names: a registry observer on the writing side, the
/// source of every answer on the reading side. Cheap to clone.
#[derive(Clone)]
pub struct NameTable {
    /// What queries, transfers and NOTIFY read.
    published: Arc<ArcSwap<Names>>,
    /// What the registry's changes go to: the published generation, or the
    /// next one while a replacement is gathered.
    writing: Arc<ArcSwap<Names>>,
    /// Woken whenever a zone's serial rises: what sends NOTIFY waits on.
    serial_raised: Arc<tokio::sync::Notify>,
}

/// One generation of the table: every served name, and the writers' state
/// that goes with them.
pub struct Names {
    nodes: DashMap<WireName, Node, Hasher>,
    writer_state: Mutex<WriterState>,
    /// What every zone takes from this server: the default name server's
    /// addresses and the server's own names.
    server: Arc<ServerNames>,
    serial_raised: Arc<tokio::sync::Notify>,
}

/// A zone as it was at one moment, for a transfer: its apex and its
/// services' compiles, all of the same serial. Shares what it holds with
/// the table; copying out costs a pointer per service.
pub struct ZoneSnapshot {
    pub apex: Arc<Apex>,
    /// Each service's name (lower case, wire form) and its compile.
    pub services: Vec<(WireName, Arc<CompiledService>)>,
}

impl Names {
    fn new(server: Arc<ServerNames>, serial_raised: Arc<tokio::sync::Notify>) -> Self {
        Self {
            nodes: DashMap::default(),
            writer_state: Mutex::default(),
            server,
            serial_raised,
        }
    }

    fn writer_state(&self) -> MutexGuard<'_, WriterState> {
        // Every change under this lock is a single map operation, so a
        // panicking holder cannot leave the table half-written.
        self.writer_state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The node at exactly this name, borrowed under its shard's read lock
    /// for as long as the returned guard lives: answer a query with it and
    /// let go, without cloning anything.
    pub fn node(&self, name: &[u8]) -> Option<dashmap::mapref::one::Ref<'_, WireName, Node>> {
        self.nodes.get(name)
    }

    /// The zone a service's name is in, when the name is a service's.
    fn zone_of_service(&self, name: &[u8]) -> Option<Arc<ZoneCell>> {
        match self.nodes.get(name)?.value() {
            Node::Service(zone, _) => Some(Arc::clone(zone)),
            _ => None,
        }
    }

    /// The service compiled at `name`, if one is.
    fn service_at(&self, name: &[u8]) -> Option<Arc<CompiledService>> {
        match self.nodes.get(name)?.value() {
            Node::Service(_, service) => Some(Arc::clone(service)),
            _ => None,
        }
    }

    /// Names strictly between `name` and `origin`: the empty non-terminals a
    /// service name needs.
    fn between(name: &[u8], origin: &[u8]) -> Vec<WireName> {
        let mut names = Vec::new();
        let mut current = parent(name);
        while let Some(name) = current {
            if name == origin || name.len() <= origin.len() {
                break;
            }
            names.push(name.into());
            current = parent(name);
        }
        names
    }

    /// Puts the zone's in-zone name servers and the server's own names in
    /// the table. The registry keeps services off name servers' names;
    /// should a service hold one anyway (from a store written before name
    /// servers were reserved, or at the API's host), the service keeps it.
    fn insert_hosts(&self, zone: &Arc<ZoneCell>) {
        for host in zone.apex.load().host_names() {
            self.nodes
                .entry(host.into())
                .or_insert_with(|| Node::NameServer(Arc::clone(zone)));
        }
    }

    /// Takes `apex`'s host names out of the table, but for those `kept`
    /// still answers.
    fn remove_hosts(&self, apex: &Apex, kept: Option<&Apex>) {
        for host in apex.host_names() {
            if kept.is_some_and(|kept| kept.host_records(host).is_some()) {
                continue;
            }
            self.nodes
                .remove_if(host, |_, node| matches!(node, Node::NameServer(_)));
        }
    }

    /// Applies a change to one instance of a service to its compile in
    /// place, under the name's shard lock for as long as a few stores take
    /// (its records are encoded before). `None` when the compile must be
    /// made again whole: the service is small, not compiled yet, its
    /// template changed, or its compile is shared (by a zone transfer
    /// reading it, say), which a change must not alter under the reader.
    /// The caller holds the zone's history until the serial has risen.
    fn change_in_place(
        &self,
        view: &ServiceView<'_>,
        name: &ServiceName,
        id: &str,
    ) -> Result<Option<ChangedInPlace>, EncodeError> {
        let Some(template) = &view.service.dns else {
            return Ok(None);
        };
        let (changed, before): (Changed, _) = {
            let Some(node) = self.nodes.get(&*name.wire) else {
                return Ok(None);
            };
            let Node::Service(_, previous) = node.value() else {
                return Ok(None);
            };
            if !previous.changes_in_place(template) {
                return Ok(None);
            }
            let changed = match view.instances.get(id) {
                Some(instance) => Some((
                    previous.wire_of(instance, name)?,
                    instance.health.serves_traffic(),
                )),
                None => None,
            };
            (
                changed,
                history::instance_records(&name.wire, previous, id.as_bytes()),
            )
        };
        let Some(mut node) = self.nodes.get_mut(&*name.wire) else {
            return Ok(None);
        };
        let Node::Service(_, service) = node.value_mut() else {
            return Ok(None);
        };
        let Some(service) = Arc::get_mut(service) else {
            return Ok(None);
        };
        if !service.change_instance(id.as_bytes(), changed) {
            return Ok(None);
        }
        let after = history::instance_records(&name.wire, service, id.as_bytes());
        let difference = before.zip(after).map(|(mut deleted, mut added)| {
            // A change that left a record as it was (metadata, say) is no
            // difference.
            deleted.retain(
                |record| match added.iter().position(|kept| kept == record) {
                    Some(at) => {
                        added.swap_remove(at);
                        false
                    }
                    None => true,
                },
            );
            Difference { deleted, added }
        });
        Ok(Some(difference))
    }

    /// The zone whose apex is `origin` (lower case, wire form), taken
    /// whole under the writers' lock and the zone's history lock, so every
    /// service in it is at the apex's serial.
    fn zone_snapshot(&self, origin: &[u8]) -> Option<ZoneSnapshot> {
        let state = self.writer_state();
        let Node::Apex(zone) = self.nodes.get(origin)?.value().clone() else {
            return None;
        };
        // Changes made in place raise the serial under the history's lock
        // rather than the writer's: held, the services read here are
        // those of the serial read with them.
        let _history = zone.history();
        let services = state
            .services
            .get(origin)
            .into_iter()
            .flatten()
            .filter_map(|name| Some((name.clone(), self.service_at(name)?)))
            .collect();
        Some(ZoneSnapshot {
            apex: zone.apex.load_full(),
            services,
        })
    }

    fn apexes(&self) -> Vec<Arc<Apex>> {
        self.writer_state()
            .zones
            .values()
            .map(|zone| zone.apex.load_full())
            .collect()
    }
}

impl Names {
    fn namespace_changed(&self, namespace: &Namespace) {
        if !namespace.kind.has_dns() {
            return;
        }
        let apex = match Apex::compile(namespace, Arc::clone(&self.server)) {
            Ok(apex) => apex,
            Err(error) => {
                tracing::error!(namespace = %namespace.name, %error, "namespace not served");
                return;
            }
        };
        let mut state = self.writer_state();
        if let Some(zone) = state.zones.get(&namespace.id).cloned() {
            let serial = zone.apex.load().serial.max(apex.serial);
            let apex = apex.with_serial(serial).unwrap_or(apex);
            // The apex's own records are not diffed: secondaries take the
            // whole zone after a change to them.
            let mut history = zone.history();
            history.forget();
            let previous = zone.apex.swap(Arc::new(apex));
            drop(history);
            self.remove_hosts(&previous, Some(&zone.apex.load()));
            self.insert_hosts(&zone);
            self.serial_raised.notify_one();
            return;
        }
        let origin = apex.origin.clone();
        let carried = state.carried.remove(&namespace.id);
        let apex = match carried {
            Some(carried) => apex.with_serial(carried.serial).unwrap_or(apex),
            None => apex,
        };
        let counted = carried.and_then(|carried| carried.counted).or_else(|| {
            state
                .counters
                .as_ref()
                .and_then(|counters| counters.assign(&namespace.id, &namespace.name))
        });
        let history_bytes = state.history_bytes.unwrap_or(DEFAULT_HISTORY_BYTES);
        let zone = Arc::new(ZoneCell {
            apex: ArcSwap::from_pointee(apex),
            counted,
            history: Mutex::new(History::new(history_bytes)),
        });
        state.zones.insert(namespace.id.clone(), Arc::clone(&zone));
        self.nodes.insert(origin, Node::Apex(Arc::clone(&zone)));
        self.insert_hosts(&zone);
        self.serial_raised.notify_one();
    }

    fn namespace_removed(&self, namespace: &Namespace) {
        let mut state = self.writer_state();
        if let Some(zone) = state.zones.remove(&namespace.id) {
            if let (Some(counters), Some(slot)) = (&state.counters, zone.counted) {
                counters.release(slot);
            }
            let apex = zone.apex.load();
            state.services.remove(&*apex.origin);
            self.nodes.remove(&*apex.origin);
            self.remove_hosts(&apex, None);
        }
    }

    fn service_changed(&self, view: ServiceView<'_>) {
        if !view.namespace_kind.has_dns() {
            return;
        }
        let not_rebuilt = |error: EncodeError| {
            tracing::error!(namespace = view.namespace_name, service = %view.service.name, %error, "service records not rebuilt");
        };
        let name = match ServiceName::new(&view.service.name, view.namespace_name) {
            Ok(name) => name,
            Err(error) => return not_rebuilt(error),
        };
        if let Touched::Instance(id) = view.touched
            && let Some(zone) = self.zone_of_service(&name.wire)
        {
            // Held from the change to the serial's rise, so that a zone
            // transfer never reads the one without the other.
            let mut history = zone.history();
            match self.change_in_place(&view, &name, id) {
                Ok(Some(difference)) => {
                    return self.raise_serial_holding(
                        &zone,
                        &mut history,
                        view.namespace_revision,
                        difference,
                    );
                }
                Ok(None) => {}
                Err(error) => return not_rebuilt(error),
            }
        }
        // The registry calls about one service one at a time, so the
        // compile found here is still the latest when this one replaces it.
        let previous = self.service_at(&name.wire);
        let compiled = match CompiledService::compile(&view, &name, previous.as_deref()) {
            Ok(compiled) => compiled,
            Err(error) => return not_rebuilt(error),
        };
        let difference = self.history_bytes().and_then(|budget| {
            Difference::between(&name.wire, previous.as_deref(), compiled.as_ref(), budget)
        });
        // Not kept past this call: a compile shared is one no longer
        // changed in place.
        drop(previous);
        let mut state = self.writer_state();
        let Some(zone) = state.zones.get(view.namespace_id).cloned() else {
            return;
        };
        match compiled {
            Some(compiled) => {
                if self.service_at(&name.wire).is_none() {
                    let origin = zone.apex.load().origin.clone();
                    for empty in Self::between(&name.wire, &origin) {
                        *state.below.entry(empty.clone()).or_default() += 1;
                        self.nodes
                            .entry(empty)
                            .or_insert_with(|| Node::EmptyNonTerminal(Arc::clone(&zone)));
                    }
                }
                let origin = zone.apex.load().origin.clone();
                state
                    .services
                    .entry(origin)
                    .or_default()
                    .insert(name.wire.clone());
                self.nodes.insert(
                    name.wire,
                    Node::Service(Arc::clone(&zone), Arc::new(compiled)),
                );
            }
            None => remove_service_node(self, &mut state, &name.wire, &zone),
        }
        self.raise_serial(&zone, view.namespace_revision, difference);
    }

    fn service_removed(&self, namespace: &Namespace, service: &Service) {
        // A name that cannot be encoded was never in the table.
        let Ok(name) = ServiceName::new(&service.name, &namespace.name) else {
            return;
        };
        let mut state = self.writer_state();
        let Some(zone) = state.zones.get(&namespace.id).cloned() else {
            return;
        };
        let difference = state.history_budget().and_then(|budget| {
            Difference::between(
                &name.wire,
                self.service_at(&name.wire).as_deref(),
                None,
                budget,
            )
        });
        remove_service_node(self, &mut state, &name.wire, &zone);
        self.raise_serial(&zone, namespace.revision, difference);
    }
}

/// Takes a service's name out of the table, with the empty non-terminals
/// only it needed. A name some other service still lies below stays, empty.
fn remove_service_node(table: &Names, state: &mut WriterState, name: &[u8], zone: &Arc<ZoneCell>) {
    if table.service_at(name).is_none() {
        return;
    }
    if let Some(services) = state.services.get_mut(&*zone.apex.load().origin) {
        services.remove(name);
    }
    if state.below.get(name).copied().unwrap_or(0) > 0 {
        table
            .nodes
            .insert(name.into(), Node::EmptyNonTerminal(Arc::clone(zone)));
    } else {
        table.nodes.remove(name);
    }
    let origin = zone.apex.load().origin.clone();
    for empty in Names::between(name, &origin) {
        let remaining = match state.below.get_mut(&empty) {
            Some(count) => {
                *count = count.saturating_sub(1);
                *count
            }
            None => 0,
        };
        if remaining == 0 {
            state.below.remove(&empty);
            table
                .nodes
                .remove_if(&empty, |_, node| matches!(node, Node::EmptyNonTerminal(_)));
        }
    }
}
