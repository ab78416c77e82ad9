//! Reloading the config file and zones/ while the server runs (SIGHUP, or
//! `cairn reload` through the admin API), without dropping a query or a
//! connection: nothing here touches a listener.
//!
//! A reload reads and checks everything first — the config file, the new
//! log level, every zones file to its last service — and applies nothing
//! when any of it is wrong, so a bad file leaves the running config as it
//! was. Then what can change live changes:
//!
//! - `log.level` and `log.format` (through [`Logging`]'s reload layers);
//! - `[private_namespaces]`, swapped into the registry before zones/ is
//!   applied, so a namespace declared without networks follows the new
//!   default;
//! - zones/ (and `zones_dir`), applied again by [`zones::apply`], which is
//!   idempotent: only what a file changed is written, and it reaches DNS
//!   as any change does, one service at a time;
//! - `[health]`, which the checker takes at its next round;
//! - `[dns]`'s TCP limits (`tcp_*`: new connections are admitted under
//!   them, open ones take the new idle timeout at their next wait) and
//!   `[dns.rrl]` (each UDP worker rebuilds its limiter between two
//!   batches, its buckets full);
//! - `[api.tls]`'s certificate and key, read again at every reload even
//!   when the config names the same files (rotation rewrites them in
//!   place) and served to every TLS handshake after it; connections open
//!   keep theirs. A certificate that does not load refuses the reload.
//!
//! The rest (`dns.listen`, `dns.udp_workers`, `dns.max_udp_payload`,
//! `[admin]`, `[api]` but its certificate, turning TLS on or off,
//! `data_dir`) is bound into sockets, threads and tables at start; a
//! change there is named in the reload's answer and the log as needing a
//! restart, and the server keeps running with what it started with.
//!
//! Reloads run one at a time, in one task.

use std::path::PathBuf;

use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::admin::ApiCertificate;
use crate::config::{ApiConfig, Config, ConfigError, HealthConfig, LogFormat, zones as zone_files};
use crate::dns::LiveSettings;
use crate::logging::{self, Logging};
use crate::systemd;
use crate::writer::Writer;
use crate::zones::{self, Applied, ZonesError};

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The settings that changed and were applied, by config key.
    pub applied: Vec<String>,
    /// The settings that changed in the file but need a restart.
    pub restart_required: Vec<String>,
    /// zones/ as applied again; `None` without a zones directory.
    pub zones: Option<Applied>,
    /// Anything else the operator should know (e.g. RUST_LOG wins).
    pub notes: Vec<String>,
}

/// Why a reload was refused. Except for [`ReloadError::Apply`], nothing
/// was changed.
#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("the new config is refused, the running one is kept: {0}")]
    Config(#[from] ConfigError),
    #[error("the new config is refused, the running one is kept: {0}")]
    Invalid(String),
    /// A valid zones file that cannot be applied over the registry's state
    /// (e.g. a namespace's type changed); what came before it in zones/ was
    /// applied, and is applied again, unchanged, by the next reload.
    #[error("zones/ could not be applied in full; the other settings are kept as they were: {0}")]
    Apply(ZonesError),
}

/// One reload asked for; the answer goes back on `reply` when there is one
/// (SIGHUP has nobody to answer but the log).
pub struct Request {
    pub reply: Option<oneshot::Sender<Result<Report, String>>>,
}

/// The sending side, for SIGHUP and the admin API.
pub type Requests = mpsc::Sender<Request>;

/// A channel for reload requests; a few can wait behind the one running.
pub fn channel() -> (Requests, mpsc::Receiver<Request>) {
    mpsc::channel(8)
}

/// What a reload re-reads and what it changes.
pub struct Reloader {
    /// The config file; without one, only zones/ is read again.
    pub config_path: Option<PathBuf>,
    /// `--socket`, which overrides `admin.socket` in the file.
    pub socket_override: Option<PathBuf>,
    /// `--log-format`, which overrides `log.format` in the file.
    pub log_format_override: Option<LogFormat>,
    /// The config running now: its live parts as last reloaded, the rest as
    /// at start.
    pub running: Config,
    pub writer: Writer,
    pub health: watch::Sender<HealthConfig>,
    /// The DNS listeners' TCP limits and rate limiting.
    pub dns: watch::Sender<LiveSettings>,
    /// The API's TLS certificate, re-read at every reload; `None` without
    /// TLS on the API.
    pub api_certificate: Option<ApiCertificate>,
    /// `None` when the caller installed its own subscriber (tests).
    pub logging: Option<Logging>,
}

impl Reloader {
    /// Reads the config and zones/ again and applies what can change live.
    pub async fn reload(&mut self) -> Result<Report, ReloadError> {
        let mut new = match &self.config_path {
            Some(path) => Config::load(path)?,
            None => self.running.clone(),
        };
        if let Some(socket) = &self.socket_override {
            new.admin.socket.clone_from(socket);
        }
        if let Some(format) = self.log_format_override {
            new.log_format = format;
        }
        logging::check_level(&new.log_level).map_err(ReloadError::Invalid)?;
        let zones_dir = new.zones_dir.is_dir().then(|| new.zones_dir.clone());
        if let Some(dir) = &zones_dir {
            check_zones(dir)?;
        }
        // Read again even when the config names the same files: rotating
        // a certificate rewrites them in place.
        let tls = match (&self.api_certificate, &new.api.tls) {
            (Some(certificate), Some(files)) => {
                certificate
                    .check(files)
                    .map_err(|error| ReloadError::Invalid(error.to_string()))?;
                Some((certificate, files))
            }
            _ => None,
        };
        let mut dns = LiveSettings::from_config(&new.dns);
        // UDP answers stay as large as the workers started with, and TCP's
        // OPT says the same.
        dns.tcp.max_udp_payload = self.running.dns.max_udp_payload;

        let old = &self.running;
        let mut report = Report {
            restart_required: restart_required(old, &new),
            ..Report::default()
        };
        let policy_changed = old.private_namespaces != new.private_namespaces;
        if policy_changed {
            self.writer
                .registry()
                .set_network_policy(new.private_namespaces.clone());
        }
        if let Some(dir) = &zones_dir {
            match zones::apply(dir, &self.writer).await {
                Ok(applied) => report.zones = Some(applied),
                Err(error) => {
                    // The rest stays as it was, so the next reload compares
                    // against what is really running.
                    if policy_changed {
                        self.writer
                            .registry()
                            .set_network_policy(old.private_namespaces.clone());
                    }
                    return Err(ReloadError::Apply(error));
                }
            }
        } else {
            tracing::warn!(dir = %new.zones_dir.display(), "no zones directory; nothing to apply");
        }
        if let Some((certificate, files)) = tls {
            // Checked above; a file changed in between fails here, and the
            // certificate served stays the one before.
            match certificate.reload(files) {
                Ok(true) => report.applied.push("api.tls".into()),
                Ok(false) => {}
                Err(error) => report.notes.push(format!(
                    "api.tls not reloaded, the previous certificate is kept: {error}"
                )),
            }
        }
        let running = &mut self.running;
        if tls.is_some() && running.api.tls != new.api.tls {
            report.applied.push("api.tls (files)".into());
            running.api.tls.clone_from(&new.api.tls);
        }
        if dns != *self.dns.borrow() {
            let old = self.dns.borrow().clone();
            if old.tcp != dns.tcp {
                report.applied.push("dns.tcp_*".into());
            }
            if old.rrl != dns.rrl {
                report.applied.push("dns.rrl".into());
            }
            self.dns.send_replace(dns);
            let (a, b) = (&mut running.dns, &new.dns);
            a.tcp_idle_timeout = b.tcp_idle_timeout;
            a.tcp_pressure_idle_timeout = b.tcp_pressure_idle_timeout;
            a.tcp_pressure_percent = b.tcp_pressure_percent;
            a.tcp_write_timeout = b.tcp_write_timeout;
            a.tcp_max_connections = b.tcp_max_connections;
            a.tcp_max_connections_per_client = b.tcp_max_connections_per_client;
            a.rrl = b.rrl.clone();
        }
        if policy_changed {
            report.applied.push("private_namespaces".into());
            running.private_namespaces = new.private_namespaces;
        }
        if running.zones_dir != new.zones_dir {
            report.applied.push("zones_dir".into());
            running.zones_dir = new.zones_dir;
        }
        if running.health != new.health {
            report.applied.push("health".into());
            self.health.send_replace(new.health.clone());
            running.health = new.health;
        }
        if running.log_level != new.log_level || running.log_format != new.log_format {
            if let Some(logging) = &self.logging {
                match logging.set(&new.log_level, new.log_format) {
                    Ok(note) => report.notes.extend(note),
                    Err(error) => report.notes.push(error),
                }
            }
            if running.log_level != new.log_level {
                report.applied.push("log.level".into());
            }
            if running.log_format != new.log_format {
                report.applied.push("log.format".into());
            }
            running.log_level = new.log_level;
            running.log_format = new.log_format;
        }
        Ok(report)
    }
}

/// Reads every zones file in `dir` to its end, as [`zones::apply`] would,
/// so that an invalid one refuses the reload before anything is applied.
fn check_zones(dir: &std::path::Path) -> Result<(), ReloadError> {
    for file in zone_files::read_dir(dir)? {
        for batch in file.services(file.reopen()?) {
            batch?;
        }
    }
    Ok(())
}

/// The config keys that differ and are only read at start.
fn restart_required(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (&old.dns, &new.dns);
    [
        ("dns.listen", a.listen != b.listen),
        ("dns.udp_workers", a.udp_workers != b.udp_workers),
        (
            "dns.max_udp_payload",
            a.max_udp_payload != b.max_udp_payload,
        ),
        ("admin.socket", old.admin.socket != new.admin.socket),
        (
            "admin (limits and mode)",
            old.admin != new.admin && old.admin.socket == new.admin.socket,
        ),
        (
            "api (other than the TLS files)",
            ApiConfig {
                tls: None,
                ..old.api.clone()
            } != ApiConfig {
                tls: None,
                ..new.api.clone()
            },
        ),
        // Without TLS at start there is no certificate to replace.
        ("api.tls", old.api.tls.is_none() != new.api.tls.is_none()),
        ("transfer", old.transfer != new.transfer),
        ("data_dir", old.data_dir != new.data_dir),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(key, _)| key.to_string())
    .collect()
}

/// Runs reloads as they are asked for, until `shutdown`. Each is logged,
/// and the service manager told (RELOADING=1, then READY=1).
pub async fn run(
    mut reloader: Reloader,
    mut requests: mpsc::Receiver<Request>,
    shutdown: CancellationToken,
) {
    let mut count: u64 = 0;
    loop {
        let request = tokio::select! {
            _ = shutdown.cancelled() => break,
            request = requests.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        count += 1;
        // Every line a reload logs (zones/ applied, settings changed, the
        // outcome) carries which reload it was and who asked for it.
        let span = tracing::info_span!(
            "reload",
            reload = count,
            by = if request.reply.is_some() {
                "admin"
            } else {
                "signal"
            }
        );
        one(&mut reloader, request).instrument(span).await;
    }
}

/// Runs one reload and answers it.
async fn one(reloader: &mut Reloader, request: Request) {
    systemd::reloading();
    tracing::info!(config = ?reloader.config_path, "reloading the config and zones/");
    let outcome = reloader.reload().await;
    match &outcome {
        Ok(report) => {
            if !report.restart_required.is_empty() {
                tracing::warn!(
                    keys = %report.restart_required.join(", "),
                    "these settings changed in the config but only take effect after a restart; the server keeps running with the ones it started with"
                );
            }
            for note in &report.notes {
                tracing::warn!("{note}");
            }
            let zones = report.zones.unwrap_or_default();
            tracing::info!(
                applied = %report.applied.join(", "),
                zone_files = zones.files,
                services = zones.services,
                instances = zones.instances,
                replaced = zones.replaced,
                "reloaded"
            );
        }
        Err(error) => tracing::error!(%error, "reload refused"),
    }
    systemd::reloaded();
    if let Some(reply) = request.reply {
        let _ = reply.send(outcome.map_err(|error| error.to_string()));
    }
}
