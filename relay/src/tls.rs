//! How the relay speaks TLS, if at all, and the rustls settings for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, Clone)]
pub enum Tls {
    /// Plain HTTP: enough for `localhost`, which browsers treat as secure.
    Off,
    /// A certificate the user provides (a real domain, say): PEM files with
    /// the chain, server certificate first, and its private key.
    Files { cert: PathBuf, key: PathBuf },
    /// The relay's own local CA, kept in `config_dir` and created there if missing.
    LocalCa { config_dir: PathBuf },
}

/// Reads a PEM certificate chain and private key.
pub fn read_files(cert: &Path, key: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let unreadable = |path: &Path, error: &dyn std::fmt::Display| format!("cannot read {}: {error}", path.display());
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| unreadable(cert, &error))?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|error| unreadable(key, &error))?;
    Ok((chain, key))
}

pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| format!("the TLS certificate and key cannot be used together: {error}"))?;
    // The relay speaks HTTP/1.1 only (WebSocket upgrades need it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
