//! Opening a stored workspace without freezing the page: the log is decoded
//! and fed to the engine in slices of a few milliseconds, with a yield to the
//! browser (and a progress report) between slices.

use std::fmt;

use leptos::task::spawn_local;
use openprod_core::bundle::ArrivedBundle;
use openprod_core::encoding::DecodeError;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::log::VersionVector;
use openprod_core::state::{SnapshotDecoder, State};
use openprod_core::store::Snapshot;
use openprod_core::workspace::{Opening, Restored};

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

/// Records of a snapshot decoded in one go, between two looks at the clock:
/// a step of 500 took up to 64 ms in a profile, most of it in the allocator
/// handing out memory the page had never touched.
const SNAPSHOT_RECORDS_DECODED_PER_STEP: usize = 100;

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
    /// Stored bundles failed their checks: damage on this device. They are
    /// left in storage untouched, so nothing is lost by reporting it.
    Unverifiable {
        refused: usize,
        first_reason: String,
    },
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
            OpenError::Unverifiable { refused, first_reason } => write!(
                f,
                "{refused} saved change(s) on this device failed their checks ({first_reason}). Your data has not \
                 been changed; export the workspace and ask another member for a copy."
            ),
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

/// Opens workspace `id` from IndexedDB, reporting progress as it goes.
///
/// With a snapshot, the driver comes back as soon as the snapshot is read:
/// its state is what this device had stored, so the screens can show it at
/// once, read-only, while the log behind it is checked in the background
/// ([`Driver::loading`]). Without one, the log is replayed first.
pub async fn open(
    id: WorkspaceId,
    identity: Identity,
    mut on_progress: impl FnMut(OpenProgress),
) -> Result<Driver, OpenError> {
    let began = monotonic_ms();
    let lock = lock_workspace(id).await?;
    let db = WorkspaceDb::open(id).await?;
    let snapshot = db.load_snapshot().await.unwrap_or_else(|error| {
        // Damage in the snapshot costs only time: the log rebuilds the state.
        leptos::logging::warn!("snapshot set aside: {error}");
        None
    });
    let records = db.load_records().await?;
    let stored_bytes = records.iter().map(|record| record.byte_len()).sum();
    on_progress(OpenProgress { stored_bytes, done_bytes: 0, bundles: 0 });
    yield_to_browser().await;

    let restored = match &snapshot {
        Some(snapshot) => restore(snapshot).await,
        None => None,
    };
    let covered = restored.as_ref().map_or(0, |(_, covers)| covers.total());
    let mut opening = Opening::with_state(id, identity, restored, now_ms(), ClockConfig::default());
    if opening.snapshot_used() {
        let driver = Driver::opening(opening, db, lock, OpenProgress { stored_bytes, done_bytes: 0, bundles: 0 });
        spawn_local(async move {
            let fed =
                feed(&records, |bundles| driver.feed_opening(bundles), |progress| driver.set_loading(progress)).await;
            let result = driver.finish_opening(fed, covered);
            driver.opened(result.map_err(|error| error.to_string()));
            record_measure(OPENED, began);
        });
        return Ok(driver);
    }

    let feed_opening = |bundles| {
        opening.feed(bundles, now_ms());
        Some(opening.bundles_loaded())
    };
    feed(&records, feed_opening, &mut on_progress).await?;
    let restored = opening.finish();
    let replayed = check(&restored, covered)?;
    let driver = Driver::new(restored.workspace, db, lock, replayed);
    record_measure(OPENED, began);
    driver.checkpoint_and_hash_when_quiet();
    Ok(driver)
}

/// How long to wait for the workspace's lock while this very page still
/// holds it: it closed the workspace a moment ago and is finishing a
/// snapshot of it. Held by another page, the lock is refused at once.
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

/// The state a snapshot holds, decoded in slices with a yield between them;
/// `None` if it cannot be read, and the log then rebuilds the state.
async fn restore(snapshot: &Snapshot) -> Option<(State, VersionVector)> {
    let decoded = async {
        let mut decoder = SnapshotDecoder::new(&snapshot.state)?;
        let mut slice_started = monotonic_ms();
        while !decoder.step(SNAPSHOT_RECORDS_DECODED_PER_STEP)? {
            if monotonic_ms() - slice_started > SLICE_MS {
                yield_to_browser().await;
                slice_started = monotonic_ms();
            }
        }
        Ok::<_, DecodeError>(decoder.finish())
    }
    .await;
    match decoded {
        Ok(state) => Some((state, snapshot.covers.clone())),
        Err(error) => {
            // Damage in the snapshot costs only time: the log rebuilds the state.
            leptos::logging::warn!("snapshot set aside: {error}");
            None
        }
    }
}

/// Feeds the stored records in order, yielding to the page between slices.
/// Stops early, without error, when `feed_bundles` says `None` (nobody
/// wants the workspace any more).
async fn feed(
    records: &[LogRecord],
    mut feed_bundles: impl FnMut(Vec<ArrivedBundle>) -> Option<usize>,
    mut on_progress: impl FnMut(OpenProgress),
) -> Result<(), OpenError> {
    let stored_bytes = records.iter().map(|record| record.byte_len()).sum();
    let mut slice_started = monotonic_ms();
    let mut done_bytes = 0;
    for record in records {
        let mut bundles = record.bundles().peekable();
        while bundles.peek().is_some() {
            let piece = bundles.by_ref().take(FEED_BUNDLES).collect::<Result<Vec<_>, _>>()?;
            let Some(loaded) = feed_bundles(piece) else { return Ok(()) };
            if monotonic_ms() - slice_started > SLICE_MS {
                on_progress(OpenProgress { stored_bytes, done_bytes, bundles: loaded });
                yield_to_browser().await;
                slice_started = monotonic_ms();
            }
        }
        done_bytes += record.byte_len();
    }
    Ok(())
}

/// How many bundles the opening applied beyond the snapshot's `covered`
/// (how soon a new snapshot is due), or why the stored log cannot be trusted.
pub(super) fn check(restored: &Restored, covered: u64) -> Result<usize, OpenError> {
    if let Some(first) = restored.report.refused.first() {
        return Err(OpenError::Unverifiable {
            refused: restored.report.refused.len(),
            first_reason: first.reason.to_string(),
        });
    }
    if restored.workspace.log().is_empty() {
        return Err(OpenError::Empty);
    }
    Ok(restored.report.applied.len().saturating_sub(covered as usize))
}
