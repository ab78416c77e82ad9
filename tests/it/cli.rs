//! The `cairn` CLI end to end: the real binary against a real server's
//! socket, with DNS queried right after each command. Here: the helpers the
//! CLI tests share and the promise that a registration is in DNS when the
//! command returns. `commands.rs` runs every subcommand, `usage.rs` the exit
//! codes, socket lookup, help and completions, `readme.rs` the README's
//! examples.

use std::net::Ipv4Addr;
use std::process::{Command, Output};

use serde_json::Value;

use crate::admin::{a_records, srv_targets};
use crate::support::{TestServer, cairn_binary};

mod commands;
mod readme;
mod usage;

/// `svc.internal` with `web` as A + SRV, so an IPv4 and a port suffice.
const ZONE: &str = r#"
[namespace]
name = "svc.internal"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }, { type = "SRV", ttl = 10 }]
"#;

fn start() -> TestServer {
    TestServer::start(&[("svc.internal.toml", ZONE)])
}

/// Runs `cairn ARGS --socket <server's socket>`.
pub fn cairn(server: &TestServer, args: &[&str]) -> Output {
    let mut command = Command::new(cairn_binary());
    command
        .args(args)
        .arg("--socket")
        .arg(&server.admin_socket)
        .env_remove("CAIRN_SOCKET")
        .env_remove("CAIRN_CONFIG");
    command.output().expect("run cairn")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn succeeds(server: &TestServer, args: &[&str]) -> String {
    let output = cairn(server, args);
    assert!(
        output.status.success(),
        "cairn {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command with `--output json`; returns the parsed JSON.
fn json_of(server: &TestServer, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    let text = succeeds(server, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cairn {args:?}: not JSON ({e}): {text}"))
}

/// Runs a command that must fail with `code`; returns stderr.
fn exits(server: &TestServer, args: &[&str], code: i32) -> String {
    let output = cairn(server, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "cairn {args:?}: {}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty(), "errors go to stderr only");
    stderr(&output)
}
#[test]
fn register_then_srv_shows_the_instance_at_once() {
    let server = start();
    let out = succeeds(
        &server,
        &[
            "instance",
            "register",
            "--service",
            "web.svc.internal",
            "--id",
            "web-9",
            "--ipv4",
            "10.0.0.9",
            "--port",
            "8080",
        ],
    );
    // The done-criterion: right after the command, SRV shows web-9.
    assert_eq!(
        srv_targets(&server, "web.svc.internal."),
        ["web-9.web.svc.internal."]
    );
    assert_eq!(
        a_records(&server, "web-9.web.svc.internal."),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );
    assert!(
        out.contains("web-9") && out.contains("10.0.0.9") && out.contains("8080"),
        "{out}"
    );

    succeeds(
        &server,
        &[
            "instance",
            "deregister",
            "--service",
            "web.svc.internal",
            "--id",
            "web-9",
        ],
    );
    assert!(srv_targets(&server, "web.svc.internal.").is_empty());
}

/// The issue's done-criterion against the shipped example zone, where `web`
/// is A + AAAA + SRV with three instances: an IPv4-only registration is
/// enough, and SRV shows it at once.
#[test]
fn registering_into_the_shipped_example_shows_in_srv_at_once() {
    let server = TestServer::start(&[(
        "svc.internal.toml",
        include_str!("../../zones/svc.internal.toml"),
    )]);
    succeeds(
        &server,
        &[
            "instance",
            "register",
            "--service",
            "web.svc.internal",
            "--id",
            "web-9",
            "--ipv4",
            "10.0.0.9",
            "--port",
            "8080",
        ],
    );
    let mut targets = srv_targets(&server, "web.svc.internal.");
    targets.sort();
    assert_eq!(
        targets,
        [
            "web-1.web.svc.internal.",
            "web-2.web.svc.internal.",
            "web-3.web.svc.internal.",
            "web-9.web.svc.internal."
        ]
    );
    assert_eq!(
        a_records(&server, "web-9.web.svc.internal."),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );
}
