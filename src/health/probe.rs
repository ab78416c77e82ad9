//! One probe of one instance: a TCP connect, or an HTTP(S) `GET` whose
//! status must be 2xx or 3xx — what Route 53's health checkers do for
//! Cloud Map. No retries and no state: the caller counts failures.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::{self, TlsError};
use crate::registry::HealthCheckType;

/// The most of a response read while looking for its status line.
const MAX_STATUS_LINE: usize = 1024;

/// Why a probe failed; logged at debug.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("answered HTTP {0}, not 2xx or 3xx")]
    Status(u16),
    #[error("the answer is not HTTP: {0:?}")]
    NotHttp(String),
    /// Only a service stored before such paths were refused can carry one.
    #[error(
        "ResourcePath {0:?} holds a space or a control character; update the service's health check"
    )]
    UnsafePath(String),
}

/// Probes `addr`; `Ok` when the instance is healthy. The whole exchange,
/// connect included, must finish within `timeout`.
pub async fn probe(
    kind: HealthCheckType,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let exchange = async {
        let stream = TcpStream::connect(addr).await?;
        match kind {
            HealthCheckType::Tcp => Ok(()),
            HealthCheckType::Http => http_get(stream, addr, path).await,
            HealthCheckType::Https => {
                let stream = tls::connect(stream, addr).await?;
                http_get(stream, addr, path).await
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ProbeError::Timeout(timeout))?
}

/// Sends `GET path` and reads as far as the status code.
async fn http_get(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    addr: SocketAddr,
    path: &str,
) -> Result<(), ProbeError> {
    if !path.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(ProbeError::UnsafePath(path.to_string()));
    }
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: cairn-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut head = Vec::with_capacity(128);
    let mut buffer = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < MAX_STATUS_LINE {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let status = status_code(&head)?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(ProbeError::Status(status))
    }
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn status_code(head: &[u8]) -> Result<u16, ProbeError> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_ascii_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") && code.len() == 3 => code
            .parse()
            .map_err(|_| ProbeError::NotHttp(text.trim_end().to_string())),
        _ => Err(ProbeError::NotHttp(text.trim_end().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::crypto::ring::default_provider;
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    /// Answers every connection with `status`, over TLS when `tls` has an
    /// acceptor; returns the address.
    async fn server(status: u16, tls: Option<TlsAcceptor>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    let mut request = [0u8; 1024];
                    match tls {
                        Some(acceptor) => {
                            let Ok(mut stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = stream.read(&mut request).await;
                            let _ = stream.write_all(reply.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        }
                        None => {
                            let mut stream = stream;
                            let _ = stream.read(&mut request).await;
                            let _ = stream.write_all(reply.as_bytes()).await;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A TLS acceptor with a fresh self-signed certificate, which no
    /// verifier would accept.
    fn self_signed() -> TlsAcceptor {
        let certified = rcgen::generate_simple_self_signed(vec!["nobody.invalid".into()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    #[tokio::test]
    async fn https_probes_skip_certificate_checks_and_read_the_status() {
        let acceptor = self_signed();
        let ok = server(204, Some(acceptor.clone())).await;
        let failing = server(500, Some(acceptor)).await;
        let plain = server(200, None).await;
        use HealthCheckType::{Http, Https};
        probe(Https, ok, "/", TIMEOUT).await.unwrap();
        assert!(matches!(
            probe(Https, failing, "/", TIMEOUT).await,
            Err(ProbeError::Status(500))
        ));
        assert!(matches!(
            probe(Https, plain, "/", TIMEOUT).await,
            Err(ProbeError::Tls(_))
        ));
        probe(Http, plain, "/", TIMEOUT).await.unwrap();
    }

    #[tokio::test]
    async fn tcp_probes_need_a_listener_and_silence_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        probe(HealthCheckType::Tcp, open, "/", TIMEOUT)
            .await
            .unwrap();
        // Accepted (by the kernel) but never answered: HTTP waits, then fails.
        let short = Duration::from_millis(100);
        assert!(matches!(
            probe(HealthCheckType::Http, open, "/", short).await,
            Err(ProbeError::Timeout(_))
        ));
        drop(listener);
        assert!(matches!(
            probe(HealthCheckType::Tcp, open, "/", TIMEOUT).await,
            Err(ProbeError::Io(_))
        ));
    }

    #[test]
    fn status_lines_are_read_and_anything_else_is_refused() {
        let cases: &[(&[u8], Option<u16>)] = &[
            (b"HTTP/1.1 200 OK\r\n", Some(200)),
            (b"HTTP/1.0 302 Found\r\nLocation: /x\r\n", Some(302)),
            (b"HTTP/1.1 503\r\n", Some(503)),
            (b"SSH-2.0-OpenSSH_9.6\r\n", None),
            (b"HTTP/1.1 2000 OK\r\n", None),
            (b"", None),
        ];
        for (head, expected) in cases {
            assert_eq!(
                status_code(head).ok(),
                *expected,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
