//! Helpers shared by the integration tests: deterministic identities, ids,
//! operations and signed chains of bundles.
//!
//! Everything here is a pure function of its arguments, so a failing test
//! replays exactly.
#![allow(dead_code)]

use openprod_core::bundle::{Bundle, ChainTip};
use openprod_core::hlc::Hlc;
use openprod_core::identity::{ActorId, Identity};
use openprod_core::ids::{EdgeId, EntityId, OpId, UUID_RANDOM_BYTES, WorkspaceId};
use openprod_core::names::{EdgeType, FieldKey, TableId};
use openprod_core::op::{DataHandling, JoinMode, OpPayload, Operation};
use openprod_core::value::Value;

/// A fixed "now" for tests, in Unix milliseconds.
pub const NOW: u64 = 1_790_000_000_000;

/// The same identity for the same name, in every run and on every platform.
pub fn identity(name: &str) -> Identity {
    Identity::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}

pub fn actor(name: &str) -> ActorId {
    identity(name).actor_id()
}

pub fn workspace_id(n: u8) -> WorkspaceId {
    WorkspaceId::new_v7(NOW, [n; UUID_RANDOM_BYTES])
}

pub fn op_id(millis: u64, n: u8) -> OpId {
    OpId::new_v7(millis, [n; UUID_RANDOM_BYTES])
}

pub fn entity_id(n: u8) -> EntityId {
    EntityId::new_v7(NOW, [n; UUID_RANDOM_BYTES])
}

pub fn edge_id(n: u8) -> EdgeId {
    EdgeId::new_v7(NOW, [n; UUID_RANDOM_BYTES])
}

pub fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

pub fn number(value: f64) -> Value {
    Value::number(value).expect("a finite number")
}

/// An operation with a deterministic id and clock.
pub fn operation(id: OpId, hlc: Hlc, payload: OpPayload) -> Operation {
    Operation { id, hlc, payload }
}

/// A plain field write, the most common operation.
pub fn set_field(entity: EntityId, field: &str, value: Value) -> OpPayload {
    OpPayload::SetField { entity, field: FieldKey::new("contacts", field), value, replaces: Vec::new() }
}

/// The name of a payload's variant. The match has no wildcard arm, so adding
/// a variant to `OpPayload` fails to compile here until the samples cover it.
pub fn variant_name(payload: &OpPayload) -> &'static str {
    match payload {
        OpPayload::Bootstrap { .. } => "Bootstrap",
        OpPayload::AdmitActor { .. } => "AdmitActor",
        OpPayload::AdoptModule { .. } => "AdoptModule",
        OpPayload::CreateEntity { .. } => "CreateEntity",
        OpPayload::DeleteEntity { .. } => "DeleteEntity",
        OpPayload::RestoreEntity { .. } => "RestoreEntity",
        OpPayload::SetField { .. } => "SetField",
        OpPayload::ClearField { .. } => "ClearField",
        OpPayload::AddToTable { .. } => "AddToTable",
        OpPayload::RemoveFromTable { .. } => "RemoveFromTable",
        OpPayload::RestoreFacet { .. } => "RestoreFacet",
        OpPayload::CreateEdge { .. } => "CreateEdge",
        OpPayload::DeleteEdge { .. } => "DeleteEdge",
        OpPayload::RestoreEdge { .. } => "RestoreEdge",
        OpPayload::SetEdgeProperty { .. } => "SetEdgeProperty",
        OpPayload::LinkTables { .. } => "LinkTables",
        OpPayload::UnlinkTables { .. } => "UnlinkTables",
        OpPayload::ConfirmMapping { .. } => "ConfirmMapping",
        OpPayload::RejectMapping { .. } => "RejectMapping",
        OpPayload::RevokeMapping { .. } => "RevokeMapping",
        OpPayload::MergeEntities { .. } => "MergeEntities",
        OpPayload::ResolveConflict { .. } => "ResolveConflict",
        OpPayload::SplitEntity { .. } => "SplitEntity",
        OpPayload::SetJoinMode { .. } => "SetJoinMode",
        OpPayload::CreateAccessKey { .. } => "CreateAccessKey",
        OpPayload::RevokeAccessKey { .. } => "RevokeAccessKey",
        OpPayload::UseAccessKey { .. } => "UseAccessKey",
        OpPayload::SetRecoveryKey { .. } => "SetRecoveryKey",
        OpPayload::Forked { .. } => "Forked",
        OpPayload::ForkedFrom { .. } => "ForkedFrom",
    }
}

/// Every `OpPayload` variant name, for coverage checks.
pub const ALL_VARIANTS: [&str; 30] = [
    "Bootstrap",
    "AdmitActor",
    "AdoptModule",
    "CreateEntity",
    "DeleteEntity",
    "RestoreEntity",
    "SetField",
    "ClearField",
    "AddToTable",
    "RemoveFromTable",
    "RestoreFacet",
    "CreateEdge",
    "DeleteEdge",
    "RestoreEdge",
    "SetEdgeProperty",
    "LinkTables",
    "UnlinkTables",
    "ConfirmMapping",
    "RejectMapping",
    "RevokeMapping",
    "MergeEntities",
    "ResolveConflict",
    "SplitEntity",
    "SetJoinMode",
    "CreateAccessKey",
    "RevokeAccessKey",
    "UseAccessKey",
    "SetRecoveryKey",
    "Forked",
    "ForkedFrom",
];

/// One value of each kind, including the edges of each range.
pub fn sample_values() -> Vec<Value> {
    vec![
        text(""),
        text("Horatio"),
        text("Ophélie — 王子 🎭"),
        number(0.0),
        number(-1.5),
        number(f64::MAX),
        number(f64::MIN_POSITIVE),
        Value::Boolean(true),
        Value::Boolean(false),
        Value::Timestamp(0),
        Value::Timestamp(-1),
        Value::Timestamp(i64::MIN),
        Value::Timestamp(i64::MAX),
        Value::Blob([0xab; 32]),
    ]
}

/// Sample payloads of every variant, each optional part both present and
/// absent, lists both empty and full.
pub fn sample_payloads() -> Vec<OpPayload> {
    let contacts = TableId::new("contacts", "contacts");
    let crew = TableId::new("crew", "members");
    let email = FieldKey::new("contacts", "email");
    let name = FieldKey::new("crew", "display_name");
    let replaced = vec![op_id(NOW - 2, 1), op_id(NOW - 1, 2)];
    let mut payloads = vec![
        OpPayload::Bootstrap { workspace_name: "Hamlet".into(), owner_name: "Jane".into() },
        OpPayload::Bootstrap { workspace_name: String::new(), owner_name: "Zoë 🎬".into() },
        OpPayload::AdmitActor { actor: actor("alex"), display_name: "Alex".into() },
        OpPayload::AdoptModule {
            manifest_toml: "[module]\nname = \"contacts\"\nversion = \"1.0.0\"\n".into(),
            tables_toml: None,
        },
        OpPayload::AdoptModule { manifest_toml: "[module]".into(), tables_toml: Some("[table.x]".into()) },
        OpPayload::CreateEntity { entity: entity_id(1), initial_table: None },
        OpPayload::CreateEntity { entity: entity_id(2), initial_table: Some(contacts.clone()) },
        OpPayload::DeleteEntity { entity: entity_id(1), cascade_edges: Vec::new() },
        OpPayload::DeleteEntity { entity: entity_id(1), cascade_edges: vec![edge_id(1), edge_id(2)] },
        OpPayload::RestoreEntity { entity: entity_id(1), restore_edges: Vec::new() },
        OpPayload::RestoreEntity { entity: entity_id(1), restore_edges: vec![edge_id(3)] },
        OpPayload::ClearField { entity: entity_id(3), field: email.clone(), replaces: Vec::new() },
        OpPayload::ClearField { entity: entity_id(3), field: email.clone(), replaces: replaced.clone() },
        OpPayload::AddToTable { entity: entity_id(4), table: crew.clone() },
        OpPayload::RemoveFromTable { entity: entity_id(4), table: crew.clone(), handling: DataHandling::Preserve },
        OpPayload::RemoveFromTable { entity: entity_id(4), table: crew.clone(), handling: DataHandling::Discard },
        OpPayload::RestoreFacet { entity: entity_id(4), table: crew.clone(), from_op: op_id(NOW, 9) },
        OpPayload::CreateEdge {
            edge: edge_id(5),
            edge_type: EdgeType::new("crew", "works_on"),
            source: entity_id(5),
            target: entity_id(6),
            properties: Vec::new(),
        },
        OpPayload::CreateEdge {
            edge: edge_id(6),
            edge_type: EdgeType::new("crew", "works_on"),
            source: entity_id(5),
            target: entity_id(6),
            properties: sample_values().into_iter().enumerate().map(|(i, v)| (format!("p{i}"), v)).collect(),
        },
        OpPayload::DeleteEdge { edge: edge_id(5) },
        OpPayload::RestoreEdge { edge: edge_id(5) },
        OpPayload::SetEdgeProperty { edge: edge_id(5), property: "role".into(), value: None, replaces: Vec::new() },
        OpPayload::SetEdgeProperty {
            edge: edge_id(5),
            property: "role".into(),
            value: Some(text("Gravedigger")),
            replaces: replaced.clone(),
        },
        OpPayload::LinkTables { source: contacts.clone(), target: crew.clone() },
        OpPayload::UnlinkTables { source: contacts.clone(), target: crew.clone() },
        OpPayload::ConfirmMapping { shared_key: "name".into(), fields: vec![name.clone(), email.clone()] },
        OpPayload::ConfirmMapping { shared_key: String::new(), fields: Vec::new() },
        OpPayload::RejectMapping { shared_key: "name".into(), fields: vec![name.clone()] },
        OpPayload::RevokeMapping { mapping: op_id(NOW, 7) },
        OpPayload::MergeEntities { first: entity_id(7), second: entity_id(8) },
        OpPayload::ResolveConflict {
            entity: entity_id(9),
            field: email.clone(),
            value: None,
            resolves: Vec::new(),
            supersedes: None,
        },
        OpPayload::ResolveConflict {
            entity: entity_id(9),
            field: email.clone(),
            value: Some(text("jane@example.org")),
            resolves: replaced.clone(),
            supersedes: Some(op_id(NOW, 3)),
        },
        OpPayload::SplitEntity { source: entity_id(10), into: entity_id(11), tables: Vec::new() },
        OpPayload::SplitEntity { source: entity_id(10), into: entity_id(11), tables: vec![contacts, crew] },
        OpPayload::SetJoinMode { mode: JoinMode::Open },
        OpPayload::SetJoinMode { mode: JoinMode::AccessKey },
        OpPayload::SetJoinMode { mode: JoinMode::Request },
        OpPayload::CreateAccessKey { code: "K7XM4PQ9".into(), expires: Hlc::new(NOW + 3_600_000, 0), max_uses: None },
        OpPayload::CreateAccessKey { code: String::new(), expires: Hlc::new(u64::MAX >> 16, 7), max_uses: Some(20) },
        OpPayload::RevokeAccessKey { key: op_id(NOW, 4) },
        OpPayload::UseAccessKey { key: op_id(NOW, 4), actor: actor("sam") },
        OpPayload::SetRecoveryKey { verifier: [0x5a; 32] },
        OpPayload::Forked { new_workspace: workspace_id(9) },
        OpPayload::ForkedFrom { source: workspace_id(8), source_hlc: Hlc::new(NOW, 3) },
    ];
    for (index, value) in sample_values().into_iter().enumerate() {
        let replaces = if index % 2 == 0 { Vec::new() } else { replaced.clone() };
        payloads.push(OpPayload::SetField { entity: entity_id(12), field: email.clone(), value, replaces });
    }
    payloads
}

/// Sample payloads wrapped in operations with distinct ids and rising clocks.
pub fn sample_operations() -> Vec<Operation> {
    sample_payloads()
        .into_iter()
        .enumerate()
        .map(|(index, payload)| {
            operation(op_id(NOW + index as u64, index as u8), Hlc::new(NOW + index as u64, 0), payload)
        })
        .collect()
}

/// One author writing one chain of bundles. Op ids are derived from their
/// place, as the engine's are: the operations made since the last
/// [`Author::sign`] are the next bundle's, in order.
pub struct Author {
    pub identity: Identity,
    pub workspace: WorkspaceId,
    tip: Option<ChainTip>,
    ops_made: u64,
    /// Operations made for the next bundle so far.
    pending: usize,
    /// Wall time of this author's next operation.
    pub clock: u64,
}

impl Author {
    pub fn new(name: &str, workspace: WorkspaceId) -> Self {
        Author { identity: identity(name), workspace, tip: None, ops_made: 0, pending: 0, clock: NOW }
    }

    /// Starts this author's clock elsewhere, to interleave authors' operations.
    pub fn with_clock(mut self, clock: u64) -> Self {
        self.clock = clock;
        self
    }

    pub fn actor(&self) -> ActorId {
        self.identity.actor_id()
    }

    pub fn tip(&self) -> Option<ChainTip> {
        self.tip
    }

    /// The id of the next operation of the next bundle.
    pub fn next_op_id(&mut self) -> OpId {
        self.ops_made += 1;
        let seq = self.tip.map_or(1, |tip| tip.seq + 1);
        self.pending += 1;
        OpId::derived(&self.actor(), seq, self.pending - 1, NOW + self.ops_made)
    }

    /// The next operation with `payload`, one millisecond after the previous one.
    pub fn next_op(&mut self, payload: OpPayload) -> Operation {
        let id = self.next_op_id();
        let hlc = Hlc::new(self.clock, 0);
        self.clock += 1;
        operation(id, hlc, payload)
    }

    /// Signs `ops` as this author's next bundle.
    pub fn sign(&mut self, ops: Vec<Operation>) -> Bundle {
        let modules = module_versions_of(&ops);
        let bundle = Bundle::sign(&self.identity, self.workspace, self.tip, modules, ops);
        self.tip = Some(bundle.tip());
        self.pending = 0;
        bundle
    }

    /// The next bundle: one field write.
    pub fn next_bundle(&mut self) -> Bundle {
        let n = self.ops_made as u8;
        let op = self.next_op(set_field(entity_id(n), "full_name", text(&format!("take {n}"))));
        self.sign(vec![op])
    }

    /// `count` one-op bundles continuing this author's chain.
    pub fn one_op_bundles(&mut self, count: usize) -> Vec<Bundle> {
        (0..count).map(|_| self.next_bundle()).collect()
    }

    /// `count` one-op bundles continuing this author's chain, cycling through
    /// [`sample_payloads`] so that every payload kind is in the run.
    pub fn varied_bundles(&mut self, count: usize) -> Vec<Bundle> {
        let payloads = sample_payloads();
        (0..count)
            .map(|index| {
                let op = self.next_op(payloads[index % payloads.len()].clone());
                self.sign(vec![op])
            })
            .collect()
    }
}

/// The module versions a bundle of `ops` records: "1.0.0" for each module named.
pub fn module_versions_of(ops: &[Operation]) -> Vec<(String, String)> {
    let mut modules: Vec<(String, String)> =
        ops.iter().flat_map(|op| op.payload.modules()).map(|module| (module.to_owned(), "1.0.0".to_owned())).collect();
    modules.sort();
    modules.dedup();
    modules
}

/// A chain of `count` signed one-op bundles by `name`, starting at seq 1.
pub fn chain(name: &str, workspace: WorkspaceId, count: usize) -> Vec<Bundle> {
    Author::new(name, workspace).one_op_bundles(count)
}

/// Re-signs a bundle whose header was edited, with `identity`.
pub fn resign(mut bundle: Bundle, identity: &Identity) -> Bundle {
    bundle.signature = Some(identity.sign(&bundle.header.encoded()));
    bundle
}
