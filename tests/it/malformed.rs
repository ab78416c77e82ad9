//! The malformed-packet battery: hand-made queries that break one rule each
//! (a header cut short, counts that lie, compression loops, bad labels, OPT
//! and TSIG oddities, unknown classes and opcodes), each with the reply
//! cairn must give pinned — its rcode, whether it carries an OPT record and
//! the question, or no reply at all — over UDP and TCP, and compared with
//! NSD's reply over UDP where cairn means to answer as NSD does.
//!
//! NSD is compared on rcode and OPT only: it never echoes the question in
//! an error reply, where cairn echoes it whenever it could read it (a client
//! matches a reply to its query by id and question). Over TCP NSD closes the
//! connection on some probes it answers over UDP, so TCP is pinned for cairn
//! alone.
//!
//! Each probe is also a seed of the `query` fuzz target
//! (`fuzz/corpus/query/battery-*`); `every_probe_is_a_fuzz_seed` keeps the
//! two in step (`CAIRN_WRITE_CORPUS=1` writes the missing ones).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;

use hickory_proto::op::Message;

use crate::reference::{ZONE, ZONE_FILE, start_nsd};
use crate::support::{DEADLINE, TestServer, require_tool};

/// What a probe must get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// Nothing: a response, or less than a header.
    None,
    Answer {
        /// The whole rcode: the header's four bits and the OPT's upper eight.
        rcode: u16,
        opt: bool,
        question: bool,
    },
}

const NOERROR: u16 = 0;
const FORMERR: u16 = 1;
const NOTIMP: u16 = 4;
const REFUSED: u16 = 5;
const NOTAUTH: u16 = 9;
const BADVERS: u16 = 16;

const fn answer(rcode: u16, opt: bool, question: bool) -> Reply {
    Reply::Answer {
        rcode,
        opt,
        question,
    }
}

/// Whether NSD answers a probe as cairn does (rcode and OPT).
#[derive(Debug, Clone, Copy)]
enum Nsd {
    Same,
    /// cairn knowingly differs, for this reason.
    Differs(&'static str),
}

struct Probe {
    /// Also the seed's file name: `battery-<slug>`.
    slug: &'static str,
    bytes: Vec<u8>,
    cairn: Reply,
    nsd: Nsd,
}

const ID: u16 = 0xbeef;

fn header(flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut bytes = ID.to_be_bytes().to_vec();
    bytes.extend_from_slice(&flags.to_be_bytes());
    for count in counts {
        bytes.extend_from_slice(&count.to_be_bytes());
    }
    bytes
}

/// RD set, opcode QUERY.
const QUERY: u16 = 0x0100;

fn name(dotted: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for label in dotted.split('.').filter(|label| !label.is_empty()) {
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label.as_bytes());
    }
    bytes.push(0);
    bytes
}

fn question(dotted: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut bytes = name(dotted);
    bytes.extend_from_slice(&qtype.to_be_bytes());
    bytes.extend_from_slice(&qclass.to_be_bytes());
    bytes
}

fn web() -> Vec<u8> {
    question("web.ref.test", 1, 1)
}

/// An OPT record: `rdata` as its options, `rdata_len` as its declared
/// length (the real one unless given).
fn opt_with(version: u8, rdata: &[u8], rdata_len: Option<u16>) -> Vec<u8> {
    let mut bytes = vec![0, 0, 41, 0x04, 0xd0, 0, version, 0, 0];
    let len = rdata_len.unwrap_or(rdata.len() as u16);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(rdata);
    bytes
}

fn opt() -> Vec<u8> {
    opt_with(0, &[], None)
}

/// An A record owned by the question's name.
fn a_record() -> Vec<u8> {
    vec![0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]
}

/// A TSIG record for an unknown key, with a 32-byte MAC.
fn tsig() -> Vec<u8> {
    let mut rdata = name("hmac-sha256");
    rdata.extend_from_slice(&[0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c, 0, 32]);
    rdata.extend_from_slice(&[0x11; 32]);
    rdata.extend_from_slice(&ID.to_be_bytes());
    rdata.extend_from_slice(&[0, 0, 0, 0]);
    let mut record = name("key");
    record.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend(rdata);
    record
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn probes() -> Vec<Probe> {
    use Nsd::{Differs, Same};
    let formerr_bare = answer(FORMERR, false, false);
    let formerr = answer(FORMERR, false, true);
    let probe = |slug, bytes, cairn, nsd| Probe {
        slug,
        bytes,
        cairn,
        nsd,
    };
    let mut probes = vec![
        probe(
            "plain",
            cat(&[header(QUERY, [1, 0, 0, 0]), web()]),
            answer(NOERROR, false, true),
            Same,
        ),
        probe(
            "plain-edns",
            cat(&[header(QUERY, [1, 0, 0, 1]), web(), opt()]),
            answer(NOERROR, true, true),
            Same,
        ),
        // Headers cut short and counts that lie.
        probe(
            "header-11-bytes",
            header(QUERY, [1, 0, 0, 0])[..11].to_vec(),
            Reply::None,
            Same,
        ),
        probe("qdcount-0", header(QUERY, [0, 0, 0, 0]), formerr_bare, Same),
        probe(
            "qdcount-0-edns",
            cat(&[header(QUERY, [0, 0, 0, 1]), opt()]),
            formerr_bare,
            Differs(
                "NSD answers a question-less query with OPT as a DNS Cookie query (RFC 7873 §5.4, NOERROR); cairn has no cookies",
            ),
        ),
        probe(
            "qdcount-1-no-question",
            header(QUERY, [1, 0, 0, 0]),
            formerr_bare,
            Same,
        ),
        probe(
            "qdcount-2",
            cat(&[header(QUERY, [2, 0, 0, 0]), web(), web()]),
            formerr_bare,
            Same,
        ),
        probe(
            "ancount-1",
            cat(&[header(QUERY, [1, 1, 0, 0]), web(), a_record()]),
            formerr,
            Same,
        ),
        probe(
            "nscount-1",
            cat(&[header(QUERY, [1, 0, 1, 0]), web(), a_record()]),
            formerr,
            Same,
        ),
        probe(
            "question-without-class",
            cat(&[
                header(QUERY, [1, 0, 0, 0]),
                name("web.ref.test"),
                vec![0, 1],
            ]),
            formerr_bare,
            Same,
        ),
        // Compression and labels.
        probe(
            "qname-pointer-loop",
            cat(&[header(QUERY, [1, 0, 0, 0]), vec![0xc0, 0x0c, 0, 1, 0, 1]]),
            formerr_bare,
            Same,
        ),
        probe(
            "qname-forward-pointer",
            cat(&[
                header(QUERY, [1, 0, 0, 0]),
                vec![0xc0, 0x12, 0, 1, 0, 1],
                name("web.ref.test"),
            ]),
            formerr_bare,
            Same,
        ),
        probe(
            "label-64",
            cat(&[
                header(QUERY, [1, 0, 0, 0]),
                vec![64],
                vec![b'a'; 64],
                vec![0, 0, 1, 0, 1],
            ]),
            formerr_bare,
            Same,
        ),
        probe(
            "name-over-255",
            cat(&[
                header(QUERY, [1, 0, 0, 0]),
                [[63u8].as_slice(), &[b'a'; 63]].concat().repeat(4),
                vec![0, 0, 1, 0, 1],
            ]),
            formerr_bare,
            Same,
        ),
        probe(
            "label-past-the-end",
            cat(&[header(QUERY, [1, 0, 0, 0]), vec![63, b'a', b'b']]),
            formerr_bare,
            Same,
        ),
        // OPT oddities.
        probe(
            "two-opts",
            cat(&[header(QUERY, [1, 0, 0, 2]), web(), opt(), opt()]),
            formerr,
            Same,
        ),
        probe(
            "opt-in-answer",
            cat(&[header(QUERY, [1, 1, 0, 0]), web(), opt()]),
            formerr,
            Same,
        ),
        probe(
            "opt-owner-not-root",
            cat(&[header(QUERY, [1, 0, 0, 1]), web(), vec![1, b'a'], opt()]),
            formerr,
            Same,
        ),
        probe(
            "opt-version-1",
            cat(&[header(QUERY, [1, 0, 0, 1]), web(), opt_with(1, &[], None)]),
            answer(BADVERS, true, true),
            Same,
        ),
        probe(
            "opt-rdata-past-the-end",
            cat(&[
                header(QUERY, [1, 0, 0, 1]),
                web(),
                opt_with(0, &[], Some(20)),
            ]),
            formerr,
            Same,
        ),
        probe(
            "opt-option-100-in-8",
            cat(&[
                header(QUERY, [1, 0, 0, 1]),
                web(),
                opt_with(0, &[0, 10, 0, 100, 0, 0, 0, 0], None),
            ]),
            formerr,
            Same,
        ),
        probe(
            "opt-option-ffff",
            cat(&[
                header(QUERY, [1, 0, 0, 1]),
                web(),
                opt_with(0, &[0, 10, 0xff, 0xff, 0, 0, 0, 0], None),
            ]),
            formerr,
            Same,
        ),
        probe(
            "opt-option-3-byte-header",
            cat(&[
                header(QUERY, [1, 0, 0, 1]),
                web(),
                opt_with(0, &[0, 10, 0], None),
            ]),
            formerr,
            Same,
        ),
        probe(
            "opt-cookie",
            cat(&[
                header(QUERY, [1, 0, 0, 1]),
                web(),
                opt_with(0, &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8], None),
            ]),
            answer(NOERROR, true, true),
            Same,
        ),
        probe(
            "additional-a-record",
            cat(&[header(QUERY, [1, 0, 0, 1]), web(), a_record()]),
            formerr,
            Same,
        ),
        // TSIG with a key cairn does not hold (it holds none).
        probe(
            "tsig-unknown-key",
            cat(&[header(QUERY, [1, 0, 0, 1]), web(), tsig()]),
            answer(NOTAUTH, false, true),
            Same,
        ),
        probe(
            "tsig-unknown-key-edns",
            cat(&[header(QUERY, [1, 0, 0, 2]), web(), opt(), tsig()]),
            answer(NOTAUTH, true, true),
            Same,
        ),
        probe(
            "tsig-before-opt",
            cat(&[header(QUERY, [1, 0, 0, 2]), web(), tsig(), opt()]),
            formerr,
            Same,
        ),
        // Classes, types, responses.
        probe(
            "class-ch",
            cat(&[header(QUERY, [1, 0, 0, 0]), question("web.ref.test", 1, 3)]),
            answer(REFUSED, false, true),
            Same,
        ),
        probe(
            "class-42",
            cat(&[header(QUERY, [1, 0, 0, 0]), question("web.ref.test", 1, 42)]),
            answer(REFUSED, false, true),
            Same,
        ),
        probe(
            "class-any",
            cat(&[
                header(QUERY, [1, 0, 0, 0]),
                question("web.ref.test", 1, 255),
            ]),
            answer(REFUSED, false, true),
            Differs(
                "NSD answers QCLASS ANY from its IN zone; cairn serves class IN only and refuses the rest alike",
            ),
        ),
        probe(
            "axfr",
            cat(&[header(QUERY, [1, 0, 0, 0]), question("ref.test", 252, 1)]),
            answer(REFUSED, false, true),
            Differs(
                "NSD answers AXFR over UDP with NOTIMP (REFUSED over TCP); cairn refuses transfers on both",
            ),
        ),
        probe(
            "ixfr",
            cat(&[header(QUERY, [1, 0, 0, 0]), question("ref.test", 251, 1)]),
            answer(REFUSED, false, true),
            Same,
        ),
        probe(
            "qr-set",
            cat(&[header(0x8100, [1, 0, 0, 0]), web()]),
            Reply::None,
            Same,
        ),
    ];
    let soa = || question("ref.test", 6, 1);
    // Every opcode but QUERY, with and without OPT.
    const SLUGS: [&str; 15] = [
        "iquery",
        "status",
        "opcode-3",
        "notify",
        "update",
        "dso",
        "opcode-7",
        "opcode-8",
        "opcode-9",
        "opcode-10",
        "opcode-11",
        "opcode-12",
        "opcode-13",
        "opcode-14",
        "opcode-15",
    ];
    const SLUGS_EDNS: [&str; 15] = [
        "iquery-edns",
        "status-edns",
        "opcode-3-edns",
        "notify-edns",
        "update-edns",
        "dso-edns",
        "opcode-7-edns",
        "opcode-8-edns",
        "opcode-9-edns",
        "opcode-10-edns",
        "opcode-11-edns",
        "opcode-12-edns",
        "opcode-13-edns",
        "opcode-14-edns",
        "opcode-15-edns",
    ];
    for opcode in 1u16..16 {
        let flags = (opcode << 11) | 0x0100;
        let index = usize::from(opcode - 1);
        let notify = opcode == 4;
        let plain_nsd = if notify {
            Differs(
                "NSD refuses a NOTIFY for a zone it is not secondary for; cairn implements no NOTIFY",
            )
        } else {
            Same
        };
        probes.push(probe(
            SLUGS[index],
            cat(&[header(flags, [1, 0, 0, 0]), soa()]),
            answer(NOTIMP, false, true),
            plain_nsd,
        ));
        probes.push(probe(
            SLUGS_EDNS[index],
            cat(&[header(flags, [1, 0, 0, 1]), soa(), opt()]),
            answer(NOTIMP, true, true),
            Differs("NSD leaves the OPT out of NOTIMP and REFUSED replies to other opcodes; RFC 6891 §7 asks for it in every reply to a query with OPT"),
        ));
    }
    probes
}

/// What came back for one probe, read from the raw reply.
fn reply_of(raw: Option<Vec<u8>>) -> Reply {
    let Some(raw) = raw else {
        return Reply::None;
    };
    let message =
        Message::from_vec(&raw).unwrap_or_else(|e| panic!("undecodable reply {raw:02x?}: {e}"));
    assert_eq!(message.metadata.id, ID, "reply id");
    let high = message
        .edns
        .as_ref()
        .map_or(0, |edns| u16::from(edns.rcode_high()));
    Reply::Answer {
        rcode: (high << 4) | u16::from(raw[3] & 0x0f),
        opt: message.edns.is_some(),
        question: !message.queries.is_empty(),
    }
}

/// A query that is always answered, sent after a probe on the same socket
/// or connection: when its reply is the first to come back, the probe got
/// none — no waiting on a timeout to prove silence.
fn follower() -> Vec<u8> {
    let mut bytes = cat(&[header(QUERY, [1, 0, 0, 0]), web()]);
    bytes[..2].copy_from_slice(&FOLLOWER_ID.to_be_bytes());
    bytes
}

const FOLLOWER_ID: u16 = 0xf011;

/// The reply to `probe` over UDP, if any. The follower's reply proves
/// silence: a server answers a socket's datagrams in batches, so once a
/// follower sent after the first follower's reply is answered too, every
/// reply to the probe's batch has been sent (NSD can send a probe's reply
/// after that of a follower in the same batch).
fn over_udp(server: SocketAddr, probe: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    socket.send_to(probe, server).expect("send the probe");
    let mut reply = None;
    for _ in 0..2 {
        socket
            .send_to(&follower(), server)
            .expect("send a follower");
        loop {
            let mut buffer = vec![0u8; 65535];
            let len = socket
                .recv(&mut buffer)
                .expect("a reply before the deadline");
            buffer.truncate(len);
            if buffer.get(..2) == Some(&FOLLOWER_ID.to_be_bytes()[..]) {
                break;
            }
            reply = Some(buffer);
        }
    }
    reply
}

/// The same over one TCP connection: replies come in the queries' order.
fn over_tcp(server: SocketAddr, probe: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, DEADLINE).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    for message in [probe, &follower()] {
        stream
            .write_all(&(message.len() as u16).to_be_bytes())
            .expect("send");
        stream.write_all(message).expect("send");
    }
    let mut prefix = [0u8; 2];
    stream
        .read_exact(&mut prefix)
        .expect("a reply before the deadline");
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut reply).expect("the whole reply");
    (reply.get(..2) != Some(&FOLLOWER_ID.to_be_bytes()[..])).then_some(reply)
}

/// Sends a probe and returns its reply, if it got one.
type Exchange = fn(SocketAddr, &[u8]) -> Option<Vec<u8>>;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/query")
}

#[test]
fn every_probe_gets_its_pinned_reply_over_udp_and_tcp() {
    let cairn = TestServer::start(&[("ref.test.toml", ZONE)]);
    let mut wrong = Vec::new();
    for probe in probes() {
        // Over TCP a message shorter than a header closes the connection,
        // so it cannot be followed.
        let transports: &[(&str, Exchange)] = if probe.bytes.len() < 12 {
            &[("udp", over_udp)]
        } else {
            &[("udp", over_udp), ("tcp", over_tcp)]
        };
        for (transport, exchange) in transports {
            let got = reply_of(exchange(cairn.dns, &probe.bytes));
            if got != probe.cairn {
                wrong.push(format!(
                    "{} over {transport}: expected {:?}, got {got:?}",
                    probe.slug, probe.cairn
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "cairn's replies changed:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn cairn_answers_malformed_queries_as_nsd_does_except_where_listed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(nsd) = require_tool("nsd") else {
        return;
    };
    let nsd = start_nsd(&nsd, dir.path(), &[("ref.test", ZONE_FILE)]);
    let cairn = TestServer::start(&[("ref.test.toml", ZONE)]);
    let shape = |reply: Reply| match reply {
        Reply::None => None,
        Reply::Answer { rcode, opt, .. } => Some((rcode, opt)),
    };
    let mut differ = Vec::new();
    for probe in probes() {
        let ours = shape(reply_of(over_udp(cairn.dns, &probe.bytes)));
        let theirs = shape(reply_of(over_udp(nsd.addr, &probe.bytes)));
        match probe.nsd {
            Nsd::Same if ours != theirs => differ.push(format!(
                "{}: cairn {ours:?}, NSD {theirs:?} (rcode, OPT)",
                probe.slug
            )),
            // Keeps the list of known differences true.
            Nsd::Differs(reason) if ours == theirs => differ.push(format!(
                "{}: listed as differing ({reason}) but both give {ours:?}",
                probe.slug
            )),
            _ => {}
        }
    }
    assert!(
        differ.is_empty(),
        "cairn and NSD differ where they should not:\n{}",
        differ.join("\n")
    );
}

#[test]
fn every_probe_is_a_fuzz_seed() {
    let dir = corpus_dir();
    let write = std::env::var_os("CAIRN_WRITE_CORPUS").is_some();
    let mut missing = Vec::new();
    for probe in probes() {
        let path = dir.join(format!("battery-{}", probe.slug));
        if std::fs::read(&path).ok().as_deref() == Some(&probe.bytes[..]) {
            continue;
        }
        if write {
            std::fs::create_dir_all(&dir).expect("corpus directory");
            std::fs::write(&path, &probe.bytes).expect("write a seed");
        } else {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "seeds missing or stale (run with CAIRN_WRITE_CORPUS=1 to write them):\n{}",
        missing.join("\n")
    );
}
