//! Who cairn answers as: the account id and the regions that go into ARNs
//! (`arn:aws:servicediscovery:<region>:<account>:<kind>/<id>`),
//! `ResourceOwner` and `CreatedByAccount`. A namespace or service keeps the
//! region it was created in; the account is the server's, so changing
//! `api.account_id` changes every ARN at once.

use crate::config::ApiConfig;
use crate::registry;

/// The account this server is, and the region of unsigned requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12 digits (`api.account_id`).
    pub id: String,
    /// `api.region`: for requests without a signature, and for resources
    /// stored before cairn kept their region.
    pub default_region: String,
}

impl From<&ApiConfig> for Account {
    fn from(config: &ApiConfig) -> Self {
        Self {
            id: config.account_id.clone(),
            default_region: config.region.clone(),
        }
    }
}

/// One request's view of the account: what its answers say and the region
/// what it creates is created in.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub account: &'a Account,
    /// The verified signature's region; on the socket, the credential
    /// scope's when the request carries one, else the default.
    pub region: &'a str,
}

impl Context<'_> {
    /// The ARN of a namespace (`kind` "namespace") or service ("service")
    /// created in `region` (`None`: before regions were kept).
    pub fn arn(&self, region: Option<&str>, kind: &str, id: &str) -> String {
        let region = region.unwrap_or(&self.account.default_region);
        format!(
            "arn:aws:servicediscovery:{region}:{}:{kind}/{id}",
            self.account.id
        )
    }

    pub fn namespace_arn(&self, namespace: &registry::Namespace) -> String {
        self.arn(namespace.region.as_deref(), "namespace", &namespace.id)
    }

    pub fn service_arn(&self, service: &registry::Service) -> String {
        self.arn(service.region.as_deref(), "service", &service.id)
    }

    /// `ResourceOwner` and `CreatedByAccount`: one account owns everything.
    pub fn owner(&self) -> String {
        self.account.id.clone()
    }

    /// The region to store with a new namespace or service.
    pub fn new_region(&self) -> Option<String> {
        Some(self.region.to_string())
    }
}
