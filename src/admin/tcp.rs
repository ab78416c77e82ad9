//! The API on TCP (`[api]`): the same actions, limits and drain as the
//! socket (`super::run`), with SigV4 on every request and TLS when
//! configured.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::http::Rules;
use super::{Account, AdminError, Listener, keys, run, tls};
use crate::config::{AdminConfig, ApiAuth, ApiConfig};
use crate::control::Control;
use crate::writer::Writer;

/// The bound TCP listeners with what they need to serve: the keys read and
/// the certificate loaded, so every problem shows at start.
pub struct ApiListeners {
    listeners: Vec<TcpListener>,
    tls: Option<TlsAcceptor>,
    certificate: Option<tls::ApiCertificate>,
    rules: Arc<Rules>,
}

impl ApiListeners {
    /// The addresses bound (the real port when the config asked for 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|listener| listener.local_addr().ok())
            .collect()
    }

    /// The handle a reload replaces the TLS certificate through; `None`
    /// without TLS.
    pub fn certificate(&self) -> Option<tls::ApiCertificate> {
        self.certificate.clone()
    }
}

/// Reads the keys and certificate of `config` and binds its addresses.
/// Must run inside a tokio runtime.
pub async fn bind_api(config: &ApiConfig) -> Result<ApiListeners, AdminError> {
    let rules = Arc::new(Rules {
        access: keys::load(config)?,
        account: Account::from(config),
    });
    let (tls, certificate) = match config.tls.as_ref().map(tls::acceptor).transpose()? {
        Some((acceptor, certificate)) => (Some(acceptor), Some(certificate)),
        None => (None, None),
    };
    let mut listeners = Vec::with_capacity(config.listen.len());
    for addr in &config.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::TcpBind {
                addr: *addr,
                source,
            })?;
        let bound = listener.local_addr().unwrap_or(*addr);
        let scheme = if tls.is_some() { "https" } else { "http" };
        match config.auth {
            ApiAuth::Sigv4 => tracing::info!(
                addr = %bound,
                endpoint = format!("{scheme}://{bound}"),
                keys = config.keys.len(),
                "Cloud Map API listening on TCP (SigV4)"
            ),
            ApiAuth::None => tracing::warn!(
                addr = %bound,
                endpoint = format!("{scheme}://{bound}"),
                "Cloud Map API listening on TCP WITHOUT authentication (api.auth = \"none\"): anyone who can connect to this loopback address can change every record"
            ),
        }
        listeners.push(listener);
    }
    Ok(ApiListeners {
        listeners,
        tls,
        certificate,
        rules,
    })
}

/// Serves every listener until `shutdown`; returns when all have drained.
pub async fn serve_api(
    listeners: ApiListeners,
    writer: Writer,
    control: Control,
    config: AdminConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners.listeners {
        tasks.spawn(run(
            Listener::Tcp(listener),
            listeners.tls.clone(),
            Arc::clone(&listeners.rules),
            writer.clone(),
            control.clone(),
            config.clone(),
            shutdown.clone(),
            || {},
        ));
    }
    let mut outcome = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let result = joined
            .map_err(std::io::Error::other)
            .and_then(|result| result);
        if outcome.is_ok() {
            outcome = result;
        }
    }
    tracing::info!("Cloud Map API on TCP stopped");
    outcome
}
