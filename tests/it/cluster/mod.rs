//! A cluster: several `cairn serve` nodes on one real etcd (Debian's
//! `etcd-server`), started by the tests on free loopback ports. Writes go
//! through different nodes; every node must answer the same. This file is
//! the harness; the tests are in the files beside it.

mod convergence;
mod copy;
mod failures;
mod health;
mod members;
mod operations;
mod repair;
mod reread;
mod secure;
mod zones;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::admin::{ZONE, ok};
use crate::support::{DEADLINE, TestServer, eventually, free_port, require_tool};

/// A one-member etcd on loopback, killed when dropped.
pub struct Etcd {
    binary: PathBuf,
    dir: tempfile::TempDir,
    client: u16,
    peer: u16,
    /// Plain HTTP `/health` whatever the client port speaks.
    metrics: u16,
    /// etcd's own certificate, key and the CA it takes client
    /// certificates from: clients must speak TLS and show one.
    tls: Option<[PathBuf; 3]>,
    child: Option<Child>,
}

impl Etcd {
    pub fn start() -> Option<Self> {
        Self::start_with_tls(None)
    }

    pub fn start_with_tls(tls: Option<[PathBuf; 3]>) -> Option<Self> {
        let binary = require_tool("etcd")?;
        let mut etcd = Self {
            binary,
            dir: tempfile::tempdir().expect("etcd's directory"),
            client: free_port(),
            peer: free_port(),
            metrics: free_port(),
            tls,
            child: None,
        };
        etcd.run();
        Some(etcd)
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client)
    }

    /// Starts (or starts again, on the same data) and waits for health.
    pub fn run(&mut self) {
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd's log");
        let child = Command::new(&self.binary)
            .args(["--name", "t1", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t1={peer}")])
            .args([
                "--listen-metrics-urls",
                &format!("http://127.0.0.1:{}", self.metrics),
            ])
            .args(self.tls.iter().flat_map(|[cert, key, ca]| {
                [
                    "--cert-file".into(),
                    cert.clone().into_os_string(),
                    "--key-file".into(),
                    key.clone().into_os_string(),
                    "--trusted-ca-file".into(),
                    ca.clone().into_os_string(),
                    "--client-cert-auth".into(),
                ]
            }))
            .args([
                "--logger",
                "zap",
                "--log-level",
                "warn",
                "--unsafe-no-fsync",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
        let metrics = self.metrics;
        eventually("etcd to report itself healthy", || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", metrics)).ok()?;
            stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .ok()?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).ok()?;
            reply.contains("\"health\":\"true\"").then_some(())
        });
    }

    /// The running etcd's process id, to stop and continue it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A call to etcd's JSON gateway (`/v3/...`): its reply's JSON.
    pub fn gateway(&self, path: &str, body: &Value) -> Value {
        let body = body.to_string();
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.client)).expect("connect to etcd");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("ask etcd");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("etcd's reply");
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        // Errors come chunked: the JSON is the first chunk.
        let json = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body.split("\r\n").nth(1).unwrap_or("")
        } else {
            body
        };
        serde_json::from_str(json).unwrap_or_else(|e| panic!("etcd replied {json} ({e})"))
    }

    /// Compacts etcd's history up to its current revision.
    pub fn compact(&self) -> u64 {
        // Any range answers with the current revision (int64 as a string).
        let status = self.gateway("/v3/kv/range", &json!({"key": "AA=="}));
        let revision: u64 = status["header"]["revision"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("no revision in {status}"));
        self.gateway(
            "/v3/kv/compaction",
            &json!({"revision": revision.to_string(), "physical": true}),
        );
        revision
    }

    /// The `[store]` table of a node of this cluster; its consistency
    /// check runs every second, so every test exercises it.
    pub fn store_config(&self) -> String {
        format!(
            "[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\nprefix = \"/cairn-test/\"\ntimeout_secs = 1\nconsistency_check_secs = 1\n",
            self.url()
        )
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Node A applies the zones file (into etcd); the others start empty and
/// read it from etcd.
pub fn nodes(etcd: &Etcd, count: usize) -> Vec<TestServer> {
    let config = etcd.store_config();
    let mut nodes = vec![TestServer::start_with(&[("svc.test.toml", ZONE)], &config)];
    for _ in 1..count {
        nodes.push(TestServer::start_with(&[], &config));
    }
    nodes
}

/// An admin call that may fail to connect (a node killed): the status and
/// body, or `None`.
pub fn try_call(socket: &Path, action: &str, body: &Value) -> Option<(u16, Value)> {
    let body = body.to_string();
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    let request = format!(
        "POST /{action} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

pub fn registration(service: &str, id: &str, ip: &str) -> Value {
    json!({"ServiceId": service, "InstanceId": id,
           "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"}})
}

/// ListInstances, as (id, attributes) sorted by id.
pub fn instances(node: &TestServer, service: &str) -> Vec<(String, Value)> {
    let list = ok(
        node,
        "ListInstances",
        json!({"ServiceId": service, "MaxResults": 100}),
    );
    let mut all: Vec<(String, Value)> = list["Instances"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|i| {
                    (
                        i["Id"].as_str().unwrap_or("").to_string(),
                        i["Attributes"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

pub fn serial(node: &TestServer) -> u32 {
    let reply = node.udp("svc.test.", RecordType::SOA);
    reply
        .answers
        .iter()
        .find_map(|record| match &record.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no SOA in {reply:?}"))
}

/// The address an instance's own name answers on `node`, if any.
pub fn own_address(node: &TestServer, id: &str) -> Option<String> {
    let reply = node.udp(&format!("{id}.web.svc.test."), RecordType::A);
    reply.answers.iter().find_map(|record| match &record.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}

/// What a node answers for everything the test wrote: its ListInstances,
/// each instance's own A record and the zone's SOA serial.
pub fn view(
    node: &TestServer,
    service: &str,
    ids: &[String],
) -> (Vec<(String, Value)>, Vec<Option<String>>, u32) {
    let listed = instances(node, service);
    let answers = ids.iter().map(|id| own_address(node, id)).collect();
    (listed, answers, serial(node))
}

/// Every instance id of a service, all pages.
pub fn instances_all(node: &TestServer, service: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"ServiceId": service, "MaxResults": 100});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page = ok(node, "ListInstances", body);
        for instance in page["Instances"].as_array().into_iter().flatten() {
            ids.push(instance["Id"].as_str().unwrap_or("").to_string());
        }
        match page["NextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => return ids,
        }
    }
}

/// The store part of `cairn status --output json`.
pub fn store_status(node: &TestServer) -> Value {
    let output = crate::cli::cairn(node, &["status", "--output", "json"]);
    assert!(
        output.status.success(),
        "cairn status: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("status JSON: {e}"));
    status["Store"].clone()
}
