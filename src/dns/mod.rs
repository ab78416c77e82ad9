//! The DNS responder. Writers compile each service into record sets when it
//! changes ([`compile`], driven by [`Zones`] as a registry observer); queries
//! only look names up and copy out what was built ([`answer`]). [`server`]
//! is the thin hickory-server shell around it.
//!
//! Only this module imports `hickory_*`. It never parses JSON, touches
//! files, or calls back into the registry from the answer path.

pub mod answer;
pub mod compile;
pub mod server;
pub mod zones;

pub use server::{DnsSockets, Responder, serve};
pub use zones::Zones;
