//! What the answer core cannot do over UDP, for secondaries: an IXFR from
//! a client allowed to transfer gets the zone's SOA alone (RFC 1995 §2: up
//! to date, or "come over TCP"), which is how NSD checks its zones on each
//! refresh; and, when cairn holds keys, a signed query is verified,
//! answered and signed.
//!
//! The UDP worker calls this only for a reply the core refused (REFUSED,
//! NOTAUTH, or FORMERR: an IXFR's SOA in the authority section is
//! malformed to a plain query), so an ordinary answer costs one byte
//! compare.

use std::net::IpAddr;

use super::request::{self, TYPE_IXFR};
use super::{TransferPolicy, echo_flags, tsig, unix_time};
use crate::dns::answer::{Transport, respond};
use crate::dns::names::{NameTable, Node};
use crate::dns::wire::{HEADER_LEN, Rcode, ResponseWriter, read_query};

/// Whether `response` (the core's reply to `query`) is one this module may
/// replace: FORMERR, REFUSED or NOTAUTH.
pub fn may_replace(response: &[u8]) -> bool {
    matches!(response.get(3).map(|flags| flags & 0x0f), Some(1 | 5 | 9))
}

/// Replaces `response` with the reply cairn owes a secondary, when there
/// is one; `false` leaves the core's reply as it is.
pub fn answer(
    table: &NameTable,
    query: &[u8],
    client: IpAddr,
    policy: &TransferPolicy,
    max_udp_payload: u16,
    response: &mut Vec<u8>,
) -> bool {
    if request::transfer_type(query) == Some(TYPE_IXFR) {
        return ixfr(table, query, client, policy, response);
    }
    policy.holds_keys() && signed(table, query, client, policy, max_udp_payload, response)
}

fn ixfr(
    table: &NameTable,
    query: &[u8],
    client: IpAddr,
    policy: &TransferPolicy,
    response: &mut Vec<u8>,
) -> bool {
    let Some(request) = request::read(query) else {
        return false;
    };
    if !request.is_internet() {
        return false;
    }
    let mut signer = match &request.tsig {
        None => None,
        Some(tsig) => match tsig::verify(&policy.keys, query, tsig, unix_time()) {
            Ok(signer) => Some(signer),
            Err(_) => return false,
        },
    };
    let client = client.to_canonical();
    if !policy.allows(client, signer.as_ref()) {
        return false;
    }
    let Some(apex) = table
        .names()
        .node(request.zone())
        .and_then(|node| match node.value() {
            Node::Apex(zone) => Some(zone.apex.load_full()),
            _ => None,
        })
    else {
        return false;
    };
    if !apex.allows(client) {
        return false;
    }
    let Some(question) = query.get(HEADER_LEN..request.question_end) else {
        return false;
    };
    response.clear();
    response.extend_from_slice(&request.id.to_be_bytes());
    response.extend_from_slice(&[0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    response.extend_from_slice(question);
    // The SOA is kept owned by a pointer to the question's name.
    response.extend_from_slice(&apex.soa_answer);
    echo_flags(response, query);
    if let Some(signer) = &mut signer {
        signer.sign(response, None, &[]);
    }
    true
}

fn signed(
    table: &NameTable,
    query: &[u8],
    client: IpAddr,
    policy: &TransferPolicy,
    max_udp_payload: u16,
    response: &mut Vec<u8>,
) -> bool {
    let Ok(question) = read_query(query) else {
        return false;
    };
    let Some(tsig) = &question.tsig else {
        return false;
    };
    let opt = question.edns.map(|_| (max_udp_payload, 0));
    let mut signer = match tsig::verify(&policy.keys, query, tsig, unix_time()) {
        Ok(signer) => signer,
        Err(failure) => {
            let mut buf = Vec::with_capacity(256);
            let mut writer = ResponseWriter::bare(&mut buf, query, Some(question.question_end));
            writer.set_rcode(Rcode::NotAuth);
            *response = super::tsig_failure(writer, query, tsig, failure, opt);
            return true;
        }
    };
    let mut unsigned = query[..tsig.record_start].to_vec();
    let additionals = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
    unsigned[10..12].copy_from_slice(&additionals.to_be_bytes());
    let mut buf = Vec::with_capacity(usize::from(max_udp_payload));
    let Some(answer) = respond(
        table,
        &unsigned,
        client,
        Transport::Udp,
        max_udp_payload,
        &mut buf,
    ) else {
        return false;
    };
    response.clear();
    response.extend_from_slice(answer);
    // The TSIG may take the reply past the client's buffer; replies to
    // signed queries are SOA checks, far below it.
    signer.sign(response, None, &[]);
    true
}
