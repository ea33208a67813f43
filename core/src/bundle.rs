//! Bundles: the atomic, signed unit of change.
//!
//! A bundle carries its operations, and a header with the BLAKE3 hash of each
//! operation, the author's sequence number and the hash of the author's
//! previous bundle. One Ed25519 signature over the header signs every
//! operation. Because bundles chain, a verified signature on the newest
//! bundle of a contiguous run authenticates the whole run once its links and
//! operation hashes check out ([`verify_run`]); live edits are checked one by
//! one ([`Bundle::verify`]).
//!
//! So the bundles inside a run need no signature of their own: a catch-up
//! sends only the newest one of each run, and a receiver keeps exactly the
//! signatures it verified. A bundle without one is vouched for by a later
//! signed bundle of its author's chain, which every stored chain ends with.

use std::fmt;
use std::sync::Arc;

use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::hlc::Hlc;
use crate::identity::{ActorId, Identity, SIGNATURE_LEN, Signature};
use crate::ids::{OpId, WorkspaceId};
use crate::op::Operation;

/// BLAKE3 hash of an encoded operation or bundle header.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// The hash of what `encode` writes, encoded into a buffer kept for the
    /// next time: operations and headers are hashed by the hundred thousand
    /// in a catch-up, and a fresh buffer for each was a large share of it.
    pub fn of_encoding(encode: impl FnOnce(&mut Encoder)) -> Hash {
        with_scratch_encoding(encode, Hash::of)
    }
}

/// Hands what `encode` writes to `then`, in a buffer kept for the next time.
fn with_scratch_encoding<T>(encode: impl FnOnce(&mut Encoder), then: impl FnOnce(&[u8]) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Encoder> = std::cell::RefCell::new(Encoder::new());
    }
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        scratch.clear();
        encode(&mut scratch);
        then(scratch.as_bytes())
    })
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

/// Version of the bundle encoding that new bundles are signed in. Format 1
/// chained bundles by a hash over header *and* signature, so every bundle of
/// a run had to carry its signature; format 2 hashes the header alone;
/// format 3 requires every operation's id to be the one derived from its
/// place ([`OpId::derived`]). All stay readable and verifiable, and chains
/// may mix them.
pub const BUNDLE_FORMAT: u8 = 3;
const FORMAT_SIGNATURE_IN_HASH: u8 = 1;
/// The first format whose operation ids are derived from their place.
pub const FORMAT_DERIVED_OP_IDS: u8 = 3;

/// The signed part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHeader {
    /// [`BUNDLE_FORMAT`] for new bundles; 1 for those signed before it.
    pub format: u8,
    pub workspace: WorkspaceId,
    pub author: ActorId,
    /// 1 for an author's first bundle, then 2, 3, …
    pub seq: u64,
    /// Hash of the author's bundle `seq - 1`; `None` exactly when `seq` is 1.
    pub previous: Option<Hash>,
    /// The largest HLC of the bundle's operations.
    pub hlc: Hlc,
    /// Versions of the modules the operations were made with, sorted by module name.
    pub module_versions: ModuleVersions,
    /// BLAKE3 of each operation's encoding, in order.
    pub op_hashes: Vec<Hash>,
}

/// The most a header takes besides its module names and operation hashes:
/// format, workspace, author, seq (a varint of up to ten bytes), link, clock
/// and the two counts.
const HEADER_FIXED_BYTES: usize = 1 + 16 + 32 + 10 + 33 + 12 + 10 + 10;

impl BundleHeader {
    /// The header of `author`'s next bundle after `tip` (`None` for the
    /// first), holding `ops`: its clock is their largest HLC.
    fn next(
        author: ActorId,
        workspace: WorkspaceId,
        tip: Option<ChainTip>,
        module_versions: ModuleVersions,
        ops: &[Operation],
    ) -> BundleHeader {
        let header = BundleHeader {
            format: BUNDLE_FORMAT,
            workspace,
            author,
            seq: tip.map_or(1, |tip| tip.seq + 1),
            previous: tip.map(|tip| tip.hash),
            hlc: ops.iter().map(|op| op.hlc).max().unwrap_or(Hlc::ZERO),
            module_versions,
            op_hashes: ops.iter().map(Operation::hash).collect(),
        };
        debug_assert!(!header.hash_covers_signature());
        header
    }

    pub fn encode(&self, out: &mut Encoder) {
        out.u8(self.format).fixed(self.workspace.as_bytes()).fixed(self.author.as_bytes());
        out.varint(self.seq);
        match &self.previous {
            Some(hash) => out.u8(1).fixed(&hash.0),
            None => out.u8(0),
        };
        out.fixed(&self.hlc.to_bytes());
        out.varint(self.module_versions.len() as u64);
        for (module, version) in self.module_versions.iter() {
            out.str(module).str(version);
        }
        out.varint(self.op_hashes.len() as u64);
        for hash in &self.op_hashes {
            out.fixed(&hash.0);
        }
    }

    pub fn encoded(&self) -> Vec<u8> {
        // Room for it all at once: headers are encoded to sign and verify
        // every bundle, and growing the buffer from nothing took six steps.
        let names: usize = self.module_versions.iter().map(|(module, version)| module.len() + version.len() + 2).sum();
        let mut out = Encoder::with_capacity(HEADER_FIXED_BYTES + names + 32 * self.op_hashes.len());
        self.encode(&mut out);
        out.into_bytes()
    }

    pub fn decode(input: &mut Decoder<'_>) -> Result<BundleHeader, DecodeError> {
        let format_offset = input.position();
        let format = input.u8("a bundle format")?;
        if !(FORMAT_SIGNATURE_IN_HASH..=BUNDLE_FORMAT).contains(&format) {
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
        let module_versions = module_versions.into();
        Ok(BundleHeader { format, workspace, author, seq, previous, hlc, module_versions, op_hashes })
    }

    /// Whether the bundle's hash covers its signature (format 1), so that
    /// the signature must travel and be kept with it.
    pub fn hash_covers_signature(&self) -> bool {
        self.format == FORMAT_SIGNATURE_IN_HASH
    }
}

/// `(module, version)` pairs, sorted by module. Shared: the bundles read
/// from one stream that name the same versions hold one copy of them.
pub type ModuleVersions = Arc<[(String, String)]>;

/// A signed bundle of operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub header: BundleHeader,
    pub ops: Vec<Operation>,
    /// Always present on a bundle as its author hands it out (a burst's
    /// bundles are signed when it ends: [`crate::workspace::Burst`]), and on
    /// the newest bundle of every run a device received. Otherwise `None`
    /// only from format 2 on, for a bundle that a later signed bundle of the
    /// chain vouches for.
    pub signature: Option<Signature>,
}

/// What an author needs to make the next bundle of their chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    pub seq: u64,
    pub hash: Hash,
}

/// What reading a bundle from a stream derived from it on the way, so that
/// checking it does not derive it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    /// [`Bundle::hash`].
    hash: Hash,
    /// The header's operation hashes were computed from the operations, so
    /// they match them by construction.
    op_hashes_from_ops: bool,
    /// Every operation id was derived from its place while reading, so each
    /// is its own by construction.
    op_ids_from_places: bool,
}

/// A bundle as it arrived, with what reading it derived ([`Derived`]), if
/// anything. The fields are private so that the two cannot drift apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivedBundle {
    bundle: Bundle,
    derived: Option<Derived>,
}

impl ArrivedBundle {
    /// `hash` is `bundle`'s own, `op_hashes_from_ops` true only if its
    /// header's operation hashes were just computed from its operations, and
    /// `op_ids_from_places` only if every operation id was just derived from
    /// its place.
    pub(crate) fn read(
        bundle: Bundle,
        hash: Hash,
        op_hashes_from_ops: bool,
        op_ids_from_places: bool,
    ) -> ArrivedBundle {
        ArrivedBundle { bundle, derived: Some(Derived { hash, op_hashes_from_ops, op_ids_from_places }) }
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn into_bundle(self) -> Bundle {
        self.bundle
    }

    /// [`Bundle::hash`], as reading derived it.
    pub fn hash(&self) -> Hash {
        RunMember::hash(self)
    }
}

impl From<Bundle> for ArrivedBundle {
    fn from(bundle: Bundle) -> ArrivedBundle {
        ArrivedBundle { bundle, derived: None }
    }
}

/// A bundle to check in a run: a bundle alone, or one that arrived with
/// what reading it derived. Sealed: only those two can tell the checks what
/// they need not derive.
pub trait RunMember: sealed::Sealed {
    fn bundle(&self) -> &Bundle;
    fn derived(&self) -> Option<Derived>;

    /// [`Bundle::hash`], computed only if reading did not derive it.
    fn hash(&self) -> Hash {
        self.derived().map_or_else(|| self.bundle().hash(), |derived| derived.hash)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Bundle {}
    impl Sealed for super::ArrivedBundle {}
}

impl RunMember for Bundle {
    fn bundle(&self) -> &Bundle {
        self
    }

    fn derived(&self) -> Option<Derived> {
        None
    }
}

impl RunMember for ArrivedBundle {
    fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    fn derived(&self) -> Option<Derived> {
        self.derived
    }
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
        Bundle::sign_hashed(identity, workspace, tip, module_versions.into(), ops).0
    }

    /// [`Bundle::sign`], with the new bundle's [`Bundle::hash`] taken from
    /// the bytes just signed (a bundle of the current format is hashed
    /// without its signature): every local edit would otherwise encode and
    /// hash its header again to append it to the log. `module_versions`
    /// as a header holds them: sorted by module, each module once.
    pub(crate) fn sign_hashed(
        identity: &Identity,
        workspace: WorkspaceId,
        tip: Option<ChainTip>,
        module_versions: ModuleVersions,
        ops: Vec<Operation>,
    ) -> (Bundle, Hash) {
        let header = BundleHeader::next(identity.actor_id(), workspace, tip, module_versions, &ops);
        let (signature, hash) =
            with_scratch_encoding(|out| header.encode(out), |signed| (identity.sign(signed), Hash::of(signed)));
        (Bundle { header, ops, signature: Some(signature) }, hash)
    }

    /// [`Bundle::sign_hashed`] but for the signature, which
    /// [`Bundle::sign_together`] adds later: the hash does not cover it, so
    /// the author's next bundles can already link to this one.
    pub(crate) fn unsigned_hashed(
        author: ActorId,
        workspace: WorkspaceId,
        tip: Option<ChainTip>,
        module_versions: ModuleVersions,
        ops: Vec<Operation>,
    ) -> (Bundle, Hash) {
        let header = BundleHeader::next(author, workspace, tip, module_versions, &ops);
        let hash = Hash::of_encoding(|out| header.encode(out));
        (Bundle { header, ops, signature: None }, hash)
    }

    /// Signs each of `bundles` (made by [`Bundle::unsigned_hashed`]) as
    /// [`Bundle::sign_hashed`] would have, for less work than one by one
    /// ([`Identity::sign_each`]).
    pub(crate) fn sign_together(identity: &Identity, bundles: &mut [&mut Bundle]) {
        let headers: Vec<Vec<u8>> = bundles.iter().map(|bundle| bundle.header.encoded()).collect();
        let messages: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        for (bundle, signature) in bundles.iter_mut().zip(identity.sign_each(&messages)) {
            debug_assert_eq!(bundle.header.author, identity.actor_id());
            debug_assert!(bundle.signature.is_none() && !bundle.header.hash_covers_signature());
            bundle.signature = Some(signature);
        }
    }

    /// The bundle's identity: what the author's next bundle names as
    /// `previous`. It covers the header, and so every operation through
    /// their hashes; the newest signature of a run thus vouches for every
    /// byte of every bundle before it. (In format 1 it covers the signature too.)
    pub fn hash(&self) -> Hash {
        Hash::of_encoding(|out| {
            self.header.encode(out);
            if self.header.hash_covers_signature() {
                out.fixed(&self.signature.as_ref().map_or([0; SIGNATURE_LEN], Signature::to_bytes));
            }
        })
    }

    /// BLAKE3 of the whole encoding: tells apart two copies of a bundle,
    /// such as a genuine one and one altered after signing, or one with a
    /// signature and one without.
    pub fn digest(&self) -> Hash {
        Hash::of(&self.encoded())
    }

    /// The same header and operations, whatever the signatures.
    pub fn same_contents(&self, other: &Bundle) -> bool {
        self.header == other.header && self.ops == other.ops
    }

    pub fn tip(&self) -> ChainTip {
        ChainTip { seq: self.header.seq, hash: self.hash() }
    }

    /// The stored form: header, signature (in format 2 after a presence
    /// marker), operations.
    pub fn encode(&self, out: &mut Encoder) {
        self.header.encode(out);
        match (self.header.hash_covers_signature(), &self.signature) {
            (true, signature) => {
                out.fixed(&signature.as_ref().map_or([0; SIGNATURE_LEN], Signature::to_bytes));
            }
            (false, Some(signature)) => {
                out.u8(1).fixed(&signature.to_bytes());
            }
            (false, None) => {
                out.u8(0);
            }
        }
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
        let signature = if header.hash_covers_signature() || input.bool("a signature marker")? {
            Some(Signature::from_bytes(input.fixed::<SIGNATURE_LEN>("a signature")?))
        } else {
            None
        };
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
        self.verify_contents(workspace, None)?;
        self.verify_signature()?;
        self.verify_op_ids(None)
    }

    /// Checks the signature alone (the contents are known to be sound).
    pub fn verify_signature(&self) -> Result<(), VerifyError> {
        let seq = self.header.seq;
        let signature = self.signature.as_ref().ok_or(VerifyError::Unvouched { seq })?;
        self.header.author.verify(&self.header.encoded(), signature).map_err(|_| VerifyError::BadSignature { seq })
    }

    /// Every check of [`Bundle::verify`] except the signature, without
    /// what reading it already established (see [`Derived`]).
    fn verify_contents(&self, workspace: WorkspaceId, derived: Option<Derived>) -> Result<(), VerifyError> {
        let op_hashes_from_ops = derived.is_some_and(|derived| derived.op_hashes_from_ops);
        let seq = self.header.seq;
        if self.header.workspace != workspace {
            return Err(VerifyError::ForeignWorkspace { seq, workspace: self.header.workspace });
        }
        if self.ops.len() != self.header.op_hashes.len() || self.ops.is_empty() {
            return Err(VerifyError::BadOperationHash { seq, index: self.ops.len().min(self.header.op_hashes.len()) });
        }
        if !op_hashes_from_ops
            && let Some(index) = self.ops.iter().zip(&self.header.op_hashes).position(|(op, hash)| op.hash() != *hash)
        {
            return Err(VerifyError::BadOperationHash { seq, index });
        }
        if self.ops.iter().map(|op| op.hlc).max() != Some(self.header.hlc) {
            return Err(VerifyError::WrongBundleClock { seq });
        }
        Ok(())
    }

    /// In formats that derive them, every operation carries the id of its
    /// place. Checked after the signature and the chain's link, which name
    /// a changed author or seq more plainly.
    fn verify_op_ids(&self, derived: Option<Derived>) -> Result<(), VerifyError> {
        let header = &self.header;
        if header.format < FORMAT_DERIVED_OP_IDS || derived.is_some_and(|derived| derived.op_ids_from_places) {
            return Ok(());
        }
        match self.ops.iter().enumerate().position(|(index, op)| !op.id.is_derived(&header.author, header.seq, index)) {
            Some(index) => Err(VerifyError::ForeignOperationId { seq: header.seq, index }),
            None => Ok(()),
        }
    }
}

/// The smallest encoded operation: id, clock and a one-byte tag at least.
const MIN_ENCODED_OP: usize = 16 + 12 + 1;

/// The smallest stored bundle: the fixed parts of a header with one
/// operation hash, an absent-signature marker and one operation. Bounds
/// bundle counts against the bytes present before anything is allocated.
pub const MIN_ENCODED_BUNDLE: usize = (1 + 16 + 32 + 1 + 1 + 12 + 1 + 1 + 32) + 1 + MIN_ENCODED_OP;

/// Verifies many independent bundles at once (live edits from several
/// authors): contents one by one, signatures in one batch. When the batch
/// fails, falls back to single checks to name the bad bundle.
pub fn verify_each(bundles: &[Bundle], workspace: WorkspaceId) -> Result<(), (usize, VerifyError)> {
    for (index, bundle) in bundles.iter().enumerate() {
        bundle.verify_contents(workspace, None).map_err(|error| (index, error))?;
        if bundle.signature.is_none() {
            return Err((index, VerifyError::Unvouched { seq: bundle.header.seq }));
        }
    }
    let every: Vec<usize> = (0..bundles.len()).collect();
    if let Some(bad) = first_bad_signature(bundles, &every) {
        return Err(bad);
    }
    for (index, bundle) in bundles.iter().enumerate() {
        bundle.verify_op_ids(None).map_err(|error| (index, error))?;
    }
    Ok(())
}

/// How much of a run of one author's chain its links and signatures prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProof {
    /// The first `proven` bundles are authentic and extend the chain.
    pub proven: usize,
    /// The first bundle after them that is damaged, forged or out of chain,
    /// by index, and why. The bundles between are intact as far as anyone
    /// can tell, but no signature vouches for them.
    pub fault: Option<(usize, VerifyError)>,
    /// The hash of each bundle whose contents and link checked, in order
    /// (at least the proven ones): what the log keeps as the chain's tip, so
    /// that it is not computed again.
    pub hashes: Vec<Hash>,
}

/// Which signatures of a run [`prove_run`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Every signature the run carries: bundles from a peer, which keep
    /// them, so that everything kept was checked. An honest catch-up
    /// carries one per author per message.
    Every,
    /// The newest one that holds: bundles from this device's own storage,
    /// whose signatures were checked when they came.
    Newest,
}

/// Checks a contiguous run of one author's chain by its links and
/// signatures: a signature that holds vouches for every bundle up to it,
/// signed or not. `after` is the chain tip the run must extend (`None` if
/// the run starts at seq 1).
pub fn prove_run<B: RunMember>(
    run: &[B],
    after: Option<ChainTip>,
    workspace: WorkspaceId,
    signatures: Signatures,
) -> RunProof {
    let Some(newest) = run.last() else { return RunProof { proven: 0, fault: None, hashes: Vec::new() } };
    let author = newest.bundle().header.author;
    let mut expected = after;
    let mut hashes = Vec::with_capacity(run.len());
    let mut linked = run.len();
    let mut link_fault = None;
    for (index, member) in run.iter().enumerate() {
        let (bundle, derived) = (member.bundle(), member.derived());
        let check = bundle
            .verify_contents(workspace, derived)
            .and_then(|()| {
                if bundle.header.author == author {
                    Ok(())
                } else {
                    Err(VerifyError::MixedAuthors { seq: bundle.header.seq })
                }
            })
            .and_then(|()| check_link(&bundle.header, expected))
            .and_then(|()| bundle.verify_op_ids(derived));
        if let Err(error) = check {
            linked = index;
            link_fault = Some((index, error));
            break;
        }
        let hash = member.hash();
        hashes.push(hash);
        expected = Some(ChainTip { seq: bundle.header.seq, hash });
    }
    let signed: Vec<usize> = (0..linked).filter(|index| run[*index].bundle().signature.is_some()).collect();
    let (vouching, signature_fault) = match signatures {
        Signatures::Every => {
            let bad = first_bad_signature(run, &signed);
            let before_bad = bad.as_ref().map_or(linked, |(index, _)| *index);
            (signed.iter().copied().rev().find(|index| *index < before_bad), bad)
        }
        Signatures::Newest => {
            // Newest first: the first that holds proves everything before
            // it; the oldest that failed after it is the forgery to report.
            let mut bad = None;
            let mut vouching = None;
            for &index in signed.iter().rev() {
                match run[index].bundle().verify_signature() {
                    Ok(()) => {
                        vouching = Some(index);
                        break;
                    }
                    Err(error) => bad = Some((index, error)),
                }
            }
            (vouching, bad)
        }
    };
    RunProof { proven: vouching.map_or(0, |index| index + 1), fault: signature_fault.or(link_fault), hashes }
}

/// The oldest of the signatures at `signed` that does not hold: all checked
/// in one batch, then one by one when the batch fails.
fn first_bad_signature<B: RunMember>(run: &[B], signed: &[usize]) -> Option<(usize, VerifyError)> {
    let bundle = |index: &usize| run[*index].bundle();
    let messages: Vec<Vec<u8>> = signed.iter().map(|index| bundle(index).header.encoded()).collect();
    let batch: Vec<(ActorId, &[u8], &Signature)> = signed
        .iter()
        .zip(&messages)
        .filter_map(|(index, message)| {
            Some((bundle(index).header.author, message.as_slice(), bundle(index).signature.as_ref()?))
        })
        .collect();
    if crate::identity::verify_batch(&batch).is_ok() {
        return None;
    }
    let bad = signed.iter().find_map(|index| bundle(index).verify_signature().err().map(|error| (*index, error)));
    // The batch failed but each signature holds alone: only possible with
    // signatures crafted against batch verification. Refuse to be sure.
    bad.or_else(|| signed.first().map(|index| (*index, VerifyError::BadSignature { seq: bundle(index).header.seq })))
}

/// [`prove_run`] checking every signature, for a run that must hold whole:
/// the error names the first bundle that does not.
pub fn verify_run(run: &[Bundle], after: Option<ChainTip>, workspace: WorkspaceId) -> Result<(), VerifyError> {
    let proof = prove_run(run, after, workspace, Signatures::Every);
    match (proof.fault, run.get(proof.proven)) {
        (_, None) => Ok(()),
        (Some((index, error)), Some(_)) if index == proof.proven => Err(error),
        (_, Some(unvouched)) => Err(VerifyError::Unvouched { seq: unvouched.header.seq }),
    }
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
    ForeignWorkspace {
        seq: u64,
        workspace: WorkspaceId,
    },
    BadOperationHash {
        seq: u64,
        index: usize,
    },
    WrongBundleClock {
        seq: u64,
    },
    BadSignature {
        seq: u64,
    },
    /// Neither the bundle nor a later one of its run carries a signature
    /// that holds for it: it may be genuine, but nothing proves it yet.
    Unvouched {
        seq: u64,
    },
    /// The bundle does not follow the author's latest known bundle.
    ChainGap {
        seq: u64,
        expected: u64,
    },
    /// The bundle's `previous` hash is not the hash of the author's bundle before it.
    BrokenChain {
        seq: u64,
    },
    /// A different bundle with this author and seq is already known: the
    /// author's history was forked, which honest devices never do.
    Fork {
        seq: u64,
    },
    MixedAuthors {
        seq: u64,
    },
    /// An operation id that is already in the log: replayed or forged.
    DuplicateOperation {
        seq: u64,
        op: OpId,
    },
    /// An operation whose id is not the one derived from its place: in
    /// formats that derive them, an id taken from someone else's operation.
    ForeignOperationId {
        seq: u64,
        index: usize,
    },
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
            VerifyError::WrongBundleClock { seq } => {
                write!(f, "change #{seq} is damaged: its timestamp is inconsistent")
            }
            VerifyError::BadSignature { seq } => {
                write!(f, "change #{seq} is not signed by its author: it was forged or damaged")
            }
            VerifyError::Unvouched { seq } => {
                write!(
                    f,
                    "change #{seq} came without its author's signature or a later signed change that vouches for it"
                )
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
            VerifyError::MixedAuthors { seq } => {
                write!(f, "change #{seq} is from another author than the rest of its run")
            }
            VerifyError::DuplicateOperation { seq, op } => {
                write!(f, "change #{seq} repeats operation {op}, which is already recorded")
            }
            VerifyError::ForeignOperationId { seq, index } => write!(
                f,
                "change #{seq} is forged or damaged: its operation {} carries an id that is not its own",
                index + 1
            ),
        }
    }
}

impl std::error::Error for VerifyError {}
