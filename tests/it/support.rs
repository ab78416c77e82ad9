//! The test harness: starts the real `cairn` binary on free ports with a
//! config and zones written to a temporary directory, and talks to it as
//! clients do — DNS over UDP and TCP, the admin socket, the CLI.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The path of the `cairn` binary under test.
pub fn cairn_binary() -> &'static str {
    env!("CARGO_BIN_EXE_cairn")
}

/// A running `cairn serve`, stopped (SIGKILL) when dropped.
pub struct TestServer {
    child: Child,
    pub dns: SocketAddr,
    pub admin_socket: PathBuf,
    pub config_path: PathBuf,
    pub dir: tempfile::TempDir,
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP probe socket");
        let port = udp.local_addr().expect("probe address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl TestServer {
    /// Starts a server with these zone files (name, TOML text).
    pub fn start(zone_files: &[(&str, &str)]) -> Self {
        Self::start_with(zone_files, "")
    }

    /// Starts a server with these zone files and extra config text appended
    /// to the generated config.
    pub fn start_with(zone_files: &[(&str, &str)], extra_config: &str) -> Self {
        Self::start_with_dns(zone_files, extra_config, "")
    }

    /// Starts a server as [`TestServer::start_with`] does, with `dns_config`
    /// added to its `[dns]` table (which sets `listen` already).
    pub fn start_with_dns(
        zone_files: &[(&str, &str)],
        extra_config: &str,
        dns_config: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let zones = dir.path().join("zones");
        std::fs::create_dir_all(&zones).expect("zones directory");
        for (name, text) in zone_files {
            std::fs::write(zones.join(name), text).expect("write zone file");
        }
        let port = free_port();
        let admin_socket = dir.path().join("admin.sock");
        let config_path = dir.path().join("cairn.toml");
        let config = format!(
            "zones_dir = {zones:?}\ndata_dir = {data:?}\n{extra_config}\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\n{dns_config}\n\n[admin]\nsocket = {admin:?}\n",
            zones = zones.display().to_string(),
            data = dir.path().join("data").display().to_string(),
            admin = admin_socket.display().to_string(),
        );
        std::fs::write(&config_path, config).expect("write config");
        let child = spawn_server(&config_path, dir.path());
        let mut server = Self {
            child,
            dns: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            admin_socket,
            config_path,
            dir,
        };
        server.wait_until_answering();
        server
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cairn.log")).unwrap_or_default()
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        let probe = query_message("readiness.probe.invalid.", RecordType::SOA, None);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "cairn exited with {status} before answering:\n{}",
                    self.log()
                );
            }
            if exchange_udp(self.dns, &probe, None, Duration::from_millis(100)).is_ok() {
                return;
            }
        }
        panic!(
            "cairn did not answer DNS within {DEADLINE:?}:\n{}",
            self.log()
        );
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the server again on the same config, data and ports (after
    /// `kill`, or after it stopped by itself).
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_server(&self.config_path, self.dir.path());
        self.wait_until_answering();
    }

    /// Sends SIGKILL and waits for the process to go.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited, with its status.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// A UDP query from 127.0.0.1.
    pub fn udp(&self, name: &str, qtype: RecordType) -> Message {
        self.ask(&query_message(name, qtype, Some(1232)), Transport::Udp)
    }

    /// A TCP query.
    pub fn tcp(&self, name: &str, qtype: RecordType) -> Message {
        self.ask(&query_message(name, qtype, Some(1232)), Transport::Tcp)
    }

    /// Sends a prepared query and returns the answer; fails the test on
    /// timeout.
    pub fn ask(&self, query: &Message, transport: Transport) -> Message {
        let outcome = match transport {
            Transport::Udp => exchange_udp(self.dns, query, None, DEADLINE),
            Transport::UdpFrom(source) => exchange_udp(self.dns, query, Some(source), DEADLINE),
            Transport::Tcp => exchange_tcp(self.dns, query),
        };
        match outcome {
            Ok(answer) => answer,
            Err(error) => panic!(
                "query {:?} over {transport:?} failed: {error}\n{}",
                query.queries,
                self.log()
            ),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `cairn serve --config PATH` with its log in `dir/cairn.log`.
pub fn spawn_server(config_path: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("cairn.log"))
        .expect("log file");
    Command::new(cairn_binary())
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cairn")
}

/// How a query travels.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    Udp,
    /// UDP from a chosen local address (e.g. 127.0.0.2).
    UdpFrom(IpAddr),
    Tcp,
}

/// A standard query with RD clear, and an OPT record advertising
/// `edns_payload` when given.
pub fn query_message(name: &str, qtype: RecordType, edns_payload: Option<u16>) -> Message {
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    let mut query = Query::query(Name::from_ascii(name).expect("test name"), qtype);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    message
}

/// Sends bytes over UDP and returns the raw reply.
pub fn exchange_udp_raw(
    server: SocketAddr,
    bytes: &[u8],
    source: Option<IpAddr>,
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let local = SocketAddr::new(source.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), 0);
    let socket = UdpSocket::bind(local)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.send_to(bytes, server)?;
    let mut buffer = vec![0u8; 65535];
    let (len, _) = socket.recv_from(&mut buffer)?;
    buffer.truncate(len);
    Ok(buffer)
}

/// One query over UDP; checks the reply's id.
pub fn exchange_udp(
    server: SocketAddr,
    query: &Message,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<Message, String> {
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let reply = exchange_udp_raw(server, &bytes, source, timeout).map_err(|e| e.to_string())?;
    decode_reply(query, &reply)
}

/// Sends bytes over one TCP connection (length-prefixed) and returns the raw
/// reply.
pub fn exchange_tcp_raw(
    server: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, DEADLINE)?;
    stream.set_read_timeout(Some(timeout))?;
    let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
    stream.write_all(&len.to_be_bytes())?;
    stream.write_all(bytes)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

/// One query over TCP; checks the reply's id.
pub fn exchange_tcp(server: SocketAddr, query: &Message) -> Result<Message, String> {
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let reply = exchange_tcp_raw(server, &bytes, DEADLINE).map_err(|e| e.to_string())?;
    decode_reply(query, &reply)
}

fn decode_reply(query: &Message, reply: &[u8]) -> Result<Message, String> {
    let message = Message::from_vec(reply).map_err(|e| format!("undecodable reply: {e}"))?;
    if message.metadata.id != query.metadata.id {
        return Err(format!(
            "reply id {} does not match query id {}",
            message.metadata.id, query.metadata.id
        ));
    }
    Ok(message)
}

/// The response code of a reply, as one value.
pub fn rcode(message: &Message) -> ResponseCode {
    message.metadata.response_code
}

/// Where the external tool `name` (nsd, prlimit, kill, …) is installed:
/// on `PATH`, or in the sbin directories a non-root `PATH` often lacks.
///
/// A test that needs a tool calls this and skips when it gets `None`, so a
/// developer without the tool still runs the rest. Under CI (the `CI`
/// environment variable set, as every CI service sets it and `.ci/run`
/// expects) a missing tool fails the test instead: `.ci/run` installs every
/// tool a test asks for, so a skip there would hide a test that never ran.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate));
    if found.is_none() {
        assert!(
            !under_ci(),
            "{name} is not installed, and CI is set: .ci/run installs it, so install it or run .ci/run"
        );
        eprintln!("{name} is not installed; skipping what needs it (under CI this fails)");
    }
    found
}

/// Whether the tests run under CI (`CI` set and not `false` or `0`), where
/// nothing may be skipped for want of a tool.
pub fn under_ci() -> bool {
    let ci = std::env::var("CI").unwrap_or_default();
    !(ci.is_empty() || ci == "false" || ci == "0")
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Polls `child` until it exits, for at most `limit`; `None` if it is
/// still running then (the caller names what it waited for, with the log).
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` (`TERM`, `HUP`, …) to `pid` with the system's `kill`;
/// `None` when `kill` is not installed (the test then skips, except under
/// CI: see [`require_tool`]).
pub fn send_signal(pid: u32, signal: &str) -> Option<()> {
    let kill = require_tool("kill")?;
    let status = Command::new(kill)
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
    Some(())
}

/// Polls `check` until it returns `Some`, or fails the test at the deadline.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Standard base64 with padding (PEM bodies, etcd's JSON gateway keys).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (at, &byte)| {
            n | (u32::from(byte) << (16 - 8 * at))
        });
        for at in 0..4 {
            if at <= chunk.len() {
                text.push(char::from(ALPHABET[((n >> (18 - 6 * at)) & 63) as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// PEM armour around DER bytes (rcgen is built without its `pem` feature,
/// and PEM is all base64 and a header).
pub fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}
