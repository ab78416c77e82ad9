//! `cairn serve`: builds the registry with the DNS table as its observer,
//! applies zones/, binds the listeners and runs until the shutdown signal.
//! The only place that wires modules together.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, zones};
use crate::dns::{self, DnsSockets, Responder, Zones};
use crate::registry::Registry;

/// Why the server could not start or stopped on its own.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen for DNS on {addr} ({protocol}): {source}{hint}")]
    Bind {
        addr: SocketAddr,
        protocol: &'static str,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("{0}")]
    Runtime(String),
}

fn bind_hint(error: &std::io::Error, addr: SocketAddr) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process holds this port: stop it or set dns.listen to another address"
        }
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
        }
        _ => "",
    }
}

async fn bind_dns(config: &Config) -> Result<DnsSockets, ServeError> {
    let mut sockets = DnsSockets {
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    for &addr in &config.dns.listen {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr,
                protocol: "UDP",
                hint: bind_hint(&source, addr),
                source,
            })?;
        // With port 0 the TCP listener must take the port UDP was given.
        let bound = udp.local_addr().unwrap_or(addr);
        let tcp = TcpListener::bind(bound)
            .await
            .map_err(|source| ServeError::Bind {
                addr: bound,
                protocol: "TCP",
                hint: bind_hint(&source, bound),
                source,
            })?;
        tracing::info!(udp = %bound, tcp = %bound, "DNS listening");
        sockets.udp.push(udp);
        sockets.tcp.push(tcp);
    }
    Ok(sockets)
}

/// The registry and the DNS table it keeps current.
pub fn build_registry() -> (Registry, Zones) {
    let zones = Zones::new();
    let registry = Registry::new(vec![Arc::new(zones.clone())]);
    (registry, zones)
}

/// Runs the server until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    let (registry, zones) = build_registry();
    if config.zones_dir.is_dir() {
        let loaded = zones::load_zones(&config.zones_dir, &registry)?;
        tracing::info!(
            dir = %config.zones_dir.display(),
            files = loaded.files,
            namespaces = loaded.namespaces,
            services = loaded.services,
            instances = loaded.instances,
            "zones applied"
        );
    } else {
        tracing::warn!(dir = %config.zones_dir.display(), "no zones directory; serving only what the admin API creates");
    }

    let sockets = bind_dns(&config).await?;
    let responder = Responder::new(zones, config.dns.max_udp_payload);
    let dns_task = tokio::spawn(dns::serve(
        sockets,
        responder,
        config.dns.tcp_idle_timeout,
        shutdown.clone(),
    ));
    tracing::info!("cairn ready");
    let outcome = dns_task
        .await
        .map_err(|error| ServeError::Runtime(format!("DNS task failed: {error}")))?;
    // One listener failing stops everything, so nothing half-runs.
    shutdown.cancel();
    outcome.map_err(|error| ServeError::Runtime(error.to_string()))?;
    drop(registry);
    tracing::info!("cairn stopped");
    Ok(())
}
