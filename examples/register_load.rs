//! Registration load for cairn's admin API: N clients, each on its own
//! keep-alive HTTP/1.1 connection to the Unix socket, send RegisterInstance
//! in a closed loop for a fixed time (or, with `--rate`, paced at a total
//! rate); the run ends with one line of JSON.
//!
//! ```sh
//! cargo run --release --example register_load -- \
//!     --socket /tmp/cairn/admin.sock --service-id srv-… --clients 64 --duration 10 \
//!     --dns 127.0.0.1:1053 --namespace reg.example --service svc
//! ```
//!
//! Every request is a real change: the ids `i0` .. `i<instances-1>` are
//! shared out between the clients, each registers its own round-robin, each
//! time with an address never used before in the run, so the first pass
//! creates instances and later passes move them (`--prefill` makes that
//! first pass before the clock starts). With `--rate N` the clients share
//! N requests per second between them, each on its own tokio interval
//! (missed ticks burst, so a client that fell behind catches up), for
//! churn under a query load (`bench/run --churn`). The service therefore holds the
//! same instances whatever the number of clients, which matters: cairn's
//! cost per change depends on the size of the service. Only HTTP 200 counts
//! as acknowledged; any other status, or a broken connection, is counted as
//! an error and its kind printed.
//!
//! With `--dns`, every `--sample-every`-th request of a client is followed,
//! as soon as its 200 arrives and without sleeping, by UDP queries for
//! `<instance>.<service>.<namespace> A` until one answers NOERROR with the
//! new address: the time from sending the request to that answer is the
//! register→resolvable latency. cairn applies a change before it
//! acknowledges it, so this should be the request's latency plus one query;
//! `dns_queries_max` above 1 would mean an acknowledged change was not yet
//! visible.
//!
//! The output fields: `clients`, `instances` (ids in use), `prefill_s`
//! (null without --prefill), `elapsed_s`, `rate_target_per_s` (--rate, or
//! null in a closed loop), `rate_per_s` (requests sent per second),
//! `acked`, `acked_per_s`, `errors`, `error_kinds`, `request_p50_us` /
//! `request_p99_us` / `request_max_us` (every acknowledged request),
//! `resolvable_samples`, `resolvable_failures` (not resolvable within 2 s),
//! `resolvable_p50_us` / `resolvable_p99_us` / `resolvable_max_us`,
//! `dns_queries_max`, and `loadgen_cpu_s` (this process's CPU time, since it
//! shares the machine with the server).
//!
//! Used by `bench/run --registrations` and `bench/run --churn` (see
//! bench/README.md).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::{UdpSocket, UnixStream};
use tokio::time::MissedTickBehavior;

/// How long a sampled registration may take to become resolvable before it
/// counts as a failure.
const RESOLVE_DEADLINE: Duration = Duration::from_secs(2);
/// Distinct error kinds kept for the report; further kinds are only counted.
const MAX_ERROR_KINDS: usize = 10;

#[derive(Parser, Debug)]
#[command(about = "RegisterInstance load against cairn's admin socket; prints one JSON line")]
struct Args {
    /// The admin API's Unix socket (`admin.socket` in cairn's config).
    #[arg(long)]
    socket: PathBuf,
    /// The service to register into (`srv-…`, from ListServices).
    #[arg(long)]
    service_id: String,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Seconds to send requests for.
    #[arg(long, alias = "seconds", default_value_t = 10.0)]
    duration: f64,
    /// Requests per second in total, shared evenly between the clients;
    /// without it each client sends its next request as soon as the last
    /// one is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Instance ids in use, split evenly between the clients (rounded up to
    /// a multiple of --clients), so the service is the same size whatever
    /// the number of clients.
    #[arg(long, default_value_t = 1000)]
    instances: usize,
    /// A UDP address of cairn's DNS: measure register→resolvable latency.
    #[arg(long, requires_all = ["namespace", "service"])]
    dns: Option<SocketAddr>,
    /// The namespace's name, for the instance's DNS name.
    #[arg(long)]
    namespace: Option<String>,
    /// The service's name, for the instance's DNS name.
    #[arg(long)]
    service: Option<String>,
    /// Of each client's requests, every this many is checked over DNS.
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
    /// Register every id once before the clock starts (not measured), so
    /// that the run only moves existing instances.
    #[arg(long)]
    prefill: bool,
    /// Worker threads of this load generator's runtime (it shares the
    /// machine with cairn; 1 keeps it to one core's worth at most).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    errors: u64,
    error_kinds: BTreeMap<String, u64>,
    request_us: Vec<u64>,
    resolvable_us: Vec<u64>,
    resolvable_failures: u64,
    dns_queries_max: u32,
}

impl Tally {
    fn error(&mut self, kind: String) {
        self.errors += 1;
        if let Some(count) = self.error_kinds.get_mut(&kind) {
            *count += 1;
        } else if self.error_kinds.len() < MAX_ERROR_KINDS {
            self.error_kinds.insert(kind, 1);
        } else {
            *self.error_kinds.entry("(other kinds)".into()).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.acked += other.acked;
        for (kind, count) in other.error_kinds {
            *self.error_kinds.entry(kind).or_default() += count;
        }
        self.errors += other.errors;
        self.request_us.extend(other.request_us);
        self.resolvable_us.extend(other.resolvable_us);
        self.resolvable_failures += other.resolvable_failures;
        self.dns_queries_max = self.dns_queries_max.max(other.dns_queries_max);
    }
}

/// Where the DNS check asks, and for which names.
struct DnsCheck {
    server: SocketAddr,
    /// `<service>.<namespace>`, the suffix of every instance name.
    suffix: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.threads == 0 || args.sample_every == 0 {
        bail!("--clients, --threads and --sample-every must be at least 1");
    }
    if !(args.duration.is_finite() && args.duration >= 0.0) {
        bail!("--duration must be a number of seconds, 0 or more");
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a number of requests per second above 0");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let cpu_before = own_cpu_seconds();
    let Run {
        tally,
        elapsed,
        instances,
        prefill_s,
    } = runtime.block_on(run(&args))?;
    let cpu = own_cpu_seconds() - cpu_before;

    let mut request_us = tally.request_us;
    let mut resolvable_us = tally.resolvable_us;
    request_us.sort_unstable();
    resolvable_us.sort_unstable();
    let secs = elapsed.as_secs_f64();
    let line = serde_json::json!({
        "clients": args.clients,
        "instances": instances,
        "prefill_s": prefill_s.map(|s| round(s, 3)),
        "elapsed_s": round(secs, 3),
        "rate_target_per_s": args.rate,
        "rate_per_s": round(tally.sent as f64 / secs, 1),
        "acked": tally.acked,
        "acked_per_s": round(tally.acked as f64 / secs, 1),
        "errors": tally.errors,
        "error_kinds": tally.error_kinds,
        "request_p50_us": percentile(&request_us, 50.0),
        "request_p99_us": percentile(&request_us, 99.0),
        "request_max_us": request_us.last(),
        "resolvable_samples": resolvable_us.len(),
        "resolvable_failures": tally.resolvable_failures,
        "resolvable_p50_us": percentile(&resolvable_us, 50.0),
        "resolvable_p99_us": percentile(&resolvable_us, 99.0),
        "resolvable_max_us": resolvable_us.last(),
        "dns_queries_max": tally.dns_queries_max,
        "loadgen_cpu_s": round(cpu, 2),
    });
    println!("{line}");
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<Run> {
    let per_client = args.instances.div_ceil(args.clients).max(1);
    let dns = args.dns.map(|server| {
        Arc::new(DnsCheck {
            server,
            suffix: format!(
                "{}.{}",
                args.service.as_deref().unwrap_or_default(),
                args.namespace
                    .as_deref()
                    .unwrap_or_default()
                    .trim_end_matches('.')
            ),
        })
    });
    // Every request gets an address not used before in this run (10.0.0.1
    // onwards, 16M of them), so each one is a real change.
    let next_address = Arc::new(AtomicU32::new(1));

    // Connect everyone first, so a wrong socket path fails before the clock starts.
    let mut clients = Vec::with_capacity(args.clients);
    for client in 0..args.clients {
        // Slots are shared out modulo the client count, so runs with any
        // number of clients use the same ids: i0 .. i<instances-1>.
        let ids = (0..per_client)
            .map(|k| format!("i{}", k * args.clients + client))
            .collect();
        clients.push(Client {
            socket: args.socket.clone(),
            service_id: args.service_id.clone(),
            ids,
            sender: connect(&args.socket).await?,
            next_address: Arc::clone(&next_address),
            dns: dns.clone(),
            sample_every: args.sample_every,
        });
    }
    let mut prefill_s = None;
    if args.prefill {
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(client.prefill()))
            .collect();
        clients = Vec::with_capacity(args.clients);
        for task in tasks {
            clients.push(task.await??);
        }
        prefill_s = Some(started.elapsed().as_secs_f64());
    }
    // Each client's share of --rate: one request every `clients / rate` seconds.
    let period = match args.rate {
        Some(rate) => Some(
            Duration::try_from_secs_f64(args.clients as f64 / rate)
                .context("--rate is too low for this many clients")?
                .max(Duration::from_nanos(1)),
        ),
        None => None,
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(client.run(deadline, period)))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await??);
    }
    Ok(Run {
        tally,
        elapsed: started.elapsed(),
        instances: per_client * args.clients,
        prefill_s,
    })
}

/// A measured run, before it is summarised.
struct Run {
    tally: Tally,
    elapsed: Duration,
    instances: usize,
    prefill_s: Option<f64>,
}

async fn connect(socket: &PathBuf) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = UnixStream::connect(socket).await.with_context(|| {
        format!(
            "cannot connect to cairn's admin socket {} (is `cairn serve` running with this admin.socket?)",
            socket.display()
        )
    })?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the server closes the connection; the next send reports it.
        let _ = connection.await;
    });
    Ok(sender)
}

struct Client {
    socket: PathBuf,
    service_id: String,
    ids: Vec<String>,
    sender: SendRequest<Full<Bytes>>,
    next_address: Arc<AtomicU32>,
    dns: Option<Arc<DnsCheck>>,
    sample_every: u64,
}

impl Client {
    /// Registers each of this client's ids once, before the clock starts,
    /// so that the measured run moves existing instances whatever ran before.
    async fn prefill(mut self) -> anyhow::Result<Self> {
        let mut tally = Tally::default();
        for k in 0..self.ids.len() {
            let address = self.fresh_address();
            self.register(k, address, &mut tally).await?;
        }
        if tally.errors > 0 {
            bail!(
                "the prefill was refused: {:?}",
                tally.error_kinds.keys().collect::<Vec<_>>()
            );
        }
        Ok(self)
    }

    /// Sends requests until `deadline`: back to back, or one per `period`.
    async fn run(mut self, deadline: Instant, period: Option<Duration>) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let udp = match &self.dns {
            Some(check) => {
                let socket = UdpSocket::bind("127.0.0.1:0").await?;
                socket.connect(check.server).await?;
                Some(socket)
            }
            None => None,
        };
        let mut pace = period.map(|period| {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
            interval
        });
        let mut sent: u64 = 0;
        while Instant::now() < deadline {
            if let Some(interval) = pace.as_mut() {
                let until = tokio::time::Instant::from_std(deadline);
                if tokio::time::timeout_at(until, interval.tick())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let k = (sent % self.ids.len() as u64) as usize;
            let address = self.fresh_address();
            sent += 1;
            tally.sent += 1;
            let t0 = Instant::now();
            if !self.register(k, address, &mut tally).await? {
                continue;
            }
            tally.acked += 1;
            tally.request_us.push(t0.elapsed().as_micros() as u64);

            if let (Some(check), Some(udp)) = (&self.dns, &udp)
                && sent.is_multiple_of(self.sample_every)
            {
                let name = format!("{}.{}", self.ids[k], check.suffix);
                match resolvable(udp, &name, address, t0).await? {
                    Some((queries, waited)) => {
                        tally.resolvable_us.push(waited.as_micros() as u64);
                        tally.dns_queries_max = tally.dns_queries_max.max(queries);
                    }
                    None => tally.resolvable_failures += 1,
                }
            }
        }
        Ok(tally)
    }

    fn fresh_address(&self) -> Ipv4Addr {
        let n = self.next_address.fetch_add(1, Ordering::Relaxed) & 0x00FF_FFFF;
        Ipv4Addr::from(0x0A00_0000 | n)
    }

    /// Sends RegisterInstance for id number `k` with `address`: true on
    /// HTTP 200; anything else is tallied as an error (and a broken
    /// connection replaced).
    async fn register(
        &mut self,
        k: usize,
        address: Ipv4Addr,
        tally: &mut Tally,
    ) -> anyhow::Result<bool> {
        let body = serde_json::json!({
            "ServiceId": self.service_id,
            "InstanceId": self.ids[k],
            "Attributes": {
                "AWS_INSTANCE_IPV4": address.to_string(),
                "AWS_INSTANCE_PORT": "8080",
            },
        });
        let request = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(HOST, "localhost")
            .header(
                "x-amz-target",
                "Route53AutoNaming_v20170314.RegisterInstance",
            )
            .header(CONTENT_TYPE, "application/x-amz-json-1.1")
            .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
        let sent = match self.sender.ready().await {
            Ok(()) => self.sender.send_request(request).await,
            Err(error) => Err(error),
        };
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                tally.error(format!("connection: {error}"));
                self.sender = connect(&self.socket).await?;
                return Ok(false);
            }
        };
        let status = response.status();
        let bytes = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                tally.error(format!("reading the answer: {error}"));
                self.sender = connect(&self.socket).await?;
                return Ok(false);
            }
        };
        if status != hyper::StatusCode::OK {
            let text = String::from_utf8_lossy(&bytes);
            tally.error(format!(
                "HTTP {}: {}",
                status.as_u16(),
                text.chars().take(200).collect::<String>()
            ));
            return Ok(false);
        }
        Ok(true)
    }
}

/// Queries `name A` until an answer is NOERROR and carries `address`;
/// the number of queries it took and the time since `since`, or `None`
/// after [`RESOLVE_DEADLINE`].
async fn resolvable(
    udp: &UdpSocket,
    name: &str,
    address: Ipv4Addr,
    since: Instant,
) -> anyhow::Result<Option<(u32, Duration)>> {
    let give_up = Instant::now() + RESOLVE_DEADLINE;
    let mut buf = [0u8; 1500];
    let mut queries = 0u32;
    while Instant::now() < give_up {
        queries += 1;
        let id = fastrand::u16(..);
        udp.send(&encode_query(id, name)).await?;
        // Replies to earlier queries of this socket may still arrive: skip them.
        let wait_until = (Instant::now() + Duration::from_millis(200)).min(give_up);
        loop {
            let left = wait_until.saturating_duration_since(Instant::now());
            let Ok(received) = tokio::time::timeout(left, udp.recv(&mut buf)).await else {
                break;
            };
            let len = received?;
            match answers_with(&buf[..len], id, address) {
                Some(true) => return Ok(Some((queries, since.elapsed()))),
                Some(false) => break,
                None => continue,
            }
        }
    }
    Ok(None)
}

/// A query for `name A`, class IN, no EDNS, RD clear.
fn encode_query(id: u16, name: &str) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 18);
    wire.extend_from_slice(&id.to_be_bytes());
    wire.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|label| !label.is_empty()) {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.extend_from_slice(&[0, 0, 1, 0, 1]);
    wire
}

/// `None` if `packet` is not the reply to query `id`; otherwise whether it
/// is NOERROR with an A record holding `address` in its answer section.
fn answers_with(packet: &[u8], id: u16, address: Ipv4Addr) -> Option<bool> {
    if packet.len() < 12
        || u16::from_be_bytes([packet[0], packet[1]]) != id
        || packet[2] & 0x80 == 0
    {
        return None;
    }
    if packet[3] & 0x0F != 0 {
        return Some(false);
    }
    let questions = u16::from_be_bytes([packet[4], packet[5]]);
    let answers = u16::from_be_bytes([packet[6], packet[7]]);
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(packet, pos)? + 4;
    }
    for _ in 0..answers {
        pos = skip_name(packet, pos)?;
        let fixed = packet.get(pos..pos + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata = packet.get(pos + 10..pos + 10 + len)?;
        if rtype == 1 && rdata == address.octets() {
            return Some(true);
        }
        pos += 10 + len;
    }
    Some(false)
}

/// The position after the (possibly compressed) name at `pos`.
fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *packet.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xC0 == 0xC0 => return Some(pos + 2),
            l => pos += 1 + l as usize,
        }
    }
}

/// p-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// This process's user + system CPU time, from /proc/self/stat (Linux);
/// 0 elsewhere.
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(after_name) = stat.rfind(')').map(|end| &stat[end + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    // USER_HZ is 100 on every Linux configuration in use.
    ticks / 100.0
}
