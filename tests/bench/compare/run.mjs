// Openprod against Yjs and Automerge, on this machine, in one run: the same
// workloads (workloads.mjs) for Openprod (wasm), Yjs and Automerge in
// headless Chromium, and for Openprod natively against Yjs and Automerge in
// Node. Every engine runs `--runs` times (5 unless told), interleaved: run i
// of every engine happens back to back, so the run-by-run ratios compare
// figures taken under the same conditions. Prints one table and writes it,
// with every run's figures, as JSON.
//
//   node run.mjs --native <openprod-compare binary> --pkg <wasm-bindgen output folder> \
//                --out <compare.json> [--runs 5] [--engines openprod,yjs,automerge]
//
// `--engines openprod` runs Openprod alone: a quick before/after while
// working on it (the table then has no ratios).
//
// scripts/bench-compare.sh builds both and runs this.
import { execFile } from "node:child_process";
import { readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "../../e2e/support.mjs";
import { startProfile } from "../profile.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = resolve(here, "../../node_modules");
const { values: options } = parseArgs({
  options: {
    native: { type: "string" },
    pkg: { type: "string" },
    out: { type: "string" },
    runs: { type: "string", default: "5" },
    engines: { type: "string", default: "openprod,yjs,automerge" },
  },
});
const runs = Number(options.runs);
const ENGINES = ["openprod", "yjs", "automerge"];
const engines = options.engines.split(",");
if (!engines.includes("openprod") || engines.some((engine) => !ENGINES.includes(engine))) {
  throw new Error(`--engines lists some of ${ENGINES.join(", ")}, openprod among them`);
}
if (!options.native || !options.pkg || !options.out || !(runs >= 1)) {
  throw new Error("usage: node run.mjs --native <binary> --pkg <folder> --out <file> [--runs 5]");
}

/** The table's comparisons: where each engine's figures come from. */
const COMPARISONS = [
  { name: "Chromium", sources: { openprod: "chromium", yjs: "chromium", automerge: "chromium" } },
  { name: "native / Node", sources: { openprod: "native", yjs: "node", automerge: "node" } },
];
/** A page or process doing W1–W4 once; Openprod's W1 in wasm takes about half a minute. */
const RUN_TIMEOUT_MS = 300_000;
const log = (line) => process.stderr.write(`${line}\n`);

// ----- Node and native -----

const execFileAsync = promisify(execFile);
const runProcess = async (file, args) => {
  const { stdout } = await execFileAsync(file, args, { maxBuffer: 64 << 20, timeout: RUN_TIMEOUT_MS });
  return JSON.parse(stdout);
};

const scratch = mkdtempSync(join(tmpdir(), "openprod-compare-"));

async function runInNode(engine) {
  const transferFile = join(scratch, `${engine}.transfer`);
  const args = ["--expose-gc", join(here, "node-run.mjs"), engine, transferFile];
  const result = await runProcess(process.execPath, args);
  return { ...result, ...(await runProcess(process.execPath, [...args, "w5"])) };
}

// ----- Chromium -----

/**
 * Maps the packages' bare specifiers to their files, as Node would resolve
 * them for `import` without a bundler (conditions import, module, default).
 */
function importMap() {
  const conditions = new Set(["import", "module", "default"]);
  const resolveTarget = (target) => {
    if (typeof target === "string") return target;
    for (const [condition, inner] of Object.entries(target)) {
      const resolved = conditions.has(condition) && resolveTarget(inner);
      if (resolved) return resolved;
    }
    return undefined;
  };
  const imports = {};
  for (const name of ["yjs", "lib0", "isomorphic.js", "@automerge/automerge"]) {
    const manifest = JSON.parse(readFileSync(join(nodeModules, name, "package.json"), "utf8"));
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      const file = !subpath.includes("*") && resolveTarget(target);
      if (file) imports[name + subpath.slice(1)] = `/node_modules/${name}/${file.slice(2)}`;
    }
    imports[`${name}/`] ??= `/node_modules/${name}/`;
  }
  return { imports };
}

const pageHtml = `<!doctype html>
<meta charset="utf-8">
<title>Openprod, Yjs, Automerge</title>
<script type="importmap">${JSON.stringify(importMap())}</script>
<script type="module" src="/page.mjs"></script>`;

const contentTypes = {
  ".mjs": "text/javascript",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
};
/** W2's transfers, handed from each engine's W1–W4 page to its W5 page. */
const transfers = new Map();

/**
 * Serves the page, the harness, the npm packages and Openprod's wasm on
 * loopback. Cross-origin isolated, so that `performance.now()` has
 * microsecond resolution instead of Chromium's coarsened 100 µs.
 */
function startServer() {
  const folders = [["/pkg/", resolve(options.pkg)], ["/node_modules/", nodeModules], ["/", here]];
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://localhost").pathname);
    const send = (status, body, type = "text/plain") => {
      response.writeHead(status, {
        "Content-Type": type,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
        "Cache-Control": "no-store",
      });
      response.end(body);
    };
    if (path === "/") return send(200, pageHtml, "text/html");
    if (path.startsWith("/transfer/")) {
      if (request.method !== "PUT") return send(200, transfers.get(path), "application/octet-stream");
      const chunks = [];
      for await (const chunk of request) chunks.push(chunk);
      transfers.set(path, Buffer.concat(chunks));
      return send(204);
    }
    const [prefix, folder] = folders.find(([prefix]) => path.startsWith(prefix));
    const file = normalize(join(folder, path.slice(prefix.length)));
    if (!file.startsWith(folder)) return send(403, "outside the served folders");
    try {
      send(200, readFileSync(file), contentTypes[extname(file)] ?? "application/octet-stream");
    } catch {
      send(404, `not found: ${path}`);
    }
  });
  return new Promise((started) => server.listen(0, "127.0.0.1", () => started(server)));
}

async function runPage(browser, origin, query) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on("pageerror", (error) => log(`page error: ${error.message}`));
    const devtools = await context.newCDPSession(page);
    // JS heap and array-buffer backing stores after a full collection.
    await page.exposeBinding("benchHeapBytes", async () => {
      await devtools.send("HeapProfiler.collectGarbage");
      const usage = await devtools.send("Runtime.getHeapUsage");
      return usage.usedSize + usage.backingStorageSize;
    });
    // OPENPROD_PROFILE=1: where Openprod's W2 catch-up spends its time (or
    // another step's, named by OPENPROD_PROFILE_STEP, such as w4_save_ms).
    const step = process.env.OPENPROD_PROFILE_STEP ?? "w2_apply_ms";
    const profile = query === "engine=openprod" ? await startProfile(page, "Openprod in Chromium", step) : null;
    await page.goto(`${origin}/?${query}`);
    await page.waitForFunction(() => window.benchResult || window.benchError, null, {
      timeout: RUN_TIMEOUT_MS,
      polling: 500,
    });
    await profile?.stop();
    const { result, error } = await page.evaluate(() => ({ result: window.benchResult, error: window.benchError }));
    if (error) throw new Error(`${query}: ${error}`);
    return result;
  } finally {
    await context.close();
  }
}

// ----- aggregation -----

/** Nearest-rank quantile. */
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}
const spread = (values) => ({
  min: Math.min(...values),
  median: quantile(values, 0.5),
  max: Math.max(...values),
  values,
});

const METRICS = [
  { key: "w1", label: "W1 100,000 field writes, one change each (Openprod: one burst)", unit: "ms", of: (run) => run.w1_ms },
  {
    key: "w2",
    label: "W2 catch-up: encode + apply + read every field",
    unit: "ms",
    of: (run) => run.w2_encode_ms + run.w2_apply_ms + run.w2_read_ms,
  },
  { key: "w2_bytes", label: "W2 bytes sent", unit: "bytes", of: (run) => run.w2_bytes },
  { key: "w2_wire_bytes", label: "W2 bytes on the wire", unit: "bytes", of: (run) => run.w2_wire_bytes },
  { key: "w2_wire", label: "W2 deflate + inflate for the wire", unit: "ms", of: (run) => run.w2_wire_ms },
  { key: "w3_p50", label: "W3 live update A → B, p50", unit: "ms", of: (run) => quantile(run.w3_latencies_ms, 0.5) },
  { key: "w3_p99", label: "W3 live update A → B, p99", unit: "ms", of: (run) => quantile(run.w3_latencies_ms, 0.99) },
  { key: "w4_save", label: "W4 save", unit: "ms", of: (run) => run.w4_save_ms },
  { key: "w4_bytes", label: "W4 bytes saved", unit: "bytes", of: (run) => run.w4_bytes },
  { key: "w4_load", label: "W4 load → read one field", unit: "ms", of: (run) => run.w4_load_read_ms },
  { key: "w5", label: "W5 memory after catch-up", unit: "bytes", of: (run) => run.w5_bytes },
];

/** Each engine's figures, and Openprod's ratios to the others run by run. */
function summarise(results) {
  return METRICS.map((metric) => {
    const rows = {};
    for (const { name, sources } of COMPARISONS) {
      const figures = {};
      for (const engine of ENGINES) {
        const values = results[sources[engine]][engine].map(metric.of);
        if (values.length > 0 && values.every((value) => value !== undefined)) figures[engine] = spread(values);
      }
      const ratios = {};
      for (const engine of ["yjs", "automerge"]) {
        if (!figures[engine]) continue;
        ratios[engine] = spread(figures.openprod.values.map((ours, run) => ours / figures[engine].values[run]));
      }
      rows[name] = { figures, ratios };
    }
    return { key: metric.key, label: metric.label, unit: metric.unit, rows };
  });
}

// ----- the table -----

/** Scale, suffix and decimals that show `median` with about three significant digits. */
function displayUnit(median, unit) {
  if (unit === "bytes") return median >= 1e6 ? [1e6, " MB", 1] : [1e3, " KB", 0];
  if (median >= 1000) return [1000, " s", 2];
  return [1, " ms", median >= 10 ? 0 : median >= 1 ? 1 : 3];
}

function formatTriple({ min, median, max }, unit) {
  const [scale, suffix, digits] = displayUnit(median, unit);
  const show = (value) => (value / scale).toFixed(digits);
  if (show(min) === show(max)) return show(median) + suffix;
  return `${show(min)} / ${show(median)} / ${show(max)}${suffix}`;
}
function formatRatios({ min, median, max }) {
  const [low, middle, high] = [min, median, max].map((ratio) => ratio.toFixed(2));
  return low === high ? `${middle}×` : `${low} / ${middle} / ${high}×`;
}

function table(summary) {
  const header = ["workload", "where", "Openprod", "Yjs", "Automerge", "Openprod / Yjs", "Openprod / Automerge"];
  const lines = [];
  for (const metric of summary) {
    for (const [comparison, row] of Object.entries(metric.rows)) {
      const cell = (engine) => (row.figures[engine] ? formatTriple(row.figures[engine], metric.unit) : "—");
      lines.push([
        metric.label,
        comparison,
        cell("openprod"),
        cell("yjs"),
        cell("automerge"),
        row.ratios.yjs ? formatRatios(row.ratios.yjs) : "—",
        row.ratios.automerge ? formatRatios(row.ratios.automerge) : "—",
      ]);
    }
  }
  const widths = header.map((_, column) => Math.max(...[header, ...lines].map((line) => line[column].length)));
  const render = (line) => `| ${line.map((text, column) => text.padEnd(widths[column])).join(" | ")} |`;
  return [render(header), render(widths.map((width) => "-".repeat(width))), ...lines.map(render)].join("\n");
}

// ----- the run -----

// Every run's figures by environment and engine; Openprod runs natively, not in Node.
const results = {
  chromium: { openprod: [], yjs: [], automerge: [] },
  node: { yjs: [], automerge: [] },
  native: { openprod: [] },
};
const started = Date.now();
const server = await startServer();
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await launchBrowser();
const chromiumVersion = browser.version();
try {
  for (let run = 1; run <= runs; run++) {
    log(`run ${run}/${runs} (${Math.round((Date.now() - started) / 1000)} s so far)`);
    results.native.openprod.push(await runProcess(options.native, []));
    for (const engine of engines) {
      if (engine in results.node) results.node[engine].push(await runInNode(engine));
      const main = await runPage(browser, origin, `engine=${engine}`);
      results.chromium[engine].push({ ...main, ...(await runPage(browser, origin, `engine=${engine}&phase=w5`)) });
    }
  }
} finally {
  await browser.close();
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}

// Every engine read back the same values.
const readLengths = new Set(
  Object.values(results).flatMap((byEngine) => Object.values(byEngine).flat().map((run) => run.w2_read_length)),
);
if (readLengths.size !== 1) throw new Error(`the engines read different values back: lengths ${[...readLengths]}`);

const summary = summarise(results);
const mapValues = (object, change) =>
  Object.fromEntries(Object.entries(object).map(([key, value]) => [key, change(value)]));
const packageVersion = (name) => JSON.parse(readFileSync(join(nodeModules, name, "package.json"), "utf8")).version;
const report = {
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0].model, cores: cpus().length, node: process.version, chromium: chromiumVersion },
  versions: { yjs: packageVersion("yjs"), automerge: packageVersion("@automerge/automerge") },
  runs,
  seconds: Math.round((Date.now() - started) / 1000),
  summary,
  // Every run's figures; W3 as its p50 and p99 rather than 1,000 latencies.
  runsByEnvironment: mapValues(results, (byEngine) =>
    mapValues(byEngine, (list) =>
      list.map(({ w3_latencies_ms: latencies, ...run }) => ({
        ...run,
        w3_p50_ms: quantile(latencies, 0.5),
        w3_p99_ms: quantile(latencies, 0.99),
      })),
    ),
  ),
};
mkdirSync(dirname(resolve(options.out)), { recursive: true });
writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);

console.log(table(summary));
console.log(`
min / median / max over ${runs} runs; ratios are Openprod's figure divided by the other engine's in the same run
(below 1: Openprod is faster or smaller). Openprod's figures include verifying what it takes in, as the engine
always does: every bundle's BLAKE3 hash link and the Ed25519 signature of the newest bundle of each received
batch (a live update: its own signature) in W2, W3 and W4's load (the stored log replayed). W1 signs every write:
each is its own bundle, all made as one burst whose bundles are signed together as it ends, within W1's time.
"native / Node": Openprod native, Yjs and Automerge in Node.
Written to ${options.out} (${report.seconds} s).`);
