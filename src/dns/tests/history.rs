//! The IXFR history: bounded with the oldest steps dropped first, and, for
//! changes made in place and by whole compiles alike, differences that
//! take the zone as a transfer saw it at one serial to the zone now.

use std::collections::BTreeMap;

use super::{Fixture, ZONE};
use crate::dns::encode::Fqdn;
use crate::dns::transfer::axfr;
use crate::dns::transfer::history::{Difference, History, Record, owner_name};
use crate::registry::validate::{ATTR_IPV4, ATTR_IPV6, ATTR_PORT};
use crate::registry::{HealthStatus, RecordKind};

/// A zone's records but its SOA, as a multiset, and its serial.
type Records = BTreeMap<(Box<[u8]>, Box<[u8]>), usize>;

fn origin() -> Box<[u8]> {
    Fqdn::parse(ZONE)
        .and_then(|name| name.lowered_wire())
        .expect("a valid name")
}

fn zone(fixture: &Fixture) -> (u32, Records) {
    let snapshot = fixture.table.zone_snapshot(&origin()).expect("served");
    let mut records = Records::new();
    for (owner, record) in axfr::records(&snapshot) {
        if matches!(owner, axfr::Owner::Apex) && std::ptr::eq(record, &*snapshot.apex.soa_answer) {
            continue;
        }
        *records
            .entry((owner_name(owner), record.into()))
            .or_default() += 1;
    }
    (snapshot.apex.serial as u32, records)
}

/// `records` at `from` with the history's steps to `to` applied.
fn apply(fixture: &Fixture, mut records: Records, from: u32, to: u32) -> Records {
    if from == to {
        return records;
    }
    let steps = fixture
        .table
        .history_since(&origin(), from, to)
        .unwrap_or_else(|| panic!("the history reaches from {from} to {to}"));
    let mut serial = from;
    for step in steps {
        assert_eq!(step.from, serial, "steps follow each other");
        serial = step.to;
        for Record { owner, record } in &step.difference.deleted {
            let key = (owner.clone(), record.clone());
            let count = records.get_mut(&key).expect("a deleted record was there");
            *count -= 1;
            if *count == 0 {
                records.remove(&key);
            }
        }
        for Record { owner, record } in &step.difference.added {
            *records.entry((owner.clone(), record.clone())).or_default() += 1;
        }
    }
    assert_eq!(serial, to);
    records
}

fn address(n: u32) -> Vec<(String, String)> {
    let mut attributes = vec![(ATTR_PORT.to_string(), "8080".to_string())];
    if !n.is_multiple_of(3) || !n.is_multiple_of(2) {
        attributes.push((
            ATTR_IPV4.into(),
            format!("10.0.{}.{}", n >> 8 & 255, n & 255),
        ));
    }
    if n.is_multiple_of(2) {
        attributes.push((ATTR_IPV6.into(), format!("2001:db8::{n:x}")));
    }
    attributes
}

#[test]
fn differences_take_the_zone_at_any_kept_serial_to_the_zone_now() {
    let fixture = Fixture::new();
    let kinds = [RecordKind::A, RecordKind::Aaaa, RecordKind::Srv];
    // `web` grows past the size where changes are made in place; `api`
    // stays small, compiled whole on every change.
    let services = [
        fixture.service("web", &kinds),
        fixture.service("api", &kinds),
    ];
    let start = zone(&fixture);
    let mut rng = fastrand::Rng::with_seed(15);
    let mut fresh = 0u32;
    for step in 0..600 {
        let (service, range) = if rng.u8(..4) == 0 {
            (&services[1], 6)
        } else {
            (&services[0], 60)
        };
        let id = format!("node-{}", rng.u32(..range));
        let before = zone(&fixture);
        match rng.u8(..10) {
            0..=4 => {
                fresh += 1;
                let attributes = address(fresh);
                let attributes: Vec<(&str, &str)> = attributes
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.as_str()))
                    .collect();
                fixture.register(service, &id, &attributes);
            }
            5..=7 => {
                let status = if rng.bool() {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Unhealthy
                };
                if fixture
                    .registry
                    .set_health(&service.id, &id, status, false)
                    .is_err()
                {
                    continue;
                }
            }
            _ => {
                if fixture
                    .registry
                    .deregister_instance(&service.id, &id)
                    .is_err()
                {
                    continue;
                }
            }
        }
        let after = zone(&fixture);
        if after.0 == before.0 {
            assert_eq!(after.1, before.1, "step {step}: no rise, no change");
            continue;
        }
        assert_eq!(
            apply(&fixture, before.1, before.0, after.0),
            after.1,
            "step {step}: one change"
        );
    }
    assert!(
        fixture.compiled("web").is_indexed(),
        "web's changes were made in place"
    );
    let now = zone(&fixture);
    assert_eq!(
        apply(&fixture, start.1, start.0, now.0),
        now.1,
        "every change since the first serial"
    );
    // A whole compile's difference past the budget is not built.
    let web = crate::dns::compile::ServiceName::new("web", ZONE).expect("a valid name");
    let compiled = fixture.compiled("web");
    assert!(Difference::between(&web.wire, None, Some(&compiled), 100).is_none());
    let all = Difference::between(&web.wire, None, Some(&compiled), usize::MAX).expect("kept");
    let in_zone: usize = now
        .1
        .iter()
        .filter(|((owner, _), _)| owner.ends_with(&web.wire))
        .map(|(_, count)| count)
        .sum();
    assert_eq!((all.added.len(), all.deleted.len()), (in_zone, 0));
}

fn record(n: u8, len: usize) -> Record {
    Record {
        owner: vec![n; 8].into(),
        record: vec![n; len].into(),
    }
}

#[test]
fn the_history_is_bounded_and_drops_its_oldest_steps() {
    let soa = [0u8; 40];
    let mut history = History::new(2_000);
    for serial in 1..=20u32 {
        let difference = Difference {
            deleted: vec![record(serial as u8, 50)],
            added: vec![record(serial as u8 + 100, 50)],
        };
        history.rose((serial, &soa), (serial + 1, &soa), difference);
        assert!(history.bytes() <= 2_000, "{} bytes", history.bytes());
    }
    assert!(history.steps() < 20, "the oldest were dropped");
    let oldest = 21 - history.steps() as u32;
    assert!(history.since(oldest - 1, 21).is_none(), "dropped");
    let steps = history.since(oldest, 21).expect("kept");
    assert_eq!(steps.len(), history.steps());
    assert!(
        history.since(21, 21).is_none(),
        "no step starts at the current serial"
    );
    // A transfer that read serial 20 before the last change was kept
    // gets the steps up to 20, and the one past it at its next transfer.
    let to_20 = history.since(oldest, 20).expect("kept");
    assert_eq!(to_20.len(), history.steps() - 1);
    assert_eq!(to_20.last().map(|step| step.to), Some(20));
    assert!(
        history.since(oldest, 22).is_none(),
        "the history ends at 21"
    );
    assert!(history.since(21, 20).is_none(), "the client is ahead");

    // A change that does not raise the serial joins the step that reached it.
    history.changed_at(
        21,
        Difference {
            deleted: Vec::new(),
            added: vec![record(7, 10)],
        },
    );
    let last = history.since(20, 21).expect("kept");
    assert_eq!(last[0].difference.added.len(), 2);

    // A step larger than the bound, or a gap, leaves nothing to start from.
    let huge = Difference {
        deleted: Vec::new(),
        added: vec![record(1, 5_000)],
    };
    history.rose((21, &soa), (22, &soa), huge);
    assert_eq!((history.steps(), history.bytes()), (0, 0));
    history.rose((22, &soa), (23, &soa), Difference::default());
    history.rose((30, &soa), (31, &soa), Difference::default());
    assert!(history.since(22, 31).is_none());
    assert!(history.since(30, 31).is_some());
}

#[test]
fn a_zone_read_while_changes_are_made_in_place_is_the_zone_at_its_serial() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]);
    let registered = |n: u32| {
        let attributes = address(n);
        let attributes: Vec<(&str, &str)> = attributes
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        fixture.register(&web, &format!("node-{n}"), &attributes);
    };
    // Large enough for registrations to change it in place.
    for n in 0..200 {
        registered(n);
    }
    assert!(fixture.compiled("web").is_indexed());
    let start = zone(&fixture);
    let done = std::sync::atomic::AtomicBool::new(false);
    let read = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut read = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                read.push(zone(&fixture));
            }
            read
        });
        for n in 200..1_200 {
            registered(n);
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().expect("the reader ran")
    });
    assert!(read.len() > 10, "only {} reads", read.len());
    // What a secondary holds after an AXFR at a serial must be what the
    // history takes from the start to that serial, or its next IXFR
    // would add records it holds already.
    for (serial, records) in read {
        assert_eq!(
            apply(&fixture, start.1.clone(), start.0, serial),
            records,
            "the zone read at serial {serial}"
        );
    }
}
