//! Conflicts from causal concurrency, resolutions, and reopening (`spec/conflicts.md`).

use openprod_core::bundle::Bundle;
use openprod_core::conflict::ConflictStatus;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::{ActorId, Identity};
use openprod_core::ids::EntityId;
use openprod_core::names::{FieldKey, TableId};
use openprod_core::value::Value;
use openprod_core::workspace::{EditError, Workspace};

const NOW: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");
const CREW: &str = r#"
[module]
name = "crew"
version = "1.0.0"

[table.members]
[table.members.fields.display_name]
type = "string"
shared_key = "name"
"#;

fn contacts() -> TableId {
    TableId::new("contacts", "contacts")
}

fn name_key() -> FieldKey {
    FieldKey::new("contacts", "full_name")
}

fn text(value: &str) -> Value {
    Value::String(value.into())
}

/// Several devices of one workspace, each with its own clock offset.
struct Production {
    devices: Vec<Workspace>,
    entropy: SeededEntropy,
    now: u64,
}

impl Production {
    fn new(names: &[&str]) -> Production {
        let mut entropy = SeededEntropy::new(11);
        let (mut owner, first) = Workspace::create(Identity::from_seed([1; 32]), "Hamlet", names[0], NOW, &mut entropy);
        let mut change = owner.change(NOW, &mut entropy);
        change.adopt_module(CONTACTS, None).unwrap();
        change.adopt_module(CREW, None).unwrap();
        for (index, name) in names.iter().enumerate().skip(1) {
            change.admit_actor(Identity::from_seed([index as u8 + 1; 32]).actor_id(), name);
        }
        let setup = change.commit().unwrap();
        let mut devices = vec![owner];
        for index in 1..names.len() {
            let identity = Identity::from_seed([index as u8 + 1; 32]);
            let mut device = Workspace::empty(devices[0].id(), identity, NOW, ClockConfig::default());
            device.receive(vec![first.clone(), setup.clone()], NOW);
            devices.push(device);
        }
        Production { devices, entropy, now: NOW }
    }

    fn tick(&mut self) -> u64 {
        self.now += 60_000;
        self.now
    }

    fn create(&mut self, device: usize, name: &str) -> EntityId {
        let now = self.tick();
        let mut change = self.devices[device].change(now, &mut self.entropy);
        let entity = change.create_record(&contacts(), &[("full_name", text(name))]).unwrap();
        change.commit().unwrap();
        entity
    }

    fn set(&mut self, device: usize, entity: EntityId, field: &str, value: &str) -> Bundle {
        let now = self.tick();
        let mut change = self.devices[device].change(now, &mut self.entropy);
        change.set_field(entity, &contacts(), field, text(value)).unwrap();
        change.commit().unwrap()
    }

    fn resolve(&mut self, device: usize, entity: EntityId, value: &str) -> Bundle {
        let now = self.tick();
        let mut change = self.devices[device].change(now, &mut self.entropy);
        change.resolve_conflict(entity, &contacts(), "full_name", Some(text(value))).unwrap();
        change.commit().unwrap()
    }

    /// `to` receives everything `from` holds.
    fn sync_one_way(&mut self, from: usize, to: usize) {
        let bundles = self.devices[from].log().bundles().cloned().collect::<Vec<_>>();
        let now = self.now;
        let report = self.devices[to].receive(bundles, now);
        assert!(report.refused.is_empty(), "{:?}", report.refused);
    }

    fn sync_all(&mut self) {
        for from in 0..self.devices.len() {
            for to in 0..self.devices.len() {
                if from != to {
                    self.sync_one_way(from, to);
                }
            }
        }
        let hash = self.devices[0].state().state_hash();
        assert!(self.devices.iter().all(|device| device.state().state_hash() == hash), "devices diverged");
    }

    fn name_of(&self, actor: &ActorId) -> String {
        self.devices[0].state().display_name(actor).unwrap_or("someone").to_owned()
    }
}

#[test]
fn concurrent_edits_of_one_field_conflict_and_show_the_last_writer() {
    let mut show = Production::new(&["Jane", "Alex", "Jordan"]);
    let jane = show.create(0, "Jane Doe");
    show.sync_all();
    show.set(1, jane, "full_name", "Jane D.");
    show.set(2, jane, "full_name", "J. Doe");
    show.sync_all();

    let conflict = show.devices[0].state().conflict(jane, &name_key()).expect("a conflict");
    assert_eq!(conflict.status, ConflictStatus::Open);
    let values: Vec<_> = conflict.competing.iter().map(|competitor| competitor.value.clone()).collect();
    assert_eq!(values, vec![Some(text("Jane D.")), Some(text("J. Doe"))]);
    assert_eq!(conflict.shown, Some(text("J. Doe")), "last writer by (HLC, op id) is shown");
    let sentence = conflict.describe("Jane Doe", "name", |actor| show.name_of(actor), 0);
    // NOW is 2026-09-21T14:13:20Z and every step adds a minute.
    assert_eq!(sentence, "Jane Doe's name was edited by Alex (14:15) and Jordan (14:16) since last sync");
    let in_new_york = conflict.describe("Jane Doe", "name", |actor| show.name_of(actor), -4 * 60);
    assert_eq!(in_new_york, "Jane Doe's name was edited by Alex (10:15) and Jordan (10:16) since last sync");
    assert_eq!(show.devices[0].state().open_conflicts().len(), 1);
}

#[test]
fn only_branch_tips_compete() {
    let mut show = Production::new(&["Alice", "Bob"]);
    let task = show.create(0, "todo");
    show.sync_all();
    for value in ["blocked", "wontfix", "blocked"] {
        show.set(0, task, "full_name", value);
    }
    for value in ["in_progress", "done"] {
        show.set(1, task, "full_name", value);
    }
    show.sync_all();
    let conflict = show.devices[1].state().conflict(task, &name_key()).unwrap();
    let values: Vec<_> = conflict.competing.iter().map(|competitor| competitor.value.clone().unwrap()).collect();
    assert_eq!(values, vec![text("blocked"), text("done")]);
}

#[test]
fn different_fields_and_sequential_edits_do_not_conflict() {
    let mut show = Production::new(&["Jane", "Alex"]);
    let record = show.create(0, "Horatio");
    show.sync_all();
    show.set(0, record, "email", "h@example.org");
    show.set(1, record, "phone", "555-0100");
    show.sync_all();
    show.set(1, record, "email", "horatio@example.org");
    show.sync_all();
    assert!(show.devices[0].state().open_conflicts().is_empty());
    let email = show.devices[0].state().field(record, &FieldKey::new("contacts", "email"));
    assert_eq!(email.value, Some(text("horatio@example.org")));
}

#[test]
fn mapped_fields_conflict_as_one_field() {
    let mut show = Production::new(&["Jane", "Alex"]);
    let record = show.create(0, "Ophelia");
    let now = show.tick();
    let mut change = show.devices[0].change(now, &mut show.entropy);
    change.add_to_table(record, &TableId::new("crew", "members")).unwrap();
    change.confirm_mapping("name", &[name_key(), FieldKey::new("crew", "display_name")]).unwrap();
    change.commit().unwrap();
    show.sync_all();

    show.set(0, record, "full_name", "Ophelia Polonius");
    let now = show.tick();
    let mut change = show.devices[1].change(now, &mut show.entropy);
    change.set_field(record, &TableId::new("crew", "members"), "display_name", text("Ophelia P.")).unwrap();
    change.commit().unwrap();
    show.sync_all();

    let conflicts = show.devices[0].state().open_conflicts();
    assert_eq!(conflicts.len(), 1, "one semantic field, one conflict");
    assert_eq!(conflicts[0].shared_key.as_deref(), Some("name"));
    assert_eq!(conflicts[0].competing.len(), 2);
}

#[test]
fn a_resolution_settles_the_conflict_everywhere() {
    let mut show = Production::new(&["Jane", "Alex", "Jordan"]);
    let jane = show.create(0, "Jane Doe");
    show.sync_all();
    show.set(1, jane, "full_name", "Jane D.");
    show.set(2, jane, "full_name", "J. Doe");
    show.sync_all();
    show.resolve(0, jane, "Jane Doe");
    show.sync_all();

    let state = show.devices[2].state();
    let conflict = state.conflict(jane, &name_key()).unwrap();
    assert_eq!(conflict.status, ConflictStatus::Resolved);
    assert_eq!(conflict.shown, Some(text("Jane Doe")));
    assert_eq!(conflict.decisions.len(), 1);
    assert_eq!(conflict.decisions[0].resolves.len(), 2);
    assert!(state.open_conflicts().is_empty());

    // An edit made after seeing the decision is new intent, not a conflict.
    show.set(1, jane, "full_name", "Jane Q. Doe");
    show.sync_all();
    assert!(show.devices[0].state().open_conflicts().is_empty());
    assert_eq!(show.devices[0].state().field(jane, &name_key()).value, Some(text("Jane Q. Doe")));
}

#[test]
fn concurrent_resolutions_keep_the_first_and_never_oscillate() {
    let mut show = Production::new(&["Jane", "Alex", "Jordan"]);
    let jane = show.create(0, "Jane Doe");
    show.sync_all();
    show.set(1, jane, "full_name", "Jane D.");
    show.set(2, jane, "full_name", "J. Doe");
    show.sync_all();
    let first = show.resolve(1, jane, "Jane D.");
    let second = show.resolve(2, jane, "J. Doe");

    // Each device sees its own decision until it hears of the other one.
    assert_eq!(show.devices[2].state().field(jane, &name_key()).value, Some(text("J. Doe")));
    show.sync_all();
    for device in &show.devices {
        let conflict = device.state().conflict(jane, &name_key()).unwrap();
        assert_eq!(conflict.status, ConflictStatus::Resolved);
        assert_eq!(conflict.shown, Some(text("Jane D.")), "the canonically first decision stands");
        let overruled: Vec<_> = conflict.decisions.iter().filter(|decision| decision.overruled).collect();
        assert_eq!(overruled.len(), 1);
        assert_eq!(overruled[0].op, second.ops[0].id);
    }
    assert!(first.header.hlc < second.header.hlc);
}

#[test]
fn a_late_edit_from_a_peer_unaware_of_the_resolution_reopens_it() {
    let mut show = Production::new(&["Jane", "Alex", "Jordan"]);
    let jane = show.create(0, "Jane Doe");
    show.sync_all();
    show.set(1, jane, "full_name", "Jane D.");
    show.set(2, jane, "full_name", "J. Doe");
    show.sync_one_way(1, 0);
    show.sync_one_way(2, 0);
    show.resolve(0, jane, "Jane Doe");
    // Jordan, offline and unaware of the decision, edits again.
    show.set(2, jane, "full_name", "Janet Doe");
    show.sync_all();

    let conflict = show.devices[1].state().conflict(jane, &name_key()).unwrap();
    assert_eq!(conflict.status, ConflictStatus::Reopened);
    assert_eq!(conflict.shown, Some(text("Jane Doe")), "the decision still shows");
    let sentence = conflict.describe("Jane Doe", "name", |actor| show.name_of(actor), 0);
    assert!(sentence.starts_with("Jane Doe's name was edited by Jordan ("), "{sentence}");
    assert!(sentence.contains("after Jane settled it"), "{sentence}");

    // Choosing again revises the earlier decision and names it.
    let revision = show.resolve(1, jane, "Janet Doe");
    show.sync_all();
    let conflict = show.devices[0].state().conflict(jane, &name_key()).unwrap();
    assert_eq!(conflict.status, ConflictStatus::Resolved);
    assert_eq!(conflict.shown, Some(text("Janet Doe")));
    assert_eq!(conflict.decisions.len(), 2);
    assert_eq!(conflict.decisions[1].op, revision.ops[0].id);
    assert_eq!(conflict.decisions[1].supersedes, Some(conflict.decisions[0].op));
}

#[test]
fn a_field_without_a_conflict_cannot_be_resolved() {
    let mut show = Production::new(&["Jane"]);
    let record = show.create(0, "Horatio");
    let now = show.tick();
    let mut change = show.devices[0].change(now, &mut show.entropy);
    let error = change.resolve_conflict(record, &contacts(), "full_name", Some(text("x"))).unwrap_err();
    assert_eq!(error, EditError::NoConflict { field: "Name".into() });
}
