//! Copying a workspace as it stands, without its history (`spec/workspace.md`,
//! Workspace Forks): a new workspace, owned by whoever made the copy, whose
//! first bundles recreate what the original shows now.
//!
//! Copied: the modules, table links and confirmed mappings; every live
//! record with its tables and the value each of its fields shows (a field in
//! conflict takes the value it shows, so the copy starts with none); every
//! live relationship with the values of its properties. Not copied: the
//! history, deleted and merged-away records, the other members, the join
//! mode and access keys; the copy gets a recovery key of its own.
//!
//! Records and relationships keep their ids. Ids are scoped to a workspace,
//! and the same id naming the same record in both is what someone comparing
//! the original and its copy expects.

use std::collections::BTreeSet;

use super::{Signing, Workspace, undo};
use crate::access::RecoveryKey;
use crate::bundle::Bundle;
use crate::entropy::Entropy;
use crate::identity::Identity;
use crate::ids::{EntityId, OpId};
use crate::names::{FieldKey, TableId};
use crate::op::OpPayload;
use crate::state::EdgeView;

/// Records (and relationships) recreated per bundle: a large workspace is
/// copied in many bundles of bounded size, so that none is huge to store,
/// send to a peer or check.
pub const ITEMS_PER_FORK_BUNDLE: usize = 1_000;

/// A new workspace made by [`Workspace::fork`].
pub struct Fork {
    /// The copy, owned by this device's actor, alone on its roster.
    pub workspace: Workspace,
    /// Every bundle of the copy, in order: all of them must be stored
    /// before the copy is listed anywhere.
    pub bundles: Vec<Bundle>,
    /// The copy's recovery key, for its owner to keep; the bundles hold only
    /// its verifier.
    pub recovery_key: RecoveryKey,
}

impl Workspace {
    /// Copies the workspace as it stands into a new one called `name`, owned
    /// by this device's actor (`owner_name` on its roster). Any member may
    /// fork; nothing here needs the owner.
    ///
    /// This workspace is left unchanged: once the copy's bundles are stored,
    /// the caller records the copy here with [`super::Change::record_fork`],
    /// so the audit trail never names a copy that failed to be made.
    pub fn fork(&self, name: &str, owner_name: &str, now_ms: u64, entropy: &mut dyn Entropy) -> Fork {
        let structure = self.structure_to_copy();
        let identity = Identity::from_seed(self.identity.secret_bytes());
        let (mut copy, _) = Workspace::create(identity, name, owner_name, now_ms, entropy);
        let recovery_key = RecoveryKey::generate(entropy);
        let mut setup = vec![
            // Everything this device had taken in when the copy was made is
            // at or before its clock's current value.
            OpPayload::ForkedFrom { source: self.id, source_hlc: self.clock.current() },
            OpPayload::SetRecoveryKey { verifier: recovery_key.verifier() },
        ];
        setup.extend(structure);
        // Signed together at the end, as a burst's changes are.
        let commit = |copy: &mut Workspace, payloads| {
            copy.commit_new_payloads_signing(payloads, now_ms, undo::Step::Edit, Signing::Later);
        };
        commit(&mut copy, setup);

        let records = self.state.live_entities().map(|entity| self.record_to_copy(entity));
        let relationships = self.live_edges().map(|edge| vec![self.edge_to_copy(edge)]);
        let mut batch = Vec::new();
        let mut items_in_batch = 0;
        for item in records.chain(relationships) {
            batch.extend(item);
            items_in_batch += 1;
            if items_in_batch == ITEMS_PER_FORK_BUNDLE {
                commit(&mut copy, std::mem::take(&mut batch));
                items_in_batch = 0;
            }
        }
        if !batch.is_empty() {
            commit(&mut copy, batch);
        }
        copy.sign_unsigned();
        // The copy is where the new workspace starts, not an edit to take back.
        copy.history.clear();
        let bundles = copy.log.bundles().cloned().collect();
        Fork { workspace: copy, bundles, recovery_key }
    }

    /// The modules as adopted (their manifests as written), the table links
    /// and the confirmed mappings.
    fn structure_to_copy(&self) -> Vec<OpPayload> {
        let state = &self.state;
        let mut payloads = Vec::new();
        for module in state.modules() {
            match self.log.operation(module.adopted.op).map(|(_, op)| &op.payload) {
                Some(adoption @ OpPayload::AdoptModule { .. }) => payloads.push(adoption.clone()),
                _ => unreachable!("the state is built from the log, which holds every adoption it shows"),
            }
        }
        let tables: Vec<TableId> = state.tables().into_iter().map(|(table, _)| table).collect();
        for source in &tables {
            for target in tables.iter().filter(|target| state.tables_linked(source, target)) {
                payloads.push(OpPayload::LinkTables { source: source.clone(), target: target.clone() });
            }
        }
        payloads.extend(state.mappings().map(|mapping| OpPayload::ConfirmMapping {
            shared_key: mapping.shared_key.clone(),
            fields: mapping.fields.clone(),
        }));
        payloads
    }

    /// A live record (a survivor of any merges): created in its first
    /// table, added to the others, and one write per field holding a value.
    fn record_to_copy(&self, entity: EntityId) -> Vec<OpPayload> {
        let state = &self.state;
        let mut tables = state.tables_of(entity).into_iter();
        let mut payloads = vec![OpPayload::CreateEntity { entity, initial_table: tables.next() }];
        payloads.extend(tables.map(|table| OpPayload::AddToTable { entity, table }));
        // A mapped field is one field over several storage keys: written once.
        let mut copied_groups = BTreeSet::new();
        for key in state.written_fields(entity) {
            if !copied_groups.insert(state.field_group(&key)) {
                continue;
            }
            let field = state.field(entity, &key);
            let Some(value) = field.value.clone() else { continue };
            let carrier = field.shown().and_then(|write| self.storage_key_of(write.stamp.op)).unwrap_or(key);
            payloads.push(OpPayload::SetField { entity, field: carrier, value, replaces: Vec::new() });
        }
        payloads
    }

    /// The storage key a write went to: of a mapped field's keys, the one
    /// that holds its value, so the copy keeps it where the original does.
    fn storage_key_of(&self, write: OpId) -> Option<FieldKey> {
        match &self.log.operation(write)?.1.payload {
            OpPayload::SetField { field, .. } | OpPayload::ResolveConflict { field, .. } => Some(field.clone()),
            _ => None,
        }
    }

    /// Every live relationship, once: each has exactly one source, a live record.
    fn live_edges(&self) -> impl Iterator<Item = EdgeView> + '_ {
        self.state.live_entities().flat_map(|entity| self.state.edges_from(entity))
    }

    fn edge_to_copy(&self, edge: EdgeView) -> OpPayload {
        let state = &self.state;
        let properties = state
            .edge_properties(edge.id)
            .into_iter()
            .filter_map(|property| {
                let value = state.edge_property(edge.id, &property).value?;
                Some((property, value))
            })
            .collect();
        OpPayload::CreateEdge {
            edge: edge.id,
            edge_type: edge.edge_type,
            source: edge.source,
            target: edge.target,
            properties,
        }
    }
}
