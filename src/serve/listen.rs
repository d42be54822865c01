//! Connections: accepted up to a limit, TLS when configured, each request's headers read
//! within the header timeout (a client dripping a byte a second is dropped), and on a stop no
//! new connection, the requests under way given the grace to finish — then cut short as
//! `interrupted`, which is audited like any answer.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::Service;
use super::access::Peer;

/// A TLS certificate and key, loaded.
#[derive(Clone)]
pub struct Tls(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl Tls {
    /// The certificate chain at `cert` and the private key at `key` (PEM). A key file that
    /// another user could read or change is refused, like any key file paystat reads.
    pub fn from_pem(cert: &Path, key: &Path) -> Result<Tls, String> {
        let metadata = std::fs::metadata(key)
            .map_err(|e| format!("cannot read the TLS key file {}: {e}", key.display()))?;
        crate::ownership::check("the TLS key file", key).map_err(|e| e.to_string())?;
        if metadata.mode() & 0o077 != 0 {
            return Err(format!(
                "the TLS key file {} can be read by other users (mode {:o}); run `chmod 600 {}`",
                key.display(),
                metadata.mode() & 0o777,
                key.display()
            ));
        }
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "the TLS certificate file {} holds no certificate",
                cert.display()
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|_| {
            format!(
                "the TLS key file {} holds no private key in PEM",
                key.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, private))
            .map_err(|e| format!("the TLS certificate and key cannot be used together: {e}"))?;
        Ok(Tls(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
}

/// A running listener's address.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Serves `service` on `listener` until `stop` resolves; then takes no new connection, lets
/// the requests under way finish within the grace, cuts the checks still under way short
/// (`interrupted`, audited), and returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    tls: Option<Tls>,
    stop: impl Future<Output = ()>,
) {
    let router = service.router();
    let options = service.options.clone();
    let connections = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: said, and tried again after a breath.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let app = tower::ServiceExt::map_request(
            router.clone(),
            move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(Peer(peer));
                request
            },
        );
        let hyper_service = hyper_util::service::TowerToHyperService::new(app);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .keep_alive(true);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_within = options.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let connection = http.serve_connection(TokioIo::new(stream), hyper_service);
                    let _ = watcher.watch(connection).await;
                }
                Some(Tls(acceptor)) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(handshake_within, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let connection = http.serve_connection(TokioIo::new(stream), hyper_service);
                    let _ = watcher.watch(connection).await;
                }
            }
        });
    }
    drop(listener);
    let grace = options.shutdown_grace;
    let drained = graceful.shutdown();
    let mut drained = std::pin::pin!(drained);
    if tokio::time::timeout(grace, &mut drained).await.is_err() {
        // Past the grace: the checks still under way end as `interrupted` (audited), and
        // their answers are sent.
        service.checker.interrupt();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drained).await;
    }
}
