//! Counters of the write side — admin requests, registrations, health,
//! store commits, probes — kept in one process-wide [`Events`].
//!
//! Process-wide rather than handed down: these are counted from the write
//! front, the store's committer thread, the health loop and the admin API,
//! at most some thousands of times a second, each with an uncontended
//! atomic (prometheus-client's counters, and its histograms' short lock),
//! and a handle threaded through each of those constructors would make
//! every one of them depend on the metrics wiring. The answer path does not
//! count here: it has its per-worker blocks ([`super::dns`]).

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// An admin API request's labels: the action (a known one, or `other`) and
/// the HTTP status answered.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdminLabels {
    pub action: &'static str,
    pub status: u16,
}

/// A health change's label: the status an instance moved to.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthLabels {
    pub status: &'static str,
}

/// A probe's label: `success` or `failure`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub result: &'static str,
}

/// A zone transfer's labels: the type asked for (`axfr`, `ixfr`) and what
/// it was answered with (`incremental`, `whole_zone`, `up_to_date`,
/// `refused`, `aborted` when the client stopped reading).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransferLabels {
    pub r#type: &'static str,
    pub result: &'static str,
}

/// A NOTIFY's label: `acknowledged`, `refused` (by the secondary),
/// `unanswered` (after every attempt) or `not_sent`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    pub result: &'static str,
}

/// The write side's metrics.
#[derive(Debug)]
pub struct Events {
    admin_requests: Family<AdminLabels, Counter>,
    admin_duration: Family<AdminLabels, Histogram>,
    registrations: Counter,
    deregistrations: Counter,
    health_transitions: Family<HealthLabels, Counter>,
    commit_duration: Histogram,
    commit_batch: Histogram,
    probes: Family<ProbeLabels, Counter>,
    transfers: Family<TransferLabels, Counter>,
    notifies: Family<NotifyLabels, Counter>,
    notify_attempts: Counter,
}

/// The process's [`Events`].
pub fn events() -> &'static Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS.get_or_init(|| Events {
        admin_requests: Family::default(),
        admin_duration: Family::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 4.0, 9))
        }),
        registrations: Counter::default(),
        deregistrations: Counter::default(),
        health_transitions: Family::default(),
        commit_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        commit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
        probes: Family::default(),
        transfers: Family::default(),
        notifies: Family::default(),
        notify_attempts: Counter::default(),
    })
}

impl Events {
    /// An admin API request answered with `status` after `took`.
    pub fn admin_request(&self, action: &'static str, status: u16, took: Duration) {
        let labels = AdminLabels { action, status };
        self.admin_requests.get_or_create(&labels).inc();
        self.admin_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// `count` instances registered (new or updated).
    pub fn registered(&self, count: u64) {
        self.registrations.inc_by(count);
    }

    /// An instance deregistered (by a call or a lapsed heartbeat).
    pub fn deregistered(&self) {
        self.deregistrations.inc();
    }

    /// An instance's health changed to `status` (`HEALTHY`, `UNHEALTHY`).
    pub fn health_changed(&self, status: &'static str) {
        self.health_transitions
            .get_or_create(&HealthLabels { status })
            .inc();
    }

    /// One store transaction of `commits` commits, durable after `took`.
    pub fn committed(&self, commits: usize, took: Duration) {
        self.commit_duration.observe(took.as_secs_f64());
        self.commit_batch.observe(commits as f64);
    }

    /// One health probe's result.
    pub fn probed(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.probes.get_or_create(&ProbeLabels { result }).inc();
    }

    /// A zone transfer request answered with `result` (see
    /// [`TransferLabels`]).
    pub fn transferred(&self, r#type: &'static str, result: &'static str) {
        self.transfers
            .get_or_create(&TransferLabels { r#type, result })
            .inc();
    }

    /// One NOTIFY datagram sent (a first attempt or a retry).
    pub fn notify_sent(&self) {
        self.notify_attempts.inc();
    }

    /// A NOTIFY's end (see [`NotifyLabels`]).
    pub fn notified(&self, result: &'static str) {
        self.notifies.get_or_create(&NotifyLabels { result }).inc();
    }

    /// Adds every metric to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cairn_admin_requests",
            "Admin API requests by action and HTTP status",
            self.admin_requests.clone(),
        );
        registry.register(
            "cairn_admin_request_duration_seconds",
            "Admin API request latency, from its headers to its answer",
            self.admin_duration.clone(),
        );
        registry.register(
            "cairn_registrations",
            "Instances registered (RegisterInstance, zones files, bulk loads)",
            self.registrations.clone(),
        );
        registry.register(
            "cairn_deregistrations",
            "Instances deregistered (DeregisterInstance, lapsed heartbeats)",
            self.deregistrations.clone(),
        );
        registry.register(
            "cairn_health_transitions",
            "Instance health changes, by the status moved to",
            self.health_transitions.clone(),
        );
        registry.register(
            "cairn_store_commit_duration_seconds",
            "Time to write and fsync one store transaction",
            self.commit_duration.clone(),
        );
        registry.register(
            "cairn_store_commit_batch_size",
            "Commits grouped into one store transaction",
            self.commit_batch.clone(),
        );
        registry.register(
            "cairn_health_probes",
            "Active health probes by result",
            self.probes.clone(),
        );
        registry.register(
            "cairn_zone_transfers",
            "Zone transfer requests by type asked for and what was sent",
            self.transfers.clone(),
        );
        registry.register(
            "cairn_notifies",
            "NOTIFYs to secondaries by how they ended",
            self.notifies.clone(),
        );
        registry.register(
            "cairn_notify_attempts",
            "NOTIFY datagrams sent, retries included",
            self.notify_attempts.clone(),
        );
    }
}
