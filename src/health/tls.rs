//! TLS for HTTPS probes. Like Route 53's HTTPS health checks, which Cloud
//! Map uses, the server's certificate is *not* verified: the probe asks
//! "does the instance answer", not "is it who it claims to be", and
//! instances commonly serve self-signed certificates on internal addresses.
//! Nothing sent over these connections is secret.
//!
//! It knows TCP streams and TLS only, not probes: `probe` calls it and
//! carries its [`TlsError`] in its own error.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

/// Why a TLS session could not be set up: the client config could not be
/// built, or the handshake failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// Accepts any certificate, but still checks that the handshake's
/// signatures are made with the certificate's key (so the TLS session
/// itself is sound).
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// One client config for every probe, built on first use.
fn connector() -> Result<TlsConnector, TlsError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let provider = Arc::new(crypto::ring::default_provider());
        let verifier = Arc::new(AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        });
        let config =
            ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
                .with_safe_default_protocol_versions()
                .map_err(|error| error.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
        Ok(Arc::new(config))
    });
    match config {
        Ok(config) => Ok(TlsConnector::from(Arc::clone(config))),
        Err(error) => Err(TlsError(error.clone())),
    }
}

/// Runs a TLS handshake on `stream`. The server name sent (SNI) is the
/// instance's address, as Route 53 sends when a check names no host.
pub async fn connect(
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let name = ServerName::IpAddress(addr.ip().into());
    connector()?
        .connect(name, stream)
        .await
        .map_err(|error| TlsError(error.to_string()))
}
