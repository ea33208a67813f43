//! Compiling the sync path before the first catch-up arrives.
//!
//! V8 compiles a WebAssembly function on its first call, on the main thread
//! (lazy compilation). A catch-up's first batches call most of the engine
//! for the first time at once (reading a stream, hashing, checking
//! signatures, applying, encoding a segment), and paid for the compiling
//! with tasks of 65–100 ms, twice the slowest batch once compiled. So while
//! the network connects, two throwaway devices in memory sync a small
//! workspace through the same code, one frame per turn of the event loop.

use std::cell::Cell;

use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::names::TableId;
use openprod_core::store::{LogFolding, encode_log_record};
use openprod_core::sync::{Output, PeerId, SyncConfig, SyncHub};
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;

use crate::device::{monotonic_ms, now_ms, record_measure, yield_to_browser};
use crate::library::CONTACTS_MODULE;

/// Records the writer makes; each gets a second write, so that the stream
/// carries runs of creations and field writes as a real catch-up does.
const RECORDS: usize = 6;

const MAX_ROUNDS: usize = 16;

thread_local! {
    static DONE: Cell<bool> = const { Cell::new(false) };
}

/// Runs once per page; later calls return at once.
pub async fn compile_sync_path() {
    if DONE.with(|done| done.replace(true)) {
        return;
    }
    let began = monotonic_ms();
    let now = now_ms();
    let mut entropy = SeededEntropy::new(0x5eed);
    let (mut writer, _) = Workspace::create(Identity::from_seed([1; 32]), "Warm-up", "Writer", now, &mut entropy);
    let mut change = writer.change(now, &mut entropy);
    change.adopt_module(CONTACTS_MODULE, None).expect("the built-in Contacts module parses");
    change.commit().expect("adopting a module is a change");
    let table = TableId::new("contacts", "contacts");
    for index in 0..RECORDS {
        let mut change = writer.change(now, &mut entropy);
        let name = Value::String(format!("Warm-up {index}"));
        let record = change.create_record(&table, &[("full_name", name)]).expect("a valid record");
        change.commit().expect("a new record is a change");
        let mut change = writer.change(now, &mut entropy);
        change.set_field(record, &table, "role", Value::String("Crew".into())).expect("a valid write");
        change.commit().expect("a write is a change");
    }
    yield_to_browser().await;

    let mut replica = Workspace::empty(writer.id(), Identity::from_seed([2; 32]), now, ClockConfig::default());
    // Small batches: several parts, so that a stream's later parts are read too.
    let mut sender = SyncHub::new(SyncConfig { batch_size: 4, ..SyncConfig::default() });
    let mut receiver = SyncHub::new(SyncConfig::default());
    let peer = PeerId(0);
    let mut to_receiver = frames(sender.connect(&writer, peer, now));
    let mut to_sender = Vec::new();
    receiver.connect(&replica, peer, now);
    // Hellos, the stream, acknowledgements: a few rounds (bounded, should
    // a change in the protocol ever make the two talk on).
    for _ in 0..MAX_ROUNDS {
        if to_receiver.is_empty() && to_sender.is_empty() {
            break;
        }
        for frame in std::mem::take(&mut to_receiver) {
            let mut outputs = receiver.receive(&mut replica, peer, &frame, now);
            for output in std::mem::take(&mut outputs) {
                match output {
                    Output::Persist { ticket, bundles } => {
                        let named = replica.log().named(&bundles).expect("the log holds what it applied");
                        drop(std::hint::black_box(encode_log_record(&named)));
                        outputs.extend(receiver.persisted(&replica, ticket, now));
                    }
                    other => outputs.push(other),
                }
            }
            to_sender.extend(frames(outputs));
            yield_to_browser().await;
        }
        for frame in std::mem::take(&mut to_sender) {
            to_receiver.extend(frames(sender.receive(&mut writer, peer, &frame, now)));
        }
    }
    // What the driver does once a catch-up pauses.
    let mut hashing = replica.begin_state_hash();
    while let Ok(None) = hashing.step(&replica, 1_000) {}
    let named = replica.log().bundles().map(|bundle| (bundle.header.author, bundle.header.seq)).collect();
    if let Some(mut folding) = LogFolding::new(replica.id(), named) {
        while let Ok(false) = folding.step(replica.log(), 1) {}
        drop(std::hint::black_box(folding.finish().encode()));
    }
    record_measure("openprod warm-up", began);
}

fn frames(outputs: Vec<Output>) -> Vec<Vec<u8>> {
    outputs
        .into_iter()
        .filter_map(|output| match output {
            Output::Send { frame, .. } => Some(frame),
            _ => None,
        })
        .collect()
}
