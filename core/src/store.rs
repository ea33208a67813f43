//! Persistence, as the engine sees it: a contract the driver fulfils.
//!
//! The browser's IndexedDB store is asynchronous and lives in the app; it
//! keeps the same promises as [`Store`]: bundles are appended atomically (all
//! of a call or none) and read back in the order appended. [`MemoryStore`]
//! keeps them in memory for tests, as encoded bytes, so it exercises the
//! real encodings.

use std::borrow::Cow;
use std::fmt;

use crate::bundle::{ArrivedBundle, Bundle};
use crate::deflate::{SlicedDeflate, deflate_frame, read_deflated, write_deflated};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::identity::ActorId;
use crate::ids::WorkspaceId;
use crate::log::OpLog;
use crate::sync::{BundlePart, StreamReader, StreamWriter, stream::stored_part};

/// The first byte of a stored unit in stream form. A unit in canonical
/// form is one bundle, and starts with its format (1 to 3).
const STREAM_UNIT: u8 = b'U';
/// The first byte of a unit in the stream form written before payload ids
/// were written as changes of distance: read, never written.
const STREAM_UNIT_BEFORE_ID_CHANGES: u8 = b'T';
/// The first byte of a unit in the stream form written before operation ids
/// were derived from their place: read, never written.
const STREAM_UNIT_BEFORE_DERIVED_OP_IDS: u8 = b'S';
/// The first byte of a folded unit ([`LogFolding`]): the parts of one
/// stream, which share its tables.
const FOLDED_UNIT: u8 = b'F';
/// The first byte of a stream-form or folded unit stored deflated
/// ([`crate::deflate`]).
const DEFLATED_UNIT: u8 = b'Z';

/// Room for a folded unit's kind and its content's length (a varint of up
/// to ten bytes).
const FOLDED_PREFIX_ROOM: usize = 11;

/// Most bundles in a stored unit, and in each part of a folded one. Reading
/// decodes a unit or a part in one go, so it is kept to a few milliseconds
/// of a browser's time.
pub const BUNDLES_READ_AT_ONCE: usize = 512;

/// Bundles appended to the log together (a received batch, a local edit),
/// as one stored record: a stream part that reads alone and keeps every
/// signature (see [`crate::sync::stream`]). Nothing the reader can derive
/// is stored (operation hashes, links inside a run), and actors, ids and
/// names are written once, so a record takes a fifth to a half of the
/// bundles' canonical encoding (the less, the fewer of them are signed);
/// a record of many bundles is then deflated. More than
/// [`BUNDLES_READ_AT_ONCE`] bundles (an import's slice) are written as
/// several units of that many at most, back to back. Empty for no bundles.
pub fn encode_log_record(bundles: &[&Bundle]) -> Vec<u8> {
    bundles.chunks(BUNDLES_READ_AT_ONCE).map(encode_log_unit).collect::<Vec<_>>().concat()
}

/// One unit of [`encode_log_record`]; `bundles` is not empty.
fn encode_log_unit(bundles: &[&Bundle]) -> Vec<u8> {
    let part = stored_part(bundles[0].header.workspace, bundles);
    // The part's few header fields, then its body.
    let mut out = Encoder::with_capacity(part.body.len() + 48);
    out.u8(STREAM_UNIT);
    part.encode(&mut out);
    let unit = out.into_bytes();
    let deflated = deflate_frame(&unit);
    stored_unit(&unit, deflated)
}

/// A unit as stored: deflated when that made it shorter, else as it is.
fn stored_unit(unit: &[u8], deflated: Option<Vec<u8>>) -> Vec<u8> {
    let Some(deflated) = deflated else { return unit.to_vec() };
    let mut out = Encoder::with_capacity(deflated.len() + 16);
    out.u8(DEFLATED_UNIT);
    write_deflated(&mut out, unit.len(), &deflated);
    out.into_bytes()
}

/// Stored records folded into one, as a driver compacts its log: their
/// bundles, taken from the log that verified them, written again as the
/// parts of one stream. The parts share the stream's tables, so an entity
/// id, an actor or a name is written once for the whole log, where records
/// of a few hundred bundles each write it again in every record that
/// touches it; and the unit is deflated whole. Written a few parts per
/// [`LogFolding::step`], so that a driver can yield between steps.
pub struct LogFolding {
    workspace: WorkspaceId,
    /// The bundles to write, by author and seq, in the order stored.
    named: Vec<(ActorId, u64)>,
    written: usize,
    writer: StreamWriter,
    /// The parts written so far.
    parts: Encoder,
}

/// A bundle to fold that the log does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInLog {
    pub author: ActorId,
    pub seq: u64,
}

impl fmt::Display for NotInLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bundle {} of {} is stored but not in the log", self.seq, self.author)
    }
}

impl std::error::Error for NotInLog {}

impl LogFolding {
    /// Folds the bundles `named` (by author and seq, in the order they are
    /// stored, each once) of workspace `workspace`; `None` for no bundles.
    pub fn new(workspace: WorkspaceId, named: Vec<(ActorId, u64)>) -> Option<LogFolding> {
        if named.is_empty() {
            return None;
        }
        let mut writer = StreamWriter::storing();
        writer.expect(named.len());
        // Room for the unit's kind and length in front, written once the
        // length is known; then the number of parts, then the parts.
        let mut parts = Encoder::with_capacity(named.len() * 40);
        parts.fixed(&[0; FOLDED_PREFIX_ROOM]).varint(named.len().div_ceil(BUNDLES_READ_AT_ONCE) as u64);
        Some(LogFolding { workspace, named, written: 0, writer, parts })
    }

    /// Writes up to `parts` more parts, each of [`BUNDLES_READ_AT_ONCE`]
    /// bundles taken from `log`. Returns whether every bundle is written.
    pub fn step(&mut self, log: &OpLog, parts: usize) -> Result<bool, NotInLog> {
        for _ in 0..parts {
            let total = self.named.len();
            if self.written == total {
                break;
            }
            let end = total.min(self.written + BUNDLES_READ_AT_ONCE);
            let named = &self.named[self.written..end];
            let bundles: Vec<&Bundle> = named
                .iter()
                .map(|&(author, seq)| log.get(&author, seq).ok_or(NotInLog { author, seq }))
                .collect::<Result<_, _>>()?;
            self.writer.part(self.workspace, &bundles, (total - end) as u64).encode(&mut self.parts);
            self.written = end;
        }
        Ok(self.written == self.named.len())
    }

    /// The folded unit, once [`LogFolding::step`] said every bundle is written.
    pub fn finish(self) -> FoldedLog {
        assert_eq!(self.written, self.named.len(), "a log is folded only once every bundle is written");
        let mut unit = self.parts.into_bytes();
        let mut prefix = Encoder::with_capacity(FOLDED_PREFIX_ROOM);
        prefix.u8(FOLDED_UNIT).varint((unit.len() - FOLDED_PREFIX_ROOM) as u64);
        let prefix = prefix.into_bytes();
        // Put in front of the content, and the room it leaves dropped: one
        // move of the megabytes, where joining them anew would copy them.
        let start = FOLDED_PREFIX_ROOM - prefix.len();
        unit[start..FOLDED_PREFIX_ROOM].copy_from_slice(&prefix);
        unit.drain(..start);
        FoldedLog { unit }
    }
}

/// What [`LogFolding`] wrote: one unit, to be stored as a record of its own
/// in place of the records it folds ([`FoldedLog::storing`]).
pub struct FoldedLog {
    unit: Vec<u8>,
}

impl FoldedLog {
    /// The stored record.
    pub fn encode(&self) -> Vec<u8> {
        let mut storing = self.storing();
        storing.step(usize::MAX);
        storing.finish()
    }

    /// [`FoldedLog::encode`] a slice at a time.
    pub fn storing(&self) -> Storing<'_> {
        Storing { folded: self, deflating: SlicedDeflate::new(&self.unit) }
    }
}

/// The bundles of a stored record, with what reading derived (their hashes,
/// which opening then need not compute again). A record is one or more
/// units back to back, so that merging records is concatenating them: each
/// unit is one [`encode_log_record`] output, one [`FoldedLog`], or one
/// bundle's canonical encoding, as records were written before. A folded
/// unit is read a part at a time, as the bundles are asked for. An empty
/// record is damaged (none is ever written); after an error the reading
/// stops.
pub fn decode_log_record(bytes: &[u8]) -> RecordBundles<'_> {
    RecordBundles {
        input: Decoder::new(bytes),
        ready: Vec::new().into_iter(),
        folded: None,
        started: false,
        failed: false,
    }
}

/// What [`decode_log_record`] reads.
pub struct RecordBundles<'a> {
    input: Decoder<'a>,
    /// Read from the current unit, not yet handed out.
    ready: std::vec::IntoIter<ArrivedBundle>,
    /// The folded unit being read, if it has parts left.
    folded: Option<FoldedParts<'a>>,
    started: bool,
    failed: bool,
}

impl Iterator for RecordBundles<'_> {
    type Item = Result<ArrivedBundle, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(bundle) = self.ready.next() {
                return Some(Ok(bundle));
            }
            if self.failed {
                return None;
            }
            match self.next_bundles() {
                Ok(Some(bundles)) => self.ready = bundles.into_iter(),
                Ok(None) => return None,
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl<'a> RecordBundles<'a> {
    /// The next part of the folded unit being read, or the next unit's
    /// bundles; `None` at the record's end.
    fn next_bundles(&mut self) -> Result<Option<Vec<ArrivedBundle>>, DecodeError> {
        if let Some(folded) = &mut self.folded {
            if let Some(bundles) = folded.next_part()? {
                return Ok(Some(bundles));
            }
            self.folded = None;
        }
        if self.started && self.input.is_empty() {
            return Ok(None);
        }
        self.started = true;
        match read_unit(&mut self.input)? {
            Unit::Bundles(bundles) => Ok(Some(bundles)),
            Unit::Folded(mut folded) => {
                let first = folded.next_part()?;
                self.folded = Some(folded);
                Ok(first)
            }
        }
    }
}

enum Unit<'a> {
    Bundles(Vec<ArrivedBundle>),
    Folded(FoldedParts<'a>),
}

fn read_unit<'a>(input: &mut Decoder<'a>) -> Result<Unit<'a>, DecodeError> {
    match input.peek_u8() {
        Some(DEFLATED_UNIT) => {
            input.u8("a stored unit's kind")?;
            let offset = input.position();
            let unit = read_deflated(input, "a deflated stored unit")?;
            // What was deflated is one stream-form or folded unit, read alone.
            let in_unit = |error: DecodeError| DecodeError { offset, what: error.what };
            let mut inner = Decoder::new(&unit);
            match inner.peek_u8() {
                Some(kind @ (STREAM_UNIT | STREAM_UNIT_BEFORE_ID_CHANGES)) => {
                    let bundles = read_stream_unit(&mut inner, stream_reader(kind)).map_err(in_unit)?;
                    inner.finish("the end of a deflated stored unit").map_err(in_unit)?;
                    Ok(Unit::Bundles(bundles))
                }
                Some(FOLDED_UNIT) => {
                    let content = read_folded_content(&mut inner).map_err(in_unit)?.len();
                    inner.finish("the end of a deflated stored unit").map_err(in_unit)?;
                    // The content runs to the end of what was inflated.
                    let start = unit.len() - content;
                    Ok(Unit::Folded(FoldedParts::new(Cow::Owned(unit), start, offset)?))
                }
                _ => Err(DecodeError { offset, what: "a stream-form or folded unit inside a deflated one" }),
            }
        }
        Some(FOLDED_UNIT) => {
            let offset = input.position();
            let content = read_folded_content(input)?;
            Ok(Unit::Folded(FoldedParts::new(Cow::Borrowed(content), 0, offset)?))
        }
        Some(kind @ (STREAM_UNIT | STREAM_UNIT_BEFORE_ID_CHANGES | STREAM_UNIT_BEFORE_DERIVED_OP_IDS)) => {
            read_stream_unit(input, stream_reader(kind)).map(Unit::Bundles)
        }
        _ => Ok(Unit::Bundles(vec![Bundle::decode(input)?.into()])),
    }
}

/// The reader of a stream-form unit of kind `kind`, as written then.
fn stream_reader(kind: u8) -> StreamReader {
    match kind {
        STREAM_UNIT_BEFORE_ID_CHANGES => StreamReader::before_id_changes(),
        STREAM_UNIT_BEFORE_DERIVED_OP_IDS => StreamReader::before_derived_op_ids(),
        _ => StreamReader::default(),
    }
}

/// A stream-form unit: its kind, then one part that reads alone.
fn read_stream_unit(input: &mut Decoder<'_>, mut reader: StreamReader) -> Result<Vec<ArrivedBundle>, DecodeError> {
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

/// A folded unit's kind, then its content: the number of parts, then the parts.
fn read_folded_content<'a>(input: &mut Decoder<'a>) -> Result<&'a [u8], DecodeError> {
    input.u8("a stored unit's kind")?;
    input.bytes("a folded unit")
}

/// A folded unit being read, a part at a time, by one reader: the parts
/// share the stream's tables.
struct FoldedParts<'a> {
    /// Bytes that end with the unit's content.
    content: Cow<'a, [u8]>,
    /// Where the next part starts in `content`.
    at: usize,
    parts_left: u64,
    reader: StreamReader,
    /// Where the unit starts in its record: errors inside it name that.
    offset: usize,
}

impl<'a> FoldedParts<'a> {
    /// The unit whose content is `content[start..]`.
    fn new(content: Cow<'a, [u8]>, start: usize, offset: usize) -> Result<FoldedParts<'a>, DecodeError> {
        let mut input = Decoder::new(&content[start..]);
        let parts = input.length(1, "a number of parts").map_err(|error| DecodeError { offset, what: error.what })?;
        if parts == 0 {
            return Err(DecodeError { offset, what: "a folded unit with at least one part" });
        }
        let at = start + input.position();
        Ok(FoldedParts { content, at, parts_left: parts as u64, reader: StreamReader::default(), offset })
    }

    /// The next part's bundles; `None` once every part was read.
    fn next_part(&mut self) -> Result<Option<Vec<ArrivedBundle>>, DecodeError> {
        let in_unit = |error: DecodeError| DecodeError { offset: self.offset, what: error.what };
        let mut input = Decoder::new(&self.content[self.at..]);
        if self.parts_left == 0 {
            input.finish("the end of a folded unit").map_err(in_unit)?;
            return Ok(None);
        }
        let part = BundlePart::decode(&mut input).map_err(in_unit)?;
        self.at += input.position();
        self.parts_left -= 1;
        let bundles = self.reader.read(&part).map_err(in_unit)?;
        if bundles.is_empty() {
            return Err(in_unit(DecodeError { offset: 0, what: "a part of a folded unit with at least one bundle" }));
        }
        Ok(Some(bundles))
    }
}

/// A folded log being put in its stored form, deflated a slice at a time
/// ([`FoldedLog::storing`]).
pub struct Storing<'a> {
    folded: &'a FoldedLog,
    deflating: SlicedDeflate<'a>,
}

impl Storing<'_> {
    /// Deflates up to `bytes` more. Returns whether all of it is.
    pub fn step(&mut self, bytes: usize) -> bool {
        self.deflating.step(bytes)
    }

    /// The stored form, once [`Storing::step`] said it is complete.
    pub fn finish(self) -> Vec<u8> {
        let deflated = self.deflating.finish();
        stored_unit(&self.folded.unit, deflated)
    }
}

pub trait Store {
    type Error: std::error::Error;

    /// Appends all of `bundles` or, on error, none of them.
    fn append_bundles<'a>(&mut self, bundles: impl IntoIterator<Item = &'a Bundle>) -> Result<(), Self::Error>;

    /// Every stored bundle, in the order appended.
    fn load_bundles(&self) -> Result<Vec<Bundle>, Self::Error>;
}

/// A [`Store`] in memory, with an optional capacity so tests can run out of space.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// As [`encode_log_record`] writes them, one per append.
    records: Vec<Vec<u8>>,
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
        self.records.iter().map(Vec::len).sum()
    }

    fn make_room(&self, needed: usize) -> Result<(), MemoryStoreError> {
        let Some(capacity) = self.capacity else { return Ok(()) };
        let available = capacity.saturating_sub(self.used_bytes());
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
        self.make_room(record.len())?;
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
}
