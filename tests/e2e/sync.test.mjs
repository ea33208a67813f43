// Sync between devices end to end: several browser profiles (each its own
// device, with its own IndexedDB) join a workspace by its share link and
// sync over WebRTC, introduced by the relay; paused sync and a conflict;
// the relay restarting under them; a wrong secret; and the sealed fallback
// through the relay when no direct connection can come up.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
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
  fixture as fixtureIn,
  goHome,
  goToWorkspaces,
  launchBrowser,
  openContacts,
  pause,
  rowOf,
  waitSaved,
  workspaceIdOf,
} from "./support.mjs";

const CONNECTED = "Connected to the relay.";
const PAUSED = "Sync is paused: your changes stay on this device until you resume.";
const RETRYING = /^The relay cannot be reached \(.+\); trying again\. Direct connections carry on\.$/;
const RELAYED = "through the relay (sealed)";
/** What the app waits for a direct link before the relay carries the traffic (net/mod.rs). */
const FALLBACK_AFTER_MS = 2_500;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * Runs `body` with a fresh fixture (relay and profiles in `browser`), and
 * keeps every page's console in tests/artifacts/sync-<name>.log.
 */
async function withFixture(name, body) {
  const fx = await fixtureIn(browser);
  try {
    await body(fx);
  } finally {
    writeFileSync(join(artifacts, `sync-${name}.log`), fx.consoleLines.join("\n") + "\n");
    await fx.dispose();
  }
}

// ---------------------------------------------------------------------------
// Steps through the sync UI

/** On a workspace's home: shows the share link and reads it. */
async function shareLink(page) {
  await page.getByTestId("share").click();
  const input = page.getByTestId("share-link");
  return eventually("the share link is shown", () => input.inputValue({ timeout: 1000 }), (link) => link.includes("#/join/"));
}

/**
 * A new device: its first run as `name`, then the share link. Resolves on
 * the workspace's home once its tables arrived from the peers.
 */
async function joinByLink(fx, name, link, options) {
  const user = await fx.newUser(name, options);
  await user.page.goto(link);
  const id = link.match(/#\/join\/([^/]+)\//)[1];
  await user.page.waitForURL(new RegExp(`#/w/${id}$`));
  await user.page.getByTestId("table-link").filter({ hasText: "Contacts" }).waitFor();
  return user;
}

/** The rows of the peers panel, as `{ name, path, state }`, by name. */
function peerRows(page) {
  return page.getByTestId("peer").evaluateAll((rows) =>
    rows
      .map((row) => {
        const text = (id) => row.querySelector(`[data-testid="${id}"]`)?.textContent.trim();
        return { name: text("peer-name"), path: text("peer-path"), state: text("peer-state") };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
}

/**
 * Waits until the peers panel lists exactly `names`, each with `path` and
 * `state` (`state: null` takes any state).
 */
function expectPeers(page, names, { path = "direct", state = "in sync", timeout = 20_000 } = {}) {
  const wanted = [...names].sort((a, b) => a.localeCompare(b)).map((name) => ({ name, path, state }));
  const shown = (rows) => (state === null ? rows.map((row) => ({ ...row, state: null })) : rows);
  return eventually(
    `the peers panel should list ${names.join(", ")} (${path}, ${state ?? "any state"})`,
    () => peerRows(page),
    (rows) => JSON.stringify(shown(rows)) === JSON.stringify(wanted),
    { timeout },
  );
}

/** Waits until every page (each on its workspace's home) shows one state hash; resolves with it. */
async function expectConverged(pages, { timeout = 20_000 } = {}) {
  const seen = await eventually(
    "every device should show the same state hash",
    () => Promise.all(pages.map((page) => page.getByTestId("state-hash").innerText({ timeout: 1000 }))),
    (hashes) => /^[0-9a-f]{64}$/.test(hashes[0]) && hashes.every((hash) => hash === hashes[0]),
    { timeout },
  );
  const counts = await Promise.all(pages.map(async (page) => (await diagnostics(page)).bundles));
  assert.ok(counts.every((count) => count === counts[0]), `the same number of bundles everywhere: ${counts}`);
  return seen[0];
}

const relayState = (page) => page.getByTestId("relay-state");

/** Alice creates "Hamlet" with one record and is back on its home. */
async function ownerWithOneRecord(fx, options) {
  const alice = await fx.newUser("Alice", options);
  const id = await createWorkspace(alice.page, "Hamlet");
  await openContacts(alice.page);
  await addRecord(alice.page, { full_name: "Ophelia", role: "Cast" });
  await waitSaved(alice.page);
  await goHome(alice.page);
  return { alice, id };
}

// ---------------------------------------------------------------------------
// The tests

test("three devices join by the share link, edits flow both ways, and all converge over direct links", async () => {
  await withFixture("join", async (fx) => {
    const alice = await fx.newUser("Alice");
    const id = await createWorkspace(alice.page, "Hamlet");
    const link = await shareLink(alice.page);
    assert.match(link, new RegExp(`^${fx.relay.url.replace(/[.]/g, "\\.")}#/join/${id}/[A-Za-z0-9_-]{43}$`));
    await expectText(relayState(alice.page), CONNECTED);

    const bob = await joinByLink(fx, "Bob", link);
    const cleo = await joinByLink(fx, "Cleo", link);
    for (const { page } of [bob, cleo]) {
      assert.equal(workspaceIdOf(page), id);
      await expectText(page.getByTestId("workspace-name"), "Hamlet");
      await expectText(page.getByTestId("table-link"), /^Contacts\s+0 records$/);
    }

    // Alice adds a record; Bob sees it.
    await openContacts(alice.page);
    const ophelia = await addRecord(alice.page, { full_name: "Ophelia", role: "Cast" });
    await waitSaved(alice.page);
    await openContacts(bob.page);
    await rowOf(bob.page, ophelia).waitFor();
    await expectText(cellOf(bob.page, ophelia, "full_name"), "Ophelia");
    await expectText(cellOf(bob.page, ophelia, "role"), "Cast");

    // Bob edits a field; Alice (on the same table) and Cleo see it.
    await editCell(bob.page, ophelia, "role", "Lead", { via: "Tab" });
    await waitSaved(bob.page);
    await expectText(cellOf(alice.page, ophelia, "role"), "Lead");
    await openContacts(cleo.page);
    await expectText(cellOf(cleo.page, ophelia, "role"), "Lead");
    await expectText(cellOf(cleo.page, ophelia, "full_name"), "Ophelia");

    for (const { page } of [alice, bob, cleo]) await goHome(page);
    await expectConverged([alice.page, bob.page, cleo.page]);
    // What arrived was stored: the joiners' logs rebuild to what they show.
    await assertRebuildMatches(bob.page);
    await assertRebuildMatches(cleo.page);
    for (const user of [alice, bob, cleo]) assert.deepEqual(user.errors, []);

    // Everyone lists the two others by name, over a direct link; and, the
    // devices holding the same state, each says so (the sessions compare
    // state hashes once traffic has been quiet for 2 s).
    await expectPeers(alice.page, ["Bob", "Cleo"], { state: null });
    await expectPeers(bob.page, ["Alice", "Cleo"], { state: null });
    await expectPeers(cleo.page, ["Alice", "Bob"], { state: null });
    await alice.page.screenshot({ path: join(artifacts, "sync-peers.png"), fullPage: true });
    await expectPeers(alice.page, ["Bob", "Cleo"], { timeout: 15_000 });
    await expectPeers(bob.page, ["Alice", "Cleo"], { timeout: 15_000 });
    await expectPeers(cleo.page, ["Alice", "Bob"], { timeout: 15_000 });
  });
});

test("edits made while sync is paused meet on resume: one conflict, shown alike everywhere", async () => {
  await withFixture("conflict", async (fx) => {
    const alice = await fx.newUser("Alice");
    await createWorkspace(alice.page, "Hamlet");
    const link = await shareLink(alice.page);
    const bob = await joinByLink(fx, "Bob", link);
    const cleo = await joinByLink(fx, "Cleo", link);

    await openContacts(alice.page);
    const ophelia = await addRecord(alice.page, { full_name: "Ophelia", role: "Cast" });
    const horatio = await addRecord(alice.page, { full_name: "Horatio", role: "Friend" });
    await waitSaved(alice.page);
    await openContacts(bob.page);
    await expectText(cellOf(bob.page, horatio, "full_name"), "Horatio");
    await expectText(cellOf(bob.page, ophelia, "role"), "Cast");

    // Bob pauses sync: he leaves the relay and every link.
    await goHome(bob.page);
    const toggle = bob.page.getByTestId("sync-toggle");
    await expectText(toggle, "Pause sync");
    await toggle.click();
    await expectText(toggle, "Resume sync");
    await expectText(relayState(bob.page), PAUSED);
    await bob.page.getByTestId("no-peers").waitFor();
    await goHome(alice.page);
    await expectPeers(alice.page, ["Cleo"], { state: null });

    // The same field of one record, and different fields of another.
    await openContacts(alice.page);
    await openContacts(bob.page);
    await editCell(alice.page, ophelia, "role", "Queen", { via: "Tab" });
    await editCell(bob.page, ophelia, "role", "Lady", { via: "Tab" });
    await editCell(alice.page, horatio, "department", "Acting", { via: "Tab" });
    await editCell(bob.page, horatio, "email", "horatio@example.org", { via: "Tab" });
    await waitSaved(alice.page);
    await waitSaved(bob.page);
    // Paused means paused: Bob's edits stay with him, and Alice's away from him.
    await openContacts(cleo.page);
    await expectText(cellOf(cleo.page, horatio, "department"), "Acting");
    assert.equal(await cellOf(bob.page, horatio, "department").textContent(), "");
    assert.equal(await cellOf(bob.page, ophelia, "role").textContent(), "Lady");
    assert.equal(await cellOf(alice.page, horatio, "email").textContent(), "");
    assert.equal(await cellOf(cleo.page, horatio, "email").textContent(), "");

    await goHome(bob.page);
    await toggle.click();
    await expectText(toggle, "Pause sync");
    await expectText(relayState(bob.page), CONNECTED);

    // Everything meets: the other record's fields both arrive everywhere.
    for (const { page } of [alice, bob, cleo]) await goHome(page);
    await expectConverged([alice.page, bob.page, cleo.page]);
    const shownRoles = [];
    for (const { page } of [alice, bob, cleo]) {
      await openContacts(page);
      await expectText(cellOf(page, horatio, "department"), "Acting");
      await expectText(cellOf(page, horatio, "email"), "horatio@example.org");
      // The field shows one value, marked as one of two.
      const role = cellOf(page, ophelia, "role");
      await expectText(role.getByTestId("conflict-badge"), "2 values");
      shownRoles.push(await role.locator("span:not(.badge)").innerText());
      await goHome(page);
    }
    assert.ok(["Queen", "Lady"].includes(shownRoles[0]), `the field shows one of the two values: ${shownRoles}`);
    assert.deepEqual(shownRoles, [shownRoles[0], shownRoles[0], shownRoles[0]], "every device shows the same one");

    // Exactly one conflict, listed alike on every device with both values and authors.
    for (const { page } of [alice, bob, cleo]) {
      await expectText(page.getByTestId("conflict-count"), "1 field has conflicting values.");
      const conflicts = page.getByTestId("conflict-list").getByTestId("conflict");
      await expectCount(conflicts, 1);
      const label = await conflicts.locator("strong").innerText();
      assert.match(label, /role/, `the conflict names the field: ${label}`);
      assert.ok(label.includes(ophelia.slice(0, 8)), `the conflict names the record ${ophelia}: ${label}`);
      const values = await conflicts.getByTestId("conflict-value").evaluateAll((items) =>
        items
          .map((item) => ({
            author: item.querySelector('[data-testid="conflict-author"]').textContent.trim(),
            text: item.textContent.trim(),
          }))
          .sort((a, b) => a.author.localeCompare(b.author)),
      );
      assert.deepEqual(values, [
        { author: "Alice", text: "Alice: Queen" },
        { author: "Bob", text: "Bob: Lady" },
      ]);
    }
    await alice.page.screenshot({ path: join(artifacts, "sync-conflict.png"), fullPage: true });
    // Bob is back among Alice's peers, and she among his.
    await expectPeers(alice.page, ["Bob", "Cleo"], { state: null });
    await expectPeers(bob.page, ["Alice", "Cleo"], { state: null });
    for (const user of [alice, bob, cleo]) assert.deepEqual(user.errors, []);
  });
});

test("the relay restarts on its port: peers reconnect by themselves, edits still sync, and a new device joins", async (t) => {
  await withFixture("relay-restart", async (fx) => {
    const alice = await fx.newUser("Alice");
    await createWorkspace(alice.page, "Hamlet");
    const link = await shareLink(alice.page);
    const bob = await joinByLink(fx, "Bob", link);
    await expectPeers(alice.page, ["Bob"]);
    await expectPeers(bob.page, ["Alice"]);

    await fx.restartRelay(async () => {
      // Both notice, and say they keep trying.
      await expectText(relayState(alice.page), RETRYING);
      await expectText(relayState(bob.page), RETRYING);
      const lost = Date.now();
      await alice.page.screenshot({ path: join(artifacts, "sync-relay-down.png"), fullPage: true });
      // The direct link needs no relay: an edit still reaches Bob.
      await openContacts(alice.page);
      const horatio = await addRecord(alice.page, { full_name: "Horatio", role: "Friend" });
      await waitSaved(alice.page);
      await openContacts(bob.page);
      await expectText(cellOf(bob.page, horatio, "role"), "Friend");
      for (const { page } of [alice, bob]) await goHome(page);
      await expectText(relayState(alice.page), RETRYING);
      // Down long enough for the back-off to reach its longest wait
      // (0.25 + 0.5 + 1 + 2 + 4 s, then 5 s at a time).
      await pause(Math.max(0, lost + 8_000 - Date.now()));
    });
    // Back within the app's longest back-off (5 s), with no one touching anything.
    const back = Date.now();
    await expectText(relayState(alice.page), CONNECTED, { timeout: 7_000 });
    await expectText(relayState(bob.page), CONNECTED, { timeout: 7_000 });
    const reconnectedAfter = Date.now() - back;

    // One session per person again, however the links were renewed.
    await expectPeers(alice.page, ["Bob"]);
    await expectPeers(bob.page, ["Alice"]);

    // An edit made after the restart reaches Bob.
    await openContacts(alice.page);
    const yorick = await addRecord(alice.page, { full_name: "Yorick", role: "Jester" });
    await waitSaved(alice.page);
    await openContacts(bob.page);
    await expectText(cellOf(bob.page, yorick, "role"), "Jester");
    await editCell(alice.page, yorick, "department", "Props", { via: "Tab" });
    await expectText(cellOf(bob.page, yorick, "department"), "Props");

    // A device that was never there joins through the restarted relay.
    const cleo = await joinByLink(fx, "Cleo", link);
    await openContacts(cleo.page);
    await expectText(cellOf(cleo.page, yorick, "department"), "Props");
    for (const { page } of [alice, bob, cleo]) await goHome(page);
    await expectConverged([alice.page, bob.page, cleo.page]);
    await expectPeers(alice.page, ["Bob", "Cleo"], { state: null });
    await expectPeers(cleo.page, ["Alice", "Bob"], { state: null });
    t.diagnostic(`relay back: both reconnected within ${reconnectedAfter} ms`);
    for (const user of [alice, bob, cleo]) assert.deepEqual(user.errors, []);
  });
});

test("a link with a wrong secret gets no data and is refused; a malformed link is shown as broken", async () => {
  await withFixture("wrong-secret", async (fx) => {
    const { alice, id } = await ownerWithOneRecord(fx);
    const before = await diagnostics(alice.page);
    const link = await shareLink(alice.page);

    // One character of the secret changed (the first: all six of its bits count).
    const secret = link.split("/").pop();
    const wrongSecret = (secret[0] === "A" ? "B" : "A") + secret.slice(1);
    assert.equal(wrongSecret.length, 43);
    const wrongLink = link.slice(0, link.length - secret.length) + wrongSecret;

    const dora = await fx.newUser("Dora");
    const page = dora.page;
    await page.goto(wrongLink);
    await page.waitForURL(new RegExp(`#/w/${id}$`));
    await page.getByTestId("diagnostics").waitFor();
    await expectText(page.getByTestId("workspace-name"), "Joining…");

    // Each side refuses the other's hello: the proofs of the secret differ.
    const refused = /^refused: the other device does not have this workspace's key/;
    const doraSees = await eventually(
      "Dora's peers panel shows the refusal",
      () => peerRows(page),
      (rows) => rows.length > 0 && rows.every((row) => refused.test(row.state)),
    );
    assert.deepEqual(
      doraSees.map((row) => [row.name, row.path]),
      [["Someone joining", "connecting"]],
      "Alice's name never reached Dora, and no link to her proved itself",
    );
    const aliceSees = await eventually(
      "Alice's peers panel shows Dora refused",
      () => peerRows(alice.page),
      (rows) => rows.length > 0 && rows.every((row) => refused.test(row.state)),
    );
    assert.deepEqual(
      aliceSees.map((row) => [row.name, row.path]),
      [["Someone joining", "connecting"]],
      "Dora's name never reached Alice, and no link to her proved itself",
    );
    await page.screenshot({ path: join(artifacts, "sync-wrong-secret.png"), fullPage: true });

    // Long enough for the relayed fallback (2.5 s) to have been tried too: still nothing.
    await pause(FALLBACK_AFTER_MS + 1_500);
    assert.equal((await diagnostics(page)).bundles, 0, "no workspace data reached Dora");
    assert.equal(await page.getByTestId("table-link").count(), 0, "no tables on Dora's device");
    await expectText(page.getByTestId("workspace-name"), "Joining…");
    assert.ok((await peerRows(page)).every((row) => refused.test(row.state)));
    const after = await diagnostics(alice.page);
    assert.deepEqual(after, before, "Alice's workspace is untouched");

    await goToWorkspaces(page);
    await expectText(page.getByTestId("workspace-list").getByTestId("workspace-item").getByRole("link"), "Joining…");

    // A link that is not one.
    await page.goto(new URL("#/join/not-an-id/x", fx.relay.url).href);
    const broken = page.getByTestId("broken-link");
    await broken.waitFor();
    assert.match(await broken.innerText(), /This share link cannot be used/);
    assert.deepEqual(dora.errors, []);
    assert.deepEqual(alice.errors, []);
  });
});

// ---------------------------------------------------------------------------
// Join modes: links without the secret

/** The owner chooses how people join (`open`, `key` or `request`); resolves with the link that follows. */
async function chooseJoinMode(page, mode) {
  await page.getByTestId("join-mode-choice").selectOption(mode);
  await waitSaved(page);
  if (await page.getByTestId("share").isVisible()) await page.getByTestId("share").click();
  const expected = mode === "open" ? /#\/join\/[^?]+\/[A-Za-z0-9_-]{43}/ : new RegExp(`\\?by=${mode}`);
  return eventually("the link follows the join mode", () => page.getByTestId("share-link").inputValue({ timeout: 1000 }), (shown) =>
    expected.test(shown),
  );
}

/** A new device opens a link that carries no secret; resolves on its waiting screen. */
async function openLinkWithoutSecret(fx, name, link, options) {
  const user = await fx.newUser(name, options);
  await user.page.goto(link);
  const id = link.match(/#\/join\/([^/?]+)\?/)[1];
  await user.page.waitForURL(new RegExp(`#/w/${id}$`));
  await user.page.getByTestId("waiting-to-join").waitFor();
  return user;
}

const joinState = (page) => page.getByTestId("join-state");

/** Types an access key on the waiting screen. */
async function typeAccessKey(page, code) {
  await page.getByTestId("access-key-input").fill(code);
  await page.getByTestId("join-with-key").click();
}

/** Nothing of the workspace reached `page`, long after it was refused. */
async function expectNoWorkspaceData(page) {
  await pause(FALLBACK_AFTER_MS + 1_500);
  assert.equal((await diagnostics(page)).bundles, 0, "no workspace data reached the refused device");
  assert.equal(await page.getByTestId("table-link").count(), 0, "no tables on the refused device");
}

test("C joins by access key: a wrong key is refused, the right one lets C in, and the key counts the use", async () => {
  await withFixture("access-key", async (fx) => {
    const { alice, id } = await ownerWithOneRecord(fx);

    // Bob joins by the open link first, as in any company.
    const bob = await joinByLink(fx, "Bob", await shareLink(alice.page));
    const link = await chooseJoinMode(alice.page, "key");
    assert.match(link, new RegExp(`#/join/${id}\\?by=key$`));
    assert.doesNotMatch(link, /[A-Za-z0-9_-]{43}/, "the link carries no secret any more");
    await alice.page.getByTestId("key-max-uses").fill("2");
    await alice.page.getByTestId("make-key").click();
    const shownCode = (await alice.page.getByTestId("access-key-code").first().innerText()).trim();
    assert.match(shownCode, /^[2-9A-HJKMNP-TW-Z]{4}-[2-9A-HJKMNP-TW-Z]{4}$/);
    await expectText(alice.page.getByTestId("access-key").first(), /used by 0 of 2/);

    const cleo = await openLinkWithoutSecret(fx, "Cleo", link);
    // Same first characters (the same key named), wrong rest.
    const last = shownCode.at(-1) === "2" ? "3" : "2";
    await typeAccessKey(cleo.page, shownCode.slice(0, -1) + last);
    await expectText(joinState(cleo.page), "Not let in: the access key is not right");
    assert.equal((await diagnostics(cleo.page)).bundles, 0, "a wrong key gets no data");

    // Typed as people type: lower case, no dash.
    await typeAccessKey(cleo.page, shownCode.replace("-", "").toLowerCase());
    await cleo.page.getByTestId("table-link").filter({ hasText: "Contacts" }).waitFor({ timeout: 20_000 });
    await expectCount(cleo.page.getByTestId("waiting-to-join"), 0);
    await expectText(cleo.page.getByTestId("workspace-name"), "Hamlet");
    await expectPeers(alice.page, ["Bob", "Cleo"]);
    await expectText(alice.page.getByTestId("access-key").first(), /used by 1 of 2/);

    // Cleo is an ordinary member now: her edit reaches everyone.
    await openContacts(cleo.page);
    await addRecord(cleo.page, { full_name: "Laertes", role: "Cast" });
    await waitSaved(cleo.page);
    await goHome(cleo.page);
    await expectConverged([alice.page, bob.page, cleo.page]);
    await assertRebuildMatches(cleo.page);

    // After a reload she still belongs: the secret was kept.
    await cleo.page.reload();
    await expectPeers(cleo.page, ["Alice", "Bob"]);
    for (const user of [alice, bob, cleo]) assert.deepEqual(user.errors, []);
  });
});

test("an expired or revoked access key is refused and receives no workspace data", async () => {
  await withFixture("expired-key", async (fx) => {
    const { alice } = await ownerWithOneRecord(fx, { clock: true });
    const link = await chooseJoinMode(alice.page, "key");
    await alice.page.getByTestId("key-lifetime").selectOption({ label: "1 hour" });
    await alice.page.getByTestId("make-key").click();
    const expiring = (await alice.page.getByTestId("access-key-code").first().innerText()).trim();
    await alice.page.getByTestId("make-key").click();
    await expectCount(alice.page.getByTestId("access-key"), 2);
    const revoked = (await alice.page.getByTestId("access-key-code").first().innerText()).trim();
    await alice.page.getByTestId("revoke-key").first().click();
    await expectText(alice.page.getByTestId("access-key-state").first(), "this access key was revoked");

    // Two hours pass on Alice's device.
    await alice.page.clock.fastForward("02:00:00");
    const before = await diagnostics(alice.page);

    const dan = await openLinkWithoutSecret(fx, "Dan", link);
    await typeAccessKey(dan.page, expiring);
    await expectText(joinState(dan.page), "Not let in: this access key has expired", { timeout: 20_000 });
    await typeAccessKey(dan.page, revoked);
    await expectText(joinState(dan.page), "Not let in: this access key was revoked", { timeout: 20_000 });
    await expectNoWorkspaceData(dan.page);
    await expectText(dan.page.getByTestId("workspace-name"), "Joining…");
    assert.deepEqual(await diagnostics(alice.page), before, "Alice's workspace is untouched");
    await goHome(alice.page);
    await expectText(alice.page.getByTestId("access-key-state").last(), "this access key has expired");
    assert.deepEqual(dan.errors, []);
    assert.deepEqual(alice.errors, []);
  });
});

test("on request, a member sees the same check code as the asker and lets them in; a declined request gets nothing", async () => {
  await withFixture("request", async (fx) => {
    const alice = await fx.newUser("Alice");
    await createWorkspace(alice.page, "Hamlet");
    const link = await chooseJoinMode(alice.page, "request");

    const dan = await openLinkWithoutSecret(fx, "Dan", link);
    await dan.page.getByTestId("ask-to-join").click();
    const danSees = await expectText(joinState(dan.page), /^Waiting for a member to let you in\. Check code: \d{3} \d{3}/, {
      timeout: 20_000,
    });
    const request = alice.page.getByTestId("join-request");
    await expectText(request.getByTestId("join-request-name"), "Dan");
    const code = (await request.getByTestId("join-request-code").innerText()).trim();
    assert.ok(danSees.includes(`Check code: ${code} `), `Dan's screen (${danSees}) shows Alice's code ${code}`);
    await request.getByTestId("let-in").click();
    await dan.page.getByTestId("table-link").filter({ hasText: "Contacts" }).waitFor({ timeout: 20_000 });
    await expectPeers(alice.page, ["Dan"]);
    await expectConverged([alice.page, dan.page]);

    const erin = await openLinkWithoutSecret(fx, "Erin", link);
    await erin.page.getByTestId("ask-to-join").click();
    // Dan is a member now: his device shows the request too. Alice declines it.
    await expectText(dan.page.getByTestId("join-request").getByTestId("join-request-name"), "Erin");
    await alice.page.getByTestId("join-request").getByTestId("turn-away").click();
    await expectText(joinState(erin.page), /^Not let in: Alice declined your request to join$/, { timeout: 20_000 });
    await expectNoWorkspaceData(erin.page);
    for (const user of [alice, dan, erin]) assert.deepEqual(user.errors, []);
  });
});

// ---------------------------------------------------------------------------
// The relayed fallback, watched from the wire

/**
 * A TCP proxy in front of the relay that keeps every byte, both ways, with
 * the time it passed.
 */
async function startRecordingProxy(targetPort) {
  const connections = [];
  const sockets = new Set();
  const server = createServer((client) => {
    const record = { up: [], down: [] };
    connections.push(record);
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (bytes) => record.up.push({ time: Date.now(), bytes }));
    upstream.on("data", (bytes) => record.down.push({ time: Date.now(), bytes }));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((listening) => server.listen(0, "127.0.0.1", listening));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((closed) => server.close(closed));
    },
  };
}

/**
 * The WebSocket messages in one direction of a recorded connection, if it
 * was upgraded: `{ handshake, messages: [{ opcode, masked, payload, time }] }`
 * with payloads unmasked and fragments joined; `time` is when the last
 * byte passed.
 */
function webSocketMessages(chunks, { fromClient }) {
  const stream = Buffer.concat(chunks.map((chunk) => chunk.bytes));
  const ends = [];
  let total = 0;
  for (const chunk of chunks) ends.push({ end: (total += chunk.bytes.length), time: chunk.time });
  const timeAt = (offset) => ends.find((entry) => entry.end > offset).time;

  let start = -1;
  let handshake;
  if (fromClient) {
    // Requests before the upgrade (keep-alive) have no bodies: all GETs.
    for (let at = 0; at < stream.length; ) {
      const end = stream.indexOf("\r\n\r\n", at);
      if (end < 0) break;
      const head = stream.subarray(at, end).toString("latin1");
      if (/^upgrade:\s*websocket/im.test(head)) {
        handshake = head;
        start = end + 4;
        break;
      }
      at = end + 4;
    }
  } else {
    const at = stream.indexOf("HTTP/1.1 101");
    if (at >= 0) {
      start = stream.indexOf("\r\n\r\n", at) + 4;
      handshake = stream.subarray(at, start).toString("latin1");
    }
  }
  if (start < 0) return null;

  const messages = [];
  let partial = null;
  for (let at = start; at + 2 <= stream.length; ) {
    const [first, second] = [stream[at], stream[at + 1]];
    let length = second & 0x7f;
    let next = at + 2;
    if (length === 126) {
      length = stream.readUInt16BE(next);
      next += 2;
    } else if (length === 127) {
      length = Number(stream.readBigUInt64BE(next));
      next += 8;
    }
    const masked = (second & 0x80) !== 0;
    const mask = masked ? stream.subarray(next, next + 4) : null;
    if (masked) next += 4;
    if (next + length > stream.length) break; // cut off by the end of the recording
    const payload = Buffer.from(stream.subarray(next, next + length));
    if (mask) for (let i = 0; i < payload.length; i += 1) payload[i] ^= mask[i % 4];
    const opcode = first & 0x0f;
    const fin = (first & 0x80) !== 0;
    const time = timeAt(next + length - 1);
    if (opcode >= 8) {
      messages.push({ opcode, masked, payload, time });
    } else {
      partial = opcode === 0 && partial ? { ...partial, payload: Buffer.concat([partial.payload, payload]) } : { opcode, masked, payload };
      if (fin) {
        messages.push({ ...partial, time });
        partial = null;
      }
    }
    at = next + length;
  }
  return { handshake, messages };
}

const TEXT = 1;
const BINARY = 2;

/** The JSON of a text message, or null. */
function json(message) {
  if (message.opcode !== TEXT) return null;
  try {
    return JSON.parse(message.payload.toString("utf8"));
  } catch {
    return null;
  }
}

test("with no direct path possible, two devices sync through the relay, sealed: the relay never sees the data or the secret", async (t) => {
  // No UDP but through a proxy, and there is no proxy: WebRTC gathers no
  // candidates at all. (This Chromium reads the switch without "force-".)
  const noUdp = await launchBrowser({ args: ["--webrtc-ip-handling-policy=disable_non_proxied_udp"] });
  let proxy;
  try {
    await withFixture("relayed", async (fx) => {
      proxy = await startRecordingProxy(fx.relay.port);
      const through = { on: noUdp, url: proxy.url };
      const alice = await fx.newUser("Alice", through);

      // The premise: this browser gathers no ICE candidate at all, so no direct link can come up.
      const candidates = await alice.page.evaluate(async () => {
        const pc = new RTCPeerConnection();
        const found = [];
        pc.onicecandidate = (event) => event.candidate && found.push(event.candidate.candidate);
        pc.createDataChannel("probe");
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise((done) => {
          if (pc.iceGatheringState === "complete") return done();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
          setTimeout(done, 5_000);
        });
        const state = pc.iceGatheringState;
        pc.close();
        return { found, state };
      });
      assert.deepEqual(candidates, { found: [], state: "complete" }, "no ICE candidates in this browser");

      await createWorkspace(alice.page, "Hamlet");
      const link = await shareLink(alice.page);
      assert.ok(link.startsWith(`${proxy.url}#/join/`), `the link leads through the proxy: ${link}`);
      const secret = link.split("/").pop();
      const bob = await joinByLink(fx, "Bob", link, through);

      // Edits both ways, with a value nobody else would write.
      const distinctive = `Rosencrantz-${randomBytes(3).toString("hex")}`;
      await openContacts(alice.page);
      const rosencrantz = await addRecord(alice.page, { full_name: distinctive, role: "Courtier" });
      await waitSaved(alice.page);
      await openContacts(bob.page);
      await expectText(cellOf(bob.page, rosencrantz, "full_name"), distinctive);
      const bobsValue = `${distinctive}@example.org`;
      await editCell(bob.page, rosencrantz, "email", bobsValue, { via: "Tab" });
      await expectText(cellOf(alice.page, rosencrantz, "email"), bobsValue);

      for (const { page } of [alice, bob]) await goHome(page);
      await expectPeers(alice.page, ["Bob"], { path: RELAYED });
      await expectPeers(bob.page, ["Alice"], { path: RELAYED });
      await alice.page.screenshot({ path: join(artifacts, "sync-relayed.png"), fullPage: true });
      await expectConverged([alice.page, bob.page]);
      await assertRebuildMatches(bob.page);
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);

      // What the relay saw.
      const sockets = proxy.connections
        .map((connection) => ({
          connection,
          up: webSocketMessages(connection.up, { fromClient: true }),
          down: webSocketMessages(connection.down, { fromClient: false }),
        }))
        .filter((socket) => socket.up && socket.down);
      assert.ok(sockets.length >= 2, `both devices' relay connections went through the proxy (${sockets.length})`);
      for (const socket of sockets) {
        // Uncompressed, and unmasked from the relay: plaintext would be readable here.
        assert.doesNotMatch(socket.down.handshake, /sec-websocket-extensions/i, "no compression on the relay socket");
        assert.ok(socket.down.messages.every((message) => !message.masked), "frames from the relay are unmasked");
      }
      const up = sockets.flatMap((socket) => socket.up.messages);
      const down = sockets.flatMap((socket) => socket.down.messages);
      // The reading of the wire works: the signaling is there in clear.
      assert.ok(up.some((message) => json(message)?.type === "join"), "joins read from the browsers' frames");
      assert.ok(down.some((message) => json(message)?.type === "welcome"), "welcomes read from the relay's frames");
      const binaryUp = up.filter((message) => message.opcode === BINARY);
      const binaryDown = down.filter((message) => message.opcode === BINARY);
      assert.ok(binaryUp.length > 0 && binaryDown.length > 0, `binary frames both ways: ${binaryUp.length} up, ${binaryDown.length} down`);

      const secretBytes = Buffer.from(secret, "base64url");
      assert.equal(secretBytes.length, 32);
      const needles = {
        "the record's name": Buffer.from(distinctive),
        "the secret as in the link": Buffer.from(secret),
        "the secret's bytes": secretBytes,
        "the secret in hex": Buffer.from(secretBytes.toString("hex")),
      };
      const haystacks = [
        ...proxy.connections.flatMap((connection, index) => [
          [`connection ${index}, browser to relay`, Buffer.concat(connection.up.map((chunk) => chunk.bytes))],
          [`connection ${index}, relay to browser`, Buffer.concat(connection.down.map((chunk) => chunk.bytes))],
        ]),
        ...up.map((message, index) => [`unmasked message ${index} to the relay`, message.payload]),
        ...down.map((message, index) => [`message ${index} from the relay`, message.payload]),
      ];
      for (const [what, haystack] of haystacks) {
        for (const [needle, bytes] of Object.entries(needles)) {
          assert.equal(haystack.indexOf(bytes), -1, `${needle} is in ${what}`);
        }
      }

      // The fallback waited for the direct attempt first: from the moment the
      // two met in the room to the first relayed session nonce.
      const met = Math.min(
        ...down
          .filter((message) => {
            const parsed = json(message);
            return parsed?.type === "peer-joined" || (parsed?.type === "welcome" && parsed.peers.length > 0);
          })
          .map((message) => message.time),
      );
      const firstNonce = Math.min(
        ...up.filter((message) => json(message)?.type === "signal" && json(message).data?.k === "relay-nonce").map((m) => m.time),
      );
      const firstBinary = Math.min(...binaryUp.map((message) => message.time));
      assert.ok(Number.isFinite(met) && Number.isFinite(firstNonce), `met at ${met}, first nonce at ${firstNonce}`);
      const waited = firstNonce - met;
      assert.ok(
        waited >= FALLBACK_AFTER_MS && waited < FALLBACK_AFTER_MS + 3_500,
        `the relay took over ${waited} ms after the peers met (expected from ${FALLBACK_AFTER_MS} ms, on the next 1 s tick)`,
      );
      assert.ok(firstBinary >= firstNonce, "nothing was relayed before the sealed session began");
      t.diagnostic(`fallback after ${waited} ms; ${binaryUp.length + binaryDown.length} sealed frames relayed`);
    });
  } finally {
    await proxy?.close();
    await noUdp.close();
  }
});
