//! Deflating what travels and what is stored: sync frames on the wire and
//! log records in storage.
//!
//! A catch-up's frames and a stored log are long runs of similar bundles
//! (names, clocks and values that repeat), so the fastest deflate level shrinks them
//! several times for little time: the data channel, not the processor, is
//! the narrow part (DESIGN.md §6), and a tablet's storage is shared with
//! everything else on it. Short frames (a live edit, an acknowledgement)
//! would gain nothing and stay as they are.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
pub use miniz_oxide::inflate::DecompressError;

use crate::encoding::{DecodeError, Decoder, Encoder};

/// Frames shorter than this are not worth deflating.
pub const DEFLATE_FROM: usize = 2 * 1024;

/// `frame` deflated, if it is long enough to be worth it and comes out
/// shorter; otherwise it travels (or is stored) as it is.
pub fn deflate_frame(frame: &[u8]) -> Option<Vec<u8>> {
    let mut deflating = SlicedDeflate::new(frame);
    deflating.step(usize::MAX);
    deflating.finish()
}

/// [`deflate_frame`] a slice of the input at a time, so that a driver can
/// yield between slices: deflating megabytes at once is a long task in a
/// browser.
pub struct SlicedDeflate<'a> {
    rest: &'a [u8],
    plain_len: usize,
    /// `None` for input too short to be worth deflating.
    compressor: Option<Box<CompressorOxide>>,
    out: Vec<u8>,
    done: bool,
}

impl<'a> SlicedDeflate<'a> {
    pub fn new(input: &'a [u8]) -> SlicedDeflate<'a> {
        // The fastest level, raw deflate (no zlib wrapper).
        let worth_it = input.len() >= DEFLATE_FROM;
        SlicedDeflate {
            rest: input,
            plain_len: input.len(),
            compressor: worth_it.then(|| Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(1, 0, 0)))),
            out: Vec::with_capacity(if worth_it { input.len() / 4 } else { 0 }),
            done: !worth_it,
        }
    }

    /// Deflates up to `bytes` more of the input. Returns whether all of it
    /// is deflated.
    pub fn step(&mut self, bytes: usize) -> bool {
        let Some(compressor) = self.compressor.as_mut().filter(|_| !self.done) else { return true };
        let take = bytes.max(1).min(self.rest.len());
        let last = take == self.rest.len();
        let flush = if last { TDEFLFlush::Finish } else { TDEFLFlush::None };
        let mut input = &self.rest[..take];
        loop {
            // Room for what this slice may add; the compressor says when it
            // needs more.
            let start = self.out.len();
            self.out.resize(start + input.len() / 2 + 1024, 0);
            let (status, used, written) = compress(compressor, input, &mut self.out[start..], flush);
            self.out.truncate(start + written);
            input = &input[used..];
            match status {
                TDEFLStatus::Done => {
                    self.done = true;
                    break;
                }
                TDEFLStatus::Okay if input.is_empty() && !last => break,
                TDEFLStatus::Okay => {}
                // Only a misuse of the compressor (a call after it finished,
                // bad parameters) returns anything else; none is made here.
                status => unreachable!("deflating failed: {status:?}"),
            }
        }
        self.rest = &self.rest[take..];
        self.done
    }

    /// The input deflated, if that is shorter than the input (and it was
    /// long enough to try). Only once [`SlicedDeflate::step`] said it is done.
    pub fn finish(self) -> Option<Vec<u8>> {
        assert!(self.done, "deflating is finished only once every slice is deflated");
        self.compressor.as_ref()?;
        Some(self.out).filter(|deflated| deflated.len() < self.plain_len)
    }
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
    fn deflating_a_slice_at_a_time_gives_bytes_that_inflate_back() {
        let input: Vec<u8> = (0..200_000u32).flat_map(|index| format!("row {} ", index % 977).into_bytes()).collect();
        let at_once = deflate_frame(&input).expect("repetitive text deflates");
        for slice in [1, 1000, 65_536, input.len()] {
            let mut deflating = SlicedDeflate::new(&input);
            let mut steps = 1;
            while !deflating.step(slice) {
                steps += 1;
            }
            assert_eq!(steps, input.len().div_ceil(slice).max(1), "{slice} bytes a step");
            let deflated = deflating.finish().expect("deflates");
            assert!(
                deflated.len() <= at_once.len() + 64,
                "{} bytes in slices of {slice}, {} at once",
                deflated.len(),
                at_once.len()
            );
            assert_eq!(inflate_frame(&deflated, input.len()).unwrap(), input, "{slice} bytes a step");
        }
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
