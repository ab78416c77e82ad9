//! Response rate limiting against a real server: a burst from one source
//! is cut down to a trickle of answers and truncated slips, while other
//! networks, exempt clients and private namespaces are served as usual.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{DEADLINE, TestServer, Transport, query_message, rcode};

const PUBLIC: &str = r#"
[namespace]
name = "pub.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 60 }]

[[services.instances]]
id = "web-1"
ipv4 = "192.0.2.1"
"#;

const PRIVATE: &str = r#"
[namespace]
name = "priv.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "db"
records = [{ type = "A", ttl = 60 }]

[[services.instances]]
id = "db-1"
ipv4 = "192.0.2.9"
"#;

/// Low enough that a burst is far above it.
pub(crate) const RATE: u32 = 20;
const SLIP: usize = 2;
pub(crate) const FLOOD: u16 = 2_000;

pub(crate) fn start() -> TestServer {
    TestServer::start_with(
        &[("pub.toml", PUBLIC), ("priv.toml", PRIVATE)],
        &format!(
            "[dns.rrl]\nresponses_per_second = {RATE}\nslip = {SLIP}\nexempt = [\"127.5.0.0/16\"]\n"
        ),
    )
}

/// What came back for a burst of queries from one socket.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    pub(crate) answered: usize,
    pub(crate) truncated: usize,
}

/// Sends `FLOOD` queries for `name` from one socket on 127.0.0.1, as fast
/// as it can in windows of `WINDOW`, each followed by a query for a private
/// name: its answer comes after every answer to the window (same socket,
/// same worker, answered in order), so the test knows when all that the
/// server sent is in, and never has more queued than its socket holds.
pub(crate) fn flood(server: &TestServer, name: &str) -> (Replies, f64) {
    const WINDOW: u16 = 100;
    const SENTINEL: u16 = u16::MAX;
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the flood socket");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let send = |name: &str, id: u16| {
        let mut query = query_message(name, RecordType::A, Some(1232));
        query.metadata.id = id;
        socket
            .send_to(&query.to_vec().expect("encode"), server.dns)
            .expect("send");
    };
    let mut replies = Replies::default();
    let mut buffer = [0u8; 4096];
    let started = Instant::now();
    for window in 0..FLOOD / WINDOW {
        for id in window * WINDOW..(window + 1) * WINDOW {
            send(name, id);
        }
        send("db.priv.test.", SENTINEL);
        loop {
            let len = socket
                .recv(&mut buffer)
                .expect("the private sentinel is answered in time");
            let reply = Message::from_vec(&buffer[..len]).expect("a reply decodes");
            assert_eq!(rcode(&reply), ResponseCode::NoError);
            if reply.metadata.id == SENTINEL {
                assert_eq!(reply.answers.len(), 1, "the private sentinel is answered");
                break;
            }
            if reply.metadata.truncation {
                assert!(reply.answers.is_empty(), "a slip carries no records");
                replies.truncated += 1;
            } else {
                assert_eq!(reply.answers.len(), 1);
                replies.answered += 1;
            }
        }
    }
    (replies, started.elapsed().as_secs_f64())
}

fn answered_from(server: &TestServer, source: [u8; 4], name: &str) -> Message {
    let query = query_message(name, RecordType::A, Some(1232));
    server.ask(&query, Transport::UdpFrom(IpAddr::from(source)))
}

#[test]
fn a_flood_from_one_network_is_limited_and_slips_while_others_are_served() {
    let server = start();
    // Other networks query the same name while the flood runs; each is a
    // bucket of its own (one query each: a new bucket is always served,
    // whichever worker the query reaches).
    let (replies, elapsed) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| flood(&server, "web.pub.test."));
        for third in 1..=5 {
            let reply = answered_from(&server, [127, 0, third, 2], "web.pub.test.");
            assert!(!reply.metadata.truncation, "127.0.{third}.2 is not limited");
            assert_eq!(reply.answers.len(), 1, "127.0.{third}.2 is answered");
        }
        flood.join().expect("the flood")
    });

    // At most the rate over the time the burst took, plus a second's worth
    // to start with (the server shares the rate over its workers, so it
    // allows no more than this).
    let allowed = (f64::from(RATE) * (1.0 + elapsed + 1.0)).ceil() as usize;
    let limited = usize::from(FLOOD) - replies.answered;
    assert!(
        replies.answered <= allowed,
        "{replies:?}: at most {allowed} answers in {elapsed:.3} s"
    );
    // Every second limited answer slips, the others are dropped.
    assert!(
        replies.truncated.abs_diff(limited / SLIP) <= 1,
        "{replies:?}: {} slips expected",
        limited / SLIP
    );
    assert!(replies.answered + replies.truncated < usize::from(FLOOD) * 6 / 10);

    let over_tcp = server.tcp("web.pub.test.", RecordType::A);
    assert_eq!(over_tcp.answers.len(), 1, "TCP is never limited");
}

#[test]
fn private_namespaces_and_exempt_networks_are_never_limited() {
    let server = start();
    let (private, _) = flood(&server, "db.priv.test.");
    assert_eq!(private.answered, usize::from(FLOOD), "{private:?}");

    for round in 0..200 {
        let reply = answered_from(&server, [127, 5, 0, 1], "web.pub.test.");
        assert!(!reply.metadata.truncation, "exempt query {round}");
        assert_eq!(reply.answers.len(), 1, "exempt query {round}");
    }
}
