//! Deflating what travels and what is stored: sync frames on the wire,
//! snapshots and log records in storage.
//!
//! A catch-up's frames and a stored log are long runs of similar bundles
//! (names, clocks and values that repeat), and a snapshot writes no random
//! bytes where it can help it, so the fastest deflate level shrinks them
//! several times for little time: the data channel, not the processor, is
//! the narrow part (DESIGN.md §6), and a tablet's storage is shared with
//! everything else on it. Short frames (a live edit, an acknowledgement)
//! would gain nothing and stay as they are.

pub use miniz_oxide::inflate::DecompressError;

use crate::encoding::{DecodeError, Decoder, Encoder};

/// Frames shorter than this are not worth deflating.
pub const DEFLATE_FROM: usize = 2 * 1024;

/// `frame` deflated, if it is long enough to be worth it and comes out
/// shorter; otherwise it travels (or is stored) as it is.
pub fn deflate_frame(frame: &[u8]) -> Option<Vec<u8>> {
    (frame.len() >= DEFLATE_FROM)
        .then(|| miniz_oxide::deflate::compress_to_vec(frame, 1))
        .filter(|deflated| deflated.len() < frame.len())
}

/// A deflated frame restored. Bounded by `limit`, so that a small frame from
/// a peer cannot inflate without end.
pub fn inflate_frame(deflated: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, limit)
}

/// Writes bytes `plain_len` long as their deflated form, `deflated`, with
/// that length in front ([`read_deflated`] reads them back).
pub(crate) fn write_deflated(out: &mut Encoder, plain_len: usize, deflated: &[u8]) {
    out.varint(plain_len as u64).bytes(deflated);
}

/// Reads what [`write_deflated`] wrote: the bytes restored, exactly as long
/// as written, or an error that names `what` was damaged.
pub(crate) fn read_deflated(input: &mut Decoder<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    let offset = input.position();
    let damaged = DecodeError { offset, what };
    let plain_len = usize::try_from(input.varint(what)?).map_err(|_| damaged)?;
    let plain = inflate_frame(input.bytes(what)?, plain_len).map_err(|_| damaged)?;
    if plain.len() != plain_len {
        return Err(damaged);
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_repetitive_frames_are_deflated_and_come_back() {
        let frame: Vec<u8> = (0..10_000u32).flat_map(|index| format!("value {} ", index % 50).into_bytes()).collect();
        let deflated = deflate_frame(&frame).expect("repetitive text deflates");
        assert!(deflated.len() * 4 < frame.len());
        assert_eq!(inflate_frame(&deflated, frame.len()).unwrap(), frame);
    }

    #[test]
    fn short_or_incompressible_frames_travel_as_they_are() {
        assert_eq!(deflate_frame(&[7; DEFLATE_FROM - 1]), None);
        // A byte sequence with no repetition deflate could use.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(deflate_frame(&noise), None);
    }

    #[test]
    fn stored_bytes_come_back_only_at_the_length_written() {
        let plain: Vec<u8> = (0..5_000u32).flat_map(|index| (index % 20).to_le_bytes()).collect();
        let deflated = deflate_frame(&plain).expect("repetitive bytes deflate");
        for (written_len, restores) in [(plain.len(), true), (plain.len() - 1, false), (plain.len() + 1, false)] {
            let mut out = Encoder::new();
            write_deflated(&mut out, written_len, &deflated);
            let bytes = out.into_bytes();
            let read = read_deflated(&mut Decoder::new(&bytes), "test bytes");
            assert_eq!(read.is_ok(), restores, "written as {written_len} bytes long");
            if restores {
                assert_eq!(read.unwrap(), plain);
            }
        }
    }

    #[test]
    fn a_frame_inflating_past_the_limit_is_refused() {
        let deflated = deflate_frame(&[0; 1 << 20]).expect("zeros deflate");
        assert!(deflated.len() * 100 < 1 << 20, "a frame of {} bytes", deflated.len());
        assert!(inflate_frame(&deflated, 64 * 1024).is_err());
        assert!(inflate_frame(b"not deflate at all", 1024).is_err());
    }
}
