//! The actions: each turns a parsed request into registry calls and the
//! registry's answer into Cloud Map's response shape. Reads are synchronous
//! and quick; changes await the [`Writer`], which holds no lock the DNS
//! path takes, so a request cannot stall DNS.

mod discovery;
mod instances;
mod namespaces;
mod operations;
mod reload;
mod service_attributes;
mod services;
mod status;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::account::Context;
use super::api::Filter;
use super::error::ApiError;
use crate::control::Control;
use crate::registry::{Millis, NamespaceType};
use crate::writer::Writer;

/// Runs `action` with a JSON `body`; returns the JSON response body.
/// Reads answer from the registry at once; changes go through the
/// [`Writer`], which returns once they are durable and applied.
pub async fn dispatch(
    writer: &Writer,
    control: &Control,
    cx: Context<'_>,
    action: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    use NamespaceType::{DnsPrivate, DnsPublic, Http};
    let (w, r) = (writer, writer.registry());
    match action {
        "CreatePrivateDnsNamespace" => {
            call_async(body, |q| namespaces::create(w, cx, DnsPrivate, q)).await
        }
        "CreatePublicDnsNamespace" => {
            call_async(body, |q| namespaces::create(w, cx, DnsPublic, q)).await
        }
        "CreateHttpNamespace" => call_async(body, |q| namespaces::create(w, cx, Http, q)).await,
        "GetNamespace" => call(w, body, |q| namespaces::get(r, cx, q)).await,
        "ListNamespaces" => call(w, body, |q| namespaces::list(r, cx, q)).await,
        "UpdatePrivateDnsNamespace" => {
            call_async(body, |q| namespaces::update(w, DnsPrivate, q)).await
        }
        "UpdatePublicDnsNamespace" => {
            call_async(body, |q| namespaces::update(w, DnsPublic, q)).await
        }
        "UpdateHttpNamespace" => call_async(body, |q| namespaces::update(w, Http, q)).await,
        "DeleteNamespace" => call_async(body, |q| namespaces::delete(w, q)).await,
        "CreateService" => call_async(body, |q| services::create(w, cx, q)).await,
        "GetService" => call(w, body, |q| services::get(r, cx, q)).await,
        "ListServices" => call(w, body, |q| services::list(r, cx, q)).await,
        "UpdateService" => call_async(body, |q| services::update(w, q)).await,
        "DeleteService" => call_async(body, |q| services::delete(w, q)).await,
        "GetServiceAttributes" => call(w, body, |q| service_attributes::get(r, cx, q)).await,
        "UpdateServiceAttributes" => call_async(body, |q| service_attributes::update(w, q)).await,
        "DeleteServiceAttributes" => call_async(body, |q| service_attributes::delete(w, q)).await,
        "RegisterInstance" => call_async(body, |q| instances::register(w, q)).await,
        "DeregisterInstance" => call_async(body, |q| instances::deregister(w, q)).await,
        "GetInstance" => call(w, body, |q| instances::get(r, cx, q)).await,
        "ListInstances" => call(w, body, |q| instances::list(r, cx, q)).await,
        "UpdateInstanceCustomHealthStatus" => {
            call_async(body, |q| instances::set_health(w, q)).await
        }
        "GetInstancesHealthStatus" => call(w, body, |q| instances::health(r, q)).await,
        "Heartbeat" => call_async(body, |q| instances::heartbeat(w, q)).await,
        "DiscoverInstances" => call(w, body, |q| discovery::discover(r, q)).await,
        "DiscoverInstancesRevision" => call(w, body, |q| discovery::revision(r, q)).await,
        "GetOperation" => call(w, body, |q| operations::get(r, q)).await,
        "ListOperations" => call(w, body, |q| operations::list(r, q)).await,
        "TagResource" => call_async(body, |q| operations::tag(w, q)).await,
        "UntagResource" => call_async(body, |q| operations::untag(w, q)).await,
        "ListTagsForResource" => call(w, body, |q| operations::tags(r, q)).await,
        // cairn's own actions, about the server rather than the registry.
        status::GET_SERVER_STATUS => call(w, body, |q| status::get(r, control, q)).await,
        reload::RELOAD_SERVER => call_async(body, |q| reload::reload(control, q)).await,
        _ => Err(ApiError::unknown_operation(format!(
            "'{action}' is not an action of this API (Cloud Map's actions, e.g. RegisterInstance)"
        ))),
    }
}

/// [`call`] for handlers that change state and so must wait for the store.
async fn call_async<Req, Resp, Fut>(
    body: &[u8],
    handler: impl FnOnce(Req) -> Fut,
) -> Result<Vec<u8>, ApiError>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    Fut: std::future::Future<Output = Result<Resp, ApiError>>,
{
    let request = parse(body)?;
    let response = handler(request).await?;
    encode(&response)
}

/// Parses the request, runs the handler and serialises its answer. Parse
/// errors name the member that failed (`DnsConfig.DnsRecords[0].TTL: …`).
/// The handler reads the registry as of one whole revision of a cluster
/// store (see [`Writer::read`]).
async fn call<Req, Resp>(
    writer: &Writer,
    body: &[u8],
    handler: impl FnOnce(Req) -> Result<Resp, ApiError>,
) -> Result<Vec<u8>, ApiError>
where
    Req: DeserializeOwned,
    Resp: Serialize,
{
    let request = parse(body)?;
    let response = writer.read(|| handler(request)).await?;
    encode(&response)
}

fn parse<Req: DeserializeOwned>(body: &[u8]) -> Result<Req, ApiError> {
    // A call without input may come with no body at all.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut parser = serde_json::Deserializer::from_slice(body);
    let request: Req = serde_path_to_error::deserialize(&mut parser).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(format!("the request body is not valid JSON: {inner}"))
        } else if path == "." {
            ApiError::invalid(format!("request: {inner}"))
        } else {
            ApiError::invalid(format!("{path}: {inner}"))
        }
    })?;
    parser.end().map_err(|error| {
        ApiError::invalid(format!("the request body is not valid JSON: {error}"))
    })?;
    Ok(request)
}

fn encode<Resp: Serialize>(response: &Resp) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(response)
        .map_err(|error| ApiError::internal(format!("cannot encode the response: {error}")))
}

/// Cloud Map's timestamp: epoch seconds with milliseconds.
fn timestamp(millis: Millis) -> f64 {
    millis as f64 / 1000.0
}

/// The largest page a List call returns, and its default.
const MAX_PAGE: i64 = 100;

/// One page of `items`, which must be sorted by `key`. The token is the hex
/// of the last key given out, so a page boundary survives inserts and
/// deletes between calls.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    next_token: Option<&str>,
    max_results: Option<i64>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = match max_results {
        None => MAX_PAGE,
        Some(n) if (1..=MAX_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "MaxResults is {n}; it must be 1 to {MAX_PAGE}"
            )));
        }
    } as usize;
    let after = next_token.map(decode_token).transpose()?;
    let mut rest = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|after| key(item) > *after));
    let chosen: Vec<T> = rest.by_ref().take(size).collect();
    let token = match (rest.next(), chosen.last()) {
        (Some(_), Some(last)) => Some(encode_token(&key(last))),
        _ => None,
    };
    Ok((chosen, token))
}

const TOKEN_PREFIX: &str = "c1";

fn encode_token(key: &str) -> String {
    let mut token = String::from(TOKEN_PREFIX);
    for byte in key.bytes() {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

fn decode_token(token: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::invalid("NextToken is not a token this server gave out");
    let hex = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| invalid()))
        .collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// The sort key of things listed oldest first.
fn age_key(created_at: Millis, id: &str) -> String {
    format!("{created_at:020}/{id}")
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Eq,
    BeginsWith,
    In,
    Between,
}

/// Checks a filter against the names and conditions a call allows.
fn condition(filter: &Filter, allowed: &[(&str, &[Condition])]) -> Result<Condition, ApiError> {
    let Some((_, conditions)) = allowed.iter().find(|(name, _)| *name == filter.name) else {
        let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
        return Err(ApiError::invalid(format!(
            "Filters: '{}' is not a filter name here; use one of {}",
            filter.name,
            names.join(", ")
        )));
    };
    let condition = match filter.condition.as_deref().unwrap_or("EQ") {
        "EQ" => Condition::Eq,
        "BEGINS_WITH" => Condition::BeginsWith,
        "IN" => Condition::In,
        "BETWEEN" => Condition::Between,
        other => {
            return Err(ApiError::invalid(format!(
                "Filters: '{other}' is not a condition; use EQ, BEGINS_WITH, IN or BETWEEN"
            )));
        }
    };
    if !conditions.contains(&condition) {
        return Err(ApiError::invalid(format!(
            "Filters: condition {:?} is not allowed for {}",
            filter.condition.as_deref().unwrap_or("EQ"),
            filter.name
        )));
    }
    if filter.values.is_empty() {
        return Err(ApiError::invalid(format!(
            "Filters: {} has no Values",
            filter.name
        )));
    }
    Ok(condition)
}

/// Whether `text` passes an EQ/IN/BEGINS_WITH filter.
fn text_matches(condition: Condition, values: &[String], text: &str) -> bool {
    match condition {
        Condition::BeginsWith => values.iter().any(|value| text.starts_with(value.as_str())),
        _ => values.iter().any(|value| value == text),
    }
}
