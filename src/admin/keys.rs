//! Reading the API's access keys at start: each secret (and session token)
//! from a file only its owner can read, or from the environment. A
//! group- or world-readable secret file is refused rather than trusted:
//! whoever can read it can change every record.

use std::collections::HashMap;

use super::AdminError;
use super::access::{Access, Scope};
use super::sigv4::{AccessKey, Verifier};
use crate::config::{ApiAuth, ApiConfig, ApiKeyConfig, SecretSource};

/// The service name in every credential scope cairn accepts: Cloud Map's.
pub const SERVICE: &str = "servicediscovery";

/// The access rule for the TCP listeners of `config`.
pub fn load(config: &ApiConfig) -> Result<Access, AdminError> {
    if config.auth == ApiAuth::None {
        return Ok(Access::Open);
    }
    let mut keys = Vec::with_capacity(config.keys.len());
    let mut scopes = HashMap::with_capacity(config.keys.len());
    for key in &config.keys {
        keys.push(read_key(key)?);
        scopes.insert(
            key.access_key_id.clone(),
            Scope {
                read_only: key.read_only,
                namespaces: key.namespaces.clone(),
            },
        );
    }
    Ok(Access::Signed {
        verifier: Verifier::new(keys, SERVICE, config.max_clock_skew),
        scopes,
    })
}

fn read_key(key: &ApiKeyConfig) -> Result<AccessKey, AdminError> {
    let id = &key.access_key_id;
    Ok(AccessKey {
        access_key_id: id.clone(),
        secret: read_secret(id, "secret", &key.secret)?,
        session_token: key
            .session_token
            .as_ref()
            .map(|source| read_secret(id, "session token", source))
            .transpose()?,
    })
}

fn read_secret(key: &str, what: &str, source: &SecretSource) -> Result<String, AdminError> {
    source.read(what).map_err(|message| AdminError::Secret {
        key: key.to_string(),
        message,
    })
}
