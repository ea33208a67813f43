//! The IndexedDB storage layer, in headless Chromium: bundles come back in
//! order, aborted transactions leave nothing, a stored log reopens to the
//! same state, a database of an earlier schema is upgraded without losing
//! its log, a folded log replaces its records and reads the same,
//! and the profile keeps the identity and the workspace list. Appends go
//! through the log writer's worker, as in the app.
#![cfg(target_arch = "wasm32")]

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use openprod_app::storage::{
    ProfileDb, Sharing, StorageError, WorkspaceDb, WorkspaceEntry, request_persistence, storage_estimate,
};
use openprod_core::access::RecoveryKey;
use openprod_core::bundle::Bundle;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::{UUID_RANDOM_BYTES, WorkspaceId};
use openprod_core::names::TableId;
use openprod_core::store::{FoldedLog, LogFolding, encode_log_record};
use openprod_core::sync::{Admission, WorkspaceSecret};
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const NOW: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");

fn contacts() -> TableId {
    TableId::new("contacts", "contacts")
}

/// A workspace with the contacts module and `records` records, each created
/// then edited; returns it with every bundle it made, in order.
fn workspace_with_records(records: usize) -> (Workspace, Vec<Bundle>, SeededEntropy) {
    let mut entropy = SeededEntropy::new(11);
    let (mut workspace, first) = Workspace::create(Identity::from_seed([1; 32]), "Hamlet", "Jane", NOW, &mut entropy);
    let mut bundles = vec![first];
    let mut change = workspace.change(NOW + 1, &mut entropy);
    change.adopt_module(CONTACTS, None).unwrap();
    bundles.push(change.commit().unwrap());
    for index in 0..records {
        let now = NOW + 10 + index as u64;
        let mut change = workspace.change(now, &mut entropy);
        let name = Value::String(format!("Person {index}"));
        let entity = change.create_record(&contacts(), &[("full_name", name)]).unwrap();
        bundles.push(change.commit().unwrap());
        let mut change = workspace.change(now, &mut entropy);
        change.set_field(entity, &contacts(), "role", Value::String("Crew".into())).unwrap();
        bundles.push(change.commit().unwrap());
    }
    (workspace, bundles, entropy)
}

/// Bundles received together, as the driver stores them.
fn record(bundles: &[Bundle]) -> Vec<u8> {
    encode_log_record(&bundles.iter().collect::<Vec<_>>())
}

/// A workspace id no other test (or earlier run) uses, so each test has its own database.
fn fresh_id() -> WorkspaceId {
    let mut random = [0u8; UUID_RANDOM_BYTES];
    getrandom::fill(&mut random).unwrap();
    WorkspaceId::new_v7(js_sys::Date::now() as u64, random)
}

/// Writes `bytes` into the log behind the storage layer's back, as damage
/// would; returns the record's key.
async fn write_raw_record(id: WorkspaceId, bytes: &[u8]) -> f64 {
    let db = Database::open(WorkspaceDb::database_name(id)).await.unwrap();
    let transaction = db.transaction("log").with_mode(TransactionMode::Readwrite).build().unwrap();
    let request = transaction
        .object_store("log")
        .unwrap()
        .add(JsValue::from(js_sys::Uint8Array::from(bytes)))
        .with_key_type::<f64>()
        .primitive()
        .unwrap();
    let key = request.await.unwrap();
    transaction.commit().await.unwrap();
    db.close();
    key
}

async fn delete_raw_records(id: WorkspaceId, keys: &[f64]) {
    let db = Database::open(WorkspaceDb::database_name(id)).await.unwrap();
    let transaction = db.transaction("log").with_mode(TransactionMode::Readwrite).build().unwrap();
    {
        let log = transaction.object_store("log").unwrap();
        for key in keys {
            log.delete(*key).primitive().unwrap();
        }
    }
    transaction.commit().await.unwrap();
    db.close();
}

#[wasm_bindgen_test]
async fn bundles_come_back_in_append_order_and_after_reopening() {
    let (_, bundles, _) = workspace_with_records(5);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    assert_eq!(db.load_bundles().await.unwrap(), Vec::<Bundle>::new());
    db.append_local(&bundles[0]).await.unwrap();
    db.append_local(&bundles[1]).await.unwrap();
    db.append_segment(&record(&bundles[2..9])).await.unwrap();
    db.append_local(&bundles[9]).await.unwrap();
    db.append_segment(&[]).await.unwrap();
    db.append_segment(&record(&bundles[10..])).await.unwrap();
    assert_eq!(db.log_record_count().await.unwrap(), 5);
    assert_eq!(db.load_bundles().await.unwrap(), bundles);

    drop(db);
    let db = WorkspaceDb::open(id).await.unwrap();
    assert_eq!(db.load_bundles().await.unwrap(), bundles);
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

/// Runs `futures` together, returning their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(&mut outputs) {
            if output.is_none()
                && let std::task::Poll::Ready(done) = future.as_mut().poll(cx)
            {
                *output = Some(done);
            }
        }
        if outputs.iter().all(Option::is_some) { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

fn page_clock_ms() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

#[wasm_bindgen_test]
async fn appends_in_flight_together_are_stored_in_the_order_made_and_timed_on_the_page_clock() {
    let (_, bundles, _) = workspace_with_records(10);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    let before = page_clock_ms();
    let written = join_all(bundles.iter().map(|bundle| db.append_local(bundle)).collect()).await;
    let after = page_clock_ms();
    let mut previous_durable = before;
    for written in written {
        let written = written.unwrap();
        assert!(written.started_ms <= written.durable_ms, "{written:?}");
        // Each became durable after the one made before it, within the call.
        assert!(
            previous_durable <= written.durable_ms && written.durable_ms <= after,
            "{written:?} in {before}..{after}"
        );
        previous_durable = written.durable_ms;
    }
    assert_eq!(db.log_record_count().await.unwrap(), bundles.len() as u32);
    assert_eq!(db.load_bundles().await.unwrap(), bundles);
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_log_of_many_records_is_read_back_whole_however_they_fall_into_reads() {
    let (_, bundles, _) = workspace_with_records(8);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    // Reads go a few records at a time: an exact multiple of them, one
    // more, and every count up to that.
    for (written, bundle) in bundles.iter().enumerate() {
        db.append_local(bundle).await.unwrap();
        assert_eq!(db.load_bundles().await.unwrap(), bundles[..=written], "after {} records", written + 1);
    }
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn an_aborted_transaction_leaves_no_trace() {
    let (_, bundles, _) = workspace_with_records(1);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    db.append_local(&bundles[0]).await.unwrap();

    let raw = Database::open(WorkspaceDb::database_name(id)).await.unwrap();
    let transaction = raw.transaction("log").with_mode(TransactionMode::Readwrite).build().unwrap();
    let written = transaction
        .object_store("log")
        .unwrap()
        .add(JsValue::from(js_sys::Uint8Array::from(bundles[1].encoded().as_slice())))
        .primitive()
        .unwrap();
    written.await.unwrap();
    transaction.abort().await.unwrap();
    raw.close();

    assert_eq!(db.load_bundles().await.unwrap(), bundles[..1]);
    db.append_local(&bundles[1]).await.unwrap();
    assert_eq!(db.load_bundles().await.unwrap(), bundles[..2]);
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn records_stored_in_the_earlier_canonical_form_still_load_and_fold() {
    let (workspace, bundles, _) = workspace_with_records(6);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    // Records written before the log was stored as stream parts: canonical
    // bundles back to back.
    write_raw_record(id, &bundles[..4].iter().flat_map(Bundle::encoded).collect::<Vec<_>>()).await;
    write_raw_record(id, &bundles[4].encoded()).await;
    db.append_segment(&record(&bundles[5..])).await.unwrap();
    assert_eq!(db.load_bundles().await.unwrap(), bundles);
    let records = db.load_records().await.unwrap();
    assert!(db.replace_records(&records, &folded(&workspace, &bundles)).await.unwrap());
    assert_eq!(db.log_record_count().await.unwrap(), 1);
    assert_eq!(db.load_bundles().await.unwrap(), bundles, "old and new forms folded into one record");
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

/// `bundles` of `workspace`'s log folded into one record, as the driver
/// compacts its stored log.
fn folded(workspace: &Workspace, bundles: &[Bundle]) -> FoldedLog {
    let named = bundles.iter().map(|bundle| (bundle.header.author, bundle.header.seq)).collect();
    let mut folding = LogFolding::new(workspace.id(), named).unwrap();
    assert!(folding.step(workspace.log(), usize::MAX).unwrap());
    folding.finish()
}

#[wasm_bindgen_test]
async fn a_folded_log_replaces_its_records_in_place_and_new_records_follow_it() {
    let (workspace, bundles, _) = workspace_with_records(300);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    for batch in bundles.chunks(64) {
        db.append_segment(&record(batch)).await.unwrap();
    }
    let records = db.load_records().await.unwrap();
    let stored: usize = records.iter().map(|record| record.byte_len()).sum();
    assert!(db.replace_records(&records, &folded(&workspace, &bundles)).await.unwrap());
    let folded_records = db.load_records().await.unwrap();
    assert_eq!(folded_records.len(), 1);
    assert_eq!(folded_records[0].key(), records[0].key(), "under the first record's key: the order is kept");
    assert!(
        folded_records[0].byte_len() < stored,
        "{} bytes folded, {stored} in records",
        folded_records[0].byte_len()
    );
    assert_eq!(db.load_bundles().await.unwrap(), bundles);

    // New records land after the folded one, and reopening keeps it all.
    let (_, more, _) = workspace_with_records(301);
    db.append_local(&more[bundles.len()]).await.unwrap();
    drop(db);
    let db = WorkspaceDb::open(id).await.unwrap();
    assert_eq!(db.load_bundles().await.unwrap(), more[..=bundles.len()]);
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_replacement_over_a_log_that_changed_meanwhile_changes_nothing() {
    let (workspace, bundles, _) = workspace_with_records(2);
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    for bundle in &bundles {
        db.append_local(bundle).await.unwrap();
    }
    let records = db.load_records().await.unwrap();
    let gone = write_raw_record(id, b"moved away").await;
    delete_raw_records(id, &[records[2].key(), gone]).await;
    assert!(!db.replace_records(&records, &folded(&workspace, &bundles)).await.unwrap());
    assert_eq!(db.log_record_count().await.unwrap() as usize, bundles.len() - 1, "no record was replaced");
    let mut left = bundles.clone();
    left.remove(2);
    assert_eq!(db.load_bundles().await.unwrap(), left);
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_stored_log_reopens_to_the_same_state() {
    let (mut workspace, mut bundles, mut entropy) = workspace_with_records(10);
    let entity = workspace.state().records(&contacts())[3];
    let mut change = workspace.change(NOW + 500, &mut entropy);
    change.set_field(entity, &contacts(), "email", Value::String("x@example.org".into())).unwrap();
    bundles.push(change.commit().unwrap());

    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    db.append_segment(&record(&bundles[..20])).await.unwrap();
    for bundle in &bundles[20..] {
        db.append_local(bundle).await.unwrap();
    }
    drop(db);

    let db = WorkspaceDb::open(id).await.unwrap();
    let loaded = db.load_bundles().await.unwrap();
    let (reopened, report) =
        Workspace::open(workspace.id(), Identity::from_seed([1; 32]), loaded, NOW + 600, ClockConfig::default());
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(reopened.state().state_hash(), workspace.state().state_hash());
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

/// A workspace stored by an earlier version of the app: schema version 1,
/// with its state's snapshot in a store of its own.
async fn create_version_1_database(id: WorkspaceId, log_record: &[u8]) {
    let db = Database::open(WorkspaceDb::database_name(id))
        .with_version(1u32)
        .with_on_upgrade_needed(|_, db| {
            db.create_object_store("log").with_auto_increment(true).build()?;
            for store in ["snapshot", "meta", "overlays", "blobs"] {
                db.create_object_store(store).build()?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let transaction = db.transaction(["log", "snapshot"]).with_mode(TransactionMode::Readwrite).build().unwrap();
    let bytes = |bytes: &[u8]| JsValue::from(js_sys::Uint8Array::from(bytes));
    transaction.object_store("log").unwrap().add(bytes(log_record)).primitive().unwrap();
    transaction.object_store("snapshot").unwrap().put(bytes(&[7; 64])).with_key(0u32).primitive().unwrap();
    transaction.commit().await.unwrap();
    db.close();
}

#[wasm_bindgen_test]
async fn a_database_of_version_1_gives_up_its_snapshot_store_and_keeps_its_log() {
    let (_, bundles, _) = workspace_with_records(3);
    let id = fresh_id();
    create_version_1_database(id, &record(&bundles)).await;

    let db = WorkspaceDb::open(id).await.unwrap();
    assert_eq!(db.load_bundles().await.unwrap(), bundles);
    drop(db);
    let raw = Database::open(WorkspaceDb::database_name(id)).await.unwrap();
    let stores: Vec<String> = raw.object_store_names().collect();
    raw.close();
    assert_eq!(stores, ["blobs", "log", "meta", "overlays"]);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn workspace_settings_are_kept_as_bytes() {
    let id = fresh_id();
    let db = WorkspaceDb::open(id).await.unwrap();
    assert_eq!(db.load_meta("grid.columns").await.unwrap(), None);
    db.save_meta("grid.columns", b"name,role").await.unwrap();
    assert_eq!(db.load_meta("grid.columns").await.unwrap(), Some(b"name,role".to_vec()));
    drop(db);
    WorkspaceDb::delete_workspace(id).await.unwrap();
}

#[wasm_bindgen_test]
async fn the_profile_keeps_the_identity_and_the_workspace_list() {
    let name = format!("openprod-profile-test-{}", fresh_id());
    let profile = ProfileDb::open_named(&name).await.unwrap();
    assert!(profile.load_identity().await.unwrap().is_none());
    let identity = Identity::from_seed([5; 32]);
    profile.save_identity(&identity, "Jane").await.unwrap();
    let stored = profile.load_identity().await.unwrap().expect("an identity was saved");
    assert_eq!(stored.identity.actor_id(), identity.actor_id());
    assert_eq!(stored.display_name, "Jane");

    assert_eq!(profile.workspaces().await.unwrap(), Vec::new());
    let sharing = Sharing {
        admission: Admission::Secret(WorkspaceSecret::from_bytes([9; 32])),
        relay: Some("wss://relay.example:8443/ws".into()),
    };
    let hamlet = WorkspaceEntry {
        id: fresh_id(),
        name: "Hamlet".into(),
        last_opened_ms: NOW,
        sharing: Some(sharing.clone()),
        recovery_key: Some(RecoveryKey::generate(&mut SeededEntropy::new(4))),
    };
    let lear = WorkspaceEntry {
        id: fresh_id(),
        name: "Lear".into(),
        last_opened_ms: NOW + 1,
        sharing: None,
        recovery_key: None,
    };
    profile.save_workspace(&hamlet).await.unwrap();
    profile.save_workspace(&lear).await.unwrap();
    assert_eq!(profile.workspaces().await.unwrap(), vec![lear.clone(), hamlet.clone()]);

    assert!(profile.update_workspace(hamlet.id, |entry| entry.name = "Hamlet (tour)".into()).await.unwrap());
    assert!(!profile.update_workspace(fresh_id(), |entry| entry.name = "Nobody".into()).await.unwrap());
    let renamed = WorkspaceEntry { name: "Hamlet (tour)".into(), ..hamlet.clone() };
    assert_eq!(renamed.sharing, Some(sharing), "an update keeps what it does not touch");
    assert_eq!(profile.workspaces().await.unwrap(), vec![lear.clone(), renamed.clone()]);

    profile.remove_workspace(lear.id).await.unwrap();
    drop(profile);
    let profile = ProfileDb::open_named(&name).await.unwrap();
    assert_eq!(profile.workspaces().await.unwrap(), vec![renamed]);
    assert_eq!(profile.load_identity().await.unwrap().map(|stored| stored.display_name), Some("Jane".into()));
    profile.erase().await.unwrap();
}

#[wasm_bindgen_test]
async fn storage_use_and_persistence_can_be_asked_for() {
    let estimate = storage_estimate().await.unwrap();
    assert!(estimate.quota_bytes.is_some_and(|quota| quota > 0), "{estimate:?}");
    request_persistence().await.unwrap();
}

#[wasm_bindgen_test]
fn a_full_disk_is_explained_without_alarm() {
    let message = StorageError::QuotaExceeded.to_string();
    assert!(message.contains("storage is full") && message.contains("Nothing was lost"), "{message}");
}
