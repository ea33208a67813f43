//! Operations: the only way state changes.
//!
//! An operation names what its author saw and meant, never something a peer
//! must re-derive differently: a deletion lists the edges it cascaded to, a
//! field write lists the writes it replaced, a revoked mapping lists the
//! values it copied. Applying an operation is therefore the same on every
//! peer, in any order.

use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::{EdgeId, EntityId, OpId, WorkspaceId};
use crate::names::{EdgeType, FieldKey, OpName, TableId};
use crate::value::{Number, Value};

/// One operation of a bundle. Author, workspace and module versions are the
/// bundle's and apply to all its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: OpId,
    pub hlc: Hlc,
    pub payload: OpPayload,
}

/// What an entity's data does when the entity leaves a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataHandling {
    /// The table's field values stay (hidden) and come back with the facet.
    Preserve,
    /// The table's field values are cleared.
    Discard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpPayload {
    /// A workspace's first operation: its name and its owner's display name.
    Bootstrap {
        workspace_name: String,
        owner_name: String,
    },
    /// Admits an actor to the roster (or renames one already there).
    AdmitActor {
        actor: ActorId,
        display_name: String,
    },
    /// Adopts a module for the whole workspace. The manifest travels with the
    /// operation, so every peer learns the schema through sync.
    AdoptModule {
        manifest_toml: String,
        tables_toml: Option<String>,
    },
    CreateEntity {
        entity: EntityId,
        initial_table: Option<TableId>,
    },
    /// `cascade_edges`: the live edges touching the entity when it was deleted.
    DeleteEntity {
        entity: EntityId,
        cascade_edges: Vec<EdgeId>,
    },
    /// Brings a deleted entity back (undo), with the edges still safe to restore.
    RestoreEntity {
        entity: EntityId,
        restore_edges: Vec<EdgeId>,
    },
    /// `replaces`: the writes to this field the author had seen as current.
    SetField {
        entity: EntityId,
        field: FieldKey,
        value: Value,
        replaces: Vec<OpId>,
    },
    ClearField {
        entity: EntityId,
        field: FieldKey,
        replaces: Vec<OpId>,
    },
    /// Attaches a table. Its default values are `SetField`s in the same bundle.
    AddToTable {
        entity: EntityId,
        table: TableId,
    },
    /// Detaches a table. With [`DataHandling::Discard`] the bundle also
    /// clears the table's own fields, one `ClearField` each.
    RemoveFromTable {
        entity: EntityId,
        table: TableId,
        handling: DataHandling,
    },
    /// Re-attaches a table that `from_op` removed, with its preserved values.
    RestoreFacet {
        entity: EntityId,
        table: TableId,
        from_op: OpId,
    },
    CreateEdge {
        edge: EdgeId,
        edge_type: EdgeType,
        source: EntityId,
        target: EntityId,
        properties: Vec<(String, Value)>,
    },
    DeleteEdge {
        edge: EdgeId,
    },
    RestoreEdge {
        edge: EdgeId,
    },
    SetEdgeProperty {
        edge: EdgeId,
        property: String,
        value: Option<Value>,
        replaces: Vec<OpId>,
    },
    LinkTables {
        source: TableId,
        target: TableId,
    },
    UnlinkTables {
        source: TableId,
        target: TableId,
    },
    /// Makes `fields` one semantic field named `shared_key`.
    ConfirmMapping {
        shared_key: String,
        fields: Vec<FieldKey>,
    },
    /// Records that the user declined a suggested mapping, so it is not offered again.
    RejectMapping {
        shared_key: String,
        fields: Vec<FieldKey>,
    },
    /// Ends the mapping confirmed by `mapping`. The same bundle copies the
    /// shared value into each field that would otherwise lose it, one
    /// `SetField` each, so nothing is lost.
    RevokeMapping {
        mapping: OpId,
    },
    /// Two records are one thing. The survivor is the smaller id (after
    /// following earlier merges), so every peer picks the same one.
    MergeEntities {
        first: EntityId,
        second: EntityId,
    },
    /// Settles the conflict whose competing writes are `resolves` (the
    /// field's heads when the resolver decided) with `value`: one of them or
    /// a new one. `supersedes` names the earlier resolution this one revises.
    ResolveConflict {
        entity: EntityId,
        field: FieldKey,
        value: Option<Value>,
        resolves: Vec<OpId>,
        supersedes: Option<OpId>,
    },
    /// Creates `into` and moves `tables` to it from `source`. Field values
    /// the new record takes are `SetField`s on it in the same bundle.
    SplitEntity {
        source: EntityId,
        into: EntityId,
        tables: Vec<TableId>,
    },
    /// How people without the workspace secret get in (owner only).
    SetJoinMode {
        mode: JoinMode,
    },
    /// A short code that lets people in while the join mode is
    /// [`JoinMode::AccessKey`] (owner only). The operation's id names the key.
    CreateAccessKey {
        code: String,
        expires: Hlc,
        max_uses: Option<u32>,
    },
    /// Ends a key before its time (owner only).
    RevokeAccessKey {
        key: OpId,
    },
    /// Counts one use of `key`: written with the `AdmitActor` of the person it let in.
    UseAccessKey {
        key: OpId,
        actor: ActorId,
    },
    /// The recovery key's verifier, a hash of the secret only the owner holds
    /// (owner only); a new one replaces the old.
    SetRecoveryKey {
        verifier: [u8; 32],
    },
    /// This workspace was copied, without its history, into `new_workspace`.
    Forked {
        new_workspace: WorkspaceId,
    },
    /// This workspace began as a copy of `source` as it stood at `source_hlc`.
    ForkedFrom {
        source: WorkspaceId,
        source_hlc: Hlc,
    },
}

/// How a device that does not hold the workspace secret is let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinMode {
    /// The share link carries the secret: opening it is joining.
    #[default]
    Open,
    /// The link carries no secret; a short code from the owner lets people in.
    AccessKey,
    /// The link carries no secret; a member approves each request.
    Request,
}

impl JoinMode {
    fn tag(self) -> u8 {
        match self {
            JoinMode::Open => 0,
            JoinMode::AccessKey => 1,
            JoinMode::Request => 2,
        }
    }
}

impl OpPayload {
    /// The entity this operation is about, if it is about one.
    pub fn entity(&self) -> Option<EntityId> {
        match self {
            OpPayload::CreateEntity { entity, .. }
            | OpPayload::DeleteEntity { entity, .. }
            | OpPayload::RestoreEntity { entity, .. }
            | OpPayload::SetField { entity, .. }
            | OpPayload::ClearField { entity, .. }
            | OpPayload::AddToTable { entity, .. }
            | OpPayload::RemoveFromTable { entity, .. }
            | OpPayload::RestoreFacet { entity, .. }
            | OpPayload::ResolveConflict { entity, .. } => Some(*entity),
            OpPayload::SplitEntity { source, .. } => Some(*source),
            _ => None,
        }
    }
}

impl OpPayload {
    /// The modules whose schema this operation relies on, for its bundle's
    /// record of module versions.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        // Each change asks this of every operation: named without a list
        // allocated for the one or two names most operations have.
        let (named, fields, tables): ([Option<&str>; 2], &[FieldKey], &[TableId]) = match self {
            OpPayload::CreateEntity { initial_table: Some(table), .. }
            | OpPayload::AddToTable { table, .. }
            | OpPayload::RemoveFromTable { table, .. }
            | OpPayload::RestoreFacet { table, .. } => ([Some(table.module()), None], &[], &[]),
            OpPayload::SetField { field, .. }
            | OpPayload::ClearField { field, .. }
            | OpPayload::ResolveConflict { field, .. } => ([Some(field.module()), None], &[], &[]),
            OpPayload::CreateEdge { edge_type, .. } => ([Some(edge_type.module()), None], &[], &[]),
            OpPayload::LinkTables { source, target } | OpPayload::UnlinkTables { source, target } => {
                ([Some(source.module()), Some(target.module())], &[], &[])
            }
            OpPayload::ConfirmMapping { fields, .. } | OpPayload::RejectMapping { fields, .. } => {
                ([None; 2], fields, &[])
            }
            OpPayload::SplitEntity { tables, .. } => ([None; 2], &[], tables),
            _ => ([None; 2], &[], &[]),
        };
        named.into_iter().flatten().chain(fields.iter().map(FieldKey::module)).chain(tables.iter().map(TableId::module))
    }
}

// Tags of the encoding. Never renumber: they are in every stored bundle.
mod tag {
    pub const BOOTSTRAP: u8 = 1;
    pub const ADMIT_ACTOR: u8 = 2;
    pub const ADOPT_MODULE: u8 = 3;
    pub const CREATE_ENTITY: u8 = 10;
    pub const DELETE_ENTITY: u8 = 11;
    pub const RESTORE_ENTITY: u8 = 12;
    pub const SET_FIELD: u8 = 13;
    pub const CLEAR_FIELD: u8 = 14;
    pub const ADD_TO_TABLE: u8 = 15;
    pub const REMOVE_FROM_TABLE: u8 = 16;
    pub const RESTORE_FACET: u8 = 17;
    pub const CREATE_EDGE: u8 = 20;
    pub const DELETE_EDGE: u8 = 21;
    pub const RESTORE_EDGE: u8 = 22;
    pub const SET_EDGE_PROPERTY: u8 = 23;
    pub const LINK_TABLES: u8 = 30;
    pub const UNLINK_TABLES: u8 = 31;
    pub const CONFIRM_MAPPING: u8 = 32;
    pub const REJECT_MAPPING: u8 = 33;
    pub const REVOKE_MAPPING: u8 = 34;
    pub const MERGE_ENTITIES: u8 = 40;
    pub const SPLIT_ENTITY: u8 = 41;
    pub const RESOLVE_CONFLICT: u8 = 50;
    pub const SET_JOIN_MODE: u8 = 60;
    pub const CREATE_ACCESS_KEY: u8 = 61;
    pub const REVOKE_ACCESS_KEY: u8 = 62;
    pub const USE_ACCESS_KEY: u8 = 63;
    pub const SET_RECOVERY_KEY: u8 = 64;
    pub const FORKED: u8 = 65;
    pub const FORKED_FROM: u8 = 66;

    pub const VALUE_STRING: u8 = 1;
    pub const VALUE_NUMBER: u8 = 2;
    pub const VALUE_BOOLEAN: u8 = 3;
    pub const VALUE_TIMESTAMP: u8 = 4;
    pub const VALUE_BLOB: u8 = 5;
}

impl Operation {
    pub fn encode(&self, out: &mut Encoder) {
        out.fixed(self.id.as_bytes()).fixed(&self.hlc.to_bytes());
        encode_payload(&self.payload, out);
    }

    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Encoder::new();
        self.encode(&mut out);
        out.into_bytes()
    }

    /// BLAKE3 of the encoding: what a bundle header lists for it.
    pub fn hash(&self) -> crate::bundle::Hash {
        crate::bundle::Hash::of_encoding(|out| self.encode(out))
    }

    pub fn decode(input: &mut Decoder<'_>) -> Result<Operation, DecodeError> {
        let id = OpId::from_bytes(input.fixed("an operation id")?);
        let hlc = Hlc::from_bytes(input.fixed("an operation clock")?);
        let payload = decode_payload(input)?;
        Ok(Operation { id, hlc, payload })
    }
}

/// Where a payload's ids (entities, edges, operations) and names (fields,
/// tables, edge types, properties) go. The canonical encoding, which hashes
/// and signatures cover, writes them in full; a sync batch writes a
/// reference to one it already carried.
pub(crate) trait PayloadWriter {
    fn out(&mut self) -> &mut Encoder;
    fn id(&mut self, id: &[u8; 16]);
    fn name(&mut self, name: &str);
}

impl PayloadWriter for Encoder {
    fn out(&mut self) -> &mut Encoder {
        self
    }

    fn id(&mut self, id: &[u8; 16]) {
        self.fixed(id);
    }

    fn name(&mut self, name: &str) {
        self.str(name);
    }
}

/// The reading side of [`PayloadWriter`].
pub(crate) trait PayloadReader<'a> {
    /// The fewest bytes an id takes: bounds list lengths before allocating.
    const MIN_ID_BYTES: usize;
    fn input(&mut self) -> &mut Decoder<'a>;
    fn id(&mut self, what: &'static str) -> Result<[u8; 16], DecodeError>;
    /// Reads a name as a `T`; one that is not a valid `T` is an error naming `what`.
    fn name<T: OpName>(&mut self, what: &'static str) -> Result<T, DecodeError>;
}

impl<'a> PayloadReader<'a> for Decoder<'a> {
    const MIN_ID_BYTES: usize = 16;

    fn input(&mut self) -> &mut Decoder<'a> {
        self
    }

    fn id(&mut self, what: &'static str) -> Result<[u8; 16], DecodeError> {
        self.fixed(what)
    }

    fn name<T: OpName>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let offset = self.position();
        T::from_text(self.str(what)?).ok_or(DecodeError { offset, what })
    }
}

pub(crate) fn encode_payload(payload: &OpPayload, w: &mut impl PayloadWriter) {
    match payload {
        OpPayload::Bootstrap { workspace_name, owner_name } => {
            w.out().u8(tag::BOOTSTRAP).str(workspace_name).str(owner_name);
        }
        OpPayload::AdmitActor { actor, display_name } => {
            w.out().u8(tag::ADMIT_ACTOR).fixed(actor.as_bytes()).str(display_name);
        }
        OpPayload::AdoptModule { manifest_toml, tables_toml } => {
            let out = w.out().u8(tag::ADOPT_MODULE).str(manifest_toml);
            encode_option(out, tables_toml.as_deref(), |out, text| {
                out.str(text);
            });
        }
        OpPayload::CreateEntity { entity, initial_table } => {
            w.out().u8(tag::CREATE_ENTITY);
            w.id(entity.as_bytes());
            match initial_table {
                Some(table) => {
                    w.out().u8(1);
                    w.name(table.as_str());
                }
                None => {
                    w.out().u8(0);
                }
            }
        }
        OpPayload::DeleteEntity { entity, cascade_edges } => {
            w.out().u8(tag::DELETE_ENTITY);
            w.id(entity.as_bytes());
            encode_ids(w, cascade_edges.iter().map(EdgeId::as_bytes));
        }
        OpPayload::RestoreEntity { entity, restore_edges } => {
            w.out().u8(tag::RESTORE_ENTITY);
            w.id(entity.as_bytes());
            encode_ids(w, restore_edges.iter().map(EdgeId::as_bytes));
        }
        OpPayload::SetField { entity, field, value, replaces } => {
            w.out().u8(tag::SET_FIELD);
            w.id(entity.as_bytes());
            w.name(field.as_str());
            encode_value(w.out(), value);
            encode_ids(w, replaces.iter().map(OpId::as_bytes));
        }
        OpPayload::ClearField { entity, field, replaces } => {
            w.out().u8(tag::CLEAR_FIELD);
            w.id(entity.as_bytes());
            w.name(field.as_str());
            encode_ids(w, replaces.iter().map(OpId::as_bytes));
        }
        OpPayload::AddToTable { entity, table } => {
            w.out().u8(tag::ADD_TO_TABLE);
            w.id(entity.as_bytes());
            w.name(table.as_str());
        }
        OpPayload::RemoveFromTable { entity, table, handling } => {
            w.out().u8(tag::REMOVE_FROM_TABLE);
            w.id(entity.as_bytes());
            w.name(table.as_str());
            w.out().bool(*handling == DataHandling::Discard);
        }
        OpPayload::RestoreFacet { entity, table, from_op } => {
            w.out().u8(tag::RESTORE_FACET);
            w.id(entity.as_bytes());
            w.name(table.as_str());
            w.id(from_op.as_bytes());
        }
        OpPayload::CreateEdge { edge, edge_type, source, target, properties } => {
            w.out().u8(tag::CREATE_EDGE);
            w.id(edge.as_bytes());
            w.name(edge_type.as_str());
            w.id(source.as_bytes());
            w.id(target.as_bytes());
            w.out().varint(properties.len() as u64);
            for (name, value) in properties {
                w.name(name);
                encode_value(w.out(), value);
            }
        }
        OpPayload::DeleteEdge { edge } => {
            w.out().u8(tag::DELETE_EDGE);
            w.id(edge.as_bytes());
        }
        OpPayload::RestoreEdge { edge } => {
            w.out().u8(tag::RESTORE_EDGE);
            w.id(edge.as_bytes());
        }
        OpPayload::SetEdgeProperty { edge, property, value, replaces } => {
            w.out().u8(tag::SET_EDGE_PROPERTY);
            w.id(edge.as_bytes());
            w.name(property);
            encode_option(w.out(), value.as_ref(), encode_value);
            encode_ids(w, replaces.iter().map(OpId::as_bytes));
        }
        OpPayload::LinkTables { source, target } => {
            w.out().u8(tag::LINK_TABLES);
            w.name(source.as_str());
            w.name(target.as_str());
        }
        OpPayload::UnlinkTables { source, target } => {
            w.out().u8(tag::UNLINK_TABLES);
            w.name(source.as_str());
            w.name(target.as_str());
        }
        OpPayload::ConfirmMapping { shared_key, fields } => {
            w.out().u8(tag::CONFIRM_MAPPING).str(shared_key);
            encode_field_keys(w, fields);
        }
        OpPayload::RejectMapping { shared_key, fields } => {
            w.out().u8(tag::REJECT_MAPPING).str(shared_key);
            encode_field_keys(w, fields);
        }
        OpPayload::RevokeMapping { mapping } => {
            w.out().u8(tag::REVOKE_MAPPING);
            w.id(mapping.as_bytes());
        }
        OpPayload::MergeEntities { first, second } => {
            w.out().u8(tag::MERGE_ENTITIES);
            w.id(first.as_bytes());
            w.id(second.as_bytes());
        }
        OpPayload::ResolveConflict { entity, field, value, resolves, supersedes } => {
            w.out().u8(tag::RESOLVE_CONFLICT);
            w.id(entity.as_bytes());
            w.name(field.as_str());
            encode_option(w.out(), value.as_ref(), encode_value);
            encode_ids(w, resolves.iter().map(OpId::as_bytes));
            match supersedes {
                Some(op) => {
                    w.out().u8(1);
                    w.id(op.as_bytes());
                }
                None => {
                    w.out().u8(0);
                }
            }
        }
        OpPayload::SplitEntity { source, into, tables } => {
            w.out().u8(tag::SPLIT_ENTITY);
            w.id(source.as_bytes());
            w.id(into.as_bytes());
            w.out().varint(tables.len() as u64);
            for table in tables {
                w.name(table.as_str());
            }
        }
        OpPayload::SetJoinMode { mode } => {
            w.out().u8(tag::SET_JOIN_MODE).u8(mode.tag());
        }
        OpPayload::CreateAccessKey { code, expires, max_uses } => {
            let out = w.out().u8(tag::CREATE_ACCESS_KEY).str(code).fixed(&expires.to_bytes());
            encode_option(out, *max_uses, |out, uses| {
                out.varint(u64::from(uses));
            });
        }
        OpPayload::RevokeAccessKey { key } => {
            w.out().u8(tag::REVOKE_ACCESS_KEY);
            w.id(key.as_bytes());
        }
        OpPayload::UseAccessKey { key, actor } => {
            w.out().u8(tag::USE_ACCESS_KEY);
            w.id(key.as_bytes());
            w.out().fixed(actor.as_bytes());
        }
        OpPayload::SetRecoveryKey { verifier } => {
            w.out().u8(tag::SET_RECOVERY_KEY).fixed(verifier);
        }
        OpPayload::Forked { new_workspace } => {
            w.out().u8(tag::FORKED).fixed(new_workspace.as_bytes());
        }
        OpPayload::ForkedFrom { source, source_hlc } => {
            w.out().u8(tag::FORKED_FROM).fixed(source.as_bytes()).fixed(&source_hlc.to_bytes());
        }
    }
}

pub(crate) fn decode_payload<'a>(r: &mut impl PayloadReader<'a>) -> Result<OpPayload, DecodeError> {
    let tag_offset = r.input().position();
    Ok(match r.input().u8("an operation type")? {
        tag::BOOTSTRAP => OpPayload::Bootstrap {
            workspace_name: r.input().str("a workspace name")?.to_owned(),
            owner_name: r.input().str("an owner name")?.to_owned(),
        },
        tag::ADMIT_ACTOR => OpPayload::AdmitActor {
            actor: ActorId::from_bytes(r.input().fixed("an actor id")?),
            display_name: r.input().str("a display name")?.to_owned(),
        },
        tag::ADOPT_MODULE => OpPayload::AdoptModule {
            manifest_toml: r.input().str("a module manifest")?.to_owned(),
            tables_toml: decode_option(r.input(), |input| Ok(input.str("a tables file")?.to_owned()))?,
        },
        tag::CREATE_ENTITY => OpPayload::CreateEntity {
            entity: decode_entity(r)?,
            initial_table: if r.input().bool("an optional value marker")? { Some(decode_table(r)?) } else { None },
        },
        tag::DELETE_ENTITY => {
            OpPayload::DeleteEntity { entity: decode_entity(r)?, cascade_edges: decode_ids(r, EdgeId::from_bytes)? }
        }
        tag::RESTORE_ENTITY => {
            OpPayload::RestoreEntity { entity: decode_entity(r)?, restore_edges: decode_ids(r, EdgeId::from_bytes)? }
        }
        tag::SET_FIELD => OpPayload::SetField {
            entity: decode_entity(r)?,
            field: decode_field_key(r)?,
            value: decode_value(r.input())?,
            replaces: decode_ids(r, OpId::from_bytes)?,
        },
        tag::CLEAR_FIELD => OpPayload::ClearField {
            entity: decode_entity(r)?,
            field: decode_field_key(r)?,
            replaces: decode_ids(r, OpId::from_bytes)?,
        },
        tag::ADD_TO_TABLE => OpPayload::AddToTable { entity: decode_entity(r)?, table: decode_table(r)? },
        tag::REMOVE_FROM_TABLE => OpPayload::RemoveFromTable {
            entity: decode_entity(r)?,
            table: decode_table(r)?,
            handling: if r.input().bool("a data handling flag")? {
                DataHandling::Discard
            } else {
                DataHandling::Preserve
            },
        },
        tag::RESTORE_FACET => OpPayload::RestoreFacet {
            entity: decode_entity(r)?,
            table: decode_table(r)?,
            from_op: OpId::from_bytes(r.id("an operation id")?),
        },
        tag::CREATE_EDGE => {
            let edge = decode_edge(r)?;
            let edge_type = r.name::<EdgeType>("an edge type")?;
            let (source, target) = (decode_entity(r)?, decode_entity(r)?);
            let count = r.input().length(1 + MIN_ENCODED_VALUE, "a list of values")?;
            let properties = (0..count)
                .map(|_| Ok((r.name::<String>("a property name")?, decode_value(r.input())?)))
                .collect::<Result<_, DecodeError>>()?;
            OpPayload::CreateEdge { edge, edge_type, source, target, properties }
        }
        tag::DELETE_EDGE => OpPayload::DeleteEdge { edge: decode_edge(r)? },
        tag::RESTORE_EDGE => OpPayload::RestoreEdge { edge: decode_edge(r)? },
        tag::SET_EDGE_PROPERTY => OpPayload::SetEdgeProperty {
            edge: decode_edge(r)?,
            property: r.name::<String>("a property name")?,
            value: decode_option(r.input(), decode_value)?,
            replaces: decode_ids(r, OpId::from_bytes)?,
        },
        tag::LINK_TABLES => OpPayload::LinkTables { source: decode_table(r)?, target: decode_table(r)? },
        tag::UNLINK_TABLES => OpPayload::UnlinkTables { source: decode_table(r)?, target: decode_table(r)? },
        tag::CONFIRM_MAPPING => OpPayload::ConfirmMapping {
            shared_key: r.input().str("a shared key")?.to_owned(),
            fields: decode_field_keys(r)?,
        },
        tag::REJECT_MAPPING => OpPayload::RejectMapping {
            shared_key: r.input().str("a shared key")?.to_owned(),
            fields: decode_field_keys(r)?,
        },
        tag::REVOKE_MAPPING => OpPayload::RevokeMapping { mapping: OpId::from_bytes(r.id("an operation id")?) },
        tag::MERGE_ENTITIES => OpPayload::MergeEntities { first: decode_entity(r)?, second: decode_entity(r)? },
        tag::RESOLVE_CONFLICT => OpPayload::ResolveConflict {
            entity: decode_entity(r)?,
            field: decode_field_key(r)?,
            value: decode_option(r.input(), decode_value)?,
            resolves: decode_ids(r, OpId::from_bytes)?,
            supersedes: if r.input().bool("an optional value marker")? {
                Some(OpId::from_bytes(r.id("an operation id")?))
            } else {
                None
            },
        },
        tag::SPLIT_ENTITY => {
            let source = decode_entity(r)?;
            let into = decode_entity(r)?;
            let count = r.input().length(1, "a list of tables")?;
            let tables = (0..count).map(|_| decode_table(r)).collect::<Result<_, _>>()?;
            OpPayload::SplitEntity { source, into, tables }
        }
        tag::SET_JOIN_MODE => {
            let offset = r.input().position();
            let mode = match r.input().u8("a join mode")? {
                0 => JoinMode::Open,
                1 => JoinMode::AccessKey,
                2 => JoinMode::Request,
                _ => return Err(DecodeError { offset, what: "a known join mode" }),
            };
            OpPayload::SetJoinMode { mode }
        }
        tag::CREATE_ACCESS_KEY => {
            let input = r.input();
            OpPayload::CreateAccessKey {
                code: input.str("an access key")?.to_owned(),
                expires: Hlc::from_bytes(input.fixed("an expiry clock")?),
                max_uses: decode_option(input, |input| {
                    let offset = input.position();
                    u32::try_from(input.varint("a number of uses")?)
                        .map_err(|_| DecodeError { offset, what: "a number of uses below 2^32" })
                })?,
            }
        }
        tag::REVOKE_ACCESS_KEY => OpPayload::RevokeAccessKey { key: OpId::from_bytes(r.id("an access key's id")?) },
        tag::USE_ACCESS_KEY => OpPayload::UseAccessKey {
            key: OpId::from_bytes(r.id("an access key's id")?),
            actor: ActorId::from_bytes(r.input().fixed("an actor id")?),
        },
        tag::SET_RECOVERY_KEY => OpPayload::SetRecoveryKey { verifier: r.input().fixed("a recovery key verifier")? },
        tag::FORKED => OpPayload::Forked { new_workspace: WorkspaceId::from_bytes(r.input().fixed("a workspace id")?) },
        tag::FORKED_FROM => OpPayload::ForkedFrom {
            source: WorkspaceId::from_bytes(r.input().fixed("a workspace id")?),
            source_hlc: Hlc::from_bytes(r.input().fixed("a clock")?),
        },
        _ => return Err(DecodeError { offset: tag_offset, what: "a known operation type" }),
    })
}

/// The fewest bytes any encoded value takes: a tag and a one-byte length or flag.
const MIN_ENCODED_VALUE: usize = 2;

pub(crate) fn encode_value(out: &mut Encoder, value: &Value) {
    match value {
        Value::String(text) => out.u8(tag::VALUE_STRING).str(text),
        Value::Number(number) => out.u8(tag::VALUE_NUMBER).f64(number.get()),
        Value::Boolean(flag) => out.u8(tag::VALUE_BOOLEAN).bool(*flag),
        Value::Timestamp(millis) => out.u8(tag::VALUE_TIMESTAMP).signed_varint(*millis),
        Value::Blob(hash) => out.u8(tag::VALUE_BLOB).fixed(hash),
    };
}

pub(crate) fn decode_value(input: &mut Decoder<'_>) -> Result<Value, DecodeError> {
    let offset = input.position();
    Ok(match input.u8("a value type")? {
        tag::VALUE_STRING => Value::String(input.str("a text value")?.to_owned()),
        tag::VALUE_NUMBER => {
            let raw = input.f64("a number")?;
            // Only the canonical form of a finite number is accepted.
            match Number::new(raw) {
                Ok(number) if number.get().to_bits() == raw.to_bits() => Value::Number(number),
                _ => return Err(DecodeError { offset, what: "a finite number" }),
            }
        }
        tag::VALUE_BOOLEAN => Value::Boolean(input.bool("a yes/no value")?),
        tag::VALUE_TIMESTAMP => Value::Timestamp(input.signed_varint("a timestamp")?),
        tag::VALUE_BLOB => Value::Blob(input.fixed("a blob hash")?),
        _ => return Err(DecodeError { offset, what: "a known value type" }),
    })
}

fn encode_option<T>(out: &mut Encoder, value: Option<T>, encode: impl FnOnce(&mut Encoder, T)) {
    match value {
        Some(value) => {
            out.u8(1);
            encode(out, value);
        }
        None => {
            out.u8(0);
        }
    }
}

fn decode_option<T>(
    input: &mut Decoder<'_>,
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    if input.bool("an optional value marker")? { decode(input).map(Some) } else { Ok(None) }
}

fn encode_ids<'a>(w: &mut impl PayloadWriter, ids: impl ExactSizeIterator<Item = &'a [u8; 16]>) {
    w.out().varint(ids.len() as u64);
    for id in ids {
        w.id(id);
    }
}

fn decode_ids<'a, T, R: PayloadReader<'a>>(r: &mut R, make: fn([u8; 16]) -> T) -> Result<Vec<T>, DecodeError> {
    let count = r.input().length(R::MIN_ID_BYTES, "a list of ids")?;
    (0..count).map(|_| r.id("an id").map(make)).collect()
}

fn encode_field_keys(w: &mut impl PayloadWriter, fields: &[FieldKey]) {
    w.out().varint(fields.len() as u64);
    for field in fields {
        w.name(field.as_str());
    }
}

fn decode_field_keys<'a>(r: &mut impl PayloadReader<'a>) -> Result<Vec<FieldKey>, DecodeError> {
    let count = r.input().length(1, "a list of fields")?;
    (0..count).map(|_| decode_field_key(r)).collect()
}

fn decode_entity<'a>(r: &mut impl PayloadReader<'a>) -> Result<EntityId, DecodeError> {
    r.id("an entity id").map(EntityId::from_bytes)
}

fn decode_edge<'a>(r: &mut impl PayloadReader<'a>) -> Result<EdgeId, DecodeError> {
    r.id("an edge id").map(EdgeId::from_bytes)
}

fn decode_table<'a>(r: &mut impl PayloadReader<'a>) -> Result<TableId, DecodeError> {
    r.name("a table name (module.table)")
}

fn decode_field_key<'a>(r: &mut impl PayloadReader<'a>) -> Result<FieldKey, DecodeError> {
    r.name("a field name (module.field)")
}
