//! CreatePrivateDnsNamespace, CreatePublicDnsNamespace, CreateHttpNamespace,
//! GetNamespace, ListNamespaces, Update*Namespace, DeleteNamespace.

use ipnet::IpNet;

use ring::digest;

use super::{Condition, age_key, condition, page, text_matches, timestamp};
use crate::admin::account::Context;
use crate::admin::api::{self, CreateNamespaceRequest, IdRequest, ListRequest};
use crate::admin::error::ApiError;
use crate::registry::{
    self, NamespaceType, NamespaceUpdate, NewNamespace, Registry, SoaSettings, Tags, validate,
};
use crate::writer::Writer;

pub(super) fn tags(list: Option<Vec<api::Tag>>) -> Tags {
    list.unwrap_or_default()
        .into_iter()
        .map(|tag| (tag.key, tag.value))
        .collect()
}

fn networks(list: &[String]) -> Result<Vec<IpNet>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "Properties.DnsProperties.AllowedNetworks[{i}]: '{text}' is not a network such as 10.0.0.0/8 or fd00::/8"
                    ))
                })
        })
        .collect()
}

fn soa_ttl(soa: Option<&api::Soa>) -> Result<Option<u32>, ApiError> {
    soa.map(|soa| validate::ttl("Properties.DnsProperties.SOA.TTL", soa.ttl))
        .transpose()
        .map_err(ApiError::from)
}

pub async fn create(
    writer: &Writer,
    cx: Context<'_>,
    kind: NamespaceType,
    request: CreateNamespaceRequest,
) -> Result<api::OperationResponse, ApiError> {
    let dns = request
        .properties
        .and_then(|p| p.dns_properties)
        .unwrap_or_default();
    if kind == NamespaceType::Http
        && (dns.soa.is_some()
            || dns.allowed_networks.is_some()
            || dns.name_servers.is_some()
            || dns.transfer.is_some())
    {
        return Err(ApiError::invalid(
            "an HTTP namespace has no DNS; leave Properties.DnsProperties out",
        ));
    }
    let mut soa = SoaSettings::default();
    if let Some(ttl) = soa_ttl(dns.soa.as_ref())? {
        soa.ttl = ttl;
    }
    if let Some(servers) = &dns.name_servers {
        soa.name_servers = name_servers(servers)?;
    }
    // Passed as given: the registry decides what is stored (canonical form;
    // its policy's default when a private namespace is given none). A Vpc,
    // which AWS's own tools always send and which cannot carry cairn's
    // AllowedNetworks, stands for the networks the operator mapped it to.
    let mut allowed_networks = match &dns.allowed_networks {
        Some(list) => networks(list)?,
        None => Vec::new(),
    };
    match (&request.vpc, kind) {
        (Some(vpc), NamespaceType::DnsPrivate) => {
            allowed_networks.extend_from_slice(writer.registry().network_policy().vpc(vpc)?)
        }
        (Some(_), _) => {
            return Err(ApiError::invalid("Vpc is only for private DNS namespaces"));
        }
        (None, _) => {}
    }
    let transfer = dns.transfer.as_ref().map(transfer).transpose()?.flatten();
    let (_, operation_id) = writer
        .create_namespace(NewNamespace {
            name: request.name,
            kind,
            description: request.description,
            soa,
            allowed_networks,
            transfer,
            creator_request_id: request.creator_request_id,
            tags: tags(request.tags),
            region: cx.new_region(),
        })
        .await?;
    Ok(api::OperationResponse { operation_id })
}

fn kind_of(kind: NamespaceType) -> api::NamespaceType {
    match kind {
        NamespaceType::DnsPrivate => api::NamespaceType::DnsPrivate,
        NamespaceType::DnsPublic => api::NamespaceType::DnsPublic,
        NamespaceType::Http => api::NamespaceType::Http,
    }
}

/// The `HostedZoneId` a DNS namespace shows: `Z` and 20 characters of
/// Route 53's alphabet, a hash of the namespace id, so it is the same on
/// every server and after every restart and is never stored.
pub fn hosted_zone_id(namespace_id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = digest::digest(&digest::SHA256, namespace_id.as_bytes());
    // 20 characters of 5 bits each: the first 100 bits of the digest.
    let mut bits = digest
        .as_ref()
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1));
    let mut id = String::from("Z");
    for _ in 0..20 {
        let value = (0..5).fold(0usize, |acc, _| {
            (acc << 1) | usize::from(bits.next().unwrap_or(0))
        });
        id.push(char::from(ALPHABET[value]));
    }
    id
}

fn shape(namespace: registry::Namespace, cx: Context<'_>) -> api::Namespace {
    let dns_properties = if namespace.kind.has_dns() {
        api::DnsProperties {
            hosted_zone_id: Some(hosted_zone_id(&namespace.id)),
            soa: Some(api::Soa {
                ttl: i64::from(namespace.soa.ttl),
            }),
            allowed_networks: (namespace.kind == NamespaceType::DnsPrivate).then(|| {
                namespace
                    .allowed_networks
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            }),
            name_servers: (!namespace.soa.name_servers.is_empty()).then(|| {
                namespace
                    .soa
                    .name_servers
                    .iter()
                    .map(|server| api::NameServer {
                        name: server.name.clone(),
                        addresses: server.addresses.iter().map(ToString::to_string).collect(),
                    })
                    .collect()
            }),
            transfer: namespace.transfer.as_ref().map(|transfer| api::Transfer {
                allow: Some(transfer.allow.iter().map(ToString::to_string).collect()),
                notify: Some(transfer.notify.iter().map(ToString::to_string).collect()),
                key: transfer.key.clone(),
            }),
        }
    } else {
        api::DnsProperties::default()
    };
    api::Namespace {
        arn: cx.namespace_arn(&namespace),
        resource_owner: Some(cx.owner()),
        id: namespace.id,
        kind: kind_of(namespace.kind),
        description: namespace.description,
        service_count: namespace.service_count,
        properties: api::NamespaceProperties {
            dns_properties,
            http_properties: api::HttpProperties {
                http_name: namespace.name.clone(),
            },
        },
        create_date: timestamp(namespace.created_at),
        creator_request_id: namespace.creator_request_id,
        name: namespace.name,
    }
}

pub fn get(
    registry: &Registry,
    cx: Context<'_>,
    request: IdRequest,
) -> Result<api::GetNamespaceResponse, ApiError> {
    Ok(api::GetNamespaceResponse {
        namespace: shape(registry.get_namespace(&request.id)?, cx),
    })
}

pub fn list(
    registry: &Registry,
    cx: Context<'_>,
    request: ListRequest,
) -> Result<api::ListNamespacesResponse, ApiError> {
    use Condition::{BeginsWith, Eq};
    let allowed: &[(&str, &[Condition])] = &[
        ("TYPE", &[Eq, BeginsWith]),
        ("NAME", &[Eq, BeginsWith]),
        ("HTTP_NAME", &[Eq, BeginsWith]),
        ("RESOURCE_OWNER", &[Eq]),
    ];
    let mut namespaces = registry.list_namespaces();
    for filter in request.filters.unwrap_or_default() {
        let how = condition(&filter, allowed)?;
        let values: Vec<String> = filter
            .values
            .iter()
            .map(|v| v.to_ascii_lowercase())
            .collect();
        match filter.name.as_str() {
            "TYPE" => namespaces.retain(|ns| text_matches(how, &filter.values, ns.kind.as_str())),
            "NAME" | "HTTP_NAME" => {
                namespaces.retain(|ns| text_matches(how, &values, &ns.name.to_ascii_lowercase()))
            }
            // One owner: every namespace is this account's.
            _ => {
                if !filter
                    .values
                    .iter()
                    .any(|v| v == "SELF" || *v == cx.account.id)
                {
                    namespaces.clear();
                }
            }
        }
    }
    let (chosen, next_token) = page(
        namespaces,
        |ns| age_key(ns.created_at, &ns.id),
        request.next_token.as_deref(),
        request.max_results,
    )?;
    Ok(api::ListNamespacesResponse {
        namespaces: chosen.into_iter().map(|ns| shape(ns, cx)).collect(),
        next_token,
    })
}

pub async fn update(
    writer: &Writer,
    kind: NamespaceType,
    request: api::UpdateNamespaceRequest,
) -> Result<api::OperationResponse, ApiError> {
    let namespace = writer.registry().get_namespace(&request.id)?;
    if namespace.kind != kind {
        return Err(ApiError::invalid(format!(
            "namespace '{}' is {}; use the update action for that type",
            namespace.name,
            namespace.kind.as_str()
        )));
    }
    let dns = request
        .namespace
        .properties
        .and_then(|p| p.dns_properties)
        .unwrap_or_default();
    let soa = match &dns.name_servers {
        Some(servers) => Some(registry::SoaSettings {
            name_servers: name_servers(servers)?,
            ..namespace.soa.clone()
        }),
        None => None,
    };
    let update = NamespaceUpdate {
        description: request.namespace.description,
        soa,
        soa_ttl: soa_ttl(dns.soa.as_ref())?,
        allowed_networks: dns.allowed_networks.as_deref().map(networks).transpose()?,
        transfer: dns.transfer.as_ref().map(transfer).transpose()?,
        updater_request_id: request.updater_request_id,
    };
    let operation_id = writer.update_namespace(&namespace.id, update).await?;
    Ok(api::OperationResponse { operation_id })
}

pub async fn delete(
    writer: &Writer,
    request: IdRequest,
) -> Result<api::OperationResponse, ApiError> {
    let operation_id = writer.delete_namespace(&request.id).await?;
    Ok(api::OperationResponse { operation_id })
}

/// `Transfer` (cairn's extension) as the registry takes it: `None` for one
/// with nothing in it, which follows `[transfer]`. The registry checks the
/// rest, the key among them.
fn transfer(given: &api::Transfer) -> Result<Option<registry::TransferSettings>, ApiError> {
    use crate::config::transfer::{BadEntry, zone_settings};
    let field = "Properties.DnsProperties.Transfer";
    let (allow, notify) = (given.allow.as_deref(), given.notify.as_deref());
    zone_settings(allow, notify, given.key.clone()).map_err(|bad| match bad {
        BadEntry::Allow(i, text) => ApiError::invalid(format!(
            "{field}.Allow[{i}]: '{text}' is not an address or network such as 192.0.2.53 or 10.0.0.0/8"
        )),
        BadEntry::Notify(i, text) => ApiError::invalid(format!(
            "{field}.Notify[{i}]: '{text}' is not an address such as 192.0.2.53, 192.0.2.53:5300 or [2001:db8::53]:53"
        )),
    })
}

/// `NameServers` (cairn's extension) as the registry holds them; the
/// registry checks the names and which need addresses.
fn name_servers(servers: &[api::NameServer]) -> Result<Vec<registry::NameServer>, ApiError> {
    servers
        .iter()
        .map(|server| {
            let addresses = server
                .addresses
                .iter()
                .map(|text| {
                    text.parse().map_err(|_| {
                        ApiError::invalid(format!(
                            "NameServers: '{text}' of '{}' is not an IP address; write it like \"192.0.2.53\" or \"2001:db8::53\"",
                            server.name
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(registry::NameServer {
                name: server.name.clone(),
                addresses,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::hosted_zone_id;

    #[test]
    fn a_hosted_zone_id_is_route_53_shaped_and_fixed_by_the_namespace_id() {
        // The first 100 bits of SHA-256 in RFC 4648 base32: pinned, since
        // Terraform state remembers it across upgrades.
        assert_eq!(
            hosted_zone_id("ns-0123456789abcdef"),
            "ZVFS5ZQY3ZBOAGK7SUCGM"
        );
        assert_ne!(
            hosted_zone_id("ns-0123456789abcdef"),
            hosted_zone_id("ns-0123456789abcdeg")
        );
    }
}
