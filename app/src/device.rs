//! What this browser contributes to the engine: the time, random bytes, and
//! room for the page to breathe between slices of long work.

use js_sys::Promise;
use openprod_core::entropy::Entropy;
use openprod_core::identity::Identity;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;

/// A new identity from the browser's cryptographic random source.
pub fn fresh_identity() -> Result<Identity, getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(Identity::from_seed(seed))
}

/// Wall-clock time in Unix milliseconds, as the engine takes it.
pub fn now_ms() -> u64 {
    // `as` saturates; the clock is far inside u64 and never negative in practice.
    js_sys::Date::now() as u64
}

/// Milliseconds since the page started, precise enough to time slices of work.
pub fn monotonic_ms() -> f64 {
    web_sys::window().and_then(|window| window.performance()).map_or_else(js_sys::Date::now, |clock| clock.now())
}

/// `crypto.getRandomValues`, for new ids, salts and nonces.
pub struct BrowserEntropy;

impl Entropy for BrowserEntropy {
    fn fill(&mut self, bytes: &mut [u8]) {
        // Without a random source no id could be made at all; the browsers we
        // run in always have one (it is part of the secure-context baseline).
        getrandom::fill(bytes).expect("the browser's random source failed");
    }
}

/// Lets the browser paint and handle input before the next slice of work.
/// A message to ourselves, not `setTimeout(0)`: nested timers are clamped to
/// 4 ms each, which over a few hundred slices would add seconds.
pub async fn yield_to_browser() {
    let promise = Promise::new(&mut |resolve, _reject| {
        let Ok(channel) = web_sys::MessageChannel::new() else {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
            return;
        };
        let on_message = Closure::once_into_js(move || {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        });
        channel.port1().set_onmessage(Some(on_message.unchecked_ref()));
        let _ = channel.port2().post_message(&wasm_bindgen::JsValue::NULL);
    });
    let _ = JsFuture::from(promise).await;
}

/// Waits `ms` milliseconds without holding up the page.
pub async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        } else {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Offers `bytes` to the user as a file download named `file_name`.
pub fn download(file_name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let describe = |error: wasm_bindgen::JsValue| format!("the browser could not save the file: {error:?}");
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(describe)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(describe)?;
    let document = web_sys::window().and_then(|window| window.document()).ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a").map_err(describe)?.unchecked_into();
    link.set_href(&url);
    link.set_download(file_name);
    link.click();
    // The click has started the download; the browser keeps its own copy.
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Puts `text` on the clipboard; `false` where the browser has no clipboard
/// for the page (one not served over HTTPS or from this machine) or refuses
/// to write to it, so that the caller lets the person copy by hand.
pub async fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else { return false };
    let navigator = window.navigator();
    // Outside a secure context `navigator.clipboard` is undefined, and calling it would throw.
    let has_clipboard =
        js_sys::Reflect::get(&navigator, &"clipboard".into()).is_ok_and(|clipboard| !clipboard.is_undefined());
    has_clipboard && JsFuture::from(navigator.clipboard().write_text(text)).await.is_ok()
}

/// The bytes of a file the user picked.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|error| format!("the browser could not read the file: {error:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Records a User Timing measure from `start_ms` (a [`monotonic_ms`]
/// reading) to now: visible in the browser's performance tools, and what
/// the in-browser benchmarks read.
pub fn record_measure(name: &str, start_ms: f64) {
    record_span(name, start_ms, monotonic_ms());
}

/// Records a User Timing measure from `start_ms` to `end_ms`, both
/// [`monotonic_ms`] readings: for a span that ended elsewhere (in a worker).
pub fn record_span(name: &str, start_ms: f64, end_ms: f64) {
    let Some(performance) = web_sys::window().and_then(|window| window.performance()) else { return };
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"start".into(), &start_ms.into());
    let _ = js_sys::Reflect::set(&options, &"end".into(), &end_ms.into());
    if let Ok(measure) = js_sys::Reflect::get(&performance, &"measure".into())
        && let Ok(measure) = measure.dyn_into::<js_sys::Function>()
    {
        let _ = measure.call2(&performance, &name.into(), &options);
    }
}

/// An exclusive Web Lock, held until dropped. Browsers release it by
/// themselves when the page goes away, crashed or closed.
pub struct HeldLock {
    name: String,
    release: Option<js_sys::Function>,
}

thread_local! {
    /// The locks this page holds, by name.
    static HELD_HERE: std::cell::RefCell<std::collections::BTreeSet<String>> = Default::default();
}

impl HeldLock {
    fn taken(name: &str, release: Option<js_sys::Function>) -> HeldLock {
        HELD_HERE.with(|held| held.borrow_mut().insert(name.to_owned()));
        HeldLock { name: name.to_owned(), release }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        HELD_HERE.with(|held| held.borrow_mut().remove(&self.name));
        if let Some(release) = self.release.take() {
            let _ = release.call0(&wasm_bindgen::JsValue::NULL);
        }
    }
}

/// Whether this very page holds the lock `name` (in something it is
/// still closing), rather than another page.
pub fn lock_held_here(name: &str) -> bool {
    HELD_HERE.with(|held| held.borrow().contains(name))
}

/// Takes the exclusive lock `name` for this page if no other page of this
/// origin holds it; `None` if one does. Where the browser has no Web Locks
/// (outside a secure context) there is nothing to coordinate with, and the
/// lock is granted.
pub async fn try_exclusive_lock(name: &str) -> Option<HeldLock> {
    let navigator = web_sys::window()?.navigator();
    let locks = js_sys::Reflect::get(&navigator, &"locks".into()).ok().filter(|locks| !locks.is_undefined());
    let Some(locks) = locks else { return Some(HeldLock::taken(name, None)) };
    let request: js_sys::Function = js_sys::Reflect::get(&locks, &"request".into()).ok()?.dyn_into().ok()?;

    // `request` calls back with the lock (or null) and holds the lock until
    // the promise the callback returns settles: that promise's resolve
    // function is the release handle, passed out through `granted`.
    let mut grant = None;
    let granted = Promise::new(&mut |resolve, _reject| grant = Some(resolve));
    let grant = grant?;
    let on_lock = Closure::once_into_js(move |lock: wasm_bindgen::JsValue| -> wasm_bindgen::JsValue {
        if lock.is_null() {
            let _ = grant.call1(&wasm_bindgen::JsValue::NULL, &wasm_bindgen::JsValue::NULL);
            return wasm_bindgen::JsValue::UNDEFINED;
        }
        let mut release = None;
        let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let release = release.map_or(wasm_bindgen::JsValue::NULL, wasm_bindgen::JsValue::from);
        let _ = grant.call1(&wasm_bindgen::JsValue::NULL, &release);
        held.into()
    });
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"ifAvailable".into(), &true.into());
    request.call3(&locks, &name.into(), &options, &on_lock).ok()?;
    let release: js_sys::Function = JsFuture::from(granted).await.ok()?.dyn_into().ok()?;
    Some(HeldLock::taken(name, Some(release)))
}

/// Makes room in the wasm heap for `bytes` of work about to arrive, in one
/// step: allocated, then freed, the block stays in the heap for what comes.
///
/// Chromium counts the wasm memory as external memory, and each time it has
/// grown by some tens of megabytes starts a full garbage collection. A catch-up
/// of 100,000 operations grew the memory a megabyte at a time and so set off
/// four of them, finished inside the batches' tasks (one took 30 ms, on a
/// JavaScript heap of 4 MB: most of it waiting for helper threads on a busy
/// machine). Grown at once, the memory sets off at most one, before the batches.
///
/// A free block already large enough is taken as it is: a second catch-up
/// starting meanwhile reserves nothing more. Memory the wasm heap cannot get
/// is not an error here; the work finds out for itself.
pub fn reserve_heap(bytes: usize) {
    let Ok(layout) = std::alloc::Layout::from_size_align(bytes, 1) else { return };
    if bytes == 0 {
        return;
    }
    // SAFETY: `layout` has a non-zero size; the block is freed with the same
    // layout, and never read or written.
    unsafe {
        // Seen through `black_box`, so that the pair is not optimised away.
        let block = std::hint::black_box(std::alloc::alloc(layout));
        if !block.is_null() {
            std::alloc::dealloc(block, layout);
        }
    }
}
