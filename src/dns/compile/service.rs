//! A service compiled for answering: its instances' records in one array,
//! and per record type the pool of instances that answer it.

use super::ServiceName;
use super::places::Places;
use crate::dns::encode::EncodeError;
use crate::dns::instance::{InstanceWire, KINDS, Ttls, slot};
use crate::registry::{DnsTemplate, Instance, RecordKind, RoutingPolicy, ServiceView};

/// Which instances answer one record type: already narrowed to the healthy
/// ones (or to all of them when none is healthy) that have such a record.
#[derive(Debug, Default)]
pub(super) struct Members {
    /// Indices into the service's instances; `None` when that is every
    /// instance, as it is for most services most of the time. A service
    /// changed in place ([`Places`]) always has a list.
    pub(super) listed: Option<Vec<u32>>,
    /// Sum of the members' weights.
    pub(super) total_weight: u64,
}

/// A record type's pool as the answer path reads it.
#[derive(Debug, Clone, Copy)]
pub struct Pool<'a> {
    instances: &'a [InstanceWire],
    listed: Option<&'a [u32]>,
    pub total_weight: u64,
}

impl<'a> Pool<'a> {
    pub fn len(&self) -> usize {
        match self.listed {
            Some(listed) => listed.len(),
            None => self.instances.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th member.
    pub fn get(&self, index: usize) -> Option<&'a InstanceWire> {
        match self.listed {
            Some(listed) => self.instances.get(*listed.get(index)? as usize),
            None => self.instances.get(index),
        }
    }
}

/// A service compiled for answering. Its name is the table's key, not kept
/// here.
#[derive(Debug)]
pub struct CompiledService {
    pub policy: RoutingPolicy,
    /// What it was built from: instances are reused only under the same TTLs.
    pub(super) ttls: Ttls,
    /// Every instance: in the registry's order after a whole compile, in no
    /// particular order after changes in place.
    pub(super) instances: Vec<InstanceWire>,
    /// For services too large to scan: where each instance is, by id and in
    /// each pool, so that one instance's change is made in place.
    pub(super) places: Option<Box<Places>>,
    /// By [`slot`]; only those whose kind the template has are answered.
    pub(super) pools: [Members; 4],
}

/// Up to this many instances, finding one by id scans them (cheaper than
/// hashing, and most services are this small) and a change compiles the
/// service again; above it, a change is made in place.
pub(super) const SCAN_LIMIT: usize = 16;

impl CompiledService {
    /// The pool answering `kind`, if the template has such records.
    pub fn pool(&self, kind: RecordKind) -> Option<Pool<'_>> {
        self.ttls.has(kind).then(|| {
            let members = &self.pools[slot(kind)];
            Pool {
                instances: &self.instances,
                // A list of every instance is read as no list: picks are
                // uniform over the members, so their order does not show,
                // and the answer skips a load per pick.
                listed: members
                    .listed
                    .as_deref()
                    .filter(|listed| listed.len() < self.instances.len()),
                total_weight: members.total_weight,
            }
        })
    }

    /// Every instance, each once, in no promised order.
    pub fn instances(&self) -> &[InstanceWire] {
        &self.instances
    }

    /// Whether `<id>.<service>` names answer: only the targets of SRV
    /// records do.
    pub fn names_instances(&self) -> bool {
        self.ttls.has(RecordKind::Srv)
    }

    /// The instance whose id is `label`, ignoring ASCII case. The registry
    /// keeps ids unique regardless of case, so there is at most one.
    pub fn instance(&self, label: &[u8]) -> Option<&InstanceWire> {
        match &self.places {
            Some(places) => places.find(&self.instances, label),
            None => self
                .instances
                .iter()
                .find(|wire| wire.id().eq_ignore_ascii_case(label)),
        }
    }

    /// Whether lookups go through the hash index rather than a scan.
    #[cfg(test)]
    pub fn is_indexed(&self) -> bool {
        self.places.is_some()
    }

    /// The previous compile's wire for exactly this id.
    pub(super) fn previous_wire(&self, id: &str) -> Option<&InstanceWire> {
        self.instance(id.as_bytes())
            .filter(|wire| wire.id() == id.as_bytes())
    }

    /// Whether a change to one instance can be made to this compile in
    /// place ([`Self::change_instance`]) under the service's `template`.
    pub(crate) fn changes_in_place(&self, template: &DnsTemplate) -> bool {
        self.places.is_some()
            && self.policy == template.routing_policy
            && self.ttls == Ttls::of(template)
    }

    /// `instance`'s records, this compile's buffer when it still encodes
    /// them.
    pub(crate) fn wire_of(
        &self,
        instance: &Instance,
        name: &ServiceName,
    ) -> Result<InstanceWire, EncodeError> {
        Self::wire_for(instance, name, &self.ttls, Some(self))
    }

    /// `instance`'s records: `previous`'s buffer when it still encodes
    /// them, a new one otherwise.
    pub(super) fn wire_for(
        instance: &Instance,
        name: &ServiceName,
        ttls: &Ttls,
        previous: Option<&CompiledService>,
    ) -> Result<InstanceWire, EncodeError> {
        let reusable = previous
            .filter(|previous| previous.ttls == *ttls)
            .and_then(|previous| previous.previous_wire(&instance.id));
        match reusable {
            Some(wire) if wire.encodes(instance, ttls)? => Ok(wire.clone()),
            _ => InstanceWire::build(instance, &name.fqdn, ttls),
        }
    }

    /// Compiles a service and its instances, reusing what `previous` (the
    /// last compile at the same name) encoded for instances that have not
    /// changed. `None` when the service has no DNS records (API-only).
    pub fn compile(
        view: &ServiceView<'_>,
        name: &ServiceName,
        previous: Option<&CompiledService>,
    ) -> Result<Option<Self>, EncodeError> {
        let Some(template) = &view.service.dns else {
            return Ok(None);
        };
        let ttls = Ttls::of(template);
        let too_many = || EncodeError::at(&name.fqdn, "more than 2^32 instances");
        u32::try_from(view.instances.len()).map_err(|_| too_many())?;

        let mut instances = Vec::with_capacity(view.instances.len());
        let mut serves = Vec::with_capacity(view.instances.len());
        for instance in view.instances.values() {
            instances.push(Self::wire_for(instance, name, &ttls, previous)?);
            serves.push(instance.health.serves_traffic());
        }

        // Instances that serve traffic, or every instance when none does:
        // never an empty answer that makes a client give up.
        let any_serving = serves.contains(&true);
        let mut places = (instances.len() > SCAN_LIMIT).then(|| Places::new(&instances, &serves));
        let mut pools: [Members; 4] = Default::default();
        for kind in KINDS.into_iter().filter(|&kind| ttls.has(kind)) {
            let mut listed = Vec::new();
            let mut total_weight = 0;
            for (index, (wire, &serving)) in (0u32..).zip(instances.iter().zip(&serves)) {
                if (serving || !any_serving) && wire.record(kind).is_some() {
                    listed.push(index);
                    total_weight += u64::from(wire.weight());
                }
            }
            let listed = match places.as_deref_mut() {
                Some(places) => {
                    places.listed(kind, &listed);
                    Some(listed)
                }
                None => (listed.len() < instances.len()).then_some(listed),
            };
            pools[slot(kind)] = Members {
                listed,
                total_weight,
            };
        }

        Ok(Some(Self {
            policy: template.routing_policy,
            ttls,
            instances,
            places,
            pools,
        }))
    }
}
