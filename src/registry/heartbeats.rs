//! Heartbeat checks, a cairn extension like Consul's TTL checks: instances
//! of a service with a [`Heartbeat`] report themselves alive, and those that
//! fall silent turn UNHEALTHY and, after a grace period, are deregistered.
//!
//! The times of the last heartbeats live in memory only (a heartbeat is not
//! worth an fsync); what they lead to — a status change, a deregistration —
//! goes through the write front like any other change.

use std::time::{Duration, Instant};

use super::instances::HealthChange;
use super::model::{HealthStatus, Heartbeat, Instance};
use super::{
    Change, Now, Pending, Plan, Registry, RegistryError, Result, ServiceEntry, id_from_arn,
};

/// A heartbeat about to be recorded. The time of a heartbeat lives in memory
/// only; only the health change it brings is stored.
#[derive(Debug)]
pub struct HeartbeatReceived {
    service_id: String,
    instance_id: String,
    at: Instant,
    health: Option<HealthChange>,
}

impl Pending for HeartbeatReceived {
    /// Whether the status changed.
    type Output = bool;
    fn changes(&self) -> Vec<Change> {
        self.health
            .as_ref()
            .map_or_else(Vec::new, |health| health.changes())
    }
}

/// What a silent instance has come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lapse {
    /// Silent for longer than the TTL: UNHEALTHY.
    Unhealthy,
    /// Silent for longer than the grace period: deregistered.
    Deregister,
}

/// An instance whose heartbeat is overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub service_id: String,
    pub instance_id: String,
    pub lapse: Lapse,
}

/// What an instance silent since `last` calls for at `now`, given its
/// current health: nothing more once it is UNHEALTHY, until the grace
/// period ends.
fn lapse(config: Heartbeat, last: Instant, health: HealthStatus, now: Instant) -> Option<Lapse> {
    let silent = now.saturating_duration_since(last);
    if config
        .deregister_after_ms
        .is_some_and(|grace| silent >= Duration::from_millis(grace))
    {
        return Some(Lapse::Deregister);
    }
    (silent >= Duration::from_millis(config.ttl_ms) && health != HealthStatus::Unhealthy)
        .then_some(Lapse::Unhealthy)
}

impl ServiceEntry {
    fn lapse_of(&self, instance: &Instance, now: Instant) -> Option<Lapse> {
        let config = self.service.heartbeat?;
        let last = self.heartbeats.as_deref()?.get(&instance.id)?;
        lapse(config, *last, instance.health, now)
    }
}

impl Registry {
    /// Plans a heartbeat from an instance: its clock restarts at `now`, and
    /// it turns HEALTHY if it was not. InvalidInput for a service without a
    /// heartbeat check.
    pub(crate) fn plan_heartbeat(
        &self,
        service_id: &str,
        instance_id: &str,
        now: Now,
    ) -> Result<Plan<HeartbeatReceived>> {
        {
            let entry = self.service_entry(service_id)?;
            if entry.service.heartbeat.is_none() {
                return Err(RegistryError::invalid(format!(
                    "service '{}' has no HeartbeatConfig, so its instances send no heartbeats",
                    entry.service.name
                )));
            }
        }
        let health =
            match self.plan_set_health(service_id, instance_id, HealthStatus::Healthy, false)? {
                Plan::Apply(change) => Some(change),
                Plan::Done(_) => None,
            };
        Ok(Plan::Apply(HeartbeatReceived {
            service_id: id_from_arn(service_id).to_string(),
            instance_id: instance_id.to_string(),
            at: now.instant,
            health,
        }))
    }

    /// Restarts the instance's heartbeat clock and applies the health change
    /// it brought, if any. Returns whether the status changed.
    pub(crate) fn apply_heartbeat(&self, pending: HeartbeatReceived) -> bool {
        let HeartbeatReceived {
            service_id,
            instance_id,
            at,
            health,
        } = pending;
        if let Some(mut entry) = self.inner.services.get_mut(service_id.as_str()) {
            entry
                .heartbeats
                .get_or_insert_default()
                .insert(instance_id, at);
        }
        health.is_some_and(|change| self.apply_set_health(change))
    }

    /// Moves an instance's heartbeat clock to `at` if that is later: a
    /// heartbeat another server received (a cluster). Unknown instances,
    /// and services without a heartbeat check, are left alone.
    pub(crate) fn heard_from(&self, service_id: &str, instance_id: &str, at: Instant) {
        let Some(mut entry) = self.inner.services.get_mut(service_id) else {
            return;
        };
        if entry.service.heartbeat.is_none() || entry.instance(instance_id).is_err() {
            return;
        }
        let last = entry
            .heartbeats
            .get_or_insert_default()
            .entry(instance_id.to_string())
            .or_insert(at);
        *last = (*last).max(at);
    }

    /// What one instance's silence calls for at `now`, if anything.
    pub fn heartbeat_lapse(
        &self,
        service_id: &str,
        instance_id: &str,
        now: Instant,
    ) -> Result<Option<Lapse>> {
        let entry = self.service_entry(service_id)?;
        Ok(entry.lapse_of(entry.instance(instance_id)?, now))
    }

    /// Every instance whose heartbeat is overdue at `now`, and what that
    /// calls for. Clones nothing of the instances that are on time.
    pub fn overdue_heartbeats(&self, now: Instant) -> Vec<Overdue> {
        let mut overdue = Vec::new();
        self.visit_watched(|entry| {
            if entry.service.heartbeat.is_none() {
                return;
            }
            for instance in entry.instances.values() {
                if let Some(lapse) = entry.lapse_of(instance, now) {
                    overdue.push(Overdue {
                        service_id: entry.service.id.clone(),
                        instance_id: instance.id.clone(),
                        lapse,
                    });
                }
            }
        });
        overdue
    }

    /// The shortest heartbeat TTL of any service, which bounds how often
    /// silence must be looked for.
    pub fn shortest_heartbeat_ttl(&self) -> Option<Duration> {
        let mut shortest = None;
        self.visit_watched(|entry| {
            if let Some(config) = entry.service.heartbeat {
                let ttl = Duration::from_millis(config.ttl_ms);
                shortest = Some(shortest.map_or(ttl, |known: Duration| known.min(ttl)));
            }
        });
        shortest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: Heartbeat = Heartbeat {
        ttl_ms: 1_000,
        deregister_after_ms: Some(5_000),
    };

    #[test]
    fn silence_turns_unhealthy_after_the_ttl_and_is_removed_after_the_grace() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let cases = [
            (999, HealthStatus::Unknown, None),
            (1_000, HealthStatus::Unknown, Some(Lapse::Unhealthy)),
            (1_000, HealthStatus::Healthy, Some(Lapse::Unhealthy)),
            (4_999, HealthStatus::Unhealthy, None),
            (5_000, HealthStatus::Unhealthy, Some(Lapse::Deregister)),
            (5_000, HealthStatus::Healthy, Some(Lapse::Deregister)),
        ];
        for (ms, health, expected) in cases {
            assert_eq!(
                lapse(CONFIG, start, health, at(ms)),
                expected,
                "{ms} ms, {health:?}"
            );
        }
        let keep = Heartbeat {
            deregister_after_ms: None,
            ..CONFIG
        };
        assert_eq!(
            lapse(keep, start, HealthStatus::Unhealthy, at(1_000_000)),
            None
        );
    }
}
