//! A service's instances, found by id regardless of case: ids differing only
//! in case would share one DNS name, so they are one instance.
//!
//! A hash table of boxed instances: a registration or deregistration costs
//! O(1) however large the service, and a small service pays only for a few
//! pointer-sized slots besides its instances (a B-tree's first leaf holds 11
//! whole entries, and a map keyed by the lower-cased id stores the id
//! twice). The table has no order; what callers show in order, they sort.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::model::Instance;

/// Instances keyed by their id, ASCII case ignored.
#[derive(Clone, Default)]
pub struct Instances {
    // Boxed so that an empty slot costs a pointer, not a whole instance:
    // tables run up to half empty, and most services have few instances.
    table: HashTable<Box<Instance>>,
    // Seeded per table: instance ids come from API callers.
    hasher: foldhash::fast::RandomState,
}

/// Orders ids as their lower-cased forms would sort.
pub fn cmp_ids(a: &str, b: &str) -> Ordering {
    let lower = |byte: u8| byte.to_ascii_lowercase();
    a.bytes().map(lower).cmp(b.bytes().map(lower))
}

/// Hashes an instance id (or a DNS label naming one) as its lower-cased
/// form, without allocating one: the registry and the DNS side find
/// instances by id whatever its case.
pub fn hash_id(state: &foldhash::fast::RandomState, id: &[u8]) -> u64 {
    let mut hasher = state.build_hasher();
    // Ids and labels are at most 64 bytes; a longer one (never valid) still
    // hashes, a chunk at a time.
    let mut lower = [0u8; 64];
    for chunk in id.chunks(lower.len()) {
        let lower = &mut lower[..chunk.len()];
        lower.copy_from_slice(chunk);
        lower.make_ascii_lowercase();
        hasher.write(lower);
    }
    hasher.finish()
}

impl Instances {
    fn hash(&self, id: &str) -> u64 {
        hash_id(&self.hasher, id.as_bytes())
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The instance whose id is `id` but for case. Callers that answer for
    /// an exact id check it too.
    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.table
            .find(self.hash(id), |instance| {
                instance.id.eq_ignore_ascii_case(id)
            })
            .map(|instance| &**instance)
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Instance> {
        let hash = self.hash(id);
        self.table
            .find_mut(hash, |instance| instance.id.eq_ignore_ascii_case(id))
            .map(|instance| &mut **instance)
    }

    /// Puts `instance` in, replacing (and returning) the one with its id but
    /// for case.
    pub(super) fn insert(&mut self, instance: Instance) -> Option<Instance> {
        let hash = self.hash(&instance.id);
        let Self { table, hasher } = self;
        match table.entry(
            hash,
            |existing| existing.id.eq_ignore_ascii_case(&instance.id),
            |existing| hash_id(hasher, existing.id.as_bytes()),
        ) {
            Entry::Occupied(mut slot) => Some(std::mem::replace(&mut **slot.get_mut(), instance)),
            Entry::Vacant(slot) => {
                slot.insert(Box::new(instance));
                None
            }
        }
    }

    /// Takes out the instance whose id is `id` but for case.
    pub(super) fn remove(&mut self, id: &str) -> Option<Instance> {
        let hash = self.hash(id);
        let found = self
            .table
            .find_entry(hash, |instance| instance.id.eq_ignore_ascii_case(id))
            .ok()?;
        Some(*found.remove().0)
    }

    /// Every instance, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &Instance> + '_ {
        self.table.iter().map(|instance| &**instance)
    }

    /// Every instance, ordered by id as [`cmp_ids`] orders them: the order
    /// lists show.
    pub fn sorted(&self) -> Vec<&Instance> {
        let mut sorted: Vec<&Instance> = self.values().collect();
        sorted.sort_unstable_by(|a, b| cmp_ids(&a.id, &b.id));
        sorted
    }
}

impl FromIterator<Instance> for Instances {
    /// A later instance with an earlier one's id (but for case) replaces it.
    fn from_iter<I: IntoIterator<Item = Instance>>(instances: I) -> Self {
        let instances = instances.into_iter();
        let mut table = Self::default();
        table.table.reserve(instances.size_hint().0, |instance| {
            hash_id(&table.hasher, instance.id.as_bytes())
        });
        for instance in instances {
            table.insert(instance);
        }
        table
    }
}

impl fmt::Debug for Instances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.sorted()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::{Endpoint, HealthStatus};

    fn instance(id: &str, port: u16) -> Instance {
        Instance {
            id: id.into(),
            attributes: Default::default(),
            endpoint: Endpoint {
                port: Some(port),
                ..Endpoint::default()
            },
            health: HealthStatus::Unknown,
            creator_request_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn ids(instances: &Instances) -> Vec<&str> {
        instances
            .sorted()
            .into_iter()
            .map(|i| i.id.as_str())
            .collect()
    }

    #[test]
    fn ids_differing_only_in_case_are_one_instance() {
        let mut instances = Instances::default();
        assert!(instances.insert(instance("Web-1", 1)).is_none());
        assert_eq!(instances.get("web-1").map(|i| i.id.as_str()), Some("Web-1"));
        assert_eq!(instances.get("WEB-1").map(|i| i.id.as_str()), Some("Web-1"));
        assert!(instances.get("web-2").is_none());

        let replaced = instances.insert(instance("WEB-1", 2));
        assert_eq!(replaced.map(|i| i.id), Some("Web-1".to_string()));
        assert_eq!(instances.len(), 1);
        assert_eq!(
            instances.get("web-1").and_then(|i| i.endpoint.port),
            Some(2)
        );

        if let Some(found) = instances.get_mut("wEb-1") {
            found.health = HealthStatus::Healthy;
        }
        assert_eq!(
            instances.get("WEB-1").map(|i| i.health),
            Some(HealthStatus::Healthy)
        );

        assert_eq!(
            instances.remove("web-1").map(|i| i.id),
            Some("WEB-1".to_string())
        );
        assert!(instances.is_empty());
        assert!(instances.remove("web-1").is_none());
    }

    #[test]
    fn lists_in_id_order_ignoring_case() {
        let instances: Instances = ["b", "C", "a-2", "A-1", "a-10"]
            .into_iter()
            .map(|id| instance(id, 1))
            .collect();
        assert_eq!(ids(&instances), ["A-1", "a-10", "a-2", "b", "C"]);
        assert_eq!(instances.values().count(), 5);
    }

    #[test]
    fn stays_consistent_through_many_changes() {
        let mut instances = Instances::default();
        for n in 0..10_000u16 {
            instances.insert(instance(&format!("i-{n}"), n));
        }
        for n in (0..10_000u16).step_by(2) {
            assert!(instances.remove(&format!("I-{n}")).is_some(), "i-{n}");
        }
        assert_eq!(instances.len(), 5_000);
        for n in 0..10_000u16 {
            let found = instances
                .get(&format!("i-{n}"))
                .and_then(|i| i.endpoint.port);
            assert_eq!(found, (n % 2 == 1).then_some(n), "i-{n}");
        }
    }
}
