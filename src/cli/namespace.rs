//! `cairn namespace create|list|get|delete`.

use clap::{Args, Subcommand, ValueEnum};

use super::output::{cell, emit, table};
use super::{CliResult, ClientOptions, key_value, resolve};
use crate::admin::api::{
    self, CreateNamespaceRequest, DnsPropertiesInput, NamespacePropertiesInput,
};
use crate::admin::client::Client;

#[derive(Debug, Args)]
pub struct NamespaceArgs {
    #[command(subcommand)]
    pub action: NamespaceAction,
}

#[derive(Debug, Subcommand)]
pub enum NamespaceAction {
    /// Create a namespace and print it.
    Create {
        /// The namespace's name, a DNS zone such as `svc.internal`.
        name: String,
        /// `private` zones answer only --allow networks; `public` answers
        /// anyone; `http` has no DNS (instances are found by `discover`).
        #[arg(long = "type", value_enum, default_value_t = Kind::Private)]
        kind: Kind,
        /// A client network a private namespace answers (CIDR, repeatable)
        /// [default: the server's private_namespaces.default_networks,
        /// 127.0.0.0/8 and ::1/128 unless configured].
        #[arg(long = "allow", value_name = "CIDR")]
        allow: Vec<String>,
        /// A VPC id the server maps to client networks
        /// (private_namespaces.vpcs), as AWS's tools send it.
        #[arg(long, value_name = "VPC_ID")]
        vpc: Option<String>,
        /// The SOA TTL in seconds: how long negative answers are cached.
        #[arg(long, value_name = "SECONDS")]
        soa_ttl: Option<i64>,
        /// A free-text description.
        #[arg(long)]
        description: Option<String>,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = key_value)]
        tags: Vec<(String, String)>,
        /// An idempotency token: retrying with the same token returns the
        /// namespace created the first time.
        #[arg(long, value_name = "TOKEN")]
        request_id: Option<String>,
    },
    /// List every namespace.
    List,
    /// Show one namespace.
    Get {
        /// The namespace's name, id or ARN.
        namespace: String,
    },
    /// Change a namespace's allowed networks, SOA TTL or description.
    Update {
        /// The namespace's name, id or ARN.
        namespace: String,
        /// The client networks a private namespace answers from now on (CIDR,
        /// repeatable; replaces the list).
        #[arg(long = "allow", value_name = "CIDR")]
        allow: Vec<String>,
        /// The SOA TTL in seconds.
        #[arg(long, value_name = "SECONDS")]
        soa_ttl: Option<i64>,
        /// A free-text description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a namespace; it must have no services.
    Delete {
        /// The namespace's name, id or ARN.
        namespace: String,
    },
}

/// `--type` of `namespace create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Private,
    Public,
    Http,
}

fn rows(namespaces: &[api::Namespace]) -> String {
    let rows: Vec<Vec<String>> = namespaces
        .iter()
        .map(|ns| {
            let dns = &ns.properties.dns_properties;
            vec![
                ns.id.clone(),
                ns.name.clone(),
                kind_name(ns.kind).to_string(),
                ns.service_count.to_string(),
                cell(dns.soa.as_ref().map(|soa| soa.ttl.to_string()).as_deref()),
                cell(
                    dns.allowed_networks
                        .as_ref()
                        .map(|n| n.join(","))
                        .as_deref(),
                ),
                cell(ns.description.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "TYPE",
            "SERVICES",
            "SOA TTL",
            "ALLOWED NETWORKS",
            "DESCRIPTION",
        ],
        &rows,
    )
}

fn kind_name(kind: api::NamespaceType) -> &'static str {
    match kind {
        api::NamespaceType::DnsPrivate => "DNS_PRIVATE",
        api::NamespaceType::DnsPublic => "DNS_PUBLIC",
        api::NamespaceType::Http => "HTTP",
    }
}

pub async fn run(args: NamespaceArgs, options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let output = options.output;
    match args.action {
        NamespaceAction::Create {
            name,
            kind,
            allow,
            vpc,
            soa_ttl,
            description,
            tags,
            request_id,
        } => {
            let dns = DnsPropertiesInput {
                soa: soa_ttl.map(|ttl| api::Soa { ttl }),
                allowed_networks: (!allow.is_empty()).then_some(allow),
                name_servers: None,
                transfer: None,
            };
            let request = CreateNamespaceRequest {
                name,
                creator_request_id: request_id,
                description,
                tags: (!tags.is_empty()).then(|| {
                    tags.into_iter()
                        .map(|(key, value)| api::Tag { key, value })
                        .collect()
                }),
                vpc,
                properties: (dns != DnsPropertiesInput::default()).then_some(
                    NamespacePropertiesInput {
                        dns_properties: Some(dns),
                    },
                ),
            };
            let action = match kind {
                Kind::Private => "CreatePrivateDnsNamespace",
                Kind::Public => "CreatePublicDnsNamespace",
                Kind::Http => "CreateHttpNamespace",
            };
            let created: api::OperationResponse = client.call(action, &request).await?;
            let namespace = created_namespace(&client, &created.operation_id).await?;
            let answer = api::GetNamespaceResponse { namespace };
            emit(output, &answer, || {
                rows(std::slice::from_ref(&answer.namespace))
            })
        }
        NamespaceAction::List => {
            let namespaces = resolve::namespaces(&client).await?;
            let answer = api::ListNamespacesResponse {
                namespaces,
                next_token: None,
            };
            emit(output, &answer, || rows(&answer.namespaces))
        }
        NamespaceAction::Get { namespace } => {
            let namespace = resolve::namespace(&client, &namespace).await?;
            let answer = api::GetNamespaceResponse { namespace };
            emit(output, &answer, || {
                rows(std::slice::from_ref(&answer.namespace))
            })
        }
        NamespaceAction::Update {
            namespace,
            allow,
            soa_ttl,
            description,
        } => {
            let current = resolve::namespace(&client, &namespace).await?;
            let dns = DnsPropertiesInput {
                soa: soa_ttl.map(|ttl| api::Soa { ttl }),
                allowed_networks: (!allow.is_empty()).then_some(allow),
                name_servers: None,
                transfer: None,
            };
            let request = api::UpdateNamespaceRequest {
                id: current.id.clone(),
                updater_request_id: None,
                namespace: api::NamespaceChange {
                    description,
                    properties: (dns != DnsPropertiesInput::default()).then_some(
                        NamespacePropertiesInput {
                            dns_properties: Some(dns),
                        },
                    ),
                },
            };
            let action = match current.kind {
                api::NamespaceType::DnsPrivate => "UpdatePrivateDnsNamespace",
                api::NamespaceType::DnsPublic => "UpdatePublicDnsNamespace",
                api::NamespaceType::Http => "UpdateHttpNamespace",
            };
            let _: api::OperationResponse = client.call(action, &request).await?;
            let request = api::IdRequest { id: current.id };
            let answer: api::GetNamespaceResponse = client.call("GetNamespace", &request).await?;
            emit(output, &answer, || {
                rows(std::slice::from_ref(&answer.namespace))
            })
        }
        NamespaceAction::Delete { namespace } => {
            let namespace = resolve::namespace(&client, &namespace).await?;
            let request = api::IdRequest {
                id: namespace.id.clone(),
            };
            let answer: api::OperationResponse = client.call("DeleteNamespace", &request).await?;
            emit(output, &answer, || {
                format!("deleted namespace {} ({})", namespace.name, namespace.id)
            })
        }
    }
}

/// The namespace a CREATE_NAMESPACE operation made.
async fn created_namespace(
    client: &Client,
    operation_id: &str,
) -> Result<api::Namespace, super::CliError> {
    let request = api::GetOperationRequest {
        operation_id: operation_id.to_string(),
        owner_account: None,
    };
    let operation: api::GetOperationResponse = client.call("GetOperation", &request).await?;
    let id = operation
        .operation
        .targets
        .get("NAMESPACE")
        .cloned()
        .unwrap_or_default();
    let found: api::GetNamespaceResponse =
        client.call("GetNamespace", &api::IdRequest { id }).await?;
    Ok(found.namespace)
}
