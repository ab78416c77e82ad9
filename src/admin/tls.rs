//! TLS for the API's TCP listener: a rustls server config from a PEM
//! certificate chain and private key, with ring as the crypto provider (the
//! one the HTTPS health checks already use), so no second one is built in.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::AdminError;
use crate::config::TlsFiles;

/// Reads the certificate and key and builds the acceptor. HTTP/1.1 only,
/// announced by ALPN, as the API speaks nothing else.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, AdminError> {
    let fail = |path: &Path, message: String| AdminError::Tls {
        path: path.to_path_buf(),
        message,
    };
    let cert_pem = std::fs::read(&files.cert)
        .map_err(|error| fail(&files.cert, format!("cannot read it: {error}")))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| fail(&files.cert, format!("not a PEM certificate chain: {error}")))?;
    if chain.is_empty() {
        return Err(fail(
            &files.cert,
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)".to_string(),
        ));
    }
    let key_pem = std::fs::read(&files.key)
        .map_err(|error| fail(&files.key, format!("cannot read it: {error}")))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| fail(&files.key, format!("not a PEM private key: {error}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| fail(&files.cert, error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| {
            fail(
                &files.key,
                format!(
                    "does not fit the certificate {}: {error}",
                    files.cert.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
