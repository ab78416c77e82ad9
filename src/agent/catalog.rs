//! cairn's side as the agent sees it: services found by `SERVICE.NAMESPACE`
//! (created when a container asks and the namespace exists), the
//! instances this host owns, and the calls that carry out a plan.

use std::collections::HashMap;

use crate::admin::api::{
    self, Attributes, CustomHealthStatus, DnsConfig, DnsRecord, Filter, HealthCheckCustomConfig,
    Instance, InstanceRequest, ListRequest, RegisterInstanceRequest, RoutingPolicy,
    UpdateInstanceCustomHealthStatusRequest,
};

use super::client::{Api, CallError};
use super::labels::{OWNER_ATTR, ServiceTemplate};
use super::reconcile::Registered;

/// What the agent needs of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub id: String,
    /// It has HealthCheckCustomConfig, so custom health updates apply.
    pub custom_health: bool,
}

/// Why a container's service cannot be used.
#[derive(Debug)]
pub enum Lookup {
    /// The service or its namespace does not exist, or cannot be made:
    /// the container's problem, logged once.
    Unusable(String),
    /// cairn could not be asked.
    Failed(CallError),
}

impl From<CallError> for Lookup {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Refused { code, message } => Self::Unusable(format!("{code}: {message}")),
            other => Self::Failed(other),
        }
    }
}

/// One listing of cairn's namespaces and services, looked up by name.
#[derive(Debug, Default)]
pub struct Services {
    namespaces: Vec<api::Namespace>,
    /// Lower-case `service.namespace` → the service.
    by_name: HashMap<String, ServiceInfo>,
}

impl Services {
    /// Lists every namespace and service.
    pub async fn load(api: &Api) -> Result<Self, CallError> {
        let namespaces = list_namespaces(api).await?;
        let mut by_name = HashMap::new();
        for namespace in &namespaces {
            for service in list_services(api, &namespace.id).await? {
                let key = format!("{}.{}", service.name, namespace.name).to_ascii_lowercase();
                by_name.insert(key, info(&service));
            }
        }
        Ok(Self {
            namespaces,
            by_name,
        })
    }

    pub fn ids(&self) -> impl Iterator<Item = &ServiceInfo> {
        self.by_name.values()
    }

    /// The service `reference` names, created from `create` when missing
    /// (never its namespace).
    pub async fn resolve(
        &mut self,
        api: &Api,
        reference: &str,
        create: Option<&ServiceTemplate>,
        host: &str,
    ) -> Result<ServiceInfo, Lookup> {
        let key = reference.to_ascii_lowercase();
        if let Some(found) = self.by_name.get(&key) {
            return Ok(found.clone());
        }
        // Not in this listing: it may have been created since.
        *self = Self::load(api).await?;
        if let Some(found) = self.by_name.get(&key) {
            return Ok(found.clone());
        }
        let namespace = self
            .namespaces
            .iter()
            .filter(|ns| {
                key.strip_suffix(&ns.name.to_ascii_lowercase())
                    .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
            })
            .max_by_key(|ns| ns.name.len())
            .ok_or_else(|| {
                Lookup::Unusable(format!(
                    "no namespace of cairn's is a suffix of '{reference}' (the agent never creates namespaces)"
                ))
            })?;
        let name = &reference[..reference.len() - namespace.name.len() - 1];
        let Some(template) = create else {
            return Err(Lookup::Unusable(format!(
                "namespace {} has no service '{name}'; create it, or label the container cairn.create-service=A+SRV",
                namespace.name
            )));
        };
        let request = api::CreateServiceRequest {
            name: name.to_string(),
            namespace_id: Some(namespace.id.clone()),
            description: Some(format!("created by cairn agent on {host}")),
            dns_config: Some(DnsConfig {
                namespace_id: None,
                routing_policy: Some(RoutingPolicy::Multivalue),
                dns_records: template
                    .records
                    .iter()
                    .map(|kind| DnsRecord {
                        kind: *kind,
                        ttl: i64::from(template.ttl),
                    })
                    .collect(),
            }),
            health_check_custom_config: Some(HealthCheckCustomConfig::default()),
            ..api::CreateServiceRequest::default()
        };
        let created: api::ServiceResponse = api.call("CreateService", &request).await?;
        tracing::info!(service = %reference, id = %created.service.id, "created the service");
        let found = info(&created.service);
        self.by_name.insert(key, found.clone());
        Ok(found)
    }
}

fn info(service: &api::Service) -> ServiceInfo {
    ServiceInfo {
        id: service.id.clone(),
        custom_health: service.health_check_custom_config.is_some(),
    }
}

async fn list_namespaces(api: &Api) -> Result<Vec<api::Namespace>, CallError> {
    let mut all = Vec::new();
    let mut request = ListRequest::default();
    loop {
        let page: api::ListNamespacesResponse = api.call("ListNamespaces", &request).await?;
        all.extend(page.namespaces);
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => return Ok(all),
        }
    }
}

async fn list_services(api: &Api, namespace_id: &str) -> Result<Vec<api::Service>, CallError> {
    let mut all = Vec::new();
    let mut request = ListRequest {
        filters: Some(vec![Filter {
            name: "NAMESPACE_ID".to_string(),
            values: vec![namespace_id.to_string()],
            condition: Some("EQ".to_string()),
        }]),
        ..ListRequest::default()
    };
    loop {
        let page: api::ListServicesResponse = api.call("ListServices", &request).await?;
        all.extend(page.services);
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => return Ok(all),
        }
    }
}

async fn list_instances(api: &Api, service_id: &str) -> Result<Vec<Instance>, CallError> {
    let mut all = Vec::new();
    let mut request = api::ListInstancesRequest {
        service_id: service_id.to_string(),
        ..api::ListInstancesRequest::default()
    };
    loop {
        let page: api::ListInstancesResponse = api.call("ListInstances", &request).await?;
        all.extend(page.instances);
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => return Ok(all),
        }
    }
}

/// Every instance whose `cairn.agent` is `host`, in every service, with
/// its custom health where the service has one.
pub async fn owned(
    api: &Api,
    services: &Services,
    host: &str,
) -> Result<Vec<Registered>, CallError> {
    let mut owned = Vec::new();
    for service in services.ids() {
        let mine: Vec<Instance> = list_instances(api, &service.id)
            .await?
            .into_iter()
            .filter(|instance| is_ours(&instance.attributes, host))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let health = if service.custom_health {
            let request = api::GetInstancesHealthStatusRequest {
                service_id: service.id.clone(),
                ..api::GetInstancesHealthStatusRequest::default()
            };
            let answer: api::GetInstancesHealthStatusResponse =
                api.call("GetInstancesHealthStatus", &request).await?;
            answer.status
        } else {
            Default::default()
        };
        owned.extend(mine.into_iter().map(|instance| {
            Registered {
                service_id: service.id.clone(),
                health: health
                    .get(&instance.id)
                    .and_then(|status| match status.as_str() {
                        "HEALTHY" => Some(CustomHealthStatus::Healthy),
                        "UNHEALTHY" => Some(CustomHealthStatus::Unhealthy),
                        _ => None,
                    }),
                instance_id: instance.id,
                attributes: instance.attributes,
            }
        }));
    }
    Ok(owned)
}

pub fn is_ours(attributes: &Attributes, host: &str) -> bool {
    attributes
        .get(OWNER_ATTR)
        .is_some_and(|owner| owner == host)
}

/// The attributes of an instance registered by someone else under this
/// id, `None` when there is none or it is this host's.
pub async fn foreign(
    api: &Api,
    service_id: &str,
    instance_id: &str,
    host: &str,
) -> Result<Option<String>, CallError> {
    let request = InstanceRequest {
        service_id: service_id.to_string(),
        instance_id: instance_id.to_string(),
    };
    match api
        .call::<_, api::GetInstanceResponse>("GetInstance", &request)
        .await
    {
        Ok(found) if is_ours(&found.instance.attributes, host) => Ok(None),
        Ok(found) => Ok(Some(found.instance.attributes.get(OWNER_ATTR).map_or_else(
            || "no cairn.agent".to_string(),
            |owner| format!("cairn.agent={owner}"),
        ))),
        Err(error) if error.code() == "InstanceNotFound" => Ok(None),
        Err(error) => Err(error),
    }
}

pub async fn register(
    api: &Api,
    service_id: &str,
    instance_id: &str,
    attributes: &Attributes,
) -> Result<(), CallError> {
    let request = RegisterInstanceRequest {
        service_id: service_id.to_string(),
        instance_id: instance_id.to_string(),
        creator_request_id: None,
        attributes: attributes.clone(),
    };
    api.call::<_, serde_json::Value>("RegisterInstance", &request)
        .await
        .map(drop)
}

/// Deregisters; an instance that is gone already is no error.
pub async fn deregister(api: &Api, service_id: &str, instance_id: &str) -> Result<(), CallError> {
    let request = InstanceRequest {
        service_id: service_id.to_string(),
        instance_id: instance_id.to_string(),
    };
    match api
        .call::<_, serde_json::Value>("DeregisterInstance", &request)
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if matches!(error.code(), "InstanceNotFound" | "ServiceNotFound") => Ok(()),
        Err(error) => Err(error),
    }
}

pub async fn set_health(
    api: &Api,
    service_id: &str,
    instance_id: &str,
    status: CustomHealthStatus,
) -> Result<(), CallError> {
    let request = UpdateInstanceCustomHealthStatusRequest {
        service_id: service_id.to_string(),
        instance_id: instance_id.to_string(),
        status,
    };
    api.call::<_, serde_json::Value>("UpdateInstanceCustomHealthStatus", &request)
        .await
        .map(drop)
}
