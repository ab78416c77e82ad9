//! CreateService, GetService, ListServices, UpdateService, DeleteService.

use super::namespaces::tags;
use super::{Condition, age_key, condition, page, text_matches, timestamp};
use crate::admin::account::Context;
use crate::admin::api::{self, IdRequest, ListRequest};
use crate::admin::error::ApiError;
use crate::registry::{
    self, CustomHealthCheck, DnsRecord, DnsTemplate, HealthCheckConfig, HealthCheckType, Heartbeat,
    NewService, RecordKind, Registry, RoutingPolicy, ServiceUpdate, validate,
};
use crate::writer::Writer;

fn record_kind(kind: api::RecordType) -> RecordKind {
    match kind {
        api::RecordType::A => RecordKind::A,
        api::RecordType::Aaaa => RecordKind::Aaaa,
        api::RecordType::Srv => RecordKind::Srv,
        api::RecordType::Cname => RecordKind::Cname,
    }
}

fn record_type(kind: RecordKind) -> api::RecordType {
    match kind {
        RecordKind::A => api::RecordType::A,
        RecordKind::Aaaa => api::RecordType::Aaaa,
        RecordKind::Srv => api::RecordType::Srv,
        RecordKind::Cname => api::RecordType::Cname,
    }
}

fn records(list: &[api::DnsRecord]) -> Result<Vec<DnsRecord>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, record)| {
            let ttl = validate::ttl(&format!("DnsConfig.DnsRecords[{i}].TTL"), record.ttl)?;
            Ok(DnsRecord {
                kind: record_kind(record.kind),
                ttl,
            })
        })
        .collect()
}

/// The template of a request. Without a RoutingPolicy, a CNAME template is
/// WEIGHTED (the only policy CNAME allows) and every other is MULTIVALUE.
fn template(config: &api::DnsConfig) -> Result<DnsTemplate, ApiError> {
    let records = records(&config.dns_records)?;
    let routing_policy = match config.routing_policy {
        Some(api::RoutingPolicy::Multivalue) => RoutingPolicy::Multivalue,
        Some(api::RoutingPolicy::Weighted) => RoutingPolicy::Weighted,
        None if records.iter().any(|r| r.kind == RecordKind::Cname) => RoutingPolicy::Weighted,
        None => RoutingPolicy::Multivalue,
    };
    Ok(DnsTemplate {
        routing_policy,
        records,
    })
}

/// A threshold out of 1..=10 is left for the registry to refuse by name.
fn threshold(value: Option<i64>) -> u8 {
    value.map_or(1, |n| u8::try_from(n).unwrap_or(0))
}

fn health_check(config: &api::HealthCheckConfig) -> HealthCheckConfig {
    HealthCheckConfig {
        kind: match config.kind {
            api::HealthCheckType::Http => HealthCheckType::Http,
            api::HealthCheckType::Https => HealthCheckType::Https,
            api::HealthCheckType::Tcp => HealthCheckType::Tcp,
        },
        resource_path: config.resource_path.clone(),
        failure_threshold: threshold(config.failure_threshold),
    }
}

fn heartbeat(config: &api::HeartbeatConfig) -> Result<Heartbeat, ApiError> {
    Ok(Heartbeat {
        ttl_ms: validate::seconds_to_millis("HeartbeatConfig.TTL", config.ttl)?,
        deregister_after_ms: config
            .deregister_after
            .map(|secs| validate::seconds_to_millis("HeartbeatConfig.DeregisterAfter", secs))
            .transpose()?,
    })
}

pub async fn create(
    writer: &Writer,
    cx: Context<'_>,
    request: api::CreateServiceRequest,
) -> Result<api::ServiceResponse, ApiError> {
    let namespace_id = request
        .namespace_id
        .clone()
        .or_else(|| {
            request
                .dns_config
                .as_ref()
                .and_then(|c| c.namespace_id.clone())
        })
        .ok_or_else(|| ApiError::invalid("NamespaceId is required (or DnsConfig.NamespaceId)"))?;
    let dns = match (request.kind.as_deref(), &request.dns_config) {
        (Some("HTTP"), Some(_)) => {
            return Err(ApiError::invalid(
                "Type HTTP makes a service without DNS records; leave DnsConfig out",
            ));
        }
        (Some("HTTP"), None) | (None, None) => None,
        (None, Some(config)) => Some(template(config)?),
        (Some(other), _) => {
            return Err(ApiError::invalid(format!(
                "Type: '{other}' is not accepted; the only value is HTTP"
            )));
        }
    };
    let service = writer
        .create_service(NewService {
            namespace_id,
            name: request.name,
            description: request.description,
            dns,
            health_check: request.health_check_config.as_ref().map(health_check),
            custom_health_check: request.health_check_custom_config.as_ref().map(|custom| {
                CustomHealthCheck {
                    failure_threshold: threshold(custom.failure_threshold),
                }
            }),
            heartbeat: request
                .heartbeat_config
                .as_ref()
                .map(heartbeat)
                .transpose()?,
            creator_request_id: request.creator_request_id,
            tags: tags(request.tags),
            region: cx.new_region(),
        })
        .await
        .map_err(|error| {
            let mut error = ApiError::from(error);
            // ServiceAlreadyExists names the existing service's ARN.
            if let Some(existing) = error
                .body
                .service_id
                .as_deref()
                .and_then(|id| writer.registry().service(id))
            {
                error.body.service_arn = Some(cx.service_arn(&existing));
            }
            error
        })?;
    Ok(api::ServiceResponse {
        service: shape(service, cx),
    })
}

pub(super) fn shape(service: registry::Service, cx: Context<'_>) -> api::Service {
    api::Service {
        arn: cx.service_arn(&service),
        resource_owner: Some(cx.owner()),
        created_by_account: Some(cx.owner()),
        kind: service.type_name().to_string(),
        dns_config: service.dns.as_ref().map(|dns| api::DnsConfig {
            namespace_id: Some(service.namespace_id.clone()),
            routing_policy: Some(match dns.routing_policy {
                RoutingPolicy::Multivalue => api::RoutingPolicy::Multivalue,
                RoutingPolicy::Weighted => api::RoutingPolicy::Weighted,
            }),
            dns_records: dns
                .records
                .iter()
                .map(|record| api::DnsRecord {
                    kind: record_type(record.kind),
                    ttl: i64::from(record.ttl),
                })
                .collect(),
        }),
        health_check_config: service
            .health_check
            .as_ref()
            .map(|check| api::HealthCheckConfig {
                kind: match check.kind {
                    HealthCheckType::Http => api::HealthCheckType::Http,
                    HealthCheckType::Https => api::HealthCheckType::Https,
                    HealthCheckType::Tcp => api::HealthCheckType::Tcp,
                },
                resource_path: check.resource_path.clone(),
                failure_threshold: Some(i64::from(check.failure_threshold)),
            }),
        health_check_custom_config: service.custom_health_check.map(|custom| {
            api::HealthCheckCustomConfig {
                failure_threshold: Some(i64::from(custom.failure_threshold)),
            }
        }),
        heartbeat_config: service.heartbeat.map(|config| api::HeartbeatConfig {
            ttl: config.ttl_ms as f64 / 1000.0,
            deregister_after: config.deregister_after_ms.map(|ms| ms as f64 / 1000.0),
        }),
        create_date: timestamp(service.created_at),
        instance_count: service.instance_count,
        id: service.id,
        name: service.name,
        namespace_id: service.namespace_id,
        description: service.description,
        creator_request_id: service.creator_request_id,
    }
}

pub fn get(
    registry: &Registry,
    cx: Context<'_>,
    request: IdRequest,
) -> Result<api::ServiceResponse, ApiError> {
    Ok(api::ServiceResponse {
        service: shape(registry.get_service(&request.id)?, cx),
    })
}

pub fn list(
    registry: &Registry,
    cx: Context<'_>,
    request: ListRequest,
) -> Result<api::ListServicesResponse, ApiError> {
    let allowed: &[(&str, &[Condition])] = &[
        ("NAMESPACE_ID", &[Condition::Eq]),
        ("RESOURCE_OWNER", &[Condition::Eq]),
    ];
    let mut services = registry.list_services(None);
    for filter in request.filters.unwrap_or_default() {
        let how = condition(&filter, allowed)?;
        if filter.name == "NAMESPACE_ID" {
            let ids: Vec<String> = filter
                .values
                .iter()
                .map(|v| registry::id_from_arn(v).to_string())
                .collect();
            services.retain(|service| text_matches(how, &ids, &service.namespace_id));
        }
    }
    let (chosen, next_token) = page(
        services,
        |service| age_key(service.created_at, &service.id),
        request.next_token.as_deref(),
        request.max_results,
    )?;
    Ok(api::ListServicesResponse {
        services: chosen
            .into_iter()
            .map(|service| shape(service, cx))
            .collect(),
        next_token,
    })
}

pub async fn update(
    writer: &Writer,
    request: api::UpdateServiceRequest,
) -> Result<api::OperationResponse, ApiError> {
    let change = request.service;
    let update = ServiceUpdate {
        description: change.description,
        dns_records: change
            .dns_config
            .as_ref()
            .map(|config| records(&config.dns_records))
            .transpose()?,
        health_check: change.health_check_config.as_ref().map(health_check),
    };
    let operation_id = writer.update_service(&request.id, update).await?;
    Ok(api::OperationResponse { operation_id })
}

pub async fn delete(writer: &Writer, request: IdRequest) -> Result<api::Empty, ApiError> {
    writer.delete_service(&request.id).await?;
    Ok(api::Empty {})
}
