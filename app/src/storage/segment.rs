//! The format of a log record, and which records compaction merges.
//!
//! A record is one or more encoded bundles back to back: a fresh local bundle
//! is a record of one, a segment holds many. Because the format is plain
//! concatenation, merging records is concatenating their bytes.

use std::ops::Range;

use openprod_core::bundle::Bundle;
use openprod_core::encoding::{DecodeError, Decoder, Encoder};

/// The size compaction aims for. Reading or writing 200 KB records cost about
/// as much per byte as one huge record, and per-record overhead vanishes.
pub(super) const SEGMENT_BYTES: usize = 256 * 1024;

pub(super) fn encode(bundles: &[Bundle]) -> Vec<u8> {
    let mut out = Encoder::new();
    for bundle in bundles {
        bundle.encode(&mut out);
    }
    out.into_bytes()
}

/// Every bundle of a record. An empty record is damaged: none is ever written.
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<Bundle>, DecodeError> {
    let mut input = Decoder::new(bytes);
    let mut bundles = vec![Bundle::decode(&mut input)?];
    while !input.is_empty() {
        bundles.push(Bundle::decode(&mut input)?);
    }
    Ok(bundles)
}

/// Splits records (given by size, in log order) into runs of neighbours of
/// at most [`SEGMENT_BYTES`] together, greedily. Runs of two or more are
/// merged; a record already as large as a segment stays alone. Planning the
/// result again gives runs of one: compaction is idempotent.
pub(super) fn plan(sizes: impl IntoIterator<Item = usize>) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut run_bytes = 0;
    for (index, size) in sizes.into_iter().enumerate() {
        match runs.last_mut() {
            Some(run) if run_bytes + size <= SEGMENT_BYTES => {
                run.end = index + 1;
                run_bytes += size;
            }
            _ => {
                runs.push(index..index + 1);
                run_bytes = size;
            }
        }
    }
    runs
}
