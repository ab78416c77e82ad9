//! Store rows: a row of any bytes, filed in a real `cairn.redb`, must load
//! or be refused with an error, never panic. The store's row decoding is
//! private to `cairn::store`, so the row goes in the way the store finds
//! rows — in a file — and out through `Store::open_and_load`, the function
//! `cairn serve` starts with.
//!
//! The first byte picks the table (namespaces, services, instances,
//! operations) and whether the row is sealed with its checksum the way
//! cairn writes rows (`store/checksum.rs`) or left bare as cairn 0.1.0
//! wrote them; the rest is the row's JSON. The row is filed under the id
//! its JSON names (when it names one), so that it gets past the key check
//! into decoding.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, TableDefinition};

const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
const INSTANCES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("instances");
const OPERATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("operations");

/// The service an instance row is filed under.
const SERVICE_ID: &str = "srv-fuzz";

/// A row as cairn seals it: JSON, a newline, the CRC-32 of
/// `table NUL key NUL json` in eight hex digits.
fn seal(table: &str, key: &str, json: &[u8]) -> Vec<u8> {
    let mut hasher = crc32fast::Hasher::new();
    for part in [table.as_bytes(), &[0], key.as_bytes(), &[0], json] {
        hasher.update(part);
    }
    let mut row = json.to_vec();
    row.extend_from_slice(format!("\n{:08x}", hasher.finalize()).as_bytes());
    row
}

/// A fresh directory per input, in memory where the machine has /dev/shm.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = ["/dev/shm"]
        .into_iter()
        .map(PathBuf::from)
        .find(|dir| dir.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    base.join(format!(
        "cairn-fuzz-store-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes one row, made by `row(table, key)`, into a new store file in
/// `dir`: in namespaces, services, instances or operations (`table` 0..4).
fn file_row(
    dir: &std::path::Path,
    table: u8,
    id: &str,
    row: impl Fn(&str, &str) -> Vec<u8>,
) -> Result<(), redb::Error> {
    let db = Database::create(dir.join(cairn::store::FILE_NAME))?;
    let txn = db.begin_write()?;
    match table {
        0 => {
            txn.open_table(NAMESPACES)?
                .insert(id, &row("namespaces", id)[..])?;
        }
        1 => {
            txn.open_table(SERVICES)?
                .insert(id, &row("services", id)[..])?;
        }
        2 => {
            let key = id.to_ascii_lowercase();
            let name = format!("{SERVICE_ID}/{key}");
            txn.open_table(INSTANCES)?
                .insert((SERVICE_ID, key.as_str()), &row("instances", &name)[..])?;
        }
        _ => {
            txn.open_table(OPERATIONS)?
                .insert(0, &row("operations", "0")[..])?;
        }
    }
    txn.commit()?;
    Ok(())
}

pub fn row(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let id = serde_json::from_slice::<serde_json::Value>(json)
        .ok()
        .and_then(|value| value.get("id")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let sealed = selector & 0x10 != 0;
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    file_row(&dir, selector % 4, &id, |table, key| {
        if sealed {
            seal(table, key, json)
        } else {
            json.to_vec()
        }
    })
    .expect("the row is written");
    let loaded = cairn::store::Store::open_and_load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(error) = loaded {
        // Errors are shown to operators: they must format.
        let _ = error.to_string();
    }
}
