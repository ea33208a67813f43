// One run of the workloads on one engine in Chromium. run.mjs opens
// `/?engine=<name>` (W1–W4; W2's transfer is then stored on the harness's
// server) and then, in a fresh page, `/?engine=<name>&phase=w5` (W5 from
// that transfer), and waits for `window.benchResult` (or `benchError`).
// Memory: the JS heap plus array-buffer backing stores after a garbage
// collection, which run.mjs asks of the browser (`window.benchHeapBytes`,
// through the DevTools protocol), plus the engine's wasm memory, which that
// figure leaves out.
import { measureCatchUp, newRecordIds, runWorkloads } from "./workloads.mjs";

async function loadWasm(engineName) {
  if (engineName === "openprod") {
    const wasm = await import("/pkg/openprod_compare.js");
    const { memory } = await wasm.default();
    return { wasm, memory };
  }
  if (engineName === "automerge") {
    // Automerge instantiates its wasm when imported; called again, its
    // initSync hands back that instance's exports.
    const { initSync } = await import("@automerge/automerge/dist/mjs/wasm_bindgen_output/web/automerge_wasm.js");
    return { memory: initSync().memory };
  }
  return {};
}

async function run() {
  const query = new URLSearchParams(location.search);
  const engineName = query.get("engine");
  const { createEngine } = await import(`./engines/${engineName}.mjs`);
  const { wasm, memory } = await loadWasm(engineName);
  const engine = createEngine(newRecordIds(), wasm);
  const transferUrl = `/transfer/${engineName}`;
  if (query.get("phase") === "w5") {
    const transfer = new Uint8Array(await (await fetch(transferUrl)).arrayBuffer());
    const memoryBytes = async () => (await window.benchHeapBytes()) + (memory?.buffer.byteLength ?? 0);
    return measureCatchUp(engine, transfer, memoryBytes);
  }
  const { result, transfer } = runWorkloads(engine);
  await fetch(transferUrl, { method: "PUT", body: transfer });
  return result;
}

try {
  window.benchResult = await run();
} catch (error) {
  window.benchError = `${error}\n${error.stack}`;
}
