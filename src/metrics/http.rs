//! The metrics listener: `GET /metrics` (the Prometheus text format),
//! `/healthz` (200 while the process serves HTTP at all) and `/readyz`
//! (200 once the store is open, zones are applied and the listeners are
//! bound; 503 naming what is missing before that). Bound before the store
//! is opened, so a supervisor sees a slow start as alive but not ready.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Metrics;

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A client that sends no request headers within this long is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The metrics listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "metrics.listen: cannot bind {addr}: {source}; free the port or set metrics.listen to another address"
)]
pub struct MetricsError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Binds the metrics listener. Must run inside a tokio runtime.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError { addr, source })
}

/// Serves the listener until `shutdown`; then drops open connections
/// (scrapes are short and retried) and returns once their tasks ended.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        let service = service_fn(move |request| {
            let metrics = metrics.clone();
            async move { Ok::<_, Infallible>(answer(&request, &metrics)) }
        });
        let (builder, shutdown) = (builder.clone(), shutdown.clone());
        connections.spawn(async move {
            tokio::select! {
                _ = builder.serve_connection(TokioIo::new(stream), service) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
    connections.close();
    connections.wait().await;
}

fn answer(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".into());
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics.encode());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match metrics.readiness().missing() {
            missing if missing.is_empty() => text(StatusCode::OK, "ready\n".into()),
            missing => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", missing.join(", ")),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
