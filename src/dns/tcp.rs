//! TCP: a task per connection, queries answered in order (RFC 7766
//! pipelining), connections capped and closed when idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::answer::{Transport, respond};
use super::names::NameTable;
use super::wire::HEADER_LEN;

/// Limits on DNS over TCP.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Connections beyond this many are closed at once.
    pub max_connections: usize,
    /// The largest UDP payload, advertised in OPT records here too.
    pub max_udp_payload: u16,
}

/// Accepts connections until `shutdown`, then waits for them to close.
pub async fn serve_listener(
    listener: TcpListener,
    table: NameTable,
    limits: TcpLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
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
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%client, "TCP connection limit reached; closing");
            continue;
        };
        let table = table.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = serve_connection(stream, client, &table, limits) => {}
            }
            drop(permit);
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    mut stream: TcpStream,
    client: SocketAddr,
    table: &NameTable,
    limits: TcpLimits,
) {
    let _ = stream.set_nodelay(true);
    let mut query = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(512);
    let mut frame = Vec::with_capacity(514);
    loop {
        let mut prefix = [0u8; 2];
        match tokio::time::timeout(limits.idle_timeout, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = usize::from(u16::from_be_bytes(prefix));
        if len < HEADER_LEN {
            return;
        }
        query.resize(len, 0);
        match tokio::time::timeout(limits.idle_timeout, stream.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(answer) = respond(
            table,
            &query,
            client.ip(),
            Transport::Tcp,
            limits.max_udp_payload,
            &mut response,
        ) else {
            continue;
        };
        frame.clear();
        frame.extend_from_slice(&(answer.len() as u16).to_be_bytes());
        frame.extend_from_slice(answer);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}
