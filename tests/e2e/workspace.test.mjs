// Workspaces end to end: the first run, creating and editing a workspace,
// what survives a reload, a lost network and a crashed tab, undo and redo,
// backups of workspaces and identities, renaming and deleting.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  SAVED,
  addRecord,
  artifacts,
  assertRebuildMatches,
  cellOf,
  createWorkspace,
  diagnostics,
  editCell,
  eventually,
  expectCount,
  expectText,
  finishFirstRun,
  fixture as fixtureIn,
  goHome,
  goToWorkspaces,
  launchBrowser,
  openContacts,
  pause,
  repoRoot,
  rowOf,
  waitForOfflineReady,
  waitSaved,
  watchErrors,
  workspaceIdOf,
} from "./support.mjs";
/** Key derivation (Argon2 in wasm) for identity files takes a few seconds. */
const KDF_TIMEOUT = 60_000;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** One relay and fresh profiles in this file's browser (see `fixture` in support.mjs). */
const fixture = () => fixtureIn(browser);

// ---------------------------------------------------------------------------
// Steps of these tests only

/** Clicks a download button; resolves with the saved file's path and suggested name. */
async function download(page, button, directory, options) {
  const [file] = await Promise.all([page.waitForEvent("download", options), button.click()]);
  const name = file.suggestedFilename();
  const path = join(directory, `${Date.now()}-${name}`);
  await file.saveAs(path);
  assert.equal(await file.failure(), null, "the download completed");
  return { path, name };
}

async function workspaceDatabases(page) {
  return page.evaluate(async () =>
    (await indexedDB.databases()).map((db) => db.name).filter((name) => name.startsWith("openprod-workspace-")),
  );
}

/** How many records the log of the page's only workspace database holds. */
async function storedLogRecords(page) {
  return page.evaluate(async () => {
    const [name] = (await indexedDB.databases()).map((db) => db.name).filter((n) => n.startsWith("openprod-workspace-"));
    const done = (request) =>
      new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    const db = await done(indexedDB.open(name));
    try {
      return await done(db.transaction("log").objectStore("log").count());
    } finally {
      db.close();
    }
  });
}

/** Imports a file from the workspaces screen; resolves with the status line once done. */
async function importWorkspace(page, path) {
  await page.getByTestId("import-workspace").setInputFiles(path);
  await page.getByTestId("open-imported").waitFor({ timeout: 30_000 });
  return page.getByTestId("import-status").innerText();
}

// ---------------------------------------------------------------------------
// The tests

test("a first run, a workspace, records and an edit survive a reload", async () => {
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newProfile();
    await page.getByTestId("first-run").waitFor();
    assert.equal(await page.getByTestId("whoami").count(), 0, "nobody is signed in before the first run");
    await finishFirstRun(page, "Jane");
    await page.getByTestId("no-workspaces").waitFor();
    const actor = await expectText(page.getByTestId("actor-id"), /^[0-9a-f]{64}$/);
    assert.equal(await page.getByTestId("self-check").innerText(), "passed");

    const id = await createWorkspace(page, "Hamlet");
    const contactsLink = page.getByTestId("table-link");
    await expectCount(contactsLink, 1);
    await expectText(contactsLink, /^Contacts\s+0 records$/);
    await expectText(page.getByTestId("conflict-count"), "No conflicts.");
    const created = await diagnostics(page);

    await openContacts(page);
    await expectText(page.getByTestId("record-count"), "0 records");
    const ophelia = await addRecord(page, { full_name: "Ophelia", role: "Cast", email: "ophelia@example.org" });
    const polonius = await addRecord(page, { full_name: "Polonius", role: "Cast", department: "Acting" });
    await expectText(page.getByTestId("record-count"), "2 records");
    // A new record's boolean starts at its default ("yes").
    assert.equal(await cellOf(page, ophelia, "is_active").locator('input[type="checkbox"]').isChecked(), true);

    await editCell(page, ophelia, "role", "Lead", { via: "Tab" });
    await waitSaved(page);
    await page.screenshot({ path: join(artifacts, "workspace-grid.png") });

    // One signed bundle per record and per edit.
    await goHome(page);
    await expectText(contactsLink, /^Contacts\s+2 records$/);
    assert.equal((await diagnostics(page)).bundles, created.bundles + 3);
    await openContacts(page);

    // Who changed what, on the record's own screen.
    await rowOf(page, ophelia).getByRole("link", { name: "Open", exact: true }).click();
    const detail = page.getByTestId("record-detail");
    await detail.waitFor();
    await expectText(detail.getByRole("heading", { level: 2 }), "Ophelia");
    const roleHistory = detail.locator('td[data-testid="field-history"][data-field="role"]');
    await roleHistory.locator("summary").click();
    const entries = roleHistory.getByTestId("history-entry");
    await expectCount(entries, 2);
    assert.match(await entries.nth(0).innerText(), /^Jane set “Lead” — .+/);
    assert.match(await entries.nth(1).innerText(), /^Jane set “Cast” — .+/);
    await page.screenshot({ path: join(artifacts, "workspace-record.png") });
    await page.goBack();
    await page.getByTestId("grid").waitFor();

    // Everything is in IndexedDB: a reload opens the same data, as the same person.
    await page.reload();
    await expectText(page.getByTestId("table-title"), "Contacts");
    await expectText(page.getByTestId("record-count"), "2 records");
    await expectText(cellOf(page, ophelia, "full_name"), "Ophelia");
    await expectText(cellOf(page, ophelia, "role"), "Lead");
    await expectText(cellOf(page, ophelia, "email"), "ophelia@example.org");
    await expectText(cellOf(page, polonius, "full_name"), "Polonius");
    await expectText(cellOf(page, polonius, "department"), "Acting");
    await expectText(page.getByTestId("save-state"), SAVED);
    await expectText(page.getByTestId("whoami"), "Jane");
    assert.equal(workspaceIdOf(page), id);

    await goToWorkspaces(page);
    await page.reload();
    await expectText(page.getByTestId("actor-id"), actor);
    await expectText(page.getByTestId("whoami"), "Jane");
    await expectText(page.getByTestId("workspace-list").getByTestId("workspace-item").getByRole("link"), "Hamlet");
    assert.equal(await page.getByTestId("first-run").count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

test("editing in the grid: Enter saves and closes the editor, Escape cancels, one bundle per edit", async () => {
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newUser("Jane");
    await createWorkspace(page, "Hamlet");
    await openContacts(page);
    const ophelia = await addRecord(page, { full_name: "Ophelia", role: "Cast" });
    await waitSaved(page);
    await goHome(page);
    const before = (await diagnostics(page)).bundles;
    await openContacts(page);

    // Escape cancels: nothing written.
    const department = cellOf(page, ophelia, "department");
    await department.click();
    await department.getByTestId("cell-input").fill("Props");
    await department.getByTestId("cell-input").press("Escape");
    await department.getByTestId("cell-input").waitFor({ state: "detached", timeout: 5_000 });
    await expectText(department, "");

    // Enter on a focused cell opens its editor, starting from the value.
    const role = cellOf(page, ophelia, "role");
    await role.focus();
    await role.press("Enter");
    const roleInput = role.getByTestId("cell-input");
    await roleInput.waitFor();
    assert.equal(await roleInput.inputValue(), "Cast");
    await roleInput.press("Escape");
    await roleInput.waitFor({ state: "detached", timeout: 5_000 });

    // Leaving the field saves.
    await editCell(page, ophelia, "email", "ophelia@example.org", { via: "Tab" });

    // A boolean toggles at once.
    const active = cellOf(page, ophelia, "is_active").locator('input[type="checkbox"]');
    assert.equal(await active.isChecked(), true);
    await active.click();
    await eventually("the checkbox is cleared", () => active.isChecked(), (checked) => checked === false);
    await waitSaved(page);

    // Enter saves, closes the editor and leaves the focus on the cell.
    await role.click();
    await roleInput.waitFor();
    await roleInput.fill("Lead");
    await roleInput.press("Enter");
    await waitSaved(page);
    await page.screenshot({ path: join(artifacts, "workspace-inline-edit.png") });
    await eventually(
      "the editor closes after Enter",
      () => page.getByTestId("cell-input").evaluateAll((inputs) => inputs.map((input) => input.outerHTML)),
      (open) => open.length === 0,
      { timeout: 5_000 },
    );
    await expectText(role, "Lead");
    assert.equal(
      await page.evaluate(() => document.activeElement?.closest("td")?.dataset.field),
      "role",
      "the focus is back on the cell",
    );

    await goHome(page);
    assert.equal((await diagnostics(page)).bundles, before + 3, "role, email and active: three bundles");
    await assertRebuildMatches(page);
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

test("with the relay gone and no network, the workspace still opens from this device", async () => {
  const fx = await fixture();
  try {
    const { context, page, errors } = await fx.newUser("Jane");
    await createWorkspace(page, "Hamlet");
    await openContacts(page);
    const ophelia = await addRecord(page, { full_name: "Ophelia", role: "Cast" });
    const horatio = await addRecord(page, { full_name: "Horatio", role: "Friend" });
    await waitSaved(page);
    await waitForOfflineReady(page);
    await goToWorkspaces(page);

    await fx.relay.stop();
    await context.setOffline(true);
    const response = await page.reload();
    assert.ok(response.fromServiceWorker(), "the page came from the service worker");
    const item = page.getByTestId("workspace-list").getByTestId("workspace-item");
    await expectCount(item, 1);
    await expectText(item.getByRole("link"), "Hamlet");
    await expectText(page.getByTestId("whoami"), "Jane");

    await item.getByRole("link", { name: "Hamlet" }).click();
    await openContacts(page);
    await expectText(page.getByTestId("record-count"), "2 records");
    await expectText(cellOf(page, ophelia, "full_name"), "Ophelia");
    await expectText(cellOf(page, horatio, "role"), "Friend");
    // Still editable, and saved, offline.
    await editCell(page, horatio, "role", "Scholar", { via: "Tab" });
    await waitSaved(page);
    await page.screenshot({ path: join(artifacts, "workspace-offline.png") });
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

test("undo and redo, by button and by keyboard, including a deleted record", async () => {
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newUser("Jane");
    await createWorkspace(page, "Hamlet");
    await openContacts(page);
    const undo = page.getByTestId("undo");
    const redo = page.getByTestId("redo");
    assert.equal(await undo.isDisabled(), true, "nothing to undo in a workspace just opened");
    assert.equal(await redo.isDisabled(), true, "nothing to redo in a workspace just opened");

    const ophelia = await addRecord(page, { full_name: "Ophelia", role: "Cast" });
    const polonius = await addRecord(page, { full_name: "Polonius", role: "Counsellor" });
    await editCell(page, ophelia, "role", "Lead", { via: "Tab" });
    await waitSaved(page);
    const role = cellOf(page, ophelia, "role");

    // Buttons.
    assert.equal(await undo.isEnabled(), true);
    await undo.click();
    await expectText(role, "Cast");
    await eventually("redo is enabled", () => redo.isEnabled(), Boolean);
    await redo.click();
    await expectText(role, "Lead");
    await eventually("redo is disabled again", () => redo.isDisabled(), Boolean);

    // Keyboard, with the focus on the page, not in a field.
    const blur = () => page.evaluate(() => document.activeElement?.blur());
    await blur();
    assert.equal(await page.evaluate(() => document.activeElement === document.body), true);
    await page.keyboard.press("Control+z");
    await expectText(role, "Cast");
    await page.keyboard.press("Control+Shift+z");
    await expectText(role, "Lead");
    await page.keyboard.press("Control+z");
    await expectText(role, "Cast");
    await page.keyboard.press("Control+y");
    await expectText(role, "Lead");

    // Inside a text field the shortcut belongs to the field.
    const department = cellOf(page, ophelia, "department");
    await department.click();
    const input = department.getByTestId("cell-input");
    await input.waitFor();
    await page.keyboard.press("Control+z");
    await input.press("Escape");
    await input.waitFor({ state: "detached" });
    await expectText(role, "Lead");
    await expectText(department, "");

    // A deleted record comes back with undo, with its values and its id.
    await rowOf(page, polonius).getByRole("button", { name: "Delete record" }).click();
    await rowOf(page, polonius).waitFor({ state: "detached" });
    await expectText(page.getByTestId("record-count"), "1 record");
    await undo.click();
    await rowOf(page, polonius).waitFor();
    await expectText(cellOf(page, polonius, "full_name"), "Polonius");
    await expectText(cellOf(page, polonius, "role"), "Counsellor");
    await expectText(page.getByTestId("record-count"), "2 records");
    await redo.click();
    await rowOf(page, polonius).waitFor({ state: "detached" });
    await blur();
    await page.keyboard.press("Control+z");
    await rowOf(page, polonius).waitFor();
    await waitSaved(page);
    await page.screenshot({ path: join(artifacts, "workspace-undo.png") });

    // Undo and redo are changes like any other: they are stored.
    await page.reload();
    await page.getByTestId("grid").waitFor();
    await expectText(page.getByTestId("record-count"), "2 records");
    await expectText(cellOf(page, polonius, "role"), "Counsellor");
    await expectText(cellOf(page, ophelia, "role"), "Lead");
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

test("an exported workspace imports into another profile identically; damaged files are refused", async () => {
  const fx = await fixture();
  try {
    // The original, on Jane's device.
    const jane = await fx.newUser("Jane");
    const id = await createWorkspace(jane.page, "Hamlet");
    await openContacts(jane.page);
    const ophelia = await addRecord(jane.page, { full_name: "Ophelia", role: "Cast" });
    await addRecord(jane.page, { full_name: "Laertes", role: "Cast", phone: "+44 20 7946 0000" });
    await editCell(jane.page, ophelia, "role", "Lead", { via: "Tab" });
    await waitSaved(jane.page);
    await goHome(jane.page);
    const original = await diagnostics(jane.page);
    const exported = await download(jane.page, jane.page.getByTestId("export-workspace"), fx.scratch);
    assert.match(exported.name, /^Hamlet-\d{4}-\d{2}-\d{2}\.openprod$/);

    const bytes = readFileSync(exported.path);
    const damaged = Buffer.from(bytes);
    damaged[Math.floor(damaged.length / 2)] ^= 0xff;
    const damagedPath = join(fx.scratch, "Hamlet-damaged.openprod");
    writeFileSync(damagedPath, damaged);

    // Horatio's device, which has never seen the workspace.
    const horatio = await fx.newUser("Horatio");
    const page = horatio.page;
    const importInput = page.getByTestId("import-workspace");
    const importCard = page.locator("section", { has: importInput });
    await page.getByTestId("no-workspaces").waitFor();

    // A damaged file: refused in plain words, and nothing is added.
    await importInput.setInputFiles(damagedPath);
    const refusal = importCard.getByRole("alert");
    const refusalText = await expectText(refusal, /\S/);
    assert.match(refusalText, /damaged|refused|could not be read/i);
    assert.doesNotMatch(refusalText, /Err\(|JsValue|\{|panicked/, "a sentence, not a debug dump");
    await page.screenshot({ path: join(artifacts, "workspace-import-refused.png") });
    await page.getByTestId("no-workspaces").waitFor();
    assert.equal(await page.getByTestId("workspace-item").count(), 0);
    assert.ok(!(await workspaceDatabases(page)).includes(`openprod-workspace-${id}`), "no database left behind");
    assert.equal(new URL(page.url()).hash || "#/", "#/", "stays on the workspaces screen");

    // The real file: the result stays on screen, with a link to open it.
    const status = await importWorkspace(page, exported.path);
    assert.match(status, /imported with \d+ changes/);
    await expectCount(page.getByTestId("workspace-item"), 1);
    await page.getByTestId("open-imported").click();
    await page.waitForURL(new RegExp(`#/w/${id}$`));
    const imported = await diagnostics(page);
    assert.equal(imported.stateHash, original.stateHash, "the same state as the original");
    assert.equal(imported.bundles, original.bundles, "every change came along");
    assert.equal(await page.getByTestId("op-count").innerText(), await jane.page.getByTestId("op-count").innerText());
    await expectText(page.getByTestId("workspace-name"), "Hamlet");
    await assertRebuildMatches(page);
    await page.screenshot({ path: join(artifacts, "workspace-imported.png") });
    await openContacts(page);
    await expectText(page.getByTestId("record-count"), "2 records");
    await expectText(cellOf(page, ophelia, "role"), "Lead");
    await expectText(page.getByTestId("whoami"), "Horatio");

    // The same file again: recognised, nothing changes.
    await goToWorkspaces(page);
    await expectCount(page.getByTestId("workspace-item"), 1);
    assert.match(await importWorkspace(page, exported.path), /already here: 0 new changes/);
    await page.getByTestId("open-imported").click();
    await page.waitForURL(new RegExp(`#/w/${id}$`));
    const again = await diagnostics(page);
    assert.equal(again.stateHash, original.stateHash, "the hash is unchanged");
    assert.equal(again.bundles, original.bundles);

    // A damaged file for a workspace that is here: refused, and the workspace is untouched.
    await goToWorkspaces(page);
    await importInput.setInputFiles(damagedPath);
    assert.match(await expectText(importCard.getByRole("alert"), /\S/), /damaged|refused|could not be read/i);
    await expectCount(page.getByTestId("workspace-item"), 1);
    await page.getByTestId("workspace-item").getByRole("link", { name: "Hamlet" }).click();
    assert.equal((await diagnostics(page)).stateHash, original.stateHash);
    await assertRebuildMatches(page);

    assert.deepEqual(jane.errors, []);
    assert.deepEqual(horatio.errors, []);
  } finally {
    await fx.dispose();
  }
});

test("an identity moves to another device with its passphrase, and only with it", async () => {
  const fx = await fixture();
  try {
    const jane = await fx.newUser("Jane Doe");
    const actor = await expectText(jane.page.getByTestId("actor-id"), /^[0-9a-f]{64}$/);
    await jane.page.getByText("Use this identity on another device").click();
    await jane.page.getByTestId("export-passphrase").fill("correct horse battery");
    const exported = await download(
      jane.page,
      jane.page.getByRole("button", { name: "Export identity" }),
      fx.scratch,
      { timeout: KDF_TIMEOUT },
    );
    assert.equal(exported.name, `${actor.slice(0, 8)}-identity.openprod-id`);
    assert.equal(await jane.page.getByTestId("export-passphrase").inputValue(), "", "the passphrase is not kept");

    // A new device, still on its first run.
    const other = await fx.newProfile();
    const page = other.page;
    await page.getByTestId("first-run").waitFor();
    await page.getByTestId("import-identity").setInputFiles(exported.path);
    await page.getByTestId("import-passphrase").fill("correct horse staple");
    await page.getByRole("button", { name: "Import identity" }).click();
    const error = await expectText(page.getByRole("alert"), /\S/, { timeout: KDF_TIMEOUT });
    assert.match(error, /passphrase/i);
    await page.screenshot({ path: join(artifacts, "identity-wrong-passphrase.png") });
    assert.equal(await page.getByTestId("whoami").count(), 0, "a wrong passphrase imports nothing");
    await page.getByTestId("first-run").waitFor();

    await page.getByTestId("import-passphrase").fill("correct horse battery");
    await page.getByRole("button", { name: "Import identity" }).click();
    await expectText(page.getByTestId("whoami"), "Jane Doe", { timeout: KDF_TIMEOUT });
    await expectText(page.getByTestId("actor-id"), actor);
    assert.equal(await page.getByTestId("self-check").innerText(), "passed");

    // Kept on the new device too.
    await page.reload();
    await expectText(page.getByTestId("actor-id"), actor);
    await expectText(page.getByTestId("whoami"), "Jane Doe");
    assert.deepEqual(jane.errors, []);
    assert.deepEqual(other.errors, []);
  } finally {
    await fx.dispose();
  }
});

test("renaming and deleting workspaces on this device", async () => {
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newUser("Jane");
    const hamlet = await createWorkspace(page, "Hamlet");
    await goToWorkspaces(page);
    const macbeth = await createWorkspace(page, "Macbeth");
    await goToWorkspaces(page);
    const items = page.getByTestId("workspace-list").getByTestId("workspace-item");
    await expectCount(items, 2);
    const itemNamed = (name) => items.filter({ has: page.getByRole("link", { name, exact: true }) });

    // Rename.
    await itemNamed("Hamlet").getByRole("button", { name: "Rename" }).click();
    const renameInput = page.getByTestId("rename-input");
    await renameInput.fill("Hamlet, spring tour");
    await page.getByRole("button", { name: "Save name" }).click();
    await itemNamed("Hamlet, spring tour").waitFor();
    await page.reload();
    await itemNamed("Hamlet, spring tour").waitFor();
    await expectCount(itemNamed("Hamlet"), 0);
    assert.equal(await itemNamed("Hamlet, spring tour").getByRole("link").getAttribute("href"), `#/w/${hamlet}`);

    // Delete asks first; "Keep it" keeps it.
    const databasesBefore = await workspaceDatabases(page);
    assert.ok(databasesBefore.includes(`openprod-workspace-${macbeth}`), `databases: ${databasesBefore}`);
    await itemNamed("Macbeth").getByRole("button", { name: "Delete" }).click();
    const confirm = itemNamed("Macbeth").getByRole("alertdialog");
    await confirm.waitFor();
    await page.screenshot({ path: join(artifacts, "workspace-delete-confirm.png") });
    await confirm.getByRole("button", { name: "Keep it" }).click();
    await confirm.waitFor({ state: "detached" });
    await expectCount(items, 2);
    assert.ok((await workspaceDatabases(page)).includes(`openprod-workspace-${macbeth}`));

    // "Delete from this device" deletes it.
    await itemNamed("Macbeth").getByRole("button", { name: "Delete" }).click();
    await itemNamed("Macbeth").getByRole("alertdialog").getByRole("button", { name: "Delete from this device" }).click();
    await expectCount(items, 1);
    await expectCount(itemNamed("Macbeth"), 0);
    await page.reload();
    await expectCount(items, 1);
    await itemNamed("Hamlet, spring tour").waitFor();
    await eventually(
      "the deleted workspace's database is gone",
      () => workspaceDatabases(page),
      (names) => !names.includes(`openprod-workspace-${macbeth}`) && names.includes(`openprod-workspace-${hamlet}`),
    );

    // The other workspace is untouched.
    await itemNamed("Hamlet, spring tour").getByRole("link").click();
    await page.getByTestId("diagnostics").waitFor();
    await assertRebuildMatches(page);
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

/**
 * Starts a burst of `count` cell edits from inside the page, as fast as the
 * page takes them: click a cell, type, Enter. Each edit is logged to the
 * console so the test knows how far it got.
 */
function startEditBurst(page, count, label) {
  return page.evaluate(
    async ({ count, label }) => {
      const fields = ["role", "department", "email", "phone", "pronouns", "emergency_contact"];
      for (let i = 0; i < count; i += 1) {
        const field = fields[i % fields.length];
        // Rows are drawn anew after every edit: look the cell up each time.
        const cell = () => {
          const rows = document.querySelectorAll('tr[data-testid="row"]');
          return rows[i % rows.length].querySelector(`td[data-field="${field}"]`);
        };
        cell().click();
        let input = cell().querySelector('[data-testid="cell-input"]');
        while (!input) {
          await new Promise((done) => setTimeout(done, 0));
          input = cell().querySelector('[data-testid="cell-input"]');
        }
        input.value = `${label} ${i}`;
        input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
        console.log(`burst-edit ${label} ${i + 1}`);
        // Let IndexedDB make progress now and then, so writes are in flight.
        if (i % 3 === 2) await new Promise((done) => setTimeout(done, 0));
      }
    },
    { count, label },
  );
}

test("a tab that crashes in the middle of a burst of edits reopens consistent", async (t) => {
  const fx = await fixture();
  try {
    const { context, page: first } = await fx.newUser("Jane");
    const id = await createWorkspace(first, "Hamlet");
    await openContacts(first);
    await addRecord(first, { full_name: "Ophelia" });
    await addRecord(first, { full_name: "Horatio" });
    await waitSaved(first);
    await goHome(first);
    const base = (await diagnostics(first)).bundles;
    const tableUrl = first.url().replace(/#.*$/, `#/w/${id}`);

    let page = first;
    let stored = base;
    for (let round = 1; round <= 3; round += 1) {
      await openContacts(page);
      let edits = 0;
      page.on("console", (message) => {
        if (message.text().startsWith(`burst-edit round${round} `)) edits = Number(message.text().split(" ").pop());
      });
      const crashed = page.waitForEvent("crash");
      const burst = startEditBurst(page, 200, `round${round}`).then(
        () => "finished",
        () => "interrupted",
      );
      // Wait for the burst to be under way, then crash at a random moment of it.
      await eventually("the burst has started", () => edits, (seen) => seen >= 5, { timeout: 30_000 });
      await pause(Math.floor(Math.random() * 400));
      const session = await context.newCDPSession(page);
      session.send("Page.crash").catch(() => {}); // never answers: the renderer is gone
      await crashed;
      assert.equal(await burst, "interrupted", `round ${round}: the crash came after the burst (${edits} edits)`);
      assert.ok(edits < 200, `round ${round}: crashed mid-burst, after ${edits} edits`);

      // A new tab in the same profile: the workspace opens from what was stored.
      page = await context.newPage();
      const errors = watchErrors(page);
      await page.goto(tableUrl);
      await page.getByTestId("diagnostics").waitFor({ timeout: 30_000 });
      await waitSaved(page);
      const reopened = await diagnostics(page);
      assert.ok(reopened.bundles >= stored, `round ${round}: ${reopened.bundles} bundles, had ${stored} stored`);
      // At most one per edit of the burst (the console count may lag the crash, the burst size cannot).
      assert.ok(reopened.bundles <= stored + 200, `round ${round}: ${reopened.bundles} bundles from ${stored} + a burst`);
      await assertRebuildMatches(page);
      await expectText(page.getByTestId("save-state"), SAVED);
      t.diagnostic(`round ${round}: crashed after ${edits} edits; ${reopened.bundles - stored} of them were stored`);
      stored = reopened.bundles;
      if (round === 1) await page.screenshot({ path: join(artifacts, "workspace-after-crash.png") });

      // Still usable: one more edit is saved and the log still rebuilds to the same state.
      await openContacts(page);
      await expectText(page.getByTestId("record-count"), "2 records");
      const entity = await page.getByTestId("row").first().getAttribute("data-entity");
      await editCell(page, entity, "role", `after crash ${round}`, { via: "Tab" });
      await waitSaved(page);
      await goHome(page);
      assert.equal((await diagnostics(page)).bundles, stored + 1);
      await assertRebuildMatches(page);
      stored += 1;
      assert.deepEqual(errors, []);
    }
  } finally {
    await fx.dispose();
  }
});

test("a large workspace reopens from its folded log to the same state, and takes edits", async () => {
  const fixturePath = process.env.OPENPROD_FIXTURE_5K ?? join(repoRoot, "target/fixtures/w5k.openprod");
  assert.ok(
    existsSync(fixturePath),
    `${fixturePath} is missing: scripts/test.sh makes it with ` +
      "`cargo run -p openprod-core --example workspace_fixture -- 5000 target/fixtures/w5k.openprod`",
  );
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newUser("Jane");
    await page.getByTestId("import-workspace").setInputFiles(fixturePath);
    await page.getByTestId("open-imported").waitFor({ timeout: 60_000 });
    await page.getByTestId("open-imported").click();
    const imported = await diagnostics(page);
    assert.equal(imported.bundles, 4000, "every bundle of the file is in");
    assert.equal(await storedLogRecords(page), 1, "after the import, its records were folded into one");

    // Reopening replays the folded log: the same state.
    await page.reload();
    await page.getByTestId("diagnostics").waitFor({ timeout: 30_000 });
    assert.equal((await diagnostics(page)).stateHash, imported.stateHash, "the reopened workspace has the same state");
    await assertRebuildMatches(page);

    await openContacts(page);
    await expectText(page.getByTestId("record-count"), "500 records");
    const first = await page.getByTestId("row").first().getAttribute("data-entity");
    await editCell(page, first, "department", "Lighting");
    await expectText(page.getByTestId("save-state"), SAVED);
    await goHome(page);
    assert.equal((await diagnostics(page)).bundles, 4001);
    assert.equal(await storedLogRecords(page), 2, "the edit is a record after the folded log");
    await assertRebuildMatches(page);
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

/**
 * Damages, behind the app's back, the stored log record that holds `text`:
 * one letter of it changed ("letter": the record still reads, the change
 * fails its checks) or the record cut short just before it ("cut": it no
 * longer reads). Resolves with whether such a record was found.
 */
async function damageStoredRecord(page, text, how) {
  return page.evaluate(
    async ({ text, how }) => {
      const [name] = (await indexedDB.databases()).map((db) => db.name).filter((n) => n.startsWith("openprod-workspace-"));
      const done = (request) =>
        new Promise((resolve, reject) => {
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
      const db = await done(indexedDB.open(name));
      try {
        const store = db.transaction("log", "readwrite").objectStore("log");
        const [keys, values] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
        const wanted = new TextEncoder().encode(text);
        for (const [index, value] of values.entries()) {
          const bytes = new Uint8Array(value);
          const at = bytes.findIndex((_, i) => wanted.every((byte, j) => bytes[i + j] === byte));
          if (at < 0) continue;
          if (how === "letter") bytes[at + 1] ^= 0x20; // the case of its second letter
          await done(store.put(how === "letter" ? bytes : bytes.slice(0, at), keys[index]));
          return true;
        }
        return false;
      } finally {
        db.close();
      }
    },
    { text, how },
  );
}

/** A workspace with Ophelia and Polonius, Polonius's role then edited; returns their ids. */
async function twoRecordsAndAnEdit(page) {
  await createWorkspace(page, "Hamlet");
  await openContacts(page);
  const ophelia = await addRecord(page, { full_name: "Ophelia", role: "Cast" });
  const polonius = await addRecord(page, { full_name: "Polonius", role: "Cast" });
  await editCell(page, polonius, "role", "Counsellor");
  await waitSaved(page);
  return { ophelia, polonius };
}

/** The workspace is shown read-only: a new record is refused, and none appears. */
async function assertReadOnly(page, records) {
  await page.getByTestId("add-record").click();
  const form = page.getByTestId("new-record");
  await form.locator("#new-full_name").fill("Laertes");
  await form.getByRole("button", { name: "Save record" }).click();
  await expectText(form.getByRole("alert"), /cannot be changed on this device until its stored data is repaired/);
  await expectText(page.getByTestId("record-count"), records);
}

test("stored changes that fail their checks leave the workspace shown read-only, without them, and exportable", async () => {
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newUser("Jane");
    const { ophelia, polonius } = await twoRecordsAndAnEdit(page);
    const stored = await storedLogRecords(page);
    assert.ok(await damageStoredRecord(page, "Counsellor", "letter"), "the edit's record holds its text as written");

    await page.reload();
    const trouble = page.getByTestId("trouble");
    assert.match(await expectText(trouble, /\S/), /^1 saved change\(s\) on this device failed their checks/);
    // What verified is shown: both records, Polonius without the damaged edit.
    await expectText(page.getByTestId("record-count"), "2 records");
    await expectText(cellOf(page, ophelia, "full_name"), "Ophelia");
    await expectText(cellOf(page, polonius, "role"), "Cast");
    await assertReadOnly(page, "2 records");
    // What it shows can still be taken away.
    await goHome(page);
    const exported = await download(page, page.getByTestId("export-workspace"), fx.scratch);
    assert.match(exported.name, /^Hamlet-\d{4}-\d{2}-\d{2}\.openprod$/);
    assert.equal(await storedLogRecords(page), stored, "the stored records are left as they were");
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

test("a stored record that no longer reads leaves the workspace shown read-only with the rest", async () => {
  const fx = await fixture();
  try {
    const { page, errors } = await fx.newUser("Jane");
    const { ophelia } = await twoRecordsAndAnEdit(page);
    assert.ok(await damageStoredRecord(page, "Polonius", "cut"), "Polonius's record holds his name as written");

    await page.reload();
    const trouble = page.getByTestId("trouble");
    // Polonius's record is cut short; the edit after it has nothing to follow.
    assert.match(
      await expectText(trouble, /\S/),
      /^1 stored record\(s\) on this device could not be read \(.+\), and 1 saved change\(s\) on this device failed their checks/,
    );
    await expectText(page.getByTestId("record-count"), "1 record");
    await expectText(cellOf(page, ophelia, "full_name"), "Ophelia");
    await assertReadOnly(page, "1 record");
    assert.deepEqual(errors, []);
  } finally {
    await fx.dispose();
  }
});

test("a workspace open in one tab is refused in a second tab, so two tabs never sign over each other", async () => {
  const fx = await fixture();
  try {
    const { context, page, errors } = await fx.newUser("Jane");
    await page.getByTestId("new-workspace-name").fill("Hamlet");
    await page.getByRole("button", { name: "Create workspace" }).click();
    await page.getByTestId("diagnostics").waitFor();
    const workspaceUrl = page.url();

    const second = await context.newPage();
    const secondErrors = watchErrors(second);
    await second.goto(workspaceUrl);
    const refusal = second.getByRole("alert");
    assert.match(await expectText(refusal, /\S/), /open in another tab or window/);
    assert.equal(await second.getByTestId("diagnostics").count(), 0, "the second tab shows no workspace to edit");

    // Once the first tab lets go, the second one opens it.
    await page.close();
    await second.reload();
    await second.getByTestId("diagnostics").waitFor();
    await openContacts(second);
    await addRecord(second, { full_name: "Ophelia" });
    await expectText(second.getByTestId("save-state"), SAVED);
    await goHome(second);
    await assertRebuildMatches(second);
    assert.deepEqual(errors, []);
    assert.deepEqual(secondErrors, []);
  } finally {
    await fx.dispose();
  }
});
