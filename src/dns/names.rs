//! The name table DNS answers from: every served name mapped to what it is
//! (a zone apex, a service, or an empty non-terminal), kept current by the
//! registry's observer calls. Queries read it; only writers lock.
//!
//! It is named for what it holds, names, and not "zones": in cairn that
//! word means the declarative `zones/` files `config` applies at start.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use dashmap::DashMap;

use super::compile::{Apex, Changed, CompiledService, ServiceName};
use super::encode::EncodeError;
use crate::registry::{Namespace, RegistryObserver, Service, ServiceView, Touched};

/// One zone; its apex is swapped whole when the SOA serial or settings change.
#[derive(Debug)]
pub struct ZoneCell {
    pub apex: ArcSwap<Apex>,
}

/// What a name in the table is.
#[derive(Debug, Clone)]
pub enum Node {
    Apex(Arc<ZoneCell>),
    Service(Arc<ZoneCell>, Arc<CompiledService>),
    /// A name with nothing of its own but names below it, like `_tcp.zone`
    /// under `_web._tcp.zone`: NODATA, never NXDOMAIN (RFC 8020).
    EmptyNonTerminal(Arc<ZoneCell>),
    /// One of the zone's name servers, in the zone: its A/AAAA records are
    /// in the zone's apex.
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
}

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
#[derive(Clone, Default)]
pub struct NameTable {
    pub(super) nodes: Arc<DashMap<WireName, Node, Hasher>>,
    writer_state: Arc<Mutex<WriterState>>,
    /// This server's addresses: those of a zone's default name server.
    server_addresses: Arc<[IpAddr]>,
}

impl NameTable {
    /// A table whose zones' default name server has no addresses: for
    /// tests that do not ask for it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table whose zones' default name server (`ns1.<zone>`, or the SOA's
    /// primary name server) is answered with `server_addresses`.
    pub fn with_server_addresses(server_addresses: Vec<IpAddr>) -> Self {
        Self {
            server_addresses: server_addresses.into(),
            ..Self::default()
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

    /// The service compiled at `name`, if one is.
    pub(super) fn service_at(&self, name: &[u8]) -> Option<Arc<CompiledService>> {
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

    /// Puts the zone's in-zone name servers in the table. The registry
    /// keeps services off their names; should a service hold one anyway
    /// (from a store written before name servers were reserved), the
    /// service keeps it.
    fn insert_name_servers(&self, zone: &Arc<ZoneCell>) {
        for host in zone.apex.load().name_server_hosts() {
            self.nodes
                .entry(host.into())
                .or_insert_with(|| Node::NameServer(Arc::clone(zone)));
        }
    }

    /// Takes `apex`'s name servers out of the table, but for those `kept`
    /// still names.
    fn remove_name_servers(&self, apex: &Apex, kept: Option<&Apex>) {
        for host in apex.name_server_hosts() {
            if kept.is_some_and(|kept| kept.name_server_at(host).is_some()) {
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
    fn change_in_place(
        &self,
        view: &ServiceView<'_>,
        name: &ServiceName,
        id: &str,
    ) -> Result<Option<Arc<ZoneCell>>, EncodeError> {
        let Some(template) = &view.service.dns else {
            return Ok(None);
        };
        let changed: Changed = {
            let Some(node) = self.nodes.get(&*name.wire) else {
                return Ok(None);
            };
            let Node::Service(_, previous) = node.value() else {
                return Ok(None);
            };
            if !previous.changes_in_place(template) {
                return Ok(None);
            }
            match view.instances.get(id) {
                Some(instance) => Some((
                    previous.wire_of(instance, name)?,
                    instance.health.serves_traffic(),
                )),
                None => None,
            }
        };
        let Some(mut node) = self.nodes.get_mut(&*name.wire) else {
            return Ok(None);
        };
        let Node::Service(zone, service) = node.value_mut() else {
            return Ok(None);
        };
        let zone = Arc::clone(zone);
        let changed_in_place = Arc::get_mut(service)
            .is_some_and(|service| service.change_instance(id.as_bytes(), changed));
        Ok(changed_in_place.then_some(zone))
    }

    fn raise_serial(zone: &ZoneCell, serial: u64) {
        if let Some(newer) = zone.apex.load().with_serial(serial) {
            zone.apex.store(Arc::new(newer));
        }
    }
}

impl RegistryObserver for NameTable {
    fn namespace_changed(&self, namespace: &Namespace) {
        if !namespace.kind.has_dns() {
            return;
        }
        let apex = match Apex::compile(namespace, Arc::clone(&self.server_addresses)) {
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
            let previous = zone.apex.swap(Arc::new(apex));
            self.remove_name_servers(&previous, Some(&zone.apex.load()));
            self.insert_name_servers(&zone);
            return;
        }
        let origin = apex.origin.clone();
        let zone = Arc::new(ZoneCell {
            apex: ArcSwap::from_pointee(apex),
        });
        state.zones.insert(namespace.id.clone(), Arc::clone(&zone));
        self.nodes.insert(origin, Node::Apex(Arc::clone(&zone)));
        self.insert_name_servers(&zone);
    }

    fn namespace_removed(&self, namespace: &Namespace) {
        let mut state = self.writer_state();
        if let Some(zone) = state.zones.remove(&namespace.id) {
            let apex = zone.apex.load();
            self.nodes.remove(&*apex.origin);
            self.remove_name_servers(&apex, None);
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
        if let Touched::Instance(id) = view.touched {
            match self.change_in_place(&view, &name, id) {
                Ok(Some(zone)) => return Self::raise_serial(&zone, view.namespace_revision),
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
                self.nodes.insert(
                    name.wire,
                    Node::Service(Arc::clone(&zone), Arc::new(compiled)),
                );
            }
            None => remove_service_node(self, &mut state, &name.wire, &zone),
        }
        Self::raise_serial(&zone, view.namespace_revision);
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
        remove_service_node(self, &mut state, &name.wire, &zone);
        Self::raise_serial(&zone, namespace.revision);
    }
}

/// Takes a service's name out of the table, with the empty non-terminals
/// only it needed. A name some other service still lies below stays, empty.
fn remove_service_node(
    table: &NameTable,
    state: &mut WriterState,
    name: &[u8],
    zone: &Arc<ZoneCell>,
) {
    if table.service_at(name).is_none() {
        return;
    }
    if state.below.get(name).copied().unwrap_or(0) > 0 {
        table
            .nodes
            .insert(name.into(), Node::EmptyNonTerminal(Arc::clone(zone)));
    } else {
        table.nodes.remove(name);
    }
    let origin = zone.apex.load().origin.clone();
    for empty in NameTable::between(name, &origin) {
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
