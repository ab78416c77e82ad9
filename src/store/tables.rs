//! The store's layout: which tables hold what, how a row is encoded, and how
//! a batch of [`Change`]s becomes one write transaction.
//!
//! Rows are JSON (serde_json) in the store's own row types (`rows.rs`),
//! readable with any redb tool when something goes wrong, and tolerant of
//! fields added with `#[serde(default)]`, each sealed with a checksum of its
//! table, key and JSON (`checksum.rs`). A row is a few hundred bytes, so
//! the encoding is nowhere near the cost of the fsync that ends every batch.
//!
//! At load every row is checked before it is believed: its checksum (rows
//! from before checksums have none), and that its key is the one its id is
//! filed under, so a damaged row is an error naming it, never a different
//! namespace, service or instance.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;

use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CommitError;
use super::checksum;
use super::committer::Sync;
use super::error::StoreError;
use super::rows::{self, InstanceRow, NamespaceRow, OperationRow, ServiceRow};
use super::{Snapshot, ZonesApplied};
use crate::registry::{Change, Instance, Namespace, Operation, Service};

/// The tables' names, as errors and checksums spell them.
const NAMESPACES_NAME: &str = "namespaces";
const SERVICES_NAME: &str = "services";
const INSTANCES_NAME: &str = "instances";
const OPERATIONS_NAME: &str = "operations";

/// Namespace id → Namespace.
pub(super) const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new(NAMESPACES_NAME);
/// Service id → Service (without its instances).
pub(super) const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new(SERVICES_NAME);
/// (service id, lower-cased instance id) → Instance. Keyed by service first
/// so a service's instances are one contiguous range.
pub(super) const INSTANCES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new(INSTANCES_NAME);
/// Sequence number → Operation; the sequence only grows, so the first row
/// is the oldest.
pub(super) const OPERATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new(OPERATIONS_NAME);
/// Counters; see [`CHANGES`].
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The number of `Change` values ever committed: a clock that never goes
/// backwards, from which revisions are restored.
pub(super) const CHANGES: &str = "changes";

/// The digest of the zones/ last applied in full ([`ZonesApplied`]), and
/// the `changes` counter right after: while nothing else has been committed
/// and the files are the same, applying them again would change nothing.
const ZONES_DIGEST: &str = "zones_digest";
const ZONES_APPLIED_AT: &str = "zones_applied_at";

/// The operation log keeps this many, dropping the oldest.
pub(super) const MAX_OPERATIONS: u64 = 100_000;

/// How far the operations table may grow past [`MAX_OPERATIONS`] before
/// its oldest rows are dropped, all at once. Dropping a batch's worth from
/// the front on every commit rewrote the table's first pages each time, as
/// well as its last (64 registering clients, strace of the committer: 20.6
/// page writes per commit before, 18.5 after). The load reads only the
/// newest [`MAX_OPERATIONS`].
const OPERATIONS_SLACK: u64 = 10_000;

/// The key an instance is filed under, as the registry files it: ids that
/// differ only in case are one instance.
fn instance_key(instance_id: &str) -> String {
    instance_id.to_ascii_lowercase()
}

/// How errors and checksums name an instance row's key.
pub(super) fn instance_name(service_id: &str, instance_key: &str) -> String {
    format!("{service_id}/{instance_key}")
}

/// Creates any table a new (or older) store lacks, so that reads never meet
/// a missing table.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(NAMESPACES)?;
    txn.open_table(SERVICES)?;
    txn.open_table(INSTANCES)?;
    txn.open_table(OPERATIONS)?;
    txn.open_table(META)?;
    Ok(())
}

/// Why a batch could not be written. Either way nothing of it is committed.
#[derive(Debug)]
pub(super) enum WriteError {
    Storage(redb::Error),
    Encode(serde_json::Error),
}

impl<E: Into<redb::Error>> From<E> for WriteError {
    fn from(err: E) -> Self {
        Self::Storage(err.into())
    }
}

/// A row as stored under `key` in `table`: its JSON, sealed.
pub(super) fn encode(table: &str, key: &str, row: &impl Serialize) -> Result<Vec<u8>, WriteError> {
    let json = rows::to_json(row).map_err(WriteError::Encode)?;
    Ok(checksum::seal(table, key, json))
}

/// Writes `requests` in one transaction and commits it: durably with
/// [`Sync::Now`] (redb's `Durability::Immediate` fsyncs before `commit`
/// returns), with [`Sync::Later`] only into redb's memory and the file's
/// page cache, to be made durable by the next durable commit (redb's
/// `Durability::None`; a crash before rolls the file back to that commit).
///
/// Pushes one verdict per request onto `verdicts` (kept when the commit
/// itself fails, to judge what it left behind) and returns the `changes`
/// counter after the commit. A request is refused on its own, without
/// touching the others, when it would file an instance under a service that
/// is not stored: a store that cannot be loaded again is worse than one
/// refused write.
pub(super) fn write_batch(
    db: &Database,
    requests: &[Vec<Change>],
    verdicts: &mut Vec<Result<(), CommitError>>,
    sync: Sync,
) -> Result<u64, WriteError> {
    let mut txn = db.begin_write()?;
    if sync == Sync::Later {
        txn.set_durability(Durability::None)?;
    }
    let changes;
    {
        let mut namespaces = txn.open_table(NAMESPACES)?;
        let mut services = txn.open_table(SERVICES)?;
        let mut instances = txn.open_table(INSTANCES)?;
        let mut operations = txn.open_table(OPERATIONS)?;
        let mut meta = txn.open_table(META)?;

        let mut total = meta.get(CHANGES)?.map_or(0, |count| count.value());
        let mut next_operation = operations.last()?.map_or(0, |(seq, _)| seq.value() + 1);

        for request in requests {
            if let Err(refusal) = check(&services, request)? {
                verdicts.push(Err(refusal));
                continue;
            }
            for change in request {
                match change {
                    Change::Namespace(namespace) => {
                        let id = namespace.id.as_str();
                        let row = encode(NAMESPACES_NAME, id, &NamespaceRow::from(namespace))?;
                        namespaces.insert(id, row.as_slice())?;
                    }
                    Change::NamespaceDeleted { namespace_id } => {
                        namespaces.remove(namespace_id.as_str())?;
                    }
                    Change::Service(service) => {
                        let id = service.id.as_str();
                        let row = encode(SERVICES_NAME, id, &ServiceRow::from(service))?;
                        services.insert(id, row.as_slice())?;
                    }
                    Change::ServiceDeleted { service_id } => {
                        services.remove(service_id.as_str())?;
                        // Its instances go with it, so none is left without a
                        // service to be loaded into.
                        let mut keys = Vec::new();
                        for row in instances.range((service_id.as_str(), "")..)? {
                            let (key, _) = row?;
                            let (owner, instance) = key.value();
                            if owner != service_id {
                                break;
                            }
                            keys.push(instance.to_owned());
                        }
                        for key in &keys {
                            instances.remove((service_id.as_str(), key.as_str()))?;
                        }
                    }
                    Change::Instance {
                        service_id,
                        instance,
                    } => {
                        let key = instance_key(&instance.id);
                        let name = instance_name(service_id, &key);
                        let row = encode(INSTANCES_NAME, &name, &InstanceRow::from(instance))?;
                        instances.insert((service_id.as_str(), key.as_str()), row.as_slice())?;
                    }
                    Change::InstanceDeleted {
                        service_id,
                        instance_id,
                    } => {
                        let key = instance_key(instance_id);
                        instances.remove((service_id.as_str(), key.as_str()))?;
                    }
                    Change::Operation(operation) => {
                        let name = next_operation.to_string();
                        let row = encode(OPERATIONS_NAME, &name, &OperationRow::from(operation))?;
                        operations.insert(next_operation, row.as_slice())?;
                        next_operation += 1;
                    }
                }
            }
            total += request.len() as u64;
            verdicts.push(Ok(()));
        }

        // Sequence numbers are contiguous, so popping from the front drops
        // exactly the oldest.
        let kept = operations.len()?;
        if kept > MAX_OPERATIONS + OPERATIONS_SLACK {
            for _ in MAX_OPERATIONS..kept {
                operations.pop_first()?;
            }
        }
        meta.insert(CHANGES, total)?;
        changes = total;
    }
    if verdicts.iter().all(Result::is_err) {
        // Nothing to write: spare the fsync.
        txn.abort()?;
    } else {
        txn.commit()?;
    }
    Ok(changes)
}

/// Whether every instance in `request` lands under a service that is stored
/// or that the request itself stores (and does not delete again first).
fn check(
    services: &impl ReadableTable<&'static str, &'static [u8]>,
    request: &[Change],
) -> Result<Result<(), CommitError>, redb::StorageError> {
    let mut in_request: HashMap<&str, bool> = HashMap::new();
    for change in request {
        match change {
            Change::Service(service) => {
                in_request.insert(&service.id, true);
            }
            Change::ServiceDeleted { service_id } => {
                in_request.insert(service_id, false);
            }
            Change::Instance {
                service_id,
                instance,
            } => {
                let stored = match in_request.get(service_id.as_str()) {
                    Some(&present) => present,
                    None => services.get(service_id.as_str())?.is_some(),
                };
                if !stored {
                    return Ok(Err(CommitError(format!(
                        "the store refused instance {:?}: its service {service_id:?} is not stored",
                        instance.id
                    ))));
                }
            }
            _ => {}
        }
    }
    Ok(Ok(()))
}

/// Reads every table into a [`Snapshot`]. Any row that does not decode,
/// and any instance whose service is not stored, is an error naming it.
pub(super) fn read_snapshot(path: &Path, db: &Database) -> Result<Snapshot, StoreError> {
    let failed = |err: redb::Error| StoreError::from_redb(path, err);
    let txn = db.begin_read().map_err(|err| failed(err.into()))?;
    let open_err = |err: redb::TableError| failed(err.into());
    let row_err = |err: redb::StorageError| failed(err.into());

    let mut snapshot = Snapshot::default();

    let table = txn.open_table(NAMESPACES).map_err(open_err)?;
    for row in table.iter().map_err(row_err)? {
        let (id, bytes) = row.map_err(row_err)?;
        let (id, bytes) = (id.value(), bytes.value());
        let row: NamespaceRow = decode(path, NAMESPACES_NAME, id, bytes)?;
        filed_under_its_id(path, NAMESPACES_NAME, id, &row.id, id)?;
        snapshot.namespaces.push(Namespace::from(row));
    }

    let table = txn.open_table(SERVICES).map_err(open_err)?;
    let stored = usize::try_from(table.len().map_err(row_err)?).unwrap_or(0);
    snapshot.services.reserve_exact(stored);
    for row in table.iter().map_err(row_err)? {
        let (id, bytes) = row.map_err(row_err)?;
        let (id, bytes) = (id.value(), bytes.value());
        let row: ServiceRow = decode(path, SERVICES_NAME, id, bytes)?;
        filed_under_its_id(path, SERVICES_NAME, id, &row.id, id)?;
        snapshot
            .services
            .push((Service::from(row), Default::default()));
    }

    let table = txn.open_table(INSTANCES).map_err(open_err)?;
    read_instances(path, &table, &mut snapshot.services)?;

    let table = txn.open_table(OPERATIONS).map_err(open_err)?;
    let dropped = table.len().map_err(row_err)?.saturating_sub(MAX_OPERATIONS);
    for row in table.iter().map_err(row_err)?.skip(dropped as usize) {
        let (seq, bytes) = row.map_err(row_err)?;
        let name = seq.value().to_string();
        let row: OperationRow = decode(path, OPERATIONS_NAME, &name, bytes.value())?;
        snapshot.operations.push(Operation::from(row));
    }

    let table = txn.open_table(META).map_err(open_err)?;
    let counter = |key: &str| {
        table
            .get(key)
            .map(|value| value.map(|value| value.value()))
            .map_err(row_err)
    };
    snapshot.changes = counter(CHANGES)?.unwrap_or(0);
    snapshot.zones_applied = match (counter(ZONES_DIGEST)?, counter(ZONES_APPLIED_AT)?) {
        (Some(digest), Some(at)) => Some(ZonesApplied { digest, at }),
        _ => None,
    };
    Ok(snapshot)
}

/// A span of the instances table's keys, (service id, filed-as id).
type InstanceRange<'a> = (Bound<(&'a str, &'a str)>, Bound<(&'a str, &'a str)>);

/// Reads every instance row into its service's list, `services` being the
/// services table in key order. Instance keys begin with their service's
/// id, so the table splits into one key range per share of the services,
/// each read and decoded on a thread of its own (decoding a million rows
/// is 3.6 of a restart's 10 s on one core).
fn read_instances(
    path: &Path,
    table: &ReadOnlyTable<(&str, &str), &[u8]>,
    services: &mut [(Service, Vec<Instance>)],
) -> Result<(), StoreError> {
    let Some(share) = crate::cores::share_of(services.len()) else {
        return read_instance_range(path, table, (Bound::Unbounded, Bound::Unbounded), services);
    };
    // Each share's range ends where the next share's first service begins;
    // the first and the last are open, so that a row whose service is not
    // stored is found wherever it sorts.
    let starts: Vec<String> = services
        .chunks(share)
        .skip(1)
        .map(|chunk| chunk[0].0.id.clone())
        .collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = services
            .chunks_mut(share)
            .enumerate()
            .map(|(index, chunk)| {
                let low = match index.checked_sub(1) {
                    Some(previous) => Bound::Included((starts[previous].as_str(), "")),
                    None => Bound::Unbounded,
                };
                let high = match starts.get(index) {
                    Some(next) => Bound::Excluded((next.as_str(), "")),
                    None => Bound::Unbounded,
                };
                scope.spawn(move || read_instance_range(path, table, (low, high), chunk))
            })
            .collect();
        crate::cores::join_all(workers)
    })
}

/// The instance rows in `range` into `services`, the services whose ids
/// the range covers, in key order: rows come sorted by service id, so each
/// finds its service by walking on, never by a lookup.
fn read_instance_range(
    path: &Path,
    table: &ReadOnlyTable<(&str, &str), &[u8]>,
    range: InstanceRange<'_>,
    services: &mut [(Service, Vec<Instance>)],
) -> Result<(), StoreError> {
    let row_err = |err: redb::StorageError| StoreError::from_redb(path, err);
    let mut at = 0;
    let mut name = String::new();
    for row in table.range::<(&str, &str)>(range).map_err(row_err)? {
        let (key, bytes) = row.map_err(row_err)?;
        let (service_id, filed_as) = key.value();
        name.clear();
        name.push_str(service_id);
        name.push('/');
        name.push_str(filed_as);
        let row: InstanceRow = decode(path, INSTANCES_NAME, &name, bytes.value())?;
        filed_under_its_id(
            path,
            INSTANCES_NAME,
            &name,
            &instance_key(&row.id),
            filed_as,
        )?;
        while services
            .get(at)
            .is_some_and(|(service, _)| service.id.as_str() < service_id)
        {
            at += 1;
        }
        match services.get_mut(at) {
            Some((service, held)) if service.id == service_id => held.push(Instance::from(row)),
            _ => {
                return Err(StoreError::CorruptRow {
                    path: path.to_path_buf(),
                    table: INSTANCES_NAME,
                    key: name,
                    detail: format!("its service {service_id:?} is not stored"),
                });
            }
        }
    }
    Ok(())
}

/// Records that zones/ with `digest` was applied in full and everything it
/// changed is committed; durable when it returns.
pub(super) fn mark_zones_applied(db: &Database, digest: u64) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let at = meta.get(CHANGES)?.map_or(0, |count| count.value());
        meta.insert(ZONES_DIGEST, digest)?;
        meta.insert(ZONES_APPLIED_AT, at)?;
    }
    txn.commit()?;
    Ok(())
}

/// A row read from `table` under `key` (as [`encode`] names it): its
/// checksum checked, its JSON decoded.
pub(super) fn decode<T: DeserializeOwned>(
    path: &Path,
    table: &'static str,
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    let corrupt = |detail: String| StoreError::CorruptRow {
        path: path.to_path_buf(),
        table,
        key: key.to_owned(),
        detail,
    };
    let json = checksum::unseal(table, key, bytes).map_err(corrupt)?;
    rows::from_json(json).map_err(|err| corrupt(err.to_string()))
}

/// Checks that a row's key is the one its own id is filed under: a row that
/// carries no checksum (an old file) may have had its key or its id damaged,
/// and either would load as a different value.
fn filed_under_its_id(
    path: &Path,
    table: &'static str,
    name: &str,
    expected: &str,
    key: &str,
) -> Result<(), StoreError> {
    if expected == key {
        return Ok(());
    }
    Err(StoreError::CorruptRow {
        path: path.to_path_buf(),
        table,
        key: name.to_owned(),
        detail: format!("it is filed under {key:?}, but its id says {expected:?}"),
    })
}

/// The `changes` counter as stored, for checking what a failed commit left.
pub(super) fn stored_changes(db: &Database) -> Result<u64, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(META)?;
    Ok(table.get(CHANGES)?.map_or(0, |count| count.value()))
}
