//! `cairn serve`: builds the registry with the DNS table as its observer,
//! applies zones/, binds the listeners, starts the health checks and runs
//! until the shutdown signal.
//! The only place that wires modules together.

use std::sync::Arc;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminError};
use crate::config::{Config, ConfigError, StoreConfig};
use crate::dns::{self, DnsSettings, NameTable};
use crate::health;
use crate::registry::{Registry, RegistryError};
use crate::store::{Store, StoreError};
use crate::writer::{RestoreError, Restored, Writer};
use crate::zones::{self, ZonesError};

/// Why the server could not start or stopped on its own.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Zones(#[from] ZonesError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Bind(#[from] dns::BindError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{path}: the stored state does not fit together: {error}; restore the file from a backup, or move it aside to start from zones/ alone (what was changed through the API since is then lost)"
    )]
    Restore { path: String, error: RegistryError },
    #[error("{0}")]
    Runtime(String),
}

/// The registry, with the configured network policy, and the DNS table it
/// keeps current.
pub fn build_registry(config: &Config) -> (Registry, NameTable) {
    let name_table = NameTable::new();
    let registry = Registry::with_policy(
        vec![Arc::new(name_table.clone())],
        config.private_namespaces.clone(),
    );
    (registry, name_table)
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

/// The health checks: always on a server of its own; on a cluster node
/// only while it leads (`leadership`), so they run once per cluster and
/// move to another node when the leader goes.
async fn run_health(
    writer: Writer,
    config: crate::config::HealthConfig,
    leadership: Option<tokio::sync::watch::Receiver<bool>>,
    shutdown: CancellationToken,
) {
    let Some(mut leading) = leadership else {
        return health::run(writer, config, shutdown).await;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            led = leading.wait_for(|leads| *leads) => if led.is_err() { return },
        }
        let term = shutdown.child_token();
        let checks = tokio::spawn(health::run(writer.clone(), config.clone(), term.clone()));
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = leading.wait_for(|leads| !*leads) => {}
        }
        term.cancel();
        let _ = checks.await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// What keeps the store going, drained at shutdown.
enum StoreTask {
    /// The redb committer thread.
    Committer(std::thread::JoinHandle<()>),
    /// A cluster node's follower task.
    Follower(tokio::task::JoinHandle<()>),
}

fn restore_failed(store_path: &str, error: RestoreError) -> ServeError {
    match error {
        RestoreError::Store(error) => ServeError::Store(error),
        RestoreError::Inconsistent(error) => ServeError::Restore {
            path: store_path.to_string(),
            error,
        },
        RestoreError::Stopped => ServeError::Runtime(format!(
            "{store_path}: the store stopped while it was being read"
        )),
    }
}

/// A cluster node's parts: its write front, what it restored, its
/// follower task and whether it leads the health checks.
type Joined = (
    Writer,
    Restored,
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<bool>,
);

/// Joining a cluster: the etcd store, when this build has it.
#[cfg(feature = "etcd")]
mod cluster {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::{Joined, ServeError, restore_failed};
    use crate::config::EtcdConfig;
    use crate::registry::Registry;
    use crate::store::etcd::EtcdStore;
    use crate::writer::Writer;

    pub(super) async fn join(
        config: &EtcdConfig,
        registry: Registry,
        shutdown: CancellationToken,
    ) -> Result<Joined, ServeError> {
        let store = Arc::new(EtcdStore::connect(config).await?);
        let place = format!("etcd {}", config.endpoints.join(","));
        let leadership = store.health_leadership(shutdown.clone());
        let (writer, restored, follower) = Writer::restore_clustered(registry, store, shutdown)
            .await
            .map_err(|error| restore_failed(&place, error))?;
        Ok((writer, restored, follower, leadership))
    }
}

#[cfg(not(feature = "etcd"))]
mod cluster {
    use tokio_util::sync::CancellationToken;

    use super::ServeError;
    use crate::config::EtcdConfig;
    use crate::registry::Registry;

    pub(super) async fn join(
        _config: &EtcdConfig,
        _registry: Registry,
        _shutdown: CancellationToken,
    ) -> Result<super::Joined, ServeError> {
        Err(ServeError::Runtime(
            "store.backend = \"etcd\", but this cairn was built without etcd support: build it with `cargo build --release --features etcd` (needs protoc: apt-get install protobuf-compiler libprotobuf-dev), or set store.backend = \"redb\"".into(),
        ))
    }
}

/// Runs the server until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    survive_file_size_limit();
    let (registry, name_table) = build_registry(&config);
    let (writer, restored, store_path, store_task, leadership) = match &config.store {
        StoreConfig::Redb => {
            let (store, snapshot) = Store::open_and_load(&config.data_dir)?;
            let store_path = store.path().display().to_string();
            let (backend, committer) = store.start()?;
            let (writer, restored) =
                Writer::restore_from(registry.clone(), Arc::new(backend), snapshot)
                    .map_err(|error| restore_failed(&store_path, error))?;
            (
                writer,
                restored,
                store_path,
                StoreTask::Committer(committer),
                None,
            )
        }
        StoreConfig::Etcd(etcd) => {
            let (writer, restored, follower, leadership) =
                cluster::join(etcd, registry.clone(), shutdown.clone()).await?;
            let store_path = format!("etcd {} under {}", etcd.endpoints.join(","), etcd.prefix);
            (
                writer,
                restored,
                store_path,
                StoreTask::Follower(follower),
                Some(leadership),
            )
        }
    };
    let Restored {
        namespaces,
        instances,
    } = restored;
    tracing::info!(path = %store_path, namespaces, instances, "store loaded");
    if config.zones_dir.is_dir() {
        let applied = zones::apply(&config.zones_dir, &writer).await?;
        tracing::info!(
            dir = %config.zones_dir.display(),
            files = applied.files,
            namespaces = applied.namespaces,
            services = applied.services,
            instances = applied.instances,
            replaced = applied.replaced,
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
        tcp_pressure_idle_timeout: config.dns.tcp_pressure_idle_timeout,
        tcp_pressure_percent: config.dns.tcp_pressure_percent,
        tcp_write_timeout: config.dns.tcp_write_timeout,
        tcp_max_connections: config.dns.tcp_max_connections,
        tcp_max_connections_per_client: config.dns.tcp_max_connections_per_client,
    };
    let dns_task = tokio::spawn(dns::serve(sockets, name_table, settings, shutdown.clone()));
    let health_task = tokio::spawn(run_health(
        writer.clone(),
        config.health.clone(),
        leadership,
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
    // Every backend clone is gone with the writer, so the committer answers
    // what it holds and stops; a follower stops on the shutdown signal.
    match store_task {
        StoreTask::Committer(committer) => {
            let _ = tokio::task::spawn_blocking(move || committer.join()).await;
        }
        StoreTask::Follower(follower) => {
            let _ = follower.await;
        }
    }
    tracing::info!("cairn stopped");
    Ok(())
}
