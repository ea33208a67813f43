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

/// Bundles received together as one record (see [`super::WorkspaceDb::append_segment`]).
pub fn encode<'a>(bundles: impl IntoIterator<Item = &'a Bundle>) -> Vec<u8> {
    let mut out = Encoder::new();
    for bundle in bundles {
        bundle.encode(&mut out);
    }
    out.into_bytes()
}

/// The bundles of a record, decoded one by one as they are asked for, so
/// that a large segment need not be decoded in one go. An empty record is
/// damaged (none is ever written); after an error the reading stops.
pub(super) fn decode(bytes: &[u8]) -> impl Iterator<Item = Result<Bundle, DecodeError>> + '_ {
    let mut input = Decoder::new(bytes);
    let mut first = true;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || (input.is_empty() && !first) {
            return None;
        }
        first = false;
        let bundle = Bundle::decode(&mut input);
        failed = bundle.is_err();
        Some(bundle)
    })
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
