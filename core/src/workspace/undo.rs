//! Undo and redo of this device's own bundles.
//!
//! Undo makes a new bundle with the inverse of the last bundle still on the
//! stack. When someone else changed the same data since, the undo is
//! skipped with a reason to show, and the stack moves on (`spec/operations.md`).
//! The history lives in memory only, as the spec asks.

use std::collections::VecDeque;

use super::Workspace;
use crate::bundle::Bundle;
use crate::identity::ActorId;
use crate::ids::OpId;
use crate::names::FieldKey;
use crate::op::{DataHandling, OpPayload, Operation};
use crate::state::{State, Write};

/// Bundles kept for undo; older ones fall off.
const UNDO_DEPTH: usize = 100;

/// This device's bundles that undo and redo would take back, by their
/// place in its chain: their operations are in the log.
#[derive(Default)]
pub(super) struct UndoHistory {
    done: VecDeque<u64>,
    undone: VecDeque<u64>,
}

/// How a bundle entered the log, for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Edit,
    Undo,
    Redo,
}

impl UndoHistory {
    /// `seq`: the bundle of this device's chain just appended.
    pub(super) fn record(&mut self, seq: u64, step: Step) {
        let stack = match step {
            Step::Edit => {
                self.undone.clear();
                &mut self.done
            }
            Step::Redo => &mut self.done,
            Step::Undo => &mut self.undone,
        };
        stack.push_back(seq);
        if stack.len() > UNDO_DEPTH {
            stack.pop_front();
        }
    }

    pub(super) fn clear(&mut self) {
        self.done.clear();
        self.undone.clear();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoOutcome {
    /// The inverse bundle, applied; persist and share it like any edit.
    Applied(Bundle),
    /// Someone else changed the same data since; the step was dropped.
    Skipped {
        reason: String,
    },
    NothingToDo,
}

impl Workspace {
    pub fn can_undo(&self) -> bool {
        !self.history.done.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.history.undone.is_empty()
    }

    pub fn undo(&mut self, now_ms: u64) -> UndoOutcome {
        let Some(seq) = self.history.done.pop_back() else { return UndoOutcome::NothingToDo };
        self.apply_inverse(seq, Step::Undo, now_ms)
    }

    pub fn redo(&mut self, now_ms: u64) -> UndoOutcome {
        let Some(seq) = self.history.undone.pop_back() else { return UndoOutcome::NothingToDo };
        self.apply_inverse(seq, Step::Redo, now_ms)
    }

    fn apply_inverse(&mut self, seq: u64, step: Step, now_ms: u64) -> UndoOutcome {
        let me = self.actor();
        let ops = &self.log.get(&me, seq).expect("the log keeps this device's bundles").ops;
        let mut inverse = Vec::with_capacity(ops.len());
        for op in ops.iter().rev() {
            match inverse_of(&self.state, me, op) {
                Ok(payloads) => inverse.extend(payloads),
                Err(reason) => return UndoOutcome::Skipped { reason },
            }
        }
        UndoOutcome::Applied(self.commit_new_payloads(inverse, now_ms, step))
    }
}

/// The operations that take back `op`, or why that is no longer safe.
fn inverse_of(state: &State, me: ActorId, op: &Operation) -> Result<Vec<OpPayload>, String> {
    let since = (op.hlc, op.id);
    let entity_changed = |entity| match state.touched_by_others_since(entity, me, since) {
        Some(other) => Err(format!("Cannot undo: the record was changed by {} since", name_of(state, other))),
        None => Ok(()),
    };
    let edge_changed = |edge| match state.edge_touched_by_others_since(edge, me, since) {
        Some(other) => Err(format!("Cannot undo: the relationship was changed by {} since", name_of(state, other))),
        None => Ok(()),
    };
    Ok(match &op.payload {
        OpPayload::SetField { entity, field, replaces, .. } | OpPayload::ClearField { entity, field, replaces, .. } => {
            let current = state.field(*entity, field);
            unchanged_by_others(state, &current.heads, me, &field_label(state, field))?;
            let history = state.field_history(*entity, field);
            let previous = history.iter().rfind(|write| replaces.contains(&write.stamp.op));
            let replaces = current.heads.iter().map(|write| write.stamp.op).collect();
            match previous.and_then(|write| write.value.clone()) {
                Some(value) => vec![OpPayload::SetField { entity: *entity, field: field.clone(), value, replaces }],
                None => vec![OpPayload::ClearField { entity: *entity, field: field.clone(), replaces }],
            }
        }
        OpPayload::SetEdgeProperty { edge, property, replaces, .. } => {
            let current = state.edge_property(*edge, property);
            unchanged_by_others(state, &current.heads, me, property)?;
            let previous = replaced_property_value(state, *edge, property, replaces);
            let replaces = current.heads.iter().map(|write| write.stamp.op).collect();
            vec![OpPayload::SetEdgeProperty { edge: *edge, property: property.clone(), value: previous, replaces }]
        }
        OpPayload::CreateEntity { entity, .. } => {
            entity_changed(*entity)?;
            vec![OpPayload::DeleteEntity { entity: *entity, cascade_edges: state.edges_to_cascade(*entity) }]
        }
        OpPayload::RestoreEntity { entity, .. } => {
            entity_changed(*entity)?;
            vec![OpPayload::DeleteEntity { entity: *entity, cascade_edges: state.edges_to_cascade(*entity) }]
        }
        OpPayload::DeleteEntity { entity, cascade_edges } => {
            entity_changed(*entity)?;
            // An edge comes back only if nobody touched it since and its
            // other end still exists.
            let restore_edges = cascade_edges
                .iter()
                .copied()
                .filter(|edge| {
                    state.edge_touched_by_others_since(*edge, me, since).is_none()
                        && state.edge_definition(*edge).is_some_and(|definition| {
                            let other = if state.resolve(definition.source) == state.resolve(*entity) {
                                definition.target
                            } else {
                                definition.source
                            };
                            state.entity_exists(other)
                        })
                })
                .collect();
            vec![OpPayload::RestoreEntity { entity: *entity, restore_edges }]
        }
        OpPayload::AddToTable { entity, table } | OpPayload::RestoreFacet { entity, table, .. } => {
            entity_changed(*entity)?;
            vec![OpPayload::RemoveFromTable { entity: *entity, table: table.clone(), handling: DataHandling::Preserve }]
        }
        OpPayload::RemoveFromTable { entity, table, .. } => {
            entity_changed(*entity)?;
            vec![OpPayload::RestoreFacet { entity: *entity, table: table.clone(), from_op: op.id }]
        }
        OpPayload::CreateEdge { edge, .. } | OpPayload::RestoreEdge { edge } => {
            edge_changed(*edge)?;
            vec![OpPayload::DeleteEdge { edge: *edge }]
        }
        OpPayload::DeleteEdge { edge } => {
            edge_changed(*edge)?;
            vec![OpPayload::RestoreEdge { edge: *edge }]
        }
        OpPayload::LinkTables { source, target } => {
            vec![OpPayload::UnlinkTables { source: source.clone(), target: target.clone() }]
        }
        OpPayload::UnlinkTables { source, target } => {
            vec![OpPayload::LinkTables { source: source.clone(), target: target.clone() }]
        }
        OpPayload::ResolveConflict { .. } => {
            return Err("Cannot undo a resolution: revisit the conflict and choose again".into());
        }
        OpPayload::ConfirmMapping { .. } => {
            return Err("Cannot undo a confirmed mapping: revoke it instead, which keeps every value".into());
        }
        OpPayload::MergeEntities { .. } => {
            return Err("Cannot undo a merge: split the record instead".into());
        }
        OpPayload::SplitEntity { .. } => return Err("Cannot undo a split: merge the records instead".into()),
        OpPayload::Bootstrap { .. }
        | OpPayload::AdmitActor { .. }
        | OpPayload::AdoptModule { .. }
        | OpPayload::RejectMapping { .. }
        | OpPayload::RevokeMapping { .. }
        | OpPayload::SetJoinMode { .. }
        | OpPayload::CreateAccessKey { .. }
        | OpPayload::RevokeAccessKey { .. }
        | OpPayload::UseAccessKey { .. }
        | OpPayload::SetRecoveryKey { .. }
        | OpPayload::Forked { .. }
        | OpPayload::ForkedFrom { .. } => {
            return Err("Cannot undo: workspace settings are changed, not undone".into());
        }
    })
}

/// Refuses when someone else wrote the field since: undo takes back only
/// this device's own edits (its later undos and redos included).
fn unchanged_by_others(state: &State, heads: &[Write], me: ActorId, label: &str) -> Result<(), String> {
    match heads.iter().rev().find(|write| write.stamp.actor != me) {
        Some(other) => Err(format!("Cannot undo: {label} was changed by {} since", name_of(state, other.stamp.actor))),
        None => Ok(()),
    }
}

fn replaced_property_value(
    state: &State,
    edge: crate::ids::EdgeId,
    property: &str,
    replaces: &[OpId],
) -> Option<crate::value::Value> {
    state.edge_property_history(edge, property).iter().rfind(|write| replaces.contains(&write.stamp.op))?.value.clone()
}

fn name_of(state: &State, actor: ActorId) -> String {
    state.display_name(&actor).map_or_else(|| actor.short(), str::to_owned)
}

fn field_label(state: &State, field: &FieldKey) -> String {
    state
        .module(field.module())
        .and_then(|module| module.manifest.tables.iter().find_map(|table| table.field(field.local())))
        .map_or_else(|| field.to_string(), |definition| definition.label().to_owned())
}
