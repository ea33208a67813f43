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
/// allocations.
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
