//! Names to ids: namespaces and services may be given by id, ARN or name
//! (`svc.internal`, and `web.svc.internal` for service `web` in namespace
//! `svc.internal`). Names are resolved with the List calls.

use crate::admin::api::{self, Filter, ListRequest};
use crate::admin::client::{Client, ClientError};

fn not_found(kind: &str, message: String) -> ClientError {
    ClientError::Api {
        status: 400,
        body: Box::new(api::ErrorBody {
            kind: kind.to_string(),
            message,
            ..api::ErrorBody::default()
        }),
    }
}

fn looks_like_id(reference: &str, prefix: &str) -> bool {
    reference.starts_with("arn:")
        || reference
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn is_not_found(error: &ClientError) -> bool {
    error.code().ends_with("NotFound")
}

/// Every namespace, through all pages.
pub async fn namespaces(client: &Client) -> Result<Vec<api::Namespace>, ClientError> {
    let mut all = Vec::new();
    let mut request = ListRequest::default();
    loop {
        let page: api::ListNamespacesResponse = client.call("ListNamespaces", &request).await?;
        all.extend(page.namespaces);
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => return Ok(all),
        }
    }
}

/// Every service, or those of one namespace, through all pages.
pub async fn services(
    client: &Client,
    namespace_id: Option<&str>,
) -> Result<Vec<api::Service>, ClientError> {
    let mut all = Vec::new();
    let mut request = ListRequest {
        filters: namespace_id.map(|id| {
            vec![Filter {
                name: "NAMESPACE_ID".to_string(),
                values: vec![id.to_string()],
                condition: Some("EQ".to_string()),
            }]
        }),
        ..ListRequest::default()
    };
    loop {
        let page: api::ListServicesResponse = client.call("ListServices", &request).await?;
        all.extend(page.services);
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => return Ok(all),
        }
    }
}

/// A namespace by id, ARN or name.
pub async fn namespace(client: &Client, reference: &str) -> Result<api::Namespace, ClientError> {
    if looks_like_id(reference, "ns-") {
        let request = api::IdRequest {
            id: reference.to_string(),
        };
        match client
            .call::<_, api::GetNamespaceResponse>("GetNamespace", &request)
            .await
        {
            Ok(found) => return Ok(found.namespace),
            Err(error) if is_not_found(&error) => {}
            Err(error) => return Err(error),
        }
    }
    let name = reference.trim_end_matches('.');
    namespaces(client)
        .await?
        .into_iter()
        .find(|ns| ns.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            not_found(
                "NamespaceNotFound",
                format!("no namespace with id or name '{reference}'"),
            )
        })
}

/// Splits `web.svc.internal` into the namespace (the longest known
/// namespace name it ends with) and the service name before it.
pub async fn split(
    client: &Client,
    reference: &str,
) -> Result<(api::Namespace, String), ClientError> {
    let reference = reference.trim_end_matches('.');
    let lower = reference.to_ascii_lowercase();
    namespaces(client)
        .await?
        .into_iter()
        .filter_map(|ns| {
            let suffix = format!(".{}", ns.name.to_ascii_lowercase());
            let service = lower.strip_suffix(&suffix).map(|s| reference[..s.len()].to_string())?;
            (!service.is_empty()).then_some((ns, service))
        })
        .max_by_key(|(ns, _)| ns.name.len())
        .ok_or_else(|| {
            not_found(
                "NamespaceNotFound",
                format!("'{reference}' is not SERVICE.NAMESPACE for any namespace; see `cairn namespace list`"),
            )
        })
}

/// A service by id, ARN or `SERVICE.NAMESPACE`; also returns how to show it.
pub async fn service(client: &Client, reference: &str) -> Result<api::Service, ClientError> {
    if looks_like_id(reference, "srv-") {
        let request = api::IdRequest {
            id: reference.to_string(),
        };
        match client
            .call::<_, api::ServiceResponse>("GetService", &request)
            .await
        {
            Ok(found) => return Ok(found.service),
            Err(error) if is_not_found(&error) => {}
            Err(error) => return Err(error),
        }
    }
    let (namespace, name) = split(client, reference).await?;
    services(client, Some(&namespace.id))
        .await?
        .into_iter()
        .find(|service| service.name.eq_ignore_ascii_case(&name))
        .ok_or_else(|| {
            not_found(
                "ServiceNotFound",
                format!(
                    "no service named '{name}' in namespace '{}'",
                    namespace.name
                ),
            )
        })
}
