//! `[transfer]`: zone transfers to standard secondaries (NSD, Knot, BIND).
//! Who may transfer (AXFR/IXFR), with which TSIG key, and which
//! secondaries hear a NOTIFY when a zone changes. Off by default: a
//! transfer hands out the whole registry's DNS view, so it is opt-in per
//! address. Secrets are never in the config text, only named by file.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use super::ConfigError;

/// Zone transfer settings, for every DNS namespace without transfer
/// settings of its own (a namespace's replace `allow`, `notify` and `key`
/// for its zone; `keys` are the server's alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferConfig {
    /// Clients allowed to transfer zones; empty: nobody.
    pub allow: Vec<IpNet>,
    /// Secondaries told (RFC 1996 NOTIFY, over UDP) when a zone's serial
    /// rises.
    pub notify: Vec<SocketAddr>,
    /// TSIG keys cairn verifies requests with and signs replies with.
    pub keys: Vec<TsigKeyConfig>,
    /// The key transfers must be signed with (one of `keys`), and that
    /// NOTIFYs are signed with; `None`: transfers by address alone.
    pub key: Option<String>,
    /// Bytes of changes kept per zone for incremental IXFR (RFC 1995),
    /// oldest dropped first; 0 keeps none (every IXFR gets the whole zone).
    pub ixfr_history_bytes: usize,
}

/// Enough for a few thousand single-instance changes per zone, and small
/// beside a zone's compile.
pub const DEFAULT_IXFR_HISTORY_BYTES: usize = 1 << 20;

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            notify: Vec::new(),
            keys: Vec::new(),
            key: None,
            ixfr_history_bytes: DEFAULT_IXFR_HISTORY_BYTES,
        }
    }
}

/// `[[transfer.keys]]`: a TSIG key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKeyConfig {
    /// As secondaries' configs name it (`xfrkey`).
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// The secret, base64, in a file only cairn's user may read.
    pub secret_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferFile {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    notify: Vec<String>,
    #[serde(default)]
    keys: Vec<KeyFile>,
    key: Option<String>,
    ixfr_history_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    name: String,
    #[serde(default = "default_algorithm")]
    algorithm: String,
    secret_file: PathBuf,
}

fn default_algorithm() -> String {
    "hmac-sha256".to_string()
}

const ALGORITHMS: [&str; 3] = ["hmac-sha256", "hmac-sha384", "hmac-sha512"];

/// The port secondaries listen on when an address names none.
const DNS_PORT: u16 = 53;

/// A client allowed to transfer, as `[transfer]`, zones files and the API
/// write one: a network, or a bare address for one host.
pub fn network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .ok()
}

/// A secondary to NOTIFY, as `[transfer]`, zones files and the API write
/// one: an address with a port, or without one for port 53.
pub fn secondary(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>()
        .or_else(|_| {
            text.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
        })
        .ok()
}

/// The entry of a zone's own transfer lists that is not what the list
/// holds: its index and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadEntry {
    /// Not an address or network.
    Allow(usize, String),
    /// Not an address, with or without a port.
    Notify(usize, String),
}

/// A zone's own transfer settings from the text of its lists, as zones
/// files and the API give them: `None` when nothing is given, which
/// follows `[transfer]`. The registry checks the rest (the key among them).
pub fn zone_settings(
    allow: Option<&[String]>,
    notify: Option<&[String]>,
    key: Option<String>,
) -> Result<Option<crate::registry::TransferSettings>, BadEntry> {
    if allow.is_none() && notify.is_none() && key.is_none() {
        return Ok(None);
    }
    let allow = (allow.unwrap_or_default().iter().enumerate())
        .map(|(index, text)| network(text).ok_or_else(|| BadEntry::Allow(index, text.clone())))
        .collect::<Result<_, _>>()?;
    let notify = (notify.unwrap_or_default().iter().enumerate())
        .map(|(index, text)| secondary(text).ok_or_else(|| BadEntry::Notify(index, text.clone())))
        .collect::<Result<_, _>>()?;
    Ok(Some(crate::registry::TransferSettings {
        allow,
        notify,
        key,
    }))
}

impl TransferFile {
    pub(super) fn check(self, path: &Path) -> Result<TransferConfig, ConfigError> {
        let allow = self
            .allow
            .iter()
            .map(|text| {
                network(text).ok_or_else(|| {
                    ConfigError::invalid(
                        path,
                        format!(
                            "transfer.allow: '{text}' is not an address or network; write \"192.0.2.53\" or \"10.0.0.0/8\""
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let notify = self
            .notify
            .iter()
            .map(|text| {
                secondary(text).ok_or_else(|| {
                    ConfigError::invalid(
                        path,
                        format!(
                            "transfer.notify: '{text}' is not an address; write \"192.0.2.53\", \"192.0.2.53:5300\" or \"[2001:db8::53]:53\""
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let mut keys: Vec<TsigKeyConfig> = Vec::with_capacity(self.keys.len());
        for key in self.keys {
            let name = key.name.trim_end_matches('.').to_ascii_lowercase();
            let algorithm = key.algorithm.to_ascii_lowercase();
            if !ALGORITHMS.contains(&algorithm.as_str()) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "transfer.keys '{name}': algorithm '{}' is not one cairn signs with; use one of {}",
                        key.algorithm,
                        ALGORITHMS.join(", ")
                    ),
                ));
            }
            if name.is_empty() || keys.iter().any(|other| other.name == name) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "transfer.keys: '{name}' is empty or named twice; give each key its own name"
                    ),
                ));
            }
            keys.push(TsigKeyConfig {
                name,
                algorithm,
                secret_file: key.secret_file,
            });
        }
        let key = match self.key {
            Some(key) => {
                let key = key.trim_end_matches('.').to_ascii_lowercase();
                if !keys.iter().any(|known| known.name == key) {
                    return Err(ConfigError::invalid(
                        path,
                        format!(
                            "transfer.key: '{key}' is not one of [[transfer.keys]]; add it there with its secret_file"
                        ),
                    ));
                }
                Some(key)
            }
            None => None,
        };
        Ok(TransferConfig {
            allow,
            notify,
            keys,
            key,
            ixfr_history_bytes: self
                .ixfr_history_bytes
                .unwrap_or(DEFAULT_IXFR_HISTORY_BYTES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<TransferConfig, ConfigError> {
        let file: TransferFile = toml::from_str(text)
            .map_err(|error| ConfigError::invalid(Path::new("t.toml"), error.to_string()))?;
        file.check(Path::new("t.toml"))
    }

    #[test]
    fn addresses_networks_and_ports() {
        let config = check(
            r#"allow = ["127.0.0.1", "10.0.0.0/8"]
               notify = ["127.0.0.1:5300", "::1"]"#,
        )
        .unwrap();
        assert_eq!(
            config.allow,
            vec![
                "127.0.0.1/32".parse::<IpNet>().unwrap(),
                "10.0.0.0/8".parse().unwrap()
            ]
        );
        assert_eq!(
            config.notify,
            vec![
                "127.0.0.1:5300".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn nobody_by_default_and_bad_values_named() {
        assert_eq!(check("").unwrap(), TransferConfig::default());
        let error = check(r#"allow = ["ten"]"#).unwrap_err().to_string();
        assert!(error.contains("transfer.allow: 'ten'"), "{error}");
        let error = check(r#"notify = ["ns1:53"]"#).unwrap_err().to_string();
        assert!(error.contains("transfer.notify: 'ns1:53'"), "{error}");
        assert!(check(r#"allow_all = true"#).is_err());
    }

    #[test]
    fn ixfr_history_is_bounded_by_default_and_settable() {
        assert_eq!(check("").unwrap().ixfr_history_bytes, 1 << 20);
        let config = check("ixfr_history_bytes = 4096").unwrap();
        assert_eq!(config.ixfr_history_bytes, 4096);
        assert!(check("ixfr_history_bytes = -1").is_err());
    }

    #[test]
    fn keys_are_named_with_a_known_algorithm_and_a_file() {
        let config = check(
            r#"key = "XfrKey."
               [[keys]]
               name = "xfrkey"
               secret_file = "/etc/cairn/xfrkey"
               [[keys]]
               name = "other"
               algorithm = "HMAC-SHA512"
               secret_file = "other""#,
        )
        .unwrap();
        assert_eq!(config.key.as_deref(), Some("xfrkey"));
        assert_eq!(config.keys[0].algorithm, "hmac-sha256");
        assert_eq!(config.keys[1].algorithm, "hmac-sha512");
        let error = check(
            r#"[[keys]]
               name = "k"
               algorithm = "hmac-md5"
               secret_file = "f""#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("'hmac-md5' is not one cairn signs with"),
            "{error}"
        );
        let error = check(r#"key = "missing""#).unwrap_err().to_string();
        assert!(error.contains("'missing' is not one of"), "{error}");
        assert!(
            check(
                r#"[[keys]]
                   name = "k"
                   secret = "c2VjcmV0""#
            )
            .is_err(),
            "a secret in the config text"
        );
    }
}
