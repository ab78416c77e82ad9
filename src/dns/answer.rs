//! The answer core: query bytes and the client's address in, response bytes
//! out. Sans-IO: no sockets, no clock, no heap allocation — it reads the
//! name table and copies records encoded ahead of time into a reused buffer.

use std::net::IpAddr;
use std::ops::Range;

use smallvec::SmallVec;

use super::compile::{Apex, CompiledService, Pool};
use super::instance::{CNAME_TARGET_AT, RDATA_AT, SRV_TARGET_AT};
use super::names::{NameTable, Names, Node, parent};
use super::wire::{
    CLASSIC_UDP_LIMIT, HEADER_LEN, MAX_NAME_LEN, NameAt, Question, Rcode, ResponseWriter, Section,
    TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_CNAME, TYPE_NS, TYPE_SOA, TYPE_SRV, Tsig, TsigError,
    Unreadable, is_internet, read_query,
};
use crate::registry::validate::{MAX_NAME_SERVER_ADDRESSES, MAX_NAME_SERVERS};
use crate::registry::{RecordKind, RoutingPolicy};

/// At most this many records answer a MULTIVALUE query, as in Cloud Map.
pub const MULTIVALUE_LIMIT: usize = 8;

/// AXFR and IXFR: refused here, which is what UDP gets; over TCP the
/// connection task hands them to [`super::transfer`] first.
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
    /// The answering zone's slot among the per-namespace counters.
    pub zone_counted: Option<u32>,
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
        &table.names(),
        &question,
        client.to_canonical(),
        &mut writer,
        &mut served.acl_refused,
    );
    let response = writer.finish(opt(0));
    if let Some(zone) = zone {
        served.kind = kind_of(response);
        served.private = zone.private;
        served.zone_counted = zone.counted;
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
    counted: Option<u32>,
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

/// Why a signed query is not authenticated. The answer core holds no keys
/// and reads no clock, so every key is unknown here: BADKEY, as RFC 8945
/// §5.2.1 asks and NSD and Knot answer. With `[transfer]` keys, signed
/// queries over TCP are verified, answered and signed by
/// [`super::transfer`] before they could get here; over UDP they get this.
fn verify_tsig(_tsig: &Tsig) -> TsigError {
    TsigError::BadKey
}

fn refuse(writer: &mut ResponseWriter<'_>) {
    writer.set_rcode(Rcode::Refused);
}

/// At most this many CNAMEs are followed for one query (RFC 1034 §4.3.2
/// asks for a bound, not a number): a longer chain is answered as far as
/// that and the client follows the rest, as for a target cairn does not
/// serve.
pub const MAX_CNAME_CHAIN: usize = 8;

/// A name being answered: the question's, or the target of a CNAME written
/// before it in the answer section.
#[derive(Debug, Clone, Copy)]
struct Asked<'n> {
    /// Lower case, wire form: the table's key.
    name: &'n [u8],
    /// Where the name is written in the response: records it owns point here.
    at: NameAt,
    qtype: u16,
}

impl Asked<'_> {
    /// Where `apex`'s name, a suffix of the asked name, is in the response.
    fn apex_at(&self, apex: &Apex) -> Option<NameAt> {
        self.at
            .suffix(self.name.len().checked_sub(apex.origin.len())?)
    }

    /// Whether this is the question's own name rather than a CNAME target.
    fn is_question(&self) -> bool {
        self.at == NameAt::QUESTION
    }
}

/// What answering one name came to.
enum Step {
    /// The answer for this name is written (or nothing more can be).
    Done,
    /// The name is an alias: its CNAME is written, with the target's name
    /// starting at this offset of the response.
    Alias(usize),
}

/// Answers the question and, while it lands on a CNAME, the CNAME's target
/// (RFC 1034 §4.3.2): the target's records of the asked type follow the
/// CNAME in the answer section, and an NXDOMAIN or NODATA at the end of the
/// chain is that zone's. A target cairn does not serve, or serves to other
/// clients only, is left to the client, as is a chain longer than
/// [`MAX_CNAME_CHAIN`] or one that comes back to a name already answered.
///
/// Each step is one more table lookup, answered under its shard's read lock
/// and let go before the next; the target's name is read back from the
/// CNAME just written into a stack buffer. No allocation, no lock held
/// across steps.
///
/// Returns the zone that answered the question itself (rate limiting counts
/// by it), `None` for REFUSED; sets `passed_over` when a zone denied the
/// client on the way.
fn resolve(
    table: &Names,
    question: &Question,
    client: IpAddr,
    writer: &mut ResponseWriter<'_>,
    passed_over: &mut bool,
) -> Option<Answering> {
    let qtype = question.qtype;
    let first = Asked {
        name: question.name(),
        at: NameAt::QUESTION,
        qtype,
    };
    let (mut step, answering) = answer_name(table, first, client, writer, passed_over);
    if matches!(qtype, TYPE_CNAME | TYPE_ANY) {
        // The CNAME is the answer to both (RFC 1034 §4.3.2 step 3a).
        return answering;
    }
    let mut answered: SmallVec<[NameAt; MAX_CNAME_CHAIN + 1]> = SmallVec::new();
    answered.push(NameAt::QUESTION);
    let mut target = [0u8; MAX_NAME_LEN];
    while let Step::Alias(target_offset) = step {
        if answered.len() > MAX_CNAME_CHAIN {
            break;
        }
        let Some(at) = NameAt::new(target_offset) else {
            break;
        };
        let Some(len) = writer.lowered_name(target_offset, &mut target) else {
            break;
        };
        let name = &target[..len];
        if answered
            .iter()
            .any(|&earlier| writer.holds_name(earlier, name))
        {
            break;
        }
        answered.push(at);
        step = answer_name(
            table,
            Asked { name, at, qtype },
            client,
            writer,
            passed_over,
        )
        .0;
    }
    answering
}

fn negative(writer: &mut ResponseWriter<'_>, asked: Asked<'_>, apex: &Apex, rcode: Rcode) -> Step {
    writer.set_authoritative();
    writer.set_rcode(rcode);
    if let Some(apex_at) = asked.apex_at(apex) {
        writer.push_required(Section::Authority, &apex.negative_soa, apex_at);
    }
    Step::Done
}

/// Answers one name from its node or, when it has none, from its nearest
/// ancestor's: one of a service's instances one label below it, or else
/// NXDOMAIN with that zone's SOA. No ancestor at all means no zone cairn
/// serves: REFUSED for the question, and the end of the chain for a CNAME
/// target (the client follows it).
///
/// Nodes of a private zone that does not allow the client are passed over
/// as if they were not in the table, so the walk goes on above that zone's
/// apex: the client gets exactly what it would get if cairn did not serve
/// the zone (the enclosing zone's NXDOMAIN, or REFUSED when none encloses
/// it) and learns nothing of it. Passing over costs a denied client one
/// more lookup per label, on slices of the wire name like the rest of the
/// walk.
fn answer_name(
    table: &Names,
    asked: Asked<'_>,
    client: IpAddr,
    writer: &mut ResponseWriter<'_>,
    passed_over: &mut bool,
) -> (Step, Option<Answering>) {
    let mut candidate = Some(asked.name);
    let mut depth = 0;
    while let Some(at) = candidate {
        if let Some(entry) = table.node(at) {
            let node = entry.value();
            let apex = node.zone().apex.load();
            if apex.allows(client) {
                let answering = Some(Answering {
                    origin_len: apex.origin.len(),
                    private: apex.allowed.is_some(),
                    counted: node.zone().counted,
                });
                if depth == 0 {
                    let step = match node {
                        Node::Apex(_) => at_apex(writer, asked, &apex),
                        Node::Service(_, service) => at_service(writer, asked, &apex, service),
                        Node::EmptyNonTerminal(_) => negative(writer, asked, &apex, Rcode::NoError),
                        Node::NameServer(_) => at_name_server(writer, asked, &apex),
                    };
                    return (step, answering);
                }
                if let (1, Node::Service(_, service)) = (depth, node)
                    && let Some(step) = at_instance(writer, asked, &apex, service)
                {
                    return (step, answering);
                }
                return (negative(writer, asked, &apex, Rcode::NxDomain), answering);
            }
            *passed_over = true;
        }
        candidate = parent(at);
        depth += 1;
    }
    if asked.is_question() {
        refuse(writer);
    }
    (Step::Done, None)
}

fn at_apex(writer: &mut ResponseWriter<'_>, asked: Asked<'_>, apex: &Apex) -> Step {
    match asked.qtype {
        TYPE_ANY => {
            // Every RRset at the apex: the SOA and the NS, with the glue.
            writer.set_authoritative();
            if writer
                .push_required(Section::Answer, &apex.soa_answer, asked.at)
                .is_some()
            {
                add_name_servers(writer, asked.at, apex, Section::Answer);
            }
        }
        TYPE_SOA => {
            writer.set_authoritative();
            if writer
                .push_required(Section::Answer, &apex.soa_answer, asked.at)
                .is_some()
            {
                // As NSD does: the zone's NS records and their glue, so a
                // resolver priming the zone needs no second query.
                add_name_servers(writer, asked.at, apex, Section::Authority);
            }
        }
        TYPE_NS => {
            writer.set_authoritative();
            add_name_servers(writer, asked.at, apex, Section::Answer);
        }
        _ => return negative(writer, asked, apex, Rcode::NoError),
    }
    Step::Done
}

/// The zone's NS records (owned by `apex_at`) in `section` — all required in
/// the answer section, all or none in the authority section — then each
/// in-zone server's addresses as glue while they fit, owned by a pointer to
/// the name in its NS record.
fn add_name_servers(
    writer: &mut ResponseWriter<'_>,
    apex_at: NameAt,
    apex: &Apex,
    section: Section,
) {
    let mut starts: SmallVec<[usize; MAX_NAME_SERVERS]> = SmallVec::new();
    if section == Section::Answer {
        for server in &apex.name_servers {
            match writer.push_required(section, &server.record, apex_at) {
                Some(start) => starts.push(start),
                None => return,
            }
        }
    } else {
        let mut start = writer.position();
        let records: SmallVec<[&[u8]; MAX_NAME_SERVERS]> = apex
            .name_servers
            .iter()
            .map(|server| &*server.record)
            .collect();
        if !writer.push_optional(section, &records, apex_at) {
            return;
        }
        for record in &records {
            starts.push(start);
            start += record.len();
        }
    }
    for (server, start) in apex.name_servers.iter().zip(starts) {
        let Some(host_at) = NameAt::new(start + RDATA_AT) else {
            continue;
        };
        let glue: SmallVec<[&[u8]; MAX_NAME_SERVER_ADDRESSES]> =
            server.addresses.iter().map(|record| &**record).collect();
        if !glue.is_empty() && !writer.push_optional(Section::Additional, &glue, host_at) {
            return;
        }
    }
}

/// Answers A/AAAA at one of the zone's own name servers, or at one of the
/// server's own names (the API's host).
fn at_name_server(writer: &mut ResponseWriter<'_>, asked: Asked<'_>, apex: &Apex) -> Step {
    let records = match (asked.qtype, apex.host_records(asked.name)) {
        (TYPE_A, Some(host)) => host.of(true),
        (TYPE_AAAA, Some(host)) => host.of(false),
        (TYPE_ANY, Some(host)) => host.all,
        _ => &[],
    };
    if records.is_empty() {
        return negative(writer, asked, apex, Rcode::NoError);
    }
    writer.set_authoritative();
    for record in records {
        if writer
            .push_required(Section::Answer, record, asked.at)
            .is_none()
        {
            break;
        }
    }
    Step::Done
}

fn at_service(
    writer: &mut ResponseWriter<'_>,
    asked: Asked<'_>,
    apex: &Apex,
    service: &CompiledService,
) -> Step {
    // A CNAME owns its name: every type is answered with it (RFC 1034 §3.6.2).
    if let Some(pool) = service.pool(RecordKind::Cname) {
        return from_pool(
            writer,
            asked,
            apex,
            service.policy,
            &pool,
            RecordKind::Cname,
        );
    }
    let kind = match asked.qtype {
        TYPE_A => Some(RecordKind::A),
        TYPE_AAAA => Some(RecordKind::Aaaa),
        TYPE_SRV => Some(RecordKind::Srv),
        TYPE_ANY => return any_at_service(writer, asked, apex, service),
        _ => None,
    };
    match kind.and_then(|kind| Some((service.pool(kind)?, kind))) {
        Some((pool, kind)) => from_pool(writer, asked, apex, service.policy, &pool, kind),
        None => negative(writer, asked, apex, Rcode::NoError),
    }
}

/// ANY at a service: every RRset it has — A, AAAA and SRV (with the SRV
/// glue), each chosen as for its own query — so one query gets what
/// JNDI's multi-type lookups (`getAttributes(name, {"SRV", "A"})` sends
/// ANY) ask for. NSD 4.6 answers one RRset instead (RFC 8482 allows
/// either); over UDP a full answer that does not fit sets TC as any other.
fn any_at_service(
    writer: &mut ResponseWriter<'_>,
    asked: Asked<'_>,
    apex: &Apex,
    service: &CompiledService,
) -> Step {
    let mut answered = false;
    for kind in [RecordKind::A, RecordKind::Aaaa, RecordKind::Srv] {
        let Some(pool) = service.pool(kind).filter(|pool| !pool.is_empty()) else {
            continue;
        };
        answered = true;
        from_pool(writer, asked, apex, service.policy, &pool, kind);
    }
    if !answered {
        return negative(writer, asked, apex, Rcode::NoError);
    }
    Step::Done
}

/// Answers `<instance>.<service>`; `None` when the first label names no
/// instance of the service.
fn at_instance(
    writer: &mut ResponseWriter<'_>,
    asked: Asked<'_>,
    apex: &Apex,
    service: &CompiledService,
) -> Option<Step> {
    if !service.names_instances() {
        return None;
    }
    let label_len = usize::from(*asked.name.first()?);
    let wire = service.instance(asked.name.get(1..1 + label_len)?)?;
    // The target's own addresses are its answers at the service name; ANY
    // gets both.
    let (a, aaaa) = (wire.record(RecordKind::A), wire.record(RecordKind::Aaaa));
    let records = match asked.qtype {
        TYPE_A => [a, None],
        TYPE_AAAA => [aaaa, None],
        TYPE_ANY => [a, aaaa],
        _ => [None, None],
    };
    if records.iter().all(Option::is_none) {
        return Some(negative(writer, asked, apex, Rcode::NoError));
    }
    writer.set_authoritative();
    for record in records.into_iter().flatten() {
        if writer
            .push_required(Section::Answer, record, asked.at)
            .is_none()
        {
            break;
        }
    }
    Some(Step::Done)
}

fn from_pool(
    writer: &mut ResponseWriter<'_>,
    asked: Asked<'_>,
    apex: &Apex,
    policy: RoutingPolicy,
    pool: &Pool<'_>,
    kind: RecordKind,
) -> Step {
    if pool.is_empty() {
        return negative(writer, asked, apex, Rcode::NoError);
    }
    writer.set_authoritative();
    let picks = match policy {
        RoutingPolicy::Multivalue => pick_several(pool.len()),
        RoutingPolicy::Weighted => SmallVec::from_iter([pick_weighted(pool)]),
    };
    // Where each pick's record went, for the glue and the CNAME's target.
    let mut written: SmallVec<[(usize, usize); MULTIVALUE_LIMIT]> = SmallVec::new();
    for &index in &picks {
        let Some(record) = pool.get(index).and_then(|member| member.record(kind)) else {
            continue;
        };
        match writer.push_required(Section::Answer, record, asked.at) {
            Some(start) => written.push((index, start)),
            None => return Step::Done,
        }
    }
    match kind {
        RecordKind::Cname => match written.first() {
            Some(&(_, start)) => Step::Alias(start + CNAME_TARGET_AT),
            None => Step::Done,
        },
        RecordKind::Srv => {
            add_srv_glue(writer, pool, &written);
            Step::Done
        }
        RecordKind::A | RecordKind::Aaaa => Step::Done,
    }
}

/// Adds each SRV target's A/AAAA records while they fit, each owned by a
/// pointer to its SRV record's target name, so the owner costs two bytes
/// whatever the id's length.
fn add_srv_glue(writer: &mut ResponseWriter<'_>, pool: &Pool<'_>, written: &[(usize, usize)]) {
    for &(index, start) in written {
        let (Some(member), Some(target)) = (pool.get(index), NameAt::new(start + SRV_TARGET_AT))
        else {
            continue;
        };
        let (records, count) = member.glue();
        if count > 0 && !writer.push_optional(Section::Additional, &records[..count], target) {
            break;
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
