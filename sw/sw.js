// Openprod's service worker: keeps the app shell so the app starts with no network.
//
// The build (scripts/precache.sh, run by Trunk after each build) prepends
// SHELL_VERSION, a hash of every file of the build, and SHELL_FILES, their
// paths. A new build therefore means a new cache, installed beside the old
// one; it takes over only when the page asks (the user pressed
// "Reload to update"), and the old cache is then deleted.

const CACHE_PREFIX = "openprod-shell-";
const CACHE_NAME = CACHE_PREFIX + SHELL_VERSION;
const scoped = (path) => new URL(path, self.registration.scope).href;
const APP_PAGE = scoped("index.html");
// Served by the relay itself, never from the cache.
const LIVE_PATHS = new Set([new URL(scoped("ws")).pathname, new URL(scoped("healthz")).pathname]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE_NAME).then((cache) =>
      // `reload` skips the HTTP cache so the shell is exactly this build.
      cache.addAll(SHELL_FILES.map((path) => new Request(scoped(path), { cache: "reload" }))),
    ),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== CACHE_NAME) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || LIVE_PATHS.has(url.pathname)) {
    return;
  }
  const cached = request.mode === "navigate" ? caches.match(APP_PAGE) : caches.match(request, { ignoreSearch: true });
  event.respondWith(cached.then((response) => response || fetch(request)));
});
