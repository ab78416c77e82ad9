//! `cairn serve`: builds the registry with the DNS table as its observer,
//! applies zones/, binds the listeners, starts the health checks and runs
//! until the shutdown signal.
//! The only place that wires modules together.

use std::sync::Arc;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminError};
use crate::config::{Config, ConfigError, zones};
use crate::dns::{self, DnsSettings, Zones};
use crate::health;
use crate::registry::{Registry, RegistryError, Writer};
use crate::store::{Snapshot, Store, StoreError};

/// Why the server could not start or stopped on its own.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Bind(#[from] dns::BindError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{path}: the stored state does not fit together: {error}; restore the store from a backup"
    )]
    Restore { path: String, error: RegistryError },
    #[error("{0}")]
    Runtime(String),
}

/// The registry and the DNS table it keeps current.
pub fn build_registry() -> (Registry, Zones) {
    let zones = Zones::new();
    let registry = Registry::new(vec![Arc::new(zones.clone())]);
    (registry, zones)
}

/// Puts the stored state back into an empty registry (DNS follows, through
/// the observers). Revisions restart at no less than the number of changes
/// ever committed, which no revision handed out before can exceed, so they
/// and SOA serials never go backwards across restarts.
fn restore(registry: &Registry, snapshot: Snapshot) -> Result<(usize, usize), RegistryError> {
    let floor = snapshot.changes;
    let namespaces = snapshot.namespaces.len();
    let mut instances = 0;
    for mut namespace in snapshot.namespaces {
        namespace.revision = namespace.revision.max(floor);
        registry.insert_namespace(namespace);
    }
    for (mut service, service_instances) in snapshot.services {
        service.revision = service.revision.max(floor);
        instances += service_instances.len();
        registry.insert_service(service, service_instances)?;
    }
    for operation in snapshot.operations {
        registry.insert_operation(operation);
    }
    Ok((namespaces, instances))
}

/// A write past the file-size limit (RLIMIT_FSIZE) raises SIGXFSZ, which
/// kills the process by default. Handling it turns the write into an error,
/// which the store reports and the change is refused, like a full disk.
fn survive_file_size_limit() {
    #[cfg(target_os = "linux")]
    {
        const SIGXFSZ: i32 = 25;
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::from_raw(SIGXFSZ)) {
            Ok(mut signals) => {
                tokio::spawn(async move {
                    while signals.recv().await.is_some() {
                        tracing::warn!(
                            "a write went past the file-size limit; the change was refused"
                        );
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "cannot handle SIGXFSZ; a file-size limit would stop the server")
            }
        }
    }
}

/// Runs the server until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    survive_file_size_limit();
    let (registry, zones) = build_registry();
    let (store, snapshot) = Store::open_and_load(&config.data_dir)?;
    let store_path = store.path().display().to_string();
    let (namespaces, instances) =
        restore(&registry, snapshot).map_err(|error| ServeError::Restore {
            path: store_path.clone(),
            error,
        })?;
    tracing::info!(path = %store_path, namespaces, instances, "store loaded");
    let (journal, committer) = store.journal()?;
    let writer = Writer::new(registry.clone(), Arc::new(journal));
    if config.zones_dir.is_dir() {
        let loaded = zones::load_zones(&config.zones_dir, &writer).await?;
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

    let workers = match config.dns.udp_workers {
        0 => std::thread::available_parallelism().map_or(1, |count| count.get()),
        count => count,
    };
    let sockets = dns::bind(&config.dns.listen, workers)?;
    for addr in &sockets.bound {
        tracing::info!(udp = %addr, tcp = %addr, udp_workers = workers, "DNS listening");
    }
    let admin_listener = admin::bind(&config.admin)?;
    let admin_task = tokio::spawn({
        let (writer, admin_config, shutdown) =
            (writer.clone(), config.admin.clone(), shutdown.clone());
        async move {
            let outcome =
                admin::serve(admin_listener, writer, admin_config, shutdown.clone()).await;
            // Without its admin API the server cannot be managed: stop it all.
            shutdown.cancel();
            outcome
        }
    });
    let settings = DnsSettings {
        max_udp_payload: config.dns.max_udp_payload,
        tcp_idle_timeout: config.dns.tcp_idle_timeout,
        tcp_max_connections: config.dns.tcp_max_connections,
    };
    let dns_task = tokio::spawn(dns::serve(sockets, zones, settings, shutdown.clone()));
    let health_task = tokio::spawn(health::run(
        writer.clone(),
        config.health.clone(),
        shutdown.clone(),
    ));
    tracing::info!("cairn ready");
    let outcome = dns_task
        .await
        .map_err(|error| ServeError::Runtime(format!("DNS task failed: {error}")))?;
    // One listener failing stops everything, so nothing half-runs.
    shutdown.cancel();
    let admin_outcome = admin_task
        .await
        .map_err(|error| ServeError::Runtime(format!("admin task failed: {error}")))?;
    // Health changes already handed to the Writer finish before the store
    // stops.
    health_task
        .await
        .map_err(|error| ServeError::Runtime(format!("health task failed: {error}")))?;
    outcome.map_err(|error| ServeError::Runtime(error.to_string()))?;
    admin_outcome.map_err(|error| ServeError::Runtime(format!("admin API: {error}")))?;
    drop(writer);
    drop(registry);
    // Every journal clone is gone with the writer, so the committer answers
    // what it holds and stops.
    let _ = tokio::task::spawn_blocking(move || committer.join()).await;
    tracing::info!("cairn stopped");
    Ok(())
}
