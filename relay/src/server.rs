//! HTTP side of the relay: the signaling endpoint, a health check, and the app's files.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::protocol::PeerId;
use crate::rooms::Rooms;
use crate::{Limits, connection};

/// Frames beyond this many times the message limit are cut off by the
/// WebSocket layer itself (the connection closes) before being buffered whole;
/// smaller oversize frames get a polite error instead.
const HARD_CAP_FACTOR: usize = 4;

pub(crate) struct Shared {
    pub limits: Limits,
    pub rooms: Rooms,
    next_peer: AtomicU64,
}

/// A relay bound to its socket, ready to serve.
pub struct Relay {
    listener: TcpListener,
    router: Router,
}

impl Relay {
    /// Binds `addr`; `dist` is the built app's folder (it may not exist yet:
    /// signaling works without it).
    pub async fn bind(addr: SocketAddr, dist: PathBuf, limits: Limits) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(addr).await?;
        let shared = Arc::new(Shared {
            rooms: Rooms::new(limits.max_rooms, limits.max_peers_per_room),
            limits,
            next_peer: AtomicU64::new(1),
        });
        let app_files = ServeDir::new(&dist).fallback(ServeFile::new(dist.join("index.html")));
        let router = Router::new()
            .route("/ws", get(signaling))
            .route("/healthz", get(health))
            .fallback_service(app_files)
            // The service worker keeps the offline copy; the server copy must
            // always be revalidated so that updates are noticed.
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ))
            .layer(middleware::from_fn(service_worker_always_in_full))
            .with_state(shared);
        Ok(Relay { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
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

async fn signaling(upgrade: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    let peer = PeerId(shared.next_peer.fetch_add(1, Ordering::Relaxed));
    let hard_cap = shared.limits.max_message_bytes.saturating_mul(HARD_CAP_FACTOR);
    upgrade
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_failed_upgrade(|error| tracing::warn!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| connection::run(socket, shared, peer))
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
