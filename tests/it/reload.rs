//! Reload under load: `cairn reload` (and SIGHUP, in `signals.rs`) applies
//! a changed zones/ and config without a query going unanswered, refuses a
//! bad file whole, and names what needs a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::Value;

mod live;

use crate::cli::cairn;
use crate::support::{TestServer, eventually, exchange_udp, query_message, rcode};

const PUBLIC: &str = r#"
[namespace]
name = "pub.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.0.1"
"#;

const PRIVATE: &str = r#"
[namespace]
name = "priv.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "db"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "db-1"
ipv4 = "10.0.1.1"
"#;

fn reload(server: &TestServer) -> Result<Value, String> {
    let output = cairn(server, &["reload", "--output", "json"]);
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("cairn reload prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Queries `names` over UDP in turn from a thread until stopped; counts the
/// queries sent and those that got no answer within a second.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    unanswered: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(server: &TestServer, names: &[&str]) -> Self {
        let (stop, sent, unanswered) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let queries: Vec<_> = names
            .iter()
            .map(|name| query_message(name, RecordType::A, Some(1232)))
            .collect();
        let (dns, thread_stop, thread_sent, thread_unanswered) = (
            server.dns,
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&unanswered),
        );
        let thread = std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                for query in &queries {
                    thread_sent.fetch_add(1, Ordering::Relaxed);
                    if exchange_udp(dns, query, None, Duration::from_secs(1)).is_err() {
                        thread_unanswered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Self {
            stop,
            sent,
            unanswered,
            thread: Some(thread),
        }
    }

    /// Stops the thread; returns (sent, unanswered).
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the load thread");
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.unanswered.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn a_reload_applies_zones_under_load_without_an_unanswered_query() {
    let server = TestServer::start(&[("pub.test.toml", PUBLIC), ("priv.test.toml", PRIVATE)]);
    let zones = server.dir.path().join("zones");
    assert_eq!(server.udp("db.priv.test.", RecordType::A).answers.len(), 1);
    assert_eq!(
        rcode(&server.udp("api.pub.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
    let load = Load::start(&server, &["web.pub.test.", "db.priv.test."]);
    // Some load before the change, so the reload lands among queries.
    eventually("queries under way", || {
        (load.sent.load(Ordering::Relaxed) > 50).then_some(())
    });

    let with_api = format!(
        "{PUBLIC}\n[[services]]\nname = \"api\"\nrecords = [{{ type = \"A\", ttl = 10 }}]\n\n[[services.instances]]\nid = \"api-1\"\nipv4 = \"10.0.0.9\"\n"
    );
    std::fs::write(zones.join("pub.test.toml"), with_api).expect("rewrite pub.test");
    // 127.0.0.1 is no longer allowed: the private zone is passed over for it.
    std::fs::write(
        zones.join("priv.test.toml"),
        PRIVATE.replace("127.0.0.0/8", "10.0.0.0/8"),
    )
    .expect("rewrite priv.test");
    let report = reload(&server).expect("the reload succeeds");
    assert_eq!(
        report["RestartRequired"],
        serde_json::json!([]),
        "{report:#}"
    );
    assert_eq!(report["Zones"]["Files"], 2, "{report:#}");
    assert_eq!(report["Zones"]["Services"], 3, "{report:#}");

    // Served once the reload has answered: the change is in DNS by then.
    let answer = server.udp("api.pub.test.", RecordType::A);
    assert_eq!(rcode(&answer), ResponseCode::NoError, "{answer:?}");
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    let denied = server.udp("db.priv.test.", RecordType::A);
    assert!(denied.answers.is_empty(), "{denied:?}");
    assert_ne!(rcode(&denied), ResponseCode::NoError, "{denied:?}");

    let before = load.sent.load(Ordering::Relaxed);
    eventually("queries after the reload", || {
        (load.sent.load(Ordering::Relaxed) > before + 50).then_some(())
    });
    let (sent, unanswered) = load.finish();
    assert_eq!(
        unanswered, 0,
        "{unanswered} of {sent} queries went unanswered"
    );
}

#[test]
fn a_bad_config_or_zones_file_is_refused_and_the_old_one_keeps_serving() {
    let server = TestServer::start(&[("pub.test.toml", PUBLIC)]);
    let zones = server.dir.path().join("zones");
    let config = std::fs::read_to_string(&server.config_path).expect("read the config");

    // A parse error in the config file.
    std::fs::write(&server.config_path, format!("{config}\n[log\nlevel = 3\n"))
        .expect("break the config");
    let refused = reload(&server).expect_err("a broken config is refused");
    assert!(
        refused.contains("InvalidInput") && refused.contains("cairn.toml"),
        "{refused}"
    );
    assert!(refused.contains("running one is kept"), "{refused}");
    assert_eq!(server.udp("web.pub.test.", RecordType::A).answers.len(), 1);

    // A valid config with an invalid zones file: nothing of it is applied,
    // not even the valid service declared before the mistake.
    std::fs::write(&server.config_path, &config).expect("restore the config");
    let broken = format!(
        "{PUBLIC}\n[[services]]\nname = \"api\"\nrecords = [{{ type = \"A\", ttl = 10 }}]\n\n[[services]]\nname = \"bad\"\nrecords = [{{ type = \"MX\", ttl = 10 }}]\n"
    );
    std::fs::write(zones.join("pub.test.toml"), broken).expect("break pub.test");
    let refused = reload(&server).expect_err("a broken zones file is refused");
    assert!(refused.contains("pub.test.toml"), "{refused}");
    assert_eq!(
        rcode(&server.udp("api.pub.test.", RecordType::A)),
        ResponseCode::NXDomain,
        "nothing of a refused reload is applied"
    );
    assert_eq!(server.udp("web.pub.test.", RecordType::A).answers.len(), 1);
    assert!(
        server.log().contains("reload refused"),
        "the refusal is logged:\n{}",
        server.log()
    );
}

#[test]
fn a_reload_names_what_needs_a_restart_and_applies_the_rest() {
    let server = TestServer::start(&[("pub.test.toml", PUBLIC)]);
    let config = std::fs::read_to_string(&server.config_path).expect("read the config");
    let moved = config.replace("data_dir = ", "data_dir = \"elsewhere\"\n# was: ");
    let changed = format!("{moved}\n[health]\ninterval_secs = 3\n\n[log]\nlevel = \"debug\"\n")
        .replace(
            "[dns]\n",
            "[dns]\ntcp_max_connections = 100\nudp_workers = 1\n",
        );
    std::fs::write(&server.config_path, changed).expect("change the config");
    let report = reload(&server).expect("the reload succeeds");
    assert_eq!(
        report["RestartRequired"],
        serde_json::json!(["dns.udp_workers", "data_dir"]),
        "{report:#}"
    );
    assert_eq!(
        report["Applied"],
        serde_json::json!(["dns.tcp_*", "health", "log.level"]),
        "{report:#}"
    );
    // The test harness sets RUST_LOG, which wins over log.level.
    assert!(
        report["Notes"][0]
            .as_str()
            .is_some_and(|note| note.contains("RUST_LOG")),
        "{report:#}"
    );
    assert!(
        server.log().contains("only take effect after a restart"),
        "{}",
        server.log()
    );
    // Still on the store it started with.
    let status = cairn(&server, &["status", "--output", "json"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert!(
        status["Store"]["Path"]
            .as_str()
            .is_some_and(|path| !path.contains("elsewhere")),
        "{status:#}"
    );
    // A second reload of the same file reports the same: the running
    // config did not take what it could not apply.
    let again = reload(&server).expect("the second reload succeeds");
    assert_eq!(
        again["RestartRequired"], report["RestartRequired"],
        "{again:#}"
    );
    assert_eq!(again["Applied"], serde_json::json!([]), "{again:#}");
}
