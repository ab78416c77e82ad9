//! Real NSD and Knot secondaries following cairn: within a second of each
//! change, with TSIG, through a burst, across a restart of cairn and after
//! being down themselves.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use serde_json::json;

use super::{ZONE, client, secondaries, tsig};
use crate::admin;
use crate::support::{TestServer, exchange_udp, free_port, query_message};

/// cairn with `ZONE`, transfers open to loopback with `tsig::KEY`
/// required, and NOTIFY to both ports.
fn primary_for(nsd_port: u16, knot_port: u16, key: &tsig::KeyFile) -> TestServer {
    TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        &format!(
            "[transfer]\nallow = [\"127.0.0.1\"]\nnotify = [\"127.0.0.1:{nsd_port}\", \"127.0.0.1:{knot_port}\"]\n{}",
            key.config()
        ),
    )
}

/// cairn (`primary_for`) with NSD and Knot following it with `tsig::KEY`.
struct Followed {
    python: String,
    /// Holds the key's secret file for as long as the servers run.
    _key: tsig::KeyFile,
    server: TestServer,
    nsd: secondaries::Secondary,
    knot: secondaries::Secondary,
}

/// The primary and both secondaries, or `None` (skipped; under CI a
/// failure) when NSD, Knot or dnspython is missing.
fn followed() -> Option<Followed> {
    let (Some((nsd, knotd)), Some(python)) = (secondaries::tools(), tsig::dnspython()) else {
        return None;
    };
    let (nsd_port, knot_port) = (free_port(), free_port());
    let key = tsig::KeyFile::new();
    let server = primary_for(nsd_port, knot_port, &key);
    let nsd = secondaries::nsd(&nsd, nsd_port, "svc.test", server.dns, tsig::KEY);
    let knot = secondaries::knot(&knotd, knot_port, "svc.test", server.dns, tsig::KEY);
    Some(Followed {
        python,
        _key: key,
        server,
        nsd,
        knot,
    })
}

/// The zone at `at`, read by one client for both sides: cairn's with the
/// key (`signed`), a secondary's without (it allows the tests' address).
fn zone_of(python: &str, at: SocketAddr, signed: bool) -> serde_json::Value {
    let key = if signed { "xfrkey" } else { "-" };
    tsig::tsig_client(python, "lines", at, "svc.test.", key, tsig::SECRET)
}

/// Polls until `check` holds for `secondary`, for at most `within`; returns
/// how long it took.
fn within(
    within: Duration,
    secondary: &secondaries::Secondary,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{:?} did not {what} within {within:?}:\n{}",
            secondary.kind,
            secondary.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn answers_a(secondary: &secondaries::Secondary, name: &str) -> Vec<String> {
    let query = query_message(name, RecordType::A, None);
    exchange_udp(secondary.addr, &query, None, Duration::from_millis(200))
        .map(|reply| {
            reply
                .answers
                .iter()
                .map(|record| record.data.to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn nsd_and_knot_follow_registrations_within_a_second_with_tsig_and_across_a_restart() {
    let Some(Followed {
        python,
        _key,
        server,
        nsd,
        knot,
    }) = followed()
    else {
        return;
    };
    let zone_of = |at: SocketAddr, signed: bool| zone_of(&python, at, signed);
    let serial = client::serial(server.dns, "svc.test.").expect("cairn's SOA");
    for secondary in [&nsd, &knot] {
        secondaries::wait_for_serial(secondary, "svc.test.", serial);
        let zone = zone_of(server.dns, true);
        assert!(
            zone.as_array().is_some_and(|lines| lines.len() == 7),
            "{zone}"
        );
        assert_eq!(
            zone_of(secondary.addr, false),
            zone,
            "{:?} holds another zone",
            secondary.kind
        );
    }

    let web = admin::service_id(&server, "web");
    admin::register(&server, &web, "w2", "10.0.0.2");
    for secondary in [&nsd, &knot] {
        let took = within(Duration::from_secs(1), secondary, "answer w2", || {
            answers_a(secondary, "w2.web.svc.test.") == ["10.0.0.2"]
        });
        eprintln!(
            "{:?} answered the registration after {took:?}",
            secondary.kind
        );
    }
    admin::ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "w2"}),
    );
    for secondary in [&nsd, &knot] {
        within(Duration::from_secs(1), secondary, "forget w2", || {
            answers_a(secondary, "w2.web.svc.test.").is_empty()
        });
        let serial = client::serial(server.dns, "svc.test.").unwrap();
        secondaries::wait_for_serial(secondary, "svc.test.", serial);
        assert_eq!(
            zone_of(secondary.addr, false),
            zone_of(server.dns, true),
            "{:?} holds another zone after the changes",
            secondary.kind
        );
    }

    // A restart keeps the serial growing, and the secondaries follow on.
    let before = client::serial(server.dns, "svc.test.").unwrap();
    let mut server = server;
    server.restart();
    let web = admin::service_id(&server, "web");
    admin::register(&server, &web, "w3", "10.0.0.3");
    let after = client::serial(server.dns, "svc.test.").unwrap();
    assert!(
        after > before,
        "serial {before} before the restart, {after} after"
    );
    for secondary in [&nsd, &knot] {
        within(
            Duration::from_secs(1),
            secondary,
            "answer w3 after a restart",
            || answers_a(secondary, "w3.web.svc.test.") == ["10.0.0.3"],
        );
    }
}

#[test]
fn a_burst_of_registrations_converges_in_few_transfers_and_a_secondary_that_was_down_catches_up() {
    let Some(Followed {
        python,
        _key,
        server,
        nsd,
        mut knot,
    }) = followed()
    else {
        return;
    };
    let zone_of = |at: SocketAddr, signed: bool| zone_of(&python, at, signed);
    let converged = |secondary: &secondaries::Secondary| {
        let serial = client::serial(server.dns, "svc.test.").unwrap();
        secondaries::wait_for_serial(secondary, "svc.test.", serial);
        assert_eq!(
            zone_of(secondary.addr, false),
            zone_of(server.dns, true),
            "{:?} holds another zone",
            secondary.kind
        );
    };
    for secondary in [&nsd, &knot] {
        converged(secondary);
    }
    let transfers = |log: &str| log.matches("zone transfer ").count();
    let before = transfers(&server.log());

    let web = admin::service_id(&server, "web");
    let burst = 200;
    for index in 0..burst {
        admin::register(
            &server,
            &web,
            &format!("b{index}"),
            &format!("10.1.{}.{}", index / 250, index % 250 + 1),
        );
    }
    for secondary in [&nsd, &knot] {
        converged(secondary);
    }
    let during = transfers(&server.log()) - before;
    eprintln!("{burst} registrations: {during} transfers to two secondaries");
    assert!(
        during < burst / 2,
        "{during} transfers for {burst} registrations to two secondaries: NOTIFYs are not coalesced"
    );
    // Knot took the whole zone once, at first, and the burst as
    // differences from cairn's history (a whole zone sent for an IXFR it
    // logs as "AXFR-style IXFR").
    let log = knot.log();
    let incoming = |kind: &str| {
        log.lines()
            .filter(|line| line.contains(&format!("{kind}, incoming")) && line.contains("finished"))
            .count()
    };
    assert_eq!(incoming("AXFR"), 1, "Knot's transfers:\n{log}");
    assert!(incoming("IXFR") >= 1, "Knot's transfers:\n{log}");
    assert!(!log.contains("AXFR-style"), "Knot's transfers:\n{log}");

    // Knot misses a run of changes, then comes back: the next NOTIFY
    // brings it what it missed, from cairn's history.
    let stale = client::serial(knot.addr, "svc.test.").unwrap();
    knot.stop();
    for index in 0..20 {
        admin::ok(
            &server,
            "DeregisterInstance",
            json!({"ServiceId": web, "InstanceId": format!("b{index}")}),
        );
    }
    knot.start();
    secondaries::wait_for_serial(&knot, "svc.test.", stale);
    admin::register(&server, &web, "late", "10.2.0.1");
    converged(&knot);
    converged(&nsd);
    let log = knot.log();
    assert!(!log.contains("AXFR-style"), "Knot's transfers:\n{log}");
}
