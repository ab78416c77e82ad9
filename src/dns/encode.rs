//! The one place DNS records are encoded, by hickory-proto: names and
//! records in, the bytes the answer path copies out. Only the writers'
//! side (`compile`, `instance`) calls it, once per change.
//!
//! Every record is encoded as its *tail*: the bytes after its owner name
//! (type, class, TTL, RDATA length, RDATA), with names inside the RDATA
//! uncompressed so the bytes can go anywhere in a message. The owner is
//! written at answer time, as a compression pointer into the question.
//!
//! No other file of `dns/` imports `hickory_*`: the answer path
//! (`wire`, `answer`) reads and writes its few fixed fields by hand.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

/// Registry state the DNS encoder refused: a name hickory would not take.
/// The registry validates names first, so this means the two disagree; the
/// change is logged and the previous records stay.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode DNS data for '{name}': {reason}")]
pub struct EncodeError {
    name: String,
    reason: String,
}

impl EncodeError {
    /// `name`'s data cannot be encoded, for `reason`.
    pub fn at(name: &Fqdn, reason: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}

/// A fully qualified name, case kept, as records carry it.
#[derive(Debug, Clone)]
pub struct Fqdn(Name);

impl Fqdn {
    /// Reads a dotted name; the trailing dot is optional.
    pub fn parse(text: &str) -> Result<Self, EncodeError> {
        let text = if text.ends_with('.') {
            text.to_string()
        } else {
            format!("{text}.")
        };
        match Name::from_ascii(&text) {
            Ok(name) => Ok(Self(name)),
            Err(error) => Err(EncodeError {
                name: text,
                reason: error.to_string(),
            }),
        }
    }

    /// The lower-case wire form: how the name table keys it.
    pub fn lowered_wire(&self) -> Result<Box<[u8]>, EncodeError> {
        match self.0.to_lowercase().to_bytes() {
            Ok(bytes) => Ok(bytes.into_boxed_slice()),
            Err(error) => Err(EncodeError::at(self, error.to_string())),
        }
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A zone's SOA data. Its timers are `u32` as the registry keeps them.
pub struct Soa {
    pub mname: Fqdn,
    pub rname: Fqdn,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// hickory types REFRESH, RETRY and EXPIRE as `i32`; RFC 1035 has them
/// unsigned, so larger values are capped rather than wrapped.
fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The SOA at `owner`, encoded twice: with `ttl` for answers, and with
/// `negative_ttl` for the authority section of negative answers.
pub fn soa_tails(
    owner: &Fqdn,
    soa: Soa,
    ttl: u32,
    negative_ttl: u32,
) -> Result<(Vec<u8>, Vec<u8>), EncodeError> {
    let data = SOA::new(
        soa.mname.0,
        soa.rname.0,
        soa.serial,
        to_i32(soa.refresh),
        to_i32(soa.retry),
        to_i32(soa.expire),
        soa.minimum,
    );
    let mut record = Record::from_rdata(owner.0.clone(), ttl, RData::SOA(data));
    let answer = tail(&record).map_err(|reason| EncodeError::at(owner, reason))?;
    record.ttl = negative_ttl;
    let negative = tail(&record).map_err(|reason| EncodeError::at(owner, reason))?;
    Ok((answer, negative))
}

/// An NS record at `owner` naming `server`.
pub fn ns_tail(owner: &Fqdn, ttl: u32, server: Fqdn) -> Result<Vec<u8>, EncodeError> {
    owned_tail(owner, ttl, RData::NS(NS(server.0)))
}

/// An A record at `owner`.
pub fn a_tail(owner: &Fqdn, ttl: u32, ip: Ipv4Addr) -> Result<Vec<u8>, EncodeError> {
    owned_tail(owner, ttl, RData::A(A(ip)))
}

/// An AAAA record at `owner`.
pub fn aaaa_tail(owner: &Fqdn, ttl: u32, ip: Ipv6Addr) -> Result<Vec<u8>, EncodeError> {
    owned_tail(owner, ttl, RData::AAAA(AAAA(ip)))
}

/// An SRV record at `owner`, priority 1 and weight 1 as Cloud Map answers.
pub fn srv_tail(owner: &Fqdn, ttl: u32, port: u16, target: Fqdn) -> Result<Vec<u8>, EncodeError> {
    owned_tail(owner, ttl, RData::SRV(SRV::new(1, 1, port, target.0)))
}

/// A CNAME record pointing at `target`. The tail does not depend on the
/// owner, so none is asked for; an error names the target.
pub fn cname_tail(ttl: u32, target: Fqdn) -> Result<Vec<u8>, EncodeError> {
    let record = Record::from_rdata(Name::root(), ttl, RData::CNAME(CNAME(target.0.clone())));
    tail(&record).map_err(|reason| EncodeError::at(&target, reason))
}

fn owned_tail(owner: &Fqdn, ttl: u32, data: RData) -> Result<Vec<u8>, EncodeError> {
    tail(&Record::from_rdata(owner.0.clone(), ttl, data))
        .map_err(|reason| EncodeError::at(owner, reason))
}

/// Everything after the record's owner name.
fn tail(record: &Record) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(64);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    record
        .emit(&mut encoder)
        .map_err(|error| error.to_string())?;
    let owner_len = record
        .name
        .to_bytes()
        .map_err(|error| error.to_string())?
        .len();
    Ok(bytes.split_off(owner_len))
}
