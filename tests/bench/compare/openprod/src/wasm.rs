//! [`Bench`] for the JavaScript harness (`tests/bench/compare/engines/openprod.mjs`),
//! which times each call as it times Yjs and Automerge. Bytes cross the
//! JavaScript boundary as the app's would: copied in and out of wasm memory.

use js_sys::JsString;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::Bench;

#[wasm_bindgen]
pub struct OpenprodBench(Bench);

#[wasm_bindgen]
impl OpenprodBench {
    // JavaScript makes one with `new`; a `Default` would go unused.
    #[allow(clippy::new_without_default)]
    #[wasm_bindgen(constructor)]
    pub fn new() -> OpenprodBench {
        OpenprodBench(Bench::new())
    }

    pub fn write(&mut self, record: usize, field: &str, value: &str) {
        self.0.write(record, field, value);
    }

    pub fn finish_writes(&mut self) {
        self.0.finish_writes();
    }

    pub fn encode_log(&self) -> Vec<u8> {
        self.0.encode_log()
    }

    pub fn begin_catch_up(&mut self) {
        self.0.begin_catch_up();
    }

    pub fn receive(&mut self, message: &[u8]) {
        self.0.receive(message);
    }

    pub fn live_update(&mut self, record: usize, field: &str, value: &str) -> Vec<u8> {
        self.0.live_update(record, field, value)
    }

    /// `field`: from [`field_index`]. Made a JS string from the text where
    /// the state holds it.
    pub fn read(&self, record: usize, field: usize) -> JsString {
        self.0.read_with(record, field, |text| JsString::from(text))
    }

    pub fn save(&self) -> Vec<u8> {
        self.0.save()
    }

    pub fn load_and_read(&self, saved: &[u8], record: usize, field: &str) -> String {
        self.0.load_and_read(saved, record, field)
    }
}

#[wasm_bindgen]
pub fn bytes_on_the_wire(transfer: &[u8]) -> usize {
    crate::bytes_on_the_wire(transfer)
}

#[wasm_bindgen]
pub fn field_index(field: &str) -> usize {
    crate::field_index(field)
}

#[wasm_bindgen]
pub fn live_heap_bytes() -> usize {
    crate::live_heap_bytes()
}
