//! HTTPS (`--tls-cert`, `--tls-key`): rustls in front of the same axum router.
//!
//! [`TlsListener`] is an [`axum::serve::Listener`], so `axum::serve` (graceful shutdown,
//! connect info, HTTP/1.1) runs unchanged over TLS. Handshakes run in tasks of their own,
//! under a time limit, so a client that stalls its handshake holds no one else up; a
//! handshake that fails is logged at debug and dropped. The certificate is read once at
//! start (no reload: restart to rotate it).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The PEM files of the server's certificate chain (leaf first) and its private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Error)]
pub enum TlsError {
    /// The file's error in the message, not as a source: one line, said once.
    #[error("{path}: {error}")]
    Pem {
        path: PathBuf,
        error: rustls_pki_types::pem::Error,
    },
    #[error("{0}: no certificate in the file")]
    NoCertificate(PathBuf),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Time a client has to complete its handshake.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// Connections handshaken but not yet taken by the server.
const BACKLOG: usize = 64;

/// The rustls server configuration of `files` (ring provider, TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    fn pem(path: &Path) -> impl Fn(rustls_pki_types::pem::Error) -> TlsError + '_ {
        move |error| TlsError::Pem {
            path: path.to_path_buf(),
            error,
        }
    }
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(pem(&files.cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(&files.cert))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem(&files.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Accepted TCP connections, handshaken: what `axum::serve` reads from.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; the accept task ends when the listener is dropped.
    pub fn new(tcp: TcpListener, cfg: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(BACKLOG);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(cfg), tx));
        Ok(Self { ready, local })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (sock, peer) = tokio::select! {
            _ = tx.closed() => return,
            r = tcp.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(sock)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ends only once this listener is gone; never reached while
            // it is alive, so wait for the shutdown that drops it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate loads; a missing file or a key given as the certificate
    /// fails with the file's name (the start then stops before taking the port).
    #[test]
    fn bad_certificate_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        let files = |cert: &Path, key: &Path| TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        };
        assert!(server_config(&files(&cert, &key)).is_ok());
        let missing = dir.path().join("missing.pem");
        let e = server_config(&files(&missing, &key)).unwrap_err();
        assert!(
            matches!(e, TlsError::Pem { ref path, .. } if *path == missing),
            "{e}"
        );
        let e = server_config(&files(&key, &key)).unwrap_err();
        assert!(
            matches!(e, TlsError::NoCertificate(ref p) if *p == key),
            "{e}"
        );
        let e = server_config(&files(&cert, &cert)).unwrap_err();
        assert!(
            e.to_string().starts_with(&cert.display().to_string()),
            "{e}"
        );
    }
}
