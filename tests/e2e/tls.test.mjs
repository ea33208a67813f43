// TLS on a LAN (DESIGN.md §6), the real route: a relay with its own local
// CA, reached under this machine's LAN name. A device that trusts the CA (put
// into its profile's NSS database with certutil, as a person would import
// it) gets a secure context and the service worker; one that does not is
// stopped by a certificate error; plain HTTP on the same port hands out the
// CA and sends everything else to https. No test here may pass
// --ignore-certificate-errors: it would hide exactly what is under test.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect } from "node:tls";
import { artifacts, launchProfile, startRelay, waitForOfflineReady, watchErrors } from "./support.mjs";

// The relay's certificate names the host name and, for a name without dots,
// its mDNS `.local` form: how tablets on a LAN without DNS find the laptop.
const host = hostname().toLowerCase();
const lanName = host.includes(".") ? host : `${host}.local`;

let scratch;
let configDir;
let firstRelay;
let relay;
let relayArgs;
let lanUrl;
let ca;
let caPem;
let firstServerCert;
let trusting;
let stranger;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), "openprod-tls-"));
  configDir = join(scratch, "relay-config");
  relayArgs = ["--tls-local-ca", "--config-dir", configDir];
  firstRelay = relay = await startRelay({ args: relayArgs });
  caPem = readFileSync(join(configDir, "ca.pem"));
  ca = new X509Certificate(caPem);
  firstServerCert = await serverCertificate(relay.port);
  lanUrl = `https://${lanName}:${relay.port}/`;

  // Two devices: each a browser with its own profile and its own trust store.
  const resolver = `--host-resolver-rules=MAP ${lanName} 127.0.0.1`;
  trusting = await launchProfile(join(scratch, "trusting-profile"), {
    home: homeTrusting(join(scratch, "trusting-home"), join(configDir, "ca.pem")),
    args: [resolver],
  });
  const strangerHome = join(scratch, "stranger-home");
  mkdirSync(strangerHome);
  stranger = await launchProfile(join(scratch, "stranger-profile"), { home: strangerHome, args: [resolver] });
  for (const context of [trusting, stranger]) context.setDefaultTimeout(15_000);
});

after(async () => {
  await trusting?.close().catch(() => {});
  await stranger?.close().catch(() => {});
  if (relay !== firstRelay) await relay?.dispose();
  // The first relay made the app's copy; it removes it, last.
  await firstRelay?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test("the server certificate comes from the local CA and names the machine on the LAN", () => {
  assert.ok(ca.ca, "ca.pem is a CA certificate");
  assert.match(ca.subject, /CN=Openprod relay local CA [0-9a-f]{8}/);
  assert.ok(firstServerCert.checkIssued(ca), "the CA issued the server certificate");
  const names = firstServerCert.subjectAltName.split(", ");
  for (const name of [`DNS:${lanName}`, "DNS:localhost", "IP Address:127.0.0.1"]) {
    assert.ok(names.includes(name), `${name} in ${firstServerCert.subjectAltName}`);
  }
  assert.equal(firstServerCert.checkHost(lanName), lanName);
});

test("a device that trusts the CA opens the app over https on the LAN name, with its service worker", async () => {
  const page = await trusting.newPage();
  const errors = watchErrors(page);
  const response = await page.goto(lanUrl);
  assert.equal(response.status(), 200);
  assert.equal(page.url(), lanUrl);
  assert.equal(response.fromServiceWorker(), false);
  const security = await response.securityDetails();
  assert.equal(security.issuer, caName(), "the connection's certificate is the local CA's");
  assert.equal(security.subjectName, "Openprod relay");
  assert.equal(await page.evaluate(() => window.isSecureContext), true, "https on a LAN name is a secure context");

  await page.getByTestId("first-run").waitFor();
  await waitForOfflineReady(page);
  assert.equal(
    await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL),
    `${lanUrl}sw.js`,
    "the service worker controls the page",
  );
  await page.screenshot({ path: join(artifacts, "tls-first-run.png") });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a device that does not trust the CA is stopped by a certificate error", async () => {
  const page = await stranger.newPage();
  await assert.rejects(page.goto(lanUrl), /net::ERR_CERT_AUTHORITY_INVALID/);
  await page.close();
});

test("plain HTTP on the same port serves the trust page and the CA, and sends the rest to https", async () => {
  const plainOrigin = `http://${lanName}:${relay.port}`;
  // A device that does not trust the CA yet can read the page.
  const page = await stranger.newPage();
  const response = await page.goto(`${plainOrigin}/trust`);
  assert.equal(response.status(), 200);
  assert.equal(page.url(), `${plainOrigin}/trust`, "no upgrade to https");
  assert.equal(await page.evaluate(() => window.isSecureContext), false);
  assert.equal(await page.locator("h1").innerText(), "Trust this Openprod relay");
  assert.ok((await page.locator("figure svg").count()) >= 1, "a QR code to open the page on another device");
  assert.equal(await page.locator('a[href="/ca.crt"]').count(), 1, "a link to the certificate for phones and tablets");
  assert.equal(await page.locator('a[href="/ca.pem"]').count(), 1, "a link to the PEM certificate");
  assert.match(await page.locator("body").innerText(), new RegExp(caName()));
  await page.screenshot({ path: join(artifacts, "tls-trust-page.png"), fullPage: true });
  await page.close();

  // The files behind the links are the CA the relay keeps.
  const pem = await plainGet("/ca.pem");
  assert.equal(pem.status, 200);
  assert.deepEqual(pem.body, caPem);
  const der = await plainGet("/ca.crt");
  assert.equal(der.status, 200);
  assert.equal(der.headers["content-type"], "application/x-x509-ca-cert");
  assert.deepEqual(der.body, ca.raw);
  assert.equal((await plainGet("/healthz")).status, 200);

  // Everything else goes to the same address over https.
  const app = await plainGet("/");
  assert.equal(app.status, 307);
  assert.equal(app.headers.location, lanUrl);
  const followed = await trusting.newPage();
  await followed.goto(`${plainOrigin}/`);
  assert.equal(followed.url(), lanUrl);
  await followed.getByTestId("first-run").waitFor();
  await followed.close();
});

test("a restarted relay keeps its CA: the device that trusts it needs no new step", async () => {
  const keyBefore = readFileSync(join(configDir, "ca-key.pem"));
  await relay.stop();
  relay = await startRelay({ port: firstRelay.port, dist: firstRelay.dist, args: relayArgs });
  assert.deepEqual(readFileSync(join(configDir, "ca.pem")), caPem, "the CA certificate is reused byte for byte");
  assert.deepEqual(readFileSync(join(configDir, "ca-key.pem")), keyBefore, "and so is its key");
  const serverCert = await serverCertificate(relay.port);
  assert.notEqual(serverCert.fingerprint256, firstServerCert.fingerprint256, "a new server certificate at each start");
  assert.ok(serverCert.checkIssued(ca));

  // Over the network, past the service worker: the new certificate is trusted.
  const page = await trusting.newPage();
  const errors = watchErrors(page);
  const cdp = await trusting.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setBypassServiceWorker", { bypass: true });
  const response = await page.goto(lanUrl);
  assert.equal(response.status(), 200);
  assert.equal(response.fromServiceWorker(), false);
  assert.equal((await response.securityDetails()).issuer, caName());
  await page.getByTestId("first-run").waitFor();

  // And as the app runs every day: from its service worker, talking to the relay.
  await cdp.send("Network.setBypassServiceWorker", { bypass: false });
  await page.reload();
  await page.getByTestId("first-run").waitFor();
  await waitForOfflineReady(page);
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  const health = await page.evaluate(async () => (await fetch("/healthz", { cache: "no-store" })).json());
  assert.equal(health.status, "ok");
  assert.deepEqual(errors, []);
  await page.close();
});

/** The CA's common name, as devices show it. */
function caName() {
  return ca.subject.match(/CN=(.*)/)[1];
}

/**
 * A HOME whose NSS database trusts the CA in `caFile` for TLS servers, as
 * TOOLCHAIN.md describes; Chromium reads it from HOME/.pki/nssdb.
 */
function homeTrusting(home, caFile) {
  const nssdb = join(home, ".pki/nssdb");
  mkdirSync(nssdb, { recursive: true });
  const certutil = (...args) => {
    try {
      execFileSync("certutil", ["-d", `sql:${nssdb}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      if (error.code === "ENOENT") throw new Error("no certutil: run scripts/setup.sh (it installs libnss3-tools)");
      throw new Error(`certutil ${args.join(" ")} failed: ${error.stderr}`);
    }
  };
  certutil("-N", "--empty-password");
  certutil("-A", "-t", "C,,", "-n", "openprod-relay-ca", "-i", caFile);
  return home;
}

/**
 * The certificate the relay presents for the LAN name, checked the way a
 * client that trusts only the CA would check it (chain and name).
 */
function serverCertificate(port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername: lanName, ca: caPem }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      resolve(certificate);
    });
    socket.once("error", reject);
  });
}

/** A GET over plain HTTP, as a device asks for `http://<LAN name>:<port><path>`. */
function plainGet(path) {
  return new Promise((resolve, reject) => {
    const headers = { host: `${lanName}:${relay.port}` };
    const get = request({ host: "127.0.0.1", port: relay.port, path, headers }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) });
      });
    });
    get.once("error", reject);
    get.end();
  });
}
