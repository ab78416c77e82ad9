//! One HTTP request in, one response out: finds the action (from
//! `X-Amz-Target` or the path), reads the body under the size limit, runs
//! the action, and writes Cloud Map's JSON answer or error.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::access::Access;
use super::account::{Account, Context};
use super::actions;
use super::api::{CONTENT_TYPE as AMZ_JSON, TARGET_PREFIX};
use super::error::ApiError;
use super::{scope, sigv4};
use crate::control::Control;
use crate::registry::validate;
use crate::writer::Writer;

/// What a request body may cost: its size, and the time from its headers
/// to its last byte (`admin.max_body_bytes`, `admin.body_read_timeout_secs`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// One deadline for the whole body, not a timeout per read: a client
    /// trickling a byte at a time is cut off all the same.
    pub read_timeout: Duration,
}

/// What a listener answers by: who may call, and the account its answers
/// speak for.
#[derive(Debug)]
pub struct Rules {
    pub access: Access,
    pub account: Account,
}

/// Answers one request. Never fails: every problem becomes an error body.
pub async fn handle(
    request: Request<Incoming>,
    writer: Writer,
    control: Control,
    limits: BodyLimits,
    rules: Arc<Rules>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = request_id();
    let started = std::time::Instant::now();
    let label = action(&request).map_or("other", |action| action_label(&action));
    let outcome = answer(
        request,
        &writer,
        &control,
        limits,
        &rules.access,
        &rules.account,
    )
    .await;
    let response = match outcome {
        Ok((action, body)) => {
            tracing::debug!(%action, %request_id, "admin request done");
            respond(StatusCode::OK, body, &request_id)
        }
        Err(error) => {
            if error.status.is_server_error() {
                tracing::warn!(code = %error.body.kind, message = %error.body.message, %request_id, "admin request failed");
            } else {
                tracing::debug!(code = %error.body.kind, message = %error.body.message, %request_id, "admin request refused");
            }
            let body = serde_json::to_vec(&error.body).unwrap_or_else(|_| b"{}".to_vec());
            let mut response = respond(error.status, body, &request_id);
            if let Ok(kind) = HeaderValue::from_str(&error.body.kind) {
                response.headers_mut().insert("x-amzn-errortype", kind);
            }
            if matches!(
                error.status,
                StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
            ) {
                // The rest of the body was not read; the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    };
    crate::metrics::events().admin_request(label, response.status().as_u16(), started.elapsed());
    Ok(response)
}

/// The actions counted by name in the metrics; any other is `other`, so a
/// client cannot make up labels.
const COUNTED_ACTIONS: &[&str] = &[
    "CreatePrivateDnsNamespace",
    "CreatePublicDnsNamespace",
    "CreateHttpNamespace",
    "GetNamespace",
    "ListNamespaces",
    "UpdatePrivateDnsNamespace",
    "UpdatePublicDnsNamespace",
    "UpdateHttpNamespace",
    "DeleteNamespace",
    "CreateService",
    "GetService",
    "ListServices",
    "UpdateService",
    "DeleteService",
    "RegisterInstance",
    "DeregisterInstance",
    "GetInstance",
    "ListInstances",
    "UpdateInstanceCustomHealthStatus",
    "GetInstancesHealthStatus",
    "Heartbeat",
    "DiscoverInstances",
    "DiscoverInstancesRevision",
    "GetOperation",
    "ListOperations",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "GetServiceAttributes",
    "UpdateServiceAttributes",
    "DeleteServiceAttributes",
    "GetServerStatus",
    "ReloadServer",
];

fn action_label(action: &str) -> &'static str {
    COUNTED_ACTIONS
        .iter()
        .find(|known| **known == action)
        .copied()
        .unwrap_or("other")
}

async fn answer(
    request: Request<Incoming>,
    writer: &Writer,
    control: &Control,
    limits: BodyLimits,
    access: &Access,
    account: &Account,
) -> Result<(String, Vec<u8>), ApiError> {
    let max_body_bytes = limits.max_bytes;
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed(request.method().as_str()));
    }
    // An unknown action is named only to a caller who authenticated.
    let action = action(&request);
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body_bytes as u64) {
        return Err(ApiError::too_large(max_body_bytes));
    }
    let (parts, body) = request.into_parts();
    let body = tokio::time::timeout(
        limits.read_timeout,
        Limited::new(body, max_body_bytes).collect(),
    )
    .await
    .map_err(|_| ApiError::body_timeout(limits.read_timeout))?
    .map_err(|error| {
        if error.downcast_ref::<LengthLimitError>().is_some() {
            ApiError::too_large(max_body_bytes)
        } else {
            ApiError::invalid(format!("cannot read the request body: {error}"))
        }
    })?
    .to_bytes();
    // The signature covers the body, so it is checked once the body is in;
    // a refused caller has run nothing.
    let caller = access.authenticate(&parts, &body)?;
    let action = action?;
    let limited = match (&caller.signer, &caller.scope.namespaces) {
        (Some(signer), namespaces) => {
            caller.scope.check_action(&action, &signer.access_key_id)?;
            namespaces
                .as_deref()
                .map(|allowed| (allowed, signer.access_key_id.as_str()))
        }
        (None, _) => None,
    };
    if let Some((allowed, key)) = limited {
        scope::check(allowed, key, &action, &body, writer.registry())?;
    }
    let region = match &caller.signer {
        Some(signer) => signer.region.as_str(),
        // Unverified, so only a region fit for an ARN is taken from it.
        None => parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(sigv4::scope_region)
            .filter(|region| validate::region(Some(region)).is_ok())
            .unwrap_or(&account.default_region),
    };
    let context = Context { account, region };
    let mut response = actions::dispatch(writer, control, context, &action, &body).await?;
    if let Some((allowed, key)) = limited {
        response = scope::filter(allowed, key, &action, response, writer.registry())?;
    }
    Ok((action, response))
}

/// The action named by `X-Amz-Target: Route53AutoNaming_v20170314.<Action>`
/// or, without that header, by the path `/<Action>`.
fn action(request: &Request<Incoming>) -> Result<String, ApiError> {
    if let Some(target) = request.headers().get("x-amz-target") {
        let target = target
            .to_str()
            .map_err(|_| ApiError::unknown_operation("X-Amz-Target is not ASCII text"))?;
        return target
            .strip_prefix(TARGET_PREFIX)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::unknown_operation(format!(
                    "X-Amz-Target '{target}' is not '{TARGET_PREFIX}<Action>'"
                ))
            });
    }
    let path = request.uri().path().trim_start_matches('/');
    if path.is_empty() {
        return Err(ApiError::unknown_operation(format!(
            "no action named: send X-Amz-Target: {TARGET_PREFIX}<Action>, or POST /<Action>"
        )));
    }
    Ok(path.to_string())
}

fn respond(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// A request id shaped like AWS's (a UUID's layout), for matching logs.
/// One random number and one allocation: this runs for every request, and
/// the per-digit version was 1.2 % of cairn's CPU under 64 registering
/// clients (perf, 2026-12-03).
fn request_id() -> String {
    let n = fastrand::u128(..);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (n >> 96) as u32,
        (n >> 80) as u16,
        (n >> 64) as u16,
        (n >> 48) as u16,
        n & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_id_has_a_uuids_layout_in_lowercase_hex() {
        for _ in 0..1000 {
            let id = super::request_id();
            let groups: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(
                groups.iter().all(|group| group
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
                "{id}"
            );
        }
        assert_ne!(super::request_id(), super::request_id());
    }
}
