//! Convergence properties (DESIGN.md §4 and §9, `spec/sync.md`): the same
//! bundles give the same state hash whatever order, duplication or batching
//! they arrive in; applying them one batch at a time gives what a rebuild
//! from the whole log gives; and concurrent merges pick the same survivor
//! everywhere.
//!
//! Histories are random but deterministic: a [`Scenario`] (what proptest
//! generates and shrinks) is turned into real local edits on real
//! workspaces, each choice made against the acting device's own state, and
//! every id comes from a [`SeededEntropy`] seeded by the scenario. A failing
//! case prints the journal of the edits that were made, in order, so that it
//! can be replayed by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use openprod_core::bundle::{Bundle, VerifyError};
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::{EdgeId, EntityId, OpId, WorkspaceId};
use openprod_core::names::{EdgeType, FieldKey, TableId};
use openprod_core::op::DataHandling;
use openprod_core::state::State;
use openprod_core::value::{FieldType, Value};
use openprod_core::workspace::{EditError, ReceiveReport, Refusal, UndoOutcome, Workspace};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

const NOW: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");
/// A second module, so that records span tables of two modules, an edge type
/// exists, and `crew.display_name` can be mapped onto `contacts.full_name`.
const CREW: &str = r#"
[module]
name = "crew"
version = "1.0.0"

[table.members]
display_name = "Crew"

[table.members.fields.display_name]
type = "string"
shared_key = "name"

[table.members.fields.call_time]
type = "number"

[table.members.fields.on_call]
type = "boolean"
default = false

[edge.works_with]
display_name = "Works with"

[edge.works_with.properties]
note = "string"
weight = "number"
"#;

/// The crew module's next version: `on_call` is gone, `department` is new.
fn crew_v2() -> String {
    CREW.replace("version = \"1.0.0\"", "version = \"1.1.0\"").replace(
        "[table.members.fields.on_call]\ntype = \"boolean\"\ndefault = false",
        "[table.members.fields.department]\ntype = \"string\"",
    )
}

const NAMES: [&str; 4] = ["Horatio", "Ophelia", "Laertes", "Gertrude"];
const WORDS: [&str; 4] = ["Director", "Stage Manager", "Lighting", "Sound"];
const NUMBERS: [f64; 3] = [1.0, 2.5, 19.0];

fn contacts() -> TableId {
    TableId::new("contacts", "contacts")
}

fn members() -> TableId {
    TableId::new("crew", "members")
}

fn all_tables() -> [TableId; 2] {
    [contacts(), members()]
}

fn works_with() -> EdgeType {
    EdgeType::new("crew", "works_with")
}

fn name_fields() -> [FieldKey; 2] {
    [FieldKey::new("contacts", "full_name"), FieldKey::new("crew", "display_name")]
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

fn number(value: f64) -> Value {
    Value::number(value).expect("finite")
}

fn identity(index: usize) -> Identity {
    Identity::from_seed([index as u8 + 1; 32])
}

/// A replica that is none of the actors.
fn replica_identity(index: usize) -> Identity {
    Identity::from_seed([200 + index as u8; 32])
}

// ----- scenarios: what proptest generates -----

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    CreateContact,
    CreateMember,
    SetField,
    ClearField,
    DeleteRecord,
    RestoreRecord,
    AddToTable,
    RemoveFromTable,
    CreateEdge,
    DeleteEdge,
    RestoreEdge,
    SetEdgeProperty,
    ConfirmMapping,
    RevokeMapping,
    MergeRecords,
    ResolveConflict,
    SplitRecord,
    LinkTables,
    Undo,
    Redo,
    AdoptModule,
    RejectMapping,
}

const ALL_KINDS: [Kind; 22] = [
    Kind::CreateContact,
    Kind::CreateMember,
    Kind::SetField,
    Kind::ClearField,
    Kind::DeleteRecord,
    Kind::RestoreRecord,
    Kind::AddToTable,
    Kind::RemoveFromTable,
    Kind::CreateEdge,
    Kind::DeleteEdge,
    Kind::RestoreEdge,
    Kind::SetEdgeProperty,
    Kind::ConfirmMapping,
    Kind::RevokeMapping,
    Kind::MergeRecords,
    Kind::ResolveConflict,
    Kind::SplitRecord,
    Kind::LinkTables,
    Kind::Undo,
    Kind::Redo,
    Kind::AdoptModule,
    Kind::RejectMapping,
];

#[derive(Debug, Clone)]
enum Step {
    /// A local edit by `actor` (modulo the actor count). `pick` chooses the
    /// records, tables, fields and values among those the actor can see;
    /// `dt` is how far time moves on before it (≥ 1 ms).
    Edit { actor: usize, kind: Kind, pick: [u16; 3], dt: u16 },
    /// `to` receives bundles it lacks from `from`: all of them, or (one time
    /// in four) the ones `mask` selects, gaps included (refused until resent).
    Sync { from: usize, to: usize, mask: u32 },
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    actors: usize,
    /// Each actor's clock offset from true time, within the drift bound.
    skews_ms: [i32; 4],
    steps: Vec<Step>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::CreateContact),
        2 => Just(Kind::CreateMember),
        6 => Just(Kind::SetField),
        2 => Just(Kind::ClearField),
        2 => Just(Kind::DeleteRecord),
        2 => Just(Kind::RestoreRecord),
        2 => Just(Kind::AddToTable),
        1 => Just(Kind::RemoveFromTable),
        2 => Just(Kind::CreateEdge),
        2 => Just(Kind::DeleteEdge),
        2 => Just(Kind::RestoreEdge),
        2 => Just(Kind::SetEdgeProperty),
        1 => Just(Kind::ConfirmMapping),
        2 => Just(Kind::RevokeMapping),
        2 => Just(Kind::MergeRecords),
        3 => Just(Kind::ResolveConflict),
        1 => Just(Kind::SplitRecord),
        1 => Just(Kind::LinkTables),
        2 => Just(Kind::Undo),
        1 => Just(Kind::Redo),
        1 => Just(Kind::AdoptModule),
        1 => Just(Kind::RejectMapping),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4usize, kind(), any::<[u16; 3]>(), 1..3_000u16)
            .prop_map(|(actor, kind, pick, dt)| Step::Edit { actor, kind, pick, dt }),
        1 => (0..4usize, 0..4usize, any::<u32>()).prop_map(|(from, to, mask)| Step::Sync { from, to, mask }),
    ]
}

fn scenario(min_actors: usize, max_steps: usize) -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        min_actors..=4usize,
        proptest::array::uniform4(-60_000i32..60_000),
        proptest::collection::vec(step(), 0..=max_steps),
    )
        .prop_map(|(seed, actors, skews_ms, steps)| Scenario { seed, actors, skews_ms, steps })
}

// ----- histories: scenarios played on real workspaces -----

/// A concrete edit, chosen against the acting device's state.
#[derive(Debug, Clone)]
enum Intent {
    CreateContact {
        name: Value,
        role: Option<Value>,
    },
    CreateMember {
        name: Option<Value>,
        call_time: Option<Value>,
    },
    SetField {
        entity: EntityId,
        table: TableId,
        field: String,
        value: Value,
    },
    ClearField {
        entity: EntityId,
        table: TableId,
        field: String,
    },
    Delete(EntityId),
    Restore(EntityId),
    AddToTable {
        entity: EntityId,
        table: TableId,
    },
    RemoveFromTable {
        entity: EntityId,
        table: TableId,
        handling: DataHandling,
    },
    CreateEdge {
        source: EntityId,
        target: EntityId,
        note: Option<Value>,
    },
    DeleteEdge(EdgeId),
    RestoreEdge(EdgeId),
    SetEdgeProperty {
        edge: EdgeId,
        property: &'static str,
        value: Option<Value>,
    },
    ConfirmMapping,
    RevokeMapping(OpId),
    Merge(EntityId, EntityId),
    Resolve {
        entity: EntityId,
        table: TableId,
        field: String,
        value: Option<Value>,
    },
    Split {
        source: EntityId,
        table: TableId,
        fields: Vec<FieldKey>,
    },
    LinkTables {
        link: bool,
    },
    /// Undo, and with `then_redo` redo it straight away (two bundles).
    Undo {
        then_redo: bool,
    },
    Redo,
    /// Adopts the crew module again, in its first or its next version.
    AdoptCrew {
        next_version: bool,
    },
    RejectMapping,
}

struct History {
    id: WorkspaceId,
    actors: Vec<Workspace>,
    skews_ms: Vec<i64>,
    /// Every bundle produced, in the order it was made.
    bundles: Vec<Bundle>,
    /// Every record and edge created, by anyone, in creation order: `r0`, `e0`… in the journal.
    records: Vec<EntityId>,
    edges: Vec<EdgeId>,
    entropy: SeededEntropy,
    now: u64,
    journal: Vec<String>,
    /// How many bundles each kind of edit produced; how many found nothing to
    /// act on; which were refused by the engine (a planning mistake).
    committed: BTreeMap<Kind, usize>,
    unplanned: BTreeMap<Kind, usize>,
    refused: Vec<(Kind, String)>,
}

impl History {
    /// The workspace created by actor 0 with both modules adopted and every
    /// actor admitted; the others join from the first two bundles.
    fn new(seed: u64, actor_count: usize, skews_ms: [i32; 4]) -> History {
        let mut entropy = SeededEntropy::new(seed);
        let (mut owner, first) = Workspace::create(identity(0), "Hamlet", "Actor 0", NOW, &mut entropy);
        let mut change = owner.change(NOW, &mut entropy);
        change.adopt_module(CONTACTS, None).expect("contacts adopts");
        change.adopt_module(CREW, None).expect("crew adopts");
        for index in 1..actor_count {
            change.admit_actor(identity(index).actor_id(), &format!("Actor {index}"));
        }
        let setup = change.commit().expect("setup commits");
        let id = owner.id();
        let mut actors = vec![owner];
        for index in 1..actor_count {
            let mut device = Workspace::empty(id, identity(index), NOW, ClockConfig::default());
            let report = device.receive(vec![first.clone(), setup.clone()], NOW);
            assert!(report.refused.is_empty(), "joining: {:?}", report.refused);
            actors.push(device);
        }
        History {
            id,
            actors,
            skews_ms: skews_ms[..actor_count].iter().map(|&skew| i64::from(skew)).collect(),
            bundles: vec![first, setup],
            records: Vec::new(),
            edges: Vec::new(),
            entropy,
            now: NOW,
            journal: vec![format!(
                "actor 0 creates the workspace, adopts contacts and crew, admits {} actors",
                actor_count - 1
            )],
            committed: BTreeMap::new(),
            unplanned: BTreeMap::new(),
            refused: Vec::new(),
        }
    }

    fn generate(scenario: &Scenario) -> History {
        let mut history = History::new(scenario.seed, scenario.actors, scenario.skews_ms);
        history.run(&scenario.steps);
        history
    }

    fn run(&mut self, steps: &[Step]) {
        for step in steps {
            self.step(step);
        }
    }

    fn step(&mut self, step: &Step) {
        let count = self.actors.len();
        match *step {
            Step::Edit { actor, kind, pick, dt } => {
                self.now += u64::from(dt.max(1));
                self.edit(actor % count, kind, pick);
            }
            Step::Sync { from, to, mask } => self.sync(from % count, to % count, mask),
        }
    }

    /// The actor's wall clock: true time plus its skew.
    fn actor_now(&self, actor: usize) -> u64 {
        self.now.checked_add_signed(self.skews_ms[actor]).expect("a plausible time")
    }

    /// A time at which every clock in the history is in the past.
    fn later(&self) -> u64 {
        self.now + 120_000
    }

    fn edit(&mut self, actor: usize, kind: Kind, pick: [u16; 3]) {
        // With nothing to act on, the step sets up what it needed instead (a
        // deletion for a restoration, an edge for an edge edit, a write for
        // a resolution…), down to creating a record.
        // Someone about to resolve a conflict first pulls what the others
        // have, as a device does when it comes back online.
        if kind == Kind::ResolveConflict && self.plan(actor, kind, pick).is_none() {
            for other in 0..self.actors.len() {
                self.sync(other, actor, 1);
            }
        }
        let mut kind = kind;
        let mut planned = None;
        for _ in 0..4 {
            planned = self.plan(actor, kind, pick);
            if planned.is_some() {
                break;
            }
            *self.unplanned.entry(kind).or_default() += 1;
            kind = match kind {
                Kind::Redo => Kind::Undo,
                Kind::RestoreRecord => Kind::DeleteRecord,
                Kind::RestoreEdge => Kind::DeleteEdge,
                Kind::DeleteEdge | Kind::SetEdgeProperty => Kind::CreateEdge,
                Kind::RevokeMapping => Kind::ConfirmMapping,
                Kind::ResolveConflict => Kind::SetField,
                _ if pick[2].is_multiple_of(3) => Kind::CreateMember,
                _ => Kind::CreateContact,
            };
        }
        let planned = planned.map(|intent| (kind, intent));
        let Some((kind, intent)) = planned else { return };
        let now = self.actor_now(actor);
        match self.perform(actor, &intent, now) {
            Ok(bundles) if !bundles.is_empty() => {
                let ops: Vec<usize> = bundles.iter().map(|bundle| bundle.ops.len()).collect();
                let line = format!(
                    "t+{}ms actor {actor}: {} (ops per bundle: {ops:?})",
                    self.now - NOW,
                    self.describe(&intent)
                );
                self.journal.push(line);
                if matches!(intent, Intent::Undo { .. }) && bundles.len() == 2 {
                    *self.committed.entry(Kind::Redo).or_default() += 1;
                }
                self.bundles.extend(bundles);
                *self.committed.entry(kind).or_default() += 1;
            }
            Ok(_) => {
                let line =
                    format!("t+{}ms actor {actor}: {} skipped as unsafe", self.now - NOW, self.describe(&intent));
                self.journal.push(line);
                *self.unplanned.entry(kind).or_default() += 1;
            }
            Err(error) => self.refused.push((kind, format!("{error:?}"))),
        }
    }

    fn live_records(&self, state: &State) -> Vec<EntityId> {
        self.records.iter().copied().filter(|&e| state.merged_into(e).is_none() && state.entity_exists(e)).collect()
    }

    fn deleted_records(&self, state: &State) -> Vec<EntityId> {
        self.records.iter().copied().filter(|&e| state.merged_into(e).is_none() && state.entity_deleted(e)).collect()
    }

    /// Chooses what `kind` does on this actor's current state; `None` when
    /// there is nothing to do it to.
    fn plan(&self, actor: usize, kind: Kind, pick: [u16; 3]) -> Option<Intent> {
        let state = self.actors[actor].state();
        let [p0, p1, p2] = pick.map(usize::from);
        let live = self.live_records(state);
        // Half the picks go to the three oldest records, which every actor is
        // likeliest to have seen: that is where concurrent edits collide.
        let choose_record = |p: usize| {
            let range = if p.is_multiple_of(2) { live.len().min(3) } else { live.len() };
            (!live.is_empty()).then(|| live[(p / 2) % range])
        };
        Some(match kind {
            Kind::CreateContact => Intent::CreateContact {
                name: text(NAMES[p0 % NAMES.len()]),
                role: (p1 % 2 == 0).then(|| text(WORDS[p2 % WORDS.len()])),
            },
            Kind::CreateMember => Intent::CreateMember {
                name: (p0 % 3 != 0).then(|| text(NAMES[p1 % NAMES.len()])),
                call_time: (p2 % 2 == 0).then(|| number(NUMBERS[p2 % NUMBERS.len()])),
            },
            Kind::SetField => {
                let entity = choose_record(p0)?;
                // Half the writes go to the name, so that they collide too.
                let field_pick = if p2 % 2 == 0 { 0 } else { p2 / 4 };
                let (table, field, field_type) = pick_field(state, entity, p1, field_pick, |_| true)?;
                let value = sample_value(&field, field_type, p2);
                Intent::SetField { entity, table, field, value }
            }
            Kind::ClearField => {
                let entity = choose_record(p0)?;
                let (table, field, _) = pick_field(state, entity, p1, p2, |required| !required)?;
                Intent::ClearField { entity, table, field }
            }
            Kind::DeleteRecord => Intent::Delete(choose_record(p0)?),
            Kind::RestoreRecord => {
                let deleted = self.deleted_records(state);
                Intent::Restore(*deleted.get(p0 % deleted.len().max(1))?)
            }
            Kind::AddToTable => {
                let entity = choose_record(p0)?;
                let absent: Vec<TableId> =
                    all_tables().into_iter().filter(|table| !state.in_table(entity, table)).collect();
                let table = absent.get(p1 % absent.len().max(1))?.clone();
                Intent::AddToTable { entity, table }
            }
            Kind::RemoveFromTable => {
                let entity = choose_record(p0)?;
                let tables = state.tables_of(entity);
                let table = tables.get(p1 % tables.len().max(1))?.clone();
                let handling = if p2 % 2 == 0 { DataHandling::Preserve } else { DataHandling::Discard };
                Intent::RemoveFromTable { entity, table, handling }
            }
            Kind::CreateEdge => Intent::CreateEdge {
                source: choose_record(p0)?,
                target: choose_record(p1)?,
                note: (p2 % 2 == 0).then(|| text(WORDS[p2 % WORDS.len()])),
            },
            Kind::DeleteEdge => {
                let live: Vec<EdgeId> = self.edges.iter().copied().filter(|&edge| state.edge(edge).is_some()).collect();
                Intent::DeleteEdge(*live.get(p0 % live.len().max(1))?)
            }
            Kind::RestoreEdge => {
                let deleted: Vec<EdgeId> = self
                    .edges
                    .iter()
                    .copied()
                    .filter(|&edge| state.edge_definition(edge).is_some() && !state.edge_alive(edge))
                    .collect();
                Intent::RestoreEdge(*deleted.get(p0 % deleted.len().max(1))?)
            }
            Kind::SetEdgeProperty => {
                let live: Vec<EdgeId> = self.edges.iter().copied().filter(|&edge| state.edge(edge).is_some()).collect();
                let edge = *live.get(p0 % live.len().max(1))?;
                let (property, value) = match p1 % 3 {
                    0 => ("note", Some(text(WORDS[p2 % WORDS.len()]))),
                    1 => ("weight", Some(number(NUMBERS[p2 % NUMBERS.len()]))),
                    _ => (if p2 % 2 == 0 { "note" } else { "weight" }, None),
                };
                Intent::SetEdgeProperty { edge, property, value }
            }
            Kind::ConfirmMapping => Intent::ConfirmMapping,
            Kind::RevokeMapping => Intent::RevokeMapping(state.mapping_of(&name_fields()[0])?.id),
            Kind::MergeRecords => {
                if live.len() < 2 {
                    return None;
                }
                let first = p0 % live.len();
                let second = (first + 1 + p1 % (live.len() - 1)) % live.len();
                Intent::Merge(live[first], live[second])
            }
            Kind::ResolveConflict => {
                // A field with a conflict, or with a resolution that could be revised.
                let mut candidates = Vec::new();
                for &entity in &live {
                    for table in state.tables_of(entity) {
                        let Some(definition) = state.table(&table) else { continue };
                        for field in definition.fields.iter().filter(|field| field.crdt.is_none()) {
                            let current = state.field(entity, &FieldKey::new(table.module(), &field.name));
                            if current.is_conflicted() || current.standing_resolution().is_some() {
                                candidates.push((entity, table.clone(), field.name.clone(), field.field_type, current));
                            }
                        }
                    }
                }
                let (entity, table, field, field_type, current) = candidates.get(p0 % candidates.len().max(1))?.clone();
                let value = match current.heads.get(p1 % current.heads.len().max(1)).and_then(|head| head.value.clone())
                {
                    Some(value) if p2 % 3 != 0 => value,
                    _ => sample_value(&field, field_type, p2),
                };
                Intent::Resolve { entity, table, field, value: Some(value) }
            }
            Kind::SplitRecord => {
                let source = choose_record(p0)?;
                let tables = state.tables_of(source);
                let table = tables.get(p1 % tables.len().max(1))?.clone();
                let definition = state.table(&table)?;
                let fields = definition
                    .fields
                    .iter()
                    .filter(|field| field.crdt.is_none())
                    .map(|field| FieldKey::new(table.module(), &field.name))
                    .filter(|key| p2 % 2 == 0 || state.field(source, key).value.is_some())
                    .collect();
                Intent::Split { source, table, fields }
            }
            Kind::LinkTables => Intent::LinkTables { link: p0 % 3 != 0 },
            Kind::AdoptModule => Intent::AdoptCrew { next_version: p0 % 2 == 0 },
            Kind::RejectMapping => Intent::RejectMapping,
            Kind::Undo => self.actors[actor].can_undo().then_some(Intent::Undo { then_redo: p0 % 3 == 0 })?,
            Kind::Redo => self.actors[actor].can_redo().then_some(Intent::Redo)?,
        })
    }

    /// Makes the edit and returns its bundles: none when an undo or redo was
    /// skipped as unsafe, two for an undo and its redo.
    fn perform(&mut self, actor: usize, intent: &Intent, now: u64) -> Result<Vec<Bundle>, EditError> {
        match intent {
            Intent::Undo { then_redo } => {
                let mut bundles = Vec::new();
                if let UndoOutcome::Applied(bundle) = self.actors[actor].undo(now) {
                    bundles.push(bundle);
                    if *then_redo && let UndoOutcome::Applied(bundle) = self.actors[actor].redo(now) {
                        bundles.push(bundle);
                    }
                }
                return Ok(bundles);
            }
            Intent::Redo => {
                let outcome = self.actors[actor].redo(now);
                return Ok(match outcome {
                    UndoOutcome::Applied(bundle) => vec![bundle],
                    UndoOutcome::Skipped { .. } | UndoOutcome::NothingToDo => Vec::new(),
                });
            }
            _ => {}
        }
        let mut new_records = Vec::new();
        let mut new_edges = Vec::new();
        let mut change = self.actors[actor].change(now, &mut self.entropy);
        match intent.clone() {
            Intent::CreateContact { name, role } => {
                let mut values = vec![("full_name", name)];
                values.extend(role.map(|role| ("role", role)));
                new_records.push(change.create_record(&contacts(), &values)?);
            }
            Intent::CreateMember { name, call_time } => {
                let mut values = Vec::new();
                values.extend(name.map(|name| ("display_name", name)));
                values.extend(call_time.map(|time| ("call_time", time)));
                new_records.push(change.create_record(&members(), &values)?);
            }
            Intent::SetField { entity, table, field, value } => change.set_field(entity, &table, &field, value)?,
            Intent::ClearField { entity, table, field } => change.clear_field(entity, &table, &field)?,
            Intent::Delete(entity) => change.delete_record(entity)?,
            Intent::Restore(entity) => change.restore_record(entity)?,
            Intent::AddToTable { entity, table } => change.add_to_table(entity, &table)?,
            Intent::RemoveFromTable { entity, table, handling } => {
                change.remove_from_table(entity, &table, handling)?
            }
            Intent::CreateEdge { source, target, note } => {
                let properties: Vec<(&str, Value)> = note.into_iter().map(|note| ("note", note)).collect();
                new_edges.push(change.create_edge(&works_with(), source, target, &properties)?);
            }
            Intent::DeleteEdge(edge) => change.delete_edge(edge)?,
            Intent::RestoreEdge(edge) => change.restore_edge(edge)?,
            Intent::SetEdgeProperty { edge, property, value } => change.set_edge_property(edge, property, value)?,
            Intent::ConfirmMapping => {
                change.confirm_mapping("name", &name_fields())?;
            }
            Intent::RevokeMapping(mapping) => change.revoke_mapping(mapping)?,
            Intent::Merge(first, second) => {
                change.merge_records(first, second)?;
            }
            Intent::Resolve { entity, table, field, value } => {
                change.resolve_conflict(entity, &table, &field, value)?;
            }
            Intent::Split { source, table, fields } => {
                new_records.push(change.split_record(source, &[table], &fields)?)
            }
            Intent::LinkTables { link: true } => change.link_tables(&contacts(), &members())?,
            Intent::LinkTables { link: false } => change.unlink_tables(&contacts(), &members())?,
            Intent::AdoptCrew { next_version: false } => {
                change.adopt_module(CREW, None)?;
            }
            Intent::AdoptCrew { next_version: true } => {
                change.adopt_module(&crew_v2(), None)?;
            }
            Intent::RejectMapping => change.reject_mapping("name", &name_fields())?,
            Intent::Undo { .. } | Intent::Redo => unreachable!("handled above"),
        }
        let bundle = change.commit()?;
        self.records.extend(new_records);
        self.edges.extend(new_edges);
        Ok(vec![bundle])
    }

    /// `to` receives what `from` has and it lacks: everything, three times in
    /// four, else the subset the mask's upper bits pick.
    fn sync(&mut self, from: usize, to: usize, mask: u32) {
        if from == to {
            return;
        }
        let theirs = self.actors[to].log().version_vector();
        let missing: Vec<Bundle> = self.actors[from].log().missing_for(&theirs).cloned().collect();
        let full = !mask.is_multiple_of(4);
        let chosen: Vec<Bundle> = missing
            .into_iter()
            .enumerate()
            .filter(|(index, _)| full || (mask >> 2) & (1 << (index % 30)) != 0)
            .map(|(_, bundle)| bundle)
            .collect();
        if chosen.is_empty() {
            return;
        }
        let count = chosen.len();
        let now = self.actor_now(to);
        let report = self.actors[to].receive(chosen, now);
        self.journal.push(format!(
            "t+{}ms actor {to} receives {count} of actor {from}'s bundles ({}): {} applied, {} refused",
            self.now - NOW,
            if full { "all missing" } else { "partial" },
            report.applied.len(),
            report.refused.len()
        ));
        assert_only_gaps(&report, &format!("actor {to} syncing from actor {from}"), &self.journal_text());
    }

    /// Every actor receives every bundle: the end of a partition.
    fn sync_all(&mut self) {
        let now = self.later();
        let bundles = self.bundles.clone();
        let journal = self.journal_text();
        for (index, actor) in self.actors.iter_mut().enumerate() {
            let report = actor.receive(bundles.clone(), now);
            assert!(report.refused.is_empty(), "actor {index} refused {:?} in a full sync\n{journal}", report.refused);
            assert_eq!(actor.log().len(), bundles.len(), "actor {index} holds every bundle\n{journal}");
        }
    }

    fn fresh_replica(&self, index: usize) -> Workspace {
        Workspace::empty(self.id, replica_identity(index), NOW, ClockConfig::default())
    }

    fn label_record(&self, entity: EntityId) -> String {
        match self.records.iter().position(|&e| e == entity) {
            Some(index) => format!("r{index}"),
            None => format!("{entity}"),
        }
    }

    fn label_edge(&self, edge: EdgeId) -> String {
        match self.edges.iter().position(|&e| e == edge) {
            Some(index) => format!("e{index}"),
            None => format!("{edge}"),
        }
    }

    /// The intent, with records and edges named by creation index. New ids
    /// are the next indexes: `r{records.len()}` before `perform` pushes it.
    fn describe(&self, intent: &Intent) -> String {
        let r = |e: &EntityId| self.label_record(*e);
        let e = |e: &EdgeId| self.label_edge(*e);
        let new_record = format!("r{}", self.records.len().saturating_sub(1));
        match intent {
            Intent::CreateContact { name, role } => format!("create contact {new_record} name={name} role={role:?}"),
            Intent::CreateMember { name, call_time } => {
                format!("create crew member {new_record} display_name={name:?} call_time={call_time:?}")
            }
            Intent::SetField { entity, table, field, value } => {
                format!("set {}.{table}.{field} = {value:?}", r(entity))
            }
            Intent::ClearField { entity, table, field } => format!("clear {}.{table}.{field}", r(entity)),
            Intent::Delete(entity) => format!("delete {}", r(entity)),
            Intent::Restore(entity) => format!("restore {}", r(entity)),
            Intent::AddToTable { entity, table } => format!("add {} to {table}", r(entity)),
            Intent::RemoveFromTable { entity, table, handling } => {
                format!("remove {} from {table} ({handling:?})", r(entity))
            }
            Intent::CreateEdge { source, target, note } => {
                format!(
                    "create edge e{} {} -> {} note={note:?}",
                    self.edges.len().saturating_sub(1),
                    r(source),
                    r(target)
                )
            }
            Intent::DeleteEdge(edge) => format!("delete edge {}", e(edge)),
            Intent::RestoreEdge(edge) => format!("restore edge {}", e(edge)),
            Intent::SetEdgeProperty { edge, property, value } => format!("set edge {}.{property} = {value:?}", e(edge)),
            Intent::ConfirmMapping => "confirm mapping name = contacts.full_name + crew.display_name".to_owned(),
            Intent::RevokeMapping(mapping) => format!("revoke mapping {mapping}"),
            Intent::Merge(first, second) => format!("merge {} + {}", r(first), r(second)),
            Intent::Resolve { entity, table, field, value } => {
                format!("resolve {}.{table}.{field} with {value:?}", r(entity))
            }
            Intent::Split { source, table, fields } => {
                format!("split {table} off {} into {new_record}, copying {fields:?}", r(source))
            }
            Intent::LinkTables { link } => {
                format!("{} contacts.contacts -> crew.members", if *link { "link" } else { "unlink" })
            }
            Intent::Undo { then_redo: false } => "undo".to_owned(),
            Intent::Undo { then_redo: true } => "undo, then redo".to_owned(),
            Intent::Redo => "redo".to_owned(),
            Intent::AdoptCrew { next_version } => {
                format!("adopt crew {}", if *next_version { "1.1.0 (department, no on_call)" } else { "1.0.0" })
            }
            Intent::RejectMapping => "reject mapping name = contacts.full_name + crew.display_name".to_owned(),
        }
    }

    fn observe(&self, state: &State) -> String {
        observe(state, &self.records, &self.edges)
    }

    fn journal_text(&self) -> String {
        let mut text = String::from("history:\n");
        for line in &self.journal {
            let _ = writeln!(text, "  {line}");
        }
        text
    }
}

/// The field chosen by `table_pick` and `field_pick` among the record's
/// tables and their (non-collaborative) fields that `keep(required)` accepts.
fn pick_field(
    state: &State,
    entity: EntityId,
    table_pick: usize,
    field_pick: usize,
    keep: impl Fn(bool) -> bool,
) -> Option<(TableId, String, FieldType)> {
    let tables = state.tables_of(entity);
    let table = tables.get(table_pick % tables.len().max(1))?.clone();
    let definition = state.table(&table)?;
    let fields: Vec<_> =
        definition.fields.iter().filter(|field| field.crdt.is_none() && keep(field.required)).collect();
    let field = fields.get(field_pick % fields.len().max(1))?;
    Some((table, field.name.clone(), field.field_type))
}

fn sample_value(field: &str, field_type: FieldType, pick: usize) -> Value {
    match field_type {
        FieldType::String if field.contains("name") => text(NAMES[pick % NAMES.len()]),
        FieldType::String => text(WORDS[pick % WORDS.len()]),
        FieldType::Number => number(NUMBERS[pick % NUMBERS.len()]),
        FieldType::Boolean => Value::Boolean(pick.is_multiple_of(2)),
        FieldType::Timestamp => Value::Timestamp(pick as i64),
        FieldType::Blob => Value::Blob([pick as u8; 32]),
    }
}

/// Refusals a correct history can cause: a bundle arriving before the one
/// it follows, or without the later signed one that vouches for it (until
/// it is resent). Anything else is a bug.
fn assert_only_gaps(report: &ReceiveReport, context: &str, journal: &str) {
    for refused in &report.refused {
        match &refused.reason {
            Refusal::Invalid(VerifyError::ChainGap { .. } | VerifyError::Unvouched { .. })
            | Refusal::AfterRefused { .. } => {}
            other => panic!("{context}: bundle #{} refused: {other:?}\n{journal}", refused.seq),
        }
    }
}

// ----- delivery: orders, duplicates, batches, resends -----

fn shuffle<T>(items: &mut [T], rng: &mut SeededEntropy) {
    for index in (1..items.len()).rev() {
        let other = (rng.next_u64() % (index as u64 + 1)) as usize;
        items.swap(index, other);
    }
}

fn holds(replica: &Workspace, bundle: &Bundle) -> bool {
    replica.log().get(&bundle.header.author, bundle.header.seq).is_some_and(|held| held.hash() == bundle.hash())
}

/// Sends `bundles` in `receive` calls of 1 to `max_batch` bundles each.
/// `after_batch` runs after each call.
fn send_in_batches(
    replica: &mut Workspace,
    bundles: Vec<Bundle>,
    max_batch: usize,
    rng: &mut SeededEntropy,
    now: u64,
    journal: &str,
    after_batch: &mut dyn FnMut(&Workspace),
) {
    let mut rest = bundles.as_slice();
    while !rest.is_empty() {
        let size = 1 + (rng.next_u64() % max_batch.max(1) as u64) as usize;
        let (batch, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        let report = replica.receive(batch.to_vec(), now);
        assert_only_gaps(&report, "a replica receiving a batch", journal);
        after_batch(replica);
    }
}

/// Delivers every bundle to `replica` as an unreliable network would: in a
/// random order with random duplicates, in batches of random sizes, then
/// resending (again shuffled, again duplicated) whatever it still lacks
/// until it holds everything. Returns the number of `receive` calls.
fn deliver(
    replica: &mut Workspace,
    bundles: &[Bundle],
    max_batch: usize,
    rng: &mut SeededEntropy,
    now: u64,
    journal: &str,
    after_batch: &mut dyn FnMut(&Workspace),
) -> usize {
    let mut calls = 0;
    let mut count_calls = |replica: &Workspace| {
        calls += 1;
        after_batch(replica);
    };
    for round in 0.. {
        let mut sending: Vec<Bundle> = bundles.iter().filter(|bundle| !holds(replica, bundle)).cloned().collect();
        if sending.is_empty() {
            break;
        }
        assert!(round < 64, "a replica still lacks {} bundles after 64 rounds of resending\n{journal}", sending.len());
        let copies: Vec<Bundle> = sending.iter().filter(|_| rng.next_u64().is_multiple_of(4)).cloned().collect();
        sending.extend(copies);
        if round == 0 {
            // Bundles it already holds come back too, as after a reconnect.
            sending.extend(bundles.iter().filter(|_| rng.next_u64().is_multiple_of(8)).cloned());
        }
        shuffle(&mut sending, rng);
        send_in_batches(replica, sending, max_batch, rng, now, journal, &mut count_calls);
    }
    assert_eq!(replica.log().len(), bundles.len(), "the replica holds every bundle once\n{journal}");
    calls
}

fn hash_hex(state: &State) -> String {
    state.state_hash().to_string()
}

/// Everything the public read API shows about the history's records and
/// edges, as text. Replicas must agree on this as well as on the state
/// hash: it also covers what the hash leaves out (table links, overruled
/// resolutions, conflict records, creation stamps…), so a difference here
/// with equal hashes points at a gap in `state_hash`.
fn observe(state: &State, records: &[EntityId], edges: &[EdgeId]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "workspace {:?}, {} ops", state.workspace_name(), state.op_count());
    for entry in state.roster() {
        let _ = writeln!(out, "roster {} {} {:?}", entry.actor.short(), entry.display_name, entry.admitted.op);
    }
    for module in state.modules() {
        let _ = writeln!(out, "module {} {} {:?}", module.manifest.name, module.manifest.version, module.adopted.op);
    }
    for mapping in state.mappings() {
        let _ = writeln!(out, "mapping {:?} {} {:?}", mapping.id, mapping.shared_key, mapping.fields);
    }
    let _ = writeln!(out, "name mapping rejected: {}", state.is_mapping_rejected("name", &name_fields()));
    for (source, target) in [(contacts(), members()), (members(), contacts())] {
        let _ = writeln!(out, "link {source} -> {target}: {}", state.tables_linked(&source, &target));
    }
    for table in all_tables() {
        let _ = writeln!(out, "table {table}: {:?}", state.records(&table));
    }
    let _ = writeln!(out, "live {:?}", state.live_entities().collect::<Vec<_>>());
    let show = |value: &openprod_core::state::FieldValue| {
        let ops = |writes: &[openprod_core::state::Write]| writes.iter().map(|w| w.stamp.op).collect::<Vec<_>>();
        format!("{:?} heads {:?} overruled {:?}", value.value, ops(&value.heads), ops(&value.overruled))
    };
    for &entity in records {
        let _ = writeln!(
            out,
            "record {entity}: resolves to {} merged_into {:?} exists {} deleted {} created {:?} tables {:?} edges {:?}",
            state.resolve(entity),
            state.merged_into(entity),
            state.entity_exists(entity),
            state.entity_deleted(entity),
            state.created(entity).map(|stamp| stamp.op),
            state.tables_of(entity),
            state.edges_of(entity).iter().map(|edge| edge.id).collect::<Vec<_>>(),
        );
        for field in state.written_fields(entity) {
            let read = state.field(entity, &field);
            // The borrowing read shows the same as the full one, whatever
            // merges, mappings and resolutions are in play.
            assert_eq!(state.shown_value(entity, &field).as_deref(), read.value.as_ref(), "{entity} {field}");
            let _ = writeln!(out, "  {field} = {}", show(&read));
            let _ = writeln!(out, "  {field} unmapped = {}", show(&state.field_unmapped(entity, &field)));
            let _ = writeln!(out, "  {field} conflict = {:?}", state.conflict(entity, &field));
        }
    }
    for &edge in edges {
        let _ = writeln!(
            out,
            "edge {edge}: {:?} alive {} definition {:?}",
            state.edge(edge),
            state.edge_alive(edge),
            state.edge_definition(edge).map(|definition| (definition.source, definition.target, definition.created.op)),
        );
        for property in state.edge_properties(edge) {
            let _ = writeln!(out, "  {property} = {}", show(&state.edge_property(edge, &property)));
        }
    }
    let _ = writeln!(out, "conflicts {:?}", state.conflicts());
    out
}

/// Where two observations first differ, for a failure message.
fn first_difference(left: &str, right: &str) -> String {
    match left.lines().zip(right.lines()).find(|(l, r)| l != r) {
        Some((l, r)) => format!("first difference:\n  {l}\n  {r}"),
        None => format!("one observation is longer: {} vs {} lines", left.lines().count(), right.lines().count()),
    }
}

// ----- properties -----

/// 256 cases per property, or more with `CONVERGENCE_CASES=N` for a longer hunt.
fn cases() -> u32 {
    std::env::var("CONVERGENCE_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256).max(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Any permutation and any duplication of the full set of bundles, in any
    /// batching, gives every fresh replica the same state hash, and the same
    /// as each original actor once the actors have synced fully.
    #[test]
    fn any_order_and_duplication_of_bundles_converges(scenario in scenario(2, 40), delivery in any::<u64>()) {
        let mut history = History::generate(&scenario);
        let journal = history.journal_text();
        let bundles = history.bundles.clone();
        let now = history.later();
        let mut rng = SeededEntropy::new(delivery);
        let mut seen = Vec::new();
        for (index, max_batch) in [1, 5, bundles.len()].into_iter().enumerate() {
            let mut replica = history.fresh_replica(index);
            deliver(&mut replica, &bundles, max_batch, &mut rng, now, &journal, &mut |_| {});
            let name = format!("replica {index} (batches of ≤ {max_batch})");
            seen.push((name, hash_hex(replica.state()), history.observe(replica.state())));
        }
        history.sync_all();
        for (index, actor) in history.actors.iter().enumerate() {
            seen.push((format!("actor {index}"), hash_hex(actor.state()), history.observe(actor.state())));
        }
        let (first_name, first_hash, first_view) = seen[0].clone();
        for (name, hash, view) in &seen {
            prop_assert_eq!(hash, &first_hash, "{} differs from {}\n{}", name, first_name, journal);
            prop_assert!(
                view == &first_view,
                "{} and {} have the same state hash but read differently; {}\n{}",
                name,
                first_name,
                first_difference(view, &first_view),
                journal
            );
        }
    }

    /// A replica that took the bundles in many small batches, in a random
    /// order, has after every batch the state of a workspace rebuilt
    /// (`Workspace::open`) from the bundles it holds at that point, and at
    /// the end the state of a rebuild from all bundles at once.
    #[test]
    fn incremental_apply_equals_full_rebuild(scenario in scenario(2, 40), delivery in any::<u64>()) {
        let history = History::generate(&scenario);
        let journal = history.journal_text();
        let bundles = history.bundles.clone();
        let now = history.later();
        let id = history.id;
        let mut rng = SeededEntropy::new(delivery);
        let mut replica = history.fresh_replica(0);
        let mut mismatches = Vec::new();
        let mut check_against_rebuild = |replica: &Workspace| {
            let held = replica.log().bundles().cloned().collect::<Vec<_>>();
            let (rebuilt, report) = Workspace::open(id, replica_identity(1), held.clone(), now, ClockConfig::default());
            assert!(report.refused.is_empty(), "rebuilding from held bundles refused {:?}\n{journal}", report.refused);
            let (incremental_view, rebuilt_view) = (history.observe(replica.state()), history.observe(rebuilt.state()));
            if rebuilt.state().state_hash() != replica.state().state_hash() || incremental_view != rebuilt_view {
                let held: Vec<String> = held.iter().map(|b| format!("{}#{}", b.header.author.short(), b.header.seq)).collect();
                mismatches.push(format!("holding {held:?}: {}", first_difference(&incremental_view, &rebuilt_view)));
            }
        };
        deliver(&mut replica, &bundles, 3, &mut rng, now, &journal, &mut check_against_rebuild);
        prop_assert!(mismatches.is_empty(), "incremental state differs from a rebuild: {:#?}\n{}", mismatches, journal);
        let (rebuilt, report) = Workspace::open(id, replica_identity(2), bundles.clone(), now, ClockConfig::default());
        prop_assert!(report.refused.is_empty(), "rebuild refused {:?}", report.refused);
        prop_assert_eq!(hash_hex(rebuilt.state()), hash_hex(replica.state()), "{}", journal);
        prop_assert!(history.observe(rebuilt.state()) == history.observe(replica.state()), "{}", journal);
        // The actors applied their own edits and partial syncs incrementally;
        // each still matches a rebuild of exactly what it holds.
        for (index, actor) in history.actors.iter().enumerate() {
            let held = actor.log().bundles().cloned().collect::<Vec<_>>();
            let (rebuilt, _) = Workspace::open(id, replica_identity(3), held, now, ClockConfig::default());
            prop_assert_eq!(
                hash_hex(rebuilt.state()),
                hash_hex(actor.state()),
                "actor {} differs from its rebuild\n{}",
                index,
                journal
            );
            let (actor_view, rebuilt_view) = (history.observe(actor.state()), history.observe(rebuilt.state()));
            prop_assert!(
                actor_view == rebuilt_view,
                "actor {} reads differently from its rebuild; {}\n{}",
                index,
                first_difference(&actor_view, &rebuilt_view),
                journal
            );
        }
    }

    /// The state is a function of the set of operations: applying every
    /// operation of the history straight to a `State`, in any order and
    /// ignoring bundle boundaries, gives the state of a rebuilt workspace.
    #[test]
    fn operations_in_any_order_give_the_same_state(scenario in scenario(2, 40), order in any::<u64>()) {
        let history = History::generate(&scenario);
        let journal = history.journal_text();
        let (rebuilt, _) = Workspace::open(history.id, replica_identity(0), history.bundles.clone(), history.later(), ClockConfig::default());
        let mut ops: Vec<_> = history.bundles.iter().flat_map(|bundle| bundle.ops.iter().map(move |op| (bundle.header.author, op))).collect();
        let mut rng = SeededEntropy::new(order);
        shuffle(&mut ops, &mut rng);
        let mut state = State::new();
        for (author, op) in ops {
            state.apply(author, op);
        }
        prop_assert_eq!(hash_hex(&state), hash_hex(rebuilt.state()), "{}", journal);
        let (applied_view, rebuilt_view) = (history.observe(&state), history.observe(rebuilt.state()));
        prop_assert!(applied_view == rebuilt_view, "{}\n{}", first_difference(&applied_view, &rebuilt_view), journal);
    }

    /// Records A, B and C exist everywhere; one actor merges A+B while
    /// another concurrently merges B+C (and others keep editing). Every
    /// replica, whatever order the merges reach it in, and every actor after
    /// a full sync, resolves A, B and C to the smallest of the three ids.
    #[test]
    fn concurrent_merges_pick_the_same_survivor(
        scenario in scenario(2, 12),
        roles in Just([0usize, 1, 2]).prop_shuffle(),
        merger_picks in (any::<usize>(), any::<usize>()),
        argument_order in any::<(bool, bool)>(),
        noise in proptest::collection::vec(step(), 0..=12),
        delivery in any::<u64>(),
    ) {
        let mut history = History::generate(&scenario);
        // Actor 0 creates the three records in one change; everyone gets them.
        history.now += 1_000;
        let now = history.actor_now(0);
        let mut change = history.actors[0].change(now, &mut history.entropy);
        let created: Vec<EntityId> = NAMES[..3]
            .iter()
            .map(|name| change.create_record(&contacts(), &[("full_name", text(name))]).expect("creates"))
            .collect();
        history.bundles.push(change.commit().expect("commits"));
        let first_new = history.records.len();
        history.records.extend(created.iter().copied());
        history.journal.push(format!("actor 0 creates r{first_new}, r{}, r{}", first_new + 1, first_new + 2));
        history.sync_all();
        let [a, b, c] = roles.map(|role| created[role]);
        history.journal.push(format!("A = {}, B = {}, C = {}", history.label_record(a), history.label_record(b), history.label_record(c)));

        // Two different actors merge concurrently.
        let count = history.actors.len();
        let p = merger_picks.0 % count;
        let q = (p + 1 + merger_picks.1 % (count - 1)) % count;
        for (actor, pair, swap) in [(p, (a, b), argument_order.0), (q, (b, c), argument_order.1)] {
            let (first, second) = if swap { (pair.1, pair.0) } else { pair };
            history.now += 1;
            let now = history.actor_now(actor);
            let mut change = history.actors[actor].change(now, &mut history.entropy);
            change.merge_records(first, second).expect("both records exist for the merging actor");
            history.bundles.push(change.commit().expect("commits"));
            let line = format!("actor {actor}: merge {} + {}", history.label_record(first), history.label_record(second));
            history.journal.push(line);
        }
        // Concurrent noise, without further merges (which could rightly pick another survivor).
        let noise: Vec<Step> = noise
            .into_iter()
            .filter(|step| !matches!(step, Step::Edit { kind: Kind::MergeRecords, .. }))
            .collect();
        history.run(&noise);

        let journal = history.journal_text();
        let bundles = history.bundles.clone();
        let expected = a.min(b).min(c);
        let now = history.later();
        let mut rng = SeededEntropy::new(delivery);
        let mut workspaces = Vec::new();
        for (index, max_batch) in [1, 4, bundles.len()].into_iter().enumerate() {
            let mut replica = history.fresh_replica(index);
            deliver(&mut replica, &bundles, max_batch, &mut rng, now, &journal, &mut |_| {});
            workspaces.push((format!("replica {index}"), replica));
        }
        history.sync_all();
        let reference = hash_hex(workspaces[0].1.state());
        let reference_view = history.observe(workspaces[0].1.state());
        for (name, workspace) in workspaces.iter().map(|(name, w)| (name.clone(), w)).chain(
            history.actors.iter().enumerate().map(|(index, actor)| (format!("actor {index}"), actor)),
        ) {
            let state = workspace.state();
            for (role, entity) in [("A", a), ("B", b), ("C", c)] {
                prop_assert_eq!(
                    state.resolve(entity),
                    expected,
                    "{}: {} ({}) resolves to {} instead of {}\n{}",
                    name,
                    role,
                    history.label_record(entity),
                    history.label_record(state.resolve(entity)),
                    history.label_record(expected),
                    journal
                );
            }
            prop_assert_eq!(state.merged_into(expected), None, "{}: the survivor is not absorbed\n{}", name, journal);
            prop_assert_eq!(hash_hex(state), reference.clone(), "{}: state hash\n{}", name, journal);
            let view = history.observe(state);
            prop_assert!(view == reference_view, "{}: {}\n{}", name, first_difference(&view, &reference_view), journal);
        }
    }
}

/// The generator is only as good as the edits it manages to make: across a
/// sample of scenarios, every kind of edit commits, the engine refuses no
/// edit the planner chose, and most histories have several authors.
#[test]
fn histories_exercise_every_kind_of_edit() {
    let mut runner = TestRunner::deterministic();
    let strategy = scenario(2, 40);
    let mut committed: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut unplanned: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut refused = Vec::new();
    let mut multi_author = 0;
    let samples = 128;
    for _ in 0..samples {
        let scenario = strategy.new_tree(&mut runner).expect("a scenario").current();
        let history = History::generate(&scenario);
        for (kind, count) in &history.committed {
            *committed.entry(*kind).or_default() += count;
        }
        for (kind, count) in &history.unplanned {
            *unplanned.entry(*kind).or_default() += count;
        }
        refused.extend(history.refused.iter().cloned());
        let authors: std::collections::BTreeSet<_> =
            history.bundles.iter().map(|bundle| bundle.header.author).collect();
        multi_author += usize::from(authors.len() > 1);
    }
    let summary = format!("committed {committed:?}\nnothing to act on {unplanned:?}\nrefused {refused:?}");
    for kind in ALL_KINDS {
        assert!(committed.get(&kind).copied().unwrap_or(0) >= 5, "{kind:?} was rarely committed\n{summary}");
    }
    assert!(refused.is_empty(), "the engine refused planned edits\n{summary}");
    assert!(multi_author > samples * 3 / 4, "only {multi_author} of {samples} histories have several authors");
    println!("{summary}");
}
