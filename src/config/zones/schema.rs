//! A zones file's TOML shapes: what serde reads, before anything is
//! checked. `deny_unknown_fields` everywhere, so a misspelt key is an error
//! naming it. What the values mean, and whether they are valid, is
//! `translate.rs`'s business.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

use crate::registry::Tags;

/// A zones file's head (see `outline`): the namespace, and the services if
/// they are written inline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeadToml {
    pub(super) namespace: NamespaceToml,
    pub(super) services: Option<Vec<ServiceToml>>,
}

/// A batch of `[[services]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchToml {
    pub(super) services: Vec<ServiceToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamespaceToml {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: NamespaceTypeToml,
    pub(super) description: Option<String>,
    pub(super) allowed_networks: Option<Vec<String>>,
    #[serde(default)]
    pub(super) tags: Tags,
    pub(super) soa: Option<SoaToml>,
    /// The zone's NS records, a cairn extension:
    /// `name_servers = [{ name = "ns1.svc.internal", addresses = ["192.0.2.53"] }]`.
    pub(super) name_servers: Option<Vec<NameServerToml>>,
    /// The zone's own transfer settings, a cairn extension, in place of
    /// `[transfer]`'s: `[namespace.transfer]` with `allow`, `notify`, `key`.
    pub(super) transfer: Option<TransferToml>,
}

/// `[namespace.transfer]`. Left out, or written with nothing in it, the
/// zone follows `[transfer]`; otherwise what it leaves out is empty.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferToml {
    pub(super) allow: Option<Vec<String>>,
    pub(super) notify: Option<Vec<String>>,
    pub(super) key: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum NamespaceTypeToml {
    DnsPrivate,
    DnsPublic,
    Http,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NameServerToml {
    pub(super) name: String,
    #[serde(default)]
    pub(super) addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SoaToml {
    pub(super) ttl: Option<u32>,
    pub(super) mname: Option<String>,
    pub(super) rname: Option<String>,
    pub(super) refresh: Option<u32>,
    pub(super) retry: Option<u32>,
    pub(super) expire: Option<u32>,
    pub(super) minimum: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceToml {
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) routing_policy: Option<RoutingPolicyToml>,
    #[serde(default)]
    pub(super) records: Vec<RecordToml>,
    pub(super) health_check: Option<HealthCheckToml>,
    pub(super) custom_health_check: Option<CustomHealthCheckToml>,
    pub(super) heartbeat: Option<HeartbeatToml>,
    #[serde(default)]
    pub(super) tags: Tags,
    #[serde(default)]
    pub(super) instances: Vec<InstanceToml>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum RoutingPolicyToml {
    Multivalue,
    Weighted,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordToml {
    #[serde(rename = "type")]
    pub(super) kind: RecordKindToml,
    pub(super) ttl: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum RecordKindToml {
    A,
    Aaaa,
    Srv,
    Cname,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HealthCheckToml {
    #[serde(rename = "type")]
    pub(super) kind: HealthCheckTypeToml,
    pub(super) path: Option<String>,
    /// Cloud Map's default.
    #[serde(default = "one")]
    pub(super) failure_threshold: u8,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum HealthCheckTypeToml {
    Http,
    Https,
    Tcp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CustomHealthCheckToml {
    #[serde(default = "one")]
    pub(super) failure_threshold: u8,
}

/// `heartbeat = { ttl_secs = 30, deregister_after_secs = 300 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeartbeatToml {
    pub(super) ttl_secs: f64,
    pub(super) deregister_after_secs: Option<f64>,
}

fn one() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InstanceToml {
    pub(super) id: String,
    pub(super) ipv4: Option<Ipv4Addr>,
    pub(super) ipv6: Option<Ipv6Addr>,
    pub(super) port: Option<u16>,
    pub(super) cname: Option<String>,
    #[serde(default)]
    pub(super) attributes: BTreeMap<String, String>,
}
