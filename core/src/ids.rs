//! Identifiers: UUIDv7 for entities, operations, edges and workspaces.
//!
//! The engine makes ids from a time and random bytes the driver passes in, so
//! it stays free of clocks and random sources.

use std::fmt;

use uuid::Uuid;

use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::identity::ActorId;

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
/// Keys the hash an operation's id is derived with: the id space of no
/// other use of BLAKE3 in the engine overlaps it.
const DERIVED_OP_ID_KEY: [u8; 32] = *b"openprod: operation id from slot";

impl OpId {
    /// The id of operation `index` of `author`'s bundle `seq`, made at
    /// `unix_millis`: a UUIDv7 whose random part is a keyed hash of the three.
    ///
    /// Derived, not drawn: a receiver checks that every operation of a
    /// bundle (from [`crate::bundle::FORMAT_DERIVED_OP_IDS`] on) carries its
    /// own, so nobody can put an id another member used into a bundle of
    /// their own (a device that took the copy first would refuse the
    /// original as a repeat and stall its author's chain), and an id travels
    /// and is stored as its place instead of ten random bytes.
    pub fn derived(author: &ActorId, seq: u64, index: usize, unix_millis: u64) -> OpId {
        let mut slot = [0u8; 32 + 8 + 4];
        slot[..32].copy_from_slice(author.as_bytes());
        slot[32..40].copy_from_slice(&seq.to_le_bytes());
        // More operations than fit in a u32 never make one bundle (the
        // message bound is far below), so the place is taken as it is.
        slot[40..].copy_from_slice(&(index as u32).to_le_bytes());
        let hash = blake3::keyed_hash(&DERIVED_OP_ID_KEY, &slot);
        let random: [u8; UUID_RANDOM_BYTES] = hash.as_bytes()[..UUID_RANDOM_BYTES].try_into().expect("ten bytes");
        OpId::new_v7(unix_millis, random)
    }

    /// Whether this is the id [`OpId::derived`] makes for its place, at the
    /// time it carries.
    pub fn is_derived(&self, author: &ActorId, seq: u64, index: usize) -> bool {
        *self == OpId::derived(author, seq, index, self.unix_millis())
    }

    /// The UUIDv7 timestamp: the first 48 bits.
    pub fn unix_millis(&self) -> u64 {
        uuid_millis(self.as_bytes())
    }
}

uuid_id!(
    /// One relationship between two entities.
    EdgeId
);
uuid_id!(
    /// A workspace: every bundle names the workspace it belongs to.
    WorkspaceId
);

/// The Unix time (in milliseconds) of a UUIDv7: its first 48 bits.
pub(crate) fn uuid_millis(id: &[u8; 16]) -> u64 {
    let mut time = [0u8; 8];
    time[2..].copy_from_slice(&id[..6]);
    u64::from_be_bytes(time)
}

/// Writes the time of a UUIDv7 made near the Unix time `wall` (in
/// milliseconds) as its distance from `wall`: mostly one byte.
pub(crate) fn write_time_near(out: &mut Encoder, id: &[u8; 16], wall: u64) {
    out.signed_varint(uuid_millis(id).wrapping_sub(wall) as i64);
}

/// Reads what [`write_time_near`] wrote with the same `wall`: a time that
/// fits a UUIDv7's 48 bits.
pub(crate) fn read_time_near(input: &mut Decoder<'_>, wall: u64, what: &'static str) -> Result<u64, DecodeError> {
    let offset = input.position();
    let time = wall.wrapping_add(input.signed_varint(what)? as u64);
    if time >> 48 != 0 {
        return Err(DecodeError { offset, what });
    }
    Ok(time)
}

/// A UUIDv7 put together from its time and the ten bytes after it.
pub(crate) fn id_from_time(time: u64, rest: &[u8; 10]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&time.to_be_bytes()[2..]);
    id[6..].copy_from_slice(rest);
    id
}

/// Writes a UUIDv7 made near the Unix time `wall` (in milliseconds): its
/// time as the distance from `wall`, then the rest of it.
pub(crate) fn write_id_near(out: &mut Encoder, id: &[u8; 16], wall: u64) {
    write_time_near(out, id, wall);
    out.fixed(&id[6..]);
}

/// Reads what [`write_id_near`] wrote with the same `wall`.
pub(crate) fn read_id_near(input: &mut Decoder<'_>, wall: u64) -> Result<[u8; 16], DecodeError> {
    let time = read_time_near(input, wall, "an id's time")?;
    Ok(id_from_time(time, &input.fixed("an id")?))
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
    fn derived_op_ids_differ_by_place_and_author_and_are_recognised() {
        let (alice, bob) = (ActorId::from_bytes([1; 32]), ActorId::from_bytes([2; 32]));
        let id = OpId::derived(&alice, 7, 2, 1_790_000_000_000);
        assert_eq!(id.unix_millis(), 1_790_000_000_000);
        assert_eq!(&id.to_string()[14..15], "7", "a UUIDv7");
        assert!(id.is_derived(&alice, 7, 2));
        for (author, seq, index) in [(&bob, 7, 2), (&alice, 8, 2), (&alice, 7, 3)] {
            assert!(!id.is_derived(author, seq, index));
            assert_ne!(OpId::derived(author, seq, index, 1_790_000_000_000), id);
        }
        // The time is the id's own; the random part is its place's.
        assert!(OpId::derived(&alice, 7, 2, 5).is_derived(&alice, 7, 2));
        assert!(!OpId::new_v7(1_790_000_000_000, [9; UUID_RANDOM_BYTES]).is_derived(&alice, 7, 2));
    }

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
