//! The signaling protocol: JSON text frames between a browser and the relay.
//!
//! The relay understands only the envelope. What peers send each other
//! (`data`: offers, answers, ICE candidates, encrypted sync frames) stays
//! opaque: it is forwarded byte for byte and never parsed.

use std::fmt;

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
        let envelope: Envelope<'a> =
            serde_json::from_str(text).map_err(|error| format!("unreadable message: {error}"))?;
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
            other => Err(format!("unknown message type '{other}'")),
        }
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
    BinaryNotSupported,
    InvalidRoom,
    AlreadyInRoom,
    NotInRoom,
    RoomFull,
    TooManyRooms,
    UnknownPeer,
    PeerBusy,
    RateLimited,
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
        let signal =
            ClientMessage::parse(r#"{"type":"signal","to":3,"data":{"sdp": "v=0", "n":[1, 2]}}"#).unwrap();
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
    fn room_names() {
        assert!(validate_room_name("a1-_Z").is_ok());
        assert!(validate_room_name("").is_err());
        assert!(validate_room_name("has space").is_err());
        assert!(validate_room_name(&"x".repeat(MAX_ROOM_NAME_LEN + 1)).is_err());
    }
}
