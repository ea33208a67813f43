//! What the peers panel shows about each peer.

use super::Remote;
use crate::device::now_ms;

/// Kept per peer as things happen.
#[derive(Default)]
pub(super) struct Counters {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub last_seen_ms: u64,
    /// Received and still to come, while catching up.
    pub catching_up: Option<(u64, u64)>,
    /// When both sides last found the same state from the same operations.
    pub confirmed_at: Option<u64>,
    /// Why the last link or session was refused, in plain words.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathShown {
    /// No link has proved itself yet.
    Connecting,
    Direct,
    /// Through the relay, sealed end to end.
    Relayed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncShown {
    Connecting,
    CatchingUp {
        received: u64,
        remaining: u64,
    },
    /// Both hold the same operations and derived the same state.
    InSync,
    Syncing,
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// Stable while the peer stays connected: a key for the list.
    pub key: u64,
    pub name: String,
    pub path: PathShown,
    pub sync: SyncShown,
    /// Seconds since anything arrived from the peer; `None` before anything did.
    pub quiet_for_s: Option<u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub(super) fn describe(remote: &Remote) -> PeerStatus {
    let direct = remote.direct.as_ref().is_some_and(|(link, wire)| wire.authenticated && link.is_open());
    let relayed = remote.relayed.as_ref().is_some_and(|relayed| relayed.wire.authenticated);
    let path = if direct {
        PathShown::Direct
    } else if relayed {
        PathShown::Relayed
    } else {
        PathShown::Connecting
    };
    let counters = &remote.status;
    let sync = if let Some(reason) = &counters.refused {
        SyncShown::Refused(reason.clone())
    } else if !remote.session {
        SyncShown::Connecting
    } else if let Some((received, remaining)) = counters.catching_up {
        SyncShown::CatchingUp { received, remaining }
    } else if counters.confirmed_at.is_some() {
        SyncShown::InSync
    } else {
        SyncShown::Syncing
    };
    PeerStatus {
        key: remote.sync_peer.0,
        name: remote.name.clone().unwrap_or_else(|| "Someone joining".into()),
        path,
        sync,
        quiet_for_s: (counters.last_seen_ms > 0).then(|| now_ms().saturating_sub(counters.last_seen_ms) / 1000),
        bytes_in: counters.bytes_in,
        bytes_out: counters.bytes_out,
    }
}
