//! The API's error answers: a status code and Cloud Map's error body. Every
//! registry error is a client error (400) with the same name Cloud Map uses;
//! only a real fault of the server is a 5xx.

use hyper::StatusCode;

use super::api::ErrorBody;
use super::sigv4::AuthError;
use crate::registry::RegistryError;

/// One error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel through every handler's `Result`.
    pub body: Box<ErrorBody>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                kind: kind.to_string(),
                message: message.into(),
                ..ErrorBody::default()
            }),
        }
    }

    /// 400 InvalidInput: a value is missing, malformed or out of range.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    /// 400 UnknownOperationException, as AWS answers an unknown target.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            message,
        )
    }

    /// 413: the body is over `admin.max_body_bytes`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!(
                "the request body is over {limit} bytes, the limit set by admin.max_body_bytes"
            ),
        )
    }

    /// 408: the body did not arrive within `admin.body_read_timeout_secs`.
    pub fn body_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "the request body did not arrive within {limit:?}, the limit set by admin.body_read_timeout_secs"
            ),
        )
    }

    /// 405: only POST carries an action.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} is not accepted; send POST / with X-Amz-Target, or POST /<Action>"),
        )
    }

    /// 400 AccessDeniedException: the caller's key is scoped (read-only,
    /// or to other namespaces) and may not do this.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "AccessDeniedException", message)
    }

    /// 500: the server failed, not the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, error.code(), error.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        // A store that cannot save is the server's fault, not the request's.
        let status = match error {
            RegistryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut api = Self::new(status, error.code(), error.to_string());
        match error {
            RegistryError::NamespaceAlreadyExists {
                namespace_id,
                creator_request_id,
                ..
            } => {
                api.body.namespace_id = Some(namespace_id);
                api.body.creator_request_id = creator_request_id;
            }
            RegistryError::ServiceAlreadyExists {
                service_id,
                creator_request_id,
                ..
            } => {
                // The ARN needs the account and region: the action adds it.
                api.body.service_id = Some(service_id);
                api.body.creator_request_id = creator_request_id;
            }
            RegistryError::DuplicateRequest { operation_id, .. } => {
                api.body.duplicate_operation_id = operation_id;
            }
            _ => {}
        }
        api
    }
}
