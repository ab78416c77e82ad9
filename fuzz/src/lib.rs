//! Fuzz targets for the code that reads what cairn is sent or finds on
//! disk: DNS queries (through the whole answer core, and the query reader
//! against hickory-proto's decoder), zone-transfer requests and their
//! TSIG, the admin API's JSON requests, zones files and store rows.
//!
//! Each target is a plain function of the input bytes that panics when it
//! finds a bug. AFL++ drives them (`src/bin/afl-target.rs`, built by
//! `cargo afl build`); `tests/corpus.rs` replays every seed and every
//! regression under `corpus/<target>/` as an ordinary test. See README.md.

mod admin;
mod query;
mod store;
pub mod transfer;
mod zones;

/// A target: one input in, a panic if it finds a bug.
pub type Target = fn(&[u8]);

/// Every target by name; the name is also its corpus directory.
pub const TARGETS: [(&str, Target); 7] = [
    ("query", query::answer_core),
    ("query_reader", query::reader_against_hickory),
    ("admin_request", admin::request),
    ("zones_file", zones::file),
    ("store_row", store::row),
    ("transfer_request", transfer::request_reader),
    ("tsig", transfer::tsig),
];

/// The target of that name.
pub fn target(name: &str) -> Option<Target> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|&(_, run)| run)
}
