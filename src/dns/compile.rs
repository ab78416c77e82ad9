//! Turns registry state into what DNS answers with, encoded once for the
//! wire. Writers call this on every change; queries only copy bytes out.
//!
//! Every record is kept as the bytes that follow its owner name (encoded by
//! [`encode`](super::encode)), prefixed with a compression pointer to the
//! question's name where the owner *is* the question's name. The answer
//! path then assembles a response with `memcpy` alone.

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashTable;
use ipnet::IpNet;

use super::encode::{self, EncodeError, Fqdn, Soa};
use super::instance::{InstanceWire, KINDS, Ttls, slot};
use super::wire::POINTER_TO_QNAME;
use crate::registry::{
    Namespace, NamespaceType, RecordKind, RoutingPolicy, ServiceView, SoaSettings, hash_id,
};

/// A record whose owner is the question's name: pointer + tail.
fn at_qname(tail: &[u8]) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(2 + tail.len());
    bytes.extend_from_slice(&POINTER_TO_QNAME);
    bytes.extend_from_slice(tail);
    bytes.into_boxed_slice()
}

/// A zone's apex: the SOA and NS answers, the SOA that negative answers
/// carry, and who may ask.
#[derive(Debug)]
pub struct Apex {
    /// The zone's name, lower case, wire form.
    pub origin: Box<[u8]>,
    pub serial: u64,
    pub soa_answer: Box<[u8]>,
    /// The SOA for negative answers, owner placeholder and tail, with the
    /// negative-caching TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
    pub negative_soa: Box<[u8]>,
    /// The NS records, each with its server's addresses when it is in the
    /// zone.
    pub name_servers: Vec<NameServerWire>,
    /// `None` for public zones; the networks allowed to query a private one.
    pub allowed: Option<Vec<IpNet>>,
    /// The server's own names that fall in the zone (the API's host and its
    /// `data-` twin), with their address records.
    pub own_hosts: Vec<OwnHostWire>,
    name: Fqdn,
    settings: SoaSettings,
    server: Arc<ServerNames>,
}

/// What every zone's apex takes from the server itself.
#[derive(Debug, Default)]
pub struct ServerNames {
    /// The default name server's addresses, when a namespace names none.
    pub addresses: Vec<IpAddr>,
    /// Names the server answers A and AAAA for in whichever zone they fall
    /// in, with their addresses: the API's host, which clients must reach
    /// under the name in their endpoint URL.
    pub own_hosts: Vec<(Fqdn, Vec<IpAddr>)>,
}

/// One of the server's own names in a zone, with its A and AAAA records.
#[derive(Debug)]
pub struct OwnHostWire {
    /// Lower case, wire form (a key of the name table).
    pub host: Box<[u8]>,
    /// Its A records, then its AAAA records: owner placeholder and tail.
    pub addresses: Vec<Box<[u8]>>,
    pub a_count: usize,
}

/// The A and AAAA records at a host name the apex answers for.
#[derive(Debug, Clone, Copy)]
pub struct HostRecords<'a> {
    /// The A records, then the AAAA records.
    pub all: &'a [Box<[u8]>],
    a_count: usize,
}

impl<'a> HostRecords<'a> {
    /// Its records of one address type.
    pub fn of(self, qtype_is_a: bool) -> &'a [Box<[u8]>] {
        let (a, aaaa) = self.all.split_at(self.a_count.min(self.all.len()));
        if qtype_is_a { a } else { aaaa }
    }
}

/// One NS record of a zone and, for a name server in the zone, the A and
/// AAAA records cairn answers at its name and sends as glue.
#[derive(Debug)]
pub struct NameServerWire {
    /// Owner placeholder and tail; the server's name, uncompressed, starts
    /// at [`RDATA_AT`](super::instance::RDATA_AT).
    pub record: Box<[u8]>,
    /// For a server in the zone: its name, lower case, wire form (a key of
    /// the name table).
    pub host: Option<Box<[u8]>>,
    /// Its A records, then its AAAA records: owner placeholder and tail.
    pub addresses: Vec<Box<[u8]>>,
    /// How many of `addresses` are A records.
    pub a_count: usize,
}

impl NameServerWire {
    /// Its records of one address type.
    pub fn addresses_of(&self, qtype_is_a: bool) -> &[Box<[u8]>] {
        HostRecords {
            all: &self.addresses,
            a_count: self.a_count,
        }
        .of(qtype_is_a)
    }
}

/// Encoded records, each an owner placeholder and its tail.
type Records = Vec<Box<[u8]>>;

/// A and AAAA records at `owner`, the A records first; and how many are A.
fn address_records(
    owner: &Fqdn,
    ttl: u32,
    mut addresses: Vec<IpAddr>,
) -> Result<(Records, usize), EncodeError> {
    addresses.sort_by_key(IpAddr::is_ipv6);
    let a_count = addresses.iter().filter(|ip| ip.is_ipv4()).count();
    let records = addresses
        .into_iter()
        .map(|ip| {
            let tail = match ip {
                IpAddr::V4(ip) => encode::a_tail(owner, ttl, ip)?,
                IpAddr::V6(ip) => encode::aaaa_tail(owner, ttl, ip)?,
            };
            Ok(at_qname(&tail))
        })
        .collect::<Result<_, EncodeError>>()?;
    Ok((records, a_count))
}

/// Whether the wire name `name` lies strictly below `origin`.
fn is_below(name: &[u8], origin: &[u8]) -> bool {
    let mut at = 0;
    while let Some(&len) = name.get(at) {
        if len == 0 {
            return false;
        }
        at += 1 + usize::from(len);
        if name.get(at..) == Some(origin) {
            return true;
        }
    }
    false
}

impl Apex {
    /// The apex of a namespace as it is now, with what it takes from the
    /// server.
    pub fn compile(namespace: &Namespace, server: Arc<ServerNames>) -> Result<Self, EncodeError> {
        let allowed = (namespace.kind == NamespaceType::DnsPrivate)
            .then(|| namespace.allowed_networks.clone());
        Self::build(
            Fqdn::parse(&namespace.name)?,
            namespace.revision,
            namespace.soa.clone(),
            allowed,
            server,
        )
    }

    fn build(
        name: Fqdn,
        serial: u64,
        settings: SoaSettings,
        allowed: Option<Vec<IpNet>>,
        server: Arc<ServerNames>,
    ) -> Result<Self, EncodeError> {
        // The registry refuses a zone whose SOA names would not fit, by
        // these same methods, so this cannot fail for an accepted zone.
        let zone = name.to_string();
        let mname = Fqdn::parse(&settings.mname_for(&zone))?;
        let rname = Fqdn::parse(&settings.rname_for(&zone))?;
        let soa = Soa {
            mname: mname.clone(),
            rname,
            // Serials are 32-bit and compared in sequence-space arithmetic
            // (RFC 1982), so wrapping is what secondaries expect.
            serial: serial as u32,
            refresh: settings.refresh,
            retry: settings.retry,
            expire: settings.expire,
            minimum: settings.minimum,
        };
        let (soa_answer, negative_soa_tail) =
            encode::soa_tails(&name, soa, settings.ttl, settings.negative_ttl())?;
        let origin = name.lowered_wire()?;
        let servers = if settings.name_servers.is_empty() {
            vec![(mname, server.addresses.clone())]
        } else {
            settings
                .name_servers
                .iter()
                .map(|server| Ok((Fqdn::parse(&server.name)?, server.addresses.clone())))
                .collect::<Result<Vec<_>, EncodeError>>()?
        };
        let name_servers = servers
            .into_iter()
            .map(|(server, addresses)| {
                Self::name_server(&name, &origin, settings.ttl, server, addresses)
            })
            .collect::<Result<_, _>>()?;
        let mut own_hosts = Vec::new();
        for (host, addresses) in &server.own_hosts {
            let wire = host.lowered_wire()?;
            if is_below(&wire, &origin) {
                let (addresses, a_count) = address_records(host, settings.ttl, addresses.clone())?;
                own_hosts.push(OwnHostWire {
                    host: wire,
                    addresses,
                    a_count,
                });
            }
        }
        Ok(Self {
            origin,
            serial,
            soa_answer: at_qname(&soa_answer),
            negative_soa: at_qname(&negative_soa_tail),
            name_servers,
            allowed,
            own_hosts,
            name,
            settings,
            server,
        })
    }

    /// An NS record naming `server`, with its address records when it is in
    /// the zone (and none otherwise: the zone the name is in answers for it).
    fn name_server(
        zone: &Fqdn,
        origin: &[u8],
        ttl: u32,
        server: Fqdn,
        mut addresses: Vec<IpAddr>,
    ) -> Result<NameServerWire, EncodeError> {
        let wire = server.lowered_wire()?;
        let host = is_below(&wire, origin).then_some(wire);
        if host.is_none() {
            addresses.clear();
        }
        let (addresses, a_count) = address_records(&server, ttl, addresses)?;
        Ok(NameServerWire {
            record: at_qname(&encode::ns_tail(zone, ttl, server)?),
            host,
            addresses,
            a_count,
        })
    }

    /// The name server at `host` (lower-case wire form), if it is in the
    /// zone.
    pub fn name_server_at(&self, host: &[u8]) -> Option<&NameServerWire> {
        self.name_servers
            .iter()
            .find(|server| server.host.as_deref() == Some(host))
    }

    /// The names of its name servers in the zone (keys of the name table).
    pub fn name_server_hosts(&self) -> impl Iterator<Item = &[u8]> {
        self.name_servers
            .iter()
            .filter_map(|server| server.host.as_deref())
    }

    /// The address records at `host` (lower-case wire form) when it is one
    /// of the zone's name servers or one of the server's own names.
    pub fn host_records(&self, host: &[u8]) -> Option<HostRecords<'_>> {
        if let Some(server) = self.name_server_at(host) {
            return Some(HostRecords {
                all: &server.addresses,
                a_count: server.a_count,
            });
        }
        self.own_hosts
            .iter()
            .find(|own| *own.host == *host)
            .map(|own| HostRecords {
                all: &own.addresses,
                a_count: own.a_count,
            })
    }

    /// Every host name in the zone the apex answers addresses for: its name
    /// servers and the server's own names (keys of the name table).
    pub fn host_names(&self) -> impl Iterator<Item = &[u8]> {
        self.name_server_hosts()
            .chain(self.own_hosts.iter().map(|own| &*own.host))
    }

    /// The same apex with a newer serial, or `None` when `serial` is not newer.
    pub fn with_serial(&self, serial: u64) -> Option<Self> {
        if serial <= self.serial {
            return None;
        }
        Self::build(
            self.name.clone(),
            serial,
            self.settings.clone(),
            self.allowed.clone(),
            Arc::clone(&self.server),
        )
        .ok()
    }

    /// Whether a client at `ip` may query this zone.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match &self.allowed {
            None => true,
            Some(networks) => networks.iter().any(|network| network.contains(&ip)),
        }
    }
}

/// A service's full name: as hickory-proto encodes it into records, and
/// as the name table keys it (lower case, wire form).
#[derive(Debug)]
pub struct ServiceName {
    fqdn: Fqdn,
    pub wire: Box<[u8]>,
}

impl ServiceName {
    pub fn new(service: &str, namespace: &str) -> Result<Self, EncodeError> {
        let fqdn = Fqdn::parse(&format!("{service}.{namespace}"))?;
        let wire = fqdn.lowered_wire()?;
        Ok(Self { fqdn, wire })
    }
}

/// Which instances answer one record type: already narrowed to the healthy
/// ones (or to all of them when none is healthy) that have such a record.
#[derive(Debug, Default)]
struct Members {
    /// Indices into the service's instances; `None` when that is every
    /// instance, as it is for most services most of the time. Pools with
    /// the same members share one list.
    listed: Option<Arc<[u32]>>,
    /// Sum of the members' weights.
    total_weight: u64,
}

/// A record type's pool as the answer path reads it.
#[derive(Debug, Clone, Copy)]
pub struct Pool<'a> {
    instances: &'a [InstanceWire],
    listed: Option<&'a [u32]>,
    pub total_weight: u64,
}

impl<'a> Pool<'a> {
    pub fn len(&self) -> usize {
        match self.listed {
            Some(listed) => listed.len(),
            None => self.instances.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    pub fn shares_members(&self, other: &Self) -> bool {
        matches!((self.listed, other.listed), (Some(left), Some(right)) if std::ptr::eq(left, right))
    }

    /// The `index`th member.
    pub fn get(&self, index: usize) -> Option<&'a InstanceWire> {
        match self.listed {
            Some(listed) => self.instances.get(*listed.get(index)? as usize),
            None => self.instances.get(index),
        }
    }
}

/// A service compiled for answering. Its name is the table's key, not kept
/// here.
#[derive(Debug)]
pub struct CompiledService {
    pub policy: RoutingPolicy,
    /// What it was built from: instances are reused only under the same TTLs.
    ttls: Ttls,
    /// Every instance, in the registry's order.
    instances: Box<[InstanceWire]>,
    /// Positions in `instances` by id, for services too large to scan.
    index: Option<Box<Index>>,
    /// By [`slot`]; only those whose kind the template has are answered.
    pools: [Members; 4],
}

impl CompiledService {
    /// The pool answering `kind`, if the template has such records.
    pub fn pool(&self, kind: RecordKind) -> Option<Pool<'_>> {
        self.ttls.has(kind).then(|| {
            let members = &self.pools[slot(kind)];
            Pool {
                instances: &self.instances,
                listed: members.listed.as_deref(),
                total_weight: members.total_weight,
            }
        })
    }

    /// Whether `<id>.<service>` names answer: only the targets of SRV
    /// records do.
    pub fn names_instances(&self) -> bool {
        self.ttls.has(RecordKind::Srv)
    }

    /// The instance whose id is `label`, ignoring ASCII case. The registry
    /// keeps ids unique regardless of case, so there is at most one.
    pub fn instance(&self, label: &[u8]) -> Option<&InstanceWire> {
        let matches = |wire: &InstanceWire| wire.id().eq_ignore_ascii_case(label);
        match &self.index {
            Some(index) => index.find(&self.instances, label, matches),
            None => self.instances.iter().find(|wire| matches(wire)),
        }
    }

    /// Every instance, healthy or not: each one's own name answers (for
    /// templates with SRV records), so a zone transfer carries them all.
    pub fn instances(&self) -> &[InstanceWire] {
        &self.instances
    }

    /// Whether lookups go through the hash index rather than a scan.
    #[cfg(test)]
    pub fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    /// The previous compile's wire for exactly this id.
    fn previous_wire(&self, id: &str) -> Option<&InstanceWire> {
        self.instance(id.as_bytes())
            .filter(|wire| wire.id() == id.as_bytes())
    }

    /// Compiles a service and its instances, reusing what `previous` (the
    /// last compile at the same name) encoded for instances that have not
    /// changed. `None` when the service has no DNS records (API-only).
    pub fn compile(
        view: &ServiceView<'_>,
        name: &ServiceName,
        previous: Option<&CompiledService>,
    ) -> Result<Option<Self>, EncodeError> {
        let Some(template) = &view.service.dns else {
            return Ok(None);
        };
        let ttls = Ttls::of(template);
        let reusable = previous.filter(|previous| previous.ttls == ttls);

        let mut instances = Vec::with_capacity(view.instances.len());
        for instance in view.instances.values() {
            let kept = match reusable.and_then(|previous| previous.previous_wire(&instance.id)) {
                Some(wire) if wire.encodes(instance, &ttls)? => Some(wire.clone()),
                _ => None,
            };
            let wire = match kept {
                Some(wire) => wire,
                None => InstanceWire::build(instance, &name.fqdn, &ttls)?,
            };
            instances.push((wire, instance.health.serves_traffic()));
        }

        // Instances that serve traffic, or every instance when none does:
        // never an empty answer that makes a client give up.
        let any_healthy = instances.iter().any(|&(_, healthy)| healthy);
        let mut pools: [Members; 4] = Default::default();
        for kind in KINDS.into_iter().filter(|&kind| ttls.has(kind)) {
            let mut listed = Vec::new();
            let mut total_weight = 0;
            for (index, (wire, healthy)) in instances.iter().enumerate() {
                if (*healthy || !any_healthy) && wire.record(kind).is_some() {
                    listed
                        .push(u32::try_from(index).map_err(|_| {
                            EncodeError::at(&name.fqdn, "more than 2^32 instances")
                        })?);
                    total_weight += u64::from(wire.weight());
                }
            }
            let listed = (listed.len() < instances.len()).then(|| {
                pools
                    .iter()
                    .filter_map(|pool| pool.listed.as_ref())
                    .find(|shared| ***shared == *listed)
                    .cloned()
                    .unwrap_or_else(|| listed.into())
            });
            pools[slot(kind)] = Members {
                listed,
                total_weight,
            };
        }

        Ok(Some(Self {
            policy: template.routing_policy,
            ttls,
            index: (instances.len() > SCAN_LIMIT).then(|| Index::of(&instances)),
            instances: instances.into_iter().map(|(wire, _)| wire).collect(),
            pools,
        }))
    }
}

/// Up to this many instances, finding one by id scans them: cheaper than
/// hashing, and most services are this small.
const SCAN_LIMIT: usize = 16;

/// A service's instance positions by lower-cased id: what keeps a change to
/// a large service O(instances) (each instance's previous encoding is found
/// in O(1)) and `<id>.<service>` answers O(1).
#[derive(Debug)]
struct Index {
    positions: HashTable<u32>,
    /// Seeded per index: ids come from API callers, labels from clients.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    fn of(instances: &[(InstanceWire, bool)]) -> Box<Self> {
        let hasher = foldhash::fast::RandomState::default();
        let mut positions = HashTable::with_capacity(instances.len());
        for (position, (wire, _)) in (0u32..).zip(instances) {
            positions.insert_unique(hash_id(&hasher, wire.id()), position, |&other| {
                instances
                    .get(other as usize)
                    .map_or(0, |(wire, _)| hash_id(&hasher, wire.id()))
            });
        }
        Box::new(Self { positions, hasher })
    }

    fn find<'a>(
        &self,
        instances: &'a [InstanceWire],
        id: &[u8],
        matches: impl Fn(&InstanceWire) -> bool,
    ) -> Option<&'a InstanceWire> {
        let position = self
            .positions
            .find(hash_id(&self.hasher, id), |&position| {
                instances.get(position as usize).is_some_and(&matches)
            })?;
        instances.get(*position as usize)
    }
}
