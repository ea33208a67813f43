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

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
