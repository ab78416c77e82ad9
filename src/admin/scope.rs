//! Keys limited to named namespaces (a cairn extension): which namespace a
//! request is about, read from its body before it runs, and list answers
//! cut down to the namespaces the key may see. Anything whose namespace
//! cannot be told is denied: the check fails closed.

use serde_json::Value;

use super::error::ApiError;
use crate::registry::Registry;

/// Whether `name` is one of `allowed` (case and a trailing dot ignored,
/// as DNS compares names).
fn allows(allowed: &[String], name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    allowed.iter().any(|entry| {
        entry
            .strip_suffix('.')
            .unwrap_or(entry)
            .eq_ignore_ascii_case(name)
    })
}

fn denied(key: &str, action: &str, what: &str) -> ApiError {
    ApiError::access_denied(format!(
        "the access key {key} is limited to some namespaces, and {action} {what}"
    ))
}

/// Refuses the request before it runs when it is about a namespace the key
/// may not touch. An id that names nothing is let through, so the action
/// answers its own NotFound error and changes nothing.
pub fn check(
    allowed: &[String],
    key: &str,
    action: &str,
    body: &[u8],
    registry: &Registry,
) -> Result<(), ApiError> {
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|error| {
            ApiError::invalid(format!("the request body is not valid JSON: {error}"))
        })?
    };
    let field = |name: &str| request.get(name).and_then(Value::as_str);
    let by_namespace_id = |id: Option<&str>| -> Result<(), ApiError> {
        let Some(id) = id else {
            return Err(denied(key, action, "names no namespace"));
        };
        match registry.namespace(id) {
            Some(namespace) if !allows(allowed, &namespace.name) => Err(denied(
                key,
                action,
                &format!("is about the namespace {}", namespace.name),
            )),
            _ => Ok(()),
        }
    };
    let by_service_id = |id: Option<&str>| -> Result<(), ApiError> {
        let Some(id) = id else {
            return Err(denied(key, action, "names no service"));
        };
        match registry.service(id) {
            Some(service) => by_namespace_id(Some(&service.namespace_id)),
            None => Ok(()),
        }
    };
    let by_name = |name: Option<&str>| -> Result<(), ApiError> {
        match name {
            Some(name) if allows(allowed, name) => Ok(()),
            Some(name) => Err(denied(
                key,
                action,
                &format!("is about the namespace {name}"),
            )),
            None => Err(denied(key, action, "names no namespace")),
        }
    };
    match action {
        "CreatePrivateDnsNamespace" | "CreatePublicDnsNamespace" | "CreateHttpNamespace" => {
            by_name(field("Name"))
        }
        "DiscoverInstances" | "DiscoverInstancesRevision" => by_name(field("NamespaceName")),
        "GetNamespace"
        | "DeleteNamespace"
        | "UpdatePrivateDnsNamespace"
        | "UpdatePublicDnsNamespace"
        | "UpdateHttpNamespace" => by_namespace_id(field("Id")),
        "CreateService" => by_namespace_id(field("NamespaceId")),
        "GetService" | "UpdateService" | "DeleteService" => by_service_id(field("Id")),
        "RegisterInstance"
        | "DeregisterInstance"
        | "GetInstance"
        | "ListInstances"
        | "GetInstancesHealthStatus"
        | "UpdateInstanceCustomHealthStatus"
        | "Heartbeat"
        | "GetServiceAttributes"
        | "UpdateServiceAttributes"
        | "DeleteServiceAttributes" => by_service_id(field("ServiceId")),
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            let arn = field("ResourceARN");
            if arn.is_some_and(|arn| registry.namespace(arn).is_some()) {
                by_namespace_id(arn)
            } else {
                by_service_id(arn)
            }
        }
        // Cut down after they run (`filter`); GetOperation is checked on
        // its answer's targets.
        "ListNamespaces" | "ListServices" | "GetOperation" => Ok(()),
        // ListOperations' summaries name no namespace, so none can be shown.
        _ => Err(denied(key, action, "is not about a single namespace")),
    }
}

/// Cuts a read's answer down to what the key may see.
pub fn filter(
    allowed: &[String],
    key: &str,
    action: &str,
    response: Vec<u8>,
    registry: &Registry,
) -> Result<Vec<u8>, ApiError> {
    let list = match action {
        "ListNamespaces" => "Namespaces",
        "ListServices" => "Services",
        "GetOperation" => "Operation",
        _ => return Ok(response),
    };
    let mut answer: Value = serde_json::from_slice(&response)
        .map_err(|error| ApiError::internal(format!("cannot read the answer back: {error}")))?;
    let namespace_allowed = |id: &str| {
        registry
            .namespace(id)
            .is_some_and(|namespace| allows(allowed, &namespace.name))
    };
    if action == "GetOperation" {
        let targets = &answer["Operation"]["Targets"];
        let namespace = targets["NAMESPACE"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                targets["SERVICE"]
                    .as_str()
                    .and_then(|id| registry.service(id))
                    .map(|service| service.namespace_id)
            });
        // An operation whose namespace is gone (a deletion) shows nothing
        // more than its id and status, which the caller already had.
        return match namespace {
            Some(id) if registry.namespace(&id).is_some() && !namespace_allowed(&id) => {
                Err(denied(key, action, "is about another namespace"))
            }
            _ => Ok(response),
        };
    }
    if let Some(items) = answer.get_mut(list).and_then(Value::as_array_mut) {
        items.retain(|item| match action {
            "ListNamespaces" => item["Name"]
                .as_str()
                .is_some_and(|name| allows(allowed, name)),
            _ => item["NamespaceId"].as_str().is_some_and(namespace_allowed),
        });
    }
    serde_json::to_vec(&answer)
        .map_err(|error| ApiError::internal(format!("cannot write the answer: {error}")))
}
