//! Openprod's signaling relay.
//!
//! Peers of one workspace meet in a room (named by a hash of the workspace id,
//! so the relay never learns ids or secrets), learn who else is there, and
//! pass each other opaque signaling messages as JSON text frames. When WebRTC
//! cannot connect (venue Wi-Fi that isolates clients, Safari hiding host
//! candidates), peers send their end-to-end encrypted sync frames through the
//! relay instead, as binary frames: 8 bytes of big-endian peer id, then the
//! payload. A client names the target; the target receives the same payload
//! behind the sender's id. The relay also serves the built app, so one command
//! on one laptop serves a whole rehearsal room.
//!
//! Browsers need a secure context for the app's service worker. `localhost`
//! is one; devices on the LAN need TLS. The relay takes a certificate the
//! user provides, or creates a small local certificate authority once (in its
//! config directory), issues a server certificate for this machine's LAN
//! addresses at each start, and serves the CA with a page of steps for
//! trusting it (`/trust`). Plain HTTP on the same port still answers that
//! page, so a device can fetch the CA before it trusts it.
//!
//! **Invariant:** the relay delivers a message only within the sender's room,
//! and never keeps workspace data. The local CA is the only thing it writes.
//! Every input is bounded: message size, peers per room, rooms, messages and
//! bytes per second, idle time, and the frames queued for a slow reader.

mod connection;
mod listener;
mod local_ca;
mod outbox;
pub mod protocol;
mod rate;
pub mod rooms;
mod server;
mod tls;
mod trust;

use std::time::Duration;

use serde::Serialize;

pub use local_ca::{CA_CERT_FILE, CA_KEY_FILE};
pub use server::{BindError, LocalCaSummary, Relay, local_addresses};
pub use tls::Tls;

/// The bounds every connection lives within.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Largest frame accepted, text or binary, in bytes.
    pub max_message_bytes: usize,
    pub max_peers_per_room: usize,
    pub max_rooms: usize,
    /// Sustained messages per second per connection; bursts of twice that pass.
    pub messages_per_second: u32,
    /// Sustained bytes per second per connection (frames of either kind);
    /// bursts of twice that pass.
    pub bytes_per_second: u64,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    #[serde(serialize_with = "as_millis")]
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Browsers send relayed sync frames in chunks of at most 64 KiB;
            // the rest is headroom for the envelope and future chunk sizes.
            max_message_bytes: 256 * 1024,
            max_peers_per_room: 32,
            max_rooms: 1024,
            // Catch-up through the relay sends many chunks in a row.
            messages_per_second: 200,
            bytes_per_second: 8 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// Refuses settings under which a frame within the size limit could never pass.
    pub fn check(&self) -> Result<(), String> {
        let burst = self.bytes_per_second.saturating_mul(2);
        if burst < self.max_message_bytes as u64 {
            return Err(format!(
                "bytes per second ({}) must be at least half the largest message ({} bytes), \
                 or a message of the largest size could never pass",
                self.bytes_per_second, self.max_message_bytes
            ));
        }
        Ok(())
    }
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_a_byte_rate_that_no_largest_message_could_pass() {
        assert!(Limits::default().check().is_ok());
        let starved = Limits { max_message_bytes: 1000, bytes_per_second: 499, ..Limits::default() };
        assert!(starved.check().unwrap_err().contains("half"));
        assert!(Limits { bytes_per_second: 500, ..starved }.check().is_ok());
    }
}
