//! DiscoverInstances and DiscoverInstancesRevision: finding a service's
//! instances by names, filtered by attributes and health.

use std::collections::BTreeMap;

use super::model::Instance;
use super::{DiscoverQuery, Discovered, HealthFilter, Registry, RegistryError, Result};

impl Registry {
    /// DiscoverInstances: a service's instances found by names, filtered by
    /// attributes and health, in random order.
    pub fn discover(&self, query: &DiscoverQuery) -> Result<Discovered> {
        let service = self.service_by_name(&query.namespace_name, &query.service_name)?;
        let entry = self
            .inner
            .services
            .get(service.id.as_str())
            .ok_or_else(|| {
                RegistryError::ServiceNotFound(format!("no service named '{}'", query.service_name))
            })?;
        let matches_all = |instance: &Instance, wanted: &BTreeMap<String, String>| {
            wanted
                .iter()
                .all(|(key, value)| instance.attributes.get(key) == Some(value.as_str()))
        };
        // QueryParameters first, so HEALTHY_OR_ELSE_ALL falls back to every
        // *matching* instance rather than to nothing. In id order, so that a
        // seeded shuffle chooses the same instances.
        let matching: Vec<&Instance> = entry
            .instances
            .sorted()
            .into_iter()
            .filter(|instance| matches_all(instance, &query.query_parameters))
            .collect();
        let healthy = |i: &&&Instance| i.health.serves_traffic();
        let required: Vec<&Instance> = if entry.service.has_health_check() {
            match query.health {
                HealthFilter::All => matching,
                HealthFilter::Healthy => matching.iter().filter(healthy).copied().collect(),
                HealthFilter::Unhealthy => {
                    matching.iter().filter(|i| !healthy(i)).copied().collect()
                }
                HealthFilter::HealthyOrElseAll => {
                    let chosen: Vec<&Instance> = matching.iter().filter(healthy).copied().collect();
                    if chosen.is_empty() { matching } else { chosen }
                }
            }
        } else {
            matching
        };
        let preferred: Vec<&Instance> = required
            .iter()
            .copied()
            .filter(|instance| matches_all(instance, &query.optional_parameters))
            .collect();
        let mut chosen = if preferred.is_empty() {
            required
        } else {
            preferred
        };
        fastrand::shuffle(&mut chosen);
        chosen.truncate(query.max_results);
        Ok(Discovered {
            namespace_name: entry.namespace_name.to_string(),
            service_name: entry.service.name.clone(),
            instances: chosen.into_iter().cloned().collect(),
            revision: entry.service.revision,
        })
    }

    /// DiscoverInstancesRevision: the service's revision, found by names.
    pub fn revision_by_name(&self, namespace_name: &str, service_name: &str) -> Result<u64> {
        self.service_by_name(namespace_name, service_name)
            .map(|service| service.revision)
    }
}
