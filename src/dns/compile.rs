//! Turns registry state into what DNS answers with, encoded once for the
//! wire. Writers call this on every change; queries only copy bytes out.
//!
//! Every record is kept as the bytes that follow its owner name (encoded by
//! hickory-proto), prefixed with a compression pointer to the question's
//! name where the owner *is* the question's name. The answer path then
//! assembles a response with `memcpy` alone.

use std::collections::HashMap;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record};
use ipnet::IpNet;

use super::wire::{POINTER_TO_QNAME, encode_tail, lowered_name};
use crate::registry::{
    Instance, Namespace, NamespaceType, RecordKind, RoutingPolicy, ServiceView, SoaSettings,
};

/// Registry state the DNS encoder refused: a name hickory would not take.
/// The registry validates names first, so this means the two disagree; the
/// change is logged and the previous records stay.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode DNS data for '{name}': {reason}")]
pub struct CompileError {
    name: String,
    reason: String,
}

fn fqdn(text: &str) -> Result<Name, CompileError> {
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

fn failed(name: &Name) -> impl FnOnce(String) -> CompileError + '_ {
    move |reason| CompileError {
        name: name.to_string(),
        reason,
    }
}

/// A record whose owner is the question's name: pointer + tail.
fn at_qname(record: &Record) -> Result<Box<[u8]>, CompileError> {
    let tail = encode_tail(record).map_err(failed(&record.name))?;
    let mut bytes = Vec::with_capacity(2 + tail.len());
    bytes.extend_from_slice(&POINTER_TO_QNAME);
    bytes.extend_from_slice(&tail);
    Ok(bytes.into_boxed_slice())
}

/// A record owned by `<label>.<question's name>`, as SRV targets' addresses
/// are under the service name the question asked for.
fn below_qname(label: &str, record: &Record) -> Result<Vec<u8>, CompileError> {
    let tail = encode_tail(record).map_err(failed(&record.name))?;
    let mut bytes = Vec::with_capacity(3 + label.len() + tail.len());
    bytes.push(label.len() as u8);
    bytes.extend_from_slice(label.as_bytes());
    bytes.extend_from_slice(&POINTER_TO_QNAME);
    bytes.extend_from_slice(&tail);
    Ok(bytes)
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A zone's apex: the SOA and NS answers, the SOA that negative answers
/// carry, and who may ask.
#[derive(Debug)]
pub struct Apex {
    /// The zone's name, lower case, wire form.
    pub origin: Box<[u8]>,
    pub serial: u64,
    pub soa_answer: Box<[u8]>,
    /// The SOA after its owner name, with the negative-caching TTL
    /// min(SOA TTL, MINIMUM) (RFC 2308 §3).
    pub negative_soa_tail: Box<[u8]>,
    pub ns_answers: Vec<Box<[u8]>>,
    /// `None` for public zones; the networks allowed to query a private one.
    pub allowed: Option<Vec<IpNet>>,
    name: Name,
    settings: SoaSettings,
}

impl Apex {
    /// The apex of a namespace as it is now.
    pub fn compile(namespace: &Namespace) -> Result<Self, CompileError> {
        let allowed = (namespace.kind == NamespaceType::DnsPrivate)
            .then(|| namespace.allowed_networks.clone());
        Self::build(
            fqdn(&namespace.name)?,
            namespace.revision,
            namespace.soa.clone(),
            allowed,
        )
    }

    fn build(
        name: Name,
        serial: u64,
        settings: SoaSettings,
        allowed: Option<Vec<IpNet>>,
    ) -> Result<Self, CompileError> {
        let mname = match &settings.mname {
            Some(mname) => fqdn(mname)?,
            None => fqdn(&format!("ns1.{name}"))?,
        };
        let rname = match &settings.rname {
            Some(rname) => fqdn(rname)?,
            None => fqdn(&format!("hostmaster.{name}"))?,
        };
        // Serials are 32-bit and compared in sequence-space arithmetic
        // (RFC 1982), so wrapping is what secondaries expect.
        let soa = SOA::new(
            mname.clone(),
            rname,
            serial as u32,
            to_i32(settings.refresh),
            to_i32(settings.retry),
            to_i32(settings.expire),
            settings.minimum,
        );
        let mut soa = Record::from_rdata(name.clone(), settings.ttl, RData::SOA(soa));
        let soa_answer = at_qname(&soa)?;
        soa.ttl = settings.negative_ttl();
        let negative_soa_tail = encode_tail(&soa).map_err(failed(&name))?.into_boxed_slice();
        let ns = Record::from_rdata(name.clone(), settings.ttl, RData::NS(NS(mname)));
        Ok(Self {
            origin: lowered_name(&name)
                .map_err(failed(&name))?
                .into_boxed_slice(),
            serial,
            soa_answer,
            negative_soa_tail,
            ns_answers: vec![at_qname(&ns)?],
            allowed,
            name,
            settings,
        })
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

/// One instance's record of one type at the service name, and for SRV the
/// target's addresses for the additional section.
#[derive(Debug)]
pub struct Candidate {
    pub record: Box<[u8]>,
    /// Relative weight for WEIGHTED services.
    pub weight: u32,
    pub glue: Box<[u8]>,
    pub glue_count: u16,
}

/// The records of one type a service answers with, already narrowed to the
/// healthy instances (or to all of them when none is healthy).
#[derive(Debug, Default)]
pub struct Pool {
    pub candidates: Vec<Candidate>,
    /// Sum of the candidates' weights.
    pub total_weight: u64,
}

/// The addresses of an instance's own name, `<id>.<service>.<namespace>`.
#[derive(Debug, Default)]
pub struct InstanceRecords {
    pub a: Option<Box<[u8]>>,
    pub aaaa: Option<Box<[u8]>>,
}

/// A service compiled for answering.
#[derive(Debug)]
pub struct CompiledService {
    /// The service's name, lower case, wire form.
    pub name: Box<[u8]>,
    pub policy: RoutingPolicy,
    pub revision: u64,
    pub a: Option<Pool>,
    pub aaaa: Option<Pool>,
    pub srv: Option<Pool>,
    pub cname: Option<Pool>,
    /// Lower-case instance id → the instance's own addresses; only for
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
            .filter(|i| i.health.serves_traffic())
            .collect();
        let serving: Vec<&Instance> = if healthy.is_empty() {
            view.instances.values().collect()
        } else {
            healthy
        };

        let ttl_of = |kind| template.record(kind).map(|record| record.ttl);
        let srv_ttl = ttl_of(RecordKind::Srv);
        // Target names take the address TTLs, or the SRV TTL where the
        // template has no address records of its own.
        let address_ttl = |kind| ttl_of(kind).or(srv_ttl).unwrap_or(0);
        let address = |owner: &Name, instance: &Instance, kind: RecordKind| -> Option<Record> {
            let data = match kind {
                RecordKind::A => RData::A(A(instance.endpoint.ipv4?)),
                _ => RData::AAAA(AAAA(instance.endpoint.ipv6?)),
            };
            Some(Record::from_rdata(owner.clone(), address_ttl(kind), data))
        };

        let mut instances = HashMap::new();
        let mut glue: HashMap<&str, (Vec<u8>, u16)> = HashMap::new();
        if srv_ttl.is_some() {
            for instance in view.instances.values() {
                let target = fqdn(&format!("{}.{name}", instance.id))?;
                let mut own = InstanceRecords::default();
                let mut target_glue = (Vec::new(), 0u16);
                for kind in [RecordKind::A, RecordKind::Aaaa] {
                    let Some(record) = address(&target, instance, kind) else {
                        continue;
                    };
                    let answer = at_qname(&record)?;
                    target_glue.0.extend(below_qname(&instance.id, &record)?);
                    target_glue.1 += 1;
                    match kind {
                        RecordKind::A => own.a = Some(answer),
                        _ => own.aaaa = Some(answer),
                    }
                }
                instances.insert(
                    instance
                        .id
                        .to_ascii_lowercase()
                        .into_bytes()
                        .into_boxed_slice(),
                    own,
                );
                glue.insert(instance.id.as_str(), target_glue);
            }
        }

        let pool = |kind: RecordKind,
                    data: &dyn Fn(&Instance) -> Result<Option<RData>, CompileError>|
         -> Result<Option<Pool>, CompileError> {
            let Some(ttl) = ttl_of(kind) else {
                return Ok(None);
            };
            let mut candidates = Vec::with_capacity(serving.len());
            for instance in &serving {
                let Some(data) = data(instance)? else {
                    continue;
                };
                let (glue, glue_count) = match kind {
                    RecordKind::Srv => glue.get(instance.id.as_str()).cloned().unwrap_or_default(),
                    _ => (Vec::new(), 0),
                };
                candidates.push(Candidate {
                    record: at_qname(&Record::from_rdata(name.clone(), ttl, data))?,
                    weight: instance.endpoint.weight,
                    glue: glue.into_boxed_slice(),
                    glue_count,
                });
            }
            let total_weight = candidates.iter().map(|c| u64::from(c.weight)).sum();
            Ok(Some(Pool {
                candidates,
                total_weight,
            }))
        };

        Ok(Some(Self {
            name: lowered_name(&name)
                .map_err(failed(&name))?
                .into_boxed_slice(),
            policy: template.routing_policy,
            revision: view.service.revision,
            a: pool(RecordKind::A, &|i| {
                Ok(i.endpoint.ipv4.map(|ip| RData::A(A(ip))))
            })?,
            aaaa: pool(RecordKind::Aaaa, &|i| {
                Ok(i.endpoint.ipv6.map(|ip| RData::AAAA(AAAA(ip))))
            })?,
            srv: pool(RecordKind::Srv, &|i| {
                let Some(port) = i.endpoint.port else {
                    return Ok(None);
                };
                let target = fqdn(&format!("{}.{name}", i.id))?;
                Ok(Some(RData::SRV(SRV::new(1, 1, port, target))))
            })?,
            cname: pool(RecordKind::Cname, &|i| match &i.endpoint.cname {
                Some(target) => Ok(Some(RData::CNAME(CNAME(fqdn(target)?)))),
                None => Ok(None),
            })?,
            instances,
        }))
    }
}
