//! unbound with the README's stub zone for cairn, in the foreground on a
//! free loopback port with its own config in a temporary directory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::checks::{check_answers, check_deregistration};
use super::netns::{NetworkNamespace, cairn_on_port_53, may_run};
use super::{Daemon, ZONE, readme_block, with_port, write};
use crate::support::{TestServer, eventually, free_port, require_tool};

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

/// `dig +short` run in `namespace` against the resolver on `port`.
fn dig_short(
    namespace: &NetworkNamespace,
    dig: &Path,
    port: u16,
    name: &str,
    qtype: &str,
) -> Option<Vec<String>> {
    let output = namespace
        .command(dig)
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+short",
            "+time=1",
            "+tries=1",
        ])
        .args([name, qtype])
        .output()
        .ok()?;
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    (output.status.success() && !lines.is_empty()).then_some(lines)
}

/// The README's stub zone with `stub-prime: yes`: unbound first asks cairn
/// for the zone's NS and their addresses, then queries those on port 53.
/// cairn listens on port 53 in a network namespace, so the NS it names
/// (`ns1.svc.internal`, with the listen address as glue) must lead back to
/// it — a lame NS makes unbound SERVFAIL everything.
#[test]
fn unbound_primed_from_cairns_ns_records_reaches_cairn_on_port_53() {
    if !may_run("the stub-prime test") {
        return;
    }
    let (Some(unbound), Some(ip), Some(dig)) = (
        require_tool("unbound"),
        require_tool("ip"),
        require_tool("dig"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let namespace = NetworkNamespace::create(&ip);
    let cairn = cairn_on_port_53(&namespace, dir.path());

    let snippet = readme_block("# /etc/unbound/unbound.conf.d/cairn.conf");
    let snippet = with_port(&snippet, "stub-addr: 127.0.0.1@PORT", 53);
    assert!(snippet.contains("stub-prime: no"), "{snippet}");
    let snippet = snippet.replace("stub-prime: no", "stub-prime: yes");
    let port = free_port();
    let config = write(
        dir.path(),
        "unbound.conf",
        &format!("{}\n{snippet}", test_config(dir.path(), port)),
    );
    let log = dir.path().join("unbound.log");
    let resolver = Daemon {
        name: "unbound",
        child: namespace
            .command(&unbound)
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("unbound's log"))
            .spawn()
            .expect("start unbound in the namespace"),
        log,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };

    let web = eventually("web.svc.internal A through a primed unbound", || {
        dig_short(&namespace, &dig, port, "web.svc.internal", "A")
    });
    assert_eq!(
        web,
        ["10.0.1.1", "10.0.1.2"],
        "{}\n{}",
        resolver.log(),
        cairn.log()
    );
    let dig = |name: &str, qtype: &str| {
        dig_short(&namespace, &dig, port, name, qtype).unwrap_or_else(|| {
            panic!(
                "{name} {qtype}: no answer\n{}\n{}",
                resolver.log(),
                cairn.log()
            )
        })
    };
    assert_eq!(dig("svc.internal", "NS"), ["ns1.svc.internal."]);
    assert_eq!(dig("ns1.svc.internal", "A"), ["127.0.0.1"]);
    assert_eq!(
        dig("_http._tcp.svc.internal", "SRV"),
        ["1 1 80 h1._http._tcp.svc.internal."]
    );
}
