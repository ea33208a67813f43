//! The Openprod app: the Leptos UI, the browser's storage and transport, and
//! the driver that runs the engine for them.

mod device;
mod service_worker;
pub mod shell;
pub mod storage;
