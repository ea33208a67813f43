//! The network of one open workspace: the relay connection, a link to each
//! peer, and the engine's sync sessions running over them.
//!
//! Each peer is reached directly (WebRTC data channel) when the network
//! allows, and through the relay otherwise (venue Wi-Fi often isolates
//! clients): sealed end to end with a key from the workspace secret, so the
//! relay learns nothing. The direct path is retried while the relay carries
//! the traffic.
//!
//! **Invariants:**
//! - No sync frame is read from, or sent on, a link before the peer's hello
//!   proved that it knows the workspace secret and that nobody sits between
//!   us (the hello binds this very channel).
//! - One sync session per peer actor: a newer link to the same actor
//!   replaces the older one.

mod admission;
mod direct;
mod enroll;
mod signaling;
mod status;
mod warm_up;

pub use admission::JoinRequest;
pub use enroll::{Asking, EnrollConfig, EnrollState, Enrollment};
pub use signaling::RelayState;
pub use status::{PathShown, PeerStatus, SyncShown};

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::deflate::{deflate_frame, inflate_frame};
use openprod_core::identity::{ActorId, Identity};
use openprod_core::ids::WorkspaceId;
use openprod_core::sync::{
    ChannelBinding, Output, PeerId, Reassembler, SealError, SealedChannel, SyncEvent, WorkspaceSecret, open_hello,
    room_name, seal_hello, split,
};

use crate::device::{BrowserEntropy, now_ms, reserve_heap, sleep_ms, yield_to_browser};
use crate::driver::Driver;
use direct::{DirectEvent, DirectLink};
use signaling::{PeerSignal, RelayPeer, Signaling, SignalingEvent};

/// Without a direct link by then, the relay carries the traffic.
const FALLBACK_AFTER_MS: u64 = 2_500;
/// A failed direct attempt is tried again after this long, twice as long
/// after each further failure in a row, up to [`DIRECT_RETRY_MAX_MS`]: a
/// link lost to a moment's trouble on the network comes back in seconds,
/// while a pair that cannot connect directly stays with the relay.
const DIRECT_RETRY_FIRST_MS: u64 = 2_000;
const DIRECT_RETRY_MAX_MS: u64 = 20_000;
/// A direct attempt not proven by then counts as failed.
const DIRECT_TIMEOUT_MS: u64 = 10_000;
/// How often the sessions hear the time pass.
const TICK_MS: i32 = 1_000;
/// Chunks on the data channel: large enough for throughput, under every
/// browser's message-size limit.
const DIRECT_CHUNK: usize = 64 * 1024;
/// The send buffer is filled up to this, then refilled as it drains.
const HIGH_WATER: u32 = 1024 * 1024;
/// Largest whole message accepted from a peer (a batch of bundles).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// What travels on a link, after its first byte.
mod kind {
    pub const HELLO: u8 = 1;
    pub const SYNC: u8 = 2;
    /// A sync frame, deflated: batches of bundles shrink by about half.
    pub const SYNC_DEFLATED: u8 = 3;
}

/// A catch-up of this many bundles or more has room made for it in the heap
/// at its start ([`reserve_heap`]).
const RESERVE_FROM_BUNDLES: u64 = 5_000;
/// Heap a received bundle takes, kept low: a 100,000-operation workspace of
/// 80,000 bundles holds about 100 MB once caught up (W5 in the README's
/// comparison), 1.25 KB a bundle.
const HEAP_PER_BUNDLE: u64 = 1024;
/// However many bundles a peer announces.
const MAX_RESERVED: u64 = 512 * 1024 * 1024;

/// Everything the network needs to know about this workspace and device.
pub struct MeshConfig {
    pub relay_url: String,
    pub workspace: WorkspaceId,
    pub secret: WorkspaceSecret,
    pub identity: Identity,
    pub display_name: String,
    pub ice_servers: Vec<crate::settings::IceServer>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Direct,
    Relayed,
}

/// One path to a peer: reassembly, the outgoing queue, and whether the
/// peer's hello on it was accepted.
struct Wire {
    reassembler: Reassembler,
    outbox: VecDeque<Vec<u8>>,
    authenticated: bool,
}

impl Wire {
    fn new() -> Wire {
        Wire { reassembler: Reassembler::new(MAX_MESSAGE), outbox: VecDeque::new(), authenticated: false }
    }
}

struct Relayed {
    local_nonce: [u8; 16],
    /// Known once the other side answered; then the channel is sealed.
    sealed: Option<SealedChannel>,
    remote_nonce: Option<[u8; 16]>,
    wire: Wire,
    /// When this session began: one not proven in time starts over.
    since_ms: u64,
}

struct Remote {
    /// The relay's current name for it; `None` once it left the relay (a
    /// direct link may outlive that).
    relay_peer: Option<RelayPeer>,
    sync_peer: PeerId,
    direct: Option<(DirectLink, Wire)>,
    /// The last direct attempt this side knows of (either side may start one).
    attempt: u32,
    direct_retry_at: Option<u64>,
    /// Direct attempts failed since the last that proved itself.
    direct_failures: u32,
    /// When the current direct attempt began.
    direct_since_ms: u64,
    relayed: Option<Relayed>,
    since_ms: u64,
    actor: Option<ActorId>,
    name: Option<String>,
    session: bool,
    status: status::Counters,
}

impl Remote {
    fn retry_direct_later(&mut self) {
        self.direct_retry_at = Some(now_ms() + direct_retry_delay_ms(self.direct_failures));
        self.direct_failures = self.direct_failures.saturating_add(1);
    }
}

/// How long to wait before trying a direct link again after `failures`
/// failed attempts in a row (the one just failed not counted).
fn direct_retry_delay_ms(failures: u32) -> u64 {
    DIRECT_RETRY_FIRST_MS.saturating_mul(1 << failures.min(16)).min(DIRECT_RETRY_MAX_MS)
}

struct Inner {
    driver: Driver,
    config: MeshConfig,
    signaling: RefCell<Option<Signaling>>,
    me: Cell<Option<RelayPeer>>,
    remotes: RefCell<BTreeMap<PeerId, Remote>>,
    next_peer: Cell<u64>,
    stopped: Cell<bool>,
    peers: RwSignal<Vec<PeerStatus>>,
    relay: RwSignal<RelayState>,
    admissions: RefCell<admission::Admissions>,
    join_requests: RwSignal<Vec<JoinRequest>>,
}

/// The network of the open workspace; dropping the last clone stops it.
#[derive(Clone)]
pub struct Mesh {
    inner: Rc<Inner>,
}

impl Mesh {
    /// Connects to the relay and starts syncing with whoever is there.
    /// `None` if the workspace cannot take part (its stored data is damaged).
    pub fn start(driver: Driver, config: MeshConfig) -> Option<Mesh> {
        let inner = Rc::new(Inner {
            driver,
            config,
            signaling: RefCell::default(),
            me: Cell::new(None),
            remotes: RefCell::default(),
            next_peer: Cell::new(1),
            stopped: Cell::new(false),
            peers: RwSignal::new(Vec::new()),
            relay: RwSignal::new(RelayState::Connecting),
            admissions: RefCell::default(),
            join_requests: RwSignal::new(Vec::new()),
        });
        let mesh = Mesh { inner };
        if !mesh.connect() {
            return None;
        }
        spawn_local(warm_up::compile_sync_path());
        let inner = mesh.inner.clone();
        let weak = Rc::downgrade(&inner);
        spawn_local(async move {
            loop {
                sleep_ms(TICK_MS).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.stopped.get() {
                    return;
                }
                Mesh { inner }.tick();
            }
        });
        Some(Mesh { inner })
    }

    pub fn peers(&self) -> ReadSignal<Vec<PeerStatus>> {
        self.inner.peers.read_only()
    }

    pub fn relay_state(&self) -> ReadSignal<RelayState> {
        self.inner.relay.read_only()
    }

    /// Attaches to the engine and connects to the relay.
    fn connect(&self) -> bool {
        let weak = Rc::downgrade(&self.inner);
        let sink = Rc::new(move |outputs: Vec<Output>| {
            if let Some(inner) = weak.upgrade() {
                Mesh { inner }.sync_output(outputs);
            }
        });
        if !self.inner.driver.attach_sync(sink) {
            return false;
        }
        let weak = Rc::downgrade(&self.inner);
        let room = room_name(self.inner.config.workspace);
        let signaling = Signaling::start(self.inner.config.relay_url.clone(), room, move |event| {
            if let Some(inner) = weak.upgrade() {
                Mesh { inner }.on_signaling(event);
            }
        });
        self.inner.relay.set(RelayState::Connecting);
        *self.inner.signaling.borrow_mut() = Some(signaling);
        true
    }

    /// Closes every link and the relay connection; edits stay on this
    /// device until [`Mesh::resume`].
    fn disconnect(&self) {
        self.inner.driver.detach_sync();
        self.inner.remotes.borrow_mut().clear();
        self.inner.signaling.borrow_mut().take();
        self.inner.me.set(None);
        self.refresh_status();
    }

    /// Works alone for a while (say, to rehearse changes privately).
    pub fn pause(&self) {
        if self.inner.signaling.borrow().is_some() {
            self.disconnect();
            self.inner.relay.set(RelayState::Paused);
        }
    }

    pub fn resume(&self) {
        if self.inner.signaling.borrow().is_none() && !self.inner.stopped.get() {
            self.connect();
        }
    }

    /// For good: the workspace is being closed.
    pub fn stop(&self) {
        if !self.inner.stopped.replace(true) {
            self.disconnect();
        }
    }

    fn signal(&self, to: RelayPeer, signal: &PeerSignal) {
        if let Some(signaling) = self.inner.signaling.borrow().as_ref() {
            signaling.signal(to, signal);
        }
    }

    // ----- the relay -----

    fn on_signaling(&self, event: SignalingEvent) {
        match event {
            SignalingEvent::Joined { me, present } => {
                self.inner.me.set(Some(me));
                self.inner.relay.set(RelayState::Connected);
                for peer in present {
                    self.remote_for(peer);
                }
            }
            SignalingEvent::PeerJoined(peer) => {
                self.remote_for(peer);
            }
            SignalingEvent::PeerLeft(peer) => self.relay_peer_gone(peer),
            SignalingEvent::Signal { from, signal } => self.on_peer_signal(from, signal),
            SignalingEvent::Relayed { from, payload } => self.on_relayed(from, &payload),
            SignalingEvent::Lost { reason } => {
                self.inner.me.set(None);
                self.inner.relay.set(RelayState::Retrying { reason });
                // Every relay name is void now; direct links carry on.
                let gone: Vec<RelayPeer> =
                    self.inner.remotes.borrow().values().filter_map(|remote| remote.relay_peer).collect();
                for peer in gone {
                    self.relay_peer_gone(peer);
                }
            }
            SignalingEvent::Refused { code, message } => {
                leptos::logging::warn!("the relay refused a message ({code}): {message}");
            }
        }
        self.refresh_status();
    }

    /// The remote the relay calls `relay_peer`, made on first sight.
    fn remote_for(&self, relay_peer: RelayPeer) -> PeerId {
        if let Some((id, _)) =
            self.inner.remotes.borrow().iter().find(|(_, remote)| remote.relay_peer == Some(relay_peer))
        {
            return *id;
        }
        let id = PeerId(self.inner.next_peer.replace(self.inner.next_peer.get() + 1));
        let remote = Remote {
            relay_peer: Some(relay_peer),
            sync_peer: id,
            direct: None,
            attempt: 0,
            direct_retry_at: None,
            direct_failures: 0,
            direct_since_ms: 0,
            relayed: None,
            since_ms: now_ms(),
            actor: None,
            name: None,
            session: false,
            status: status::Counters::default(),
        };
        self.inner.remotes.borrow_mut().insert(id, remote);
        // Both see each other at once: only one side offers first.
        self.start_direct(id, 1, !self.polite_towards(relay_peer));
        id
    }

    fn relay_peer_gone(&self, relay_peer: RelayPeer) {
        self.forget_asker(relay_peer);
        let Some(id) = self.find(|remote| remote.relay_peer == Some(relay_peer)) else { return };
        let keep = {
            let mut remotes = self.inner.remotes.borrow_mut();
            let remote = remotes.get_mut(&id).expect("found just above");
            remote.relay_peer = None;
            remote.relayed = None;
            remote.direct.as_ref().is_some_and(|(link, wire)| link.is_open() && wire.authenticated)
        };
        if !keep {
            self.forget(id);
        }
    }

    fn forget(&self, id: PeerId) {
        if self.inner.remotes.borrow_mut().remove(&id).is_some() {
            self.inner.driver.sync_disconnect(id);
        }
    }

    fn find(&self, test: impl Fn(&Remote) -> bool) -> Option<PeerId> {
        self.inner.remotes.borrow().iter().find(|(_, remote)| test(remote)).map(|(id, _)| *id)
    }

    fn polite_towards(&self, relay_peer: RelayPeer) -> bool {
        self.inner.me.get().is_some_and(|me| me > relay_peer)
    }

    fn on_peer_signal(&self, from: RelayPeer, signal: PeerSignal) {
        match signal {
            // From a device that is not a member yet: no link is made to it.
            PeerSignal::Enroll { message } => self.on_enroll(from, &message),
            PeerSignal::Description { attempt, .. } | PeerSignal::Candidate { attempt, .. } => {
                let id = self.remote_for(from);
                let current = self.inner.remotes.borrow().get(&id).map_or(0, |remote| remote.attempt);
                if attempt > current {
                    self.start_direct(id, attempt, false);
                }
                let remotes = self.inner.remotes.borrow();
                if let Some((link, _)) = remotes.get(&id).and_then(|remote| remote.direct.as_ref())
                    && link.attempt() == attempt
                {
                    link.on_signal(signal);
                }
            }
            PeerSignal::RelayNonce { nonce, reply } => {
                let id = self.remote_for(from);
                self.on_relay_nonce(id, from, &nonce, reply);
            }
        }
    }

    // ----- the direct path -----

    /// Starts direct attempt `attempt`; `offer`: this side makes the offer.
    fn start_direct(&self, id: PeerId, attempt: u32, offer: bool) {
        let Some(relay_peer) = self.inner.remotes.borrow().get(&id).and_then(|remote| remote.relay_peer) else {
            return;
        };
        let weak = Rc::downgrade(&self.inner);
        let polite = self.polite_towards(relay_peer);
        let link = DirectLink::start(attempt, polite, offer, &self.inner.config.ice_servers, move |event| {
            if let Some(inner) = weak.upgrade() {
                Mesh { inner }.on_direct(id, attempt, event);
            }
        });
        let mut remotes = self.inner.remotes.borrow_mut();
        let Some(remote) = remotes.get_mut(&id) else { return };
        remote.attempt = attempt;
        remote.direct_retry_at = None;
        remote.direct_since_ms = now_ms();
        match link {
            Ok(link) => remote.direct = Some((link, Wire::new())),
            Err(error) => {
                leptos::logging::warn!("{error}");
                remote.direct = None;
                remote.retry_direct_later();
            }
        }
    }

    fn on_direct(&self, id: PeerId, attempt: u32, event: DirectEvent) {
        let current = self
            .inner
            .remotes
            .borrow()
            .get(&id)
            .and_then(|remote| remote.direct.as_ref().map(|(link, _)| link.attempt()));
        if current != Some(attempt) {
            return; // an attempt since replaced
        }
        match event {
            DirectEvent::Signal(signal) => {
                let relay_peer = self.inner.remotes.borrow().get(&id).and_then(|remote| remote.relay_peer);
                if let Some(relay_peer) = relay_peer {
                    self.signal(relay_peer, &signal);
                }
            }
            DirectEvent::Open => {
                let binding = self
                    .with_remote(id, |remote| remote.direct.as_ref().and_then(|(link, _)| link.binding()))
                    .flatten();
                match binding {
                    Some(binding) => self.send_hello(id, Path::Direct, &binding),
                    None => self.direct_failed(id, "the connection opened without its certificates".into()),
                }
            }
            DirectEvent::Chunk(chunk) => self.on_chunk(id, Path::Direct, &chunk),
            DirectEvent::Writable => self.pump_direct(id),
            DirectEvent::Failed(reason) => self.direct_failed(id, reason),
        }
    }

    fn direct_failed(&self, id: PeerId, reason: String) {
        leptos::logging::log!("direct link to peer {} closed: {reason}", id.0);
        let orphaned = {
            let mut remotes = self.inner.remotes.borrow_mut();
            let Some(remote) = remotes.get_mut(&id) else { return };
            remote.direct = None;
            remote.retry_direct_later();
            remote.relay_peer.is_none()
        };
        if orphaned {
            self.forget(id);
        }
        self.refresh_status();
    }

    fn pump_direct(&self, id: PeerId) {
        let mut remotes = self.inner.remotes.borrow_mut();
        let Some(remote) = remotes.get_mut(&id) else { return };
        let Some((link, wire)) = remote.direct.as_mut() else { return };
        while link.buffered() < HIGH_WATER {
            let Some(chunk) = wire.outbox.pop_front() else { break };
            if !link.send(&chunk) {
                wire.outbox.push_front(chunk);
                break;
            }
            remote.status.bytes_out += chunk.len() as u64;
        }
    }

    // ----- the relayed path -----

    fn start_relayed(&self, id: PeerId) {
        let mut nonce = [0u8; 16];
        openprod_core::entropy::Entropy::fill(&mut BrowserEntropy, &mut nonce);
        let relay_peer = {
            let mut remotes = self.inner.remotes.borrow_mut();
            let Some(remote) = remotes.get_mut(&id) else { return };
            let Some(relay_peer) = remote.relay_peer else { return };
            remote.relayed = Some(Relayed {
                local_nonce: nonce,
                sealed: None,
                remote_nonce: None,
                wire: Wire::new(),
                since_ms: now_ms(),
            });
            relay_peer
        };
        self.signal(relay_peer, &PeerSignal::RelayNonce { nonce: hex::encode(nonce), reply: false });
    }

    fn on_relay_nonce(&self, id: PeerId, from: RelayPeer, nonce: &str, reply: bool) {
        let Some(remote_nonce) = hex::decode(nonce).ok().and_then(|bytes| <[u8; 16]>::try_from(bytes).ok()) else {
            return leptos::logging::warn!("peer {from} sent an unreadable session nonce");
        };
        let polite = self.polite_towards(from);
        let answer = {
            let mut remotes = self.inner.remotes.borrow_mut();
            let Some(remote) = remotes.get_mut(&id) else { return };
            let waiting = remote.relayed.as_ref().is_some_and(|relayed| relayed.remote_nonce.is_none());
            if reply {
                // The answer to our nonce: the session is set.
                let Some(relayed) = remote.relayed.as_mut().filter(|relayed| relayed.remote_nonce.is_none()) else {
                    return;
                };
                relayed.remote_nonce = Some(remote_nonce);
                relayed.sealed = Some(SealedChannel::new(&self.inner.config.secret, relayed.local_nonce, remote_nonce));
                None
            } else if waiting && !polite {
                return; // both started at once: the polite side answers ours
            } else {
                let mut local_nonce = [0u8; 16];
                openprod_core::entropy::Entropy::fill(&mut BrowserEntropy, &mut local_nonce);
                let sealed = SealedChannel::new(&self.inner.config.secret, local_nonce, remote_nonce);
                remote.relayed = Some(Relayed {
                    local_nonce,
                    sealed: Some(sealed),
                    remote_nonce: Some(remote_nonce),
                    wire: Wire::new(),
                    since_ms: now_ms(),
                });
                Some(local_nonce)
            }
        };
        if let Some(local_nonce) = answer {
            self.signal(from, &PeerSignal::RelayNonce { nonce: hex::encode(local_nonce), reply: true });
        }
        let binding = self.with_remote(id, |remote| {
            remote.relayed.as_ref().and_then(|relayed| {
                Some(ChannelBinding::Relayed { local_nonce: relayed.local_nonce, remote_nonce: relayed.remote_nonce? })
            })
        });
        if let Some(Some(binding)) = binding {
            self.send_hello(id, Path::Relayed, &binding);
        }
    }

    fn on_relayed(&self, from: RelayPeer, sealed: &[u8]) {
        let Some(id) = self.find(|remote| remote.relay_peer == Some(from)) else { return };
        let opened = self.with_remote(id, |remote| {
            remote.relayed.as_mut().and_then(|relayed| relayed.sealed.as_mut()).map(|channel| channel.open(sealed))
        });
        match opened.flatten() {
            Some(Ok(chunk)) => self.on_chunk(id, Path::Relayed, &chunk),
            // The relay dropped a frame (a peer too slow, a rate limit): the
            // sealed session cannot skip it, so a fresh one starts, and the
            // sync session's hello recovers what was lost.
            Some(Err(SealError::OutOfOrder { .. })) => self.start_relayed(id),
            // Forged or damaged on the way: dropped, and said.
            Some(Err(error)) => leptos::logging::warn!("a relayed frame from peer {from} was refused: {error}"),
            None => {}
        }
    }

    // ----- both paths -----

    fn with_remote<R>(&self, id: PeerId, work: impl FnOnce(&mut Remote) -> R) -> Option<R> {
        self.inner.remotes.borrow_mut().get_mut(&id).map(work)
    }

    fn send_hello(&self, id: PeerId, path: Path, binding: &ChannelBinding) {
        let config = &self.inner.config;
        let hello = seal_hello(&config.identity, &config.display_name, config.workspace, &config.secret, binding);
        self.send_on(id, path, kind::HELLO, &hello);
    }

    /// Splits one message into chunks on `path` and sends what fits now.
    fn send_on(&self, id: PeerId, path: Path, kind: u8, body: &[u8]) {
        let deflated = if kind == kind::SYNC { deflate_frame(body) } else { None };
        let (kind, body) = match &deflated {
            Some(deflated) => (kind::SYNC_DEFLATED, deflated.as_slice()),
            None => (kind, body),
        };
        let mut message = Vec::with_capacity(body.len() + 1);
        message.push(kind);
        message.extend_from_slice(body);
        match path {
            Path::Direct => {
                self.with_remote(id, |remote| {
                    if let Some((_, wire)) = remote.direct.as_mut() {
                        wire.outbox.extend(split(&message, DIRECT_CHUNK));
                    }
                });
                self.pump_direct(id);
            }
            Path::Relayed => {
                let signaling = self.inner.signaling.borrow();
                let Some(signaling) = signaling.as_ref() else { return };
                // Room for the seal's counter and tag.
                let chunk_size = signaling.max_relayed_payload().saturating_sub(32).max(1024);
                let mut remotes = self.inner.remotes.borrow_mut();
                let Some(remote) = remotes.get_mut(&id) else { return };
                let Some(relay_peer) = remote.relay_peer else { return };
                let Some(channel) = remote.relayed.as_mut().and_then(|relayed| relayed.sealed.as_mut()) else { return };
                for chunk in split(&message, chunk_size) {
                    let sealed = channel.seal(&chunk);
                    remote.status.bytes_out += sealed.len() as u64;
                    signaling.relay(relay_peer, &sealed);
                }
            }
        }
    }

    fn on_chunk(&self, id: PeerId, path: Path, chunk: &[u8]) {
        let message = self.with_remote(id, |remote| {
            remote.status.bytes_in += chunk.len() as u64;
            remote.status.last_seen_ms = now_ms();
            let wire = match path {
                Path::Direct => remote.direct.as_mut().map(|(_, wire)| wire),
                Path::Relayed => remote.relayed.as_mut().map(|relayed| &mut relayed.wire),
            }?;
            Some(wire.reassembler.push(chunk))
        });
        let message = match message.flatten() {
            Some(Ok(Some(message))) => message,
            Some(Ok(None)) | None => return,
            Some(Err(error)) => return leptos::logging::warn!("a message from peer {} was dropped: {error}", id.0),
        };
        let Some((&kind, body)) = message.split_first() else { return };
        match kind {
            kind::HELLO => self.on_hello(id, path, body),
            kind::SYNC | kind::SYNC_DEFLATED if !self.authenticated(id, path) => {
                leptos::logging::warn!("peer {} sent data before proving it belongs; dropped", id.0)
            }
            kind::SYNC => self.inner.driver.sync_frame(id, body),
            // Bounded like any message, so a small frame cannot inflate without end.
            kind::SYNC_DEFLATED => match inflate_frame(body, MAX_MESSAGE) {
                Ok(frame) => self.inner.driver.sync_frame(id, &frame),
                Err(error) => leptos::logging::warn!("a compressed frame from peer {} was dropped: {error}", id.0),
            },
            other => leptos::logging::warn!("peer {} sent a message of unknown kind {other}; dropped", id.0),
        }
    }

    fn authenticated(&self, id: PeerId, path: Path) -> bool {
        self.with_remote(id, |remote| match path {
            Path::Direct => remote.direct.as_ref().is_some_and(|(_, wire)| wire.authenticated),
            Path::Relayed => remote.relayed.as_ref().is_some_and(|relayed| relayed.wire.authenticated),
        })
        .unwrap_or(false)
    }

    fn on_hello(&self, id: PeerId, path: Path, hello: &[u8]) {
        let binding = self.with_remote(id, |remote| match path {
            Path::Direct => remote.direct.as_ref().and_then(|(link, _)| link.binding()),
            Path::Relayed => remote.relayed.as_ref().and_then(|relayed| {
                Some(ChannelBinding::Relayed { local_nonce: relayed.local_nonce, remote_nonce: relayed.remote_nonce? })
            }),
        });
        let Some(Some(binding)) = binding else { return };
        let config = &self.inner.config;
        let introduction = match open_hello(hello, config.workspace, &config.secret, &binding) {
            Ok(introduction) => introduction,
            Err(error) => {
                // The link stays unproven: a direct one is closed, a sealed
                // one starts over only when it counts as stalled, so a peer
                // with a wrong secret is not asked again every second.
                self.with_remote(id, |remote| {
                    remote.status.refused = Some(error.to_string());
                    if path == Path::Direct {
                        remote.direct = None;
                    }
                });
                return self.refresh_status();
            }
        };
        // The same person through an older link (say, from before the relay
        // restarted): the newer link takes over its session.
        let older = self.find(|remote| remote.sync_peer != id && remote.actor == Some(introduction.actor));
        if let Some(older) = older {
            self.forget(older);
        }
        self.with_remote(id, |remote| {
            match path {
                Path::Direct => {
                    remote.direct.iter_mut().for_each(|(_, wire)| wire.authenticated = true);
                    remote.direct_failures = 0;
                }
                Path::Relayed => remote.relayed.iter_mut().for_each(|relayed| relayed.wire.authenticated = true),
            }
            remote.actor = Some(introduction.actor);
            remote.name = Some(introduction.display_name.clone());
            remote.status.refused = None;
            remote.session = true;
        });
        self.admit(introduction.actor, &introduction.display_name);
        // A new session on every proven link: its hellos exchange vectors,
        // so whatever a dropped link lost is sent again at once.
        self.inner.driver.sync_connect(id);
        self.refresh_status();
    }

    /// Open join mode: knowing the secret is admission. A member records it
    /// as a signed roster operation, so every peer can check it.
    fn admit(&self, actor: ActorId, name: &str) {
        let driver = self.inner.driver;
        let (member, known) = driver.peek(|workspace| {
            let state = workspace.state();
            (state.display_name(&workspace.actor()).is_some(), state.display_name(&actor).is_some())
        });
        if member && !known {
            if let Err(error) = driver.edit(|change| {
                change.admit_actor(actor, name);
                Ok(())
            }) {
                leptos::logging::warn!("could not admit {name}: {error}");
            }
        }
    }

    /// The engine's output: frames go on the best authenticated path.
    fn sync_output(&self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { peer, frame } => {
                    let path = self.with_remote(peer, |remote| {
                        if remote.direct.as_ref().is_some_and(|(link, wire)| wire.authenticated && link.is_open()) {
                            Some(Path::Direct)
                        } else if remote.relayed.as_ref().is_some_and(|relayed| relayed.wire.authenticated) {
                            Some(Path::Relayed)
                        } else {
                            None
                        }
                    });
                    if let Some(Some(path)) = path {
                        self.send_on(peer, path, kind::SYNC, &frame);
                    }
                }
                Output::Close { peer, reason } => {
                    self.with_remote(peer, |remote| remote.status.refused = Some(reason));
                    self.inner.driver.sync_disconnect(peer);
                    self.with_remote(peer, |remote| {
                        remote.session = false;
                        remote.direct = None;
                        remote.relayed = None;
                        // Refused by the other side: no quick retry.
                        remote.direct_retry_at = Some(now_ms() + DIRECT_RETRY_MAX_MS);
                    });
                }
                Output::Event(event) => self.on_sync_event(event),
                Output::Persist { .. } => unreachable!("the driver performs persist requests itself"),
            }
        }
    }

    fn on_sync_event(&self, event: SyncEvent) {
        match event {
            SyncEvent::Progress { peer, received, remaining } => {
                // Only what is applied unsettles agreement: copies of bundles
                // held already (common in a mesh) change nothing.
                let starting = self.with_remote(peer, |remote| {
                    let starting = remote.status.catching_up.is_none();
                    remote.status.catching_up = (remaining > 0).then_some((received, remaining));
                    starting
                });
                if starting == Some(true) && remaining >= RESERVE_FROM_BUNDLES {
                    let bytes = remaining.saturating_mul(HEAP_PER_BUNDLE).min(MAX_RESERVED) as usize;
                    // After this batch's task: the reservation may set off a
                    // garbage collection, better in a task of its own.
                    spawn_local(async move {
                        yield_to_browser().await;
                        reserve_heap(bytes);
                    });
                }
            }
            SyncEvent::StateConfirmed { peer, .. } => {
                self.with_remote(peer, |remote| remote.status.confirmed_at = Some(now_ms()));
            }
            SyncEvent::StateMismatch { peer, .. } => {
                self.with_remote(peer, |remote| {
                    remote.status.refused = Some("same history, different result: please report this".into())
                });
            }
            SyncEvent::SessionRefused { peer, reason } => {
                self.with_remote(peer, |remote| remote.status.refused = Some(reason));
            }
            SyncEvent::Quarantined(quarantined) => {
                leptos::logging::warn!(
                    "a bundle from peer {} was set aside: {}",
                    quarantined.from.0,
                    quarantined.reason
                );
            }
            SyncEvent::Unreadable { peer, reason } => leptos::logging::warn!("peer {}: {reason}", peer.0),
            SyncEvent::RefusedByPeer { detail, .. } => {
                leptos::logging::warn!("a peer refused one of our changes: {detail}")
            }
            SyncEvent::Applied { peer, .. } => {
                self.with_remote(peer, |remote| remote.status.confirmed_at = None);
            }
            SyncEvent::PeerIdentified { .. } | SyncEvent::Stale { .. } => {}
        }
        self.refresh_status();
    }

    // ----- time -----

    fn tick(&self) {
        self.inner.driver.sync_tick();
        let now = now_ms();
        let (fallbacks, retries, stalled): (Vec<PeerId>, Vec<(PeerId, u32)>, Vec<PeerId>) = {
            let remotes = self.inner.remotes.borrow();
            let direct_up = |remote: &Remote| remote.direct.as_ref().is_some_and(|(_, wire)| wire.authenticated);
            // A sealed session whose nonces or hellos were lost (the relay
            // restarted, a peer reloaded) starts over, like a stalled direct attempt.
            let relayed_stalled = |remote: &Remote| {
                remote.relayed.as_ref().is_some_and(|relayed| {
                    !relayed.wire.authenticated && now.saturating_sub(relayed.since_ms) >= DIRECT_TIMEOUT_MS
                })
            };
            let fallbacks = remotes
                .iter()
                .filter(|(_, remote)| {
                    remote.relay_peer.is_some()
                        && (remote.relayed.is_none() || relayed_stalled(remote))
                        && !direct_up(remote)
                        && now.saturating_sub(remote.since_ms) >= FALLBACK_AFTER_MS
                })
                .map(|(id, _)| *id)
                .collect();
            let retries = remotes
                .iter()
                .filter(|(_, remote)| remote.direct.is_none() && remote.direct_retry_at.is_some_and(|at| now >= at))
                .map(|(id, remote)| (*id, remote.attempt + 1))
                .collect();
            let stalled = remotes
                .iter()
                .filter(|(_, remote)| {
                    remote.direct.as_ref().is_some_and(|(_, wire)| !wire.authenticated)
                        && now.saturating_sub(remote.direct_since_ms) >= DIRECT_TIMEOUT_MS
                })
                .map(|(id, _)| *id)
                .collect();
            (fallbacks, retries, stalled)
        };
        for id in fallbacks {
            self.start_relayed(id);
        }
        for (id, attempt) in retries {
            self.start_direct(id, attempt, true);
        }
        for id in stalled {
            self.direct_failed(id, "no direct connection came up in time".into());
        }
        self.refresh_status();
    }

    fn refresh_status(&self) {
        let statuses: Vec<PeerStatus> = self.inner.remotes.borrow().values().map(status::describe).collect();
        if self.inner.peers.with_untracked(|current| current != &statuses) {
            self.inner.peers.set(statuses);
        }
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    #[wasm_bindgen_test]
    fn a_failed_direct_link_is_tried_again_soon_then_less_and_less_often() {
        let delays: Vec<u64> = (0..7).map(direct_retry_delay_ms).collect();
        assert_eq!(delays, [2_000, 4_000, 8_000, 16_000, 20_000, 20_000, 20_000]);
        assert_eq!(direct_retry_delay_ms(u32::MAX), DIRECT_RETRY_MAX_MS);
    }
}
