//! Damaged rows: a flipped bit in a row's value or key is found at load and
//! named (table and key), or it is harmless (the row reads the same); it
//! never loads as a different namespace, service, instance or operation.

use redb::ReadableDatabase;

use super::fixture::{fixture_copy, fixture_snapshot};
use super::{
    FILE_NAME, commit_all, instance, namespace, operation, register, reload, service, setup,
};
use crate::registry::{Instance, Namespace, Operation, Service};
use crate::store::rows::{InstanceRow, NamespaceRow, OperationRow, ServiceRow};
use crate::store::tables::{self, INSTANCES};
use crate::store::{Snapshot, Store, StoreError};

/// Flips every bit of `sealed` in turn and decodes it as a row of `table`
/// under `key`: each must fail naming both, or give back `original`.
fn every_bit<R, T>(table: &'static str, key: &str, original: &T, sealed: &[u8])
where
    R: serde::de::DeserializeOwned,
    T: From<R> + PartialEq + std::fmt::Debug,
{
    let path = std::path::Path::new("/data/cairn.redb");
    let (mut found, mut harmless) = (0, 0);
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut damaged = sealed.to_vec();
            damaged[byte] ^= 1 << bit;
            match tables::decode::<R>(path, table, key, &damaged) {
                Ok(row) => {
                    assert_eq!(&T::from(row), original, "byte {byte} bit {bit}");
                    harmless += 1;
                }
                Err(err) => {
                    assert!(
                        matches!(&err, StoreError::CorruptRow { table: t, key: k, .. }
                            if *t == table && k == key),
                        "byte {byte} bit {bit}: {err:?}"
                    );
                    found += 1;
                }
            }
        }
    }
    assert_eq!(found + harmless, sealed.len() * 8);
    assert!(found > harmless, "{found} found, {harmless} harmless");
}

#[test]
fn every_flipped_bit_of_every_kind_of_row_is_found_or_harmless() {
    let namespace = namespace("ns-1");
    let sealed = tables::encode("namespaces", "ns-1", &NamespaceRow::from(&namespace));
    let sealed = sealed.expect("encodes");
    every_bit::<NamespaceRow, Namespace>("namespaces", "ns-1", &namespace, &sealed);

    let service = service("srv-1", "ns-1");
    let sealed = tables::encode("services", "srv-1", &ServiceRow::from(&service));
    let sealed = sealed.expect("encodes");
    every_bit::<ServiceRow, Service>("services", "srv-1", &service, &sealed);

    let instance = instance("Web-1");
    let sealed = tables::encode("instances", "srv-1/web-1", &InstanceRow::from(&instance));
    let sealed = sealed.expect("encodes");
    every_bit::<InstanceRow, Instance>("instances", "srv-1/web-1", &instance, &sealed);

    let operation = operation("op-1");
    let sealed = tables::encode("operations", "7", &OperationRow::from(&operation));
    let sealed = sealed.expect("encodes");
    every_bit::<OperationRow, Operation>("operations", "7", &operation, &sealed);
}

/// Replaces the instance row at `key` with `value` under `new_key`, as a
/// damaged page would leave it.
fn rewrite_instance(
    path: &std::path::Path,
    key: (&str, &str),
    new_key: (&str, &str),
    value: &[u8],
) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(INSTANCES).expect("table");
        table.remove(key).expect("removed");
        table.insert(new_key, value).expect("inserted");
    }
    txn.commit().expect("committed");
}

fn stored_instance(path: &std::path::Path, key: (&str, &str)) -> Vec<u8> {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(INSTANCES).expect("table");
    let row = table.get(key).expect("read").expect("the row is there");
    row.value().to_vec()
}

/// Loads `dir`: the snapshot, or the damaged row's table and key.
fn load(dir: &std::path::Path) -> Result<Snapshot, (&'static str, String)> {
    match Store::open(dir).expect("opens").load() {
        Ok(snapshot) => Ok(snapshot),
        Err(StoreError::CorruptRow { table, key, .. }) => Err((table, key)),
        Err(other) => panic!("not a damaged row: {other:?}"),
    }
}

#[test]
fn a_flipped_bit_in_any_byte_of_a_stored_row_is_found_or_harmless() {
    let dir = tempfile::tempdir().expect("temp dir");
    let verdicts = commit_all(
        Store::open(dir.path()).expect("opened"),
        vec![setup(), register("srv-1", "Web-1")],
    );
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    let expected = reload(dir.path());
    let path = dir.path().join(FILE_NAME);
    let key = ("srv-1", "web-1");
    let sealed = stored_instance(&path, key);
    for byte in 0..sealed.len() {
        // One bit per byte, a different one each time; the test above
        // flips all eight of every byte without going through redb.
        let mut damaged = sealed.clone();
        damaged[byte] ^= 1 << (byte % 8);
        rewrite_instance(&path, key, key, &damaged);
        match load(dir.path()) {
            Ok(snapshot) => assert_eq!(snapshot, expected, "byte {byte}"),
            Err(row) => assert_eq!(row, ("instances", "srv-1/web-1".into()), "byte {byte}"),
        }
    }
}

/// The fixture's rows carry no checksum; what guards them is that a row's
/// key must be the one its id is filed under.
#[test]
fn a_row_without_a_checksum_filed_under_another_id_is_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fixture_copy(dir.path());
    let service = "srv-9n9m0oqhrsazl5tv";
    let row = stored_instance(&path, (service, "web-1"));

    // One bit of the id in the value: "web-1" reads "web-3".
    let text = String::from_utf8(row.clone()).expect("a JSON row");
    let renamed = text.replacen(r#""id":"web-1""#, r#""id":"web-3""#, 1);
    rewrite_instance(
        &path,
        (service, "web-1"),
        (service, "web-1"),
        renamed.as_bytes(),
    );
    assert_eq!(
        load(dir.path()).map(drop),
        Err(("instances", format!("{service}/web-1")))
    );

    // One bit of the key: the row is filed as "web-3".
    rewrite_instance(&path, (service, "web-1"), (service, "web-3"), &row);
    assert_eq!(
        load(dir.path()).map(drop),
        Err(("instances", format!("{service}/web-3")))
    );

    // Put back, it loads as written.
    rewrite_instance(&path, (service, "web-3"), (service, "web-1"), &row);
    assert_eq!(load(dir.path()), Ok(fixture_snapshot()));
}

#[test]
fn the_error_names_the_file_table_key_and_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fixture_copy(dir.path());
    let key = ("srv-9n9m0oqhrsazl5tv", "web-1");
    let row = stored_instance(&path, key);
    rewrite_instance(&path, key, (key.0, "web-3"), &row);
    let err = Store::open_and_load(dir.path()).expect_err("damaged");
    let message = err.to_string();
    for part in [
        path.display().to_string().as_str(),
        "instances row \"srv-9n9m0oqhrsazl5tv/web-3\"",
        "filed under \"web-3\", but its id says \"web-1\"",
        "restore it from a backup",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
}
