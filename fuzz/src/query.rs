//! DNS queries. `answer_core` sends any bytes through
//! `dns::answer::respond` over a small fixed name table, as UDP from an
//! allowed and a denied client and as TCP: every reply must parse with
//! hickory-proto, carry the query's id and fit the size limit the query
//! earned. `reader_against_hickory` compares `dns::wire::read_query` with
//! hickory-proto's decoder: what cairn reads hickory must read with the
//! same question, and what hickory reads in the shape cairn serves cairn
//! must not call malformed.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use cairn::dns::NameTable;
use cairn::dns::answer::{Transport, respond};
use cairn::dns::wire::{Rcode, Unreadable, read_query};
use cairn::store::MemoryBackend;
use cairn::writer::Writer;
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

/// cairn's default `dns.max_udp_payload`.
const MAX_UDP_PAYLOAD: u16 = 1232;

/// A public zone with every kind of answer (A/AAAA/SRV with glue, CNAME,
/// an empty non-terminal, a service too big for one UDP answer) and a
/// private one that only 127.0.0.1 may see.
const ZONES: [(&str, &str); 2] = [
    (
        "ref.test.toml",
        r#"
[namespace]
name = "ref.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }, { type = "AAAA", ttl = 20 }, { type = "SRV", ttl = 30 }]

[[services.instances]]
id = "w1"
ipv4 = "10.0.0.1"
ipv6 = "fd00::1"
port = 8080

[[services.instances]]
id = "w2"
ipv4 = "10.0.0.2"
ipv6 = "fd00::2"
port = 8081

[[services]]
name = "_ldap._tcp"
routing_policy = "WEIGHTED"
records = [{ type = "SRV", ttl = 40 }, { type = "A", ttl = 40 }]

[[services.instances]]
id = "dc1"
ipv4 = "10.0.1.1"
port = 389

[[services]]
name = "alias"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 15 }]

[[services.instances]]
id = "alias-1"
cname = "target.example.com"
"#,
    ),
    (
        "priv.test.toml",
        r#"
[namespace]
name = "priv.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.1/32"]

[[services]]
name = "db"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "db-1"
ipv4 = "10.0.2.1"
"#,
    ),
];

/// Instances of `big.ref.test`, enough that its SRV answer outgrows 512
/// bytes and is truncated over UDP.
const BIG_INSTANCES: usize = 20;

fn big_service() -> String {
    let mut text = String::from(
        "\n[[services]]\nname = \"big\"\nrecords = [{ type = \"A\", ttl = 5 }, { type = \"AAAA\", ttl = 5 }, { type = \"SRV\", ttl = 5 }]\n",
    );
    for n in 0..BIG_INSTANCES {
        text.push_str(&format!(
            "\n[[services.instances]]\nid = \"instance-with-a-rather-long-name-{n:02}\"\nipv4 = \"10.1.0.{n}\"\nipv6 = \"fd00::1:{n}\"\nport = 9000\n"
        ));
    }
    text
}

/// The name table, built once per process through the real zones reader
/// and write front (kept alive with the runtime they run on).
struct Fixture {
    table: NameTable,
    _writer: Writer,
    _runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the fixture");
        let dir = std::env::temp_dir().join(format!("cairn-fuzz-zones-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a zones directory");
        for (name, text) in ZONES {
            let text = if name == "ref.test.toml" {
                format!("{text}{}", big_service())
            } else {
                text.to_string()
            };
            std::fs::write(dir.join(name), text).expect("write a zones file");
        }
        let (registry, table) = cairn::serve::build_registry(&cairn::config::Config::default());
        let writer = Writer::new(registry, Arc::new(MemoryBackend::default()));
        runtime
            .block_on(cairn::zones::apply(&dir, &writer))
            .expect("the fixture's zones apply");
        let _ = std::fs::remove_dir_all(&dir);
        Fixture {
            table,
            _writer: writer,
            _runtime: runtime,
        }
    })
}

pub fn answer_core(query: &[u8]) {
    let table = &fixture().table;
    let allowed = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let denied = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut buf = Vec::new();
    for (transport, client) in [
        (Transport::Udp, allowed),
        (Transport::Udp, denied),
        (Transport::Tcp, allowed),
    ] {
        if let Some(reply) = respond(table, query, client, transport, MAX_UDP_PAYLOAD, &mut buf) {
            check_reply(query, reply, transport);
        }
    }
}

fn check_reply(query: &[u8], reply: &[u8], transport: Transport) {
    let message = Message::from_vec(reply)
        .unwrap_or_else(|error| panic!("reply {reply:02x?} does not parse: {error}"));
    assert_eq!(
        message.metadata.id.to_be_bytes(),
        query[..2],
        "the reply's id is the query's"
    );
    assert_eq!(message.metadata.message_type, MessageType::Response);
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        // An OPT in the reply means the query had one: its payload size,
        // within 512 and cairn's own, is the limit (read by hickory when
        // it reads the query; cairn's largest otherwise).
        Transport::Udp if message.edns.is_some() => Message::from_vec(query)
            .ok()
            .and_then(|query| query.edns.map(|edns| edns.max_payload()))
            .map_or(MAX_UDP_PAYLOAD, |payload| {
                payload.clamp(512, MAX_UDP_PAYLOAD)
            })
            .into(),
        Transport::Udp => 512,
    };
    assert!(
        reply.len() <= limit,
        "a {}-byte reply over {transport:?}, limit {limit}",
        reply.len()
    );
}

pub fn reader_against_hickory(query: &[u8]) {
    let ours = read_query(query);
    let theirs = Message::from_vec(query);
    match (&ours, &theirs) {
        (Ok(question), Ok(message)) => same_question(question, message),
        (Ok(question), Err(error)) => {
            // hickory reads what some EDNS options hold (a client subnet's
            // address family, say) and refuses what it cannot make sense
            // of; cairn checks options' framing only and ignores their
            // contents (RFC 6891 §6.1.2). Without the options hickory must
            // read the query, as cairn does.
            let stripped = question
                .edns
                .and_then(|_| without_options(query, question.question_end));
            match stripped.as_deref().map(Message::from_vec) {
                Some(Ok(message)) => same_question(question, &message),
                _ => panic!("cairn reads a query hickory refuses: {error}"),
            }
        }
        (
            Err(Unreadable::Reply {
                rcode: Rcode::FormErr,
                ..
            }),
            Ok(message),
        ) if in_the_shape_cairn_serves(query, message) => {
            panic!("cairn calls malformed a query hickory reads: {message:?}")
        }
        _ => {}
    }
}

fn same_question(question: &cairn::dns::wire::Question, message: &Message) {
    let [their_question] = &message.queries[..] else {
        panic!("cairn read one question, hickory {}", message.queries.len());
    };
    let their_name = their_question
        .name()
        .to_lowercase()
        .to_bytes()
        .unwrap_or_else(|error| panic!("hickory's name does not encode: {error}"));
    assert_eq!(question.name(), &their_name[..], "question name");
    assert_eq!(question.qtype, u16::from(their_question.query_type()));
    assert_eq!(question.qclass, u16::from(their_question.query_class()));
    assert_eq!(
        question.edns.map(|edns| edns.version),
        message.edns.as_ref().map(|edns| edns.version()),
        "EDNS"
    );
    assert_eq!(question.tsig.is_some(), has_tsig(message), "TSIG");
}

/// The query with its OPT record (which cairn read right after the
/// question, ending at `question_end`) emptied of options.
fn without_options(query: &[u8], question_end: usize) -> Option<Vec<u8>> {
    let rdata_len_at = question_end + 9;
    let rdata_len = usize::from(u16::from_be_bytes(
        query.get(rdata_len_at..rdata_len_at + 2)?.try_into().ok()?,
    ));
    let mut stripped = query.get(..rdata_len_at)?.to_vec();
    stripped.extend_from_slice(&[0, 0]);
    stripped.extend_from_slice(query.get(rdata_len_at + 2 + rdata_len..)?);
    Some(stripped)
}

/// Where the question ends, when its name holds no compression pointer
/// (nor a reserved label type): hickory follows a pointer into the header
/// or into the question itself, cairn refuses any in the question.
fn plain_question_end(query: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            return Some(at + 4);
        }
    }
}

/// Whether an OPT record's options are framed as NSD and Knot (and
/// cairn) require: each a code, a length and that many bytes, the last
/// ending where the RDATA ends. hickory is laxer: it drops a partial
/// option header left at the end. Written here again, from RFC 6891
/// §6.1.2, so that the comparison does not take cairn's word for it.
fn options_framed(query: &[u8], opt_at: usize) -> bool {
    let Some(rdata_len) = query.get(opt_at + 9..opt_at + 11) else {
        return false;
    };
    let rdata_len = usize::from(u16::from_be_bytes([rdata_len[0], rdata_len[1]]));
    let Some(mut options) = query.get(opt_at + 11..opt_at + 11 + rdata_len) else {
        return false;
    };
    while !options.is_empty() {
        let Some(len) = options.get(2..4) else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(rest) = options.get(4 + len..) else {
            return false;
        };
        options = rest;
    }
    true
}

/// Whether hickory found a TSIG: as the message's signature, or (built
/// without its DNSSEC features, as here) as the last additional record.
fn has_tsig(message: &Message) -> bool {
    message.signature.is_some()
        || message
            .additionals
            .last()
            .is_some_and(|record| record.record_type() == RecordType::TSIG)
}

/// A standard query with one question and nothing else but an OPT and a
/// TSIG: the only shape cairn answers, written as RFC 6891 and RFC 8945
/// ask. Left out, as cairn refuses them on purpose where hickory is laxer:
/// a question name with a compression pointer; an OPT owned by a pointer
/// rather than the root byte; OPT options badly framed;
/// a TSIG whose class is not ANY (RFC 8945 §4.2); an OPT together with a
/// TSIG (hickory takes them in either order; RFC 8945 §5.1, NSD and cairn
/// want the TSIG last, and what hickory returns no longer says which came
/// first).
fn in_the_shape_cairn_serves(query: &[u8], message: &Message) -> bool {
    let Some(question_end) = plain_question_end(query) else {
        return false;
    };
    let additionals_fit = match (&message.edns, &message.additionals[..]) {
        (None, []) => true,
        // The OPT's owner written as the root itself (one zero byte), not
        // a compression pointer that lands on a zero byte: NSD and Knot
        // want it so, and so does cairn; hickory follows the pointer.
        (Some(_), []) => query.get(question_end) == Some(&0) && options_framed(query, question_end),
        (None, [tsig]) => has_tsig(message) && tsig.dns_class == DNSClass::ANY,
        _ => false,
    };
    message.metadata.message_type == MessageType::Query
        && message.metadata.op_code == OpCode::Query
        && message.queries.len() == 1
        && message.answers.is_empty()
        && message.authorities.is_empty()
        && additionals_fit
}
