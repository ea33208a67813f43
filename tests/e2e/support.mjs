// Shared helpers for the end-to-end tests: a relay serving a copy of the
// built app, and Debian's Chromium driven by playwright-core.
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
 */
export async function startRelay({ dist } = {}) {
  const appCopy = dist ?? mkdtempSync(join(tmpdir(), "openprod-dist-"));
  if (!dist) cpSync(builtApp, appCopy, { recursive: true });
  const relay = spawn(relayBinary, ["--host", "127.0.0.1", "--port", "0", "--dist", appCopy], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, OPENPROD_LOG: "warn" },
  });
  const firstLine = await new Promise((resolveLine, reject) => {
    relay.once("error", reject);
    relay.once("exit", (code) => reject(new Error(`relay exited early with code ${code}`)));
    createInterface({ input: relay.stdout }).once("line", resolveLine);
  });
  const address = firstLine.replace("openprod-relay listening on ", "").trim();
  let stopped = false;
  return {
    url: `http://${address}/`,
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

/** Debian's Chromium, headless, with nothing that reaches for the internet. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.OPENPROD_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
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
