//! Conflicts, read from the per-field write heads (`spec/conflicts.md`).
//!
//! A field whose live writes (those no other write replaced) number more
//! than one is in conflict; its competing values are exactly those branch
//! tips. A resolution is a write that replaces the heads it decided about;
//! edits from peers that had not seen it stay heads beside it and reopen
//! the conflict, while the resolution keeps being what the field shows.

use std::collections::BTreeSet;

use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::{EntityId, OpId};
use crate::names::FieldKey;
use crate::state::{FieldValue, State, Write};
use crate::time::format_iso8601;
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictStatus {
    /// Concurrent edits, no decision yet: the field shows the last writer's value, flagged.
    Open,
    /// Settled by a resolution that nothing contests.
    Resolved,
    /// Settled, then contested by edits from peers that had not seen the
    /// decision: the decision still shows, and the new edits wait beside it.
    Reopened,
}

/// One competing value: a branch tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Competitor {
    pub op: OpId,
    pub actor: ActorId,
    pub hlc: Hlc,
    pub value: Option<Value>,
    pub is_resolution: bool,
}

/// A decision about the conflict, in the order decisions were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub op: OpId,
    pub resolver: ActorId,
    pub hlc: Hlc,
    pub value: Option<Value>,
    pub resolves: Vec<OpId>,
    pub supersedes: Option<OpId>,
    /// A concurrent, canonically earlier decision on the same conflict stands instead.
    pub overruled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRecord {
    pub entity: EntityId,
    /// One storage key of the semantic field (the first of its mapping, if mapped).
    pub field: FieldKey,
    pub shared_key: Option<String>,
    pub status: ConflictStatus,
    /// What the field shows now.
    pub shown: Option<Value>,
    /// The current heads: the values competing now (one when resolved).
    pub competing: Vec<Competitor>,
    pub decisions: Vec<Decision>,
}

impl State {
    /// The conflict state of one field, if it ever had a conflict.
    pub fn conflict(&self, entity: EntityId, field: &FieldKey) -> Option<ConflictRecord> {
        let entity = self.resolve(entity);
        let value = self.field(entity, field);
        let history = self.field_history(entity, field);
        let decisions = decisions(&history, &value);
        let status = match (value.heads.len() > 1, value.standing_resolution().is_some()) {
            (true, true) => ConflictStatus::Reopened,
            (true, false) => ConflictStatus::Open,
            (false, _) if !decisions.is_empty() => ConflictStatus::Resolved,
            (false, _) => return None,
        };
        let group = self.field_group(field);
        Some(ConflictRecord {
            entity,
            field: group[0].clone(),
            shared_key: self.mapping_of(field).map(|mapping| mapping.shared_key.clone()),
            status,
            shown: value.value.clone(),
            competing: value.heads.iter().map(competitor).collect(),
            decisions,
        })
    }

    /// Every conflict of every live record, open ones first, then by record and field.
    pub fn conflicts(&self) -> Vec<ConflictRecord> {
        let mut records = Vec::new();
        for entity in self.live_entities() {
            let mut seen_groups = BTreeSet::new();
            for field in self.fields_that_may_conflict(entity) {
                let group = self.field_group(&field);
                if seen_groups.insert(group) {
                    records.extend(self.conflict(entity, &field));
                }
            }
        }
        records.sort_by_key(|record| (record.status == ConflictStatus::Resolved, record.entity, record.field.clone()));
        records
    }

    /// Conflicts waiting for a person: open and reopened ones.
    pub fn open_conflicts(&self) -> Vec<ConflictRecord> {
        self.conflicts().into_iter().filter(|record| record.status != ConflictStatus::Resolved).collect()
    }
}

fn competitor(write: &Write) -> Competitor {
    Competitor {
        op: write.stamp.op,
        actor: write.stamp.actor,
        hlc: write.stamp.hlc,
        value: write.value.clone(),
        is_resolution: write.resolution.is_some(),
    }
}

fn decisions(history: &[Write], value: &FieldValue) -> Vec<Decision> {
    let overruled: BTreeSet<OpId> = value.overruled.iter().map(|write| write.stamp.op).collect();
    history
        .iter()
        .filter_map(|write| {
            let resolution = write.resolution.as_ref()?;
            Some(Decision {
                op: write.stamp.op,
                resolver: write.stamp.actor,
                hlc: write.stamp.hlc,
                value: write.value.clone(),
                resolves: resolution.resolves.clone(),
                supersedes: resolution.supersedes,
                overruled: overruled.contains(&write.stamp.op),
            })
        })
        .collect()
}

impl ConflictRecord {
    /// The sentence a person reads, e.g. "Jane Doe's call time was edited by
    /// Alex (18:00) and Jordan (18:30) since last sync". Times are local to
    /// the reader: `utc_offset_minutes` comes from the driver.
    pub fn describe(
        &self,
        record_label: &str,
        field_label: &str,
        name_of: impl Fn(&ActorId) -> String,
        utc_offset_minutes: i32,
    ) -> String {
        let clock = |hlc: Hlc| time_of_day(hlc, utc_offset_minutes);
        let editors: Vec<String> = self
            .competing
            .iter()
            .filter(|competitor| !competitor.is_resolution)
            .map(|competitor| format!("{} ({})", name_of(&competitor.actor), clock(competitor.hlc)))
            .collect();
        let standing = self.decisions.iter().rev().find(|decision| !decision.overruled);
        match (self.status, standing) {
            (ConflictStatus::Reopened, Some(decision)) => format!(
                "{record_label}'s {field_label} was edited by {} after {} settled it ({})",
                join_names(&editors),
                name_of(&decision.resolver),
                clock(decision.hlc)
            ),
            (ConflictStatus::Resolved, Some(decision)) => format!(
                "{record_label}'s {field_label} was settled by {} ({})",
                name_of(&decision.resolver),
                clock(decision.hlc)
            ),
            _ => format!("{record_label}'s {field_label} was edited by {} since last sync", join_names(&editors)),
        }
    }
}

/// "A", "A and B", "A, B and C".
fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn time_of_day(hlc: Hlc, utc_offset_minutes: i32) -> String {
    let local = i64::try_from(hlc.wall()).unwrap_or(i64::MAX).saturating_add(i64::from(utc_offset_minutes) * 60_000);
    let formatted = format_iso8601(local);
    // "2026-02-05T18:30:00.000Z" → "18:30"
    formatted.split_once('T').map_or(formatted.clone(), |(_, time)| time.chars().take(5).collect())
}
