// Yjs: one Y.Doc per device, a top-level Y.Map of records, a nested Y.Map per
// record (field → string). Every write is its own transaction; a catch-up
// is encodeStateAsUpdate → applyUpdate into a new doc; a live update is the
// update a transaction emits (what y-websocket and y-webrtc ship).
import * as Y from "yjs";

export function createEngine(recordIds) {
  const writer = new Y.Doc();
  const writerRecords = writer.getMap("records");
  let replica;
  // W3 listens for the writer's updates; W1 runs without a listener, so Yjs
  // encodes nothing per transaction there (its best case).
  let shipping = false;
  let lastUpdate;

  const recordsOf = (doc) => doc.getMap("records");
  const loaded = (bytes) => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, bytes);
    return doc;
  };

  return {
    write(record, field, value) {
      writer.transact(() => {
        let fields = writerRecords.get(recordIds[record]);
        if (!fields) {
          fields = new Y.Map();
          writerRecords.set(recordIds[record], fields);
        }
        fields.set(field, value);
      });
    },
    encodeAll: () => Y.encodeStateAsUpdate(writer),
    catchUp(bytes) {
      replica = loaded(bytes);
    },
    readAll() {
      let length = 0;
      for (const fields of recordsOf(replica).values()) {
        for (const value of fields.values()) length += value.length;
      }
      return length;
    },
    liveUpdate(record, field, value) {
      if (!shipping) {
        writer.on("update", (update) => (lastUpdate = update));
        shipping = true;
      }
      this.write(record, field, value);
      return lastUpdate;
    },
    applyLive(bytes) {
      Y.applyUpdate(replica, bytes);
    },
    read: (record, field) => recordsOf(replica).get(recordIds[record]).get(field),
    save: () => Y.encodeStateAsUpdate(replica),
    loadAndRead: (bytes, record, field) => recordsOf(loaded(bytes)).get(recordIds[record]).get(field),
  };
}
