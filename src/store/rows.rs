//! The store's row types: how a namespace, a service, an instance and an
//! operation are written in `cairn.redb`, apart from how the registry holds
//! them in memory.
//!
//! Each row is one JSON object whose field names, enum spellings and
//! optional fields are exactly those cairn 0.1.0 wrote when the registry's
//! own serde derives were the format (`tests/fixtures/store-v0.1` is such a
//! file; `store/tests/rows.rs` re-encodes every row of it byte for byte).
//! Keeping the format here means the registry can change its types freely:
//! only the conversions below have to follow. Rules for changing a row:
//!
//! - never rename or remove a field, nor respell an enum variant: files
//!   already written must still decode;
//! - a new field is `Option` or `#[serde(default)]`, so rows written before
//!   it decode (as `heartbeat` is);
//! - unknown fields are ignored, so a file written by a newer build that
//!   added a field still loads in this one.
//!
//! Rows borrow from the registry's values (`Cow`), so encoding a change
//! copies nothing but the JSON it produces.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::registry::{
    Attributes, CustomHealthCheck, DnsRecord, DnsTemplate, Endpoint, HealthCheckConfig,
    HealthCheckType, HealthStatus, Heartbeat, Instance, Millis, NameServer, Namespace,
    NamespaceType, Operation, OperationStatus, OperationType, RecordKind, RoutingPolicy, Service,
    SoaSettings, Tags, TransferSettings,
};

/// A row's JSON: the bytes [`crate::store`] keeps (before its checksum).
pub(super) fn to_json(row: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(row)
}

/// Reads a row's JSON.
pub(super) fn from_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(json)
}

/// An enum of the registry written as its Rust variant name (`"DnsPrivate"`,
/// `"Aaaa"`), as the registry's derive wrote it: the store's spelling, which
/// never changes, mapped variant for variant to the registry's type.
macro_rules! row_enum {
    ($(#[$doc:meta])* $row:ident <=> $model:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub(super) enum $row {
            $($variant),+
        }

        impl From<$model> for $row {
            fn from(value: $model) -> Self {
                match value {
                    $($model::$variant => Self::$variant),+
                }
            }
        }

        impl From<$row> for $model {
            fn from(value: $row) -> Self {
                match value {
                    $($row::$variant => Self::$variant),+
                }
            }
        }
    };
}

row_enum!(NamespaceKindRow <=> NamespaceType { DnsPrivate, DnsPublic, Http });
row_enum!(RoutingPolicyRow <=> RoutingPolicy { Multivalue, Weighted });
row_enum!(RecordKindRow <=> RecordKind { A, Aaaa, Srv, Cname });
row_enum!(HealthCheckTypeRow <=> HealthCheckType { Http, Https, Tcp });
row_enum!(HealthStatusRow <=> HealthStatus { Healthy, Unhealthy, Unknown });
row_enum!(OperationTypeRow <=> OperationType {
    CreateNamespace,
    DeleteNamespace,
    UpdateNamespace,
    UpdateService,
    RegisterInstance,
    DeregisterInstance,
});
row_enum!(OperationStatusRow <=> OperationStatus { Success, Fail });

fn borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

/// `namespaces` table: namespace id → this.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct NamespaceRow<'a> {
    pub(super) id: Cow<'a, str>,
    name: Cow<'a, str>,
    kind: NamespaceKindRow,
    description: Option<Cow<'a, str>>,
    soa: SoaRow<'a>,
    allowed_networks: Cow<'a, [IpNet]>,
    creator_request_id: Option<Cow<'a, str>>,
    created_at: Millis,
    tags: Cow<'a, Tags>,
    revision: u64,
    service_count: usize,
    /// Rows written before regions were kept have none (and never write one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<Cow<'a, str>>,
    /// The zone's own transfer settings. Rows written before they existed
    /// have none, and a namespace without them writes none, so such rows
    /// re-encode as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transfer: Option<TransferRow<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TransferRow<'a> {
    allow: Cow<'a, [IpNet]>,
    notify: Cow<'a, [std::net::SocketAddr]>,
    key: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NameServerRow {
    name: String,
    addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SoaRow<'a> {
    ttl: u32,
    mname: Option<Cow<'a, str>>,
    /// Added after 0.1.0: absent means none set (and is not written then).
    #[serde(default, skip_serializing_if = "<[NameServerRow]>::is_empty")]
    name_servers: Cow<'a, [NameServerRow]>,
    rname: Option<Cow<'a, str>>,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
}

impl<'a> From<&'a Namespace> for NamespaceRow<'a> {
    fn from(namespace: &'a Namespace) -> Self {
        let soa = &namespace.soa;
        Self {
            id: Cow::Borrowed(&namespace.id),
            name: Cow::Borrowed(&namespace.name),
            kind: namespace.kind.into(),
            description: borrowed(&namespace.description),
            soa: SoaRow {
                ttl: soa.ttl,
                mname: borrowed(&soa.mname),
                name_servers: soa
                    .name_servers
                    .iter()
                    .map(|server| NameServerRow {
                        name: server.name.clone(),
                        addresses: server.addresses.clone(),
                    })
                    .collect(),
                rname: borrowed(&soa.rname),
                refresh: soa.refresh,
                retry: soa.retry,
                expire: soa.expire,
                minimum: soa.minimum,
            },
            allowed_networks: Cow::Borrowed(&namespace.allowed_networks),
            creator_request_id: borrowed(&namespace.creator_request_id),
            created_at: namespace.created_at,
            tags: Cow::Borrowed(&namespace.tags),
            revision: namespace.revision,
            service_count: namespace.service_count,
            region: borrowed(&namespace.region),
            transfer: namespace.transfer.as_ref().map(|transfer| TransferRow {
                allow: Cow::Borrowed(&transfer.allow),
                notify: Cow::Borrowed(&transfer.notify),
                key: borrowed(&transfer.key),
            }),
        }
    }
}

impl From<NamespaceRow<'_>> for Namespace {
    fn from(row: NamespaceRow<'_>) -> Self {
        let soa = row.soa;
        Self {
            id: row.id.into_owned(),
            name: row.name.into_owned(),
            kind: row.kind.into(),
            description: owned(row.description),
            soa: SoaSettings {
                ttl: soa.ttl,
                mname: owned(soa.mname),
                name_servers: soa
                    .name_servers
                    .iter()
                    .map(|server| NameServer {
                        name: server.name.clone(),
                        addresses: server.addresses.clone(),
                    })
                    .collect(),
                rname: owned(soa.rname),
                refresh: soa.refresh,
                retry: soa.retry,
                expire: soa.expire,
                minimum: soa.minimum,
            },
            allowed_networks: row.allowed_networks.into_owned(),
            transfer: row.transfer.map(|transfer| TransferSettings {
                allow: transfer.allow.into_owned(),
                notify: transfer.notify.into_owned(),
                key: owned(transfer.key),
            }),
            creator_request_id: owned(row.creator_request_id),
            created_at: row.created_at,
            tags: row.tags.into_owned(),
            revision: row.revision,
            service_count: row.service_count,
            region: owned(row.region),
        }
    }
}

/// `services` table: service id → this (without its instances).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ServiceRow<'a> {
    pub(super) id: Cow<'a, str>,
    namespace_id: Cow<'a, str>,
    name: Cow<'a, str>,
    description: Option<Cow<'a, str>>,
    dns: Option<DnsTemplateRow>,
    health_check: Option<HealthCheckRow<'a>>,
    custom_health_check: Option<CustomHealthCheckRow>,
    /// Rows written before heartbeats existed have no such field.
    #[serde(default)]
    heartbeat: Option<HeartbeatRow>,
    creator_request_id: Option<Cow<'a, str>>,
    created_at: Millis,
    tags: Cow<'a, Tags>,
    revision: u64,
    instance_count: usize,
    /// Rows written before regions were kept have none (and never write one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<Cow<'a, str>>,
    /// Rows written before service attributes existed have none; an empty
    /// map is not written, so such rows re-encode as they were.
    #[serde(default, skip_serializing_if = "is_empty")]
    attributes: Cow<'a, Tags>,
}

#[allow(clippy::ptr_arg)] // serde's skip_serializing_if passes the field as it is
fn is_empty(map: &Cow<'_, Tags>) -> bool {
    map.is_empty()
}

#[derive(Debug, Serialize, Deserialize)]
struct DnsTemplateRow {
    routing_policy: RoutingPolicyRow,
    records: Vec<DnsRecordRow>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DnsRecordRow {
    kind: RecordKindRow,
    ttl: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct HealthCheckRow<'a> {
    kind: HealthCheckTypeRow,
    resource_path: Option<Cow<'a, str>>,
    failure_threshold: u8,
}

#[derive(Debug, Serialize, Deserialize)]
struct CustomHealthCheckRow {
    failure_threshold: u8,
}

#[derive(Debug, Serialize, Deserialize)]
struct HeartbeatRow {
    ttl_ms: u64,
    deregister_after_ms: Option<u64>,
}

impl<'a> From<&'a Service> for ServiceRow<'a> {
    fn from(service: &'a Service) -> Self {
        Self {
            id: Cow::Borrowed(&service.id),
            namespace_id: Cow::Borrowed(&service.namespace_id),
            name: Cow::Borrowed(&service.name),
            description: borrowed(&service.description),
            dns: service.dns.as_ref().map(|dns| DnsTemplateRow {
                routing_policy: dns.routing_policy.into(),
                records: dns
                    .records
                    .iter()
                    .map(|record| DnsRecordRow {
                        kind: record.kind.into(),
                        ttl: record.ttl,
                    })
                    .collect(),
            }),
            health_check: service.health_check.as_ref().map(|check| HealthCheckRow {
                kind: check.kind.into(),
                resource_path: borrowed(&check.resource_path),
                failure_threshold: check.failure_threshold,
            }),
            custom_health_check: service
                .custom_health_check
                .map(|check| CustomHealthCheckRow {
                    failure_threshold: check.failure_threshold,
                }),
            heartbeat: service.heartbeat.map(|heartbeat| HeartbeatRow {
                ttl_ms: heartbeat.ttl_ms,
                deregister_after_ms: heartbeat.deregister_after_ms,
            }),
            creator_request_id: borrowed(&service.creator_request_id),
            created_at: service.created_at,
            tags: Cow::Borrowed(&service.tags),
            revision: service.revision,
            instance_count: service.instance_count,
            region: borrowed(&service.region),
            attributes: Cow::Borrowed(&service.attributes),
        }
    }
}

impl From<ServiceRow<'_>> for Service {
    fn from(row: ServiceRow<'_>) -> Self {
        Self {
            id: row.id.into_owned(),
            namespace_id: row.namespace_id.into_owned(),
            name: row.name.into_owned(),
            description: owned(row.description),
            dns: row.dns.map(|dns| DnsTemplate {
                routing_policy: dns.routing_policy.into(),
                records: dns
                    .records
                    .into_iter()
                    .map(|record| DnsRecord {
                        kind: record.kind.into(),
                        ttl: record.ttl,
                    })
                    .collect(),
            }),
            health_check: row.health_check.map(|check| HealthCheckConfig {
                kind: check.kind.into(),
                resource_path: owned(check.resource_path),
                failure_threshold: check.failure_threshold,
            }),
            custom_health_check: row.custom_health_check.map(|check| CustomHealthCheck {
                failure_threshold: check.failure_threshold,
            }),
            heartbeat: row.heartbeat.map(|heartbeat| Heartbeat {
                ttl_ms: heartbeat.ttl_ms,
                deregister_after_ms: heartbeat.deregister_after_ms,
            }),
            creator_request_id: owned(row.creator_request_id),
            created_at: row.created_at,
            tags: row.tags.into_owned(),
            revision: row.revision,
            instance_count: row.instance_count,
            region: owned(row.region),
            attributes: row.attributes.into_owned(),
        }
    }
}

/// `instances` table: (service id, lower-cased instance id) → this.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct InstanceRow<'a> {
    /// As registered, case kept.
    pub(super) id: Cow<'a, str>,
    attributes: AttributesRow<'a>,
    endpoint: EndpointRow<'a>,
    health: HealthStatusRow,
    creator_request_id: Option<Cow<'a, str>>,
    created_at: Millis,
    updated_at: Millis,
}

/// What the registry derives from the attributes, written out as well (it
/// always was): a row can be read without knowing the attribute rules.
#[derive(Debug, Serialize, Deserialize)]
struct EndpointRow<'a> {
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    port: Option<u16>,
    cname: Option<Cow<'a, str>>,
    weight: u32,
}

/// An instance's attributes as a JSON object in key order, however the
/// registry packs them.
#[derive(Debug)]
struct AttributesRow<'a>(Cow<'a, Attributes>);

impl Serialize for AttributesRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for AttributesRow<'_> {
    /// Through a map, which puts the keys in order (and keeps the last of a
    /// key given twice) whatever order the row has them in.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Self(Cow::Owned(Attributes::from(map))))
    }
}

impl<'a> From<&'a Instance> for InstanceRow<'a> {
    fn from(instance: &'a Instance) -> Self {
        let endpoint = &instance.endpoint;
        Self {
            id: Cow::Borrowed(&instance.id),
            attributes: AttributesRow(Cow::Borrowed(&instance.attributes)),
            endpoint: EndpointRow {
                ipv4: endpoint.ipv4,
                ipv6: endpoint.ipv6,
                port: endpoint.port,
                cname: endpoint.cname.as_deref().map(Cow::Borrowed),
                weight: endpoint.weight,
            },
            health: instance.health.into(),
            creator_request_id: instance.creator_request_id.as_deref().map(Cow::Borrowed),
            created_at: instance.created_at,
            updated_at: instance.updated_at,
        }
    }
}

impl From<InstanceRow<'_>> for Instance {
    fn from(row: InstanceRow<'_>) -> Self {
        let endpoint = row.endpoint;
        Self {
            id: row.id.into_owned(),
            attributes: row.attributes.0.into_owned(),
            endpoint: Endpoint {
                ipv4: endpoint.ipv4,
                ipv6: endpoint.ipv6,
                port: endpoint.port,
                cname: endpoint.cname.map(Box::from),
                weight: endpoint.weight,
            },
            health: row.health.into(),
            creator_request_id: row.creator_request_id.map(Box::from),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// `operations` table: sequence number → this.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OperationRow<'a> {
    pub(super) id: Cow<'a, str>,
    kind: OperationTypeRow,
    status: OperationStatusRow,
    error_code: Option<Cow<'a, str>>,
    error_message: Option<Cow<'a, str>>,
    created_at: Millis,
    updated_at: Millis,
    namespace_id: Option<Cow<'a, str>>,
    service_id: Option<Cow<'a, str>>,
    instance_id: Option<Cow<'a, str>>,
    /// Rows written before UpdaterRequestId was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_token: Option<Cow<'a, str>>,
}

impl<'a> From<&'a Operation> for OperationRow<'a> {
    fn from(operation: &'a Operation) -> Self {
        Self {
            id: Cow::Borrowed(&operation.id),
            kind: operation.kind.into(),
            status: operation.status.into(),
            error_code: borrowed(&operation.error_code),
            error_message: borrowed(&operation.error_message),
            created_at: operation.created_at,
            updated_at: operation.updated_at,
            namespace_id: borrowed(&operation.namespace_id),
            service_id: borrowed(&operation.service_id),
            instance_id: borrowed(&operation.instance_id),
            request_token: borrowed(&operation.request_token),
        }
    }
}

impl From<OperationRow<'_>> for Operation {
    fn from(row: OperationRow<'_>) -> Self {
        Self {
            id: row.id.into_owned(),
            kind: row.kind.into(),
            status: row.status.into(),
            error_code: owned(row.error_code),
            error_message: owned(row.error_message),
            created_at: row.created_at,
            updated_at: row.updated_at,
            namespace_id: owned(row.namespace_id),
            service_id: owned(row.service_id),
            instance_id: owned(row.instance_id),
            request_token: owned(row.request_token),
        }
    }
}
