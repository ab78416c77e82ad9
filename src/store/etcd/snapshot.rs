//! Reading everything under the prefix at one revision, page by page, so
//! a large registry never meets gRPC's 4 MiB message limit and every page
//! agrees. Shared heartbeats and keys outside cairn's layout are skipped.

use std::collections::{BTreeMap, HashMap};

use etcd_client::{Client, GetOptions, KeyValue};

use super::keys::{self, Key, Keys, Value};
use super::{PAGE, unreachable};
use crate::store::{SharedRevision, SharedSnapshot, Snapshot, StoreError};

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

pub(super) async fn read_snapshot(
    client: &Client,
    keys: &Keys,
    endpoints: &str,
    at: Option<SharedRevision>,
) -> Result<SharedSnapshot, StoreError> {
    let failed = |error: etcd_client::Error| StoreError::Shared {
        detail: unreachable(endpoints, error),
    };
    let mut kv = client.kv_client();
    let end = prefix_end(keys.prefix());
    let mut start = keys.prefix().as_bytes().to_vec();
    let mut revision: i64 = at.map_or(0, |at| at as i64);
    let mut state = Gathered::default();
    loop {
        let mut options = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let mut page = kv.get(start.clone(), Some(options)).await.map_err(failed)?;
        if revision == 0 {
            revision = page.header().map_or(0, |header| header.revision());
        }
        let more = page.more();
        let kvs = page.take_kvs();
        let Some(last) = kvs.last() else { break };
        // The next page starts just after this one's last key.
        start = last.key().to_vec();
        start.push(0);
        for pair in &kvs {
            state.add(keys, pair)?;
        }
        if !more {
            break;
        }
    }
    state.finish(revision.max(0) as SharedRevision)
}

/// A snapshot being read, page by page.
#[derive(Default)]
struct Gathered {
    namespaces: Vec<(crate::registry::Namespace, SharedRevision)>,
    services: BTreeMap<String, (crate::registry::Service, Vec<crate::registry::Instance>)>,
    instances: Vec<(String, crate::registry::Instance)>,
    operations: Vec<crate::registry::Operation>,
    markers: HashMap<Option<String>, SharedRevision>,
    offsets: HashMap<String, u64>,
}

impl Gathered {
    fn add(&mut self, keys: &Keys, pair: &KeyValue) -> Result<(), StoreError> {
        let key = pair.key_str().map_err(|error| StoreError::Shared {
            detail: format!("a key under {} is not UTF-8: {error}", keys.prefix()),
        })?;
        // Keys outside cairn's layout are someone else's: left alone;
        // shared heartbeats are messages, not state.
        let Some(parsed) = keys.parse(key) else {
            return Ok(());
        };
        if parsed == Key::Beats {
            return Ok(());
        }
        let revision = pair.mod_revision().max(0) as SharedRevision;
        let value = keys::decode_value(key, &parsed, pair.value()).map_err(|bad| {
            StoreError::Shared {
                detail: format!(
                    "{bad}; the key was written by something other than this cairn version: restore it from a backup, or delete it"
                ),
            }
        })?;
        match (parsed, value) {
            (_, Value::Namespace(namespace)) => self.namespaces.push((namespace, revision)),
            (_, Value::Service(service)) => {
                self.services
                    .insert(service.id.clone(), (service, Vec::new()));
            }
            (
                _,
                Value::Instance {
                    service_id,
                    instance,
                },
            ) => self.instances.push((service_id, instance)),
            (_, Value::Operation(operation)) => self.operations.push(operation),
            (Key::Marker(id), Value::Marker) => {
                self.markers.insert(Some(id.to_string()), revision);
            }
            (_, Value::Marker) => {
                self.markers.insert(None, revision);
            }
            (_, Value::Beats) => {}
            (Key::SerialOffset(id), Value::SerialOffset(offset)) => {
                self.offsets.insert(id.to_string(), offset);
            }
            (_, Value::SerialOffset(_)) => {}
        }
        Ok(())
    }

    fn finish(mut self, revision: SharedRevision) -> Result<SharedSnapshot, StoreError> {
        for (service_id, instance) in self.instances {
            let Some((_, instances)) = self.services.get_mut(&service_id) else {
                return Err(StoreError::Shared {
                    detail: format!(
                        "instance {:?} is filed under service {service_id:?}, which is not stored",
                        instance.id
                    ),
                });
            };
            instances.push(instance);
        }
        self.operations
            .sort_by_key(|operation| operation.created_at);
        // A namespace's serial is the last revision that changed it (its
        // marker's, or its own key's if it is newer: a namespace written
        // by a copy, which moves no marker), plus its offset (a copy from
        // a store whose serials were higher than etcd's revisions).
        let namespaces = self
            .namespaces
            .into_iter()
            .map(|(mut namespace, written)| {
                let marked = self
                    .markers
                    .get(&Some(namespace.id.clone()))
                    .copied()
                    .unwrap_or(0);
                let offset = self.offsets.get(&namespace.id).copied().unwrap_or(0);
                namespace.revision = marked.max(written) + offset;
                namespace
            })
            .collect();
        Ok(SharedSnapshot {
            snapshot: Snapshot {
                namespaces,
                services: self.services.into_values().collect(),
                operations: self.operations,
                changes: 0,
                // Other nodes change the store too: zones/ is applied at
                // every start.
                zones_applied: None,
            },
            revision,
            markers: self.markers.into_iter().collect(),
            offsets: self.offsets.into_iter().collect(),
        })
    }
}
