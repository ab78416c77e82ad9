//! `[private_namespaces]`: the client networks private namespaces answer
//! when a request names none, and Cloud Map's VPC ids mapped to networks,
//! so that `CreatePrivateDnsNamespace` from AWS's own tools (which send a
//! `Vpc` and cannot send cairn's `AllowedNetworks`) scopes a zone as the
//! operator means it.

use std::collections::BTreeMap;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use super::ConfigError;
use crate::registry::networks::NetworkPolicy;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrivateNamespacesFile {
    default_networks: Option<Vec<String>>,
    #[serde(default)]
    vpcs: BTreeMap<String, Vec<String>>,
}

fn networks(path: &Path, key: &str, texts: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    if texts.is_empty() {
        return Err(ConfigError::invalid(
            path,
            format!(
                "{key} is empty; a private namespace with no networks would answer nobody. List client networks, e.g. [\"10.0.0.0/8\"]"
            ),
        ));
    }
    texts
        .iter()
        .map(|text| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::invalid(
                        path,
                        format!("{key}: '{text}' is not a network; write it in CIDR form, like \"10.0.0.0/16\" or \"fd00::/48\""),
                    )
                })
        })
        .collect()
}

impl PrivateNamespacesFile {
    /// The policy the file describes, over the defaults.
    pub(super) fn check(self, path: &Path) -> Result<NetworkPolicy, ConfigError> {
        let mut policy = NetworkPolicy::default();
        if let Some(texts) = &self.default_networks {
            policy.default_networks = networks(path, "private_namespaces.default_networks", texts)?;
        }
        for (vpc, texts) in &self.vpcs {
            let key = format!("private_namespaces.vpcs.\"{vpc}\"");
            policy
                .vpcs
                .insert(vpc.clone(), networks(path, &key, texts)?);
        }
        Ok(policy)
    }
}
