//! Where each instance of a large service is: its position in the
//! service's array, found by id, and its position in each pool. With these,
//! registering, deregistering or changing the health of one instance is a
//! constant amount of work whatever the size of its service: the array and
//! the pools change by a push, an overwrite or a swap-remove, and the one
//! instance a swap-remove moves has its positions fixed up.

use hashbrown::HashTable;

use super::service::{CompiledService, Members};
use crate::dns::instance::{InstanceWire, KINDS, slot};
use crate::registry::{RecordKind, hash_id};

/// Not in that pool.
const OUT: u32 = u32::MAX;

/// One instance's bookkeeping, at the same position as its records.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Whether its health lets it serve traffic.
    serves: bool,
    /// Its position in each pool's list, by [`slot`], or [`OUT`].
    at: [u32; 4],
}

/// The positions of a large service's instances.
#[derive(Debug)]
pub(crate) struct Places {
    /// Positions in the service's array, by lower-cased id.
    by_id: HashTable<u32>,
    /// Seeded per service: ids come from API callers, labels from clients.
    hasher: foldhash::fast::RandomState,
    /// Parallel to the service's instances.
    slots: Vec<Slot>,
    /// How many instances serve traffic: when none does, every instance
    /// is in the pools.
    serving: usize,
}

/// One instance as it is after a change: its records and whether it serves
/// traffic; `None` once it is deregistered.
pub(crate) type Changed = Option<(InstanceWire, bool)>;

impl Places {
    pub(super) fn new(instances: &[InstanceWire], serves: &[bool]) -> Box<Self> {
        let mut places = Box::new(Self {
            by_id: HashTable::with_capacity(instances.len()),
            hasher: foldhash::fast::RandomState::default(),
            slots: serves
                .iter()
                .map(|&serves| Slot {
                    serves,
                    at: [OUT; 4],
                })
                .collect(),
            serving: serves.iter().filter(|&&serves| serves).count(),
        });
        for position in 0..instances.len() {
            places.index(instances, position);
        }
        places
    }

    /// Records that `listed` are the members of `kind`'s pool.
    pub(super) fn listed(&mut self, kind: RecordKind, listed: &[u32]) {
        for (at, &member) in (0u32..).zip(listed) {
            if let Some(slot_of) = self.slots.get_mut(member as usize) {
                slot_of.at[slot(kind)] = at;
            }
        }
    }

    /// The instance whose id is `id`, case ignored: the answer path's
    /// lookup of `<id>.<service>`, inlined there as the scan is.
    #[inline]
    pub(super) fn find<'a>(
        &self,
        instances: &'a [InstanceWire],
        id: &[u8],
    ) -> Option<&'a InstanceWire> {
        let &position = self.by_id.find(hash_id(&self.hasher, id), |&position| {
            instances
                .get(position as usize)
                .is_some_and(|wire| wire.id().eq_ignore_ascii_case(id))
        })?;
        instances.get(position as usize)
    }

    /// The position of the instance whose id is `id`, case ignored.
    pub(super) fn position(&self, instances: &[InstanceWire], id: &[u8]) -> Option<usize> {
        self.by_id
            .find(hash_id(&self.hasher, id), |&position| {
                instances
                    .get(position as usize)
                    .is_some_and(|wire| wire.id().eq_ignore_ascii_case(id))
            })
            .map(|&position| position as usize)
    }

    fn hash_at(&self, instances: &[InstanceWire], position: usize) -> u64 {
        instances
            .get(position)
            .map_or(0, |wire| hash_id(&self.hasher, wire.id()))
    }

    /// Adds the instance at `position` to the id table.
    fn index(&mut self, instances: &[InstanceWire], position: usize) {
        let hash = self.hash_at(instances, position);
        let hasher = self.hasher.clone();
        self.by_id
            .insert_unique(hash, position as u32, move |&other| {
                instances
                    .get(other as usize)
                    .map_or(0, |wire| hash_id(&hasher, wire.id()))
            });
    }

    /// Takes the id table's entry for `position` out, or points it at `to`.
    fn reindex(&mut self, instances: &[InstanceWire], position: usize, to: Option<usize>) {
        let hash = self.hash_at(instances, position);
        if let Ok(entry) = self.by_id.find_entry(hash, |&at| at as usize == position) {
            match to {
                Some(to) => *entry.into_mut() = to as u32,
                None => {
                    entry.remove();
                }
            }
        }
    }
}

impl CompiledService {
    /// Whether the instance `id` (exactly) is in `kind`'s pool, found in
    /// constant time; `false` for services without [`Places`].
    pub(crate) fn in_pool(&self, id: &[u8], kind: RecordKind) -> bool {
        let Some(places) = self.places.as_deref() else {
            return false;
        };
        places
            .position(&self.instances, id)
            .filter(|&at| self.instances.get(at).is_some_and(|wire| wire.id() == id))
            .and_then(|at| places.slots.get(at))
            .is_some_and(|place| place.at[slot(kind)] != OUT)
    }

    /// Applies a change to the one instance `id` in place, in time that
    /// does not grow with the service. `false`, with nothing changed, when
    /// it cannot: a service small enough to compile again whole, a change
    /// that flips the pools between "the instances that serve" and "every
    /// instance" (the first to serve, or the last to stop), or an index
    /// that no longer fits in 32 bits.
    pub(crate) fn change_instance(&mut self, id: &[u8], changed: Changed) -> bool {
        let Self {
            ttls,
            instances,
            places,
            pools,
            ..
        } = self;
        let Some(places) = places.as_deref_mut() else {
            return false;
        };
        let position = places.position(instances, id);
        let was_serving = position.is_some_and(|at| places.slots.get(at).is_some_and(|s| s.serves));
        let now_serving = changed.as_ref().is_some_and(|&(_, serves)| serves);
        let serving = places.serving - usize::from(was_serving) + usize::from(now_serving);
        if (places.serving == 0) != (serving == 0) || u32::try_from(instances.len() + 1).is_err() {
            return false;
        }
        let kinds = || KINDS.into_iter().filter(|&kind| ttls.has(kind));
        // With none serving, every instance is a member whatever its health.
        let all = serving == 0;
        if let Some(at) = position {
            for kind in kinds() {
                leave(places, instances, &mut pools[slot(kind)], at, kind);
            }
        }
        places.serving = serving;
        match (position, changed) {
            (Some(at), Some((wire, serves))) => {
                instances[at] = wire;
                places.slots[at].serves = serves;
                for kind in kinds() {
                    join(places, instances, &mut pools[slot(kind)], at, kind, all);
                }
            }
            (None, Some((wire, serves))) => {
                let at = instances.len();
                instances.push(wire);
                places.slots.push(Slot {
                    serves,
                    at: [OUT; 4],
                });
                places.index(instances, at);
                for kind in kinds() {
                    join(places, instances, &mut pools[slot(kind)], at, kind, all);
                }
            }
            (Some(at), None) => {
                places.reindex(instances, at, None);
                let last = instances.len() - 1;
                if at != last {
                    places.reindex(instances, last, Some(at));
                    for kind in kinds() {
                        let moved = places.slots[last].at[slot(kind)];
                        if let Some(member) = listed(&mut pools[slot(kind)]).get_mut(moved as usize)
                        {
                            *member = at as u32;
                        }
                    }
                }
                instances.swap_remove(at);
                places.slots.swap_remove(at);
            }
            (None, None) => {}
        }
        true
    }
}

fn listed(members: &mut Members) -> &mut Vec<u32> {
    members.listed.get_or_insert_default()
}

/// Takes the instance at `at` out of `kind`'s pool, if it is in it.
fn leave(
    places: &mut Places,
    instances: &[InstanceWire],
    members: &mut Members,
    at: usize,
    kind: RecordKind,
) {
    let k = slot(kind);
    let member_at = std::mem::replace(&mut places.slots[at].at[k], OUT);
    if member_at == OUT {
        return;
    }
    let list = listed(members);
    let member_at = member_at as usize;
    if member_at >= list.len() {
        return;
    }
    list.swap_remove(member_at);
    if let Some(&moved) = list.get(member_at) {
        places.slots[moved as usize].at[k] = member_at as u32;
    }
    members.total_weight -= instances.get(at).map_or(0, |wire| u64::from(wire.weight()));
}

/// Puts the instance at `at` in `kind`'s pool if it belongs there.
fn join(
    places: &mut Places,
    instances: &[InstanceWire],
    members: &mut Members,
    at: usize,
    kind: RecordKind,
    all: bool,
) {
    let Some(wire) = instances.get(at) else {
        return;
    };
    if !(all || places.slots[at].serves) || wire.record(kind).is_none() {
        return;
    }
    let list = listed(members);
    places.slots[at].at[slot(kind)] = list.len() as u32;
    list.push(at as u32);
    members.total_weight += u64::from(wire.weight());
}
