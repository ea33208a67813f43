// The log writer: a dedicated worker that appends records to one
// workspace's log. A page hears an IndexedDB transaction complete only in a
// task of its main thread, which waits behind the frame the page is
// rendering; here, nothing renders, so an edit is known durable as soon as
// the browser has written it. Loaded by `log_writer.rs` from a blob.
//
// From the page, in order:
//   { open: name, version, store }  the database, which the page created
//   { append: id, bytes }           add `bytes` (a Uint8Array) to the store
//   { close: true }                 close the database, then the worker
// To the page, one reply per append:
//   { id, started, durable }        times in ms since the epoch
//   { id, error: { name, message } }
"use strict";

const epochMs = () => performance.timeOrigin + performance.now();

let opened = null;
let store = null;

onmessage = ({ data }) => {
  if ("open" in data) {
    store = data.store;
    opened = openDatabase(data.open, data.version);
  } else if ("append" in data) {
    append(data.append, data.bytes);
  } else if ("close" in data) {
    opened.then((database) => database.close(), () => {}).finally(() => close());
  }
};

function openDatabase(name, version) {
  const opening = new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    // The page creates the database before starting this worker: if it has
    // to be created now, the workspace was deleted meanwhile. Aborting the
    // upgrade leaves no empty database behind.
    request.onupgradeneeded = () => request.transaction.abort();
    request.onsuccess = () => {
      const database = request.result;
      // Another tab deletes or upgrades the database: never block it.
      database.onversionchange = () => database.close();
      resolve(database);
    };
    request.onerror = () =>
      reject(
        request.error?.name === "AbortError"
          ? new DOMException(`The database ${name} no longer exists.`, "NotFoundError")
          : request.error,
      );
  });
  // Reported with each append that needs it, not as an unhandled rejection.
  opening.catch(() => {});
  return opening;
}

// Appends run in the order their messages came: each waits for the same
// opening, and IndexedDB commits transactions over one store in the order
// they were created.
async function append(id, bytes) {
  try {
    const database = await opened;
    const started = epochMs();
    // Strict: `complete` means flushed to disk (see connection.rs).
    const transaction = database.transaction(store, "readwrite", { durability: "strict" });
    transaction.objectStore(store).add(bytes);
    await new Promise((resolve, reject) => {
      transaction.oncomplete = resolve;
      transaction.onabort = () =>
        reject(transaction.error ?? new DOMException("The write was cancelled.", "AbortError"));
    });
    postMessage({ id, started, durable: epochMs() });
  } catch (error) {
    postMessage({ id, error: { name: error?.name ?? "Error", message: error?.message ?? String(error) } });
  }
}
