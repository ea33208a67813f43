//! A local edit being put together: every step is checked against the
//! schema and the current state, and nothing reaches the log until
//! [`Change::commit`] signs the whole change as one bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::Arc;

use super::{EditError, Signing, Workspace};
use crate::access::{AccessCode, RecoveryKey};
use crate::bundle::Bundle;
use crate::entropy::Entropy;
use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::{EdgeId, EntityId, OpId, UUID_RANDOM_BYTES, WorkspaceId};
use crate::names::{EdgeType, FieldKey, TableId};
use crate::op::{DataHandling, JoinMode, OpPayload};
use crate::schema::{FieldDef, ModuleManifest, TableDef, parse_manifest};
use crate::value::Value;

pub struct Change<'w> {
    workspace: &'w mut Workspace,
    entropy: &'w mut dyn Entropy,
    now_ms: u64,
    ops: Vec<(OpId, OpPayload)>,
    created: BTreeSet<EntityId>,
    /// Records deleted earlier in this change: later steps must not touch them.
    deleted: BTreeSet<EntityId>,
    created_edges: BTreeMap<EdgeId, EdgeType>,
    /// The newest write of this change per entity and field group (named by
    /// [`crate::state::State::field_group_key`]), which the next write to
    /// the same field replaces.
    pending_writes: BTreeMap<(EntityId, FieldKey), OpId>,
}

impl<'w> Change<'w> {
    pub(super) fn new(workspace: &'w mut Workspace, now_ms: u64, entropy: &'w mut dyn Entropy) -> Self {
        Change {
            workspace,
            entropy,
            now_ms,
            ops: Vec::new(),
            created: BTreeSet::new(),
            deleted: BTreeSet::new(),
            created_edges: BTreeMap::new(),
            pending_writes: BTreeMap::new(),
        }
    }

    fn random(&mut self) -> [u8; UUID_RANDOM_BYTES] {
        let mut bytes = [0u8; UUID_RANDOM_BYTES];
        self.entropy.fill(&mut bytes);
        bytes
    }

    fn push(&mut self, payload: OpPayload) -> OpId {
        let id = self.workspace.next_op_id(self.ops.len(), self.now_ms);
        self.ops.push((id, payload));
        id
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    // ----- records -----

    /// Creates a record in `table` with `values` (field name → value). Fields
    /// left out take their defaults; a required field without one is refused.
    pub fn create_record(&mut self, table: &TableId, values: &[(&str, Value)]) -> Result<EntityId, EditError> {
        let definition = self.shared_table(table)?;
        for (name, value) in values {
            check_write(table, &definition, name, value)?;
        }
        for field in &definition.fields {
            let given = values.iter().any(|(name, _)| *name == field.name);
            if field.required && !given && field.default.is_none() {
                return Err(EditError::RequiredFieldMissing { table: table.clone(), field: field.label().to_owned() });
            }
        }
        let entity = EntityId::new_v7(self.now_ms, self.random());
        self.push(OpPayload::CreateEntity { entity, initial_table: Some(table.clone()) });
        self.created.insert(entity);
        for (name, value) in values {
            self.write(entity, FieldKey::new(table.module(), name), Some(value.clone()));
        }
        self.write_defaults(entity, table, &definition, |name| values.iter().any(|(given, _)| *given == name));
        Ok(entity)
    }

    /// Sets a field of a record, as seen through `table`.
    pub fn set_field(&mut self, entity: EntityId, table: &TableId, field: &str, value: Value) -> Result<(), EditError> {
        check_write(table, self.table_def(table)?, field, &value)?;
        self.check_record_in(entity, table)?;
        self.write(entity, FieldKey::new(table.module(), field), Some(value));
        Ok(())
    }

    pub fn clear_field(&mut self, entity: EntityId, table: &TableId, field: &str) -> Result<(), EditError> {
        let definition = self.shared_table(table)?;
        let field_def = field_def(table, &definition, field)?;
        if field_def.crdt.is_some() {
            return Err(EditError::CollaborativeField { field: field_def.label().to_owned() });
        }
        if field_def.required {
            return Err(EditError::RequiredFieldCleared { field: field_def.label().to_owned() });
        }
        self.check_record_in(entity, table)?;
        self.write(entity, FieldKey::new(table.module(), field), None);
        Ok(())
    }

    /// Settles the field's conflict with `value` (one of the competing values
    /// or a new one), or revises the decision that settled it earlier.
    pub fn resolve_conflict(
        &mut self,
        entity: EntityId,
        table: &TableId,
        field: &str,
        value: Option<Value>,
    ) -> Result<OpId, EditError> {
        let definition = self.shared_table(table)?;
        let field_def = field_def(table, &definition, field)?;
        match &value {
            Some(value) => check_write(table, &definition, field, value)?,
            None if field_def.crdt.is_some() => {
                return Err(EditError::CollaborativeField { field: field_def.label().to_owned() });
            }
            None if field_def.required => {
                return Err(EditError::RequiredFieldCleared { field: field_def.label().to_owned() });
            }
            None => {}
        }
        self.check_record_in(entity, table)?;
        let key = FieldKey::new(table.module(), field);
        let current = self.workspace.state.field(entity, &key);
        let supersedes = current.standing_resolution().map(|write| write.stamp.op);
        if !current.is_conflicted() && supersedes.is_none() {
            return Err(EditError::NoConflict { field: field_def.label().to_owned() });
        }
        let resolves = current.heads.iter().map(|write| write.stamp.op).collect();
        let id = self.push(OpPayload::ResolveConflict { entity, field: key.clone(), value, resolves, supersedes });
        self.pending_writes.insert((entity, self.workspace.state.field_group_key(&key)), id);
        Ok(id)
    }

    fn write(&mut self, entity: EntityId, field: FieldKey, value: Option<Value>) {
        let pending_key = (entity, self.workspace.state.field_group_key(&field));
        let replaces = match self.pending_writes.get(&pending_key) {
            Some(earlier) => vec![*earlier],
            None => self.workspace.state.field_head_ops(entity, &field),
        };
        let payload = match value {
            Some(value) => OpPayload::SetField { entity, field, value, replaces },
            None => OpPayload::ClearField { entity, field, replaces },
        };
        let id = self.push(payload);
        self.pending_writes.insert(pending_key, id);
    }

    fn write_defaults(
        &mut self,
        entity: EntityId,
        table: &TableId,
        definition: &TableDef,
        skip: impl Fn(&str) -> bool,
    ) {
        for field in &definition.fields {
            let Some(default) = &field.default else { continue };
            let key = FieldKey::new(table.module(), &field.name);
            let has_value = self.workspace.state.field(entity, &key).value.is_some();
            if !skip(&field.name) && !has_value {
                self.write(entity, key, Some(default.clone()));
            }
        }
    }

    /// Deletes the record everywhere, with the relationships that touch it.
    pub fn delete_record(&mut self, entity: EntityId) -> Result<(), EditError> {
        self.check_record(entity)?;
        let cascade_edges = self.workspace.state.edges_to_cascade(entity);
        self.push(OpPayload::DeleteEntity { entity, cascade_edges });
        self.deleted.insert(entity);
        Ok(())
    }

    pub fn restore_record(&mut self, entity: EntityId) -> Result<(), EditError> {
        self.check_not_merged(entity)?;
        let state = &self.workspace.state;
        if state.created(entity).is_none() && !self.created.contains(&entity) {
            return Err(EditError::NoSuchRecord(entity));
        }
        if !state.entity_deleted(entity) && !self.deleted.contains(&entity) {
            return Err(EditError::RecordNotDeleted(entity));
        }
        self.push(OpPayload::RestoreEntity { entity, restore_edges: Vec::new() });
        self.deleted.remove(&entity);
        Ok(())
    }

    /// Removes the record from one table. A record in no other table is
    /// deleted instead, as a user removing it from its last table expects.
    pub fn remove_from_table(
        &mut self,
        entity: EntityId,
        table: &TableId,
        handling: DataHandling,
    ) -> Result<(), EditError> {
        self.check_record_in(entity, table)?;
        let definition = self.shared_table(table)?;
        let other_tables = self.workspace.state.tables_of(entity).into_iter().any(|other| other != *table);
        if !other_tables {
            return self.delete_record(entity);
        }
        self.push(OpPayload::RemoveFromTable { entity, table: table.clone(), handling });
        if handling == DataHandling::Discard {
            // Only the table's own values go: a mapped field is shared with
            // the record's other tables and stays.
            for field in &definition.fields {
                let key = FieldKey::new(table.module(), &field.name);
                let state = &self.workspace.state;
                if state.mapping_of(&key).is_none() && state.field(entity, &key).value.is_some() {
                    self.write(entity, key, None);
                }
            }
        }
        Ok(())
    }

    /// Adds an existing record to another table, with that table's defaults
    /// for the fields it has no value for yet.
    pub fn add_to_table(&mut self, entity: EntityId, table: &TableId) -> Result<(), EditError> {
        let definition = self.shared_table(table)?;
        self.check_record(entity)?;
        if self.workspace.state.in_table(entity, table) {
            return Err(EditError::AlreadyInTable { entity, table: table.clone() });
        }
        self.push(OpPayload::AddToTable { entity, table: table.clone() });
        self.write_defaults(entity, table, &definition, |_| false);
        Ok(())
    }

    /// Re-attaches a table that `removal` detached; preserved values come back with it.
    pub fn restore_facet(&mut self, entity: EntityId, table: &TableId, removal: OpId) -> Result<(), EditError> {
        self.check_record(entity)?;
        let removed_it = self.workspace.log.operation(removal).is_some_and(|(_, op)| {
            matches!(&op.payload, OpPayload::RemoveFromTable { entity: e, table: t, .. } if self.workspace.state.resolve(*e) == self.workspace.state.resolve(entity) && t == table)
        });
        if !removed_it {
            return Err(EditError::NotRemovedByThat { entity, table: table.clone(), op: removal });
        }
        if self.workspace.state.in_table(entity, table) {
            return Err(EditError::AlreadyInTable { entity, table: table.clone() });
        }
        self.push(OpPayload::RestoreFacet { entity, table: table.clone(), from_op: removal });
        Ok(())
    }

    // ----- relationships -----

    pub fn create_edge(
        &mut self,
        edge_type: &EdgeType,
        source: EntityId,
        target: EntityId,
        properties: &[(&str, Value)],
    ) -> Result<EdgeId, EditError> {
        let definition = self
            .workspace
            .state
            .module(edge_type.module())
            .and_then(|module| module.manifest.edge_type(edge_type.local()))
            .ok_or_else(|| EditError::UnknownEdgeType(edge_type.clone()))?
            .clone();
        self.check_record(source)?;
        self.check_record(target)?;
        for (name, value) in properties {
            check_property(edge_type, definition.property(name), name, value)?;
        }
        let edge = EdgeId::new_v7(self.now_ms, self.random());
        let properties = properties.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        let state = &self.workspace.state;
        let (source, target) = (state.resolve(source), state.resolve(target));
        self.push(OpPayload::CreateEdge { edge, edge_type: edge_type.clone(), source, target, properties });
        self.created_edges.insert(edge, edge_type.clone());
        Ok(edge)
    }

    pub fn delete_edge(&mut self, edge: EdgeId) -> Result<(), EditError> {
        self.check_edge(edge)?;
        self.push(OpPayload::DeleteEdge { edge });
        Ok(())
    }

    pub fn restore_edge(&mut self, edge: EdgeId) -> Result<(), EditError> {
        if self.workspace.state.edge_definition(edge).is_none() {
            return Err(EditError::NoSuchEdge(edge));
        }
        if self.workspace.state.edge_alive(edge) {
            return Err(EditError::EdgeNotDeleted(edge));
        }
        self.push(OpPayload::RestoreEdge { edge });
        Ok(())
    }

    pub fn set_edge_property(&mut self, edge: EdgeId, property: &str, value: Option<Value>) -> Result<(), EditError> {
        let edge_type = self.check_edge(edge)?;
        let declared = self
            .workspace
            .state
            .module(edge_type.module())
            .and_then(|module| module.manifest.edge_type(edge_type.local()))
            .and_then(|definition| definition.property(property));
        match &value {
            Some(value) => check_property(&edge_type, declared, property, value)?,
            None if declared.is_none() => {
                return Err(EditError::UnknownEdgeProperty { edge_type, property: property.to_owned() });
            }
            None => {}
        }
        let replaces =
            self.workspace.state.edge_property(edge, property).heads.iter().map(|write| write.stamp.op).collect();
        self.push(OpPayload::SetEdgeProperty { edge, property: property.to_owned(), value, replaces });
        Ok(())
    }

    // ----- tables, mappings, modules, roster -----

    pub fn link_tables(&mut self, source: &TableId, target: &TableId) -> Result<(), EditError> {
        self.table_def(source)?;
        self.table_def(target)?;
        self.push(OpPayload::LinkTables { source: source.clone(), target: target.clone() });
        Ok(())
    }

    pub fn unlink_tables(&mut self, source: &TableId, target: &TableId) -> Result<(), EditError> {
        self.push(OpPayload::UnlinkTables { source: source.clone(), target: target.clone() });
        Ok(())
    }

    /// Confirms that `fields` are one field, `shared_key`. Their declared
    /// types must agree.
    pub fn confirm_mapping(&mut self, shared_key: &str, fields: &[FieldKey]) -> Result<OpId, EditError> {
        let mut fields = fields.to_vec();
        fields.sort();
        fields.dedup();
        if fields.len() < 2 {
            return Err(EditError::MappingNeedsTwoFields);
        }
        let mut definitions = Vec::with_capacity(fields.len());
        for field in &fields {
            let definition = self.declared_field(field)?;
            if definition.private {
                return Err(EditError::PrivateField(field.clone()));
            }
            if let Some(mapping) = self.workspace.state.mapping_of(field)
                && mapping.shared_key != shared_key
            {
                return Err(EditError::FieldAlreadyMapped {
                    field: field.clone(),
                    shared_key: mapping.shared_key.clone(),
                });
            }
            definitions.push((field, definition));
        }
        let (first, first_def) = &definitions[0];
        for (field, definition) in &definitions[1..] {
            // A collaborative text and a plain text are different data too.
            if definition.field_type != first_def.field_type || definition.crdt != first_def.crdt {
                return Err(EditError::MappingTypesDiffer {
                    first: (*first).clone(),
                    first_type: first_def.field_type,
                    second: (*field).clone(),
                    second_type: definition.field_type,
                });
            }
        }
        Ok(self.push(OpPayload::ConfirmMapping { shared_key: shared_key.to_owned(), fields }))
    }

    pub fn reject_mapping(&mut self, shared_key: &str, fields: &[FieldKey]) -> Result<(), EditError> {
        for field in fields {
            self.declared_field(field)?;
        }
        self.push(OpPayload::RejectMapping { shared_key: shared_key.to_owned(), fields: fields.to_vec() });
        Ok(())
    }

    /// Ends a mapping. Each field of each record keeps showing the value it
    /// showed: where its own writes would show something else, the shared
    /// value is copied into it.
    pub fn revoke_mapping(&mut self, mapping: OpId) -> Result<(), EditError> {
        let Some(active) = self.workspace.state.mapping(mapping).cloned() else {
            return Err(EditError::NoSuchMapping(mapping));
        };
        self.push(OpPayload::RevokeMapping { mapping });
        let state = &self.workspace.state;
        let mut copies = Vec::new();
        for entity in state.entities_with_writes_to(&active.fields) {
            let shared = state.field(entity, &active.fields[0]);
            let tables = state.tables_of(entity);
            for key in &active.fields {
                let shows_field = tables.iter().any(|table| {
                    table.module() == key.module()
                        && state.table(table).is_some_and(|def| def.field(key.local()).is_some())
                });
                let own = state.field_unmapped(entity, key);
                if shows_field && own.value != shared.value {
                    let replaces: Vec<OpId> = own.heads.iter().map(|write| write.stamp.op).collect();
                    copies.push((entity, key.clone(), shared.value.clone(), replaces));
                }
            }
        }
        for (entity, field, value, replaces) in copies {
            let payload = match value {
                Some(value) => OpPayload::SetField { entity, field, value, replaces },
                None => OpPayload::ClearField { entity, field, replaces },
            };
            self.push(payload);
        }
        Ok(())
    }

    /// Merges two records into one; the survivor is the smaller id.
    pub fn merge_records(&mut self, first: EntityId, second: EntityId) -> Result<EntityId, EditError> {
        self.check_record(first)?;
        self.check_record(second)?;
        if first == second {
            return Err(EditError::SameRecord(first));
        }
        self.push(OpPayload::MergeEntities { first, second });
        Ok(first.min(second))
    }

    /// Splits `tables` off `source` into a new record, copying `fields`
    /// (storage keys) it should keep a value for.
    pub fn split_record(
        &mut self,
        source: EntityId,
        tables: &[TableId],
        fields: &[FieldKey],
    ) -> Result<EntityId, EditError> {
        self.check_record(source)?;
        if tables.is_empty() {
            return Err(EditError::SplitNeedsTables);
        }
        for table in tables {
            self.check_record_in(source, table)?;
        }
        let into = EntityId::new_v7(self.now_ms, self.random());
        self.push(OpPayload::SplitEntity { source, into, tables: tables.to_vec() });
        self.created.insert(into);
        for field in fields {
            if let Some(value) = self.workspace.state.field(source, field).value {
                self.write(into, field.clone(), Some(value));
            }
        }
        Ok(into)
    }

    /// Adopts a module for the whole workspace; its manifest syncs with the operation.
    pub fn adopt_module(&mut self, manifest_toml: &str, tables_toml: Option<&str>) -> Result<String, EditError> {
        let manifest = parse_manifest("manifest.toml", manifest_toml, tables_toml).map_err(EditError::InvalidModule)?;
        self.push(OpPayload::AdoptModule {
            manifest_toml: manifest_toml.to_owned(),
            tables_toml: tables_toml.map(str::to_owned),
        });
        Ok(manifest.name)
    }

    pub fn admit_actor(&mut self, actor: ActorId, display_name: &str) {
        self.push(OpPayload::AdmitActor { actor, display_name: display_name.to_owned() });
    }

    // ----- who may join (owner only, but for using a key and forking) -----

    fn require_owner(&self, what: &'static str) -> Result<(), EditError> {
        if self.workspace.state.is_owner(&self.workspace.actor()) { Ok(()) } else { Err(EditError::OwnerOnly { what }) }
    }

    pub fn set_join_mode(&mut self, mode: JoinMode) -> Result<(), EditError> {
        self.require_owner("change how people join")?;
        self.push(OpPayload::SetJoinMode { mode });
        Ok(())
    }

    /// A key that lets people in until `expires_ms` (wall clock), at most
    /// `max_uses` of them. Returns the key's id.
    pub fn create_access_key(
        &mut self,
        code: &AccessCode,
        expires_ms: u64,
        max_uses: Option<u32>,
    ) -> Result<OpId, EditError> {
        self.require_owner("make access keys")?;
        Ok(self.push(OpPayload::CreateAccessKey {
            code: code.as_str().to_owned(),
            expires: Hlc::new(expires_ms, 0),
            max_uses,
        }))
    }

    pub fn revoke_access_key(&mut self, key: OpId) -> Result<(), EditError> {
        self.require_owner("revoke access keys")?;
        if !self.workspace.state.access_keys().iter().any(|held| held.id == key) {
            return Err(EditError::NoSuchAccessKey(key));
        }
        self.push(OpPayload::RevokeAccessKey { key });
        Ok(())
    }

    /// Lets `actor` in with `key`: the roster entry and the key's use, in
    /// one bundle, so no peer ever sees one without the other.
    pub fn admit_with_access_key(&mut self, key: OpId, actor: ActorId, display_name: &str) {
        self.admit_actor(actor, display_name);
        self.push(OpPayload::UseAccessKey { key, actor });
    }

    pub fn set_recovery_key(&mut self, key: &RecoveryKey) -> Result<(), EditError> {
        self.require_owner("set the recovery key")?;
        self.push(OpPayload::SetRecoveryKey { verifier: key.verifier() });
        Ok(())
    }

    /// Records that this workspace was copied into `new_workspace`.
    pub fn record_fork(&mut self, new_workspace: WorkspaceId) {
        self.push(OpPayload::Forked { new_workspace });
    }

    /// Signs the change as one bundle, appends it to the log and applies it.
    /// The driver persists the bundle, then offers it to peers.
    pub fn commit(self) -> Result<Bundle, EditError> {
        let workspace = self.commit_signing(Signing::Now)?;
        Ok(workspace.newest_bundle().clone())
    }

    /// [`Change::commit`] for a [`super::Burst`], which signs its bundles together.
    pub(super) fn commit_unsigned(self) -> Result<(), EditError> {
        self.commit_signing(Signing::Later).map(|_| ())
    }

    fn commit_signing(self, signing: Signing) -> Result<&'w mut Workspace, EditError> {
        if self.ops.is_empty() {
            return Err(EditError::NothingToSave);
        }
        self.workspace.commit_payloads(self.ops, self.now_ms, super::undo::Step::Edit, signing);
        Ok(self.workspace)
    }

    // ----- checks -----

    fn table_def(&self, table: &TableId) -> Result<&TableDef, EditError> {
        self.workspace.state.table(table).ok_or_else(|| EditError::UnknownTable(table.clone()))
    }

    /// [`Change::table_def`] for a change that writes while it reads the
    /// definition: held by a count, not copied field by field.
    fn shared_table(&self, table: &TableId) -> Result<SharedTable, EditError> {
        let unknown = || EditError::UnknownTable(table.clone());
        let module = self.workspace.state.module(table.module()).ok_or_else(unknown)?;
        let index = module.manifest.tables.iter().position(|def| def.name == table.local()).ok_or_else(unknown)?;
        Ok(SharedTable { module: Arc::clone(&module.manifest), index })
    }

    fn declared_field(&self, field: &FieldKey) -> Result<FieldDef, EditError> {
        let module =
            self.workspace.state.module(field.module()).ok_or_else(|| EditError::UnknownFieldKey(field.clone()))?;
        module
            .manifest
            .tables
            .iter()
            .find_map(|table| table.field(field.local()))
            .cloned()
            .ok_or_else(|| EditError::UnknownFieldKey(field.clone()))
    }

    fn check_not_merged(&self, entity: EntityId) -> Result<(), EditError> {
        match self.workspace.state.merged_into(entity) {
            Some(survivor) => Err(EditError::MergedInto { entity, survivor }),
            None => Ok(()),
        }
    }

    /// The record exists now (or was created earlier in this change).
    fn check_record(&self, entity: EntityId) -> Result<(), EditError> {
        self.check_not_merged(entity)?;
        let state = &self.workspace.state;
        if self.deleted.contains(&entity) {
            Err(EditError::RecordDeleted(entity))
        } else if self.created.contains(&entity) || state.entity_exists(entity) {
            Ok(())
        } else if state.entity_deleted(entity) {
            Err(EditError::RecordDeleted(entity))
        } else {
            Err(EditError::NoSuchRecord(entity))
        }
    }

    fn check_record_in(&self, entity: EntityId, table: &TableId) -> Result<(), EditError> {
        self.check_record(entity)?;
        let added_here = self.ops.iter().any(|(_, payload)| match payload {
            OpPayload::CreateEntity { entity: e, initial_table } => {
                *e == entity && initial_table.as_ref() == Some(table)
            }
            OpPayload::AddToTable { entity: e, table: t } => *e == entity && t == table,
            OpPayload::SplitEntity { into, tables, .. } => *into == entity && tables.contains(table),
            _ => false,
        });
        if added_here || self.workspace.state.in_table(entity, table) {
            Ok(())
        } else {
            Err(EditError::NotInTable { entity, table: table.clone() })
        }
    }

    fn check_edge(&self, edge: EdgeId) -> Result<EdgeType, EditError> {
        if let Some(edge_type) = self.created_edges.get(&edge) {
            return Ok(edge_type.clone());
        }
        let state = &self.workspace.state;
        let definition = state.edge_definition(edge).ok_or(EditError::NoSuchEdge(edge))?;
        if state.edge(edge).is_none() {
            return Err(EditError::EdgeDeleted(edge));
        }
        Ok(definition.edge_type.clone())
    }
}

fn field_def<'t>(table: &TableId, definition: &'t TableDef, field: &str) -> Result<&'t FieldDef, EditError> {
    definition.field(field).ok_or_else(|| EditError::UnknownField { table: table.clone(), field: field.to_owned() })
}

fn check_write(table: &TableId, definition: &TableDef, field: &str, value: &Value) -> Result<(), EditError> {
    let field_def = field_def(table, definition, field)?;
    if field_def.crdt.is_some() {
        return Err(EditError::CollaborativeField { field: field_def.label().to_owned() });
    }
    field_def.check_value(value).map_err(EditError::WrongValue)
}

fn check_property(
    edge_type: &EdgeType,
    declared: Option<crate::value::FieldType>,
    property: &str,
    value: &Value,
) -> Result<(), EditError> {
    let declared = declared.ok_or_else(|| EditError::UnknownEdgeProperty {
        edge_type: edge_type.clone(),
        property: property.to_owned(),
    })?;
    if value.field_type() == declared {
        Ok(())
    } else {
        Err(EditError::WrongValue(crate::schema::ValueError {
            message: format!("'{property}' expects {declared} values, not {}", value.field_type()),
        }))
    }
}

/// A table's definition, held apart from the workspace's state.
struct SharedTable {
    module: Arc<ModuleManifest>,
    index: usize,
}

impl Deref for SharedTable {
    type Target = TableDef;

    fn deref(&self) -> &TableDef {
        &self.module.tables[self.index]
    }
}
