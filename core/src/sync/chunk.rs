//! Framing for transports that cap the size of one message: a batch of
//! bundles can be megabytes, but a WebRTC data channel is only dependable up
//! to about 64 KiB per message, and the relay accepts less.
//!
//! A message becomes one or more chunks, sent in order on an ordered channel:
//!
//! - the first: kind byte 0, the message's whole length as a varint, then
//!   the start of the message;
//! - each further one: kind byte 1, then the next part of the message.
//!
//! The receiver knows from the first chunk how much is coming, so it can
//! refuse an oversized message before setting memory aside for it, and can
//! tell a complete message from one still arriving.

use std::fmt;

use crate::encoding::{DecodeError, Decoder, Encoder};

/// The smallest chunk [`split`] accepts: a kind byte and a ten-byte varint
/// leave room for some of the message in the first chunk.
pub const MIN_CHUNK: usize = 16;

mod kind {
    pub const FIRST: u8 = 0;
    pub const CONTINUATION: u8 = 1;
}

/// Splits one message into chunks of at most `max_chunk` bytes. An empty
/// message is one chunk.
///
/// # Panics
///
/// When `max_chunk` is below [`MIN_CHUNK`]: the caller's transport limit,
/// not anything a peer sends.
pub fn split(message: &[u8], max_chunk: usize) -> Vec<Vec<u8>> {
    assert!(max_chunk >= MIN_CHUNK, "chunks of {max_chunk} bytes are too small to carry a message");
    let mut header = Encoder::new();
    header.u8(kind::FIRST).varint(message.len() as u64);
    let mut first = header.into_bytes();
    let first_part = message.len().min(max_chunk - first.len());
    first.extend_from_slice(&message[..first_part]);

    let rest = &message[first_part..];
    let mut chunks = Vec::with_capacity(1 + rest.len().div_ceil(max_chunk - 1));
    chunks.push(first);
    for part in rest.chunks(max_chunk - 1) {
        let mut chunk = Vec::with_capacity(1 + part.len());
        chunk.push(kind::CONTINUATION);
        chunk.extend_from_slice(part);
        chunks.push(chunk);
    }
    chunks
}

/// Puts messages back together from their chunks, one message at a time.
#[derive(Debug)]
pub struct Reassembler {
    max_message: usize,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    length: usize,
    received: Vec<u8>,
}

impl Reassembler {
    /// `max_message`: the largest message this side accepts, in bytes.
    pub fn new(max_message: usize) -> Self {
        Reassembler { max_message, pending: None }
    }

    /// Takes the next chunk; returns the whole message when its last chunk
    /// arrives. After an error, whatever was being put together is dropped
    /// and the next first chunk starts afresh.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        let result = self.take(chunk);
        if result.is_err() {
            self.pending = None;
        }
        result
    }

    fn take(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        let mut input = Decoder::new(chunk);
        match input.u8("a chunk kind").map_err(ChunkError::Malformed)? {
            kind::FIRST => {
                if self.pending.is_some() {
                    return Err(ChunkError::Interrupted);
                }
                let declared = input.varint("a message length").map_err(ChunkError::Malformed)?;
                let length = usize::try_from(declared)
                    .ok()
                    .filter(|&length| length <= self.max_message)
                    .ok_or(ChunkError::TooLarge { declared, max: self.max_message })?;
                let mut received = Vec::with_capacity(length);
                received.extend_from_slice(Self::part(&input, chunk, length)?);
                self.finish_or_wait(Pending { length, received })
            }
            kind::CONTINUATION => {
                let mut pending = self.pending.take().ok_or(ChunkError::NoBeginning)?;
                let part = Self::part(&input, chunk, pending.length - pending.received.len())?;
                pending.received.extend_from_slice(part);
                self.finish_or_wait(pending)
            }
            unknown => Err(ChunkError::UnknownKind(unknown)),
        }
    }

    /// The rest of `chunk`, refused if it is longer than what is still missing.
    fn part<'a>(input: &Decoder<'_>, chunk: &'a [u8], missing: usize) -> Result<&'a [u8], ChunkError> {
        let part = &chunk[input.position()..];
        if part.len() > missing { Err(ChunkError::Overlong) } else { Ok(part) }
    }

    fn finish_or_wait(&mut self, pending: Pending) -> Result<Option<Vec<u8>>, ChunkError> {
        if pending.received.len() == pending.length {
            Ok(Some(pending.received))
        } else {
            self.pending = Some(pending);
            Ok(None)
        }
    }
}

/// Why a chunk was refused. The message it belonged to is lost; the sync
/// protocol's periodic exchange of what each side holds recovers its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// Empty, or a length that cannot be read.
    Malformed(DecodeError),
    UnknownKind(u8),
    TooLarge {
        declared: u64,
        max: usize,
    },
    /// A continuation with no message begun.
    NoBeginning,
    /// A new message began before the previous one was complete.
    Interrupted,
    /// More data than the message announced.
    Overlong,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::Malformed(error) => {
                write!(f, "a piece of a message from the other device is unreadable: {error}")
            }
            ChunkError::UnknownKind(kind) => write!(
                f,
                "a piece of a message from the other device is of an unknown kind ({kind}); \
                 it may run a newer version of Openprod"
            ),
            ChunkError::TooLarge { declared, max } => {
                write!(f, "the other device announced a message of {declared} bytes; this device accepts at most {max}")
            }
            ChunkError::NoBeginning => {
                f.write_str("part of a message from the other device arrived without its beginning")
            }
            ChunkError::Interrupted => {
                f.write_str("a message from the other device was cut off by the start of another one")
            }
            ChunkError::Overlong => f.write_str("a message from the other device was longer than it announced"),
        }
    }
}

impl std::error::Error for ChunkError {}
