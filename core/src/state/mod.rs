//! Materialized state: what the log means right now.
//!
//! Every piece of state is a set of operation effects, kept sorted, from
//! which current values are read: a field is the set of writes to it, an
//! entity's existence is the latest of its deletions and restorations, a
//! mapping or a merge is recomputed from the (few) operations of its kind
//! in canonical order. Applying an operation only inserts into the sets it
//! touches, so the order in which operations arrive never matters and a
//! late operation costs no replay: applying the log in any order, or
//! rebuilding from it, gives the same state.

mod access;
mod actors;
mod state_hash;
mod vec_map;

pub use access::{AccessKey, ForkRecord, KeyRefusal};
pub use state_hash::StateHasher;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::sync::Arc;

use self::actors::{ActorNumber, Actors};
use self::vec_map::VecMap;
use crate::bundle::Hash;
use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::{EdgeId, EntityId, OpId};
use crate::names::{EdgeType, FieldKey, TableId};
use crate::op::{OpPayload, Operation};
use crate::schema::{ModuleManifest, parse_manifest};
use crate::value::Value;

/// Who did something, and when: the canonical position of an operation.
/// Stamps compare by clock, then operation, then actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    pub hlc: Hlc,
    pub op: OpId,
    pub actor: ActorId,
}

/// One write to a field or an edge property. `None` is a cleared value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub stamp: Stamp,
    pub value: Option<Value>,
    /// Set when the write settles a conflict. Boxed: most writes are edits.
    pub resolution: Option<Box<Resolution>>,
}

/// What a resolving write decided about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The competing writes it settled (sorted): the conflict's identity.
    pub resolves: Vec<OpId>,
    /// The earlier resolution it revises.
    pub supersedes: Option<OpId>,
}

impl Write {
    fn edit(stamp: Stamp, value: Option<Value>) -> Write {
        Write { stamp, value, resolution: None }
    }
}

/// Writes sorted by canonical position, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Register(Vec<Write>);

impl Register {
    fn insert(&mut self, write: Write) {
        let key = (write.stamp.hlc, write.stamp.op);
        if let Err(at) = self.0.binary_search_by(|held| (held.stamp.hlc, held.stamp.op).cmp(&key)) {
            // A field holds one or two writes, seldom more: room for exactly
            // those, not the four a growing vector starts with (a
            // 100,000-write workspace held 15 MB of empty slots).
            self.0.reserve_exact(1);
            self.0.insert(at, write);
        }
    }

    pub fn writes(&self) -> &[Write] {
        &self.0
    }
}

/// The latest of a set of yes/no events, by canonical position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Latest(Option<(Stamp, bool)>);

impl Latest {
    fn record(&mut self, stamp: Stamp, yes: bool) {
        if self.0.is_none_or(|(held, _)| (held.hlc, held.op) < (stamp.hlc, stamp.op)) {
            self.0 = Some((stamp, yes));
        }
    }

    fn is_yes(&self) -> bool {
        self.0.is_some_and(|(_, yes)| yes)
    }
}

#[derive(Debug, Clone, Default)]
struct EntityRecord {
    created: Option<Stamp>,
    /// Creation counts as a "yes"; deletions "no", restorations "yes".
    alive: Latest,
    tables: VecMap<TableId, Latest>,
    fields: VecMap<FieldKey, Register>,
    /// Writes (of any field of this entity) that a later write replaced.
    replaced: BTreeSet<OpId>,
    /// Every operation that touched the entity, for undo's "changed since" check.
    touched_by: BTreeSet<Touch>,
}

/// An operation that changed a record or relationship, and its author.
type Touch = (Hlc, OpId, ActorNumber);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeDefinition {
    pub edge_type: EdgeType,
    pub source: EntityId,
    pub target: EntityId,
    pub created: Stamp,
}

#[derive(Debug, Clone, Default)]
struct EdgeRecord {
    definition: Option<EdgeDefinition>,
    alive: Latest,
    properties: VecMap<String, Register>,
    replaced: BTreeSet<OpId>,
    touched_by: BTreeSet<Touch>,
}

/// A confirmed mapping: several fields that are one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub id: OpId,
    pub shared_key: String,
    pub fields: Vec<FieldKey>,
    pub confirmed: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub actor: ActorId,
    pub display_name: String,
    pub admitted: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedModule {
    /// Shared, so that an edit can hold a table's definition while it
    /// changes the state (see `Change`), without copying it.
    pub manifest: Arc<ModuleManifest>,
    pub adopted: Stamp,
}

/// The current value of a field, read through mappings and merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldValue {
    /// What the field shows: the latest resolution among the heads if there
    /// is one (the last decision stands), else the last writer's value by
    /// (HLC, op id). `None` if cleared or never set.
    pub value: Option<Value>,
    /// The writes no other write replaced, in canonical order. More than one
    /// is a conflict; its competing values are exactly these branch tips.
    pub heads: Vec<Write>,
    /// Resolutions of a conflict that a concurrent, canonically earlier
    /// resolution of the same conflict had already settled: kept, not shown.
    pub overruled: Vec<Write>,
}

/// Whether a live write, taken in canonical order, is one of its field's
/// heads: a resolution of a conflict that an earlier live write already
/// settled (those are in `settled`) is overruled instead.
fn is_head(write: &Write, settled: &mut BTreeSet<Vec<OpId>>) -> bool {
    write.resolution.as_ref().is_none_or(|resolution| settled.insert(resolution.resolves.clone()))
}

impl FieldValue {
    /// Reads a field from its writes in canonical order, `replaced` telling
    /// which writes a later write replaced.
    fn from_writes(writes: Vec<Write>, replaced: impl Fn(OpId) -> bool) -> FieldValue {
        FieldValue::from_live(writes.into_iter().filter(|write| !replaced(write.stamp.op)))
    }

    /// From the writes no later write replaced, in canonical order.
    fn from_live(live: impl Iterator<Item = Write>) -> FieldValue {
        let mut heads = Vec::new();
        let mut overruled = Vec::new();
        let mut settled = BTreeSet::new();
        for write in live {
            if is_head(&write, &mut settled) { heads.push(write) } else { overruled.push(write) }
        }
        let mut field = FieldValue { value: None, heads, overruled };
        field.value = field.shown().and_then(|write| write.value.clone());
        field
    }

    /// The operations of the heads among `writes` (one register's, in
    /// canonical order) that are not `replaced`, with nothing copied.
    fn live_head_ops(writes: &[Write], replaced: impl Fn(&OpId) -> bool) -> Vec<OpId> {
        let mut settled = BTreeSet::new();
        let live = writes.iter().filter(|write| !replaced(&write.stamp.op));
        live.filter(|write| is_head(write, &mut settled)).map(|write| write.stamp.op).collect()
    }

    fn empty() -> FieldValue {
        FieldValue { value: None, heads: Vec::new(), overruled: Vec::new() }
    }

    pub fn is_conflicted(&self) -> bool {
        self.heads.len() > 1
    }

    /// The resolution the field shows, if a decision stands among its heads.
    pub fn standing_resolution(&self) -> Option<&Write> {
        self.heads.iter().rev().find(|write| write.resolution.is_some())
    }

    /// The write whose value the field shows: the standing resolution, or
    /// else the last writer's (by canonical position).
    pub fn shown(&self) -> Option<&Write> {
        self.standing_resolution().or(self.heads.last())
    }
}

/// A relationship as the app sees it: endpoints resolved through merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeView {
    pub id: EdgeId,
    pub edge_type: EdgeType,
    pub source: EntityId,
    pub target: EntityId,
}

#[derive(Debug, Default)]
pub struct State {
    workspace_name: Option<(Stamp, String)>,
    roster: BTreeMap<ActorId, RosterEntry>,
    module_ops: BTreeMap<(Hlc, OpId), (Stamp, String, Option<String>)>,
    modules: BTreeMap<String, AdoptedModule>,
    entities: BTreeMap<EntityId, EntityRecord>,
    edges: BTreeMap<EdgeId, EdgeRecord>,
    edges_by_entity: BTreeMap<EntityId, BTreeSet<EdgeId>>,
    /// Entities that ever had an event for a table: the candidates when listing it.
    table_members: BTreeMap<TableId, BTreeSet<EntityId>>,
    table_links: BTreeMap<(TableId, TableId), Latest>,
    mapping_ops: BTreeMap<(Hlc, OpId), (Stamp, MappingEvent)>,
    mappings: BTreeMap<OpId, Mapping>,
    mapping_of_field: BTreeMap<FieldKey, OpId>,
    rejected_mappings: BTreeSet<(String, Vec<FieldKey>)>,
    merge_ops: BTreeMap<(Hlc, OpId), (EntityId, EntityId)>,
    /// Absorbed entity → the survivor it resolves to (chains already followed).
    merged_into: BTreeMap<EntityId, EntityId>,
    /// Survivor → the entities it absorbed.
    absorbed_by: BTreeMap<EntityId, BTreeSet<EntityId>>,
    split_ops: BTreeMap<(Hlc, OpId), (EntityId, EntityId, Vec<TableId>)>,
    access: access::AccessLog,
    /// The authors that touches name.
    actors: Actors,
    op_count: usize,
    /// The state hash until the next operation is applied: peers compare
    /// hashes often, and the state only changes through `apply`.
    hash: std::cell::OnceCell<Hash>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MappingEvent {
    Confirm { shared_key: String, fields: Vec<FieldKey> },
    Revoke { mapping: OpId },
}

impl State {
    pub fn new() -> Self {
        State::default()
    }

    /// Records one operation of a verified bundle by `author`. Total: every
    /// operation is recorded, whatever else is known, because its author had
    /// a valid view when making it; reads decide what is visible.
    pub fn apply(&mut self, author: ActorId, op: &Operation) {
        let stamp = Stamp { hlc: op.hlc, op: op.id, actor: author };
        let touch = self.actors.touch(&stamp);
        self.op_count += 1;
        self.hash.take();
        match &op.payload {
            OpPayload::Bootstrap { workspace_name, owner_name } => {
                if self.workspace_name.as_ref().is_none_or(|(held, _)| held < &stamp) {
                    self.workspace_name = Some((stamp, workspace_name.clone()));
                }
                self.admit(author, owner_name, stamp);
            }
            OpPayload::AdmitActor { actor, display_name } => self.admit(*actor, display_name, stamp),
            OpPayload::AdoptModule { manifest_toml, tables_toml } => {
                self.module_ops.insert((op.hlc, op.id), (stamp, manifest_toml.clone(), tables_toml.clone()));
                self.recompute_modules();
            }
            OpPayload::CreateEntity { entity, initial_table } => {
                let record = self.entity_mut(*entity, touch);
                record.created = Some(record.created.map_or(stamp, |held| held.min(stamp)));
                record.alive.record(stamp, true);
                if let Some(table) = initial_table {
                    self.set_membership(*entity, table, stamp, true);
                }
            }
            OpPayload::DeleteEntity { entity, cascade_edges } => {
                self.entity_mut(*entity, touch).alive.record(stamp, false);
                for edge in cascade_edges {
                    self.edge_mut(*edge, touch).alive.record(stamp, false);
                }
            }
            OpPayload::RestoreEntity { entity, restore_edges } => {
                self.entity_mut(*entity, touch).alive.record(stamp, true);
                for edge in restore_edges {
                    self.edge_mut(*edge, touch).alive.record(stamp, true);
                }
            }
            OpPayload::SetField { entity, field, value, replaces } => {
                self.write_field(*entity, field, Write::edit(stamp, Some(value.clone())), replaces, touch);
            }
            OpPayload::ClearField { entity, field, replaces } => {
                self.write_field(*entity, field, Write::edit(stamp, None), replaces, touch);
            }
            OpPayload::ResolveConflict { entity, field, value, resolves, supersedes } => {
                let mut settled = resolves.clone();
                settled.sort();
                let resolution = Resolution { resolves: settled, supersedes: *supersedes };
                let write = Write { stamp, value: value.clone(), resolution: Some(Box::new(resolution)) };
                let replaced: Vec<OpId> = resolves.iter().copied().chain(*supersedes).collect();
                self.write_field(*entity, field, write, &replaced, touch);
            }
            OpPayload::AddToTable { entity, table } | OpPayload::RestoreFacet { entity, table, .. } => {
                self.entity_mut(*entity, touch);
                self.set_membership(*entity, table, stamp, true);
            }
            OpPayload::RemoveFromTable { entity, table, .. } => {
                self.entity_mut(*entity, touch);
                self.set_membership(*entity, table, stamp, false);
            }
            OpPayload::CreateEdge { edge, edge_type, source, target, properties } => {
                let record = self.edge_mut(*edge, touch);
                let definition =
                    EdgeDefinition { edge_type: edge_type.clone(), source: *source, target: *target, created: stamp };
                if record.definition.as_ref().is_none_or(|held| held.created > stamp) {
                    record.definition = Some(definition);
                }
                record.alive.record(stamp, true);
                for (name, value) in properties {
                    record
                        .properties
                        .get_or_insert_default(name.clone())
                        .insert(Write::edit(stamp, Some(value.clone())));
                }
                self.edges_by_entity.entry(*source).or_default().insert(*edge);
                self.edges_by_entity.entry(*target).or_default().insert(*edge);
            }
            OpPayload::DeleteEdge { edge } => self.edge_mut(*edge, touch).alive.record(stamp, false),
            OpPayload::RestoreEdge { edge } => self.edge_mut(*edge, touch).alive.record(stamp, true),
            OpPayload::SetEdgeProperty { edge, property, value, replaces } => {
                let record = self.edge_mut(*edge, touch);
                record.properties.get_or_insert_default(property.clone()).insert(Write::edit(stamp, value.clone()));
                record.replaced.extend(replaces.iter().copied());
            }
            OpPayload::LinkTables { source, target } => {
                self.table_links.entry((source.clone(), target.clone())).or_default().record(stamp, true);
            }
            OpPayload::UnlinkTables { source, target } => {
                self.table_links.entry((source.clone(), target.clone())).or_default().record(stamp, false);
            }
            OpPayload::ConfirmMapping { shared_key, fields } => {
                let event = MappingEvent::Confirm { shared_key: shared_key.clone(), fields: fields.clone() };
                self.mapping_ops.insert((op.hlc, op.id), (stamp, event));
                self.recompute_mappings();
            }
            OpPayload::RejectMapping { shared_key, fields } => {
                let mut fields = fields.clone();
                fields.sort();
                self.rejected_mappings.insert((shared_key.clone(), fields));
            }
            OpPayload::RevokeMapping { mapping } => {
                self.mapping_ops.insert((op.hlc, op.id), (stamp, MappingEvent::Revoke { mapping: *mapping }));
                self.recompute_mappings();
            }
            OpPayload::MergeEntities { first, second } => {
                self.entity_mut(*first, touch);
                self.entity_mut(*second, touch);
                self.merge_ops.insert((op.hlc, op.id), (*first, *second));
                self.recompute_merges();
            }
            OpPayload::SplitEntity { source, into, tables } => {
                self.entity_mut(*source, touch);
                let record = self.entity_mut(*into, touch);
                record.created = Some(record.created.map_or(stamp, |held| held.min(stamp)));
                record.alive.record(stamp, true);
                for table in tables {
                    self.set_membership(*source, table, stamp, false);
                    self.set_membership(*into, table, stamp, true);
                }
                self.split_ops.insert((op.hlc, op.id), (*source, *into, tables.clone()));
            }
            OpPayload::SetJoinMode { .. }
            | OpPayload::CreateAccessKey { .. }
            | OpPayload::RevokeAccessKey { .. }
            | OpPayload::UseAccessKey { .. }
            | OpPayload::SetRecoveryKey { .. }
            | OpPayload::Forked { .. }
            | OpPayload::ForkedFrom { .. } => {
                self.access.record(stamp, &op.payload);
            }
        }
    }

    fn admit(&mut self, actor: ActorId, display_name: &str, stamp: Stamp) {
        let entry = RosterEntry { actor, display_name: display_name.to_owned(), admitted: stamp };
        match self.roster.get(&actor) {
            Some(held) if held.admitted > stamp => {}
            _ => {
                self.roster.insert(actor, entry);
            }
        }
    }

    fn entity_mut(&mut self, entity: EntityId, touch: Touch) -> &mut EntityRecord {
        let record = self.entities.entry(entity).or_default();
        record.touched_by.insert(touch);
        record
    }

    fn edge_mut(&mut self, edge: EdgeId, touch: Touch) -> &mut EdgeRecord {
        let record = self.edges.entry(edge).or_default();
        record.touched_by.insert(touch);
        record
    }

    fn set_membership(&mut self, entity: EntityId, table: &TableId, stamp: Stamp, member: bool) {
        let record = self.entities.entry(entity).or_default();
        record.tables.get_or_insert_default(table.clone()).record(stamp, member);
        self.table_members.entry(table.clone()).or_default().insert(entity);
    }

    fn write_field(&mut self, entity: EntityId, field: &FieldKey, write: Write, replaces: &[OpId], touch: Touch) {
        let record = self.entity_mut(entity, touch);
        // Most writes go to a field written before: look it up without
        // cloning the key (this is the hot path of catching up).
        match record.fields.get_mut(field) {
            Some(register) => register.insert(write),
            None => record.fields.get_or_insert_default(field.clone()).insert(write),
        }
        record.replaced.extend(replaces.iter().copied());
    }

    fn recompute_modules(&mut self) {
        // Later adoptions of a module (canonical order) replace earlier ones.
        // A manifest that fails to parse here was valid for its author only
        // with another parser version; it is skipped, never half-applied.
        self.modules.clear();
        for (stamp, manifest_toml, tables_toml) in self.module_ops.values() {
            if let Ok(manifest) = parse_manifest("adopted module", manifest_toml, tables_toml.as_deref()) {
                self.modules
                    .insert(manifest.name.clone(), AdoptedModule { manifest: Arc::new(manifest), adopted: *stamp });
            }
        }
    }

    fn recompute_mappings(&mut self) {
        self.mappings.clear();
        self.mapping_of_field.clear();
        for (stamp, event) in self.mapping_ops.values() {
            match event {
                MappingEvent::Confirm { shared_key, fields } => {
                    // A field belongs to one mapping at a time: a confirmation
                    // that overlaps an active mapping extends it if it names
                    // the same shared key, and is otherwise overruled.
                    let existing: BTreeSet<OpId> =
                        fields.iter().filter_map(|field| self.mapping_of_field.get(field).copied()).collect();
                    let target = match existing.len() {
                        0 => None,
                        1 => {
                            let id = *existing.first().expect("one element");
                            if self.mappings[&id].shared_key != *shared_key {
                                continue;
                            }
                            Some(id)
                        }
                        _ => continue,
                    };
                    let id = target.unwrap_or(stamp.op);
                    let mapping = self.mappings.entry(id).or_insert_with(|| Mapping {
                        id,
                        shared_key: shared_key.clone(),
                        fields: Vec::new(),
                        confirmed: *stamp,
                    });
                    for field in fields {
                        if !mapping.fields.contains(field) {
                            mapping.fields.push(field.clone());
                        }
                        self.mapping_of_field.insert(field.clone(), id);
                    }
                    mapping.fields.sort();
                }
                MappingEvent::Revoke { mapping } => {
                    if let Some(removed) = self.mappings.remove(mapping) {
                        for field in removed.fields {
                            self.mapping_of_field.remove(&field);
                        }
                    }
                }
            }
        }
    }

    fn recompute_merges(&mut self) {
        self.merged_into.clear();
        self.absorbed_by.clear();
        let merges: Vec<(EntityId, EntityId)> = self.merge_ops.values().copied().collect();
        for (first, second) in merges {
            let first = self.resolve(first);
            let second = self.resolve(second);
            if first == second {
                continue;
            }
            let (survivor, absorbed) = if first < second { (first, second) } else { (second, first) };
            // Everything that resolved to the absorbed entity now resolves to the survivor.
            let mut moved = self.absorbed_by.remove(&absorbed).unwrap_or_default();
            moved.insert(absorbed);
            for entity in &moved {
                self.merged_into.insert(*entity, survivor);
            }
            self.absorbed_by.entry(survivor).or_default().extend(moved);
        }
    }

    // ----- reads -----

    /// The entity an id refers to now: itself, or the survivor of merges.
    pub fn resolve(&self, entity: EntityId) -> EntityId {
        self.merged_into.get(&entity).copied().unwrap_or(entity)
    }

    /// The entity `entity` was merged into, if it was.
    pub fn merged_into(&self, entity: EntityId) -> Option<EntityId> {
        self.merged_into.get(&entity).copied()
    }

    /// The entity and everything merged into it.
    fn merge_class(&self, survivor: EntityId) -> impl Iterator<Item = EntityId> + '_ {
        std::iter::once(survivor).chain(self.absorbed_by.get(&survivor).into_iter().flatten().copied())
    }

    pub fn entity_exists(&self, entity: EntityId) -> bool {
        let survivor = self.resolve(entity);
        self.entities.get(&survivor).is_some_and(|record| record.created.is_some() && record.alive.is_yes())
    }

    /// Whether the entity was created and later deleted (and not restored).
    pub fn entity_deleted(&self, entity: EntityId) -> bool {
        let survivor = self.resolve(entity);
        self.entities.get(&survivor).is_some_and(|record| record.created.is_some() && !record.alive.is_yes())
    }

    pub fn created(&self, entity: EntityId) -> Option<Stamp> {
        self.entities.get(&self.resolve(entity)).and_then(|record| record.created)
    }

    /// Whether the entity is in the table now (merged entities count their absorbed ones' tables).
    pub fn in_table(&self, entity: EntityId, table: &TableId) -> bool {
        let survivor = self.resolve(entity);
        self.membership(survivor, table).is_yes()
    }

    fn membership(&self, survivor: EntityId, table: &TableId) -> Latest {
        let mut latest = Latest::default();
        for member in self.merge_class(survivor) {
            if let Some((stamp, yes)) = self.entities.get(&member).and_then(|record| record.tables.get(table)?.0) {
                latest.record(stamp, yes);
            }
        }
        latest
    }

    /// The tables the entity is in now.
    pub fn tables_of(&self, entity: EntityId) -> Vec<TableId> {
        let survivor = self.resolve(entity);
        let mut tables: BTreeSet<&TableId> = BTreeSet::new();
        for member in self.merge_class(survivor) {
            if let Some(record) = self.entities.get(&member) {
                tables.extend(record.tables.keys());
            }
        }
        tables.into_iter().filter(|table| self.membership(survivor, table).is_yes()).cloned().collect()
    }

    /// Every live record (survivors only), in id order.
    pub fn live_entities(&self) -> impl Iterator<Item = EntityId> + '_ {
        self.entities
            .keys()
            .copied()
            .filter(|entity| self.merged_into(*entity).is_none() && self.entity_exists(*entity))
    }

    /// The live records of a table, oldest first (UUIDv7 order).
    pub fn records(&self, table: &TableId) -> Vec<EntityId> {
        let Some(candidates) = self.table_members.get(table) else { return Vec::new() };
        let survivors: BTreeSet<EntityId> = candidates.iter().map(|entity| self.resolve(*entity)).collect();
        survivors.into_iter().filter(|entity| self.entity_exists(*entity) && self.in_table(*entity, table)).collect()
    }

    /// The storage keys that are one semantic field with `field`.
    pub fn field_group(&self, field: &FieldKey) -> Vec<FieldKey> {
        match self.mapping_of_field.get(field) {
            Some(id) => self.mappings[id].fields.clone(),
            None => vec![field.clone()],
        }
    }

    /// One key that stands for the field's whole group (as
    /// [`State::field_group`] gives it): the same for every field of a
    /// mapping, found without copying the group.
    pub fn field_group_key(&self, field: &FieldKey) -> FieldKey {
        match self.mapping_of_field.get(field) {
            Some(id) => self.mappings[id].fields[0].clone(),
            None => field.clone(),
        }
    }

    pub fn mapping_of(&self, field: &FieldKey) -> Option<&Mapping> {
        self.mapping_of_field.get(field).map(|id| &self.mappings[id])
    }

    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    pub fn mapping(&self, id: OpId) -> Option<&Mapping> {
        self.mappings.get(&id)
    }

    pub fn is_mapping_rejected(&self, shared_key: &str, fields: &[FieldKey]) -> bool {
        let mut fields = fields.to_vec();
        fields.sort();
        self.rejected_mappings.contains(&(shared_key.to_owned(), fields))
    }

    /// Every write to the field as one list (all merged entities, all mapped
    /// keys), in canonical order: the field's history.
    pub fn field_history(&self, entity: EntityId, field: &FieldKey) -> Vec<Write> {
        let survivor = self.resolve(entity);
        let group = self.field_group(field);
        let mut writes: Vec<Write> = Vec::new();
        for member in self.merge_class(survivor) {
            let Some(record) = self.entities.get(&member) else { continue };
            for key in &group {
                if let Some(register) = record.fields.get(key) {
                    writes.extend(register.writes().iter().cloned());
                }
            }
        }
        writes.sort_by_key(|write| (write.stamp.hlc, write.stamp.op));
        writes
    }

    /// The field's current value and its heads.
    pub fn field(&self, entity: EntityId, field: &FieldKey) -> FieldValue {
        let survivor = self.resolve(entity);
        // Most fields are: read their register in place (it is kept in
        // canonical order) rather than gather and sort a copy.
        if self.in_one_register(survivor, field) {
            let Some(record) = self.entities.get(&survivor) else { return FieldValue::empty() };
            let Some(register) = record.fields.get(field) else { return FieldValue::empty() };
            let live = register.writes().iter().filter(|write| !record.replaced.contains(&write.stamp.op));
            return FieldValue::from_live(live.cloned());
        }
        let history = self.field_history(survivor, field);
        FieldValue::from_writes(history, |op| self.replaced_in_class(survivor, op))
    }

    /// Whether `field` of the record `survivor` is one register of one
    /// record: nothing merged into it and no mapping joining it to another
    /// field, as most fields are.
    fn in_one_register(&self, survivor: EntityId, field: &FieldKey) -> bool {
        !self.absorbed_by.contains_key(&survivor) && !self.mapping_of_field.contains_key(field)
    }

    /// The operations of the field's heads (those of [`State::field`]),
    /// which a new write replaces; read in place where the field is one
    /// register, so that a write copies no value.
    pub fn field_head_ops(&self, entity: EntityId, field: &FieldKey) -> Vec<OpId> {
        let survivor = self.resolve(entity);
        if self.in_one_register(survivor, field) {
            let Some(record) = self.entities.get(&survivor) else { return Vec::new() };
            let Some(register) = record.fields.get(field) else { return Vec::new() };
            return FieldValue::live_head_ops(register.writes(), |op| record.replaced.contains(op));
        }
        self.field(entity, field).heads.iter().map(|write| write.stamp.op).collect()
    }

    /// What the field shows, as [`FieldValue::value`], borrowed from the
    /// state where it can be: most fields are one register without
    /// resolutions, whose last live write is shown. Reading a whole table
    /// this way copies no value.
    pub fn shown_value(&self, entity: EntityId, field: &FieldKey) -> Option<Cow<'_, Value>> {
        let survivor = self.resolve(entity);
        if self.in_one_register(survivor, field) {
            let record = self.entities.get(&survivor)?;
            let register = record.fields.get(field)?;
            if register.writes().iter().all(|write| write.resolution.is_none()) {
                let mut live = register.writes().iter().filter(|write| !record.replaced.contains(&write.stamp.op));
                return live.next_back()?.value.as_ref().map(Cow::Borrowed);
            }
        }
        self.field(entity, field).value.map(Cow::Owned)
    }

    fn replaced_in_class(&self, survivor: EntityId, op: OpId) -> bool {
        self.merge_class(survivor)
            .any(|member| self.entities.get(&member).is_some_and(|record| record.replaced.contains(&op)))
    }

    /// The field's value from its own storage key only, ignoring mappings:
    /// what it would show if its mapping were revoked.
    pub fn field_unmapped(&self, entity: EntityId, field: &FieldKey) -> FieldValue {
        let survivor = self.resolve(entity);
        let mut writes: Vec<Write> = self
            .merge_class(survivor)
            .filter_map(|member| self.entities.get(&member)?.fields.get(field))
            .flat_map(|register| register.writes().iter().cloned())
            .collect();
        writes.sort_by_key(|write| (write.stamp.hlc, write.stamp.op));
        FieldValue::from_writes(writes, |op| self.replaced_in_class(survivor, op))
    }

    /// Records (survivors, deleted ones included: they may come back) with a
    /// write to any of `fields`.
    pub fn entities_with_writes_to(&self, fields: &[FieldKey]) -> Vec<EntityId> {
        let survivors: BTreeSet<EntityId> = self
            .entities
            .iter()
            .filter(|(_, record)| fields.iter().any(|field| record.fields.contains_key(field)))
            .map(|(entity, _)| self.resolve(*entity))
            .collect();
        survivors.into_iter().filter(|entity| self.created(*entity).is_some()).collect()
    }

    /// The storage keys that hold any write on the entity (and its merged ones).
    /// The fields of a record that can hold a conflict, open or settled:
    /// more than one write no later write replaced, or a decision. A cheap
    /// filter ahead of [`State::conflict`], which reads the whole history;
    /// merged records and mapped fields always pass (their writes are spread
    /// over several registers).
    pub(crate) fn fields_that_may_conflict(&self, entity: EntityId) -> Vec<FieldKey> {
        let survivor = self.resolve(entity);
        if self.absorbed_by.get(&survivor).is_some_and(|absorbed| !absorbed.is_empty()) {
            return self.written_fields(survivor);
        }
        let Some(record) = self.entities.get(&survivor) else { return Vec::new() };
        record
            .fields
            .iter()
            .filter(|(key, register)| {
                let writes = register.writes();
                self.mapping_of_field.contains_key(*key)
                    || writes.iter().any(|write| write.resolution.is_some())
                    || writes.iter().filter(|write| !record.replaced.contains(&write.stamp.op)).nth(1).is_some()
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub fn written_fields(&self, entity: EntityId) -> Vec<FieldKey> {
        let survivor = self.resolve(entity);
        let mut keys = BTreeSet::new();
        for member in self.merge_class(survivor) {
            if let Some(record) = self.entities.get(&member) {
                keys.extend(record.fields.keys().cloned());
            }
        }
        keys.into_iter().collect()
    }

    /// Whether `actor` changed the record, or one merged into it, at a wall
    /// time in `walls`: read from its touches alone, a quick test before
    /// anything that reads its fields.
    pub fn touched_by_within(&self, entity: EntityId, actor: ActorId, walls: RangeInclusive<u64>) -> bool {
        let Some(actor) = self.actors.find(&actor) else { return false };
        let survivor = self.resolve(entity);
        self.merge_class(survivor).any(|member| {
            self.entities.get(&member).is_some_and(|record| {
                // Newest first, and no further back than the range: touches
                // are ordered by HLC, which orders by wall time first.
                record
                    .touched_by
                    .iter()
                    .rev()
                    .take_while(|(hlc, ..)| hlc.wall() >= *walls.start())
                    .any(|(hlc, _, by)| *by == actor && walls.contains(&hlc.wall()))
            })
        })
    }

    /// Operations after `since` (canonical position) by actors other than
    /// `actor` that touched the entity: what makes an undo unsafe.
    pub fn touched_by_others_since(&self, entity: EntityId, actor: ActorId, since: (Hlc, OpId)) -> Option<ActorId> {
        let survivor = self.resolve(entity);
        self.merge_class(survivor)
            .find_map(|member| self.other_touch_since(&self.entities.get(&member)?.touched_by, actor, since))
    }

    pub fn edge_touched_by_others_since(&self, edge: EdgeId, actor: ActorId, since: (Hlc, OpId)) -> Option<ActorId> {
        self.other_touch_since(&self.edges.get(&edge)?.touched_by, actor, since)
    }

    /// The author of the first of `touches` after `since` made by another than `actor`.
    fn other_touch_since(&self, touches: &BTreeSet<Touch>, actor: ActorId, since: (Hlc, OpId)) -> Option<ActorId> {
        let actor = self.actors.find(&actor);
        let (_, _, by) = touches.iter().find(|(hlc, op, by)| (*hlc, *op) > since && Some(*by) != actor)?;
        Some(self.actors.id(*by))
    }

    pub fn edge_definition(&self, edge: EdgeId) -> Option<&EdgeDefinition> {
        self.edges.get(&edge)?.definition.as_ref()
    }

    /// An edge is live when it was created, not deleted since, and both ends exist.
    pub fn edge(&self, edge: EdgeId) -> Option<EdgeView> {
        let record = self.edges.get(&edge)?;
        let definition = record.definition.as_ref()?;
        if !record.alive.is_yes() || !self.entity_exists(definition.source) || !self.entity_exists(definition.target) {
            return None;
        }
        Some(EdgeView {
            id: edge,
            edge_type: definition.edge_type.clone(),
            source: self.resolve(definition.source),
            target: self.resolve(definition.target),
        })
    }

    /// Whether the edge itself is deleted (whatever its ends).
    pub fn edge_alive(&self, edge: EdgeId) -> bool {
        self.edges.get(&edge).is_some_and(|record| record.definition.is_some() && record.alive.is_yes())
    }

    /// Live edges touching the entity (or entities merged into it).
    pub fn edges_of(&self, entity: EntityId) -> Vec<EdgeView> {
        let survivor = self.resolve(entity);
        let mut ids = BTreeSet::new();
        for member in self.merge_class(survivor) {
            ids.extend(self.edges_by_entity.get(&member).into_iter().flatten().copied());
        }
        ids.into_iter().filter_map(|edge| self.edge(edge)).collect()
    }

    /// Live relationships from the record (it is the source).
    pub fn edges_from(&self, entity: EntityId) -> Vec<EdgeView> {
        let survivor = self.resolve(entity);
        self.edges_of(survivor).into_iter().filter(|edge| edge.source == survivor).collect()
    }

    /// Live relationships to the record (it is the target).
    pub fn edges_to(&self, entity: EntityId) -> Vec<EdgeView> {
        let survivor = self.resolve(entity);
        self.edges_of(survivor).into_iter().filter(|edge| edge.target == survivor).collect()
    }

    /// A record as a row of `table`: each declared field, in declaration
    /// order, with its value read through mappings and merges.
    pub fn row(&self, entity: EntityId, table: &TableId) -> Vec<(String, FieldValue)> {
        let Some(definition) = self.table(table) else { return Vec::new() };
        definition
            .fields
            .iter()
            .map(|field| (field.name.clone(), self.field(entity, &FieldKey::new(table.module(), &field.name))))
            .collect()
    }

    /// Edges whose records are alive and touch the entity, ignoring whether
    /// the other end exists: what a deletion must cascade to.
    pub fn edges_to_cascade(&self, entity: EntityId) -> Vec<EdgeId> {
        let survivor = self.resolve(entity);
        let mut ids = BTreeSet::new();
        for member in self.merge_class(survivor) {
            ids.extend(self.edges_by_entity.get(&member).into_iter().flatten().copied());
        }
        ids.into_iter().filter(|edge| self.edge_alive(*edge)).collect()
    }

    pub fn edge_property(&self, edge: EdgeId, property: &str) -> FieldValue {
        let Some(record) = self.edges.get(&edge) else { return FieldValue::empty() };
        let writes = record.properties.get(property).map(|register| register.writes().to_vec()).unwrap_or_default();
        FieldValue::from_writes(writes, |op| record.replaced.contains(&op))
    }

    pub fn edge_property_history(&self, edge: EdgeId, property: &str) -> Vec<Write> {
        self.edges
            .get(&edge)
            .and_then(|record| record.properties.get(property))
            .map(|register| register.writes().to_vec())
            .unwrap_or_default()
    }

    pub fn edge_properties(&self, edge: EdgeId) -> Vec<String> {
        self.edges.get(&edge).map(|record| record.properties.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn workspace_name(&self) -> Option<&str> {
        self.workspace_name.as_ref().map(|(_, name)| name.as_str())
    }

    pub fn roster(&self) -> impl Iterator<Item = &RosterEntry> {
        self.roster.values()
    }

    pub fn display_name(&self, actor: &ActorId) -> Option<&str> {
        self.roster.get(actor).map(|entry| entry.display_name.as_str())
    }

    pub fn modules(&self) -> impl Iterator<Item = &AdoptedModule> {
        self.modules.values()
    }

    pub fn module(&self, name: &str) -> Option<&AdoptedModule> {
        self.modules.get(name)
    }

    /// Every adopted table with its module, in module then declaration order.
    pub fn tables(&self) -> Vec<(TableId, &crate::schema::TableDef)> {
        self.modules
            .values()
            .flat_map(|module| {
                module.manifest.tables.iter().map(|table| (TableId::new(&module.manifest.name, &table.name), table))
            })
            .collect()
    }

    pub fn table(&self, table: &TableId) -> Option<&crate::schema::TableDef> {
        self.modules.get(table.module())?.manifest.table(table.local())
    }

    pub fn tables_linked(&self, source: &TableId, target: &TableId) -> bool {
        self.table_links.get(&(source.clone(), target.clone())).is_some_and(Latest::is_yes)
    }

    pub fn op_count(&self) -> usize {
        self.op_count
    }

    /// BLAKE3 over the derived state in canonical order (`spec/sync.md`):
    /// entities by id with existence, tables and field values (through
    /// mappings and merges, with their heads, so open conflicts count), then
    /// edges by id, mappings, merges, modules and the roster. Two peers with
    /// the same operations have the same hash, whatever order they got them in.
    pub fn state_hash(&self) -> Hash {
        *self.hash.get_or_init(|| self.compute_state_hash())
    }

    fn compute_state_hash(&self) -> Hash {
        StateHasher::new().step(self, usize::MAX).expect("no limit: hashed in one step")
    }

    /// The state hash if it is known already (computed since the last change).
    pub fn known_state_hash(&self) -> Option<Hash> {
        self.hash.get().copied()
    }
}
