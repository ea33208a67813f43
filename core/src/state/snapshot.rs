//! The snapshot encoding of [`State`]: the sets that operations fill, so
//! that opening a workspace does not replay its log. Everything derived from
//! them (adopted schemas, mappings, merges, indexes) is recomputed on load.
//!
//! Actors are written once, in a dictionary after the body, so that the
//! body, written a step at a time, is never copied; stamps refer to them by
//! index. Field values are written apart from the body too, one after the
//! other in the order the body names them: values of one field from record
//! to record are mostly alike, and side by side deflate finds what they
//! share, where the stamps between them in the body hid it (a tenth of a
//! 10,000-record snapshot, deflated). The last eight bytes say where the
//! values and the dictionary start. A record's id is written as its time's
//! distance from the record before (records are in id order, and ids are
//! UUIDv7s, time first) and its ten other bytes. Names (tables, fields, edge types, properties)
//! are written the first time and then referred to by number, and the
//! reader shares one copy of each. Clocks are written as their distance
//! from the clock written before. An operation id is its time (as the
//! distance from that clock) and, where it is derived from its place in the
//! log ([`OpId::derived`]), that place, from which the reader derives it
//! again; otherwise its ten other bytes. A place's seq is written as its
//! distance from the seq written before: records made and edited in a
//! stretch name seqs that advance alike from one record to the next, so
//! the distances repeat and deflate to little, where the seqs would not. What a record (or relationship)
//! replaced and was touched by is mostly the writes and events it holds, so
//! those are written as their places in it.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{
    Actors, EdgeDefinition, EdgeRecord, EntityRecord, Latest, MappingEvent, OpPlace, Register, Resolution, RosterEntry,
    Stamp, State, Touch, Write,
};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::{
    EdgeId, EntityId, OpId, id_from_time, read_id_near, read_time_near, uuid_millis, write_id_near, write_time_near,
};
use crate::names::{EdgeType, FieldKey, OpName, TableId};
use crate::op::{decode_payload, decode_value, encode_payload, encode_value};

/// Version of the snapshot encoding. A snapshot of another version is
/// ignored and the state rebuilt from the log, which is always legal.
const SNAPSHOT_FORMAT: u8 = 6;

/// The least bytes an operation id outside a stamp takes: its time, its
/// index, author and seq.
const MIN_OP_ID: usize = 4;
/// The least bytes one stamp takes: clock (wall and counter), actor index,
/// op id (time, index and seq).
const MIN_STAMP: usize = 2 + 1 + 3;

/// Where operations are in the log, so that a snapshot can write an id
/// derived from its place as that place.
pub trait OpPlaces {
    /// The seq of `op`'s bundle and its index in it, if its id is the one
    /// [`OpId::derived`] makes for them (with its author).
    fn derived_place(&self, op: &OpId) -> Option<(u64, usize)>;
    /// The author of `op`, where a snapshot has not met it in a stamp:
    /// slower, as it reads the bundle.
    fn author(&self, op: &OpId) -> Option<ActorId>;
    /// Whether ids are written as their places at all, where a stamp
    /// already knows its place.
    fn writes_places(&self) -> bool {
        true
    }
}

/// No place known: every id is written whole.
pub struct NoPlaces;

impl OpPlaces for NoPlaces {
    fn derived_place(&self, _: &OpId) -> Option<(u64, usize)> {
        None
    }

    fn author(&self, _: &OpId) -> Option<ActorId> {
        None
    }

    fn writes_places(&self) -> bool {
        false
    }
}

impl State {
    pub fn encode_snapshot(&self, log: &dyn OpPlaces) -> Vec<u8> {
        let mut encoder = SnapshotEncoder::new(self, log);
        encoder.step(self, log, usize::MAX);
        encoder.finish()
    }

    pub fn decode_snapshot(bytes: &[u8]) -> Result<State, DecodeError> {
        let mut decoder = SnapshotDecoder::new(bytes)?;
        while !decoder.step(usize::MAX)? {}
        Ok(decoder.finish())
    }

    /// Rebuilds the lookup indexes from the records they index.
    fn rebuild_indexes(&mut self) {
        self.edges_by_entity.clear();
        for (edge, record) in &self.edges {
            if let Some(definition) = &record.definition {
                self.edges_by_entity.entry(definition.source).or_default().insert(*edge);
                self.edges_by_entity.entry(definition.target).or_default().insert(*edge);
            }
        }
        self.table_members.clear();
        for (entity, record) in &self.entities {
            for table in record.tables.keys() {
                self.table_members.entry(table.clone()).or_default().insert(*entity);
            }
        }
    }
}

/// Encodes a snapshot of a state a few records at a time, so that a driver
/// can yield between steps on a large workspace. The state must be the same
/// at every step: a caller whose state changed meanwhile starts again.
pub struct SnapshotEncoder {
    writer: SnapshotWriter,
    /// The last record written, once records are being written.
    after: Option<EntityId>,
    done: bool,
}

impl SnapshotEncoder {
    pub fn new(state: &State, log: &dyn OpPlaces) -> SnapshotEncoder {
        // The body takes about 16 bytes per operation the state holds (more
        // where ids are not derived from their places), the values about 20
        // for short texts (a 100,000-write workspace): room for a little more
        // at once, rather than growing (and copying, and in wasm touching
        // fresh memory) a few times on the way; but never a huge block up
        // front, which a browser's memory might not give.
        let mut out = Encoder::with_capacity(state.op_count.saturating_mul(20).min(64 << 20));
        out.u8(SNAPSHOT_FORMAT);
        let mut writer = SnapshotWriter {
            out,
            values: Encoder::with_capacity(state.op_count.saturating_mul(24).min(64 << 20)),
            actors: Actors::default(),
            names: FxHashMap::default(),
            scratch: HistoryScratch::default(),
            last_wall: 0,
            last_seq: 0,
            last_record_ms: 0,
            looked_up: Recent::new(),
        };
        writer.write_head(log, state);
        SnapshotEncoder { writer, after: None, done: false }
    }

    /// Writes up to `records` more records, and everything after them once
    /// the last is in. Returns whether the snapshot is complete. `log` is
    /// the state's, as at every step.
    pub fn step(&mut self, state: &State, log: &dyn OpPlaces, records: usize) -> bool {
        if self.done {
            return true;
        }
        let rest = match self.after {
            Some(after) => state.entities.range((Bound::Excluded(after), Bound::Unbounded)),
            None => state.entities.range(..),
        };
        let mut written = 0;
        for (entity, record) in rest.take(records) {
            self.writer.entity(log, &state.actors, *entity, record);
            self.after = Some(*entity);
            written += 1;
        }
        let last = state.entities.keys().next_back().copied();
        if written < records || self.after == last {
            self.writer.write_tail(log, state);
            self.done = true;
        }
        self.done
    }

    /// The snapshot's bytes: the format and the body, the values, the actor
    /// dictionary, then where the values and the dictionary start. Only once
    /// [`SnapshotEncoder::step`] said the snapshot is complete.
    pub fn finish(self) -> Vec<u8> {
        assert!(self.done, "a snapshot is finished only once every step is done");
        let SnapshotWriter { mut out, values, actors, .. } = self.writer;
        let values_at = out.as_bytes().len() as u32;
        out.fixed(values.as_bytes());
        let dictionary_at = out.as_bytes().len() as u32;
        out.varint(actors.ids().len() as u64);
        for actor in actors.ids() {
            out.fixed(actor.as_bytes());
        }
        out.fixed(&values_at.to_le_bytes()).fixed(&dictionary_at.to_le_bytes());
        out.into_bytes()
    }
}

/// Decodes a snapshot a few records at a time, the counterpart of
/// [`SnapshotEncoder`]: a driver can yield between steps while a large
/// workspace reopens.
pub struct SnapshotDecoder<'a> {
    reader: SnapshotReader<'a>,
    state: State,
    /// Records still to read; `None` once the part after them is read.
    records_left: Option<usize>,
}

impl<'a> SnapshotDecoder<'a> {
    /// Reads everything before the records.
    pub fn new(bytes: &'a [u8]) -> Result<SnapshotDecoder<'a>, DecodeError> {
        let mut input = Decoder::new(bytes);
        if input.u8("a snapshot format")? != SNAPSHOT_FORMAT {
            return Err(DecodeError { offset: 0, what: "a known snapshot format" });
        }
        let Some([values_at, dictionary_at, end]) = section_starts(bytes) else {
            return Err(DecodeError { offset: bytes.len(), what: "where the snapshot's values and actors are" });
        };
        let actors = read_actors(Decoder::within(bytes, dictionary_at..end))?;
        let mut input = Decoder::new(&bytes[..values_at]);
        input.u8("a snapshot format")?;
        let mut reader = SnapshotReader {
            input,
            values: Decoder::within(bytes, values_at..dictionary_at),
            actors,
            names: Vec::new(),
            last_wall: 0,
            last_seq: 0,
            last_record_ms: 0,
            numbered: Actors::default(),
            derived: Recent::new(),
        };
        let mut state = State::default();
        let records = reader.read_head(&mut state)?;
        Ok(SnapshotDecoder { reader, state, records_left: Some(records) })
    }

    /// Reads up to `records` more records, and everything after them once
    /// the last is in. Returns whether the snapshot is read.
    pub fn step(&mut self, records: usize) -> Result<bool, DecodeError> {
        let Some(left) = self.records_left else { return Ok(true) };
        let records = records.max(1);
        for _ in 0..left.min(records) {
            let (entity, record) = self.reader.entity_record()?;
            self.state.entities.insert(entity, record);
        }
        if left > records {
            self.records_left = Some(left - records);
            return Ok(false);
        }
        self.reader.read_tail(&mut self.state)?;
        self.reader.input.finish("the end of the snapshot's body")?;
        self.reader.values.finish("the end of the snapshot's values")?;
        self.records_left = None;
        Ok(true)
    }

    /// The state, with everything derived from the sets recomputed. Only
    /// once [`SnapshotDecoder::step`] said the snapshot is read.
    pub fn finish(self) -> State {
        assert!(self.records_left.is_none(), "a snapshot is finished only once every step is done");
        let mut state = self.state;
        state.actors = self.reader.numbered;
        state.recompute_modules();
        state.recompute_mappings();
        state.recompute_merges();
        state.rebuild_indexes();
        state
    }
}

/// Where a snapshot's values, its actor dictionary and its trailer start,
/// in that order, as its trailer says, if they can be so.
fn section_starts(bytes: &[u8]) -> Option<[usize; 3]> {
    let end = bytes.len().checked_sub(8)?;
    let start_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")) as usize;
    let (values_at, dictionary_at) = (start_at(end), start_at(end + 4));
    (1 <= values_at && values_at <= dictionary_at && dictionary_at <= end).then_some([values_at, dictionary_at, end])
}

/// The actor dictionary of a snapshot.
fn read_actors(mut dictionary: Decoder<'_>) -> Result<Vec<ActorId>, DecodeError> {
    let count = dictionary.length(32, "the snapshot's actors")?;
    let mut actors = Vec::with_capacity(count);
    for _ in 0..count {
        actors.push(ActorId::from_bytes(dictionary.fixed("an actor id")?));
    }
    dictionary.finish("the end of the snapshot's actors")?;
    Ok(actors)
}

struct SnapshotWriter {
    out: Encoder,
    /// The field values, apart from the body.
    values: Encoder,
    /// The actors written, numbered in the order met: the dictionary.
    actors: Actors,
    /// Names written so far, by number.
    names: FxHashMap<String, u64>,
    /// Room reused from record to record (see [`SnapshotWriter::history`]).
    scratch: HistoryScratch,
    /// The wall time of the last clock written: the next is written as its
    /// distance from it.
    last_wall: u64,
    /// The seq of the last place written: the next is written as its
    /// distance from it.
    last_seq: u64,
    /// The time of the last record's id: the next is written as its
    /// distance from it.
    last_record_ms: u64,
    /// Operations recently looked up in the log, with their places: a
    /// record names most of its operations more than once (a creation is
    /// also the record's table and its first write; a replaced write is
    /// also a touch), and each look-up is a cache miss in a large log.
    looked_up: Recent<OpId, Option<Place>>,
}

/// An operation's place in the log: author (where known yet), seq, index.
type Place = (Option<ActorId>, u64, usize);

/// What was worked out for the last few operations, to find again rather
/// than work out again: kept short, so a linear search is the fastest.
struct Recent<K, V> {
    recent: Vec<(K, V)>,
}

impl<K: PartialEq + Copy, V: Copy> Recent<K, V> {
    /// How many are kept; past that, all are forgotten at once (a record
    /// names fewer operations).
    const KEPT: usize = 32;

    fn new() -> Self {
        Recent { recent: Vec::with_capacity(Self::KEPT) }
    }

    /// At a new record, which mostly names other operations than the last.
    fn forget(&mut self) {
        self.recent.clear();
    }

    fn get_or_insert_with(&mut self, key: K, work_out: impl FnOnce() -> V) -> V {
        if let Some((_, known)) = self.recent.iter().find(|(seen, _)| *seen == key) {
            return *known;
        }
        if self.recent.len() == Self::KEPT {
            self.forget();
        }
        let worked_out = work_out();
        self.recent.push((key, worked_out));
        worked_out
    }
}

/// What working out one record's history needs, kept between records so
/// that a snapshot of many records does not allocate for each.
#[derive(Default)]
struct HistoryScratch {
    held_ops: Vec<OpId>,
    held_touches: Vec<Touch>,
    places: Vec<usize>,
}

/// The stamps a record or relationship holds, in the order they are written
/// (each write of each field or property last): what replaced writes and
/// touches refer to by place. Walked where they are, not copied: a
/// 100,000-write workspace holds over a hundred thousand of them.
fn held_stamps<'a>(
    events: impl Iterator<Item = &'a Stamp> + Clone,
    registers: impl Iterator<Item = &'a Register> + Clone,
) -> impl Iterator<Item = &'a Stamp> + Clone {
    events.chain(registers.flat_map(|register| register.0.iter().map(|write| &write.stamp)))
}

fn latest_stamp(latest: &Latest) -> Option<&Stamp> {
    latest.0.as_ref().map(|(stamp, _)| stamp)
}

impl EntityRecord {
    fn held_stamps(&self) -> impl Iterator<Item = &Stamp> + Clone {
        let events =
            self.created.iter().chain(latest_stamp(&self.alive)).chain(self.tables.values().filter_map(latest_stamp));
        held_stamps(events, self.fields.values())
    }
}

impl EdgeRecord {
    fn held_stamps(&self) -> impl Iterator<Item = &Stamp> + Clone {
        let created = self.definition.as_ref().map(|definition| &definition.created);
        held_stamps(created.into_iter().chain(latest_stamp(&self.alive)), self.properties.values())
    }
}

/// The touch a held stamp is, given the numbers of the state's actors:
/// none if its actor has none (it touched nothing).
fn touch(actors: &Actors, stamp: &Stamp) -> Option<Touch> {
    Some((stamp.hlc, stamp.op, actors.find(&stamp.actor)?))
}

impl SnapshotWriter {
    fn actor(&mut self, actor: ActorId) {
        let number = self.actors.number(actor);
        self.out.varint(number.into());
    }

    fn stamp(&mut self, log: &dyn OpPlaces, stamp: &Stamp) {
        let wall = stamp.hlc.wall();
        self.out.signed_varint(wall.wrapping_sub(self.last_wall) as i64).varint(u64::from(stamp.hlc.counter()));
        self.last_wall = wall;
        self.actor(stamp.actor);
        self.op_id(log, &stamp.op, Some((&stamp.actor, stamp.place)));
    }

    /// An operation id: its time as the distance from the last clock
    /// written; then, where it is derived from its place, its index there
    /// plus one, its author (unless `author`, a stamp's actor, already
    /// names it) and its seq (as the distance from the last seq written);
    /// otherwise 0 and its ten other bytes.
    ///
    /// A stamp's actor is always the author of its operation (the state
    /// applies every operation as its bundle author's), so a stamp's op id
    /// needs only its seq and index, which the stamp mostly holds (or else
    /// the log), and it teaches the memo the author for the ids written
    /// outside stamps (a record's touches are written before what it
    /// replaced for that reason).
    fn op_id(&mut self, log: &dyn OpPlaces, op: &OpId, stamp: Option<(&ActorId, Option<OpPlace>)>) {
        write_time_near(&mut self.out, op.as_bytes(), self.last_wall);
        let author = stamp.map(|(author, _)| author);
        let held = stamp.and_then(|(_, place)| place).filter(|_| log.writes_places());
        let looked_up = || {
            held.map(|place| (place.seq(), place.index()))
                .or_else(|| log.derived_place(op))
                .map(|(seq, index)| (author.copied(), seq, index))
        };
        // The place to write, with the author unless the stamp names it.
        let place = match (self.looked_up.get_or_insert_with(*op, looked_up), author) {
            (Some((_, seq, index)), Some(_)) => Some((None, seq, index)),
            (Some((known, seq, index)), None) => {
                known.or_else(|| log.author(op)).map(|author| (Some(author), seq, index))
            }
            (None, _) => None,
        };
        match place {
            Some((place_author, seq, index)) => {
                self.out.varint(index as u64 + 1);
                if let Some(place_author) = place_author {
                    self.actor(place_author);
                }
                self.out.signed_varint(seq.wrapping_sub(self.last_seq) as i64);
                self.last_seq = seq;
            }
            None => {
                self.out.varint(0).fixed(&op.as_bytes()[6..]);
            }
        }
    }

    fn name(&mut self, name: &str) {
        if let Some(&index) = self.names.get(name) {
            self.out.varint(index + 1);
        } else {
            self.out.varint(0).str(name);
            self.names.insert(name.to_owned(), self.names.len() as u64);
        }
    }

    /// Places in a list, ascending, each as its distance past the one before.
    fn places(out: &mut Encoder, places: &[usize]) {
        out.varint(places.len() as u64);
        let mut next = 0;
        for &place in places {
            out.varint((place - next) as u64);
            next = place + 1;
        }
    }

    /// What a record or relationship was touched by and replaced, by place
    /// among the stamps it holds (`held`, as [`held_stamps`] gives them)
    /// where they are among them: the places of held stamps that are not
    /// touches, then any touch it does not hold; the places of held writes
    /// it replaced, then any replaced write it does not hold. Touches come
    /// first: a replaced write is mostly a touch too, whose stamp tells
    /// [`SnapshotWriter::op_id`] its author.
    fn history<'a>(
        &mut self,
        log: &dyn OpPlaces,
        actors: &Actors,
        held: impl Iterator<Item = &'a Stamp> + Clone,
        replaced: &BTreeSet<OpId>,
        touches: &BTreeSet<Touch>,
    ) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.places.clear();
        scratch.held_touches.clear();
        for (at, stamp) in held.clone().enumerate() {
            match touch(actors, stamp).filter(|touch| touches.contains(touch)) {
                Some(touch) => scratch.held_touches.push(touch),
                None => scratch.places.push(at),
            }
        }
        Self::places(&mut self.out, &scratch.places);
        // The touches no held stamp is: mostly none, told by their count.
        scratch.held_touches.sort_unstable();
        scratch.held_touches.dedup();
        let elsewhere = |touch: &&Touch| scratch.held_touches.binary_search(touch).is_err();
        let touched_elsewhere = touches.len() - scratch.held_touches.len();
        self.out.varint(touched_elsewhere as u64);
        if touched_elsewhere > 0 {
            for (hlc, op, actor) in touches.iter().filter(elsewhere) {
                self.stamp(log, &Stamp { hlc: *hlc, op: *op, actor: actors.id(*actor), place: None });
            }
        }
        scratch.places.clear();
        scratch.held_ops.clear();
        for (at, stamp) in held.enumerate() {
            if replaced.contains(&stamp.op) {
                scratch.places.push(at);
                scratch.held_ops.push(stamp.op);
            }
        }
        Self::places(&mut self.out, &scratch.places);
        scratch.held_ops.sort_unstable();
        scratch.held_ops.dedup();
        let elsewhere = |op: &&OpId| scratch.held_ops.binary_search(op).is_err();
        let replaced_elsewhere = replaced.len() - scratch.held_ops.len();
        self.out.varint(replaced_elsewhere as u64);
        if replaced_elsewhere > 0 {
            for op in replaced.iter().filter(elsewhere) {
                self.op_id(log, op, None);
            }
        }
        self.scratch = scratch;
    }

    fn optional_stamp(&mut self, log: &dyn OpPlaces, stamp: &Option<Stamp>) {
        self.out.bool(stamp.is_some());
        if let Some(stamp) = stamp {
            self.stamp(log, stamp);
        }
    }

    fn latest(&mut self, log: &dyn OpPlaces, latest: &Latest) {
        self.out.bool(latest.0.is_some());
        if let Some((stamp, yes)) = &latest.0 {
            self.stamp(log, stamp);
            self.out.bool(*yes);
        }
    }

    fn register(&mut self, log: &dyn OpPlaces, register: &Register) {
        self.out.varint(register.0.len() as u64);
        for write in &register.0 {
            self.stamp(log, &write.stamp);
            self.out.bool(write.value.is_some());
            if let Some(value) = &write.value {
                encode_value(&mut self.values, value);
            }
            self.out.bool(write.resolution.is_some());
            if let Some(resolution) = &write.resolution {
                self.out.varint(resolution.resolves.len() as u64);
                for op in &resolution.resolves {
                    self.op_id(log, op, None);
                }
                self.out.bool(resolution.supersedes.is_some());
                if let Some(op) = &resolution.supersedes {
                    self.op_id(log, op, None);
                }
            }
        }
    }

    /// Everything before the records, and their number.
    fn write_head(&mut self, log: &dyn OpPlaces, state: &State) {
        self.out.bool(state.workspace_name.is_some());
        if let Some((stamp, name)) = &state.workspace_name {
            self.stamp(log, stamp);
            self.out.str(name);
        }
        self.out.varint(state.roster.len() as u64);
        for entry in state.roster.values() {
            self.actor(entry.actor);
            self.out.str(&entry.display_name);
            self.stamp(log, &entry.admitted);
        }
        self.out.varint(state.module_ops.len() as u64);
        for (stamp, manifest, tables) in state.module_ops.values() {
            self.stamp(log, stamp);
            self.out.str(manifest).bool(tables.is_some());
            if let Some(tables) = tables {
                self.out.str(tables);
            }
        }
        self.out.varint(state.entities.len() as u64);
    }

    fn entity(&mut self, log: &dyn OpPlaces, actors: &Actors, entity: EntityId, record: &EntityRecord) {
        self.looked_up.forget();
        write_id_near(&mut self.out, entity.as_bytes(), self.last_record_ms);
        self.last_record_ms = uuid_millis(entity.as_bytes());
        self.optional_stamp(log, &record.created);
        self.latest(log, &record.alive);
        self.out.varint(record.tables.len() as u64);
        for (table, latest) in &record.tables {
            self.name(table.as_str());
            self.latest(log, latest);
        }
        self.out.varint(record.fields.len() as u64);
        for (field, register) in &record.fields {
            self.name(field.as_str());
            self.register(log, register);
        }
        self.history(log, actors, record.held_stamps(), &record.replaced, &record.touched_by);
    }

    /// Everything after the records.
    fn write_tail(&mut self, log: &dyn OpPlaces, state: &State) {
        self.out.varint(state.edges.len() as u64);
        for (edge, record) in &state.edges {
            self.looked_up.forget();
            self.out.fixed(edge.as_bytes()).bool(record.definition.is_some());
            if let Some(definition) = &record.definition {
                self.name(definition.edge_type.as_str());
                self.out.fixed(definition.source.as_bytes()).fixed(definition.target.as_bytes());
                self.stamp(log, &definition.created);
            }
            self.latest(log, &record.alive);
            self.out.varint(record.properties.len() as u64);
            for (property, register) in &record.properties {
                self.name(property);
                self.register(log, register);
            }
            self.history(log, &state.actors, record.held_stamps(), &record.replaced, &record.touched_by);
        }
        self.out.varint(state.table_links.len() as u64);
        for ((source, target), latest) in &state.table_links {
            self.name(source.as_str());
            self.name(target.as_str());
            self.latest(log, latest);
        }
        self.out.varint(state.mapping_ops.len() as u64);
        for (stamp, event) in state.mapping_ops.values() {
            self.stamp(log, stamp);
            match event {
                MappingEvent::Confirm { shared_key, fields } => {
                    self.out.u8(0).str(shared_key).varint(fields.len() as u64);
                    for field in fields {
                        self.name(field.as_str());
                    }
                }
                MappingEvent::Revoke { mapping } => {
                    self.out.u8(1).fixed(mapping.as_bytes());
                }
            }
        }
        self.out.varint(state.rejected_mappings.len() as u64);
        for (shared_key, fields) in &state.rejected_mappings {
            self.out.str(shared_key).varint(fields.len() as u64);
            for field in fields {
                self.name(field.as_str());
            }
        }
        self.out.varint(state.merge_ops.len() as u64);
        for ((hlc, op), (first, second)) in &state.merge_ops {
            self.out.fixed(&hlc.to_bytes()).fixed(op.as_bytes()).fixed(first.as_bytes()).fixed(second.as_bytes());
        }
        self.out.varint(state.split_ops.len() as u64);
        for ((hlc, op), (source, into, tables)) in &state.split_ops {
            self.out.fixed(&hlc.to_bytes()).fixed(op.as_bytes()).fixed(source.as_bytes()).fixed(into.as_bytes());
            self.out.varint(tables.len() as u64);
            for table in tables {
                self.name(table.as_str());
            }
        }
        self.out.varint(state.access.events.len() as u64);
        for (stamp, payload) in state.access.events.values() {
            self.stamp(log, stamp);
            encode_payload(payload, &mut self.out);
        }
        self.out.varint(state.op_count as u64);
    }
}

struct SnapshotReader<'a> {
    input: Decoder<'a>,
    /// The field values, apart from the body.
    values: Decoder<'a>,
    actors: Vec<ActorId>,
    /// Names read so far, by number; what is read shares them.
    names: Vec<Arc<str>>,
    /// The wall time of the last clock read.
    last_wall: u64,
    /// The seq of the last place read.
    last_seq: u64,
    /// The time of the last record's id.
    last_record_ms: u64,
    /// The actors the touches read name, numbered for the state.
    numbered: Actors,
    /// The ids last derived, by author, seq, index and time: a record names
    /// most of its operations more than once (see [`SnapshotWriter`]).
    derived: Recent<(ActorId, u64, u32, u64), OpId>,
}

impl SnapshotReader<'_> {
    fn actor(&mut self) -> Result<ActorId, DecodeError> {
        let offset = self.input.position();
        let index = self.input.varint("an actor index")?;
        usize::try_from(index)
            .ok()
            .and_then(|index| self.actors.get(index).copied())
            .ok_or(DecodeError { offset, what: "a known actor" })
    }

    fn stamp(&mut self) -> Result<Stamp, DecodeError> {
        let wall = self.last_wall.wrapping_add(self.input.signed_varint("a clock")? as u64);
        let offset = self.input.position();
        let counter = u32::try_from(self.input.varint("a clock's counter")?)
            .map_err(|_| DecodeError { offset, what: "a clock's counter" })?;
        self.last_wall = wall;
        let actor = self.actor()?;
        let (op, place) = self.op_id_at(Some(actor))?;
        Ok(Stamp { hlc: Hlc::new(wall, counter), op, actor, place })
    }

    /// Reads what [`SnapshotWriter::op_id`] wrote, given the same `author`.
    fn op_id(&mut self, author: Option<ActorId>) -> Result<OpId, DecodeError> {
        Ok(self.op_id_at(author)?.0)
    }

    /// [`SnapshotReader::op_id`], and the place the id was derived from.
    fn op_id_at(&mut self, author: Option<ActorId>) -> Result<(OpId, Option<OpPlace>), DecodeError> {
        let time = read_time_near(&mut self.input, self.last_wall, "an operation id's time")?;
        let offset = self.input.position();
        let index = match self.input.varint("an operation id's place")? {
            0 => return Ok((OpId::from_bytes(id_from_time(time, &self.input.fixed("an operation id")?)), None)),
            place => u32::try_from(place - 1).map_err(|_| DecodeError { offset, what: "an operation's index" })?,
        };
        let author = match author {
            Some(author) => author,
            None => self.actor()?,
        };
        let seq = self.last_seq.wrapping_add(self.input.signed_varint("an operation's seq")? as u64);
        self.last_seq = seq;
        let op = self
            .derived
            .get_or_insert_with((author, seq, index, time), || OpId::derived(&author, seq, index as usize, time));
        Ok((op, OpPlace::new(seq, index as usize)))
    }

    fn optional_stamp(&mut self) -> Result<Option<Stamp>, DecodeError> {
        if self.input.bool("a presence marker")? { self.stamp().map(Some) } else { Ok(None) }
    }

    fn latest(&mut self) -> Result<Latest, DecodeError> {
        if !self.input.bool("a presence marker")? {
            return Ok(Latest(None));
        }
        let stamp = self.stamp()?;
        Ok(Latest(Some((stamp, self.input.bool("a yes/no flag")?))))
    }

    fn count(&mut self, min_size: usize, what: &'static str) -> Result<usize, DecodeError> {
        self.input.length(min_size, what)
    }

    fn text(&mut self, what: &'static str) -> Result<String, DecodeError> {
        Ok(self.input.str(what)?.to_owned())
    }

    fn name<T: OpName>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let offset = self.input.position();
        let text = match self.input.varint(what)? {
            0 => {
                let text: Arc<str> = self.input.str(what)?.into();
                self.names.push(text.clone());
                text
            }
            number => usize::try_from(number - 1)
                .ok()
                .and_then(|index| self.names.get(index).cloned())
                .ok_or(DecodeError { offset, what })?,
        };
        T::from_shared(&text).ok_or(DecodeError { offset, what })
    }

    /// Reads what [`SnapshotWriter::places`] wrote: places in a list of `len`.
    fn places(&mut self, len: usize, what: &'static str) -> Result<Vec<usize>, DecodeError> {
        let count = self.count(1, what)?;
        let mut places = Vec::with_capacity(count);
        let mut next = 0usize;
        for _ in 0..count {
            let offset = self.input.position();
            let place = usize::try_from(self.input.varint(what)?)
                .ok()
                .and_then(|distance| next.checked_add(distance))
                .filter(|place| *place < len)
                .ok_or(DecodeError { offset, what })?;
            places.push(place);
            next = place + 1;
        }
        Ok(places)
    }

    /// Reads what [`SnapshotWriter::history`] wrote, given the same `held`.
    fn history<'a>(
        &mut self,
        held: impl Iterator<Item = &'a Stamp> + Clone,
    ) -> Result<(BTreeSet<OpId>, BTreeSet<Touch>), DecodeError> {
        let held_count = held.clone().count();
        let untouched = self.places(held_count, "an untouched stamp's place")?;
        let mut touches: BTreeSet<Touch> = BTreeSet::new();
        let mut untouched = untouched.into_iter().peekable();
        for (at, stamp) in held.clone().enumerate() {
            if untouched.next_if_eq(&at).is_none() {
                touches.insert(self.numbered.touch(stamp));
            }
        }
        for _ in 0..self.count(MIN_STAMP, "a list of operations")? {
            let stamp = self.stamp()?;
            touches.insert(self.numbered.touch(&stamp));
        }
        // Places come in ascending order: one walk of the held stamps.
        let mut replaced_places = self.places(held_count, "a replaced write's place")?.into_iter().peekable();
        let mut replaced: BTreeSet<OpId> = held
            .enumerate()
            .filter(|(at, _)| replaced_places.next_if_eq(at).is_some())
            .map(|(_, stamp)| stamp.op)
            .collect();
        for _ in 0..self.count(MIN_OP_ID, "a list of operation ids")? {
            replaced.insert(self.op_id(None)?);
        }
        Ok((replaced, touches))
    }

    fn register(&mut self) -> Result<Register, DecodeError> {
        let count = self.count(MIN_STAMP + 2, "a field's writes")?;
        let mut writes = Vec::with_capacity(count);
        for _ in 0..count {
            let stamp = self.stamp()?;
            let value =
                if self.input.bool("a presence marker")? { Some(decode_value(&mut self.values)?) } else { None };
            let resolution = if self.input.bool("a presence marker")? {
                let resolves_count = self.count(MIN_OP_ID, "the writes a resolution settled")?;
                let mut resolves = Vec::with_capacity(resolves_count);
                for _ in 0..resolves_count {
                    resolves.push(self.op_id(None)?);
                }
                let supersedes = if self.input.bool("a presence marker")? { Some(self.op_id(None)?) } else { None };
                Some(Box::new(Resolution { resolves, supersedes }))
            } else {
                None
            };
            writes.push(Write { stamp, value, resolution });
        }
        if !writes.windows(2).all(|pair| (pair[0].stamp.hlc, pair[0].stamp.op) < (pair[1].stamp.hlc, pair[1].stamp.op))
        {
            return Err(self.input.error("writes in canonical order"));
        }
        Ok(Register(writes))
    }

    fn entity(&mut self) -> Result<EntityId, DecodeError> {
        self.input.fixed("an entity id").map(EntityId::from_bytes)
    }

    /// Everything before the records; returns their number.
    fn read_head(&mut self, state: &mut State) -> Result<usize, DecodeError> {
        if self.input.bool("a presence marker")? {
            let stamp = self.stamp()?;
            state.workspace_name = Some((stamp, self.text("a workspace name")?));
        }
        for _ in 0..self.count(MIN_STAMP + 2, "the roster")? {
            let actor = self.actor()?;
            let display_name = self.text("a display name")?;
            let admitted = self.stamp()?;
            state.roster.insert(actor, RosterEntry { actor, display_name, admitted });
        }
        for _ in 0..self.count(MIN_STAMP + 2, "the adopted modules")? {
            let stamp = self.stamp()?;
            let manifest = self.text("a module manifest")?;
            let tables = if self.input.bool("a presence marker")? { Some(self.text("a tables file")?) } else { None };
            state.module_ops.insert((stamp.hlc, stamp.op), (stamp, manifest, tables));
        }
        self.count(16 + 5, "the records")
    }

    fn entity_record(&mut self) -> Result<(EntityId, EntityRecord), DecodeError> {
        self.derived.forget();
        let entity = EntityId::from_bytes(read_id_near(&mut self.input, self.last_record_ms)?);
        self.last_record_ms = uuid_millis(entity.as_bytes());
        let mut record = EntityRecord { created: self.optional_stamp()?, alive: self.latest()?, ..Default::default() };
        for _ in 0..self.count(2, "a record's tables")? {
            let table: TableId = self.name("a table name")?;
            record.tables.insert(table, self.latest()?);
        }
        for _ in 0..self.count(2, "a record's fields")? {
            let field: FieldKey = self.name("a field name")?;
            record.fields.insert(field, self.register()?);
        }
        (record.replaced, record.touched_by) = self.history(record.held_stamps())?;
        Ok((entity, record))
    }

    /// Everything after the records.
    fn read_tail(&mut self, state: &mut State) -> Result<(), DecodeError> {
        for _ in 0..self.count(16 + 4, "the relationships")? {
            let edge = EdgeId::from_bytes(self.input.fixed("an edge id")?);
            self.derived.forget();
            let mut record = EdgeRecord::default();
            if self.input.bool("a presence marker")? {
                let edge_type: EdgeType = self.name("an edge type")?;
                let source = self.entity()?;
                let target = self.entity()?;
                record.definition = Some(EdgeDefinition { edge_type, source, target, created: self.stamp()? });
            }
            record.alive = self.latest()?;
            for _ in 0..self.count(2, "a relationship's properties")? {
                let property: String = self.name("a property name")?;
                record.properties.insert(property, self.register()?);
            }
            (record.replaced, record.touched_by) = self.history(record.held_stamps())?;
            state.edges.insert(edge, record);
        }
        for _ in 0..self.count(3, "the table links")? {
            let source: TableId = self.name("a table name")?;
            let target: TableId = self.name("a table name")?;
            state.table_links.insert((source, target), self.latest()?);
        }
        for _ in 0..self.count(MIN_STAMP + 1, "the mapping operations")? {
            let stamp = self.stamp()?;
            let event = match self.input.u8("a mapping operation type")? {
                0 => {
                    let shared_key = self.text("a shared key")?;
                    let mut fields = Vec::new();
                    for _ in 0..self.count(2, "a mapping's fields")? {
                        fields.push(self.name("a field name")?);
                    }
                    MappingEvent::Confirm { shared_key, fields }
                }
                1 => MappingEvent::Revoke { mapping: OpId::from_bytes(self.input.fixed("a mapping id")?) },
                _ => return Err(self.input.error("a known mapping operation type")),
            };
            state.mapping_ops.insert((stamp.hlc, stamp.op), (stamp, event));
        }
        for _ in 0..self.count(2, "the rejected mappings")? {
            let shared_key = self.text("a shared key")?;
            let mut fields = Vec::new();
            for _ in 0..self.count(2, "a mapping's fields")? {
                fields.push(self.name("a field name")?);
            }
            state.rejected_mappings.insert((shared_key, fields));
        }
        for _ in 0..self.count(12 + 48, "the merges")? {
            let hlc = Hlc::from_bytes(self.input.fixed("a clock")?);
            let op = OpId::from_bytes(self.input.fixed("an operation id")?);
            let first = self.entity()?;
            let second = self.entity()?;
            state.merge_ops.insert((hlc, op), (first, second));
        }
        for _ in 0..self.count(12 + 49, "the splits")? {
            let hlc = Hlc::from_bytes(self.input.fixed("a clock")?);
            let op = OpId::from_bytes(self.input.fixed("an operation id")?);
            let source = self.entity()?;
            let into = self.entity()?;
            let mut tables = Vec::new();
            for _ in 0..self.count(2, "a split's tables")? {
                tables.push(self.name("a table name")?);
            }
            state.split_ops.insert((hlc, op), (source, into, tables));
        }
        for _ in 0..self.count(MIN_STAMP + 1, "the access settings")? {
            let stamp = self.stamp()?;
            let payload = decode_payload(&mut self.input)?;
            state.access.record(stamp, &payload);
        }
        let op_count = self.input.varint("an operation count")?;
        state.op_count = usize::try_from(op_count).map_err(|_| self.input.error("an operation count"))?;
        Ok(())
    }
}
