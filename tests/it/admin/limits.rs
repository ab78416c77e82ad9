//! The socket's life (mode, stale and live sockets, removal at shutdown) and
//! the limits (body size, header-read timeout, connection cap).

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{exchange, post};
use crate::support::{
    DEADLINE, eventually, free_port, require_tool, send_signal, spawn_server, wait_for_exit,
};

/// A server started from a config this test writes, for admin settings the
/// shared harness does not set.
struct Custom {
    child: Child,
    socket: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
}

impl Custom {
    fn config_text(socket: &Path, admin: &str) -> String {
        format!(
            "zones_dir = \"zones\"\n[dns]\nlisten = [\"127.0.0.1:{}\"]\n[admin]\nsocket = {:?}\n{admin}\n",
            free_port(),
            socket.display().to_string()
        )
    }

    fn spawn(admin: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("admin.sock");
        let config = dir.path().join("cairn.toml");
        std::fs::write(&config, Self::config_text(&socket, admin)).expect("config");
        let child = spawn_server(&config, dir.path());
        Self {
            child,
            socket,
            config,
            dir,
        }
    }

    fn start(admin: &str) -> Self {
        let mut server = Self::spawn(admin);
        server.wait_for_socket();
        server
    }

    fn wait_for_socket(&mut self) {
        let socket = self.socket.clone();
        let child = &mut self.child;
        let dir = self.dir.path().to_path_buf();
        eventually("the admin socket", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("cairn exited with {status}:\n{}", log(&dir));
            }
            UnixStream::connect(&socket).ok().map(|_| ())
        });
    }

    fn log(&self) -> String {
        log(self.dir.path())
    }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cairn.log")).unwrap_or_default()
}

impl Drop for Custom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the process to exit and returns whether it succeeded.
fn wait_exit(child: &mut Child) -> bool {
    eventually("cairn to exit", || child.try_wait().ok().flatten()).success()
}

#[test]
fn socket_mode_stale_socket_live_socket_and_clean_shutdown() {
    let mut first = Custom::start("socket_mode = \"0600\"");
    let metadata = std::fs::metadata(&first.socket).expect("socket file");
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

    // A second server on the same socket refuses to start, naming it.
    let mut second = spawn_server(&first.config_with_new_dns_port(), first.dir.path());
    assert!(!wait_exit(&mut second), "a second server must not start");
    let log = first.log();
    assert!(
        log.contains("in use") && log.contains("admin.sock"),
        "clear message expected:\n{log}"
    );
    // The first one still answers.
    assert_eq!(
        post(&first.socket, "/ListNamespaces", "", b"{}").status,
        200
    );

    // SIGKILL leaves a stale socket; the next start replaces it.
    let _ = first.child.kill();
    let _ = first.child.wait();
    assert!(
        first.socket.exists(),
        "a killed server leaves its socket behind"
    );
    first.child = spawn_server(&first.config, first.dir.path());
    first.wait_for_socket();
    assert_eq!(
        post(&first.socket, "/ListNamespaces", "", b"{}").status,
        200
    );

    // SIGTERM: it stops and removes the socket file.
    let pid = first.child.id().to_string();
    let Some(kill) = require_tool("kill") else {
        return;
    };
    let status = std::process::Command::new(kill)
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(
        wait_exit(&mut first.child),
        "clean exit on SIGTERM:\n{}",
        first.log()
    );
    assert!(!first.socket.exists(), "socket removed at shutdown");
}

impl Custom {
    /// The same config (same socket) with another DNS port.
    fn config_with_new_dns_port(&self) -> PathBuf {
        let path = self.dir.path().join("second.toml");
        std::fs::write(&path, Self::config_text(&self.socket, "")).expect("config");
        path
    }
}

#[test]
fn a_missing_socket_directory_is_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let socket = dir.path().join("no-such-dir").join("admin.sock");
    let config = dir.path().join("cairn.toml");
    std::fs::write(&config, Custom::config_text(&socket, "")).expect("config");
    let mut child = spawn_server(&config, dir.path());
    assert!(!wait_exit(&mut child));
    let log = log(dir.path());
    assert!(
        log.contains("no-such-dir") && log.contains("does not exist"),
        "{log}"
    );
}

#[test]
fn body_limit_header_timeout_and_connection_cap() {
    let server =
        Custom::start("max_body_bytes = 1000\nmax_connections = 2\nheader_read_timeout_secs = 1");
    let big = format!("{{\"Filters\": [], \"Pad\": \"{}\"}}", "x".repeat(1200));
    let declared = post(&server.socket, "/ListNamespaces", "", big.as_bytes());
    assert_eq!(
        (declared.status, declared.code()),
        (413, "RequestEntityTooLarge"),
        "{declared:?}"
    );
    // Chunked, without a Content-Length: cut off at the limit all the same.
    let chunked = format!(
        "POST /ListNamespaces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let reply = exchange(&server.socket, chunked.as_bytes());
    assert_eq!(reply.status, 413, "{reply:?}");
    let fits = serde_json::to_vec(&json!({"MaxResults": 10})).expect("json");
    assert_eq!(
        post(&server.socket, "/ListNamespaces", "", &fits).status,
        200
    );

    // Two silent clients take both connection slots; the header timeout
    // frees them, so a third client is served soon after.
    let mut idle: Vec<UnixStream> = (0..2)
        .map(|_| UnixStream::connect(&server.socket).expect("connect"))
        .collect();
    for stream in &mut idle {
        stream
            .write_all(b"POST /ListNamespaces HTTP/1.1\r\nHost: x\r\n")
            .expect("partial headers");
    }
    let started = Instant::now();
    let served = post(&server.socket, "/ListNamespaces", "", b"{}");
    assert_eq!(served.status, 200);
    assert!(started.elapsed() < DEADLINE);
    for mut stream in idle {
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut rest = Vec::new();
        // The server hangs up on a client that never finished its headers.
        let _ = stream.read_to_end(&mut rest);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    assert!(server.log().contains("admin API listening"));
}

/// Opens a connection and sends the headers of a POST that promises a
/// 100-byte body, then a part of it and nothing more: a stalled upload.
fn stalled_upload(socket: &Path) -> UnixStream {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream
        .write_all(b"POST /ListNamespaces HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Max")
        .expect("headers and a part of the body");
    stream
}

#[test]
fn sigterm_ends_the_server_within_its_drain_timeout_despite_a_stalled_upload() {
    let mut server = Custom::start("drain_timeout_secs = 1");
    let mut stalled = stalled_upload(&server.socket);
    // Connections are accepted in order: once a later one is served, the
    // stalled one holds a connection slot.
    assert_eq!(
        post(&server.socket, "/ListNamespaces", "", b"{}").status,
        200
    );
    if send_signal(server.child.id(), "TERM").is_none() {
        return;
    }
    // The body timeout (10 s by default) is longer than the drain: it is
    // the drain's deadline that ends the stalled connection.
    let bound = Duration::from_secs(1) + Duration::from_secs(3);
    let Some(exited) = wait_for_exit(&mut server.child, bound) else {
        panic!(
            "cairn still running {bound:?} after SIGTERM with a stalled upload:\n{}",
            server.log()
        );
    };
    assert!(exited.success(), "{exited}:\n{}", server.log());
    // The stalled client was hung up on, not left waiting.
    stalled.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    assert!(!server.socket.exists(), "socket removed at shutdown");
    assert!(
        server.log().contains("closing them"),
        "the forced close is logged:\n{}",
        server.log()
    );
}

#[test]
fn stalled_uploads_beyond_the_connection_cap_do_not_lock_the_api_out() {
    let server = Custom::start("body_read_timeout_secs = 1");
    // More than max_connections (256): every slot is taken, and the rest
    // wait in the listen backlog behind them.
    let stalled: Vec<UnixStream> = (0..300).map(|_| stalled_upload(&server.socket)).collect();
    let started = Instant::now();
    let served = post(&server.socket, "/ListNamespaces", "", b"{}");
    assert_eq!(served.status, 200, "{served:?}");
    assert!(started.elapsed() < DEADLINE);
    // Each stalled client was told why it was cut off.
    for mut stream in stalled.into_iter().take(3) {
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.starts_with("HTTP/1.1 408") && text.contains("RequestTimeout"),
            "{text}"
        );
        assert!(text.contains("body_read_timeout_secs"), "{text}");
    }
}
