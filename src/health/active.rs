//! Active checks: which instances to probe, when, and what the results
//! mean. Each instance has its own schedule (the interval, jittered by
//! ±10 % so probes spread out rather than arriving in bursts) and its own
//! count of consecutive failures. The registry is rescanned every round, so
//! instances registered or deregistered at run time, and services whose
//! check changed, are picked up without being told.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::registry::{HealthCheckConfig, HealthStatus, Registry};

/// Service id and instance id.
pub type Key = (String, String);

/// One instance to probe, as the registry has it now.
#[derive(Debug, Clone)]
pub struct Target {
    pub key: Key,
    pub addr: SocketAddr,
    pub check: HealthCheckConfig,
}

impl Target {
    /// The path an HTTP(S) probe requests.
    pub fn path(&self) -> &str {
        self.check.resource_path.as_deref().unwrap_or("/")
    }
}

/// Every instance of every service with a HealthCheckConfig: its IPv4
/// address (else its IPv6) and AWS_INSTANCE_PORT.
pub fn targets(registry: &Registry) -> Vec<Target> {
    let mut targets = Vec::new();
    registry.visit_health_checked(|service, check, instance| {
        let endpoint = &instance.endpoint;
        let ip = match (endpoint.ipv4, endpoint.ipv6) {
            (Some(v4), _) => IpAddr::V4(v4),
            (None, Some(v6)) => IpAddr::V6(v6),
            (None, None) => return,
        };
        // Registration refuses an instance without a port under a health
        // check; this only skips the impossible.
        let Some(port) = endpoint.port else { return };
        targets.push(Target {
            key: (service.id.clone(), instance.id.clone()),
            addr: SocketAddr::new(ip, port),
            check: check.clone(),
        });
    });
    targets
}

/// An instance's place in the schedule.
#[derive(Debug)]
struct Slot {
    due: Instant,
    failures: u8,
    in_flight: bool,
}

/// What a probe's result calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Report this status (it differs from the registry's).
    Set(HealthStatus),
    /// Nothing changes.
    Keep,
}

/// The schedule of every probed instance.
#[derive(Debug)]
pub struct Schedule {
    interval: Duration,
    slots: HashMap<Key, Slot>,
}

impl Schedule {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            slots: HashMap::new(),
        }
    }

    /// Probes scheduled from now on use `interval` (a reload); those already
    /// scheduled keep their time.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// The interval for one instance's next probe: ±10 %.
    fn jittered(&self) -> Duration {
        self.interval.mul_f64(0.9 + 0.2 * fastrand::f64())
    }

    /// Brings the schedule in line with `targets` and returns those due
    /// at `now`, in the order they fell due. An instance seen for the
    /// first time is due at once (it is UNKNOWN until its first result);
    /// one gone is forgotten.
    pub fn due(&mut self, targets: Vec<Target>, now: Instant) -> Vec<Target> {
        let mut present: HashMap<Key, ()> = HashMap::with_capacity(targets.len());
        let mut due = Vec::new();
        for target in targets {
            let slot = self.slots.entry(target.key.clone()).or_insert(Slot {
                due: now,
                failures: 0,
                in_flight: false,
            });
            if !slot.in_flight && slot.due <= now {
                due.push((slot.due, target.clone()));
            }
            present.insert(target.key, ());
        }
        self.slots.retain(|key, _| present.contains_key(key));
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, target)| target).collect()
    }

    /// Marks a probe as started at `now`; the next is due an interval on.
    pub fn started(&mut self, key: &Key, now: Instant) {
        let next = now + self.jittered();
        if let Some(slot) = self.slots.get_mut(key) {
            slot.in_flight = true;
            slot.due = next;
        }
    }

    /// Records a probe's result and says what it calls for, given the
    /// instance's status in the registry: HEALTHY after one success,
    /// UNHEALTHY after `failure_threshold` failures in a row.
    pub fn finished(
        &mut self,
        key: &Key,
        healthy: bool,
        failure_threshold: u8,
        current: HealthStatus,
    ) -> Verdict {
        let Some(slot) = self.slots.get_mut(key) else {
            // Deregistered while the probe ran.
            return Verdict::Keep;
        };
        slot.in_flight = false;
        if healthy {
            slot.failures = 0;
            return match current {
                HealthStatus::Healthy => Verdict::Keep,
                _ => Verdict::Set(HealthStatus::Healthy),
            };
        }
        slot.failures = slot.failures.saturating_add(1);
        if slot.failures >= failure_threshold && current != HealthStatus::Unhealthy {
            Verdict::Set(HealthStatus::Unhealthy)
        } else {
            Verdict::Keep
        }
    }

    /// Instances probed or waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::HealthCheckType;

    fn target(id: &str, threshold: u8) -> Target {
        Target {
            key: ("srv-1".into(), id.into()),
            addr: SocketAddr::from(([127, 0, 0, 1], 80)),
            check: HealthCheckConfig {
                kind: HealthCheckType::Tcp,
                resource_path: None,
                failure_threshold: threshold,
            },
        }
    }

    #[test]
    fn new_instances_are_due_at_once_then_an_interval_later_with_jitter() {
        let interval = Duration::from_secs(10);
        let mut schedule = Schedule::new(interval);
        let now = Instant::now();
        let due = schedule.due(vec![target("a", 1), target("b", 1)], now);
        assert_eq!(due.len(), 2);
        for probe in &due {
            schedule.started(&probe.key, now);
        }
        // In flight, then not yet due again.
        assert!(
            schedule
                .due(vec![target("a", 1), target("b", 1)], now)
                .is_empty()
        );
        let key = target("a", 1).key;
        schedule.finished(&key, true, 1, HealthStatus::Unknown);
        assert!(
            schedule
                .due(vec![target("a", 1)], now + Duration::from_secs(8))
                .is_empty()
        );
        assert_eq!(schedule.len(), 1, "b is gone from the registry: forgotten");
        assert_eq!(
            schedule
                .due(vec![target("a", 1)], now + Duration::from_secs(11))
                .len(),
            1,
            "due within 10 s ± 10 %"
        );
    }

    #[test]
    fn unhealthy_after_the_threshold_healthy_after_one_success() {
        let mut schedule = Schedule::new(Duration::from_secs(1));
        let now = Instant::now();
        let key = target("a", 3).key;
        schedule.due(vec![target("a", 3)], now);
        use HealthStatus::{Healthy, Unhealthy, Unknown};
        let steps = [
            (true, Unknown, Verdict::Set(Healthy)),
            (true, Healthy, Verdict::Keep),
            (false, Healthy, Verdict::Keep),
            (false, Healthy, Verdict::Keep),
            (false, Healthy, Verdict::Set(Unhealthy)),
            (false, Unhealthy, Verdict::Keep),
            (true, Unhealthy, Verdict::Set(Healthy)),
            (false, Healthy, Verdict::Keep),
        ];
        for (step, (healthy, current, expected)) in steps.into_iter().enumerate() {
            assert_eq!(
                schedule.finished(&key, healthy, 3, current),
                expected,
                "step {step}"
            );
        }
    }
}
