//! Identifiers: UUIDv7 for entities, operations, edges and workspaces.
//!
//! The engine makes ids from a time and random bytes the driver passes in, so
//! it stays free of clocks and random sources.

use std::fmt;

use uuid::Uuid;

use crate::encoding::{DecodeError, Decoder, Encoder};

/// Bytes of randomness a new UUIDv7 needs besides its millisecond timestamp.
pub const UUID_RANDOM_BYTES: usize = 10;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A UUIDv7 from a Unix time in milliseconds and fresh random bytes.
            pub fn new_v7(unix_millis: u64, random: [u8; UUID_RANDOM_BYTES]) -> Self {
                $name(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(Uuid::from_bytes(bytes))
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Parses the canonical lowercase hyphenated form.
            pub fn parse(text: &str) -> Result<Self, IdParseError> {
                Uuid::try_parse(text).map($name).map_err(|_| IdParseError { text: text.chars().take(64).collect() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// A record's identity: stable for the life of the workspace.
    EntityId
);
uuid_id!(
    /// One operation; breaks ties between equal HLCs in canonical order.
    OpId
);
uuid_id!(
    /// One relationship between two entities.
    EdgeId
);
uuid_id!(
    /// A workspace: every bundle names the workspace it belongs to.
    WorkspaceId
);

/// Writes a UUIDv7 made near the Unix time `wall` (in milliseconds): its
/// time as the distance from `wall`, mostly one byte, then the rest of it.
pub(crate) fn write_id_near(out: &mut Encoder, id: &[u8; 16], wall: u64) {
    let mut time = [0u8; 8];
    time[2..].copy_from_slice(&id[..6]);
    out.signed_varint(u64::from_be_bytes(time).wrapping_sub(wall) as i64).fixed(&id[6..]);
}

/// Reads what [`write_id_near`] wrote with the same `wall`.
pub(crate) fn read_id_near(input: &mut Decoder<'_>, wall: u64) -> Result<[u8; 16], DecodeError> {
    let offset = input.position();
    let time = wall.wrapping_add(input.signed_varint("an id's time")? as u64);
    if time >> 48 != 0 {
        return Err(DecodeError { offset, what: "an id's time" });
    }
    let rest: [u8; 10] = input.fixed("an id")?;
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&time.to_be_bytes()[2..]);
    id[6..].copy_from_slice(&rest);
    Ok(id)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdParseError {
    pub text: String,
}

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not an id (expected a UUID like 018f6b1c-2e4a-7d00-8abc-1234567890ab)", self.text)
    }
}

impl std::error::Error for IdParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_sort_by_time_and_round_trip() {
        let earlier = EntityId::new_v7(1_700_000_000_000, [0xff; UUID_RANDOM_BYTES]);
        let later = EntityId::new_v7(1_700_000_000_001, [0x00; UUID_RANDOM_BYTES]);
        assert!(earlier < later);
        let text = earlier.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7", "version nibble");
        assert_eq!(EntityId::parse(&text), Ok(earlier));
        assert!(EntityId::parse("not-an-id").unwrap_err().to_string().contains("not-an-id"));
    }
}
