//! The canonical binary encoding of everything the engine hashes, signs,
//! stores or sends.
//!
//! One value has exactly one encoding: integers are minimal LEB128 varints
//! (a decoder refuses padded ones), strings are UTF-8 with a length prefix,
//! collections are written in their canonical order. So a hash or a signature
//! over an encoding is a hash or signature over the value.
//!
//! Decoding handles hostile input: every read is bounds-checked, lengths are
//! checked against the bytes actually present before anything is allocated,
//! and every failure is an error naming what could not be read — never a panic.

use std::fmt;

/// Appends canonical encodings to a byte buffer.
#[derive(Default)]
pub struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder::default()
    }

    /// An encoder with room for `bytes` bytes, for an encoding whose size
    /// is known: it then never grows (copying what it holds) on the way.
    pub fn with_capacity(bytes: usize) -> Self {
        Encoder { bytes: Vec::with_capacity(bytes) }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Empties the buffer, keeping its capacity for the next encoding.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u8(u8::from(value))
    }

    pub fn varint(&mut self, mut value: u64) -> &mut Self {
        loop {
            let low = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.bytes.push(low);
                return self;
            }
            self.bytes.push(low | 0x80);
        }
    }

    /// Zig-zag, so that small negative numbers stay small.
    pub fn signed_varint(&mut self, value: i64) -> &mut Self {
        self.varint(((value << 1) ^ (value >> 63)) as u64)
    }

    pub fn fixed(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.varint(bytes.len() as u64).fixed(bytes)
    }

    pub fn str(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes())
    }

    pub fn f64(&mut self, value: f64) -> &mut Self {
        self.fixed(&value.to_be_bytes())
    }
}

/// Reads canonical encodings from a byte slice.
pub struct Decoder<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Decoder { input, position: 0 }
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn remaining(&self) -> usize {
        self.input.len() - self.position
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next byte, left unread.
    pub fn peek_u8(&self) -> Option<u8> {
        self.input.get(self.position).copied()
    }

    pub fn error(&self, what: &'static str) -> DecodeError {
        DecodeError { offset: self.position, what }
    }

    /// Fails unless every byte was consumed: trailing bytes would make two
    /// different byte strings decode to one value.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.is_empty() { Ok(()) } else { Err(self.error(what)) }
    }

    pub fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let slice = self.slice(N, what)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    pub fn slice(&mut self, length: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if length > self.remaining() {
            return Err(self.error(what));
        }
        let slice = &self.input[self.position..self.position + length];
        self.position += length;
        Ok(slice)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.fixed::<1>(what)?[0])
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError { offset: self.position - 1, what }),
        }
    }

    pub fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let start = self.position;
        let mut value: u64 = 0;
        for index in 0..10 {
            let byte = self.u8(what)?;
            let payload = u64::from(byte & 0x7f);
            if index == 9 && payload > 1 {
                return Err(DecodeError { offset: start, what });
            }
            value |= payload << (7 * index);
            if byte & 0x80 == 0 {
                // A zero final byte after the first is padding: not canonical.
                if index > 0 && byte == 0 {
                    return Err(DecodeError { offset: start, what });
                }
                return Ok(value);
            }
        }
        Err(DecodeError { offset: start, what })
    }

    pub fn signed_varint(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let raw = self.varint(what)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A length that must fit in what is left of the input (each element
    /// takes at least `min_element_size` bytes), checked before any allocation.
    pub fn length(&mut self, min_element_size: usize, what: &'static str) -> Result<usize, DecodeError> {
        let start = self.position;
        let length = self.varint(what)?;
        let fits = usize::try_from(length)
            .ok()
            .filter(|length| length.saturating_mul(min_element_size.max(1)) <= self.remaining());
        fits.ok_or(DecodeError { offset: start, what })
    }

    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let length = self.length(1, what)?;
        self.slice(length, what)
    }

    pub fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let start = self.position;
        let bytes = self.bytes(what)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError { offset: start, what })
    }

    pub fn f64(&mut self, what: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.fixed(what)?))
    }
}

/// Input that is not a valid encoding: where, and what was being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "damaged data: could not read {} at byte {}", self.what, self.offset)
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_are_minimal() {
        for value in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut encoder = Encoder::new();
            encoder.varint(value);
            let bytes = encoder.into_bytes();
            let mut decoder = Decoder::new(&bytes);
            assert_eq!(decoder.varint("n"), Ok(value));
            assert!(decoder.is_empty());
        }
        // 0 padded to two bytes, and an 11-byte varint.
        assert!(Decoder::new(&[0x80, 0x00]).varint("n").is_err());
        assert!(Decoder::new(&[0xff; 11]).varint("n").is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint("n").is_err());
    }

    #[test]
    fn signed_varints_round_trip() {
        for value in [0, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            let mut encoder = Encoder::new();
            encoder.signed_varint(value);
            assert_eq!(Decoder::new(&encoder.into_bytes()).signed_varint("n"), Ok(value));
        }
    }

    #[test]
    fn lengths_beyond_the_input_fail_before_allocating() {
        let mut encoder = Encoder::new();
        encoder.varint(u64::MAX);
        let bytes = encoder.into_bytes();
        let error = Decoder::new(&bytes).bytes("a name").unwrap_err();
        assert_eq!(error.to_string(), "damaged data: could not read a name at byte 0");
        assert!(Decoder::new(&[3, b'a', b'b']).str("text").is_err());
        assert!(Decoder::new(&[2, 0xc3, 0x28]).str("text").is_err(), "invalid UTF-8");
        assert!(Decoder::new(&[2]).bool("flag").is_err());
    }
}
