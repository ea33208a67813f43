//! The room registry: which connections are in which room.
//!
//! **Invariant:** a message is only ever delivered to a peer found in the
//! sender's own room; there is no lookup by peer id across rooms.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::value::RawValue;
use tokio::sync::{Notify, mpsc};

use crate::protocol::{ErrorCode, PeerId, ServerMessage};

/// What the registry holds for one connected peer.
#[derive(Clone)]
pub struct PeerHandle {
    /// Text frames queued for the peer's socket.
    pub outbox: mpsc::Sender<String>,
    /// Fired when the peer cannot keep up and must be disconnected.
    pub kick: Arc<Notify>,
}

impl PeerHandle {
    /// Queues a frame without waiting. A peer whose queue is full is kicked:
    /// the others must not stall, and it would miss joins and leaves otherwise.
    fn notify(&self, frame: String) {
        if self.outbox.try_send(frame).is_err() {
            self.kick.notify_one();
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into() }
    }
}

pub struct Rooms {
    max_rooms: usize,
    max_peers_per_room: usize,
    rooms: Mutex<BTreeMap<String, BTreeMap<PeerId, PeerHandle>>>,
}

impl Rooms {
    pub fn new(max_rooms: usize, max_peers_per_room: usize) -> Self {
        Rooms { max_rooms, max_peers_per_room, rooms: Mutex::new(BTreeMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<PeerId, PeerHandle>>> {
        // A panic elsewhere cannot leave the map half-updated (every update is
        // a single insert or remove), so a poisoned lock is still safe to use.
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `peer` to `room` and tells the peers already there.
    /// Returns the ids of those peers.
    pub fn join(&self, room: &str, peer: PeerId, handle: PeerHandle) -> Result<Vec<PeerId>, Refusal> {
        let mut rooms = self.lock();
        let room_count = rooms.len();
        let members = match rooms.get_mut(room) {
            Some(members) => members,
            None if room_count >= self.max_rooms => {
                return Err(Refusal::new(
                    ErrorCode::TooManyRooms,
                    format!("the relay already hosts its maximum of {} rooms", self.max_rooms),
                ));
            }
            None => rooms.entry(room.to_owned()).or_default(),
        };
        if members.len() >= self.max_peers_per_room {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("the room already has its maximum of {} peers", self.max_peers_per_room),
            ));
        }
        let joined = ServerMessage::PeerJoined { peer }.to_json();
        let present: Vec<PeerId> = members.keys().copied().collect();
        for other in members.values() {
            other.notify(joined.clone());
        }
        members.insert(peer, handle);
        Ok(present)
    }

    /// Removes `peer` from `room` and tells the peers that remain.
    pub fn leave(&self, room: &str, peer: PeerId) {
        let mut rooms = self.lock();
        let Some(members) = rooms.get_mut(room) else { return };
        if members.remove(&peer).is_none() {
            return;
        }
        if members.is_empty() {
            rooms.remove(room);
            return;
        }
        let left = ServerMessage::PeerLeft { peer }.to_json();
        for other in members.values() {
            other.notify(left.clone());
        }
    }

    /// Delivers `data` from `from` to `to`, both in `room`.
    pub fn forward(&self, room: &str, from: PeerId, to: PeerId, data: &RawValue) -> Result<(), Refusal> {
        let rooms = self.lock();
        let target = rooms.get(room).and_then(|members| members.get(&to)).ok_or_else(|| {
            Refusal::new(ErrorCode::UnknownPeer, format!("peer {to} is not in this room"))
        })?;
        let frame = ServerMessage::Signal { from, data }.to_json();
        target.outbox.try_send(frame).map_err(|_| {
            Refusal::new(ErrorCode::PeerBusy, format!("peer {to} is not keeping up; try again"))
        })
    }

    pub fn room_count(&self) -> usize {
        self.lock().len()
    }

    pub fn peer_count(&self) -> usize {
        self.lock().values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(capacity: usize) -> (PeerHandle, mpsc::Receiver<String>) {
        let (outbox, inbox) = mpsc::channel(capacity);
        (PeerHandle { outbox, kick: Arc::new(Notify::new()) }, inbox)
    }

    #[test]
    fn joins_announce_and_leaves_clean_up() {
        let rooms = Rooms::new(10, 10);
        let (a, mut a_inbox) = handle(8);
        let (b, _b_inbox) = handle(8);
        assert_eq!(rooms.join("r", PeerId(1), a), Ok(vec![]));
        assert_eq!(rooms.join("r", PeerId(2), b), Ok(vec![PeerId(1)]));
        assert_eq!(a_inbox.try_recv().unwrap(), r#"{"type":"peer-joined","peer":2}"#);
        rooms.leave("r", PeerId(2));
        assert_eq!(a_inbox.try_recv().unwrap(), r#"{"type":"peer-left","peer":2}"#);
        rooms.leave("r", PeerId(1));
        assert_eq!(rooms.room_count(), 0);
    }

    #[test]
    fn limits_rooms_and_peers() {
        let rooms = Rooms::new(1, 1);
        rooms.join("r", PeerId(1), handle(1).0).unwrap();
        assert_eq!(rooms.join("r", PeerId(2), handle(1).0).unwrap_err().code, ErrorCode::RoomFull);
        assert_eq!(rooms.join("s", PeerId(3), handle(1).0).unwrap_err().code, ErrorCode::TooManyRooms);
    }

    #[test]
    fn never_forwards_across_rooms() {
        let rooms = Rooms::new(10, 10);
        let (a, _a_inbox) = handle(8);
        let (b, mut b_inbox) = handle(8);
        rooms.join("one", PeerId(1), a).unwrap();
        rooms.join("two", PeerId(2), b).unwrap();
        let data = RawValue::from_string("1".into()).unwrap();
        let refusal = rooms.forward("one", PeerId(1), PeerId(2), &data).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::UnknownPeer);
        assert!(b_inbox.try_recv().is_err());
    }

    #[test]
    fn a_peer_that_cannot_keep_up_is_kicked() {
        let rooms = Rooms::new(10, 10);
        let (slow, _slow_inbox) = handle(1);
        let kick = slow.kick.clone();
        rooms.join("r", PeerId(1), slow).unwrap();
        rooms.join("r", PeerId(2), handle(8).0).unwrap();
        rooms.join("r", PeerId(3), handle(8).0).unwrap();
        // The second announcement overflowed the slow peer's queue of one.
        assert!(futures_util::FutureExt::now_or_never(kick.notified()).is_some());
    }
}
