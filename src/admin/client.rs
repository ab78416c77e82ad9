//! The admin API's client: sends one action over the Unix socket and returns
//! the parsed answer, or a typed error that says whether the server refused
//! the request (with Cloud Map's error name) or could not be reached.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;
use tokio::net::UnixStream;

use super::api::{CONTENT_TYPE as AMZ_JSON, ErrorBody, TARGET_PREFIX};

/// Why a call did not return an answer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing accepts connections at the socket path.
    #[error(
        "cannot connect to the admin socket {path}: {source} (is `cairn serve` running with this admin.socket? pass --socket or --config)"
    )]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The server refused the request with one of Cloud Map's errors.
    #[error("{}: {}", body.code(), body.message)]
    Api { status: u16, body: Box<ErrorBody> },
    /// The exchange broke off or the answer was not what the API sends.
    #[error("admin socket {path}: {message}")]
    Protocol { path: PathBuf, message: String },
}

impl ClientError {
    /// The error name: Cloud Map's for API errors, `NoConnection` and
    /// `ProtocolError` for the others.
    pub fn code(&self) -> &str {
        match self {
            Self::Connect { .. } => "NoConnection",
            Self::Api { body, .. } => body.code(),
            Self::Protocol { .. } => "ProtocolError",
        }
    }

    /// The message without the name.
    pub fn message(&self) -> String {
        match self {
            Self::Api { body, .. } => body.message.clone(),
            other => other.to_string(),
        }
    }
}

/// A client of one admin socket. Each call uses its own connection.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Calls `action` with a typed request and parses the typed answer.
    pub async fn call<Req, Resp>(&self, action: &str, request: &Req) -> Result<Resp, ClientError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_vec(request).map_err(|error| self.protocol(error))?;
        let answer = self.call_raw(action, body).await?;
        serde_json::from_slice(&answer)
            .map_err(|error| self.protocol(format!("cannot parse the {action} answer: {error}")))
    }

    /// Calls `action` with a JSON body and returns the answer's JSON as sent.
    pub async fn call_raw(&self, action: &str, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| self.protocol(error))?;
        let driver = tokio::spawn(connection);
        let request = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(HOST, "localhost")
            .header("x-amz-target", format!("{TARGET_PREFIX}{action}"))
            .header(CONTENT_TYPE, AMZ_JSON)
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| self.protocol(error))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| self.protocol(error))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| self.protocol(error))?
            .to_bytes();
        driver.abort();
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                body: Box::new(body),
            }),
            Err(_) => Err(self.protocol(format!(
                "HTTP {status} with a body that is not an error: {}",
                String::from_utf8_lossy(&bytes)
            ))),
        }
    }

    fn protocol(&self, message: impl ToString) -> ClientError {
        ClientError::Protocol {
            path: self.socket.clone(),
            message: message.to_string(),
        }
    }
}
