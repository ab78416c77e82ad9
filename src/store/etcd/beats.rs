//! Heartbeats shared between nodes. A heartbeat that finds its instance
//! healthy changes nothing stored, yet the node that expires silent
//! instances (the health leader) must hear of it wherever it arrived. A
//! put per heartbeat would make etcd carry every instance's every beat, so
//! each node gathers the heartbeats it received and puts the latest of
//! each instance a few times a second, in one key per part of at most
//! [`PER_PART`] (`beats/<node>/<part>`). Every node's watch brings them.
//!
//! - Times travel as ages (how long before the put), so nodes' clocks need
//!   not agree; the wall clock is sent too, and only a delivery late by
//!   more than [`LATE`] (a node catching up after a disconnection) is
//!   aged by it, so a beat replayed long after is not taken for fresh.
//! - The keys live on a lease of [`KEEP`], granted anew every half of it:
//!   they are messages, not state, and a node that dies leaves nothing
//!   behind for long. A snapshot skips them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, PutOptions};
use serde::{Deserialize, Serialize};

use super::keys::Keys;
use crate::store::{Beat, CommitError};

/// Instances per key: well under etcd's 1.5 MiB per request for ids of
/// any allowed length.
const PER_PART: usize = 4000;
/// How long a shared batch stays in etcd.
const KEEP: Duration = Duration::from_secs(30);
/// A delivery later than this by the wall clocks is aged by its lateness.
const LATE: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct Message {
    /// The sender's wall clock at the put, epoch milliseconds.
    sent: u64,
    /// (service id, instance id, milliseconds since the heartbeat).
    beats: Vec<(String, String, u64)>,
}

fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The lease the keys are put on, and when it was granted.
#[derive(Debug, Default)]
pub(super) struct Lease {
    held: Option<(i64, Instant)>,
}

/// Puts `beats` under `node`'s keys, in parts.
pub(super) async fn share(
    client: &Client,
    keys: &Keys,
    lease: &tokio::sync::Mutex<Lease>,
    node: u64,
    beats: Vec<Beat>,
) -> Result<(), CommitError> {
    let failed = |error: etcd_client::Error| CommitError(format!("heartbeats not shared: {error}"));
    let id = {
        let mut lease = lease.lock().await;
        match lease.held {
            Some((id, granted)) if granted.elapsed() < KEEP / 2 => id,
            _ => {
                let granted = client
                    .lease_client()
                    .grant(KEEP.as_secs() as i64, None)
                    .await
                    .map_err(failed)?;
                lease.held = Some((granted.id(), Instant::now()));
                granted.id()
            }
        }
    };
    let sent = wall_millis();
    let mut kv = client.kv_client();
    for (part, chunk) in beats.chunks(PER_PART).enumerate() {
        let message = Message {
            sent,
            beats: chunk
                .iter()
                .map(|beat| {
                    (
                        beat.service_id.clone(),
                        beat.instance_id.clone(),
                        beat.age.as_millis() as u64,
                    )
                })
                .collect(),
        };
        let value = serde_json::to_vec(&message)
            .map_err(|error| CommitError(format!("heartbeats not encoded: {error}")))?;
        let put = kv
            .put(
                keys.beats(node, part),
                value,
                Some(PutOptions::new().with_lease(id)),
            )
            .await;
        if let Err(error) = put {
            // A lease etcd no longer knows (it restarted, or expired it
            // while we were cut off): the next batch grants a new one.
            lease.lock().await.held = None;
            return Err(failed(error));
        }
    }
    Ok(())
}

/// The heartbeats in a shared value, aged as of now; `None` for a value
/// that is not one (logged by the caller).
pub(super) fn decode(value: &[u8]) -> Option<Vec<Beat>> {
    let message: Message = serde_json::from_slice(value).ok()?;
    let late = Duration::from_millis(wall_millis().saturating_sub(message.sent));
    let late = if late > LATE { late } else { Duration::ZERO };
    Some(
        message
            .beats
            .into_iter()
            .map(|(service_id, instance_id, age)| Beat {
                service_id,
                instance_id,
                age: Duration::from_millis(age) + late,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_come_back_with_their_ages_and_late_ones_are_aged_by_their_lateness() {
        let on_time = Message {
            sent: wall_millis(),
            beats: vec![("srv-1".into(), "i-1".into(), 120)],
        };
        let beats = decode(&serde_json::to_vec(&on_time).unwrap_or_default());
        assert_eq!(
            beats,
            Some(vec![Beat {
                service_id: "srv-1".into(),
                instance_id: "i-1".into(),
                age: Duration::from_millis(120),
            }])
        );
        let late = Message {
            sent: wall_millis() - 60_000,
            beats: vec![("srv-1".into(), "i-1".into(), 120)],
        };
        let beats = decode(&serde_json::to_vec(&late).unwrap_or_default()).unwrap_or_default();
        assert!(beats[0].age >= Duration::from_millis(60_120), "{beats:?}");
        assert_eq!(decode(b"not json"), None);
    }
}
