//! The oplog: every accepted bundle, in the order it arrived, with the
//! indexes sync and derivation need.
//!
//! Append order is reception order and never changes. Canonical order — by
//! (HLC, op id), identical on every peer holding the same bundles — is the
//! state's business ([`crate::state`]); the log only digests it.

use std::collections::{BTreeMap, HashMap};

use crate::bundle::{Bundle, ChainTip, Hash, VerifyError, check_link};
use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::OpId;

/// For each author, the highest bundle seq held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<ActorId, u64>);

impl VersionVector {
    pub fn new() -> Self {
        VersionVector::default()
    }

    pub fn get(&self, actor: &ActorId) -> u64 {
        self.0.get(actor).copied().unwrap_or(0)
    }

    pub fn set(&mut self, actor: ActorId, seq: u64) {
        self.0.insert(actor, seq);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ActorId, &u64)> {
        self.0.iter()
    }

    /// Whether this vector has seen everything `other` has.
    pub fn covers(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(actor, seq)| self.get(actor) >= *seq)
    }
}

/// Where an operation sits: bundle index in reception order, op index in the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpLocation {
    bundle: u32,
    op: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// New: its operations are now in the log.
    New,
    /// Already held (same author, seq and hash): nothing changed.
    Duplicate,
}

#[derive(Default)]
struct Chain {
    /// Reception index of the bundle with seq `i + 1`.
    bundles: Vec<u32>,
    tip: Option<ChainTip>,
}

/// Bundles in reception order, in chunks of a fixed capacity: appending
/// never moves the bundles already held. (A log of 100,000 bundles is some
/// 25 MB; doubling one vector of them copied it all in one long pause.)
#[derive(Default)]
struct Bundles {
    chunks: Vec<Vec<Bundle>>,
    len: usize,
}

const BUNDLES_PER_CHUNK: usize = 4_096;

impl Bundles {
    fn push(&mut self, bundle: Bundle) {
        if self.chunks.last().is_none_or(|chunk| chunk.len() == BUNDLES_PER_CHUNK) {
            self.chunks.push(Vec::with_capacity(BUNDLES_PER_CHUNK));
        }
        self.chunks.last_mut().expect("a chunk with room was just ensured").push(bundle);
        self.len += 1;
    }

    fn get(&self, index: usize) -> &Bundle {
        &self.chunks[index / BUNDLES_PER_CHUNK][index % BUNDLES_PER_CHUNK]
    }

    /// The `count` bundles pushed last, oldest first.
    fn newest_mut(&mut self, count: usize) -> Vec<&mut Bundle> {
        let mut newest: Vec<&mut Bundle> = Vec::with_capacity(count);
        for chunk in self.chunks.iter_mut().rev() {
            let wanted = count - newest.len();
            if wanted == 0 {
                break;
            }
            let from = chunk.len().saturating_sub(wanted);
            newest.extend(chunk[from..].iter_mut().rev());
        }
        newest.reverse();
        newest
    }
}

/// The log's bundles in reception order ([`OpLog::bundles`]).
#[derive(Clone)]
pub struct LogBundles<'a> {
    bundles: &'a Bundles,
    front: usize,
    back: usize,
}

impl<'a> Iterator for LogBundles<'a> {
    type Item = &'a Bundle;

    fn next(&mut self) -> Option<&'a Bundle> {
        (self.front < self.back).then(|| {
            self.front += 1;
            self.bundles.get(self.front - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.back - self.front, Some(self.back - self.front))
    }
}

impl DoubleEndedIterator for LogBundles<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            self.bundles.get(self.back)
        })
    }
}

impl ExactSizeIterator for LogBundles<'_> {}

#[derive(Default)]
pub struct OpLog {
    bundles: Bundles,
    chains: BTreeMap<ActorId, Chain>,
    /// Every operation by id. Only ever looked up, never walked, so its
    /// order does not matter; a hash map costs a catch-up one insert per
    /// operation where ordered indexes cost two tree inserts. Its hasher is
    /// keyed at random: ids come from peers, who must not be able to pick
    /// ids that collide.
    ops: HashMap<OpId, OpLocation>,
}

impl OpLog {
    pub fn new() -> Self {
        OpLog::default()
    }

    pub fn len(&self) -> usize {
        self.bundles.len
    }

    pub fn is_empty(&self) -> bool {
        self.bundles.len == 0
    }

    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// The author's newest bundle held, to extend or to check a new one against.
    pub fn tip(&self, author: &ActorId) -> Option<ChainTip> {
        self.chains.get(author).and_then(|chain| chain.tip)
    }

    /// Checks that `bundle` fits the log: it extends its author's chain (or
    /// is a copy of a bundle already held) and reuses no operation id.
    /// Signatures and hashes are checked before, by [`crate::bundle`].
    pub fn check(&self, bundle: &Bundle) -> Result<Appended, VerifyError> {
        let header = &bundle.header;
        if let Some(held) = self.get(&header.author, header.seq) {
            // A copy may carry a signature the held one does not, or none:
            // the caller judges signatures. Contents must be the same.
            if held.header == *header {
                if held.ops == bundle.ops {
                    return Ok(Appended::Duplicate);
                }
                // The signed header is the genuine one: its operations were altered.
                let index = held.ops.iter().zip(&bundle.ops).position(|(a, b)| a != b).unwrap_or(held.ops.len());
                return Err(VerifyError::BadOperationHash { seq: header.seq, index });
            }
            return Err(VerifyError::Fork { seq: header.seq });
        }
        check_link(header, self.tip(&header.author))?;
        let held = bundle.ops.iter().find(|op| self.ops.contains_key(&op.id));
        let repeated = || {
            let mut seen = std::collections::HashSet::with_capacity(bundle.ops.len());
            bundle.ops.iter().find(|op| !seen.insert(op.id))
        };
        // Most bundles hold one operation: no set to build for those.
        match held.or_else(|| if bundle.ops.len() > 1 { repeated() } else { None }) {
            Some(op) => Err(VerifyError::DuplicateOperation { seq: header.seq, op: op.id }),
            None => Ok(Appended::New),
        }
    }

    /// Appends a verified bundle after [`OpLog::check`].
    pub fn append(&mut self, bundle: Bundle) -> Result<Appended, VerifyError> {
        if self.check(&bundle)? == Appended::Duplicate {
            return Ok(Appended::Duplicate);
        }
        let hash = bundle.hash();
        self.append_new(bundle, hash);
        Ok(Appended::New)
    }

    /// Appends a verified bundle that [`OpLog::check`] found new, with
    /// nothing appended since: receiving checks each bundle right before it
    /// is applied, and checking it a third time would cost a set and a
    /// lookup per operation on every bundle of a catch-up. `hash` is the
    /// bundle's, computed when its run was proven.
    pub(crate) fn append_new(&mut self, bundle: Bundle, hash: Hash) {
        let index = u32::try_from(self.bundles.len).expect("fewer than 2^32 bundles in a log");
        self.ops.reserve(bundle.ops.len());
        for (op_index, op) in (0..).zip(&bundle.ops) {
            self.ops.insert(op.id, OpLocation { bundle: index, op: op_index });
        }
        let chain = self.chains.entry(bundle.header.author).or_default();
        chain.bundles.push(index);
        chain.tip = Some(ChainTip { seq: bundle.header.seq, hash });
        self.bundles.push(bundle);
    }

    pub fn get(&self, author: &ActorId, seq: u64) -> Option<&Bundle> {
        let chain = self.chains.get(author)?;
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        chain.bundles.get(index).map(|&at| self.bundles.get(at as usize))
    }

    /// The bundles named by author and seq, as held (how a persist request
    /// of [`crate::sync::Output::Persist`] names them); `None` if one is not.
    pub fn named(&self, names: &[(ActorId, u64)]) -> Option<Vec<&Bundle>> {
        names.iter().map(|(author, seq)| self.get(author, *seq)).collect()
    }

    /// The `count` bundles appended last, oldest first, for their author to
    /// sign: the only change a held bundle takes, and one its hash does not
    /// cover ([`crate::workspace::Burst`]).
    pub(crate) fn newest_mut(&mut self, count: usize) -> Vec<&mut Bundle> {
        self.bundles.newest_mut(count)
    }

    pub fn bundle(&self, index: usize) -> &Bundle {
        self.bundles.get(index)
    }

    /// Bundles in reception order.
    pub fn bundles(&self) -> LogBundles<'_> {
        LogBundles { bundles: &self.bundles, front: 0, back: self.bundles.len }
    }

    pub fn version_vector(&self) -> VersionVector {
        let mut vector = VersionVector::new();
        for (actor, chain) in &self.chains {
            vector.set(*actor, chain.bundles.len() as u64);
        }
        vector
    }

    /// The bundles a peer whose vector is `theirs` lacks, each author's in
    /// chain order. Costs a lookup per author, not a scan of the log.
    pub fn missing_for<'a>(&'a self, theirs: &'a VersionVector) -> impl Iterator<Item = &'a Bundle> + 'a {
        self.chains.iter().flat_map(move |(actor, chain)| {
            let held = usize::try_from(theirs.get(actor)).unwrap_or(usize::MAX).min(chain.bundles.len());
            chain.bundles[held..].iter().map(|&index| self.bundles.get(index as usize))
        })
    }

    /// How many bundles a peer whose vector is `theirs` lacks.
    pub fn missing_count(&self, theirs: &VersionVector) -> u64 {
        self.chains.iter().map(|(actor, chain)| (chain.bundles.len() as u64).saturating_sub(theirs.get(actor))).sum()
    }

    /// The operation with this id, with its bundle.
    pub fn operation(&self, op: OpId) -> Option<(&Bundle, &crate::op::Operation)> {
        let location = self.ops.get(&op)?;
        let bundle = self.bundles.get(location.bundle as usize);
        Some((bundle, &bundle.ops[location.op as usize]))
    }

    /// BLAKE3 over the canonical list of operation ids: equal exactly when
    /// two logs hold the same operations. Sorts them first: it is asked for
    /// only when two devices compare notes after sync went quiet.
    pub fn ops_digest(&self) -> crate::bundle::Hash {
        let mut canonical: Vec<(Hlc, OpId)> =
            self.bundles().flat_map(|bundle| bundle.ops.iter().map(|op| (op.hlc, op.id))).collect();
        canonical.sort_unstable();
        let mut hasher = blake3::Hasher::new();
        for (hlc, op) in canonical {
            hasher.update(&hlc.to_bytes());
            hasher.update(op.as_bytes());
        }
        crate::bundle::Hash(*hasher.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::ModuleVersions;
    use crate::ids::WorkspaceId;
    use crate::op::{OpPayload, Operation};

    #[test]
    fn the_newest_bundles_are_found_across_chunks_oldest_first() {
        let op = Operation {
            id: OpId::from_bytes([2; 16]),
            hlc: Hlc::ZERO,
            payload: OpPayload::Bootstrap { workspace_name: "Show".into(), owner_name: "Jane".into() },
        };
        let author = ActorId::from_bytes([7; 32]);
        let workspace = WorkspaceId::from_bytes([1; 16]);
        let (template, _) = Bundle::unsigned_hashed(author, workspace, None, ModuleVersions::default(), vec![op]);
        let total = 2 * BUNDLES_PER_CHUNK + 10;
        let mut bundles = Bundles::default();
        for seq in 1..=total as u64 {
            let mut bundle = template.clone();
            bundle.header.seq = seq;
            bundles.push(bundle);
        }
        for count in [0, 1, 10, 11, BUNDLES_PER_CHUNK + 10, BUNDLES_PER_CHUNK + 11, total] {
            let seqs: Vec<u64> = bundles.newest_mut(count).iter().map(|bundle| bundle.header.seq).collect();
            let expected: Vec<u64> = ((total - count + 1) as u64..=total as u64).collect();
            assert_eq!(seqs, expected, "the newest {count}");
        }
    }
}
