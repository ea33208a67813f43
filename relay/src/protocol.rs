//! The signaling protocol between a browser and the relay.
//!
//! Text frames are JSON messages. The relay understands only the envelope:
//! what peers send each other (`data`: offers, answers, ICE candidates) stays
//! opaque, forwarded byte for byte and never parsed.
//!
//! Binary frames carry relayed sync traffic. From a client: the target's
//! [`PeerId`] as 8 big-endian bytes, then the payload. To the target: the
//! sender's id in the same 8 bytes, then the same payload. The payload is
//! end-to-end encrypted by the peers; the relay never looks inside.

use std::fmt;

use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Relay-assigned id of one connection, unique for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Bytes of peer id that open every binary frame.
pub const PEER_ID_BYTES: usize = 8;

/// Splits a client's binary frame into its target and payload.
pub fn parse_binary(frame: &[u8]) -> Result<(PeerId, &[u8]), String> {
    let Some((target, payload)) = frame.split_first_chunk::<PEER_ID_BYTES>() else {
        return Err(format!(
            "a binary frame of {} bytes is too short: it starts with the target's {PEER_ID_BYTES}-byte peer id",
            frame.len()
        ));
    };
    Ok((PeerId(u64::from_be_bytes(*target)), payload))
}

/// The binary frame the target receives: the sender's id, then the payload.
pub fn relayed_binary(from: PeerId, payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(PEER_ID_BYTES + payload.len());
    frame.extend_from_slice(&from.0.to_be_bytes());
    frame.extend_from_slice(payload);
    frame.into()
}

/// Longest accepted room name. Clients use a hex hash of the workspace id.
pub const MAX_ROOM_NAME_LEN: usize = 128;

#[derive(Debug)]
pub enum ClientMessage<'a> {
    /// Enter a room. A connection is in at most one room.
    Join { room: String },
    /// Forward `data` to one peer of the same room.
    Signal { to: PeerId, data: &'a RawValue },
    /// Leave the room but keep the connection.
    Leave,
}

/// Every field any client message may carry. Parsed first, then checked per
/// type, because serde's tagged enums cannot hold a borrowed `RawValue`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    room: Option<String>,
    to: Option<PeerId>,
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

/// Keeps `"data": null` apart from a missing `data`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

impl<'a> ClientMessage<'a> {
    /// Parses one text frame; the error says in plain words what is wrong.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        let envelope: Envelope<'a> = serde_json::from_str(text)
            .map_err(|error| format!("unreadable message: {}", shorten(&error.to_string(), 160)))?;
        let Envelope { kind, room, to, data } = envelope;
        let extra = |allowed: &[&str]| {
            let given = [("room", room.is_some()), ("to", to.is_some()), ("data", data.is_some())];
            match given.iter().find(|(name, is_given)| *is_given && !allowed.contains(name)) {
                Some((name, _)) => Err(format!("a '{kind}' message has no field '{name}'")),
                None => Ok(()),
            }
        };
        match kind {
            "join" => {
                extra(&["room"])?;
                let room = room.ok_or("a 'join' message needs a 'room'")?;
                Ok(ClientMessage::Join { room })
            }
            "signal" => {
                extra(&["to", "data"])?;
                let to = to.ok_or("a 'signal' message needs 'to'")?;
                let data = data.ok_or("a 'signal' message needs 'data'")?;
                Ok(ClientMessage::Signal { to, data })
            }
            "leave" => {
                extra(&[])?;
                Ok(ClientMessage::Leave)
            }
            other => Err(format!("unknown message type '{}'", shorten(other, 32))),
        }
    }
}

/// Refusals may quote what the client sent, and logs keep refusals: at most
/// `max_chars` of it are kept.
fn shorten(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage<'a> {
    Welcome { peer: PeerId, room: &'a str, peers: Vec<PeerId>, limits: &'a crate::Limits },
    PeerJoined { peer: PeerId },
    PeerLeft { peer: PeerId },
    Signal { from: PeerId, data: &'a RawValue },
    Left,
    Error { code: ErrorCode, message: String },
}

impl ServerMessage<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> String {
        ServerMessage::Error { code, message: message.into() }.to_json()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    MessageTooLarge,
    Malformed,
    /// A binary frame shorter than the peer id it must start with.
    FrameTooShort,
    InvalidRoom,
    AlreadyInRoom,
    NotInRoom,
    RoomFull,
    TooManyRooms,
    UnknownPeer,
    PeerBusy,
    RateLimited,
}

/// The code as it appears on the wire, for logs.
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(code)) => f.write_str(&code),
            _ => write!(f, "{self:?}"),
        }
    }
}

/// Checks a room name: 1 to [`MAX_ROOM_NAME_LEN`] characters of `[A-Za-z0-9_-]`.
pub fn validate_room_name(room: &str) -> Result<(), String> {
    if room.is_empty() || room.len() > MAX_ROOM_NAME_LEN {
        return Err(format!("a room name has 1 to {MAX_ROOM_NAME_LEN} characters"));
    }
    if !room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err("a room name may use only letters, digits, '-' and '_'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_messages_and_keeps_data_opaque() {
        let join = ClientMessage::parse(r#"{"type":"join","room":"abc"}"#).unwrap();
        assert!(matches!(join, ClientMessage::Join { room } if room == "abc"));
        let signal = ClientMessage::parse(r#"{"type":"signal","to":3,"data":{"sdp": "v=0", "n":[1, 2]}}"#).unwrap();
        match signal {
            ClientMessage::Signal { to, data } => {
                assert_eq!(to, PeerId(3));
                assert_eq!(data.get(), r#"{"sdp": "v=0", "n":[1, 2]}"#);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_types_and_fields() {
        for bad in [
            r#"{"type":"shout"}"#,
            r#"{"type":"leave","x":1}"#,
            r#"{"type":"leave","room":"r"}"#,
            r#"{"type":"signal","to":"a","data":1}"#,
            r#"{"type":"signal","to":1}"#,
            r#"{"type":"join"}"#,
            r#"{"room":"r"}"#,
            r#"[1,2]"#,
        ] {
            assert!(ClientMessage::parse(bad).is_err(), "{bad} must be refused");
        }
        let null_data = ClientMessage::parse(r#"{"type":"signal","to":1,"data":null}"#).unwrap();
        assert!(matches!(null_data, ClientMessage::Signal { data, .. } if data.get() == "null"));
    }

    #[test]
    fn binary_frames_swap_the_target_for_the_sender() {
        let (to, payload) = parse_binary(&[0, 0, 0, 0, 0, 0, 1, 2, 0xaa, 0xbb]).unwrap();
        assert_eq!(to, PeerId(258));
        assert_eq!(payload, [0xaa, 0xbb]);
        assert_eq!(&relayed_binary(PeerId(7), payload)[..], [0, 0, 0, 0, 0, 0, 0, 7, 0xaa, 0xbb]);
        assert_eq!(parse_binary(&[0; PEER_ID_BYTES]).unwrap().1, [0u8; 0]);
        assert!(parse_binary(&[1, 2, 3]).unwrap_err().contains("3 bytes"));
    }

    #[test]
    fn refusals_quote_at_most_a_short_prefix() {
        let long_type = format!(r#"{{"type":"{}"}}"#, "é".repeat(1000));
        let problem = ClientMessage::parse(&long_type).unwrap_err();
        assert!(problem.chars().count() < 80, "{problem}");
        let long_field = format!(r#"{{"type":"signal","to":"{}"}}"#, "x".repeat(1000));
        let problem = ClientMessage::parse(&long_field).unwrap_err();
        assert!(problem.chars().count() < 200, "{problem}");
    }

    #[test]
    fn error_codes_display_as_on_the_wire() {
        assert_eq!(ErrorCode::FrameTooShort.to_string(), "frame-too-short");
        assert_eq!(
            ServerMessage::error(ErrorCode::RateLimited, "slow"),
            r#"{"type":"error","code":"rate-limited","message":"slow"}"#
        );
    }

    #[test]
    fn room_names() {
        assert!(validate_room_name("a1-_Z").is_ok());
        assert!(validate_room_name("").is_err());
        assert!(validate_room_name("has space").is_err());
        assert!(validate_room_name(&"x".repeat(MAX_ROOM_NAME_LEN + 1)).is_err());
    }
}
