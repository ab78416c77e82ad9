//! Durability: what the admin API acknowledged survives a restart and a
//! SIGKILL, a store that cannot write changes nothing, and one data
//! directory serves one server.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::admin::{a_records, ok, service_id, start};
use crate::support::{
    DEADLINE, TestServer, eventually, free_port, rcode, require_tool, spawn_server,
};

/// One action; `None` when the server could not be reached or hung up.
fn try_call(socket: &Path, action: &str, body: &Value) -> Option<(u16, Value)> {
    let body = body.to_string();
    let request = format!(
        "POST /{action} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Every instance id of a service, through every page of ListInstances.
fn listed(server: &TestServer, service: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "ServiceId": service, "MaxResults": 100 });
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page = ok(server, "ListInstances", body);
        for instance in page["Instances"].as_array().into_iter().flatten() {
            ids.insert(instance["Id"].as_str().unwrap_or_default().to_string());
        }
        match page["NextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => return ids,
        }
    }
}

fn soa_serial(server: &TestServer) -> u32 {
    let reply = server.udp("svc.test.", RecordType::SOA);
    match reply.answers.first().map(|record| &record.data) {
        Some(RData::SOA(soa)) => soa.serial,
        other => panic!("no SOA: {other:?}"),
    }
}

fn revision(server: &TestServer) -> u64 {
    let reply = ok(
        server,
        "DiscoverInstancesRevision",
        json!({ "NamespaceName": "svc.test", "ServiceName": "web" }),
    );
    reply["InstancesRevision"]
        .as_u64()
        .unwrap_or_else(|| panic!("no InstancesRevision: {reply}"))
}

fn register_body(service: &str, id: &str, ip: &str) -> Value {
    json!({
        "ServiceId": service,
        "InstanceId": id,
        "Attributes": { "AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "80" }
    })
}

#[test]
fn a_restart_keeps_namespaces_services_instances_health_tags_and_revisions() {
    let mut server = start();
    let web = service_id(&server, "web");
    let api = service_id(&server, "api");
    for (n, id) in ["w1", "w2"].iter().enumerate() {
        ok(
            &server,
            "RegisterInstance",
            register_body(&web, id, &format!("10.9.0.{}", n + 1)),
        );
    }
    ok(
        &server,
        "RegisterInstance",
        json!({ "ServiceId": api, "InstanceId": "a1", "Attributes": { "AWS_INSTANCE_IPV4": "10.9.1.1" } }),
    );
    ok(
        &server,
        "UpdateInstanceCustomHealthStatus",
        json!({ "ServiceId": api, "InstanceId": "a1", "Status": "UNHEALTHY" }),
    );
    ok(
        &server,
        "CreatePublicDnsNamespace",
        json!({ "Name": "pub.test", "Tags": [{ "Key": "team", "Value": "infra" }] }),
    );
    // What the API shows: ids, instances, health and attributes.
    let state = |server: &TestServer| {
        (
            ok(server, "ListNamespaces", json!({})),
            ok(server, "ListServices", json!({})),
            listed(server, &web),
            ok(
                server,
                "GetInstancesHealthStatus",
                json!({ "ServiceId": api }),
            ),
            ok(
                server,
                "GetInstance",
                json!({ "ServiceId": web, "InstanceId": "w1" }),
            ),
        )
    };
    let before = state(&server);
    let public = before.0["Namespaces"]
        .as_array()
        .and_then(|all| all.iter().find(|ns| ns["Name"] == "pub.test"))
        .map(|ns| ns["Arn"].clone())
        .expect("pub.test is listed");
    let tags = ok(
        &server,
        "ListTagsForResource",
        json!({ "ResourceARN": public }),
    );
    let operations = ok(&server, "ListOperations", json!({}));
    let (serial, revision_before) = (soa_serial(&server), revision(&server));

    server.restart();

    let after = state(&server);
    assert_eq!(
        before, after,
        "the same ids, instances, health and attributes"
    );
    assert_eq!(
        ok(
            &server,
            "ListTagsForResource",
            json!({ "ResourceARN": public })
        ),
        tags
    );
    assert_eq!(ok(&server, "ListOperations", json!({})), operations);
    let mut addresses = a_records(&server, "web.svc.test.");
    addresses.sort();
    assert_eq!(addresses.len(), 2, "DNS serves the restored instances");
    assert!(
        soa_serial(&server) >= serial,
        "the SOA serial never goes backwards"
    );
    assert!(
        revision(&server) >= revision_before,
        "revisions never go backwards"
    );

    let serial = soa_serial(&server);
    let revision_before = revision(&server);
    ok(
        &server,
        "RegisterInstance",
        register_body(&web, "w3", "10.9.0.3"),
    );
    assert!(
        soa_serial(&server) > serial,
        "and grow with the next change"
    );
    assert!(revision(&server) > revision_before);
}

#[test]
fn registrations_acknowledged_before_a_sigkill_survive_it() {
    let mut server = start();
    let web = service_id(&server, "web");
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let attempted = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (socket, web) = (server.admin_socket.clone(), web.clone());
            let (acknowledged, attempted, stop) =
                (acknowledged.clone(), attempted.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let id = format!("c{client}-{n}");
                    attempted.lock().unwrap().insert(id.clone());
                    let ip = format!("10.{}.{}.{}", client, n / 250, n % 250 + 1);
                    match try_call(&socket, "RegisterInstance", &register_body(&web, &id, &ip)) {
                        Some((200, _)) => {
                            acknowledged.lock().unwrap().insert(id);
                        }
                        Some((status, body)) => panic!("registration refused: {status} {body}"),
                        None => return,
                    }
                }
            })
        })
        .collect();
    eventually("300 acknowledged registrations", || {
        (acknowledged.lock().unwrap().len() >= 300).then_some(())
    });
    // Killed while registrations are in flight.
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    server.restart();

    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored = listed(&server, &web);
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    // Nothing is half-present: what the API lists DNS answers, and what the
    // API does not list DNS does not know.
    for id in attempted.lock().unwrap().iter() {
        let reply = server.udp(&format!("{id}.web.svc.test."), RecordType::A);
        if stored.contains(id) {
            assert_eq!(
                rcode(&reply),
                ResponseCode::NoError,
                "{id} listed but not in DNS"
            );
            assert_eq!(reply.answers.len(), 1, "{id}");
        } else {
            assert_eq!(
                rcode(&reply),
                ResponseCode::NXDomain,
                "{id} in DNS but not listed"
            );
        }
    }
}

#[test]
fn a_store_that_cannot_write_refuses_the_change_and_dns_keeps_answering() {
    let Some(prlimit) = require_tool("prlimit") else {
        return;
    };
    let server = start();
    let web = service_id(&server, "web");
    ok(
        &server,
        "RegisterInstance",
        register_body(&web, "steady", "10.8.0.1"),
    );
    let store = server.dir.path().join("data").join("cairn.redb");
    let size = std::fs::metadata(&store).expect("the store file").len();
    let limit = |value: &str| {
        let status = Command::new(&prlimit)
            .arg(format!("--pid={}", server.pid()))
            .arg(format!("--fsize={value}"))
            .status()
            .expect("run prlimit");
        assert!(status.success(), "prlimit --fsize={value}");
    };
    // The store may not grow: the next write past its size fails, like a
    // full disk.
    limit(&format!("{size}:unlimited"));
    let padding = "x".repeat(900);
    let mut refused = None;
    for n in 0..2000 {
        let id = format!("big-{n}");
        let mut body = register_body(&web, &id, "10.8.1.1");
        for key in 0..4 {
            body["Attributes"][format!("pad{key}")] = json!(padding);
        }
        let (status, reply) =
            try_call(&server.admin_socket, "RegisterInstance", &body).expect("an answer");
        if status != 200 {
            assert_eq!(status, 500, "{reply}");
            assert_eq!(reply["__type"], "InternalFailure", "{reply}");
            assert!(
                reply["Message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("nothing changed"),
                "{reply}"
            );
            refused = Some(id);
            break;
        }
    }
    let refused = refused.expect("a registration refused once the store could not grow");
    let missing = try_call(
        &server.admin_socket,
        "GetInstance",
        &json!({ "ServiceId": web, "InstanceId": refused }),
    )
    .expect("an answer");
    assert_eq!(
        missing.1["__type"], "InstanceNotFound",
        "the refused change was not applied"
    );
    assert_eq!(
        rcode(&server.udp(&format!("{refused}.web.svc.test."), RecordType::A)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        rcode(&server.udp("steady.web.svc.test.", RecordType::A)),
        ResponseCode::NoError,
        "DNS answers from the last good state"
    );

    limit("unlimited");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (status, reply) = try_call(
            &server.admin_socket,
            "RegisterInstance",
            &register_body(&web, "after", "10.8.0.2"),
        )
        .expect("an answer");
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover: {reply}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        rcode(&server.udp("after.web.svc.test.", RecordType::A)),
        ResponseCode::NoError
    );
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let server = start();
    let config = server.dir.path().join("second.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nzones_dir = {zones:?}\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\n[admin]\nsocket = {socket:?}\n",
            data = server.dir.path().join("data").display().to_string(),
            zones = server.dir.path().join("zones").display().to_string(),
            port = free_port(),
            socket = server.dir.path().join("second.sock").display().to_string(),
        ),
    )
    .expect("write the second config");
    let log_dir = tempfile::tempdir().expect("temporary directory");
    let mut second = spawn_server(&config, log_dir.path());
    let status = eventually("the second server to exit", || {
        second.try_wait().ok().flatten()
    });
    assert!(!status.success());
    let log = std::fs::read_to_string(log_dir.path().join("cairn.log")).unwrap_or_default();
    assert!(log.contains("in use by another cairn"), "{log}");
    assert_eq!(
        rcode(&server.udp("svc.test.", RecordType::SOA)),
        ResponseCode::NoError,
        "the first still serves"
    );
}

#[test]
fn a_damaged_store_file_stops_the_server_naming_it_and_is_left_as_it_was() {
    let mut server = start();
    let web = service_id(&server, "web");
    crate::admin::register(&server, &web, "web-1", "10.0.0.1");
    server.kill();
    // The store's first page overwritten: what a bad copy or a disk fault
    // leaves. cairn must not start empty (DNS would answer NXDOMAIN for
    // every instance) nor write a new store over the file.
    let store = server.dir.path().join("data").join("cairn.redb");
    let mut damaged = std::fs::read(&store).expect("the store file");
    let first_page = damaged.len().min(4096);
    damaged[..first_page].fill(0x5a);
    std::fs::write(&store, &damaged).expect("damage the store");

    let mut child = spawn_server(&server.config_path, server.dir.path());
    let status = eventually("cairn to refuse the damaged store", || {
        child.try_wait().ok().flatten()
    });
    assert!(!status.success(), "cairn started on a damaged store");
    let log = server.log();
    assert!(
        log.contains(&store.display().to_string()) && log.contains("restore it from a backup"),
        "the message names the file and the fix:\n{log}"
    );
    assert_eq!(
        std::fs::read(&store).expect("still there"),
        damaged,
        "left as it was"
    );
}
