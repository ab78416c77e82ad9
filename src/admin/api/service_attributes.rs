//! GetServiceAttributes, UpdateServiceAttributes, DeleteServiceAttributes.

use serde::{Deserialize, Serialize};

use super::Attributes;

/// GetServiceAttributes. `ServiceId` is an id or an ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceIdRequest {
    pub service_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAttributes {
    pub service_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_owner: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServiceAttributesResponse {
    pub service_attributes: ServiceAttributes,
}

/// UpdateServiceAttributes: these keys are set (1 to 30).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateServiceAttributesRequest {
    pub service_id: String,
    pub attributes: Attributes,
}

/// DeleteServiceAttributes: these keys are removed (1 to 30).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteServiceAttributesRequest {
    pub service_id: String,
    pub attributes: Vec<String>,
}
