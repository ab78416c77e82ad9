//! End-to-end tests: a real `cairn` on free ports, real DNS queries, the
//! real admin socket and CLI. One test binary, one shared harness.

mod admin;
mod agent;
mod api;
mod cli;
#[cfg(feature = "etcd")]
mod cluster;
mod dns;
mod durability;
mod health;
mod logs;
mod malformed;
mod metrics;
mod names;
mod reference;
mod reload;
mod resolvers;
mod rrl;
mod signals;
mod status;
mod store_fixture;
mod support;
mod tcp;
mod transfer;
mod zones;
