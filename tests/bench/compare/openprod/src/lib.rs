//! Openprod's side of the comparison with Yjs and Automerge
//! (`scripts/bench-compare.sh`; the workloads are described in
//! `tests/bench/compare/workloads.mjs`).
//!
//! [`Bench`] holds two devices of one workspace, the writer (replica A) and a
//! replica (B) that catches up from it, and does each step of the workloads
//! through the engine's API: every write is its own signed bundle. W1's
//! writes are made as one [`Burst`], the engine's way of making many changes
//! in one go, whose bundles are signed together when it ends, within W1's
//! time (the app makes no bursts: a person's edits are signed and stored one
//! by one); a live update (W3) is signed alone, as the app signs an edit. A
//! catch-up travels as the app's sync sends it, the sync protocol's bundle
//! batches into `Workspace::receive` (hash links and signatures verified),
//! and reopening replays the stored log as the app does. The native binary (`main.rs`) times the steps itself; in wasm,
//! `wasm.rs` hands them to the JavaScript harness, which times them exactly
//! as it times the other engines.

mod counting_alloc;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use counting_alloc::live_heap_bytes;

use openprod_core::deflate::{deflate_frame, inflate_frame};
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::EntityId;
use openprod_core::names::{FieldKey, TableId};
use openprod_core::state::State;
use openprod_core::store::{LogFolding, decode_log_record};
use openprod_core::sync::{LogStream, Message, StreamReader, SyncConfig, encode_bundles, vouched_runs};
use openprod_core::value::Value;
use openprod_core::workspace::{Burst, Change, EditError, Opening, Workspace};

// The workloads' shape; `workloads.mjs` gives the other engines the same.
pub const RECORDS: usize = 10_000;
pub const BULK_WRITES: usize = 100_000;
pub const LIVE_UPDATES: usize = 1_000;
/// Contacts fields; `full_name` is required, so the first round's writes
/// create the records.
pub const FIELDS: [&str; 5] = ["full_name", "role", "email", "phone", "department"];

/// W1's write `index`: round after round over every record, one field per
/// round, so that each field is written twice (the second write replaces
/// the first) and round 0 creates the records in order.
pub fn bulk_write(index: usize) -> (usize, &'static str, String) {
    let (round, record) = (index / RECORDS, index % RECORDS);
    (record, FIELDS[round % FIELDS.len()], format!("value {round} of record {record}"))
}

/// W3's update `index`: records spread over the whole workspace.
pub fn live_write(index: usize) -> (usize, &'static str, String) {
    ((index * 7_919) % RECORDS, FIELDS[index % FIELDS.len()], format!("live {index}"))
}

/// A plausible wall clock, advanced by one millisecond per change: the
/// engine reads no clock, and receivers refuse clocks far in their future.
const START_MS: u64 = 1_790_000_000_000;
const CONTACTS_MANIFEST: &str = include_str!("../../../../../modules/contacts/manifest.toml");

pub struct Bench {
    /// The writer's workspace, but while W1's burst holds it.
    writer: Option<Workspace>,
    burst: Option<Burst>,
    replica: Option<Workspace>,
    /// Reads the writer's stream of bundles on the replica's side.
    reader: StreamReader,
    /// The writer's records by the harness's record index (creation order).
    records: Vec<EntityId>,
    table: TableId,
    /// The keys of [`FIELDS`], made once: reading a field names it by key.
    field_keys: Vec<FieldKey>,
    entropy: SeededEntropy,
    now_ms: u64,
}

impl Default for Bench {
    fn default() -> Self {
        Bench::new()
    }
}

impl Bench {
    /// A new workspace on the writer with the Contacts module adopted, as a
    /// stage manager starts one; not part of any workload's time. Seeded:
    /// every `Bench` makes the same workspace, so one in a fresh process
    /// can take in another's transfer (W5).
    pub fn new() -> Bench {
        let mut entropy = SeededEntropy::new(7);
        let now_ms = START_MS;
        let (mut writer, _) =
            Workspace::create(Identity::from_seed([1; 32]), "Benchmark", "Writer", now_ms, &mut entropy);
        let mut change = writer.change(now_ms, &mut entropy);
        change.adopt_module(CONTACTS_MANIFEST, None).expect("the Contacts module parses");
        change.commit().expect("adopting a module is a change");
        Bench {
            writer: Some(writer),
            burst: None,
            replica: None,
            reader: StreamReader::default(),
            records: Vec::with_capacity(RECORDS),
            table: TableId::new("contacts", "contacts"),
            field_keys: FIELDS.iter().map(|field| FieldKey::new("contacts", field)).collect(),
            entropy,
            now_ms,
        }
    }

    fn tick(&mut self) -> u64 {
        self.now_ms += 1;
        self.now_ms
    }

    /// W1's write: one field write on the writer as its own change (one
    /// bundle), in the burst the first write opens and
    /// [`Bench::finish_writes`] ends. The first write to a record (the next
    /// index) creates it.
    pub fn write(&mut self, record: usize, field: &str, value: &str) {
        let now_ms = self.tick();
        let mut burst = match self.burst.take() {
            Some(burst) => burst,
            None => self.writer.take().expect("the writer is idle between bursts").burst(),
        };
        let (records, table) = (&mut self.records, &self.table);
        burst
            .edit(now_ms, &mut self.entropy, |change| write_field(change, records, table, record, field, value))
            .expect("a valid write");
        self.burst = Some(burst);
    }

    /// Ends W1's burst: every bundle of it signed.
    pub fn finish_writes(&mut self) {
        if let Some(burst) = self.burst.take() {
            self.writer = Some(burst.finish().0);
        }
    }

    fn writer(&self) -> &Workspace {
        self.writer.as_ref().expect("W1's burst was finished")
    }

    /// Everything the writer holds, as a sync session sends it to a peer that
    /// holds nothing: `Bundles` messages of the hub's batch size. The
    /// transport keeps message boundaries; here each message is laid after
    /// the previous one with its length in front ([`messages`] splits them).
    pub fn encode_log(&self) -> Vec<u8> {
        let bundles = vouched_runs(self.writer().log().bundles());
        let mut stream = LogStream::new(0);
        stream.push(&bundles);
        let (log, batch_size) = (self.writer().log(), SyncConfig::default().batch_size);
        let mut transfer = Vec::new();
        while let Some(part) = stream.next_part(log, self.writer().id(), batch_size) {
            let message = Message::Bundles(part).encode();
            transfer.extend_from_slice(&(message.len() as u32).to_le_bytes());
            transfer.extend_from_slice(&message);
        }
        transfer
    }

    /// A new, empty device of the workspace, to [`Bench::receive`] from the writer.
    pub fn begin_catch_up(&mut self) {
        let now_ms = self.tick();
        self.replica = Some(Workspace::empty(self.writer().id(), replica_identity(), now_ms, ClockConfig::default()));
    }

    /// The replica takes in one message from the writer: decode, verify
    /// (hash links and signatures) and apply.
    pub fn receive(&mut self, message: &[u8]) {
        let now_ms = self.tick();
        let bundles = match Message::decode(message) {
            Ok(Message::Bundles(part)) => self.reader.read(&part).expect("the writer's stream reads"),
            other => panic!("expected a Bundles message, got {other:?}"),
        };
        let replica = self.replica.as_mut().expect("begin_catch_up came first");
        let report = replica.receive(bundles, now_ms);
        assert!(report.refused.is_empty(), "the writer's bundles verify: {:?}", report.refused.first());
    }

    /// A live edit on the writer, encoded as the one-bundle message a sync
    /// session sends at once.
    pub fn live_update(&mut self, record: usize, field: &str, value: &str) -> Vec<u8> {
        let now_ms = self.tick();
        let writer = self.writer.as_mut().expect("W1's burst was finished");
        let mut change = writer.change(now_ms, &mut self.entropy);
        write_field(&mut change, &mut self.records, &self.table, record, field, value).expect("a valid write");
        encode_bundles(&[change.commit().expect("a write is a change")], 0)
    }

    /// A field of the replica, named by its place in [`FIELDS`] (see
    /// [`field_index`]), handed to `read` where the state holds it.
    pub fn read_with<R>(&self, record: usize, field: usize, read: impl FnOnce(&str) -> R) -> R {
        with_text(self.replica().state(), self.records[record], &self.field_keys[field], read)
    }

    /// A field of the replica, copied.
    pub fn read(&self, record: usize, field: usize) -> String {
        self.read_with(record, field, str::to_owned)
    }

    /// What the app stores for the replica once it has compacted its log
    /// (after a catch-up, once the workspace is quiet): one record holding
    /// the whole log folded ([`LogFolding`]), in its stored form (deflated,
    /// [`openprod_core::deflate`]). Like Yjs's and Automerge's saves, it is
    /// the history and nothing else.
    pub fn save(&self) -> Vec<u8> {
        let replica = self.replica();
        let named = replica.log().bundles().map(|bundle| (bundle.header.author, bundle.header.seq)).collect();
        let mut folding = LogFolding::new(replica.id(), named).expect("the replica holds bundles");
        folding.step(replica.log(), usize::MAX).expect("the log holds its own bundles");
        folding.finish().encode()
    }

    /// Reopening as the app does, to the workspace editable: every stored
    /// bundle decoded, checked (hash links and signatures) and applied; then
    /// one field read.
    pub fn load_and_read(&self, saved: &[u8], record: usize, field: &str) -> String {
        let mut opening = Opening::new(self.writer().id(), replica_identity(), self.now_ms, ClockConfig::default());
        let bundles = decode_log_record(saved).map(|bundle| bundle.expect("a stored bundle decodes")).collect();
        opening.feed(bundles, self.now_ms);
        let restored = opening.finish();
        assert!(restored.report.refused.is_empty(), "the stored log verifies");
        with_text(restored.workspace.state(), self.records[record], self.field_key(field), str::to_owned)
    }

    fn field_key(&self, field: &str) -> &FieldKey {
        &self.field_keys[field_index(field)]
    }

    fn replica(&self) -> &Workspace {
        self.replica.as_ref().expect("begin_catch_up came first")
    }
}

/// Writes `value` to `field` of record `record`, creating the record if it
/// is the next one.
fn write_field(
    change: &mut Change<'_>,
    records: &mut Vec<EntityId>,
    table: &TableId,
    record: usize,
    field: &str,
    value: &str,
) -> Result<(), EditError> {
    let value = Value::String(value.to_owned());
    if record == records.len() {
        records.push(change.create_record(table, &[(field, value)])?);
        Ok(())
    } else {
        change.set_field(records[record], table, field, value)
    }
}

/// Where `field` is in [`FIELDS`]. Readers name a field by it, looked up
/// once, as the app's views hold a field's key made once; not by its name
/// on every read.
pub fn field_index(field: &str) -> usize {
    FIELDS.iter().position(|name| *name == field).expect("one of FIELDS")
}

fn replica_identity() -> Identity {
    Identity::from_seed([2; 32])
}

/// Bytes a transfer's messages take on the wire, deflated as the app's data
/// channel sends them ([`openprod_core::deflate`]); each is inflated
/// back, as the receiving device does, and checked.
pub fn bytes_on_the_wire(transfer: &[u8]) -> usize {
    messages(transfer)
        .map(|message| match deflate_frame(message) {
            Some(deflated) => {
                let inflated = inflate_frame(&deflated, message.len()).expect("a frame inflates");
                assert_eq!(inflated, message, "a frame comes back as it was");
                deflated.len()
            }
            None => message.len(),
        })
        .sum()
}

/// The messages of [`Bench::encode_log`]'s transfer, in order.
pub fn messages(transfer: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = transfer;
    std::iter::from_fn(move || {
        let (length, after) = rest.split_first_chunk::<4>()?;
        let (message, after) = after.split_at(u32::from_le_bytes(*length) as usize);
        rest = after;
        Some(message)
    })
}

fn with_text<R>(state: &State, record: EntityId, key: &FieldKey, read: impl FnOnce(&str) -> R) -> R {
    match state.shown_value(record, key).as_deref() {
        Some(Value::String(text)) => read(text),
        other => panic!("expected a text value, found {other:?}"),
    }
}
