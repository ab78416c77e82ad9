//! DNS over TCP against clients that try to hold every connection. TCP is
//! the fallback for every truncated UDP answer, so thousands of idle
//! connections, clients that never read their answers, or one client
//! opening connection after connection must not keep anyone else from an
//! answer (NSD and Knot both still answer with 1,500 connections open).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use socket2::{Domain, Protocol, Socket, Type};

use crate::support::{DEADLINE, TestServer, query_message, rcode};

/// A public zone (any source address may ask) whose SRV answer is large:
/// eight long targets with their addresses, so a few hundred unread
/// answers fill any socket buffer.
fn zone_text() -> String {
    let mut text = String::from(
        r#"
[namespace]
name = "tcp.test"
type = "DNS_PUBLIC"

[[services]]
name = "big"
routing_policy = "MULTIVALUE"
records = [{ type = "A", ttl = 5 }, { type = "SRV", ttl = 5 }]
"#,
    );
    for n in 0..8 {
        text.push_str(&format!(
            "\n[[services.instances]]\nid = \"an-instance-whose-id-makes-its-srv-target-long-{n:02}\"\nipv4 = \"10.9.0.{n}\"\nport = 9000\n"
        ));
    }
    text
}

fn start(dns_config: &str) -> TestServer {
    TestServer::start_with_dns(&[("tcp.test.toml", &zone_text())], "", dns_config)
}

/// Raises this process's soft limit on open files to its hard limit (the
/// server, started after, inherits it) and returns it.
fn raise_open_file_limit() -> u64 {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise RLIMIT_NOFILE");
    }
    hard
}

/// A connection from `source` (any 127/8 address is this host), with a
/// receive buffer of `receive_buffer` bytes when given.
fn connect(server: SocketAddr, source: Ipv4Addr, receive_buffer: Option<usize>) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    if let Some(size) = receive_buffer {
        // Before connecting, so the window the server sees is small from
        // the start.
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    socket
        .bind(&SocketAddr::from((source, 0)).into())
        .unwrap_or_else(|error| panic!("bind {source}: {error}"));
    socket
        .connect_timeout(&server.into(), DEADLINE)
        .unwrap_or_else(|error| panic!("connect from {source}: {error}"));
    socket.into()
}

/// A query with its two-byte length prefix.
fn framed(query: &Message) -> Vec<u8> {
    let bytes = query.to_vec().expect("encode query");
    let mut frame = u16::try_from(bytes.len())
        .expect("query length")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(&bytes);
    frame
}

/// One query on an open connection, its answer awaited up to `timeout`.
fn ask(stream: &mut TcpStream, timeout: Duration) -> Result<Message, String> {
    let query = query_message("big.tcp.test.", RecordType::SRV, Some(1232));
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&framed(&query))
        .map_err(|e| e.to_string())?;
    let mut prefix = [0u8; 2];
    stream
        .read_exact(&mut prefix)
        .map_err(|e| format!("no answer: {e}"))?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream
        .read_exact(&mut reply)
        .map_err(|e| format!("a cut answer: {e}"))?;
    let answer = Message::from_vec(&reply).map_err(|e| e.to_string())?;
    if answer.metadata.id != query.metadata.id {
        return Err("an answer to another query".to_string());
    }
    Ok(answer)
}

/// A client that sends `queries` queries and never reads: its small receive
/// buffer fills at once, then the server's send buffer, and the server's
/// write blocks.
fn non_reader(server: SocketAddr, source: Ipv4Addr, queries: usize) -> TcpStream {
    let mut stream = connect(server, source, Some(4096));
    let query = framed(&query_message("big.tcp.test.", RecordType::SRV, Some(1232)));
    let burst: Vec<u8> = query
        .iter()
        .copied()
        .cycle()
        .take(query.len() * queries)
        .collect();
    // Fits the server's receive buffer, so this returns while the server
    // is still answering.
    stream.write_all(&burst).expect("send queries");
    stream
}

/// Whether the server has reset the connection (as a close with unread
/// queries does).
fn was_reset(stream: &TcpStream) -> bool {
    matches!(stream.take_error(), Ok(Some(_)))
}

/// Whether answers are waiting, unread, on a connection.
fn has_unread_data(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking peek");
    let mut byte = [0u8; 1];
    let waiting = matches!(stream.peek(&mut byte), Ok(n) if n > 0);
    stream.set_nonblocking(false).expect("blocking again");
    waiting
}

/// Whether the server closed a connection it had nothing left to send on.
fn was_closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking read");
    let mut byte = [0u8; 1];
    let closed = match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking again");
    closed
}

/// Polls `check` until it holds or `bound` has passed since `start`;
/// returns how long it took.
fn within(bound: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(start.elapsed() < bound, "{what} within {bound:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_fresh_client_is_answered_while_others_hold_every_connection() {
    raise_open_file_limit();
    // Fewer slots than the held connections, and a per-client limit the
    // attackers stay under by spreading over addresses, so only eviction
    // can let a fresh client in. The write timeout is long enough that the
    // non-readers are still stuck answering when the fresh client asks,
    // however slow a loaded machine makes the setup.
    let server = start(
        "tcp_max_connections = 256\ntcp_max_connections_per_client = 64\ntcp_write_timeout_secs = 60",
    );
    // 50 non-readers on five addresses, ten each.
    let non_readers: Vec<_> = (0..50)
        .map(|n| non_reader(server.dns, Ipv4Addr::new(127, 2, 0, n / 10 + 1), 500))
        .collect();
    // Each is mid-answer once its first answers reach it: from then on the
    // server is blocked writing to it. Waiting for that keeps a loaded
    // machine from making a non-reader look idle when the flood comes.
    within(Duration::from_secs(20), "every non-reader answered", || {
        non_readers.iter().all(has_unread_data)
    });
    // 1,500 idle connections on 30 addresses, 50 each.
    let idle: Vec<_> = (0..1500u32)
        .map(|n| {
            let source = Ipv4Addr::new(127, 1, 0, u8::try_from(n / 50 + 1).expect("address"));
            connect(server.dns, source, None)
        })
        .collect();

    for fresh in 0..10 {
        let mut stream = connect(server.dns, Ipv4Addr::LOCALHOST, None);
        let started = Instant::now();
        match ask(&mut stream, Duration::from_secs(2)) {
            Ok(answer) => assert_eq!(rcode(&answer), ResponseCode::NoError),
            Err(error) => panic!(
                "fresh client {fresh} with {} idle and {} non-reading connections open: {error} after {:?}\n{}",
                idle.len(),
                non_readers.len(),
                started.elapsed(),
                server.log()
            ),
        }
    }
    let still_held = non_readers
        .iter()
        .filter(|stream| !was_reset(stream))
        .count();
    assert_eq!(
        still_held, 50,
        "non-readers are mid-answer, so idle connections went first"
    );
}

#[test]
fn a_client_that_does_not_read_its_answers_is_closed_after_the_write_timeout() {
    let server = start("tcp_write_timeout_secs = 0.5");
    let stream = non_reader(server.dns, Ipv4Addr::LOCALHOST, 500);
    // Idle connections would last 10 s; this one must go at 0.5 s, plus
    // the time to answer until the buffers are full.
    let took = within(Duration::from_secs(3), "the non-reader reset", || {
        was_reset(&stream)
    });
    eprintln!("non-reading client reset after {took:?}");
    // Others are answered as before.
    let mut other = connect(server.dns, Ipv4Addr::LOCALHOST, None);
    ask(&mut other, DEADLINE).expect("an answer");
}

#[test]
fn a_client_at_its_connection_limit_replaces_its_own_idlest_connection() {
    let server = start("tcp_max_connections_per_client = 4");
    let client = Ipv4Addr::new(127, 3, 0, 1);
    let mut neighbour = connect(server.dns, Ipv4Addr::new(127, 3, 0, 2), None);
    let mut oldest = connect(server.dns, client, None);
    // The other three have answered since, so `oldest` is the idlest.
    let mut newer: Vec<_> = (0..3)
        .map(|_| {
            let mut stream = connect(server.dns, client, None);
            ask(&mut stream, DEADLINE).expect("an answer within the limit");
            stream
        })
        .collect();

    let mut fifth = connect(server.dns, client, None);
    ask(&mut fifth, DEADLINE).expect("the fifth connection is answered");
    // Idle connections would last 10 s.
    within(
        Duration::from_secs(3),
        "the idlest connection closed",
        || was_closed(&mut oldest),
    );

    for stream in &mut newer {
        ask(stream, DEADLINE).expect("the client's other connections stay");
    }
    ask(&mut neighbour, DEADLINE).expect("another client's connection stays");
}

#[test]
fn idle_connections_time_out_sooner_under_pressure() {
    let server = start(
        "tcp_max_connections = 4\ntcp_pressure_percent = 50\ntcp_pressure_idle_timeout_secs = 0.2",
    );
    let source = Ipv4Addr::new(127, 4, 0, 1);
    // Three of four open is above half. Which of them waited long depends
    // on when each started waiting (the unit tests pin that); the third
    // started after all three were open, so it waits 0.2 s, not 10.
    let _others: Vec<_> = (0..2).map(|_| connect(server.dns, source, None)).collect();
    let mut pressed = connect(server.dns, source, None);
    let took = within(Duration::from_secs(3), "the idle connection closed", || {
        was_closed(&mut pressed)
    });
    eprintln!("idle connection under pressure closed after {took:?}");
}
