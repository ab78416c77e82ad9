//! DiscoverInstances and DiscoverInstancesRevision.

use crate::admin::api;
use crate::admin::error::ApiError;
use crate::registry::{DiscoverQuery, HealthFilter, Registry};

/// DiscoverInstances' MaxResults: 1 to 1000, 100 by default. There is no
/// paging: with more matches the caller gets a random subset.
const MAX_DISCOVERED: i64 = 1000;
const DEFAULT_DISCOVERED: usize = 100;

pub fn discover(
    registry: &Registry,
    request: api::DiscoverInstancesRequest,
) -> Result<api::DiscoverInstancesResponse, ApiError> {
    let max_results = match request.max_results {
        None => DEFAULT_DISCOVERED,
        Some(n) if (1..=MAX_DISCOVERED).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "MaxResults is {n}; it must be 1 to {MAX_DISCOVERED}"
            )));
        }
    };
    let health = match request.health_status {
        None | Some(api::HealthStatusFilter::Healthy) => HealthFilter::Healthy,
        Some(api::HealthStatusFilter::Unhealthy) => HealthFilter::Unhealthy,
        Some(api::HealthStatusFilter::All) => HealthFilter::All,
        Some(api::HealthStatusFilter::HealthyOrElseAll) => HealthFilter::HealthyOrElseAll,
    };
    let found = registry.discover(&DiscoverQuery {
        namespace_name: request.namespace_name,
        service_name: request.service_name,
        query_parameters: request.query_parameters.unwrap_or_default(),
        optional_parameters: request.optional_parameters.unwrap_or_default(),
        health,
        max_results,
    })?;
    Ok(api::DiscoverInstancesResponse {
        instances: found
            .instances
            .into_iter()
            .map(|instance| api::HttpInstanceSummary {
                instance_id: instance.id,
                namespace_name: found.namespace_name.clone(),
                service_name: found.service_name.clone(),
                health_status: instance.health.as_str().to_string(),
                attributes: instance.attributes.to_map(),
            })
            .collect(),
        instances_revision: found.revision,
    })
}

pub fn revision(
    registry: &Registry,
    request: api::DiscoverInstancesRevisionRequest,
) -> Result<api::DiscoverInstancesRevisionResponse, ApiError> {
    let instances_revision =
        registry.revision_by_name(&request.namespace_name, &request.service_name)?;
    Ok(api::DiscoverInstancesRevisionResponse { instances_revision })
}
