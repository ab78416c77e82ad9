//! unbound with the README's stub zone for cairn, in the foreground on a
//! free loopback port with its own config in a temporary directory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::checks::{check_answers, check_deregistration};
use super::{Daemon, ZONE, readme_block, with_port, write};
use crate::support::{TestServer, free_port, require_tool};

/// What the test adds to the README's snippet to run unbound as the test's
/// user beside the system's: its own port, files and no control socket, and
/// a stricter setup than the snippet assumes — private addresses treated as
/// rebinding, QNAME minimisation without the fallback to full names that
/// would hide a wrong answer for an empty non-terminal.
fn test_config(dir: &Path, port: u16) -> String {
    format!(
        "server:
    interface: 127.0.0.1@{port}
    do-ip6: no
    num-threads: 1
    username: \"\"
    chroot: \"\"
    directory: \"{dir}\"
    pidfile: \"{dir}/unbound.pid\"
    logfile: \"{dir}/unbound.log\"
    use-syslog: no
    verbosity: 1
    qname-minimisation: yes
    qname-minimisation-strict: yes
    private-address: 10.0.0.0/8
    private-address: fd00::/8
remote-control:
    control-enable: no
",
        dir = dir.display()
    )
}

fn start_unbound(unbound: &Path, dir: &Path, cairn_port: u16) -> Daemon {
    let snippet = readme_block("# /etc/unbound/unbound.conf.d/cairn.conf");
    let snippet = with_port(&snippet, "stub-addr: 127.0.0.1@PORT", cairn_port);
    let port = free_port();
    let config = write(
        dir,
        "unbound.conf",
        &format!("{}\n{snippet}", test_config(dir, port)),
    );
    let log = dir.join("unbound.log");
    let stderr = std::fs::File::create(&log).expect("unbound's log file");
    let child = Command::new(unbound)
        .arg("-d")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", unbound.display()));
    Daemon {
        name: "unbound",
        child,
        log,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
    .wait_until_answering()
}

#[test]
fn unbound_with_the_readme_stub_zone_answers_what_cairn_serves() {
    let Some(unbound) = require_tool("unbound") else {
        return;
    };
    let cairn = TestServer::start(&[("svc.internal.toml", ZONE)]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let resolver = start_unbound(&unbound, dir.path(), cairn.dns.port());
    check_answers(&resolver);
    check_deregistration(&cairn, &resolver);
}
