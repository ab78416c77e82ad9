//! cairn on port 53 in a network namespace the test creates, as the
//! recipes that need port 53 (glibc's resolver; unbound priming from the
//! zone's NS) require, with nothing of the machine's own DNS touched.
//! Needs root.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Daemon, ZONE, readme_block, write};
use crate::support::{cairn_binary, under_ci};

/// A network namespace with only loopback, up; deleted when dropped.
pub struct NetworkNamespace {
    ip: PathBuf,
    name: String,
}

impl NetworkNamespace {
    pub fn create(ip: &Path) -> Self {
        let name = format!("cairn-it-{}-{}", std::process::id(), fastrand::u32(..));
        let namespace = Self {
            ip: ip.to_path_buf(),
            name,
        };
        let add = Command::new(ip)
            .args(["netns", "add", &namespace.name])
            .output();
        let up = namespace
            .command(ip)
            .args(["link", "set", "lo", "up"])
            .output();
        for output in [add, up] {
            let output = output.expect("run ip");
            assert!(
                output.status.success(),
                "creating network namespace {}: {}",
                namespace.name,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        namespace
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(&self.ip);
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip)
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Whether this test may make network namespaces and bind port 53: as root.
/// Not root: skipped with a message, except under CI, where it fails.
pub fn may_run(test: &str) -> bool {
    if super::is_root() {
        return true;
    }
    assert!(
        !under_ci(),
        "{test} needs root (a network namespace, port 53), and CI is set: run it as root"
    );
    eprintln!("not root: skipping {test} (it needs a network namespace)");
    false
}

/// cairn serving the test zone in `namespace` with the README's port-53
/// listener, its files in `dir`. Not waited for: callers poll what they
/// ask.
pub fn cairn_on_port_53(namespace: &NetworkNamespace, dir: &Path) -> Daemon {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).expect("the zones directory");
    write(&zones, "svc.internal.toml", ZONE);
    let listen = readme_block("# cairn.toml: glibc's resolver asks port 53 only");
    assert!(listen.contains("127.0.0.1:53"), "{listen}");
    let config = write(
        dir,
        "cairn.toml",
        &format!(
            "zones_dir = {zones:?}\ndata_dir = {data:?}\n\n[admin]\nsocket = {socket:?}\n\n{listen}",
            zones = zones.display().to_string(),
            data = dir.join("data").display().to_string(),
            socket = dir.join("admin.sock").display().to_string(),
        ),
    );
    let log = dir.join("cairn.log");
    Daemon {
        name: "cairn",
        child: namespace
            .command(Path::new(cairn_binary()))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("cairn's log"))
            .spawn()
            .expect("start cairn in the namespace"),
        log,
        addr: SocketAddr::from(([127, 0, 0, 1], 53)),
    }
}
