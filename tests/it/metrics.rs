//! `[metrics] listen`: `/metrics` scraped and parsed as Prometheus does,
//! after traffic whose every query and registration is known, so each
//! counter must have moved by exactly what was sent; `/healthz`, `/readyz`;
//! the config's checks of the section.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;

use hickory_proto::rr::RecordType;
use serde_json::json;

use crate::admin::{namespace_id, ok, service_id};
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
pub fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_string())))
        .expect("/metrics parses as the Prometheus text format")
}

/// The value of the sample `name` with exactly these labels among others
/// (0 when absent: counters at zero may be left out).
pub fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
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

/// A public zone next to the private `svc.test`.
const OTHER: &str = r#"
[namespace]
name = "other.test"
type = "DNS_PUBLIC"

[[services]]
name = "api"
records = [{ type = "A", ttl = 10 }]
"#;

#[test]
fn queries_are_counted_per_namespace_and_a_deleted_one_is_no_longer_exported() {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = TestServer::start_with(
        &[("svc.test.toml", ZONE), ("other.test.toml", OTHER)],
        &format!("[metrics]\nlisten = \"{metrics}\"\n"),
    );
    let per_namespace = "cairn_dns_namespace_queries_total";
    let count = |scrape: &prometheus_parse::Scrape, namespace: &str| {
        value(scrape, per_namespace, &[("namespace", namespace)])
    };
    let before = scrape(metrics);
    let outsider = Transport::UdpFrom(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    for (name, qtype, transport, times) in [
        ("web.svc.test.", RecordType::A, Transport::Udp, 3),
        // NXDOMAIN and NODATA are the zone's answers too.
        ("nope.svc.test.", RecordType::A, Transport::Udp, 2),
        ("svc.test.", RecordType::SOA, Transport::Tcp, 1),
        ("api.other.test.", RecordType::A, Transport::Udp, 4),
        ("api.other.test.", RecordType::AAAA, Transport::Tcp, 2),
        // No zone: counted for none.
        ("example.com.", RecordType::A, Transport::Udp, 1),
        // The private zone passed over, no zone above it: none either.
        ("web.svc.test.", RecordType::A, outsider, 5),
    ] {
        for _ in 0..times {
            server.ask(&query_message(name, qtype, Some(1232)), transport);
        }
    }
    let after = scrape(metrics);
    assert_eq!(count(&after, "svc.test") - count(&before, "svc.test"), 6.0);
    assert_eq!(
        count(&after, "other.test") - count(&before, "other.test"),
        6.0
    );
    let id = namespace_id(&server, "svc.test");
    assert_eq!(
        value(&after, per_namespace, &[("namespace_id", id.as_str())]),
        count(&after, "svc.test"),
        "labelled with the namespace's id too"
    );

    // A namespace made through the API is counted from zero; deleted, it
    // is no longer exported, and one made after it starts from zero again.
    let zone_of = |name: &str| {
        ok(&server, "CreatePublicDnsNamespace", json!({"Name": name}));
        namespace_id(&server, name)
    };
    let gone = zone_of("gone.test");
    for _ in 0..3 {
        server.udp("gone.test.", RecordType::SOA);
    }
    assert_eq!(count(&scrape(metrics), "gone.test"), 3.0);
    ok(&server, "DeleteNamespace", json!({"Id": gone}));
    let listed = scrape(metrics);
    assert!(
        !listed
            .samples
            .iter()
            .any(|sample| sample.metric == per_namespace
                && sample.labels.get("namespace") == Some("gone.test")),
        "a deleted namespace is still exported"
    );
    zone_of("new.test");
    server.udp("new.test.", RecordType::NS);
    let last = scrape(metrics);
    assert_eq!(count(&last, "new.test"), 1.0);
    assert_eq!(count(&last, "svc.test"), count(&after, "svc.test"));
}

#[test]
fn tcp_answers_are_timed() {
    let (server, addr) = start();
    let histogram = |scrape: &prometheus_parse::Scrape| {
        scrape
            .samples
            .iter()
            .find(|sample| sample.metric == "cairn_dns_tcp_answer_duration_seconds")
            .map(|sample| match &sample.value {
                prometheus_parse::Value::Histogram(buckets) => buckets.clone(),
                other => panic!("not a histogram: {other:?}"),
            })
            .expect("cairn_dns_tcp_answer_duration_seconds is exported")
    };
    let total = |buckets: &[prometheus_parse::HistogramCount]| {
        buckets
            .iter()
            .map(|bucket| bucket.count)
            .fold(0.0, f64::max)
    };
    let before = histogram(&scrape(addr));
    for _ in 0..7 {
        server.tcp("web.svc.test.", RecordType::A);
    }
    server.udp("web.svc.test.", RecordType::A);
    let after = histogram(&scrape(addr));
    assert_eq!(total(&after) - total(&before), 7.0, "{after:?}");
    // Each answer is in every bucket from its own up: the 100 ms bucket
    // holds all seven (a loopback answer takes microseconds).
    let within = |buckets: &[prometheus_parse::HistogramCount], bound: f64| {
        buckets
            .iter()
            .find(|bucket| (bucket.less_than - bound).abs() < 1e-9)
            .map_or(0.0, |bucket| bucket.count)
    };
    assert_eq!(within(&after, 0.1) - within(&before, 0.1), 7.0, "{after:?}");
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

#[test]
fn zone_transfers_and_notifies_are_counted_by_what_they_were_answered() {
    use crate::transfer::client::{axfr_query, ixfr_query, serial, transfer};
    // A secondary that acknowledges every NOTIFY: the query's header back,
    // as a response.
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the secondary");
    let notify_to = secondary.local_addr().expect("its address");
    // Ends once nothing has come for a while, after the test.
    secondary
        .set_read_timeout(Some(DEADLINE))
        .expect("a read timeout");
    std::thread::spawn(move || {
        let mut datagram = [0u8; 1024];
        while let Ok((len, from)) = secondary.recv_from(&mut datagram) {
            if len < 12 {
                continue;
            }
            let mut reply = datagram[..12].to_vec();
            reply[2] |= 0x80;
            reply[4..12].fill(0);
            let _ = secondary.send_to(&reply, from);
        }
    });
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        &format!(
            "[metrics]\nlisten = \"{metrics}\"\n\n[transfer]\nallow = [\"127.0.0.1\"]\nnotify = [\"{notify_to}\"]\n"
        ),
    );
    let first = serial(server.dns, "svc.test.").expect("cairn's SOA");
    transfer(server.dns, &axfr_query("svc.test.")).expect("an AXFR");
    transfer(server.dns, &ixfr_query("svc.test.", first)).expect("an up-to-date IXFR");
    transfer(server.dns, &axfr_query("other.test.")).expect("a refusal");
    let web = service_id(&server, "web");
    crate::admin::register(&server, &web, "w1", "10.0.0.1");
    transfer(server.dns, &ixfr_query("svc.test.", first)).expect("an incremental IXFR");

    let counted = |scrape: &prometheus_parse::Scrape, kind: &str, result: &str| {
        value(
            scrape,
            "cairn_zone_transfers_total",
            &[("type", kind), ("result", result)],
        )
    };
    let scraped = crate::support::eventually("the NOTIFY to be acknowledged", || {
        let scrape = scrape(metrics);
        (value(
            &scrape,
            "cairn_notifies_total",
            &[("result", "acknowledged")],
        ) >= 1.0)
            .then_some(scrape)
    });
    assert_eq!(counted(&scraped, "axfr", "whole_zone"), 1.0);
    assert_eq!(counted(&scraped, "axfr", "refused"), 1.0);
    assert_eq!(counted(&scraped, "ixfr", "up_to_date"), 1.0);
    assert_eq!(counted(&scraped, "ixfr", "incremental"), 1.0);
    assert_eq!(counted(&scraped, "ixfr", "whole_zone"), 0.0);
    assert!(value(&scraped, "cairn_notify_attempts_total", &[]) >= 1.0);
    assert_eq!(
        value(
            &scraped,
            "cairn_notifies_total",
            &[("result", "unanswered")]
        ),
        0.0
    );
}

#[cfg(feature = "etcd")]
#[test]
fn a_cluster_nodes_watch_lag_grows_while_etcd_is_stopped_and_returns_to_zero() {
    use crate::support::eventually;
    let Some(etcd) = crate::cluster::Etcd::start() else {
        return;
    };
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let node = TestServer::start_with(
        &[("svc.test.toml", crate::admin::ZONE)],
        &format!("{}[metrics]\nlisten = \"{metrics}\"\n", etcd.store_config()),
    );
    let revisions = |scrape: &prometheus_parse::Scrape| {
        (
            value(scrape, "cairn_store_applied_revision", &[]),
            value(scrape, "cairn_store_latest_revision", &[]),
            value(scrape, "cairn_store_watch_lag_seconds", &[]),
        )
    };
    let current = |what: &str| {
        eventually(what, || {
            let (applied, latest, lag) = revisions(&scrape(metrics));
            (applied > 0.0 && applied == latest && lag == 0.0).then_some(applied)
        })
    };
    let started = current("the node to export itself current");
    let web = service_id(&node, "web");
    ok(
        &node,
        "RegisterInstance",
        crate::cluster::registration(&web, "i1", "10.1.0.1"),
    );
    let registered = current("the registration's revision to be applied");
    assert!(registered > started, "{registered} after {started}");

    let pid = etcd.pid().expect("etcd runs");
    if crate::support::send_signal(pid, "STOP").is_none() {
        return;
    }
    // Silent etcd: the node takes it for lost after a few seconds, and
    // from then on the lag counts the time it has been behind.
    let first = eventually("the lag to grow while etcd is stopped", || {
        let (_, _, lag) = revisions(&scrape(metrics));
        (lag > 0.0).then_some(lag)
    });
    eventually("the lag to keep growing", || {
        let (applied, _, lag) = revisions(&scrape(metrics));
        assert_eq!(applied, registered, "nothing applied while etcd is stopped");
        (lag >= first + 1.0).then_some(())
    });
    crate::support::send_signal(pid, "CONT").expect("kill, found for STOP");
    let after = current("the lag to return to 0 once etcd answers again");
    assert!(after >= registered);
}
