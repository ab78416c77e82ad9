//! RegisterInstance, DeregisterInstance, GetInstance, ListInstances,
//! UpdateInstanceCustomHealthStatus, GetInstancesHealthStatus.

use super::page;
use crate::admin::account::Context;
use crate::admin::api::{self, InstanceRequest};
use crate::admin::error::ApiError;
use crate::registry::{self, HealthStatus, InstanceRegistration, Registry};
use crate::writer::Writer;

fn shape(instance: registry::Instance, cx: Context<'_>) -> api::Instance {
    api::Instance {
        id: instance.id,
        creator_request_id: instance.creator_request_id.map(Into::into),
        attributes: instance.attributes.to_map(),
        created_by_account: Some(cx.owner()),
    }
}

pub async fn register(
    writer: &Writer,
    request: api::RegisterInstanceRequest,
) -> Result<api::OperationResponse, ApiError> {
    let operation_id = writer
        .register_instance(InstanceRegistration {
            service_id: request.service_id,
            instance_id: request.instance_id,
            attributes: request.attributes,
            creator_request_id: request.creator_request_id,
        })
        .await?;
    Ok(api::OperationResponse { operation_id })
}

pub async fn deregister(
    writer: &Writer,
    request: InstanceRequest,
) -> Result<api::OperationResponse, ApiError> {
    let operation_id = writer
        .deregister_instance(&request.service_id, &request.instance_id)
        .await?;
    Ok(api::OperationResponse { operation_id })
}

pub fn get(
    registry: &Registry,
    cx: Context<'_>,
    request: InstanceRequest,
) -> Result<api::GetInstanceResponse, ApiError> {
    let instance = registry.get_instance(&request.service_id, &request.instance_id)?;
    Ok(api::GetInstanceResponse {
        instance: shape(instance, cx),
    })
}

pub fn list(
    registry: &Registry,
    cx: Context<'_>,
    request: api::ListInstancesRequest,
) -> Result<api::ListInstancesResponse, ApiError> {
    let mut instances = registry.list_instances(&request.service_id)?;
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    let (chosen, next_token) = page(
        instances,
        |instance| instance.id.clone(),
        request.next_token.as_deref(),
        request.max_results,
    )?;
    Ok(api::ListInstancesResponse {
        resource_owner: Some(cx.owner()),
        instances: chosen
            .into_iter()
            .map(|instance| shape(instance, cx))
            .collect(),
        next_token,
    })
}

pub async fn set_health(
    writer: &Writer,
    request: api::UpdateInstanceCustomHealthStatusRequest,
) -> Result<api::Empty, ApiError> {
    let status = match request.status {
        api::CustomHealthStatus::Healthy => HealthStatus::Healthy,
        api::CustomHealthStatus::Unhealthy => HealthStatus::Unhealthy,
    };
    writer
        .set_health(&request.service_id, &request.instance_id, status, true)
        .await?;
    Ok(api::Empty {})
}

/// cairn's `Heartbeat`: the instance is alive (and so HEALTHY).
pub async fn heartbeat(writer: &Writer, request: InstanceRequest) -> Result<api::Empty, ApiError> {
    writer
        .heartbeat(&request.service_id, &request.instance_id)
        .await?;
    Ok(api::Empty {})
}

pub fn health(
    registry: &Registry,
    request: api::GetInstancesHealthStatusRequest,
) -> Result<api::GetInstancesHealthStatusResponse, ApiError> {
    if request.instances.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::invalid(
            "Instances must name at least one instance; leave it out for all",
        ));
    }
    let mut statuses =
        registry.health_statuses(&request.service_id, request.instances.as_deref())?;
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    statuses.dedup_by(|a, b| a.0 == b.0);
    let (chosen, next_token) = page(
        statuses,
        |(id, _)| id.clone(),
        request.next_token.as_deref(),
        request.max_results,
    )?;
    Ok(api::GetInstancesHealthStatusResponse {
        status: chosen
            .into_iter()
            .map(|(id, status)| (id, status.as_str().to_string()))
            .collect(),
        next_token,
    })
}
