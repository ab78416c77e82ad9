//! TSIG on transfers and on signed queries, checked by a client that is
//! neither cairn, NSD nor Knot (dnspython, `tsig_client.py`), and by NSD
//! and Knot secondaries holding no key or the wrong one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use hickory_proto::op::{Message, ResponseCode};
use serde_json::Value;

use super::client::{axfr_query, transfer_raw};
use super::{OPEN, big_zone, secondaries};
use crate::support::{TestServer, free_port, under_ci};

/// The key secondaries and cairn share in these tests.
pub const KEY: secondaries::Key<'static> = Some(("xfrkey", SECRET));
pub const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
const WRONG: &str = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3JvbmctMTI=";

/// The key's secret in a file only its owner reads, as cairn demands.
pub struct KeyFile {
    dir: tempfile::TempDir,
}

impl KeyFile {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("key directory");
        let path = dir.path().join("xfrkey.secret");
        std::fs::write(&path, format!("{SECRET}\n")).expect("write the secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the secret");
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("xfrkey.secret")
    }

    /// Config lines (inside `[transfer]`) requiring the key.
    pub fn config(&self) -> String {
        format!(
            "key = \"xfrkey\"\n[[transfer.keys]]\nname = \"xfrkey\"\nalgorithm = \"hmac-sha256\"\nsecret_file = {:?}\n",
            self.path().display().to_string()
        )
    }
}

/// A Python that has dnspython: `CAIRN_TEST_DNSPYTHON`, the `python3` on
/// PATH, or Debian's (`.ci/run` installs python3-dnspython there). `None`
/// skips, except under CI.
pub fn dnspython() -> Option<String> {
    let candidates = std::env::var("CAIRN_TEST_DNSPYTHON")
        .into_iter()
        .chain(["python3".to_string(), "/usr/bin/python3".to_string()]);
    for python in candidates {
        let found = Command::new(&python)
            .args(["-c", "import dns.query, dns.tsigkeyring"])
            .output()
            .is_ok_and(|output| output.status.success());
        if found {
            return Some(python);
        }
    }
    assert!(
        !under_ci(),
        "no python3 with dnspython, and CI is set: .ci/run installs python3-dnspython"
    );
    eprintln!("no python3 with dnspython; skipping (under CI this fails)");
    None
}

pub fn tsig_client(
    python: &str,
    mode: &str,
    server: std::net::SocketAddr,
    zone: &str,
    key: &str,
    secret: &str,
) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/transfer/tsig_client.py"
    );
    let output = Command::new(python)
        .arg(script)
        .args([
            mode,
            &server.ip().to_string(),
            &server.port().to_string(),
            zone,
            key,
        ])
        .args(["hmac-sha256", secret])
        .output()
        .expect("run tsig_client.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "tsig_client.py {mode} against {server}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr),
        )
    })
}

fn signed_server(zones: &[(&str, &str)], key: &KeyFile) -> TestServer {
    TestServer::start_with(zones, &format!("{OPEN}{}", key.config()))
}

#[test]
fn every_message_of_a_multi_message_axfr_is_signed_in_a_chain_dnspython_verifies() {
    let Some(python) = dnspython() else {
        return;
    };
    let key = KeyFile::new();
    let instances = 2000;
    let server = signed_server(&[("big.test.toml", &big_zone(instances))], &key);
    let verified = tsig_client(&python, "xfr", server.dns, "big.test.", "xfrkey", SECRET);
    let messages = verified["messages"].as_u64().unwrap();
    assert!(messages > 2, "{verified}");
    assert_eq!(verified["signed"], verified["messages"], "{verified}");
    // SOA twice, NS, its glue, and three records per instance.
    assert_eq!(verified["records"].as_u64(), Some(3 * instances as u64 + 4));
}

#[test]
fn signed_queries_are_answered_signed_and_bad_signatures_get_their_errors() {
    let Some(python) = dnspython() else {
        return;
    };
    let key = KeyFile::new();
    let server = signed_server(&[("svc.test.toml", super::ZONE)], &key);
    let client =
        |mode, key, secret| tsig_client(&python, mode, server.dns, "svc.test.", key, secret);
    assert_eq!(
        client("query", "xfrkey", SECRET),
        serde_json::json!({"rcode": "NOERROR", "verified": true}),
        "a signed SOA query (as Knot sends before IXFR) gets a signed answer"
    );
    assert_eq!(
        client("query", "xfrkey", WRONG)["tsig_error"],
        "PeerBadSignature"
    );
    assert_eq!(
        client("query", "otherkey", SECRET)["tsig_error"],
        "PeerBadKey"
    );
    assert_eq!(
        client("stale", "xfrkey", SECRET)["tsig_error"],
        "PeerBadTime"
    );
    // A signed transfer verifies as well.
    assert_eq!(client("xfr", "xfrkey", SECRET)["signed"], 1);
}

#[test]
fn an_unsigned_transfer_of_a_zone_that_needs_the_key_is_refused_as_not_served() {
    let key = KeyFile::new();
    let server = signed_server(&[("svc.test.toml", super::ZONE)], &key);
    let nothing = TestServer::start(&[]);
    let mut refused = transfer_raw(server.dns, &axfr_query("svc.test."))
        .unwrap()
        .remove(0);
    let mut baseline = transfer_raw(nothing.dns, &axfr_query("svc.test."))
        .unwrap()
        .remove(0);
    refused[..2].copy_from_slice(&[0, 0]);
    baseline[..2].copy_from_slice(&[0, 0]);
    assert_eq!(
        Message::from_vec(&refused).unwrap().metadata.response_code,
        ResponseCode::Refused
    );
    assert_eq!(refused, baseline);
}

#[test]
fn secondaries_without_the_key_or_with_a_wrong_one_get_nothing() {
    let Some((nsd, knotd)) = secondaries::tools() else {
        return;
    };
    let key = KeyFile::new();
    let server = signed_server(&[("svc.test.toml", super::ZONE)], &key);
    let cases = [
        secondaries::nsd(&nsd, free_port(), "svc.test", server.dns, None),
        secondaries::nsd(
            &nsd,
            free_port(),
            "svc.test",
            server.dns,
            Some(("xfrkey", WRONG)),
        ),
        secondaries::knot(&knotd, free_port(), "svc.test", server.dns, None),
        secondaries::knot(
            &knotd,
            free_port(),
            "svc.test",
            server.dns,
            Some(("xfrkey", WRONG)),
        ),
    ];
    for secondary in &cases {
        // Each asks at start; wait until it has heard its refusal.
        crate::support::eventually(
            &format!("{:?} to log a failed transfer", secondary.kind),
            || {
                let log = secondary.log().to_ascii_lowercase();
                ["refused", "badsig", "bad sig", "failed", "error"]
                    .iter()
                    .any(|word| log.contains(word) && log.contains("svc.test"))
                    .then_some(())
            },
        );
        assert_eq!(
            super::client::serial(secondary.addr, "svc.test."),
            None,
            "{:?} serves the zone without the key:\n{}",
            secondary.kind,
            secondary.log()
        );
    }
    assert!(
        !server.log().contains("zone transfer "),
        "cairn sent a zone:\n{}",
        server.log()
    );
}

#[test]
fn a_truncated_mac_is_verified_over_its_length_and_one_the_rfc_rules_out_gets_formerr() {
    let Some(python) = dnspython() else {
        return;
    };
    let key = KeyFile::new();
    let server = signed_server(&[("svc.test.toml", super::ZONE)], &key);
    let client = |mode| tsig_client(&python, mode, server.dns, "svc.test.", "xfrkey", SECRET);
    let verified = serde_json::json!({"rcode": "NOERROR", "verified": true});
    assert_eq!(client("mac32"), verified, "the whole HMAC-SHA256");
    // RFC 8945 §5.2.2.1: down to the larger of 10 bytes and half the hash,
    // compared over its length; the answer is signed over the MAC sent.
    assert_eq!(client("mac16"), verified, "half of it");
    assert_eq!(client("mac24"), verified);
    // Shorter than that, or longer than the hash: dropped with FORMERR.
    for mode in ["mac15", "mac10", "mac33"] {
        assert_eq!(
            client(mode),
            serde_json::json!({"rcode": "FORMERR", "verified": false}),
            "{mode}"
        );
    }
}

/// `svc.test` with one SRV service of five instances whose 63-byte ids
/// make its SRV answer, with the glue that fits, just under 512 bytes.
const NEAR_512: &str = r#"
[namespace]
name = "svc.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "SRV", ttl = 10 }, { type = "A", ttl = 10 }]
"#;

fn near_512() -> String {
    let mut zone = NEAR_512.to_string();
    for index in 0..5 {
        zone.push_str(&format!(
            "\n[[services.instances]]\nid = \"{index}{}\"\nipv4 = \"10.0.0.{index}\"\nport = 80\n",
            "i".repeat(62)
        ));
    }
    zone
}

#[test]
fn a_signed_udp_answer_the_tsig_would_push_past_512_bytes_is_truncated_and_still_signed() {
    use hickory_proto::rr::RecordType;
    let Some(python) = dnspython() else {
        return;
    };
    let key = KeyFile::new();
    let server = signed_server(&[("svc.test.toml", &near_512())], &key);
    // Unsigned, the answer fits, glue and all; a TSIG (79 bytes for this
    // key) would take it past 512.
    let query = crate::support::query_message("web.svc.test.", RecordType::SRV, None);
    let unsigned = crate::support::exchange_udp_raw(
        server.dns,
        &query.to_vec().expect("encode"),
        None,
        std::time::Duration::from_secs(2),
    )
    .expect("an unsigned answer");
    assert!(
        (512 - 79 + 1..=512).contains(&unsigned.len()) && unsigned[2] & 0x02 == 0,
        "the unsigned answer is {} bytes, TC {}: the zone no longer tests this",
        unsigned.len(),
        unsigned[2] & 0x02
    );
    let signed = tsig_client(
        &python,
        "udp-SRV",
        server.dns,
        "web.svc.test.",
        "xfrkey",
        SECRET,
    );
    assert_eq!(
        signed,
        serde_json::json!({"rcode": "NOERROR", "verified": true, "size": signed["size"], "tc": true}),
        "TC=1 and signed, so the client asks again over TCP"
    );
    assert!(
        signed["size"].as_u64().is_some_and(|size| size <= 512),
        "{signed}"
    );
    // A signed answer that fits with its TSIG is sent whole.
    let soa = tsig_client(&python, "udp", server.dns, "svc.test.", "xfrkey", SECRET);
    assert_eq!(soa["tc"], false, "{soa}");
    assert_eq!(soa["verified"], true, "{soa}");
}

/// cairn with `zone`, metrics on, NOTIFYs signed with the key to `notify`.
fn notifying(zone: &str, notify: &[SocketAddr], key: &KeyFile) -> (TestServer, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let notify: Vec<String> = notify.iter().map(|addr| format!("\"{addr}\"")).collect();
    let server = TestServer::start_with(
        &[("svc.test.toml", zone)],
        &format!(
            "[metrics]\nlisten = \"{metrics}\"\n\n{OPEN}notify = [{}]\n{}",
            notify.join(", "),
            key.config()
        ),
    );
    (server, metrics)
}

/// `cairn_notifies_total` by result: acknowledged, refused, unanswered.
fn notifies(metrics: SocketAddr) -> [f64; 3] {
    let scrape = crate::metrics::scrape(metrics);
    ["acknowledged", "refused", "unanswered"]
        .map(|result| crate::metrics::value(&scrape, "cairn_notifies_total", &[("result", result)]))
}

#[test]
fn nsd_and_knot_acknowledge_signed_notifies_with_replies_that_verify() {
    let Some((nsd, knotd)) = secondaries::tools() else {
        return;
    };
    let key = KeyFile::new();
    let (nsd_port, knot_port) = (free_port(), free_port());
    let secondary = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let (server, metrics) = notifying(
        super::ZONE,
        &[secondary(nsd_port), secondary(knot_port)],
        &key,
    );
    let nsd = secondaries::nsd(&nsd, nsd_port, "svc.test", server.dns, KEY);
    let knot = secondaries::knot(&knotd, knot_port, "svc.test", server.dns, KEY);
    let serial = super::client::serial(server.dns, "svc.test.").expect("cairn's SOA");
    for secondary in [&nsd, &knot] {
        secondaries::wait_for_serial(secondary, "svc.test.", serial);
    }
    // The NOTIFYs sent at start have ended, one way or another (a
    // secondary still starting may have missed them all).
    let before = crate::support::eventually("the first NOTIFYs to end", || {
        let counts = notifies(metrics);
        (counts.iter().sum::<f64>() >= 2.0).then_some(counts)
    });
    let web = crate::admin::service_id(&server, "web");
    crate::admin::register(&server, &web, "w9", "10.0.0.9");
    let after = crate::support::eventually("both to acknowledge the change", || {
        let counts = notifies(metrics);
        (counts.iter().sum::<f64>() >= before.iter().sum::<f64>() + 2.0).then_some(counts)
    });
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ],
        [2.0, 0.0, 0.0],
        "acknowledged, refused, unanswered: NSD's and Knot's replies verify\n{}",
        server.log()
    );
    assert!(
        !server.log().contains("not taken as an acknowledgement"),
        "{}",
        server.log()
    );
}

/// A secondary that answers every NOTIFY with `reply(notify)`, until the
/// test ends; where it listens.
fn responder(reply: fn(&[u8]) -> Vec<u8>) -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the responder");
    let addr = socket.local_addr().expect("its address");
    socket
        .set_read_timeout(Some(crate::support::DEADLINE))
        .expect("a read timeout");
    std::thread::spawn(move || {
        let mut datagram = [0u8; 1024];
        while let Ok((len, from)) = socket.recv_from(&mut datagram) {
            if len >= 12 {
                let _ = socket.send_to(&reply(&datagram[..len]), from);
            }
        }
    });
    addr
}

#[test]
fn unsigned_and_badly_signed_replies_to_a_signed_notify_are_not_acknowledgements() {
    // The header alone, as a response: what an unsigned secondary sends.
    let unsigned = responder(|notify| {
        let mut reply = notify[..12].to_vec();
        reply[2] |= 0x80;
        reply[4..12].fill(0);
        reply
    });
    // The NOTIFY itself with QR set: a TSIG with a MAC, but cairn's own,
    // not one over it.
    let echoed = responder(|notify| {
        let mut reply = notify.to_vec();
        reply[2] |= 0x80;
        reply
    });
    let key = KeyFile::new();
    let (server, metrics) = notifying(super::ZONE, &[unsigned, echoed], &key);
    let counts = crate::support::eventually("both NOTIFYs to run out of attempts", || {
        let counts = notifies(metrics);
        (counts.iter().sum::<f64>() >= 2.0).then_some(counts)
    });
    assert_eq!(counts, [0.0, 0.0, 2.0], "acknowledged, refused, unanswered");
    let attempts = crate::metrics::value(
        &crate::metrics::scrape(metrics),
        "cairn_notify_attempts_total",
        &[],
    );
    assert_eq!(attempts, 10.0, "every attempt made, for each");
    let log = server.log();
    for (secondary, reason) in [(unsigned, "is not signed"), (echoed, "MAC does not verify")] {
        let told = log
            .lines()
            .filter(|line| {
                line.contains(&secondary.to_string())
                    && line.contains(reason)
                    && line.contains("not taken as an acknowledgement")
            })
            .count();
        assert_eq!(told, 1, "{secondary}: told once why\n{log}");
    }
}
