//! dnsmasq with the README's `server=` line for cairn, in the foreground on
//! a free loopback port with its own config in a temporary directory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::checks::{check_answers, check_deregistration};
use super::{Daemon, ZONE, is_root, readme_block, with_port, write};
use crate::support::{TestServer, free_port, require_tool};

/// What the test adds to the README's snippet to run dnsmasq beside the
/// system's: its own port and files, no upstream but cairn, and
/// `stop-dns-rebind`, which a hardened setup has and which would drop every
/// private address cairn answers without the snippet's `rebind-domain-ok`.
fn test_config(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    // As root, dnsmasq drops to `nobody`, who could not write its log here.
    let user = if is_root() { "user=root\n" } else { "" };
    format!(
        "port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
pid-file={dir}/dnsmasq.pid
log-queries
log-facility={dir}/dnsmasq.log
stop-dns-rebind
{user}"
    )
}

fn start_dnsmasq(dnsmasq: &Path, dir: &Path, cairn_port: u16) -> Daemon {
    let snippet = readme_block("# /etc/dnsmasq.d/cairn.conf");
    let snippet = with_port(&snippet, "127.0.0.1#PORT", cairn_port);
    let port = free_port();
    let config = write(
        dir,
        "dnsmasq.conf",
        &format!("{}\n{snippet}", test_config(dir, port)),
    );
    let log = dir.join("dnsmasq.log");
    let stderr = std::fs::File::create(dir.join("dnsmasq.stderr")).expect("dnsmasq's stderr");
    let child = Command::new(dnsmasq)
        .arg("--keep-in-foreground")
        .arg(format!("--conf-file={}", config.display()))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", dnsmasq.display()));
    Daemon {
        name: "dnsmasq",
        child,
        log,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
    .wait_until_answering()
}

#[test]
fn dnsmasq_with_the_readme_server_line_answers_what_cairn_serves() {
    let Some(dnsmasq) = require_tool("dnsmasq") else {
        return;
    };
    let cairn = TestServer::start(&[("svc.internal.toml", ZONE)]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let resolver = start_dnsmasq(&dnsmasq, dir.path(), cairn.dns.port());
    check_answers(&resolver);
    check_deregistration(&cairn, &resolver);
}
