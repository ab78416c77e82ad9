//! The admin API: Cloud Map's actions as HTTP/1.1 + JSON on a Unix socket
//! (access is the socket file's permissions, as with docker.sock), and the
//! client the CLI uses to call them.
//!
//! `POST /` with `X-Amz-Target: Route53AutoNaming_v20170314.<Action>` is
//! what Cloud Map's SDKs send; `POST /<Action>` with the same body is
//! accepted too, so `curl --unix-socket` needs no extra header. Errors are
//! HTTP 400 with `{"__type": "<ErrorName>", "Message": "..."}`; 5xx only for
//! a fault of the server itself.
//!
//! This module translates JSON to registry calls and back; it holds no state
//! of its own. Every registry mutation has updated DNS before it returns, so
//! a change is visible to DNS before its HTTP response is sent. Registry
//! calls are synchronous and quick and nothing is held across an `.await`,
//! so the admin API cannot stall the DNS path.

mod access;
mod account;
mod actions;
pub mod api;
pub mod client;
mod error;
mod http;
mod keys;
mod scope;
pub(crate) mod sigv4;
mod tcp;
mod tls;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use access::Access;
pub use account::Account;
pub use error::ApiError;
pub use tcp::{ApiListeners, bind_api, serve_api};
pub use tls::ApiCertificate;

use crate::config::AdminConfig;
use crate::control::Control;
use crate::writer::Writer;

/// Why the admin socket could not be set up.
#[derive(Debug, Error)]
pub enum AdminError {
    #[error(
        "cannot create the admin socket {path}: directory {dir} does not exist; create it or set admin.socket to a path in an existing directory"
    )]
    MissingDirectory { path: PathBuf, dir: PathBuf },
    #[error(
        "the admin socket {path} is in use: another cairn answers on it; stop that server or set admin.socket to another path"
    )]
    InUse { path: PathBuf },
    #[error("{path} exists and is not a socket; remove it or set admin.socket to another path")]
    NotASocket { path: PathBuf },
    #[error("cannot remove the stale admin socket {path}: {source}")]
    RemoveStale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot bind the admin socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("api.listen: cannot bind {addr}: {source}")]
    TcpBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("api.keys: access key {key}: {message}")]
    Secret { key: String, message: String },
    #[error("api TLS: {path}: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("cannot set mode {mode:o} on the admin socket {path}: {source}")]
    Mode {
        path: PathBuf,
        mode: u32,
        source: std::io::Error,
    },
}

/// Binds the admin socket at `config.socket` with mode `config.socket_mode`.
/// A socket file left by a dead server (nothing accepts on it) is replaced;
/// a live server on it is an error, as is a missing directory (it is not
/// created: where the socket lives is the operator's decision, e.g.
/// systemd's RuntimeDirectory=). Must run inside a tokio runtime.
pub fn bind(config: &AdminConfig) -> Result<UnixListener, AdminError> {
    let path = config.socket.as_path();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(AdminError::MissingDirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            return Err(AdminError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(AdminError::InUse {
                    path: path.to_path_buf(),
                });
            }
            Err(error) => {
                tracing::info!(path = %path.display(), %error, "replacing a stale admin socket");
                std::fs::remove_file(path).map_err(|source| AdminError::RemoveStale {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| AdminError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.socket_mode)).map_err(
        |source| AdminError::Mode {
            path: path.to_path_buf(),
            mode: config.socket_mode,
            source,
        },
    )?;
    tracing::info!(path = %path.display(), mode = format!("{:o}", config.socket_mode), "admin API listening");
    Ok(listener)
}

/// Serves the admin API on `listener` until `shutdown` is cancelled; then
/// stops accepting, removes the socket file, lets open requests finish for
/// at most `config.drain_timeout` and drops the connections still open
/// after it. Returns once every connection's task has ended, so nothing
/// that holds the `Writer` outlives it, whatever clients do.
///
/// At most `config.max_connections` connections are served at once; more
/// wait in the listen backlog. A client that does not send its request
/// headers within `config.header_read_timeout`, or the body after them
/// within `config.body_read_timeout`, is answered 408 or disconnected, so
/// stalled clients cannot hold every slot; bodies over
/// `config.max_body_bytes` are refused with 413.
pub async fn serve(
    listener: UnixListener,
    writer: Writer,
    control: Control,
    config: AdminConfig,
    account: Account,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let socket_path = listener.local_addr()?.as_pathname().map(Path::to_path_buf);
    let socket_inode = socket_path
        .as_deref()
        .and_then(|path| std::fs::metadata(path).ok())
        .map(|metadata| metadata.ino());
    let remove_socket = move || {
        // Remove the file only if it is still ours: a newer server may have
        // replaced it after this one was declared stale.
        if let (Some(path), Some(inode)) = (&socket_path, socket_inode)
            && std::fs::metadata(path).is_ok_and(|metadata| metadata.ino() == inode)
            && let Err(error) = std::fs::remove_file(path)
        {
            tracing::warn!(path = %path.display(), %error, "cannot remove the admin socket");
        }
    };
    let rules = Arc::new(http::Rules {
        access: Access::Socket,
        account,
    });
    run(
        Listener::Unix(listener),
        None,
        rules,
        writer,
        control,
        config,
        shutdown,
        remove_socket,
    )
    .await?;
    tracing::info!("admin API stopped");
    Ok(())
}

/// Where connections come from.
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// One accepted connection, before TLS.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Self::Unix(listener) => listener
                .accept()
                .await
                .map(|(stream, _)| Stream::Unix(stream)),
            Self::Tcp(listener) => listener.accept().await.map(|(stream, peer)| {
                // Requests are small and answered at once: do not wait to
                // fill a segment.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                }
                Stream::Tcp(stream)
            }),
        }
    }
}

/// The one connection loop behind the socket and every TCP listener: the
/// connection limit, the header and body deadlines, the TLS handshake (under
/// the header deadline) and the bounded drain are the same for all.
/// `stopped` runs once the listener is closed, before the drain.
// Each argument is a distinct input of the one loop; a struct around them
// would only rename them at both call sites.
#[allow(clippy::too_many_arguments)]
async fn run(
    listener: Listener,
    tls: Option<TlsAcceptor>,
    rules: Arc<http::Rules>,
    writer: Writer,
    control: Control,
    config: AdminConfig,
    shutdown: CancellationToken,
    stopped: impl FnOnce(),
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    // Every connection runs in a task of this tracker, and each ends early
    // when `force_close` is cancelled: the drain's deadline.
    let connections = TaskTracker::new();
    let force_close = CancellationToken::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    let limits = http::BodyLimits {
        max_bytes: config.max_body_bytes,
        read_timeout: config.body_read_timeout,
    };

    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => permit.map_err(std::io::Error::other)?,
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(error) => {
                    // Usually out of file descriptors: back off briefly
                    // instead of spinning.
                    tracing::warn!(%error, "admin accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        let service = {
            let (writer, control, rules) = (writer.clone(), control.clone(), Arc::clone(&rules));
            service_fn(move |request| {
                http::handle(
                    request,
                    writer.clone(),
                    control.clone(),
                    limits,
                    Arc::clone(&rules),
                )
            })
        };
        // Taken before the handshake, so a connection still negotiating TLS
        // counts as open for the drain.
        let watcher = graceful.watcher();
        let (builder, tls, handshake_timeout) =
            (builder.clone(), tls.clone(), config.header_read_timeout);
        let force_close = force_close.clone();
        connections.spawn(async move {
            let served = async move {
                let outcome = match (stream, tls) {
                    (Stream::Unix(stream), _) => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    (Stream::Tcp(stream), None) => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    (Stream::Tcp(stream), Some(acceptor)) => {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(stream)) => {
                                watcher
                                    .watch(builder.serve_connection(TokioIo::new(stream), service))
                                    .await
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%error, "API TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("API TLS handshake timed out");
                                return;
                            }
                        }
                    }
                };
                if let Err(error) = outcome {
                    tracing::debug!(%error, "admin connection ended with an error");
                }
            };
            // Dropping the connection drops its socket and any request in
            // progress; a change already handed to the Writer still
            // finishes, in the Writer's own task.
            tokio::select! {
                _ = served => {}
                _ = force_close.cancelled() => {}
            }
            drop(permit);
        });
    }

    drop(listener);
    stopped();
    connections.close();
    // Idle connections close at once; one in the middle of a request gets
    // until the deadline to finish it.
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "admin connections still open after admin.drain_timeout_secs ({:?}); closing them",
            config.drain_timeout
        );
        force_close.cancel();
    }
    connections.wait().await;
    Ok(())
}
