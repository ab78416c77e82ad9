//! The server's log: tracing to stderr, text or JSON, with a level and a
//! format a reload can change. Colour only on a terminal: in a file or the
//! journal, escape codes are noise around every line.
//!
//! Both the filter and the formatting layer sit behind tracing-subscriber's
//! `reload` layers. Callsites the filter disables are cached as such, so
//! a disabled `debug!` costs what it did before; only enabled events read
//! the reload layers' lock, and nothing is logged per query.

use std::io::IsTerminal;

use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::LogFormat;

type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type Format = Box<dyn Layer<Filtered> + Send + Sync>;

/// The installed log, to change at a reload.
pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
    format: reload::Handle<Format, Filtered>,
    /// `RUST_LOG`, which wins over `log.level` at start and at every reload.
    env_directives: Option<String>,
}

fn layer(format: LogFormat) -> Format {
    // JSON is for collectors: never colour, even on a terminal.
    let colour = format == LogFormat::Text && std::io::stderr().is_terminal();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => Box::new(layer.json()),
        LogFormat::Text => Box::new(layer),
    }
}

/// Checks a `log.level` directive, as a reload must before it applies
/// anything.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level)
        .map(drop)
        .map_err(|error| format!("log.level '{level}' is not a tracing filter: {error}"))
}

impl Logging {
    /// Installs the global subscriber with `level` (unless `RUST_LOG` is
    /// set) and `format`. A level that does not parse falls back to `info`.
    pub fn init(level: &str, format: LogFormat) -> Self {
        let env_directives = std::env::var("RUST_LOG").ok();
        let directives = env_directives.as_deref().unwrap_or(level);
        let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
        let (filter, filter_handle) = reload::Layer::new(filter);
        let (format, format_handle) = reload::Layer::new(layer(format));
        tracing_subscriber::registry()
            .with(filter)
            .with(format)
            .init();
        Self {
            filter: filter_handle,
            format: format_handle,
            env_directives,
        }
    }

    /// Applies a reloaded `log.level` and `log.format`. Returns a note when
    /// `RUST_LOG` keeps the level from changing.
    pub fn set(&self, level: &str, format: LogFormat) -> Result<Option<String>, String> {
        let note = match &self.env_directives {
            Some(directives) => Some(format!(
                "log.level is not applied: RUST_LOG ({directives}) is set and wins"
            )),
            None => {
                let filter = EnvFilter::try_new(level).map_err(|error| {
                    format!("log.level '{level}' is not a tracing filter: {error}")
                })?;
                self.filter
                    .reload(filter)
                    .map_err(|error| format!("cannot change the log level: {error}"))?;
                None
            }
        };
        self.format
            .reload(layer(format))
            .map_err(|error| format!("cannot change the log format: {error}"))?;
        Ok(note)
    }
}
