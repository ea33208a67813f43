//! Peer-to-peer sync (`spec/sync.md`, leaderless LAN mode), sans-IO.
//!
//! A [`SyncHub`] runs one session per connected peer over whatever transport
//! the driver has (WebRTC data channel, relay, simulated network). The
//! driver feeds it frames, persistence confirmations and the passing of
//! time; it returns [`Output`]s: frames to send, bundles to persist before
//! they are acknowledged, sessions to close, events for people.
//!
//! Around the hub, what a driver needs to connect devices it cannot trust
//! the network between: the share link and workspace secret ([`link`]), the
//! signed hello that authenticates a channel before any data flows
//! ([`auth`]), end-to-end encryption of frames through the relay
//! ([`sealed`]), and chunking for transports with a message-size limit
//! ([`chunk`]). Frames are deflated for the wire with [`crate::deflate`].

pub mod auth;
pub mod chunk;
mod hub;
pub mod link;
mod message;
pub mod sealed;
pub mod stream;

pub use auth::{
    AuthError, ChannelBinding, HELLO_VERSION, MAX_DISPLAY_NAME_BYTES, PeerIntroduction, open_hello, seal_hello,
};
pub use chunk::{ChunkError, MIN_CHUNK, Reassembler, split};
pub use hub::{Output, PeerId, PersistTicket, Quarantined, SyncConfig, SyncEvent, SyncHub};
pub use link::{Admission, LinkError, ShareLink, WorkspaceSecret, room_name};
pub use message::{FrameError, Message, NackReason, PROTOCOL_VERSION, RefuseReason, decode_bundles, encode_bundles};
pub use sealed::{SealError, SealedChannel};
pub use stream::{BundlePart, LogStream, StreamReader, StreamWriter, stream_parts, vouched_runs};
