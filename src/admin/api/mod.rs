//! The admin API's contract: Cloud Map's request and response shapes
//! (awsJson1_1, PascalCase members), shared by the server and the CLI's
//! client so the two cannot drift apart.
//!
//! Unknown members in a request are ignored, as Cloud Map ignores them, so
//! newer SDKs that send more keep working. Timestamps are epoch seconds with
//! millisecond precision. Everything here is plain data: no registry types,
//! no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod discovery;
mod instances;
mod namespaces;
mod operations;
mod server;
mod service_attributes;
mod services;

pub use discovery::*;
pub use instances::*;
pub use namespaces::*;
pub use operations::*;
pub use server::*;
pub use service_attributes::*;
pub use services::*;

/// The `X-Amz-Target` prefix; the action name follows it.
pub const TARGET_PREFIX: &str = "Route53AutoNaming_v20170314.";
/// The content type Cloud Map's SDKs send and expect.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Instance attributes and DiscoverInstances parameters: key → value.
pub type Attributes = BTreeMap<String, String>;

/// Epoch seconds with millisecond precision, as Cloud Map sends them.
pub type Timestamp = f64;

/// An error body: `{"__type": "ServiceNotFound", "Message": "..."}` plus
/// the members Cloud Map adds to some errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    #[serde(rename = "__type")]
    pub kind: String,
    #[serde(alias = "message", default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_operation_id: Option<String>,
}

impl ErrorBody {
    /// The error name without a Smithy namespace (`com.amazonaws…#X` → `X`).
    pub fn code(&self) -> &str {
        self.kind.rsplit('#').next().unwrap_or(&self.kind)
    }
}

/// A response with no members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

/// The answer of every call Cloud Map runs as an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationResponse {
    pub operation_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A List call's filter. `Condition` defaults to EQ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// The paging members every List call takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<Filter>>,
}

/// Requests that name one resource by `Id` (an id or an ARN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdRequest {
    pub id: String,
}
