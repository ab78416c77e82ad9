//! DNS over TCP: a task per connection, queries answered in order (RFC 7766
//! pipelining). TCP is the fallback for every truncated UDP answer, so no
//! client may deny it to the others: [`connections`] caps connections per
//! client and in all, and a new connection replaces the idlest one rather
//! than being refused; idle connections time out sooner under pressure, and
//! a client that does not read its answers is closed after the write
//! timeout.

mod connections;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::connections::{Connection, Connections};
use super::LiveSettings;
use super::answer::{Served, Transport, respond_served};
use super::names::NameTable;
use super::transfer::{self, Outcome, TransferPolicy};
use super::wire::HEADER_LEN;
use crate::metrics::DnsRecorder;

/// Limits on DNS over TCP, checked by the config (per-client limit at most
/// the total, pressure timeout at most the idle timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// A connection that sends no query for this long is closed.
    pub idle_timeout: Duration,
    /// The idle timeout while more than `pressure_percent` of
    /// `max_connections` are open.
    pub pressure_idle_timeout: Duration,
    /// 1 to 100; 100 never shortens the idle timeout.
    pub pressure_percent: u8,
    /// A connection whose answer the client has not taken within this long
    /// is closed.
    pub write_timeout: Duration,
    /// Connections open at once; one more replaces the idlest.
    pub max_connections: usize,
    /// Connections open at once from one client; one more replaces that
    /// client's idlest.
    pub max_connections_per_client: usize,
    /// The largest UDP payload, advertised in OPT records here too.
    pub max_udp_payload: u16,
}

/// The send buffer each connection asks for (Linux doubles it for its
/// bookkeeping). Left to autotuning, the kernel grows it to `tcp_wmem`'s
/// maximum (4 MiB by default): a client that never reads then has every
/// answer taken off the server's hands, so no write blocks and the write
/// timeout never fires, while each such connection pins megabytes of kernel
/// memory. 64 KiB holds a largest answer, or about a hundred typical ones
/// pipelined ahead of a client that does read.
const SEND_BUFFER: usize = 64 * 1024;

/// Descriptors kept free beyond `max_connections` for everything else the
/// process opens: listeners, the store, admin connections, health probes.
const OTHER_DESCRIPTORS: u64 = 512;

/// Accepts connections on every listener until `shutdown`, then waits for
/// every connection to close.
pub async fn serve(
    listeners: Vec<TcpListener>,
    table: NameTable,
    mut live: watch::Receiver<LiveSettings>,
    metrics: Option<DnsRecorder>,
    transfers: Arc<TransferPolicy>,
    shutdown: CancellationToken,
) {
    let limits = live.borrow_and_update().tcp;
    make_room_for(limits.max_connections);
    // One table for all listeners: the limits are the server's, not each
    // address's.
    let connections = Arc::new(Connections::new(limits));
    connections.follow(live.clone());
    // Listeners and connections alike, so waiting on it drains both.
    let tasks = TaskTracker::new();
    tasks.spawn(take_reloaded_limits(
        live,
        Arc::clone(&connections),
        shutdown.clone(),
    ));
    for listener in listeners {
        tasks.spawn(accept(
            listener,
            table.clone(),
            Arc::clone(&connections),
            metrics.clone(),
            Arc::clone(&transfers),
            tasks.clone(),
            shutdown.clone(),
        ));
    }
    tasks.close();
    tasks.wait().await;
}

/// Hands the limits a reload sends to the connection table at once, so
/// that idle connections take the new idle timeout without waiting for the
/// next admission (which looks too), and makes room for a raised
/// connection limit. Until `shutdown`.
async fn take_reloaded_limits(
    mut live: watch::Receiver<LiveSettings>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = live.changed() => if changed.is_err() { return },
        }
        let limits = live.borrow_and_update().tcp;
        if limits != connections.limits() {
            make_room_for(limits.max_connections);
            connections.set_limits(limits);
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as systemd
/// expects a service that needs more than 1024 to do. Below
/// `max_connections` plus the rest, `accept` would fail with EMFILE before
/// the table is full, and eviction would never start.
fn make_room_for(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let wanted = max_connections as u64 + OTHER_DESCRIPTORS;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    if soft < wanted {
        tracing::warn!(
            open_files = soft,
            wanted,
            "the open-file limit is below dns.tcp_max_connections plus {OTHER_DESCRIPTORS}: \
             raise it (systemd: LimitNOFILE=) or lower dns.tcp_max_connections, or new TCP \
             clients will wait while the server has no descriptor for them"
        );
    }
}

async fn accept(
    listener: TcpListener,
    table: NameTable,
    connections: Arc<Connections>,
    metrics: Option<DnsRecorder>,
    transfers: Arc<TransferPolicy>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, client) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, mostly: back off a little rather
                // than spin.
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = connections.admit(client.ip(), &shutdown);
        let table = table.clone();
        let metrics = metrics.clone();
        let transfers = Arc::clone(&transfers);
        tasks.spawn(async move {
            tokio::select! {
                () = connection.closed() => {}
                () = serve_connection(stream, client, &table, &connection, metrics.as_ref(), &transfers) => {}
            }
        });
    }
}

/// Answers queries in order until the client goes quiet, stops reading, or
/// sends something that is not a query.
///
/// Per query, counted against the loop before the connection table (not
/// benchmarked: the machine it was written on was shared, and dnsperf runs
/// there swing by ±15 %): one clock read and one timer for the read where
/// there were two of each (the length prefix and the body share one
/// deadline), two relaxed stores to this connection's own atomic and one
/// relaxed load of the open count, no lock, no allocation. The write arms
/// its timer only when the socket cannot take the whole answer at once.
async fn serve_connection(
    mut stream: TcpStream,
    client: SocketAddr,
    table: &NameTable,
    connection: &Connection,
    metrics: Option<&DnsRecorder>,
    transfers: &TransferPolicy,
) {
    let limits = connection.limits();
    let _ = stream.set_nodelay(true);
    // Without it the write timeout would not see a client that does not
    // read (see SEND_BUFFER); a failure only leaves autotuning on.
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
    let mut query = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(512);
    let mut frame = Vec::with_capacity(514);
    // Idle since admission at first, however late this task started, so
    // that the idlest connection is the one that really waited longest.
    let mut idle_from = connection.admitted();
    loop {
        let waiting = connection.waiting(idle_from);
        let read = async {
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await?;
            let len = usize::from(u16::from_be_bytes(prefix));
            if len < HEADER_LEN {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            query.resize(len, 0);
            stream.read_exact(&mut query).await?;
            Ok::<(), std::io::Error>(())
        };
        match tokio::time::timeout_at(waiting.deadline, read).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        connection.answering(&waiting);
        if transfer::is_for_transfer(&query, transfers) {
            let outcome = transfer::serve(
                &mut stream,
                &query,
                client.ip(),
                table,
                transfers,
                limits.max_udp_payload,
                limits.write_timeout,
            )
            .await;
            match outcome {
                Outcome::NotMine => {}
                Outcome::Answered => {
                    idle_from = Instant::now();
                    continue;
                }
                Outcome::Closed => return,
            }
        }
        // One more clock read per query, and only with metrics on: the
        // answer's end is the idle time's start, read anyway.
        let started = metrics.map(|_| Instant::now());
        let mut served = Served::default();
        if let Some(answer) = respond_served(
            table,
            &query,
            client.ip(),
            Transport::Tcp,
            limits.max_udp_payload,
            &mut response,
            &mut served,
        ) {
            if let Some(metrics) = metrics {
                metrics.answered(
                    answer,
                    served.question_end,
                    served.opt,
                    served.acl_refused,
                    served.zone_counted,
                );
            }
            frame.clear();
            frame.extend_from_slice(&(answer.len() as u16).to_be_bytes());
            frame.extend_from_slice(answer);
            if !write_answer(&mut stream, &frame, limits.write_timeout).await {
                return;
            }
            idle_from = Instant::now();
            if let (Some(metrics), Some(started)) = (metrics, started) {
                metrics.answer_took(idle_from.duration_since(started));
            }
        } else {
            idle_from = Instant::now();
        }
    }
}

/// Writes a whole frame, or gives up after `timeout`: a client that does
/// not read would otherwise hold its connection for good.
async fn write_answer(stream: &mut TcpStream, frame: &[u8], timeout: Duration) -> bool {
    // Nearly always the socket buffer takes it all, with no timer.
    let written = match stream.try_write(frame) {
        Ok(written) => written,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return false,
    };
    if written == frame.len() {
        return true;
    }
    matches!(
        tokio::time::timeout(timeout, stream.write_all(&frame[written..])).await,
        Ok(Ok(()))
    )
}
