//! Turns registry state into the records DNS answers with. Writers call this
//! once per change; queries only pick from what it built.

use std::collections::HashMap;
use std::sync::Arc;

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};

use crate::registry::{Instance, Namespace, RecordKind, RoutingPolicy, ServiceView, SoaSettings};

/// A zone's apex: what the SOA and NS queries answer and what negative
/// answers carry, plus who may ask.
#[derive(Debug)]
pub struct Apex {
    pub origin: LowerName,
    pub serial: u64,
    pub soa: Arc<Record>,
    /// The SOA with the negative-caching TTL, min(SOA TTL, MINIMUM), for the
    /// authority section of NXDOMAIN and NODATA answers (RFC 2308 §3).
    pub negative_soa: Arc<Record>,
    pub ns: Vec<Arc<Record>>,
    /// `None` for public zones; the networks allowed to query a private one.
    pub allowed: Option<Vec<ipnet::IpNet>>,
    /// Kept to rebuild the SOA when the serial changes.
    settings: SoaSettings,
}

/// An error building records from registry state that the registry accepted:
/// a name hickory would not take. The registry validates names first, so
/// this means the two disagree; the change is logged and skipped.
#[derive(Debug, thiserror::Error)]
#[error("cannot build DNS name '{name}': {reason}")]
pub struct CompileError {
    name: String,
    reason: String,
}

pub(crate) fn fqdn(text: &str) -> Result<Name, CompileError> {
    let text = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::from_ascii(&text).map_err(|error| CompileError {
        name: text,
        reason: error.to_string(),
    })
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl Apex {
    /// The apex of a namespace as it is now.
    pub fn compile(namespace: &Namespace) -> Result<Self, CompileError> {
        let origin = fqdn(&namespace.name)?;
        let allowed = match namespace.kind {
            crate::registry::NamespaceType::DnsPrivate => Some(namespace.allowed_networks.clone()),
            _ => None,
        };
        Self::build(origin, namespace.revision, namespace.soa.clone(), allowed)
    }

    fn build(
        origin: Name,
        serial: u64,
        settings: SoaSettings,
        allowed: Option<Vec<ipnet::IpNet>>,
    ) -> Result<Self, CompileError> {
        let mname = match &settings.mname {
            Some(mname) => fqdn(mname)?,
            None => fqdn(&format!("ns1.{origin}"))?,
        };
        let rname = match &settings.rname {
            Some(rname) => fqdn(rname)?,
            None => fqdn(&format!("hostmaster.{origin}"))?,
        };
        // Serials are 32-bit and compared in sequence-space arithmetic
        // (RFC 1982), so wrapping is what secondaries expect.
        let serial32 = serial as u32;
        let soa_data = SOA::new(
            mname.clone(),
            rname,
            serial32,
            to_i32(settings.refresh),
            to_i32(settings.retry),
            to_i32(settings.expire),
            settings.minimum,
        );
        let soa = Record::from_rdata(origin.clone(), settings.ttl, RData::SOA(soa_data));
        let mut negative_soa = soa.clone();
        negative_soa.ttl = settings.negative_ttl();
        let ns = vec![Arc::new(Record::from_rdata(
            origin.clone(),
            settings.ttl,
            RData::NS(NS(mname)),
        ))];
        Ok(Self {
            origin: LowerName::from(&origin),
            serial,
            soa: Arc::new(soa),
            negative_soa: Arc::new(negative_soa),
            ns,
            allowed,
            settings,
        })
    }

    /// The same apex with a newer serial, or `None` when `serial` is not newer.
    pub fn with_serial(&self, serial: u64) -> Option<Self> {
        if serial <= self.serial {
            return None;
        }
        Self::build(
            Name::from(&self.origin),
            serial,
            self.settings.clone(),
            self.allowed.clone(),
        )
        .ok()
    }

    /// Whether a client at `ip` may query this zone.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        match &self.allowed {
            None => true,
            Some(networks) => networks.iter().any(|network| network.contains(&ip)),
        }
    }
}

/// One instance's records under a service: its answer for each record type,
/// and for SRV the target's addresses that go in the additional section.
#[derive(Debug)]
pub struct Candidate {
    pub record: Arc<Record>,
    /// Relative weight for WEIGHTED services.
    pub weight: u32,
    /// For SRV: the target's A/AAAA, for the additional section.
    pub glue: Vec<Arc<Record>>,
}

/// The records of one type a service can answer with, already narrowed to
/// the healthy instances (or to all when none is healthy).
#[derive(Debug, Default)]
pub struct Pool {
    pub candidates: Vec<Candidate>,
    /// Sum of the candidates' weights.
    pub total_weight: u64,
    pub ttl: u32,
}

/// The addresses of an instance's own name, `<id>.<service>.<namespace>`.
#[derive(Debug, Default)]
pub struct InstanceRecords {
    pub a: Option<Arc<Record>>,
    pub aaaa: Option<Arc<Record>>,
}

/// A service compiled for answering: every record it can give, grouped as
/// queries need them.
#[derive(Debug)]
pub struct CompiledService {
    pub name: LowerName,
    pub policy: RoutingPolicy,
    pub revision: u64,
    pub a: Option<Pool>,
    pub aaaa: Option<Pool>,
    pub srv: Option<Pool>,
    pub cname: Option<Pool>,
    /// Lowercased instance id → the instance's own addresses; only for
    /// services with SRV records, whose targets these names are.
    pub instances: HashMap<Box<[u8]>, InstanceRecords>,
}

impl CompiledService {
    /// Compiles a service and its instances. `None` when the service has no
    /// DNS records (an API-only service).
    pub fn compile(view: &ServiceView<'_>) -> Result<Option<Self>, CompileError> {
        let Some(template) = &view.service.dns else {
            return Ok(None);
        };
        let name = fqdn(&format!("{}.{}", view.service.name, view.namespace_name))?;
        // Instances that serve traffic, or every instance when none does:
        // never an empty answer that makes a client give up.
        let healthy: Vec<&Instance> = view
            .instances
            .values()
            .filter(|instance| instance.health.serves_traffic())
            .collect();
        let serving: Vec<&Instance> = if healthy.is_empty() {
            view.instances.values().collect()
        } else {
            healthy
        };

        let ttl_of = |kind| template.record(kind).map(|record| record.ttl);
        let srv_ttl = ttl_of(RecordKind::Srv);
        let address_ttl = |kind| ttl_of(kind).or(srv_ttl).unwrap_or(0);

        let mut instances = HashMap::new();
        if srv_ttl.is_some() {
            for instance in view.instances.values() {
                let target = fqdn(&format!("{}.{name}", instance.id))?;
                let records = InstanceRecords {
                    a: instance.endpoint.ipv4.map(|ip| {
                        Arc::new(Record::from_rdata(
                            target.clone(),
                            address_ttl(RecordKind::A),
                            RData::A(A(ip)),
                        ))
                    }),
                    aaaa: instance.endpoint.ipv6.map(|ip| {
                        Arc::new(Record::from_rdata(
                            target.clone(),
                            address_ttl(RecordKind::Aaaa),
                            RData::AAAA(AAAA(ip)),
                        ))
                    }),
                };
                instances.insert(
                    instance
                        .id
                        .to_ascii_lowercase()
                        .into_bytes()
                        .into_boxed_slice(),
                    records,
                );
            }
        }

        let pool = |kind: RecordKind,
                    build: &dyn Fn(&Instance) -> Result<Option<Candidate>, CompileError>|
         -> Result<Option<Pool>, CompileError> {
            let Some(ttl) = ttl_of(kind) else {
                return Ok(None);
            };
            let mut candidates = Vec::with_capacity(serving.len());
            for instance in &serving {
                if let Some(candidate) = build(instance)? {
                    candidates.push(candidate);
                }
            }
            let total_weight = candidates.iter().map(|c| u64::from(c.weight)).sum();
            Ok(Some(Pool {
                candidates,
                total_weight,
                ttl,
            }))
        };
        let plain = |record: Option<Record>, instance: &Instance| {
            record.map(|record| Candidate {
                record: Arc::new(record),
                weight: instance.endpoint.weight,
                glue: Vec::new(),
            })
        };

        let a = pool(RecordKind::A, &|instance| {
            let record = instance.endpoint.ipv4.map(|ip| {
                Record::from_rdata(name.clone(), address_ttl(RecordKind::A), RData::A(A(ip)))
            });
            Ok(plain(record, instance))
        })?;
        let aaaa = pool(RecordKind::Aaaa, &|instance| {
            let record = instance.endpoint.ipv6.map(|ip| {
                Record::from_rdata(
                    name.clone(),
                    address_ttl(RecordKind::Aaaa),
                    RData::AAAA(AAAA(ip)),
                )
            });
            Ok(plain(record, instance))
        })?;
        let srv = pool(RecordKind::Srv, &|instance| {
            let Some(port) = instance.endpoint.port else {
                return Ok(None);
            };
            let target = fqdn(&format!("{}.{name}", instance.id))?;
            let record = Record::from_rdata(
                name.clone(),
                srv_ttl.unwrap_or(0),
                RData::SRV(SRV::new(1, 1, port, target)),
            );
            let glue = instances
                .get(instance.id.to_ascii_lowercase().as_bytes())
                .map(|own: &InstanceRecords| own.a.iter().chain(own.aaaa.iter()).cloned().collect())
                .unwrap_or_default();
            Ok(Some(Candidate {
                record: Arc::new(record),
                weight: instance.endpoint.weight,
                glue,
            }))
        })?;
        let cname = pool(RecordKind::Cname, &|instance| {
            let Some(target) = &instance.endpoint.cname else {
                return Ok(None);
            };
            let record = Record::from_rdata(
                name.clone(),
                ttl_of(RecordKind::Cname).unwrap_or(0),
                RData::CNAME(CNAME(fqdn(target)?)),
            );
            Ok(plain(Some(record), instance))
        })?;

        Ok(Some(Self {
            name: LowerName::from(&name),
            policy: template.routing_policy,
            revision: view.service.revision,
            a,
            aaaa,
            srv,
            cname,
            instances,
        }))
    }
}
