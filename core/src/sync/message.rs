//! Sync messages and their versioned binary encoding.
//!
//! Every frame starts with the protocol version, then a message tag. A
//! decoder answers any malformed, truncated or hostile frame with an error;
//! it never panics and never allocates more than the frame could hold.

use std::fmt;

use super::stream::{BundlePart, StreamReader, StreamWriter};
use crate::bundle::{ArrivedBundle, Bundle, Hash};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::identity::ActorId;
use crate::ids::WorkspaceId;
use crate::log::VersionVector;

/// Version of this protocol. Peers speaking another one are refused with a
/// reason. 2: bundles travel in the compact form of [`super::stream`];
/// 3: an operation's own id travels as its place when derived from it;
/// 4: the ids an operation refers to travel as changes of distance.
pub const PROTOCOL_VERSION: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message each way: who I am and what I hold. `wants_reply`: the
    /// sender has not heard the receiver's hello yet (it may have been lost).
    Hello {
        workspace: WorkspaceId,
        actor: ActorId,
        vector: VersionVector,
        wants_reply: bool,
    },
    /// Bundles the receiver lacks, as one part of a stream ([`super::stream`]).
    Bundles(BundlePart),
    /// Sent once received bundles are durable: what the sender now holds.
    Ack {
        vector: VersionVector,
    },
    /// Periodic "this is what I hold"; the receiver answers with what is missing.
    Vector {
        vector: VersionVector,
    },
    /// After quiescence: both sides compare what they derived from the same operations.
    StateCheck {
        vector: VersionVector,
        ops_digest: Hash,
        state_hash: Hash,
    },
    /// A bundle was not accepted, and why.
    Nack {
        author: ActorId,
        seq: u64,
        reason: NackReason,
        detail: String,
    },
    /// The session is refused (another workspace, another protocol version).
    Refuse {
        reason: RefuseReason,
        detail: String,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackReason {
    /// Forged, damaged, from another workspace, or a forked chain: quarantined.
    Invalid,
    /// The bundle's clock is too far ahead of the receiver's (`spec/hlc.md`).
    FutureHlc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    OtherWorkspace,
    ProtocolVersion,
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefuseReason::OtherWorkspace => "the peer belongs to another workspace",
            RefuseReason::ProtocolVersion => "the peer speaks another version of the sync protocol",
        })
    }
}

mod tag {
    pub const HELLO: u8 = 1;
    pub const BUNDLES: u8 = 2;
    pub const ACK: u8 = 3;
    pub const VECTOR: u8 = 4;
    pub const STATE_CHECK: u8 = 5;
    pub const NACK: u8 = 6;
    pub const REFUSE: u8 = 7;
    pub const PING: u8 = 8;
    pub const PONG: u8 = 9;
}

/// What a frame that cannot be read says: the version it claims, when that
/// is the problem, so the session can refuse with the right reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    UnknownVersion(u8),
    Malformed(DecodeError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::UnknownVersion(version) => {
                write!(f, "the peer speaks sync protocol version {version}; this app speaks {PROTOCOL_VERSION}")
            }
            FrameError::Malformed(error) => write!(f, "unreadable message from the peer: {error}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The stream number of messages made by [`encode_bundles`]; a hub numbers
/// its streams from 0, so these never pass for a part of one.
const LONE_STREAM: u32 = u32::MAX;

/// A `Bundles` message that reads alone (a one-part stream): a hand-made
/// message in a test or a benchmark.
pub fn encode_bundles(bundles: &[Bundle], remaining: u64) -> Vec<u8> {
    let workspace = bundles.first().map_or(WorkspaceId::from_bytes([0; 16]), |bundle| bundle.header.workspace);
    let borrowed: Vec<&Bundle> = bundles.iter().collect();
    Message::Bundles(StreamWriter::new(LONE_STREAM).part(workspace, &borrowed, remaining)).encode()
}

/// The bundles and remaining count of a `Bundles` message that reads alone.
pub fn decode_bundles(frame: &[u8]) -> Result<(Vec<Bundle>, u64), FrameError> {
    match Message::decode(frame)? {
        Message::Bundles(part) => {
            let bundles = StreamReader::default().read(&part).map_err(FrameError::Malformed)?;
            Ok((bundles.into_iter().map(ArrivedBundle::into_bundle).collect(), part.remaining))
        }
        _ => Err(FrameError::Malformed(crate::encoding::DecodeError { offset: 1, what: "a bundles message" })),
    }
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Encoder::new();
        out.u8(PROTOCOL_VERSION);
        match self {
            Message::Hello { workspace, actor, vector, wants_reply } => {
                out.u8(tag::HELLO).fixed(workspace.as_bytes()).fixed(actor.as_bytes());
                encode_vector(&mut out, vector);
                out.bool(*wants_reply);
            }
            Message::Bundles(part) => {
                out.u8(tag::BUNDLES);
                part.encode(&mut out);
            }
            Message::Ack { vector } => {
                out.u8(tag::ACK);
                encode_vector(&mut out, vector);
            }
            Message::Vector { vector } => {
                out.u8(tag::VECTOR);
                encode_vector(&mut out, vector);
            }
            Message::StateCheck { vector, ops_digest, state_hash } => {
                out.u8(tag::STATE_CHECK);
                encode_vector(&mut out, vector);
                out.fixed(&ops_digest.0).fixed(&state_hash.0);
            }
            Message::Nack { author, seq, reason, detail } => {
                let reason = match reason {
                    NackReason::Invalid => 0,
                    NackReason::FutureHlc => 1,
                };
                out.u8(tag::NACK).fixed(author.as_bytes()).varint(*seq).u8(reason).str(detail);
            }
            Message::Refuse { reason, detail } => {
                let reason = match reason {
                    RefuseReason::OtherWorkspace => 0,
                    RefuseReason::ProtocolVersion => 1,
                };
                out.u8(tag::REFUSE).u8(reason).str(detail);
            }
            Message::Ping { nonce } => {
                out.u8(tag::PING).varint(*nonce);
            }
            Message::Pong { nonce } => {
                out.u8(tag::PONG).varint(*nonce);
            }
        }
        out.into_bytes()
    }

    pub fn decode(frame: &[u8]) -> Result<Message, FrameError> {
        let mut input = Decoder::new(frame);
        let version = input.u8("a protocol version").map_err(FrameError::Malformed)?;
        if version != PROTOCOL_VERSION {
            return Err(FrameError::UnknownVersion(version));
        }
        let message = decode_body(&mut input).map_err(FrameError::Malformed)?;
        input.finish("the end of the message").map_err(FrameError::Malformed)?;
        Ok(message)
    }
}

fn decode_body(input: &mut Decoder<'_>) -> Result<Message, DecodeError> {
    let tag_offset = input.position();
    Ok(match input.u8("a message type")? {
        tag::HELLO => Message::Hello {
            workspace: WorkspaceId::from_bytes(input.fixed("a workspace id")?),
            actor: ActorId::from_bytes(input.fixed("an actor id")?),
            vector: decode_vector(input)?,
            wants_reply: input.bool("a reply flag")?,
        },
        tag::BUNDLES => Message::Bundles(BundlePart::decode(input)?),
        tag::ACK => Message::Ack { vector: decode_vector(input)? },
        tag::VECTOR => Message::Vector { vector: decode_vector(input)? },
        tag::STATE_CHECK => Message::StateCheck {
            vector: decode_vector(input)?,
            ops_digest: Hash(input.fixed("an operations digest")?),
            state_hash: Hash(input.fixed("a state hash")?),
        },
        tag::NACK => {
            let author = ActorId::from_bytes(input.fixed("an author")?);
            let seq = input.varint("a sequence number")?;
            let reason_offset = input.position();
            let reason = match input.u8("a refusal reason")? {
                0 => NackReason::Invalid,
                1 => NackReason::FutureHlc,
                _ => return Err(DecodeError { offset: reason_offset, what: "a known refusal reason" }),
            };
            Message::Nack { author, seq, reason, detail: input.str("a refusal detail")?.to_owned() }
        }
        tag::REFUSE => {
            let reason_offset = input.position();
            let reason = match input.u8("a refusal reason")? {
                0 => RefuseReason::OtherWorkspace,
                1 => RefuseReason::ProtocolVersion,
                _ => return Err(DecodeError { offset: reason_offset, what: "a known refusal reason" }),
            };
            Message::Refuse { reason, detail: input.str("a refusal detail")?.to_owned() }
        }
        tag::PING => Message::Ping { nonce: input.varint("a ping nonce")? },
        tag::PONG => Message::Pong { nonce: input.varint("a pong nonce")? },
        _ => return Err(DecodeError { offset: tag_offset, what: "a known message type" }),
    })
}

fn encode_vector(out: &mut Encoder, vector: &VersionVector) {
    let entries: Vec<_> = vector.iter().collect();
    out.varint(entries.len() as u64);
    for (actor, seq) in entries {
        out.fixed(actor.as_bytes()).varint(*seq);
    }
}

fn decode_vector(input: &mut Decoder<'_>) -> Result<VersionVector, DecodeError> {
    let mut vector = VersionVector::new();
    let mut previous: Option<ActorId> = None;
    for _ in 0..input.length(33, "a version vector")? {
        let actor = ActorId::from_bytes(input.fixed("an actor id")?);
        if previous.is_some_and(|previous| previous >= actor) {
            return Err(input.error("a version vector sorted by actor"));
        }
        previous = Some(actor);
        vector.set(actor, input.varint("a sequence number")?);
    }
    Ok(vector)
}
