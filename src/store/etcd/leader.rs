//! One node of a cluster at a time runs the active health checks: the
//! holder of the `health-leader` key, which lives on the node's etcd lease.
//!
//! A node grants itself a lease and puts the key only if it does not exist
//! (`create_revision == 0`); while it holds it, it renews the lease every
//! third of its TTL. It gives up leadership at the first renewal that
//! fails or comes back expired — before etcd could have let the lease go
//! (a renewal is due long before the TTL runs out) — so two nodes never
//! both believe they lead, as long as clocks run at about the same speed.
//! When the leader dies its lease expires after the TTL (etcd may stretch
//! it by up to a TTL across a leader change of its own), the key goes with
//! it, and another node takes it at its next try. A node that stops
//! revokes its lease, so another takes over at once.
//!
//! etcd-client's keeper only sends one renewal per call; the timer loop
//! and the re-establishment after errors are here.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::keys::Keys;

/// The lease's TTL: how long a dead leader's checks stay undone.
pub(super) const TTL: Duration = Duration::from_secs(5);
/// Renewals between trims of the operation log (every 5 s, from the
/// first renewal on).
const TRIM_EVERY: u64 = 3;

pub(super) fn start(
    client: Client,
    keys: Keys,
    operations_kept: usize,
    shutdown: CancellationToken,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (leading, receiver) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            match lead(&client, &keys, operations_kept, &leading, &shutdown).await {
                Ok(()) => return,
                Err(reason) => {
                    if leading.send_replace(false) {
                        tracing::warn!(%reason, "no longer leading the cluster's health checks");
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(TTL / 3) => {}
            }
        }
    });
    (receiver, task)
}

/// One term: a lease, an attempt at the key and, when it is won, renewals
/// until something fails (`Err`) or `shutdown` (`Ok`, the lease revoked).
async fn lead(
    client: &Client,
    keys: &Keys,
    operations_kept: usize,
    leading: &watch::Sender<bool>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let mut lease = client.lease_client();
    let granted = lease
        .grant(TTL.as_secs() as i64, None)
        .await
        .map_err(|error| error.to_string())?;
    let id = granted.id();
    let outcome = hold(client, keys, operations_kept, id, leading, shutdown).await;
    // Whatever ended the term, the lease goes: the key with it, so another
    // node need not wait for the TTL.
    let revoked = lease.revoke(id).await;
    leading.send_replace(false);
    if outcome.is_ok() {
        match revoked {
            Ok(_) => tracing::info!("gave the health-check lease back"),
            Err(error) => {
                tracing::warn!(%error, "could not give the health-check lease back; another node takes over when it expires")
            }
        }
    }
    outcome
}

async fn hold(
    client: &Client,
    keys: &Keys,
    operations_kept: usize,
    id: i64,
    leading: &watch::Sender<bool>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let key = keys.leader();
    let key = key.as_str();
    let mut kv = client.kv_client();
    let txn = Txn::new()
        .when([Compare::create_revision(key, CompareOp::Equal, 0)])
        .and_then([TxnOp::put(
            key,
            format!("{id:x}"),
            Some(PutOptions::new().with_lease(id)),
        )]);
    let won = kv.txn(txn).await.map_err(|error| error.to_string())?;
    if !won.succeeded() {
        return Err("another node leads".into());
    }
    let mut lease = client.lease_client();
    let (mut keeper, mut renewals) = lease
        .keep_alive(id)
        .await
        .map_err(|error| error.to_string())?;
    leading.send_replace(true);
    tracing::info!("leading the cluster's health checks");
    let mut ticker = tokio::time::interval(TTL / 3);
    let mut renewals_made: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        keeper
            .keep_alive()
            .await
            .map_err(|error| error.to_string())?;
        let renewed = tokio::time::timeout(TTL / 3, renewals.message())
            .await
            .map_err(|_| "etcd did not renew the lease in time".to_string())?
            .map_err(|error| error.to_string())?
            .ok_or_else(|| "etcd closed the lease's stream".to_string())?;
        if renewed.ttl() <= 0 {
            return Err("the lease expired".into());
        }
        renewals_made += 1;
        if renewals_made % TRIM_EVERY == 1 {
            match super::trim::operations(client, keys, operations_kept).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(
                    deleted,
                    kept = operations_kept,
                    "trimmed etcd's operation log"
                ),
                Err(error) => {
                    tracing::warn!(%error, "could not trim etcd's operation log; trying again later")
                }
            }
        }
    }
}
