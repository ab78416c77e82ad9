//! UDP: one thread per socket, each socket bound to the same address with
//! SO_REUSEPORT so the kernel spreads clients over them. A thread receives
//! into a fixed buffer, answers into another and sends: no task, no channel
//! and no allocation per datagram.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::answer::{Transport, respond};
use super::zones::Zones;

/// How often a blocked worker looks at the shutdown signal.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// The largest query read; EDNS clients may send up to this much.
const MAX_QUERY: usize = 4096;

/// Starts one worker thread per socket.
pub fn spawn_workers(
    sockets: Vec<UdpSocket>,
    zones: &Zones,
    max_udp_payload: u16,
    shutdown: &CancellationToken,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(index, socket)| {
            socket.set_read_timeout(Some(SHUTDOWN_POLL))?;
            let zones = zones.clone();
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("cairn-udp-{index}"))
                .spawn(move || serve_socket(&socket, &zones, max_udp_payload, &shutdown))
        })
        .collect()
}

fn serve_socket(
    socket: &UdpSocket,
    zones: &Zones,
    max_udp_payload: u16,
    shutdown: &CancellationToken,
) {
    let mut query = [0u8; MAX_QUERY];
    let mut response = Vec::with_capacity(usize::from(max_udp_payload));
    while !shutdown.is_cancelled() {
        let (len, client) = match socket.recv_from(&mut query) {
            Ok(received) => received,
            Err(error) => match error.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => continue,
                // An ICMP error from an earlier send surfaces here on some
                // systems; it concerns that client only.
                ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => continue,
                _ => {
                    tracing::warn!(%error, "UDP receive failed");
                    continue;
                }
            },
        };
        if client.port() == 0 {
            // Nothing can answer port 0; a spoofed source, most likely.
            continue;
        }
        let Some(answer) = respond(
            zones,
            &query[..len],
            client.ip(),
            Transport::Udp,
            max_udp_payload,
            &mut response,
        ) else {
            continue;
        };
        if let Err(error) = socket.send_to(answer, client) {
            tracing::debug!(%error, %client, "UDP send failed");
        }
    }
}
