//! `cairn status` end to end: the real CLI against a real server, in JSON
//! for scripts and as a table for people.

use serde_json::Value;

use crate::cli::cairn;
use crate::support::TestServer;

const ZONE: &str = r#"
[namespace]
name = "status.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]
health_check = { type = "TCP", failure_threshold = 1 }

[[services.instances]]
id = "web-1"
ipv4 = "127.0.0.1"
port = 9

[[services.instances]]
id = "web-2"
ipv4 = "127.0.0.1"
port = 9

[[services]]
name = "api"
records = [{ type = "A", ttl = 10 }]
"#;

fn status_json(server: &TestServer) -> Value {
    let output = cairn(server, &["status", "--output", "json"]);
    assert!(
        output.status.success(),
        "cairn status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cairn status --output json prints JSON")
}

#[test]
fn status_reports_the_server_in_json_and_as_a_table() {
    let server = TestServer::start_with(
        &[("status.test.toml", ZONE)],
        "[health]\ninterval_secs = 0.05\ntimeout_secs = 0.5\n",
    );
    // The health checker's first round comes shortly after the start.
    let status = crate::support::eventually("a health round in the status", || {
        let status = status_json(&server);
        (status["HealthChecks"]["Rounds"].as_u64() > Some(0)).then_some(status)
    });
    assert_eq!(status["Version"], env!("CARGO_PKG_VERSION"), "{status:#}");
    assert!(status["UptimeSeconds"].as_f64() >= Some(0.0), "{status:#}");
    let listeners = &status["Listeners"];
    assert_eq!(
        listeners["Dns"],
        serde_json::json!([server.dns.to_string()]),
        "{status:#}"
    );
    assert_eq!(
        listeners["AdminSocket"],
        server.admin_socket.display().to_string(),
        "{status:#}"
    );
    assert_eq!(listeners["Api"], serde_json::json!([]), "{status:#}");
    assert_eq!(
        status["Counts"],
        serde_json::json!({"Namespaces": 1, "Services": 2, "Instances": 2}),
        "{status:#}"
    );
    let store = &status["Store"];
    assert_eq!(store["Backend"], "redb", "{status:#}");
    assert!(
        store["Path"]
            .as_str()
            .is_some_and(|path| path.ends_with("cairn.redb")),
        "{status:#}"
    );
    assert!(store["FileBytes"].as_u64() > Some(0), "{status:#}");
    // Applying zones/ to a new store committed, so the last commit is known
    // and the revision counts those changes.
    assert!(store["LastCommit"].as_f64() > Some(0.0), "{status:#}");
    assert!(store["Revision"].as_u64() > Some(0), "{status:#}");
    let health = &status["HealthChecks"];
    assert_eq!(health["ServicesChecked"], 1, "{status:#}");
    assert_eq!(health["InstancesChecked"], 2, "{status:#}");
    assert!(health["LastRound"].as_f64() > Some(0.0), "{status:#}");

    let output = cairn(&server, &["status"]);
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    let row = |field: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{field}  ")))
            .map(|line| line[field.len()..].trim().to_string())
            .unwrap_or_else(|| panic!("no {field} row in:\n{table}"))
    };
    assert!(table.starts_with("FIELD"), "{table}");
    assert_eq!(row("version"), env!("CARGO_PKG_VERSION"), "{table}");
    assert!(row("dns").starts_with(&server.dns.to_string()), "{table}");
    assert_eq!(row("namespaces"), "1", "{table}");
    assert_eq!(row("services"), "2", "{table}");
    assert_eq!(row("instances"), "2", "{table}");
    assert!(row("store").starts_with("redb "), "{table}");
    assert!(row("last commit").ends_with(" ago"), "{table}");
    assert!(
        row("health checks").starts_with("1 services, 2 instances"),
        "{table}"
    );
    assert_eq!(row("api"), "off", "{table}");
}

/// A secondary on a test-held UDP socket that acknowledges every NOTIFY
/// until the test ends (a read timeout once nothing comes).
fn acknowledging_secondary() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the secondary");
    let addr = socket.local_addr().expect("its address");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("a read timeout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            if len < 12 {
                continue;
            }
            // The NOTIFY itself, as a response: QR set, rcode NOERROR.
            let mut reply = buf[..len].to_vec();
            reply[2] |= 0x80;
            reply[3] &= 0xf0;
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

#[test]
fn status_shows_each_secondary_and_how_its_last_notify_stands() {
    let acknowledging = acknowledging_secondary();
    // Bound, so no ICMP ends the attempts, and never read: it stays
    // "sending" for the several seconds the retries take.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent secondary");
    let silent_addr = silent.local_addr().expect("its address");
    // No health checks: nothing changes the zone, so one serial is told.
    let zone = "[namespace]\nname = \"status.test\"\ntype = \"DNS_PUBLIC\"\n";
    let server = TestServer::start_with(
        &[("status.test.toml", zone)],
        &format!(
            "[transfer]\nallow = [\"127.0.0.1\"]\nnotify = [\"{acknowledging}\", \"{silent_addr}\"]\n"
        ),
    );
    let serial =
        crate::transfer::client::serial(server.dns, "status.test.").expect("status.test's SOA");
    let entry = |status: &Value, address: &str| {
        status["Secondaries"]
            .as_array()
            .and_then(|all| all.iter().find(|entry| entry["Address"] == address))
            .cloned()
    };
    let status = crate::support::eventually("the NOTIFY acknowledged in the status", || {
        let status = status_json(&server);
        (entry(&status, &acknowledging.to_string())
            .is_some_and(|entry| entry["Notify"] == "acknowledged"))
        .then_some(status)
    });
    let acknowledged = entry(&status, &acknowledging.to_string()).unwrap_or_default();
    assert_eq!(acknowledged["Zone"], "status.test", "{status:#}");
    assert_eq!(acknowledged["Serial"], serial, "{status:#}");
    assert!(acknowledged["At"].as_f64() > Some(0.0), "{status:#}");
    let waiting = entry(&status, &silent_addr.to_string()).unwrap_or_default();
    // Still retrying, or (on a slow machine, past the retries' ~8 s) given up.
    assert!(
        waiting["Notify"] == "sending" || waiting["Notify"] == "unanswered",
        "{status:#}"
    );
    assert_eq!(waiting["Serial"], serial, "{status:#}");
    assert_eq!(
        status["Secondaries"].as_array().map(Vec::len),
        Some(2),
        "one zone, two secondaries: {status:#}"
    );

    let output = cairn(&server, &["status"]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.lines().any(|line| line.starts_with("secondary")
            && line.contains(&format!(
                "{acknowledging} for status.test: serial {serial} acknowledged"
            ))),
        "{table}"
    );
    drop(silent);
}
