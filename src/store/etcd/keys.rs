//! cairn's keys in etcd and what each holds. Under the configured prefix:
//!
//! | key | value |
//! |---|---|
//! | `ns/<namespace id>` | the namespace, as a `rows.rs` row |
//! | `svc/<service id>` | the service, without its instances |
//! | `inst/<service id>/<instance id, lower case>` | the instance |
//! | `op/<operation id>` | the operation |
//! | `mark/<namespace id>` | the namespace's marker |
//! | `namespaces` | the marker of the set of namespaces |
//! | `health-leader` | the node running health checks, on its lease (`leader.rs`) |
//! | `serial-offset/<namespace id>` | added to the namespace's revision for its SOA serial (decimal; a copy into etcd sets it) |
//! | `beats/<node>/<part>` | heartbeats a node received lately, on a short lease (`beats.rs`) |
//!
//! Values are the redb store's rows (`rows.rs`, JSON) sealed with the same
//! checksum (`checksum.rs`), so one format serves both stores and a
//! damaged value is an error naming its key. A marker's value names the
//! write that last moved it (`<node>:<write>` in hex); what matters is its
//! mod_revision: every transaction that changes a namespace also puts its
//! marker, so the marker's revision is the namespace's last change — the
//! guard of concurrent writes and the zone's SOA serial. Service ids hold
//! no `/` (cairn makes them), so an instance key splits at its first `/`
//! after `inst/` whatever the instance id holds.

use super::super::checksum;
use super::super::rows::{self, InstanceRow, NamespaceRow, OperationRow, ServiceRow};
use crate::registry::{Change, Instance, Namespace, Operation, Service};
use crate::store::Origin;

/// The redb tables' names, which the checksum covers: a value copied
/// between stores keeps its seal.
const NAMESPACES: &str = "namespaces";
const SERVICES: &str = "services";
const INSTANCES: &str = "instances";
const OPERATIONS: &str = "operations";

/// The keys of one cluster: everything under `prefix`.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

/// What a key under the prefix is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Key<'k> {
    Namespace(&'k str),
    Service(&'k str),
    Instance {
        service_id: &'k str,
        key: &'k str,
    },
    Operation(&'k str),
    Marker(&'k str),
    NamespacesMarker,
    /// Heartbeats a node shares: read by followers, never a change.
    Beats,
    /// What a namespace's SOA serial adds to its revision.
    SerialOffset(&'k str),
}

/// A value that did not decode, named by its key.
#[derive(Debug)]
pub(super) struct BadValue {
    pub(super) key: String,
    pub(super) detail: String,
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key {:?}: {}", self.key, self.detail)
    }
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.concat());
        key
    }

    pub(super) fn namespace(&self, id: &str) -> String {
        self.key(&["ns/", id])
    }

    pub(super) fn service(&self, id: &str) -> String {
        self.key(&["svc/", id])
    }

    pub(super) fn instance(&self, service_id: &str, instance_id: &str) -> String {
        self.key(&["inst/", service_id, "/", &instance_id.to_ascii_lowercase()])
    }

    pub(super) fn operation(&self, id: &str) -> String {
        self.key(&["op/", id])
    }

    /// A namespace's marker; `None` is the marker of the set of namespaces.
    pub(super) fn marker(&self, namespace_id: Option<&str>) -> String {
        match namespace_id {
            Some(id) => self.key(&["mark/", id]),
            None => self.key(&["namespaces"]),
        }
    }

    /// What `namespace_id`'s serial adds to its etcd revision.
    pub(super) fn serial_offset(&self, namespace_id: &str) -> String {
        self.key(&["serial-offset/", namespace_id])
    }

    /// Where `node` shares heartbeats: one key per part of a large batch.
    pub(super) fn beats(&self, node: u64, part: usize) -> String {
        self.key(&["beats/", &format!("{node:x}/{part}")])
    }

    /// The key the node that runs the health checks holds.
    pub(super) fn leader(&self) -> String {
        self.key(&["health-leader"])
    }

    /// Reads a key; `None` for one outside cairn's layout (left alone,
    /// the leader key among them).
    pub(super) fn parse<'k>(&self, key: &'k str) -> Option<Key<'k>> {
        let rest = key.strip_prefix(self.prefix.as_str())?;
        if rest == "namespaces" {
            return Some(Key::NamespacesMarker);
        }
        let (kind, id) = rest.split_once('/')?;
        Some(match kind {
            "ns" => Key::Namespace(id),
            "svc" => Key::Service(id),
            "op" => Key::Operation(id),
            "mark" => Key::Marker(id),
            "beats" => Key::Beats,
            "serial-offset" => Key::SerialOffset(id),
            "inst" => {
                let (service_id, key) = id.split_once('/')?;
                Key::Instance { service_id, key }
            }
            _ => return None,
        })
    }

    /// The key and sealed value a change puts, or the key it deletes
    /// (`None` value).
    pub(super) fn encode(&self, change: &Change) -> Result<(String, Option<Vec<u8>>), String> {
        let sealed = |table: &str, key: &str, json: Result<Vec<u8>, serde_json::Error>| {
            json.map(|json| Some(checksum::seal(table, key, json)))
                .map_err(|error| format!("cannot encode {key}: {error}"))
        };
        Ok(match change {
            Change::Namespace(namespace) => {
                let key = self.namespace(&namespace.id);
                let value = sealed(
                    NAMESPACES,
                    &key,
                    rows::to_json(&NamespaceRow::from(namespace)),
                )?;
                (key, value)
            }
            Change::NamespaceDeleted { namespace_id } => (self.namespace(namespace_id), None),
            Change::Service(service) => {
                let key = self.service(&service.id);
                let value = sealed(SERVICES, &key, rows::to_json(&ServiceRow::from(service)))?;
                (key, value)
            }
            Change::ServiceDeleted { service_id } => (self.service(service_id), None),
            Change::Instance {
                service_id,
                instance,
            } => {
                let key = self.instance(service_id, &instance.id);
                let value = sealed(INSTANCES, &key, rows::to_json(&InstanceRow::from(instance)))?;
                (key, value)
            }
            Change::InstanceDeleted {
                service_id,
                instance_id,
            } => (self.instance(service_id, instance_id), None),
            Change::Operation(operation) => {
                let key = self.operation(&operation.id);
                let value = sealed(
                    OPERATIONS,
                    &key,
                    rows::to_json(&OperationRow::from(operation)),
                )?;
                (key, value)
            }
        })
    }
}

/// A stored value, decoded.
pub(super) enum Value {
    Namespace(Namespace),
    Service(Service),
    Instance {
        service_id: String,
        instance: Instance,
    },
    Operation(Operation),
    Marker,
    /// Not decoded here (`beats.rs`).
    Beats,
    SerialOffset(u64),
}

fn decode<T: serde::de::DeserializeOwned>(
    table: &str,
    key: &str,
    value: &[u8],
) -> Result<T, BadValue> {
    let bad = |detail: String| BadValue {
        key: key.to_string(),
        detail,
    };
    let json = checksum::unseal(table, key, value).map_err(bad)?;
    rows::from_json(json).map_err(|error| bad(error.to_string()))
}

/// Decodes the value stored at `key` (already parsed as `parsed`), checking
/// that its id is the one the key files it under.
pub(super) fn decode_value(key: &str, parsed: &Key<'_>, value: &[u8]) -> Result<Value, BadValue> {
    let mismatch = |id: &str| BadValue {
        key: key.to_string(),
        detail: format!("it holds {id:?}, not what its key names"),
    };
    Ok(match *parsed {
        Key::Namespace(id) => {
            let row: NamespaceRow<'static> = decode(NAMESPACES, key, value)?;
            if row.id != id {
                return Err(mismatch(&row.id));
            }
            Value::Namespace(row.into())
        }
        Key::Service(id) => {
            let row: ServiceRow<'static> = decode(SERVICES, key, value)?;
            if row.id != id {
                return Err(mismatch(&row.id));
            }
            Value::Service(row.into())
        }
        Key::Instance {
            service_id,
            key: instance_key,
        } => {
            let row: InstanceRow<'static> = decode(INSTANCES, key, value)?;
            if row.id.to_ascii_lowercase() != instance_key {
                return Err(mismatch(&row.id));
            }
            Value::Instance {
                service_id: service_id.to_string(),
                instance: row.into(),
            }
        }
        Key::Operation(id) => {
            let row: OperationRow<'static> = decode(OPERATIONS, key, value)?;
            if row.id != id {
                return Err(mismatch(&row.id));
            }
            Value::Operation(row.into())
        }
        Key::Marker(_) | Key::NamespacesMarker => Value::Marker,
        Key::Beats => Value::Beats,
        Key::SerialOffset(_) => Value::SerialOffset(
            std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| BadValue {
                    key: key.to_string(),
                    detail: "a serial offset is a decimal number".into(),
                })?,
        ),
    })
}

/// A put of `key` as the change it records.
pub(super) fn put_change(value: Value) -> Option<Change> {
    match value {
        Value::Namespace(namespace) => Some(Change::Namespace(namespace)),
        Value::Service(service) => Some(Change::Service(service)),
        Value::Instance {
            service_id,
            instance,
        } => Some(Change::Instance {
            service_id,
            instance,
        }),
        Value::Operation(operation) => Some(Change::Operation(operation)),
        Value::Marker | Value::Beats | Value::SerialOffset(_) => None,
    }
}

/// A delete of `key` as the change it records. The instance id is the
/// lower-cased one of the key: the registry files instances case ignored.
pub(super) fn delete_change(parsed: &Key<'_>) -> Option<Change> {
    match *parsed {
        Key::Namespace(id) => Some(Change::NamespaceDeleted {
            namespace_id: id.to_string(),
        }),
        Key::Service(id) => Some(Change::ServiceDeleted {
            service_id: id.to_string(),
        }),
        Key::Instance { service_id, key } => Some(Change::InstanceDeleted {
            service_id: service_id.to_string(),
            instance_id: key.to_string(),
        }),
        // The operation log is bounded in memory; etcd's copy is trimmed
        // by no one yet (see the README's Cluster section).
        Key::Operation(_)
        | Key::Marker(_)
        | Key::NamespacesMarker
        | Key::Beats
        | Key::SerialOffset(_) => None,
    }
}

/// A marker's value: the write that moved it.
pub(super) fn origin_value(origin: Origin) -> String {
    format!("{:x}:{:x}", origin.node, origin.write)
}

pub(super) fn parse_origin(value: &[u8]) -> Option<Origin> {
    let text = std::str::from_utf8(value).ok()?;
    let (node, write) = text.split_once(':')?;
    Some(Origin {
        node: u64::from_str_radix(node, 16).ok()?,
        write: u64::from_str_radix(write, 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_whatever_an_instance_id_holds() {
        let keys = Keys::new("/c/");
        assert_eq!(
            keys.parse(&keys.instance("srv-1", "A/b:c")),
            Some(Key::Instance {
                service_id: "srv-1",
                key: "a/b:c"
            })
        );
        assert_eq!(keys.parse(&keys.marker(None)), Some(Key::NamespacesMarker));
        assert_eq!(
            keys.parse(&keys.marker(Some("ns-1"))),
            Some(Key::Marker("ns-1"))
        );
        assert_eq!(keys.parse("/other/ns/x"), None);
        assert_eq!(keys.parse(&keys.beats(0xab, 2)), Some(Key::Beats));
        let offset = keys.serial_offset("ns-1");
        assert_eq!(keys.parse(&offset), Some(Key::SerialOffset("ns-1")));
        let parsed = Key::SerialOffset("ns-1");
        assert!(matches!(
            decode_value(&offset, &parsed, b"41"),
            Ok(Value::SerialOffset(41))
        ));
        assert!(decode_value(&offset, &parsed, b"-1").is_err());
        let origin = Origin { node: 7, write: 42 };
        assert_eq!(parse_origin(origin_value(origin).as_bytes()), Some(origin));
    }
}
