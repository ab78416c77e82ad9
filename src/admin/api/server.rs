//! cairn's own actions about the server itself (not Cloud Map's):
//! `GetServerStatus` (what `cairn status` prints) and `ReloadServer`
//! (`cairn reload`).

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// `GetServerStatus` takes no input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServerStatusRequest {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServerStatusResponse {
    pub version: String,
    pub started_at: Timestamp,
    pub uptime_seconds: f64,
    pub listeners: ServerListeners,
    pub counts: ServerCounts,
    pub store: ServerStore,
    pub health_checks: ServerHealthChecks,
    /// Each zone's secondaries told by NOTIFY, and how the last NOTIFY to
    /// each stands; empty when none is configured.
    #[serde(default)]
    pub secondaries: Vec<ServerSecondary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerSecondary {
    pub zone: String,
    pub address: String,
    /// The serial last announced.
    pub serial: u64,
    /// `sending`, `acknowledged`, `refused`, `unanswered` or `not_sent`.
    pub notify: String,
    /// When it came to that (the first attempt while sending).
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerListeners {
    /// Each address serves UDP and TCP.
    pub dns: Vec<String>,
    pub udp_workers: usize,
    pub admin_socket: String,
    /// The Cloud Map API on TCP; empty when it is off.
    #[serde(default)]
    pub api: Vec<String>,
    #[serde(default)]
    pub api_tls: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerCounts {
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerStore {
    /// `redb` or `memory`.
    pub backend: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<u64>,
    /// The last commit since the server started; absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<Timestamp>,
    /// Changes ever committed: the revision every SOA serial is at least.
    /// On a cluster node, the etcd revision applied here.
    pub revision: u64,
    /// A cluster node's following of etcd; absent on a server of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ServerCluster>,
}

/// How a cluster node follows etcd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerCluster {
    /// The etcd revision applied here.
    pub applied_revision: u64,
    /// The newest etcd revision this node has heard of.
    pub latest_revision: u64,
    /// Revisions committed in etcd and not applied here yet.
    pub watch_lag: u64,
    /// Whether etcd answers; while it does not, the node is stale: DNS
    /// answers from the state at `AppliedRevision`, writes are refused.
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_reason: Option<String>,
    pub consistency_checks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_consistency_check: Option<Timestamp>,
    /// Checks that found this node differing from etcd and re-read it.
    pub repairs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerHealthChecks {
    /// Services with a health check and at least one instance.
    pub services_checked: usize,
    /// Instances probed.
    pub instances_checked: usize,
    pub probes_in_flight: usize,
    /// Absent before the first round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_round: Option<Timestamp>,
    pub rounds: u64,
}

/// `ReloadServer` takes no input: it re-reads the config file the server
/// was started with, and zones/.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReloadServerRequest {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReloadServerResponse {
    /// Config keys that changed and now apply.
    #[serde(default)]
    pub applied: Vec<String>,
    /// Config keys that changed but only apply after a restart.
    #[serde(default)]
    pub restart_required: Vec<String>,
    /// zones/ as applied again; absent without a zones directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<ReloadedZones>,
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReloadedZones {
    pub files: usize,
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
    pub replaced: usize,
}
