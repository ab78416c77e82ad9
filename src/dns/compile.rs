//! Turns registry state into what DNS answers with, encoded once for the
//! wire. Writers call this on every change; queries only copy bytes out.
//!
//! Every record is kept as the bytes that follow its owner name (encoded by
//! [`encode`](super::encode)), prefixed with a compression pointer to the
//! question's name where the owner *is* the question's name. The answer
//! path then assembles a response with `memcpy` alone.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::encode::{self, EncodeError, Fqdn, Soa};
use super::wire::POINTER_TO_QNAME;
use crate::registry::{Namespace, NamespaceType, SoaSettings, TransferSettings};

mod places;
mod service;

pub(crate) use places::Changed;
pub use service::{CompiledService, Pool};

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
    /// The zone's own transfer settings, read by transfers and NOTIFY
    /// (never by the answer path); `None`: the server's `[transfer]`.
    /// Shared, so a new serial does not copy them.
    pub transfer: Option<Arc<TransferSettings>>,
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
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
            let mut record = POINTER_TO_QNAME.to_vec();
            match ip {
                IpAddr::V4(ip) => encode::append_a(&mut record, owner, ttl, ip)?,
                IpAddr::V6(ip) => encode::append_aaaa(&mut record, owner, ttl, ip)?,
            }
            Ok(record.into_boxed_slice())
        })
        .collect::<Result<_, EncodeError>>()?;
    Ok((records, a_count))
}

/// An SOA record (owner placeholder and tail) with another serial: the
/// serial is the first of the five 32-bit fields that end its RDATA (RFC
/// 1035 §3.3.13), and 32 bits wide (see [`Apex::build`]).
fn with_soa_serial(record: &[u8], serial: u64) -> Option<Box<[u8]>> {
    let mut bytes: Box<[u8]> = record.into();
    let at = bytes.len().checked_sub(20)?;
    bytes
        .get_mut(at..at + 4)?
        .copy_from_slice(&(serial as u32).to_be_bytes());
    Some(bytes)
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
        let apex = Self::build(
            Fqdn::parse(&namespace.name)?,
            namespace.revision,
            namespace.soa.clone(),
            allowed,
            server,
        )?;
        Ok(Self {
            transfer: namespace.transfer.clone().map(Arc::new),
            ..apex
        })
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
        let own_hosts = Self::own_hosts(&server, &origin, settings.ttl)?;
        Ok(Self {
            origin,
            serial,
            soa_answer: at_qname(&soa_answer),
            negative_soa: at_qname(&negative_soa_tail),
            name_servers,
            allowed,
            own_hosts,
            transfer: None,
            name,
            settings,
            server,
        })
    }

    /// The server's own names that lie in the zone at `origin`, encoded.
    fn own_hosts(
        server: &ServerNames,
        origin: &[u8],
        ttl: u32,
    ) -> Result<Vec<OwnHostWire>, EncodeError> {
        let mut own_hosts = Vec::new();
        for (host, addresses) in &server.own_hosts {
            let wire = host.lowered_wire()?;
            if is_below(&wire, origin) {
                let (addresses, a_count) = address_records(host, ttl, addresses.clone())?;
                own_hosts.push(OwnHostWire {
                    host: wire,
                    addresses,
                    a_count,
                });
            }
        }
        Ok(own_hosts)
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
    /// Every change to a zone raises its serial, so this copies the
    /// encoded records and rewrites the serial's four bytes rather than
    /// encoding the apex again.
    pub fn with_serial(&self, serial: u64) -> Option<Self> {
        if serial <= self.serial {
            return None;
        }
        Some(Self {
            origin: self.origin.clone(),
            serial,
            soa_answer: with_soa_serial(&self.soa_answer, serial)?,
            negative_soa: with_soa_serial(&self.negative_soa, serial)?,
            name_servers: self.name_servers.clone(),
            allowed: self.allowed.clone(),
            own_hosts: self.own_hosts.clone(),
            transfer: self.transfer.clone(),
            name: self.name.clone(),
            settings: self.settings.clone(),
            server: Arc::clone(&self.server),
        })
    }

    /// The zone's name, for logs.
    pub fn name(&self) -> &Fqdn {
        &self.name
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NameServer;

    #[test]
    fn a_new_serial_is_the_apex_encoded_again_with_it() {
        let settings = SoaSettings {
            name_servers: vec![NameServer {
                name: "ns.example.test".into(),
                addresses: vec!["192.0.2.1".parse().expect("an address")],
            }],
            ..SoaSettings::default()
        };
        let build = |serial| {
            Apex::build(
                Fqdn::parse("example.test").expect("a name"),
                serial,
                settings.clone(),
                None,
                Arc::new(ServerNames::default()),
            )
            .expect("an apex")
        };
        let first = build(7);
        assert!(first.with_serial(7).is_none(), "not newer");
        for serial in [8, 65_536, u64::from(u32::MAX) + 3] {
            let raised = first.with_serial(serial).expect("newer");
            let encoded = build(serial);
            assert_eq!(raised.serial, serial);
            assert_eq!(raised.soa_answer, encoded.soa_answer, "{serial}");
            assert_eq!(raised.negative_soa, encoded.negative_soa, "{serial}");
            assert_eq!(raised.name_servers.len(), encoded.name_servers.len());
        }
    }
}
