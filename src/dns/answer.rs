//! The answer core: query bytes and the client's address in, response bytes
//! out. Sans-IO: no sockets, no clock, no heap allocation — it reads the
//! name table and copies records encoded ahead of time into a reused buffer.

use std::net::IpAddr;
use std::ops::Range;

use smallvec::SmallVec;

use super::compile::{Apex, CompiledService, Pool};
use super::names::{NameTable, Node, parent};
use super::wire::{
    CLASSIC_UDP_LIMIT, HEADER_LEN, Question, Rcode, ResponseWriter, Section, TYPE_A, TYPE_AAAA,
    TYPE_ANY, TYPE_NS, TYPE_SOA, TYPE_SRV, Tsig, TsigError, Unreadable, is_internet, read_query,
};
use crate::registry::{RecordKind, RoutingPolicy};

/// At most this many records answer a MULTIVALUE query, as in Cloud Map.
pub const MULTIVALUE_LIMIT: usize = 8;

/// AXFR and IXFR: zone transfers are not served (yet), so they are refused.
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;

/// BADVERS (16) is an extended code: 0 in the header, 1 in the OPT record.
const BADVERS_EXTENDED: u8 = 1;

/// How the query arrived, which bounds the response's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What kind of answer a response is: the classes NSD and Knot count apart
/// for response rate limiting ([`super::rrl`]), those cairn gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerKind {
    /// Records for the name (or TC, because they did not fit).
    #[default]
    Positive,
    /// The name exists, the type does not.
    NoData,
    NxDomain,
    /// REFUSED (no zone cairn serves, or one that denies the client),
    /// FORMERR, NOTIMP, BADVERS.
    Error,
}

/// What [`respond_served`] knew about the response it wrote, for rate
/// limiting: a few integers, no allocation, no second look at the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    pub kind: AnswerKind,
    /// The answer came from a private zone that allows the client. A zone
    /// that denies the client answers as if cairn did not serve it, and is
    /// not named here either.
    pub private: bool,
    /// The name the answer is about, as a range of the response's bytes
    /// (the question's name as the client wrote it): the whole name for a
    /// positive answer, the zone's name (a suffix of it) for a negative
    /// one, empty when no zone answered.
    pub name: Range<usize>,
    /// Where the question ends in the response.
    pub question_end: usize,
    /// The response ends with cairn's OPT record (`wire::OPT_LEN` bytes).
    pub opt: bool,
    /// A private zone that does not allow the client was passed over (for
    /// the metrics' ACL refusals; the response is as if it did not exist).
    pub acl_refused: bool,
}

/// Answers one query. `max_udp_payload` caps UDP answers whatever the
/// client advertises, and is the size cairn advertises in its own OPT.
/// Returns `None` when the query deserves no answer at all.
pub fn respond<'b>(
    table: &NameTable,
    query: &[u8],
    client: IpAddr,
    transport: Transport,
    max_udp_payload: u16,
    buf: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    let mut served = Served::default();
    respond_served(
        table,
        query,
        client,
        transport,
        max_udp_payload,
        buf,
        &mut served,
    )
}

/// [`respond`], also saying in `served` what the response is.
pub fn respond_served<'b>(
    table: &NameTable,
    query: &[u8],
    client: IpAddr,
    transport: Transport,
    max_udp_payload: u16,
    buf: &'b mut Vec<u8>,
    served: &mut Served,
) -> Option<&'b [u8]> {
    let question = match read_query(query) {
        Ok(question) => question,
        Err(Unreadable::Drop) => return None,
        Err(Unreadable::Reply {
            rcode,
            question_end,
            opt,
        }) => {
            *served = Served {
                kind: AnswerKind::Error,
                question_end: question_end.unwrap_or(HEADER_LEN),
                opt,
                ..Served::default()
            };
            let mut writer = ResponseWriter::bare(buf, query, question_end);
            writer.set_rcode(rcode);
            return Some(writer.finish(opt.then_some((max_udp_payload, 0))));
        }
    };
    *served = Served {
        kind: AnswerKind::Error,
        question_end: question.question_end,
        opt: question.edns.is_some(),
        ..Served::default()
    };
    let limit = match (transport, question.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, Some(edns)) => usize::from(edns.payload.clamp(512, max_udp_payload)),
        (Transport::Udp, None) => CLASSIC_UDP_LIMIT,
    };
    let opt = |extended_rcode| question.edns.map(|_| (max_udp_payload, extended_rcode));
    let mut writer = ResponseWriter::new(buf, query, &question, limit, question.edns.is_some());
    if let Some(tsig) = &question.tsig {
        let error = verify_tsig(tsig);
        // The TSIG record comes after the OPT, so the response does not end
        // with one: a slipped copy of it keeps header and question only.
        served.opt = false;
        writer.set_rcode(Rcode::NotAuth);
        return Some(writer.finish_tsig_error(query, tsig, error, opt(0)));
    }
    if question.edns.is_some_and(|edns| edns.version > 0) {
        return Some(writer.finish(opt(BADVERS_EXTENDED)));
    }
    if !is_internet(&question) || matches!(question.qtype, TYPE_AXFR | TYPE_IXFR) {
        writer.set_rcode(Rcode::Refused);
        return Some(writer.finish(opt(0)));
    }
    let zone = resolve(
        table,
        &question,
        client.to_canonical(),
        &mut writer,
        &mut served.acl_refused,
    );
    let response = writer.finish(opt(0));
    if let Some(zone) = zone {
        served.kind = kind_of(response);
        served.private = zone.private;
        let name_end = HEADER_LEN + question.name().len();
        served.name = match served.kind {
            AnswerKind::Positive => HEADER_LEN..name_end,
            _ => name_end - zone.origin_len..name_end,
        };
    }
    Some(response)
}

/// The zone that answered a question.
struct Answering {
    origin_len: usize,
    private: bool,
}

/// A response's kind, from the rcode and answer count it was written with.
fn kind_of(response: &[u8]) -> AnswerKind {
    const TC: u8 = 0x02;
    let answers = u16::from_be_bytes([response[6], response[7]]);
    match response[3] & 0x0f {
        0 if answers == 0 && response[2] & TC == 0 => AnswerKind::NoData,
        0 => AnswerKind::Positive,
        3 => AnswerKind::NxDomain,
        _ => AnswerKind::Error,
    }
}

/// Why a signed query is not authenticated. cairn holds no TSIG keys
/// yet, so every key is unknown: BADKEY, as RFC 8945 §5.2.1 asks and NSD and
/// Knot answer. When zone transfers bring keys, this is where a key table
/// is consulted: find `tsig.key(query, ..)` (lower case, as keys are named) with
/// its algorithm (`query[tsig.algorithm]`), check the MAC over
/// `query[..tsig.record_start]` with ARCOUNT one less, then the time; a
/// query that passes goes on to be answered and its reply is signed.
fn verify_tsig(_tsig: &Tsig) -> TsigError {
    TsigError::BadKey
}

fn refuse(writer: &mut ResponseWriter<'_>) {
    writer.set_rcode(Rcode::Refused);
}

fn negative(writer: &mut ResponseWriter<'_>, question: &Question, apex: &Apex, rcode: Rcode) {
    writer.set_authoritative();
    writer.set_rcode(rcode);
    writer.push_at_apex(
        Section::Authority,
        question,
        apex.origin.len(),
        &apex.negative_soa_tail,
    );
}

/// Answers from the name's node or, when it has none, from its nearest
/// ancestor's: one of a service's instances one label below it, or else
/// NXDOMAIN with that zone's SOA. No ancestor at all means no zone cairn
/// serves: REFUSED.
///
/// Nodes of a private zone that does not allow the client are passed over
/// as if they were not in the table, so the walk goes on above that zone's
/// apex: the client gets exactly what it would get if cairn did not serve
/// the zone (the enclosing zone's NXDOMAIN, or REFUSED when none encloses
/// it) and learns nothing of it. Passing over costs a denied client one
/// more lookup per label, on slices of the wire name like the rest of the
/// walk. Returns the zone that answered, `None` for REFUSED; sets
/// `passed_over` when a zone denied the client.
fn resolve(
    table: &NameTable,
    question: &Question,
    client: IpAddr,
    writer: &mut ResponseWriter<'_>,
    passed_over: &mut bool,
) -> Option<Answering> {
    let name = question.name();
    let mut candidate = Some(name);
    let mut depth = 0;
    while let Some(at) = candidate {
        if let Some(entry) = table.node(at) {
            let node = entry.value();
            let apex = node.zone().apex.load();
            if apex.allows(client) {
                let answering = Answering {
                    origin_len: apex.origin.len(),
                    private: apex.allowed.is_some(),
                };
                if depth == 0 {
                    match node {
                        Node::Apex(_) => at_apex(writer, question, &apex),
                        Node::Service(_, service) => at_service(writer, question, &apex, service),
                        Node::EmptyNonTerminal(_) => {
                            negative(writer, question, &apex, Rcode::NoError)
                        }
                    }
                    return Some(answering);
                }
                if let (1, Node::Service(_, service)) = (depth, node)
                    && at_instance(writer, question, &apex, service)
                {
                    return Some(answering);
                }
                negative(writer, question, &apex, Rcode::NxDomain);
                return Some(answering);
            }
            *passed_over = true;
        }
        candidate = parent(at);
        depth += 1;
    }
    refuse(writer);
    None
}

fn at_apex(writer: &mut ResponseWriter<'_>, question: &Question, apex: &Apex) {
    match question.qtype {
        TYPE_SOA | TYPE_ANY => {
            writer.set_authoritative();
            writer.push_required(Section::Answer, &apex.soa_answer);
        }
        TYPE_NS => {
            writer.set_authoritative();
            for ns in &apex.ns_answers {
                if !writer.push_required(Section::Answer, ns) {
                    return;
                }
            }
        }
        _ => negative(writer, question, apex, Rcode::NoError),
    }
}

fn at_service(
    writer: &mut ResponseWriter<'_>,
    question: &Question,
    apex: &Apex,
    service: &CompiledService,
) {
    // A CNAME owns its name: every type is answered with it (RFC 1034 §3.6.2).
    if let Some(pool) = service.pool(RecordKind::Cname) {
        return from_pool(
            writer,
            question,
            apex,
            service.policy,
            &pool,
            RecordKind::Cname,
        );
    }
    let kind = match question.qtype {
        TYPE_A => Some(RecordKind::A),
        TYPE_AAAA => Some(RecordKind::Aaaa),
        TYPE_SRV => Some(RecordKind::Srv),
        // One RRset for ANY, as RFC 8482 allows, to keep answers small.
        TYPE_ANY => [RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]
            .into_iter()
            .find(|&kind| service.pool(kind).is_some()),
        _ => None,
    };
    match kind.and_then(|kind| Some((service.pool(kind)?, kind))) {
        Some((pool, kind)) => from_pool(writer, question, apex, service.policy, &pool, kind),
        None => negative(writer, question, apex, Rcode::NoError),
    }
}

/// Answers `<instance>.<service>`; false when the first label names no
/// instance of the service.
fn at_instance(
    writer: &mut ResponseWriter<'_>,
    question: &Question,
    apex: &Apex,
    service: &CompiledService,
) -> bool {
    if !service.names_instances() {
        return false;
    }
    let name = question.name();
    let label_len = usize::from(name[0]);
    let Some(wire) = service.instance(&name[1..1 + label_len]) else {
        return false;
    };
    // The target's own addresses are its answers at the service name, both
    // written after a pointer to the question.
    let record = match question.qtype {
        TYPE_A => wire.record(RecordKind::A),
        TYPE_AAAA => wire.record(RecordKind::Aaaa),
        TYPE_ANY => wire.record(RecordKind::A).or(wire.record(RecordKind::Aaaa)),
        _ => None,
    };
    match record {
        Some(record) => {
            writer.set_authoritative();
            writer.push_required(Section::Answer, record);
        }
        None => negative(writer, question, apex, Rcode::NoError),
    }
    true
}

fn from_pool(
    writer: &mut ResponseWriter<'_>,
    question: &Question,
    apex: &Apex,
    policy: RoutingPolicy,
    pool: &Pool<'_>,
    kind: RecordKind,
) {
    if pool.is_empty() {
        return negative(writer, question, apex, Rcode::NoError);
    }
    writer.set_authoritative();
    let picks = match policy {
        RoutingPolicy::Multivalue => pick_several(pool.len()),
        RoutingPolicy::Weighted => SmallVec::from_iter([pick_weighted(pool)]),
    };
    for &index in &picks {
        let Some(record) = pool.get(index).and_then(|member| member.record(kind)) else {
            continue;
        };
        if !writer.push_required(Section::Answer, record) {
            return;
        }
    }
    if kind == RecordKind::Srv {
        for &index in &picks {
            let Some((glue, count)) = pool.get(index).map(|member| member.glue()) else {
                continue;
            };
            if count > 0 && !writer.push_optional(Section::Additional, glue, count) {
                break;
            }
        }
    }
}

/// Up to eight distinct indices below `count`, in random order (Floyd's
/// sampling: constant work whatever the count).
fn pick_several(count: usize) -> SmallVec<[usize; MULTIVALUE_LIMIT]> {
    let mut picks: SmallVec<[usize; MULTIVALUE_LIMIT]> = SmallVec::new();
    if count <= MULTIVALUE_LIMIT {
        picks.extend(0..count);
    } else {
        for upper in count - MULTIVALUE_LIMIT..count {
            let candidate = fastrand::usize(..=upper);
            picks.push(if picks.contains(&candidate) {
                upper
            } else {
                candidate
            });
        }
    }
    fastrand::shuffle(&mut picks);
    picks
}

/// One index, chosen in proportion to the candidates' weights (uniformly
/// when every weight is zero).
fn pick_weighted(pool: &Pool<'_>) -> usize {
    if pool.total_weight == 0 {
        return fastrand::usize(..pool.len());
    }
    let mut target = fastrand::u64(..pool.total_weight);
    for index in 0..pool.len() {
        let weight = pool
            .get(index)
            .map_or(0, |member| u64::from(member.weight()));
        if target < weight {
            return index;
        }
        target -= weight;
    }
    pool.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_query_gets_notauth_with_badkey_and_keeps_its_opt() {
        let mut query = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 2];
        query.extend_from_slice(b"\x03web\x04test\x00\x00\x01\x00\x01");
        query.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c, 0, 2, 7, 7]);
        rdata.extend_from_slice(&[0x12, 0x34, 0, 0, 0, 0]);
        let mut tsig = b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00".to_vec();
        tsig.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        tsig.extend(&rdata);
        query.extend(&tsig);
        let mut buf = Vec::new();
        let table = NameTable::new();
        let client = IpAddr::from([127, 0, 0, 1]);
        let reply =
            respond(&table, &query, client, Transport::Udp, 1232, &mut buf).expect("a reply");
        assert_eq!(reply[3] & 0x0f, Rcode::NotAuth as u8);
        assert_eq!(
            &reply[4..12],
            &[0, 1, 0, 0, 0, 0, 0, 2],
            "question, OPT, TSIG"
        );
        let mut expected_tsig = b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x1d".to_vec();
        expected_tsig.extend_from_slice(b"\x0bhmac-sha256\x00");
        // Time and fudge as sent, no MAC, the original id, BADKEY, no other data.
        expected_tsig.extend_from_slice(&[0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c, 0, 0]);
        expected_tsig.extend_from_slice(&[0x12, 0x34, 0, 17, 0, 0]);
        assert!(reply.ends_with(&expected_tsig), "{reply:02x?}");
        let opt_at = reply.len() - expected_tsig.len() - 11;
        assert_eq!(
            &reply[opt_at..opt_at + 3],
            &[0, 0, 41],
            "the OPT, before the TSIG"
        );
    }

    #[test]
    fn several_picks_are_distinct_and_bounded() {
        for count in [0, 1, 7, 8, 9, 20, 1000] {
            for _ in 0..200 {
                let picks = pick_several(count);
                assert_eq!(picks.len(), count.min(MULTIVALUE_LIMIT));
                assert!(picks.iter().all(|&p| p < count));
                let mut sorted = picks.to_vec();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), picks.len(), "duplicate pick in {picks:?}");
            }
        }
    }
}
