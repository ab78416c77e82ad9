//! The row format (`store/rows.rs`): rows written by earlier builds still
//! decode, and rows written now read exactly as they did, whatever the
//! registry's in-memory types became.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable};

use super::fixture::FIXTURE;
use crate::registry::{Attributes, HealthStatus, Instance, Service};
use crate::store::rows::{self, InstanceRow, NamespaceRow, OperationRow, ServiceRow};
use crate::store::tables::{INSTANCES, NAMESPACES, OPERATIONS, SERVICES};

/// An instance row as the store wrote it before attributes were packed.
const INSTANCE_ROW: &str = r#"{"id":"Web-1","attributes":{"AWS_INSTANCE_IPV4":"10.1.2.3","AWS_INSTANCE_PORT":"8080","zone":"b"},"endpoint":{"ipv4":"10.1.2.3","ipv6":null,"port":8080,"cname":null,"weight":3},"health":"Unhealthy","creator_request_id":"create-1","created_at":1700000000002,"updated_at":1700000000003}"#;

/// A service row as the store wrote it before services were slimmed.
const SERVICE_ROW: &str = r#"{"id":"srv-n85snu3ejgmka14r","namespace_id":"ns-n1aq4o1bu6f50fdw","name":"s02080","description":null,"dns":{"routing_policy":"Multivalue","records":[{"kind":"A","ttl":60},{"kind":"Aaaa","ttl":60},{"kind":"Srv","ttl":60}]},"health_check":null,"custom_health_check":null,"heartbeat":null,"creator_request_id":null,"created_at":1795607926936,"tags":{},"revision":1,"instance_count":0}"#;

fn decode_instance(json: &str) -> Instance {
    let row: InstanceRow = rows::from_json(json.as_bytes()).expect("the row decodes");
    Instance::from(row)
}

fn encode<'a, R: serde::Serialize + From<&'a T>, T: 'a>(value: &'a T) -> String {
    let json = rows::to_json(&R::from(value)).expect("the row encodes");
    String::from_utf8(json).expect("JSON is UTF-8")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[test]
fn an_instance_row_from_an_earlier_build_decodes_and_encodes_unchanged() {
    let instance = decode_instance(INSTANCE_ROW);
    assert_eq!(instance.id, "Web-1");
    assert_eq!(
        instance.attributes,
        map(&[
            ("AWS_INSTANCE_IPV4", "10.1.2.3"),
            ("AWS_INSTANCE_PORT", "8080"),
            ("zone", "b")
        ])
    );
    assert_eq!(instance.attributes.get("AWS_INSTANCE_PORT"), Some("8080"));
    assert_eq!(instance.endpoint.weight, 3);
    assert_eq!(instance.health, HealthStatus::Unhealthy);
    assert_eq!(instance.creator_request_id.as_deref(), Some("create-1"));
    assert_eq!(encode::<InstanceRow, _>(&instance), INSTANCE_ROW);
}

#[test]
fn a_service_row_from_an_earlier_build_decodes_and_encodes_unchanged() {
    let row: ServiceRow = rows::from_json(SERVICE_ROW.as_bytes()).expect("the row decodes");
    let service = Service::from(row);
    assert_eq!(service.name, "s02080");
    assert_eq!(encode::<ServiceRow, _>(&service), SERVICE_ROW);
}

#[test]
fn a_service_row_from_before_heartbeats_decodes_without_one() {
    let old = SERVICE_ROW.replace(r#""heartbeat":null,"#, "");
    let row: ServiceRow = rows::from_json(old.as_bytes()).expect("the row decodes");
    assert_eq!(Service::from(row).heartbeat, None);
}

#[test]
fn fields_a_newer_build_added_are_ignored() {
    let newer = INSTANCE_ROW.replace(r#""id":"Web-1","#, r#""id":"Web-1","zone_hint":[1,2],"#);
    assert_eq!(decode_instance(&newer), decode_instance(INSTANCE_ROW));
}

#[test]
fn attributes_are_written_as_the_map_they_were_built_from() {
    let registered = map(&[
        ("AWS_INSTANCE_IPV4", "10.1.2.3"),
        ("AWS_INSTANCE_PORT", "8080"),
        ("zone", "b"),
    ]);
    let instance = decode_instance(INSTANCE_ROW);
    assert_eq!(instance.attributes, Attributes::from(&registered));
    let written = encode::<InstanceRow, _>(&instance);
    let as_map = serde_json::to_string(&registered).expect("a map encodes");
    assert!(
        written.contains(&format!(r#""attributes":{as_map}"#)),
        "{written}"
    );

    // Keys in any order come back in key order; a list is not attributes.
    let unordered = INSTANCE_ROW.replace(
        r#"{"AWS_INSTANCE_IPV4":"10.1.2.3","AWS_INSTANCE_PORT":"8080","zone":"b"}"#,
        r#"{"zone":"b","AWS_INSTANCE_PORT":"8080","AWS_INSTANCE_IPV4":"10.1.2.3"}"#,
    );
    assert_eq!(decode_instance(&unordered), instance);
    let listed = INSTANCE_ROW.replace(
        r#"{"AWS_INSTANCE_IPV4":"10.1.2.3","AWS_INSTANCE_PORT":"8080","zone":"b"}"#,
        r#"["a"]"#,
    );
    assert!(rows::from_json::<InstanceRow>(listed.as_bytes()).is_err());
}

/// Decodes `json` as a `$row`, converts it to the registry's `$model` and
/// back, and returns the JSON written then.
macro_rules! round_trip {
    ($row:ident, $model:ty, $json:expr) => {{
        let row: $row = rows::from_json($json).expect("a fixture row decodes");
        let value = <$model>::from(row);
        let json = rows::to_json(&$row::from(&value)).expect("the row encodes");
        String::from_utf8(json).expect("JSON is UTF-8")
    }};
}

#[test]
fn every_row_of_the_fixture_encodes_again_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("copy.redb");
    std::fs::copy(FIXTURE, &path).expect("copied");
    let db = redb::Database::open(&path).expect("the fixture opens");
    let txn = db.begin_read().expect("read");
    let mut checked = 0;
    let mut check = |written: String, stored: &[u8]| {
        assert_eq!(written, String::from_utf8_lossy(stored));
        checked += 1;
    };
    for row in txn
        .open_table(NAMESPACES)
        .expect("table")
        .iter()
        .expect("rows")
    {
        let (_, json) = row.expect("row");
        let json = json.value();
        check(
            round_trip!(NamespaceRow, crate::registry::Namespace, json),
            json,
        );
    }
    for row in txn
        .open_table(SERVICES)
        .expect("table")
        .iter()
        .expect("rows")
    {
        let (_, json) = row.expect("row");
        let json = json.value();
        check(round_trip!(ServiceRow, Service, json), json);
    }
    for row in txn
        .open_table(INSTANCES)
        .expect("table")
        .iter()
        .expect("rows")
    {
        let (_, json) = row.expect("row");
        let json = json.value();
        check(round_trip!(InstanceRow, Instance, json), json);
    }
    for row in txn
        .open_table(OPERATIONS)
        .expect("table")
        .iter()
        .expect("rows")
    {
        let (_, json) = row.expect("row");
        let json = json.value();
        check(
            round_trip!(OperationRow, crate::registry::Operation, json),
            json,
        );
    }
    assert_eq!(checked, 3 + 7 + 12 + 17);
}

#[test]
fn a_namespace_row_keeps_transfer_settings_and_rows_without_them_load() {
    use crate::registry::{Namespace, TransferSettings};
    let mut namespace = super::namespace("ns-1");
    let without = encode::<NamespaceRow, _>(&namespace);
    assert!(!without.contains("transfer"), "none written: {without}");
    let row: NamespaceRow = rows::from_json(without.as_bytes()).expect("the row decodes");
    assert_eq!(Namespace::from(row).transfer, None);

    namespace.transfer = Some(TransferSettings {
        allow: vec!["127.0.0.2/32".parse().expect("a network")],
        notify: vec!["[::1]:5300".parse().expect("an address")],
        key: Some("xfrkey".into()),
    });
    let with = encode::<NamespaceRow, _>(&namespace);
    assert!(
        with.ends_with(
            r#""transfer":{"allow":["127.0.0.2/32"],"notify":["[::1]:5300"],"key":"xfrkey"}}"#
        ),
        "{with}"
    );
    let row: NamespaceRow = rows::from_json(with.as_bytes()).expect("the row decodes");
    assert_eq!(Namespace::from(row), namespace);
}
