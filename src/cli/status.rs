//! `cairn status`: how the server is doing (GetServerStatus), as a table
//! of fields for people or the API's JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use super::output::{emit, table};
use super::{CliResult, ClientOptions};
use crate::admin::api;

pub async fn run(options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let answer: api::GetServerStatusResponse = client
        .call("GetServerStatus", &api::GetServerStatusRequest::default())
        .await?;
    emit(options.output, &answer, || render(&answer))
}

fn render(status: &api::GetServerStatusResponse) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    let ago = |at: Option<f64>| match at {
        Some(at) => format!("{} ago", duration((now - at).max(0.0))),
        None => "never".to_string(),
    };
    let listeners = &status.listeners;
    let api = if listeners.api.is_empty() {
        "off".to_string()
    } else {
        format!(
            "{} ({})",
            listeners.api.join(", "),
            if listeners.api_tls { "https" } else { "http" }
        )
    };
    let store = &status.store;
    let health = &status.health_checks;
    let mut rows = vec![
        ("version", status.version.clone()),
        ("uptime", duration(status.uptime_seconds)),
        (
            "dns",
            format!(
                "{} (UDP and TCP, {} UDP workers each)",
                listeners.dns.join(", "),
                listeners.udp_workers
            ),
        ),
        ("admin socket", listeners.admin_socket.clone()),
        ("api", api),
        ("namespaces", status.counts.namespaces.to_string()),
        ("services", status.counts.services.to_string()),
        ("instances", status.counts.instances.to_string()),
        (
            "store",
            match &store.path {
                Some(path) => format!("{} {path}", store.backend),
                None => store.backend.clone(),
            },
        ),
        (
            "store size",
            store
                .file_bytes
                .map_or_else(|| "-".to_string(), |bytes| format!("{bytes} bytes")),
        ),
        ("store revision", store.revision.to_string()),
        ("last commit", ago(store.last_commit)),
    ];
    if let Some(cluster) = &store.cluster {
        rows.push((
            "etcd",
            match (&cluster.stale_reason, cluster.stale_since) {
                (Some(reason), since) => format!("stale since {}: {reason}", ago(since)),
                _ => format!(
                    "reachable, {} revisions behind (latest {})",
                    cluster.watch_lag, cluster.latest_revision
                ),
            },
        ));
        rows.push((
            "consistency checks",
            format!(
                "{} (last {}), {} repairs",
                cluster.consistency_checks,
                ago(cluster.last_consistency_check),
                cluster.repairs
            ),
        ));
    }
    rows.extend([
        (
            "health checks",
            format!(
                "{} services, {} instances, {} probes in flight",
                health.services_checked, health.instances_checked, health.probes_in_flight
            ),
        ),
        ("last health round", ago(health.last_round)),
    ]);
    for secondary in &status.secondaries {
        rows.push((
            "secondary",
            format!(
                "{} for {}: serial {} {} {}",
                secondary.address,
                secondary.zone,
                secondary.serial,
                secondary.notify,
                ago(Some(secondary.at))
            ),
        ));
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(field, value)| vec![field.to_string(), value])
        .collect();
    table(&["FIELD", "VALUE"], &rows)
}

/// `3d 4h`, `2h 5m`, `1m 30s`, `12s`, `0.25s`: the two largest units.
fn duration(seconds: f64) -> String {
    if seconds < 10.0 {
        return format!("{seconds:.2}s");
    }
    let total = seconds as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_show_their_two_largest_units() {
        assert_eq!(duration(0.25), "0.25s");
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(90.0), "1m 30s");
        assert_eq!(duration(7500.0), "2h 5m");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 4h");
    }
}
