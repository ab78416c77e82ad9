//! glibc's stub resolver with the README's resolv.conf: cairn on port 53 in
//! a network namespace the test creates, and `getent` run there in a mount
//! namespace of its own with the README's file bind-mounted over
//! /etc/resolv.conf, so nothing of the machine's own DNS is touched.
//!
//! Needs root (network namespaces and port 53): skipped with a message
//! otherwise, except under CI, where it fails.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::netns::{NetworkNamespace, cairn_on_port_53, may_run};
use super::{readme_block, write};
use crate::support::{eventually, require_tool};

/// Runs `getent ARGS` in the namespace with `resolv_conf` mounted over
/// /etc/resolv.conf in a private mount namespace.
fn getent(
    namespace: &NetworkNamespace,
    tools: &Tools,
    resolv_conf: &Path,
    args: &[&str],
) -> Output {
    namespace
        .command(&tools.unshare)
        .arg("--mount")
        .arg("--")
        .arg(&tools.sh)
        .arg("-c")
        .arg(r#"mount --bind "$0" /etc/resolv.conf && exec getent "$@""#)
        .arg(resolv_conf)
        .args(args)
        .output()
        .expect("run getent")
}

/// `getent hosts`' or `getent ahosts`' output as (address, first name
/// given for it) pairs; ahosts names only the first line.
fn parse(output: &Output) -> (BTreeSet<IpAddr>, BTreeSet<String>) {
    let text = String::from_utf8_lossy(&output.stdout);
    let mut addresses = BTreeSet::new();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if let Some(address) = fields.next().and_then(|field| field.parse().ok()) {
            addresses.insert(address);
        }
        if let Some(name) = fields.find(|field| !["STREAM", "DGRAM", "RAW"].contains(field)) {
            names.insert(name.to_string());
        }
    }
    (addresses, names)
}

struct Tools {
    ip: PathBuf,
    unshare: PathBuf,
    sh: PathBuf,
}

fn tools() -> Option<Tools> {
    let found = ["ip", "unshare", "mount", "getent", "sh"].map(require_tool);
    let [Some(ip), Some(unshare), Some(_), Some(_), Some(sh)] = found else {
        return None;
    };
    Some(Tools { ip, unshare, sh })
}

#[test]
fn getent_with_the_readme_resolv_conf_resolves_through_cairn_on_port_53() {
    if !may_run("the resolv.conf test") {
        return;
    }
    let Some(tools) = tools() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let resolv_conf = write(
        dir.path(),
        "resolv.conf",
        &readme_block("# /etc/resolv.conf"),
    );
    let namespace = NetworkNamespace::create(&tools.ip);
    let cairn = cairn_on_port_53(&namespace, dir.path());

    let ask = |args: &[&str]| getent(&namespace, &tools, &resolv_conf, args);
    // Ready when glibc gets an answer; until then cairn is starting.
    let (addresses, names) = eventually("getent hosts web.svc.internal", || {
        let output = ask(&["hosts", "web.svc.internal"]);
        output.status.success().then(|| parse(&output))
    });
    // gethostbyname tries AAAA first, and web has AAAA records.
    let v6: BTreeSet<IpAddr> = ["fd00::1:1", "fd00::1:2"]
        .map(|a| a.parse().expect("an address"))
        .into();
    let v4: BTreeSet<IpAddr> = ["10.0.1.1", "10.0.1.2"]
        .map(|a| a.parse().expect("an address"))
        .into();
    let web = BTreeSet::from(["web.svc.internal".to_string()]);
    assert_eq!((&addresses, &names), (&v6, &web), "{}", cairn.log());

    // getaddrinfo: both families (AF_UNSPEC; `ahostsv4` would find nothing
    // here, as AI_ADDRCONFIG counts no loopback address and the namespace
    // has nothing else).
    let output = ask(&["ahosts", "web.svc.internal"]);
    assert!(output.status.success(), "{output:?}\n{}", cairn.log());
    let all: BTreeSet<IpAddr> = v6.union(&v4).copied().collect();
    assert_eq!(parse(&output), (all, web.clone()));

    // A short name through `search svc.internal`.
    let output = ask(&["hosts", "web"]);
    assert!(output.status.success(), "{output:?}\n{}", cairn.log());
    assert_eq!(parse(&output), (v6, web));

    // A name with A only: the AAAA lookup gets NODATA and glibc asks for A.
    let output = ask(&["hosts", "db"]);
    assert!(output.status.success(), "{output:?}\n{}", cairn.log());
    assert_eq!(
        parse(&output),
        (
            BTreeSet::from(["10.0.2.1".parse().expect("an address")]),
            BTreeSet::from(["db.svc.internal".to_string()])
        )
    );

    // NXDOMAIN: getent's exit code 2, "not found".
    let output = ask(&["hosts", "nope.svc.internal"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
