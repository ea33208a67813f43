//! Peer-to-peer sync (`spec/sync.md`, leaderless LAN mode), sans-IO.
//!
//! A [`SyncHub`] runs one session per connected peer over whatever transport
//! the driver has (WebRTC data channel, relay, simulated network). The
//! driver feeds it frames, persistence confirmations and the passing of
//! time; it returns [`Output`]s: frames to send, bundles to persist before
//! they are acknowledged, sessions to close, events for people.

mod hub;
mod message;

pub use hub::{Output, PeerId, PersistTicket, Quarantined, SyncConfig, SyncEvent, SyncHub};
pub use message::{FrameError, Message, NackReason, PROTOCOL_VERSION, RefuseReason};
