//! `[transfer]`: zone transfers to standard secondaries (NSD, Knot, BIND).
//! Who may transfer (AXFR/IXFR) and which secondaries hear a NOTIFY when a
//! zone changes. Off by default: a transfer hands out the whole registry's
//! DNS view, so it is opt-in per address.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use super::ConfigError;

/// Zone transfer settings, for every DNS namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferConfig {
    /// Clients allowed to transfer zones; empty: nobody.
    pub allow: Vec<IpNet>,
    /// Secondaries told (RFC 1996 NOTIFY, over UDP) when a zone's serial
    /// rises.
    pub notify: Vec<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferFile {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    notify: Vec<String>,
}

/// The port secondaries listen on when an address names none.
const DNS_PORT: u16 = 53;

impl TransferFile {
    pub(super) fn check(self, path: &Path) -> Result<TransferConfig, ConfigError> {
        let allow = self
            .allow
            .iter()
            .map(|text| {
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
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
                text.parse::<SocketAddr>()
                    .or_else(|_| {
                        text.parse::<IpAddr>()
                            .map(|ip| SocketAddr::new(ip, DNS_PORT))
                    })
                    .map_err(|_| {
                        ConfigError::invalid(
                            path,
                            format!(
                                "transfer.notify: '{text}' is not an address; write \"192.0.2.53\", \"192.0.2.53:5300\" or \"[2001:db8::53]:53\""
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(TransferConfig { allow, notify })
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
}
