//! `[api]`: the Cloud Map API on TCP, beside the admin socket. Off unless
//! `listen` names an address. Callers authenticate with AWS Signature
//! Version 4 using the keys listed here; their secrets are named by file or
//! environment variable, never written in the config text, so the config
//! can be shared and committed.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::registry::validate::MAX_NAME_SERVER_ADDRESSES;
use crate::registry::validate::dns_name;

/// How callers on the TCP listener authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiAuth {
    /// AWS Signature Version 4 with one of `[[api.keys]]`.
    Sigv4,
    /// Nobody is asked who they are: allowed only when every listen address
    /// is a loopback address, and logged as a warning at start.
    None,
}

/// Where a secret is read from when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file only its owner may read (mode 0600 or 0400); its content,
    /// without a trailing newline, is the secret.
    File(PathBuf),
    /// An environment variable of the server's process.
    Env(String),
}

impl SecretSource {
    /// The secret, or why it cannot be had; `what` names it in the reason.
    pub fn read(&self, what: &str) -> Result<String, String> {
        let text = match self {
            Self::Env(name) => std::env::var(name).map_err(|_| {
                format!(
                    "the {what} is to come from the environment variable {name}, which is not set (or not UTF-8)"
                )
            })?,
            Self::File(path) => {
                let unreadable =
                    |error| format!("cannot read the {what} file {}: {error}", path.display());
                let metadata = std::fs::metadata(path).map_err(unreadable)?;
                let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777;
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "the {what} file {} has mode {mode:04o}, so others than its owner can read it; run chmod 600 {}",
                        path.display(),
                        path.display()
                    ));
                }
                std::fs::read_to_string(path).map_err(unreadable)?
            }
        };
        // A file written by `echo` ends with a newline that is not part of it.
        let secret = text.trim_end_matches(['\n', '\r']);
        if secret.is_empty() || secret.chars().any(char::is_control) {
            return Err(format!("the {what} is empty or holds control characters"));
        }
        Ok(secret.to_string())
    }
}

/// One access key the TCP listener accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyConfig {
    pub access_key_id: String,
    pub secret: SecretSource,
    /// When set, requests with this key must carry this session token
    /// (`X-Amz-Security-Token`); when unset, a request with one is refused.
    pub session_token: Option<SecretSource>,
    /// Beyond Cloud Map: only Discover*, Get* and List* actions.
    pub read_only: bool,
    /// Beyond Cloud Map: only these namespaces (by name), and no action that
    /// is not about one namespace. `None`: every namespace.
    pub namespaces: Option<Vec<String>>,
}

/// TLS on the TCP listener: a PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The API's TCP listener. Body size, header and body timeouts, connection
/// limit and drain time are `[admin]`'s, the same as the socket's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Empty by default: no TCP listener.
    pub listen: Vec<SocketAddr>,
    pub auth: ApiAuth,
    pub tls: Option<TlsFiles>,
    /// How far a request's X-Amz-Date may be from the server's clock, either
    /// way (AWS: 5 minutes).
    pub max_clock_skew: Duration,
    pub keys: Vec<ApiKeyConfig>,
    /// The 12-digit account id in ARNs, `ResourceOwner` and
    /// `CreatedByAccount`, on every listener (the socket too).
    pub account_id: String,
    /// The region of what is created without a signature (the socket,
    /// `auth = "none"`) and of what was created before cairn kept regions.
    /// A signed request's resources take its credential scope's region.
    pub region: String,
    /// The name clients put in the API's endpoint URL, when cairn is to
    /// answer it in DNS.
    pub host: Option<ApiHost>,
}

/// The API's host name and where it is reached. The AWS SDKs send
/// DiscoverInstances and DiscoverInstancesRevision to `data-<host>` (a host
/// prefix the Go SDK cannot turn off), so when `name` lies in a namespace
/// cairn serves, cairn answers A and AAAA for both names and every SDK works
/// with the prefix left on, as long as the client resolves through cairn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHost {
    /// Lower case, without a trailing dot.
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

impl ApiHost {
    /// The names cairn answers for the API: the host and its `data-` twin.
    pub fn names(&self) -> [String; 2] {
        [self.name.clone(), format!("data-{}", self.name)]
    }
}

/// The account id when none is configured, as AWS's emulators use.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
/// The region when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            auth: ApiAuth::Sigv4,
            tls: None,
            max_clock_skew: Duration::from_secs(300),
            keys: Vec::new(),
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            region: DEFAULT_REGION.to_string(),
            host: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiFile {
    listen: Option<Vec<String>>,
    auth: Option<ApiAuth>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_clock_skew_secs: Option<u64>,
    account_id: Option<String>,
    region: Option<String>,
    host: Option<String>,
    host_addresses: Option<Vec<IpAddr>>,
    #[serde(default)]
    keys: Vec<ApiKeyFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyFile {
    access_key_id: String,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    /// Only here to give a clear error: secrets never live in the config.
    secret: Option<toml::Value>,
    secret_access_key: Option<toml::Value>,
    session_token_file: Option<PathBuf>,
    session_token_env: Option<String>,
    #[serde(default)]
    read_only: bool,
    namespaces: Option<Vec<String>>,
}

impl ApiFile {
    pub(super) fn check(self, path: &Path) -> Result<ApiConfig, ConfigError> {
        let mut config = ApiConfig::default();
        if let Some(listen) = self.listen {
            config.listen = listen
                .iter()
                .map(|text| {
                    text.parse().map_err(|_| {
                        ConfigError::invalid(
                            path,
                            format!(
                                "api.listen: '{text}' is not an address with a port; write it like \"127.0.0.1:8787\" or \"[::]:8443\""
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(auth) = self.auth {
            config.auth = auth;
        }
        if let Some(secs) = self.max_clock_skew_secs {
            if secs == 0 {
                return Err(ConfigError::invalid(
                    path,
                    "api.max_clock_skew_secs must be above 0 (AWS allows 300)",
                ));
            }
            config.max_clock_skew = Duration::from_secs(secs);
        }
        if let Some(account_id) = self.account_id {
            if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "api.account_id: '{account_id}' is not 12 digits, as an AWS account id is (e.g. \"{DEFAULT_ACCOUNT_ID}\")"
                    ),
                ));
            }
            config.account_id = account_id;
        }
        if let Some(region) = self.region {
            if crate::registry::validate::region(Some(&region)).is_err() {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "api.region: '{region}' is not a region name such as \"{DEFAULT_REGION}\" (lowercase letters, digits and hyphens, up to 32)"
                    ),
                ));
            }
            config.region = region;
        }
        config.host = api_host(path, self.host, self.host_addresses, &config.listen)?;
        config.tls = match (self.tls_cert, self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => {
                return Err(ConfigError::invalid(
                    path,
                    "api.tls_cert and api.tls_key go together: set both (PEM files) for HTTPS, or neither for plain HTTP",
                ));
            }
        };
        for (index, key) in self.keys.into_iter().enumerate() {
            let key = key.check(path, index)?;
            if config
                .keys
                .iter()
                .any(|other: &ApiKeyConfig| other.access_key_id == key.access_key_id)
            {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "api.keys: access_key_id '{}' is listed twice",
                        key.access_key_id
                    ),
                ));
            }
            config.keys.push(key);
        }
        match config.auth {
            ApiAuth::None => {
                if let Some(addr) = config.listen.iter().find(|addr| !addr.ip().is_loopback()) {
                    return Err(ConfigError::invalid(
                        path,
                        format!(
                            "api.auth = \"none\" is allowed only on loopback addresses, and api.listen has {addr}; use auth = \"sigv4\" with [[api.keys]], or listen on 127.0.0.1 or [::1]"
                        ),
                    ));
                }
            }
            ApiAuth::Sigv4 => {
                if !config.listen.is_empty() && config.keys.is_empty() {
                    return Err(ConfigError::invalid(
                        path,
                        "api.listen is set but there are no [[api.keys]]: add one (access_key_id and secret_file or secret_env), or set api.auth = \"none\" on a loopback address",
                    ));
                }
            }
        }
        Ok(config)
    }
}

/// `api.host`, checked as a name whose `data-` twin is a DNS name too, with
/// its addresses: those given, or where the API's listeners are reached.
fn api_host(
    path: &Path,
    host: Option<String>,
    addresses: Option<Vec<IpAddr>>,
    listen: &[SocketAddr],
) -> Result<Option<ApiHost>, ConfigError> {
    let Some(host) = host else {
        if addresses.is_some() {
            return Err(ConfigError::invalid(
                path,
                "api.host_addresses needs api.host: the name they are the addresses of",
            ));
        }
        return Ok(None);
    };
    let invalid =
        |error: crate::registry::RegistryError| ConfigError::invalid(path, error.to_string());
    let name = dns_name("api.host", &host, true)
        .map_err(invalid)?
        .to_ascii_lowercase();
    dns_name(
        "api.host with the SDKs' data- prefix",
        &format!("data-{name}"),
        true,
    )
    .map_err(invalid)?;
    let addresses = match addresses {
        Some(addresses) => addresses,
        None => super::reachable_addresses(listen),
    };
    if addresses.is_empty() {
        return Err(ConfigError::invalid(
            path,
            "api.host needs addresses: set api.listen, or api.host_addresses to where clients reach the API",
        ));
    }
    if addresses.len() > MAX_NAME_SERVER_ADDRESSES {
        return Err(ConfigError::invalid(
            path,
            format!(
                "api.host_addresses lists {} addresses; at most {MAX_NAME_SERVER_ADDRESSES}",
                addresses.len()
            ),
        ));
    }
    Ok(Some(ApiHost { name, addresses }))
}

impl ApiKeyFile {
    fn check(self, path: &Path, index: usize) -> Result<ApiKeyConfig, ConfigError> {
        let at = format!("api.keys[{index}]");
        let id = &self.access_key_id;
        // AWS's access key ids are 16 to 128 word characters; the scope's
        // '/' separator must not appear in one.
        if id.is_empty()
            || id.len() > 128
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ConfigError::invalid(
                path,
                format!(
                    "{at}.access_key_id '{id}' must be 1 to 128 letters, digits or '_', like AKIAIOSFODNN7EXAMPLE"
                ),
            ));
        }
        if self.secret.is_some() || self.secret_access_key.is_some() {
            return Err(ConfigError::invalid(
                path,
                format!(
                    "{at}: a secret is never read from the config text; put it in a file only cairn's user can read and set secret_file, or set secret_env to an environment variable"
                ),
            ));
        }
        let secret =
            source(path, &at, "secret", self.secret_file, self.secret_env)?.ok_or_else(|| {
                ConfigError::invalid(
                    path,
                    format!("{at} ('{id}') has no secret: set secret_file or secret_env"),
                )
            })?;
        let session_token = source(
            path,
            &at,
            "session_token",
            self.session_token_file,
            self.session_token_env,
        )?;
        if let Some(names) = &self.namespaces
            && names.is_empty()
        {
            return Err(ConfigError::invalid(
                path,
                format!(
                    "{at}.namespaces is empty, which would allow nothing; name at least one namespace, or leave it out for all"
                ),
            ));
        }
        Ok(ApiKeyConfig {
            access_key_id: self.access_key_id,
            secret,
            session_token,
            read_only: self.read_only,
            namespaces: self.namespaces,
        })
    }
}

pub(super) fn source(
    path: &Path,
    at: &str,
    what: &str,
    file: Option<PathBuf>,
    env: Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    match (file, env) {
        (None, None) => Ok(None),
        (Some(file), None) => Ok(Some(SecretSource::File(file))),
        (None, Some(env)) if !env.is_empty() => Ok(Some(SecretSource::Env(env))),
        (None, Some(_)) => Err(ConfigError::invalid(
            path,
            format!("{at}.{what}_env is empty; name an environment variable"),
        )),
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            path,
            format!("{at}: set {what}_file or {what}_env, not both"),
        )),
    }
}
