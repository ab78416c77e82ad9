//! Zone transfers to secondaries: AXFR and IXFR over TCP (RFC 5936, RFC
//! 1995), streamed from a connection's task in messages of bounded size,
//! and NOTIFY when a zone changes ([`notify`], RFC 1996).
//!
//! A transfer is the one DNS answer that is many messages, so it is not
//! the sans-IO [`respond`](super::answer::respond): the TCP task asks
//! [`is_for_transfer`] about each query (a look at the question's labels,
//! and for signed queries a read of the additional section when keys are
//! configured) and hands transfers here. Over UDP, where the answer core
//! refuses AXFR and IXFR, [`udp`] answers what secondaries ask there (the
//! SOA for an IXFR, signed queries) in place of the core's refusal.

pub(crate) mod axfr;
pub mod history;
pub mod notify;
pub mod request;
pub mod secondaries;
pub mod tsig;
pub mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use self::request::TYPE_IXFR;
pub use self::request::transfer_type;
use super::compile::Apex;
use super::names::{NameTable, Node};
use super::wire::{Rcode, ResponseWriter};

/// Who may transfer zones, and the TSIG keys cairn holds. A zone with
/// transfer settings of its own ([`Apex::transfer`]) takes its allowed
/// clients, secondaries and key from them instead of from here, all three
/// together; the keys are always these.
#[derive(Debug, Default)]
pub struct TransferPolicy {
    /// Clients allowed to transfer any zone they may query; empty: nobody.
    allow: Vec<IpNet>,
    keys: Vec<tsig::Key>,
    /// The key transfers must be signed with, and NOTIFYs are: an index
    /// into `keys`.
    required: Option<usize>,
}

/// The key one zone's transfers must be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKey {
    /// None: by address alone, and NOTIFYs unsigned.
    Unsigned,
    /// This one of the policy's keys.
    Held(usize),
    /// The zone names a key the server does not hold (removed from the
    /// config since): nobody can transfer it, and no NOTIFY is sent.
    Missing,
}

impl TransferPolicy {
    /// `required` names one of `keys`, or none is required.
    pub fn new(allow: Vec<IpNet>, keys: Vec<tsig::Key>, required: Option<&str>) -> Self {
        let mut policy = Self {
            allow,
            keys,
            required: None,
        };
        policy.required = required.and_then(|name| policy.position(name));
        policy
    }

    fn position(&self, name: &str) -> Option<usize> {
        let wire = tsig::wire_name(name)?;
        self.keys.iter().position(|key| key.wire_name() == &*wire)
    }

    /// Whether signed queries are verified here (the TCP side) rather than
    /// refused with BADKEY by the answer path.
    pub fn holds_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The key `apex`'s transfers must be signed with, and its NOTIFYs are.
    pub fn zone_key(&self, apex: &Apex) -> ZoneKey {
        let position = match apex.transfer.as_deref() {
            None => return self.required.map_or(ZoneKey::Unsigned, ZoneKey::Held),
            Some(own) => match own.key.as_deref() {
                None => return ZoneKey::Unsigned,
                Some(name) => self.position(name),
            },
        };
        position.map_or(ZoneKey::Missing, ZoneKey::Held)
    }

    /// The key at `position` (a [`ZoneKey::Held`]).
    pub fn key(&self, position: usize) -> Option<&tsig::Key> {
        self.keys.get(position)
    }

    /// The secondaries told when `apex`'s serial rises: its own, or the
    /// server's `global` ones.
    pub fn secondaries<'a>(apex: &'a Apex, global: &'a [SocketAddr]) -> &'a [SocketAddr] {
        match apex.transfer.as_deref() {
            Some(own) => &own.notify,
            None => global,
        }
    }

    /// Whether `client`, signed by `signer`, may transfer `apex`'s zone:
    /// allowed by address and, when the zone has a key, by key — the
    /// zone's own settings or else these — and answered by the zone (a
    /// private zone's allowed networks).
    pub(super) fn allows(
        &self,
        apex: &Apex,
        client: IpAddr,
        signer: Option<&tsig::Signer<'_>>,
    ) -> bool {
        let by_key = match (self.zone_key(apex), signer) {
            (ZoneKey::Unsigned, _) => true,
            (ZoneKey::Held(required), Some(signer)) => {
                std::ptr::eq(signer.key(), &self.keys[required])
            }
            (ZoneKey::Held(_) | ZoneKey::Missing, _) => false,
        };
        let allow = match apex.transfer.as_deref() {
            Some(own) => &own.allow,
            None => &self.allow,
        };
        by_key && allow.iter().any(|network| network.contains(&client)) && apex.allows(client)
    }
}

/// The apex of the zone at `origin` (lower case, wire form), read without
/// the writers' lock: what a request is judged by before anything is
/// taken for it.
pub(super) fn apex_at(table: &NameTable, origin: &[u8]) -> Option<Arc<Apex>> {
    match table.names().node(origin)?.value() {
        Node::Apex(zone) => Some(zone.apex.load_full()),
        _ => None,
    }
}

/// Whether a TCP query goes to [`serve`]: a transfer, or a signed query
/// when cairn holds keys (else the answer path's BADKEY is right).
pub fn is_for_transfer(query: &[u8], policy: &TransferPolicy) -> bool {
    transfer_type(query).is_some()
        || (policy.holds_keys()
            && super::wire::read_query(query).is_ok_and(|question| question.tsig.is_some()))
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
/// is not a zone's apex, a client the zone's transfer settings (its own,
/// or the server's) do not allow, and a private zone that does not answer
/// the client — so a refusal tells nothing about what cairn serves.
pub async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    query: &[u8],
    client: IpAddr,
    table: &NameTable,
    policy: &TransferPolicy,
    max_udp_payload: u16,
    write_timeout: Duration,
) -> Outcome {
    let now = unix_time();
    let mut buf = Vec::with_capacity(512);
    if transfer_type(query).is_none() {
        return signed_query(
            stream,
            query,
            client,
            table,
            policy,
            max_udp_payload,
            write_timeout,
            now,
        )
        .await;
    }
    let Some(request) = request::read(query) else {
        return Outcome::NotMine;
    };
    if !request.is_internet() {
        return Outcome::NotMine;
    }
    let opt = request.edns.map(|_| (max_udp_payload, 0));
    let kind = if request.qtype == TYPE_IXFR {
        "ixfr"
    } else {
        "axfr"
    };
    let counted = |result| crate::metrics::events::events().transferred(kind, result);
    let signer = match &request.tsig {
        None => None,
        Some(tsig) => match tsig::verify(&policy.keys, query, tsig, now) {
            Ok(signer) => Some(signer),
            Err(failure) => {
                let mut writer = ResponseWriter::bare(&mut buf, query, Some(request.question_end));
                writer.set_rcode(Rcode::NotAuth);
                let reply = tsig_failure(writer, query, tsig, failure, opt);
                counted("refused");
                return send(stream, &mut Vec::new(), &reply, write_timeout).await;
            }
        },
    };
    let client = client.to_canonical();
    // Judged on the apex first, so a refused client costs no snapshot, and
    // again on the snapshot's, which a change may have replaced meanwhile.
    let zone = apex_at(table, request.zone())
        .filter(|apex| policy.allows(apex, client, signer.as_ref()))
        .and_then(|_| table.zone_snapshot(request.zone()))
        .filter(|zone| policy.allows(&zone.apex, client, signer.as_ref()));
    let mut signer = signer;
    let Some(zone) = zone else {
        let mut writer = ResponseWriter::bare(&mut buf, query, Some(request.question_end));
        writer.set_rcode(Rcode::Refused);
        let mut reply = writer.finish(opt).to_vec();
        echo_flags(&mut reply, query);
        if let Some(signer) = &mut signer {
            signer.sign(&mut reply, None, &[]);
        }
        counted("refused");
        return send(stream, &mut Vec::new(), &reply, write_timeout).await;
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
    let mut frame = Vec::with_capacity(MESSAGE_LIMIT + tsig::MAX_TSIG_LEN + 2);
    let mut finish = |builder: &mut axfr::MessageBuilder<'_>| {
        let message = builder.finish();
        if let Some(signer) = &mut signer {
            signer.sign(message, None, &[]);
        }
    };
    let up_to_date = request.qtype == TYPE_IXFR
        && request
            .client_serial
            .is_some_and(|client_serial| !serial_lt(client_serial, serial));
    if up_to_date {
        // RFC 1995 §2: the current SOA alone says "nothing newer".
        builder.push((axfr::Owner::Apex, &zone.apex.soa_answer));
        finish(&mut builder);
        counted("up_to_date");
        return send(stream, &mut frame, builder.message(), write_timeout).await;
    }
    // From the history when it reaches back to the client's serial (RFC
    // 1995 §4: the differences step by step between the current SOA and
    // itself again), else the whole zone in AXFR form, which NSD and Knot
    // both accept.
    let steps = request
        .client_serial
        .filter(|_| request.qtype == TYPE_IXFR)
        .and_then(|client_serial| table.history_since(request.zone(), client_serial, serial));
    let incremental = steps.is_some();
    let (mut records, mut messages) = (0u64, 0u64);
    let mut zone_records: std::iter::Peekable<
        Box<dyn Iterator<Item = axfr::ZoneRecord<'_>> + Send>,
    > = match &steps {
        Some(steps) => (Box::new(differences(&zone.apex.soa_answer, steps))
            as Box<dyn Iterator<Item = _> + Send>)
            .peekable(),
        None => (Box::new(axfr::records(&zone)) as Box<dyn Iterator<Item = _> + Send>).peekable(),
    };
    let outcome = loop {
        let more = loop {
            match zone_records.peek() {
                Some(&record) if builder.push(record) => {
                    zone_records.next();
                }
                Some(_) => break true,
                None => break false,
            }
        };
        if more && builder.count() == 0 {
            // A record larger than a message cannot be: records are short.
            tracing::error!(client = %client, "zone transfer stopped: a record does not fit a message");
            counted("aborted");
            return Outcome::Closed;
        }
        records += u64::from(builder.count());
        messages += 1;
        finish(&mut builder);
        let sent = send(stream, &mut frame, builder.message(), write_timeout).await;
        if !more || sent == Outcome::Closed {
            break sent;
        }
        builder.next_message();
    };
    tracing::info!(
        client = %client,
        serial,
        records,
        messages,
        ixfr = request.qtype == TYPE_IXFR,
        incremental,
        signed = signer.is_some(),
        completed = outcome == Outcome::Answered,
        "zone transfer"
    );
    counted(match (outcome, incremental) {
        (Outcome::Answered, true) => "incremental",
        (Outcome::Answered, false) => "whole_zone",
        _ => "aborted",
    });
    outcome
}

/// An incremental IXFR's records (RFC 1995 §4): the current SOA, each
/// step's old SOA, deletions, new SOA and additions, the current SOA.
fn differences<'s>(
    soa: &'s [u8],
    steps: &'s [history::Step],
) -> impl Iterator<Item = axfr::ZoneRecord<'s>> {
    let named = |record: &'s history::Record| (axfr::Owner::Name(&record.owner), &*record.record);
    let steps = steps.iter().flat_map(move |step| {
        std::iter::once((axfr::Owner::Apex, &*step.from_soa))
            .chain(step.difference.deleted.iter().map(named))
            .chain(std::iter::once((axfr::Owner::Apex, &*step.to_soa)))
            .chain(step.difference.added.iter().map(named))
    });
    std::iter::once((axfr::Owner::Apex, soa))
        .chain(steps)
        .chain(std::iter::once((axfr::Owner::Apex, soa)))
}

/// A signed query that is not a transfer (Knot's SOA query before an
/// IXFR, a `dig -y`): verified, answered by the answer core as if
/// unsigned, and the answer signed (RFC 8945 §5.3).
#[allow(clippy::too_many_arguments)]
async fn signed_query<S: AsyncWrite + Unpin>(
    stream: &mut S,
    query: &[u8],
    client: IpAddr,
    table: &NameTable,
    policy: &TransferPolicy,
    max_udp_payload: u16,
    write_timeout: Duration,
    now: u64,
) -> Outcome {
    let Ok(question) = super::wire::read_query(query) else {
        return Outcome::NotMine;
    };
    let Some(tsig) = &question.tsig else {
        return Outcome::NotMine;
    };
    let mut buf = Vec::with_capacity(512);
    let opt = question.edns.map(|_| (max_udp_payload, 0));
    let mut signer = match tsig::verify(&policy.keys, query, tsig, now) {
        Ok(signer) => signer,
        Err(failure) => {
            let mut writer = ResponseWriter::bare(&mut buf, query, Some(question.question_end));
            writer.set_rcode(Rcode::NotAuth);
            let reply = tsig_failure(writer, query, tsig, failure, opt);
            return send(stream, &mut Vec::new(), &reply, write_timeout).await;
        }
    };
    // The query as it was before it was signed: without its TSIG record.
    let mut unsigned = query[..tsig.record_start].to_vec();
    let additionals = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
    unsigned[10..12].copy_from_slice(&additionals.to_be_bytes());
    let Some(answer) = super::answer::respond(
        table,
        &unsigned,
        client,
        super::answer::Transport::Tcp,
        max_udp_payload,
        &mut buf,
    ) else {
        return Outcome::Answered;
    };
    let mut reply = answer.to_vec();
    signer.sign(&mut reply, None, &[]);
    send(stream, &mut Vec::new(), &reply, write_timeout).await
}

/// The reply to a request whose TSIG failed: FORMERR for a MAC of a length
/// RFC 8945 §5.2.2.1 rules out, unsigned with the error (BADKEY, BADSIG),
/// or signed with the server's time (BADTIME, §5.3.2).
pub(super) fn tsig_failure(
    mut writer: ResponseWriter<'_>,
    query: &[u8],
    tsig: &super::wire::Tsig,
    failure: tsig::Failure<'_>,
    opt: Option<(u16, u8)>,
) -> Vec<u8> {
    let mut reply = match failure {
        tsig::Failure::Malformed => {
            writer.set_rcode(Rcode::FormErr);
            writer.finish(opt).to_vec()
        }
        tsig::Failure::Unsigned(error) => {
            writer.finish_tsig_error(query, tsig, error, opt).to_vec()
        }
        tsig::Failure::Signed(error, mut signer) => {
            let mut reply = writer.finish(opt).to_vec();
            echo_flags(&mut reply, query);
            let time = signer.server_time();
            signer.sign(&mut reply, Some(error), &time);
            return reply;
        }
    };
    echo_flags(&mut reply, query);
    reply
}

/// RD and CD copied from the query, as every other answer has them; the
/// caller signs after this, as the MAC covers them.
pub(super) fn echo_flags(reply: &mut [u8], query: &[u8]) {
    if let (Some(reply), Some(query)) = (reply.get_mut(2..4), query.get(2..4)) {
        reply[0] |= query[0] & 0x01;
        reply[1] |= query[1] & 0x10;
    }
}

pub(super) fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `a` comes before `b` in serial number arithmetic (RFC 1982 §3.2).
pub fn serial_lt(a: u32, b: u32) -> bool {
    a != b && (b.wrapping_sub(a) as i32) > 0
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
