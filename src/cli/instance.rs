//! `cairn instance register|deregister|list|get` and `cairn health set|get`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand, ValueEnum};

use super::output::{attribute, custom_attributes, emit, table};
use super::{CliResult, ClientOptions, key_value, resolve};
use crate::admin::api::{self, Attributes};
use crate::admin::client::Client;

#[derive(Debug, Args)]
pub struct InstanceArgs {
    #[command(subcommand)]
    pub action: InstanceAction,
}

/// Which instance: its service and its id.
#[derive(Debug, Clone, Args)]
pub struct InstanceRef {
    /// The service: `NAME.NAMESPACE` (e.g. `web.svc.internal`), an id or an ARN.
    #[arg(long, short = 's', value_name = "SERVICE")]
    pub service: String,
    /// The instance id (1-64 of letters, digits and _/:.@-; a DNS label for
    /// services with SRV records).
    #[arg(long, value_name = "ID")]
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum InstanceAction {
    /// Register an instance, or replace the attributes of one with the same
    /// id. It is in DNS when this command returns.
    Register {
        #[command(flatten)]
        instance: InstanceRef,
        /// Its IPv4 address (AWS_INSTANCE_IPV4): needed for A records.
        #[arg(long, value_name = "ADDRESS")]
        ipv4: Option<String>,
        /// Its IPv6 address (AWS_INSTANCE_IPV6): needed for AAAA records.
        #[arg(long, value_name = "ADDRESS")]
        ipv6: Option<String>,
        /// Its port (AWS_INSTANCE_PORT): needed for SRV records and probes.
        #[arg(long)]
        port: Option<u16>,
        /// Its CNAME target (AWS_INSTANCE_CNAME): for CNAME services.
        #[arg(long, value_name = "NAME")]
        cname: Option<String>,
        /// Another attribute (repeatable), e.g. `--attr zone=a`; `discover
        /// --filter` matches on these.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = key_value)]
        attributes: Vec<(String, String)>,
        /// An idempotency token: a retry with the same token changes nothing.
        #[arg(long, value_name = "TOKEN")]
        request_id: Option<String>,
    },
    /// Deregister an instance; it leaves DNS when this command returns.
    Deregister {
        #[command(flatten)]
        instance: InstanceRef,
    },
    /// List a service's instances with their health.
    List {
        /// The service: `NAME.NAMESPACE`, an id or an ARN.
        #[arg(long, short = 's', value_name = "SERVICE")]
        service: String,
    },
    /// Show one instance.
    Get {
        #[command(flatten)]
        instance: InstanceRef,
    },
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(subcommand)]
    pub action: HealthAction,
}

#[derive(Debug, Subcommand)]
pub enum HealthAction {
    /// Report an instance's health (UpdateInstanceCustomHealthStatus; the
    /// service needs --custom-health).
    Set {
        #[command(flatten)]
        instance: InstanceRef,
        /// The new status.
        #[arg(value_enum)]
        status: Status,
    },
    /// Report an instance alive (cairn's Heartbeat; the service needs
    /// --heartbeat-ttl). It turns HEALTHY at once.
    Heartbeat {
        #[command(flatten)]
        instance: InstanceRef,
    },
    /// Show the health of a service's instances (all, or those named).
    Get {
        /// The service: `NAME.NAMESPACE`, an id or an ARN.
        #[arg(long, short = 's', value_name = "SERVICE")]
        service: String,
        /// Only this instance (repeatable).
        #[arg(long, value_name = "ID")]
        id: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum Status {
    Healthy,
    Unhealthy,
}

async fn health_of(
    client: &Client,
    service_id: &str,
    ids: Option<Vec<String>>,
) -> Result<BTreeMap<String, String>, super::CliError> {
    let mut all = BTreeMap::new();
    let mut request = api::GetInstancesHealthStatusRequest {
        service_id: service_id.to_string(),
        instances: ids,
        ..Default::default()
    };
    loop {
        let page: api::GetInstancesHealthStatusResponse =
            client.call("GetInstancesHealthStatus", &request).await?;
        all.extend(page.status);
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => return Ok(all),
        }
    }
}

fn rows(instances: &[api::Instance], health: &BTreeMap<String, String>) -> String {
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|instance| {
            vec![
                instance.id.clone(),
                attribute(&instance.attributes, "AWS_INSTANCE_IPV4"),
                attribute(&instance.attributes, "AWS_INSTANCE_IPV6"),
                attribute(&instance.attributes, "AWS_INSTANCE_PORT"),
                health
                    .get(&instance.id)
                    .cloned()
                    .unwrap_or_else(|| "-".to_string()),
                custom_attributes(&instance.attributes),
            ]
        })
        .collect();
    table(
        &["ID", "IPV4", "IPV6", "PORT", "HEALTH", "ATTRIBUTES"],
        &rows,
    )
}

async fn show(client: &Client, output: super::Output, service_id: &str, id: &str) -> CliResult {
    let request = api::InstanceRequest {
        service_id: service_id.to_string(),
        instance_id: id.to_string(),
    };
    let answer: api::GetInstanceResponse = client.call("GetInstance", &request).await?;
    let health = health_of(client, service_id, Some(vec![id.to_string()])).await?;
    emit(output, &answer, || {
        rows(std::slice::from_ref(&answer.instance), &health)
    })
}

pub async fn run(args: InstanceArgs, options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let output = options.output;
    match args.action {
        InstanceAction::Register {
            instance,
            ipv4,
            ipv6,
            port,
            cname,
            attributes,
            request_id,
        } => {
            let service = resolve::service(&client, &instance.service).await?;
            let mut all: Attributes = attributes.into_iter().collect();
            let reserved = [
                ("AWS_INSTANCE_IPV4", ipv4),
                ("AWS_INSTANCE_IPV6", ipv6),
                ("AWS_INSTANCE_PORT", port.map(|p| p.to_string())),
                ("AWS_INSTANCE_CNAME", cname),
            ];
            for (key, value) in reserved {
                if let Some(value) = value {
                    all.insert(key.to_string(), value);
                }
            }
            let request = api::RegisterInstanceRequest {
                service_id: service.id.clone(),
                instance_id: instance.id.clone(),
                creator_request_id: request_id,
                attributes: all,
            };
            let _: api::OperationResponse = client.call("RegisterInstance", &request).await?;
            show(&client, output, &service.id, &instance.id).await
        }
        InstanceAction::Deregister { instance } => {
            let service = resolve::service(&client, &instance.service).await?;
            let request = api::InstanceRequest {
                service_id: service.id.clone(),
                instance_id: instance.id.clone(),
            };
            let answer: api::OperationResponse =
                client.call("DeregisterInstance", &request).await?;
            emit(output, &answer, || {
                format!(
                    "deregistered {} from {} ({})",
                    instance.id, service.name, service.id
                )
            })
        }
        InstanceAction::List { service } => {
            let service = resolve::service(&client, &service).await?;
            let mut instances = Vec::new();
            let mut request = api::ListInstancesRequest {
                service_id: service.id.clone(),
                ..Default::default()
            };
            loop {
                let page: api::ListInstancesResponse =
                    client.call("ListInstances", &request).await?;
                instances.extend(page.instances);
                match page.next_token {
                    Some(token) => request.next_token = Some(token),
                    None => break,
                }
            }
            let health = health_of(&client, &service.id, None).await?;
            let answer = api::ListInstancesResponse {
                resource_owner: None,
                instances,
                next_token: None,
            };
            emit(output, &answer, || rows(&answer.instances, &health))
        }
        InstanceAction::Get { instance } => {
            let service = resolve::service(&client, &instance.service).await?;
            show(&client, output, &service.id, &instance.id).await
        }
    }
}

pub async fn run_health(args: HealthArgs, options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let output = options.output;
    match args.action {
        HealthAction::Set { instance, status } => {
            let service = resolve::service(&client, &instance.service).await?;
            let request = api::UpdateInstanceCustomHealthStatusRequest {
                service_id: service.id,
                instance_id: instance.id.clone(),
                status: match status {
                    Status::Healthy => api::CustomHealthStatus::Healthy,
                    Status::Unhealthy => api::CustomHealthStatus::Unhealthy,
                },
            };
            let answer: api::Empty = client
                .call("UpdateInstanceCustomHealthStatus", &request)
                .await?;
            let status = match status {
                Status::Healthy => "HEALTHY",
                Status::Unhealthy => "UNHEALTHY",
            };
            emit(output, &answer, || format!("{}: {status}", instance.id))
        }
        HealthAction::Heartbeat { instance } => {
            let service = resolve::service(&client, &instance.service).await?;
            let request = api::InstanceRequest {
                service_id: service.id,
                instance_id: instance.id.clone(),
            };
            let answer: api::Empty = client.call("Heartbeat", &request).await?;
            emit(output, &answer, || format!("{}: HEARTBEAT", instance.id))
        }
        HealthAction::Get { service, id } => {
            let service = resolve::service(&client, &service).await?;
            let ids = (!id.is_empty()).then_some(id);
            let status = health_of(&client, &service.id, ids).await?;
            let answer = api::GetInstancesHealthStatusResponse {
                status,
                next_token: None,
            };
            emit(output, &answer, || {
                let rows: Vec<Vec<String>> = answer
                    .status
                    .iter()
                    .map(|(id, status)| vec![id.clone(), status.clone()])
                    .collect();
                table(&["ID", "HEALTH"], &rows)
            })
        }
    }
}
