//! What every database here shares: opening with its schema, closing so other
//! tabs are never blocked, deleting, committing, and bytes as JS values.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use indexed_db_futures::KeyRange;
use indexed_db_futures::database::Database;
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::primitive::{TryFromJs, TryToJs};
use indexed_db_futures::transaction::{Transaction, TransactionDurability, TransactionMode, TransactionOptions};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbTransaction};

use super::StorageError;

/// Records a whole-store read asks for at a time. The browser turns each
/// batch into JS values in the task that receives it: a 10 MB log read in
/// one request held the page for a long task, 22 ms of it in that alone.
const RECORDS_PER_READ: u32 = 8;

/// An open database. Dropping it closes the connection.
pub(super) struct Connection {
    db: Database,
    /// Closes the connection when another tab upgrades or deletes the
    /// database, so this tab never blocks it. Lives as long as the connection.
    _on_version_change: Closure<dyn FnMut()>,
}

impl Connection {
    /// Opens `name` at schema `version`: when the database is older, its
    /// `upgrade` is told the version it finds (0 for a new database) and
    /// brings its object stores to `version`. Each kind of database has its
    /// own version, so that changing one never disturbs tabs still running
    /// older code against the other.
    pub(super) async fn open(
        name: &str,
        version: u32,
        upgrade: fn(&Database, u32) -> indexed_db_futures::Result<()>,
    ) -> Result<Connection, StorageError> {
        let db = Database::open(name)
            .with_version(version)
            // Versions are small whole numbers; IndexedDB reports them as doubles.
            .with_on_upgrade_needed(move |event, db| upgrade(&db, event.old_version() as u32))
            .await?;
        let raw = raw_database(&db);
        let on_version_change = Closure::<dyn FnMut()>::new({
            let raw = raw.clone();
            move || raw.close()
        });
        raw.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Ok(Connection { db, _on_version_change: on_version_change })
    }

    /// A read-write transaction over one object store.
    pub(super) fn write(&self, store: &str) -> Result<Transaction<'_>, StorageError> {
        Ok(self.db.transaction(store).with_mode(TransactionMode::Readwrite).build()?)
    }

    /// A read-write transaction whose `complete` event waits until the data
    /// is flushed to disk, not merely handed to the operating system, which
    /// browsers may settle for by default. For bundles: one lost in a power
    /// cut after peers saw it would make this device sign another bundle with
    /// the same number, a fork of its own chain. Measured in this Chromium
    /// (2,000 small records): p50 1.3 ms, p99 5 ms, much like the default.
    pub(super) fn write_durably(&self, store: &str) -> Result<Transaction<'_>, StorageError> {
        let options = TransactionOptions::new().with_durability(TransactionDurability::Strict);
        Ok(self.db.transaction(store).with_mode(TransactionMode::Readwrite).with_options(options).build()?)
    }

    /// A read-only transaction over one object store.
    pub(super) fn read(&self, store: &str) -> Result<Transaction<'_>, StorageError> {
        Ok(self.db.transaction(store).build()?)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let raw = raw_database(&self.db);
        raw.set_onversionchange(None);
        raw.close();
    }
}

fn raw_database(db: &Database) -> IdbDatabase {
    db.as_sys().unchecked_ref::<IdbDatabase>().clone()
}

/// Deletes the database `name`. If another tab keeps it open, reports
/// [`StorageError::Blocked`] at once; the browser still deletes it as soon as
/// that tab lets go.
pub(super) async fn delete(name: &str) -> Result<(), StorageError> {
    let request = Database::delete_by_name(name)?;
    let raw: &IdbOpenDbRequest = request.as_sys().unchecked_ref();
    let blocked = JsFuture::from(Promise::new(&mut |resolve, _reject| raw.set_onblocked(Some(&resolve))));
    let mut request = pin!(request);
    let mut blocked = pin!(blocked);
    poll_fn(|cx| {
        if let Poll::Ready(result) = request.as_mut().poll(cx) {
            return Poll::Ready(result.map_err(StorageError::from));
        }
        if blocked.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(StorageError::Blocked { database: name.to_owned() }));
        }
        Poll::Pending
    })
    .await
}

/// Commits `transaction` and waits for its `complete` event: the browser has
/// then written it, which is the durability point every write here reports.
pub(super) async fn commit(transaction: Transaction<'_>) -> Result<(), StorageError> {
    // When the browser aborts a commit (out of space, above all), the crate
    // reports only "aborted"; the reason is on the transaction itself.
    let raw = transaction.as_sys().unchecked_ref::<IdbTransaction>().clone();
    transaction.commit().await.map_err(|error| raw.error().map_or_else(|| error.into(), StorageError::from))
}

/// Every record of `store` in key order, each made into a `T` by `read` in
/// its batch's own task (see [`RECORDS_PER_READ`]). The batches are requests
/// of the caller's one transaction, so together they are one consistent view.
pub(super) async fn read_all<K, T>(
    store: &ObjectStore<'_>,
    mut read: impl FnMut(K, JsValue) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError>
where
    K: TryFromJs + TryToJs + Copy,
{
    let mut records = Vec::new();
    let mut last_key = None;
    loop {
        let (keys, values) = match last_key {
            None => (
                store.get_all_keys::<K>().with_limit(RECORDS_PER_READ).primitive()?,
                store.get_all::<JsValue>().with_limit(RECORDS_PER_READ).primitive()?,
            ),
            Some(key) => {
                let after = KeyRange::LowerBound(key, true);
                (
                    store
                        .get_all_keys::<K>()
                        .with_query::<K, _>(after.clone())
                        .with_limit(RECORDS_PER_READ)
                        .primitive()?,
                    store.get_all::<JsValue>().with_query::<K, _>(after).with_limit(RECORDS_PER_READ).primitive()?,
                )
            }
        };
        let (keys, values) = (keys.await?, values.await?);
        let read_before = records.len();
        for (key, value) in keys.zip(values) {
            let key = key?;
            records.push(read(key, value?)?);
            last_key = Some(key);
        }
        if records.len() - read_before < RECORDS_PER_READ as usize {
            return Ok(records);
        }
    }
}

/// Bytes as the value IndexedDB stores: a `Uint8Array` with its own buffer.
pub(super) fn bytes_to_js(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// The bytes of a stored value; anything but a `Uint8Array` is damage in `record`.
pub(super) fn bytes_from_js(value: JsValue, record: impl FnOnce() -> String) -> Result<Vec<u8>, StorageError> {
    value.dyn_into::<Uint8Array>().map(|array| array.to_vec()).map_err(|_| StorageError::not_bytes(record()))
}
