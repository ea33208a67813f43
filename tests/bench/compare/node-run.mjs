// One run of the workloads on Yjs or Automerge in Node, printed as one JSON line:
//   node --expose-gc node-run.mjs <yjs|automerge> <transfer-file> [w5]
// Without `w5`: W1–W4, and W2's transfer written to <transfer-file>. With
// it, in a fresh process: W5 from that file. Memory is the V8 heap plus
// external memory (array buffers and wasm memories) after a full garbage
// collection. (Openprod runs natively instead: openprod/src/main.rs.)
import { readFileSync, writeFileSync } from "node:fs";
import { measureCatchUp, newRecordIds, runWorkloads } from "./workloads.mjs";

const [engineName, transferFile, phase] = process.argv.slice(2);
if (typeof gc !== "function") throw new Error("run node with --expose-gc");

const memoryBytes = () => {
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
};

const { createEngine } = await import(`./engines/${engineName}.mjs`);
const engine = createEngine(newRecordIds());
if (phase === "w5") {
  console.log(JSON.stringify(await measureCatchUp(engine, readFileSync(transferFile), memoryBytes)));
} else {
  const { result, transfer } = runWorkloads(engine);
  writeFileSync(transferFile, transfer);
  console.log(JSON.stringify(result));
}
