//! Namespace requests and responses.

use serde::{Deserialize, Serialize};

use super::{Tag, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceType {
    #[serde(rename = "DNS_PRIVATE")]
    DnsPrivate,
    #[serde(rename = "DNS_PUBLIC")]
    DnsPublic,
    #[serde(rename = "HTTP")]
    Http,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Soa {
    #[serde(rename = "TTL")]
    pub ttl: i64,
}

/// One of a zone's name servers (cairn's extension): the NS record's
/// target, and its addresses when it is in the zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameServer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// A zone's own transfer settings (cairn's extension), in place of the
/// server's `[transfer]` allow, notify and key: clients that may transfer
/// (networks or addresses), secondaries to NOTIFY (`address[:port]`, port
/// 53 when none), and the name of a key from the server's
/// `[[transfer.keys]]`. In a request, a `Transfer` with none of the three
/// gives the zone back to `[transfer]`; one with any of them is the
/// zone's, and what it leaves out is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transfer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `Properties.DnsProperties` of a request. `AllowedNetworks` and
/// `NameServers` and `Transfer` are cairn's extensions: the CIDRs a
/// private namespace answers (loopback when none), the zone's NS records
/// (the server's default name server when none), and its own transfer
/// settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsPropertiesInput {
    #[serde(rename = "SOA", default, skip_serializing_if = "Option::is_none")]
    pub soa: Option<Soa>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_networks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_servers: Option<Vec<NameServer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespacePropertiesInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_properties: Option<DnsPropertiesInput>,
}

/// CreatePrivateDnsNamespace, CreatePublicDnsNamespace, CreateHttpNamespace.
/// A private namespace's `Vpc` stands for the networks the config maps it
/// to (`[private_namespaces.vpcs]`), added to `AllowedNetworks`, cairn's
/// extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNamespaceRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<NamespacePropertiesInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespaceChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<NamespacePropertiesInput>,
}

/// UpdatePrivateDnsNamespace, UpdatePublicDnsNamespace, UpdateHttpNamespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateNamespaceRequest {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updater_request_id: Option<String>,
    pub namespace: NamespaceChange,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsProperties {
    /// Derived from the namespace id (see `admin::actions::namespaces`),
    /// never stored; what Terraform reads as `hosted_zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    #[serde(rename = "SOA", default, skip_serializing_if = "Option::is_none")]
    pub soa: Option<Soa>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_networks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_servers: Option<Vec<NameServer>>,
    /// Shown only for a zone with settings of its own, with `Allow` and
    /// `Notify` always written, so that it reads back as the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpProperties {
    pub http_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespaceProperties {
    #[serde(default)]
    pub dns_properties: DnsProperties,
    #[serde(default)]
    pub http_properties: HttpProperties,
}

/// A namespace as GetNamespace and ListNamespaces show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Namespace {
    pub id: String,
    pub arn: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: NamespaceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub service_count: usize,
    #[serde(default)]
    pub properties: NamespaceProperties,
    pub create_date: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetNamespaceResponse {
    pub namespace: Namespace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListNamespacesResponse {
    pub namespaces: Vec<Namespace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
