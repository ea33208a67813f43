// The app shell: the engine boots in the page, the PWA is installable, and
// after one visit the app starts with no network at all.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  artifacts,
  finishFirstRun,
  launchBrowser,
  startRelay,
  waitForOfflineReady,
  watchErrors,
  workspaceVersion,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("the page boots the engine and shows what it computed", async () => {
  const relay = await startRelay();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(relay.url);
    // A fresh profile has no identity yet: the first-run screen comes first.
    await page.getByTestId("first-run").waitFor();
    assert.equal(await page.getByTestId("actor-id").count(), 0, "no identity before the first run");
    assert.equal(await page.getByTestId("engine-version").innerText(), `engine ${workspaceVersion()}`);
    await page.screenshot({ path: join(artifacts, "shell-first-run.png") });
    await finishFirstRun(page, "Ada Lovelace");

    const actorId = page.getByTestId("actor-id");
    await actorId.waitFor();
    const firstActor = await actorId.innerText();
    assert.match(firstActor, /^[0-9a-f]{64}$/);
    assert.equal(await page.getByTestId("self-check").innerText(), "passed");
    assert.equal(await page.getByTestId("engine-version").innerText(), `engine ${workspaceVersion()}`);

    // The identity is kept on this device: a reload signs as the same person.
    await page.reload();
    await actorId.waitFor();
    assert.equal(await actorId.innerText(), firstActor);
    assert.equal(await page.getByTestId("whoami").innerText(), "Ada Lovelace");
    assert.equal(await page.getByTestId("first-run").count(), 0, "the first run is not shown again");
    await page.screenshot({ path: join(artifacts, "shell.png") });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await relay.dispose();
  }
});

test("the app is installable: manifest, icons and service worker are served", async () => {
  const relay = await startRelay();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(relay.url);
    const manifestHref = await page.locator('link[rel="manifest"]').getAttribute("href");
    const manifest = await (await context.request.get(new URL(manifestHref, relay.url).href)).json();
    assert.equal(manifest.name, "Openprod");
    assert.equal(manifest.display, "standalone");
    const sizes = manifest.icons.map((icon) => icon.sizes);
    assert.ok(sizes.includes("192x192") && sizes.includes("512x512"), `icons: ${sizes}`);
    for (const icon of manifest.icons) {
      const response = await context.request.get(new URL(icon.src, relay.url).href);
      assert.equal(response.status(), 200, icon.src);
      assert.equal(response.headers()["content-type"], icon.type);
    }
    const worker = await context.request.get(new URL("sw.js", relay.url).href);
    assert.equal(worker.status(), 200);
    assert.match(worker.headers()["content-type"], /javascript/);
    assert.match(await worker.text(), /const SHELL_VERSION = "[0-9a-f]{16}"/);
  } finally {
    await context.close();
    await relay.dispose();
  }
});

test("after the first visit the app starts with no network", async () => {
  const relay = await startRelay();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(relay.url);
    await finishFirstRun(page, "Ada Lovelace");
    await page.getByTestId("actor-id").waitFor();
    await waitForOfflineReady(page);

    // No server and no network: only the service worker can answer.
    await relay.stop();
    await context.setOffline(true);
    const response = await page.reload();
    assert.ok(response.fromServiceWorker(), "the page came from the service worker");
    await page.getByTestId("actor-id").waitFor();
    assert.equal(await page.getByTestId("self-check").innerText(), "passed");
    assert.equal(await page.getByTestId("whoami").innerText(), "Ada Lovelace");
    await page.screenshot({ path: join(artifacts, "shell-offline.png") });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await relay.dispose();
  }
});

test("a new version waits for the user to press reload", async () => {
  const relay = await startRelay();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(relay.url);
    await finishFirstRun(page, "Ada Lovelace");
    await page.getByTestId("actor-id").waitFor();
    await waitForOfflineReady(page);
    const firstCaches = await page.evaluate(() => caches.keys());
    assert.equal(firstCaches.length, 1);

    // Publish a new build: the same files under a new shell version.
    const workerPath = join(relay.dist, "sw.js");
    const nextWorker = readFileSync(workerPath, "utf8").replace(/const SHELL_VERSION = "[0-9a-f]+"/, 'const SHELL_VERSION = "next-build"');
    writeFileSync(workerPath, nextWorker);
    await page.reload();
    const banner = page.getByRole("status").filter({ hasText: "A new version of Openprod is ready." });
    await banner.waitFor();
    // The running version keeps its cache until the user chooses to update.
    assert.deepEqual((await page.evaluate(() => caches.keys())).sort(), [...firstCaches, "openprod-shell-next-build"].sort());

    const reloaded = page.waitForEvent("load");
    await page.getByRole("button", { name: "Reload to update" }).click();
    await reloaded;
    await page.getByTestId("actor-id").waitFor();
    assert.equal(await banner.count(), 0, "the banner is gone after the update");
    assert.deepEqual(await page.evaluate(() => caches.keys()), ["openprod-shell-next-build"]);
  } finally {
    await context.close();
    await relay.dispose();
  }
});
