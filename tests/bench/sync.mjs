// Peer-to-peer benchmarks in headless Chromium (DESIGN.md §10), two
// isolated browser contexts on loopback, data channel between them:
//   - a newly joined peer catching up on a 100,000-op workspace: transfer,
//     verify, persist and materialize, until its log equals the sender's and
//     everything is saved; with the longest main-thread task on either device;
//   - a live edit on one peer becoming visible on the other, p50/p99.
// Run by scripts/bench-browser.sh, which builds the app and the fixture.
// OPENPROD_CHROMIUM_ARGS adds Chromium flags, space-separated: with
// "--js-flags=--no-wasm-lazy-compilation" the first batches of a catch-up
// no longer pay for compiling the engine's code as it is first called.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { finishFirstRun, launchBrowser, repoRoot, startRelay } from "../e2e/support.mjs";
import { startProfile } from "./profile.mjs";

const fixture = process.argv[2];
const liveEdits = 200;
const SAVED = "All changes saved on this device";

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

// Recorded by each page itself: long tasks; when an edit was committed
// (Enter in a cell editor); when a live value appeared.
const observeInPage = () => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
  const clock = () => performance.timeOrigin + performance.now();
  window.__sent = {};
  window.__seen = {};
  document.addEventListener(
    "keydown",
    (event) => {
      if (event.key === "Enter" && event.target?.dataset?.testid === "cell-input") {
        window.__sent[event.target.value] = clock();
      }
    },
    true,
  );
  const watch = new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      const text = mutation.target.textContent ?? "";
      for (const match of text.matchAll(/Live (\d+)/g)) window.__seen[match[0]] ??= clock();
    }
  });
  document.addEventListener("DOMContentLoaded", () =>
    watch.observe(document.body, { childList: true, subtree: true, characterData: true }),
  );
};

const relay = await startRelay();
const browser = await launchBrowser({ args: (process.env.OPENPROD_CHROMIUM_ARGS ?? "").split(" ").filter(Boolean) });
const results = {};
try {
  const sender = await browser.newContext();
  await sender.addInitScript(observeInPage);
  const a = await sender.newPage();
  a.setDefaultTimeout(300_000);
  await a.goto(relay.url);
  await finishFirstRun(a, "Stage manager");
  await a.getByTestId("import-workspace").setInputFiles(fixture);
  await a.getByTestId("open-imported").click();
  await a.getByTestId("no-peers").waitFor();
  const bundles = Number(await a.getByTestId("bundle-count").innerText());
  await a.getByTestId("share").click();
  const link = await a.getByTestId("share-link").inputValue();

  const joiner = await browser.newContext();
  await joiner.addInitScript(observeInPage);
  const b = await joiner.newPage();
  b.setDefaultTimeout(300_000);
  await b.goto(relay.url);
  await finishFirstRun(b, "Assistant");
  for (const page of [a, b]) await page.evaluate(() => (window.__longTasks = []));
  const profile = await startProfile(b, "catch-up on the joining device", "openprod sync frame");
  const started = Date.now();
  await b.goto(link);
  await b.waitForFunction(
    ([expected, saved]) =>
      document.querySelector('[data-testid="bundle-count"]')?.textContent === String(expected) &&
      document.querySelector('[data-testid="save-state"]')?.textContent?.includes(saved),
    [bundles, SAVED],
    { polling: 50 },
  );
  const catchUpMs = Date.now() - started;
  await profile.stop();
  const peer = await b.getByTestId("peer").first().innerText();
  results.catchUp = {
    bundles,
    ops: 100_000,
    ms: catchUpMs,
    opsPerSecond: Math.round(100_000 / (catchUpMs / 1000)),
    longestTaskMs: await b.evaluate(() => Math.max(0, ...window.__longTasks)),
    // The device serving the catch-up must stay responsive too.
    senderLongestTaskMs: await a.evaluate(() => Math.max(0, ...window.__longTasks)),
    // What the long tasks were made of, measured by the app itself.
    longestSyncFrameMs: await b.evaluate(() =>
      Math.max(0, ...performance.getEntriesByName("openprod sync frame").map((entry) => entry.duration)),
    ),
    // From opening the link: when the first and the last batch were taken in.
    batchesMs: await b.evaluate(() => {
      const frames = performance.getEntriesByName("openprod sync frame");
      const sum = frames.reduce((total, entry) => total + entry.duration, 0);
      const sorted = frames.map((entry) => entry.duration).sort((x, y) => x - y);
      const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      return {
        first: frames[0]?.startTime,
        last: frames.at(-1)?.startTime,
        count: frames.length,
        busy: sum,
        p50: at(0.5),
        p90: at(0.9),
        slowest: frames
          .map((entry, index) => ({ index, ms: Math.round(entry.duration * 10) / 10 }))
          .sort((x, y) => y.ms - x.ms)
          .slice(0, 5),
      };
    }),
    longestCompactionMs: await b.evaluate(() =>
      Math.max(0, ...performance.getEntriesByName("openprod log compaction").map((entry) => entry.duration)),
    ),
    path: (await b.getByTestId("peer-path").first().innerText()).trim(),
    peer: peer.replace(/\s+/g, " "),
  };

  // Live edits: both peers show the same table; one edits, the other watches.
  const table = `#/w/${link.split("/join/")[1].split("/")[0]}/t/contacts.contacts`;
  await a.goto(`${relay.url}${table}`);
  await b.goto(`${relay.url}${table}`);
  for (const page of [a, b]) await page.getByTestId("row").first().waitFor();
  const cells = a.locator('[data-testid="row"] td[data-field="role"]');
  for (let edit = 0; edit < liveEdits; edit++) {
    const value = `Live ${edit}`;
    await cells.nth(edit % 50).click();
    await a.getByTestId("cell-input").fill(value);
    await a.getByTestId("cell-input").press("Enter");
    await b.waitForFunction((wanted) => window.__seen[wanted] !== undefined, value, { polling: 5 });
  }
  const sent = await a.evaluate(() => window.__sent);
  const seen = await b.evaluate(() => window.__seen);
  const latencies = Object.keys(sent).filter((value) => seen[value]).map((value) => seen[value] - sent[value]);
  results.liveEdit = {
    samples: latencies.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: Math.max(...latencies),
  };
} finally {
  await browser.close();
  await relay.dispose();
}

const round = (value) => (typeof value === "number" ? Math.round(value * 10) / 10 : value);
console.log("\nPeer-to-peer benchmarks (headless Chromium, two devices on loopback)\n");
console.log(`| what | figure | budget |`);
console.log(`|---|---|---|`);
console.log(
  `| new peer catches up on 100k ops (${results.catchUp.bundles} bundles; transfer + verify + persist + materialize), ${results.catchUp.path} | ${round(results.catchUp.ms / 1000)} s (${results.catchUp.opsPerSecond} ops/s), longest task ${round(results.catchUp.longestTaskMs)} ms on the joiner, ${round(results.catchUp.senderLongestTaskMs)} ms on the sender (longest batch taken in ${round(results.catchUp.longestSyncFrameMs)} ms; p50 ${round(results.catchUp.batchesMs.p50)} ms over ${results.catchUp.batchesMs.count} batches) | ≤ 5 s, task ≤ 50 ms |`,
);
console.log(
  `| live edit → visible on the other peer, ${results.liveEdit.samples} edits (p50 / p99 / max) | ${round(results.liveEdit.p50Ms)} / ${round(results.liveEdit.p99Ms)} / ${round(results.liveEdit.maxMs)} ms | p99 ≤ 100 ms |`,
);
const out = join(repoRoot, "target/bench/sync.json");
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\nwritten to ${out}`);
