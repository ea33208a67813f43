//! Taking in bundles from peers (or from storage on open).
//!
//! Per author, bundles are taken in chain order and checked as a run: hash
//! links plus the newest signature that holds, which vouches for every
//! bundle before it, so the good bundles before a bad one are kept. A
//! bundle is applied only after every check passed; a refused bundle leaves
//! no trace, and the ones after it in its author's chain wait for a resend.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use super::Workspace;
use crate::bundle::{ArrivedBundle, Bundle, Hash, Signatures, VerifyError, prove_run};
use crate::hlc::{FutureHlc, staleness};
use crate::identity::ActorId;
use crate::ids::{EntityId, OpId};
use crate::names::FieldKey;
use crate::op::OpPayload;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReceiveReport {
    /// Bundles applied, in the order they were applied.
    pub applied: Vec<(ActorId, u64)>,
    pub duplicates: usize,
    pub refused: Vec<RefusedBundle>,
    /// Operations applied but older than the stale threshold: shown to people, never dropped.
    pub stale: Vec<StaleOperation>,
    /// Someone edited another field of a record this device edited moments
    /// before: no conflict, but worth a glance (`spec/conflicts.md`).
    pub awareness: Vec<Awareness>,
}

impl ReceiveReport {
    /// Adds a later report's findings to this one.
    pub fn merge(&mut self, later: ReceiveReport) {
        self.applied.extend(later.applied);
        self.duplicates += later.duplicates;
        self.refused.extend(later.refused);
        self.stale.extend(later.stale);
        self.awareness.extend(later.awareness);
    }
}

/// "Alex also edited this record just now."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awareness {
    pub entity: EntityId,
    pub other: ActorId,
    pub their_field: FieldKey,
    pub my_field: FieldKey,
}

/// Edits this close together (by wall time) count as near-simultaneous.
const AWARENESS_WINDOW_MS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedBundle {
    pub author: ActorId,
    pub seq: u64,
    /// Tells this bundle apart from another copy with the same author and seq.
    pub digest: Hash,
    pub reason: Refusal,
    /// The refused copy itself, handed back: a caller may keep it until what
    /// it waits for arrives, or quarantine it.
    pub bundle: Bundle,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Forged, damaged, out of chain or from another workspace.
    Invalid(VerifyError),
    /// Its clock is too far ahead of ours; the sender should check its clock.
    FutureClock(FutureHlc),
    /// An earlier bundle of the same author was refused, so this one cannot be placed yet.
    AfterRefused { refused_seq: u64 },
}

impl Refusal {
    /// Whether the bundle may still be taken once what it waits for comes:
    /// an earlier bundle of its chain, or a later one carrying the signature
    /// that vouches for it. Every other refusal is final.
    pub fn may_wait(&self) -> bool {
        matches!(
            self,
            Refusal::AfterRefused { .. }
                | Refusal::Invalid(VerifyError::ChainGap { .. } | VerifyError::Unvouched { .. })
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Invalid(error) => write!(f, "{error}"),
            Refusal::FutureClock(error) => write!(f, "{error}"),
            Refusal::AfterRefused { refused_seq } => write!(f, "waits for change #{refused_seq}, which was refused"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleOperation {
    pub op: OpId,
    pub author: ActorId,
    pub age_ms: u64,
}

/// Of a run taken from a file, whose signatures are not all checked, the
/// signature of every bundle whose seq is a multiple of this is checked and
/// kept.
const KEEP_A_SIGNATURE_EVERY: u64 = 256;

/// Whether received clocks are checked against the drift bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// From a peer: clocks too far ahead are refused (`spec/hlc.md`).
    Peer,
    /// From this device's own storage: accepted once already, so a clock
    /// wound back since must not refuse them.
    Storage,
}

impl Workspace {
    /// Verifies and applies bundles from a peer (any order, duplicates
    /// allowed). Every signature they carry is checked, and kept.
    pub fn receive(&mut self, bundles: Vec<impl Into<ArrivedBundle>>, now_ms: u64) -> ReceiveReport {
        self.receive_from(bundles, now_ms, Origin::Peer, Signatures::Every)
    }

    /// Like [`Workspace::receive`], for bundles read from a workspace file,
    /// where every bundle is signed: a run is proven by its newest signature
    /// that holds, and the signatures before it are not kept (unchecked),
    /// but for one every [`KEEP_A_SIGNATURE_EVERY`] bundles of the chain,
    /// which is checked.
    pub fn import(&mut self, bundles: Vec<Bundle>, now_ms: u64) -> ReceiveReport {
        self.receive_from(bundles, now_ms, Origin::Peer, Signatures::Newest)
    }

    pub(super) fn receive_from(
        &mut self,
        bundles: Vec<impl Into<ArrivedBundle>>,
        now_ms: u64,
        origin: Origin,
        signatures: Signatures,
    ) -> ReceiveReport {
        let mut report = ReceiveReport::default();
        let mut by_author: BTreeMap<ActorId, Vec<ArrivedBundle>> = BTreeMap::new();
        for bundle in bundles {
            let bundle = bundle.into();
            by_author.entry(bundle.bundle().header.author).or_default().push(bundle);
        }
        for (author, mut chain) in by_author {
            // Of several copies of one seq, a signed one first: it can vouch.
            chain.sort_by_key(|arrived| (arrived.bundle().header.seq, arrived.bundle().signature.is_none()));
            let received = chain.len();
            chain.dedup_by(|later, earlier| {
                let (later, earlier) = (later.bundle(), earlier.bundle());
                later.header.seq == earlier.header.seq && later.digest() == earlier.digest()
            });
            report.duplicates += received - chain.len();
            self.receive_chain(author, chain, now_ms, (origin, signatures), &mut report);
        }
        report
    }

    fn receive_chain(
        &mut self,
        author: ActorId,
        chain: Vec<ArrivedBundle>,
        now_ms: u64,
        (origin, signatures): (Origin, Signatures),
        report: &mut ReceiveReport,
    ) {
        // In seq order; a seq may come in several copies (a forgery racing
        // the genuine one), which are tried one after the other.
        let mut queue: VecDeque<ArrivedBundle> = chain.into();
        while let Some(first) = queue.front() {
            let held_up_to = self.log.tip(&author).map_or(0, |tip| tip.seq);
            if first.bundle().header.seq <= held_up_to {
                let bundle = queue.pop_front().expect("looked at just above");
                self.take_copy_of_held(bundle.into_bundle(), signatures, report);
                continue;
            }
            let run_len = 1 + queue
                .iter()
                .zip(queue.iter().skip(1))
                .take_while(|(earlier, later)| later.bundle().header.seq == earlier.bundle().header.seq + 1)
                .count();
            let run = &queue.make_contiguous()[..run_len];
            let proof = prove_run(run, self.log.tip(&author), self.id, signatures);
            // From outside, a signature that was not checked is not kept;
            // one every few hundred bundles is checked and kept, so that a
            // catch-up sent from this log can be cut into parts of about that
            // size (a part ends at a signed bundle).
            let unchecked_dropped = origin == Origin::Peer && signatures == Signatures::Newest;
            let mut refused = false;
            for index in 0..proof.proven {
                let mut bundle = queue.pop_front().expect("within the run").into_bundle();
                if unchecked_dropped && index + 1 < proof.proven && !bundle.header.hash_covers_signature() {
                    let spaced = bundle.header.seq.is_multiple_of(KEEP_A_SIGNATURE_EVERY);
                    if !spaced || bundle.verify_signature().is_err() {
                        bundle.signature = None;
                    }
                }
                if let Err(reason) = self.check_one(&bundle, now_ms, origin) {
                    let seq = bundle.header.seq;
                    refuse(report, bundle, reason);
                    self.refuse_after(seq, &mut queue, report);
                    refused = true;
                    break;
                }
                let hash = proof.hashes[index];
                self.apply_bundle(author, (bundle, hash), now_ms, origin, report);
            }
            if refused || proof.proven == run_len {
                continue;
            }
            let fault_at = proof.fault.as_ref().map_or(run_len, |(index, _)| *index);
            for bundle in queue.drain(..fault_at - proof.proven).map(ArrivedBundle::into_bundle) {
                let seq = bundle.header.seq;
                refuse(report, bundle, Refusal::Invalid(VerifyError::Unvouched { seq }));
            }
            if let Some((_, error)) = proof.fault {
                let bundle = queue.pop_front().expect("the bundle at fault").into_bundle();
                let seq = bundle.header.seq;
                refuse(report, bundle, Refusal::Invalid(error));
                self.refuse_after(seq, &mut queue, report);
            }
        }
    }

    /// A bundle whose seq this device holds: a copy, or another version
    /// (a forked chain only if its author really signed it; otherwise a forged copy).
    fn take_copy_of_held(&mut self, bundle: Bundle, signatures: Signatures, report: &mut ReceiveReport) {
        match self.log.check(&bundle) {
            Ok(_) => match self.log.get(&bundle.header.author, bundle.header.seq).map(|held| held.signature.clone()) {
                // From a peer, a signature other than the one held (if any)
                // must hold too: a relay that damages signatures is reported.
                // From a file, a signature that is not kept is not checked,
                // a copy's no more than a new bundle's: importing again a file
                // whose changes are all here checked every one of them.
                Some(held)
                    if signatures == Signatures::Every && bundle.signature.is_some() && bundle.signature != held =>
                {
                    match bundle.verify_signature() {
                        Ok(()) => report.duplicates += 1,
                        Err(error) => refuse(report, bundle, Refusal::Invalid(error)),
                    }
                }
                _ => report.duplicates += 1,
            },
            Err(VerifyError::Fork { seq }) => {
                let error = bundle.verify(self.id).err().unwrap_or(VerifyError::Fork { seq });
                refuse(report, bundle, Refusal::Invalid(error));
            }
            Err(error) => refuse(report, bundle, Refusal::Invalid(error)),
        }
    }

    /// `refused_seq` was refused: later bundles wait for it, unless another
    /// copy of it is still to be tried.
    fn refuse_after(&self, refused_seq: u64, queue: &mut VecDeque<ArrivedBundle>, report: &mut ReceiveReport) {
        if queue.front().is_some_and(|next| next.bundle().header.seq == refused_seq) {
            return;
        }
        for bundle in queue.drain(..).map(ArrivedBundle::into_bundle) {
            refuse(report, bundle, Refusal::AfterRefused { refused_seq });
        }
    }

    fn apply_bundle(
        &mut self,
        author: ActorId,
        (bundle, hash): (Bundle, Hash),
        now_ms: u64,
        origin: Origin,
        report: &mut ReceiveReport,
    ) {
        let seq = bundle.header.seq;
        for op in &bundle.ops {
            if origin == Origin::Peer
                && let Some(age_ms) = staleness(op.hlc, now_ms, self.clock.config())
            {
                report.stale.push(StaleOperation { op: op.id, author, age_ms });
            }
            if origin == Origin::Peer && author != self.actor() {
                report.awareness.extend(self.awareness_of(author, op, now_ms));
            }
            self.state.apply(author, op);
        }
        // `check_one` found it new just before.
        self.log.append_new(bundle, hash);
        report.applied.push((author, seq));
    }

    /// A live edit by `author` next to one of ours on the same record.
    fn awareness_of(&self, author: ActorId, op: &crate::op::Operation, now_ms: u64) -> Option<Awareness> {
        let (OpPayload::SetField { entity, field, .. } | OpPayload::ClearField { entity, field, .. }) = &op.payload
        else {
            return None;
        };
        // Only live edits: catching up on old work is not "just now".
        if now_ms.abs_diff(op.hlc.wall()) > 5 * AWARENESS_WINDOW_MS {
            return None;
        }
        let me = self.actor();
        let wall = op.hlc.wall();
        // Most received writes land on records this device did not just
        // change; a catch-up would otherwise read every field of each.
        if !self.state.touched_by_within(
            *entity,
            me,
            wall.saturating_sub(AWARENESS_WINDOW_MS)..=wall + AWARENESS_WINDOW_MS,
        ) {
            return None;
        }
        let their_group = self.state.field_group(field);
        let my_field =
            self.state.written_fields(*entity).into_iter().filter(|key| !their_group.contains(key)).find(|key| {
                self.state.field_history(*entity, key).iter().any(|write| {
                    write.stamp.actor == me && write.stamp.hlc.wall().abs_diff(op.hlc.wall()) <= AWARENESS_WINDOW_MS
                })
            })?;
        Some(Awareness { entity: self.state.resolve(*entity), other: author, their_field: field.clone(), my_field })
    }

    /// Everything a bundle whose run is proven must pass before it is applied.
    fn check_one(&mut self, bundle: &Bundle, now_ms: u64, origin: Origin) -> Result<(), Refusal> {
        if let Err(error) = self.log.check(bundle) {
            return Err(Refusal::Invalid(error));
        }
        match origin {
            Origin::Peer => self.clock.receive(bundle.header.hlc, now_ms).map_err(Refusal::FutureClock),
            Origin::Storage => {
                self.clock.witness(bundle.header.hlc);
                Ok(())
            }
        }
    }
}

pub(super) fn refuse(report: &mut ReceiveReport, bundle: Bundle, reason: Refusal) {
    report.refused.push(RefusedBundle {
        author: bundle.header.author,
        seq: bundle.header.seq,
        digest: bundle.digest(),
        reason,
        bundle,
    });
}
