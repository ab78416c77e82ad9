//! The DNS name tree: which names the namespaces and services own, so that
//! every combination the API accepts is served one way.
//!
//! A namespace owns the names at and below its apex, except those below a
//! namespace nested inside it (the most specific zone answers, as for a
//! delegated child zone). A service owns its name, and a service whose
//! records name its instances (`<id>.<service>.<zone>`, the SRV targets)
//! owns every name below it too. Creating a namespace or a service that
//! would take a name another already owns is refused up front, naming the
//! collision; nothing is ever left for DNS to decide two ways.

use super::{Registry, RegistryError, Result, SoaSettings};

/// The names strictly above `name` (a relative name, lower-cased), nearest
/// first: `a.b.c` → `b.c`, `c`.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.')
        .map(move |(dot, _)| &name[dot + 1..])
}

/// `name` relative to `apex` when it lies strictly below it.
fn below<'a>(name: &'a str, apex: &str) -> Option<&'a str> {
    name.strip_suffix(apex)?
        .strip_suffix('.')
        .filter(|rest| !rest.is_empty())
}

fn collision(message: String) -> RegistryError {
    RegistryError::invalid(message)
}

impl Registry {
    /// The DNS namespaces, as (id, lower-cased name).
    fn dns_apexes(&self) -> Vec<(String, String)> {
        self.inner
            .namespaces
            .iter()
            .filter(|entry| entry.namespace.kind.has_dns())
            .map(|entry| {
                (
                    entry.key().clone(),
                    entry.namespace.name.to_ascii_lowercase(),
                )
            })
            .collect()
    }

    /// The service named `name` (lower-cased, relative) in a namespace, and
    /// whether its records name its instances.
    fn service_at(&self, namespace_id: &str, name: &str) -> Option<(String, bool)> {
        let key = (namespace_id.into(), name.into());
        let id = self.inner.service_ids.get(&key).map(|id| id.clone())?;
        let entry = self.inner.services.get(&*id)?;
        Some((entry.service.name.clone(), entry.service.names_instances()))
    }

    fn has_services_below(&self, namespace_id: &str, name: &str) -> bool {
        self.inner
            .service_ancestors
            .contains_key(&(namespace_id.into(), name.into()))
    }

    /// Refuses a DNS namespace named `name` whose apex is a name a service
    /// owns, or that would take names from services already below it.
    pub(super) fn check_new_zone(&self, name: &str) -> Result<()> {
        let apex = name.to_ascii_lowercase();
        for (namespace_id, parent) in self.dns_apexes() {
            let Some(relative) = below(&apex, &parent) else {
                continue;
            };
            if let Some((service, _)) = self.service_at(&namespace_id, relative) {
                return Err(collision(format!(
                    "namespace '{name}' would be the name of service '{service}' in namespace '{parent}'; delete the service or choose another name"
                )));
            }
            if let Some((service, _)) =
                ancestors(relative).find_map(|ancestor| self.service_at(&namespace_id, ancestor))
            {
                return Err(collision(format!(
                    "namespace '{name}' would lie below service '{service}.{parent}', whose names are its own; choose a name outside it"
                )));
            }
            if self.has_services_below(&namespace_id, relative) {
                return Err(collision(format!(
                    "namespace '{name}' would take the names of services of namespace '{parent}' below it; delete them first or choose another name"
                )));
            }
        }
        Ok(())
    }

    /// Refuses a service `name` (relative) in the DNS namespace `zone` when
    /// its full name is, or lies above, a name another namespace or service
    /// owns.
    pub(super) fn check_new_service_name(
        &self,
        namespace_id: &str,
        zone: &str,
        name: &str,
        names_instances: bool,
    ) -> Result<()> {
        let relative = name.to_ascii_lowercase();
        let zone_apex = zone.to_ascii_lowercase();
        let full = format!("{relative}.{zone_apex}");
        for (other_id, apex) in self.dns_apexes() {
            if other_id == namespace_id {
                continue;
            }
            if apex == full || below(&apex, &full).is_some() {
                return Err(collision(format!(
                    "service '{name}.{zone}' would lie at or above namespace '{apex}'; choose another name"
                )));
            }
            if below(&full, &apex).is_some() && below(&apex, &zone_apex).is_some() {
                return Err(collision(format!(
                    "'{name}.{zone}' lies inside namespace '{apex}', which answers for it; create the service there"
                )));
            }
        }
        if let Some(host) = self
            .name_server_hosts(namespace_id, zone)
            .into_iter()
            .find(|host| {
                *host == relative
                    || below(host, &relative).is_some()
                    || below(&relative, host).is_some()
            })
        {
            return Err(collision(format!(
                "'{name}.{zone}' would take the name of the zone's name server '{host}.{zone}' (its NS record, answered with A/AAAA); choose another name or set the namespace's name servers"
            )));
        }
        if let Some((service, _)) = ancestors(&relative)
            .find_map(|ancestor| self.service_at(namespace_id, ancestor))
            .filter(|(_, names_instances)| *names_instances)
        {
            return Err(collision(format!(
                "'{name}.{zone}' is where an instance of service '{service}' would be named (its SRV records name <id>.{service}.{zone}); choose another name"
            )));
        }
        if names_instances && self.has_services_below(namespace_id, &relative) {
            return Err(collision(format!(
                "service '{name}' would name its instances <id>.{name}.{zone}, where other services of '{zone}' are; choose another name or leave out SRV records"
            )));
        }
        Ok(())
    }

    /// The in-zone name server hosts of a namespace, relative, lower case.
    fn name_server_hosts(&self, namespace_id: &str, zone: &str) -> Vec<String> {
        self.inner
            .namespaces
            .get(namespace_id)
            .map(|entry| entry.namespace.soa.name_server_hosts(zone))
            .unwrap_or_default()
    }

    /// Refuses name servers for the namespace `zone` whose in-zone hosts
    /// are, lie below, or lie above one of its services' names.
    pub(super) fn check_name_server_hosts(
        &self,
        namespace_id: &str,
        zone: &str,
        soa: &SoaSettings,
    ) -> Result<()> {
        for host in soa.name_server_hosts(zone) {
            let taken = self
                .service_at(namespace_id, &host)
                .or_else(|| ancestors(&host).find_map(|name| self.service_at(namespace_id, name)));
            if let Some((service, _)) = taken {
                return Err(collision(format!(
                    "name server '{host}.{zone}' would be at or below service '{service}.{zone}'; choose another name server host"
                )));
            }
            if self.has_services_below(namespace_id, &host) {
                return Err(collision(format!(
                    "name server '{host}.{zone}' would be above services of '{zone}'; choose another name server host"
                )));
            }
        }
        Ok(())
    }

    /// Notes that a service now sits below each of its ancestors.
    pub(super) fn note_service_name(&self, namespace_id: &str, name: &str) {
        let relative = name.to_ascii_lowercase();
        for ancestor in ancestors(&relative) {
            *self
                .inner
                .service_ancestors
                .entry((namespace_id.into(), ancestor.into()))
                .or_default() += 1;
        }
    }

    /// Undoes [`Registry::note_service_name`] for a deleted service.
    pub(super) fn forget_service_name(&self, namespace_id: &str, name: &str) {
        let relative = name.to_ascii_lowercase();
        for ancestor in ancestors(&relative) {
            let key = (namespace_id.into(), ancestor.into());
            self.inner
                .service_ancestors
                .remove_if_mut(&key, |_, count| {
                    *count -= 1;
                    *count == 0
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_run_from_nearest_to_farthest() {
        assert_eq!(ancestors("a.b.c").collect::<Vec<_>>(), ["b.c", "c"]);
        assert_eq!(ancestors("web").count(), 0);
    }

    #[test]
    fn below_is_strict_and_label_aligned() {
        assert_eq!(below("x.web.test", "web.test"), Some("x"));
        assert_eq!(below("web.test", "web.test"), None);
        assert_eq!(below("xweb.test", "web.test"), None);
    }
}
