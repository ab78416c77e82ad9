//! GetServiceAttributes, UpdateServiceAttributes, DeleteServiceAttributes:
//! a service's key → value map, changed through the write front like tags.

use crate::admin::account::Context;
use crate::admin::api;
use crate::admin::error::ApiError;
use crate::registry::Registry;
use crate::writer::Writer;

pub fn get(
    registry: &Registry,
    cx: Context<'_>,
    request: api::ServiceIdRequest,
) -> Result<api::GetServiceAttributesResponse, ApiError> {
    let service = registry.get_service(&request.service_id)?;
    Ok(api::GetServiceAttributesResponse {
        service_attributes: api::ServiceAttributes {
            service_arn: cx.service_arn(&service),
            resource_owner: Some(cx.owner()),
            attributes: service.attributes,
        },
    })
}

pub async fn update(
    writer: &Writer,
    request: api::UpdateServiceAttributesRequest,
) -> Result<api::Empty, ApiError> {
    writer
        .update_service_attributes(&request.service_id, request.attributes)
        .await?;
    Ok(api::Empty {})
}

pub async fn delete(
    writer: &Writer,
    request: api::DeleteServiceAttributesRequest,
) -> Result<api::Empty, ApiError> {
    writer
        .delete_service_attributes(&request.service_id, request.attributes)
        .await?;
    Ok(api::Empty {})
}
