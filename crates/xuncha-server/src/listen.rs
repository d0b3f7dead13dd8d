//! Serving connections under [`Limits`]: at most so many at once, and so many from one
//! address; a client must send its headers within the header timeout (which is also how
//! long an idle kept-alive connection stays open); a connection over the caps is answered
//! `503 Service Unavailable` with a `Retry-After` hint and closed, so half-open or idle
//! connections can never use up the server's file descriptors.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tower::ServiceExt;
use xuncha_protocol::{ErrorBody, codes};

use crate::AppState;
use crate::limits::Limits;

/// Refusals written at once; beyond them an over-limit connection is simply closed.
const MAX_REFUSALS: usize = 256;

/// The connections open, in all and per address.
#[derive(Debug, Default)]
pub struct Connections {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    closed: Notify,
}

/// One connection's place; it is given back when dropped.
#[derive(Debug)]
pub struct Slot {
    connections: Arc<Connections>,
    address: Option<IpAddr>,
}

impl Connections {
    /// A place for a connection from `ip`, if the limits leave one.
    pub fn take(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_address) = &mut *open;
        if *total >= limits.max_connections {
            return None;
        }
        // A trusted proxy carries many clients' connections: it is not capped as one address.
        let counted = !limits.trusted_proxies.contains(&ip);
        if counted {
            let n = per_address.entry(ip).or_insert(0);
            if *n >= limits.max_per_address {
                return None;
            }
            *n += 1;
        }
        *total += 1;
        Some(Slot { connections: Arc::clone(self), address: counted.then_some(ip) })
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Waits until every connection has closed.
    async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_address) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(ip) = self.address
            && let Some(n) = per_address.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_address.remove(&ip);
            }
        }
        if *total == 0 {
            self.connections.closed.notify_waiters();
        }
    }
}

/// Serves `state`'s API on `listener` until `shutdown` resolves; then stops accepting,
/// lets requests under way finish, and returns when every connection has closed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// The server's TLS identity: its certificate chain and private key, from PEM files.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The pin of the server's key (see `xuncha_protocol::pin`), for enrollment QR codes.
    pub pin: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("pin", &self.pin).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain (server's first) and the private key.
    pub fn from_pem_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Tls, String> {
        use rustls_pki_types::pem::PemObject;
        let chain = rustls_pki_types::CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                format!("无法读取证书 {} / cannot read the certificate {}: {e}", cert.display(), cert.display())
            })?;
        let first = chain
            .first()
            .ok_or_else(|| format!("{} 中没有证书 / no certificate in {}", cert.display(), cert.display()))?;
        let pin = xuncha_protocol::pin::of_certificate(first).ok_or_else(|| {
            format!("{} 中的证书无法解析 / the certificate in {} cannot be parsed", cert.display(), cert.display())
        })?;
        let private = rustls_pki_types::PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!("无法读取私钥 {} / cannot read the private key {}: {e}", key.display(), key.display())
        })?;
        Tls::from_der(chain, private, pin)
    }

    /// The certificate chain (server's first) and private key as DER (a team relay's,
    /// made in memory for its own key), and the pin devices know the key by.
    pub fn from_der(
        chain: Vec<rustls_pki_types::CertificateDer<'static>>,
        private: rustls_pki_types::PrivateKeyDer<'static>,
        pin: String,
    ) -> Result<Tls, String> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| format!("证书与私钥不符 / the certificate and key do not go together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)), pin })
    }
}

/// [`serve`], terminating TLS with `tls` when given.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    tls: Option<Tls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::clone(&state.limits);
    let app = crate::router(state);
    let connections = Arc::new(Connections::default());
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let (closing, closing_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was taken:
                // pause rather than spin, and keep serving the connections already open.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match connections.take(peer.ip(), &limits) {
            Some(slot) => {
                let (app, limits, closing, tls) = (app.clone(), Arc::clone(&limits), closing_rx.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, peer, app, &limits, closing).await,
                        Some(tls) => {
                            // The handshake, too, has the header timeout to finish in.
                            let handshake = tokio::time::timeout(limits.header_timeout, tls.acceptor.accept(stream));
                            match handshake.await {
                                Ok(Ok(stream)) => serve_connection(stream, peer, app, &limits, closing).await,
                                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                    }
                    drop(slot);
                });
            }
            None => {
                if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                    let (retry_after, wait, tls) = (limits.retry_after_secs, limits.header_timeout, tls.clone());
                    tokio::spawn(async move {
                        match tls {
                            None => refuse(stream, retry_after).await,
                            Some(tls) => {
                                if let Ok(Ok(stream)) = tokio::time::timeout(wait, tls.acceptor.accept(stream)).await {
                                    refuse(stream, retry_after).await;
                                }
                            }
                        }
                        drop(permit);
                    });
                }
            }
        }
    }
    closing.send_replace(true);
    drop(listener);
    connections.all_closed().await;
    Ok(())
}

/// Serves one connection (plain TCP, or TLS over it) until the client closes it, it idles
/// past the header timeout, or the server shuts down.
pub async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: &Limits,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut shutting = *closing.borrow();
    if shutting {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended");
                }
                return;
            }
            _ = closing.changed(), if !shutting => {
                shutting = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection over the limits `503` with a retry hint, then closes it.
async fn refuse<I: AsyncRead + AsyncWrite + Unpin>(mut io: I, retry_after: u32) {
    let body = serde_json::to_string(&ErrorBody {
        code: codes::BUSY.to_owned(),
        message: format!(
            "服务器繁忙，请 {retry_after} 秒后重试 / the server is serving as many connections as it can; retry in {retry_after} seconds"
        ),
    })
    .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {retry_after}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let answer = async {
        // Wait for the request's head (a client may not read an answer to a request it has
        // not sent yet), then answer and close.
        let mut seen = Vec::with_capacity(1024);
        let mut buffer = [0u8; 1024];
        while seen.len() < 16 * 1024 && !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = io.read(&mut buffer).await?;
            if n == 0 {
                return Ok(());
            }
            seen.extend_from_slice(&buffer[..n]);
        }
        io.write_all(head.as_bytes()).await?;
        io.write_all(body.as_bytes()).await?;
        io.shutdown().await?;
        // Take what the client already sent, so closing does not reset the connection
        // before it has read the answer.
        let mut sink = [0u8; 4096];
        while io.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}
