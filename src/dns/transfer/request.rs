//! Reading a transfer request: an AXFR, or an IXFR with the client's SOA in
//! its authority section (RFC 1995 §3), which the query reader of the
//! answer path would call malformed.

use crate::dns::wire::{ClientEdns, HEADER_LEN, MAX_NAME_LEN, TYPE_SOA, Tsig, read_additional};

pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
const CLASS_IN: u16 = 1;

/// A transfer request whose header and question were read.
#[derive(Debug)]
pub struct Request {
    pub id: u16,
    /// RD, echoed.
    pub rd: bool,
    /// The zone asked for, lower case, wire form.
    lowered: [u8; MAX_NAME_LEN],
    name_len: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub question_end: usize,
    /// For IXFR, the serial of the client's SOA.
    pub client_serial: Option<u32>,
    pub edns: Option<ClientEdns>,
    pub tsig: Option<Tsig>,
}

impl Request {
    pub fn zone(&self) -> &[u8] {
        &self.lowered[..self.name_len]
    }

    pub fn is_internet(&self) -> bool {
        self.qclass == CLASS_IN
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// The question's type when `query` is a standard query for AXFR or IXFR:
/// a look at the header and the question's labels, for every TCP query.
pub fn transfer_type(query: &[u8]) -> Option<u16> {
    // QR clear and opcode QUERY.
    if query.get(2)? & 0xf8 != 0 {
        return None;
    }
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*query.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    u16_at(query, at).filter(|&qtype| matches!(qtype, TYPE_AXFR | TYPE_IXFR))
}

/// Skips a name that may end in a compression pointer.
pub(super) fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *bytes.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(len),
            0xc0.. => {
                bytes.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
}

/// Reads a transfer request; `None` when it is not one cairn can read (the
/// answer path then answers it as it answers any query).
pub fn read(query: &[u8]) -> Option<Request> {
    let header = query.get(..HEADER_LEN)?;
    let count = |at| u16::from_be_bytes([header[at], header[at + 1]]);
    let (questions, answers, authorities, additionals) = (count(4), count(6), count(8), count(10));
    if questions != 1 || answers != 0 || authorities > 1 {
        return None;
    }
    let mut lowered = [0u8; MAX_NAME_LEN];
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*query.get(at)?);
        let end = at + 1 + len;
        if len > 63 || end - HEADER_LEN > MAX_NAME_LEN {
            return None;
        }
        let out = &mut lowered[at - HEADER_LEN..end - HEADER_LEN];
        out.copy_from_slice(query.get(at..end)?);
        out.make_ascii_lowercase();
        at = end;
        if len == 0 {
            break;
        }
    }
    let name_len = at - HEADER_LEN;
    let qtype = u16_at(query, at)?;
    let qclass = u16_at(query, at + 2)?;
    let question_end = at + 4;
    let mut at = question_end;
    let mut client_serial = None;
    if authorities == 1 {
        // The client's SOA: only its serial matters, the fifth-to-last
        // 32-bit field of its RDATA.
        let owner_end = skip_name(query, at)?;
        let rtype = u16_at(query, owner_end)?;
        let rdata_len = usize::from(u16_at(query, owner_end + 8)?);
        let rdata_end = owner_end + 10 + rdata_len;
        if rtype != TYPE_SOA || qtype != TYPE_IXFR || rdata_len < 20 {
            return None;
        }
        let serial = query.get(rdata_end - 20..rdata_end - 16)?;
        client_serial = Some(u32::from_be_bytes(serial.try_into().ok()?));
        at = rdata_end;
    }
    let additional = read_additional(query, at, additionals)?;
    Some(Request {
        id: u16::from_be_bytes([header[0], header[1]]),
        rd: header[2] & 0x01 != 0,
        lowered,
        name_len,
        qtype,
        qclass,
        question_end,
        client_serial,
        edns: additional.edns,
        tsig: additional.tsig,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qtype: u16, authority: Option<&[u8]>) -> Vec<u8> {
        let mut bytes = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(b"\x03Svc\x08internal\x00");
        bytes.extend_from_slice(&qtype.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        if let Some(rdata) = authority {
            bytes[9] = 1;
            bytes.extend_from_slice(&[0xc0, 0x0c]);
            bytes.extend_from_slice(&TYPE_SOA.to_be_bytes());
            bytes.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            bytes.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            bytes.extend_from_slice(rdata);
        }
        bytes
    }

    #[test]
    fn axfr_and_ixfr_are_told_apart_from_other_queries() {
        assert_eq!(transfer_type(&query(TYPE_AXFR, None)), Some(TYPE_AXFR));
        assert_eq!(transfer_type(&query(TYPE_IXFR, None)), Some(TYPE_IXFR));
        assert_eq!(transfer_type(&query(1, None)), None);
        let mut response = query(TYPE_AXFR, None);
        response[2] |= 0x80;
        assert_eq!(transfer_type(&response), None);
        assert_eq!(transfer_type(&[0; 5]), None);
    }

    #[test]
    fn ixfr_carries_the_clients_serial() {
        let mut rdata = b"\x00\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
        let request = read(&query(TYPE_IXFR, Some(&rdata))).unwrap();
        assert_eq!(request.client_serial, Some(42));
        assert_eq!(request.zone(), b"\x03svc\x08internal\x00");
        assert!(request.rd);
        assert_eq!(read(&query(TYPE_AXFR, None)).unwrap().client_serial, None);
        // An SOA cut short, or one under an AXFR, is not a request.
        assert!(read(&query(TYPE_IXFR, Some(&rdata[..10]))).is_none());
        assert!(read(&query(TYPE_AXFR, Some(&rdata))).is_none());
    }
}
