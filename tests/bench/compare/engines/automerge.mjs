// Automerge through its document handle (`Automerge.getBackend`: the Rust
// engine in wasm, the layer under `Automerge.change`), one document per
// device: `{ records: { [id]: { field: value } } }` with string scalars (a
// last-writer-wins register, like Openprod's fields and Yjs's map entries).
// Every write is its own change (`commit`); a catch-up is save → load into
// a new document; a live update is getLastLocalChange → applyChanges.
//
// Why not `Automerge.change`: it keeps an immutable JavaScript copy of the
// document and, on a map of 10,000 records, spent 10–20 ms per change here
// updating it, which would make W1 alone take 15 to 30 minutes. The handle
// gives Automerge's engine its full speed.
import * as Automerge from "@automerge/automerge";

const newHandle = () => Automerge.getBackend(Automerge.init());

export function createEngine(recordIds) {
  const writer = newHandle();
  const writerRecords = writer.putObject("_root", "records", {});
  writer.commit();
  // Object ids of the writer's records, by record index.
  const writerObjects = [];
  let replica;

  const loaded = (bytes) => {
    const handle = newHandle();
    handle.loadIncremental(bytes);
    return handle;
  };
  const valueOf = (handle, record, field) => {
    const records = handle.get("_root", "records");
    return handle.get(handle.get(records, recordIds[record]), field);
  };

  return {
    write(record, field, value) {
      if (record === writerObjects.length) writerObjects.push(writer.putObject(writerRecords, recordIds[record], {}));
      writer.put(writerObjects[record], field, value);
      writer.commit();
    },
    encodeAll: () => writer.save(),
    catchUp(bytes) {
      replica = loaded(bytes);
    },
    readAll() {
      const records = replica.get("_root", "records");
      let length = 0;
      for (const id of replica.keys(records)) {
        const fields = replica.get(records, id);
        for (const field of replica.keys(fields)) length += replica.get(fields, field).length;
      }
      return length;
    },
    liveUpdate(record, field, value) {
      this.write(record, field, value);
      return writer.getLastLocalChange();
    },
    applyLive(bytes) {
      replica.applyChanges([bytes]);
    },
    read: (record, field) => valueOf(replica, record, field),
    save: () => replica.save(),
    loadAndRead: (bytes, record, field) => valueOf(loaded(bytes), record, field),
  };
}
