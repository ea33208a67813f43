//! Compacting the stored log once enough was written since it was last
//! compacted: its records are folded into one ([`LogFolding`]). Received
//! batches are stored as they arrive, a record each, and every record
//! writes again the entity ids and the replaced operations' ids it refers
//! to, random bytes that nothing shrinks; folded, the whole log writes each
//! once. A catch-up of 100,000 field writes takes 2.1 MB in records and
//! 0.54 MB folded.
//!
//! What is written is the log's own copy of each stored bundle, found equal
//! to the stored one first, and the old records are replaced in one
//! transaction: any failure leaves them as they were, and the next quiet
//! moment tries again.

use std::collections::HashSet;
use std::fmt;

use openprod_core::identity::ActorId;
use openprod_core::store::{LogFolding, NotInLog};

use super::{Driver, Inner};
use crate::device::{monotonic_ms, record_measure, yield_to_browser};
use crate::storage::{LogRecord, StorageError};

/// The User Timing measure of folding the stored log, from reading its
/// records to the folded one being written (the page is free between steps).
pub const COMPACTION: &str = "openprod log compaction";

/// Parts of 512 bundles written per step of folding, between yields.
const PARTS_PER_STEP: usize = 1;

/// Longest stretch of checking stored bundles before yielding to the page.
const SLICE_MS: f64 = 12.0;

/// Stored bundles checked between looks at the clock.
const CHECKED_BETWEEN_CLOCK_READS: usize = 64;

/// Why the stored log was left as it was.
#[derive(Debug)]
enum FoldError {
    Storage(StorageError),
    /// A stored bundle is not the copy the workspace verified and holds.
    Differs {
        record: f64,
        author: ActorId,
        seq: u64,
    },
    NotInLog(NotInLog),
}

impl fmt::Display for FoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FoldError::Storage(error) => write!(f, "{error}"),
            FoldError::Differs { record, author, seq } => {
                write!(f, "log record {record} holds bundle {seq} of {author} unlike the copy the workspace verified")
            }
            FoldError::NotInLog(error) => write!(f, "{error}"),
        }
    }
}

impl From<StorageError> for FoldError {
    fn from(error: StorageError) -> Self {
        FoldError::Storage(error)
    }
}

impl From<NotInLog> for FoldError {
    fn from(error: NotInLog) -> Self {
        FoldError::NotInLog(error)
    }
}

impl Driver {
    /// Folds the stored log's records into one, when there are several.
    /// Stops, changing nothing, if the workspace is closed meanwhile.
    pub(super) async fn fold_stored_log(&self, inner: &Inner) {
        let began = monotonic_ms();
        match self.fold(inner).await {
            Ok(true) => record_measure(COMPACTION, began),
            Ok(false) => {}
            // The records stay as they are: a failure costs room, never data.
            Err(error) => leptos::logging::warn!("the stored log was not compacted: {error}"),
        }
    }

    /// Whether the records were replaced by the folded one.
    async fn fold(&self, inner: &Inner) -> Result<bool, FoldError> {
        let records = inner.db.load_records().await?;
        if records.len() < 2 {
            return Ok(false);
        }
        let Some(named) = self.checked_names(inner, &records).await? else { return Ok(false) };
        let workspace = inner.workspace.borrow().id();
        let Some(mut folding) = LogFolding::new(workspace, named) else { return Ok(false) };
        loop {
            // The page's turn comes first: checking the names may have just
            // used up a slice.
            yield_to_browser().await;
            if !self.is_open() {
                return Ok(false);
            }
            // The log only grows: what it held at the last step it still holds.
            if folding.step(inner.workspace.borrow().log(), PARTS_PER_STEP)? {
                break;
            }
        }
        Ok(inner.db.replace_records(&records, &folding.finish()).await?)
    }

    /// The bundles `records` hold, by author and seq, each once, in the
    /// order stored, once each is found equal to the log's copy; `None` if
    /// the workspace was closed meanwhile.
    async fn checked_names(
        &self,
        inner: &Inner,
        records: &[LogRecord],
    ) -> Result<Option<Vec<(ActorId, u64)>>, FoldError> {
        let mut named = Vec::new();
        let mut seen = HashSet::new();
        let mut checked = 0;
        let mut slice_started = monotonic_ms();
        for record in records {
            for bundle in record.bundles() {
                checked += 1;
                let bundle = bundle?;
                let header = &bundle.bundle().header;
                let (author, seq) = (header.author, header.seq);
                let held = inner.workspace.borrow().log().get(&author, seq) == Some(bundle.bundle());
                if !held {
                    return Err(FoldError::Differs { record: record.key(), author, seq });
                }
                // A bundle stored twice (a write retried after a reply was
                // lost) is folded once.
                if seen.insert((author, seq)) {
                    named.push((author, seq));
                }
                if checked % CHECKED_BETWEEN_CLOCK_READS == 0 && monotonic_ms() - slice_started > SLICE_MS {
                    yield_to_browser().await;
                    if !self.is_open() {
                        return Ok(None);
                    }
                    slice_started = monotonic_ms();
                }
            }
        }
        Ok(Some(named))
    }
}
