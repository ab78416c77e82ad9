//! Reading the API's access keys at start: each secret (and session token)
//! from a file only its owner can read, or from the environment. A
//! group- or world-readable secret file is refused rather than trusted:
//! whoever can read it can change every record.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

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
    let fail = |message: String| AdminError::Secret {
        key: key.to_string(),
        message,
    };
    let text = match source {
        SecretSource::Env(name) => std::env::var(name).map_err(|_| {
            fail(format!(
                "the {what} is to come from the environment variable {name}, which is not set (or not UTF-8)"
            ))
        })?,
        SecretSource::File(path) => {
            let metadata = std::fs::metadata(path).map_err(|error| {
                fail(format!("cannot read the {what} file {}: {error}", path.display()))
            })?;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(fail(format!(
                    "the {what} file {} has mode {mode:04o}, so others than its owner can read it; run chmod 600 {}",
                    path.display(),
                    path.display()
                )));
            }
            std::fs::read_to_string(path).map_err(|error| {
                fail(format!("cannot read the {what} file {}: {error}", path.display()))
            })?
        }
    };
    // A file written by `echo` ends with a newline that is not part of it.
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() || secret.chars().any(char::is_control) {
        return Err(fail(format!(
            "the {what} is empty or holds control characters"
        )));
    }
    Ok(secret.to_string())
}
