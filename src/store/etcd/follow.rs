//! Following etcd: a task that watches the prefix from the revision the
//! node has applied and hands each committed transaction to the write
//! front, resuming by itself. etcd-client gives a raw stream with no
//! reconnect and no resume, and Debian's etcd 3.4.23 lacks several watch
//! fixes (duplicated events, responses "back in time"), so:
//!
//! - the watch starts at `applied + 1` every time, after any error, a
//!   stream that ends, or a stream that falls silent (progress is asked
//!   for every second and an answer is due within three);
//! - a transaction at or below `applied` (the last one handed on) is
//!   dropped, whatever etcd sends; progress notices move nothing but the
//!   node's idea of liveness, since 3.4.23 can send one before the events
//!   it covers (etcd#15220);
//! - a watch cancelled because its start was compacted away is answered
//!   by a re-read of everything (`Followed::Resync`), as Kubernetes'
//!   reflector re-lists;
//! - an event's kind is read from its key-value (a delete's has version 0)
//!   rather than `Event::event_type()`, which panics on a kind it does not
//!   know.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use etcd_client::{Client, WatchOptions, WatchResponse};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::keys::{self, Key, Keys};
use super::{beats, read_snapshot};
use crate::store::{Followed, SharedRevision, SharedSnapshot};

/// How often progress is asked for, and how long silence may last before
/// the connection is taken for dead.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
const SILENCE: Duration = Duration::from_secs(3);
/// Waits between reconnections: from the first, doubling to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

pub(super) fn start(
    client: Client,
    keys: Keys,
    endpoints: String,
    from: &SharedSnapshot,
    shutdown: CancellationToken,
) -> (mpsc::Receiver<Followed>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(1024);
    let offsets = from.offsets.iter().cloned().collect();
    let following = run(client, keys, endpoints, from.revision, offsets, sender);
    // Dropping the watch at shutdown closes its stream; nothing else is
    // held that would need more.
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            () = following => {}
        }
    });
    (receiver, task)
}

/// Per namespace, what its serial adds to its revision.
type Offsets = HashMap<String, u64>;

/// Why one watch ended.
enum Ended {
    /// Its start revision was compacted away: re-read.
    Compacted,
    Failed(String),
    /// The follower is gone: stop.
    Closed,
}

async fn run(
    client: Client,
    keys: Keys,
    endpoints: String,
    mut applied: SharedRevision,
    mut offsets: Offsets,
    sender: mpsc::Sender<Followed>,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        let ended = watch(&client, &keys, &mut applied, &mut offsets, &sender).await;
        match ended {
            Ended::Closed => return,
            Ended::Compacted => {
                tracing::warn!(
                    applied,
                    "etcd compacted past this node's revision; reading everything again"
                );
                match read_snapshot(&client, &keys, &endpoints, None).await {
                    Ok(snapshot) => {
                        applied = snapshot.revision;
                        offsets = snapshot.offsets.iter().cloned().collect();
                        if sender.send(Followed::Resync(snapshot)).await.is_err() {
                            return;
                        }
                        backoff = BACKOFF_FIRST;
                        continue;
                    }
                    Err(error) => {
                        if sender
                            .send(Followed::Unreachable(error.to_string()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            Ended::Failed(reason) => {
                tracing::warn!(%reason, applied, "the etcd watch ended; resuming");
                let reason = format!("etcd at {endpoints} cannot be followed: {reason}");
                if sender.send(Followed::Unreachable(reason)).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One watch, from `applied + 1`, until it fails; `applied` follows what
/// was handed on, so the next watch resumes after it.
async fn watch(
    client: &Client,
    keys: &Keys,
    applied: &mut SharedRevision,
    offsets: &mut Offsets,
    sender: &mpsc::Sender<Followed>,
) -> Ended {
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(*applied as i64 + 1)
        .with_progress_notify();
    let mut watch_client = client.watch_client();
    let mut stream = match watch_client.watch(keys.prefix(), Some(options)).await {
        Ok(stream) => stream,
        Err(error) => return Ended::Failed(error.to_string()),
    };
    let mut heard = Instant::now();
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            message = stream.message() => {
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => return Ended::Failed("etcd closed the watch".into()),
                    Err(error) => return Ended::Failed(error.to_string()),
                };
                heard = Instant::now();
                if response.canceled() {
                    if response.compact_revision() > 0 {
                        return Ended::Compacted;
                    }
                    return Ended::Failed(format!("etcd cancelled the watch: {}", response.cancel_reason()));
                }
                if let Err(ended) = hand_on(keys, response, applied, offsets, sender).await {
                    return ended;
                }
            }
            _ = ticker.tick() => {
                if sender.is_closed() {
                    return Ended::Closed;
                }
                if heard.elapsed() > SILENCE {
                    return Ended::Failed(format!("etcd said nothing for {SILENCE:?}"));
                }
                if let Err(error) = stream.request_progress().await {
                    return Ended::Failed(error.to_string());
                }
            }
        }
    }
}

/// Hands on one watch response: each transaction in it above `applied`
/// (its events share a mod_revision), or its progress.
async fn hand_on(
    keys: &Keys,
    response: WatchResponse,
    applied: &mut SharedRevision,
    offsets: &mut Offsets,
    sender: &mpsc::Sender<Followed>,
) -> Result<(), Ended> {
    let events = response.events();
    if events.is_empty() {
        // The first answer to a new watch says where etcd is now, but the
        // events since `applied` may still be on their way: only a
        // progress notice says nothing is left below its revision.
        if response.created() {
            return Ok(());
        }
        let revision = response
            .header()
            .map_or(0, |header| header.revision().max(0) as u64);
        // Not taken as applied: etcd 3.4.23 may send a progress notice
        // ahead of the events it covers (etcd#15220), so the resume point
        // stays the last event handed on.
        return sender
            .send(Followed::Progress(revision))
            .await
            .map_err(|_| Ended::Closed);
    }
    let mut batch: Option<Batch> = None;
    for event in events {
        let Some(pair) = event.kv() else { continue };
        let revision = pair.mod_revision().max(0) as SharedRevision;
        if revision <= *applied {
            continue;
        }
        // A transaction's events share one mod_revision: a new one ends
        // the batch before it.
        if batch
            .as_ref()
            .is_some_and(|batch| batch.revision != revision)
            && let Some(done) = batch.take()
        {
            done.send(applied, sender).await?;
        }
        let batch = batch.get_or_insert_with(|| Batch::new(revision));
        let Ok(key) = pair.key_str() else {
            tracing::error!(revision, "a key under the prefix is not UTF-8; skipped");
            continue;
        };
        let Some(parsed) = keys.parse(key) else {
            continue;
        };
        let deleted = pair.version() == 0;
        match &parsed {
            Key::Marker(id) => {
                let offset = offsets.get(*id).copied().unwrap_or(0);
                batch.namespaces.push((id.to_string(), revision + offset));
                if !deleted {
                    batch.origin = batch.origin.or(keys::parse_origin(pair.value()));
                }
                continue;
            }
            Key::NamespacesMarker => {
                if !deleted {
                    batch.origin = batch.origin.or(keys::parse_origin(pair.value()));
                }
                continue;
            }
            // Set by a copy into etcd, before any node serves it.
            Key::SerialOffset(id) => {
                let offset = keys::decode_value(key, &parsed, pair.value());
                match (deleted, offset) {
                    (true, _) => drop(offsets.remove(*id)),
                    (false, Ok(keys::Value::SerialOffset(offset))) => {
                        offsets.insert(id.to_string(), offset);
                    }
                    (false, _) => tracing::error!(
                        revision,
                        key,
                        "a serial offset that does not decode; skipped"
                    ),
                }
                continue;
            }
            // A lease's end deletes them: nothing to hear then.
            Key::Beats => {
                if !deleted {
                    match beats::decode(pair.value()) {
                        Some(beats) => batch.beats.extend(beats),
                        None => tracing::error!(
                            revision,
                            key,
                            "shared heartbeats that do not decode; skipped"
                        ),
                    }
                }
                continue;
            }
            _ => {}
        }
        let change = if deleted {
            keys::delete_change(&parsed)
        } else {
            match keys::decode_value(key, &parsed, pair.value()) {
                Ok(value) => keys::put_change(value),
                Err(bad) => {
                    tracing::error!(%bad, revision, "a value written by another node does not decode; skipped");
                    None
                }
            }
        };
        batch.changes.extend(change);
    }
    if let Some(done) = batch {
        done.send(applied, sender).await?;
    }
    Ok(())
}

struct Batch {
    revision: SharedRevision,
    changes: Vec<crate::registry::Change>,
    namespaces: Vec<(String, u64)>,
    origin: Option<crate::store::Origin>,
    beats: Vec<crate::store::Beat>,
}

impl Batch {
    fn new(revision: SharedRevision) -> Self {
        Self {
            revision,
            changes: Vec::new(),
            namespaces: Vec::new(),
            origin: None,
            beats: Vec::new(),
        }
    }

    async fn send(
        self,
        applied: &mut SharedRevision,
        sender: &mpsc::Sender<Followed>,
    ) -> Result<(), Ended> {
        *applied = self.revision;
        sender
            .send(Followed::Batch {
                revision: self.revision,
                changes: self.changes,
                namespaces: self.namespaces,
                origin: self.origin,
                beats: self.beats,
            })
            .await
            .map_err(|_| Ended::Closed)
    }
}
