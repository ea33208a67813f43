//! One WebSocket connection: reads client frames, enforces the limits, and
//! writes what the room registry queues for it.
//!
//! Logs say who connected, joined, left, was refused (with the code) and why
//! a connection closed. They never contain what peers send each other.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::listener::Remote;
use crate::outbox::{Frame, outbox};
use crate::protocol::{
    ClientMessage, ErrorCode, PeerId, ServerMessage, parse_binary, relayed_binary, validate_room_name,
};
use crate::rate::{Limited, RateLimit};
use crate::rooms::PeerHandle;
use crate::server::Shared;

/// How long a closing connection waits for the client to acknowledge the close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A flood of refused frames must not become a flood of log lines: at most
/// one refusal per connection is logged in this interval; the others are counted.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Why a connection ended.
#[derive(Debug, Clone, Copy)]
enum End {
    ClientClosed,
    Lost,
    IdleTimeout,
    TooSlow,
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            End::ClientClosed => "closed by the client",
            End::Lost => "connection lost",
            End::IdleTimeout => "idle timeout",
            End::TooSlow => "not reading fast enough",
        }
    }

    /// The close frame the relay sends, when it is the one ending the connection.
    fn close_code(self) -> Option<u16> {
        match self {
            End::ClientClosed | End::Lost => None,
            End::IdleTimeout => Some(close_code::AWAY),
            End::TooSlow => Some(close_code::POLICY),
        }
    }
}

pub async fn run(socket: WebSocket, shared: Arc<Shared>, peer: PeerId, remote: Remote) {
    tracing::info!(peer = peer.0, remote = %remote.addr, secure = remote.secure, "connected");
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = outbox();
    let kick = Arc::new(Notify::new());
    let limits = &shared.limits;
    let mut session = Session {
        rate: RateLimit::new(limits.messages_per_second, limits.bytes_per_second, Instant::now()),
        shared: shared.clone(),
        peer,
        room: None,
        handle: PeerHandle { outbox, kick: kick.clone() },
        refusals: RefusalLog::default(),
        frames_in: 0,
        bytes_in: 0,
    };

    let idle_timeout = shared.limits.idle_timeout;
    // The first ping goes out after one interval, not at once: a fresh
    // connection has just proven itself alive.
    let period = ping_interval(idle_timeout);
    let mut ping = tokio::time::interval_at(Instant::now() + period, period);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();

    let end = loop {
        tokio::select! {
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(_)) | None => break End::Lost,
                };
                last_heard = Instant::now();
                match frame {
                    Message::Text(text) => session.handle_text(text.as_str()),
                    Message::Binary(bytes) => session.handle_binary(&bytes),
                    Message::Close(_) => break End::ClientClosed,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            Some(frame) = queued.recv() => {
                let message = match frame {
                    Frame::Text(text) => Message::Text(text.into()),
                    Frame::Binary(bytes) => Message::Binary(bytes),
                };
                if sink.send(message).await.is_err() {
                    break End::Lost;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle_timeout {
                    break End::IdleTimeout;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break End::Lost;
                }
            }
            _ = kick.notified() => break End::TooSlow,
        }
    };

    session.leave_room();
    tracing::info!(
        peer = peer.0,
        reason = end.reason(),
        frames_in = session.frames_in,
        bytes_in = session.bytes_in,
        unlogged_refusals = session.refusals.unlogged,
        "closed"
    );
    if let Some(code) = end.close_code() {
        let frame = CloseFrame { code, reason: end.reason().into() };
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            // Complete the closing handshake so the client reads our reason
            // rather than a reset connection.
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(frame)) = stream.next().await {
                    if matches!(frame, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
    }
}

fn ping_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 3).max(Duration::from_millis(10))
}

struct Session {
    shared: Arc<Shared>,
    peer: PeerId,
    room: Option<String>,
    handle: PeerHandle,
    rate: RateLimit,
    refusals: RefusalLog,
    frames_in: u64,
    bytes_in: u64,
}

impl Session {
    fn handle_text(&mut self, text: &str) {
        if !self.admit(text.len()) {
            return;
        }
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(problem) => return self.refuse(ErrorCode::Malformed, problem),
        };
        match message {
            ClientMessage::Join { room } => self.join(room),
            ClientMessage::Signal { to, data } => {
                let Some(room) = &self.room else {
                    return self.refuse(ErrorCode::NotInRoom, "join a room before signaling");
                };
                let frame = Frame::Text(ServerMessage::Signal { from: self.peer, data }.to_json());
                if let Err(refusal) = self.shared.rooms.forward(room, to, frame) {
                    self.refuse(refusal.code, refusal.message);
                }
            }
            ClientMessage::Leave => {
                self.leave_room();
                self.reply(ServerMessage::Left.to_json());
            }
        }
    }

    fn handle_binary(&mut self, frame: &[u8]) {
        if !self.admit(frame.len()) {
            return;
        }
        let (to, payload) = match parse_binary(frame) {
            Ok(parts) => parts,
            Err(problem) => return self.refuse(ErrorCode::FrameTooShort, problem),
        };
        let Some(room) = &self.room else {
            return self.refuse(ErrorCode::NotInRoom, "join a room before relaying binary frames");
        };
        let relayed = Frame::Binary(relayed_binary(self.peer, payload));
        if let Err(refusal) = self.shared.rooms.forward(room, to, relayed) {
            self.refuse(refusal.code, refusal.message);
        }
    }

    /// Checks a frame of `len` bytes against the size and rate limits.
    fn admit(&mut self, len: usize) -> bool {
        self.frames_in += 1;
        self.bytes_in += len as u64;
        let limit = self.shared.limits.max_message_bytes;
        if len > limit {
            let message = format!("a message of {len} bytes was refused: the limit is {limit} bytes");
            self.refuse(ErrorCode::MessageTooLarge, message);
            return false;
        }
        match self.rate.admit(len, Instant::now()) {
            Ok(()) => true,
            Err(Limited::Messages) => {
                self.refuse(ErrorCode::RateLimited, "too many messages per second; slow down");
                false
            }
            Err(Limited::Bytes) => {
                self.refuse(ErrorCode::RateLimited, "too many bytes per second; slow down");
                false
            }
        }
    }

    fn join(&mut self, room: String) {
        if let Some(current) = &self.room {
            let message = format!("already in room {current}; leave it first");
            return self.refuse(ErrorCode::AlreadyInRoom, message);
        }
        if let Err(message) = validate_room_name(&room) {
            return self.refuse(ErrorCode::InvalidRoom, message);
        }
        let (peer, limits) = (self.peer, &self.shared.limits);
        let welcome = |peers| ServerMessage::Welcome { peer, room: &room, peers, limits }.to_json();
        match self.shared.rooms.join(&room, peer, self.handle.clone(), welcome) {
            Ok(present) => {
                tracing::info!(peer = peer.0, room = %room, present, "joined");
                self.room = Some(room);
            }
            Err(refusal) => self.refuse(refusal.code, refusal.message),
        }
    }

    fn leave_room(&mut self) {
        if let Some(room) = self.room.take() {
            self.shared.rooms.leave(&room, self.peer);
            tracing::info!(peer = self.peer.0, room = %room, "left");
        }
    }

    fn reply(&self, frame: String) {
        // The connection's own queue: if it is full the peer is not reading,
        // and the kick closes it.
        self.handle.notify(Frame::Text(frame));
    }

    fn refuse(&mut self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        self.refusals.record(self.peer, code, &message);
        self.reply(ServerMessage::error(code, message));
    }
}

/// Logs refusals at most once per [`REFUSAL_LOG_INTERVAL`], counting the rest.
#[derive(Default)]
struct RefusalLog {
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    fn record(&mut self, peer: PeerId, code: ErrorCode, reason: &str) {
        let now = Instant::now();
        if self.logged_at.is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_INTERVAL) {
            self.unlogged += 1;
            return;
        }
        tracing::info!(peer = peer.0, code = %code, reason, unlogged_before = self.unlogged, "refused");
        self.logged_at = Some(now);
        self.unlogged = 0;
    }
}
