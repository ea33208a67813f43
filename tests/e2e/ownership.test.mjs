// Ownership end to end: the owner sees and copies the workspace's recovery
// key, and makes a copy of the workspace (a fork) that opens with the same
// records, is listed beside the original, and has a recovery key of its own.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  addRecord,
  assertRebuildMatches,
  cellOf,
  createWorkspace,
  expectCount,
  expectText,
  fixture as fixtureIn,
  goHome,
  goToWorkspaces,
  launchBrowser,
  openContacts,
  rowOf,
  waitSaved,
  workspaceIdOf,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const fixture = () => fixtureIn(browser);

/** 32 random bytes as unpadded base64url: what `RecoveryKey::to_text` writes. */
const RECOVERY_KEY = /^[A-Za-z0-9_-]{43}$/;

/** Shows the recovery key on the workspace's home; resolves with its text. */
async function showRecoveryKey(page) {
  await expectCount(page.getByTestId("recovery-key"), 0);
  await page.getByTestId("recovery-show").click();
  const key = await page.getByTestId("recovery-key").inputValue();
  assert.match(key, RECOVERY_KEY);
  return key;
}

/**
 * The open contacts grid as [entity, name, role] rows, in the grid's order.
 * Read from the cells' text, not as rendered: rows are `content-visibility:
 * auto`, and a row the browser has not laid out yet renders no text, the
 * likely reason one run read Horatio's name as "" just after Ophelia's row
 * came in.
 */
async function contactRows(page) {
  const rows = [];
  for (const row of await page.getByTestId("row").all()) {
    const entity = await row.getAttribute("data-entity");
    const name = (await cellOf(page, entity, "full_name").textContent()).trim();
    const role = (await cellOf(page, entity, "role").textContent()).trim();
    rows.push([entity, name, role]);
  }
  return rows;
}

test("the owner sees and copies the recovery key, and a fork opens with the same records and its own key", async () => {
  const fx = await fixture();
  try {
    const { page, context, errors } = await fx.newUser("Jane");
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(fx.relay.url).origin });
    const source = await createWorkspace(page, "Hamlet");
    await openContacts(page);
    const horatio = await addRecord(page, { full_name: "Horatio", role: "Stage Manager" });
    const ophelia = await addRecord(page, { full_name: "Ophelia", role: "Cast" });
    await waitSaved(page);
    const records = await contactRows(page);
    assert.deepEqual(
      records.map(([entity]) => entity).sort(),
      [horatio, ophelia].sort(),
    );

    // The key: hidden until asked for, then copied to the clipboard.
    await goHome(page);
    await expectText(page.getByTestId("owner-name"), "Jane");
    await expectText(page.getByTestId("ownership"), /This key grants workspace ownership\. Store it securely\./);
    assert.equal(await page.getByTestId("recovery-make").count(), 0, "a new workspace has its key already");
    const key = await showRecoveryKey(page);
    await page.getByTestId("recovery-copy").click();
    await expectText(page.getByTestId("recovery-copied"), "Copied.");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);

    // Where the page has no clipboard, the key is shown and selected for copying by hand.
    await page.getByTestId("recovery-show").click();
    await expectCount(page.getByTestId("recovery-key"), 0);
    await page.evaluate(() => Object.defineProperty(Navigator.prototype, "clipboard", { get: () => undefined, configurable: true }));
    await page.getByTestId("recovery-copy").click();
    await expectText(page.getByTestId("recovery-copied"), /the key is selected/);
    const selected = await page.getByTestId("recovery-key").evaluate((input) => [
      document.activeElement === input,
      input.value.slice(input.selectionStart, input.selectionEnd),
    ]);
    assert.deepEqual(selected, [true, key]);

    // The fork: named, made, opened.
    await page.getByTestId("fork").click();
    assert.equal(await page.getByTestId("fork-name").inputValue(), "Hamlet (copy)");
    await page.getByTestId("fork-name").fill("Hamlet (tour)");
    await page.getByTestId("fork-confirm").click();
    await page.waitForURL((url) => /^#\/w\/[^/]+$/.test(url.hash) && !url.hash.includes(source));
    const copy = workspaceIdOf(page);
    await expectText(page.getByTestId("workspace-name"), "Hamlet (tour)");
    await page.getByTestId("diagnostics").waitFor();
    await expectText(page.getByTestId("owner-name"), "Jane");
    const copyKey = await showRecoveryKey(page);
    assert.notEqual(copyKey, key, "the copy has a recovery key of its own");
    await assertRebuildMatches(page);
    await openContacts(page);
    assert.deepEqual(await contactRows(page), records, "the same records, ids and values");

    // Listed beside the original, which is unchanged.
    await goToWorkspaces(page);
    const items = page.getByTestId("workspace-list").getByTestId("workspace-item");
    await expectCount(items, 2);
    const listed = await items.getByRole("link").allInnerTexts();
    assert.deepEqual(listed.map((name) => name.trim()).sort(), ["Hamlet", "Hamlet (tour)"]);
    await items.getByRole("link", { name: "Hamlet", exact: true }).click();
    await expectText(page.getByTestId("workspace-name"), "Hamlet");
    assert.equal(workspaceIdOf(page), source);
    assert.notEqual(copy, source);
    await page.getByTestId("diagnostics").waitFor();
    await page.reload();
    await page.getByTestId("diagnostics").waitFor();
    assert.equal(await showRecoveryKey(page), key, "the original keeps its key");
    await openContacts(page);
    assert.deepEqual(await contactRows(page), records);
    await expectCount(rowOf(page, horatio), 1);
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

/** Exports the open workspace from its home into `directory`; resolves with the file's path. */
async function exportWorkspace(page, directory) {
  const [file] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-workspace").click()]);
  const path = join(directory, file.suggestedFilename());
  await file.saveAs(path);
  return path;
}

/** Imports a workspace file from the workspaces screen and opens it on its home. */
async function importAndOpen(page, path) {
  await page.getByTestId("import-workspace").setInputFiles(path);
  await page.getByTestId("open-imported").click({ timeout: 30_000 });
  await page.getByTestId("diagnostics").waitFor();
}

test("an owner whose device lost the key makes a new one; someone who does not own the workspace sees who does, and forks it", async () => {
  const fx = await fixture();
  try {
    const jane = await fx.newUser("Jane");
    await createWorkspace(jane.page, "Hamlet");
    await openContacts(jane.page);
    const horatio = await addRecord(jane.page, { full_name: "Horatio", role: "Stage Manager" });
    await waitSaved(jane.page);
    await goHome(jane.page);
    const firstKey = await showRecoveryKey(jane.page);
    const file = await exportWorkspace(jane.page, fx.scratch);

    // Removed from this device and imported back: the key was kept only in the list entry.
    await goToWorkspaces(jane.page);
    const item = jane.page.getByTestId("workspace-list").getByTestId("workspace-item");
    await item.getByRole("button", { name: "Delete" }).click();
    await item.getByRole("alertdialog").getByRole("button", { name: "Delete from this device" }).click();
    await jane.page.getByTestId("no-workspaces").waitFor();
    await importAndOpen(jane.page, file);
    await expectText(jane.page.getByTestId("owner-name"), "Jane");
    await expectText(jane.page.getByTestId("ownership"), /this device does not keep it\. A new key replaces it: the old one stops working\./);
    assert.equal(await jane.page.getByTestId("recovery-copy").count(), 0);
    await jane.page.getByTestId("recovery-make").click();
    const madeKey = await jane.page.getByTestId("recovery-key").inputValue();
    assert.match(madeKey, RECOVERY_KEY);
    assert.notEqual(madeKey, firstKey);
    await expectCount(jane.page.getByTestId("recovery-make"), 0);
    await waitSaved(jane.page);
    await jane.page.reload();
    await jane.page.getByTestId("diagnostics").waitFor();
    assert.equal(await showRecoveryKey(jane.page), madeKey, "the new key is kept on this device");

    // Someone else with the file: told who owns it, shown nothing of the key, free to fork.
    const alex = await fx.newUser("Alex");
    await importAndOpen(alex.page, file);
    await expectText(alex.page.getByTestId("owner-name"), "Jane");
    const ownership = alex.page.getByTestId("ownership");
    assert.doesNotMatch(await ownership.innerText(), /Recovery key|grants workspace ownership/);
    for (const testid of ["recovery-show", "recovery-copy", "recovery-make", "recovery-key"]) {
      assert.equal(await alex.page.getByTestId(testid).count(), 0, testid);
    }
    await alex.page.getByTestId("fork").click();
    await alex.page.getByTestId("fork-confirm").click();
    await expectText(alex.page.getByTestId("workspace-name"), "Hamlet (copy)");
    await alex.page.getByTestId("diagnostics").waitFor();
    await expectText(alex.page.getByTestId("owner-name"), "Alex");
    assert.notEqual(await showRecoveryKey(alex.page), madeKey);
    await openContacts(alex.page);
    await expectText(cellOf(alex.page, horatio, "role"), "Stage Manager");
    assert.deepEqual(jane.errors, []);
    assert.deepEqual(alex.errors, []);
  } finally {
    await fx.dispose();
  }
});
