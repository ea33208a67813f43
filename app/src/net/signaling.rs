//! The connection to the relay: one WebSocket, rejoined by itself after the
//! relay restarts, the Wi-Fi drops or the laptop wakes up.
//!
//! The relay sees only the room name (a hash of the workspace id), the
//! signaling envelopes and, on the fallback path, sealed bytes.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::device::sleep_ms;

/// The relay's name for one connection; it changes on every reconnect.
pub type RelayPeer = u64;

/// What peers tell each other through the relay, opaque to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "kebab-case")]
pub enum PeerSignal {
    /// An SDP offer or answer of direct attempt `attempt`.
    Description {
        attempt: u32,
        offer: bool,
        sdp: String,
    },
    Candidate {
        attempt: u32,
        candidate: String,
        mid: Option<String>,
        line: Option<u16>,
    },
    /// The fallback path: this side's fresh session nonce (hex). `reply`:
    /// an answer to the other side's nonce, not a new session.
    RelayNonce {
        nonce: String,
        reply: bool,
    },
    /// A message of the enrollment exchange (hex), between a device that
    /// asks to be let in and a member.
    Enroll {
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum FromRelay {
    Welcome { peer: RelayPeer, peers: Vec<RelayPeer>, limits: RelayLimits },
    PeerJoined { peer: RelayPeer },
    PeerLeft { peer: RelayPeer },
    Signal { from: RelayPeer, data: serde_json::Value },
    Left,
    Error { code: String, message: String },
}

/// The bounds the relay announced; the fallback path paces itself by them.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RelayLimits {
    pub max_message_bytes: usize,
    pub messages_per_second: u32,
    #[serde(default)]
    pub bytes_per_second: Option<u64>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum ToRelay<'a> {
    Join { room: &'a str },
    Signal { to: RelayPeer, data: &'a PeerSignal },
}

/// What happened on the relay connection.
pub enum SignalingEvent {
    /// In the room (again): who else is there. Every reconnect starts here.
    Joined {
        me: RelayPeer,
        present: Vec<RelayPeer>,
    },
    PeerJoined(RelayPeer),
    PeerLeft(RelayPeer),
    Signal {
        from: RelayPeer,
        signal: PeerSignal,
    },
    /// Sealed bytes on the fallback path.
    Relayed {
        from: RelayPeer,
        payload: Vec<u8>,
    },
    /// The connection dropped; it is retried by itself.
    Lost {
        reason: String,
    },
    /// The relay refused something, in its words.
    Refused {
        code: String,
        message: String,
    },
}

/// How the relay connection is doing, for the peers panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayState {
    Connecting,
    Connected,
    /// Not reachable; the next attempt is on its way.
    Retrying {
        reason: String,
    },
    /// Sync was paused on this device.
    Paused,
}

type Handler = Rc<dyn Fn(SignalingEvent)>;

struct Shared {
    url: String,
    room: String,
    handler: Handler,
    socket: RefCell<Option<WebSocket>>,
    stopped: Cell<bool>,
    /// Consecutive failed attempts, for the back-off.
    failures: Cell<u32>,
    /// Kept alive as long as the socket they serve.
    callbacks: RefCell<Vec<Closure<dyn FnMut(wasm_bindgen::JsValue)>>>,
    limits: Cell<Option<RelayLimits>>,
    /// Relayed frames waiting for the relay's rate limits to let them through.
    outbox: RefCell<VecDeque<Vec<u8>>>,
    pumping: Cell<bool>,
}

/// The relay connection of one open workspace.
pub struct Signaling {
    shared: Rc<Shared>,
}

impl Signaling {
    /// Connects to `url` and joins `room`; `handler` hears every event.
    pub fn start(url: String, room: String, handler: impl Fn(SignalingEvent) + 'static) -> Signaling {
        let shared = Rc::new(Shared {
            url,
            room,
            handler: Rc::new(handler),
            socket: RefCell::default(),
            stopped: Cell::new(false),
            failures: Cell::new(0),
            callbacks: RefCell::default(),
            limits: Cell::new(None),
            outbox: RefCell::default(),
            pumping: Cell::new(false),
        });
        connect(&shared);
        Signaling { shared }
    }

    /// Sends a signal to a peer of the room; dropped while disconnected
    /// (negotiation starts over after a reconnect anyway).
    pub fn signal(&self, to: RelayPeer, signal: &PeerSignal) {
        let text = serde_json::to_string(&ToRelay::Signal { to, data: signal }).expect("signals serialize");
        if let Some(socket) = self.open_socket() {
            let _ = socket.send_with_str(&text);
        }
    }

    /// Queues sealed bytes for a peer, sent through the relay as fast as
    /// its announced limits allow. Dropped if the connection is lost first:
    /// the fallback session then starts over.
    pub fn relay(&self, to: RelayPeer, payload: &[u8]) {
        let mut frame = Vec::with_capacity(8 + payload.len());
        frame.extend_from_slice(&to.to_be_bytes());
        frame.extend_from_slice(payload);
        self.shared.outbox.borrow_mut().push_back(frame);
        if !self.shared.pumping.replace(true) {
            spawn_local(pump(Rc::downgrade(&self.shared)));
        }
    }

    /// Largest payload one relayed frame may carry.
    pub fn max_relayed_payload(&self) -> usize {
        self.shared.limits.get().map_or(16 * 1024, |limits| limits.max_message_bytes.saturating_sub(64))
    }

    fn open_socket(&self) -> Option<WebSocket> {
        open_socket(&self.shared)
    }
}

fn open_socket(shared: &Shared) -> Option<WebSocket> {
    shared.socket.borrow().clone().filter(|socket| socket.ready_state() == WebSocket::OPEN)
}

/// Below the relay's limits, so that signaling messages still fit beside.
const PACE_SHARE: f64 = 0.8;
const PACE_STEP_MS: i32 = 20;
/// More than this waiting in the socket: wait for it to drain first.
const SOCKET_HIGH_WATER: u32 = 1024 * 1024;

/// Sends queued relayed frames within the relay's message and byte rates.
async fn pump(shared: Weak<Shared>) {
    let (mut messages, mut bytes) = (0.0_f64, 0.0_f64);
    loop {
        let Some(shared) = shared.upgrade() else { return };
        let Some(socket) = open_socket(&shared) else {
            shared.outbox.borrow_mut().clear();
            shared.pumping.set(false);
            return;
        };
        let limits = shared.limits.get();
        let message_rate = limits.map_or(50.0, |limits| f64::from(limits.messages_per_second)) * PACE_SHARE;
        let byte_rate =
            limits.and_then(|limits| limits.bytes_per_second).map_or(f64::INFINITY, |rate| rate as f64 * PACE_SHARE);
        let step = f64::from(PACE_STEP_MS) / 1000.0;
        messages = (messages + message_rate * step).min(message_rate.max(1.0));
        bytes = (bytes + byte_rate * step).min(byte_rate.max(1.0));
        while messages >= 1.0 && socket.buffered_amount() < SOCKET_HIGH_WATER {
            let mut outbox = shared.outbox.borrow_mut();
            let Some(frame) = outbox.front() else { break };
            if (frame.len() as f64) > bytes {
                break;
            }
            let frame = outbox.pop_front().expect("looked at just above");
            messages -= 1.0;
            bytes -= frame.len() as f64;
            let _ = socket.send_with_u8_array(&frame);
        }
        if shared.outbox.borrow().is_empty() {
            shared.pumping.set(false);
            return;
        }
        drop(shared);
        sleep_ms(PACE_STEP_MS).await;
    }
}

impl Drop for Signaling {
    fn drop(&mut self) {
        self.shared.stopped.set(true);
        if let Some(socket) = self.shared.socket.borrow_mut().take() {
            clear_handlers(&socket);
            let _ = socket.close();
        }
        self.shared.callbacks.borrow_mut().clear();
    }
}

fn clear_handlers(socket: &WebSocket) {
    socket.set_onopen(None);
    socket.set_onmessage(None);
    socket.set_onclose(None);
    socket.set_onerror(None);
}

fn connect(shared: &Rc<Shared>) {
    if shared.stopped.get() {
        return;
    }
    let socket = match WebSocket::new(&shared.url) {
        Ok(socket) => socket,
        Err(_) => {
            let reason = format!("the relay address {} is not a WebSocket address", shared.url);
            return lost(shared, reason);
        }
    };
    socket.set_binary_type(BinaryType::Arraybuffer);
    let weak = Rc::downgrade(shared);
    let on_open = callback(&weak, |shared, _| {
        let join = serde_json::to_string(&ToRelay::Join { room: &shared.room }).expect("joins serialize");
        if let Some(socket) = shared.socket.borrow().as_ref() {
            let _ = socket.send_with_str(&join);
        }
    });
    let on_message = callback(&weak, |shared, event| {
        let Ok(event) = event.dyn_into::<MessageEvent>() else { return };
        received(shared, event.data());
    });
    let on_close = callback(&weak, |shared, _| lost(shared, "the connection to the relay closed".into()));
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // An error is always followed by a close, which does the retrying.
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    *shared.callbacks.borrow_mut() = vec![on_open, on_message, on_close];
    if let Some(old) = shared.socket.borrow_mut().replace(socket) {
        clear_handlers(&old);
        let _ = old.close();
    }
}

fn callback(
    shared: &Weak<Shared>,
    work: impl Fn(&Rc<Shared>, wasm_bindgen::JsValue) + 'static,
) -> Closure<dyn FnMut(wasm_bindgen::JsValue)> {
    let shared = shared.clone();
    Closure::new(move |event: wasm_bindgen::JsValue| {
        if let Some(shared) = shared.upgrade() {
            work(&shared, event);
        }
    })
}

fn received(shared: &Rc<Shared>, data: wasm_bindgen::JsValue) {
    if let Some(text) = data.as_string() {
        let event = match serde_json::from_str::<FromRelay>(&text) {
            Ok(FromRelay::Welcome { peer, peers, limits }) => {
                shared.failures.set(0);
                shared.limits.set(Some(limits));
                SignalingEvent::Joined { me: peer, present: peers }
            }
            Ok(FromRelay::PeerJoined { peer }) => SignalingEvent::PeerJoined(peer),
            Ok(FromRelay::PeerLeft { peer }) => SignalingEvent::PeerLeft(peer),
            Ok(FromRelay::Signal { from, data }) => match serde_json::from_value(data) {
                Ok(signal) => SignalingEvent::Signal { from, signal },
                // Another peer's garbage costs only that message.
                Err(error) => {
                    return leptos::logging::warn!("an unreadable signal from peer {from} was dropped: {error}");
                }
            },
            Ok(FromRelay::Left) => return,
            Ok(FromRelay::Error { code, message }) => SignalingEvent::Refused { code, message },
            Err(error) => return leptos::logging::warn!("an unreadable message from the relay was dropped: {error}"),
        };
        (shared.handler)(event);
    } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
        let Some((from, payload)) = bytes.split_first_chunk::<8>() else {
            return leptos::logging::warn!("a relayed frame too short to name its sender was dropped");
        };
        (shared.handler)(SignalingEvent::Relayed { from: u64::from_be_bytes(*from), payload: payload.to_vec() });
    }
}

/// Longest wait between attempts: a relay back after a restart is found
/// within this, and a dead one is not hammered.
const MAX_BACKOFF_MS: i32 = 5_000;

fn lost(shared: &Rc<Shared>, reason: String) {
    if shared.stopped.get() {
        return;
    }
    if let Some(old) = shared.socket.borrow_mut().take() {
        clear_handlers(&old);
    }
    (shared.handler)(SignalingEvent::Lost { reason });
    let failures = shared.failures.get();
    shared.failures.set(failures.saturating_add(1));
    let delay = (250 * 2_i32.saturating_pow(failures.min(5))).min(MAX_BACKOFF_MS);
    let weak = Rc::downgrade(shared);
    spawn_local(async move {
        sleep_ms(delay).await;
        if let Some(shared) = weak.upgrade() {
            connect(&shared);
        }
    });
}
