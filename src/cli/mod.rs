//! The `cairn` subcommands that manage a running server through its admin
//! socket: `namespace`, `service`, `instance`, `discover`, `health`, `status`,
//! `reload` and `completions`. Each parses its flags (clap), calls the admin API through
//! [`crate::admin::client`], and prints a table for people or, with
//! `--output json`, the API's JSON for scripts. Errors go to stderr as
//! `cairn: <ErrorName>: <message>` with an exit code that tells the kind.
//!
//! This module knows the API only through `admin::api`; it never touches
//! the registry.

mod agent;
mod discover;
mod instance;
mod namespace;
mod output;
mod reload;
mod resolve;
mod service;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::admin::client::{Client, ClientError};
use crate::config::Config;

pub use agent::AgentArgs;
pub use discover::DiscoverArgs;
pub use instance::{HealthArgs, InstanceArgs};
pub use namespace::NamespaceArgs;
pub use service::ServiceArgs;

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  unexpected failure (the server's answer could not be read)
  2  usage error (bad flags or arguments, unreadable --config)
  3  not found (NamespaceNotFound, ServiceNotFound, InstanceNotFound, …)
  4  refused by the server (InvalidInput, ResourceInUse, *AlreadyExists, …)
  5  no connection to the admin socket";

/// The admin subcommands; `main.rs` flattens them next to `serve`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, show, update and delete namespaces (DNS zones or API-only
    /// groups).
    #[command(after_help = EXIT_CODES)]
    Namespace(NamespaceArgs),
    /// Create, list, show, update and delete services (DNS templates).
    #[command(after_help = EXIT_CODES)]
    Service(ServiceArgs),
    /// Register, deregister, list and show instances of a service.
    #[command(after_help = EXIT_CODES)]
    Instance(InstanceArgs),
    /// Find a service's instances by name, filtered by attributes and health
    /// (DiscoverInstances).
    #[command(after_help = EXIT_CODES)]
    Discover(DiscoverArgs),
    /// Report or read instances' custom health status.
    #[command(after_help = EXIT_CODES)]
    Health(HealthArgs),
    /// Show how the server is doing: version, uptime, listeners, what it
    /// holds, the store and the health checks (GetServerStatus).
    #[command(after_help = EXIT_CODES)]
    Status,
    /// Have the server read its config file and zones/ again (as SIGHUP
    /// does); prints what changed and what needs a restart. A bad file is
    /// refused whole and the running config kept (exit code 4).
    #[command(after_help = EXIT_CODES)]
    Reload,
    /// Run an agent that registers this host's containers in cairn (see
    /// `cairn agent docker --help`).
    Agent(AgentArgs),
    /// Print shell completions for cairn, e.g. `cairn completions bash >
    /// /etc/bash_completion.d/cairn`.
    Completions {
        /// The shell to print completions for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// Shells `cairn completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// The API's JSON, one document on stdout, for scripts.
    Json,
}

/// Where the admin socket is and how to print; accepted before or after
/// the subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Admin socket and output")]
pub struct ClientOptions {
    /// The admin socket to talk to (for `serve`: to listen on) [default:
    /// admin.socket of --config, else ./cairn.sock].
    #[arg(long, global = true, env = "CAIRN_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The server's config file: what `serve` runs with, and where the
    /// admin subcommands find admin.socket when --socket is not given.
    /// Without one, cairn serves DNS on 127.0.0.1:1053 and applies the
    /// zones in ./zones.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "CAIRN_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// How to print results: `table` for people, `json` for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl ClientOptions {
    fn client(&self) -> Result<Client, CliError> {
        if let Some(socket) = &self.socket {
            return Ok(Client::new(socket));
        }
        let socket = match &self.config {
            Some(path) => {
                Config::load(path)
                    .map_err(|error| CliError::Usage(error.to_string()))?
                    .admin
                    .socket
            }
            None => Config::default().admin.socket,
        };
        Ok(Client::new(socket))
    }
}

/// The errors that exit with 3.
const NOT_FOUND: &[&str] = &[
    "NamespaceNotFound",
    "ServiceNotFound",
    "InstanceNotFound",
    "OperationNotFound",
    "ResourceNotFoundException",
];

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    Client(ClientError),
    /// A mistake in the invocation clap could not catch (e.g. --config).
    Usage(String),
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Client(ClientError::Connect { .. }) => 5,
            Self::Client(ClientError::Protocol { .. }) => 1,
            Self::Client(error) if NOT_FOUND.contains(&error.code()) => 3,
            Self::Client(_) => 4,
        }
    }
}

/// A command's result: `Ok` means it printed what it had to.
pub type CliResult = Result<(), CliError>;

/// Runs one admin subcommand; `cli` builds the binary's whole command line
/// (for completions). Prints errors and returns the exit code.
pub async fn run(
    command: Command,
    options: &ClientOptions,
    cli: impl FnOnce() -> clap::Command,
) -> ExitCode {
    let outcome = match command {
        Command::Agent(args) => return agent::run(args, options).await,
        Command::Namespace(args) => namespace::run(args, options).await,
        Command::Service(args) => service::run(args, options).await,
        Command::Instance(args) => instance::run(args, options).await,
        Command::Health(args) => instance::run_health(args, options).await,
        Command::Discover(args) => discover::run(args, options).await,
        Command::Status => status::run(options).await,
        Command::Reload => reload::run(options).await,
        Command::Completions { shell } => {
            let shell = match shell {
                CompletionShell::Bash => Shell::Bash,
                CompletionShell::Zsh => Shell::Zsh,
                CompletionShell::Fish => Shell::Fish,
            };
            let mut command = cli();
            clap_complete::generate(shell, &mut command, "cairn", &mut std::io::stdout());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match &error {
                CliError::Client(client) => {
                    eprintln!("cairn: {}: {}", client.code(), client.message())
                }
                CliError::Usage(message) => eprintln!("cairn: {message}"),
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// Parses `KEY=VALUE` (for --attr, --tag, --filter, --optional).
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}
