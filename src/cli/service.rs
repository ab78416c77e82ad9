//! `cairn service create|list|get|update|delete`.

use std::collections::HashMap;

use clap::{Args, Subcommand, ValueEnum};

use super::output::{cell, emit, table};
use super::{CliResult, ClientOptions, Output, key_value, resolve};
use crate::admin::api;
use crate::admin::client::{Client, ClientError};

/// TTL of a `--record TYPE` given without one.
const DEFAULT_TTL: i64 = 60;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
}

/// The health-check flags shared by create and update.
#[derive(Debug, Clone, Args)]
pub struct HealthFlags {
    /// Have cairn probe each instance's AWS_INSTANCE_PORT (HealthCheckConfig).
    #[arg(long, value_enum, value_name = "TYPE")]
    pub health_check: Option<ProbeKind>,
    /// The path an http/https probe requests [default: /].
    #[arg(long, value_name = "PATH", requires = "health_check")]
    pub health_path: Option<String>,
    /// Consecutive failed probes before an instance is unhealthy (1-10).
    #[arg(long, value_name = "N", requires = "health_check")]
    pub failure_threshold: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Create a service and print it.
    Create {
        /// `NAME.NAMESPACE` (e.g. `web.svc.internal`), or just NAME with
        /// --namespace.
        service: String,
        /// The namespace (name, id or ARN); then SERVICE is the bare name.
        #[arg(long, value_name = "NAMESPACE")]
        namespace: Option<String>,
        /// A DNS record type the service answers, with its TTL in seconds
        /// (repeatable): A, AAAA, SRV or CNAME, e.g. `--record A:10 --record
        /// SRV:10`. Without any, the service has no DNS records and is found
        /// through `cairn discover` only.
        #[arg(long = "record", value_name = "TYPE[:TTL]", value_parser = record)]
        records: Vec<api::DnsRecord>,
        /// How DNS answers choose instances [default: weighted for CNAME,
        /// multivalue otherwise].
        #[arg(long, value_enum)]
        routing: Option<Routing>,
        /// Instances' health comes from `cairn health set`
        /// (HealthCheckCustomConfig); cannot be changed later.
        #[arg(long, conflicts_with = "health_check")]
        custom_health: bool,
        #[command(flatten)]
        health: HealthFlags,
        /// Instances must send `cairn health heartbeat` at least this often
        /// (seconds, fractions allowed) or turn UNHEALTHY (HeartbeatConfig, a
        /// cairn extension); cannot be changed later.
        #[arg(long, value_name = "SECS", conflicts_with_all = ["health_check", "custom_health"])]
        heartbeat_ttl: Option<f64>,
        /// Deregister an instance silent for this long (seconds, longer than
        /// --heartbeat-ttl).
        #[arg(long, value_name = "SECS", requires = "heartbeat_ttl")]
        deregister_after: Option<f64>,
        /// A free-text description.
        #[arg(long)]
        description: Option<String>,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = key_value)]
        tags: Vec<(String, String)>,
        /// An idempotency token: retrying with the same token returns the
        /// service created the first time.
        #[arg(long, value_name = "TOKEN")]
        request_id: Option<String>,
    },
    /// List services, all or one namespace's.
    List {
        /// Only this namespace's services (name, id or ARN).
        #[arg(long, value_name = "NAMESPACE")]
        namespace: Option<String>,
    },
    /// Show one service.
    Get {
        /// `NAME.NAMESPACE`, a service id or an ARN.
        service: String,
    },
    /// Change a service's description, record TTLs or health check. What is
    /// not given stays as it is.
    Update {
        /// `NAME.NAMESPACE`, a service id or an ARN.
        service: String,
        /// New TTLs, one per record type the service has (the types cannot
        /// change).
        #[arg(long = "record", value_name = "TYPE[:TTL]", value_parser = record)]
        records: Vec<api::DnsRecord>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        health: HealthFlags,
        /// Remove the service's health check.
        #[arg(long, conflicts_with = "health_check")]
        no_health_check: bool,
    },
    /// Delete a service; it must have no instances.
    Delete {
        /// `NAME.NAMESPACE`, a service id or an ARN.
        service: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Routing {
    /// Up to 8 healthy records per answer, in random order.
    Multivalue,
    /// One record per answer, chosen by the `weight` attribute.
    Weighted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeKind {
    Http,
    Https,
    Tcp,
}

/// Parses `TYPE[:TTL]`.
fn record(text: &str) -> Result<api::DnsRecord, String> {
    let (kind, ttl) = text.split_once(':').unwrap_or((text, ""));
    let kind = match kind.to_ascii_uppercase().as_str() {
        "A" => api::RecordType::A,
        "AAAA" => api::RecordType::Aaaa,
        "SRV" => api::RecordType::Srv,
        "CNAME" => api::RecordType::Cname,
        _ => return Err(format!("'{kind}' is not A, AAAA, SRV or CNAME")),
    };
    let ttl = if ttl.is_empty() {
        DEFAULT_TTL
    } else {
        ttl.parse()
            .map_err(|_| format!("'{ttl}' is not a TTL in seconds"))?
    };
    Ok(api::DnsRecord { kind, ttl })
}

fn health_config(flags: &HealthFlags) -> Option<api::HealthCheckConfig> {
    flags.health_check.map(|kind| api::HealthCheckConfig {
        kind: match kind {
            ProbeKind::Http => api::HealthCheckType::Http,
            ProbeKind::Https => api::HealthCheckType::Https,
            ProbeKind::Tcp => api::HealthCheckType::Tcp,
        },
        resource_path: flags.health_path.clone(),
        failure_threshold: flags.failure_threshold,
    })
}

fn records_text(service: &api::Service) -> String {
    let records: Vec<String> = service
        .dns_config
        .iter()
        .flat_map(|dns| &dns.dns_records)
        .map(|record| {
            let kind = serde_json::to_value(record.kind).ok();
            let kind = kind.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
            format!("{kind}:{}", record.ttl)
        })
        .collect();
    cell(Some(&records.join(",")))
}

/// Namespace id → name, for tables (JSON output shows ids, as the API does).
async fn namespace_names(client: &Client, output: Output) -> Result<NamespaceNames, ClientError> {
    if output != Output::Table {
        return Ok(NamespaceNames::new());
    }
    Ok(resolve::namespaces(client)
        .await?
        .into_iter()
        .map(|namespace| (namespace.id, namespace.name))
        .collect())
}

type NamespaceNames = HashMap<String, String>;

fn rows(services: &[api::Service], names: &NamespaceNames) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|service| {
            let routing = service
                .dns_config
                .as_ref()
                .and_then(|dns| dns.routing_policy)
                .map(|p| match p {
                    api::RoutingPolicy::Multivalue => "MULTIVALUE",
                    api::RoutingPolicy::Weighted => "WEIGHTED",
                });
            let health = match (
                &service.health_check_config,
                &service.health_check_custom_config,
            ) {
                (Some(check), _) => format!("{:?}", check.kind).to_ascii_uppercase(),
                (None, Some(_)) => "CUSTOM".to_string(),
                (None, None) => match &service.heartbeat_config {
                    Some(config) => format!("HEARTBEAT {}s", config.ttl),
                    None => "-".to_string(),
                },
            };
            vec![
                service.id.clone(),
                service.name.clone(),
                names
                    .get(&service.namespace_id)
                    .unwrap_or(&service.namespace_id)
                    .clone(),
                records_text(service),
                cell(routing),
                health,
                service.instance_count.to_string(),
                cell(service.description.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "NAMESPACE",
            "RECORDS",
            "ROUTING",
            "HEALTH CHECK",
            "INSTANCES",
            "DESCRIPTION",
        ],
        &rows,
    )
}

pub async fn run(args: ServiceArgs, options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let output = options.output;
    match args.action {
        ServiceAction::Create {
            service,
            namespace,
            records,
            routing,
            custom_health,
            health,
            heartbeat_ttl,
            deregister_after,
            description,
            tags,
            request_id,
        } => {
            let (namespace, name) = match namespace {
                Some(namespace) => (resolve::namespace(&client, &namespace).await?, service),
                None => resolve::split(&client, &service).await?,
            };
            let request = api::CreateServiceRequest {
                name,
                namespace_id: Some(namespace.id),
                creator_request_id: request_id,
                description,
                dns_config: (!records.is_empty()).then(|| api::DnsConfig {
                    namespace_id: None,
                    routing_policy: routing.map(|r| match r {
                        Routing::Multivalue => api::RoutingPolicy::Multivalue,
                        Routing::Weighted => api::RoutingPolicy::Weighted,
                    }),
                    dns_records: records,
                }),
                health_check_config: health_config(&health),
                health_check_custom_config: custom_health
                    .then(api::HealthCheckCustomConfig::default),
                heartbeat_config: heartbeat_ttl.map(|ttl| api::HeartbeatConfig {
                    ttl,
                    deregister_after,
                }),
                tags: (!tags.is_empty()).then(|| {
                    tags.into_iter()
                        .map(|(key, value)| api::Tag { key, value })
                        .collect()
                }),
                kind: None,
            };
            let answer: api::ServiceResponse = client.call("CreateService", &request).await?;
            let names = namespace_names(&client, output).await?;
            emit(output, &answer, || {
                rows(std::slice::from_ref(&answer.service), &names)
            })
        }
        ServiceAction::List { namespace } => {
            let namespace_id = match namespace {
                Some(namespace) => Some(resolve::namespace(&client, &namespace).await?.id),
                None => None,
            };
            let services = resolve::services(&client, namespace_id.as_deref()).await?;
            let answer = api::ListServicesResponse {
                services,
                next_token: None,
            };
            let names = namespace_names(&client, output).await?;
            emit(output, &answer, || rows(&answer.services, &names))
        }
        ServiceAction::Get { service } => {
            let service = resolve::service(&client, &service).await?;
            let answer = api::ServiceResponse { service };
            let names = namespace_names(&client, output).await?;
            emit(output, &answer, || {
                rows(std::slice::from_ref(&answer.service), &names)
            })
        }
        ServiceAction::Update {
            service,
            records,
            description,
            health,
            no_health_check,
        } => {
            let current = resolve::service(&client, &service).await?;
            // UpdateService drops a health check left out; keep it unless asked.
            let health_check_config = match (health_config(&health), no_health_check) {
                (Some(check), _) => Some(check),
                (None, true) => None,
                (None, false) => current.health_check_config.clone(),
            };
            let request = api::UpdateServiceRequest {
                id: current.id.clone(),
                service: api::ServiceChange {
                    description,
                    dns_config: (!records.is_empty()).then_some(api::DnsConfigChange {
                        dns_records: records,
                    }),
                    health_check_config,
                },
            };
            let _: api::OperationResponse = client.call("UpdateService", &request).await?;
            let request = api::IdRequest { id: current.id };
            let answer: api::ServiceResponse = client.call("GetService", &request).await?;
            let names = namespace_names(&client, output).await?;
            emit(output, &answer, || {
                rows(std::slice::from_ref(&answer.service), &names)
            })
        }
        ServiceAction::Delete { service } => {
            let found = resolve::service(&client, &service).await?;
            let request = api::IdRequest {
                id: found.id.clone(),
            };
            let answer: api::Empty = client.call("DeleteService", &request).await?;
            emit(output, &answer, || {
                format!("deleted service {} ({})", found.name, found.id)
            })
        }
    }
}
