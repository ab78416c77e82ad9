//! How the real server takes the signals an operator or a service manager
//! sends. (SIGTERM and its bound are in `admin/limits.rs`, next to the
//! stalled clients that test it.)

use hickory_proto::rr::RecordType;

use crate::support::{TestServer, eventually, rcode, send_signal};

const ZONE: &str = r#"
[namespace]
name = "sig.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.0.1"
"#;

#[test]
fn sighup_reloads_zones_and_the_server_keeps_answering() {
    let mut server = TestServer::start(&[("sig.test.toml", ZONE)]);
    let zones = server.dir.path().join("zones").join("sig.test.toml");
    let added = format!(
        "{ZONE}\n[[services]]\nname = \"new\"\nrecords = [{{ type = \"A\", ttl = 10 }}]\n\n[[services.instances]]\nid = \"new-1\"\nipv4 = \"10.0.0.2\"\n"
    );
    std::fs::write(&zones, added).expect("rewrite the zones file");
    if send_signal(server.pid(), "HUP").is_none() {
        return;
    }
    eventually("the reload in the log", || {
        assert!(
            server.try_wait().is_none(),
            "cairn exited on SIGHUP:\n{}",
            server.log()
        );
        server
            .log()
            .lines()
            .find(|line| line.contains("reloaded"))
            .map(drop)
    });
    let answer = server.udp("new.sig.test.", RecordType::A);
    assert_eq!(
        rcode(&answer),
        hickory_proto::op::ResponseCode::NoError,
        "{answer:?}"
    );
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    let answer = server.udp("web.sig.test.", RecordType::A);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    assert!(
        server.try_wait().is_none(),
        "still running:\n{}",
        server.log()
    );
}

/// The messages a service manager's notify socket received, in order.
fn notices(socket: &std::os::unix::net::UnixDatagram, until: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + crate::support::DEADLINE;
    let mut buffer = [0u8; 1024];
    while std::time::Instant::now() < deadline {
        if let Ok(len) = socket.recv(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..len]).into_owned();
            let done = text.lines().any(|line| line == until);
            seen.push(text);
            if done {
                return seen;
            }
        }
    }
    panic!("no {until} within the deadline; got {seen:?}");
}

/// systemd's Type=notify, with a fake NOTIFY_SOCKET: READY=1 comes only
/// once DNS answers, WATCHDOG=1 while it runs when the unit asks for it,
/// RELOADING=1 (with MONOTONIC_USEC) then READY=1 around each SIGHUP,
/// STOPPING=1 when SIGTERM arrives.
#[test]
fn the_service_manager_hears_ready_watchdog_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    use std::process::{Command, Stdio};

    use crate::support::{cairn_binary, exchange_udp, free_port, query_message, wait_for_exit};

    let dir = tempfile::tempdir().expect("a temp dir");
    let zones = dir.path().join("zones");
    std::fs::create_dir_all(&zones).expect("zones dir");
    std::fs::write(zones.join("sig.test.toml"), ZONE).expect("zone file");
    let port = free_port();
    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        format!(
            "zones_dir = {:?}\ndata_dir = {:?}\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\n[admin]\nsocket = {:?}\n",
            zones.display().to_string(),
            dir.path().join("data").display().to_string(),
            dir.path().join("admin.sock").display().to_string(),
        ),
    )
    .expect("config");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    notify
        .set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .expect("timeout");
    let mut child = Command::new(cairn_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("CAIRN_SOCKET")
        .env_remove("CAIRN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cairn");

    let ready = notices(&notify, "READY=1");
    // Ready means ready: the very next query is answered.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let query = query_message("web.sig.test.", RecordType::A, None);
    let reply = exchange_udp(addr, &query, None, std::time::Duration::from_secs(1))
        .unwrap_or_else(|error| panic!("no answer right after {ready:?}: {error}"));
    assert_eq!(rcode(&reply), hickory_proto::op::ResponseCode::NoError);
    notices(&notify, "WATCHDOG=1");

    // Type=notify-reload (systemd 253+): RELOADING=1 with the monotonic
    // time in the same message, then READY=1 once the reload is done.
    let mut reloads = Vec::new();
    for _ in 0..2 {
        if send_signal(child.id(), "HUP").is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        let seen = notices(&notify, "READY=1");
        let reloading = seen
            .iter()
            .position(|message| message.lines().any(|line| line == "RELOADING=1"))
            .unwrap_or_else(|| panic!("no RELOADING=1 before READY=1: {seen:?}"));
        let usec: u64 = seen[reloading]
            .lines()
            .find_map(|line| line.strip_prefix("MONOTONIC_USEC="))
            .and_then(|usec| usec.parse().ok())
            .unwrap_or_else(|| panic!("no MONOTONIC_USEC with RELOADING=1: {seen:?}"));
        let ready = seen.len() - 1;
        assert!(
            reloading < ready,
            "READY=1 came before RELOADING=1: {seen:?}"
        );
        reloads.push(usec);
    }
    // CLOCK_MONOTONIC never runs ahead of CLOCK_BOOTTIME (/proc/uptime).
    let uptime = std::fs::read_to_string("/proc/uptime").expect("/proc/uptime");
    let boottime_usec = uptime
        .split(['.', ' '])
        .next()
        .and_then(|secs| secs.parse::<u64>().ok())
        .expect("uptime in seconds")
        .saturating_add(1)
        * 1_000_000;
    assert!(
        reloads[0] < reloads[1] && reloads[1] <= boottime_usec,
        "MONOTONIC_USEC is not the monotonic clock: {reloads:?}, boot time {boottime_usec} µs"
    );
    // Still serving after both.
    let reply = exchange_udp(addr, &query, None, std::time::Duration::from_secs(1))
        .unwrap_or_else(|error| panic!("no answer after the reloads: {error}"));
    assert_eq!(rcode(&reply), hickory_proto::op::ResponseCode::NoError);

    let stopped = send_signal(child.id(), "TERM").is_some();
    if stopped {
        notices(&notify, "STOPPING=1");
        assert!(
            wait_for_exit(&mut child, std::time::Duration::from_secs(10)).is_some(),
            "cairn did not stop after SIGTERM"
        );
    } else {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The shipped unit file is one systemd accepts, every directive known.
#[test]
fn the_example_unit_file_passes_systemd_analyze_verify() {
    let unit = include_str!("../../examples/cairn.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/cairn serve"));
    verify_unit("cairn.service", unit);
}

/// Runs `systemd-analyze verify` on `unit` (saved as `file_name`), which
/// must say nothing; skips without systemd-analyze, except under CI.
pub fn verify_unit(file_name: &str, unit: &str) {
    let Some(analyze) = crate::support::require_tool("systemd-analyze") else {
        return;
    };
    // Verify checks that ExecStart's binary exists: point it at this build.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join(file_name);
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/cairn", crate::support::cairn_binary()),
    )
    .expect("write the unit");
    let output = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
}
