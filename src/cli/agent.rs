//! `cairn agent docker`: the agent that registers this host's containers
//! (`crate::agent`), with its flags, its signals and its log.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::ClientOptions;
use crate::agent::client::{Api, Endpoint};
use crate::agent::{self, Settings, credentials};
use crate::config::LogFormat;
use crate::logging::Logging;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub runtime: AgentRuntime,
}

#[derive(Debug, Subcommand)]
pub enum AgentRuntime {
    /// Keep cairn's registry in step with this Docker host's containers:
    /// those labelled cairn.service=SERVICE.NAMESPACE are registered while
    /// they run (and, with a HEALTHCHECK, once healthy), and follow
    /// Docker's health. Only instances marked cairn.agent=<host> are ever
    /// changed.
    Docker(DockerArgs),
}

#[derive(Debug, Args)]
pub struct DockerArgs {
    /// cairn's network API, `http://HOST:PORT` or `https://HOST:PORT` (calls
    /// are signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS
    /// profile; over https the certificate is verified against the PEM file
    /// AWS_CA_BUNDLE names); without it, the admin socket (--socket or
    /// --config).
    #[arg(long, env = "CAIRN_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Docker's API socket: a path or `unix://PATH`, as DOCKER_HOST has it
    /// (a Unix socket only: no tcp:// or ssh://).
    #[arg(
        long,
        env = "DOCKER_HOST",
        value_name = "PATH",
        default_value = "/var/run/docker.sock"
    )]
    pub docker_socket: String,
    /// The name this agent marks its instances with (cairn.agent=HOST)
    /// [default: the host name].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Reconcile once and exit (non-zero when Docker or cairn did not answer).
    #[arg(long)]
    pub once: bool,
    /// A full reconcile this often besides the events, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub resync_secs: u64,
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// Runs `cairn agent …`; prints errors and returns the exit code.
pub async fn run(args: AgentArgs, options: &ClientOptions) -> ExitCode {
    let AgentRuntime::Docker(args) = args.runtime;
    let usage = |message: String| {
        eprintln!("cairn: {message}");
        ExitCode::from(2)
    };
    let endpoint = match &args.endpoint {
        Some(text) => match Endpoint::parse(
            text,
            std::env::var_os("AWS_CA_BUNDLE")
                .map(std::path::PathBuf::from)
                .as_deref(),
        ) {
            Ok(endpoint) => endpoint,
            Err(message) => return usage(format!("--endpoint {message}")),
        },
        None => match options.client() {
            Ok(client) => Endpoint::Socket(client.socket().to_path_buf()),
            Err(super::CliError::Usage(message)) => return usage(message),
            Err(super::CliError::Client(error)) => return usage(error.to_string()),
        },
    };
    let credentials = match endpoint {
        Endpoint::Http { .. } | Endpoint::Https { .. } => {
            match credentials::find(|name| std::env::var(name).ok()) {
                Ok(found) => Some(found),
                Err(message) => {
                    return usage(format!("--endpoint needs a key to sign with: {message}"));
                }
            }
        }
        Endpoint::Socket(_) => None,
    };
    let docker_socket = args
        .docker_socket
        .strip_prefix("unix://")
        .unwrap_or(&args.docker_socket)
        .to_string();
    if docker_socket.contains("://") {
        return usage(format!(
            "--docker-socket '{}': the agent talks to Docker over its Unix socket only",
            args.docker_socket
        ));
    }
    let Some(host) = args.host.clone().or_else(host_name) else {
        return usage("cannot read the host name; pass --host".to_string());
    };
    if host.trim().is_empty() || host.len() > 255 {
        return usage(format!(
            "--host '{host}': the agent's name must be 1-255 characters (it is every instance's cairn.agent)"
        ));
    }
    let _logging = Logging::init("info", LogFormat::Text);
    let shutdown = CancellationToken::new();
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            let token = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
                tracing::info!("stopping");
                token.cancel();
            });
        }
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("cairn: cannot watch signals: {error}");
            return ExitCode::FAILURE;
        }
    }
    let settings = Settings {
        api: Api::new(endpoint, credentials),
        docker_socket,
        host,
        once: args.once,
        resync: Duration::from_secs(args.resync_secs.max(1)),
    };
    tracing::info!(host = %settings.host, cairn = %settings.api.describe(), docker = %settings.docker_socket, "cairn agent docker");
    match agent::run(settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn: {error}");
            ExitCode::from(5)
        }
    }
}
