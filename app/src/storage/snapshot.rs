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

use super::connection::{Connection, bytes_from_js, bytes_to_js, commit, read_all};
use super::{StorageError, stored_form};

pub(super) const STORE: &str = "snapshot";

/// Writing or reading parts of 200 KB cost about as much per byte as one
/// huge value, and per-value overhead vanishes.
const PART_BYTES: usize = 256 * 1024;

const RECORD: &str = "the snapshot";

pub(super) async fn save(connection: &Connection, snapshot: &Snapshot) -> Result<(), StorageError> {
    let stored = stored_form(snapshot.storing()).await;
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
