//! Which log records compaction merges.
//!
//! A record is one or more stored units back to back
//! ([`openprod_core::store::encode_log_record`]): a fresh local bundle is a
//! record of one, a received batch one of many. Because units read alone,
//! merging records is concatenating their bytes.

use std::ops::Range;
/// The size compaction aims for. Reading or writing 200 KB records cost about
/// as much per byte as one huge record, and per-record overhead vanishes.
pub(super) const SEGMENT_BYTES: usize = 256 * 1024;

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
