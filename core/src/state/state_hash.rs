//! The state hash ([`State::state_hash`]) computed a few records at a time.
//!
//! Hashing a 10,000-record state takes some 50 ms in the browser, one long
//! task if done at once; a driver hashes it in steps and yields between them.
//! BLAKE3 fed piece by piece gives the hash of the whole, so the result is the
//! one [`State::state_hash`] always gave.

use std::ops::Bound;

use super::{EntityRecord, State};
use crate::bundle::Hash;
use crate::encoding::Encoder;
use crate::ids::{EdgeId, EntityId};
use crate::op::encode_value;

/// Where a [`StateHasher`] stands: records and edges go by id, each kind
/// resumed after the last one hashed; the small rest goes in one piece.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Entities { after: Option<EntityId> },
    Edges { after: Option<EdgeId> },
    Rest,
}

/// A state hash in progress. Every step must be given the same, unchanged
/// state (the caller checks; see `Workspace::begin_state_hash`).
pub struct StateHasher {
    hasher: blake3::Hasher,
    out: Encoder,
    stage: Stage,
}

impl Default for StateHasher {
    fn default() -> Self {
        StateHasher::new()
    }
}

impl StateHasher {
    pub fn new() -> StateHasher {
        StateHasher { hasher: blake3::Hasher::new(), out: Encoder::new(), stage: Stage::Entities { after: None } }
    }

    /// Hashes up to `records` more records and edges of `state`; the hash
    /// once everything is in.
    pub fn step(&mut self, state: &State, records: usize) -> Option<Hash> {
        let mut budget = records;
        loop {
            match self.stage {
                Stage::Entities { after } => {
                    let mut last = after;
                    for (entity, record) in state.entities.range((bound_after(after), Bound::Unbounded)).take(budget) {
                        encode_entity(state, *entity, record, &mut self.out);
                        last = Some(*entity);
                        budget -= 1;
                    }
                    if budget == 0 && state.entities.range((bound_after(last), Bound::Unbounded)).next().is_some() {
                        self.stage = Stage::Entities { after: last };
                        return self.flush();
                    }
                    self.stage = Stage::Edges { after: None };
                }
                Stage::Edges { after } => {
                    let mut last = after;
                    for (edge, _) in state.edges.range((bound_after(after), Bound::Unbounded)).take(budget) {
                        encode_edge(state, *edge, &mut self.out);
                        last = Some(*edge);
                        budget -= 1;
                    }
                    if budget == 0 && state.edges.range((bound_after(last), Bound::Unbounded)).next().is_some() {
                        self.stage = Stage::Edges { after: last };
                        return self.flush();
                    }
                    self.stage = Stage::Rest;
                }
                Stage::Rest => {
                    encode_rest(state, &mut self.out);
                    self.flush();
                    return Some(Hash(*self.hasher.finalize().as_bytes()));
                }
            }
        }
    }

    /// Hands what was encoded to the hasher: the buffer stays small.
    fn flush(&mut self) -> Option<Hash> {
        self.hasher.update(self.out.as_bytes());
        self.out.clear();
        None
    }
}

impl State {
    /// Keeps a hash a [`StateHasher`] computed over this very state.
    pub(crate) fn remember_state_hash(&self, hash: Hash) {
        // Already known means computed over the same state: the same hash.
        let _ = self.hash.set(hash);
    }
}

fn bound_after<T>(after: Option<T>) -> Bound<T> {
    after.map_or(Bound::Unbounded, Bound::Excluded)
}

/// An entity with existence, tables and field values (through mappings and
/// merges, with their heads, so open conflicts count).
fn encode_entity(state: &State, entity: EntityId, record: &EntityRecord, out: &mut Encoder) {
    out.fixed(entity.as_bytes());
    if let Some(survivor) = state.merged_into(entity) {
        out.u8(2).fixed(survivor.as_bytes());
        return;
    }
    out.u8(u8::from(record.created.is_some() && record.alive.is_yes()));
    for table in state.tables_of(entity) {
        out.str(table.as_str());
    }
    for field in state.written_fields(entity) {
        let value = state.field(entity, &field);
        out.str(field.as_str());
        match &value.value {
            Some(value) => {
                out.u8(1);
                encode_value(out, value);
            }
            None => {
                out.u8(0);
            }
        }
        for head in &value.heads {
            out.fixed(head.stamp.op.as_bytes());
        }
    }
}

fn encode_edge(state: &State, edge: EdgeId, out: &mut Encoder) {
    out.fixed(edge.as_bytes());
    match state.edge(edge) {
        Some(view) => {
            out.u8(1).str(view.edge_type.as_str()).fixed(view.source.as_bytes()).fixed(view.target.as_bytes());
            for property in state.edge_properties(edge) {
                let value = state.edge_property(edge, &property);
                out.str(&property);
                if let Some(value) = &value.value {
                    encode_value(out, value);
                }
                for head in &value.heads {
                    out.fixed(head.stamp.op.as_bytes());
                }
            }
        }
        None => {
            out.u8(0);
        }
    }
}

/// Mappings, modules, the roster, the workspace's name and access events.
fn encode_rest(state: &State, out: &mut Encoder) {
    for mapping in state.mappings.values() {
        out.fixed(mapping.id.as_bytes()).str(&mapping.shared_key);
        for field in &mapping.fields {
            out.str(field.as_str());
        }
    }
    for (name, module) in &state.modules {
        out.str(name).str(&module.manifest.version.to_string()).fixed(module.adopted.op.as_bytes());
    }
    for entry in state.roster.values() {
        out.fixed(entry.actor.as_bytes()).str(&entry.display_name);
    }
    if let Some((_, name)) = &state.workspace_name {
        out.str(name);
    }
    for (_, op) in state.access.events.keys() {
        out.fixed(op.as_bytes());
    }
}
