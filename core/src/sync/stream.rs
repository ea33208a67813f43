//! How bundles travel in `Bundles` messages: a compact form of their
//! canonical encoding.
//!
//! A catch-up moves most of a log, and the data channel is the narrowest
//! pipe in the system (DESIGN.md §6), so nothing the receiver can derive is
//! sent: operation hashes, a bundle's clock (the largest of its operations')
//! and the hash of the previous bundle of a run are recomputed; actors, ids
//! and names are written once per stream and then referred to by number;
//! clocks are deltas; an id an operation refers to is written as how much
//! farther back it is than the id in the same place of the operation
//! before (see [`IdDistances`]); and in a run of one author's bundles only the newest
//! carries its signature, which vouches for the rest ([`crate::bundle`]).
//! Whatever is not as expected (a clock that is not the largest, a hash that
//! does not match) is written in full, so a bundle reads back exactly as it
//! was, forged or not, and the usual checks judge it.
//!
//! A *stream* is the sequence of messages of one catch-up: its parts share
//! the tables of what was written already and are read in order, which the
//! transports keep. Part 0 starts with empty tables, so a one-part stream
//! (a live edit) reads alone.

use std::collections::VecDeque;
use std::iter::Peekable;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::bundle::{ArrivedBundle, BUNDLE_FORMAT, Bundle, BundleHeader, FORMAT_DERIVED_OP_IDS, Hash};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::hlc::Hlc;
use crate::identity::{ActorId, SIGNATURE_LEN, Signature};
use crate::ids::{OpId, WorkspaceId, read_id_near, read_time_near, write_id_near, write_time_near};
use crate::log::OpLog;
use crate::names::OpName;
use crate::op::{Operation, PayloadReader, PayloadWriter, decode_payload, encode_payload};

/// Bits of a bundle's flag byte.
mod flag {
    /// Same author as the bundle before it in the message, next seq, linked
    /// to it: author, seq and previous hash are left out.
    pub const CONTINUES: u8 = 1;
    pub const SIGNED: u8 = 1 << 1;
    /// The header's clock is not the largest of its operations'.
    pub const CLOCK_WRITTEN: u8 = 1 << 2;
    /// The header's operation hashes are not those of its operations.
    pub const HASHES_WRITTEN: u8 = 1 << 3;
    /// Another bundle format than the current one.
    pub const FORMAT_WRITTEN: u8 = 1 << 4;
    pub const ONE_OPERATION: u8 = 1 << 5;
    /// Another workspace than the message's.
    pub const WORKSPACE_WRITTEN: u8 = 1 << 6;
    /// The same module versions as the bundle before it in the message.
    pub const SAME_MODULES: u8 = 1 << 7;
}

/// The sending side of one stream.
pub struct StreamWriter {
    stream: u32,
    next_part: u32,
    /// The bundles written come from a log: see [`LogStream`].
    from_log: bool,
    /// Every signature is written, vouched for or not: see [`stored_part`].
    keeps_signatures: bool,
    actors: FxHashMap<ActorId, u32>,
    ids: FxHashMap<[u8; 16], u32>,
    names: FxHashMap<String, u32>,
    /// The wall time of the last operation written: clocks are deltas from it.
    last_wall: u64,
    distances: IdDistances,
}

/// How far back in the ids table the last operation's payload ids were, by
/// their place in it (an entity first, then what it replaced, …; the few
/// places past the last slot share it). A payload id is written as the
/// change from that distance, with distance 0 for an id new to the stream.
/// Changes made in a stretch (a column filled in record after record, each
/// write replacing the one before it) refer to ids that recede by the same
/// step each time: the change repeats, a byte that deflates to almost
/// nothing, where the distances themselves differ every time.
#[derive(Clone, Copy, Default)]
struct IdDistances([i64; 4]);

impl IdDistances {
    fn slot(&mut self, place: usize) -> &mut i64 {
        let last = self.0.len() - 1;
        &mut self.0[place.min(last)]
    }
}

/// The receiving side of a peer's streams.
pub struct StreamReader {
    /// The stream and part read last, when the next part may follow it.
    position: Option<(u32, u32)>,
    actors: Vec<ActorId>,
    ids: Vec<[u8; 16]>,
    /// Shared: the names that operations keep are copies of these.
    names: Vec<Arc<str>>,
    last_wall: u64,
    /// The bundle format new bundles were signed in when the parts were
    /// written: a bundle's format is written only when it is another. Below
    /// [`FORMAT_DERIVED_OP_IDS`] (records stored then), an operation's own
    /// id is also a plain reference, not its place.
    written_in: u8,
    /// Payload ids are written as changes of distance ([`IdDistances`]);
    /// before that (records stored then), as plain references.
    ids_as_changes: bool,
    distances: IdDistances,
}

impl Default for StreamReader {
    fn default() -> StreamReader {
        StreamReader {
            position: None,
            actors: Vec::new(),
            ids: Vec::new(),
            names: Vec::new(),
            last_wall: 0,
            written_in: BUNDLE_FORMAT,
            ids_as_changes: true,
            distances: IdDistances::default(),
        }
    }
}

/// One `Bundles` message as it arrives, before its bundles are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePart {
    pub stream: u32,
    pub part: u32,
    /// Bundles of the stream still to come after this part (for progress).
    pub remaining: u64,
    /// The message's workspace: bundles name another only when they differ.
    pub workspace: WorkspaceId,
    pub count: u64,
    pub body: Vec<u8>,
}

impl BundlePart {
    pub(crate) fn encode(&self, out: &mut Encoder) {
        out.varint(u64::from(self.stream)).varint(u64::from(self.part)).varint(self.remaining);
        out.fixed(self.workspace.as_bytes()).varint(self.count).bytes(&self.body);
    }

    pub(crate) fn decode(input: &mut Decoder<'_>) -> Result<BundlePart, DecodeError> {
        let stream = read_u32(input, "a stream number")?;
        let part = read_u32(input, "a part number")?;
        let remaining = input.varint("a remaining count")?;
        let workspace = WorkspaceId::from_bytes(input.fixed("a workspace id")?);
        let count = input.length(MIN_BUNDLE_BYTES, "a number of bundles")? as u64;
        let body = input.bytes("the bundles")?.to_vec();
        Ok(BundlePart { stream, part, remaining, workspace, count, body })
    }
}

/// Flags, one operation (id reference, clock, tag) and nothing else.
const MIN_BUNDLE_BYTES: usize = 1 + 1 + 2 + 1;

impl StreamWriter {
    pub fn new(stream: u32) -> StreamWriter {
        StreamWriter {
            stream,
            next_part: 0,
            from_log: false,
            keeps_signatures: false,
            actors: FxHashMap::default(),
            ids: FxHashMap::default(),
            names: FxHashMap::default(),
            last_wall: 0,
            distances: IdDistances::default(),
        }
    }

    /// A writer of stored parts: their bundles come from this device's log,
    /// and every signature they carry is kept ([`stored_part`]).
    pub(crate) fn storing() -> StreamWriter {
        StreamWriter { from_log: true, keeps_signatures: true, ..StreamWriter::new(0) }
    }

    /// Makes room in the tables for about `bundles` more bundles to come:
    /// growing a table of a few hundred thousand ids step by step moves
    /// every id again at each step, a good part of writing a large stream.
    pub(crate) fn expect(&mut self, bundles: usize) {
        // An operation's own id, and about one more it brings (the record
        // it creates, what it replaced).
        self.ids.reserve(bundles.saturating_mul(2));
    }

    /// The stream's next part, holding `bundles` in order. A run of one
    /// author's consecutive bundles keeps only its newest signature, so the
    /// caller ends each run at a signed bundle.
    pub fn part(&mut self, workspace: WorkspaceId, bundles: &[&Bundle], remaining: u64) -> BundlePart {
        // Room for a typical bundle each (one field write is about fifty
        // bytes), and for the ids they bring, so that neither grows step by step.
        let mut out = Encoder::with_capacity(bundles.len() * 64);
        self.expect(bundles.len());
        // A log's bundles were linked when appended: the same author and the
        // next seq is the next bundle of the chain, no hashing needed.
        let from_log = self.from_log;
        let hashes: Vec<Hash> =
            if from_log { Vec::new() } else { bundles.iter().map(|bundle| bundle.hash()).collect() };
        let continues_previous = |index: usize| {
            index < bundles.len()
                && index.checked_sub(1).is_some_and(|earlier| {
                    let (bundle, previous) = (bundles[index], bundles[earlier]);
                    bundle.header.author == previous.header.author
                        && previous.header.seq.checked_add(1) == Some(bundle.header.seq)
                        && (from_log || bundle.header.previous == Some(hashes[earlier]))
                })
        };
        // A signature stays home when a later bundle of the same run in
        // this part carries one, which vouches for it.
        let mut vouched_later = vec![false; bundles.len()];
        let mut signed_later = false;
        for index in (0..bundles.len()).rev() {
            if !continues_previous(index + 1) {
                signed_later = false;
            }
            vouched_later[index] = signed_later;
            signed_later |= bundles[index].signature.is_some();
        }
        for (index, bundle) in bundles.iter().enumerate() {
            let same_modules = index
                .checked_sub(1)
                .is_some_and(|earlier| bundles[earlier].header.module_versions == bundle.header.module_versions);
            let links =
                Links { continues: continues_previous(index), vouched_later: vouched_later[index], same_modules };
            self.bundle(&mut out, workspace, bundle, links);
        }
        let part = BundlePart {
            stream: self.stream,
            part: self.next_part,
            remaining,
            workspace,
            count: bundles.len() as u64,
            body: out.into_bytes(),
        };
        self.next_part += 1;
        part
    }

    /// The bundles of the stream's next part, taken from the front of
    /// `upcoming` (vouched runs, as [`vouched_runs`] gives them): as many as
    /// [`part_size`] aims for, then on to where a run may end (a signed
    /// bundle, or an author's last), so every run in the part is vouched for.
    fn take_part<'a>(
        &self,
        upcoming: &mut Peekable<impl Iterator<Item = &'a Bundle>>,
        batch_size: usize,
    ) -> Vec<&'a Bundle> {
        let target = part_size(self.next_part as usize, batch_size);
        let mut part = Vec::with_capacity(target);
        while let Some(bundle) = upcoming.next() {
            part.push(bundle);
            let run_may_end = bundle.signature.is_some()
                || upcoming.peek().is_none_or(|next| next.header.author != bundle.header.author);
            if part.len() >= target && run_may_end {
                break;
            }
        }
        part
    }

    fn bundle(
        &mut self,
        out: &mut Encoder,
        workspace: WorkspaceId,
        bundle: &Bundle,
        Links { continues, vouched_later, same_modules }: Links,
    ) {
        let header = &bundle.header;
        // Format 1 hashes cover the signature: then it always travels.
        let signature = bundle
            .signature
            .as_ref()
            .filter(|_| self.keeps_signatures || !vouched_later || header.hash_covers_signature());
        let clock_derived = bundle.ops.iter().map(|op| op.hlc).max() == Some(header.hlc);
        // A log's bundles passed this very check when they were appended.
        let hashes_derived = self.from_log
            || (header.op_hashes.len() == bundle.ops.len()
                && bundle.ops.iter().zip(&header.op_hashes).all(|(op, hash)| op.hash() == *hash));
        let mut flags = 0;
        for (set, bit) in [
            (continues, flag::CONTINUES),
            (signature.is_some(), flag::SIGNED),
            (!clock_derived, flag::CLOCK_WRITTEN),
            (!hashes_derived, flag::HASHES_WRITTEN),
            (header.format != BUNDLE_FORMAT, flag::FORMAT_WRITTEN),
            (bundle.ops.len() == 1, flag::ONE_OPERATION),
            (header.workspace != workspace, flag::WORKSPACE_WRITTEN),
            (same_modules, flag::SAME_MODULES),
        ] {
            if set {
                flags |= bit;
            }
        }
        out.u8(flags);
        if header.format != BUNDLE_FORMAT {
            out.u8(header.format);
        }
        if header.workspace != workspace {
            out.fixed(header.workspace.as_bytes());
        }
        if !continues {
            reference(out, &mut self.actors, header.author, 0, |out, actor| {
                out.fixed(actor.as_bytes());
            });
            out.varint(header.seq);
            if let Some(hash) = &header.previous {
                out.fixed(&hash.0);
            }
        }
        if !same_modules {
            out.varint(header.module_versions.len() as u64);
            for (module, version) in header.module_versions.iter() {
                self.name(out, module);
                self.name(out, version);
            }
        }
        if bundle.ops.len() != 1 {
            out.varint(bundle.ops.len() as u64);
        }
        // A log's bundles of a format that derives op ids passed that check
        // when they were appended.
        let ids_derived = header.format >= FORMAT_DERIVED_OP_IDS && self.from_log;
        for (index, op) in bundle.ops.iter().enumerate() {
            let derived = ids_derived || op.id.is_derived(&header.author, header.seq, index);
            self.operation(out, op, derived);
        }
        if !clock_derived {
            out.fixed(&header.hlc.to_bytes());
        }
        if !hashes_derived {
            out.varint(header.op_hashes.len() as u64);
            for hash in &header.op_hashes {
                out.fixed(&hash.0);
            }
        }
        if let Some(signature) = signature {
            out.fixed(&signature.to_bytes());
        }
    }

    /// An operation: its clock, its own id, its payload. The id is 0 and its
    /// time (as a distance from the clock) when it is the one derived from
    /// its place ([`OpId::derived`]), which the reader derives again;
    /// otherwise a [`reference`] from 1. Either way it joins the table, for
    /// the operations that refer to it.
    fn operation(&mut self, out: &mut Encoder, op: &Operation, id_derived: bool) {
        let wall = op.hlc.wall();
        out.signed_varint(wall.wrapping_sub(self.last_wall) as i64).varint(u64::from(op.hlc.counter()));
        self.last_wall = wall;
        let id = *op.id.as_bytes();
        if id_derived && !self.ids.contains_key(&id) {
            write_time_near(out.varint(0), &id, wall);
            self.ids.insert(id, self.ids.len() as u32);
        } else {
            reference(out, &mut self.ids, id, 1, |out, id| write_id_near(out, &id, wall));
        }
        encode_payload(&op.payload, &mut OpWriter { stream: self, out, wall, next_id: 0 });
    }

    fn name(&mut self, out: &mut Encoder, name: &str) {
        if let Some(&index) = self.names.get(name) {
            out.varint(self.names.len() as u64 - u64::from(index));
        } else {
            out.varint(0).str(name);
            self.names.insert(name.to_owned(), self.names.len() as u32);
        }
    }
}

/// `bundles`, each author's in chain order, without the bundles after an
/// author's last signed one: nothing could vouch for them yet (the newest
/// bundle of every stored chain is signed, so only a partial view has such
/// a tail).
pub fn vouched_runs<'a>(bundles: impl Iterator<Item = &'a Bundle>) -> Vec<&'a Bundle> {
    let mut vouched: Vec<&Bundle> = Vec::new();
    // Where the current author's bundles after their last signed one begin.
    let mut unvouched_from = 0;
    for bundle in bundles {
        if vouched.last().is_some_and(|last| last.header.author != bundle.header.author) {
            vouched.truncate(unvouched_from);
        }
        vouched.push(bundle);
        if bundle.signature.is_some() {
            unvouched_from = vouched.len();
        }
    }
    vouched.truncate(unvouched_from);
    vouched
}

/// `bundles` (from [`vouched_runs`]) as the parts of stream number
/// `stream`, of about `batch_size` bundles each but for the first few
/// ([`part_size`]): a part ends only where an author's run ends or at a
/// signed bundle, so every run in it is vouched for.
pub fn stream_parts(workspace: WorkspaceId, bundles: &[&Bundle], stream: u32, batch_size: usize) -> Vec<BundlePart> {
    let mut writer = StreamWriter::new(stream);
    let mut upcoming = bundles.iter().copied().peekable();
    let mut parts = Vec::new();
    let mut left = bundles.len();
    while upcoming.peek().is_some() {
        let part = writer.take_part(&mut upcoming, batch_size);
        left -= part.len();
        parts.push(writer.part(workspace, &part, left as u64));
    }
    parts
}

/// Bundles of this device's log as one part that reads alone and keeps
/// every signature they carry: how the log is stored
/// ([`crate::store::encode_log_record`]). Storage must give back the log as
/// it was: a signature kept every so often along a chain is what lets a
/// catch-up sent from it be cut into small parts.
pub(crate) fn stored_part(workspace: WorkspaceId, bundles: &[&Bundle]) -> BundlePart {
    StreamWriter::storing().part(workspace, bundles, 0)
}

/// A stream a hub sends from its [`OpLog`], one part at a time, so that
/// serving a catch-up of a whole log never holds the sender's thread for
/// long: the driver asks for the next part when it has a moment.
///
/// What it holds to send is a queue of runs by author and seq, not the
/// bundles: the log keeps those. The log checked them when it took them in
/// (every operation matches its hash, every bundle is linked to the one
/// before it in its chain), so writing them needs none of that hashing
/// again, a good part of a catch-up's sending. (Were a bundle not so, its
/// receiver would derive other hashes and refuse it: nothing false can get
/// through, only something true be lost.)
pub struct LogStream {
    writer: StreamWriter,
    /// Author, then the first and last seq of a run of their chain, in
    /// the order the bundles go out.
    queue: VecDeque<(ActorId, u64, u64)>,
    /// Bundles in the queue.
    queued: u64,
}

impl LogStream {
    pub fn new(stream: u32) -> LogStream {
        LogStream {
            writer: StreamWriter { from_log: true, ..StreamWriter::new(stream) },
            queue: VecDeque::new(),
            queued: 0,
        }
    }

    /// Queues `bundles` (from [`vouched_runs`] over the log) behind what
    /// the stream still has to send; they follow in the same stream.
    pub fn push(&mut self, bundles: &[&Bundle]) {
        self.writer.expect(bundles.len());
        for bundle in bundles {
            let (author, seq) = (bundle.header.author, bundle.header.seq);
            match self.queue.back_mut() {
                Some((last_author, _, last)) if *last_author == author && last.checked_add(1) == Some(seq) => {
                    *last = seq
                }
                _ => self.queue.push_back((author, seq, seq)),
            }
        }
        self.queued += bundles.len() as u64;
    }

    /// Everything queued went out.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty()
    }

    /// The stream's next part, taken from the front of the queue; `None`
    /// once everything went out. The log never forgets a bundle, but were
    /// one queued missing, the stream would end before it.
    pub fn next_part(&mut self, log: &OpLog, workspace: WorkspaceId, batch_size: usize) -> Option<BundlePart> {
        let queued = self.queue.iter().flat_map(|&(author, first, last)| (first..=last).map(move |seq| (author, seq)));
        let mut upcoming = queued.map_while(|(author, seq)| log.get(&author, seq)).peekable();
        let bundles = self.writer.take_part(&mut upcoming, batch_size);
        let taken = bundles.len() as u64;
        let mut to_drop = taken;
        while to_drop > 0 {
            let Some((_, first, last)) = self.queue.front_mut() else { break };
            let in_run = *last - *first + 1;
            if in_run <= to_drop {
                self.queue.pop_front();
                to_drop -= in_run;
            } else {
                *first += to_drop;
                to_drop = 0;
            }
        }
        self.queued = self.queued.saturating_sub(taken);
        if bundles.is_empty() {
            self.queue.clear();
            self.queued = 0;
            return None;
        }
        Some(self.writer.part(workspace, &bundles, self.queued))
    }
}

/// Bundles in the first part of a stream; each next part may hold twice as
/// many, up to the batch size.
const FIRST_PART_BUNDLES: usize = 32;

/// The size part number `part` of a stream aims for. A stream starts small:
/// a receiver running code for the first time (a browser compiles it as it
/// is first called, then again, optimised, once it runs often) takes in a
/// small part in a short task, and the full batches come once its code is
/// hot. The first parts also show progress sooner.
fn part_size(part: usize, batch_size: usize) -> usize {
    // Twenty doublings (32 Mi bundles) pass any batch size.
    let doublings = part.min(20) as u32;
    (FIRST_PART_BUNDLES << doublings).min(batch_size).max(1)
}

/// How a bundle relates to its neighbours in a part: what it need not repeat.
#[derive(Clone, Copy)]
struct Links {
    /// It directly follows the bundle before it in its author's chain.
    continues: bool,
    /// A later bundle of its run in the part is signed: its own signature stays home.
    vouched_later: bool,
    /// Its module versions are those of the bundle before it.
    same_modules: bool,
}

/// Writes a reference to `value`: how far back in `table` it was written,
/// or 0 and the value itself the first time. The tags below `first` stand
/// for something else (see [`StreamWriter::operation`]): everything is
/// written `first` higher.
fn reference<T: std::hash::Hash + Eq + Copy>(
    out: &mut Encoder,
    table: &mut FxHashMap<T, u32>,
    value: T,
    first: u64,
    write_new: impl FnOnce(&mut Encoder, T),
) {
    if let Some(&index) = table.get(&value) {
        out.varint(first + table.len() as u64 - u64::from(index));
    } else {
        out.varint(first);
        write_new(out, value);
        table.insert(value, table.len() as u32);
    }
}

/// Reads what [`reference`] wrote with `first` 0.
fn dereference<T: Clone>(
    input: &mut Decoder<'_>,
    table: &mut Vec<T>,
    what: &'static str,
    read_new: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let offset = input.position();
    let tag = input.varint(what)?;
    resolve(input, table, (tag, 0), DecodeError { offset, what }, read_new)
}

/// What [`reference`] wrote as `tag` (already read) with `first`; `error`
/// for a tag that refers to nothing in `table`.
fn resolve<T: Clone>(
    input: &mut Decoder<'_>,
    table: &mut Vec<T>,
    (tag, first): (u64, u64),
    error: DecodeError,
    read_new: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    match tag.checked_sub(first) {
        Some(0) => {
            let value = read_new(input)?;
            table.push(value.clone());
            Ok(value)
        }
        back => back
            .and_then(|back| usize::try_from(back).ok())
            .and_then(|back| table.len().checked_sub(back))
            .map(|index| table[index].clone())
            .ok_or(error),
    }
}

/// The payload writer of one operation: ids and names by reference. A new
/// id's UUIDv7 time is written as its distance from the operation's clock,
/// which it was made with.
struct OpWriter<'s> {
    stream: &'s mut StreamWriter,
    out: &'s mut Encoder,
    wall: u64,
    /// The place in the payload of the next id.
    next_id: usize,
}

impl PayloadWriter for OpWriter<'_> {
    fn out(&mut self) -> &mut Encoder {
        self.out
    }

    fn id(&mut self, id: &[u8; 16]) {
        let ids = &mut self.stream.ids;
        let distance = ids.get(id).map_or(0, |&index| ids.len() as i64 - i64::from(index));
        let last = self.stream.distances.slot(self.next_id);
        self.out.signed_varint(distance - *last);
        *last = distance;
        self.next_id += 1;
        if distance == 0 {
            write_id_near(self.out, id, self.wall);
            ids.insert(*id, ids.len() as u32);
        }
    }

    fn name(&mut self, name: &str) {
        self.stream.name(self.out, name);
    }
}

impl StreamReader {
    /// A reader of parts written before operation ids were derived from
    /// their place (bundle format 3), whose own ids were plain references:
    /// how records stored then are read.
    pub(crate) fn before_derived_op_ids() -> StreamReader {
        StreamReader { written_in: FORMAT_DERIVED_OP_IDS - 1, ..StreamReader::before_id_changes() }
    }

    /// A reader of parts written before payload ids were written as changes
    /// of distance ([`IdDistances`]), as plain references: how records
    /// stored then are read.
    pub(crate) fn before_id_changes() -> StreamReader {
        StreamReader { ids_as_changes: false, ..StreamReader::default() }
    }

    /// The bundles of `part`, which must be the next part of the stream
    /// being read, or the first part of a new one. Each comes with its hash
    /// and whether its operation hashes were derived (not written), which
    /// the checks then need not compute again.
    pub fn read(&mut self, part: &BundlePart) -> Result<Vec<ArrivedBundle>, DecodeError> {
        let read_up_to = self.position.filter(|(stream, _)| *stream == part.stream).map(|(_, last)| last);
        match read_up_to {
            // A copy of a part already read (a transport that repeats itself).
            Some(last) if part.part <= last && (part.part > 0 || last > 0) => return Ok(Vec::new()),
            Some(last) if part.part == last.wrapping_add(1) => {}
            _ if part.part == 0 => {
                *self = StreamReader {
                    written_in: self.written_in,
                    ids_as_changes: self.ids_as_changes,
                    ..StreamReader::default()
                }
            }
            _ => {
                // A part went missing: its tables are unknown, so the rest
                // of the stream cannot be read.
                self.position = None;
                return Err(DecodeError { offset: 0, what: "the next part of the stream (one was lost)" });
            }
        }
        self.position = None;
        let mut input = Decoder::new(&part.body);
        let mut bundles: Vec<ArrivedBundle> =
            Vec::with_capacity(usize::try_from(part.count).unwrap_or(0).min(part.body.len() / MIN_BUNDLE_BYTES));
        for _ in 0..part.count {
            let bundle = self.bundle(&mut input, part.workspace, bundles.last())?;
            bundles.push(bundle);
        }
        input.finish("the end of the bundles")?;
        self.position = Some((part.stream, part.part));
        Ok(bundles)
    }

    fn bundle(
        &mut self,
        input: &mut Decoder<'_>,
        workspace: WorkspaceId,
        previous: Option<&ArrivedBundle>,
    ) -> Result<ArrivedBundle, DecodeError> {
        let previous = previous.map(|previous| (previous.bundle(), previous.hash()));
        let flags_offset = input.position();
        let flags = input.u8("a bundle's flags")?;
        let format = if flags & flag::FORMAT_WRITTEN != 0 { input.u8("a bundle format")? } else { self.written_in };
        let workspace = if flags & flag::WORKSPACE_WRITTEN != 0 {
            WorkspaceId::from_bytes(input.fixed("a workspace id")?)
        } else {
            workspace
        };
        let (author, seq, previous_hash) = if flags & flag::CONTINUES != 0 {
            let (previous, previous_hash) =
                previous.ok_or(DecodeError { offset: flags_offset, what: "a bundle before one that continues it" })?;
            let seq = previous.header.seq.checked_add(1).ok_or(input.error("a sequence number below 2^64"))?;
            (previous.header.author, seq, Some(previous_hash))
        } else {
            let author = dereference(input, &mut self.actors, "an author", |input| {
                Ok(ActorId::from_bytes(input.fixed("an author")?))
            })?;
            let seq = input.varint("a sequence number")?;
            if seq == 0 {
                return Err(input.error("a sequence number from 1"));
            }
            let previous_hash = if seq > 1 { Some(Hash(input.fixed("a previous-bundle hash")?)) } else { None };
            (author, seq, previous_hash)
        };
        let module_versions = if flags & flag::SAME_MODULES != 0 {
            let (previous, _) = previous
                .ok_or(DecodeError { offset: flags_offset, what: "a bundle before one that shares its modules" })?;
            previous.header.module_versions.clone()
        } else {
            let module_count = input.length(2, "a list of module versions")?;
            let mut module_versions = Vec::with_capacity(module_count);
            for _ in 0..module_count {
                module_versions.push((self.name(input, "a module name")?, self.name(input, "a module version")?));
            }
            // As the canonical decoding insists: one encoding per header.
            if !module_versions.windows(2).all(|pair| pair[0].0 < pair[1].0) {
                return Err(input.error("module versions sorted by module name"));
            }
            module_versions.into()
        };
        let op_count = if flags & flag::ONE_OPERATION != 0 { 1 } else { input.length(4, "a number of operations")? };
        let mut ops = Vec::with_capacity(op_count);
        let mut op_ids_from_places = true;
        for index in 0..op_count {
            let (op, id_derived) = self.operation(input, (&author, seq, index))?;
            ops.push(op);
            op_ids_from_places &= id_derived;
        }
        let hlc = if flags & flag::CLOCK_WRITTEN != 0 {
            Hlc::from_bytes(input.fixed("a bundle clock")?)
        } else {
            ops.iter().map(|op| op.hlc).max().ok_or(input.error("a bundle with an operation"))?
        };
        let op_hashes_from_ops = flags & flag::HASHES_WRITTEN == 0;
        let op_hashes = if !op_hashes_from_ops {
            let count = input.length(32, "a list of operation hashes")?;
            (0..count).map(|_| input.fixed("an operation hash").map(Hash)).collect::<Result<_, _>>()?
        } else {
            ops.iter().map(Operation::hash).collect()
        };
        let signature = if flags & flag::SIGNED != 0 {
            Some(Signature::from_bytes(input.fixed::<SIGNATURE_LEN>("a signature")?))
        } else {
            None
        };
        let header =
            BundleHeader { format, workspace, author, seq, previous: previous_hash, hlc, module_versions, op_hashes };
        if header.hash_covers_signature() && signature.is_none() {
            return Err(DecodeError { offset: flags_offset, what: "the signature a format-1 bundle is hashed with" });
        }
        let bundle = Bundle { header, ops, signature };
        let hash = bundle.hash();
        Ok(ArrivedBundle::read(bundle, hash, op_hashes_from_ops, op_ids_from_places))
    }

    /// What [`StreamWriter::operation`] wrote, for the operation at `place`
    /// (author, seq, index); with whether its id was derived from it.
    fn operation(
        &mut self,
        input: &mut Decoder<'_>,
        (author, seq, index): (&ActorId, u64, usize),
    ) -> Result<(Operation, bool), DecodeError> {
        let wall = self.last_wall.wrapping_add(input.signed_varint("an operation clock")? as u64);
        let counter_offset = input.position();
        let counter = u32::try_from(input.varint("an operation clock's counter")?)
            .map_err(|_| DecodeError { offset: counter_offset, what: "an operation clock's counter" })?;
        self.last_wall = wall;
        let id_offset = input.position();
        let tag = input.varint("an operation id")?;
        // Before derived ids the own id was a reference like any other.
        let first = if self.written_in < FORMAT_DERIVED_OP_IDS { 0 } else { 1 };
        let (id, id_derived) = if tag == 0 && first == 1 {
            let time = read_time_near(input, wall, "an operation id's time")?;
            let id = OpId::derived(author, seq, index, time);
            self.ids.push(*id.as_bytes());
            (id, true)
        } else {
            let unknown = DecodeError { offset: id_offset, what: "an operation id" };
            let id = resolve(input, &mut self.ids, (tag, first), unknown, |input| read_id_near(input, wall))?;
            (OpId::from_bytes(id), false)
        };
        let payload = decode_payload(&mut OpReader { stream: self, input, wall, next_id: 0 })?;
        Ok((Operation { id, hlc: Hlc::new(wall, counter), payload }, id_derived))
    }

    fn name(&mut self, input: &mut Decoder<'_>, what: &'static str) -> Result<String, DecodeError> {
        self.with_name(input, what, |name| name.to_string())
    }

    /// `read` of a name, looked at where the table holds it: most names of a
    /// stream are references, and each copy taken of one is an allocation
    /// per operation.
    fn with_name<T>(
        &mut self,
        input: &mut Decoder<'_>,
        what: &'static str,
        read: impl FnOnce(&Arc<str>) -> T,
    ) -> Result<T, DecodeError> {
        let offset = input.position();
        let index = match input.varint(what)? {
            0 => {
                self.names.push(input.str(what)?.into());
                self.names.len() - 1
            }
            back => usize::try_from(back)
                .ok()
                .and_then(|back| self.names.len().checked_sub(back))
                .ok_or(DecodeError { offset, what })?,
        };
        Ok(read(&self.names[index]))
    }
}

/// The reading side of [`OpWriter`].
struct OpReader<'s, 'a> {
    stream: &'s mut StreamReader,
    input: &'s mut Decoder<'a>,
    wall: u64,
    /// The place in the payload of the next id.
    next_id: usize,
}

impl<'a> PayloadReader<'a> for OpReader<'_, 'a> {
    const MIN_ID_BYTES: usize = 1;

    fn input(&mut self) -> &mut Decoder<'a> {
        self.input
    }

    fn id(&mut self, what: &'static str) -> Result<[u8; 16], DecodeError> {
        let wall = self.wall;
        let ids = &mut self.stream.ids;
        if !self.stream.ids_as_changes {
            return dereference(self.input, ids, what, |input| read_id_near(input, wall));
        }
        let offset = self.input.position();
        let change = self.input.signed_varint(what)?;
        let last = self.stream.distances.slot(self.next_id);
        self.next_id += 1;
        let unknown = DecodeError { offset, what };
        let distance = last.checked_add(change).ok_or(unknown)?;
        *last = distance;
        if distance == 0 {
            let id = read_id_near(self.input, wall)?;
            ids.push(id);
            return Ok(id);
        }
        usize::try_from(distance)
            .ok()
            .and_then(|back| ids.len().checked_sub(back))
            .map(|index| ids[index])
            .ok_or(unknown)
    }

    fn name<T: OpName>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let offset = self.input.position();
        self.stream.with_name(self.input, what, T::from_shared)?.ok_or(DecodeError { offset, what })
    }
}

fn read_u32(input: &mut Decoder<'_>, what: &'static str) -> Result<u32, DecodeError> {
    let offset = input.position();
    u32::try_from(input.varint(what)?).map_err(|_| DecodeError { offset, what })
}
