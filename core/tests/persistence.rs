//! The store contract and reopening: a workspace reopened from what was
//! stored is the workspace that stored it, and a full store loses nothing.

use openprod_core::bundle::Bundle;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::{ClockConfig, Hlc};
use openprod_core::identity::Identity;
use openprod_core::ids::OpId;
use openprod_core::names::{EdgeType, FieldKey, TableId};
use openprod_core::state::StateHasher;
use openprod_core::store::{MemoryStore, MemoryStoreError, Store};
use openprod_core::value::Value;
use openprod_core::workspace::{Workspace, WorkspaceChanged};

const NOW: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");

fn contacts() -> TableId {
    TableId::new("contacts", "contacts")
}

/// A workspace with the contacts module and `records` edited records; returns every bundle made.
fn workspace_with_records(records: usize) -> (Workspace, Vec<Bundle>, SeededEntropy) {
    let mut entropy = SeededEntropy::new(7);
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

#[test]
fn reopening_from_the_store_gives_the_same_state_and_who_touched_what() {
    let (mut workspace, bundles, mut entropy) = workspace_with_records(10);
    let mut store = MemoryStore::new();
    store.append_bundles(&bundles).unwrap();
    // A later edit, stored on its own as the app stores a local edit.
    let entity = workspace.state().records(&contacts())[3];
    let mut change = workspace.change(NOW + 500, &mut entropy);
    change.set_field(entity, &contacts(), "email", Value::String("x@example.org".into())).unwrap();
    store.append_bundles([&change.commit().unwrap()]).unwrap();

    let stored = store.load_bundles().unwrap();
    let (reopened, report) =
        Workspace::open(workspace.id(), Identity::from_seed([1; 32]), stored, NOW + 600, ClockConfig::default());
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(reopened.state().state_hash(), workspace.state().state_hash());
    assert_eq!(reopened.log().version_vector(), workspace.log().version_vector());
    assert_eq!(
        reopened.state().field(entity, &FieldKey::new("contacts", "email")).value,
        Some(Value::String("x@example.org".into()))
    );
    let me = workspace.actor();
    let since = (Hlc::new(NOW, 0), OpId::new_v7(NOW, [0; 10]));
    assert_eq!(reopened.state().touched_by_others_since(entity, me, since), None);
    assert!(reopened.state().touched_by_within(entity, me, NOW + 500..=NOW + 500));
}

#[test]
fn the_memory_store_round_trips_bundles() {
    let (_, bundles, _) = workspace_with_records(4);
    let mut store = MemoryStore::new();
    store.append_bundles(&bundles[..3]).unwrap();
    store.append_bundles(&bundles[3..]).unwrap();
    assert_eq!(store.load_bundles().unwrap(), bundles);
}

#[test]
fn a_state_hash_in_steps_notices_a_change_made_between_steps() {
    let (mut workspace, _, mut entropy) = workspace_with_records(10);
    let mut hash = workspace.begin_state_hash();
    assert_eq!(hash.step(&workspace, 3), Ok(None));
    let mut change = workspace.change(NOW + 500, &mut entropy);
    change.create_record(&contacts(), &[("full_name", Value::String("Late".into()))]).unwrap();
    change.commit().unwrap();
    assert_eq!(hash.step(&workspace, 3), Err(WorkspaceChanged), "the rest would not match the first part");
    assert_eq!(workspace.state().known_state_hash(), None);
}

/// A module with an edge type, so that the state has relationships too.
const LINKS: &str = r#"
[module]
name = "links"
version = "1.0.0"

[edge.knows]
display_name = "Knows"

[edge.knows.properties]
note = "string"
"#;

#[test]
fn a_state_hash_taken_in_steps_equals_one_taken_at_once() {
    let (mut workspace, _, mut entropy) = workspace_with_records(12);
    let people = workspace.state().records(&contacts());
    let mut change = workspace.change(NOW + 400, &mut entropy);
    change.adopt_module(LINKS, None).unwrap();
    change.commit().unwrap();
    let mut change = workspace.change(NOW + 401, &mut entropy);
    let knows = EdgeType::new("links", "knows");
    for pair in people.windows(2).take(9) {
        change.create_edge(&knows, pair[0], pair[1], &[("note", Value::String("met in tech".into()))]).unwrap();
    }
    change.commit().unwrap();
    // The same state, fresh: its hash not yet known.
    let reopen = || {
        let bundles = workspace.log().bundles().cloned().collect();
        Workspace::open(workspace.id(), Identity::from_seed([1; 32]), bundles, NOW + 500, ClockConfig::default()).0
    };
    let reopened = reopen();
    let state = reopened.state();
    let whole = state.state_hash();
    for records_per_step in [1, 4, 12, 13, 21, 22, 1000] {
        let mut hasher = StateHasher::new();
        let mut steps = 1;
        let hash = loop {
            match hasher.step(state, records_per_step) {
                Some(hash) => break hash,
                None => steps += 1,
            }
        };
        assert_eq!(hash, whole, "{records_per_step} records and edges a step");
        assert!(steps >= 21usize.div_ceil(records_per_step), "{records_per_step} a step: {steps} steps");
    }

    // Through the workspace, the hash is then known to the state.
    assert_eq!(reopen().state().known_state_hash(), None);
    let mut in_progress = workspace.begin_state_hash();
    let hash = loop {
        if let Some(hash) = in_progress.step(&workspace, 5).unwrap() {
            break hash;
        }
    };
    assert_eq!(hash, whole);
    assert_eq!(workspace.state().known_state_hash(), Some(whole));
}

#[test]
fn a_full_store_writes_nothing_of_the_refused_batch_and_keeps_the_edit() {
    let (_, bundles, _) = workspace_with_records(4);
    let first_size: usize = bundles[..2].iter().map(|bundle| bundle.encoded().len()).sum();
    let mut store = MemoryStore::with_capacity(first_size + 10);
    store.append_bundles(&bundles[..2]).unwrap();
    let error = store.append_bundles(&bundles[2..]).unwrap_err();
    assert!(matches!(error, MemoryStoreError::Full { .. }));
    assert!(error.to_string().contains("nothing was written and your change is kept"), "{error}");
    assert_eq!(store.load_bundles().unwrap(), bundles[..2].to_vec(), "no partial batch");
}
