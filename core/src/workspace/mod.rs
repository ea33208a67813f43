//! A workspace as one device holds it: its log, its state, its clock and
//! this device's identity — the engine's top-level state machine.
//!
//! Inputs come in as method calls with the current time (and, for new ids,
//! an [`Entropy`]); outputs are returned values: bundles to persist and
//! offer to peers, reports of what was received. No I/O happens here.

mod burst;
mod change;
mod error;
mod fork;
mod receive;
mod undo;

pub use burst::Burst;
pub use change::Change;
pub use error::EditError;
pub use fork::{Fork, ITEMS_PER_FORK_BUNDLE};
pub use receive::{Awareness, ReceiveReport, Refusal, RefusedBundle, StaleOperation};
pub use undo::UndoOutcome;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bundle::{ArrivedBundle, Bundle, Hash, ModuleVersions};
use crate::entropy::Entropy;
use crate::hlc::{ClockConfig, HlcClock};
use crate::identity::{ActorId, Identity};
use crate::ids::{OpId, WorkspaceId};
use crate::log::{Appended, OpLog};
use crate::op::{OpPayload, Operation};
use crate::schema::ModuleVersion;
use crate::state::{State, StateHasher};

pub struct Restored {
    pub workspace: Workspace,
    pub report: ReceiveReport,
}

/// A workspace being reopened from storage a slice at a time, so a driver
/// can yield to its event loop between slices: [`Opening::feed`] takes the
/// stored bundles in the order they were stored, in as many calls as suits.
/// The state is rebuilt from the whole log (see ARCHITECTURE.md on why no
/// snapshot of it is kept).
pub struct Opening {
    workspace: Workspace,
    report: ReceiveReport,
    /// Bundles that a later stored bundle vouches for (or follows), kept
    /// until it is fed: a driver may cut the log anywhere.
    waiting: Vec<Bundle>,
    /// Chains stopped at a bundle refused for good (damage on this device):
    /// that seq, and the chain's later bundles, set aside rather than fed
    /// again with every piece (which cost the square of their number) until
    /// another copy of the missing part comes, as a retried write leaves.
    stopped: BTreeMap<ActorId, Stopped>,
}

struct Stopped {
    refused_seq: u64,
    after: Vec<Bundle>,
}

impl Opening {
    pub fn new(id: WorkspaceId, identity: Identity, now_ms: u64, config: ClockConfig) -> Opening {
        let workspace = Workspace::empty(id, identity, now_ms, config);
        Opening { workspace, report: ReceiveReport::default(), waiting: Vec::new(), stopped: BTreeMap::new() }
    }

    /// Checks, logs and applies the next stored bundles.
    /// Each author's bundles must come in the order they were stored, which
    /// is chain order: storage appends what was applied, as it was applied.
    /// The log may be fed in pieces cut anywhere: a bundle whose signature
    /// is on a later bundle waits for it.
    pub fn feed(&mut self, bundles: Vec<impl Into<ArrivedBundle>>, now_ms: u64) {
        let arrived: Vec<ArrivedBundle> = bundles.into_iter().map(Into::into).collect();
        let mut batch: Vec<ArrivedBundle> = std::mem::take(&mut self.waiting).into_iter().map(Into::into).collect();
        for bundle in &arrived {
            let header = &bundle.bundle().header;
            if self.stopped.get(&header.author).is_some_and(|stopped| header.seq <= stopped.refused_seq) {
                let resumed = self.stopped.remove(&header.author).expect("looked at just above");
                batch.extend(resumed.after.into_iter().map(ArrivedBundle::from));
            }
        }
        for bundle in arrived {
            let header = &bundle.bundle().header;
            match self.stopped.get_mut(&header.author) {
                Some(stopped) => stopped.after.push(bundle.into_bundle()),
                None => batch.push(bundle),
            }
        }
        let report =
            self.workspace.receive_from(batch, now_ms, receive::Origin::Storage, crate::bundle::Signatures::Newest);
        self.set_aside(report);
    }

    /// Keeps what may yet be taken, and stops a chain at a bundle refused
    /// for good that it has not got past.
    fn set_aside(&mut self, mut report: ReceiveReport) {
        let (waiting, refused): (Vec<RefusedBundle>, _) =
            report.refused.into_iter().partition(|refused| refused.reason.may_wait());
        report.refused = refused;
        for refused in &report.refused {
            let reached = self.workspace.log.tip(&refused.author).map_or(0, |tip| tip.seq);
            if refused.seq > reached {
                let stopped = self
                    .stopped
                    .entry(refused.author)
                    .or_insert(Stopped { refused_seq: refused.seq, after: Vec::new() });
                stopped.refused_seq = stopped.refused_seq.min(refused.seq);
            }
        }
        for refused in waiting {
            match self.stopped.get_mut(&refused.author) {
                Some(stopped) if refused.seq > stopped.refused_seq => stopped.after.push(refused.bundle),
                _ => self.waiting.push(refused.bundle),
            }
        }
        self.report.merge(report);
    }

    /// How many bundles are in so far: for a progress bar.
    pub fn bundles_loaded(&self) -> usize {
        self.workspace.log.len()
    }

    pub fn finish(mut self) -> Restored {
        // Nothing later came to vouch for them: the stored log ends unproven.
        for bundle in std::mem::take(&mut self.waiting) {
            let seq = bundle.header.seq;
            receive::refuse(&mut self.report, bundle, Refusal::Invalid(crate::bundle::VerifyError::Unvouched { seq }));
        }
        for Stopped { refused_seq, after } in std::mem::take(&mut self.stopped).into_values() {
            for bundle in after {
                receive::refuse(&mut self.report, bundle, Refusal::AfterRefused { refused_seq });
            }
        }
        Restored { workspace: self.workspace, report: self.report }
    }
}

/// The workspace changed while work over it was being done step by step;
/// the work must start again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceChanged;

/// The state hash being computed step by step, so that a driver can yield
/// between steps; it is remembered by the state, as [`State::state_hash`]
/// remembers it.
pub struct StateHashInProgress {
    /// Every change appends to the log: a longer log is a changed state.
    log_len: usize,
    hasher: StateHasher,
}

impl StateHashInProgress {
    /// Hashes up to `records` more records of `workspace`, the one the hash
    /// began on. Returns the hash once complete.
    pub fn step(&mut self, workspace: &Workspace, records: usize) -> Result<Option<Hash>, WorkspaceChanged> {
        if workspace.log.len() != self.log_len {
            return Err(WorkspaceChanged);
        }
        if let Some(known) = workspace.state.known_state_hash() {
            return Ok(Some(known));
        }
        let hash = self.hasher.step(&workspace.state, records);
        if let Some(hash) = hash {
            workspace.state.remember_state_hash(hash);
        }
        Ok(hash)
    }
}

pub struct Workspace {
    id: WorkspaceId,
    identity: Identity,
    clock: HlcClock,
    log: OpLog,
    state: State,
    history: undo::UndoHistory,
    last_module_versions: LastModuleVersions,
    /// How many of the log's newest bundles (this device's) are still to be
    /// signed: only ever more than none inside a [`Burst`] or a fork.
    unsigned: usize,
}

/// When a bundle this device makes is signed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signing {
    /// As it is made, as a change on its own is.
    Now,
    /// Together with the others made in the same go
    /// ([`Workspace::sign_unsigned`]), before any leaves the engine.
    Later,
}

/// Bundles signed together at most: enough for all the saving
/// ([`Identity::sign_each`]), and the headers, nonces and points of at most
/// that many held at once, however many wait.
const SIGNED_TOGETHER: usize = 256;

/// The module versions of the last bundle this device signed, shared with
/// the next while it names the same modules at the same versions: a local
/// edit would otherwise write out the names and versions anew each time.
#[derive(Default)]
struct LastModuleVersions {
    modules: Vec<(String, ModuleVersion)>,
    shared: ModuleVersions,
}

impl LastModuleVersions {
    /// A header's module versions for `current` (sorted by module, each once).
    fn of(&mut self, current: &[(&str, ModuleVersion)]) -> ModuleVersions {
        let unchanged = self.modules.len() == current.len()
            && self
                .modules
                .iter()
                .zip(current)
                .all(|((name, version), (now, now_version))| name == now && version == now_version);
        if !unchanged {
            self.modules = current.iter().map(|&(name, version)| (name.to_owned(), version)).collect();
            self.shared = current.iter().map(|(name, version)| ((*name).to_owned(), version.to_string())).collect();
        }
        Arc::clone(&self.shared)
    }
}

impl Workspace {
    /// Starts a new workspace owned by `identity`. The returned bundle (the
    /// workspace's first) must be persisted like any other.
    pub fn create(
        identity: Identity,
        name: &str,
        owner_name: &str,
        now_ms: u64,
        entropy: &mut dyn Entropy,
    ) -> (Workspace, Bundle) {
        let mut random = [0u8; crate::ids::UUID_RANDOM_BYTES];
        entropy.fill(&mut random);
        let id = WorkspaceId::new_v7(now_ms, random);
        let mut workspace = Workspace::empty(id, identity, now_ms, ClockConfig::default());
        let op = Operation {
            id: workspace.next_op_id(0, now_ms),
            hlc: workspace.clock.tick(now_ms),
            payload: OpPayload::Bootstrap { workspace_name: name.to_owned(), owner_name: owner_name.to_owned() },
        };
        let (bundle, hash) = Bundle::sign_hashed(&workspace.identity, id, None, ModuleVersions::default(), vec![op]);
        workspace.accept_own(bundle.clone(), hash, undo::Step::Edit);
        workspace.history.clear();
        (workspace, bundle)
    }

    /// A workspace this device knows only by id, before any sync.
    pub fn empty(id: WorkspaceId, identity: Identity, now_ms: u64, config: ClockConfig) -> Workspace {
        Workspace {
            id,
            identity,
            clock: HlcClock::new(now_ms, config),
            log: OpLog::new(),
            state: State::new(),
            history: undo::UndoHistory::default(),
            last_module_versions: LastModuleVersions::default(),
            unsigned: 0,
        }
    }

    /// Rebuilds a workspace from its stored bundles, checking every one.
    pub fn open(
        id: WorkspaceId,
        identity: Identity,
        bundles: Vec<Bundle>,
        now_ms: u64,
        config: ClockConfig,
    ) -> (Workspace, ReceiveReport) {
        let mut opening = Opening::new(id, identity, now_ms, config);
        opening.feed(bundles, now_ms);
        let restored = opening.finish();
        (restored.workspace, restored.report)
    }

    /// Starts computing the state hash a few records at a time
    /// ([`StateHashInProgress::step`]).
    pub fn begin_state_hash(&self) -> StateHashInProgress {
        StateHashInProgress { log_len: self.log.len(), hasher: StateHasher::new() }
    }

    pub fn id(&self) -> WorkspaceId {
        self.id
    }

    pub fn actor(&self) -> ActorId {
        self.identity.actor_id()
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn log(&self) -> &OpLog {
        &self.log
    }

    pub fn clock(&self) -> &HlcClock {
        &self.clock
    }

    /// Begins a local edit. Nothing changes until [`Change::commit`].
    pub fn change<'w>(&'w mut self, now_ms: u64, entropy: &'w mut dyn Entropy) -> Change<'w> {
        Change::new(self, now_ms, entropy)
    }

    /// Gives each of `payloads` its op id, then signs and applies them as
    /// this device's next bundle.
    fn commit_new_payloads(&mut self, payloads: Vec<OpPayload>, now_ms: u64, step: undo::Step) -> Bundle {
        self.commit_new_payloads_signing(payloads, now_ms, step, Signing::Now);
        self.newest_bundle().clone()
    }

    fn commit_new_payloads_signing(
        &mut self,
        payloads: Vec<OpPayload>,
        now_ms: u64,
        step: undo::Step,
        signing: Signing,
    ) {
        let payloads = payloads
            .into_iter()
            .enumerate()
            .map(|(index, payload)| (self.next_op_id(index, now_ms), payload))
            .collect();
        self.commit_payloads(payloads, now_ms, step, signing);
    }

    /// The id of operation `index` of this device's next bundle, made at
    /// `now_ms` ([`OpId::derived`]).
    fn next_op_id(&self, index: usize, now_ms: u64) -> OpId {
        let actor = self.actor();
        let seq = self.log.tip(&actor).map_or(1, |tip| tip.seq + 1);
        OpId::derived(&actor, seq, index, now_ms)
    }

    /// Makes `payloads` (with their op ids) this device's next bundle and
    /// applies it; signed now, or left to [`Workspace::sign_unsigned`].
    fn commit_payloads(&mut self, payloads: Vec<(OpId, OpPayload)>, now_ms: u64, step: undo::Step, signing: Signing) {
        let ops: Vec<Operation> =
            payloads.into_iter().map(|(id, payload)| Operation { id, hlc: self.clock.tick(now_ms), payload }).collect();
        let mut modules: Vec<&str> = Vec::new();
        for op in &ops {
            modules.extend(op.payload.modules());
            // Edge operations name the edge only: its type says which module's schema applies.
            if let OpPayload::SetEdgeProperty { edge, .. }
            | OpPayload::DeleteEdge { edge }
            | OpPayload::RestoreEdge { edge } = &op.payload
                && let Some(definition) = self.state.edge_definition(*edge)
            {
                modules.push(definition.edge_type.module());
            }
        }
        modules.sort_unstable();
        modules.dedup();
        let versions: Vec<(&str, ModuleVersion)> =
            modules.into_iter().filter_map(|name| Some((name, self.state.module(name)?.manifest.version))).collect();
        let module_versions = self.last_module_versions.of(&versions);
        let tip = self.log.tip(&self.actor());
        let (bundle, hash) = match signing {
            Signing::Now => {
                // Signing counts the newest bundles: one signed among them
                // would leave the oldest unsigned.
                assert_eq!(self.unsigned, 0, "a bundle signed now among bundles still to sign");
                Bundle::sign_hashed(&self.identity, self.id, tip, module_versions, ops)
            }
            Signing::Later => {
                self.unsigned += 1;
                Bundle::unsigned_hashed(self.actor(), self.id, tip, module_versions, ops)
            }
        };
        self.accept_own(bundle, hash, step);
    }

    /// Signs the bundles [`Signing::Later`] left unsigned, a few hundred at
    /// a time; how many there were.
    fn sign_unsigned(&mut self) -> usize {
        let unsigned = std::mem::take(&mut self.unsigned);
        let mut newest = self.log.newest_mut(unsigned);
        debug_assert_eq!(newest.len(), unsigned);
        for some in newest.chunks_mut(SIGNED_TOGETHER) {
            Bundle::sign_together(&self.identity, some);
        }
        unsigned
    }

    /// The bundle appended last: after a commit, this device's newest.
    fn newest_bundle(&self) -> &Bundle {
        self.log.bundle(self.log.len() - 1)
    }

    fn accept_own(&mut self, bundle: Bundle, hash: Hash, step: undo::Step) {
        let author = bundle.header.author;
        for op in &bundle.ops {
            self.state.apply(author, op);
        }
        self.history.record(bundle.header.seq, step);
        let appended = self.log.check(&bundle).expect("a bundle this device just signed extends its own chain");
        assert_eq!(appended, Appended::New, "a bundle this device just signed is new");
        self.log.append_new(bundle, hash);
    }
}
