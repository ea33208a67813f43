//! The Openprod app: the Leptos UI, the browser's storage and transport, and
//! the driver that runs the engine for them.

mod device;
pub mod driver;
#[cfg(target_arch = "wasm32")]
mod heap;
mod library;
pub mod net;
mod route;
mod service_worker;
mod settings;
pub mod storage;
pub mod ui;

/// See `heap.rs`: Talc, grown a megabyte at a time.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: heap::Heap = heap::new_heap();

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
