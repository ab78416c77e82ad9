//! A replacement of the whole registry (a cluster node re-reading its
//! store): queries keep the table as it was until the replacement ends,
//! then see all of it at once, each zone at a serial no lower than before.

use std::time::Instant;

use hickory_proto::rr::{RData, RecordType};

use super::{Fixture, ZONE};
use crate::registry::validate::ATTR_IPV4;
use crate::registry::{Change, RecordKind};

fn addresses(fixture: &Fixture, name: &str) -> Vec<String> {
    fixture
        .ask(name, RecordType::A)
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

fn serial(fixture: &Fixture) -> u32 {
    let reply = fixture.ask(&format!("{ZONE}."), RecordType::SOA);
    reply
        .answers
        .iter()
        .find_map(|record| match &record.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .expect("the zone's SOA")
}

#[test]
fn a_replacement_is_answered_only_once_it_is_complete() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A]);
    let api = fixture.service("api", &[RecordKind::A]);
    fixture.register(&web, "w1", &[(ATTR_IPV4, "10.0.0.1")]);
    fixture.register(&api, "a1", &[(ATTR_IPV4, "10.0.0.2")]);
    let before = serial(&fixture);
    let registry = &*fixture.registry;
    let namespace = registry
        .namespace(&fixture.namespace_id)
        .expect("the namespace");
    let web_now = registry.service(&web.id).expect("web");
    let api_now = registry.service(&api.id).expect("api");
    let api_instances = registry.list_instances(&api.id).expect("api's instances");
    let unchanged = |fixture: &Fixture| {
        assert_eq!(addresses(fixture, "web.zone.test."), ["10.0.0.1"]);
        assert_eq!(addresses(fixture, "api.zone.test."), ["10.0.0.2"]);
        assert_eq!(serial(fixture), before);
    };
    registry.replacing(|| {
        let now = Instant::now();
        registry.apply_stored(
            Change::Namespace(namespace.clone()),
            namespace.revision,
            now,
        );
        unchanged(&fixture);
        registry
            .replace_stored_service(web_now, Vec::new(), now)
            .expect("web fits");
        unchanged(&fixture);
        registry
            .replace_stored_service(api_now, api_instances, now)
            .expect("api fits");
        unchanged(&fixture);
    });
    assert!(addresses(&fixture, "web.zone.test.").is_empty());
    assert_eq!(addresses(&fixture, "api.zone.test."), ["10.0.0.2"]);
    assert!(serial(&fixture) >= before);
}
