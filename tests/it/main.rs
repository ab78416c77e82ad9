//! End-to-end tests: a real `cairn` on free ports, real DNS queries, the
//! real admin socket and CLI. One test binary, one shared harness.

mod admin;
mod cli;
mod dns;
mod durability;
mod health;
mod malformed;
mod reference;
mod store_fixture;
mod support;
mod zones;
