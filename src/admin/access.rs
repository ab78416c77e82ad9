//! Who may call the API on a given listener: the socket trusts its file
//! permissions; a TCP listener asks for a SigV4 signature by one of the
//! configured keys (or, with `auth = "none"` on loopback, nothing), and a
//! key may be scoped (read-only, named namespaces). Decided before any
//! action runs, so a refused request changes nothing.

use std::collections::HashMap;
use std::time::SystemTime;

use hyper::http::request::Parts;

use super::error::ApiError;
use super::sigv4::{SignedRequest, Signer, Verifier};

/// What a key may do beyond authenticating (a cairn extension).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only Discover*, Get* and List* actions.
    pub read_only: bool,
    /// Only these namespaces, by name; `None` is every namespace.
    pub namespaces: Option<Vec<String>>,
}

/// A listener's access rule.
#[derive(Debug)]
pub enum Access {
    /// The Unix socket: whoever can open it may do anything.
    Socket,
    /// TCP without authentication (`api.auth = "none"`, loopback only).
    Open,
    /// TCP with SigV4 by one of these keys.
    Signed {
        verifier: Verifier,
        scopes: HashMap<String, Scope>,
    },
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The verified signature's key and region; `None` without SigV4.
    pub signer: Option<Signer>,
    pub scope: Scope,
}

impl Access {
    /// Checks `parts` and `body` against this listener's rule.
    pub fn authenticate(&self, parts: &Parts, body: &[u8]) -> Result<Caller, ApiError> {
        let Self::Signed { verifier, scopes } = self else {
            return Ok(Caller::default());
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        let request = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body,
        };
        let signer = verifier.verify(&request, now)?;
        let scope = scopes
            .get(&signer.access_key_id)
            .cloned()
            .unwrap_or_default();
        Ok(Caller {
            signer: Some(signer),
            scope,
        })
    }
}

/// cairn's actions about the server itself rather than the registry.
const SERVER_ACTIONS: &[&str] = &["GetServerStatus", "ReloadServer"];

/// Whether `action` only reads: Discover*, Get* and List*.
pub fn is_read_only(action: &str) -> bool {
    ["Discover", "Get", "List"]
        .iter()
        .any(|prefix| action.starts_with(prefix))
}

impl Scope {
    /// Refuses `action` if this scope does not allow it. Namespace limits
    /// are checked by the caller, which knows what the action touches.
    pub fn check_action(&self, action: &str, key: &str) -> Result<(), ApiError> {
        // About the whole server (every namespace's counts, the config), so
        // no limit short of none covers them.
        if SERVER_ACTIONS.contains(&action) && *self != Scope::default() {
            return Err(ApiError::access_denied(format!(
                "the access key {key} is scoped (read-only or limited to some namespaces) and may not call {action}, which is about the whole server; use an unscoped key or the admin socket"
            )));
        }
        if self.read_only && !is_read_only(action) {
            return Err(ApiError::access_denied(format!(
                "the access key {key} is read-only (Discover*, Get*, List*) and may not call {action}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn server_actions_are_for_unscoped_keys_only() {
        let unscoped = Scope::default();
        let read_only = Scope {
            read_only: true,
            namespaces: None,
        };
        let limited = Scope {
            read_only: false,
            namespaces: Some(vec!["svc.test".into()]),
        };
        for action in ["GetServerStatus", "ReloadServer"] {
            assert!(unscoped.check_action(action, "AKID").is_ok(), "{action}");
            for scope in [&read_only, &limited] {
                let denied = scope.check_action(action, "AKID").unwrap_err();
                assert!(
                    denied.body.message.contains("about the whole server"),
                    "{action}: {denied:?}"
                );
            }
        }
        assert!(read_only.check_action("GetService", "AKID").is_ok());
    }
}
