//! A cluster node's place behind its shared store, read at scrape time
//! from what the follower already keeps for `cairn status`
//! ([`Following`]): the revision applied here, the newest the store has
//! reported, and how long the node has been behind. Nothing is counted
//! for it on any path; a node on the embedded store exports none of it.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::store::Following;

/// Where the scrape finds the follower's numbers: set once the node has
/// joined its cluster (after the metrics listener is up), never unset.
#[derive(Debug, Default, Clone)]
pub struct ClusterLag(Arc<OnceLock<Arc<Following>>>);

impl ClusterLag {
    pub fn follow(&self, following: Arc<Following>) {
        let _ = self.0.set(following);
    }

    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(following) = self.0.get() else {
            return Ok(());
        };
        let status = following.status();
        let revisions = [
            (
                "cairn_store_applied_revision",
                "The shared store's revision this node has applied (its DNS and API answer from it)",
                status.applied,
            ),
            (
                "cairn_store_latest_revision",
                "The newest revision the shared store has reported to this node",
                status.heard,
            ),
        ];
        for (name, help, revision) in revisions {
            let family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(i64::try_from(revision).unwrap_or(i64::MAX)).encode(family)?;
        }
        let family = encoder.encode_descriptor(
            "cairn_store_watch_lag_seconds",
            "How long this node has been behind the shared store (a revision heard of and not applied, or the store unreachable); 0 while current",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(following.lag_seconds()).encode(family)
    }
}
