//! `cairn serve`: builds the registry with the DNS table as its observer,
//! applies zones/, binds the listeners, starts the health checks and runs
//! until the shutdown signal.
//! The only place that wires modules together.

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminError};
use crate::config::{Config, ConfigError, StoreConfig};
use crate::control::{self, Control};
use crate::dns::{self, DnsSettings, NameTable};
use crate::health;
use crate::logging::Logging;
use crate::metrics::{self, Metrics, MetricsError};
use crate::registry::{Registry, RegistryError};
use crate::reload::{self, Reloader};
use crate::store::{Store, StoreError};
use crate::systemd;
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
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(
        "{path}: the stored state does not fit together: {error}; restore the file from a backup, or move it aside to start from zones/ alone (what was changed through the API since is then lost)"
    )]
    Restore { path: String, error: RegistryError },
    #[error("{0}")]
    Runtime(String),
}

/// Who may transfer zones, with the TSIG keys' secrets read from their
/// files.
fn transfer_policy(
    config: &crate::config::TransferConfig,
) -> Result<dns::transfer::TransferPolicy, ServeError> {
    let keys = config
        .keys
        .iter()
        .map(|key| dns::transfer::tsig::Key::load(&key.name, &key.algorithm, &key.secret_file))
        .collect::<Result<_, _>>()
        .map_err(|error| ServeError::Runtime(error.to_string()))?;
    Ok(dns::transfer::TransferPolicy::new(
        config.allow.clone(),
        keys,
        config.key.as_deref(),
    ))
}

/// The registry, with the configured network policy, and the DNS table it
/// keeps current, answering each zone's default name server with this
/// server's addresses.
pub fn build_registry(config: &Config) -> (Registry, NameTable) {
    let own_hosts: Vec<(String, Vec<std::net::IpAddr>)> = config
        .api
        .host
        .iter()
        .flat_map(|host| host.names().map(|name| (name, host.addresses.clone())))
        .collect();
    let name_table = NameTable::with_server(config.dns.name_server_addresses(), &own_hosts);
    name_table.keep_history(config.transfer.ixfr_history_bytes);
    let registry = Registry::with_policy(
        vec![Arc::new(name_table.clone())],
        config.private_namespaces.clone(),
    );
    registry.set_transfer_keys(
        config
            .transfer
            .keys
            .iter()
            .map(|key| key.name.clone())
            .collect(),
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

/// What a reload needs from the command line that started the server.
#[derive(Default)]
pub struct Reloading {
    /// The config file to read again; without one only zones/ is.
    pub config_path: Option<PathBuf>,
    /// `--socket`, which overrides `admin.socket` in the file.
    pub socket_override: Option<PathBuf>,
    /// `--log-format`, which overrides `log.format` in the file.
    pub log_format_override: Option<crate::config::LogFormat>,
    /// The installed log, whose level and format a reload changes.
    pub logging: Option<Logging>,
    /// Reload requests from outside (SIGHUP); the admin API sends its own.
    pub requests: Option<(reload::Requests, mpsc::Receiver<reload::Request>)>,
}

/// The health checks: always on a server of its own; on a cluster node
/// only while it leads (`leadership`), so they run once per cluster and
/// move to another node when the leader goes.
async fn run_health(
    writer: Writer,
    settings: tokio::sync::watch::Receiver<crate::config::HealthConfig>,
    stats: Arc<health::Stats>,
    leadership: Option<tokio::sync::watch::Receiver<bool>>,
    shutdown: CancellationToken,
) {
    let Some(mut leading) = leadership else {
        return health::run(writer, settings, stats, shutdown).await;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            led = leading.wait_for(|leads| *leads) => if led.is_err() { return },
        }
        let term = shutdown.child_token();
        let checks = tokio::spawn(health::run(
            writer.clone(),
            settings.clone(),
            Arc::clone(&stats),
            term.clone(),
        ));
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

/// Applies zones/. On a cluster node other nodes may be applying the same
/// files at the same moment, and one of them wins each race (the same
/// namespace created twice, the same instances registered at once): the
/// loser's apply fails part way. zones/ are idempotent, so it waits for a
/// moment (jittered, so racing nodes spread out), by when its follower has
/// applied the winner's changes, and applies them again against that
/// state; an error that stays is the file's own. A file that cannot be
/// read or parsed is no race, and is reported at once.
async fn apply_zones(dir: &std::path::Path, writer: &Writer) -> Result<zones::Applied, ZonesError> {
    const ATTEMPTS: u64 = 5;
    let mut attempt = 1;
    loop {
        match zones::apply(dir, writer).await {
            Err(error @ ZonesError::Refused { .. })
                if writer.following().is_some() && attempt < ATTEMPTS =>
            {
                tracing::info!(%error, attempt, "zones/ crossed another node's changes; applying them again");
                let pause = 100 * attempt + fastrand::u64(0..100 * attempt);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                attempt += 1;
            }
            outcome => return outcome,
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
        let (leadership, leading) =
            store.health_leadership(config.operations_kept, shutdown.clone());
        let (writer, restored, follower) = Writer::restore_clustered(
            registry,
            store,
            config.consistency_check,
            config.testing_lose_one_event_of_instance.clone(),
            shutdown,
        )
        .await
        .map_err(|error| restore_failed(&place, error))?;
        // Drained together at shutdown: the lease is given back first.
        let tasks = tokio::spawn(async move {
            let (_, _) = tokio::join!(leading, follower);
        });
        Ok((writer, restored, tasks, leadership))
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

/// Runs the server until `shutdown` is cancelled; reloads re-read zones/
/// only.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    run_with(config, Reloading::default(), shutdown).await
}

/// Runs the server until `shutdown` is cancelled, reloading as `reloading`
/// says.
pub async fn run_with(
    config: Config,
    reloading: Reloading,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    survive_file_size_limit();
    let (registry, name_table) = build_registry(&config);
    // Bound first, so a long start answers /healthz and a 503 /readyz.
    let workers = match config.dns.udp_workers {
        0 => std::thread::available_parallelism().map_or(1, |count| count.get()),
        count => count,
    };
    let (metrics, metrics_task) = match config.metrics.listen {
        Some(addr) => {
            let listener = metrics::bind(addr).await?;
            let metrics = Metrics::new(workers * config.dns.listen.len(), registry.clone());
            // Before the restore, so every zone gets its slot.
            name_table.count_zones(metrics.zones().clone());
            tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "metrics listening");
            let task = tokio::spawn(metrics::serve(listener, metrics.clone(), shutdown.clone()));
            (Some(metrics), Some(task))
        }
        None => (None, None),
    };
    let mut zones_record = None;
    let (writer, restored, store_path, store_task, leadership, store_watch) = match &config.store {
        StoreConfig::Redb => {
            let (store, snapshot) = Store::open_and_load(&config.data_dir)?;
            let store_path = store.path().display().to_string();
            let (backend, committer) = store.start()?;
            let store_watch = backend.watch();
            zones_record = zones::Record::new(&config, &snapshot, &backend);
            let (writer, restored) =
                Writer::restore_from(registry.clone(), Arc::new(backend), snapshot)
                    .map_err(|error| restore_failed(&store_path, error))?;
            (
                writer,
                restored,
                store_path,
                StoreTask::Committer(committer),
                None,
                store_watch,
            )
        }
        StoreConfig::Etcd(etcd) => {
            let (writer, restored, follower, leadership) =
                cluster::join(etcd, registry.clone(), shutdown.clone()).await?;
            let store_path = format!("etcd {} under {}", etcd.endpoints.join(","), etcd.prefix);
            let store_watch = crate::store::StoreWatch::elsewhere("etcd", writer.following());
            if let (Some(metrics), Some(following)) = (&metrics, writer.following()) {
                metrics.follow_cluster(following);
            }
            (
                writer,
                restored,
                store_path,
                StoreTask::Follower(follower),
                Some(leadership),
                store_watch,
            )
        }
    };
    let Restored {
        namespaces,
        instances,
    } = restored;
    tracing::info!(path = %store_path, namespaces, instances, "store loaded");
    if let Some(metrics) = &metrics {
        metrics.readiness().store_opened();
    }
    // Taken in every branch: the record holds a handle on the committer,
    // which must not outlive the writer at shutdown.
    let zones_record = zones_record.take();
    if zones_record.as_ref().is_some_and(zones::Record::unchanged) {
        tracing::info!(dir = %config.zones_dir.display(), "zones/ unchanged, and nothing changed in the store since they were applied: not applied again");
        drop(zones_record);
    } else if config.zones_dir.is_dir() {
        let applied = apply_zones(&config.zones_dir, &writer).await?;
        if let Some(record) = zones_record {
            record.applied().await;
        }
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
    if let Some(metrics) = &metrics {
        metrics.readiness().zones_applied();
    }

    let sockets = dns::bind(&config.dns.listen, workers)?;
    for addr in &sockets.bound {
        tracing::info!(
            udp = %addr,
            tcp = %addr,
            udp_workers = workers,
            rrl_responses_per_second = config.dns.rrl.responses_per_second,
            "DNS listening"
        );
    }
    let admin_listener = admin::bind(&config.admin)?;
    // Bound after the socket, so a start that fails here leaves no TCP port
    // half-open; none at all unless api.listen names an address.
    let api_listeners = if config.api.listen.is_empty() {
        None
    } else {
        Some(admin::bind_api(&config.api).await?)
    };
    let health_stats = Arc::new(health::Stats::default());
    let secondaries = Arc::new(dns::transfer::secondaries::Secondaries::default());
    let (reload_requests, reload_receiver) = reloading.requests.unwrap_or_else(reload::channel);
    let control = Control::new(
        started,
        control::Listeners {
            dns: sockets.bound.clone(),
            udp_workers: workers,
            admin_socket: config.admin.socket.clone(),
            api: api_listeners
                .as_ref()
                .map_or_else(Vec::new, admin::ApiListeners::local_addrs),
            api_tls: config.api.tls.is_some(),
        },
        store_watch,
        Arc::clone(&health_stats),
        Arc::clone(&secondaries),
        reload_requests,
    );
    let admin_task = tokio::spawn({
        let (writer, control, admin_config, shutdown) = (
            writer.clone(),
            control.clone(),
            config.admin.clone(),
            shutdown.clone(),
        );
        let account = admin::Account::from(&config.api);
        async move {
            let outcome = admin::serve(
                admin_listener,
                writer,
                control,
                admin_config,
                account,
                shutdown.clone(),
            )
            .await;
            // Without its admin API the server cannot be managed: stop it all.
            shutdown.cancel();
            outcome
        }
    });
    let api_certificate = api_listeners
        .as_ref()
        .and_then(admin::ApiListeners::certificate);
    let api_task = api_listeners.map(|listeners| {
        let (writer, control, admin_config, shutdown) = (
            writer.clone(),
            control.clone(),
            config.admin.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let outcome =
                admin::serve_api(listeners, writer, control, admin_config, shutdown.clone()).await;
            shutdown.cancel();
            outcome
        })
    });
    let (dns_live, dns_live_updates) =
        tokio::sync::watch::channel(dns::LiveSettings::from_config(&config.dns));
    let transfers = std::sync::Arc::new(transfer_policy(&config.transfer)?);
    let settings = DnsSettings {
        max_udp_payload: config.dns.max_udp_payload,
        live: dns_live_updates,
        metrics: metrics
            .as_ref()
            .map(|metrics| std::sync::Arc::clone(metrics.dns())),
        transfer: std::sync::Arc::clone(&transfers),
    };
    let notify_secondaries = tokio::spawn(dns::transfer::notify::run(
        name_table.clone(),
        config.transfer.notify.clone(),
        transfers,
        secondaries,
        shutdown.clone(),
    ));
    let dns_task = tokio::spawn(dns::serve(sockets, name_table, settings, shutdown.clone()));
    let (health_settings, health_updates) = tokio::sync::watch::channel(config.health.clone());
    let health_task = tokio::spawn(run_health(
        writer.clone(),
        health_updates,
        health_stats,
        leadership,
        shutdown.clone(),
    ));
    // Started after the listeners, so a reload never races the start.
    let reload_task = tokio::spawn(reload::run(
        Reloader {
            config_path: reloading.config_path,
            socket_override: reloading.socket_override,
            log_format_override: reloading.log_format_override,
            running: config.clone(),
            writer: writer.clone(),
            health: health_settings,
            dns: dns_live,
            api_certificate,
            logging: reloading.logging,
        },
        reload_receiver,
        shutdown.clone(),
    ));
    if let Some(metrics) = &metrics {
        metrics.readiness().listeners_bound();
    }
    tracing::info!("cairn ready");
    let notify_task = tokio::spawn(systemd::run(
        format!("serving {namespaces} namespaces, {instances} instances at start"),
        shutdown.clone(),
    ));
    let outcome = dns_task
        .await
        .map_err(|error| ServeError::Runtime(format!("DNS task failed: {error}")))?;
    // One listener failing stops everything, so nothing half-runs.
    shutdown.cancel();
    let admin_outcome = admin_task
        .await
        .map_err(|error| ServeError::Runtime(format!("admin task failed: {error}")))?;
    let api_outcome = match api_task {
        Some(task) => task
            .await
            .map_err(|error| ServeError::Runtime(format!("API task failed: {error}")))?,
        None => Ok(()),
    };
    // Health changes already handed to the Writer finish before the store
    // stops.
    health_task
        .await
        .map_err(|error| ServeError::Runtime(format!("health task failed: {error}")))?;
    // A reload in progress finishes its zones/ step; it holds a Writer.
    reload_task
        .await
        .map_err(|error| ServeError::Runtime(format!("reload task failed: {error}")))?;
    // It ends as soon as shutdown is cancelled; a failure only loses the
    // STOPPING=1 notice.
    let _ = notify_task.await;
    let _ = notify_secondaries.await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    outcome.map_err(|error| ServeError::Runtime(error.to_string()))?;
    admin_outcome.map_err(|error| ServeError::Runtime(format!("admin API: {error}")))?;
    api_outcome.map_err(|error| ServeError::Runtime(format!("API on TCP: {error}")))?;
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
