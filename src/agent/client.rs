//! The agent's client of cairn's Cloud Map API: over the admin socket when
//! cairn runs on this host (the CLI's own client), over TCP with SigV4
//! when it does not. Callers see one `call` and one error type either way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

use crate::admin::api::{CONTENT_TYPE as AMZ_JSON, ErrorBody, TARGET_PREFIX};
use crate::admin::client::{Client as SocketClient, ClientError};
use crate::admin::sigv4::{self, AccessKey, SignedRequest};

/// How long one call may take before cairn counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where cairn's API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The admin socket: no signature, access is the socket's mode.
    Socket(PathBuf),
    /// `http://host:port`: the `[api]` listener, every call signed.
    Http { authority: String },
    /// `https://host:port`: the `[api]` listener over TLS, its certificate
    /// verified against a CA bundle, every call signed.
    Https {
        authority: String,
        server_name: ServerName<'static>,
        trust: Trust,
    },
}

/// The TLS client settings for one CA bundle.
#[derive(Clone)]
pub struct Trust(Arc<ClientConfig>);

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trust")
    }
}

impl PartialEq for Trust {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Trust {}

impl Trust {
    /// A client that trusts only the certificates in the PEM file at
    /// `bundle`: cairn's API certificates come from an operator's own CA,
    /// so there is no system trust store to fall back on.
    fn from_bundle(bundle: &Path) -> Result<Self, String> {
        let pem = std::fs::read(bundle)
            .map_err(|error| format!("cannot read the CA bundle {}: {error}", bundle.display()))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|error| {
                format!("the CA bundle {} is not PEM: {error}", bundle.display())
            })?;
            roots.add(cert).map_err(|error| {
                format!(
                    "the CA bundle {} holds a certificate rustls refuses: {error}",
                    bundle.display()
                )
            })?;
        }
        if roots.is_empty() {
            return Err(format!(
                "the CA bundle {} holds no certificate",
                bundle.display()
            ));
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|error| error.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Self(Arc::new(config)))
    }
}

impl Endpoint {
    /// `http://host:port`, `https://host:port` (verified against
    /// `ca_bundle`, which the AWS tools name `AWS_CA_BUNDLE`) or a socket
    /// path.
    pub fn parse(text: &str, ca_bundle: Option<&Path>) -> Result<Self, String> {
        let authority_of = |rest: &str| {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return Err(format!("'{text}' is not http(s)://HOST:PORT"));
            }
            Ok(authority.to_string())
        };
        if let Some(rest) = text.strip_prefix("http://") {
            return Ok(Self::Http {
                authority: authority_of(rest)?,
            });
        }
        if let Some(rest) = text.strip_prefix("https://") {
            let authority = authority_of(rest)?;
            let host = match authority.strip_prefix('[') {
                Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
                None => authority
                    .rsplit_once(':')
                    .map_or(&*authority, |(host, _)| host),
            };
            let server_name = ServerName::try_from(host.to_string())
                .map_err(|error| format!("'{text}': '{host}' is not a host name: {error}"))?;
            let Some(bundle) = ca_bundle else {
                return Err(format!(
                    "'{text}' needs AWS_CA_BUNDLE: the PEM file of the CA that signed cairn's API certificate"
                ));
            };
            return Ok(Self::Https {
                authority,
                server_name,
                trust: Trust::from_bundle(bundle)?,
            });
        }
        Ok(Self::Socket(PathBuf::from(text)))
    }
}

/// The key the agent signs with on TCP, and the region it names.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub key: AccessKey,
    pub region: String,
}

/// Why a call did not return an answer.
#[derive(Debug, Error)]
pub enum CallError {
    /// Nothing answered, or not in time: try again later.
    #[error("cairn is unreachable at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// cairn refused the request with one of Cloud Map's errors.
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
    /// The answer was not what the API sends.
    #[error("cairn at {endpoint} answered something unreadable: {reason}")]
    Protocol { endpoint: String, reason: String },
}

impl CallError {
    /// Cloud Map's error name, for refusals.
    pub fn code(&self) -> &str {
        match self {
            Self::Refused { code, .. } => code,
            Self::Unreachable { .. } => "Unreachable",
            Self::Protocol { .. } => "ProtocolError",
        }
    }
}

/// A client of one cairn.
#[derive(Debug, Clone)]
pub struct Api {
    endpoint: Endpoint,
    credentials: Option<Credentials>,
}

impl Api {
    /// Over TCP, `credentials` are required (cairn refuses unsigned calls
    /// unless its `[api]` says `auth = "none"`); on the socket they are
    /// not used.
    pub fn new(endpoint: Endpoint, credentials: Option<Credentials>) -> Self {
        Self {
            endpoint,
            credentials,
        }
    }

    pub fn describe(&self) -> String {
        match &self.endpoint {
            Endpoint::Socket(path) => path.display().to_string(),
            Endpoint::Http { authority } => format!("http://{authority}"),
            Endpoint::Https { authority, .. } => format!("https://{authority}"),
        }
    }

    /// Calls `action` with a typed request and parses the typed answer.
    pub async fn call<Req, Resp>(&self, action: &str, request: &Req) -> Result<Resp, CallError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_vec(request).map_err(|error| self.protocol(error))?;
        let exchange = async {
            match &self.endpoint {
                Endpoint::Socket(path) => socket_call(path, action, body).await,
                Endpoint::Http { authority } | Endpoint::Https { authority, .. } => {
                    self.http_call(authority, action, body).await
                }
            }
        };
        let answer = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| CallError::Unreachable {
                endpoint: self.describe(),
                reason: format!("no answer within {CALL_TIMEOUT:?}"),
            })??;
        serde_json::from_slice(&answer)
            .map_err(|error| self.protocol(format!("cannot parse the {action} answer: {error}")))
    }

    async fn http_call(
        &self,
        authority: &str,
        action: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, CallError> {
        let unreachable = |reason: String| CallError::Unreachable {
            endpoint: self.describe(),
            reason,
        };
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let mut headers = HeaderMap::new();
        let value = |text: &str| HeaderValue::from_str(text).map_err(|error| self.protocol(error));
        headers.insert(HOST, value(authority)?);
        headers.insert("x-amz-target", value(&format!("{TARGET_PREFIX}{action}"))?);
        headers.insert(CONTENT_TYPE, value(AMZ_JSON)?);
        if let Some(credentials) = &self.credentials {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0));
            let timestamp = sigv4::amz_date(now);
            headers.insert("x-amz-date", value(&timestamp)?);
            if let Some(token) = &credentials.key.session_token {
                headers.insert("x-amz-security-token", value(token)?);
            }
            let signed = SignedRequest {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: &body,
            };
            let authorization = sigv4::authorization(
                &signed,
                &credentials.key,
                &credentials.region,
                "servicediscovery",
                &timestamp,
            )
            .map_err(|error| self.protocol(error))?;
            headers.insert("authorization", value(&authorization)?);
        }
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/")
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| self.protocol(error))?;
        *request.headers_mut() = headers;
        match &self.endpoint {
            Endpoint::Https {
                server_name, trust, ..
            } => {
                let stream = TlsConnector::from(Arc::clone(&trust.0))
                    .connect(server_name.clone(), stream)
                    .await
                    .map_err(|error| unreachable(format!("TLS: {error}")))?;
                self.exchange(stream, request).await
            }
            _ => self.exchange(stream, request).await,
        }
    }

    /// Sends `request` on `stream` (plain or TLS) and reads the answer.
    async fn exchange(
        &self,
        stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
        request: Request<Full<Bytes>>,
    ) -> Result<Vec<u8>, CallError> {
        let unreachable = |reason: String| CallError::Unreachable {
            endpoint: self.describe(),
            reason,
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let driver = tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| unreachable(error.to_string()))?
            .to_bytes();
        driver.abort();
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(CallError::Refused {
                code: body.code().to_string(),
                message: body.message,
            }),
            Err(_) => Err(self.protocol(format!(
                "HTTP {status} with a body that is not an error: {}",
                String::from_utf8_lossy(&bytes)
            ))),
        }
    }

    fn protocol(&self, reason: impl ToString) -> CallError {
        CallError::Protocol {
            endpoint: self.describe(),
            reason: reason.to_string(),
        }
    }
}

async fn socket_call(path: &Path, action: &str, body: Vec<u8>) -> Result<Vec<u8>, CallError> {
    SocketClient::new(path)
        .call_raw(action, body)
        .await
        .map_err(|error| match error {
            ClientError::Connect { path, source } => CallError::Unreachable {
                endpoint: path.display().to_string(),
                reason: source.to_string(),
            },
            ClientError::Api { body, .. } => CallError::Refused {
                code: body.code().to_string(),
                message: body.message,
            },
            ClientError::Protocol { path, message } => CallError::Protocol {
                endpoint: path.display().to_string(),
                reason: message,
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("http://10.0.0.1:8787/", None),
            Ok(Endpoint::Http {
                authority: "10.0.0.1:8787".to_string()
            })
        );
        assert_eq!(
            Endpoint::parse("/run/cairn/admin.sock", None),
            Ok(Endpoint::Socket(PathBuf::from("/run/cairn/admin.sock")))
        );
        assert!(Endpoint::parse("http://", None).is_err());
        assert!(Endpoint::parse("http://h:1/path", None).is_err());
        let without = Endpoint::parse("https://h:1", None).expect_err("no CA bundle");
        assert!(without.contains("AWS_CA_BUNDLE"), "{without}");
        let missing = Endpoint::parse("https://h:1", Some(Path::new("/nonexistent/ca.pem")))
            .expect_err("no such bundle");
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    }
}
