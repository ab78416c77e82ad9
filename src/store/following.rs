//! What `cairn status` says of a cluster node's place behind its shared
//! store: the revision it applied, the newest it has heard of (the gap is
//! the watch's lag), whether and since when it is stale, and its
//! consistency checks. The follower writes it (a few relaxed stores per
//! transaction, one lock only when reachability changes); status calls
//! and the metrics scrape read it. Nothing on the DNS path touches it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::SharedRevision;

fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Why a node is stale, and since when (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub reason: String,
    pub since_millis: u64,
}

/// A node's following of its shared store, shared with status readers.
#[derive(Debug, Default)]
pub struct Following {
    applied: AtomicU64,
    heard: AtomicU64,
    stale: Mutex<Option<Stale>>,
    checks: AtomicU64,
    last_check_millis: AtomicU64,
    repairs: AtomicU64,
    /// Since when (epoch milliseconds) this node has not been sure it holds
    /// the store's state: it heard of a revision it has not applied, or
    /// lost the store. 0 while it is current.
    behind_since_millis: AtomicU64,
}

/// A copy of [`Following`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowingStatus {
    /// The last revision applied here.
    pub applied: SharedRevision,
    /// The newest revision the store has reported (at least `applied`).
    pub heard: SharedRevision,
    /// `Some` while the store cannot be reached: DNS answers from the
    /// state at `applied`, writes are refused.
    pub stale: Option<Stale>,
    /// Consistency checks made, and when the last one was.
    pub checks: u64,
    pub last_check_millis: Option<u64>,
    /// Checks that found this node's state differing from the store's
    /// and put the store's in its place.
    pub repairs: u64,
}

impl FollowingStatus {
    /// Revisions committed in the store and not applied here yet.
    pub fn lag(&self) -> u64 {
        self.heard.saturating_sub(self.applied)
    }
}

fn lock(stale: &Mutex<Option<Stale>>) -> std::sync::MutexGuard<'_, Option<Stale>> {
    // One Option, replaced whole: a panic elsewhere cannot leave it torn.
    stale
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Following {
    pub fn new(applied: SharedRevision) -> Self {
        let following = Self::default();
        following.applied(applied);
        following
    }

    pub fn applied(&self, revision: SharedRevision) {
        self.applied.store(revision, Ordering::Relaxed);
        self.heard(revision);
        self.current_if_caught_up();
    }

    pub fn heard(&self, revision: SharedRevision) {
        let before = self.heard.fetch_max(revision, Ordering::Relaxed);
        if revision > before.max(self.applied.load(Ordering::Relaxed)) {
            self.behind_from(wall_millis());
        }
    }

    /// Keeps the first moment of a stretch behind the store.
    fn behind_from(&self, millis: u64) {
        let _ = self.behind_since_millis.compare_exchange(
            0,
            millis.max(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    fn current_if_caught_up(&self) {
        let caught_up = self.applied.load(Ordering::Relaxed) >= self.heard.load(Ordering::Relaxed);
        if caught_up && lock(&self.stale).is_none() {
            self.behind_since_millis.store(0, Ordering::Relaxed);
        }
    }

    /// How long this node has been behind the store (0 while it has
    /// applied everything it heard of and the store answers): the watch's
    /// lag in time, which a revision count alone does not give while the
    /// store is silent.
    pub fn lag_seconds(&self) -> f64 {
        match self.behind_since_millis.load(Ordering::Relaxed) {
            0 => 0.0,
            since => wall_millis().saturating_sub(since) as f64 / 1000.0,
        }
    }

    /// Marks the node stale; returns whether it just became so (to log
    /// once). The first reason's time is kept; the reason is the latest.
    pub fn unreachable(&self, reason: String) -> bool {
        let mut stale = lock(&self.stale);
        let since_millis = stale
            .as_ref()
            .map_or_else(wall_millis, |stale| stale.since_millis);
        let became = stale.is_none();
        *stale = Some(Stale {
            reason,
            since_millis,
        });
        drop(stale);
        self.behind_from(since_millis);
        became
    }

    /// Marks the node reachable again; returns whether it was stale.
    pub fn reachable(&self) -> bool {
        let was = lock(&self.stale).take().is_some();
        if was {
            self.current_if_caught_up();
        }
        was
    }

    /// Why writes are refused now, if they are.
    pub fn stale(&self) -> Option<Stale> {
        lock(&self.stale).clone()
    }

    pub fn checked(&self, repaired: bool) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.last_check_millis
            .store(wall_millis(), Ordering::Relaxed);
        if repaired {
            self.repairs.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn status(&self) -> FollowingStatus {
        let last = self.last_check_millis.load(Ordering::Relaxed);
        FollowingStatus {
            applied: self.applied.load(Ordering::Relaxed),
            heard: self.heard.load(Ordering::Relaxed),
            stale: self.stale(),
            checks: self.checks.load(Ordering::Relaxed),
            last_check_millis: (last != 0).then_some(last),
            repairs: self.repairs.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_keeps_its_first_time_and_clears_once() {
        let following = Following::new(5);
        assert!(following.unreachable("first".into()));
        let since = following.stale().map(|stale| stale.since_millis);
        assert!(!following.unreachable("second".into()));
        let stale = following.stale();
        assert_eq!(stale.as_ref().map(|s| s.reason.as_str()), Some("second"));
        assert_eq!(stale.map(|s| s.since_millis), since);
        assert!(following.reachable());
        assert!(!following.reachable());
        following.heard(9);
        assert_eq!(following.status().lag(), 4);
        following.applied(9);
        assert_eq!(following.status().lag(), 0);
    }

    #[test]
    fn lag_in_time_runs_while_behind_or_stale_and_stops_once_caught_up() {
        let following = Following::new(5);
        assert_eq!(following.lag_seconds(), 0.0);
        following.heard(7);
        let behind = following.behind_since_millis.load(Ordering::Relaxed);
        assert!(behind > 0);
        following.applied(6);
        assert_eq!(
            following.behind_since_millis.load(Ordering::Relaxed),
            behind
        );
        following.applied(7);
        assert_eq!(following.lag_seconds(), 0.0);
        following.unreachable("away".into());
        assert!(following.behind_since_millis.load(Ordering::Relaxed) > 0);
        following.applied(7);
        assert!(
            following.behind_since_millis.load(Ordering::Relaxed) > 0,
            "stale is behind, whatever was applied"
        );
        following.reachable();
        assert_eq!(following.lag_seconds(), 0.0);
    }
}
