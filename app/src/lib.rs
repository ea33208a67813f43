//! The Openprod app: the Leptos UI, the browser's storage and transport, and
//! the driver that runs the engine for them.

mod device;
pub mod driver;
mod library;
pub mod net;
mod route;
mod service_worker;
mod settings;
pub mod storage;
pub mod ui;

/// Talc instead of Rust's default wasm allocator (dlmalloc), which spent a
/// quarter of a catch-up's time in Chromium on the engine's many small
/// allocations; growing the memory in large steps (see the module).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static HEAP: openprod_core::wasm_heap::Heap = openprod_core::wasm_heap::heap();

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
