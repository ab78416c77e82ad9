//! The table of open TCP connections, and the rule that keeps one client
//! from locking the others out: a new connection is never refused. When
//! its client already has `max_connections_per_client` open, it replaces
//! that client's idlest connection; when the table is full, it replaces the
//! idlest connection of all. A connection that is answering is only chosen
//! when every candidate is answering (then the one that has been at it
//! longest, most likely a client that does not read).
//!
//! The table is touched twice per connection (admission, close) under one
//! short lock. The answer loop only stores its state in an atomic it owns
//! and reads the open count and the limits (an `ArcSwap` a reload
//! replaces); it never takes the lock.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::TcpLimits;
use crate::dns::LiveSettings;

/// Set in a connection's activity while it is reading a query's body,
/// answering or writing the answer. As the top bit it makes every
/// answering connection compare above every idle one.
const ANSWERING: u64 = 1 << 63;

/// Every open connection, shared by the listeners.
pub(super) struct Connections {
    /// Activity timestamps are microseconds since this instant (finer than
    /// milliseconds, so connections accepted in one burst still differ).
    epoch: Instant,
    /// Swapped whole by a reload; read at admission and at each wait.
    limits: ArcSwap<Limits>,
    /// The table's length, readable without its lock.
    open: AtomicUsize,
    table: Mutex<Table>,
}

struct Limits {
    tcp: TcpLimits,
    /// Above this many open connections idle ones get the short timeout.
    pressure_above: usize,
}

impl Limits {
    fn new(tcp: TcpLimits) -> Arc<Self> {
        Arc::new(Self {
            tcp,
            pressure_above: tcp.max_connections * usize::from(tcp.pressure_percent) / 100,
        })
    }
}

#[derive(Default)]
struct Table {
    /// Limits a reload sends, looked at on each admission so that a
    /// connection accepted after a reload has answered is held to them.
    live: Option<watch::Receiver<LiveSettings>>,
    /// A slot per connection; closed connections leave `None`, reused
    /// through `free`.
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    len: usize,
    per_client: HashMap<ClientKey, usize, foldhash::fast::RandomState>,
}

struct Entry {
    client: ClientKey,
    state: Arc<ConnectionState>,
}

/// What the table and a connection's task share.
struct ConnectionState {
    /// Microseconds since the epoch at which the connection last started
    /// waiting for a query, with [`ANSWERING`] set while it answers. The
    /// lowest value is the idlest connection.
    activity: AtomicU64,
    /// Cancelled when the connection is evicted, and (as a child of the
    /// shutdown token) at shutdown.
    close: CancellationToken,
}

/// Whom the per-client limit counts together: an IPv4 address, or an IPv6
/// /64 — whoever has one address in a /64 usually has them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey(IpAddr);

impl ClientKey {
    fn of(address: IpAddr) -> Self {
        // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; masking
        // those to /64 would count every IPv4 client as one.
        match address.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => Self(v4),
        }
    }
}

impl Connections {
    pub(super) fn new(limits: TcpLimits) -> Self {
        Self {
            epoch: Instant::now(),
            limits: ArcSwap::new(Limits::new(limits)),
            open: AtomicUsize::new(0),
            table: Mutex::new(Table::default()),
        }
    }

    /// Takes the limits reloads send from now on.
    pub(super) fn follow(&self, live: watch::Receiver<LiveSettings>) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .live = Some(live);
    }

    /// The limits now.
    pub(super) fn limits(&self) -> TcpLimits {
        self.limits.load().tcp
    }

    /// Limits from a reload: new connections are admitted under them, and
    /// every connection's next wait has the new idle timeout. Connections
    /// above a lowered limit stay until they close or new ones replace
    /// them.
    pub(super) fn set_limits(&self, limits: TcpLimits) {
        self.limits.store(Limits::new(limits));
    }

    /// Registers a connection from `client`, first evicting the connection
    /// it replaces when its client or the table is at its limit.
    pub(super) fn admit(
        self: &Arc<Self>,
        client: IpAddr,
        shutdown: &CancellationToken,
    ) -> Connection {
        let key = ClientKey::of(client);
        let admitted = Instant::now();
        let state = Arc::new(ConnectionState {
            activity: AtomicU64::new(self.micros(admitted)),
            close: shutdown.child_token(),
        });
        let (slot, evicted) = {
            // A panic elsewhere while holding the lock left the table
            // consistent (every change is one step), so poisoning is ignored.
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(live) = &mut table.live
                && live.has_changed().unwrap_or(false)
            {
                let tcp = live.borrow_and_update().tcp;
                self.set_limits(tcp);
            }
            let limits = self.limits();
            let evicted = if table.count(key) >= limits.max_connections_per_client {
                table.evict(|entry| entry.client == key)
            } else if table.len >= limits.max_connections {
                table.evict(|_| true)
            } else {
                None
            };
            let slot = table.insert(Entry {
                client: key,
                state: Arc::clone(&state),
            });
            self.open.store(table.len, Ordering::Relaxed);
            (slot, evicted)
        };
        if let Some(evicted) = evicted {
            tracing::debug!(%client, "TCP connection limit reached; closed the idlest connection");
            evicted.close.cancel();
        }
        Connection {
            connections: Arc::clone(self),
            slot,
            state,
            admitted,
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        // Microseconds fit 63 bits for 292,000 years.
        now.saturating_duration_since(self.epoch).as_micros() as u64 & !ANSWERING
    }

    /// How long an idle connection may wait for its next query now.
    fn idle_timeout(&self) -> Duration {
        let limits = self.limits.load();
        if self.open.load(Ordering::Relaxed) > limits.pressure_above {
            limits.tcp.pressure_idle_timeout
        } else {
            limits.tcp.idle_timeout
        }
    }

    fn release(&self, slot: usize, state: &Arc<ConnectionState>) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        // An evicted connection's slot may hold its successor already.
        let ours = table
            .slots
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|entry| Arc::ptr_eq(&entry.state, state));
        if ours {
            table.remove(slot);
            self.open.store(table.len, Ordering::Relaxed);
        }
    }
}

impl Table {
    fn count(&self, key: ClientKey) -> usize {
        self.per_client.get(&key).copied().unwrap_or(0)
    }

    fn insert(&mut self, entry: Entry) -> usize {
        *self.per_client.entry(entry.client).or_insert(0) += 1;
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) -> Option<Entry> {
        let entry = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        if let Some(count) = self.per_client.get_mut(&entry.client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&entry.client);
            }
        }
        Some(entry)
    }

    /// Removes the idlest connection among those `candidate` accepts: the
    /// lowest activity, which puts idle ones before answering ones. A scan
    /// of at most `max_connections` atomics, only when a limit is reached.
    fn evict(&mut self, candidate: impl Fn(&Entry) -> bool) -> Option<Arc<ConnectionState>> {
        let (slot, _) = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| Some((slot, entry.as_ref()?)))
            .filter(|(_, entry)| candidate(entry))
            .map(|(slot, entry)| (slot, entry.state.activity.load(Ordering::Relaxed)))
            .min_by_key(|&(_, activity)| activity)?;
        self.remove(slot).map(|entry| entry.state)
    }
}

/// One open connection's place in the table; leaves it when dropped.
pub(super) struct Connection {
    connections: Arc<Connections>,
    slot: usize,
    state: Arc<ConnectionState>,
    /// When the connection entered the table: it has been idle since then,
    /// however late its task first runs.
    admitted: Instant,
}

/// A connection waiting for its next query.
pub(super) struct Waiting {
    since: u64,
    /// When the next query must have arrived whole.
    pub(super) deadline: Instant,
}

impl Connection {
    /// When the connection entered the table, the start of its first wait.
    pub(super) fn admitted(&self) -> Instant {
        self.admitted
    }

    /// Marks the connection idle from `since` and says until when it may
    /// wait for its next query: one relaxed store, one relaxed load.
    pub(super) fn waiting(&self, since: Instant) -> Waiting {
        let micros = self.connections.micros(since);
        self.state.activity.store(micros, Ordering::Relaxed);
        Waiting {
            since: micros,
            deadline: since + self.connections.idle_timeout(),
        }
    }

    /// Marks the connection as answering, so it is evicted after idle ones.
    pub(super) fn answering(&self, waiting: &Waiting) {
        self.state
            .activity
            .store(waiting.since | ANSWERING, Ordering::Relaxed);
    }

    /// Resolves when the connection is evicted or the server shuts down.
    pub(super) fn closed(&self) -> WaitForCancellationFuture<'_> {
        self.state.close.cancelled()
    }

    /// The limits at the time of asking; a connection takes them once.
    pub(super) fn limits(&self) -> TcpLimits {
        self.connections.limits()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.connections.release(self.slot, &self.state);
    }
}

#[cfg(test)]
mod tests;
