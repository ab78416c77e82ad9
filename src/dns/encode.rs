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

use hickory_proto::ProtoError;
#[cfg(test)]
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData};
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
        let parsed = if text.ends_with('.') {
            Name::from_ascii(text)
        } else {
            Name::from_ascii(format!("{text}."))
        };
        match parsed {
            Ok(name) => Ok(Self(name)),
            Err(error) => Err(EncodeError {
                name: text.to_string(),
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
    let data = RData::SOA(data);
    let answer = owned_tail(owner, ttl, &data)?;
    let negative = owned_tail(owner, negative_ttl, &data)?;
    Ok((answer, negative))
}

/// An NS record at `owner` naming `server`.
pub fn ns_tail(owner: &Fqdn, ttl: u32, server: Fqdn) -> Result<Vec<u8>, EncodeError> {
    owned_tail(owner, ttl, &RData::NS(NS(server.0)))
}

/// Appends an A record's tail to `out`; `owner` names it in an error.
pub fn append_a(
    out: &mut Vec<u8>,
    owner: &Fqdn,
    ttl: u32,
    ip: Ipv4Addr,
) -> Result<(), EncodeError> {
    append_tail(out, ttl, &RData::A(A(ip))).map_err(|reason| EncodeError::at(owner, reason))
}

/// Appends an AAAA record's tail to `out`; `owner` names it in an error.
pub fn append_aaaa(
    out: &mut Vec<u8>,
    owner: &Fqdn,
    ttl: u32,
    ip: Ipv6Addr,
) -> Result<(), EncodeError> {
    append_tail(out, ttl, &RData::AAAA(AAAA(ip))).map_err(|reason| EncodeError::at(owner, reason))
}

/// Appends an SRV record's tail to `out`, priority 1 and weight 1 as Cloud
/// Map answers; `owner` names it in an error.
pub fn append_srv(
    out: &mut Vec<u8>,
    owner: &Fqdn,
    ttl: u32,
    port: u16,
    target: Fqdn,
) -> Result<(), EncodeError> {
    append_tail(out, ttl, &RData::SRV(SRV::new(1, 1, port, target.0)))
        .map_err(|reason| EncodeError::at(owner, reason))
}

/// Appends a CNAME record's tail pointing at `target` to `out`. The tail
/// does not depend on the owner, so none is asked for; an error names the
/// target.
pub fn append_cname(out: &mut Vec<u8>, ttl: u32, target: Fqdn) -> Result<(), EncodeError> {
    let data = RData::CNAME(CNAME(target.0.clone()));
    append_tail(out, ttl, &data).map_err(|reason| EncodeError::at(&target, reason))
}

fn owned_tail(owner: &Fqdn, ttl: u32, data: &RData) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = Vec::new();
    append_tail(&mut bytes, ttl, data).map_err(|reason| EncodeError::at(owner, reason))?;
    Ok(bytes)
}

/// Appends everything of a record after its owner name to `out`: the
/// fields hickory writes after the name in `Record::emit`, in its order,
/// by its encoder. The owner is left out rather than encoded and cut off:
/// building, encoding and cutting an owner name took half of encoding an
/// instance's records (perf, a restart of 1,000,000 instances).
fn append_tail(out: &mut Vec<u8>, ttl: u32, data: &RData) -> Result<(), String> {
    let start = u32::try_from(out.len()).map_err(|_| "records longer than 4 GiB".to_string())?;
    let mut encoder = BinEncoder::with_offset(out, start);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    let emitted = (|| {
        data.record_type().emit(&mut encoder)?;
        DNSClass::IN.emit(&mut encoder)?;
        encoder.emit_u32(ttl)?;
        let length = encoder.place::<u16>()?;
        data.emit(&mut encoder)?;
        let written = encoder.len_since_place(&length);
        let written = u16::try_from(written)
            .map_err(|_| ProtoError::from(format!("RDATA of {written} bytes")))?;
        length.replace(&mut encoder, written)
    })();
    emitted.map_err(|error| error.to_string())
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Everything after the owner name of the whole record hickory
    /// encodes: what each tail must equal.
    fn whole_record_tail(owner: &Fqdn, ttl: u32, data: RData) -> Vec<u8> {
        let record = Record::from_rdata(owner.0.clone(), ttl, data);
        let mut bytes = Vec::new();
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record
            .emit(&mut encoder)
            .expect("hickory encodes the record");
        let owner_len = record.name.to_bytes().expect("the owner's wire form").len();
        bytes.split_off(owner_len)
    }

    fn name(text: &str) -> Fqdn {
        Fqdn::parse(text).expect("a valid name")
    }

    #[test]
    fn every_tail_is_the_whole_record_hickory_encodes_after_its_owner() {
        let owner = name("Web.Shop.Example");
        let target = name("i-1.Web.Shop.Example.");
        let ipv4 = Ipv4Addr::new(192, 0, 2, 7);
        let ipv6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
        let mut out = b"kept".to_vec();
        append_a(&mut out, &owner, 60, ipv4).expect("A");
        assert_eq!(&out[..4], b"kept", "appending keeps what was there");
        assert_eq!(out[4..], whole_record_tail(&owner, 60, RData::A(A(ipv4))));

        let appended = |append: &dyn Fn(&mut Vec<u8>) -> Result<(), EncodeError>| {
            let mut out = Vec::new();
            append(&mut out).expect("encoded");
            out
        };
        let tails: [(Vec<u8>, RData); 4] = [
            (
                appended(&|out| append_aaaa(out, &owner, 300, ipv6)),
                RData::AAAA(AAAA(ipv6)),
            ),
            (
                appended(&|out| append_srv(out, &owner, 30, 8080, target.clone())),
                RData::SRV(SRV::new(1, 1, 8080, target.0.clone())),
            ),
            (
                appended(&|out| append_cname(out, u32::MAX, target.clone())),
                RData::CNAME(CNAME(target.0.clone())),
            ),
            (
                ns_tail(&owner, 86_400, target.clone()).expect("NS"),
                RData::NS(NS(target.0.clone())),
            ),
        ];
        for (tail, data) in tails {
            let ttl = u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]);
            assert_eq!(tail, whole_record_tail(&owner, ttl, data));
        }

        let soa = || Soa {
            mname: name("ns.example"),
            rname: name("hostmaster.example"),
            serial: 7,
            refresh: 3_600,
            retry: 600,
            expire: u32::MAX,
            minimum: 60,
        };
        let (answer, negative) = soa_tails(&owner, soa(), 300, 60).expect("SOA");
        let data = RData::SOA(SOA::new(
            name("ns.example").0,
            name("hostmaster.example").0,
            7,
            3_600,
            600,
            i32::MAX,
            60,
        ));
        assert_eq!(answer, whole_record_tail(&owner, 300, data.clone()));
        assert_eq!(negative, whole_record_tail(&owner, 60, data));
    }
}
