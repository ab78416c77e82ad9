//! NOTIFY (RFC 1996): when a zone's serial rises, each of its secondaries
//! (the zone's own, or `[transfer] notify`) is told over UDP, so it
//! transfers at once rather than at its next SOA refresh.
//!
//! Off the answer path and off the write path: writers only wake this task
//! (the name table's `serial_raised`, one `Notify` permit whatever the
//! number of changes), and it looks at the zones' serials after a short
//! window, so a burst of registrations sends one NOTIFY per zone and
//! secondary. A NOTIFY is retried until the secondary acknowledges it, a
//! bounded number of times; a newer serial replaces the one still being
//! retried. A signed NOTIFY is acknowledged only by a reply the secondary
//! signed over its MAC (RFC 8945 §5.3), so a forged unsigned reply cannot
//! end the retries.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::secondaries::{NotifyOutcome, Secondaries};
use super::tsig::Signer;
use super::{TransferPolicy, ZoneKey};
use crate::dns::compile::Apex;
use crate::dns::names::{NameTable, WireName};
use crate::dns::wire::{HEADER_LEN, TYPE_SOA};

/// Changes within this long of the first are told in one NOTIFY. NSD
/// reloads at most once a second anyway (`xfrd-reload-timeout`), and Knot
/// transfers within milliseconds, so a short window costs little latency.
const COALESCE: Duration = Duration::from_millis(100);

/// How long each attempt waits for the acknowledgement: doubling, five
/// attempts, about 8 s in all.
const ATTEMPTS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

const OPCODE_NOTIFY: u8 = 4;

/// Sends NOTIFYs for every zone whose serial rises, until `shutdown`: to
/// the zone's own secondaries when it has transfer settings of its own,
/// else to `secondaries` (`[transfer] notify`). Every zone is announced
/// once at start, so a secondary that missed changes while cairn was down
/// catches up. How each NOTIFY stands is kept in `status`.
pub async fn run(
    table: NameTable,
    secondaries: Vec<SocketAddr>,
    policy: Arc<TransferPolicy>,
    status: Arc<Secondaries>,
    shutdown: CancellationToken,
) {
    let mut told: HashMap<WireName, u64> = HashMap::new();
    let mut sending: HashMap<(WireName, SocketAddr), AbortHandle> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = table.serial_raised() => {}
            Some(_) = tasks.join_next() => continue,
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(COALESCE) => {}
        }
        let apexes = table.apexes();
        told.retain(|origin, _| apexes.iter().any(|apex| apex.origin == *origin));
        sending.retain(|(origin, _), task| {
            !task.is_finished() && apexes.iter().any(|apex| apex.origin == *origin)
        });
        let names: Vec<Arc<str>> = apexes.iter().map(|apex| zone_name(apex).into()).collect();
        status.retain_zones(|zone| names.iter().any(|name| &**name == zone));
        for (apex, zone) in apexes.into_iter().zip(names) {
            if told.get(&apex.origin) == Some(&apex.serial) {
                continue;
            }
            told.insert(apex.origin.clone(), apex.serial);
            let targets = TransferPolicy::secondaries(&apex, &secondaries);
            if targets.is_empty() {
                continue;
            }
            let key = match policy.zone_key(&apex) {
                ZoneKey::Unsigned => None,
                ZoneKey::Held(position) => Some(position),
                ZoneKey::Missing => {
                    tracing::warn!(zone = %apex.name(), serial = apex.serial, "NOTIFY not sent: the zone's transfer key is not one of [[transfer.keys]]");
                    continue;
                }
            };
            let message: Arc<[u8]> = notify_message(&apex).into();
            for &secondary in targets {
                // A private zone is only announced to those it answers.
                if !apex.allows(secondary.ip().to_canonical()) {
                    continue;
                }
                let told = Told {
                    zone: Arc::clone(&zone),
                    secondary,
                    serial: apex.serial,
                    status: Arc::clone(&status),
                };
                told.stands(NotifyOutcome::Sending);
                let task = tasks.spawn(tell(Arc::clone(&message), Arc::clone(&policy), key, told));
                if let Some(older) = sending.insert((apex.origin.clone(), secondary), task) {
                    older.abort();
                }
            }
        }
    }
    tasks.shutdown().await;
}

/// The zone's name as status shows it, without the trailing dot.
fn zone_name(apex: &Apex) -> String {
    let mut name = apex.name().to_string();
    if name.len() > 1 && name.ends_with('.') {
        name.pop();
    }
    name
}

/// One NOTIFY: of which zone and serial, to whom, and where its outcome
/// is kept.
struct Told {
    zone: Arc<str>,
    secondary: SocketAddr,
    serial: u64,
    status: Arc<Secondaries>,
}

impl Told {
    fn stands(&self, outcome: NotifyOutcome) {
        self.status
            .record(&self.zone, self.secondary, self.serial, outcome);
    }

    /// The NOTIFY ended so: counted and kept.
    fn ended(&self, outcome: NotifyOutcome) {
        crate::metrics::events::events().notified(outcome.as_str());
        self.stands(outcome);
    }
}

/// A NOTIFY for `apex`'s zone with its SOA in the answer section, as NSD
/// and Knot send it; the id is filled in per attempt.
fn notify_message(apex: &Apex) -> Vec<u8> {
    let mut message =
        Vec::with_capacity(HEADER_LEN + apex.origin.len() + apex.soa_answer.len() + 4);
    // Id, opcode NOTIFY with AA, one question, one answer.
    message.extend_from_slice(&[0, 0, (OPCODE_NOTIFY << 3) | 0x04, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    message.extend_from_slice(&apex.origin);
    message.extend_from_slice(&TYPE_SOA.to_be_bytes());
    message.extend_from_slice(&1u16.to_be_bytes());
    // The SOA is kept owned by a pointer to the question's name.
    message.extend_from_slice(&apex.soa_answer);
    message
}

/// Sends one NOTIFY, signed with the policy's key at `key` when there is
/// one, until `secondary` acknowledges it or the attempts run out.
async fn tell(message: Arc<[u8]>, policy: Arc<TransferPolicy>, key: Option<usize>, told: Told) {
    let (secondary, serial) = (told.secondary, told.serial);
    let local: IpAddr = match secondary {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = match UdpSocket::bind((local, 0)).await {
        Ok(socket) => socket,
        Err(error) => {
            tracing::warn!(%secondary, %error, "NOTIFY not sent: no UDP socket");
            return told.ended(NotifyOutcome::NotSent);
        }
    };
    if let Err(error) = socket.connect(secondary).await {
        tracing::warn!(%secondary, %error, "NOTIFY not sent");
        return told.ended(NotifyOutcome::NotSent);
    }
    let mut datagram = Vec::with_capacity(message.len() + super::tsig::MAX_TSIG_LEN);
    let mut reply = [0u8; 1024];
    // Why a reply was not taken, told once per NOTIFY: a secondary without
    // the key answers every retry alike.
    let mut rejected = None;
    for wait in ATTEMPTS {
        let id = fastrand::u16(..);
        datagram.clear();
        datagram.extend_from_slice(&message);
        datagram[..2].copy_from_slice(&id.to_be_bytes());
        // Signed afresh each time: the time signed is part of the MAC.
        let signer = key.and_then(|position| policy.key(position)).map(|key| {
            let mut signer = Signer::new(key, id, super::unix_time());
            signer.sign(&mut datagram, None, &[]);
            signer
        });
        let deadline = tokio::time::Instant::now() + wait;
        // A failed send or receive (ICMP unreachable: the secondary is not
        // up yet) still waits out the attempt, so the retries keep their
        // spacing.
        crate::metrics::events::events().notify_sent();
        if socket.send(&datagram).await.is_ok() {
            while let Ok(Ok(len)) = tokio::time::timeout_at(deadline, socket.recv(&mut reply)).await
            {
                let reply = &reply[..len];
                if !is_acknowledgement(reply, id) {
                    continue;
                }
                // A reply to a signed NOTIFY counts only signed by the
                // secondary (RFC 8945 §5.3): anyone can send an unsigned
                // one, and it would end the retries.
                let verdict = signer.as_ref().map_or(Ok(()), |signer| {
                    signer.verify_reply(reply, super::unix_time())
                });
                if let Err(reason) = verdict {
                    if rejected.replace(reason).is_none() {
                        tracing::warn!(%secondary, serial, rcode = reply[3] & 0x0f, %reason, "a reply to our signed NOTIFY is not taken as an acknowledgement; retrying");
                    }
                    continue;
                }
                match reply[3] & 0x0f {
                    0 => {
                        tracing::debug!(%secondary, serial, "NOTIFY acknowledged");
                        told.ended(NotifyOutcome::Acknowledged);
                    }
                    rcode => {
                        tracing::warn!(%secondary, serial, rcode, "the secondary refused our NOTIFY: does it allow this server (allow-notify / acl)?");
                        told.ended(NotifyOutcome::Refused);
                    }
                }
                return;
            }
        }
        tokio::time::sleep_until(deadline).await;
    }
    match rejected {
        None => {
            tracing::warn!(%secondary, serial, "NOTIFY not acknowledged after {} attempts", ATTEMPTS.len())
        }
        Some(reason) => {
            tracing::warn!(%secondary, serial, %reason, "NOTIFY not acknowledged after {} attempts: no reply verified", ATTEMPTS.len())
        }
    }
    told.ended(NotifyOutcome::Unanswered);
}

/// A response to our NOTIFY: the id, QR and opcode NOTIFY. Any rcode ends
/// the retries (a REFUSED secondary will not change its mind by being
/// asked again).
fn is_acknowledgement(reply: &[u8], id: u16) -> bool {
    reply.len() >= HEADER_LEN
        && reply[..2] == id.to_be_bytes()
        && reply[2] & 0x80 != 0
        && (reply[2] >> 3) & 0x0f == OPCODE_NOTIFY
}
