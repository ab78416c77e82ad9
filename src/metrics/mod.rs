//! Prometheus metrics, `/healthz` and `/readyz`, on a listener of their own
//! (`[metrics] listen`, off by default).
//!
//! Three kinds of numbers, each kept where counting it is cheapest:
//! - the answer path's ([`dns`]): a block of plain counters per UDP worker,
//!   written by that worker alone, summed at scrape time;
//! - the write side's ([`events`]): prometheus-client counters and
//!   histograms in one process-wide [`Events`];
//! - the registry's size (instances per namespace): computed at scrape time
//!   from the registry, never kept up to date;
//! - a cluster node's lag behind its shared store ([`cluster`]): read at
//!   scrape time from the follower's [`crate::store::Following`].
//!
//! This module reads the registry and a cluster node's following (at
//! scrape time) and nothing else of ours; `dns/`, `admin/`, `store/`, `writer/` and `health/` call into it,
//! never the other way round. Nothing here runs on the answer path but
//! [`dns::DnsRecorder`]'s few stores.

pub mod cluster;
pub mod dns;
pub mod events;
mod http;
pub mod zones;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

pub use dns::{DnsRecorder, DnsSlots};
pub use events::{Events, events};
pub use http::{MetricsError, bind, serve};
pub use zones::ZoneCounters;

use crate::registry::Registry;

/// What `/readyz` waits for; each is set once, by `serve`, and never unset.
#[derive(Debug, Default)]
pub struct Readiness {
    store_open: AtomicBool,
    zones_applied: AtomicBool,
    listeners_bound: AtomicBool,
}

impl Readiness {
    pub fn store_opened(&self) {
        self.store_open.store(true, Ordering::Release);
    }

    pub fn zones_applied(&self) {
        self.zones_applied.store(true, Ordering::Release);
    }

    pub fn listeners_bound(&self) {
        self.listeners_bound.store(true, Ordering::Release);
    }

    /// What is still missing, empty when ready.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            (&self.store_open, "store not open"),
            (&self.zones_applied, "zones not applied"),
            (&self.listeners_bound, "listeners not bound"),
        ]
        .into_iter()
        .filter(|(flag, _)| !flag.load(Ordering::Acquire))
        .map(|(_, what)| what)
        .collect()
    }
}

/// The server's metrics: a cheap-to-clone handle.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    encoded: prometheus_client::registry::Registry,
    dns: Arc<DnsSlots>,
    zones: ZoneCounters,
    readiness: Arc<Readiness>,
    cluster: cluster::ClusterLag,
}

impl Metrics {
    /// Metrics for `udp_workers` UDP workers, reading `registry` for the
    /// instance counts.
    pub fn new(udp_workers: usize, registry: Registry) -> Self {
        // tokio starts a worker thread per CPU, and TCP connections are
        // its tasks; one block more for the thread that drives the runtime.
        let tcp_threads = std::thread::available_parallelism().map_or(1, usize::from) + 1;
        let dns = DnsSlots::new(udp_workers, tcp_threads);
        let zones = ZoneCounters::new(Arc::clone(&dns));
        let cluster = cluster::ClusterLag::default();
        let mut encoded = prometheus_client::registry::Registry::default();
        events().register(&mut encoded);
        encoded.register_collector(Box::new(Scraped {
            dns: Arc::clone(&dns),
            zones: zones.clone(),
            registry,
            cluster: cluster.clone(),
        }));
        Self {
            inner: Arc::new(Inner {
                encoded,
                dns,
                zones,
                readiness: Arc::default(),
                cluster,
            }),
        }
    }

    /// Exports a cluster node's lag behind its shared store from now on.
    pub fn follow_cluster(&self, following: Arc<crate::store::Following>) {
        self.inner.cluster.follow(following);
    }

    /// The answer path's counters.
    pub fn dns(&self) -> &Arc<DnsSlots> {
        &self.inner.dns
    }

    /// The per-namespace counters' slots, for the DNS name table to assign
    /// as zones come and go.
    pub fn zones(&self) -> &ZoneCounters {
        &self.inner.zones
    }

    pub fn readiness(&self) -> &Readiness {
        &self.inner.readiness
    }

    /// Every metric in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.encoded);
        text
    }
}

/// What is computed at scrape time: the DNS blocks' sums and the
/// registry's counts.
struct Scraped {
    dns: Arc<DnsSlots>,
    zones: ZoneCounters,
    registry: Registry,
    cluster: cluster::ClusterLag,
}

impl std::fmt::Debug for Scraped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scraped").finish_non_exhaustive()
    }
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.dns.encode(&mut encoder)?;
        self.zones.encode(&mut encoder)?;
        self.cluster.encode(&mut encoder)?;
        let counts = self.registry.instance_counts();
        let mut namespaces: Vec<(String, String, usize)> = self
            .registry
            .list_namespaces()
            .into_iter()
            .map(|namespace| {
                let count = counts.get(&namespace.id).copied().unwrap_or(0);
                (namespace.name, namespace.id, count)
            })
            .collect();
        namespaces.sort();
        let mut family = encoder.encode_descriptor(
            "cairn_instances",
            "Instances registered, per namespace (counted at scrape time)",
            None,
            MetricType::Gauge,
        )?;
        for (name, id, count) in &namespaces {
            let labels = [("namespace", name.as_str()), ("namespace_id", id.as_str())];
            ConstGauge::new(*count as i64).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn ready_only_once_all_three_are_done() {
        let readiness = Readiness::default();
        assert_eq!(readiness.missing().len(), 3);
        readiness.store_opened();
        readiness.zones_applied();
        assert_eq!(readiness.missing(), ["listeners not bound"]);
        readiness.listeners_bound();
        assert!(readiness.missing().is_empty());
    }
}
