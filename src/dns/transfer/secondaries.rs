//! What `cairn status` shows of the secondaries: for each zone and each
//! secondary told of it, the last serial announced and how that NOTIFY
//! ended. Written by the NOTIFY tasks, read by a status call; a lock held
//! for a map update, never on the answer or write path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// How the last NOTIFY to a secondary stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// Being sent, or waiting for a reply between attempts.
    Sending,
    Acknowledged,
    Refused,
    Unanswered,
    NotSent,
}

impl NotifyOutcome {
    /// As the metric `cairn_notifies_total` labels it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Acknowledged => "acknowledged",
            Self::Refused => "refused",
            Self::Unanswered => "unanswered",
            Self::NotSent => "not_sent",
        }
    }
}

/// One secondary of one zone, as last told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryStatus {
    /// The zone's name, without the trailing dot.
    pub zone: String,
    pub secondary: SocketAddr,
    pub serial: u64,
    pub outcome: NotifyOutcome,
    /// Epoch milliseconds of the outcome (of the first attempt while
    /// sending).
    pub at_millis: u64,
}

/// Every zone's secondaries, as last told.
#[derive(Debug, Default)]
pub struct Secondaries {
    told: Mutex<BTreeMap<(String, SocketAddr), SecondaryStatus>>,
}

impl Secondaries {
    /// Records how the NOTIFY of `zone` at `serial` to `secondary` stands.
    pub fn record(&self, zone: &str, secondary: SocketAddr, serial: u64, outcome: NotifyOutcome) {
        let status = SecondaryStatus {
            zone: zone.to_string(),
            secondary,
            serial,
            outcome,
            at_millis: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
        };
        if let Ok(mut told) = self.told.lock() {
            told.insert((status.zone.clone(), secondary), status);
        }
    }

    /// Forgets the zones `keep` says no longer exist.
    pub fn retain_zones(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut told) = self.told.lock() {
            told.retain(|(zone, _), _| keep(zone));
        }
    }

    /// Every secondary of every zone, by zone then address.
    pub fn snapshot(&self) -> Vec<SecondaryStatus> {
        self.told
            .lock()
            .map(|told| told.values().cloned().collect())
            .unwrap_or_default()
    }
}
