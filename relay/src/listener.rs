//! Accepting connections: plain TCP, or TLS that still answers plain HTTP on
//! the same port.
//!
//! A device that does not trust the local CA yet cannot open an https page
//! without a warning, so with TLS on, the first byte of each connection picks
//! the protocol: a TLS handshake record starts with 0x16, an HTTP request
//! with a letter. Which one a request came over is its [`Remote::secure`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

/// First byte of a TLS record that carries a handshake (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A client gets this long to send its first byte and finish the TLS
/// handshake; a silent connection must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections that finished their handshake and wait for the server to take them.
const READY_QUEUE: usize = 64;

pub type Io = Either<TcpStream, TlsStream<TcpStream>>;

/// Who is at the other end of a connection, and whether it speaks TLS.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    pub addr: SocketAddr,
    pub secure: bool,
}

impl Connected<IncomingStream<'_, Incoming>> for Remote {
    fn connect_info(stream: IncomingStream<'_, Incoming>) -> Self {
        *stream.remote_addr()
    }
}

pub struct Incoming {
    local: Remote,
    kind: Kind,
}

enum Kind {
    Plain(TcpListener),
    /// Fed by a task that accepts and runs handshakes concurrently, so one
    /// slow handshake never holds up the connections behind it.
    Tls(mpsc::Receiver<(Io, Remote)>),
}

impl Incoming {
    pub fn plain(tcp: TcpListener) -> io::Result<Self> {
        let local = Remote { addr: tcp.local_addr()?, secure: false };
        Ok(Incoming { local, kind: Kind::Plain(tcp) })
    }

    pub fn tls(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = Remote { addr: tcp.local_addr()?, secure: true };
        let (ready, receiver) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_tls(tcp, TlsAcceptor::from(config), ready));
        Ok(Incoming { local, kind: Kind::Tls(receiver) })
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Io;
    type Addr = Remote;

    async fn accept(&mut self) -> (Io, Remote) {
        match &mut self.kind {
            Kind::Plain(tcp) => loop {
                match TcpListener::accept(tcp).await {
                    Ok((stream, addr)) => {
                        let _ = stream.set_nodelay(true);
                        return (Either::Left(stream), Remote { addr, secure: false });
                    }
                    Err(error) => on_accept_error(error).await,
                }
            },
            Kind::Tls(ready) => match ready.recv().await {
                Some(accepted) => accepted,
                // The accepting task only stops once this receiver is gone.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<Remote> {
        Ok(self.local)
    }
}

async fn accept_tls(tcp: TcpListener, acceptor: TlsAcceptor, ready: mpsc::Sender<(Io, Remote)>) {
    loop {
        let accepted = tokio::select! {
            // The server stopped: release the port.
            _ = ready.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                on_accept_error(error).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, acceptor)).await {
                Ok(Ok(io)) => {
                    let secure = matches!(io, Either::Right(_));
                    let _ = ready.send((io, Remote { addr, secure })).await;
                }
                // Typically a device that does not trust the certificate yet.
                Ok(Err(error)) => tracing::info!(remote = %addr, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(remote = %addr, "TLS handshake timed out"),
            }
        });
    }
}

async fn handshake(stream: TcpStream, acceptor: TlsAcceptor) -> io::Result<Io> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if first[0] == TLS_HANDSHAKE_RECORD {
        Ok(Either::Right(acceptor.accept(stream).await?))
    } else {
        Ok(Either::Left(stream))
    }
}

/// Per-connection failures are the client's business. Anything else (out of
/// file descriptors, most likely) is logged, and accepting pauses for a
/// second so that connections can close, as hyper and axum do.
async fn on_accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "cannot accept connections");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
