//! DiscoverInstances and DiscoverInstancesRevision: instances found by
//! namespace and service *names*, filtered by attributes and health.

use serde::{Deserialize, Serialize};

use super::Attributes;

/// DiscoverInstances' `HealthStatus` filter (HEALTHY when left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthStatusFilter {
    #[serde(rename = "HEALTHY")]
    Healthy,
    #[serde(rename = "UNHEALTHY")]
    Unhealthy,
    #[serde(rename = "ALL")]
    All,
    #[serde(rename = "HEALTHY_OR_ELSE_ALL")]
    HealthyOrElseAll,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesRequest {
    pub namespace_name: String,
    pub service_name: String,
    /// 1 to 1000; 100 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    /// Every pair must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_parameters: Option<Attributes>,
    /// Applied when some instances match them, ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_parameters: Option<Attributes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatusFilter>,
    /// Accepted for compatibility; cairn has one owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpInstanceSummary {
    pub instance_id: String,
    pub namespace_name: String,
    pub service_name: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN.
    pub health_status: String,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesResponse {
    pub instances: Vec<HttpInstanceSummary>,
    pub instances_revision: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesRevisionRequest {
    pub namespace_name: String,
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesRevisionResponse {
    pub instances_revision: u64,
}
