//! End-to-end tests: a real `cairn` on free ports, real DNS queries, the
//! real admin socket and CLI. One test binary, one shared harness.

mod admin;
mod cli;
#[cfg(feature = "etcd")]
mod cluster;
mod dns;
mod durability;
mod health;
mod names;
mod reference;
mod signals;
mod store_fixture;
mod support;
mod tcp;
mod zones;
