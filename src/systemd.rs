//! Telling the service manager how the server is doing, by the sd_notify
//! protocol (systemd's `Type=notify`): `READY=1` once the listeners are
//! bound and zones/ applied, `WATCHDOG=1` while the runtime is alive when
//! the unit asks for it (`WatchdogSec=`), and `STOPPING=1` when shutdown
//! begins. Without `NOTIFY_SOCKET` in the environment every call is a
//! no-op, so nothing changes outside systemd.

use tokio_util::sync::CancellationToken;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        // The service manager is the one to notice; the server goes on.
        tracing::warn!(%error, "cannot notify the service manager");
    }
}

/// Reports readiness, keeps the watchdog fed, and reports the stop once
/// `shutdown` is cancelled. Returns then.
pub async fn run(status: String, shutdown: CancellationToken) {
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    // systemd expects a ping at least every WatchdogSec; half of it leaves
    // room for a busy moment.
    let watchdog = sd_notify::watchdog_enabled().map(|interval| interval / 2);
    loop {
        let ping = async {
            match watchdog {
                Some(period) => tokio::time::sleep(period).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ping => send(&[NotifyState::Watchdog]),
        }
    }
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// A reload begins: systemd (253 and later) wants the monotonic time with
/// it, to match the READY=1 that ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The reload is over, applied or refused: the server serves again as
/// before.
pub fn reloaded() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}
