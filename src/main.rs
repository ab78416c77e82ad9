//! The `cairn` binary: parses the command line and hands off to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use cairn::config::{Config, LogFormat};
use cairn::logging::Logging;
use cairn::serve::Reloading;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An authoritative DNS server backed by a live service registry.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, after_help = cairn::cli::EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    options: cairn::cli::ClientOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the DNS server and the admin API (with --config FILE, from that
    /// TOML file).
    Serve {
        /// The log's format, over the config's `log.format` (at start and at
        /// every reload): `text`, or `json` for log collectors, one object
        /// a line.
        #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
        log_format: Option<LogFormat>,
    },
    /// Work on a store directly, with no server running on it.
    #[command(subcommand)]
    Store(StoreCommand),
    #[command(flatten)]
    Admin(Box<cairn::cli::Command>),
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Copy everything from the store one config names into the (empty)
    /// store another names: the embedded file into etcd to grow into a
    /// cluster, or back.
    Copy {
        /// The config whose [store] (and data_dir) is read.
        #[arg(long)]
        from: PathBuf,
        /// The config whose [store] (and data_dir) is written; it must be
        /// empty.
        #[arg(long)]
        to: PathBuf,
    },
}

async fn store(command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Copy { from, to } => {
            let source = Config::load(&from)?;
            let target = Config::load(&to)?;
            let copied = cairn::store::copy::copy(&source, &target).await?;
            println!(
                "copied {} namespaces, {} services, {} instances, {} operations",
                copied.namespaces, copied.services, copied.instances, copied.operations
            );
            Ok(())
        }
    }
}

fn parse_log_format(format: &str) -> Result<LogFormat, String> {
    match format {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("'{format}' is not a log format: use text or json")),
    }
}

async fn serve(
    config_path: Option<PathBuf>,
    socket: Option<PathBuf>,
    log_format: Option<LogFormat>,
) -> anyhow::Result<()> {
    let mut config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(socket) = &socket {
        config.admin.socket.clone_from(socket);
    }
    if let Some(format) = log_format {
        config.log_format = format;
    }
    let logging = Logging::init(&config.log_level, config.log_format);
    // Registered before anything is served: until then SIGHUP's default
    // action would end the process, and SIGTERM would skip the drain.
    let signals = Signals::register().context("cannot watch signals")?;
    let shutdown = CancellationToken::new();
    let (reloads, reload_receiver) = cairn::reload::channel();
    tokio::spawn(signals.watch(shutdown.clone(), reloads.clone()));
    let reloading = Reloading {
        config_path,
        socket_override: socket,
        log_format_override: log_format,
        logging: Some(logging),
        requests: Some((reloads, reload_receiver)),
    };
    cairn::serve::run_with(config, reloading, shutdown)
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

    /// Cancels `shutdown` on SIGINT or SIGTERM; asks for a reload on SIGHUP
    /// (what `systemctl reload` sends). The reload's outcome is logged.
    async fn watch(mut self, shutdown: CancellationToken, reloads: cairn::reload::Requests) {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => break,
                _ = self.terminate.recv() => break,
                _ = self.hangup.recv() => {
                    tracing::info!("SIGHUP received: reloading");
                    // Full only while reloads are queued already: the one
                    // that runs next reads the files as they are then.
                    if reloads.try_send(cairn::reload::Request { reply: None }).is_err() {
                        tracing::info!("a reload is already queued; it will read the files as they are now");
                    }
                }
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
        Command::Serve { log_format } => {
            runtime.block_on(serve(cli.options.config, cli.options.socket, log_format))
        }
        Command::Store(command) => runtime.block_on(store(command)),
        Command::Admin(command) => {
            return runtime.block_on(cairn::cli::run(*command, &cli.options, Cli::command));
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: many of our errors already
/// name their cause in their own message ("cannot bind 127.0.0.1:53:
/// Address already in use"), and printing the chain again would repeat it.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}
