//! One WebSocket connection: reads client frames, enforces the limits, and
//! writes what the room registry queues for it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, MissedTickBehavior};

use crate::protocol::{ClientMessage, ErrorCode, PeerId, ServerMessage, validate_room_name};
use crate::rooms::PeerHandle;
use crate::server::Shared;

/// Frames a connection may have queued before it counts as not keeping up.
const OUTBOX_CAPACITY: usize = 256;

/// How long a closing connection waits for the client to acknowledge the close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

pub async fn run(socket: WebSocket, shared: Arc<Shared>, peer: PeerId) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = mpsc::channel::<String>(OUTBOX_CAPACITY);
    let kick = Arc::new(Notify::new());
    let mut session = Session {
        shared: shared.clone(),
        peer,
        room: None,
        handle: PeerHandle { outbox, kick: kick.clone() },
        bucket: TokenBucket::new(shared.limits.messages_per_second, Instant::now()),
    };

    let idle_timeout = shared.limits.idle_timeout;
    let mut ping = tokio::time::interval(ping_interval(idle_timeout));
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();

    let close: Option<(u16, &str)> = loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else { break None };
                last_heard = Instant::now();
                match frame {
                    Message::Text(text) => session.handle_text(text.as_str()),
                    Message::Binary(_) => session.reply_error(
                        ErrorCode::BinaryNotSupported,
                        "the relay accepts JSON text frames only",
                    ),
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            Some(frame) = queued.recv() => {
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break None;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle_timeout {
                    break Some((close_code::AWAY, "idle timeout"));
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
            _ = kick.notified() => break Some((close_code::POLICY, "not reading fast enough")),
        }
    };

    session.leave_room();
    if let Some((code, reason)) = close {
        tracing::info!(peer = %peer, reason, "closing connection");
        let frame = CloseFrame { code, reason: reason.into() };
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
    bucket: TokenBucket,
}

impl Session {
    fn handle_text(&mut self, text: &str) {
        let limit = self.shared.limits.max_message_bytes;
        if text.len() > limit {
            return self.reply_error(
                ErrorCode::MessageTooLarge,
                format!("message of {} bytes refused: the limit is {limit} bytes", text.len()),
            );
        }
        if !self.bucket.take(Instant::now()) {
            return self.reply_error(ErrorCode::RateLimited, "too many messages; slow down");
        }
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(problem) => return self.reply_error(ErrorCode::Malformed, problem),
        };
        match message {
            ClientMessage::Join { room } => self.join(room),
            ClientMessage::Signal { to, data } => {
                let Some(room) = &self.room else {
                    return self.reply_error(ErrorCode::NotInRoom, "join a room before signaling");
                };
                if let Err(refusal) = self.shared.rooms.forward(room, self.peer, to, data) {
                    self.reply_error(refusal.code, refusal.message);
                }
            }
            ClientMessage::Leave => {
                self.leave_room();
                self.reply(ServerMessage::Left.to_json());
            }
        }
    }

    fn join(&mut self, room: String) {
        if let Some(current) = &self.room {
            let message = format!("already in room {current}; leave it first");
            return self.reply_error(ErrorCode::AlreadyInRoom, message);
        }
        if let Err(message) = validate_room_name(&room) {
            return self.reply_error(ErrorCode::InvalidRoom, message);
        }
        match self.shared.rooms.join(&room, self.peer, self.handle.clone()) {
            Ok(peers) => {
                tracing::info!(peer = %self.peer, room = %room, present = peers.len(), "joined");
                let limits = &self.shared.limits;
                let welcome = ServerMessage::Welcome { peer: self.peer, room: &room, peers, limits };
                self.reply(welcome.to_json());
                self.room = Some(room);
            }
            Err(refusal) => self.reply_error(refusal.code, refusal.message),
        }
    }

    fn leave_room(&mut self) {
        if let Some(room) = self.room.take() {
            self.shared.rooms.leave(&room, self.peer);
            tracing::info!(peer = %self.peer, room = %room, "left");
        }
    }

    fn reply(&self, frame: String) {
        // The connection's own queue: if it is full the peer is not reading,
        // and the kick below closes it.
        if self.handle.outbox.try_send(frame).is_err() {
            self.handle.kick.notify_one();
        }
    }

    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        tracing::debug!(peer = %self.peer, ?code, %message, "refused a message");
        self.reply(ServerMessage::error(code, message));
    }
}

/// Allows `rate` messages per second on average, with bursts of `2 * rate`.
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        TokenBucket { rate, capacity: 2.0 * rate, tokens: 2.0 * rate, refilled_at: now }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_bursts_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5, start);
        assert_eq!((0..10).filter(|_| bucket.take(start)).count(), 10);
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(200)));
        assert!(!bucket.take(start + Duration::from_millis(200)));
    }
}
