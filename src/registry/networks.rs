//! A private namespace's allowed networks: the one rule for what is stored,
//! whether they come from a zones file or through the admin API. Both pass
//! what they were given; this decides.
//!
//! - Networks are stored in canonical form, host bits cleared
//!   (`10.0.0.1/8` is `10.0.0.0/8`), each once, in the order first given:
//!   the ACL means the same either way, but what is shown (GetNamespace, the
//!   CLI) and compared (a zones file applied again) must not depend on how
//!   it was written.
//! - A private namespace given no networks answers loopback only
//!   (127.0.0.0/8 and ::1/128), so a new zone leaks to nobody until the
//!   operator says who may ask.
//! - Only DNS_PRIVATE namespaces have allowed networks.

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

/// The allowed networks a namespace of `kind` stores when given `networks`
/// (see the module docs).
pub fn allowed_networks(kind: NamespaceType, networks: Vec<IpNet>) -> Result<Vec<IpNet>> {
    match kind {
        NamespaceType::DnsPrivate if networks.is_empty() => Ok(loopback()),
        NamespaceType::DnsPrivate => {
            let mut canonical: Vec<IpNet> = Vec::with_capacity(networks.len());
            for network in networks.into_iter().map(|network| network.trunc()) {
                if !canonical.contains(&network) {
                    canonical.push(network);
                }
            }
            Ok(canonical)
        }
        _ if networks.is_empty() => Ok(Vec::new()),
        _ => Err(RegistryError::invalid(
            "only DNS_PRIVATE namespaces have allowed networks",
        )),
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
            allowed_networks(private, nets(&["10.0.0.1/8", "fd00::1/8", "10.1.2.3/8"])).unwrap(),
            nets(&["10.0.0.0/8", "fd00::/8"]),
            "host bits cleared, each network once, in the order given"
        );
        assert_eq!(
            allowed_networks(private, Vec::new()).unwrap(),
            nets(&["127.0.0.0/8", "::1/128"])
        );
        assert_eq!(
            allowed_networks(NamespaceType::DnsPublic, Vec::new()).unwrap(),
            []
        );
        assert!(allowed_networks(NamespaceType::Http, nets(&["10.0.0.0/8"])).is_err());
    }
}
