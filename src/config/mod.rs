//! The server's configuration: one TOML file, read into file types that
//! reject unknown keys, then checked into an immutable runtime [`Config`]
//! with typed fields. Defaults live here and nowhere else, so `cairn serve`
//! without a file runs a first-run setup: DNS on 127.0.0.1:1053, zones from
//! ./zones, the admin socket at ./cairn.sock.

mod api;
mod private_namespaces;
mod store;
pub mod transfer;
pub mod zones;

pub use api::{ApiAuth, ApiConfig, ApiKeyConfig, SecretSource, TlsFiles};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::registry::validate::MAX_NAME_SERVER_ADDRESSES;
use thiserror::Error;

use crate::registry::networks::NetworkPolicy;

pub use store::{EtcdConfig, EtcdPassword, StoreConfig};
pub use transfer::{DEFAULT_IXFR_HISTORY_BYTES, TransferConfig, TsigKeyConfig};

/// Why a config or zones file could not be used. Messages name the file, the
/// key and the fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The DNS listeners and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Each address gets a UDP socket and a TCP listener.
    pub listen: Vec<SocketAddr>,
    /// The largest UDP answer sent, whatever the client advertises (the DNS
    /// Flag Day 2020 value by default).
    pub max_udp_payload: u16,
    /// How long an idle TCP connection stays open while the server is not
    /// under pressure.
    pub tcp_idle_timeout: Duration,
    /// How long an idle TCP connection stays open while more than
    /// `tcp_pressure_percent` of `tcp_max_connections` are open.
    pub tcp_pressure_idle_timeout: Duration,
    /// The share of `tcp_max_connections`, in percent, above which idle
    /// connections get `tcp_pressure_idle_timeout`; 100 never does.
    pub tcp_pressure_percent: u8,
    /// An answer the client has not read within this long closes the
    /// connection.
    pub tcp_write_timeout: Duration,
    /// TCP connections open at once; a connection beyond this many replaces
    /// the idlest open one.
    pub tcp_max_connections: usize,
    /// TCP connections open at once from one client (an IPv4 address, an
    /// IPv6 /64); a connection beyond this many replaces that client's
    /// idlest one.
    pub tcp_max_connections_per_client: usize,
    /// UDP worker threads per address; 0 means one per available CPU.
    pub udp_workers: usize,
    /// This server's addresses, answered for each zone's default name
    /// server (`ns1.<zone>`, or the SOA's primary name server when it is in
    /// the zone) and sent as its glue. Empty: the listen addresses, see
    /// [`DnsConfig::name_server_addresses`].
    pub name_server_addresses: Vec<IpAddr>,
    pub rrl: RrlConfig,
}

/// Response rate limiting (`[dns.rrl]`): UDP answers from public
/// namespaces, counted per client network, kind of answer and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrlConfig {
    /// Answers per second in one bucket; 0 turns rate limiting off.
    pub responses_per_second: u32,
    /// Every `slip`-th limited answer is sent truncated, the rest dropped.
    pub slip: u32,
    pub ipv4_prefix_len: u8,
    pub ipv6_prefix_len: u8,
    /// Clients never limited.
    pub exempt: Vec<IpNet>,
}

impl DnsConfig {
    /// The addresses of each zone's default name server: those configured,
    /// or else where the DNS listeners are reached
    /// ([`reachable_addresses`]).
    pub fn name_server_addresses(&self) -> Vec<IpAddr> {
        if !self.name_server_addresses.is_empty() {
            return self.name_server_addresses.clone();
        }
        reachable_addresses(&self.listen)
    }
}

/// The addresses other hosts reach a listener bound to `listen` at: each
/// address itself, or for a wildcard (`0.0.0.0`, `::`) the address this
/// host reaches other hosts from (the source address of its default route,
/// as `ip route get` would say), or loopback when it has no route. Asking
/// costs a socket and no packet.
pub(crate) fn reachable_addresses(listen: &[SocketAddr]) -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = listen
        .iter()
        .map(|listen| match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                default_route_source(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                default_route_source(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)))
                    .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
            }
            ip => ip,
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses.truncate(MAX_NAME_SERVER_ADDRESSES);
    addresses
}

/// The source address the host would use towards `destination` (a
/// documentation address: nothing is sent, `connect` on UDP only picks a
/// route).
fn default_route_source(destination: IpAddr) -> Option<IpAddr> {
    let unspecified: IpAddr = match destination {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = std::net::UdpSocket::bind((unspecified, 0)).ok()?;
    socket.connect((destination, 53)).ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

/// The admin API's Unix socket and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub socket: PathBuf,
    /// File mode of the socket (0660 by default: the owner and its group).
    pub socket_mode: u32,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// From a request's headers to the last byte of its body; a client
    /// slower than that is answered 408 and its connection closed, so
    /// stalled uploads cannot hold every connection slot.
    pub body_read_timeout: Duration,
    /// At shutdown, how long open requests get to finish before their
    /// connections are dropped; it bounds how long SIGTERM takes.
    pub drain_timeout: Duration,
}

/// Active health checks (HealthCheckConfig): how often and how long cairn
/// probes each instance, and how many probes may be open at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between two probes of one instance (each instance's is jittered
    /// by up to ±10 %, so probes spread out).
    pub interval: Duration,
    /// A probe without an answer by then has failed.
    pub timeout: Duration,
    /// Probes open at once; more wait for the next round.
    pub max_in_flight: usize,
}

/// The metrics listener (`[metrics]`): `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// Where to serve them; none (the default) serves no metrics and
    /// counts nothing on the answer path.
    pub listen: Option<SocketAddr>,
}

/// The server's runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub dns: DnsConfig,
    pub admin: AdminConfig,
    /// The API on TCP with SigV4; none by default.
    pub api: ApiConfig,
    pub health: HealthConfig,
    pub metrics: MetricsConfig,
    /// The networks private namespaces answer when none are named, and
    /// VPC ids mapped to networks.
    pub private_namespaces: NetworkPolicy,
    /// Declarative namespaces applied at start.
    pub zones_dir: PathBuf,
    /// Where durable state lives.
    pub data_dir: PathBuf,
    /// Which store keeps it: the embedded file in `data_dir`, or etcd.
    pub store: StoreConfig,
    /// Zone transfers to secondaries: who may, whom to NOTIFY.
    pub transfer: TransferConfig,
    /// A tracing filter directive such as `info` or `cairn=debug`.
    pub log_level: String,
    pub log_format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dns: DnsConfig {
                listen: vec![SocketAddr::from(([127, 0, 0, 1], 1053))],
                max_udp_payload: 1232,
                tcp_idle_timeout: Duration::from_secs(10),
                // NSD drops to 200 ms above half its limit; a second still
                // leaves a slow client time for its first query.
                tcp_pressure_idle_timeout: Duration::from_secs(1),
                tcp_pressure_percent: 50,
                // NSD resets a client that does not read after 0.3 s, Knot
                // after 0.5-1 s.
                tcp_write_timeout: Duration::from_secs(1),
                tcp_max_connections: 1024,
                // A resolver rarely holds more than a few connections to one
                // server; 64 leaves room for one behind a NAT, and 16
                // clients still cannot fill the table.
                tcp_max_connections_per_client: 64,
                udp_workers: 0,
                // NSD's suggested rate and slip (and Debian's NSD default),
                // Knot's prefixes; loopback cannot arrive spoofed from the
                // network, and local tools should not be limited.
                rrl: RrlConfig {
                    responses_per_second: 200,
                    slip: 2,
                    ipv4_prefix_len: 24,
                    ipv6_prefix_len: 56,
                    exempt: ["127.0.0.0/8", "::1/128"]
                        .map(|network| network.parse().expect("a valid network"))
                        .to_vec(),
                },
                name_server_addresses: Vec::new(),
            },
            admin: AdminConfig {
                socket: PathBuf::from("./cairn.sock"),
                socket_mode: 0o660,
                max_body_bytes: 1024 * 1024,
                max_connections: 256,
                header_read_timeout: Duration::from_secs(10),
                body_read_timeout: Duration::from_secs(10),
                drain_timeout: Duration::from_secs(5),
            },
            api: ApiConfig::default(),
            health: HealthConfig {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(2),
                max_in_flight: 64,
            },
            metrics: MetricsConfig::default(),
            private_namespaces: NetworkPolicy::default(),
            zones_dir: PathBuf::from("./zones"),
            data_dir: PathBuf::from("./data"),
            store: StoreConfig::Redb,
            transfer: TransferConfig::default(),
            log_level: "info".to_string(),
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    zones_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    dns: DnsFile,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    api: api::ApiFile,
    #[serde(default)]
    health: HealthFile,
    #[serde(default)]
    metrics: MetricsFile,
    #[serde(default)]
    private_namespaces: private_namespaces::PrivateNamespacesFile,
    #[serde(default)]
    log: LogFile,
    #[serde(default)]
    store: store::StoreFile,
    #[serde(default)]
    transfer: transfer::TransferFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsFile {
    listen: Option<Vec<String>>,
    max_udp_payload: Option<u16>,
    tcp_idle_timeout_secs: Option<u64>,
    tcp_pressure_idle_timeout_secs: Option<f64>,
    tcp_pressure_percent: Option<u8>,
    tcp_write_timeout_secs: Option<f64>,
    tcp_max_connections: Option<usize>,
    tcp_max_connections_per_client: Option<usize>,
    udp_workers: Option<usize>,
    name_server_addresses: Option<Vec<IpAddr>>,
    #[serde(default)]
    rrl: RrlFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RrlFile {
    responses_per_second: Option<u32>,
    slip: Option<u32>,
    ipv4_prefix_len: Option<u8>,
    ipv6_prefix_len: Option<u8>,
    exempt: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    socket: Option<PathBuf>,
    socket_mode: Option<String>,
    max_body_bytes: Option<usize>,
    max_connections: Option<usize>,
    header_read_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    drain_timeout_secs: Option<u64>,
}

/// Seconds may have fractions (`interval_secs = 0.1`), for tests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthFile {
    interval_secs: Option<f64>,
    timeout_secs: Option<f64>,
    max_in_flight: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    level: Option<String>,
    format: Option<LogFormat>,
}

impl Config {
    /// Reads and checks a config file. Relative paths in it are taken
    /// relative to the directory the server runs in, as on the command line.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks config text; `path` is only named in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|error| ConfigError::invalid(path, error.to_string()))?;
        let mut config = Self::default();
        if let Some(dir) = file.zones_dir {
            config.zones_dir = dir;
        }
        if let Some(dir) = file.data_dir {
            config.data_dir = dir;
        }
        config.private_namespaces = file.private_namespaces.check(path)?;
        config.store = file.store.check(path)?;
        config.transfer = file.transfer.check(path)?;
        if let Some(listen) = &file.dns.listen {
            if listen.is_empty() {
                return Err(ConfigError::invalid(
                    path,
                    "dns.listen is empty; give at least one address such as \"127.0.0.1:1053\"",
                ));
            }
            config.dns.listen = listen
                .iter()
                .map(|text| {
                    text.parse().map_err(|_| {
                        ConfigError::invalid(
                            path,
                            format!(
                                "dns.listen: '{text}' is not an address with a port; write it like \"127.0.0.1:1053\" or \"[::1]:1053\""
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(size) = file.dns.max_udp_payload {
            if !(512..=4096).contains(&size) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "dns.max_udp_payload is {size}; it must be 512 to 4096 (1232 avoids IP fragmentation)"
                    ),
                ));
            }
            config.dns.max_udp_payload = size;
        }
        config.dns.apply_tcp(path, &file.dns)?;
        if let Some(count) = file.dns.udp_workers {
            config.dns.udp_workers = count;
        }
        config.dns.rrl = rrl(path, file.dns.rrl, config.dns.rrl)?;
        if let Some(addresses) = file.dns.name_server_addresses {
            if addresses.len() > MAX_NAME_SERVER_ADDRESSES {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "dns.name_server_addresses lists {} addresses; at most {MAX_NAME_SERVER_ADDRESSES}",
                        addresses.len()
                    ),
                ));
            }
            config.dns.name_server_addresses = addresses;
        }
        if let Some(socket) = file.admin.socket {
            config.admin.socket = socket;
        }
        if let Some(mode) = file.admin.socket_mode {
            config.admin.socket_mode = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
                .ok()
                .filter(|mode| *mode <= 0o777)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        path,
                        format!("admin.socket_mode '{mode}' is not an octal file mode; write it like \"0660\""),
                    )
                })?;
        }
        if let Some(bytes) = file.admin.max_body_bytes {
            if bytes == 0 {
                return Err(ConfigError::invalid(
                    path,
                    "admin.max_body_bytes must be above 0",
                ));
            }
            config.admin.max_body_bytes = bytes;
        }
        if let Some(count) = file.admin.max_connections {
            if count == 0 {
                return Err(ConfigError::invalid(
                    path,
                    "admin.max_connections must be above 0",
                ));
            }
            config.admin.max_connections = count;
        }
        if let Some(secs) = file.admin.header_read_timeout_secs {
            config.admin.header_read_timeout =
                positive_secs(path, "admin.header_read_timeout_secs", secs)?;
        }
        if let Some(secs) = file.admin.body_read_timeout_secs {
            config.admin.body_read_timeout =
                positive_secs(path, "admin.body_read_timeout_secs", secs)?;
        }
        if let Some(secs) = file.admin.drain_timeout_secs {
            config.admin.drain_timeout = positive_secs(path, "admin.drain_timeout_secs", secs)?;
        }
        config.api = file.api.check(path)?;
        if let Some(secs) = file.health.interval_secs {
            config.health.interval = fractional_secs(path, "health.interval_secs", secs)?;
        }
        if let Some(secs) = file.health.timeout_secs {
            config.health.timeout = fractional_secs(path, "health.timeout_secs", secs)?;
        }
        if let Some(count) = file.health.max_in_flight {
            if count == 0 {
                return Err(ConfigError::invalid(
                    path,
                    "health.max_in_flight must be above 0",
                ));
            }
            config.health.max_in_flight = count;
        }
        if let Some(listen) = &file.metrics.listen {
            let addr: SocketAddr = listen.parse().map_err(|_| {
                ConfigError::invalid(
                    path,
                    format!(
                        "metrics.listen: '{listen}' is not an address with a port; write it like \"127.0.0.1:9153\" or \"[::1]:9153\""
                    ),
                )
            })?;
            if config.dns.listen.contains(&addr) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "metrics.listen ({addr}) is also in dns.listen; give metrics a port of its own"
                    ),
                ));
            }
            config.metrics.listen = Some(addr);
        }
        if let Some(level) = file.log.level {
            config.log_level = level;
        }
        if let Some(format) = file.log.format {
            config.log_format = format;
        }
        Ok(config)
    }
}

impl DnsConfig {
    /// Sets the TCP limits the file gives and checks them together: the
    /// pressure timeout and the per-client limit only make sense below the
    /// values they shorten.
    fn apply_tcp(&mut self, path: &Path, file: &DnsFile) -> Result<(), ConfigError> {
        if let Some(secs) = file.tcp_idle_timeout_secs {
            self.tcp_idle_timeout = positive_secs(path, "dns.tcp_idle_timeout_secs", secs)?;
        }
        if let Some(secs) = file.tcp_pressure_idle_timeout_secs {
            self.tcp_pressure_idle_timeout =
                fractional_secs(path, "dns.tcp_pressure_idle_timeout_secs", secs)?;
        }
        if let Some(percent) = file.tcp_pressure_percent {
            if !(1..=100).contains(&percent) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "dns.tcp_pressure_percent is {percent}; it must be 1 to 100 (100 never shortens the idle timeout)"
                    ),
                ));
            }
            self.tcp_pressure_percent = percent;
        }
        if let Some(secs) = file.tcp_write_timeout_secs {
            self.tcp_write_timeout = fractional_secs(path, "dns.tcp_write_timeout_secs", secs)?;
        }
        if let Some(count) = file.tcp_max_connections {
            if count == 0 {
                return Err(ConfigError::invalid(
                    path,
                    "dns.tcp_max_connections must be above 0",
                ));
            }
            self.tcp_max_connections = count;
        }
        if let Some(count) = file.tcp_max_connections_per_client {
            if count == 0 {
                return Err(ConfigError::invalid(
                    path,
                    "dns.tcp_max_connections_per_client must be above 0",
                ));
            }
            self.tcp_max_connections_per_client = count;
        } else {
            // A small tcp_max_connections alone is not an error: the default
            // per-client limit follows it down.
            self.tcp_max_connections_per_client = self
                .tcp_max_connections_per_client
                .min(self.tcp_max_connections);
        }
        if self.tcp_pressure_idle_timeout > self.tcp_idle_timeout {
            return Err(ConfigError::invalid(
                path,
                format!(
                    "dns.tcp_pressure_idle_timeout_secs ({:?}) is longer than dns.tcp_idle_timeout_secs ({:?}); it shortens the idle timeout under pressure, so make it at most that",
                    self.tcp_pressure_idle_timeout, self.tcp_idle_timeout
                ),
            ));
        }
        if self.tcp_max_connections_per_client > self.tcp_max_connections {
            return Err(ConfigError::invalid(
                path,
                format!(
                    "dns.tcp_max_connections_per_client ({}) is above dns.tcp_max_connections ({}); make it at most that, and well below it so that one client cannot take every connection",
                    self.tcp_max_connections_per_client, self.tcp_max_connections
                ),
            ));
        }
        Ok(())
    }
}

/// `[dns.rrl]` over its defaults.
fn rrl(path: &Path, file: RrlFile, mut rrl: RrlConfig) -> Result<RrlConfig, ConfigError> {
    let out_of_range = |key: &str, value: u32, range: &str| {
        ConfigError::invalid(
            path,
            format!("dns.rrl.{key} is {value}; it must be {range}"),
        )
    };
    if let Some(rate) = file.responses_per_second {
        if rate > 1_000_000 {
            return Err(out_of_range(
                "responses_per_second",
                rate,
                "0 (off) to 1000000",
            ));
        }
        rrl.responses_per_second = rate;
    }
    if let Some(slip) = file.slip {
        if slip > 100 {
            return Err(out_of_range(
                "slip",
                slip,
                "0 (drop every limited answer) to 100; 2 is usual",
            ));
        }
        rrl.slip = slip;
    }
    if let Some(len) = file.ipv4_prefix_len {
        if len > 32 {
            return Err(out_of_range("ipv4_prefix_len", len.into(), "0 to 32"));
        }
        rrl.ipv4_prefix_len = len;
    }
    if let Some(len) = file.ipv6_prefix_len {
        if len > 128 {
            return Err(out_of_range("ipv6_prefix_len", len.into(), "0 to 128"));
        }
        rrl.ipv6_prefix_len = len;
    }
    if let Some(exempt) = file.exempt {
        rrl.exempt = exempt
            .iter()
            .map(|text| {
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map(|network| network.trunc())
                    .map_err(|_| {
                        ConfigError::invalid(
                            path,
                            format!(
                                "dns.rrl.exempt: '{text}' is not a network; write it like \"192.0.2.0/24\", \"2001:db8::/32\" or \"192.0.2.1\""
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(rrl)
}

fn positive_secs(path: &Path, key: &str, secs: u64) -> Result<Duration, ConfigError> {
    if secs == 0 {
        return Err(ConfigError::invalid(path, format!("{key} must be above 0")));
    }
    Ok(Duration::from_secs(secs))
}

/// Seconds with fractions, at least a millisecond and at most a day.
fn fractional_secs(path: &Path, key: &str, secs: f64) -> Result<Duration, ConfigError> {
    if !(0.001..=86_400.0).contains(&secs) {
        return Err(ConfigError::invalid(
            path,
            format!("{key} is {secs}; it must be 0.001 to 86400 seconds"),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests;
