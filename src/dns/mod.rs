//! The DNS responder. Writers compile each service into wire-ready records
//! when it changes ([`compile`], driven by [`NameTable`] as a registry
//! observer); queries only look names up and copy bytes out ([`answer`]).
//! [`udp`] and [`tcp`] move bytes between sockets and the answer core.
//!
//! Only this module imports `hickory_*`, and within it only [`encode`]
//! (tests aside). It never parses JSON, touches
//! files, or calls back into the registry from the answer path.

pub mod answer;
pub mod compile;
pub mod encode;
pub mod instance;
pub mod names;
pub mod rrl;
pub mod tcp;
#[cfg(test)]
mod tests;
pub mod transfer;
pub mod udp;
pub mod wire;

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use names::NameTable;

/// The DNS listeners' settings.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    pub max_udp_payload: u16,
    /// What a reload may change while the listeners run; each listener
    /// takes the latest when it next looks (see [`LiveSettings`]).
    pub live: tokio::sync::watch::Receiver<LiveSettings>,
    /// Where the listeners count what they answer; `None` counts nothing.
    pub metrics: Option<std::sync::Arc<crate::metrics::DnsSlots>>,
    /// Who may transfer zones (over TCP), and the TSIG keys.
    pub transfer: std::sync::Arc<transfer::TransferPolicy>,
}

/// The settings a reload changes in running listeners: the TCP limits
/// (taken by connections at admission, and by every connection's idle
/// timeout at its next wait) and response rate limiting (taken by each UDP
/// worker between two batches, with fresh buckets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSettings {
    pub tcp: tcp::TcpLimits,
    pub rrl: rrl::RrlSettings,
}

impl LiveSettings {
    /// As `[dns]` sets them.
    pub fn from_config(dns: &crate::config::DnsConfig) -> Self {
        Self {
            tcp: tcp::TcpLimits {
                idle_timeout: dns.tcp_idle_timeout,
                pressure_idle_timeout: dns.tcp_pressure_idle_timeout,
                pressure_percent: dns.tcp_pressure_percent,
                write_timeout: dns.tcp_write_timeout,
                max_connections: dns.tcp_max_connections,
                max_connections_per_client: dns.tcp_max_connections_per_client,
                max_udp_payload: dns.max_udp_payload,
            },
            rrl: rrl::RrlSettings {
                responses_per_second: dns.rrl.responses_per_second,
                slip: dns.rrl.slip,
                ipv4_prefix_len: dns.rrl.ipv4_prefix_len,
                ipv6_prefix_len: dns.rrl.ipv6_prefix_len,
                exempt: dns.rrl.exempt.clone(),
            },
        }
    }
}

/// Bound DNS sockets: several UDP sockets per address (one per worker
/// thread, sharing the port), one TCP listener per address.
pub struct DnsSockets {
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: Vec<TcpListener>,
    /// Where each address ended up bound (the port is chosen when it was 0).
    pub bound: Vec<SocketAddr>,
}

/// A socket that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for DNS on {addr} ({protocol}): {source}{hint}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub protocol: &'static str,
    pub source: std::io::Error,
    pub hint: &'static str,
}

fn bind_error(
    addr: SocketAddr,
    protocol: &'static str,
) -> impl FnOnce(std::io::Error) -> BindError {
    move |source| {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                "; another process holds this port: stop it or set dns.listen to another address"
            }
            std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
                "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
            }
            _ => "",
        };
        BindError {
            addr,
            protocol,
            source,
            hint,
        }
    }
}

/// A UDP socket with SO_REUSEPORT, so several can share one address.
fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    // Room for bursts: a full receive queue drops queries silently. The
    // kernel caps this at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Binds every address: `workers` UDP sockets and one TCP listener each.
/// Must run inside a tokio runtime (for the TCP listeners).
pub fn bind(listen: &[SocketAddr], workers: usize) -> Result<DnsSockets, BindError> {
    let mut sockets = DnsSockets {
        udp: Vec::new(),
        tcp: Vec::new(),
        bound: Vec::new(),
    };
    for &addr in listen {
        let first = udp_socket(addr).map_err(bind_error(addr, "UDP"))?;
        // With port 0 the others must take the port the first was given.
        let bound = first.local_addr().map_err(bind_error(addr, "UDP"))?;
        sockets.udp.push(first);
        for _ in 1..workers.max(1) {
            sockets
                .udp
                .push(udp_socket(bound).map_err(bind_error(bound, "UDP"))?);
        }
        let tcp = std::net::TcpListener::bind(bound)
            .and_then(|listener| {
                listener.set_nonblocking(true)?;
                TcpListener::from_std(listener)
            })
            .map_err(bind_error(bound, "TCP"))?;
        sockets.tcp.push(tcp);
        sockets.bound.push(bound);
    }
    Ok(sockets)
}

/// Serves DNS until `shutdown` is cancelled; returns once every listener has
/// stopped.
pub async fn serve(
    sockets: DnsSockets,
    table: NameTable,
    settings: DnsSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // `bind` made the same number of UDP sockets for every address.
    let per_address = sockets.udp.len() / sockets.bound.len().max(1);
    let workers = udp::spawn_workers(
        sockets.udp,
        per_address,
        &table,
        settings.max_udp_payload,
        &settings.live,
        settings.metrics.as_ref(),
        &settings.transfer,
        &shutdown,
    )?;
    let tcp_metrics = settings.metrics.as_ref().map(crate::metrics::DnsSlots::tcp);
    tcp::serve(
        sockets.tcp,
        table,
        settings.live,
        tcp_metrics,
        settings.transfer,
        shutdown.clone(),
    )
    .await;
    tokio::task::spawn_blocking(move || {
        for worker in workers {
            let _ = worker.join();
        }
    })
    .await
    .map_err(std::io::Error::other)
}
