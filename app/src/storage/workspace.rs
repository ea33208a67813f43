//! One workspace's database: its log and local settings.

use indexed_db_futures::database::Database;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use openprod_core::bundle::{ArrivedBundle, Bundle};
use openprod_core::ids::WorkspaceId;
use openprod_core::store::{FoldedLog, decode_log_record, encode_log_record};
use wasm_bindgen::JsValue;

use super::connection::{self, Connection, bytes_from_js, bytes_to_js, commit, read_all};
use super::log_writer::{LogWriter, Written};
use super::{StorageError, stored_form};
use crate::device::{monotonic_ms, record_span};

/// The User Timing measure of storing one local bundle, from opening the
/// transaction to its completion: the share of an edit's way to durability
/// that IndexedDB takes.
const LOCAL_WRITE: &str = "openprod local write";

/// Log records under an auto-increment key: key order is append order.
const LOG: &str = "log";
/// Workspace configuration and local settings, as bytes under string keys.
const META: &str = "meta";
/// Staged changes not yet committed to the log (filled by later work).
const OVERLAYS: &str = "overlays";
/// Attachments (filled by later work).
const BLOBS: &str = "blobs";

/// A workspace's IndexedDB database. Dropping it closes the connection.
pub struct WorkspaceDb {
    connection: Connection,
    /// Appends to the log off the main thread; `None` where the browser
    /// would not start it, and then the page appends itself.
    writer: Option<LogWriter>,
}

/// One stored log record, as read: decoded apart from the others, so a
/// driver can spread the decoding of a large log over several tasks.
pub struct LogRecord {
    key: f64,
    bytes: Vec<u8>,
}

impl LogRecord {
    /// Its key: the order of appending.
    pub fn key(&self) -> f64 {
        self.key
    }

    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The record's bundles, a stored unit at a time, each with the hash
    /// reading derived.
    pub fn bundles(&self) -> impl Iterator<Item = Result<ArrivedBundle, StorageError>> + '_ {
        decode_log_record(&self.bytes)
            .map(|bundle| bundle.map_err(|error| StorageError::Damaged { record: record_name(self.key), error }))
    }
}

fn record_name(key: f64) -> String {
    format!("log record {key}")
}

/// The workspace database's schema. Version 2: no snapshot store (see
/// ARCHITECTURE.md on why the state is not stored).
const SCHEMA_VERSION: u32 = 2;

/// The store version 1 kept the state's snapshot in.
const SNAPSHOT_BEFORE_VERSION_2: &str = "snapshot";

fn upgrade(db: &Database, found: u32) -> indexed_db_futures::Result<()> {
    if found == 0 {
        db.create_object_store(LOG).with_auto_increment(true).build()?;
        for store in [META, OVERLAYS, BLOBS] {
            db.create_object_store(store).build()?;
        }
    }
    // The state is rebuilt from the log on opening: the snapshot's room is
    // given back. Only if it is there: a failed upgrade would leave the
    // database unopenable.
    if found == 1 && db.object_store_names().any(|name| name == SNAPSHOT_BEFORE_VERSION_2) {
        db.delete_object_store(SNAPSHOT_BEFORE_VERSION_2)?;
    }
    Ok(())
}

impl WorkspaceDb {
    /// The database's name: one database per workspace, so deleting a
    /// workspace is deleting its database.
    pub fn database_name(id: WorkspaceId) -> String {
        format!("openprod-workspace-{id}")
    }

    /// Opens the workspace's database, creating it empty the first time.
    pub async fn open(id: WorkspaceId) -> Result<WorkspaceDb, StorageError> {
        let name = Self::database_name(id);
        let connection = Connection::open(&name, SCHEMA_VERSION, upgrade).await?;
        let writer = LogWriter::start(&name, SCHEMA_VERSION, LOG)
            .inspect_err(|error| leptos::logging::warn!("no log writer ({error:?}); the page writes the log itself"))
            .ok();
        Ok(WorkspaceDb { connection, writer })
    }

    /// Deletes everything this device keeps of a workspace. Handles still
    /// open in this or other tabs close themselves first.
    pub async fn delete_workspace(id: WorkspaceId) -> Result<(), StorageError> {
        connection::delete(&Self::database_name(id)).await
    }

    /// Persists a bundle made on this device as its own small record. Returns
    /// once the browser has written it, and when that was: only then may it
    /// be offered to peers.
    pub async fn append_local(&self, bundle: &Bundle) -> Result<Written, StorageError> {
        let written = self.append_record(&encode_log_record(&[bundle])).await?;
        record_span(LOCAL_WRITE, written.started_ms, written.durable_ms);
        Ok(written)
    }

    /// Persists bundles received together as one record
    /// ([`openprod_core::store::encode_log_record`]), all or none. Returns once
    /// written: only then may they be acknowledged.
    pub async fn append_segment(&self, segment: &[u8]) -> Result<(), StorageError> {
        if segment.is_empty() {
            return Ok(());
        }
        self.append_record(segment).await.map(drop)
    }

    async fn append_record(&self, bytes: &[u8]) -> Result<Written, StorageError> {
        if let Some(writer) = &self.writer
            && let Some(written) = writer.append(bytes).await
        {
            return written;
        }
        let started_ms = monotonic_ms();
        let transaction = self.connection.write_durably(LOG)?;
        {
            let log = transaction.object_store(LOG)?;
            // The request is placed now; the commit below waits for it.
            log.add(bytes_to_js(bytes)).primitive()?;
        }
        commit(transaction).await?;
        Ok(Written { started_ms, durable_ms: monotonic_ms() })
    }

    /// Every stored log record, in the order appended, still encoded.
    pub async fn load_records(&self) -> Result<Vec<LogRecord>, StorageError> {
        let transaction = self.connection.read(LOG)?;
        read_log(&transaction.object_store(LOG)?).await
    }

    /// Every stored bundle, in the order appended.
    pub async fn load_bundles(&self) -> Result<Vec<Bundle>, StorageError> {
        let records = self.load_records().await?;
        let mut bundles = Vec::with_capacity(records.len());
        for record in &records {
            for bundle in record.bundles() {
                bundles.push(bundle?.into_bundle());
            }
        }
        Ok(bundles)
    }

    /// How many records the log holds.
    pub async fn log_record_count(&self) -> Result<u32, StorageError> {
        let transaction = self.connection.read(LOG)?;
        let count = transaction.object_store(LOG)?.count().await?;
        Ok(count)
    }

    /// Replaces `replaced` (neighbouring records, in order, as
    /// [`WorkspaceDb::load_records`] read them) with one record, `record`,
    /// under the first one's key, so that the log's order is kept: how a
    /// driver compacts its log ([`openprod_core::store::LogFolding`]). All
    /// in one transaction: a crash or an error leaves the old records or
    /// the new one, never both or neither. Returns `false`, and changes
    /// nothing, when the keys from the first to the last no longer hold as
    /// many records (the log changed meanwhile).
    pub async fn replace_records(&self, replaced: &[LogRecord], folded: &FoldedLog) -> Result<bool, StorageError> {
        let (Some(first), Some(last)) = (replaced.first(), replaced.last()) else { return Ok(false) };
        let record = stored_form(folded.storing()).await;
        let keys = first.key..=last.key;
        let transaction = self.connection.write(LOG)?;
        {
            let log = transaction.object_store(LOG)?;
            if log.count().with_query(keys.clone()).await? as usize != replaced.len() {
                return Ok(false);
            }
            log.delete(keys).primitive()?;
            log.put(bytes_to_js(&record)).with_key(first.key).primitive()?;
        }
        commit(transaction).await?;
        Ok(true)
    }

    /// Stores a setting or piece of workspace configuration under `key`.
    pub async fn save_meta(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let transaction = self.connection.write(META)?;
        transaction.object_store(META)?.put(bytes_to_js(bytes)).with_key(key).primitive()?;
        commit(transaction).await
    }

    pub async fn load_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let transaction = self.connection.read(META)?;
        let value = transaction.object_store(META)?.get::<JsValue, _, _>(key).primitive()?.await?;
        value.map(|value| bytes_from_js(value, || format!("setting '{key}'"))).transpose()
    }
}

/// Every log record in key order.
async fn read_log(log: &ObjectStore<'_>) -> Result<Vec<LogRecord>, StorageError> {
    read_all(log, |key: f64, value| Ok(LogRecord { key, bytes: bytes_from_js(value, || record_name(key))? })).await
}
