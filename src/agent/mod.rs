//! `cairn agent docker`: keeps cairn's registry in step with one Docker
//! host's containers. Labels say what to register (`labels.rs`); on start,
//! on every reconnect and when cairn comes back, the agent compares every
//! labelled container with every instance it owns (`reconcile.rs`) and
//! makes the difference; between those, Docker's events change one
//! container at a time through the same plan.
//!
//! The agent is a client on both sides: Docker's API (`docker.rs`) and
//! cairn's Cloud Map API (`client.rs`, `catalog.rs`). It never touches an
//! instance whose `cairn.agent` attribute is not its host, and knows
//! nothing of the registry's insides.

pub mod catalog;
pub mod client;
pub mod credentials;
pub mod docker;
pub mod labels;
pub mod reconcile;
mod state;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use thiserror::Error;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use client::Api;
use docker::Engine;
use state::{Outcome, State};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api: Api,
    /// Docker's socket path.
    pub docker_socket: String,
    /// Written into `cairn.agent` on every instance it registers.
    pub host: String,
    /// Reconcile once and return.
    pub once: bool,
    /// A full reconcile this often even without a reason, to repair what
    /// someone else changed.
    pub resync: Duration,
}

/// Why the agent stopped.
#[derive(Debug, Error)]
pub enum AgentError {
    #[error("cannot reach Docker at {socket}: {reason}")]
    Docker { socket: String, reason: String },
    #[error("{0}")]
    Cairn(String),
}

/// The first retry's delay; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
}

/// Waits out `backoff` (and doubles it, up to [`MAX_BACKOFF`]); `true`
/// when `shutdown` came first.
async fn wait(shutdown: &CancellationToken, backoff: &mut Duration) -> bool {
    let stop = tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(*backoff) => false,
    };
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    stop
}

/// Runs until `shutdown` (or, with `once`, one reconcile).
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), AgentError> {
    let mut state = State::new(settings.api.clone(), settings.host.clone());
    let mut docker_backoff = FIRST_BACKOFF;
    let mut docker_down = false;
    loop {
        let engine = match Engine::connect(&settings.docker_socket).await {
            Ok(engine) => engine,
            Err(error) => {
                let error = AgentError::Docker {
                    socket: settings.docker_socket.clone(),
                    reason: error.to_string(),
                };
                if settings.once {
                    return Err(error);
                }
                // Once per outage: a retry every few seconds is not news.
                if docker_down {
                    tracing::debug!("{error}; retrying in {docker_backoff:?}");
                } else {
                    tracing::warn!(
                        "{error}; retrying with backoff (registrations stay as they are until Docker answers)"
                    );
                    docker_down = true;
                }
                if wait(&shutdown, &mut docker_backoff).await {
                    return Ok(());
                }
                continue;
            }
        };
        // A second of overlap: an event in the second the list was taken
        // is replayed; handling one twice changes nothing.
        let since = now_unix() - 1;
        let outcome = state.reconcile(&engine).await;
        if settings.once {
            return match outcome {
                Outcome::Done => Ok(()),
                Outcome::CairnDown(reason) => Err(AgentError::Cairn(reason)),
                Outcome::DockerDown(reason) => Err(AgentError::Docker {
                    socket: settings.docker_socket.clone(),
                    reason,
                }),
            };
        }
        if let Outcome::DockerDown(reason) = &outcome {
            tracing::warn!(socket = %settings.docker_socket, "lost Docker while reconciling: {reason}");
            if wait(&shutdown, &mut docker_backoff).await {
                return Ok(());
            }
            continue;
        }
        docker_backoff = FIRST_BACKOFF;
        if std::mem::take(&mut docker_down) {
            tracing::info!(socket = %settings.docker_socket, "Docker answers again");
        }
        // When to reconcile again because cairn did not answer: a deadline,
        // not a sleep made anew each turn, so a busy event stream (every
        // health probe is an event) cannot put it off.
        let mut cairn_backoff = FIRST_BACKOFF;
        let mut retry_at =
            matches!(outcome, Outcome::CairnDown(_)).then(|| Instant::now() + cairn_backoff);
        let mut resync = tokio::time::interval(settings.resync);
        resync.reset();
        let events = engine.events(since);
        tokio::pin!(events);
        tracing::info!(socket = %settings.docker_socket, "watching Docker's events");
        loop {
            let retry = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now));
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        let outcome = state.on_event(&engine, &event).await;
                        if outcome != Outcome::Done && retry_at.is_none() {
                            retry_at = Some(Instant::now() + cairn_backoff);
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!("Docker's event stream broke: {error}; reconnecting");
                        break;
                    }
                    None => {
                        tracing::warn!("Docker's event stream ended; reconnecting");
                        break;
                    }
                },
                () = retry, if retry_at.is_some() => {
                    match state.reconcile(&engine).await {
                        Outcome::Done => {
                            retry_at = None;
                            cairn_backoff = FIRST_BACKOFF;
                        }
                        Outcome::CairnDown(_) => {
                            cairn_backoff = (cairn_backoff * 2).min(MAX_BACKOFF);
                            retry_at = Some(Instant::now() + cairn_backoff);
                        }
                        Outcome::DockerDown(reason) => {
                            tracing::warn!("lost Docker while reconciling: {reason}; reconnecting");
                            break;
                        }
                    }
                }
                _ = resync.tick(), if retry_at.is_none() => {
                    match state.reconcile(&engine).await {
                        Outcome::Done => {}
                        Outcome::CairnDown(_) => retry_at = Some(Instant::now() + cairn_backoff),
                        Outcome::DockerDown(_) => break,
                    }
                }
            }
        }
    }
}
