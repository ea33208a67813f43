//! Bundles: the atomic, signed unit of change.
//!
//! A bundle carries its operations, and a header with the BLAKE3 hash of each
//! operation, the author's sequence number and the hash of the author's
//! previous bundle (header and signature). One Ed25519 signature over the
//! header signs every operation. Because bundles chain, a verified signature on the newest
//! bundle of a contiguous run authenticates the whole run once its links and
//! operation hashes check out ([`verify_run`]); live edits are checked one by
//! one ([`Bundle::verify`]).

use std::fmt;

use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::hlc::Hlc;
use crate::identity::{ActorId, Identity, SIGNATURE_LEN, Signature};
use crate::ids::WorkspaceId;
use crate::op::Operation;

/// BLAKE3 hash of an encoded operation or bundle header.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Version of the bundle encoding; bumped only with a migration.
const BUNDLE_FORMAT: u8 = 1;

/// The signed part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHeader {
    pub workspace: WorkspaceId,
    pub author: ActorId,
    /// 1 for an author's first bundle, then 2, 3, …
    pub seq: u64,
    /// Hash of the author's bundle `seq - 1`; `None` exactly when `seq` is 1.
    pub previous: Option<Hash>,
    /// The largest HLC of the bundle's operations.
    pub hlc: Hlc,
    /// Versions of the modules the operations were made with, sorted by module name.
    pub module_versions: Vec<(String, String)>,
    /// BLAKE3 of each operation's encoding, in order.
    pub op_hashes: Vec<Hash>,
}

impl BundleHeader {
    pub fn encode(&self, out: &mut Encoder) {
        out.u8(BUNDLE_FORMAT).fixed(self.workspace.as_bytes()).fixed(self.author.as_bytes());
        out.varint(self.seq);
        match &self.previous {
            Some(hash) => out.u8(1).fixed(&hash.0),
            None => out.u8(0),
        };
        out.fixed(&self.hlc.to_bytes());
        out.varint(self.module_versions.len() as u64);
        for (module, version) in &self.module_versions {
            out.str(module).str(version);
        }
        out.varint(self.op_hashes.len() as u64);
        for hash in &self.op_hashes {
            out.fixed(&hash.0);
        }
    }

    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Encoder::new();
        self.encode(&mut out);
        out.into_bytes()
    }

    pub fn decode(input: &mut Decoder<'_>) -> Result<BundleHeader, DecodeError> {
        let format_offset = input.position();
        if input.u8("a bundle format")? != BUNDLE_FORMAT {
            return Err(DecodeError { offset: format_offset, what: "a known bundle format" });
        }
        let workspace = WorkspaceId::from_bytes(input.fixed("a workspace id")?);
        let author = ActorId::from_bytes(input.fixed("an author")?);
        let seq = input.varint("a sequence number")?;
        let previous = if input.bool("a previous-bundle marker")? {
            Some(Hash(input.fixed("a previous-bundle hash")?))
        } else {
            None
        };
        if (seq == 1) != previous.is_none() || seq == 0 {
            return Err(input.error("a sequence number that matches the previous-bundle link"));
        }
        let hlc = Hlc::from_bytes(input.fixed("a bundle clock")?);
        let module_count = input.length(2, "a list of module versions")?;
        let mut module_versions = Vec::with_capacity(module_count);
        for _ in 0..module_count {
            module_versions.push((input.str("a module name")?.to_owned(), input.str("a module version")?.to_owned()));
        }
        if !module_versions.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Err(input.error("module versions sorted by module name"));
        }
        let op_count = input.length(32, "a list of operation hashes")?;
        let mut op_hashes = Vec::with_capacity(op_count);
        for _ in 0..op_count {
            op_hashes.push(Hash(input.fixed("an operation hash")?));
        }
        Ok(BundleHeader { workspace, author, seq, previous, hlc, module_versions, op_hashes })
    }
}

/// A signed bundle of operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub header: BundleHeader,
    pub ops: Vec<Operation>,
    pub signature: Signature,
}

/// What an author needs to make the next bundle of their chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    pub seq: u64,
    pub hash: Hash,
}

impl Bundle {
    /// Signs `ops` as the author's next bundle after `tip` (`None` for the first).
    /// `ops` must not be empty; the bundle's clock is their largest HLC.
    pub fn sign(
        identity: &Identity,
        workspace: WorkspaceId,
        tip: Option<ChainTip>,
        module_versions: Vec<(String, String)>,
        ops: Vec<Operation>,
    ) -> Bundle {
        let mut module_versions = module_versions;
        module_versions.sort();
        module_versions.dedup_by(|a, b| a.0 == b.0);
        let header = BundleHeader {
            workspace,
            author: identity.actor_id(),
            seq: tip.map_or(1, |tip| tip.seq + 1),
            previous: tip.map(|tip| tip.hash),
            hlc: ops.iter().map(|op| op.hlc).max().unwrap_or(Hlc::ZERO),
            module_versions,
            op_hashes: ops.iter().map(|op| Hash::of(&op.encoded())).collect(),
        };
        let signature = identity.sign(&header.encoded());
        Bundle { header, ops, signature }
    }

    /// The bundle's identity: what the author's next bundle names as
    /// `previous`. It covers the signature too, so the newest signature of a
    /// run vouches for every byte of every bundle before it.
    pub fn hash(&self) -> Hash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.header.encoded());
        hasher.update(&self.signature.to_bytes());
        Hash(*hasher.finalize().as_bytes())
    }

    /// BLAKE3 of the whole encoding, operations included: tells apart two
    /// bundles with one header, such as a genuine bundle and a copy whose
    /// operations were altered after signing.
    pub fn digest(&self) -> Hash {
        Hash::of(&self.encoded())
    }

    pub fn tip(&self) -> ChainTip {
        ChainTip { seq: self.header.seq, hash: self.hash() }
    }

    pub fn encode(&self, out: &mut Encoder) {
        self.header.encode(out);
        out.fixed(&self.signature.to_bytes());
        for op in &self.ops {
            op.encode(out);
        }
    }

    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Encoder::new();
        self.encode(&mut out);
        out.into_bytes()
    }

    /// Decodes one bundle; the operation count comes from the header.
    pub fn decode(input: &mut Decoder<'_>) -> Result<Bundle, DecodeError> {
        let header = BundleHeader::decode(input)?;
        let signature = Signature::from_bytes(input.fixed::<SIGNATURE_LEN>("a signature")?);
        let count = header.op_hashes.len();
        if count == 0 {
            return Err(input.error("a bundle with at least one operation"));
        }
        let mut ops = Vec::with_capacity(count.min(input.remaining() / MIN_ENCODED_OP));
        for _ in 0..count {
            ops.push(Operation::decode(input)?);
        }
        Ok(Bundle { header, ops, signature })
    }

    pub fn decode_one(bytes: &[u8]) -> Result<Bundle, DecodeError> {
        let mut input = Decoder::new(bytes);
        let bundle = Bundle::decode(&mut input)?;
        input.finish("the end of the bundle")?;
        Ok(bundle)
    }

    /// Checks everything a bundle can prove by itself: it belongs to
    /// `workspace`, every operation matches its hash, the clock is the
    /// largest of the operations', and the author signed the header.
    pub fn verify(&self, workspace: WorkspaceId) -> Result<(), VerifyError> {
        self.verify_contents(workspace)?;
        self.header
            .author
            .verify(&self.header.encoded(), &self.signature)
            .map_err(|_| VerifyError::BadSignature { seq: self.header.seq })
    }

    /// Every check of [`Bundle::verify`] except the signature.
    fn verify_contents(&self, workspace: WorkspaceId) -> Result<(), VerifyError> {
        let seq = self.header.seq;
        if self.header.workspace != workspace {
            return Err(VerifyError::ForeignWorkspace { seq, workspace: self.header.workspace });
        }
        if self.ops.len() != self.header.op_hashes.len() || self.ops.is_empty() {
            return Err(VerifyError::BadOperationHash { seq, index: self.ops.len().min(self.header.op_hashes.len()) });
        }
        for (index, (op, hash)) in self.ops.iter().zip(&self.header.op_hashes).enumerate() {
            if Hash::of(&op.encoded()) != *hash {
                return Err(VerifyError::BadOperationHash { seq, index });
            }
        }
        if self.ops.iter().map(|op| op.hlc).max() != Some(self.header.hlc) {
            return Err(VerifyError::WrongBundleClock { seq });
        }
        Ok(())
    }
}

/// The smallest encoded operation: id, clock and a one-byte tag at least.
const MIN_ENCODED_OP: usize = 16 + 12 + 1;

/// Verifies many independent bundles at once (live edits from several
/// authors): contents one by one, signatures in one batch. When the batch
/// fails, falls back to single checks to name the bad bundle.
pub fn verify_each(bundles: &[Bundle], workspace: WorkspaceId) -> Result<(), (usize, VerifyError)> {
    for (index, bundle) in bundles.iter().enumerate() {
        bundle.verify_contents(workspace).map_err(|error| (index, error))?;
    }
    let messages: Vec<Vec<u8>> = bundles.iter().map(|bundle| bundle.header.encoded()).collect();
    let batch: Vec<(ActorId, &[u8], Signature)> = bundles
        .iter()
        .zip(&messages)
        .map(|(bundle, message)| (bundle.header.author, message.as_slice(), bundle.signature))
        .collect();
    if crate::identity::verify_batch(&batch).is_ok() {
        return Ok(());
    }
    for (index, (author, message, signature)) in batch.iter().enumerate() {
        if author.verify(message, signature).is_err() {
            return Err((index, VerifyError::BadSignature { seq: bundles[index].header.seq }));
        }
    }
    // The batch failed but each signature holds alone: only possible with
    // signatures crafted against batch verification. Refuse to be sure.
    Err((0, VerifyError::BadSignature { seq: bundles.first().map_or(0, |bundle| bundle.header.seq) }))
}

/// Verifies a contiguous run of one author's chain by its links and its
/// newest signature. `after` is the chain tip the run must extend (`None` if
/// the run starts at seq 1). On failure, re-checks bundle by bundle so the
/// error names the first bad one.
pub fn verify_run(run: &[Bundle], after: Option<ChainTip>, workspace: WorkspaceId) -> Result<(), VerifyError> {
    let Some(newest) = run.last() else { return Ok(()) };
    let author = newest.header.author;
    let mut expected = after;
    for bundle in run {
        bundle.verify_contents(workspace)?;
        if bundle.header.author != author {
            return Err(VerifyError::MixedAuthors { seq: bundle.header.seq });
        }
        check_link(&bundle.header, expected)?;
        expected = Some(bundle.tip());
    }
    if newest.verify(workspace).is_ok() {
        return Ok(());
    }
    // The newest signature failed: find which bundle is at fault.
    for bundle in run {
        bundle.verify(workspace)?;
    }
    Err(VerifyError::BadSignature { seq: newest.header.seq })
}

/// Checks that `header` directly extends `tip` in its author's chain.
pub fn check_link(header: &BundleHeader, tip: Option<ChainTip>) -> Result<(), VerifyError> {
    let expected_seq = tip.map_or(1, |tip| tip.seq + 1);
    if header.seq != expected_seq {
        return Err(VerifyError::ChainGap { seq: header.seq, expected: expected_seq });
    }
    if header.previous != tip.map(|tip| tip.hash) {
        return Err(VerifyError::BrokenChain { seq: header.seq });
    }
    Ok(())
}

/// Why a bundle was refused. Nothing of a refused bundle is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    ForeignWorkspace { seq: u64, workspace: WorkspaceId },
    BadOperationHash { seq: u64, index: usize },
    WrongBundleClock { seq: u64 },
    BadSignature { seq: u64 },
    /// The bundle does not follow the author's latest known bundle.
    ChainGap { seq: u64, expected: u64 },
    /// The bundle's `previous` hash is not the hash of the author's bundle before it.
    BrokenChain { seq: u64 },
    /// A different bundle with this author and seq is already known: the
    /// author's history was forked, which honest devices never do.
    Fork { seq: u64 },
    MixedAuthors { seq: u64 },
    /// An operation id that is already in the log: replayed or forged.
    DuplicateOperation { seq: u64, op: crate::ids::OpId },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::ForeignWorkspace { seq, workspace } => {
                write!(f, "change #{seq} belongs to another workspace ({workspace})")
            }
            VerifyError::BadOperationHash { seq, index } => {
                write!(f, "change #{seq} is damaged: its operation {} does not match its checksum", index + 1)
            }
            VerifyError::WrongBundleClock { seq } => write!(f, "change #{seq} is damaged: its timestamp is inconsistent"),
            VerifyError::BadSignature { seq } => {
                write!(f, "change #{seq} is not signed by its author: it was forged or damaged")
            }
            VerifyError::ChainGap { seq, expected } => {
                write!(f, "change #{seq} arrived before change #{expected} of the same author")
            }
            VerifyError::BrokenChain { seq } => {
                write!(f, "change #{seq} does not follow the author's previous change: history was altered")
            }
            VerifyError::Fork { seq } => write!(
                f,
                "two different changes #{seq} exist from the same author: their identity was used on two devices at once"
            ),
            VerifyError::MixedAuthors { seq } => write!(f, "change #{seq} is from another author than the rest of its run"),
            VerifyError::DuplicateOperation { seq, op } => {
                write!(f, "change #{seq} repeats operation {op}, which is already recorded")
            }
        }
    }
}

impl std::error::Error for VerifyError {}
