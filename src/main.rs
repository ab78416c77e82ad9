//! The `cairn` binary: parses the command line and hands off to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use cairn::config::{Config, LogFormat};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An authoritative DNS server backed by a live service registry.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, after_help = cairn::cli::EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the DNS server and the admin API.
    Serve {
        /// The config file (TOML). Without one, cairn serves DNS on
        /// 127.0.0.1:1053 and applies the zones in ./zones.
        #[arg(long, short, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
    },
    #[command(flatten)]
    Admin(Box<cairn::cli::Command>),
}

fn init_logging(config: &Config) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log_level.clone());
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    init_logging(&config);
    // Registered before anything is served: until then SIGHUP's default
    // action would end the process, and SIGTERM would skip the drain.
    let signals = Signals::register().context("cannot watch signals")?;
    let shutdown = CancellationToken::new();
    tokio::spawn(signals.watch(shutdown.clone()));
    cairn::serve::run(config, shutdown)
        .await
        .context("cairn serve")
}

/// The signals `cairn serve` acts on.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Cancels `shutdown` on SIGINT or SIGTERM. SIGHUP, which service
    /// managers send to ask for a reload, is answered with a warning: there
    /// is no reload yet, and ending the server (its default action) or
    /// ignoring it silently would both mislead the operator.
    async fn watch(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => break,
                _ = self.terminate.recv() => break,
                _ = self.hangup.recv() => tracing::warn!(
                    "SIGHUP received: reloading is not supported; cairn keeps running with \
                     the config and zones/ it started with; restart it to apply changes"
                ),
            }
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cairn: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Serve { config } => runtime.block_on(serve(config)),
        Command::Admin(command) => {
            return runtime.block_on(cairn::cli::run(*command, Cli::command));
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn: {error:#}");
            ExitCode::FAILURE
        }
    }
}
