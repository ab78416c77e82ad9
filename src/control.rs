//! What the admin API may ask of the running server itself, beyond the
//! registry: how it is doing (`cairn status`) and a reload (`cairn
//! reload`, handed to the one task that runs reloads,
//! [`crate::reload::run`]). `serve` builds one
//! [`Control`] once the listeners are bound and hands it to the admin API.
//!
//! Plain data and read-only views (atomics the store's committer and the
//! health checker write); nothing here is on the answer path, and reading it
//! takes no lock that DNS or the write front takes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::dns::transfer::secondaries::{Secondaries, SecondaryStatus};
use crate::health;
use crate::reload::{self, Report};
use crate::store::{StoreStatus, StoreWatch};

/// Where the server listens, as bound (port 0 resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listeners {
    /// Each address has a UDP socket and a TCP listener.
    pub dns: Vec<SocketAddr>,
    pub udp_workers: usize,
    pub admin_socket: PathBuf,
    /// The Cloud Map API on TCP; empty when `api.listen` is.
    pub api: Vec<SocketAddr>,
    pub api_tls: bool,
}

/// The server's own state for the admin API: cheap to clone.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

struct Inner {
    started: Instant,
    started_millis: u64,
    listeners: Listeners,
    store: StoreWatch,
    health: Arc<health::Stats>,
    secondaries: Arc<Secondaries>,
    reloads: reload::Requests,
}

/// Everything `cairn status` reports but the registry's counts.
#[derive(Debug, Clone)]
pub struct ServerStatus {
    pub version: &'static str,
    pub started_millis: u64,
    pub uptime_millis: u64,
    pub listeners: Listeners,
    pub store: StoreStatus,
    pub health: health::StatsSnapshot,
    /// Each zone's secondaries and how the last NOTIFY to each stands.
    pub secondaries: Vec<SecondaryStatus>,
}

impl Control {
    /// `started` is when `serve` began, before the store was opened.
    pub fn new(
        started: Instant,
        listeners: Listeners,
        store: StoreWatch,
        health: Arc<health::Stats>,
        secondaries: Arc<Secondaries>,
        reloads: reload::Requests,
    ) -> Self {
        let wall_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let started_millis = wall_now.saturating_sub(started.elapsed().as_millis() as u64);
        Self {
            inner: Arc::new(Inner {
                started,
                started_millis,
                listeners,
                store,
                health,
                secondaries,
                reloads,
            }),
        }
    }

    /// Asks for a reload and waits for its outcome: the report, or why it
    /// was refused (the running config is then kept).
    pub async fn reload(&self) -> Result<Report, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || "the server is shutting down; nothing was reloaded".to_string();
        self.inner
            .reloads
            .send(reload::Request { reply: Some(reply) })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The server as it is now.
    pub fn status(&self) -> ServerStatus {
        let inner = &self.inner;
        ServerStatus {
            version: env!("CARGO_PKG_VERSION"),
            started_millis: inner.started_millis,
            uptime_millis: inner.started.elapsed().as_millis() as u64,
            listeners: inner.listeners.clone(),
            store: inner.store.status(),
            health: inner.health.snapshot(),
            secondaries: inner.secondaries.snapshot(),
        }
    }
}
