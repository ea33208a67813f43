//! Openprod natively: one run of the comparison's workloads, printed as one
//! JSON line with the keys `tests/bench/compare/workloads.mjs` produces for
//! the JavaScript engines, so `run.mjs` aggregates all of them alike. W5 is
//! the allocator's count of what the replica holds after catching up.
//!
//! `cargo run --profile bench -p openprod-compare` (scripts/bench-compare.sh runs it).

use std::time::Instant;

use openprod_compare::{
    BULK_WRITES, Bench, FIELDS, LIVE_UPDATES, RECORDS, bulk_write, bytes_on_the_wire, field_index, live_heap_bytes,
    live_write, messages,
};

fn main() {
    let mut bench = Bench::new();
    let mut fields = Vec::new();
    let mut put = |key: &str, value: String| fields.push(format!("\"{key}\":{value}"));

    let started = Instant::now();
    for index in 0..BULK_WRITES {
        let (record, field, value) = bulk_write(index);
        bench.write(record, field, &value);
    }
    bench.finish_writes();
    put("w1_ms", ms(started));

    let started = Instant::now();
    let transfer = bench.encode_log();
    put("w2_encode_ms", ms(started));
    let heap_before = live_heap_bytes();
    let started = Instant::now();
    bench.begin_catch_up();
    for message in messages(&transfer) {
        bench.receive(message);
    }
    put("w2_apply_ms", ms(started));
    put("w5_bytes", (live_heap_bytes() as i64 - heap_before as i64).to_string());
    let started = Instant::now();
    let mut read_length = 0;
    for record_index in 0..RECORDS {
        for field in 0..FIELDS.len() {
            read_length += bench.read_with(record_index, field, str::len);
        }
    }
    put("w2_read_ms", ms(started));
    put("w2_bytes", transfer.len().to_string());
    let started = Instant::now();
    let on_the_wire = bytes_on_the_wire(&transfer);
    put("w2_wire_ms", ms(started));
    put("w2_wire_bytes", on_the_wire.to_string());
    put("w2_read_length", read_length.to_string());

    let (record_index, field, _) = live_write(0);
    let expected = bench.read(record_index, field_index(field));
    let started = Instant::now();
    let saved = bench.save();
    put("w4_save_ms", ms(started));
    put("w4_bytes", saved.len().to_string());
    let started = Instant::now();
    let value = bench.load_and_read(&saved, record_index, field);
    put("w4_load_read_ms", ms(started));
    assert_eq!(value, expected, "W4 reads back what was saved");

    let mut latencies = Vec::with_capacity(LIVE_UPDATES);
    for index in 0..LIVE_UPDATES {
        let (record_index, field, value) = live_write(index);
        let started = Instant::now();
        let message = bench.live_update(record_index, field, &value);
        bench.receive(&message);
        let seen = bench.read(record_index, field_index(field));
        latencies.push(ms(started));
        assert_eq!(seen, value);
    }
    put("w3_latencies_ms", format!("[{}]", latencies.join(",")));

    println!("{{{}}}", fields.join(","));
}

fn ms(since: Instant) -> String {
    format!("{:.4}", since.elapsed().as_secs_f64() * 1e3)
}
