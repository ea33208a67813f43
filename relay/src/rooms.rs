//! The room registry: which connections are in which room.
//!
//! **Invariant:** a message is only ever delivered to a peer found in the
//! sender's own room; there is no lookup by peer id across rooms.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::outbox::{Frame, Outbox};
use crate::protocol::{ErrorCode, PeerId, ServerMessage};

/// What the registry holds for one connected peer.
#[derive(Clone)]
pub struct PeerHandle {
    /// Frames queued for the peer's socket.
    pub outbox: Outbox,
    /// Fired when the peer cannot keep up and must be disconnected.
    pub kick: Arc<Notify>,
}

impl PeerHandle {
    /// Queues a frame without waiting. A peer whose queue is full is kicked:
    /// the others must not stall, and it would miss joins and leaves otherwise.
    pub fn notify(&self, frame: Frame) {
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

    /// Adds `peer` to `room`, queues for it the frame `welcome` makes of the
    /// peers already there, and tells those peers. Returns how many there are.
    ///
    /// The welcome is queued under the registry's lock: nothing from the room
    /// (an announcement, a signal) can reach the newcomer before it.
    pub fn join(
        &self,
        room: &str,
        peer: PeerId,
        handle: PeerHandle,
        welcome: impl FnOnce(Vec<PeerId>) -> String,
    ) -> Result<usize, Refusal> {
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
        let present = members.len();
        handle.notify(Frame::Text(welcome(members.keys().copied().collect())));
        let joined = ServerMessage::PeerJoined { peer }.to_json();
        for other in members.values() {
            other.notify(Frame::Text(joined.clone()));
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
            other.notify(Frame::Text(left.clone()));
        }
    }

    /// Delivers `frame` to `to`, if `to` is in `room`: the sender's room.
    /// A full queue refuses the frame rather than kicking the target, so a
    /// burst of relayed sync slows its sender, not the whole room.
    pub fn forward(&self, room: &str, to: PeerId, frame: Frame) -> Result<(), Refusal> {
        let rooms = self.lock();
        let target = rooms
            .get(room)
            .and_then(|members| members.get(&to))
            .ok_or_else(|| Refusal::new(ErrorCode::UnknownPeer, format!("peer {to} is not in this room")))?;
        target
            .outbox
            .try_send(frame)
            .map_err(|_| Refusal::new(ErrorCode::PeerBusy, format!("peer {to} is not keeping up; try again")))
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

    use futures_util::FutureExt;

    use crate::outbox::{Queued, outbox};

    fn handle() -> (PeerHandle, Queued) {
        let (outbox, queued) = outbox();
        (PeerHandle { outbox, kick: Arc::new(Notify::new()) }, queued)
    }

    fn next(queued: &mut Queued) -> Option<Frame> {
        queued.recv().now_or_never().flatten()
    }

    fn text(json: &str) -> Option<Frame> {
        Some(Frame::Text(json.into()))
    }

    /// A welcome that lists the peers present, for checking what `join` passed.
    fn welcome(present: Vec<PeerId>) -> String {
        format!("welcome {present:?}")
    }

    #[test]
    fn joins_announce_and_leaves_clean_up() {
        let rooms = Rooms::new(10, 10);
        let (a, mut a_inbox) = handle();
        let (b, mut b_inbox) = handle();
        assert_eq!(rooms.join("r", PeerId(1), a, welcome), Ok(0));
        assert_eq!(rooms.join("r", PeerId(2), b, welcome), Ok(1));
        assert_eq!(next(&mut a_inbox), text("welcome []"));
        assert_eq!(next(&mut b_inbox), text("welcome [PeerId(1)]"));
        assert_eq!(next(&mut a_inbox), text(r#"{"type":"peer-joined","peer":2}"#));
        rooms.leave("r", PeerId(2));
        assert_eq!(next(&mut a_inbox), text(r#"{"type":"peer-left","peer":2}"#));
        rooms.leave("r", PeerId(1));
        assert_eq!(rooms.room_count(), 0);
    }

    #[test]
    fn limits_rooms_and_peers() {
        let rooms = Rooms::new(1, 1);
        rooms.join("r", PeerId(1), handle().0, welcome).unwrap();
        assert_eq!(rooms.join("r", PeerId(2), handle().0, welcome).unwrap_err().code, ErrorCode::RoomFull);
        assert_eq!(rooms.join("s", PeerId(3), handle().0, welcome).unwrap_err().code, ErrorCode::TooManyRooms);
    }

    #[test]
    fn never_forwards_across_rooms() {
        let rooms = Rooms::new(10, 10);
        let (a, _a_inbox) = handle();
        let (b, mut b_inbox) = handle();
        rooms.join("one", PeerId(1), a, welcome).unwrap();
        rooms.join("two", PeerId(2), b, welcome).unwrap();
        next(&mut b_inbox);
        for frame in [Frame::Text("1".into()), Frame::Binary(vec![1, 2, 3].into())] {
            let refusal = rooms.forward("one", PeerId(2), frame).unwrap_err();
            assert_eq!(refusal.code, ErrorCode::UnknownPeer);
        }
        assert_eq!(next(&mut b_inbox), None);
    }

    #[test]
    fn a_peer_that_cannot_keep_up_is_kicked_but_forwarding_to_it_is_only_refused() {
        let rooms = Rooms::new(10, 300);
        let (slow, _slow_inbox) = handle();
        let kick = slow.kick.clone();
        rooms.join("r", PeerId(0), slow, welcome).unwrap();
        let mut others = Vec::new();
        for id in 1..=255 {
            let (other, inbox) = handle();
            others.push(inbox);
            rooms.join("r", PeerId(id), other, welcome).unwrap();
        }
        assert!(kick.notified().now_or_never().is_none(), "a welcome and 255 announcements fill the queue exactly");
        let refusal = rooms.forward("r", PeerId(0), Frame::Text("1".into())).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::PeerBusy);
        assert!(kick.notified().now_or_never().is_none(), "a refused forward does not kick");
        rooms.join("r", PeerId(256), handle().0, welcome).unwrap();
        assert!(kick.notified().now_or_never().is_some(), "a missed announcement does");
    }
}
