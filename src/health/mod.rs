//! Health: cairn's own probes of instances (HealthCheckConfig) and the
//! heartbeats instances send (a cairn extension). One task, started by
//! `cairn serve`, does both in rounds:
//!
//! - it rescans the registry, starts the probes that are due (at most
//!   `health.max_in_flight` open at once, each bounded by
//!   `health.timeout`), and turns their results into status changes:
//!   UNHEALTHY after FailureThreshold failures in a row, HEALTHY after one
//!   success;
//! - it looks for instances whose heartbeat is overdue and has the
//!   [`Writer`] mark them UNHEALTHY or, past their grace period,
//!   deregister them. In a cluster this task runs on the health leader
//!   only, so silence is acted on once; heartbeats sent to any node reach
//!   the leader's clocks (`writer/cluster.rs`).
//!
//! Every status change goes through the [`Writer`], so it is durable, bumps
//! revisions and reaches DNS like any other change; the registry logs each
//! transition once, at info. A round reads the registry under each
//! service's shard read lock only while it copies out what it will probe;
//! probes run in tasks of their own and hold no lock, so neither DNS (which
//! answers from its own table) nor the admin API ever waits on one.
//!
//! This module never binds a socket; it only connects out to instances.

mod active;
mod probe;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::HealthConfig;
use crate::registry::{HealthStatus, Lapse, Overdue, RegistryError};
use crate::writer::Writer;
use active::{Key, Schedule, Target, Verdict};
pub use probe::{ProbeError, probe};
pub use tls::TlsError;

/// How often rounds run: a tenth of the finest period to keep (the probe
/// interval, or the shortest heartbeat TTL), between 10 ms and 1 s. The
/// finer the rounds, the closer probes keep to their jittered schedule and
/// silence is noticed to its TTL.
fn round_period(interval: Duration, shortest_ttl: Option<Duration>) -> Duration {
    let finest = shortest_ttl.map_or(interval, |ttl| ttl.min(interval));
    (finest / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// What `cairn status` shows of the checker, written once per round (a
/// few relaxed stores) and read by status calls.
#[derive(Debug, Default)]
pub struct Stats {
    /// Services with a HealthCheckConfig and at least one instance, as of
    /// the last round.
    services_checked: AtomicUsize,
    /// Instances probed, as of the last round.
    targets: AtomicUsize,
    /// Probes open now.
    in_flight: AtomicUsize,
    /// Epoch milliseconds of the last round; 0 before the first.
    last_round_millis: AtomicU64,
    rounds: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub services_checked: usize,
    pub targets: usize,
    pub in_flight: usize,
    pub last_round_millis: Option<u64>,
    pub rounds: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let last = self.last_round_millis.load(Ordering::Relaxed);
        StatsSnapshot {
            services_checked: self.services_checked.load(Ordering::Relaxed),
            targets: self.targets.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            last_round_millis: (last != 0).then_some(last),
            rounds: self.rounds.load(Ordering::Relaxed),
        }
    }
}

/// Runs health checks until `shutdown` is cancelled; then drops the probes
/// still open and waits for status changes already handed to the Writer.
/// A new value in `settings` (a reload) takes effect at the next round:
/// probes already open finish under the settings they started with.
pub async fn run(
    writer: Writer,
    mut settings: watch::Receiver<HealthConfig>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let registry = writer.registry().clone();
    let mut config = settings.borrow_and_update().clone();
    let mut permits = Arc::new(Semaphore::new(config.max_in_flight));
    let mut schedule = Schedule::new(config.interval);
    let mut probes: JoinSet<(Target, Result<(), ProbeError>)> = JoinSet::new();
    // Status changes and deregistrations on their way through the Writer,
    // by instance, so a slow commit is not asked for twice.
    let mut writes: JoinSet<Key> = JoinSet::new();
    let mut writing: std::collections::HashSet<Key> = std::collections::HashSet::new();
    let mut next_round = Instant::now();
    tracing::info!(
        interval = ?config.interval,
        timeout = ?config.timeout,
        max_in_flight = config.max_in_flight,
        "health checks running"
    );
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Ok(()) = settings.changed() => {
                config = settings.borrow_and_update().clone();
                schedule.set_interval(config.interval);
                // Probes open now hold permits of the old semaphore: for a
                // moment both limits' probes may be open, never more.
                permits = Arc::new(Semaphore::new(config.max_in_flight));
                next_round = Instant::now();
                tracing::info!(
                    interval = ?config.interval,
                    timeout = ?config.timeout,
                    max_in_flight = config.max_in_flight,
                    "health settings reloaded"
                );
            }
            _ = tokio::time::sleep_until(next_round.into()) => {
                let now = Instant::now();
                let targets = active::targets(&registry);
                record_round(&stats, &targets, probes.len());
                for target in schedule.due(targets, now) {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        break; // the rest wait for the next round
                    };
                    schedule.started(&target.key, now);
                    let timeout = config.timeout;
                    probes.spawn(async move {
                        let outcome =
                            probe(target.check.kind, target.addr, target.path(), timeout).await;
                        drop(permit);
                        (target, outcome)
                    });
                }
                // In a cluster, heartbeats other nodes received reach this
                // node's clocks within the writer's slack.
                let judged = now.checked_sub(writer.heartbeat_slack()).unwrap_or(now);
                for overdue in registry.overdue_heartbeats(judged) {
                    let key = (overdue.service_id.clone(), overdue.instance_id.clone());
                    if writing.insert(key) {
                        writes.spawn(expire(writer.clone(), overdue));
                    }
                }
                next_round = now + round_period(config.interval, registry.shortest_heartbeat_ttl());
            }
            Some(done) = probes.join_next(), if !probes.is_empty() => {
                let Ok((target, outcome)) = done else { continue };
                let (service_id, instance_id) = &target.key;
                crate::metrics::events().probed(outcome.is_ok());
                if let Err(error) = &outcome {
                    tracing::debug!(service = %service_id, instance = %instance_id, addr = %target.addr, %error, "probe failed");
                }
                // The registry's view now: the instance may be gone, or
                // its service's check changed or removed, while it ran.
                let (Some(service), Ok(instance)) = (
                    registry.service(service_id),
                    registry.get_instance(service_id, instance_id),
                ) else {
                    continue;
                };
                let Some(check) = service.health_check else { continue };
                let verdict = schedule.finished(
                    &target.key,
                    outcome.is_ok(),
                    check.failure_threshold,
                    instance.health,
                );
                if let Verdict::Set(status) = verdict
                    && writing.insert(target.key.clone())
                {
                    writes.spawn(report(writer.clone(), target.key, status));
                }
            }
            Some(done) = writes.join_next(), if !writes.is_empty() => {
                if let Ok(key) = done {
                    writing.remove(&key);
                }
            }
        }
    }
    probes.abort_all();
    while writes.join_next().await.is_some() {}
    tracing::info!("health checks stopped");
}

fn record_round(stats: &Stats, targets: &[Target], in_flight: usize) {
    let mut services: Vec<&str> = targets.iter().map(|target| target.key.0.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    stats
        .services_checked
        .store(services.len(), Ordering::Relaxed);
    stats.targets.store(targets.len(), Ordering::Relaxed);
    stats.in_flight.store(in_flight, Ordering::Relaxed);
    stats.last_round_millis.store(now, Ordering::Relaxed);
    stats.rounds.fetch_add(1, Ordering::Relaxed);
}

/// Hands a probe's verdict to the Writer (which logs the transition).
async fn report(writer: Writer, key: Key, status: HealthStatus) -> Key {
    let (service_id, instance_id) = &key;
    match writer
        .set_health(service_id, instance_id, status, false)
        .await
    {
        Ok(_) | Err(RegistryError::ServiceNotFound(_) | RegistryError::InstanceNotFound(_)) => {}
        Err(error) => {
            tracing::warn!(service = %service_id, instance = %instance_id, %error, "a health change could not be saved; the next probe tries again")
        }
    }
    key
}

/// Acts on an overdue heartbeat through the Writer, which looks again
/// under the instance's lock.
async fn expire(writer: Writer, overdue: Overdue) -> Key {
    let Overdue {
        service_id,
        instance_id,
        ..
    } = overdue;
    let registry = writer.registry();
    let names = registry.service(&service_id).map(|service| {
        let namespace = registry
            .namespace(&service.namespace_id)
            .map(|namespace| namespace.name)
            .unwrap_or_default();
        (namespace, service.name)
    });
    match writer.expire_heartbeat(&service_id, &instance_id).await {
        Ok(Some(Lapse::Deregister)) => {
            let (namespace, service) = names.unwrap_or_default();
            tracing::info!(%namespace, %service, instance = %instance_id, "instance deregistered: no heartbeat within its grace period");
        }
        Ok(_) | Err(RegistryError::ServiceNotFound(_) | RegistryError::InstanceNotFound(_)) => {}
        Err(error) => {
            tracing::warn!(service = %service_id, instance = %instance_id, %error, "an overdue heartbeat could not be acted on; the next round tries again")
        }
    }
    (service_id, instance_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_follow_the_finest_period_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(
            round_period(Duration::from_secs(10), None),
            Duration::from_secs(1)
        );
        assert_eq!(round_period(ms(100), None), ms(10));
        assert_eq!(round_period(Duration::from_secs(10), Some(ms(500))), ms(50));
        assert_eq!(round_period(ms(20), None), ms(10));
        assert_eq!(
            round_period(Duration::from_secs(3600), Some(Duration::from_secs(600))),
            Duration::from_secs(1)
        );
    }
}
