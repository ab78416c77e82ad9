//! UDP: one thread per socket, each socket bound to the same address with
//! SO_REUSEPORT so the kernel spreads clients over them. A thread takes
//! every query already queued with one `recvmmsg`, answers them into fixed
//! buffers and sends all answers with one `sendmmsg`: two system calls per
//! batch under load, no task or channel per datagram, and no allocation but
//! the three small slice lists each batch needs to lend its buffers to the
//! kernel. Each worker owns its response rate limiter ([`super::rrl`]),
//! which sees every answer between the answer core and `sendmmsg`.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::LiveSettings;
use super::answer::{Served, Transport, respond_served};
use super::names::NameTable;
use super::rrl::{RateLimiter, RrlSettings, Verdict, slip};
use super::transfer::{self, TransferPolicy};
use crate::metrics::{DnsRecorder, DnsSlots};

/// How often a blocked worker looks at the shutdown signal.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// The largest query read; EDNS clients may send up to this much.
const MAX_QUERY: usize = 4096;

/// Queries taken per `recvmmsg`: enough to amortise the system call, small
/// enough that the first answer of a batch does not wait long for the last.
const BATCH: usize = 32;

/// Starts one worker thread per socket; `per_address` sockets share each
/// address, and so share its rate limit (see [`super::rrl`]).
#[allow(clippy::too_many_arguments)]
pub fn spawn_workers(
    sockets: Vec<UdpSocket>,
    per_address: usize,
    table: &NameTable,
    max_udp_payload: u16,
    live: &watch::Receiver<LiveSettings>,
    metrics: Option<&std::sync::Arc<DnsSlots>>,
    transfers: &std::sync::Arc<TransferPolicy>,
    shutdown: &CancellationToken,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(index, socket)| {
            socket.set_read_timeout(Some(SHUTDOWN_POLL))?;
            let table = table.clone();
            let shutdown = shutdown.clone();
            let mut live = live.clone();
            let metrics = metrics.map(|slots| slots.udp_worker(index));
            let transfers = std::sync::Arc::clone(transfers);
            std::thread::Builder::new()
                .name(format!("cairn-udp-{index}"))
                .spawn(move || {
                    let rrl = live.borrow_and_update().rrl.clone();
                    // The limiter's table is allocated here, once, by the
                    // thread that alone will use it.
                    let limiter = RateLimiter::new(&rrl, per_address);
                    let rrl = Rrl {
                        settings: rrl,
                        per_address,
                        live,
                    };
                    Worker::new(max_udp_payload, limiter, rrl, metrics, transfers)
                        .serve(&socket, &table, &shutdown)
                })
        })
        .collect()
}

/// A worker's rate-limiting settings and where a reload sends new ones.
struct Rrl {
    settings: RrlSettings,
    per_address: usize,
    live: watch::Receiver<LiveSettings>,
}

/// A worker's buffers, reused for every batch.
struct Worker {
    max_udp_payload: u16,
    queries: Vec<[u8; MAX_QUERY]>,
    responses: Vec<Vec<u8>>,
    received: MultiHeaders<SockaddrStorage>,
    sent: MultiHeaders<SockaddrStorage>,
    /// `None` when rate limiting is off.
    limiter: Option<RateLimiter>,
    rrl: Rrl,
    /// This worker's own counters; `None` when metrics are off.
    metrics: Option<DnsRecorder>,
    /// For secondaries' IXFR checks and signed queries (`transfer::udp`).
    transfers: std::sync::Arc<TransferPolicy>,
}

impl Worker {
    fn new(
        max_udp_payload: u16,
        limiter: Option<RateLimiter>,
        rrl: Rrl,
        metrics: Option<DnsRecorder>,
        transfers: std::sync::Arc<TransferPolicy>,
    ) -> Self {
        Self {
            max_udp_payload,
            limiter,
            rrl,
            metrics,
            transfers,
            queries: vec![[0u8; MAX_QUERY]; BATCH],
            responses: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(max_udp_payload)))
                .collect(),
            received: MultiHeaders::preallocate(BATCH, None),
            sent: MultiHeaders::preallocate(BATCH, None),
        }
    }

    // Never inlined, so that profilers can name the worker's whole loop
    // (bench/answer_cost.py collects inside it alone); called once per
    // thread, it costs nothing.
    #[inline(never)]
    fn serve(mut self, socket: &UdpSocket, table: &NameTable, shutdown: &CancellationToken) {
        let fd = socket.as_raw_fd();
        // (query length, client) of each datagram in the batch.
        let mut batch: Vec<(usize, SocketAddr)> = Vec::with_capacity(BATCH);
        let mut answers: Vec<(usize, SockaddrStorage)> = Vec::with_capacity(BATCH);
        while !shutdown.is_cancelled() {
            match self.receive(fd, &mut batch) {
                Ok(()) => {}
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                // An ICMP error from an earlier send surfaces here on some
                // systems; it concerns that client only.
                Err(Errno::ECONNREFUSED | Errno::ECONNRESET) => continue,
                Err(error) => {
                    tracing::warn!(%error, "UDP receive failed");
                    continue;
                }
            }

            self.take_reloaded_settings();
            // Two clock reads per batch, not per query (the histogram is of
            // batches): nothing when metrics are off.
            let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
            answers.clear();
            // One clock read per batch: the limiter's resolution is a
            // millisecond, and a batch takes far less.
            let now = self.limiter.as_ref().map_or(0, RateLimiter::now);
            let mut served = Served::default();
            for (index, &(len, client)) in batch.iter().enumerate() {
                if client.port() == 0 {
                    continue;
                }
                let query = &self.queries[index][..len.min(MAX_QUERY)];
                let response = &mut self.responses[answers.len()];
                // The answer is the response buffer, written from its start.
                let Some(answer_len) = respond_served(
                    table,
                    query,
                    client.ip(),
                    Transport::Udp,
                    self.max_udp_payload,
                    response,
                    &mut served,
                )
                .map(<[u8]>::len) else {
                    continue;
                };
                let replaced = transfer::udp::may_replace(&response[..answer_len])
                    && transfer::udp::answer(
                        table,
                        query,
                        client.ip(),
                        &self.transfers,
                        self.max_udp_payload,
                        response,
                    );
                let answer = if replaced {
                    &response[..]
                } else {
                    &response[..answer_len]
                };
                if let Some(metrics) = &self.metrics {
                    metrics.answered(
                        answer,
                        served.question_end,
                        served.opt,
                        served.acl_refused,
                        served.zone_counted,
                    );
                }
                let verdict = match &mut self.limiter {
                    Some(limiter) => limiter.verdict(now, client.ip(), &served, answer),
                    None => Verdict::Send,
                };
                match verdict {
                    Verdict::Send => {}
                    Verdict::Slip => {
                        if let Some(metrics) = &self.metrics {
                            metrics.rrl_slipped();
                        }
                        slip(response, &served)
                    }
                    Verdict::Drop => {
                        if let Some(metrics) = &self.metrics {
                            metrics.rrl_dropped();
                        }
                        continue;
                    }
                }
                answers.push((response.len(), SockaddrStorage::from(client)));
            }
            if !answers.is_empty() {
                self.send(fd, &answers);
            }
            if let (Some(metrics), Some(started)) = (&self.metrics, started) {
                metrics.batch_took(started.elapsed());
            }
        }
    }

    /// Rebuilds the rate limiter when a reload changed its settings: one
    /// atomic load of the channel's version per batch (a cache line only a
    /// reload writes), and the buckets start full under the new rate.
    fn take_reloaded_settings(&mut self) {
        if !self.rrl.live.has_changed().unwrap_or(false) {
            return;
        }
        let rrl = self.rrl.live.borrow_and_update().rrl.clone();
        if rrl != self.rrl.settings {
            self.limiter = RateLimiter::new(&rrl, self.rrl.per_address);
            self.rrl.settings = rrl;
        }
    }

    /// Takes every datagram already queued, blocking for the first one (up
    /// to the socket's read timeout): (query length, client) of each, with
    /// port 0 for a client that cannot be answered.
    fn receive(&mut self, fd: i32, batch: &mut Vec<(usize, SocketAddr)>) -> Result<(), Errno> {
        batch.clear();
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self
            .queries
            .iter_mut()
            .map(|query| [IoSliceMut::new(query)])
            .collect();
        let messages = recvmmsg(
            fd,
            &mut self.received,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        for message in messages {
            // Nothing can answer port 0; a spoofed source, most likely.
            let client = message
                .address
                .and_then(|address| address_of(&address))
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
            batch.push((message.bytes, client));
        }
        Ok(())
    }

    fn send(&mut self, fd: i32, answers: &[(usize, SockaddrStorage)]) {
        let mut start = 0;
        while start < answers.len() {
            let pending = &answers[start..];
            let slices: Vec<[IoSlice<'_>; 1]> = self.responses[start..start + pending.len()]
                .iter()
                .zip(pending)
                .map(|(response, (len, _))| [IoSlice::new(&response[..*len])])
                .collect();
            let addresses: Vec<Option<SockaddrStorage>> =
                pending.iter().map(|(_, address)| Some(*address)).collect();
            match sendmmsg(
                fd,
                &mut self.sent,
                &slices,
                &addresses,
                [],
                MsgFlags::empty(),
            ) {
                Ok(results) => {
                    let sent = results.count();
                    // A partial send leaves the rest for another call; none
                    // sent means the socket cannot take more now, and UDP
                    // answers may be dropped rather than block the worker.
                    if sent == 0 {
                        return;
                    }
                    start += sent;
                }
                Err(Errno::EINTR) => {}
                Err(error) => {
                    tracing::debug!(%error, "UDP send failed");
                    // Skip the answer that failed (a client the kernel will
                    // not send to) and go on with the others.
                    start += 1;
                }
            }
        }
    }
}

fn address_of(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}
