//! The `[store]` table: which backend keeps the registry's changes. The
//! embedded redb file is the default; `backend = "etcd"` makes this server
//! one node of a cluster that shares an etcd (store/etcd/).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, SecretSource};

/// Where the registry's changes are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// `data_dir/cairn.redb`, this server alone.
    #[default]
    Redb,
    /// A shared etcd: every node follows every other node's changes.
    /// (Boxed: it is large, and the default holds nothing.)
    Etcd(Box<EtcdConfig>),
}

/// Where the password for etcd's authentication comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum EtcdPassword {
    /// Written in the config (kept for configs that already do).
    Text(String),
    /// A file only its owner may read, or the environment: read at start.
    Secret(SecretSource),
}

/// Never the password itself: configs are printed in errors and logs.
impl std::fmt::Debug for EtcdPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(_) => f.write_str("Text(..)"),
            Self::Secret(source) => f.debug_tuple("Secret").field(source).finish(),
        }
    }
}

impl EtcdPassword {
    /// The password, or why it cannot be had.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Self::Text(text) => Ok(text.clone()),
            Self::Secret(source) => source.read("etcd password"),
        }
    }
}

/// How to reach etcd and where cairn's keys live in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs of the etcd members, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Every key cairn writes starts with this, so several clusters can
    /// share one etcd. Always ends with `/`.
    pub prefix: String,
    /// etcd's own authentication, when it is on.
    pub username: Option<String>,
    pub password: Option<EtcdPassword>,
    /// TLS to etcd (`https://` endpoints): the CA that signed etcd's
    /// certificate, and this node's client certificate and key when etcd
    /// asks for one (`--client-cert-auth`). PEM files.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// An etcd call without an answer by then has failed: writes are then
    /// refused rather than left hanging while etcd is away.
    pub timeout: Duration,
    /// How often a node compares what it applied with etcd's state at that
    /// revision (and puts etcd's in place if they differ); `None`: never.
    pub consistency_check: Option<Duration>,
    /// Operations etcd keeps (the oldest beyond are deleted): as many as
    /// each node keeps in memory unless told.
    pub operations_kept: usize,
    /// For tests only: the first transaction the watch brings that
    /// registers or deregisters this instance id is dropped as a lost watch
    /// event would be (counted as applied, nothing applied), so the
    /// consistency check's repair can be seen at work against a real etcd.
    pub testing_lose_one_event_of_instance: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreFile {
    backend: Option<String>,
    endpoints: Option<Vec<String>>,
    prefix: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    timeout_secs: Option<f64>,
    consistency_check_secs: Option<f64>,
    operations_kept: Option<usize>,
    testing_lose_one_event_of_instance: Option<String>,
}

impl StoreFile {
    pub(super) fn check(self, path: &Path) -> Result<StoreConfig, ConfigError> {
        let backend = self.backend.as_deref().unwrap_or("redb");
        match backend {
            "redb" => {
                if self.endpoints.is_some() || self.prefix.is_some() {
                    return Err(ConfigError::invalid(
                        path,
                        "store.endpoints and store.prefix are for backend = \"etcd\"; set it, or remove them",
                    ));
                }
                Ok(StoreConfig::Redb)
            }
            "etcd" => {
                let endpoints = self.endpoints.unwrap_or_default();
                if endpoints.is_empty() {
                    return Err(ConfigError::invalid(
                        path,
                        "store.endpoints is empty; give etcd's client URLs, such as [\"http://127.0.0.1:2379\"]",
                    ));
                }
                let mut prefix = self.prefix.unwrap_or_else(|| "/cairn/".to_string());
                if prefix.is_empty() {
                    return Err(ConfigError::invalid(
                        path,
                        "store.prefix is empty; give one such as \"/cairn/\" so cairn's keys stay apart from others'",
                    ));
                }
                if !prefix.ends_with('/') {
                    prefix.push('/');
                }
                if self.cert_file.is_some() != self.key_file.is_some() {
                    return Err(ConfigError::invalid(
                        path,
                        "store.cert_file and store.key_file go together; give both or neither",
                    ));
                }
                let tls = self.ca_file.is_some() || self.cert_file.is_some();
                if let Some(plain) = endpoints
                    .iter()
                    .find(|endpoint| tls != endpoint.starts_with("https://"))
                {
                    return Err(ConfigError::invalid(
                        path,
                        if tls {
                            format!(
                                "store.endpoints: {plain:?} is not https://, but store.ca_file/cert_file ask for TLS; use https:// endpoints"
                            )
                        } else {
                            format!(
                                "store.endpoints: {plain:?} is https://; give store.ca_file (the CA that signed etcd's certificate)"
                            )
                        },
                    ));
                }
                let secret = super::api::source(
                    path,
                    "store",
                    "password",
                    self.password_file,
                    self.password_env,
                )?;
                let password = match (self.password, secret) {
                    (Some(_), Some(_)) => {
                        return Err(ConfigError::invalid(
                            path,
                            "store: set one of password, password_file and password_env",
                        ));
                    }
                    (Some(text), None) => Some(EtcdPassword::Text(text)),
                    (None, secret) => secret.map(EtcdPassword::Secret),
                };
                if self.username.is_some() != password.is_some() {
                    return Err(ConfigError::invalid(
                        path,
                        "store.username and a password (store.password_file, password_env or password) go together; give both or neither",
                    ));
                }
                let timeout = match self.timeout_secs {
                    None => Duration::from_secs(5),
                    Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
                    Some(_) => {
                        return Err(ConfigError::invalid(
                            path,
                            "store.timeout_secs must be a positive number of seconds",
                        ));
                    }
                };
                // Debian's etcd 3.4.23 has watch bugs that can lose an
                // event: a minute bounds how long a node may serve one
                // wrong, for one consistent read of the prefix.
                let consistency_check = match self.consistency_check_secs {
                    None => Some(Duration::from_secs(60)),
                    Some(0.0) => None,
                    Some(secs) if secs.is_finite() && secs > 0.0 => {
                        Some(Duration::from_secs_f64(secs))
                    }
                    Some(_) => {
                        return Err(ConfigError::invalid(
                            path,
                            "store.consistency_check_secs must be a positive number of seconds, or 0 for never",
                        ));
                    }
                };
                Ok(StoreConfig::Etcd(Box::new(EtcdConfig {
                    endpoints,
                    prefix,
                    username: self.username,
                    password,
                    ca_file: self.ca_file,
                    cert_file: self.cert_file,
                    key_file: self.key_file,
                    timeout,
                    consistency_check,
                    operations_kept: match self.operations_kept {
                        None => crate::registry::OPERATION_LOG_CAPACITY,
                        Some(0) => {
                            return Err(ConfigError::invalid(
                                path,
                                "store.operations_kept must be at least 1: GetOperation answers from them",
                            ));
                        }
                        Some(kept) => kept,
                    },
                    testing_lose_one_event_of_instance: self.testing_lose_one_event_of_instance,
                })))
            }
            other => Err(ConfigError::invalid(
                path,
                format!("store.backend = {other:?} is not a backend; use \"redb\" or \"etcd\""),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StoreConfig, ConfigError> {
        let file: StoreFile = toml::from_str(text)
            .map_err(|e| ConfigError::invalid(Path::new("t"), e.to_string()))?;
        file.check(Path::new("t"))
    }

    #[test]
    fn redb_is_the_default_and_etcd_needs_endpoints() {
        assert_eq!(parse("").ok(), Some(StoreConfig::Redb));
        assert!(parse("backend = \"etcd\"").is_err());
        assert!(parse("backend = \"zk\"").is_err());
        let Ok(StoreConfig::Etcd(etcd)) =
            parse("backend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\nprefix = \"/a\"")
        else {
            panic!("an etcd store config was refused");
        };
        assert_eq!(etcd.prefix, "/a/");
        assert_eq!(etcd.timeout, Duration::from_secs(5));
        assert_eq!(etcd.consistency_check, Some(Duration::from_secs(60)));
        let etcd = |extra: &str| {
            parse(&format!(
                "backend = \"etcd\"\nendpoints = [\"http://e:2379\"]\n{extra}"
            ))
        };
        assert!(matches!(
            etcd("consistency_check_secs = 0"),
            Ok(StoreConfig::Etcd(config)) if config.consistency_check.is_none()
        ));
        assert!(matches!(
            etcd("consistency_check_secs = 2.5"),
            Ok(StoreConfig::Etcd(config))
                if config.consistency_check == Some(Duration::from_millis(2500))
        ));
        assert!(etcd("consistency_check_secs = -1").is_err());
        assert!(etcd("ca_file = \"/ca.pem\"").is_err(), "TLS needs https://");
        let https = |extra: &str| {
            parse(&format!(
                "backend = \"etcd\"\nendpoints = [\"https://e:2379\"]\n{extra}"
            ))
        };
        assert!(https("").is_err(), "https:// needs a CA");
        assert!(https("ca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"").is_err());
        assert!(matches!(
            https("ca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\""),
            Ok(StoreConfig::Etcd(config)) if config.key_file.is_some()
        ));
    }
}
