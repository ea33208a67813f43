// The comparison's workloads, run and timed the same way for every engine
// driven from JavaScript: Yjs and Automerge in Node and in Chromium, Openprod
// compiled to wasm in Chromium. Openprod's native binary
// (openprod/src/main.rs) runs the same steps with the same shape
// (openprod/src/lib.rs) and reports the same keys.
//
//   W1  100,000 field writes on 10,000 records, each its own change
//   W2  catch-up of all of them into an empty replica: encode on the writer,
//       apply on the replica, then read every field there
//   W3  1,000 live single-field updates from the writer to the replica, one
//       at a time: change + encode on A, apply on B, read on B (latencies)
//   W4  save the replica, load it again and read one field
//   W5  memory the replica holds after catching up (W2), measured in a
//       fresh process or page
//
// An engine is the adapter object that `createEngine(recordIds, wasm)` of
// engines/<name>.mjs returns (recordIds: the harness's ids for records
// 0 … RECORDS-1; wasm: Openprod's initialised module):
//   write(record, field, value)           W1: one change on the writer
//   finishWrites?()                       W1, Openprod only: the end of its
//                                         writes (it signs them together)
//   encodeAll() → bytes                   W2: everything the writer has (a
//                                         Uint8Array: the transfer)
//   catchUp(bytes)                        W2: a new replica from those bytes
//   readAll() → number                    W2: reads every field, one at a time
//                                         through the engine's read API, and
//                                         returns the total length read
//   liveUpdate(record, field, value) → bytes, applyLive(bytes), read(record, field)
//   save() → bytes, loadAndRead(bytes, record, field) → value
//   liveHeapBytes?()                      Openprod only: its allocator's count
// The first write to a record creates it.

export const RECORDS = 10_000;
export const BULK_WRITES = 100_000;
export const LIVE_UPDATES = 1_000;
export const FIELDS = ["full_name", "role", "email", "phone", "department"];

/** W1's write `index`: round after round over every record, one field per round. */
export function bulkWrite(index) {
  const round = Math.floor(index / RECORDS);
  const record = index % RECORDS;
  return [record, FIELDS[round % FIELDS.length], `value ${round} of record ${record}`];
}

/** W3's update `index`: records spread over the whole workspace. */
export function liveWrite(index) {
  return [(index * 7_919) % RECORDS, FIELDS[index % FIELDS.length], `live ${index}`];
}

/** The harness's record ids for Yjs and Automerge: UUIDs, as an app would use. */
export const newRecordIds = () => Array.from({ length: RECORDS }, () => crypto.randomUUID());

const round4 = (ms) => Math.round(ms * 1e4) / 1e4;

/**
 * Runs W1–W4 once on `engine`. Returns the flat result object that run.mjs
 * aggregates, and W2's transfer for `measureCatchUp` in a fresh process.
 */
export function runWorkloads(engine) {
  const result = {};
  const timed = (key, step) => {
    const started = performance.now();
    const value = step();
    result[key] = round4(performance.now() - started);
    // Named in the browser's performance tools (and for OPENPROD_PROFILE).
    performance.measure?.(key, { start: started });
    return value;
  };

  timed("w1_ms", () => {
    for (let index = 0; index < BULK_WRITES; index++) engine.write(...bulkWrite(index));
    engine.finishWrites?.();
  });

  const transfer = timed("w2_encode_ms", () => engine.encodeAll());
  result.w2_bytes = transfer.byteLength;
  // What the data channel carries: Openprod deflates its sync frames (and
  // the receiver inflates them), the others send theirs as they are.
  result.w2_wire_bytes = engine.bytesOnTheWire
    ? timed("w2_wire_ms", () => engine.bytesOnTheWire(transfer))
    : transfer.byteLength;
  timed("w2_apply_ms", () => engine.catchUp(transfer));
  result.w2_read_length = timed("w2_read_ms", () => engine.readAll());

  const [record, field] = liveWrite(0);
  const saved = timed("w4_save_ms", () => engine.save());
  result.w4_bytes = saved.byteLength;
  const loaded = timed("w4_load_read_ms", () => engine.loadAndRead(saved, record, field));
  const expected = engine.read(record, field);
  if (loaded !== expected) throw new Error(`W4 read ${loaded}, expected ${expected}`);

  result.w3_latencies_ms = [];
  for (let index = 0; index < LIVE_UPDATES; index++) {
    const [record, field, value] = liveWrite(index);
    const started = performance.now();
    engine.applyLive(engine.liveUpdate(record, field, value));
    const seen = engine.read(record, field);
    result.w3_latencies_ms.push(round4(performance.now() - started));
    if (seen !== value) throw new Error(`W3 read ${seen}, expected ${value}`);
  }
  return { result, transfer };
}

/**
 * W5, in a process (or page) that has done nothing else, so the writer's
 * memory and whatever W1 freed cannot hide what the replica takes:
 * `memoryBytes()` (the environment's measure after a garbage collection,
 * may be async) before and after catching up from `transfer`.
 */
export async function measureCatchUp(engine, transfer, memoryBytes) {
  const before = await memoryBytes();
  const liveBefore = engine.liveHeapBytes?.();
  engine.catchUp(transfer);
  const result = { w5_bytes: (await memoryBytes()) - before };
  if (liveBefore !== undefined) result.w5_live_bytes = engine.liveHeapBytes() - liveBefore;
  return result;
}
