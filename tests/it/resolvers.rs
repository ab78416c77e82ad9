//! The README's "Using cairn from a resolver", run: each recipe's config is
//! read out of README.md (so the documentation cannot drift from what is
//! tested), its port replaced with a free one, and a real resolver started
//! with it on loopback — never the system's own. Clients then ask the
//! resolver, not cairn, and must get what cairn serves.
//!
//! `unbound.rs` and `dnsmasq.rs` run the same checks (`checks.rs`) through
//! a caching resolver; `glibc.rs` runs
//! `getent` against cairn on port 53 in a network namespace of its own;
//! `jndi.rs` asks through Java's JNDI DNS provider.
//! Each resolver is skipped where it is not installed, except under CI
//! (`require_tool`).

mod checks;
mod dnsmasq;
mod glibc;
mod jndi;
mod netns;
mod unbound;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{DEADLINE, exchange_udp, query_message, rcode};

const README: &str = include_str!("../../README.md");

/// Every TTL in the test zone, in seconds: short, so that what a resolver
/// caches runs out within the test.
const TTL: u64 = 1;

/// The zone every recipe is tested with: `svc.internal`, as in the README.
/// `web` has A, AAAA and SRV; `_http._tcp` makes `_tcp.svc.internal` an
/// empty non-terminal; `db` has A only, so its AAAA is NODATA; `alias` is
/// a CNAME service pointing at `web`.
const ZONE: &str = r#"
[namespace]
name = "svc.internal"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8", "::1/128"]

[namespace.soa]
ttl = 1
minimum = 1

[[services]]
name = "web"
routing_policy = "MULTIVALUE"
records = [{ type = "A", ttl = 1 }, { type = "AAAA", ttl = 1 }, { type = "SRV", ttl = 1 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.1.1"
ipv6 = "fd00::1:1"
port = 8080

[[services.instances]]
id = "web-2"
ipv4 = "10.0.1.2"
ipv6 = "fd00::1:2"
port = 8080

[[services]]
name = "_http._tcp"
records = [{ type = "SRV", ttl = 1 }, { type = "A", ttl = 1 }]

[[services.instances]]
id = "h1"
ipv4 = "10.0.3.1"
port = 80

[[services]]
name = "db"
records = [{ type = "A", ttl = 1 }]

[[services.instances]]
id = "db-1"
ipv4 = "10.0.2.1"

[[services]]
name = "alias"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 1 }]

[[services.instances]]
id = "to-web"
cname = "web.svc.internal"
"#;

/// The fenced block of README.md whose first line is `first_line` (each
/// recipe's block opens with a comment naming its file), without its fences.
/// Fails the test unless exactly one block matches.
fn readme_block(first_line: &str) -> String {
    let mut found = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in README.lines() {
        match &mut block {
            None if line.starts_with("```") => block = Some(Vec::new()),
            None => {}
            Some(lines) if line.starts_with("```") => {
                if lines.first() == Some(&first_line) {
                    found.push(lines.join("\n") + "\n");
                }
                block = None;
            }
            Some(lines) => lines.push(line),
        }
    }
    assert_eq!(
        found.len(),
        1,
        "README.md needs exactly one fenced block starting with {first_line:?}"
    );
    found.remove(0)
}

/// A README snippet with the README's port, 1053, replaced by `port`; fails
/// the test if the snippet does not name 1053 where `pattern` says.
fn with_port(snippet: &str, pattern: &str, port: u16) -> String {
    let from = pattern.replace("PORT", "1053");
    assert!(
        snippet.contains(&from),
        "the README snippet should contain {from:?}:\n{snippet}"
    );
    snippet.replace(&from, &pattern.replace("PORT", &port.to_string()))
}

/// A resolver process, killed when dropped; `log` is read into failure
/// messages.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    addr: SocketAddr,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the resolver answers `svc.internal SOA` from cairn.
    fn wait_until_answering(mut self) -> Self {
        let probe = recursive_query("svc.internal.", RecordType::SOA);
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            if let Ok(reply) = exchange_udp(self.addr, &probe, None, Duration::from_millis(200))
                && rcode(&reply) == ResponseCode::NoError
                && !reply.answers.is_empty()
            {
                return self;
            }
        }
        panic!(
            "{} did not answer svc.internal SOA within {DEADLINE:?}:\n{}",
            self.name,
            self.log()
        );
    }

    /// Asks the resolver, as a stub resolver does (RD set).
    fn ask(&self, name: &str, qtype: RecordType) -> Message {
        exchange_udp(self.addr, &recursive_query(name, qtype), None, DEADLINE).unwrap_or_else(
            |error| {
                panic!(
                    "{name} {qtype} through {}: {error}\n{}",
                    self.name,
                    self.log()
                )
            },
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query with RD set and EDNS, as a stub resolver sends.
fn recursive_query(name: &str, qtype: RecordType) -> Message {
    let mut query = query_message(name, qtype, Some(1232));
    query.metadata.recursion_desired = true;
    query
}

/// A file in `dir`, written.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Whether this process runs as root (uid 0), from /proc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            line.split_whitespace().nth(1).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}
