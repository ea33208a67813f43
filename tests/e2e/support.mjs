// Shared helpers for the end-to-end tests: a relay serving a copy of the
// built app, and Debian's Chromium driven by playwright-core.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const relayBinary = process.env.OPENPROD_RELAY_BIN ?? join(repoRoot, "target/debug/openprod-relay");
const builtApp = process.env.OPENPROD_DIST ?? join(repoRoot, "dist");
export const artifacts = join(repoRoot, "tests/artifacts");
mkdirSync(artifacts, { recursive: true });

/** The version every crate of the workspace carries. */
export function workspaceVersion() {
  const manifest = readFileSync(join(repoRoot, "Cargo.toml"), "utf8");
  return manifest.match(/\[workspace\.package\][^[]*?version = "([^"]+)"/)[1];
}

/**
 * Starts the relay on a free loopback port, serving its own copy of the built
 * app (tests may change files in it). Resolves once the relay prints its address.
 *
 * `port` and `dist` restart a relay where a stopped one was: the same port
 * (so pages and their links still point at it) and the same copy of the app.
 * A relay given `dist` leaves that folder in place when disposed.
 * `args` are more flags for the relay (`--tls-local-ca`, say); `url` is
 * https when the relay says it speaks TLS.
 */
export async function startRelay({ port = 0, dist, args = [] } = {}) {
  const appCopy = dist ?? mkdtempSync(join(tmpdir(), "openprod-dist-"));
  if (!dist) cpSync(builtApp, appCopy, { recursive: true });
  const relay = spawn(relayBinary, ["--host", "127.0.0.1", "--port", String(port), "--dist", appCopy, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, OPENPROD_LOG: "warn" },
  });
  // The first line names the address; a later one, the URL to open on this
  // machine, and with it the scheme.
  const { address, scheme } = await new Promise((resolveStart, reject) => {
    relay.once("error", reject);
    relay.once("exit", (code) => reject(new Error(`relay exited early with code ${code}`)));
    let address;
    const lines = createInterface({ input: relay.stdout });
    lines.on("line", (line) => {
      address ??= line.replace("openprod-relay listening on ", "").trim();
      const open = line.match(/^Open Openprod on this machine:\s+(https?):/);
      if (open) {
        lines.removeAllListeners("line");
        resolveStart({ address, scheme: open[1] });
      }
    });
  });
  let stopped = false;
  return {
    url: `${scheme}://${address}/`,
    port: Number(address.split(":").pop()),
    dist: appCopy,
    async stop() {
      if (stopped) return;
      stopped = true;
      relay.removeAllListeners("exit");
      const exited = new Promise((done) => relay.once("exit", done));
      relay.kill("SIGTERM");
      await exited;
    },
    async dispose() {
      await this.stop();
      if (!dist) rmSync(appCopy, { recursive: true, force: true });
    },
  };
}

const chromiumPath = process.env.OPENPROD_CHROMIUM ?? "/usr/bin/chromium";
const chromiumFlags = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Debian's Chromium, headless, with nothing that reaches for the internet;
 * `args` are added to its command line.
 */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: [...chromiumFlags, ...args] });
}

/**
 * The same Chromium with one persistent profile in `userDataDir` (a device
 * of its own) and `home` as its HOME: Chromium on Linux takes the
 * certificate authorities it trusts from `<home>/.pki/nssdb`.
 */
export async function launchProfile(userDataDir, { home, args = [] } = {}) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [...chromiumFlags, ...args],
    env: { ...process.env, HOME: home },
  });
}

/** Collects uncaught page errors so a test can assert there were none. */
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/** Resolves once a service worker controls the page and has its cache ready. */
export async function waitForOfflineReady(page) {
  await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((done) => navigator.serviceWorker.addEventListener("controllerchange", done, { once: true }));
    }
    return registration.active.state;
  });
}

/**
 * Goes through the first-run screen of a fresh profile: types `name` and
 * continues. Resolves once the identity exists (the top bar shows the name
 * and the workspaces screen shows this device's panel).
 */
export async function finishFirstRun(page, name) {
  const firstRun = page.getByTestId("first-run");
  await firstRun.waitFor();
  await page.getByLabel("Your name").fill(name);
  await firstRun.getByRole("button", { name: "Continue" }).click();
  await page.getByTestId("whoami").filter({ hasText: name }).waitFor();
  await page.getByTestId("device-panel").waitFor();
  await firstRun.waitFor({ state: "detached" });
}

// ---------------------------------------------------------------------------
// Fixtures and polling helpers

/**
 * One relay and any number of fresh browser profiles (contexts) for a test;
 * each profile has its own IndexedDB, so each is a device of its own.
 * `dispose` closes them all. Every page's console is kept in `consoleLines`.
 */
export async function fixture(browser) {
  const firstRelay = await startRelay();
  const relays = [firstRelay];
  const contexts = [];
  const consoleLines = [];
  const scratch = mkdtempSync(join(tmpdir(), "openprod-e2e-"));
  return {
    get relay() {
      return relays.at(-1);
    },
    scratch,
    consoleLines,
    /**
     * A fresh profile with one page on the app, not yet past the first run.
     * `label` names it in `consoleLines`; `on` is another browser to open it
     * in; `url` another address of the app (say, through a proxy);
     * `clock`: its time runs on Playwright's clock, which a test can move on.
     */
    async newProfile({ label = `profile ${contexts.length + 1}`, on = browser, url = this.relay.url, clock = false } = {}) {
      const context = await on.newContext({ acceptDownloads: true });
      context.setDefaultTimeout(15_000);
      contexts.push(context);
      if (clock) await context.clock.install();
      const page = await context.newPage();
      const errors = watchErrors(page);
      page.on("console", (message) => consoleLines.push(`${Date.now()} ${label} [${message.type()}] ${message.text()}`));
      await page.goto(url);
      return { context, page, errors };
    },
    /** A fresh profile past the first run, signed in as `name`. */
    async newUser(name, options) {
      const user = await this.newProfile({ label: name, ...options });
      await finishFirstRun(user.page, name);
      return user;
    },
    /** Stops the relay; `whileDown` runs before it starts again on the same port, serving the same app. */
    async restartRelay(whileDown = async () => {}) {
      await this.relay.stop();
      await whileDown();
      relays.push(await startRelay({ port: firstRelay.port, dist: firstRelay.dist }));
    },
    async dispose() {
      for (const context of contexts) await context.close().catch(() => {});
      // The first relay made the app's copy; it removes it, last.
      for (const relay of relays.reverse()) await relay.dispose();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export const pause = (ms) => new Promise((done) => setTimeout(done, ms));

/** Polls `probe` until `accept(value)` holds; fails with the last value seen. */
export async function eventually(describe, probe, accept, { timeout = 15_000 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
    } catch (error) {
      last = `<${error.message.split("\n")[0]}>`;
    }
    if (accept(last)) return last;
    if (Date.now() > deadline) {
      throw new assert.AssertionError({ message: `${describe}: last seen ${JSON.stringify(last)}`, actual: last });
    }
    await pause(50); // the polling interval, not a wait for something to happen
  }
}

/** Waits until the locator's text equals `expected` (a string, or a RegExp it matches). */
export function expectText(locator, expected, options) {
  const accept = (text) => (expected instanceof RegExp ? expected.test(text) : text === expected);
  return eventually(`${locator} should have text ${expected}`, async () => (await locator.innerText({ timeout: 1000 })).trim(), accept, options);
}

/** Waits until the locator matches exactly `count` elements. */
export function expectCount(locator, count, options) {
  return eventually(`${locator} should match ${count} element(s)`, () => locator.count(), (seen) => seen === count, options);
}

export const SAVED = "All changes saved on this device";

export function waitSaved(page, options) {
  return expectText(page.getByTestId("save-state"), SAVED, options);
}

/** The workspace id in the page's current URL, for routes `#/w/<id>…`. */
export function workspaceIdOf(page) {
  const match = new URL(page.url()).hash.match(/^#\/w\/([^/]+)/);
  assert.ok(match, `no workspace in ${page.url()}`);
  return match[1];
}

// ---------------------------------------------------------------------------
// Steps through the UI

/** Creates a workspace from the workspaces screen; resolves on its home, with its id. */
export async function createWorkspace(page, name) {
  await page.getByTestId("new-workspace-name").fill(name);
  await page.getByRole("button", { name: "Create workspace" }).click();
  await page.waitForURL(/#\/w\/[^/]+$/);
  await expectText(page.getByTestId("workspace-name"), name);
  await page.getByTestId("table-link").first().waitFor();
  return workspaceIdOf(page);
}

export async function goToWorkspaces(page) {
  await page.getByRole("link", { name: "Workspaces", exact: true }).click();
  await page.getByTestId("device-panel").waitFor();
}

export async function goHome(page) {
  await page.getByTestId("workspace-name").click();
  await page.getByTestId("diagnostics").waitFor();
}

export async function openContacts(page) {
  await page.getByTestId("table-link").filter({ hasText: "Contacts" }).click();
  await expectText(page.getByTestId("table-title"), "Contacts");
  await page.getByTestId("grid").waitFor();
}

/** Adds a record through the form; resolves with its entity id. */
export async function addRecord(page, values) {
  const rows = page.getByTestId("row");
  const before = await rows.count();
  await page.getByTestId("add-record").click();
  const form = page.getByTestId("new-record");
  await form.waitFor();
  for (const [field, value] of Object.entries(values)) await form.locator(`#new-${field}`).fill(value);
  await form.getByRole("button", { name: "Save record" }).click();
  await form.waitFor({ state: "detached" });
  await expectCount(rows, before + 1);
  const row = rows.filter({ has: page.locator(`td[data-field="full_name"]`, { hasText: values.full_name }) });
  await expectCount(row, 1);
  return row.getAttribute("data-entity");
}

export const rowOf = (page, entity) => page.locator(`tr[data-testid="row"][data-entity="${entity}"]`);
export const cellOf = (page, entity, field) => rowOf(page, entity).locator(`td[data-field="${field}"]`);

/**
 * Edits one cell in place: click, type, then leave the editor with `via`.
 * Enter (the default) saves; so does Tab, which moves the focus away (blur
 * saves). Either way the editor must close and the cell show the new text.
 * Tests about something else than the editor's keys leave with Tab, so that
 * they test their own subject; Enter has its own test.
 */
export async function editCell(page, entity, field, text, { via = "Enter" } = {}) {
  const cell = cellOf(page, entity, field);
  await cell.click();
  const input = cell.getByTestId("cell-input");
  await input.waitFor();
  await input.fill(text);
  await input.press(via);
  await input.waitFor({ state: "detached", timeout: 5_000 });
  await expectText(cellOf(page, entity, field), text);
}

export async function diagnostics(page) {
  const stateHash = await expectText(page.getByTestId("state-hash"), /^[0-9a-f]{64}$/);
  const bundles = Number(await expectText(page.getByTestId("bundle-count"), /^\d+$/));
  return { stateHash, bundles };
}

/** Runs "Check against a full rebuild" and asserts the rebuilt state matches. */
export async function assertRebuildMatches(page) {
  await page.getByTestId("rebuild-check").click();
  const result = page.getByTestId("rebuild-result");
  await result.waitFor({ timeout: 30_000 });
  const match = await expectText(result.getByTestId("rebuild-match"), /matches|DIFFERS/, { timeout: 30_000 }).catch(
    async () => assert.fail(`the rebuild check failed: ${await result.innerText()}`),
  );
  assert.match(match, /^—\s*matches$/, "the state equals a full rebuild from the stored log");
  assert.equal(
    await result.getByTestId("rebuild-hash").innerText(),
    await page.getByTestId("state-hash").innerText(),
    "the rebuilt hash is the hash shown",
  );
}
