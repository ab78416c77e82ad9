//! zones/ files end to end: what a file declares, against the real server,
//! compared with what the admin API does and answers.

use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::admin::{a_records, namespace_id, ok, register, service_id, srv_targets};
use crate::support::{TestServer, cairn_binary, eventually, rcode, send_signal, spawn_server};

/// The allowed networks the API reports for the namespace named `name`.
fn allowed_networks(server: &TestServer, name: &str) -> Value {
    let id = namespace_id(server, name);
    let namespace = ok(server, "GetNamespace", json!({ "Id": id }));
    namespace["Namespace"]["Properties"]["DnsProperties"]["AllowedNetworks"].clone()
}

fn private_zone(name: &str, networks: Option<&str>) -> String {
    let networks = networks
        .map(|list| format!("allowed_networks = {list}\n"))
        .unwrap_or_default();
    format!("[namespace]\nname = \"{name}\"\ntype = \"DNS_PRIVATE\"\n{networks}")
}

#[test]
fn a_namespace_from_a_file_and_from_the_api_get_the_same_allowed_networks() {
    let with_host_bits = r#"["10.1.2.3/8", "fd00::1/64"]"#;
    let server = TestServer::start(&[
        (
            "given.toml",
            &private_zone("given.internal", Some(with_host_bits)),
        ),
        ("none.toml", &private_zone("none.internal", None)),
    ]);
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "given.api",
               "Properties": {"DnsProperties": {"AllowedNetworks": ["10.1.2.3/8", "fd00::1/64"]}}}),
    );
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "none.api"}),
    );

    let given = allowed_networks(&server, "given.internal");
    assert_eq!(given, json!(["10.0.0.0/8", "fd00::/64"]), "canonical form");
    assert_eq!(allowed_networks(&server, "given.api"), given);
    let none = allowed_networks(&server, "none.internal");
    assert_eq!(none, json!(["127.0.0.0/8", "::1/128"]), "loopback only");
    assert_eq!(allowed_networks(&server, "none.api"), none);
    assert!(
        server
            .log()
            .contains("namespace.allowed_networks is not given"),
        "a file that leaves them out is told so:\n{}",
        server.log()
    );
}

/// `svc.test` with `web`, A only, and two static instances.
const A_ONLY: &str = r#"
[namespace]
name = "svc.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.1.1"

[[services.instances]]
id = "web-2"
ipv4 = "10.0.1.2"
"#;

/// `A_ONLY` with `web`'s record types changed to A + SRV.
fn with_srv() -> String {
    A_ONLY
        .replace(
            "records = [{ type = \"A\", ttl = 10 }]",
            "records = [{ type = \"A\", ttl = 10 }, { type = \"SRV\", ttl = 10 }]",
        )
        .replace("ipv4 = \"10.0.1.1\"", "ipv4 = \"10.0.1.1\"\nport = 8080")
        .replace("ipv4 = \"10.0.1.2\"", "ipv4 = \"10.0.1.2\"\nport = 8080")
}

fn write_zone(server: &TestServer, text: &str) {
    let path = server.dir.path().join("zones").join("svc.test.toml");
    std::fs::write(path, text).expect("rewrite the zone file");
}

/// Starts the server on its config again, expecting start-up to fail;
/// returns the log.
pub fn start_fails(server: &mut TestServer) -> String {
    server.kill();
    let mut child = spawn_server(&server.config_path, server.dir.path());
    let status = eventually("cairn to stop at start-up", || {
        child.try_wait().ok().flatten()
    });
    assert!(!status.success(), "start-up should fail:\n{}", server.log());
    server.log()
}

#[test]
fn changed_record_types_in_a_file_replace_the_service_at_the_next_start() {
    let mut server = TestServer::start(&[("svc.test.toml", A_ONLY)]);
    assert_eq!(a_records(&server, "web.svc.test").len(), 2);
    assert_eq!(
        rcode(&server.udp("web.svc.test", RecordType::SRV)),
        hickory_proto::op::ResponseCode::NoError
    );
    assert!(
        srv_targets(&server, "web.svc.test").is_empty(),
        "no SRV yet"
    );

    server.kill();
    write_zone(&server, &with_srv());
    server.restart();
    assert_eq!(
        srv_targets(&server, "web.svc.test"),
        ["web-1.web.svc.test.", "web-2.web.svc.test."]
    );
    let ports: Vec<u16> = server
        .udp("web.svc.test", RecordType::SRV)
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(srv.port),
            _ => None,
        })
        .collect();
    assert_eq!(ports, [8080, 8080]);
    assert_eq!(a_records(&server, "web.svc.test").len(), 2);
    assert_eq!(a_records(&server, "web-1.web.svc.test").len(), 1);

    // And the next start from the same file changes nothing.
    let id = service_id(&server, "web");
    server.restart();
    assert_eq!(service_id(&server, "web"), id);
}

#[test]
fn run_time_instances_stop_a_replacement_with_a_fix_that_works() {
    let mut server = TestServer::start(&[("svc.test.toml", A_ONLY)]);
    let web = service_id(&server, "web");
    register(&server, &web, "web-9", "10.0.1.9");
    assert_eq!(a_records(&server, "web.svc.test").len(), 3);

    server.kill();
    write_zone(&server, &with_srv());
    let log = start_fails(&mut server);
    for part in [
        "svc.test.toml",
        "services[0] \"web\"",
        "record types A → A+SRV",
        "\"web-9\"",
        "start cairn with the previous file",
        "cairn instance deregister --service web.svc.test --id web-9",
    ] {
        assert!(log.contains(part), "the error should say {part:?}:\n{log}");
    }
    assert!(!log.contains("API first"), "{log}");

    // The fix, as the message gives it: the previous file, deregister, the
    // new file.
    write_zone(&server, A_ONLY);
    server.restart();
    assert_eq!(
        a_records(&server, "web.svc.test").len(),
        3,
        "nothing was lost"
    );
    let output = Command::new(cairn_binary())
        .args([
            "instance",
            "deregister",
            "--service",
            "web.svc.test",
            "--id",
            "web-9",
        ])
        .arg("--socket")
        .arg(&server.admin_socket)
        .env_remove("CAIRN_SOCKET")
        .env_remove("CAIRN_CONFIG")
        .output()
        .expect("run cairn");
    assert!(output.status.success(), "{output:?}");
    server.kill();
    write_zone(&server, &with_srv());
    server.restart();
    assert_eq!(
        srv_targets(&server, "web.svc.test"),
        ["web-1.web.svc.test.", "web-2.web.svc.test."]
    );
}

/// What a start logs when it does not apply zones/ again.
const NOT_APPLIED_AGAIN: &str = "zones/ unchanged, and nothing changed in the store";

/// `big.test`: `services` services `s0`, `s1`, … of three A instances
/// each, enough that applying it takes a while.
fn big_zone(services: usize) -> String {
    let mut text = String::from(
        "[namespace]\nname = \"big.test\"\ntype = \"DNS_PRIVATE\"\nallowed_networks = [\"127.0.0.0/8\"]\n",
    );
    for n in 0..services {
        text.push_str(&format!(
            "\n[[services]]\nname = \"s{n}\"\nrecords = [{{ type = \"A\", ttl = 10 }}]\n"
        ));
        for i in 1..=3 {
            text.push_str(&format!(
                "[[services.instances]]\nid = \"i{i}\"\nipv4 = \"10.{}.{}.{i}\"\n",
                n / 250,
                n % 250
            ));
        }
    }
    text
}

#[test]
fn a_start_killed_while_applying_zones_applies_them_in_full_at_the_next() {
    // zones/ is loaded with unsynced commits, made durable by the mark at
    // the end: a start killed before it must leave the store unmarked, so
    // the next applies everything again.
    const SERVICES: usize = 3_000;
    let mut server = TestServer::start(&[("svc.test.toml", A_ONLY)]);
    server.kill();
    let path = server.dir.path().join("zones").join("big.test.toml");
    std::fs::write(path, big_zone(SERVICES)).expect("write the big zone file");
    let mut child = spawn_server(&server.config_path, server.dir.path());
    eventually("the start to begin applying big.test", || {
        server.log().contains("namespace=big.test").then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    let killed = server.log();
    let (_, applying) = killed
        .rsplit_once("namespace=big.test")
        .expect("the namespace was created");
    assert!(
        !applying.contains("zones applied"),
        "the kill came after the apply, so this tests nothing:\n{killed}"
    );

    server.restart();
    assert!(
        !server.log()[killed.len()..].contains(NOT_APPLIED_AGAIN),
        "a start after the kill must apply zones/ again:\n{}",
        server.log()
    );
    for n in 0..SERVICES {
        assert_eq!(
            a_records(&server, &format!("s{n}.big.test")).len(),
            3,
            "s{n}.big.test"
        );
    }
    assert_eq!(a_records(&server, "web.svc.test").len(), 2);
    let before = server.log().len();
    server.restart();
    assert!(
        server.log()[before..].contains(NOT_APPLIED_AGAIN),
        "once applied in full, zones/ is marked:\n{}",
        server.log()
    );
}

#[test]
fn a_restart_applies_zones_again_only_when_the_files_or_the_store_changed() {
    let mut server = TestServer::start(&[("svc.test.toml", A_ONLY)]);
    let skipped = |server: &TestServer| server.log().matches(NOT_APPLIED_AGAIN).count();
    assert_eq!(
        skipped(&server),
        0,
        "a first start applies:\n{}",
        server.log()
    );

    server.restart();
    assert_eq!(
        skipped(&server),
        1,
        "the same files and store:\n{}",
        server.log()
    );
    assert_eq!(a_records(&server, "web.svc.test").len(), 2);

    // A change through the API to what the file declares: the next start
    // must apply the file again and put the instance back.
    let service = service_id(&server, "web");
    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": service, "InstanceId": "web-1"}),
    );
    assert_eq!(a_records(&server, "web.svc.test").len(), 1);
    server.restart();
    assert_eq!(skipped(&server), 1, "the store changed:\n{}", server.log());
    assert_eq!(a_records(&server, "web.svc.test").len(), 2, "web-1 is back");

    server.restart();
    assert_eq!(skipped(&server), 2);
    // A changed file is applied, however small the change.
    server.kill();
    write_zone(&server, &A_ONLY.replace("10.0.1.2", "10.0.1.3"));
    server.restart();
    assert_eq!(skipped(&server), 2, "the files changed:\n{}", server.log());
    let mut addresses: Vec<String> = a_records(&server, "web.svc.test")
        .iter()
        .map(ToString::to_string)
        .collect();
    addresses.sort();
    assert_eq!(addresses, ["10.0.1.1", "10.0.1.3"]);

    // A start that skipped zones/ still stops on SIGTERM.
    server.restart();
    assert_eq!(skipped(&server), 3);
    if send_signal(server.pid(), "TERM").is_some() {
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.try_wait().is_none() {
            assert!(
                Instant::now() < deadline,
                "cairn did not stop after SIGTERM:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
