//! Heartbeats in a cluster. Heartbeats may be sent to any node, but only
//! the health leader acts on silence (so an instance turns UNHEALTHY, and
//! is deregistered, once per cluster). A heartbeat that finds its instance
//! healthy stores nothing, so nodes tell each other of the heartbeats they
//! received: each node keeps the latest per instance and shares them every
//! [`SHARE_EVERY`] in one store write (not one per heartbeat), and every
//! node's follower moves its own heartbeat clocks to them. Every node
//! thus has the cluster's clocks, and a new leader starts from them.
//!
//! The leader judges silence [`HEARD_WITHIN`] late: the most a heartbeat
//! received elsewhere takes to reach it (one sharing period, plus the
//! store's round trip with room to spare). A heartbeat lost with a node
//! that died before sharing it counts as not sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{Cluster, lock};
use crate::registry::{Registry, id_from_arn};
use crate::store::Beat;

/// How often a node shares the heartbeats it received.
const SHARE_EVERY: Duration = Duration::from_millis(250);
/// How much later than its TTL the leader acts on silence.
pub(crate) const HEARD_WITHIN: Duration = Duration::from_secs(1);

impl Cluster {
    /// Notes a heartbeat received here, to be shared.
    pub(in crate::writer) fn heard(&self, service_id: &str, instance_id: &str) {
        lock(&self.beats).insert(
            (id_from_arn(service_id).to_string(), instance_id.to_string()),
            Instant::now(),
        );
    }

    /// Shares what was heard every [`SHARE_EVERY`] until `shutdown`, then
    /// once more, so a node that stops leaves no heartbeat untold.
    pub(in crate::writer) async fn share_beats(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(SHARE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = ticker.tick() => false,
            };
            self.share_once().await;
            if stopping {
                return;
            }
        }
    }

    async fn share_once(&self) {
        let heard = std::mem::take(&mut *lock(&self.beats));
        if heard.is_empty() {
            return;
        }
        let now = Instant::now();
        let beats: Vec<Beat> = heard
            .iter()
            .map(|((service_id, instance_id), at)| Beat {
                service_id: service_id.clone(),
                instance_id: instance_id.clone(),
                age: now.saturating_duration_since(*at),
            })
            .collect();
        let shared = self.store.share_beats(self.node, beats).await;
        if let Ok(Ok(())) = shared {
            return;
        }
        // Kept for the next try, unless a newer heartbeat came meanwhile.
        // (etcd being away is reported by the follower; not again here.)
        tracing::debug!("heartbeats not shared; trying again");
        let mut pending = lock(&self.beats);
        for (key, at) in heard {
            let last = pending.entry(key).or_insert(at);
            *last = (*last).max(at);
        }
    }
}

/// Moves the registry's heartbeat clocks to what another node (or this
/// one) shared.
pub(super) fn hear(registry: &Registry, beats: Vec<Beat>) {
    if beats.is_empty() {
        return;
    }
    let now = Instant::now();
    for beat in beats {
        let at = now.checked_sub(beat.age).unwrap_or(now);
        registry.heard_from(&beat.service_id, &beat.instance_id, at);
    }
}
