//! The browser's storage: IndexedDB, through `indexed_db_futures`.
//!
//! One database per workspace ([`WorkspaceDb`]) holds its log and its local
//! settings; one profile database ([`ProfileDb`])
//! holds this device's identity and the list of its workspaces.
//!
//! IndexedDB pays about 0.14 ms per record, read or written, whatever its
//! size, so the log keeps few, large records: a fresh local bundle is its own
//! small record (written at once, so the edit is safe), a received batch is
//! one segment, and once enough was stored since the last time the driver
//! folds the log's records into one ([`WorkspaceDb::replace_records`]), which shares its
//! tables across the whole log. Every write is one transaction and is reported done only after
//! the browser's `complete` event, so a crash leaves all of it or none. The
//! log's appends are made by a dedicated worker (`log_writer.rs`), which hears
//! that event without waiting for the page to render a frame.
//!
//! Bytes are stored as `Uint8Array` values in the engine's own encodings;
//! stored data that does not decode is reported as
//! [`StorageError::Damaged`], never unwrapped.

mod connection;
mod error;
mod log_writer;
mod profile;
mod quota;
mod workspace;

pub use error::StorageError;
pub use log_writer::Written;
pub use profile::{ProfileDb, Sharing, StoredIdentity, WorkspaceEntry};
pub use quota::{StorageUse, request_persistence, storage_estimate};
pub use workspace::{LogRecord, WorkspaceDb};

use openprod_core::store::Storing;

use crate::device::yield_to_browser;

/// How much is deflated per task: a few milliseconds of wasm.
const DEFLATED_PER_TASK: usize = 512 * 1024;

/// The stored form `storing` makes, deflated a slice per task: deflating
/// megabytes at once would hold the page for a long task.
async fn stored_form(mut storing: Storing<'_>) -> Vec<u8> {
    while !storing.step(DEFLATED_PER_TASK) {
        yield_to_browser().await;
    }
    storing.finish()
}
