//! Opening a stored workspace without freezing the page: the log is decoded
//! and fed to the engine in slices of a few milliseconds, with a yield to the
//! browser (and a progress report) between slices.

use std::fmt;

use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::workspace::{Opening, Restored, Workspace};

use super::Driver;
use crate::device::{
    HeldLock, lock_held_here, monotonic_ms, now_ms, record_measure, sleep_ms, try_exclusive_lock, yield_to_browser,
};
use crate::storage::{LogRecord, StorageError, WorkspaceDb};

/// Work done between two yields. Well under the 50 ms that browsers call a
/// long task, so input stays responsive while a large workspace opens.
const SLICE_MS: f64 = 12.0;

/// Bundles checked in one go: a stored segment holds thousands, far more
/// than one slice's worth.
const FEED_BUNDLES: usize = 256;

/// The User Timing measure of an opening, from the first read to the
/// engine ready.
pub const OPENED: &str = "openprod workspace opened";

/// How far an opening has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenProgress {
    pub stored_bytes: usize,
    pub done_bytes: usize,
    pub bundles: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    Storage(StorageError),
    /// The database holds no bundle at all: the workspace never finished
    /// being created or imported here.
    Empty,
    /// Another tab or window of this browser has the workspace open. Two
    /// would sign different changes under the same numbers of this device's
    /// chain, which no peer could accept.
    OpenElsewhere,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Storage(error) => write!(f, "{error}"),
            OpenError::Empty => f.write_str("This workspace holds no data on this device yet."),
            OpenError::OpenElsewhere => f.write_str(
                "This workspace is open in another tab or window of Openprod on this device. Close it there, \
                 then reload this page.",
            ),
        }
    }
}

impl From<StorageError> for OpenError {
    fn from(error: StorageError) -> Self {
        OpenError::Storage(error)
    }
}

/// Opens workspace `id` from IndexedDB, reporting progress as it goes: the
/// stored log is replayed (decoded, checked and applied) a slice at a time.
pub async fn open(
    id: WorkspaceId,
    identity: Identity,
    mut on_progress: impl FnMut(OpenProgress),
) -> Result<Driver, OpenError> {
    let began = monotonic_ms();
    let lock = lock_workspace(id).await?;
    let db = WorkspaceDb::open(id).await?;
    let records = db.load_records().await?;
    let stored_bytes = records.iter().map(|record| record.byte_len()).sum();
    on_progress(OpenProgress { stored_bytes, done_bytes: 0, bundles: 0 });
    yield_to_browser().await;

    let mut opening = Opening::new(id, identity, now_ms(), ClockConfig::default());
    let mut unreadable = Vec::new();
    let unfolded = feed(&records, &mut opening, &mut unreadable, &mut on_progress).await;
    let (workspace, trouble) = check(opening.finish(), &unreadable)?;
    let driver = Driver::new(workspace, db, lock, unfolded, trouble);
    record_measure(OPENED, began);
    driver.upkeep_when_quiet();
    Ok(driver)
}

/// How long to wait for the workspace's lock while this very page still
/// holds it: it closed the workspace a moment ago and is finishing writing
/// to it. Held by another page, the lock is refused at once.
const LOCK_PATIENCE_MS: i32 = 5_000;
const LOCK_RETRY_MS: i32 = 50;

/// The workspace's exclusive lock: one page of this browser drives it.
pub(super) async fn lock_workspace(id: WorkspaceId) -> Result<HeldLock, OpenError> {
    let name = WorkspaceDb::database_name(id);
    for _ in 0..LOCK_PATIENCE_MS / LOCK_RETRY_MS {
        if !lock_held_here(&name) {
            break;
        }
        sleep_ms(LOCK_RETRY_MS).await;
    }
    try_exclusive_lock(&name).await.ok_or(OpenError::OpenElsewhere)
}

/// Feeds the stored records in order, yielding to the page between slices.
/// A record that stops decoding is noted in `unreadable` and the rest of
/// it skipped; the records after it are still fed. Returns how many bundles
/// the records after the first hold: those stored since the log was last
/// folded, or about as many.
async fn feed(
    records: &[LogRecord],
    opening: &mut Opening,
    unreadable: &mut Vec<StorageError>,
    mut on_progress: impl FnMut(OpenProgress),
) -> usize {
    let stored_bytes = records.iter().map(|record| record.byte_len()).sum();
    let mut slice_started = monotonic_ms();
    let mut done_bytes = 0;
    let mut in_first_record = 0;
    for (index, record) in records.iter().enumerate() {
        let mut bundles = record.bundles().peekable();
        while bundles.peek().is_some() {
            let mut piece = Vec::with_capacity(FEED_BUNDLES);
            let mut stopped = None;
            for bundle in bundles.by_ref().take(FEED_BUNDLES) {
                match bundle {
                    Ok(bundle) => piece.push(bundle),
                    Err(error) => {
                        stopped = Some(error);
                        break;
                    }
                }
            }
            opening.feed(piece, now_ms());
            if let Some(error) = stopped {
                unreadable.push(error);
                break;
            }
            if monotonic_ms() - slice_started > SLICE_MS {
                on_progress(OpenProgress { stored_bytes, done_bytes, bundles: opening.bundles_loaded() });
                yield_to_browser().await;
                slice_started = monotonic_ms();
            }
        }
        if index == 0 {
            in_first_record = opening.bundles_loaded();
        }
        done_bytes += record.byte_len();
    }
    opening.bundles_loaded().saturating_sub(in_first_record)
}

/// The reopened workspace, and why it must stay read-only if stored data
/// is damaged (records that stopped decoding, bundles refused); an error if
/// nothing was stored. The damage is left in storage untouched.
fn check(restored: Restored, unreadable: &[StorageError]) -> Result<(Workspace, Option<String>), OpenError> {
    let refused = &restored.report.refused;
    let unreadable = unreadable
        .first()
        .map(|first| format!("{} stored record(s) on this device could not be read ({first})", unreadable.len()));
    let refused = refused.first().map(|first| {
        format!("{} saved change(s) on this device failed their checks ({})", refused.len(), first.reason)
    });
    let found = match (unreadable, refused) {
        (None, None) if restored.workspace.log().is_empty() => return Err(OpenError::Empty),
        (None, None) => return Ok((restored.workspace, None)),
        (Some(one), None) | (None, Some(one)) => one,
        (Some(unreadable), Some(refused)) => format!("{unreadable}, and {refused}"),
    };
    let trouble = format!(
        "{found}. They are left as they were, and the workspace is shown without them, read-only: export it to \
         keep what is shown, and ask another member for a copy."
    );
    Ok((restored.workspace, Some(trouble)))
}
