//! A cluster: several `cairn serve` nodes on one real etcd (Debian's
//! `etcd-server`), started by the test on free loopback ports. Writes go
//! through different nodes; every node must answer the same.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::admin::{ZONE, ok, service_id};
use crate::support::{DEADLINE, TestServer, eventually, free_port, rcode, require_tool};

/// A one-member etcd on loopback, killed when dropped.
struct Etcd {
    binary: PathBuf,
    dir: tempfile::TempDir,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

impl Etcd {
    fn start() -> Option<Self> {
        let binary = require_tool("etcd")?;
        let mut etcd = Self {
            binary,
            dir: tempfile::tempdir().expect("etcd's directory"),
            client: free_port(),
            peer: free_port(),
            child: None,
        };
        etcd.run();
        Some(etcd)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// Starts (or starts again, on the same data) and waits for health.
    fn run(&mut self) {
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
        let client = self.client;
        eventually("etcd to report itself healthy", || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", client)).ok()?;
            stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .ok()?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).ok()?;
            reply.contains("\"health\":\"true\"").then_some(())
        });
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A call to etcd's JSON gateway (`/v3/...`): its reply's JSON.
    fn gateway(&self, path: &str, body: &Value) -> Value {
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
        let (_, json) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        serde_json::from_str(json).unwrap_or_else(|e| panic!("etcd replied {json} ({e})"))
    }

    /// Compacts etcd's history up to its current revision.
    fn compact(&self) -> u64 {
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

    /// The `[store]` table of a node of this cluster.
    fn store_config(&self) -> String {
        format!(
            "[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\nprefix = \"/cairn-test/\"\ntimeout_secs = 1\n",
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
fn nodes(etcd: &Etcd, count: usize) -> Vec<TestServer> {
    let config = etcd.store_config();
    let mut nodes = vec![TestServer::start_with(&[("svc.test.toml", ZONE)], &config)];
    for _ in 1..count {
        nodes.push(TestServer::start_with(&[], &config));
    }
    nodes
}

/// An admin call that may fail to connect (a node killed): the status and
/// body, or `None`.
fn try_call(socket: &Path, action: &str, body: &Value) -> Option<(u16, Value)> {
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

fn registration(service: &str, id: &str, ip: &str) -> Value {
    json!({"ServiceId": service, "InstanceId": id,
           "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"}})
}

/// ListInstances, as (id, attributes) sorted by id.
fn instances(node: &TestServer, service: &str) -> Vec<(String, Value)> {
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

fn serial(node: &TestServer) -> u32 {
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
fn own_address(node: &TestServer, id: &str) -> Option<String> {
    let reply = node.udp(&format!("{id}.web.svc.test."), RecordType::A);
    reply.answers.iter().find_map(|record| match &record.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}

/// What a node answers for everything the test wrote: its ListInstances,
/// each instance's own A record and the zone's SOA serial.
fn view(
    node: &TestServer,
    service: &str,
    ids: &[String],
) -> (Vec<(String, Value)>, Vec<Option<String>>, u32) {
    let listed = instances(node, service);
    let answers = ids.iter().map(|id| own_address(node, id)).collect();
    (listed, answers, serial(node))
}

#[test]
fn three_nodes_under_concurrent_writes_answer_identically() {
    let Some(etcd) = Etcd::start() else { return };
    let nodes = nodes(&etcd, 3);
    let web = service_id(&nodes[0], "web");
    for node in &nodes[1..] {
        eventually("every node to know the service", || {
            (instances(node, &web).is_empty() && serial(node) == serial(&nodes[0])).then_some(())
        });
    }

    // 3 nodes × 2 writers × 50 registrations over 40 ids: the same ids are
    // registered through different nodes at once, with different addresses.
    let ids: Vec<String> = (0..40).map(|n| format!("i{n}")).collect();
    let acknowledged: BTreeMap<String, Vec<String>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..6)
            .map(|writer| {
                let node = &nodes[writer % 3];
                let web = web.clone();
                scope.spawn(move || {
                    let mut acked = Vec::new();
                    for n in 0..50 {
                        let id = format!("i{}", (n * 7 + writer * 13) % 40);
                        let ip = format!("10.{writer}.{}.{}", n / 200, n % 200 + 1);
                        let (status, body) = try_call(
                            &node.admin_socket,
                            "RegisterInstance",
                            &registration(&web, &id, &ip),
                        )
                        .expect("the node answers");
                        assert_eq!(
                            status,
                            200,
                            "RegisterInstance {id} through node {}: {body}",
                            writer % 3
                        );
                        acked.push((id, ip));
                    }
                    acked
                })
            })
            .collect();
        let mut acknowledged: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for writer in writers {
            for (id, ip) in writer.join().expect("a writer thread") {
                acknowledged.entry(id).or_default().push(ip);
            }
        }
        acknowledged
    });

    let first = eventually("the three nodes to agree", || {
        let views: Vec<_> = nodes.iter().map(|node| view(node, &web, &ids)).collect();
        (views[0] == views[1] && views[1] == views[2]).then(|| views[0].clone())
    });
    let (listed, answers, _serial) = first;
    // Every acknowledged id is there, with an address one of its
    // acknowledged writes gave it, and DNS serves that address.
    assert_eq!(listed.len(), acknowledged.len(), "{listed:?}");
    for (id, attributes) in &listed {
        let ip = attributes["AWS_INSTANCE_IPV4"].as_str().unwrap_or("");
        let answer = ids
            .iter()
            .position(|wanted| wanted == id)
            .and_then(|at| answers[at].clone());
        assert!(
            acknowledged[id].iter().any(|acked| acked == ip),
            "{id} holds {ip}, which no acknowledged write gave it"
        );
        assert_eq!(answer.as_deref(), Some(ip), "{id}'s own name");
    }
}

#[test]
fn a_registration_on_one_node_is_answered_by_another_quickly() {
    let Some(etcd) = Etcd::start() else { return };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    eventually("node B to know the service", || {
        (serial(&nodes[1]) == serial(&nodes[0])).then_some(())
    });
    // From the call on A to B's answer (`took`), and from A's answer to
    // B's (`after_ack`): A answers only once the change came back to it
    // through etcd's watch, which B receives at the same moment.
    let (mut took, mut after_ack) = (Vec::new(), Vec::new());
    for n in 0..30 {
        let id = format!("p{n}");
        let ip = format!("10.9.0.{}", n + 1);
        let start = Instant::now();
        ok(&nodes[0], "RegisterInstance", registration(&web, &id, &ip));
        let acked = Instant::now();
        eventually("B to answer A's registration", || {
            (own_address(&nodes[1], &id).as_deref() == Some(ip.as_str())).then_some(())
        });
        took.push(start.elapsed());
        after_ack.push(acked.elapsed());
    }
    took.sort();
    after_ack.sort();
    let (median, worst) = (took[took.len() / 2], took[took.len() - 1]);
    eprintln!(
        "register on A → answered by B: median {median:?}, worst {worst:?}; after A's answer: median {:?}, worst {:?} ({} registrations)",
        after_ack[after_ack.len() / 2],
        after_ack[after_ack.len() - 1],
        took.len()
    );
    assert!(
        worst < Duration::from_secs(2),
        "B took {worst:?} to answer a registration made on A"
    );
    assert_eq!(serial(&nodes[0]), serial(&nodes[1]));
}

#[test]
fn a_node_killed_in_a_write_burst_loses_nothing_it_acknowledged() {
    let Some(etcd) = Etcd::start() else { return };
    let mut nodes = nodes(&etcd, 3);
    let web = service_id(&nodes[0], "web");
    eventually("node C to know the service", || {
        (serial(&nodes[2]) == serial(&nodes[0])).then_some(())
    });
    let socket = nodes[2].admin_socket.clone();
    let pid = nodes[2].pid();
    let acknowledged: Vec<String> = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acked = Vec::new();
            for n in 0..400 {
                let id = format!("k{n}");
                match try_call(
                    &socket,
                    "RegisterInstance",
                    &registration(&web, &id, &format!("10.7.{}.{}", n / 200, n % 200 + 1)),
                ) {
                    Some((200, _)) => acked.push(id),
                    _ => break,
                }
            }
            acked
        });
        // Kill C with SIGKILL once the burst is under way.
        eventually("the burst to start", || {
            (instances(&nodes[0], &web).len() >= 20).then_some(())
        });
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        writer.join().expect("the writer thread")
    });
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 400,
        "{} acknowledged: the kill came too late",
        acknowledged.len()
    );
    let has_all = |node: &TestServer| {
        let held: Vec<String> = instances_all(node, &web);
        acknowledged.iter().all(|id| held.contains(id))
    };
    for node in &nodes[..2] {
        eventually("every acknowledged change on the survivors", || {
            has_all(node).then_some(())
        });
    }
    nodes[2].restart();
    eventually("every acknowledged change on the restarted node", || {
        has_all(&nodes[2]).then_some(())
    });
    assert_eq!(serial(&nodes[2]), serial(&nodes[0]));
}

/// Every instance id of a service, all pages.
fn instances_all(node: &TestServer, service: &str) -> Vec<String> {
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

#[test]
fn with_etcd_down_dns_answers_writes_are_refused_and_it_recovers() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    ok(
        &nodes[0],
        "RegisterInstance",
        registration(&web, "before", "10.8.0.1"),
    );
    eventually("B to have it", || {
        (own_address(&nodes[1], "before").is_some()).then_some(())
    });

    etcd.kill();
    // DNS keeps answering from the last state, on both nodes.
    for node in &nodes {
        assert_eq!(own_address(node, "before").as_deref(), Some("10.8.0.1"));
        assert_eq!(
            rcode(&node.udp("svc.test.", RecordType::SOA)),
            ResponseCode::NoError
        );
    }
    let refused = eventually("a write to be refused with a server error", || {
        let (status, body) = try_call(
            &nodes[0].admin_socket,
            "RegisterInstance",
            &registration(&web, "during", "10.8.0.2"),
        )?;
        (status >= 500).then_some(body)
    });
    let message = refused["Message"].as_str().unwrap_or("");
    assert!(
        message.contains("etcd") || message.contains("cluster store"),
        "{refused}"
    );
    assert_eq!(own_address(&nodes[1], "during"), None);

    etcd.run();
    eventually("writes to be accepted again without a restart", || {
        let (status, _) = try_call(
            &nodes[0].admin_socket,
            "RegisterInstance",
            &registration(&web, "after", "10.8.0.3"),
        )?;
        (status == 200).then_some(())
    });
    eventually("B to follow again", || {
        (own_address(&nodes[1], "after").as_deref() == Some("10.8.0.3")).then_some(())
    });
    assert_eq!(serial(&nodes[0]), serial(&nodes[1]));
}

#[test]
fn a_node_that_missed_compacted_history_reads_everything_again_and_converges() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    for id in ["stays", "goes"] {
        ok(
            &nodes[0],
            "RegisterInstance",
            registration(&web, id, "10.6.0.1"),
        );
    }
    eventually("B to have both", || {
        (instances(&nodes[1], &web).len() == 2).then_some(())
    });
    // B stops (SIGSTOP) and etcd restarts, which ends B's watch; A then
    // changes things and etcd forgets the history B would need, so B must
    // watch again from a revision that is gone.
    let pid = nodes[1].pid().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
    };
    signal("-STOP");
    etcd.kill();
    etcd.run();
    let write = |action: &str, body: Value| {
        eventually("A to accept writes again", || {
            let (status, _) = try_call(&nodes[0].admin_socket, action, &body)?;
            (status == 200).then_some(())
        })
    };
    write(
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "goes"}),
    );
    write("RegisterInstance", registration(&web, "stays", "10.6.0.2"));
    write("RegisterInstance", registration(&web, "new", "10.6.0.3"));
    etcd.compact();
    signal("-CONT");
    eventually("B to converge after re-reading", || {
        (instances(&nodes[1], &web) == instances(&nodes[0], &web)
            && serial(&nodes[1]) == serial(&nodes[0])
            && own_address(&nodes[1], "goes").is_none()
            && own_address(&nodes[1], "stays").as_deref() == Some("10.6.0.2"))
        .then_some(())
    });
    assert!(
        nodes[1].log().contains("re-read the cluster store"),
        "{}",
        nodes[1].log()
    );
    // And B still follows afterwards.
    ok(
        &nodes[0],
        "RegisterInstance",
        registration(&web, "later", "10.6.0.4"),
    );
    eventually("B to follow after the re-read", || {
        (own_address(&nodes[1], "later").is_some()).then_some(())
    });
}

#[test]
fn health_checks_run_on_one_node_and_move_when_it_dies() {
    let Some(etcd) = Etcd::start() else { return };
    let mut nodes = nodes(&etcd, 2);
    let running = |node: &TestServer| node.log().contains("health checks running");
    let leader = eventually("one node to run the health checks", || {
        nodes.iter().position(running)
    });
    let other = 1 - leader;
    assert!(
        !running(&nodes[other]),
        "both nodes run the health checks:\n{}",
        nodes[other].log()
    );
    nodes[leader].kill();
    let start = Instant::now();
    eventually("the other node to take the health checks over", || {
        running(&nodes[other]).then_some(())
    });
    eprintln!(
        "health checks moved to the surviving node {:?} after the leader's kill -9",
        start.elapsed()
    );
}

/// Everything a copy must carry, as the API reports it: namespaces,
/// services, each service's instances, health and tags.
fn registry_view(node: &TestServer) -> Value {
    let namespaces = ok(node, "ListNamespaces", json!({}))["Namespaces"].clone();
    let mut services = ok(node, "ListServices", json!({}))["Services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    services.sort_by_key(|service| service["Id"].as_str().unwrap_or("").to_string());
    let details: Vec<Value> = services
        .iter()
        .map(|service| {
            let id = service["Id"].as_str().unwrap_or("");
            let full = ok(node, "GetService", json!({"Id": id}))["Service"].clone();
            let tags = ok(
                node,
                "ListTagsForResource",
                json!({"ResourceARN": full["Arn"]}),
            )["Tags"]
                .clone();
            let health =
                ok(node, "GetInstancesHealthStatus", json!({"ServiceId": id}))["Status"].clone();
            json!({
                "service": full,
                "tags": tags,
                "instances": instances(node, id),
                "health": health,
            })
        })
        .collect();
    json!({"namespaces": namespaces, "services": details})
}

fn copy_store(from: &Path, to: &Path) {
    let output = Command::new(crate::support::cairn_binary())
        .args(["store", "copy", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .expect("run cairn store copy");
    assert!(
        output.status.success(),
        "cairn store copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_registry_copied_into_etcd_and_back_is_the_same() {
    let Some(etcd) = Etcd::start() else { return };
    // A single server on its embedded store, with instances, custom health
    // and tags.
    let mut single = TestServer::start(&[("svc.test.toml", ZONE)]);
    let web = service_id(&single, "web");
    let api = service_id(&single, "api");
    for n in 0..5 {
        ok(
            &single,
            "RegisterInstance",
            registration(&web, &format!("w{n}"), &format!("10.5.0.{}", n + 1)),
        );
    }
    ok(
        &single,
        "RegisterInstance",
        registration(&api, "a-1", "10.5.1.1"),
    );
    ok(
        &single,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": api, "InstanceId": "a-1", "Status": "UNHEALTHY"}),
    );
    let arn = ok(&single, "GetService", json!({"Id": web}))["Service"]["Arn"].clone();
    ok(
        &single,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "team", "Value": "web"}]}),
    );
    let before = registry_view(&single);
    single.kill();

    // Into etcd: a cluster node started on the copy serves the same.
    let mut node = TestServer::start_with(&[], &etcd.store_config());
    node.kill();
    copy_store(&single.config_path, &node.config_path);
    node.restart();
    assert_eq!(registry_view(&node), before);
    assert_eq!(
        own_address(&node, "w3").as_deref(),
        Some("10.5.0.4"),
        "DNS on the copy"
    );

    // And back into a new embedded store.
    let mut back = TestServer::start(&[]);
    back.kill();
    copy_store(&node.config_path, &back.config_path);
    back.restart();
    assert_eq!(registry_view(&back), before);

    // A copy never lands on a store that holds something.
    let output = Command::new(crate::support::cairn_binary())
        .args(["store", "copy", "--from"])
        .arg(&single.config_path)
        .arg("--to")
        .arg(&node.config_path)
        .output()
        .expect("run cairn store copy");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("copy only into an empty store"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
