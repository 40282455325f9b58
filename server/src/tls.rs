//! HTTPS: the rustls configuration of the S3 listener, whose certificate comes from a resolver
//! that SIGHUP reloads from the PEM files, so renewed certificates apply without a restart.

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The certificate new handshakes get; replaced whole by `reload` (connections already open
/// keep the one they started with).
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl CertResolver {
    /// Reads the certificate chain and key (PEM); fails when they are unreadable or do not match.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertResolver>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = RwLock::new(Arc::new(certified_key(cert, key, &provider)?));
        Ok(Arc::new(CertResolver { current, provider }))
    }

    /// Reads the files again and serves what they hold from the next handshake on; on any
    /// error the certificate in use stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), String> {
        let fresh = certified_key(cert, key, &self.provider)?;
        *self.current.write().expect("certificate lock") = Arc::new(fresh);
        Ok(())
    }

    /// The rustls configuration of a listener that takes its certificate from `resolver`.
    pub fn server_config(resolver: &Arc<CertResolver>) -> Result<rustls::ServerConfig, String> {
        Ok(rustls::ServerConfig::builder_with_provider(resolver.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone()))
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

fn certified_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parsing {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let private = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| format!("parsing {}: {e}", key.display()))?
        .ok_or_else(|| format!("no private key in {}", key.display()))?;
    CertifiedKey::from_der(certs, private, provider).map_err(|e| format!("TLS setup: {e}"))
}
