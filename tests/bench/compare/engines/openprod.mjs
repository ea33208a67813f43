// Openprod compiled to wasm (openprod/src/wasm.rs): each call is one step of
// the engine, as the native binary runs it. `wasm` is the module
// wasm-bindgen generated, initialised by the page (page.mjs).
// Openprod makes its own record ids, so the harness's are not needed.
import { FIELDS, RECORDS } from "../workloads.mjs";

/** The sync messages of a transfer, each laid after the last with a 4-byte length in front. */
function* messagesOf(transfer) {
  const view = new DataView(transfer.buffer, transfer.byteOffset, transfer.byteLength);
  for (let offset = 0; offset < transfer.byteLength; ) {
    const length = view.getUint32(offset, true);
    yield transfer.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
  }
}

export function createEngine(_recordIds, wasm) {
  const bench = new wasm.OpenprodBench();
  // Fields are read by their place, looked up once (as the app's views
  // hold a field's key), not by name on every read.
  const fieldIndex = new Map(FIELDS.map((field) => [field, wasm.field_index(field)]));
  return {
    write: (record, field, value) => bench.write(record, field, value),
    // W1's writes are one burst, signed together as it ends.
    finishWrites: () => bench.finish_writes(),
    encodeAll: () => bench.encode_log(),
    // Message by message, as they arrive from a peer.
    catchUp(transfer) {
      bench.begin_catch_up();
      for (const message of messagesOf(transfer)) bench.receive(message);
    },
    readAll() {
      let length = 0;
      for (let record = 0; record < RECORDS; record++) {
        for (const field of FIELDS) length += bench.read(record, fieldIndex.get(field)).length;
      }
      return length;
    },
    // Deflated frame by frame as the app's data channel sends them, and inflated back.
    bytesOnTheWire: (transfer) => wasm.bytes_on_the_wire(transfer),
    liveUpdate: (record, field, value) => bench.live_update(record, field, value),
    applyLive: (message) => bench.receive(message),
    read: (record, field) => bench.read(record, fieldIndex.get(field)),
    save: () => bench.save(),
    loadAndRead: (bytes, record, field) => bench.load_and_read(bytes, record, field),
    liveHeapBytes: () => wasm.live_heap_bytes(),
  };
}
