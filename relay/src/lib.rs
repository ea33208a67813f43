//! Openprod's signaling relay.
//!
//! Peers of one workspace meet in a room (named by a hash of the workspace id,
//! so the relay never learns ids or secrets), learn who else is there, and
//! pass each other opaque signaling messages. The relay also serves the built
//! app, so one command on one laptop serves a whole rehearsal room.
//!
//! **Invariant:** the relay keeps nothing on disk and delivers a message only
//! within the sender's room. Every input is bounded: message size, peers per
//! room, rooms, messages per second, idle time.

mod connection;
pub mod protocol;
pub mod rooms;
mod server;

use std::time::Duration;

use serde::Serialize;

pub use server::{Relay, local_addresses};

/// The bounds every connection lives within.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Largest text frame accepted, in bytes.
    pub max_message_bytes: usize,
    pub max_peers_per_room: usize,
    pub max_rooms: usize,
    /// Sustained messages per second per connection; bursts of twice that pass.
    pub messages_per_second: u32,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    #[serde(serialize_with = "as_millis")]
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_peers_per_room: 32,
            max_rooms: 1024,
            messages_per_second: 50,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}
