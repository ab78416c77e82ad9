//! The name table DNS answers from: every served name mapped to what it is
//! (a zone apex, a service, or an empty non-terminal), kept current by the
//! registry's observer calls. Queries read it; only writers lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use dashmap::DashMap;

use super::compile::{Apex, CompiledService};
use crate::registry::{Namespace, RegistryObserver, Service, ServiceView};

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
}

impl Node {
    pub fn zone(&self) -> &Arc<ZoneCell> {
        match self {
            Self::Apex(zone) | Self::Service(zone, _) | Self::EmptyNonTerminal(zone) => zone,
        }
    }
}

#[derive(Default)]
struct Writer {
    /// Namespace id → its zone.
    zones: HashMap<String, Arc<ZoneCell>>,
    /// Service id → the name its node sits at.
    services: HashMap<String, WireName>,
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
pub struct Zones {
    pub(super) nodes: Arc<DashMap<WireName, Node, Hasher>>,
    /// Each service's last compile, by service id: the next compile reuses
    /// what it encoded for instances that did not change.
    compiled: Arc<DashMap<String, Arc<CompiledService>>>,
    writer: Arc<Mutex<Writer>>,
}

impl Zones {
    pub fn new() -> Self {
        Self::default()
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // Every change under this lock is a single map operation, so a
        // panicking holder cannot leave the table half-written.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The node at exactly this name, borrowed under its shard's read lock
    /// for as long as the returned guard lives: answer a query with it and
    /// let go, without cloning anything.
    pub fn node(&self, name: &[u8]) -> Option<dashmap::mapref::one::Ref<'_, WireName, Node>> {
        self.nodes.get(name)
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

    fn raise_serial(zone: &ZoneCell, serial: u64) {
        if let Some(newer) = zone.apex.load().with_serial(serial) {
            zone.apex.store(Arc::new(newer));
        }
    }
}

impl RegistryObserver for Zones {
    fn namespace_changed(&self, namespace: &Namespace) {
        if !namespace.kind.has_dns() {
            return;
        }
        let apex = match Apex::compile(namespace) {
            Ok(apex) => apex,
            Err(error) => {
                tracing::error!(namespace = %namespace.name, %error, "namespace not served");
                return;
            }
        };
        let mut writer = self.writer();
        if let Some(zone) = writer.zones.get(&namespace.id) {
            let serial = zone.apex.load().serial.max(apex.serial);
            let apex = apex.with_serial(serial).unwrap_or(apex);
            zone.apex.store(Arc::new(apex));
            return;
        }
        let origin = apex.origin.clone();
        let zone = Arc::new(ZoneCell {
            apex: ArcSwap::from_pointee(apex),
        });
        writer.zones.insert(namespace.id.clone(), Arc::clone(&zone));
        self.nodes.insert(origin, Node::Apex(zone));
    }

    fn namespace_removed(&self, namespace: &Namespace) {
        let mut writer = self.writer();
        if let Some(zone) = writer.zones.remove(&namespace.id) {
            self.nodes.remove(&*zone.apex.load().origin);
        }
    }

    fn service_changed(&self, view: ServiceView<'_>) {
        if !view.namespace_kind.has_dns() {
            return;
        }
        let previous = self
            .compiled
            .get(&view.service.id)
            .map(|entry| Arc::clone(entry.value()));
        let compiled = match CompiledService::compile(&view, previous.as_deref()) {
            Ok(compiled) => compiled,
            Err(error) => {
                tracing::error!(namespace = view.namespace_name, service = %view.service.name, %error, "service records not rebuilt");
                return;
            }
        };
        let mut writer = self.writer();
        let Some(zone) = writer.zones.get(view.namespace_id).cloned() else {
            return;
        };
        match compiled {
            Some(compiled) => {
                let name = compiled.name.clone();
                if !writer.services.contains_key(&view.service.id) {
                    let origin = zone.apex.load().origin.clone();
                    for empty in Self::between(&name, &origin) {
                        *writer.below.entry(empty.clone()).or_default() += 1;
                        self.nodes
                            .entry(empty)
                            .or_insert_with(|| Node::EmptyNonTerminal(Arc::clone(&zone)));
                    }
                    writer
                        .services
                        .insert(view.service.id.clone(), name.clone());
                }
                let compiled = Arc::new(compiled);
                self.compiled
                    .insert(view.service.id.clone(), Arc::clone(&compiled));
                self.nodes
                    .insert(name, Node::Service(Arc::clone(&zone), compiled));
            }
            None => {
                self.compiled.remove(&view.service.id);
                remove_service_node(self, &mut writer, &view.service.id, &zone);
            }
        }
        Self::raise_serial(&zone, view.namespace_revision);
    }

    fn service_removed(&self, namespace: &Namespace, service: &Service) {
        let mut writer = self.writer();
        let Some(zone) = writer.zones.get(&namespace.id).cloned() else {
            return;
        };
        self.compiled.remove(&service.id);
        remove_service_node(self, &mut writer, &service.id, &zone);
        Self::raise_serial(&zone, namespace.revision);
    }
}

/// Takes a service's name out of the table, with the empty non-terminals
/// only it needed. A name some other service still lies below stays, empty.
fn remove_service_node(zones: &Zones, writer: &mut Writer, service_id: &str, zone: &Arc<ZoneCell>) {
    let Some(name) = writer.services.remove(service_id) else {
        return;
    };
    if writer.below.get(&name).copied().unwrap_or(0) > 0 {
        zones
            .nodes
            .insert(name.clone(), Node::EmptyNonTerminal(Arc::clone(zone)));
    } else {
        zones.nodes.remove(&name);
    }
    let origin = zone.apex.load().origin.clone();
    for empty in Zones::between(&name, &origin) {
        let remaining = match writer.below.get_mut(&empty) {
            Some(count) => {
                *count = count.saturating_sub(1);
                *count
            }
            None => 0,
        };
        if remaining == 0 {
            writer.below.remove(&empty);
            zones
                .nodes
                .remove_if(&empty, |_, node| matches!(node, Node::EmptyNonTerminal(_)));
        }
    }
}
