//! End-to-end encryption for sync frames that pass through the relay's
//! WebSocket when WebRTC cannot connect (strict firewalls, some mobile
//! networks).
//!
//! The relay is only a pipe here: it must learn nothing from what it carries
//! and must not be able to inject, alter, replay, reorder or reflect a
//! frame. Each direction has its own key, derived from the workspace secret
//! and the two nonces the sides chose for this session, so frames from
//! another session or the other direction never open. Each frame carries a
//! counter that is both the cipher's nonce and the order check; the relay
//! delivers in order, so the only acceptable counter is the next one.
//!
//! Frame: 8-byte little-endian counter ‖ XChaCha20-Poly1305 ciphertext ‖ 16-byte tag.

use std::fmt;

use chacha20poly1305::aead::{AeadInOut, Tag};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::link::WorkspaceSecret;

const KEY_CONTEXT: &str = "openprod relay frames v1";
const COUNTER_LEN: usize = 8;
const TAG_LEN: usize = 16;

/// One relayed session's pair of encrypted directions.
pub struct SealedChannel {
    outgoing: XChaCha20Poly1305,
    /// `None` when both sides' nonces are equal: see [`SealedChannel::new`].
    incoming: Option<XChaCha20Poly1305>,
    next_outgoing: u64,
    next_incoming: u64,
}

impl SealedChannel {
    /// Keys per direction from BLAKE3 `derive_key("openprod relay frames v1",
    /// secret ‖ sender nonce ‖ receiver nonce)`. Both counters start at 0.
    ///
    /// Equal nonces would give both directions one key, so frames sent back
    /// to their sender would open; as a genuine peer's nonce is never ours,
    /// a channel with equal nonces opens nothing at all.
    pub fn new(secret: &WorkspaceSecret, local_nonce: [u8; 16], remote_nonce: [u8; 16]) -> Self {
        let incoming = (local_nonce != remote_nonce).then(|| direction(secret, remote_nonce, local_nonce));
        SealedChannel {
            outgoing: direction(secret, local_nonce, remote_nonce),
            incoming,
            next_outgoing: 0,
            next_incoming: 0,
        }
    }

    /// The frame to hand to the relay: counter ‖ ciphertext and tag.
    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let counter = self.next_outgoing;
        // Two to the 64 frames outlast any session; wrapping would reuse a nonce.
        self.next_outgoing = counter.checked_add(1).expect("a relayed session never sends 2^64 frames");
        let mut frame = Vec::with_capacity(COUNTER_LEN + plaintext.len() + TAG_LEN);
        frame.extend_from_slice(&counter.to_le_bytes());
        frame.extend_from_slice(plaintext);
        let tag = self
            .outgoing
            .encrypt_inout_detached(&nonce(counter), &[], (&mut frame[COUNTER_LEN..]).into())
            .expect("XChaCha20-Poly1305 seals any message a browser can hold");
        frame.extend_from_slice(&tag);
        frame
    }

    /// The plaintext of the next frame from the other side. A refused frame
    /// changes nothing, so a forgery cannot knock the channel out of step
    /// and the genuine frame that follows still opens.
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let incoming = self.incoming.as_ref().ok_or(SealError::Reflected)?;
        if sealed.len() < COUNTER_LEN + TAG_LEN {
            return Err(SealError::Damaged);
        }
        let (counter, rest) = sealed.split_at(COUNTER_LEN);
        let counter = u64::from_le_bytes(counter.try_into().expect("split at the counter's length"));
        if counter != self.next_incoming {
            return Err(SealError::OutOfOrder { expected: self.next_incoming, found: counter });
        }
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let tag = Tag::<XChaCha20Poly1305>::try_from(tag).expect("split at the tag's length");
        let mut plaintext = ciphertext.to_vec();
        incoming
            .decrypt_inout_detached(&nonce(counter), &[], plaintext.as_mut_slice().into(), &tag)
            .map_err(|_| SealError::Damaged)?;
        // Only a frame that opened moves the count on. An authentic counter
        // is below u64::MAX: the sender stops before sealing that one.
        self.next_incoming = counter + 1;
        Ok(plaintext)
    }
}

impl fmt::Debug for SealedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys stay out of debug output.
        f.debug_struct("SealedChannel")
            .field("next_outgoing", &self.next_outgoing)
            .field("next_incoming", &self.next_incoming)
            .finish_non_exhaustive()
    }
}

fn direction(secret: &WorkspaceSecret, sender_nonce: [u8; 16], receiver_nonce: [u8; 16]) -> XChaCha20Poly1305 {
    let mut material = Zeroizing::new([0u8; 32 + 16 + 16]);
    material[..32].copy_from_slice(secret.as_bytes());
    material[32..48].copy_from_slice(&sender_nonce);
    material[48..].copy_from_slice(&receiver_nonce);
    let key = Zeroizing::new(blake3::derive_key(KEY_CONTEXT, &*material));
    XChaCha20Poly1305::new((&*key).into())
}

/// The counter in the nonce's first eight bytes: unique per key because each
/// key serves one direction of one session.
fn nonce(counter: u64) -> XNonce {
    let mut nonce = [0u8; 24];
    nonce[..COUNTER_LEN].copy_from_slice(&counter.to_le_bytes());
    XNonce::from(nonce)
}

/// Why a frame from the relay was dropped. The channel stays usable: the
/// next genuine frame opens as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Too short, altered, forged, or sealed with another key.
    Damaged,
    /// Authentic frames arrive strictly in order; this one is early, late or a copy.
    OutOfOrder { expected: u64, found: u64 },
    /// The session's two nonces are equal, which only happens when the relay
    /// hands a device its own nonce: everything it forwards would be suspect.
    Reflected,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Damaged => {
                f.write_str("a message that came through the relay was damaged or forged, and was dropped")
            }
            SealError::OutOfOrder { expected, found } => write!(
                f,
                "a message that came through the relay arrived out of order or twice (number {found}, \
                 expected {expected}), and was dropped"
            ),
            SealError::Reflected => f.write_str(
                "the relay sent this device's own messages back to it, so nothing from this connection is trusted",
            ),
        }
    }
}

impl std::error::Error for SealError {}
