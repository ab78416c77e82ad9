//! Three etcd members on loopback, and the loss of etcd's leader during
//! writes: nothing acknowledged is lost, and nodes keep serving and
//! writing once etcd has elected another.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{instances_all, own_address, registration, try_call};
use crate::admin::{ZONE, service_id};
use crate::support::{TestServer, eventually, free_port, require_tool};

struct Member {
    client: u16,
    peer: u16,
    metrics: u16,
    child: Option<Child>,
}

/// Three etcd members, killed when dropped.
struct Members {
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

/// One HTTP exchange on loopback; the body of the reply.
fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    Some(reply.split_once("\r\n\r\n")?.1.to_string())
}

impl Members {
    fn start() -> Option<Self> {
        let binary: PathBuf = require_tool("etcd")?;
        let dir = tempfile::tempdir().expect("etcd's directory");
        let members: Vec<Member> = (0..3)
            .map(|_| Member {
                client: free_port(),
                peer: free_port(),
                metrics: free_port(),
                child: None,
            })
            .collect();
        let cluster: Vec<String> = members
            .iter()
            .enumerate()
            .map(|(n, m)| format!("n{n}=http://127.0.0.1:{}", m.peer))
            .collect();
        let mut all = Self { dir, members };
        for (n, member) in all.members.iter_mut().enumerate() {
            let client = format!("http://127.0.0.1:{}", member.client);
            let peer = format!("http://127.0.0.1:{}", member.peer);
            let log = std::fs::File::create(all.dir.path().join(format!("n{n}.log")))
                .expect("etcd's log");
            let child = Command::new(&binary)
                .args(["--name", &format!("n{n}"), "--data-dir"])
                .arg(all.dir.path().join(format!("n{n}")))
                .args(["--listen-client-urls", &client])
                .args(["--advertise-client-urls", &client])
                .args(["--listen-peer-urls", &peer])
                .args(["--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &cluster.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "cairn-test"])
                .args([
                    "--listen-metrics-urls",
                    &format!("http://127.0.0.1:{}", member.metrics),
                ])
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
            member.child = Some(child);
        }
        for member in &all.members {
            let metrics = member.metrics;
            eventually("an etcd member to report itself healthy", || {
                http(
                    metrics,
                    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )?
                .contains("\"health\":\"true\"")
                .then_some(())
            });
        }
        Some(all)
    }

    /// The member etcd has elected leader, by its own status.
    fn leader(&self) -> usize {
        eventually("etcd to have a leader", || {
            self.members.iter().position(|member| {
                let body = "{}";
                let status = http(
                    member.client,
                    &format!(
                        "POST /v3/maintenance/status HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                )
                .and_then(|text| serde_json::from_str::<Value>(&text).ok());
                status.is_some_and(|status| {
                    status["leader"].is_string() && status["leader"] == status["header"]["member_id"]
                })
            })
        })
    }

    fn kill(&mut self, at: usize) {
        if let Some(mut child) = self.members[at].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn store_config(&self) -> String {
        let endpoints: Vec<String> = self
            .members
            .iter()
            .map(|member| format!("\"http://127.0.0.1:{}\"", member.client))
            .collect();
        format!(
            "[store]\nbackend = \"etcd\"\nendpoints = [{}]\nprefix = \"/cairn-test/\"\ntimeout_secs = 1\n",
            endpoints.join(", ")
        )
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for at in 0..self.members.len() {
            self.kill(at);
        }
    }
}

#[test]
fn losing_etcds_leader_during_writes_loses_nothing_acknowledged() {
    let Some(mut etcd) = Members::start() else {
        return;
    };
    let config = etcd.store_config();
    let nodes = [
        TestServer::start_with(&[("svc.test.toml", ZONE)], &config),
        TestServer::start_with(&[], &config),
    ];
    let web = service_id(&nodes[0], "web");
    let leader = etcd.leader();
    let (acknowledged, refused) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let (mut acked, mut refused) = (Vec::new(), 0);
            for n in 0..300 {
                let id = format!("m{n}");
                let body = registration(&web, &id, &format!("10.1.{}.{}", n / 200, n % 200 + 1));
                match try_call(&nodes[n % 2].admin_socket, "RegisterInstance", &body) {
                    Some((200, _)) => acked.push(id),
                    _ => refused += 1,
                }
            }
            (acked, refused)
        });
        eventually("the writes to be under way", || {
            (instances_all(&nodes[0], &web).len() >= 30).then_some(())
        });
        etcd.kill(leader);
        writer.join().expect("the writer thread")
    });
    eprintln!(
        "etcd's leader killed mid-burst: {} registrations acknowledged, {refused} refused",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > 30,
        "{} acknowledged",
        acknowledged.len()
    );
    for node in &nodes {
        eventually("every acknowledged registration on the node", || {
            let held = instances_all(node, &web);
            acknowledged
                .iter()
                .all(|id| held.contains(id))
                .then_some(())
        });
        assert!(own_address(node, &acknowledged[0]).is_some());
    }
    // Writes go on through both nodes with two members left.
    let started = Instant::now();
    for (n, node) in nodes.iter().enumerate() {
        let body = registration(&web, &format!("after{n}"), "10.1.9.9");
        eventually("writes accepted after the election", || {
            let (status, _) = try_call(&node.admin_socket, "RegisterInstance", &body)?;
            (status == 200).then_some(())
        });
    }
    for node in &nodes {
        eventually("both writes on both nodes", || {
            (own_address(node, "after0").is_some() && own_address(node, "after1").is_some())
                .then_some(())
        });
    }
    eprintln!(
        "writes accepted again on both nodes {:?} after the burst",
        started.elapsed()
    );
}
