//! GetOperation, ListOperations, and the tag calls (TagResource,
//! UntagResource, ListTagsForResource).

use super::namespaces::tags as tag_map;
use super::{Condition, age_key, condition, page, text_matches, timestamp};
use crate::admin::api::{self, ListRequest};
use crate::admin::error::ApiError;
use crate::registry::{self, Registry, id_from_arn};
use crate::writer::Writer;

fn shape(operation: registry::Operation) -> api::Operation {
    let targets = [
        ("NAMESPACE", operation.namespace_id),
        ("SERVICE", operation.service_id),
        ("INSTANCE", operation.instance_id),
    ]
    .into_iter()
    .filter_map(|(key, id)| id.map(|id| (key.to_string(), id)))
    .collect();
    api::Operation {
        id: operation.id,
        kind: operation.kind.as_str().to_string(),
        status: operation.status.as_str().to_string(),
        error_message: operation.error_message,
        error_code: operation.error_code,
        create_date: timestamp(operation.created_at),
        update_date: timestamp(operation.updated_at),
        targets,
    }
}

pub fn get(
    registry: &Registry,
    request: api::GetOperationRequest,
) -> Result<api::GetOperationResponse, ApiError> {
    Ok(api::GetOperationResponse {
        operation: shape(registry.get_operation(&request.operation_id)?),
    })
}

/// `UPDATE_DATE BETWEEN [start, end]`, in epoch seconds.
fn between(values: &[String]) -> Result<(f64, f64), ApiError> {
    let parse = |text: &String| {
        text.parse::<f64>().map_err(|_| {
            ApiError::invalid(format!(
                "Filters: UPDATE_DATE value '{text}' is not a time in epoch seconds"
            ))
        })
    };
    match values {
        [start, end] => Ok((parse(start)?, parse(end)?)),
        _ => Err(ApiError::invalid(
            "Filters: UPDATE_DATE BETWEEN takes two Values, a start and an end in epoch seconds",
        )),
    }
}

pub fn list(
    registry: &Registry,
    request: ListRequest,
) -> Result<api::ListOperationsResponse, ApiError> {
    use Condition::{Between, Eq, In};
    let allowed: &[(&str, &[Condition])] = &[
        ("NAMESPACE_ID", &[Eq]),
        ("SERVICE_ID", &[Eq]),
        ("STATUS", &[Eq, In]),
        ("TYPE", &[Eq, In]),
        ("UPDATE_DATE", &[Between]),
    ];
    let mut operations = registry.list_operations();
    for filter in request.filters.unwrap_or_default() {
        let how = condition(&filter, allowed)?;
        let ids: Vec<String> = filter
            .values
            .iter()
            .map(|v| id_from_arn(v).to_string())
            .collect();
        match filter.name.as_str() {
            "NAMESPACE_ID" => operations
                .retain(|op| text_matches(how, &ids, op.namespace_id.as_deref().unwrap_or(""))),
            "SERVICE_ID" => operations
                .retain(|op| text_matches(how, &ids, op.service_id.as_deref().unwrap_or(""))),
            "STATUS" => {
                operations.retain(|op| text_matches(how, &filter.values, op.status.as_str()))
            }
            "TYPE" => operations.retain(|op| text_matches(how, &filter.values, op.kind.as_str())),
            _ => {
                let (start, end) = between(&filter.values)?;
                operations.retain(|op| (start..=end).contains(&timestamp(op.updated_at)));
            }
        }
    }
    let key = |op: &registry::Operation| age_key(op.created_at, &op.id);
    operations.sort_by_key(key);
    let (chosen, next_token) = page(
        operations,
        key,
        request.next_token.as_deref(),
        request.max_results,
    )?;
    Ok(api::ListOperationsResponse {
        operations: chosen
            .into_iter()
            .map(|op| api::OperationSummary {
                id: op.id,
                status: op.status.as_str().to_string(),
            })
            .collect(),
        next_token,
    })
}

pub async fn tag(
    writer: &Writer,
    request: api::TagResourceRequest,
) -> Result<api::Empty, ApiError> {
    writer
        .retag(
            &request.resource_arn,
            tag_map(Some(request.tags)),
            Vec::new(),
        )
        .await?;
    Ok(api::Empty {})
}

pub async fn untag(
    writer: &Writer,
    request: api::UntagResourceRequest,
) -> Result<api::Empty, ApiError> {
    writer
        .retag(&request.resource_arn, Default::default(), request.tag_keys)
        .await?;
    Ok(api::Empty {})
}

pub fn tags(
    registry: &Registry,
    request: api::ListTagsForResourceRequest,
) -> Result<api::ListTagsForResourceResponse, ApiError> {
    let tags = registry.tags(&request.resource_arn)?;
    Ok(api::ListTagsForResourceResponse {
        tags: tags
            .into_iter()
            .map(|(key, value)| api::Tag { key, value })
            .collect(),
    })
}
