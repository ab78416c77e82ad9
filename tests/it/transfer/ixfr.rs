//! Incremental IXFR (RFC 1995 §4) from cairn's history of changes: the
//! differences since a client's serial, which applied to the zone at that
//! serial give the zone now; and the whole zone once the history no longer
//! reaches back that far.

use std::collections::BTreeSet;

use hickory_proto::rr::{RData, Record, RecordType};
use serde_json::json;

use super::client::{axfr_lines, ixfr_query, line, serial, transfer};
use super::{OPEN, ZONE};
use crate::admin;
use crate::support::TestServer;

/// One difference sequence: old serial, deletions, new serial, additions.
type Step = (u32, BTreeSet<String>, u32, BTreeSet<String>);

fn soa_serial(record: &Record) -> Option<u32> {
    match &record.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

/// The steps of an incremental reply, or `None` when it is the whole
/// zone (its second record is not an SOA).
fn steps_of(records: &[&Record]) -> Option<Vec<Step>> {
    let (first, last) = (records.first()?, records.last()?);
    assert_eq!(
        soa_serial(first),
        soa_serial(last),
        "opened and closed by the current SOA"
    );
    let middle = records.get(1..records.len() - 1)?;
    soa_serial(middle.first()?)?;
    let mut steps: Vec<Step> = Vec::new();
    let mut adding = true;
    for record in middle {
        match (soa_serial(record), adding) {
            (Some(from), true) => {
                steps.push((from, BTreeSet::new(), 0, BTreeSet::new()));
                adding = false;
            }
            (Some(to), false) => {
                steps.last_mut()?.2 = to;
                adding = true;
            }
            (None, false) => {
                steps.last_mut()?.1.insert(line(record));
            }
            (None, true) => {
                steps.last_mut()?.3.insert(line(record));
            }
        }
    }
    assert!(adding, "the last step has its new SOA");
    Some(steps)
}

fn ixfr(server: &TestServer, from: u32) -> Vec<Record> {
    transfer(server.dns, &ixfr_query("svc.test.", from))
        .expect("IXFR")
        .into_iter()
        .flat_map(|message| message.answers)
        .collect()
}

/// The zone's lines without its SOA (which the steps replace).
fn without_soa(lines: BTreeSet<String>) -> BTreeSet<String> {
    lines
        .into_iter()
        .filter(|line| !line.contains(" SOA "))
        .collect()
}

#[test]
fn ixfr_sends_the_differences_since_a_kept_serial_and_they_give_the_zone_now() {
    let server = TestServer::start_with(&[("svc.test.toml", ZONE)], OPEN);
    let start = serial(server.dns, "svc.test.").expect("SOA");
    let at_start = without_soa(axfr_lines(server.dns, "svc.test.", "cairn"));
    let web = admin::service_id(&server, "web");
    for index in 2..=4 {
        admin::register(
            &server,
            &web,
            &format!("w{index}"),
            &format!("10.0.0.{index}"),
        );
    }
    admin::ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "w1"}),
    );
    let now = serial(server.dns, "svc.test.").expect("SOA");
    let zone_now = without_soa(axfr_lines(server.dns, "svc.test.", "cairn"));

    let records = ixfr(&server, start);
    let records: Vec<&Record> = records.iter().collect();
    assert_eq!(soa_serial(records[0]), Some(now));
    let steps = steps_of(&records).expect("an incremental reply, not the whole zone");
    assert_eq!(steps.first().map(|step| step.0), Some(start));
    assert_eq!(steps.last().map(|step| step.2), Some(now));
    let mut zone = at_start;
    let mut at = start;
    for (from, deleted, to, added) in &steps {
        assert_eq!(*from, at, "steps follow each other");
        assert!(
            to.wrapping_sub(*from) as i32 > 0,
            "serials rise: {from} to {to}"
        );
        for line in deleted {
            assert!(
                zone.remove(line),
                "{line} deleted but not in the zone at {from}"
            );
        }
        zone.extend(added.iter().cloned());
        at = *to;
    }
    assert_eq!(zone, zone_now, "the differences applied give the zone now");
    let deleted: BTreeSet<&String> = steps.iter().flat_map(|step| &step.1).collect();
    for line in [
        "w1.web.svc.test. 10 A 10.0.0.1",
        "web.svc.test. 10 A 10.0.0.1",
        "web.svc.test. 10 SRV 1 1 8080 w1.web.svc.test.",
    ] {
        assert!(
            deleted.contains(&line.to_string()),
            "{line} not deleted: {steps:#?}"
        );
    }
    // Four changes of three records each, two SOAs a step, two around.
    assert!(
        records.len() <= 4 * 3 + 4 * 2 + 2,
        "{} records for four changes",
        records.len()
    );

    // From the serial before the last change: that change alone.
    let before_last = steps.last().map(|step| step.0).expect("a step");
    let last = ixfr(&server, before_last);
    let last: Vec<&Record> = last.iter().collect();
    assert_eq!(steps_of(&last).map(|steps| steps.len()), Some(1));
}

#[test]
fn ixfr_past_a_bounded_history_is_the_whole_zone() {
    let server = TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        &format!("{OPEN}ixfr_history_bytes = 1000\n"),
    );
    let start = serial(server.dns, "svc.test.").expect("SOA");
    let web = admin::service_id(&server, "web");
    let mut serials = Vec::new();
    for index in 2..=12 {
        serials.push(serial(server.dns, "svc.test.").expect("SOA"));
        admin::register(
            &server,
            &web,
            &format!("w{index}"),
            &format!("10.0.0.{index}"),
        );
    }
    let whole = ixfr(&server, start);
    assert_eq!(
        whole.iter().map(line).collect::<BTreeSet<_>>(),
        axfr_lines(server.dns, "svc.test.", "cairn"),
        "an IXFR from before the history is the whole zone"
    );
    assert_eq!(whole.get(1).map(Record::record_type), Some(RecordType::NS));
    let recent = ixfr(&server, *serials.last().expect("a serial"));
    let recent: Vec<&Record> = recent.iter().collect();
    assert_eq!(
        steps_of(&recent).map(|steps| steps.len()),
        Some(1),
        "the last change is still in the history"
    );
}
