//! HTTP side of the relay: the signaling endpoint, a health check, the app's
//! files and, with the local CA, the CA and the page for trusting it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::listener::{Incoming, Remote};
use crate::local_ca::{LocalCa, server_names};
use crate::protocol::PeerId;
use crate::rooms::Rooms;
use crate::tls::{self, Tls};
use crate::{Limits, connection, trust};

/// Frames beyond this many times the message limit are cut off by the
/// WebSocket layer itself (the connection closes) before being buffered whole;
/// smaller oversize frames get a polite error instead.
const HARD_CAP_FACTOR: usize = 4;

/// Each connection's WebSocket read buffer. The library's default of 128 KiB
/// would cost 64 MiB for 500 mostly idle connections; relayed 64 KiB chunks
/// just take a few reads.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// What a TLS relay still answers over plain HTTP: the health check and,
/// with the local CA, what a device needs before it trusts the CA.
const PLAIN_HTTP_PATHS: &[&str] = &["/healthz"];
const PLAIN_HTTP_PATHS_WITH_LOCAL_CA: &[&str] = &["/healthz", "/trust", "/ca.pem", "/ca.crt"];

pub(crate) struct Shared {
    pub limits: Limits,
    pub rooms: Rooms,
    next_peer: AtomicU64,
}

/// A relay bound to its socket, ready to serve.
pub struct Relay {
    incoming: Incoming,
    router: Router,
    addr: SocketAddr,
    secure: bool,
    local_ca: Option<LocalCaSummary>,
}

/// Where the local CA lives and where devices learn to trust it.
#[derive(Debug, Clone)]
pub struct LocalCaSummary {
    pub dir: PathBuf,
    /// Whether this start created it.
    pub created: bool,
    /// The `/trust` page over plain HTTP, once per address devices can reach.
    pub trust_urls: Vec<String>,
}

#[derive(Debug)]
pub enum BindError {
    Limits(String),
    Listen { addr: SocketAddr, error: std::io::Error },
    Tls(String),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Limits(problem) => f.write_str(problem),
            BindError::Listen { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            BindError::Tls(problem) => f.write_str(problem),
        }
    }
}

impl std::error::Error for BindError {}

impl Relay {
    /// Binds `addr`; `dist` is the built app's folder (it may not exist yet:
    /// signaling works without it).
    pub async fn bind(addr: SocketAddr, dist: PathBuf, limits: Limits, tls: Tls) -> Result<Relay, BindError> {
        limits.check().map_err(BindError::Limits)?;
        let listen_error = |error| BindError::Listen { addr, error };
        let tcp = TcpListener::bind(addr).await.map_err(listen_error)?;
        let addr = tcp.local_addr().map_err(listen_error)?;
        let hosts = reachable_hosts(addr);
        let secure = !matches!(tls, Tls::Off);

        let mut router = Router::new().route("/ws", get(signaling)).route("/healthz", get(health));
        let mut local_ca = None;
        let incoming = match tls {
            Tls::Off => Incoming::plain(tcp),
            Tls::Files { cert, key } => {
                let (chain, key) = tls::read_files(&cert, &key).map_err(BindError::Tls)?;
                Incoming::tls(tcp, tls::server_config(chain, key).map_err(BindError::Tls)?)
            }
            Tls::LocalCa { config_dir } => {
                let ca = LocalCa::load_or_create(&config_dir).map_err(BindError::Tls)?;
                let host_name = gethostname::gethostname().into_string().ok();
                let (ips, names) = server_names(&lan_addresses(addr.ip()), host_name.as_deref());
                let (chain, key) = ca.issue(&ips, &names).map_err(BindError::Tls)?;
                tracing::info!(ca = ca.name(), addresses = ?ips, names = ?names, "issued the server certificate");
                router = router.merge(trust::routes(&ca, &hosts));
                local_ca = Some(LocalCaSummary {
                    dir: ca.dir().to_owned(),
                    created: ca.created(),
                    trust_urls: hosts.iter().map(|host| format!("http://{host}/trust")).collect(),
                });
                Incoming::tls(tcp, tls::server_config(chain, key).map_err(BindError::Tls)?)
            }
        }
        .map_err(listen_error)?;

        let shared = Arc::new(Shared {
            rooms: Rooms::new(limits.max_rooms, limits.max_peers_per_room),
            limits,
            next_peer: AtomicU64::new(1),
        });
        let app_files = ServeDir::new(&dist).fallback(ServeFile::new(dist.join("index.html")));
        let mut router = router
            .fallback_service(app_files)
            // The service worker keeps the offline copy; the server copy must
            // always be revalidated so that updates are noticed.
            .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
            .layer(middleware::from_fn(service_worker_always_in_full));
        if secure {
            let plain_paths = if local_ca.is_some() { PLAIN_HTTP_PATHS_WITH_LOCAL_CA } else { PLAIN_HTTP_PATHS };
            router = router.layer(middleware::from_fn_with_state(plain_paths, plain_http_only_for));
        }
        Ok(Relay { incoming, router: router.with_state(shared), addr, secure, local_ca })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the relay speaks TLS (`https`, `wss`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    pub fn local_ca(&self) -> Option<&LocalCaSummary> {
        self.local_ca.as_ref()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<Remote>();
        axum::serve(self.incoming, service).with_graceful_shutdown(shutdown).await
    }
}

/// `address:port` pairs at which other devices reach the relay (`localhost`
/// when it listens on loopback only).
fn reachable_hosts(addr: SocketAddr) -> Vec<String> {
    let ips = lan_addresses(addr.ip());
    if ips.is_empty() {
        return vec![format!("localhost:{}", addr.port())];
    }
    ips.iter().map(|ip| SocketAddr::new(*ip, addr.port()).to_string()).collect()
}

/// The addresses at which LAN devices reach a relay listening on `ip`.
fn lan_addresses(ip: IpAddr) -> Vec<IpAddr> {
    match ip {
        ip if ip.is_unspecified() => local_addresses(),
        ip if ip.is_loopback() => Vec::new(),
        ip => vec![ip],
    }
}

/// Browsers notice a new app version by comparing the service worker script
/// byte for byte, but a conditional request answered "not modified" skips the
/// comparison — and file times have one-second resolution, so a build
/// published within a second of the last would go unnoticed. The script is
/// small: it is always sent in full, with no validator to revalidate against.
async fn service_worker_always_in_full(mut request: Request, next: Next) -> Response {
    let is_worker = request.uri().path().ends_with("/sw.js");
    if is_worker {
        request.headers_mut().remove(header::IF_MODIFIED_SINCE);
        request.headers_mut().remove(header::IF_NONE_MATCH);
    }
    let mut response = next.run(request).await;
    if is_worker {
        response.headers_mut().remove(header::LAST_MODIFIED);
        response.headers_mut().remove(header::ETAG);
    }
    response
}

/// Over plain HTTP, a TLS relay answers only `paths`; every other request
/// is sent to the same address over https. The redirect is temporary:
/// browsers keep permanent ones, and would still follow it after the relay
/// is restarted without TLS.
async fn plain_http_only_for(State(paths): State<&'static [&'static str]>, request: Request, next: Next) -> Response {
    let secure = request.extensions().get::<ConnectInfo<Remote>>().is_none_or(|info| info.0.secure);
    if secure || paths.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Some(host) = request.headers().get(header::HOST).and_then(|host| host.to_str().ok()) else {
        return (StatusCode::BAD_REQUEST, "This relay speaks https.").into_response();
    };
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
    Redirect::temporary(&format!("https://{host}{path}")).into_response()
}

async fn signaling(
    upgrade: WebSocketUpgrade,
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): ConnectInfo<Remote>,
) -> Response {
    let peer = PeerId(shared.next_peer.fetch_add(1, Ordering::Relaxed));
    let hard_cap = shared.limits.max_message_bytes.saturating_mul(HARD_CAP_FACTOR);
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_failed_upgrade(|error| tracing::warn!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| connection::run(socket, shared, peer, remote))
}

async fn health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "rooms": shared.rooms.room_count(),
        "peers": shared.rooms.peer_count(),
    }))
}

/// This machine's non-loopback IPv4 addresses: where LAN devices can reach the relay.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|interface| interface.ip())
        .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}
