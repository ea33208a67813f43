//! The `snapshot` store: the latest [`Snapshot`], as a few large parts.
//!
//! The snapshot is stored deflated ([`Snapshot::encode`]), a slice per task.
//! Parts are keyed 0, 1, 2…; saving replaces all of them in one transaction,
//! so a reader finds the old snapshot or the new one, never a mix. Each part
//! is written in its own turn of the event loop (the transaction stays open
//! while a request is pending): copying megabytes into IndexedDB at once
//! would hold the page for a long task.

use indexed_db_futures::prelude::*;
use openprod_core::encoding::DecodeError;
use openprod_core::store::Snapshot;

use super::StorageError;
use super::connection::{Connection, bytes_from_js, bytes_to_js, commit, read_all};
use super::segment::SEGMENT_BYTES;
use crate::device::yield_to_browser;

pub(super) const STORE: &str = "snapshot";

/// A snapshot part is as large as a log segment, for the same reason.
const PART_BYTES: usize = SEGMENT_BYTES;

const RECORD: &str = "the snapshot";

/// How much of a snapshot is deflated per task: a few milliseconds of wasm.
const DEFLATED_PER_TASK: usize = 512 * 1024;

pub(super) async fn save(connection: &Connection, snapshot: &Snapshot) -> Result<(), StorageError> {
    let mut storing = snapshot.storing();
    while !storing.step(DEFLATED_PER_TASK) {
        yield_to_browser().await;
    }
    let stored = storing.finish();
    let parts = stored.chunks(PART_BYTES);
    let transaction = connection.write(STORE)?;
    {
        let store = transaction.object_store(STORE)?;
        store.clear()?;
        for (key, part) in (0u32..).zip(parts) {
            store.put(bytes_to_js(part)).with_key(key).primitive()?.await?;
        }
    }
    commit(transaction).await
}

pub(super) async fn load(connection: &Connection) -> Result<Option<Snapshot>, StorageError> {
    let transaction = connection.read(STORE)?;
    let store = transaction.object_store(STORE)?;
    // Joined as each batch of parts arrives, in its own task: a snapshot
    // is megabytes, and copying it whole at the end made a long task.
    let mut bytes = Vec::new();
    let mut expected = 0u32;
    let parts = read_all(&store, |key: u32, value| {
        if key != expected {
            return Err(StorageError::Damaged {
                record: RECORD.to_owned(),
                error: DecodeError { offset: bytes.len(), what: "the next part of the snapshot" },
            });
        }
        expected += 1;
        bytes.extend(bytes_from_js(value, || format!("part {key} of the snapshot"))?);
        Ok(())
    })
    .await?;
    if parts.is_empty() {
        return Ok(None);
    }
    Snapshot::decode(&bytes).map(Some).map_err(|error| StorageError::Damaged { record: RECORD.to_owned(), error })
}
