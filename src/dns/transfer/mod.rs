//! Zone transfers to secondaries: AXFR and IXFR over TCP (RFC 5936, RFC
//! 1995), streamed from a connection's task in messages of bounded size,
//! and NOTIFY when a zone changes ([`notify`], RFC 1996).
//!
//! A transfer is the one DNS answer that is many messages, so it is not
//! the sans-IO [`respond`](super::answer::respond): the TCP task asks
//! [`transfer_type`] about each query (a look at the question's labels) and
//! hands transfers here. Nothing here runs for other queries, nor over UDP,
//! where the answer path refuses AXFR and IXFR.

mod axfr;
pub mod notify;
mod request;

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncWrite, AsyncWriteExt};

pub use self::request::transfer_type;
use self::request::{Request, TYPE_IXFR};
use super::names::NameTable;
use super::wire::{Rcode, ResponseWriter};

/// Who may transfer zones.
#[derive(Debug, Clone, Default)]
pub struct TransferPolicy {
    /// Clients allowed to transfer any zone they may query; empty: nobody.
    pub allow: Vec<IpNet>,
}

impl TransferPolicy {
    fn allows(&self, client: IpAddr) -> bool {
        self.allow.iter().any(|network| network.contains(&client))
    }
}

/// A transfer's messages stay below this many bytes, as Knot's (about
/// 16 KiB), which also keeps every name in reach of a compression pointer.
const MESSAGE_LIMIT: usize = 16_000;

/// How a transfer request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not a request this module reads: answer it as any other query.
    NotMine,
    /// Answered (the zone, or a refusal); the connection goes on.
    Answered,
    /// The client stopped reading, or went away: close the connection.
    Closed,
}

/// Answers a transfer request read from a TCP connection, writing each
/// message (length-prefixed) to `stream`, each within `write_timeout`.
///
/// Refused alike, byte for byte: a zone cairn does not serve, a name that
/// is not a zone's apex, a client the policy does not allow, and a private
/// zone that does not answer the client — so a refusal tells nothing about
/// what cairn serves.
pub async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    query: &[u8],
    client: IpAddr,
    table: &NameTable,
    policy: &TransferPolicy,
    max_udp_payload: u16,
    write_timeout: Duration,
) -> Outcome {
    let Some(request) = request::read(query) else {
        return Outcome::NotMine;
    };
    if request.tsig.is_some() || !request.is_internet() {
        // Signed requests get the answer path's BADKEY until cairn holds
        // keys; other classes its REFUSED.
        return Outcome::NotMine;
    }
    let client = client.to_canonical();
    let zone = policy
        .allows(client)
        .then(|| table.zone_snapshot(request.zone()))
        .flatten()
        .filter(|zone| zone.apex.allows(client));
    let Some(zone) = zone else {
        let mut buf = Vec::with_capacity(request.question_end + 11);
        let refusal = refusal(&mut buf, query, &request, max_udp_payload);
        return send(stream, &mut Vec::new(), refusal, write_timeout).await;
    };
    let serial = zone.apex.serial as u32;
    let flags = 0x8400 | if request.rd { 0x0100 } else { 0 };
    let Some(question) = query.get(super::wire::HEADER_LEN..request.question_end) else {
        return Outcome::NotMine;
    };
    let mut builder = axfr::MessageBuilder::new(
        request.id,
        flags,
        question,
        zone.apex.origin.len(),
        MESSAGE_LIMIT,
    );
    let mut frame = Vec::with_capacity(MESSAGE_LIMIT + 2);
    let up_to_date = request.qtype == TYPE_IXFR
        && request
            .client_serial
            .is_some_and(|client_serial| !serial_lt(client_serial, serial));
    if up_to_date {
        // RFC 1995 §2: the current SOA alone says "nothing newer".
        builder.push((axfr::Owner::Apex, &zone.apex.soa_answer));
        return send(stream, &mut frame, builder.finish(), write_timeout).await;
    }
    // No history of changes is kept yet, so every IXFR is answered in AXFR
    // form (RFC 1995 §4), which NSD and Knot both accept.
    let (mut records, mut messages) = (0u64, 0u64);
    let mut zone_records = axfr::records(&zone).peekable();
    while let Some(&record) = zone_records.peek() {
        if builder.push(record) {
            zone_records.next();
            continue;
        }
        if builder.count() == 0 {
            // A record larger than a message cannot be: records are short.
            tracing::error!(client = %client, "zone transfer stopped: a record does not fit a message");
            return Outcome::Closed;
        }
        records += u64::from(builder.count());
        messages += 1;
        if send(stream, &mut frame, builder.finish(), write_timeout).await == Outcome::Closed {
            return Outcome::Closed;
        }
        builder.next_message();
    }
    records += u64::from(builder.count());
    messages += 1;
    let outcome = send(stream, &mut frame, builder.finish(), write_timeout).await;
    tracing::info!(
        client = %client,
        serial,
        records,
        messages,
        ixfr = request.qtype == TYPE_IXFR,
        completed = outcome == Outcome::Answered,
        "zone transfer"
    );
    outcome
}

/// `a` comes before `b` in serial number arithmetic (RFC 1982 §3.2).
pub fn serial_lt(a: u32, b: u32) -> bool {
    a != b && (b.wrapping_sub(a) as i32) > 0
}

/// REFUSED with the question, and an OPT record when the query had one.
fn refusal<'b>(
    buf: &'b mut Vec<u8>,
    query: &[u8],
    request: &Request,
    max_udp_payload: u16,
) -> &'b [u8] {
    let mut writer = ResponseWriter::bare(buf, query, Some(request.question_end));
    writer.set_rcode(Rcode::Refused);
    writer.finish(request.edns.map(|_| (max_udp_payload, 0)))
}

/// Writes one message with its length prefix.
async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    frame: &mut Vec<u8>,
    message: &[u8],
    timeout: Duration,
) -> Outcome {
    let Ok(len) = u16::try_from(message.len()) else {
        return Outcome::Closed;
    };
    frame.clear();
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    match tokio::time::timeout(timeout, stream.write_all(frame)).await {
        Ok(Ok(())) => Outcome::Answered,
        _ => Outcome::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::serial_lt;

    #[test]
    fn serials_compare_in_sequence_space() {
        assert!(serial_lt(1, 2));
        assert!(!serial_lt(2, 2));
        assert!(!serial_lt(3, 2));
        assert!(serial_lt(u32::MAX, 0));
        assert!(serial_lt(u32::MAX - 5, 10));
        assert!(!serial_lt(10, u32::MAX - 5));
    }
}
