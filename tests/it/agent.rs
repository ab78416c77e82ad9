//! `cairn agent docker` against a real Docker: a real cairn, the real
//! agent binary, real containers from a busybox image built here (there is
//! no registry to pull from). Docker is the one on the default socket when
//! it answers, else a `dockerd` these tests start on a socket of their own
//! and stop when the test binary exits. Without docker, dockerd or busybox
//! the tests skip, except under CI, where they fail.
//!
//! Every test has its own namespace and agent host name, so agents of
//! tests running at once (on the same Docker) never register each other's
//! containers; every container is removed when its test ends.

mod docker;
mod health;
mod lifecycle;
mod recovery;
mod unit;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::admin::ok;
use crate::support::{TestServer, cairn_binary, eventually};

pub use docker::{Containers, DockerHost, IMAGE};

/// A zones file: namespace `namespace` (public, so any client may ask)
/// with service `web` (A and SRV, custom health), plus `extra` TOML.
pub fn zone(namespace: &str, extra: &str) -> String {
    format!(
        "[namespace]\nname = \"{namespace}\"\ntype = \"DNS_PUBLIC\"\n\n[[services]]\nname = \"web\"\nrouting_policy = \"MULTIVALUE\"\nrecords = [ {{ type = \"A\", ttl = 5 }}, {{ type = \"SRV\", ttl = 5 }} ]\ncustom_health_check = {{ failure_threshold = 1 }}\n{extra}\n"
    )
}

/// A cairn serving [`zone`]`(namespace, extra)`.
pub fn server(namespace: &str, extra: &str) -> TestServer {
    TestServer::start(&[("agent.toml", &zone(namespace, extra))])
}

/// A running `cairn agent docker`, killed when dropped.
pub struct Agent {
    child: Child,
    pub log_path: PathBuf,
}

impl Agent {
    /// Starts the agent on `server`'s admin socket with `--host host` and
    /// `extra` flags; returns once it watches Docker's events.
    pub fn start(server: &TestServer, docker: &DockerHost, host: &str, extra: &[&str]) -> Self {
        let log_path = server
            .dir
            .path()
            .join(format!("agent-{}.log", fastrand::u32(..)));
        let child = Self::command(server, docker, host, extra)
            .stderr(Stdio::from(
                std::fs::File::create(&log_path).expect("agent log"),
            ))
            .spawn()
            .expect("start cairn agent docker");
        let agent = Self { child, log_path };
        eventually("the agent to watch Docker's events", || {
            agent
                .log()
                .contains("watching Docker's events")
                .then_some(())
        });
        agent
    }

    /// The agent's command line, for `--once` runs too.
    pub fn command(
        server: &TestServer,
        docker: &DockerHost,
        host: &str,
        extra: &[&str],
    ) -> Command {
        let mut command = Command::new(cairn_binary());
        command
            .arg("--socket")
            .arg(&server.admin_socket)
            .args(["agent", "docker", "--docker-socket"])
            .arg(&docker.socket)
            .args(["--host", host])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("CAIRN_ENDPOINT")
            .stdout(Stdio::null());
        command
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The id of service `web` of `namespace`.
pub fn web_id(server: &TestServer, namespace: &str) -> String {
    let namespaces = ok(
        server,
        "ListNamespaces",
        json!({"Filters": [{"Name": "NAME", "Values": [namespace]}]}),
    );
    let namespace_id = namespaces["Namespaces"][0]["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("no namespace {namespace}: {namespaces}"))
        .to_string();
    let services = ok(
        server,
        "ListServices",
        json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}]}),
    );
    services["Services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["Name"] == "web"))
        .and_then(|s| s["Id"].as_str())
        .unwrap_or_else(|| panic!("no service web: {services}"))
        .to_string()
}

/// A service's instances: id → attributes.
pub fn instances(server: &TestServer, service_id: &str) -> BTreeMap<String, Value> {
    let list = ok(server, "ListInstances", json!({"ServiceId": service_id}));
    list["Instances"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|i| {
                    (
                        i["Id"].as_str().unwrap_or_default().to_string(),
                        i["Attributes"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The sorted ids of a service's instances.
pub fn instance_ids(server: &TestServer, service_id: &str) -> Vec<String> {
    instances(server, service_id).into_keys().collect()
}
