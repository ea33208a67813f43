//! Snapshots and the store contract: reopening gives the same state, damaged
//! data is refused in plain words, and a full store loses nothing.

use openprod_core::bundle::Bundle;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::{ClockConfig, Hlc};
use openprod_core::identity::ActorId;
use openprod_core::identity::Identity;
use openprod_core::ids::{EntityId, OpId};
use openprod_core::names::{EdgeType, FieldKey, TableId};
use openprod_core::op::{OpPayload, Operation};
use openprod_core::state::{NoPlaces, OpPlaces, SnapshotDecoder, State, StateHasher};
use openprod_core::store::{MemoryStore, MemoryStoreError, Snapshot, Store};
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
fn a_state_snapshot_decodes_to_the_same_state() {
    let (workspace, _, _) = workspace_with_records(20);
    let encoded = workspace.state().encode_snapshot(workspace.log());
    let decoded = State::decode_snapshot(&encoded).unwrap();
    assert_eq!(decoded.state_hash(), workspace.state().state_hash());
    assert_eq!(decoded.records(&contacts()), workspace.state().records(&contacts()));
    assert_eq!(decoded.encode_snapshot(workspace.log()), encoded, "the encoding is canonical");
}

#[test]
fn who_touched_a_record_and_when_is_the_same_after_reopening_from_a_snapshot() {
    let (alex, sam, kim) = [3, 4, 5].map(|seed| Identity::from_seed([seed; 32]).actor_id()).into();
    let entity = EntityId::new_v7(NOW, [1; 10]);
    let write = |wall: u64, seed: u8, value: &str| Operation {
        id: OpId::new_v7(wall, [seed; 10]),
        hlc: Hlc::new(wall, 0),
        payload: OpPayload::SetField {
            entity,
            field: FieldKey::new("contacts", "role"),
            value: Value::String(value.into()),
            replaces: Vec::new(),
        },
    };
    let mut state = State::new();
    let first = write(NOW, 1, "Crew");
    state.apply(alex, &first);
    state.apply(sam, &write(NOW + 5_000, 2, "Cast"));
    let reopened = State::decode_snapshot(&state.encode_snapshot(&NoPlaces)).unwrap();
    for state in [&state, &reopened] {
        let since = (first.hlc, first.id);
        assert_eq!(state.touched_by_others_since(entity, alex, since), Some(sam));
        assert_eq!(state.touched_by_others_since(entity, sam, since), None);
        assert_eq!(state.touched_by_others_since(entity, kim, since), Some(sam), "an actor who never wrote");
        assert!(state.touched_by_within(entity, sam, NOW + 4_000..=NOW + 6_000));
        assert!(!state.touched_by_within(entity, alex, NOW + 4_000..=NOW + 6_000));
        assert!(!state.touched_by_within(entity, kim, NOW..=NOW + 6_000));
    }
}

#[test]
fn a_snapshot_taken_in_steps_equals_one_taken_at_once() {
    let (workspace, _, _) = workspace_with_records(25);
    let whole = workspace.snapshot();
    for records_per_step in [1, 7, 25, 26, 1000] {
        let mut in_progress = workspace.begin_snapshot();
        let mut steps = 1;
        while !in_progress.step(&workspace, records_per_step).unwrap() {
            steps += 1;
        }
        assert!(steps >= 25usize.div_ceil(records_per_step), "{records_per_step} records a step: {steps} steps");
        assert_eq!(in_progress.finish(), whole, "{records_per_step} records a step");
    }
}

#[test]
fn operation_ids_derived_from_their_place_are_written_as_that_place() {
    let (mut workspace, _, mut entropy) = workspace_with_records(20);
    // A second role, so that each record replaced a write it no longer holds.
    for entity in workspace.state().records(&contacts()) {
        let mut change = workspace.change(NOW + 100, &mut entropy);
        change.set_field(entity, &contacts(), "role", Value::String("Cast".into())).unwrap();
        change.commit().unwrap();
    }
    let by_place = workspace.state().encode_snapshot(workspace.log());
    let whole = workspace.state().encode_snapshot(&NoPlaces);
    // Ten random bytes an id become its index and seq, two or three.
    let ops = workspace.log().op_count();
    assert!(
        by_place.len() + 6 * ops < whole.len(),
        "{} bytes by place, {} whole, {ops} operations",
        by_place.len(),
        whole.len()
    );
    let (from_places, from_whole) =
        (State::decode_snapshot(&by_place).unwrap(), State::decode_snapshot(&whole).unwrap());
    assert_eq!(from_places.state_hash(), workspace.state().state_hash());
    assert_eq!(from_places.encode_snapshot(&NoPlaces), whole, "the ids derived again are the ones written whole");
    assert_eq!(from_whole.encode_snapshot(workspace.log()), by_place);
}

/// A log that knows no place, but lets a snapshot write the places its
/// stamps hold.
struct NoLogPlaces;

impl OpPlaces for NoLogPlaces {
    fn derived_place(&self, _: &OpId) -> Option<(u64, usize)> {
        None
    }

    fn author(&self, _: &OpId) -> Option<ActorId> {
        None
    }
}

#[test]
fn stamps_hold_their_places_so_a_snapshot_need_not_look_them_up() {
    let (workspace, _, _) = workspace_with_records(20);
    let by_place = workspace.state().encode_snapshot(workspace.log());
    assert_eq!(workspace.state().encode_snapshot(&NoLogPlaces), by_place, "every stamp applied from the log");
    let reopened = State::decode_snapshot(&by_place).unwrap();
    assert_eq!(reopened.encode_snapshot(&NoLogPlaces), by_place, "every stamp read from a snapshot");
    let whole = workspace.state().encode_snapshot(&NoPlaces);
    let from_whole = State::decode_snapshot(&whole).unwrap();
    assert_eq!(from_whole.encode_snapshot(&NoLogPlaces), whole, "ids read whole hold no place");
}

/// The stored snapshot of a workspace of `records` records, each created
/// and then written in six more rounds, one field a round; each round
/// goes through the records in the order `order` gives.
fn stored_snapshot_after_rounds(records: usize, order: impl Fn(usize) -> usize) -> usize {
    let (mut workspace, _, mut entropy) = workspace_with_records(0);
    let mut entities = Vec::new();
    for index in 0..records {
        let mut change = workspace.change(NOW + 10, &mut entropy);
        let name = Value::String(format!("Person {index}"));
        entities.push(change.create_record(&contacts(), &[("full_name", name)]).unwrap());
        change.commit().unwrap();
    }
    for (round, field) in ["role", "email", "phone", "department", "role", "email"].into_iter().enumerate() {
        for step in 0..records {
            let index = order(step);
            let mut change = workspace.change(NOW + 20, &mut entropy);
            let value = Value::String(format!("{field} {round} of {index}"));
            change.set_field(entities[index], &contacts(), field, value).unwrap();
            change.commit().unwrap();
        }
    }
    workspace.snapshot().encode().len()
}

#[test]
fn records_written_in_a_stretch_store_a_smaller_snapshot_than_in_scattered_order() {
    // Seqs are written as distances, which repeat from one record to the
    // next when the records were written in the order they are stored.
    let records = 400;
    let in_order = stored_snapshot_after_rounds(records, |step| step);
    // A fixed shuffle (xorshift), so that no stride repeats either.
    let mut shuffled: Vec<usize> = (0..records).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for index in (1..records).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        shuffled.swap(index, (state % (index as u64 + 1)) as usize);
    }
    let scattered = stored_snapshot_after_rounds(records, |step| shuffled[step]);
    println!("{records} records: {in_order} bytes stored written in order, {scattered} scattered");
    // Written whole, the seqs left the two within 3% of each other.
    assert!(in_order * 100 < scattered * 95, "{in_order} bytes in order, {scattered} scattered");
}

#[test]
fn a_snapshot_decoded_in_steps_equals_one_decoded_at_once() {
    let (workspace, _, _) = workspace_with_records(25);
    let encoded = workspace.state().encode_snapshot(workspace.log());
    let whole = State::decode_snapshot(&encoded).unwrap();
    for records_per_step in [1, 7, 26] {
        let mut decoder = SnapshotDecoder::new(&encoded).unwrap();
        let mut steps = 1;
        while !decoder.step(records_per_step).unwrap() {
            steps += 1;
        }
        assert!(steps >= 25usize.div_ceil(records_per_step), "{records_per_step} records a step: {steps} steps");
        let state = decoder.finish();
        assert_eq!(state.state_hash(), whole.state_hash(), "{records_per_step} records a step");
        assert_eq!(state.encode_snapshot(workspace.log()), encoded, "{records_per_step} records a step");
    }
    // Damage in the records is found by the step that reads them.
    let mut damaged = encoded.clone();
    let middle = encoded.len() / 2;
    damaged[middle - 20..middle + 20].fill(0xff);
    let mut decoder = SnapshotDecoder::new(&damaged).unwrap();
    assert!((0..100).map(|_| decoder.step(1)).any(|step| step.is_err()));
    // A cut-off snapshot has lost its actors (at the end): refused at once.
    assert!(SnapshotDecoder::new(&encoded[..middle]).is_err());
}

#[test]
fn a_snapshot_or_state_hash_in_steps_notices_a_change_made_between_steps() {
    let (mut workspace, _, mut entropy) = workspace_with_records(10);
    let mut snapshot = workspace.begin_snapshot();
    let mut hash = workspace.begin_state_hash();
    assert_eq!(snapshot.step(&workspace, 3), Ok(false));
    assert_eq!(hash.step(&workspace, 3), Ok(None));
    let mut change = workspace.change(NOW + 500, &mut entropy);
    change.create_record(&contacts(), &[("full_name", Value::String("Late".into()))]).unwrap();
    change.commit().unwrap();
    assert_eq!(snapshot.step(&workspace, 3), Err(WorkspaceChanged), "the rest would not match the first part");
    assert_eq!(hash.step(&workspace, 3), Err(WorkspaceChanged), "nor for the hash");
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
    let state = State::decode_snapshot(&workspace.state().encode_snapshot(workspace.log())).unwrap();
    let whole = state.state_hash();
    for records_per_step in [1, 4, 12, 13, 21, 22, 1000] {
        let mut hasher = StateHasher::new();
        let mut steps = 1;
        let hash = loop {
            match hasher.step(&state, records_per_step) {
                Some(hash) => break hash,
                None => steps += 1,
            }
        };
        assert_eq!(hash, whole, "{records_per_step} records and edges a step");
        assert!(steps >= 21usize.div_ceil(records_per_step), "{records_per_step} a step: {steps} steps");
    }

    // Through the workspace, the hash is then known to the state.
    let fresh = State::decode_snapshot(&workspace.state().encode_snapshot(workspace.log())).unwrap();
    assert_eq!(fresh.known_state_hash(), None);
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
fn reopening_from_a_snapshot_matches_a_full_rebuild_and_applies_the_tail() {
    let (mut workspace, mut bundles, mut entropy) = workspace_with_records(10);
    let snapshot = workspace.snapshot();
    // Edits made after the snapshot was taken.
    let entity = workspace.state().records(&contacts())[3];
    let mut change = workspace.change(NOW + 500, &mut entropy);
    change.set_field(entity, &contacts(), "email", Value::String("x@example.org".into())).unwrap();
    bundles.push(change.commit().unwrap());

    let identity = Identity::from_seed([1; 32]);
    let restored =
        Workspace::restore(workspace.id(), identity, &snapshot, bundles.clone(), NOW + 600, ClockConfig::default());
    assert!(restored.snapshot_used);
    assert!(restored.report.refused.is_empty(), "{:?}", restored.report.refused);
    let (rebuilt, _) =
        Workspace::open(workspace.id(), Identity::from_seed([1; 32]), bundles, NOW + 600, ClockConfig::default());
    assert_eq!(restored.workspace.state().state_hash(), workspace.state().state_hash());
    assert_eq!(rebuilt.state().state_hash(), workspace.state().state_hash());
    assert_eq!(restored.workspace.log().version_vector(), workspace.log().version_vector());
    assert_eq!(
        restored.workspace.state().field(entity, &openprod_core::names::FieldKey::new("contacts", "email")).value,
        Some(Value::String("x@example.org".into()))
    );
}

#[test]
fn a_damaged_snapshot_is_set_aside_and_the_log_rebuilds_the_state() {
    let (workspace, bundles, _) = workspace_with_records(5);
    let mut snapshot = workspace.snapshot();
    let middle = snapshot.state.len() / 2;
    snapshot.state.truncate(middle);
    let restored = Workspace::restore(
        workspace.id(),
        Identity::from_seed([1; 32]),
        &snapshot,
        bundles,
        NOW + 100,
        ClockConfig::default(),
    );
    assert!(!restored.snapshot_used);
    assert_eq!(restored.workspace.state().state_hash(), workspace.state().state_hash());
}

#[test]
fn every_truncation_of_a_snapshot_is_refused_without_panicking() {
    let (workspace, _, _) = workspace_with_records(3);
    let encoded = workspace.state().encode_snapshot(workspace.log());
    for length in 0..encoded.len() {
        let error = State::decode_snapshot(&encoded[..length]).unwrap_err();
        assert!(error.to_string().starts_with("damaged data: could not read"), "{error}");
    }
    let whole = Snapshot { covers: workspace.log().version_vector(), state: encoded };
    let bytes = whole.encode();
    assert_eq!(Snapshot::decode(&bytes), Ok(whole));
    for length in 0..bytes.len() {
        assert!(Snapshot::decode(&bytes[..length]).is_err());
    }
}

#[test]
fn a_snapshot_whose_sections_overlap_or_overrun_is_refused_in_plain_words() {
    let (workspace, _, _) = workspace_with_records(3);
    let encoded = workspace.state().encode_snapshot(workspace.log());
    let trailer = encoded.len() - 8;
    let start = |at: usize| u32::from_le_bytes(encoded[at..at + 4].try_into().unwrap());
    let (values_at, dictionary_at) = (start(trailer), start(trailer + 4));
    assert!(values_at < dictionary_at, "the records' field values are written apart from the body");
    let with_starts = |values: u32, dictionary: u32| {
        let mut bytes = encoded.clone();
        bytes[trailer..trailer + 4].copy_from_slice(&values.to_le_bytes());
        bytes[trailer + 4..].copy_from_slice(&dictionary.to_le_bytes());
        bytes
    };
    let past_the_end = trailer as u32 + 1;
    for (values, dictionary) in [
        (dictionary_at, values_at),
        (0, dictionary_at),
        (values_at, past_the_end),
        (past_the_end, past_the_end),
        (u32::MAX, u32::MAX),
        // Plausible bounds in the wrong place: the sections do not read.
        (values_at + 1, dictionary_at),
        (values_at, dictionary_at - 1),
    ] {
        let error = State::decode_snapshot(&with_starts(values, dictionary)).unwrap_err();
        assert!(error.to_string().starts_with("damaged data: could not read"), "{values}, {dictionary}: {error}");
    }
}

#[test]
fn a_snapshot_is_stored_deflated_and_every_truncation_is_refused() {
    let (workspace, _, _) = workspace_with_records(40);
    let snapshot = workspace.snapshot();
    let stored = snapshot.encode();
    assert!(
        stored.len() * 2 < snapshot.state.len(),
        "{} bytes stored for a state of {}",
        stored.len(),
        snapshot.state.len()
    );
    assert_eq!(Snapshot::decode(&stored), Ok(snapshot));
    for length in 0..stored.len() {
        let error = Snapshot::decode(&stored[..length]).unwrap_err();
        assert!(error.to_string().starts_with("damaged data: could not read"), "{error}");
    }
}

#[test]
fn the_memory_store_round_trips_bundles_and_snapshots() {
    let (workspace, bundles, _) = workspace_with_records(4);
    let mut store = MemoryStore::new();
    store.append_bundles(&bundles[..3]).unwrap();
    store.append_bundles(&bundles[3..]).unwrap();
    assert_eq!(store.load_bundles().unwrap(), bundles);
    assert_eq!(store.load_snapshot().unwrap(), None);
    let snapshot = workspace.snapshot();
    store.save_snapshot(&snapshot).unwrap();
    assert_eq!(store.load_snapshot().unwrap(), Some(snapshot));
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
