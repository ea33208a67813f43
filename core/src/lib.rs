//! The Openprod engine.
//!
//! The engine does no I/O: it never reads the clock, the network, storage or a
//! random source by itself. A driver (the browser app, a test harness, the
//! simulator) feeds it inputs — local intents, bytes from peers, the current
//! time, random bytes — and performs the effects it asks for. The same code
//! therefore runs natively and in WebAssembly, and every scenario can be
//! replayed deterministically.
//!
//! ```
//! use openprod_core::identity::Identity;
//!
//! // Randomness comes from the driver; a fixed seed keeps this example deterministic.
//! let jane = Identity::from_seed([7; 32]);
//! let signature = jane.sign(b"cue 42: GO");
//! assert!(jane.actor_id().verify(b"cue 42: GO", &signature).is_ok());
//! ```

pub mod bundle;
pub mod encoding;
pub mod entropy;
pub mod hlc;
pub mod identity;
pub mod ids;
pub mod log;
pub mod names;
pub mod op;
pub mod schema;
pub mod state;
pub mod store;
pub mod time;
pub mod value;
pub mod workspace;

/// Version of the engine, shown in the app and recorded by peers.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
