//! The fixture every test of this target starts from: a show ("Hamlet") whose
//! owner, Jane, adopted the real contacts module and four small modules
//! written here — scheduling (with an edge type), lighting, stage management
//! and sound — with shared-key suggestions that overlap contacts'.
//!
//! Time is passed in, never read: each edit happens one minute after the
//! previous one, from `NOW`. Ids come from seeded entropy, one stream per
//! device, so every run is the same.

use std::fmt::Debug;

use openprod_core::bundle::Bundle;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::{ActorId, Identity};
use openprod_core::ids::{EntityId, OpId};
use openprod_core::names::{EdgeType, FieldKey, TableId};
use openprod_core::op::OpPayload;
use openprod_core::state::State;
use openprod_core::value::Value;
use openprod_core::workspace::{Change, EditError, ReceiveReport, UndoOutcome, Workspace};

pub const NOW: u64 = 1_790_000_000_000;
pub const MINUTE: u64 = 60_000;
pub const DAY: u64 = 24 * 60 * MINUTE;

/// Devices of [`Show::with_crew`], by position.
pub const JANE: usize = 0;
pub const ALEX: usize = 1;
pub const JORDAN: usize = 2;

pub const CONTACTS_MANIFEST: &str = include_str!("../../../modules/contacts/manifest.toml");

pub const SCHEDULING_MANIFEST: &str = r#"
[module]
name = "scheduling"
version = "1.2.0"
display_name = "Scheduling"

[table.attendees]
display_name = "Attendees"

[table.attendees.fields.attendee_name]
type = "string"
display_name = "Attendee"
shared_key = "name"

[table.attendees.fields.email]
type = "string"
shared_key = "email"

[table.attendees.fields.rsvp]
type = "string"
display_name = "RSVP"
default = "invited"

[table.attendees.fields.seat]
type = "number"
display_name = "Seat"

[table.attendees.fields.notes]
type = "string"
shared_key = "notes"

[table.attendees.fields.internal_notes]
type = "string"
private = true

[table.events]
display_name = "Events"

[table.events.fields.title]
type = "string"
required = true

[table.events.fields.starts_at]
type = "timestamp"

[edge.attends]
display_name = "Attends"
source_tables = ["scheduling.attendees"]
target_tables = ["scheduling.events"]

[edge.attends.properties]
role = "string"
confirmed = "boolean"
"#;

pub const LIGHTING_MANIFEST: &str = r#"
[module]
name = "lighting"
version = "2.1.0"

[table.LightingCues]
display_name = "Lighting Cues"

[table.LightingCues.fields.cue_number]
type = "number"
required = true
display_name = "Cue"

[table.LightingCues.fields.label]
type = "string"
shared_key = "name"

[table.LightingCues.fields.intensity]
type = "number"

[table.LightingCues.fields.is_called]
type = "boolean"
default = true

[table.LightingCues.fields.tags]
type = "list"
crdt = "list"
item_type = "string"
"#;

pub const SM_MANIFEST: &str = r#"
[module]
name = "sm"
version = "0.3.0"

[table.SMCues]
display_name = "SM Cues"

[table.SMCues.fields.call_text]
type = "string"
default = "GO"

[table.SMCues.fields.page]
type = "number"

[table.SMCues.fields.standby]
type = "boolean"
default = false
"#;

pub const SOUND_MANIFEST: &str = r#"
[module]
name = "sound"
version = "1.0.4"

[table.SoundCues]
display_name = "Sound Cues"

[table.SoundCues.fields.cue_number]
type = "number"
required = true

[table.SoundCues.fields.is_called]
type = "boolean"
default = false
"#;

pub const ALL_MODULES: [&str; 5] =
    [CONTACTS_MANIFEST, SCHEDULING_MANIFEST, LIGHTING_MANIFEST, SM_MANIFEST, SOUND_MANIFEST];

// ----- names -----

pub fn contacts() -> TableId {
    TableId::new("contacts", "contacts")
}

pub fn attendees() -> TableId {
    TableId::new("scheduling", "attendees")
}

pub fn events() -> TableId {
    TableId::new("scheduling", "events")
}

pub fn lighting_cues() -> TableId {
    TableId::new("lighting", "LightingCues")
}

pub fn sm_cues() -> TableId {
    TableId::new("sm", "SMCues")
}

pub fn sound_cues() -> TableId {
    TableId::new("sound", "SoundCues")
}

pub fn attends() -> EdgeType {
    EdgeType::new("scheduling", "attends")
}

pub fn key(module: &str, field: &str) -> FieldKey {
    FieldKey::new(module, field)
}

/// `contacts.full_name`, the contacts module's name ("Name", shared key `name`).
pub fn full_name() -> FieldKey {
    key("contacts", "full_name")
}

/// `scheduling.attendee_name`, the scheduling module's name (shared key `name`).
pub fn attendee_name() -> FieldKey {
    key("scheduling", "attendee_name")
}

pub fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

pub fn number(value: f64) -> Value {
    Value::number(value).expect("a finite number")
}

// ----- bundles -----

pub fn payloads(bundle: &Bundle) -> Vec<&OpPayload> {
    bundle.ops.iter().map(|op| &op.payload).collect()
}

/// The id of the one operation of `bundle` that `matches`.
pub fn op_id_where(bundle: &Bundle, matches: impl Fn(&OpPayload) -> bool) -> OpId {
    let found: Vec<OpId> = bundle.ops.iter().filter(|op| matches(&op.payload)).map(|op| op.id).collect();
    assert_eq!(found.len(), 1, "expected exactly one matching operation in {:?}", payloads(bundle));
    found[0]
}

/// The storage keys the bundle writes (set or clear), in order.
pub fn written_keys(bundle: &Bundle) -> Vec<String> {
    bundle
        .ops
        .iter()
        .filter_map(|op| match &op.payload {
            OpPayload::SetField { field, .. } | OpPayload::ClearField { field, .. } => Some(field.to_string()),
            _ => None,
        })
        .collect()
}

// ----- devices -----

pub fn identity(device: usize) -> Identity {
    Identity::from_seed([u8::try_from(device).expect("few devices") + 1; 32])
}

pub fn actor(device: usize) -> ActorId {
    identity(device).actor_id()
}

/// Each workspace receives everything the other holds, through `receive`.
/// Returns the reports of `a` and `b`.
pub fn sync(a: &mut Workspace, b: &mut Workspace, now_ms: u64) -> (ReceiveReport, ReceiveReport) {
    let from_a = a.log().bundles().cloned().collect::<Vec<_>>();
    let from_b = b.log().bundles().cloned().collect::<Vec<_>>();
    let report_b = b.receive(from_a, now_ms);
    let report_a = a.receive(from_b, now_ms);
    (report_a, report_b)
}

/// One workspace on several devices, the first of which created it.
pub struct Show {
    pub devices: Vec<Workspace>,
    entropies: Vec<SeededEntropy>,
    /// The physical time of the last edit; the next one happens a minute later.
    pub now: u64,
    /// The workspace's first bundle and the owner's setup bundle (modules, roster).
    pub setup: Vec<Bundle>,
}

impl Show {
    /// Jane alone.
    pub fn new() -> Show {
        Show::with_crew(&["Jane"])
    }

    /// The first name is the owner's; the others are admitted to the roster
    /// under their names and join with the setup bundles.
    pub fn with_crew(names: &[&str]) -> Show {
        let mut entropy = SeededEntropy::new(1);
        let (mut owner, first) = Workspace::create(identity(0), "Hamlet", names[0], NOW, &mut entropy);
        let mut change = owner.change(NOW, &mut entropy);
        for manifest in ALL_MODULES {
            change.adopt_module(manifest, None).expect("the test modules are valid");
        }
        for (device, name) in names.iter().enumerate().skip(1) {
            change.admit_actor(actor(device), name);
        }
        let setup = vec![first, change.commit().expect("setup has operations")];
        let mut devices = vec![owner];
        let mut entropies = vec![entropy];
        for device in 1..names.len() {
            let mut workspace = Workspace::empty(devices[0].id(), identity(device), NOW, ClockConfig::default());
            let report = workspace.receive(setup.clone(), NOW);
            assert!(report.refused.is_empty(), "{:?}", report.refused);
            devices.push(workspace);
            entropies.push(SeededEntropy::new(100 + device as u64));
        }
        Show { devices, entropies, now: NOW, setup }
    }

    pub fn ws(&self, device: usize) -> &Workspace {
        &self.devices[device]
    }

    pub fn state(&self, device: usize) -> &State {
        self.devices[device].state()
    }

    pub fn value(&self, device: usize, entity: EntityId, field: &FieldKey) -> Option<Value> {
        self.state(device).field(entity, field).value
    }

    /// Moves physical time on by a minute and returns it.
    pub fn tick(&mut self) -> u64 {
        self.now += MINUTE;
        self.now
    }

    /// A change on `device` at the current time, for tests that look at a
    /// change before committing it.
    pub fn change(&mut self, device: usize) -> Change<'_> {
        self.devices[device].change(self.now, &mut self.entropies[device])
    }

    /// One bundle made of `steps` a minute from now; every step must be accepted.
    pub fn edit<T>(
        &mut self,
        device: usize,
        steps: impl FnOnce(&mut Change<'_>) -> Result<T, EditError>,
    ) -> (T, Bundle) {
        self.tick();
        let mut change = self.change(device);
        let out = steps(&mut change).unwrap_or_else(|error| panic!("edit refused: {error:?} ({error})"));
        let bundle = change.commit().expect("an edit with operations commits");
        (out, bundle)
    }

    /// A step that must be refused: returns why, after checking that the
    /// refused step left nothing in its change and nothing in the workspace.
    pub fn refuse<T: Debug>(
        &mut self,
        device: usize,
        step: impl FnOnce(&mut Change<'_>) -> Result<T, EditError>,
    ) -> EditError {
        self.tick();
        let bundles_before = self.devices[device].log().len();
        let hash_before = self.devices[device].state().state_hash();
        let ops_before = self.devices[device].state().op_count();
        let error = {
            let mut change = self.change(device);
            let error = match step(&mut change) {
                Ok(accepted) => panic!("expected a refusal, but the step was accepted: {accepted:?}"),
                Err(error) => error,
            };
            assert!(change.is_empty(), "a refused step must add no operation to its change ({error:?})");
            error
        };
        let workspace = &self.devices[device];
        assert_eq!(workspace.log().len(), bundles_before, "a refused step must not reach the log");
        assert_eq!(workspace.state().op_count(), ops_before, "a refused step must apply nothing");
        assert_eq!(workspace.state().state_hash(), hash_before, "a refused step must leave the state as it was");
        error
    }

    pub fn undo(&mut self, device: usize) -> UndoOutcome {
        let now = self.tick();
        self.devices[device].undo(now)
    }

    pub fn redo(&mut self, device: usize) -> UndoOutcome {
        let now = self.tick();
        self.devices[device].redo(now)
    }

    fn pair(&mut self, a: usize, b: usize) -> (&mut Workspace, &mut Workspace) {
        assert_ne!(a, b);
        if a < b {
            let (low, high) = self.devices.split_at_mut(b);
            (&mut low[a], &mut high[0])
        } else {
            let (low, high) = self.devices.split_at_mut(a);
            (&mut high[0], &mut low[b])
        }
    }

    /// `a` and `b` exchange everything they hold; nothing may be refused.
    pub fn sync(&mut self, a: usize, b: usize) {
        let now = self.now;
        let (first, second) = self.pair(a, b);
        let (report_a, report_b) = sync(first, second, now);
        assert!(report_a.refused.is_empty(), "{:?}", report_a.refused);
        assert!(report_b.refused.is_empty(), "{:?}", report_b.refused);
    }

    /// Every device gets everything; then all states must be the same.
    pub fn sync_all(&mut self) {
        for a in 0..self.devices.len() {
            for b in a + 1..self.devices.len() {
                self.sync(a, b);
            }
        }
        for a in 0..self.devices.len() {
            for b in a + 1..self.devices.len() {
                self.sync(a, b);
            }
        }
        let hash = self.devices[0].state().state_hash();
        for (device, workspace) in self.devices.iter().enumerate() {
            assert_eq!(workspace.state().state_hash(), hash, "device {device} diverged after a full sync");
        }
    }

    // ----- common records -----

    /// A contact with this name.
    pub fn contact(&mut self, device: usize, name: &str) -> EntityId {
        self.edit(device, |change| change.create_record(&contacts(), &[("full_name", text(name))])).0
    }

    /// An attendee with this name.
    pub fn attendee(&mut self, device: usize, name: &str) -> EntityId {
        self.edit(device, |change| change.create_record(&attendees(), &[("attendee_name", text(name))])).0
    }

    /// An event with this title.
    pub fn event(&mut self, device: usize, title: &str) -> EntityId {
        self.edit(device, |change| change.create_record(&events(), &[("title", text(title))])).0
    }

    /// Confirms that `contacts.full_name` and `scheduling.attendee_name` are one field, `name`.
    pub fn map_names(&mut self, device: usize) -> OpId {
        self.edit(device, |change| change.confirm_mapping("name", &[full_name(), attendee_name()])).0
    }
}
