//! Appends to a workspace's log from a dedicated worker (`log_writer.js`).
//!
//! A page hears that an IndexedDB transaction completed only in a task of
//! its main thread, and after an edit that task waits behind the frame the
//! page renders to show it: measured, the browser had written the bundle
//! 1–8 ms into the edit, the page knew 16–35 ms in. The worker hears at once
//! and says when; the page still learns of it a frame later, which delays
//! only the save indicator and the offer to peers, never the durability.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Url, Worker};

use super::StorageError;

const SCRIPT: &str = include_str!("log_writer.js");

thread_local! {
    /// The script as a blob URL, made once per page: the worker needs no
    /// file of its own to be served, precached or found offline.
    static SCRIPT_URL: Result<String, JsValue> = script_url();
}

fn script_url() -> Result<String, JsValue> {
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&Array::of1(&SCRIPT.into()), &options)?;
    Url::create_object_url_with_blob(&blob)
}

/// When an append's transaction began and completed, on the page's
/// `performance.now()` clock.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub started_ms: f64,
    pub durable_ms: f64,
}

/// Replies awaited, by append id: each resolves its append's promise.
type Waiting = Rc<RefCell<HashMap<u32, Function>>>;

pub(super) struct LogWriter {
    worker: Worker,
    waiting: Waiting,
    next_id: Cell<u32>,
    /// Whether the worker stopped (it failed to start, or threw outside an
    /// append): the database then writes on the page instead.
    stopped: Rc<Cell<bool>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl LogWriter {
    /// Starts a worker appending to `store` of the database `name`, which
    /// must exist (the page opened it) with schema `version`.
    pub(super) fn start(name: &str, version: u32, store: &str) -> Result<LogWriter, JsValue> {
        let url = SCRIPT_URL.with(Clone::clone)?;
        let worker = Worker::new(&url)?;
        let waiting = Waiting::default();
        let stopped = Rc::new(Cell::new(false));
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let waiting = waiting.clone();
            move |event: MessageEvent| {
                let reply = event.data();
                let id = Reflect::get(&reply, &"id".into()).ok().and_then(|id| id.as_f64());
                if let Some(resolve) = id.and_then(|id| waiting.borrow_mut().remove(&(id as u32))) {
                    let _ = resolve.call1(&JsValue::NULL, &reply);
                }
            }
        });
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new({
            let (waiting, stopped) = (waiting.clone(), stopped.clone());
            move |event: web_sys::Event| {
                let message = Reflect::get(&event, &"message".into()).ok().and_then(|message| message.as_string());
                let reason = message.unwrap_or_else(|| "it could not start".to_owned());
                leptos::logging::warn!("the log writer stopped ({reason}); the page writes the log itself");
                let reply = stopped_reply(&reason);
                stopped.set(true);
                for (_, resolve) in waiting.borrow_mut().drain() {
                    let _ = resolve.call1(&JsValue::NULL, &reply);
                }
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let open = Object::new();
        Reflect::set(&open, &"open".into(), &name.into())?;
        Reflect::set(&open, &"version".into(), &version.into())?;
        Reflect::set(&open, &"store".into(), &store.into())?;
        worker.post_message(&open)?;
        Ok(LogWriter { worker, waiting, next_id: Cell::new(0), stopped, _on_message: on_message, _on_error: on_error })
    }

    /// Appends `bytes` as one record, in one strictly durable transaction;
    /// returns once the browser has written it. `None`: the worker stopped
    /// (it failed to start, or threw outside an append), so the record must
    /// be written another way. The worker catches every error of an append,
    /// so a stop leaves the record unwritten; were it written even so, the
    /// copy would be a duplicate bundle, which opening skips.
    pub(super) async fn append(&self, bytes: &[u8]) -> Option<Result<Written, StorageError>> {
        if self.stopped.get() {
            return None;
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let array = Uint8Array::from(bytes);
        let message = Object::new();
        Reflect::set(&message, &"append".into(), &id.into()).ok()?;
        Reflect::set(&message, &"bytes".into(), &array).ok()?;
        let reply = Promise::new(&mut |resolve, _reject| {
            self.waiting.borrow_mut().insert(id, resolve);
        });
        // Handed over, not copied: the page has no further use for them.
        if self.worker.post_message_with_transfer(&message, &Array::of1(&array.buffer())).is_err() {
            self.waiting.borrow_mut().remove(&id);
            return None;
        }
        // The promise only ever resolves.
        let reply = JsFuture::from(reply).await.unwrap_or(JsValue::UNDEFINED);
        read_reply(&reply)
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        // After the appends already sent: the worker closes the database
        // once they are done, then itself.
        let close = Object::new();
        if Reflect::set(&close, &"close".into(), &true.into()).is_err() || self.worker.post_message(&close).is_err() {
            self.worker.terminate();
        }
    }
}

fn stopped_reply(reason: &str) -> JsValue {
    let reply = Object::new();
    let _ = Reflect::set(&reply, &"stopped".into(), &reason.into());
    reply.into()
}

/// A reply of the worker as the append's outcome, its times moved onto the
/// page's clock; `None` for the page's own reply when the worker stopped.
fn read_reply(reply: &JsValue) -> Option<Result<Written, StorageError>> {
    let field = |name: &str| Reflect::get(reply, &name.into()).unwrap_or(JsValue::UNDEFINED);
    if field("stopped").is_string() {
        return None;
    }
    let error = field("error");
    if !error.is_undefined() {
        let text = |name: &str| Reflect::get(&error, &name.into()).ok().and_then(|text| text.as_string());
        let (name, message) = (text("name").unwrap_or_default(), text("message").unwrap_or_default());
        return Some(Err(StorageError::from_browser(name, message)));
    }
    let time_origin =
        web_sys::window().and_then(|window| window.performance()).map_or(0.0, |clock| clock.time_origin());
    let on_page_clock = |name: &str| field(name).as_f64().map(|epoch_ms| epoch_ms - time_origin);
    Some(match (on_page_clock("started"), on_page_clock("durable")) {
        (Some(started_ms), Some(durable_ms)) => Ok(Written { started_ms, durable_ms }),
        _ => Err(StorageError::from_browser(
            "Error".to_owned(),
            "the log writer's reply lacks the times of the write".to_owned(),
        )),
    })
}
