//! One instance's share of its service's answers, encoded once into a single
//! shared buffer. A cairn serving a million instances holds a million of
//! these, so the layout is about bytes: one allocation per instance, no
//! copy of the registry's `Endpoint`, and records that are the same bytes
//! stored once.
//!
//! The buffer starts with a fixed header — the weight and a `(start, end)`
//! pair of `u16` offsets per [`Part`] — followed by the parts' bytes. Each
//! record starts with two placeholder bytes for its owner, which the
//! response writer turns into a compression pointer to a name already in
//! the message: the question's, a CNAME target's, or — for the SRV glue —
//! the SRV record's own target. So the target's own answers
//! (`<id>.<service>` A/AAAA) and its glue in an SRV answer are the same
//! bytes, and the id is a slice of the SRV record's target.

use std::sync::Arc;

use super::encode::{self, EncodeError, Fqdn};
use super::wire::POINTER_TO_QNAME;
use crate::registry::{Instance, RecordKind};

/// The TTL of each record type a service's template has: all an
/// instance's encoding depends on besides its endpoint and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ttls([Option<u32>; 4]);

impl Ttls {
    pub fn of(template: &crate::registry::DnsTemplate) -> Self {
        Self(KINDS.map(|kind| template.record(kind).map(|record| record.ttl)))
    }

    pub fn get(&self, kind: RecordKind) -> Option<u32> {
        self.0[slot(kind)]
    }

    pub fn has(&self, kind: RecordKind) -> bool {
        self.get(kind).is_some()
    }

    /// The TTL of the instance's address records of this kind, if it gets
    /// any: at the service name, or as an SRV target where the template has
    /// no address records of its own (then they take the SRV TTL).
    fn address(&self, kind: RecordKind) -> Option<u32> {
        self.get(kind).or(self.get(RecordKind::Srv))
    }
}

/// Every record kind, each at its [`slot`].
pub const KINDS: [RecordKind; 4] = [
    RecordKind::A,
    RecordKind::Aaaa,
    RecordKind::Srv,
    RecordKind::Cname,
];

/// A record kind's index in per-kind arrays.
pub fn slot(kind: RecordKind) -> usize {
    match kind {
        RecordKind::A => 0,
        RecordKind::Aaaa => 1,
        RecordKind::Srv => 2,
        RecordKind::Cname => 3,
    }
}

/// The byte ranges an instance's buffer holds. An empty range is a part
/// the instance does not have.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The instance id as registered: the key it is found by.
    Id,
    /// Each record at the question's name, pointer and tail.
    A,
    Aaaa,
    Srv,
    Cname,
}

const PARTS: usize = 5;
const WEIGHT_AT: usize = 0;
const RANGES_AT: usize = 4;
const HEADER_LEN: usize = RANGES_AT + 4 * PARTS;

/// Where RDATA starts in a record kept as pointer + tail: the pointer, then
/// type, class, TTL and RDATA length.
pub const RDATA_AT: usize = 2 + 10;
/// An SRV's port within its RDATA, after priority and weight.
const SRV_PORT_AT: usize = 4;
/// Where a CNAME record's target name starts, from the record's start.
pub const CNAME_TARGET_AT: usize = RDATA_AT;
/// Where an SRV record's target name starts, from the record's start.
pub const SRV_TARGET_AT: usize = RDATA_AT + SRV_PORT_AT + 2;

/// Everything one instance contributes to its service's answers. A
/// recompile reuses it while the instance and the template are unchanged,
/// so a change to one instance costs one encoding, not one per instance of
/// the service. Cloning shares the buffer.
#[derive(Debug, Clone)]
pub struct InstanceWire(Arc<[u8]>);

impl InstanceWire {
    fn header(&self) -> &[u8; HEADER_LEN] {
        // Every buffer starts with a header (`Builder::new`); the fallback
        // reads as "no parts".
        self.0.first_chunk().unwrap_or(&[0; HEADER_LEN])
    }

    #[inline(always)]
    fn part(&self, part: Part) -> &[u8] {
        let header = self.header();
        let at = RANGES_AT + 4 * part as usize;
        let start = u16::from_le_bytes([header[at], header[at + 1]]);
        let end = u16::from_le_bytes([header[at + 2], header[at + 3]]);
        self.0
            .get(usize::from(start)..usize::from(end))
            .unwrap_or_default()
    }

    /// The instance id as registered.
    pub fn id(&self) -> &[u8] {
        self.part(Part::Id)
    }

    /// Relative weight for WEIGHTED services.
    pub fn weight(&self) -> u32 {
        let header = self.header();
        u32::from_le_bytes([
            header[WEIGHT_AT],
            header[WEIGHT_AT + 1],
            header[WEIGHT_AT + 2],
            header[WEIGHT_AT + 3],
        ])
    }

    /// Its record of this type at the service name, if it has one. The
    /// instance's own name (`<id>.<service>`, for services with SRV
    /// records) has the same A and AAAA answers: they are asked for with
    /// the same pointer to the question's name.
    pub fn record(&self, kind: RecordKind) -> Option<&[u8]> {
        // One arm per kind, so each reads its offsets at a constant place.
        let record = match kind {
            RecordKind::A => self.part(Part::A),
            RecordKind::Aaaa => self.part(Part::Aaaa),
            RecordKind::Srv => self.part(Part::Srv),
            RecordKind::Cname => self.part(Part::Cname),
        };
        Some(record).filter(|bytes| !bytes.is_empty())
    }

    /// For SRV: the target's A and AAAA records for the additional section
    /// (the same bytes as its own-name answers), packed at the front, and
    /// how many there are.
    pub fn glue(&self) -> ([&[u8]; 2], usize) {
        let mut records: [&[u8]; 2] = [&[], &[]];
        let mut count = 0;
        for part in [Part::A, Part::Aaaa] {
            let record = self.part(part);
            if !record.is_empty() {
                records[count] = record;
                count += 1;
            }
        }
        (records, count)
    }

    /// Whether building from `instance` under `ttls` would give these same
    /// bytes, judged from the bytes themselves: the addresses, port and
    /// CNAME target are in the records' RDATA. Only called for the same
    /// service name.
    pub fn encodes(&self, instance: &Instance, ttls: &Ttls) -> Result<bool, EncodeError> {
        let endpoint = &instance.endpoint;
        let rdata = |part| self.part(part).get(RDATA_AT..);
        let ipv4 = endpoint
            .ipv4
            .filter(|_| ttls.address(RecordKind::A).is_some())
            .map(|ip| ip.octets());
        let ipv6 = endpoint
            .ipv6
            .filter(|_| ttls.address(RecordKind::Aaaa).is_some())
            .map(|ip| ip.octets());
        let port = endpoint
            .port
            .filter(|_| ttls.has(RecordKind::Srv))
            .map(u16::to_be_bytes);
        let same = self.id() == instance.id.as_bytes()
            && self.weight() == endpoint.weight
            && rdata(Part::A) == ipv4.as_ref().map(|ip| &ip[..])
            && rdata(Part::Aaaa) == ipv6.as_ref().map(|ip| &ip[..])
            && rdata(Part::Srv).and_then(|srv| srv.get(SRV_PORT_AT..SRV_PORT_AT + 2))
                == port.as_ref().map(|port| &port[..]);
        if !same {
            return Ok(false);
        }
        let cname = match (ttls.get(RecordKind::Cname), &endpoint.cname) {
            (Some(ttl), Some(target)) => Some(cname_tail(ttl, target)?),
            _ => None,
        };
        Ok(self.part(Part::Cname).get(POINTER_TO_QNAME.len()..) == cname.as_deref())
    }

    #[cfg(test)]
    pub fn shares_buffer(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Encodes `instance` for the service called `name`.
    pub fn build(instance: &Instance, name: &Fqdn, ttls: &Ttls) -> Result<Self, EncodeError> {
        let endpoint = &instance.endpoint;
        let id = instance.id.as_bytes();
        let mut buffer = Builder::new();
        if let (Some(ttl), Some(ip)) = (ttls.address(RecordKind::A), endpoint.ipv4) {
            buffer.record(Part::A, |out| encode::append_a(out, name, ttl, ip))?;
        }
        if let (Some(ttl), Some(ip)) = (ttls.address(RecordKind::Aaaa), endpoint.ipv6) {
            buffer.record(Part::Aaaa, |out| encode::append_aaaa(out, name, ttl, ip))?;
        }
        match (ttls.get(RecordKind::Srv), endpoint.port) {
            (Some(ttl), Some(port)) => {
                let target = Fqdn::parse(&format!("{}.{name}", instance.id))?;
                let start = buffer.len();
                buffer.record(Part::Srv, |out| {
                    encode::append_srv(out, name, ttl, port, target)
                })?;
                // The target's first label is the id, as registered.
                let id_at = start + SRV_TARGET_AT + 1;
                buffer.ranges[Part::Id as usize] = (id_at, id_at + id.len());
            }
            _ => buffer.push(Part::Id, id),
        }
        if let (Some(ttl), Some(target)) = (ttls.get(RecordKind::Cname), &endpoint.cname) {
            let target = Fqdn::parse(target)?;
            buffer.record(Part::Cname, |out| encode::append_cname(out, ttl, target))?;
        }
        buffer
            .finish(endpoint.weight)
            .map_err(|_| EncodeError::at(name, "records longer than 64 KiB"))
    }
}

fn cname_tail(ttl: u32, target: &str) -> Result<Vec<u8>, EncodeError> {
    let mut tail = Vec::new();
    encode::append_cname(&mut tail, ttl, Fqdn::parse(target)?)?;
    Ok(tail)
}

/// A buffer being laid out: the header's room, then parts appended one
/// after another.
struct Builder {
    bytes: Vec<u8>,
    ranges: [(usize, usize); PARTS],
}

impl Builder {
    fn new() -> Self {
        // hickory's encoder reserves 512 bytes before it writes: taken at
        // once, the buffer is allocated once.
        let mut bytes = Vec::with_capacity(512);
        bytes.resize(HEADER_LEN, 0);
        Self {
            bytes,
            ranges: [(0, 0); PARTS],
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends `bytes` as `part`.
    fn push(&mut self, part: Part, bytes: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.ranges[part as usize] = (start, self.bytes.len());
    }

    /// Appends a record as `part`: the owner's placeholder, then the tail
    /// `encode` appends.
    fn record(
        &mut self,
        part: Part,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&POINTER_TO_QNAME);
        encode(&mut self.bytes)?;
        self.ranges[part as usize] = (start, self.bytes.len());
        Ok(())
    }

    /// Writes the header; fails when an offset does not fit in 16 bits.
    fn finish(mut self, weight: u32) -> Result<InstanceWire, std::num::TryFromIntError> {
        self.bytes[WEIGHT_AT..WEIGHT_AT + 4].copy_from_slice(&weight.to_le_bytes());
        for (index, (start, end)) in self.ranges.into_iter().enumerate() {
            let at = RANGES_AT + 4 * index;
            self.bytes[at..at + 2].copy_from_slice(&u16::try_from(start)?.to_le_bytes());
            self.bytes[at + 2..at + 4].copy_from_slice(&u16::try_from(end)?.to_le_bytes());
        }
        Ok(InstanceWire(self.bytes.into()))
    }
}
