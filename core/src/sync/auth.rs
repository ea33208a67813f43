//! Peer authentication: the signed hello each side sends as soon as a
//! channel opens, before any workspace data flows.
//!
//! The relay that introduces devices carries their WebRTC offers, so it could
//! swap them and sit in the middle of every connection, or simply connect
//! anyone who asks for a room. A hello shuts both doors:
//!
//! - it binds the channel: it names what its sender sees of the connection
//!   (the DTLS certificate fingerprints of both ends, or the nonces of a
//!   relayed session), and the receiver checks that against what it sees.
//!   A relay in the middle holds two connections with different
//!   fingerprints, so a hello forwarded from one to the other does not match;
//! - it proves knowledge of the workspace secret, which travels only in the
//!   share link's fragment and never through the relay;
//! - it is signed by the sender's identity, so the actor it names is the one
//!   that wrote it.
//!
//! Layout (version 1), every part in the [`crate::encoding`] form:
//!
//! | part          | content                                                                |
//! |---------------|------------------------------------------------------------------------|
//! | 1 byte        | hello version, 1                                                       |
//! | 16 bytes      | workspace id                                                           |
//! | 32 bytes      | actor id                                                               |
//! | string        | display name, at most 200 bytes                                        |
//! | 1 byte        | binding kind: 0 direct, 1 relayed                                      |
//! | 2 × string/16 | sender's side, then receiver's side (fingerprints or nonces)           |
//! | 32 bytes      | proof: BLAKE3 keyed hash of everything above                           |
//! | 64 bytes      | Ed25519 signature over `"openprod peer hello v1\0"` ‖ everything above |
//!
//! The proof's key is `derive_key("openprod peer proof v1", secret)`.
//!
//! The signature's label keeps a hello signature from ever standing for a
//! signature over anything else the same identity signs, such as a bundle.

use std::fmt;

use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::identity::{ActorId, Identity, SIGNATURE_LEN, Signature};
use crate::ids::WorkspaceId;

use super::link::WorkspaceSecret;

/// Bumped only with a reader for the old form kept alongside.
pub const HELLO_VERSION: u8 = 1;

/// Longer names are cut (on a character boundary) when sealing and refused
/// when opening: a name is for a list of who is connected, not for payloads.
pub const MAX_DISPLAY_NAME_BYTES: usize = 200;

const PROOF_CONTEXT: &str = "openprod peer proof v1";
const SIGNATURE_LABEL: &[u8] = b"openprod peer hello v1\0";
const PROOF_LEN: usize = 32;

mod kind {
    pub const DIRECT: u8 = 0;
    pub const RELAYED: u8 = 1;
}

/// What identifies this particular channel, as seen from one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBinding {
    /// WebRTC: the DTLS certificate fingerprints from the local and remote
    /// SDP (`"sha-256 AB:CD:…"`), compared without regard to case or the
    /// spaces around them.
    Direct { local_fingerprint: String, remote_fingerprint: String },
    /// The relay fallback: a fresh random nonce chosen by each side for this session.
    Relayed { local_nonce: [u8; 16], remote_nonce: [u8; 16] },
}

impl ChannelBinding {
    /// The binding as the hello's sender states it: its local end first.
    fn as_sent(&self) -> Sides {
        match self {
            ChannelBinding::Direct { local_fingerprint, remote_fingerprint } => Sides::Direct {
                sender: normalize_fingerprint(local_fingerprint),
                receiver: normalize_fingerprint(remote_fingerprint),
            },
            ChannelBinding::Relayed { local_nonce, remote_nonce } => {
                Sides::Relayed { sender: *local_nonce, receiver: *remote_nonce }
            }
        }
    }

    /// What a genuine hello arriving on this channel must state: the
    /// receiver's remote end is the sender's local one.
    fn as_received(&self) -> Sides {
        match self {
            ChannelBinding::Direct { local_fingerprint, remote_fingerprint } => Sides::Direct {
                sender: normalize_fingerprint(remote_fingerprint),
                receiver: normalize_fingerprint(local_fingerprint),
            },
            ChannelBinding::Relayed { local_nonce, remote_nonce } => {
                Sides::Relayed { sender: *remote_nonce, receiver: *local_nonce }
            }
        }
    }
}

/// Browsers write fingerprints in upper case, some SDP munging in lower
/// case, and lines arrive with stray spaces: none of that is a different
/// certificate.
fn normalize_fingerprint(fingerprint: &str) -> String {
    fingerprint.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase()
}

#[derive(PartialEq, Eq)]
enum Sides {
    Direct { sender: String, receiver: String },
    Relayed { sender: [u8; 16], receiver: [u8; 16] },
}

impl Sides {
    fn encode(&self, out: &mut Encoder) {
        match self {
            Sides::Direct { sender, receiver } => {
                out.u8(kind::DIRECT).str(sender).str(receiver);
            }
            Sides::Relayed { sender, receiver } => {
                out.u8(kind::RELAYED).fixed(sender).fixed(receiver);
            }
        }
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Sides, DecodeError> {
        let kind_offset = input.position();
        Ok(match input.u8("a channel kind")? {
            kind::DIRECT => Sides::Direct {
                sender: input.str("the sender's fingerprint")?.to_owned(),
                receiver: input.str("the receiver's fingerprint")?.to_owned(),
            },
            kind::RELAYED => Sides::Relayed {
                sender: input.fixed("the sender's nonce")?,
                receiver: input.fixed("the receiver's nonce")?,
            },
            _ => return Err(DecodeError { offset: kind_offset, what: "a known channel kind" }),
        })
    }

    /// Both ends the same: the channel leads back to where it started.
    fn is_loop(&self) -> bool {
        match self {
            Sides::Direct { sender, receiver } => sender == receiver,
            Sides::Relayed { sender, receiver } => sender == receiver,
        }
    }
}

/// Who is on the other end, once their hello checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIntroduction {
    pub actor: ActorId,
    pub display_name: String,
}

/// The hello this device sends on a newly opened channel.
pub fn seal_hello(
    identity: &Identity,
    display_name: &str,
    workspace: WorkspaceId,
    secret: &WorkspaceSecret,
    binding: &ChannelBinding,
) -> Vec<u8> {
    let mut out = Encoder::new();
    out.u8(HELLO_VERSION).fixed(workspace.as_bytes()).fixed(identity.actor_id().as_bytes());
    out.str(truncate(display_name, MAX_DISPLAY_NAME_BYTES));
    binding.as_sent().encode(&mut out);
    let mut frame = out.into_bytes();
    let proof = proof(secret, &frame);
    let signature = identity.sign(&signed_message(&frame, proof.as_bytes()));
    frame.extend_from_slice(proof.as_bytes());
    frame.extend_from_slice(&signature.to_bytes());
    frame
}

/// Checks a hello received on the channel `binding` describes, as this side
/// sees it. Answers any frame, however hostile, with an error rather than a
/// panic.
pub fn open_hello(
    frame: &[u8],
    workspace: WorkspaceId,
    secret: &WorkspaceSecret,
    binding: &ChannelBinding,
) -> Result<PeerIntroduction, AuthError> {
    let mut input = Decoder::new(frame);
    let version = input.u8("a hello version").map_err(AuthError::Malformed)?;
    if version != HELLO_VERSION {
        return Err(AuthError::UnknownVersion(version));
    }
    let hello = read_hello(&mut input).map_err(AuthError::Malformed)?;

    if hello.workspace != workspace {
        return Err(AuthError::OtherWorkspace);
    }
    // A loop would let a relay hand a device its own hello and have it
    // accepted: the device would take itself for a peer.
    if hello.sides.is_loop() || hello.sides != binding.as_received() {
        return Err(AuthError::ChannelMismatch);
    }
    let transcript = &frame[..hello.transcript_len];
    // BLAKE3's hash type compares in constant time: no timing tells a
    // guesser how close a forged proof came.
    if proof(secret, transcript) != blake3::Hash::from(hello.proof) {
        return Err(AuthError::WrongSecret);
    }
    hello
        .actor
        .verify(&signed_message(transcript, &hello.proof), &Signature::from_bytes(hello.signature))
        .map_err(|_| AuthError::BadSignature)?;
    Ok(PeerIntroduction { actor: hello.actor, display_name: hello.display_name })
}

struct Hello {
    workspace: WorkspaceId,
    actor: ActorId,
    display_name: String,
    sides: Sides,
    transcript_len: usize,
    proof: [u8; PROOF_LEN],
    signature: [u8; SIGNATURE_LEN],
}

fn read_hello(input: &mut Decoder<'_>) -> Result<Hello, DecodeError> {
    let workspace = WorkspaceId::from_bytes(input.fixed("a workspace id")?);
    let actor = ActorId::from_bytes(input.fixed("an actor id")?);
    let name_offset = input.position();
    let display_name = input.str("a display name")?;
    if display_name.len() > MAX_DISPLAY_NAME_BYTES {
        return Err(DecodeError { offset: name_offset, what: "a display name of at most 200 bytes" });
    }
    let sides = Sides::decode(input)?;
    let transcript_len = input.position();
    let proof = input.fixed("a proof of the workspace key")?;
    let signature = input.fixed("a signature")?;
    input.finish("the end of the hello")?;
    Ok(Hello { workspace, actor, display_name: display_name.to_owned(), sides, transcript_len, proof, signature })
}

fn proof(secret: &WorkspaceSecret, transcript: &[u8]) -> blake3::Hash {
    blake3::keyed_hash(&blake3::derive_key(PROOF_CONTEXT, secret.as_bytes()), transcript)
}

fn signed_message(transcript: &[u8], proof: &[u8; PROOF_LEN]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_LABEL.len() + transcript.len() + PROOF_LEN);
    message.extend_from_slice(SIGNATURE_LABEL);
    message.extend_from_slice(transcript);
    message.extend_from_slice(proof);
    message
}

pub(crate) fn truncate(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Why a device on the other end of a channel was not let in. Nothing from
/// a channel whose hello gave one of these may be trusted; the driver closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Malformed(DecodeError),
    /// Another hello version: the devices run different versions of Openprod.
    UnknownVersion(u8),
    OtherWorkspace,
    WrongSecret,
    /// The hello was made for another channel: a relay in the middle, a
    /// replay, or a hello sent back to its sender.
    ChannelMismatch,
    BadSignature,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Malformed(error) => write!(f, "the other device's greeting could not be read: {error}"),
            AuthError::UnknownVersion(version) => write!(
                f,
                "the other device runs another version of Openprod (greeting version {version}, this app \
                 speaks {HELLO_VERSION}); update both to the same version"
            ),
            AuthError::OtherWorkspace => f.write_str("the other device belongs to another workspace"),
            AuthError::WrongSecret => {
                f.write_str("the other device does not have this workspace's key: its invitation link is old or wrong")
            }
            AuthError::ChannelMismatch => {
                f.write_str("the connection was tampered with on its way (the relay may have swapped it)")
            }
            AuthError::BadSignature => {
                f.write_str("the other device's greeting is not signed by the person it names, so it was refused")
            }
        }
    }
}

impl std::error::Error for AuthError {}
