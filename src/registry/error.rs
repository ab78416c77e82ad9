//! The registry's typed errors, named as Cloud Map names them so the admin
//! API can answer with the same `__type` a Cloud Map client expects.

use thiserror::Error;

/// Why a registry call was refused. Every variant leaves the registry
/// untouched: validation runs completely before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// A value is missing, malformed, out of range or an illegal combination.
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NamespaceNotFound(String),
    #[error("{0}")]
    ServiceNotFound(String),
    #[error("{0}")]
    InstanceNotFound(String),
    #[error("{0}")]
    OperationNotFound(String),
    /// A namespace with this name exists already.
    #[error("{message}")]
    NamespaceAlreadyExists {
        message: String,
        namespace_id: String,
        creator_request_id: Option<String>,
    },
    /// A service with this name exists already in the namespace.
    #[error("{message}")]
    ServiceAlreadyExists {
        message: String,
        service_id: String,
        creator_request_id: Option<String>,
    },
    /// The resource still holds others (a namespace its services, a service
    /// its instances).
    #[error("{0}")]
    ResourceInUse(String),
    /// A request token was reused for a different request.
    #[error("{message}")]
    DuplicateRequest {
        message: String,
        operation_id: Option<String>,
    },
    #[error("{0}")]
    ResourceLimitExceeded(String),
    /// UpdateInstanceCustomHealthStatus on a service without a custom check.
    #[error("{0}")]
    CustomHealthNotFound(String),
    /// A tag call named an ARN that names nothing.
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    TooManyTags(String),
    /// A service would carry more than 30 attributes.
    #[error("{0}")]
    ServiceAttributesLimitExceeded(String),
    /// The server could not do its part (the store failed to save a
    /// change); nothing was changed.
    #[error("{0}")]
    Internal(String),
}

impl RegistryError {
    /// The Cloud Map error name (`__type` in the API's error body).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "InvalidInput",
            Self::NamespaceNotFound(_) => "NamespaceNotFound",
            Self::ServiceNotFound(_) => "ServiceNotFound",
            Self::InstanceNotFound(_) => "InstanceNotFound",
            Self::OperationNotFound(_) => "OperationNotFound",
            Self::NamespaceAlreadyExists { .. } => "NamespaceAlreadyExists",
            Self::ServiceAlreadyExists { .. } => "ServiceAlreadyExists",
            Self::ResourceInUse(_) => "ResourceInUse",
            Self::DuplicateRequest { .. } => "DuplicateRequest",
            Self::ResourceLimitExceeded(_) => "ResourceLimitExceeded",
            Self::CustomHealthNotFound(_) => "CustomHealthNotFound",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::TooManyTags(_) => "TooManyTagsException",
            Self::ServiceAttributesLimitExceeded(_) => "ServiceAttributesLimitExceededException",
            Self::Internal(_) => "InternalFailure",
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }
}

/// Shorthand for registry results.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
