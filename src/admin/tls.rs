//! TLS for the API's TCP listener: a rustls server config from a PEM
//! certificate chain and private key, with ring as the crypto provider (the
//! one the HTTPS health checks already use), so no second one is built in.
//!
//! The certificate is replaceable: the config asks an [`ApiCertificate`]
//! for it at every handshake, so a reload that reads rotated files serves
//! them to every connection made after it, and connections already open
//! keep the one they began with. Nothing is re-read per connection.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use super::AdminError;
use crate::config::TlsFiles;

/// The certificate new API connections are served, and the handle a reload
/// replaces it through. Cheap to clone.
#[derive(Clone)]
pub struct ApiCertificate {
    current: Arc<Current>,
    provider: Arc<CryptoProvider>,
}

struct Current(ArcSwap<CertifiedKey>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCertificate").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

impl ApiCertificate {
    /// Reads `files` again and serves them to every handshake from now on.
    /// Returns whether the certificate chain differs from the one it
    /// replaces. On an error nothing changes.
    pub fn reload(&self, files: &TlsFiles) -> Result<bool, AdminError> {
        let newer = load(files, &self.provider)?;
        let changed = self.current.0.load().cert != newer.cert;
        self.current.0.store(Arc::new(newer));
        Ok(changed)
    }

    /// Whether `files` can be served, without serving them: what a reload
    /// checks before it applies anything.
    pub fn check(&self, files: &TlsFiles) -> Result<(), AdminError> {
        load(files, &self.provider).map(drop)
    }
}

/// Reads the certificate and key and builds the acceptor, with the handle
/// that replaces its certificate. HTTP/1.1 only, announced by ALPN, as the
/// API speaks nothing else.
pub fn acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, ApiCertificate), AdminError> {
    let provider = Arc::new(ring::default_provider());
    let current = Arc::new(Current(ArcSwap::from_pointee(load(files, &provider)?)));
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| AdminError::Tls {
            path: files.cert.clone(),
            message: error.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        TlsAcceptor::from(Arc::new(config)),
        ApiCertificate { current, provider },
    ))
}

/// The chain and key of `files`, checked to belong together.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, AdminError> {
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
    CertifiedKey::from_der(chain, key, provider).map_err(|error| {
        fail(
            &files.key,
            format!(
                "does not fit the certificate {}: {error}",
                files.cert.display()
            ),
        )
    })
}
