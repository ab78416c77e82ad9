//! `[metrics] listen`: `/metrics` scraped and parsed as Prometheus does,
//! after traffic whose every query and registration is known, so each
//! counter must have moved by exactly what was sent; `/healthz`, `/readyz`;
//! the config's checks of the section.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;

use hickory_proto::rr::RecordType;
use serde_json::json;

use crate::admin::{ok, service_id};
use crate::support::{DEADLINE, TestServer, Transport, cairn_binary, free_port, query_message};

/// `svc.test`, private to 127.0.0.1 alone, with one A service.
const ZONE: &str = r#"
[namespace]
name = "svc.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.1/32"]

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]
"#;

fn start() -> (TestServer, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        &format!("[metrics]\nlisten = \"{metrics}\"\n"),
    );
    (server, metrics)
}

/// `GET path`: the status and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics listener");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP reply");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_string())
}

/// One scrape, parsed.
fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_string())))
        .expect("/metrics parses as the Prometheus text format")
}

/// The value of the sample `name` with exactly these labels among others
/// (0 when absent: counters at zero may be left out).
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v)))
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a single value"),
        })
        .sum()
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    let (server, addr) = start();
    assert_eq!(get(addr, "/healthz").0, 200);
    assert_eq!(get(addr, "/readyz"), (200, "ready\n".to_string()));
    let web = service_id(&server, "web");
    let before = scrape(addr);

    for i in 0..2 {
        ok(
            &server,
            "RegisterInstance",
            json!({"ServiceId": web, "InstanceId": format!("i-{i}"), "Attributes": {"AWS_INSTANCE_IPV4": format!("10.0.0.{i}")}}),
        );
    }
    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "i-0"}),
    );
    let outsider = Transport::UdpFrom(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let sent = [
        // (name, qtype, transport, times)
        ("web.svc.test.", RecordType::A, Transport::Udp, 3),
        ("nope.svc.test.", RecordType::AAAA, Transport::Udp, 2),
        ("example.com.", RecordType::SRV, Transport::Udp, 1),
        ("web.svc.test.", RecordType::A, outsider, 4),
        ("web.svc.test.", RecordType::A, Transport::Tcp, 5),
    ];
    for (name, qtype, transport, times) in sent {
        for _ in 0..times {
            server.ask(&query_message(name, qtype, Some(1232)), transport);
        }
    }

    let after = scrape(addr);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let queries = "cairn_dns_queries_total";
    let udp = ("transport", "udp");
    for (labels, expected) in [
        (vec![udp, ("qtype", "A"), ("rcode", "NOERROR")], 3.0),
        (vec![udp, ("qtype", "AAAA"), ("rcode", "NXDOMAIN")], 2.0),
        // Outside every zone, and the outsider's private zone passed over.
        (vec![udp, ("qtype", "SRV"), ("rcode", "REFUSED")], 1.0),
        (vec![udp, ("qtype", "A"), ("rcode", "REFUSED")], 4.0),
        (
            vec![("transport", "tcp"), ("qtype", "A"), ("rcode", "NOERROR")],
            5.0,
        ),
        (vec![], 15.0),
    ] {
        assert_eq!(moved(queries, &labels), expected, "{queries} {labels:?}");
    }
    assert_eq!(moved("cairn_dns_acl_refused_total", &[]), 4.0);
    assert_eq!(moved("cairn_dns_truncated_total", &[]), 0.0);
    assert_eq!(moved("cairn_registrations_total", &[]), 2.0);
    assert_eq!(moved("cairn_deregistrations_total", &[]), 1.0);
    assert_eq!(
        moved(
            "cairn_admin_requests_total",
            &[("action", "RegisterInstance"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        value(&after, "cairn_instances", &[("namespace", "svc.test")]),
        1.0
    );
    assert_eq!(moved("cairn_dns_response_size_bytes_count", &[udp]), 10.0);
    assert!(value(&after, "cairn_store_commit_duration_seconds_count", &[]) >= 3.0);
}

#[test]
fn metrics_listen_is_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (text, expected) in [
        (
            "[metrics]\nlisten = \"localhost\"\n",
            "metrics.listen: 'localhost' is not an address",
        ),
        (
            "[dns]\nlisten = [\"127.0.0.1:5300\"]\n[metrics]\nlisten = \"127.0.0.1:5300\"\n",
            "is also in dns.listen",
        ),
        ("[metrics]\nport = 9153\n", "unknown field `port`"),
    ] {
        let path = dir.path().join("cairn.toml");
        std::fs::write(&path, text).expect("write config");
        let output = Command::new(cairn_binary())
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .expect("run cairn");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{text}: started");
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
}
