//! Enrollment: how a device without the workspace secret gets it from a
//! member, in the two join modes where the share link carries no secret.
//!
//! - **Access key**: the joiner types a short code. The code seeds a
//!   password-authenticated key exchange in the manner of CPace (CFRG): the
//!   Diffie–Hellman generator is derived from the code, so only someone who
//!   knows the code ends up with the same session key. The relay, which
//!   carries the messages, sees two random-looking group elements; each
//!   attempt lets an attacker test a single guess, online, against a member
//!   who counts failures.
//! - **Request**: the generator is derived from nothing secret, so the
//!   exchange is a plain Diffie–Hellman; a relay could sit in the middle of
//!   it. Both screens therefore show a six-digit check code derived from the
//!   session key, and the member compares it with the joiner's before
//!   letting them in. A relay in the middle holds two different keys, so the
//!   codes differ.
//!
//! Once the member has checked the joiner (key valid, or request approved),
//! it sends the workspace secret encrypted under the session key. From then
//! on the joiner is an ordinary member: it greets peers with the signed
//! hello of [`crate::sync::auth`].
//!
//! Messages, every part in the [`crate::encoding`] form, after a version
//! byte (1) and a kind byte:
//!
//! | kind | message | content |
//! |---|---|---|
//! | 1 | ask | workspace id, joiner's actor id, display name, method (0 key + hint, 1 request), joiner's share (32 bytes) |
//! | 2 | answer | member's share (32 bytes) |
//! | 3 | confirm | joiner's key confirmation (32), Ed25519 signature of the joiner (64) |
//! | 4 | welcome | member's key confirmation (32), nonce (24), the secret encrypted (32 + 16) |
//! | 5 | refusal | the reason, in words |
//!
//! The joiner's signature covers the whole exchange, so the member admits
//! the actor that holds the key it names, and nobody else.

use std::fmt;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroizing;

use super::code::{AccessCode, HINT_LEN};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::entropy::Entropy;
use crate::identity::{ActorId, Identity, SIGNATURE_LEN, Signature};
use crate::ids::WorkspaceId;
use crate::sync::MAX_DISPLAY_NAME_BYTES;
use crate::sync::WorkspaceSecret;
use crate::sync::auth::truncate;

pub const ENROLL_VERSION: u8 = 1;

const GENERATOR_CONTEXT: &str = "openprod enroll generator v1";
const SESSION_CONTEXT: &str = "openprod enroll session v1";
const WELCOME_CONTEXT: &str = "openprod enroll welcome v1";
const CHECK_CODE_CONTEXT: &str = "openprod enroll check code v1";
const SIGNATURE_LABEL: &[u8] = b"openprod enroll v1\0";
const JOINER_CONFIRMS: &[u8] = b"joiner confirms";
const MEMBER_CONFIRMS: &[u8] = b"member confirms";
const NONCE_LEN: usize = 24;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;

mod kind {
    pub const ASK: u8 = 1;
    pub const ANSWER: u8 = 2;
    pub const CONFIRM: u8 = 3;
    pub const WELCOME: u8 = 4;
    pub const REFUSAL: u8 = 5;
}

/// How the joiner asks to come in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// With an access key; `hint` is its first two characters, which name it.
    AccessKey {
        hint: String,
    },
    Request,
}

/// A joiner's opening message, as a member reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub workspace: WorkspaceId,
    pub actor: ActorId,
    pub display_name: String,
    pub method: Method,
    share: CompressedRistretto,
}

impl Ask {
    /// Reads an ask; anything else (or garbage) is an error, never a panic.
    pub fn read(frame: &[u8]) -> Result<Ask, EnrollError> {
        let mut input = open_frame(frame, kind::ASK)?;
        let ask = read_ask(&mut input).map_err(EnrollError::Malformed)?;
        input.finish("the end of the request to join").map_err(EnrollError::Malformed)?;
        Ok(ask)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = frame_header(kind::ASK);
        out.fixed(self.workspace.as_bytes()).fixed(self.actor.as_bytes()).str(&self.display_name);
        match &self.method {
            Method::AccessKey { hint } => out.u8(0).str(hint),
            Method::Request => out.u8(1),
        };
        out.fixed(self.share.as_bytes());
        out.into_bytes()
    }
}

fn read_ask(input: &mut Decoder<'_>) -> Result<Ask, DecodeError> {
    let workspace = WorkspaceId::from_bytes(input.fixed("a workspace id")?);
    let actor = ActorId::from_bytes(input.fixed("an actor id")?);
    let name_offset = input.position();
    let display_name = input.str("a display name")?;
    if display_name.len() > MAX_DISPLAY_NAME_BYTES {
        return Err(DecodeError { offset: name_offset, what: "a display name of at most 200 bytes" });
    }
    let method_offset = input.position();
    let method = match input.u8("a way of joining")? {
        0 => {
            let hint_offset = input.position();
            let hint = input.str("an access key's first characters")?;
            if hint.len() != HINT_LEN {
                return Err(DecodeError { offset: hint_offset, what: "the two first characters of an access key" });
            }
            Method::AccessKey { hint: hint.to_owned() }
        }
        1 => Method::Request,
        _ => return Err(DecodeError { offset: method_offset, what: "a known way of joining" }),
    };
    let share = CompressedRistretto(input.fixed("a key share")?);
    Ok(Ask { workspace, actor, display_name: display_name.to_owned(), method, share })
}

/// What the joiner types or chooses: the code itself stays on its device.
pub enum JoinWith<'a> {
    AccessKey(&'a AccessCode),
    Request,
}

/// The joiner's side of one exchange with one member.
pub struct Joiner {
    workspace: WorkspaceId,
    identity: Identity,
    scalar: Scalar,
    ask: Vec<u8>,
    session: Option<Session>,
}

/// What a member's message meant to the joiner.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinerOutcome {
    /// Send this confirmation; then wait (for a key: a moment; for a
    /// request: until a person decides). The check code is for request mode.
    Confirm {
        frame: Vec<u8>,
        check_code: String,
    },
    Admitted(WorkspaceSecret),
    Refused(String),
}

impl Joiner {
    /// Starts an exchange; returns the ask to send to a member.
    pub fn start(
        identity: Identity,
        display_name: &str,
        workspace: WorkspaceId,
        with: JoinWith<'_>,
        entropy: &mut dyn Entropy,
    ) -> (Joiner, Vec<u8>) {
        let (method, password) = match with {
            JoinWith::AccessKey(code) => (Method::AccessKey { hint: code.hint().to_owned() }, code.as_str()),
            JoinWith::Request => (Method::Request, ""),
        };
        let generator = generator(workspace, &method, password);
        let scalar = random_scalar(entropy);
        let ask = Ask {
            workspace,
            actor: identity.actor_id(),
            display_name: truncate(display_name, MAX_DISPLAY_NAME_BYTES).to_owned(),
            method,
            share: (scalar * generator).compress(),
        }
        .encode();
        (Joiner { workspace, identity, scalar, ask: ask.clone(), session: None }, ask)
    }

    pub fn workspace(&self) -> WorkspaceId {
        self.workspace
    }

    /// Takes the member's next message: its answer, then its welcome or refusal.
    pub fn on_message(&mut self, frame: &[u8]) -> Result<JoinerOutcome, EnrollError> {
        match peek_kind(frame)? {
            kind::ANSWER if self.session.is_none() => {
                let mut input = open_frame(frame, kind::ANSWER)?;
                let share = CompressedRistretto(input.fixed("a key share").map_err(EnrollError::Malformed)?);
                input.finish("the end of the answer").map_err(EnrollError::Malformed)?;
                let session = Session::derive(&self.scalar, &share, &self.ask, frame)?;
                let confirmation = session.confirmation(JOINER_CONFIRMS);
                let signature = self.identity.sign(&signed_message(&session.transcript, &confirmation));
                let mut out = frame_header(kind::CONFIRM);
                out.fixed(&confirmation).fixed(&signature.to_bytes());
                let check_code = session.check_code();
                self.session = Some(session);
                Ok(JoinerOutcome::Confirm { frame: out.into_bytes(), check_code })
            }
            kind::WELCOME => {
                let session = self.session.as_ref().ok_or(EnrollError::OutOfTurn)?;
                let mut input = open_frame(frame, kind::WELCOME)?;
                let confirmation: [u8; 32] =
                    input.fixed("the member's confirmation").map_err(EnrollError::Malformed)?;
                let nonce: [u8; NONCE_LEN] = input.fixed("a nonce").map_err(EnrollError::Malformed)?;
                let sealed = input.slice(SECRET_LEN + TAG_LEN, "the sealed key").map_err(EnrollError::Malformed)?;
                input.finish("the end of the welcome").map_err(EnrollError::Malformed)?;
                if blake3::Hash::from(confirmation) != blake3::Hash::from(session.confirmation(MEMBER_CONFIRMS)) {
                    return Err(EnrollError::KeysDiffer);
                }
                let mut buffer = Zeroizing::new(sealed.to_vec());
                session
                    .welcome_cipher()
                    .decrypt_in_place(&XNonce::from(nonce), &session.transcript, &mut *buffer)
                    .map_err(|_| EnrollError::KeysDiffer)?;
                let mut secret = [0u8; SECRET_LEN];
                secret.copy_from_slice(&buffer);
                Ok(JoinerOutcome::Admitted(WorkspaceSecret::from_bytes(secret)))
            }
            kind::REFUSAL => Ok(JoinerOutcome::Refused(read_refusal(frame)?)),
            _ => Err(EnrollError::OutOfTurn),
        }
    }
}

/// A member's side of one exchange with one joiner.
pub struct Member {
    ask: Ask,
    session: Session,
    confirmed: bool,
}

impl Member {
    /// Answers `ask` (read with [`Ask::read`]). `code` is the access key the
    /// ask's hint names, or `None` for a request. Returns the answer to send.
    pub fn answer(
        ask: Ask,
        ask_frame: &[u8],
        code: Option<&AccessCode>,
        entropy: &mut dyn Entropy,
    ) -> Result<(Member, Vec<u8>), EnrollError> {
        let password = match (&ask.method, code) {
            (Method::AccessKey { hint }, Some(code)) if code.hint() == hint => code.as_str(),
            (Method::Request, None) => "",
            _ => return Err(EnrollError::WrongMethod),
        };
        let generator = generator(ask.workspace, &ask.method, password);
        let scalar = random_scalar(entropy);
        let mut out = frame_header(kind::ANSWER);
        out.fixed((scalar * generator).compress().as_bytes());
        let answer = out.into_bytes();
        let session = Session::derive(&scalar, &ask.share, ask_frame, &answer)?;
        Ok((Member { ask, session, confirmed: false }, answer))
    }

    pub fn ask(&self) -> &Ask {
        &self.ask
    }

    /// The six digits both screens show in request mode.
    pub fn check_code(&self) -> String {
        self.session.check_code()
    }

    /// Checks the joiner's confirmation: the same session key (so, for a
    /// key, the right code), signed by the actor the ask named.
    pub fn on_confirm(&mut self, frame: &[u8]) -> Result<(), EnrollError> {
        let mut input = open_frame(frame, kind::CONFIRM)?;
        let confirmation: [u8; 32] = input.fixed("the joiner's confirmation").map_err(EnrollError::Malformed)?;
        let signature: [u8; SIGNATURE_LEN] = input.fixed("a signature").map_err(EnrollError::Malformed)?;
        input.finish("the end of the confirmation").map_err(EnrollError::Malformed)?;
        if blake3::Hash::from(confirmation) != blake3::Hash::from(self.session.confirmation(JOINER_CONFIRMS)) {
            return Err(match self.ask.method {
                Method::AccessKey { .. } => EnrollError::WrongCode,
                Method::Request => EnrollError::KeysDiffer,
            });
        }
        self.ask
            .actor
            .verify(&signed_message(&self.session.transcript, &confirmation), &Signature::from_bytes(signature))
            .map_err(|_| EnrollError::BadSignature)?;
        self.confirmed = true;
        Ok(())
    }

    /// The welcome that hands over the workspace secret. Only after a
    /// confirmation checked out: before that, nobody is known to be there.
    pub fn welcome(&self, secret: &WorkspaceSecret, entropy: &mut dyn Entropy) -> Result<Vec<u8>, EnrollError> {
        if !self.confirmed {
            return Err(EnrollError::OutOfTurn);
        }
        let mut nonce = [0u8; NONCE_LEN];
        entropy.fill(&mut nonce);
        let mut buffer = Zeroizing::new(Vec::with_capacity(SECRET_LEN + TAG_LEN));
        buffer.extend_from_slice(secret.as_bytes());
        self.session
            .welcome_cipher()
            .encrypt_in_place(&XNonce::from(nonce), &self.session.transcript, &mut *buffer)
            .expect("a buffer sized for the tag encrypts");
        let mut out = frame_header(kind::WELCOME);
        out.fixed(&self.session.confirmation(MEMBER_CONFIRMS)).fixed(&nonce).fixed(&buffer);
        Ok(out.into_bytes())
    }
}

/// A refusal, in words the joiner's screen shows as they are.
pub fn refusal(reason: &str) -> Vec<u8> {
    let mut out = frame_header(kind::REFUSAL);
    out.str(truncate(reason, 500));
    out.into_bytes()
}

fn read_refusal(frame: &[u8]) -> Result<String, EnrollError> {
    let mut input = open_frame(frame, kind::REFUSAL)?;
    let reason = input.str("a reason").map_err(EnrollError::Malformed)?.to_owned();
    input.finish("the end of the refusal").map_err(EnrollError::Malformed)?;
    Ok(reason)
}

/// The key both sides derive, and the exchange it was derived from.
struct Session {
    key: Zeroizing<[u8; 32]>,
    /// Ask and answer, as sent: everything the key and signature bind.
    transcript: Vec<u8>,
}

impl Session {
    fn derive(
        scalar: &Scalar,
        their_share: &CompressedRistretto,
        ask: &[u8],
        answer: &[u8],
    ) -> Result<Session, EnrollError> {
        let point = their_share.decompress().ok_or(EnrollError::BadShare)?;
        let shared = (scalar * point).compress();
        // The identity element: the other side chose a share that fixes the
        // key whatever our scalar is.
        if shared == RistrettoPoint::default().compress() {
            return Err(EnrollError::BadShare);
        }
        let mut transcript = Vec::with_capacity(ask.len() + answer.len());
        transcript.extend_from_slice(ask);
        transcript.extend_from_slice(answer);
        let mut hasher = blake3::Hasher::new_derive_key(SESSION_CONTEXT);
        hasher.update(shared.as_bytes()).update(&transcript);
        Ok(Session { key: Zeroizing::new(*hasher.finalize().as_bytes()), transcript })
    }

    fn confirmation(&self, role: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.key, role).as_bytes()
    }

    fn welcome_cipher(&self) -> XChaCha20Poly1305 {
        let key = Zeroizing::new(blake3::derive_key(WELCOME_CONTEXT, &*self.key));
        XChaCha20Poly1305::new((&*key).into())
    }

    /// Six digits, shown as `482 913`.
    fn check_code(&self) -> String {
        let bytes = blake3::derive_key(CHECK_CODE_CONTEXT, &*self.key);
        let number = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes")) % 1_000_000;
        format!("{:03} {:03}", number / 1000, number % 1000)
    }
}

/// CPace's generator: a point only the code's holders can name.
fn generator(workspace: WorkspaceId, method: &Method, password: &str) -> RistrettoPoint {
    let mut hasher = blake3::Hasher::new_derive_key(GENERATOR_CONTEXT);
    hasher.update(workspace.as_bytes());
    let mut out = Encoder::new();
    match method {
        Method::AccessKey { hint } => out.u8(0).str(hint).str(password),
        Method::Request => out.u8(1),
    };
    hasher.update(&out.into_bytes());
    let mut wide = [0u8; 64];
    hasher.finalize_xof().fill(&mut wide);
    RistrettoPoint::from_uniform_bytes(&wide)
}

fn random_scalar(entropy: &mut dyn Entropy) -> Scalar {
    let mut wide = Zeroizing::new([0u8; 64]);
    entropy.fill(&mut *wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn signed_message(transcript: &[u8], confirmation: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_LABEL.len() + transcript.len() + 32);
    message.extend_from_slice(SIGNATURE_LABEL);
    message.extend_from_slice(transcript);
    message.extend_from_slice(confirmation);
    message
}

fn frame_header(kind: u8) -> Encoder {
    let mut out = Encoder::new();
    out.u8(ENROLL_VERSION).u8(kind);
    out
}

fn peek_kind(frame: &[u8]) -> Result<u8, EnrollError> {
    match frame {
        [ENROLL_VERSION, kind, ..] => Ok(*kind),
        [version, ..] => Err(EnrollError::UnknownVersion(*version)),
        [] => Err(EnrollError::Malformed(DecodeError { offset: 0, what: "an enrollment version" })),
    }
}

fn open_frame(frame: &[u8], expected: u8) -> Result<Decoder<'_>, EnrollError> {
    if peek_kind(frame)? != expected {
        return Err(EnrollError::OutOfTurn);
    }
    let mut input = Decoder::new(frame);
    input.fixed::<2>("an enrollment header").map_err(EnrollError::Malformed)?;
    Ok(input)
}

/// Why an enrollment did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollError {
    Malformed(DecodeError),
    UnknownVersion(u8),
    /// A message that does not fit where the exchange stands.
    OutOfTurn,
    /// The ask's way of joining is not the one the member expected (say, a
    /// key whose first characters name no key).
    WrongMethod,
    /// The joiner's confirmation does not match: the code typed is not the key's.
    WrongCode,
    /// The two sides ended with different keys: someone in between, or a
    /// wrong code on the joiner's side.
    KeysDiffer,
    /// A share that is not a group element, or one chosen to fix the key.
    BadShare,
    BadSignature,
}

impl fmt::Display for EnrollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrollError::Malformed(error) => write!(f, "a message about joining could not be read: {error}"),
            EnrollError::UnknownVersion(version) => write!(
                f,
                "the other device runs another version of Openprod (joining version {version}, this app speaks \
                 {ENROLL_VERSION}); update both"
            ),
            EnrollError::OutOfTurn => f.write_str("a message about joining came out of turn and was ignored"),
            EnrollError::WrongMethod => f.write_str("that access key is not one of this workspace's keys"),
            EnrollError::WrongCode => f.write_str("the access key is not right"),
            EnrollError::KeysDiffer => f.write_str(
                "the two devices did not agree on a key: the access key is not right, or the connection was \
                 tampered with on its way",
            ),
            EnrollError::BadShare => f.write_str("the other device sent an invalid key share"),
            EnrollError::BadSignature => {
                f.write_str("the request to join is not signed by the person it names, so it was refused")
            }
        }
    }
}

impl std::error::Error for EnrollError {}
