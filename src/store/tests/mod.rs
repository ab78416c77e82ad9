//! The store as start-up and the registry use it: commit through the
//! journal, drop it, open the directory again, load.

mod bench;
mod corruption;
mod damage;
mod faults;
mod fixture;
mod rows;

use std::collections::BTreeMap;
use std::path::Path;

use super::{Backend, CommitError, FILE_NAME, Snapshot, Store, StoreError};
use crate::registry::{
    Change, CustomHealthCheck, DnsRecord, DnsTemplate, Endpoint, HealthStatus, Instance, Namespace,
    NamespaceType, Operation, OperationStatus, OperationType, RecordKind, RoutingPolicy, Service,
    SoaSettings,
};

pub(super) fn namespace(id: &str) -> Namespace {
    Namespace {
        region: None,
        id: id.into(),
        name: format!("{id}.example"),
        kind: NamespaceType::DnsPrivate,
        description: Some("the test zone".into()),
        soa: SoaSettings::default(),
        allowed_networks: vec!["10.0.0.0/8".parse().expect("a CIDR")],
        transfer: None,
        creator_request_id: Some("req-1".into()),
        created_at: 1_700_000_000_000,
        tags: BTreeMap::from([("team".into(), "edge".into())]),
        revision: 7,
        service_count: 1,
    }
}

pub(super) fn service(id: &str, namespace_id: &str) -> Service {
    Service {
        region: None,
        attributes: Default::default(),
        id: id.into(),
        namespace_id: namespace_id.into(),
        name: "web".into(),
        description: None,
        dns: Some(DnsTemplate {
            routing_policy: RoutingPolicy::Weighted,
            records: vec![
                DnsRecord {
                    kind: RecordKind::A,
                    ttl: 30,
                },
                DnsRecord {
                    kind: RecordKind::Srv,
                    ttl: 60,
                },
            ],
        }),
        health_check: None,
        custom_health_check: Some(CustomHealthCheck {
            failure_threshold: 2,
        }),
        heartbeat: None,
        creator_request_id: None,
        created_at: 1_700_000_000_001,
        tags: BTreeMap::from([("tier".into(), "front".into())]),
        revision: 3,
        instance_count: 0,
    }
}

pub(super) fn instance(id: &str) -> Instance {
    Instance {
        id: id.into(),
        attributes: BTreeMap::from([
            ("AWS_INSTANCE_IPV4".into(), "10.1.2.3".into()),
            ("AWS_INSTANCE_PORT".into(), "8080".into()),
            ("zone".into(), "b".into()),
        ])
        .into(),
        endpoint: Endpoint {
            ipv4: Some("10.1.2.3".parse().expect("an address")),
            ipv6: None,
            port: Some(8080),
            cname: None,
            weight: 3,
        },
        health: HealthStatus::Unhealthy,
        creator_request_id: Some(format!("create-{id}").into()),
        created_at: 1_700_000_000_002,
        updated_at: 1_700_000_000_003,
    }
}

pub(super) fn operation(id: &str) -> Operation {
    Operation {
        request_token: None,
        id: id.into(),
        kind: OperationType::RegisterInstance,
        status: OperationStatus::Success,
        error_code: None,
        error_message: None,
        created_at: 1_700_000_000_004,
        updated_at: 1_700_000_000_005,
        namespace_id: Some("ns-1".into()),
        service_id: Some("srv-1".into()),
        instance_id: Some(id.into()),
    }
}

pub(super) fn register(service_id: &str, id: &str) -> Vec<Change> {
    vec![
        Change::Instance {
            service_id: service_id.into(),
            instance: instance(id),
        },
        Change::Operation(operation(&format!("op-{id}"))),
    ]
}

/// A namespace with one service, as creating them would journal it.
pub(super) fn setup() -> Vec<Change> {
    vec![
        Change::Namespace(namespace("ns-1")),
        Change::Service(service("srv-1", "ns-1")),
    ]
}

/// Commits each batch in turn through a fresh journal, then stops it.
pub(super) fn commit_all(store: Store, batches: Vec<Vec<Change>>) -> Vec<Result<(), CommitError>> {
    let (journal, committer) = store.start().expect("committer started");
    let receivers: Vec<_> = batches.into_iter().map(|b| journal.commit(b)).collect();
    let verdicts = receivers
        .into_iter()
        .map(|r| r.blocking_recv().expect("answered").map(|_revision| ()))
        .collect();
    drop(journal);
    committer.join().expect("committer ended cleanly");
    verdicts
}

pub(super) fn reload(dir: &Path) -> Snapshot {
    Store::open(dir).expect("reopened").load().expect("loaded")
}

#[test]
fn what_was_committed_is_loaded_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("opened");
    assert_eq!(store.load().expect("loaded"), Snapshot::default());
    let verdicts = commit_all(
        store,
        vec![
            setup(),
            register("srv-1", "Web-1"),
            register("srv-1", "web-2"),
        ],
    );
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");

    let snapshot = reload(dir.path());
    assert_eq!(snapshot.namespaces, [namespace("ns-1")]);
    let instances = vec![instance("Web-1"), instance("web-2")];
    assert_eq!(snapshot.services, [(service("srv-1", "ns-1"), instances)]);
    assert_eq!(
        snapshot.operations,
        [operation("op-Web-1"), operation("op-web-2")]
    );
    assert_eq!(snapshot.changes, 6);
}

#[test]
fn deletions_remove_rows_and_a_deleted_service_takes_its_instances() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut batches = vec![
        setup(),
        register("srv-1", "web-1"),
        register("srv-1", "web-2"),
    ];
    batches.push(vec![Change::InstanceDeleted {
        service_id: "srv-1".into(),
        // Instance ids are one instance regardless of case.
        instance_id: "WEB-1".into(),
    }]);
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), batches);
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    let snapshot = reload(dir.path());
    let ids: Vec<_> = snapshot.services[0].1.iter().map(|i| &i.id).collect();
    assert_eq!(ids, ["web-2"]);

    let verdicts = commit_all(
        Store::open(dir.path()).expect("opened"),
        vec![
            vec![Change::ServiceDeleted {
                service_id: "srv-1".into(),
            }],
            vec![Change::NamespaceDeleted {
                namespace_id: "ns-1".into(),
            }],
        ],
    );
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    let snapshot = reload(dir.path());
    assert!(snapshot.namespaces.is_empty() && snapshot.services.is_empty());
    // A service created again under the same id starts with no instances.
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), vec![setup()]);
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    assert!(reload(dir.path()).services[0].1.is_empty());
    assert_eq!(reload(dir.path()).changes, 1 + 2 + 2 + 2 + 1 + 1 + 2);
}

#[test]
fn a_refused_request_leaves_nothing_and_does_not_affect_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut orphan = vec![Change::Namespace(namespace("ns-2"))];
    orphan.extend(register("srv-missing", "web-9"));
    let verdicts = commit_all(
        Store::open(dir.path()).expect("opened"),
        vec![setup(), orphan, register("srv-1", "web-1")],
    );
    assert!(verdicts[0].is_ok() && verdicts[2].is_ok(), "{verdicts:?}");
    let refusal = verdicts[1].as_ref().expect_err("refused");
    assert!(refusal.0.contains("srv-missing"), "{refusal}");

    let snapshot = reload(dir.path());
    assert_eq!(snapshot.namespaces, [namespace("ns-1")], "nothing of ns-2");
    assert_eq!(snapshot.operations, [operation("op-web-1")]);
    assert_eq!(snapshot.changes, 4);
}

#[test]
fn a_service_and_its_instances_may_arrive_in_one_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut batch = setup();
    batch.extend(register("srv-1", "web-1"));
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), vec![batch]);
    assert!(verdicts[0].is_ok(), "{verdicts:?}");
    assert_eq!(reload(dir.path()).services[0].1.len(), 1);
}

#[test]
fn the_operation_log_keeps_the_newest_hundred_thousand() {
    let dir = tempfile::tempdir().expect("temp dir");
    let total = super::tables::MAX_OPERATIONS as usize + 5;
    let batch = (0..total)
        .map(|n| Change::Operation(operation(&format!("op-{n}"))))
        .collect();
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), vec![batch]);
    assert!(verdicts[0].is_ok(), "{verdicts:?}");
    let operations = reload(dir.path()).operations;
    assert_eq!(operations.len(), total - 5);
    assert_eq!(operations[0].id, "op-5", "the oldest went");
    assert_eq!(
        operations.last().map(|o| o.id.as_str()),
        Some(format!("op-{}", total - 1).as_str())
    );
}

#[test]
fn the_operations_table_is_trimmed_once_it_outgrows_its_slack() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = |dir: &Path| {
        use redb::{ReadableDatabase, ReadableTableMetadata};
        let db = super::open_database(&dir.join(FILE_NAME), &|backend| backend).expect("opened");
        let txn = db.begin_read().expect("read");
        let table = txn.open_table(super::tables::OPERATIONS).expect("table");
        table.len().expect("counted")
    };
    let max = super::tables::MAX_OPERATIONS as usize;
    let operations = |range: std::ops::Range<usize>| -> Vec<Change> {
        range
            .map(|n| Change::Operation(operation(&format!("op-{n}"))))
            .collect()
    };
    // A little over the limit: the rows stay, the load takes the newest.
    let verdicts = commit_all(
        Store::open(dir.path()).expect("opened"),
        vec![operations(0..max + 5)],
    );
    assert!(verdicts[0].is_ok(), "{verdicts:?}");
    assert_eq!(rows(dir.path()), max as u64 + 5);
    // Far over: the oldest go, down to the limit.
    let verdicts = commit_all(
        Store::open(dir.path()).expect("opened"),
        vec![operations(max + 5..max + 20_000)],
    );
    assert!(verdicts[0].is_ok(), "{verdicts:?}");
    assert_eq!(rows(dir.path()), max as u64);
    let loaded = reload(dir.path()).operations;
    assert_eq!(loaded.len(), max);
    assert_eq!(loaded[0].id, "op-20000", "the oldest went");
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Store::open(dir.path()).expect("opened");
    let err = Store::open(dir.path()).expect_err("the file is in use");
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(FILE_NAME), "{message}");
    assert!(message.contains("in use by another cairn (one data directory per server)"));

    // Still refused while the committer thread owns the database.
    let (journal, committer) = first.start().expect("committer started");
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::InUse { .. })
    ));
    drop(journal);
    committer.join().expect("committer ended cleanly");
    Store::open(dir.path()).expect("free again once the first is gone");
}

/// Only a missing file is a new store. Anything else that is not a store,
/// an empty file included (a truncated copy, a backup that never ran), is
/// refused and left as it was: cairn never writes a new store over it.
#[test]
fn a_file_that_is_not_a_store_is_an_error_naming_it() {
    let contents: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("one byte", vec![0]),
        ("text", b"not a database\n".to_vec()),
        ("a page of zeros", vec![0; 4096]),
        ("garbage", vec![0x5a; 64 * 1024]),
    ];
    for (what, bytes) in contents {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, &bytes).expect("file written");
        let err = Store::open(dir.path()).expect_err(what);
        assert!(
            matches!(err, StoreError::Unreadable { .. }),
            "{what}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string())
                && message.contains("restore it from a backup")
                && message.contains("to start with an empty registry"),
            "{what}: {message}"
        );
        assert_eq!(std::fs::read(&path).expect("still there"), bytes, "{what}");
    }
}

#[test]
fn a_row_that_does_not_decode_is_an_error_naming_table_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), vec![setup()]);
    assert!(verdicts[0].is_ok());
    {
        let db = redb::Database::open(dir.path().join(FILE_NAME)).expect("raw open");
        let txn = db.begin_write().expect("write");
        txn.open_table(super::tables::SERVICES)
            .expect("table")
            .insert("srv-1", b"{not json".as_slice())
            .expect("inserted");
        txn.commit().expect("committed");
    }
    let err = Store::open(dir.path())
        .expect("opened")
        .load()
        .expect_err("corrupt row");
    let message = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::CorruptRow {
                table: "services",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        message.contains("srv-1") && message.contains(FILE_NAME),
        "{message}"
    );
}

#[test]
fn a_data_directory_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").expect("written");
    let err = Store::open(&blocker.join("data")).expect_err("not a directory");
    assert!(err.to_string().contains("file/data"), "{err}");
}
