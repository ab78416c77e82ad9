//! The registry's data: namespaces, services, instances, health and
//! operations, in Cloud Map's terms. Plain values; all checking happens in
//! `validate`, all change in `Registry`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

use super::attributes::Attributes;

/// Tags on a namespace or service, key → value.
pub type Tags = BTreeMap<String, String>;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// What a namespace is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceType {
    /// A DNS zone answered only to the namespace's allowed networks.
    DnsPrivate,
    /// A DNS zone answered to anyone.
    DnsPublic,
    /// No DNS at all: instances are found through DiscoverInstances only.
    Http,
}

impl NamespaceType {
    /// Cloud Map's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DnsPrivate => "DNS_PRIVATE",
            Self::DnsPublic => "DNS_PUBLIC",
            Self::Http => "HTTP",
        }
    }

    /// Parses Cloud Map's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "DNS_PRIVATE" => Some(Self::DnsPrivate),
            "DNS_PUBLIC" => Some(Self::DnsPublic),
            "HTTP" => Some(Self::Http),
            _ => None,
        }
    }

    /// Whether the namespace is served over DNS.
    pub fn has_dns(self) -> bool {
        !matches!(self, Self::Http)
    }
}

/// The zone's SOA record and the name servers its NS records name. `ttl`
/// is Cloud Map's `SOA.TTL` (the NS records take it too); negative answers
/// are cached for `min(ttl, minimum)` (RFC 2308 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaSettings {
    pub ttl: u32,
    /// Primary name server; `ns1.<zone>` when unset.
    pub mname: Option<String>,
    /// The zone's NS records (a cairn extension). Empty: one NS naming the
    /// primary name server, whose addresses — when it is in the zone — are
    /// the server's own (`dns.name_server_addresses`).
    pub name_servers: Vec<NameServer>,
    /// Responsible mailbox in DNS form; `hostmaster.<zone>` when unset.
    pub rname: Option<String>,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

impl Default for SoaSettings {
    fn default() -> Self {
        Self {
            ttl: 60,
            mname: None,
            name_servers: Vec::new(),
            rname: None,
            refresh: 7200,
            retry: 900,
            expire: 1_209_600,
            minimum: 86_400,
        }
    }
}

impl SoaSettings {
    /// The primary name server `zone` names in its SOA: the one set, or
    /// `ns1.<zone>`.
    pub fn mname_for(&self, zone: &str) -> String {
        self.mname.clone().unwrap_or_else(|| format!("ns1.{zone}"))
    }

    /// The names of the hosts, in the zone and relative to it (lower case),
    /// that cairn answers A/AAAA for as the zone's name servers: what no
    /// service may be named.
    pub fn name_server_hosts(&self, zone: &str) -> Vec<String> {
        let zone = zone.to_ascii_lowercase();
        let names = if self.name_servers.is_empty() {
            vec![self.mname_for(&zone)]
        } else {
            self.name_servers
                .iter()
                .map(|server| server.name.clone())
                .collect()
        };
        names
            .into_iter()
            .filter_map(|name| {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let relative = name.strip_suffix(&zone)?.strip_suffix('.')?;
                (!relative.is_empty()).then(|| relative.to_string())
            })
            .collect()
    }

    /// The mailbox `zone` names in its SOA: the one set, or
    /// `hostmaster.<zone>`.
    pub fn rname_for(&self, zone: &str) -> String {
        self.rname
            .clone()
            .unwrap_or_else(|| format!("hostmaster.{zone}"))
    }

    /// How long resolvers may cache a negative answer from this zone.
    pub fn negative_ttl(&self) -> u32 {
        self.ttl.min(self.minimum)
    }
}

/// A name server of a zone: the NS record's target and, when that name is
/// in the zone, the addresses cairn answers for it (and sends as glue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameServer {
    /// A full name, without a trailing dot.
    pub name: String,
    /// Empty for a name outside the zone: its own zone answers for it.
    pub addresses: Vec<std::net::IpAddr>,
}

/// A zone's own transfer settings (a cairn extension). A namespace that
/// has them uses them in place of `[transfer]`'s `allow`, `notify` and
/// `key`, all three at once: what they leave empty is empty for the zone,
/// not taken from `[transfer]`. The keys' secrets stay in the config
/// (`[[transfer.keys]]`); a zone only names one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferSettings {
    /// Clients that may transfer the zone (and, for a private zone, that
    /// its allowed networks answer too); empty: nobody.
    pub allow: Vec<IpNet>,
    /// Secondaries sent a NOTIFY when the zone's serial rises.
    pub notify: Vec<SocketAddr>,
    /// The configured key transfers must be signed with, and NOTIFYs are
    /// (lower case, no trailing dot); `None`: by address alone.
    pub key: Option<String>,
}

/// A namespace: one DNS zone, or an API-only group of services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: String,
    /// As the operator wrote it, without a trailing dot.
    pub name: String,
    pub kind: NamespaceType,
    pub description: Option<String>,
    pub soa: SoaSettings,
    /// For private namespaces: the client networks DNS answers. Empty for
    /// public and HTTP namespaces.
    pub allowed_networks: Vec<IpNet>,
    /// Its own zone-transfer settings; `None`: `[transfer]`'s.
    pub transfer: Option<TransferSettings>,
    pub creator_request_id: Option<String>,
    pub created_at: Millis,
    pub tags: Tags,
    /// Grows on every change to the namespace or anything in it; the SOA
    /// serial.
    pub revision: u64,
    pub service_count: usize,
    /// The region it was created in (the caller's signed region), for its
    /// ARN; `None` for namespaces created before cairn kept it, which show
    /// the configured default region.
    pub region: Option<String>,
}

/// How a service's DNS answers choose among instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutingPolicy {
    /// Up to eight healthy records, chosen at random per query.
    Multivalue,
    /// One healthy record, chosen at random (by the `weight` attribute).
    Weighted,
}

impl RoutingPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Multivalue => "MULTIVALUE",
            Self::Weighted => "WEIGHTED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "MULTIVALUE" => Some(Self::Multivalue),
            "WEIGHTED" => Some(Self::Weighted),
            _ => None,
        }
    }
}

/// The record types a service template may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    A,
    Aaaa,
    Srv,
    Cname,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Srv => "SRV",
            Self::Cname => "CNAME",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "A" => Some(Self::A),
            "AAAA" => Some(Self::Aaaa),
            "SRV" => Some(Self::Srv),
            "CNAME" => Some(Self::Cname),
            _ => None,
        }
    }
}

/// One record type of a template, with its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsRecord {
    pub kind: RecordKind,
    pub ttl: u32,
}

/// A service's DNS template: what records each instance produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTemplate {
    pub routing_policy: RoutingPolicy,
    pub records: Vec<DnsRecord>,
}

impl DnsTemplate {
    /// The template's record of this kind, if it has one.
    pub fn record(&self, kind: RecordKind) -> Option<DnsRecord> {
        self.records.iter().copied().find(|r| r.kind == kind)
    }

    pub fn has(&self, kind: RecordKind) -> bool {
        self.record(kind).is_some()
    }
}

/// How cairn probes an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthCheckType {
    Http,
    Https,
    Tcp,
}

impl HealthCheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::Tcp => "TCP",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "HTTP" => Some(Self::Http),
            "HTTPS" => Some(Self::Https),
            "TCP" => Some(Self::Tcp),
            _ => None,
        }
    }
}

/// An active health check that cairn runs against every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub kind: HealthCheckType,
    /// For HTTP(S): the path requested; `/` when unset.
    pub resource_path: Option<String>,
    /// Consecutive failures before an instance turns UNHEALTHY (1–10).
    pub failure_threshold: u8,
}

/// A health status reported by the operator's own checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomHealthCheck {
    pub failure_threshold: u8,
}

/// A heartbeat check (a cairn extension, like Consul's TTL checks): each
/// instance reports itself alive through the `Heartbeat` action. One that
/// has not within `ttl_ms` turns UNHEALTHY; one silent for
/// `deregister_after_ms` is deregistered. The clock starts at registration
/// and, being kept in memory only, again when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub ttl_ms: u64,
    /// Longer than `ttl_ms`; `None` keeps silent instances, UNHEALTHY.
    pub deregister_after_ms: Option<u64>,
}

/// A service: a DNS template and the instances registered under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub namespace_id: String,
    pub name: String,
    pub description: Option<String>,
    /// `None` for API-only services (Cloud Map's `Type: HTTP`).
    pub dns: Option<DnsTemplate>,
    pub health_check: Option<HealthCheckConfig>,
    pub custom_health_check: Option<CustomHealthCheck>,
    pub heartbeat: Option<Heartbeat>,
    pub creator_request_id: Option<String>,
    pub created_at: Millis,
    pub tags: Tags,
    /// Grows on every change to the service or its instances
    /// (DiscoverInstances' `InstancesRevision`).
    pub revision: u64,
    pub instance_count: usize,
    /// As [`Namespace::region`].
    pub region: Option<String>,
    /// Cloud Map's service attributes (Get/Update/DeleteServiceAttributes):
    /// key → value, at most [`validate::MAX_SERVICE_ATTRIBUTES`]. Only kept
    /// and shown; nothing in DNS depends on them.
    ///
    /// [`validate::MAX_SERVICE_ATTRIBUTES`]: super::validate::MAX_SERVICE_ATTRIBUTES
    pub attributes: Tags,
}

impl Service {
    /// Cloud Map's service `Type`: `DNS_HTTP` when it has DNS records.
    pub fn type_name(&self) -> &'static str {
        if self.dns.is_some() {
            "DNS_HTTP"
        } else {
            "HTTP"
        }
    }

    /// Whether any health check decides this service's instances' status.
    /// Whether the service's records name its instances
    /// (`<id>.<service>.<zone>`, the targets of SRV records), so that the
    /// names below the service are its own.
    pub fn names_instances(&self) -> bool {
        self.dns
            .as_ref()
            .is_some_and(|dns| dns.has(RecordKind::Srv))
    }

    pub fn has_health_check(&self) -> bool {
        self.health_check.is_some()
            || self.custom_health_check.is_some()
            || self.heartbeat.is_some()
    }
}

/// An instance's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
    /// No result yet from a configured check.
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "HEALTHY",
            Self::Unhealthy => "UNHEALTHY",
            Self::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "HEALTHY" => Some(Self::Healthy),
            "UNHEALTHY" => Some(Self::Unhealthy),
            "UNKNOWN" => Some(Self::Unknown),
            _ => None,
        }
    }

    /// Whether DNS should prefer this instance. UNKNOWN counts as healthy:
    /// an instance is not withheld before its first check result.
    pub fn serves_traffic(self) -> bool {
        !matches!(self, Self::Unhealthy)
    }
}

/// What DNS needs of an instance, parsed once from its reserved attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: Option<u16>,
    /// A DNS name, without a trailing dot.
    pub cname: Option<Box<str>>,
    /// Relative weight among a WEIGHTED service's instances (default 1).
    pub weight: u32,
}

/// One registered endpoint of a service. A million of them must fit in a
/// few hundred megabytes, hence the boxed strings and packed attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// Every attribute as registered, reserved and custom.
    pub attributes: Attributes,
    pub endpoint: Endpoint,
    pub health: HealthStatus,
    pub creator_request_id: Option<Box<str>>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What kind of change an operation records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationType {
    CreateNamespace,
    DeleteNamespace,
    UpdateNamespace,
    UpdateService,
    RegisterInstance,
    DeregisterInstance,
}

impl OperationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateNamespace => "CREATE_NAMESPACE",
            Self::DeleteNamespace => "DELETE_NAMESPACE",
            Self::UpdateNamespace => "UPDATE_NAMESPACE",
            Self::UpdateService => "UPDATE_SERVICE",
            Self::RegisterInstance => "REGISTER_INSTANCE",
            Self::DeregisterInstance => "DEREGISTER_INSTANCE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::CreateNamespace,
            Self::DeleteNamespace,
            Self::UpdateNamespace,
            Self::UpdateService,
            Self::RegisterInstance,
            Self::DeregisterInstance,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// Operations finish before their call returns, so only these two occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationStatus {
    Success,
    Fail,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }
}

/// A record of one asynchronous-in-Cloud-Map change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: String,
    pub kind: OperationType,
    pub status: OperationStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub namespace_id: Option<String>,
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
    /// The UpdaterRequestId of the call that made it, so a retry with the
    /// same token is answered with this operation.
    pub request_token: Option<String>,
}
