//! Real NSD and Knot secondaries of a cairn on loopback, configured as
//! `examples/nsd-secondary.conf` and `examples/knot-secondary.conf` are
//! (the research notes' §D1 configurations), each with its own directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{eventually, require_tool};

/// Which server a secondary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nsd,
    Knot,
}

/// A running secondary, killed when dropped.
pub struct Secondary {
    child: Child,
    pub kind: Kind,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Drop for Secondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Secondary {
    /// Its log so far.
    pub fn log(&self) -> String {
        let file = match self.kind {
            Kind::Nsd => "nsd.log",
            Kind::Knot => "knot.log",
        };
        std::fs::read_to_string(self.dir.path().join(file)).unwrap_or_default()
    }
}

/// The tools both secondaries need, or `None` to skip (failing under CI).
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    let nsd = require_tool("nsd");
    let knotd = require_tool("knotd");
    Some((nsd?, knotd?))
}

/// A TSIG key as secondaries are configured with it: name, base64 secret.
pub type Key<'a> = Option<(&'a str, &'a str)>;

/// Starts NSD on `port` as a secondary of `primary` for `zone`, signing
/// with `key` when there is one.
pub fn nsd(nsd: &Path, port: u16, zone: &str, primary: SocketAddr, key: Key<'_>) -> Secondary {
    let dir = tempfile::tempdir().expect("NSD directory");
    let path = dir.path().display().to_string();
    let primary_ip = primary.ip();
    let primary_port = primary.port();
    let (key_block, key_name) = match key {
        Some((name, secret)) => (
            format!(
                "key:\n    name: {name}\n    algorithm: hmac-sha256\n    secret: \"{secret}\"\n"
            ),
            name,
        ),
        None => (String::new(), "NOKEY"),
    };
    // xfrd-reload-timeout 0: serve each transfer at once rather than at
    // most once a second, so the tests measure cairn, not NSD's throttle.
    let config = format!(
        r#"server:
    ip-address: 127.0.0.1@{port}
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "{path}"
    pidfile: "{path}/nsd.pid"
    xfrdfile: "{path}/xfrd.state"
    xfrdir: "{path}"
    zonelistfile: "{path}/zone.list"
    logfile: "{path}/nsd.log"
    verbosity: 2
    xfrd-reload-timeout: 0
    rrl-ratelimit: 0
remote-control:
    control-enable: no
{key_block}zone:
    name: {zone}
    zonefile: "{path}/{zone}.zone"
    request-xfr: {primary_ip}@{primary_port} {key_name}
    allow-notify: {primary_ip} {key_name}
    provide-xfr: 127.0.0.1 NOKEY
"#
    );
    std::fs::write(dir.path().join("nsd.conf"), config).expect("write nsd.conf");
    let child = Command::new(nsd)
        .arg("-d")
        .arg("-c")
        .arg(dir.path().join("nsd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", nsd.display()));
    Secondary {
        child,
        kind: Kind::Nsd,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    }
}

/// Starts Knot on `port` as a secondary of `primary` for `zone`, signing
/// with `key` when there is one.
pub fn knot(knotd: &Path, port: u16, zone: &str, primary: SocketAddr, key: Key<'_>) -> Secondary {
    let dir = tempfile::tempdir().expect("Knot directory");
    let path = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("db")).expect("Knot database directory");
    let primary_ip = primary.ip();
    let primary_port = primary.port();
    let (key_block, key_line) = match key {
        Some((name, secret)) => (
            format!("key:\n  - id: {name}\n    algorithm: hmac-sha256\n    secret: {secret}\n"),
            format!("    key: {name}\n"),
        ),
        None => (String::new(), String::new()),
    };
    let config = format!(
        r#"server:
    listen: 127.0.0.1@{port}
    rundir: "{path}"
    pidfile: "{path}/knot.pid"
log:
  - target: "{path}/knot.log"
    any: info
{key_block}database:
    storage: "{path}/db"
remote:
  - id: primary
    address: {primary_ip}@{primary_port}
{key_line}acl:
  - id: from_primary
    address: {primary_ip}
{key_line}    action: notify
  - id: to_tests
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: "{path}"
zone:
  - domain: {zone}
    master: primary
    acl: [from_primary, to_tests]
"#
    );
    std::fs::write(dir.path().join("knot.conf"), config).expect("write knot.conf");
    let child = Command::new(knotd)
        .arg("-c")
        .arg(dir.path().join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", knotd.display()));
    Secondary {
        child,
        kind: Kind::Knot,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    }
}

/// Waits until `secondary` serves `zone` at `serial` or later.
pub fn wait_for_serial(secondary: &Secondary, zone: &str, serial: u32) {
    eventually(
        &format!("{:?} to serve {zone} at serial {serial}", secondary.kind),
        || {
            super::client::serial(secondary.addr, zone)
                .filter(|&served| served >= serial)
                .map(|_| ())
        },
    );
}
