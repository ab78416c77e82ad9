//! cairn: an authoritative DNS server whose records come from a live service
//! registry, a self-hosted AWS Cloud Map.
//!
//! - [`registry`] is the model: namespaces, services, instances, health and
//!   the rules that keep them consistent. It knows nothing of sockets, files
//!   or DNS wire format.
//! - [`dns`] compiles each service into record sets whenever it changes and
//!   answers queries from them.
//! - [`config`] reads and checks the TOML config and the declarative
//!   `zones/` files; it only parses.
//! - [`zones`] applies the zones files to the registry at start, through the
//!   Writer: creates what they declare, brings what exists in line.
//! - [`admin`] is the admin API (Cloud Map's actions over HTTP on a Unix
//!   socket) and its client; [`cli`] is the `cairn` subcommands that use it.
//! - [`agent`] is `cairn agent docker`: registers a Docker host's
//!   containers through the API, as a client.
//! - [`writer`] is the write front, the one way to change the registry:
//!   plan, commit to the store, apply.
//! - [`health`] probes instances (HealthCheckConfig) and watches their
//!   heartbeats, changing their status through the write front.
//! - [`store`] keeps the registry's changes (in `<data_dir>/cairn.redb` by
//!   default), durable before any change is applied.
//! - [`systemd`] tells the service manager when the server is ready, alive
//!   and stopping.
//! - [`serve`] wires them together: what `cairn serve` runs.
//!
//! ARCHITECTURE.md has the map and the invariants.

#![forbid(unsafe_code)]

pub mod admin;
pub mod agent;
pub mod cli;
pub mod config;
pub mod control;
mod cores;
pub mod dns;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod registry;
pub mod reload;
pub mod serve;
pub mod store;
pub mod systemd;
pub mod writer;
pub mod zones;
