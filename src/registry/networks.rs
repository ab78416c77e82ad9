//! A private namespace's allowed networks: the one rule for what is stored,
//! whether they come from a zones file or through the admin API. Both pass
//! what they were given; this decides.
//!
//! - Networks are stored in canonical form, host bits cleared
//!   (`10.0.0.1/8` is `10.0.0.0/8`), each once, in the order first given:
//!   the ACL means the same either way, but what is shown (GetNamespace, the
//!   CLI) and compared (a zones file applied again) must not depend on how
//!   it was written.
//! - A private namespace given no networks answers the policy's default:
//!   loopback only (127.0.0.0/8 and ::1/128) unless the operator configures
//!   another, so a new zone leaks to nobody until the operator says who may
//!   ask.
//! - Cloud Map scopes a private namespace to a VPC; here a VPC id stands
//!   for the networks the operator maps it to, and one that is not mapped
//!   is an error, never a silent default.
//! - Only DNS_PRIVATE namespaces have allowed networks.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::model::NamespaceType;
use super::{RegistryError, Result};

/// What a private namespace given no networks answers.
pub fn loopback() -> Vec<IpNet> {
    vec![
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
    ]
}

/// What the operator decided about private namespaces' networks (the
/// config's `[private_namespaces]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// What a private namespace given no networks answers.
    pub default_networks: Vec<IpNet>,
    /// Cloud Map's VPC ids, each with the client networks it stands for.
    pub vpcs: BTreeMap<String, Vec<IpNet>>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self {
            default_networks: loopback(),
            vpcs: BTreeMap::new(),
        }
    }
}

/// Networks with host bits cleared, each once, in the order first given.
pub(super) fn canonical(networks: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
    let mut canonical: Vec<IpNet> = Vec::new();
    for network in networks.into_iter().map(|network| network.trunc()) {
        if !canonical.contains(&network) {
            canonical.push(network);
        }
    }
    canonical
}

impl NetworkPolicy {
    /// The allowed networks a namespace of `kind` stores when given
    /// `networks` (see the module docs).
    pub fn allowed_networks(
        &self,
        kind: NamespaceType,
        networks: Vec<IpNet>,
    ) -> Result<Vec<IpNet>> {
        match kind {
            NamespaceType::DnsPrivate if networks.is_empty() => {
                Ok(canonical(self.default_networks.iter().copied()))
            }
            NamespaceType::DnsPrivate => Ok(canonical(networks)),
            _ if networks.is_empty() => Ok(Vec::new()),
            _ => Err(RegistryError::invalid(
                "only DNS_PRIVATE namespaces have allowed networks",
            )),
        }
    }

    /// The networks a VPC id stands for, or InvalidInput when the operator
    /// has not mapped it.
    pub fn vpc(&self, id: &str) -> Result<&[IpNet]> {
        self.vpcs.get(id).map(Vec::as_slice).ok_or_else(|| {
            RegistryError::invalid(format!(
                "Vpc '{id}' is not mapped to client networks; add it under [private_namespaces.vpcs] in cairn's config (e.g. \"{id}\" = [\"10.0.0.0/16\"]), or send Properties.DnsProperties.AllowedNetworks instead"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|text| text.parse().unwrap()).collect()
    }

    #[test]
    fn networks_are_stored_canonical_and_none_means_loopback() {
        let private = NamespaceType::DnsPrivate;
        assert_eq!(
            NetworkPolicy::default()
                .allowed_networks(private, nets(&["10.0.0.1/8", "fd00::1/8", "10.1.2.3/8"]))
                .unwrap(),
            nets(&["10.0.0.0/8", "fd00::/8"]),
            "host bits cleared, each network once, in the order given"
        );
        assert_eq!(
            NetworkPolicy::default()
                .allowed_networks(private, Vec::new())
                .unwrap(),
            nets(&["127.0.0.0/8", "::1/128"])
        );
        assert_eq!(
            NetworkPolicy::default()
                .allowed_networks(NamespaceType::DnsPublic, Vec::new())
                .unwrap(),
            []
        );
        assert!(
            NetworkPolicy::default()
                .allowed_networks(NamespaceType::Http, nets(&["10.0.0.0/8"]))
                .is_err()
        );
    }

    #[test]
    fn a_configured_default_and_mapped_vpcs_stand_for_their_networks() {
        let policy = NetworkPolicy {
            default_networks: nets(&["10.9.0.1/16"]),
            vpcs: [("vpc-1".to_string(), nets(&["10.1.0.0/16"]))].into(),
        };
        assert_eq!(
            policy
                .allowed_networks(NamespaceType::DnsPrivate, Vec::new())
                .unwrap(),
            nets(&["10.9.0.0/16"])
        );
        assert_eq!(policy.vpc("vpc-1").unwrap(), nets(&["10.1.0.0/16"]));
        let unmapped = policy.vpc("vpc-2").unwrap_err();
        assert_eq!(unmapped.code(), "InvalidInput");
        assert!(unmapped.to_string().contains("[private_namespaces.vpcs]"));
    }
}
