//! Turns registry state into what DNS answers with, encoded once for the
//! wire. Writers call this on every change; queries only copy bytes out.
//!
//! Every record is kept as the bytes that follow its owner name (encoded by
//! hickory-proto), prefixed with a compression pointer to the question's
//! name where the owner *is* the question's name. The answer path then
//! assembles a response with `memcpy` alone.

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record};
use ipnet::IpNet;

use super::wire::{POINTER_TO_QNAME, encode_tail, lowered_name};
use crate::registry::{
    DnsTemplate, Endpoint, Instance, Namespace, NamespaceType, RecordKind, RoutingPolicy,
    ServiceView, SoaSettings,
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

/// Everything one instance contributes to its service's answers, encoded
/// once. A recompile reuses it while the instance and the template are
/// unchanged, so a change to one instance costs one encoding, not one per
/// instance of the service.
#[derive(Debug)]
pub struct InstanceWire {
    /// What it was built from: reused only while this still matches.
    endpoint: Endpoint,
    /// Relative weight for WEIGHTED services.
    pub weight: u32,
    a: Option<Box<[u8]>>,
    aaaa: Option<Box<[u8]>>,
    srv: Option<Box<[u8]>>,
    cname: Option<Box<[u8]>>,
    /// For SRV: the target's A/AAAA records for the additional section.
    pub glue: Box<[u8]>,
    pub glue_count: u16,
    /// The instance's own name's answers (`<id>.<service>`), for services
    /// with SRV records.
    pub own_a: Option<Box<[u8]>>,
    pub own_aaaa: Option<Box<[u8]>>,
}

impl InstanceWire {
    /// Its record of this type at the service name, if it has one.
    pub fn record(&self, kind: RecordKind) -> Option<&[u8]> {
        match kind {
            RecordKind::A => self.a.as_deref(),
            RecordKind::Aaaa => self.aaaa.as_deref(),
            RecordKind::Srv => self.srv.as_deref(),
            RecordKind::Cname => self.cname.as_deref(),
        }
    }

    fn build(
        instance: &Instance,
        name: &Name,
        template: &DnsTemplate,
    ) -> Result<Self, CompileError> {
        let ttl_of = |kind| template.record(kind).map(|record| record.ttl);
        let srv_ttl = ttl_of(RecordKind::Srv);
        let endpoint = &instance.endpoint;
        let at_name = |kind, data: Option<RData>| -> Result<Option<Box<[u8]>>, CompileError> {
            match (ttl_of(kind), data) {
                (Some(ttl), Some(data)) => Ok(Some(at_qname(&Record::from_rdata(
                    name.clone(),
                    ttl,
                    data,
                ))?)),
                _ => Ok(None),
            }
        };
        let mut wire = Self {
            endpoint: endpoint.clone(),
            weight: endpoint.weight,
            a: at_name(RecordKind::A, endpoint.ipv4.map(|ip| RData::A(A(ip))))?,
            aaaa: at_name(
                RecordKind::Aaaa,
                endpoint.ipv6.map(|ip| RData::AAAA(AAAA(ip))),
            )?,
            srv: None,
            cname: match &endpoint.cname {
                Some(target) => {
                    at_name(RecordKind::Cname, Some(RData::CNAME(CNAME(fqdn(target)?))))?
                }
                None => None,
            },
            glue: Box::default(),
            glue_count: 0,
            own_a: None,
            own_aaaa: None,
        };
        if let Some(srv_ttl) = srv_ttl {
            let target = fqdn(&format!("{}.{name}", instance.id))?;
            if let Some(port) = endpoint.port {
                let srv = SRV::new(1, 1, port, target.clone());
                wire.srv = Some(at_qname(&Record::from_rdata(
                    name.clone(),
                    srv_ttl,
                    RData::SRV(srv),
                ))?);
            }
            // Target names take the address TTLs, or the SRV TTL where the
            // template has no address records of its own.
            let address_ttl = |kind| ttl_of(kind).unwrap_or(srv_ttl);
            let mut glue = Vec::new();
            if let Some(ip) = endpoint.ipv4 {
                let record =
                    Record::from_rdata(target.clone(), address_ttl(RecordKind::A), RData::A(A(ip)));
                wire.own_a = Some(at_qname(&record)?);
                glue.extend(below_qname(&instance.id, &record)?);
                wire.glue_count += 1;
            }
            if let Some(ip) = endpoint.ipv6 {
                let record = Record::from_rdata(
                    target,
                    address_ttl(RecordKind::Aaaa),
                    RData::AAAA(AAAA(ip)),
                );
                wire.own_aaaa = Some(at_qname(&record)?);
                glue.extend(below_qname(&instance.id, &record)?);
                wire.glue_count += 1;
            }
            wire.glue = glue.into_boxed_slice();
        }
        Ok(wire)
    }
}

/// The instances a service answers one record type with, already narrowed
/// to the healthy ones (or to all of them when none is healthy).
#[derive(Debug, Default)]
pub struct Pool {
    pub members: Vec<Arc<InstanceWire>>,
    /// Sum of the members' weights.
    pub total_weight: u64,
}

/// A service compiled for answering.
#[derive(Debug)]
pub struct CompiledService {
    /// The service's name, lower case, wire form.
    pub name: Box<[u8]>,
    pub policy: RoutingPolicy,
    pub revision: u64,
    /// What it was built from: instances are reused only under the same one.
    template: DnsTemplate,
    pub a: Option<Pool>,
    pub aaaa: Option<Pool>,
    pub srv: Option<Pool>,
    pub cname: Option<Pool>,
    /// Lower-case instance id → what the instance contributes.
    pub instances: HashMap<Box<[u8]>, Arc<InstanceWire>, foldhash::fast::RandomState>,
    /// Whether `<id>.<service>` names answer: only the targets of SRV
    /// records do.
    pub names_instances: bool,
}

impl CompiledService {
    /// Compiles a service and its instances, reusing what `previous` (the
    /// same service's last compile) encoded for instances that have not
    /// changed. `None` when the service has no DNS records (API-only).
    pub fn compile(
        view: &ServiceView<'_>,
        previous: Option<&CompiledService>,
    ) -> Result<Option<Self>, CompileError> {
        let Some(template) = &view.service.dns else {
            return Ok(None);
        };
        let name = fqdn(&format!("{}.{}", view.service.name, view.namespace_name))?;
        let wire_name = lowered_name(&name)
            .map_err(failed(&name))?
            .into_boxed_slice();
        let reusable = previous
            .filter(|previous| previous.template == *template && previous.name == wire_name);

        let mut instances =
            HashMap::with_capacity_and_hasher(view.instances.len(), Default::default());
        for instance in view.instances.values() {
            let key: Box<[u8]> = instance.id.to_ascii_lowercase().into_bytes().into();
            let kept = reusable
                .and_then(|previous| previous.instances.get(&key))
                .filter(|wire| wire.endpoint == instance.endpoint)
                .cloned();
            let wire = match kept {
                Some(wire) => wire,
                None => Arc::new(InstanceWire::build(instance, &name, template)?),
            };
            instances.insert(key, wire);
        }

        // Instances that serve traffic, or every instance when none does:
        // never an empty answer that makes a client give up.
        let wire_of = |instance: &Instance| {
            instances
                .get(instance.id.to_ascii_lowercase().as_bytes())
                .cloned()
        };
        let healthy: Vec<Arc<InstanceWire>> = view
            .instances
            .values()
            .filter(|instance| instance.health.serves_traffic())
            .filter_map(wire_of)
            .collect();
        let serving = if healthy.is_empty() {
            view.instances.values().filter_map(wire_of).collect()
        } else {
            healthy
        };
        let pool = |kind: RecordKind| {
            template.has(kind).then(|| {
                let members: Vec<Arc<InstanceWire>> = serving
                    .iter()
                    .filter(|wire| wire.record(kind).is_some())
                    .cloned()
                    .collect();
                let total_weight = members.iter().map(|wire| u64::from(wire.weight)).sum();
                Pool {
                    members,
                    total_weight,
                }
            })
        };

        Ok(Some(Self {
            name: wire_name,
            policy: template.routing_policy,
            revision: view.service.revision,
            a: pool(RecordKind::A),
            aaaa: pool(RecordKind::Aaaa),
            srv: pool(RecordKind::Srv),
            cname: pool(RecordKind::Cname),
            names_instances: template.has(RecordKind::Srv),
            template: template.clone(),
            instances,
        }))
    }
}
