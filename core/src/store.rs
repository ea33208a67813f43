//! Persistence, as the engine sees it: a contract the driver fulfils.
//!
//! The browser's IndexedDB store is asynchronous and lives in the app; it
//! keeps the same promises as [`Store`]: bundles are appended atomically (all
//! of a call or none), and a snapshot is the materialized state together
//! with the version vector it covers. [`MemoryStore`] keeps them in memory
//! for tests, as encoded bytes, so it exercises the real encodings.

use std::fmt;

use crate::bundle::{ArrivedBundle, Bundle};
use crate::deflate::{SlicedDeflate, deflate_frame, read_deflated, write_deflated};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::identity::ActorId;
use crate::log::VersionVector;
use crate::sync::{BundlePart, StreamReader, stream::stored_part};

/// The first byte of a stored unit in stream form. A unit in canonical
/// form is one bundle, and starts with its format (1 to 3).
const STREAM_UNIT: u8 = b'T';
/// The first byte of a unit in the stream form written before operation ids
/// were derived from their place: read, never written.
const STREAM_UNIT_BEFORE_DERIVED_OP_IDS: u8 = b'S';
/// The first byte of a stream-form unit stored deflated ([`crate::deflate`]).
const DEFLATED_UNIT: u8 = b'Z';

/// How a stored snapshot keeps its state's bytes.
mod state_form {
    pub const DEFLATED: u8 = b'Z';
    /// Where deflating would not shrink them.
    pub const PLAIN: u8 = b'P';
}

/// Bundles appended to the log together (a received batch, a local edit),
/// as one stored record: a stream part that reads alone and keeps every
/// signature (see [`crate::sync::stream`]). Nothing the reader can derive
/// is stored (operation hashes, links inside a run), and actors, ids and
/// names are written once, so a record takes a fifth to a half of the
/// bundles' canonical encoding (the less, the fewer of them are signed);
/// a record of many bundles is then deflated. Empty for no bundles.
pub fn encode_log_record(bundles: &[&Bundle]) -> Vec<u8> {
    let Some(first) = bundles.first() else { return Vec::new() };
    let part = stored_part(first.header.workspace, bundles);
    // The part's few header fields, then its body.
    let mut out = Encoder::with_capacity(part.body.len() + 48);
    out.u8(STREAM_UNIT);
    part.encode(&mut out);
    let unit = out.into_bytes();
    let Some(deflated) = deflate_frame(&unit) else { return unit };
    let mut out = Encoder::with_capacity(deflated.len() + 16);
    out.u8(DEFLATED_UNIT);
    write_deflated(&mut out, unit.len(), &deflated);
    out.into_bytes()
}

/// The bundles of a stored record, with what reading derived (their hashes,
/// which opening then need not compute again). A record is one or more
/// units back to back, so that merging records is concatenating them: each
/// unit is one [`encode_log_record`] output, or one bundle's canonical
/// encoding, as records were written before. An empty record is damaged
/// (none is ever written); after an error the reading stops.
pub fn decode_log_record(bytes: &[u8]) -> impl Iterator<Item = Result<ArrivedBundle, DecodeError>> + '_ {
    let mut input = Decoder::new(bytes);
    let mut unit = Vec::new().into_iter();
    let mut first = true;
    let mut failed = false;
    std::iter::from_fn(move || {
        if let Some(bundle) = unit.next() {
            return Some(Ok(bundle));
        }
        if failed || (input.is_empty() && !first) {
            return None;
        }
        first = false;
        let read = read_unit(&mut input);
        failed = read.is_err();
        match read {
            Ok(bundles) => {
                unit = bundles.into_iter();
                unit.next().map(Ok)
            }
            Err(error) => Some(Err(error)),
        }
    })
}

fn read_unit(input: &mut Decoder<'_>) -> Result<Vec<ArrivedBundle>, DecodeError> {
    if input.peek_u8() == Some(DEFLATED_UNIT) {
        input.u8("a stored unit's kind")?;
        let offset = input.position();
        let unit = read_deflated(input, "a deflated stored unit")?;
        // What was deflated is one stream-form unit, read alone.
        let mut inner = Decoder::new(&unit);
        let in_unit = |error: DecodeError| DecodeError { offset, what: error.what };
        if inner.peek_u8() != Some(STREAM_UNIT) {
            return Err(DecodeError { offset, what: "a stream-form unit inside a deflated one" });
        }
        let bundles = read_unit(&mut inner).map_err(in_unit)?;
        inner.finish("the end of a deflated stored unit").map_err(in_unit)?;
        return Ok(bundles);
    }
    let mut reader = match input.peek_u8() {
        Some(STREAM_UNIT) => StreamReader::default(),
        Some(STREAM_UNIT_BEFORE_DERIVED_OP_IDS) => StreamReader::before_derived_op_ids(),
        _ => return Ok(vec![Bundle::decode(input)?.into()]),
    };
    input.u8("a stored unit's kind")?;
    let offset = input.position();
    let part = BundlePart::decode(input)?;
    // The reader's offsets count from the part's body: name the unit instead.
    let bundles = reader.read(&part).map_err(|error| DecodeError { offset, what: error.what })?;
    if bundles.is_empty() {
        return Err(DecodeError { offset, what: "a stored unit with at least one bundle" });
    }
    Ok(bundles)
}

/// A snapshot being put in its stored form ([`Snapshot::storing`]).
pub struct StoringSnapshot<'a> {
    snapshot: &'a Snapshot,
    deflating: SlicedDeflate<'a>,
}

impl StoringSnapshot<'_> {
    /// Deflates up to `bytes` more of the state. Returns whether all of it is.
    pub fn step(&mut self, bytes: usize) -> bool {
        self.deflating.step(bytes)
    }

    /// The stored form, once [`StoringSnapshot::step`] said it is complete.
    pub fn finish(self) -> Vec<u8> {
        let state = &self.snapshot.state;
        let deflated = self.deflating.finish();
        let state_len = deflated.as_ref().map_or(state.len(), Vec::len);
        let entries: Vec<_> = self.snapshot.covers.iter().collect();
        let mut out = Encoder::with_capacity(state_len + 40 * entries.len() + 16);
        out.varint(entries.len() as u64);
        for (actor, seq) in entries {
            out.fixed(actor.as_bytes()).varint(*seq);
        }
        match &deflated {
            Some(deflated) => write_deflated(out.u8(state_form::DEFLATED), state.len(), deflated),
            None => {
                out.u8(state_form::PLAIN).bytes(state);
            }
        }
        out.into_bytes()
    }
}

/// Materialized state plus the bundles it covers: opening from it applies
/// only the bundles past `covers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub covers: VersionVector,
    /// [`crate::state::State::encode_snapshot`] output.
    pub state: Vec<u8>,
}

impl Snapshot {
    /// The stored form: the vector it covers, then the state's bytes,
    /// deflated.
    pub fn encode(&self) -> Vec<u8> {
        let mut storing = self.storing();
        storing.step(usize::MAX);
        storing.finish()
    }

    /// [`Snapshot::encode`] a slice at a time, so that a driver can yield
    /// between slices.
    pub fn storing(&self) -> StoringSnapshot<'_> {
        StoringSnapshot { snapshot: self, deflating: SlicedDeflate::new(&self.state) }
    }

    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        let mut input = Decoder::new(bytes);
        let mut covers = VersionVector::new();
        for _ in 0..input.length(33, "a version vector")? {
            let actor = ActorId::from_bytes(input.fixed("an actor id")?);
            covers.set(actor, input.varint("a sequence number")?);
        }
        let state = match input.u8("how the snapshot's state is stored")? {
            state_form::DEFLATED => read_deflated(&mut input, "the snapshot's state")?,
            state_form::PLAIN => input.bytes("the snapshot's state")?.to_vec(),
            _ => return Err(input.error("a known form of a snapshot's state")),
        };
        input.finish("the end of the snapshot")?;
        Ok(Snapshot { covers, state })
    }
}

pub trait Store {
    type Error: std::error::Error;

    /// Appends all of `bundles` or, on error, none of them.
    fn append_bundles<'a>(&mut self, bundles: impl IntoIterator<Item = &'a Bundle>) -> Result<(), Self::Error>;

    /// Every stored bundle, in the order appended.
    fn load_bundles(&self) -> Result<Vec<Bundle>, Self::Error>;

    /// Replaces the stored snapshot.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Self::Error>;

    fn load_snapshot(&self) -> Result<Option<Snapshot>, Self::Error>;
}

/// A [`Store`] in memory, with an optional capacity so tests can run out of space.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// As [`encode_log_record`] writes them, one per append.
    records: Vec<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
    capacity: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryStoreError {
    /// The store is full: nothing of the failed call was written.
    Full {
        needed: usize,
        available: usize,
    },
    Damaged(DecodeError),
}

impl fmt::Display for MemoryStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryStoreError::Full { needed, available } => write!(
                f,
                "storage is full: {needed} bytes needed, {available} available; nothing was written and your change is kept"
            ),
            MemoryStoreError::Damaged(error) => write!(f, "stored data is damaged: {error}"),
        }
    }
}

impl std::error::Error for MemoryStoreError {}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A store that holds at most `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        MemoryStore { capacity: Some(bytes), ..MemoryStore::default() }
    }

    pub fn used_bytes(&self) -> usize {
        self.records.iter().map(Vec::len).sum::<usize>() + self.snapshot.as_ref().map_or(0, Vec::len)
    }

    fn make_room(&self, needed: usize, freed: usize) -> Result<(), MemoryStoreError> {
        let Some(capacity) = self.capacity else { return Ok(()) };
        let available = capacity.saturating_sub(self.used_bytes().saturating_sub(freed));
        if needed > available { Err(MemoryStoreError::Full { needed, available }) } else { Ok(()) }
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    fn append_bundles<'a>(&mut self, bundles: impl IntoIterator<Item = &'a Bundle>) -> Result<(), MemoryStoreError> {
        let record = encode_log_record(&bundles.into_iter().collect::<Vec<_>>());
        if record.is_empty() {
            return Ok(());
        }
        self.make_room(record.len(), 0)?;
        self.records.push(record);
        Ok(())
    }

    fn load_bundles(&self) -> Result<Vec<Bundle>, MemoryStoreError> {
        self.records
            .iter()
            .flat_map(|record| decode_log_record(record))
            .map(|bundle| bundle.map(ArrivedBundle::into_bundle).map_err(MemoryStoreError::Damaged))
            .collect()
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), MemoryStoreError> {
        let encoded = snapshot.encode();
        self.make_room(encoded.len(), self.snapshot.as_ref().map_or(0, Vec::len))?;
        self.snapshot = Some(encoded);
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, MemoryStoreError> {
        self.snapshot.as_deref().map(Snapshot::decode).transpose().map_err(MemoryStoreError::Damaged)
    }
}
