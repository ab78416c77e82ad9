//! Real NSD and Knot secondaries of a cairn on loopback, each started from
//! `examples/nsd-secondary.conf` or `examples/knot-secondary.conf` with the
//! test's ports, directory, zone and key put in, so the examples are the
//! configurations the tests prove.

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
    /// How it was started, to start it again.
    command: (PathBuf, Vec<String>),
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
    fn spawn(program: &Path, args: Vec<String>) -> Child {
        Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
    }

    /// Stops it with SIGKILL, as a crash.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same config and state.
    pub fn start(&mut self) {
        self.child = Self::spawn(&self.command.0, self.command.1.clone());
    }

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

/// An example config with the example's port, directory, zone, primary
/// and secret replaced; `None` for `key` takes the key out of it.
#[allow(clippy::too_many_arguments)]
fn from_example(
    example: &str,
    example_port: &str,
    example_dir: &str,
    port: u16,
    dir: &Path,
    zone: &str,
    primary: SocketAddr,
    key: Key<'_>,
) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/");
    let text = std::fs::read_to_string(format!("{path}{example}"))
        .unwrap_or_else(|e| panic!("read examples/{example}: {e}"));
    let text = text
        .replace(example_port, &format!("127.0.0.1@{port}"))
        .replace(example_dir, &dir.display().to_string())
        .replace("svc.internal", zone)
        .replace(
            "127.0.0.1@1053",
            &format!("{}@{}", primary.ip(), primary.port()),
        );
    match key {
        Some((name, secret)) => text.replace("xfrkey", name).replace("SECRET", secret),
        None => text,
    }
}

/// Starts NSD on `port` as a secondary of `primary` for `zone`, configured
/// as `examples/nsd-secondary.conf`, signing with `key` or with none.
pub fn nsd(nsd: &Path, port: u16, zone: &str, primary: SocketAddr, key: Key<'_>) -> Secondary {
    let dir = tempfile::tempdir().expect("NSD directory");
    let mut config = from_example(
        "nsd-secondary.conf",
        "127.0.0.1@5300",
        "/var/lib/nsd",
        port,
        dir.path(),
        zone,
        primary,
        key,
    );
    if key.is_none() {
        let start = config.find("key:\n").expect("the example's key clause");
        let end = config[start..].find("zone:").expect("the zone clause") + start;
        config.replace_range(start..end, "");
        config = config.replace(" xfrkey\n", " NOKEY\n");
    }
    // As an unprivileged test: no user switch, no chroot, no rate limit;
    // and the test reads the zone back.
    let config = config.replacen(
        "server:\n",
        "server:\n    username: \"\"\n    chroot: \"\"\n    rrl-ratelimit: 0\n",
        1,
    ) + "    provide-xfr: 127.0.0.1 NOKEY\n";
    std::fs::write(dir.path().join("nsd.conf"), config).expect("write nsd.conf");
    let args = vec![
        "-d".to_string(),
        "-c".to_string(),
        dir.path().join("nsd.conf").display().to_string(),
    ];
    Secondary {
        child: Secondary::spawn(nsd, args.clone()),
        command: (nsd.to_path_buf(), args),
        kind: Kind::Nsd,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    }
}

/// Starts Knot on `port` as a secondary of `primary` for `zone`,
/// configured as `examples/knot-secondary.conf`, signing with `key` or
/// with none.
pub fn knot(knotd: &Path, port: u16, zone: &str, primary: SocketAddr, key: Key<'_>) -> Secondary {
    let dir = tempfile::tempdir().expect("Knot directory");
    std::fs::create_dir_all(dir.path().join("db")).expect("Knot database directory");
    let mut config = from_example(
        "knot-secondary.conf",
        "127.0.0.1@5301",
        "/var/lib/knot",
        port,
        dir.path(),
        zone,
        primary,
        key,
    );
    if key.is_none() {
        let start = config.find("key:\n").expect("the example's key section");
        let end = config[start..]
            .find("database:")
            .expect("the database section")
            + start;
        config.replace_range(start..end, "");
        config = config.replace("    key: xfrkey\n", "");
    }
    // The test reads the zone back.
    let config = config
        .replacen(
            "acl:\n",
            "acl:\n  - id: to_tests\n    address: 127.0.0.1\n    action: transfer\n",
            1,
        )
        .replace(
            "    acl: notify_from_cairn",
            "    acl: [notify_from_cairn, to_tests]",
        );
    std::fs::write(dir.path().join("knot.conf"), config).expect("write knot.conf");
    let args = vec![
        "-c".to_string(),
        dir.path().join("knot.conf").display().to_string(),
    ];
    Secondary {
        child: Secondary::spawn(knotd, args.clone()),
        command: (knotd.to_path_buf(), args),
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
