//! `GetServerStatus` (a cairn extension): the server's version, uptime,
//! listeners, what the registry holds, the store and the health checker.
//! About the whole server, so a scoped key may not call it (see
//! `access::Scope::check_action`).

use super::super::api::{
    GetServerStatusRequest, GetServerStatusResponse, ServerCluster, ServerCounts,
    ServerHealthChecks, ServerListeners, ServerSecondary, ServerStore,
};
use super::super::error::ApiError;
use super::timestamp;
use crate::control::Control;
use crate::registry::Registry;

pub const GET_SERVER_STATUS: &str = "GetServerStatus";

pub fn get(
    registry: &Registry,
    control: &Control,
    _: GetServerStatusRequest,
) -> Result<GetServerStatusResponse, ApiError> {
    let status = control.status();
    // Services are copied out to be counted: a status call is rare, and the
    // registry keeps no running totals that every change would pay for.
    let services = registry.list_services(None);
    let listeners = status.listeners;
    Ok(GetServerStatusResponse {
        version: status.version.to_string(),
        started_at: timestamp(status.started_millis),
        uptime_seconds: status.uptime_millis as f64 / 1000.0,
        listeners: ServerListeners {
            dns: listeners.dns.iter().map(ToString::to_string).collect(),
            udp_workers: listeners.udp_workers,
            admin_socket: listeners.admin_socket.display().to_string(),
            api: listeners.api.iter().map(ToString::to_string).collect(),
            api_tls: listeners.api_tls,
        },
        counts: ServerCounts {
            namespaces: registry.list_namespaces().len(),
            services: services.len(),
            instances: services.iter().map(|service| service.instance_count).sum(),
        },
        store: ServerStore {
            backend: status.store.backend.to_string(),
            path: status.store.path.map(|path| path.display().to_string()),
            file_bytes: status.store.file_bytes,
            last_commit: status.store.last_commit_millis.map(timestamp),
            revision: status.store.revision,
            cluster: status.store.following.map(|following| ServerCluster {
                applied_revision: following.applied,
                latest_revision: following.heard,
                watch_lag: following.lag(),
                reachable: following.stale.is_none(),
                stale_since: following
                    .stale
                    .as_ref()
                    .map(|stale| timestamp(stale.since_millis)),
                stale_reason: following.stale.map(|stale| stale.reason),
                consistency_checks: following.checks,
                last_consistency_check: following.last_check_millis.map(timestamp),
                repairs: following.repairs,
            }),
        },
        health_checks: ServerHealthChecks {
            services_checked: status.health.services_checked,
            instances_checked: status.health.targets,
            probes_in_flight: status.health.in_flight,
            last_round: status.health.last_round_millis.map(timestamp),
            rounds: status.health.rounds,
        },
        secondaries: status
            .secondaries
            .into_iter()
            .map(|told| ServerSecondary {
                zone: told.zone,
                address: told.secondary.to_string(),
                serial: told.serial,
                notify: told.outcome.as_str().to_string(),
                at: timestamp(told.at_millis),
            })
            .collect(),
    })
}
