//! The Openprod engine.
//!
//! The engine does no I/O: it never reads the clock, the network, storage or a
//! random source by itself. A driver (the browser app, a test harness, the
//! simulator) feeds it inputs — local intents, bytes from peers, the current
//! time, random bytes — and performs the effects it asks for. The same code
//! therefore runs natively and in WebAssembly, and every scenario can be
//! replayed deterministically.
//!
//! # The driver loop
//!
//! 1. Local intent: [`workspace::Workspace::change`] with the current time
//!    and an [`entropy::Entropy`]; every step is checked against the schema
//!    and the state; [`workspace::Change::commit`] signs one bundle, applies
//!    it, and returns it.
//! 2. The driver persists the bundle ([`store::Store::append_bundles`]), and
//!    only then offers it to peers.
//! 3. Bundles from a peer go to [`workspace::Workspace::receive`] with the
//!    current time; the report says what was applied, refused (and why) or
//!    flagged stale. The driver persists what was applied before
//!    acknowledging it.
//! 4. Reads go through [`workspace::Workspace::state`].
//!
//! Two devices, one show:
//!
//! ```
//! use openprod_core::entropy::SeededEntropy;
//! use openprod_core::hlc::ClockConfig;
//! use openprod_core::identity::Identity;
//! use openprod_core::names::{FieldKey, TableId};
//! use openprod_core::value::Value;
//! use openprod_core::workspace::Workspace;
//!
//! let now = 1_790_000_000_000; // passed in by the driver: the engine reads no clock
//! let mut entropy = SeededEntropy::new(1); // the browser uses crypto.getRandomValues
//! let contacts_module = include_str!("../../modules/contacts/manifest.toml");
//!
//! // Jane's laptop starts the workspace and adopts the contacts module.
//! let (mut jane, first) = Workspace::create(Identity::from_seed([1; 32]), "Hamlet", "Jane", now, &mut entropy);
//! let mut change = jane.change(now, &mut entropy);
//! change.adopt_module(contacts_module, None)?;
//! let adopted = change.commit()?;
//!
//! // Alex's tablet joins and catches up.
//! let mut alex = Workspace::empty(jane.id(), Identity::from_seed([2; 32]), now, ClockConfig::default());
//! let report = alex.receive(vec![first, adopted], now + 5);
//! assert!(report.refused.is_empty());
//!
//! // Alex adds a contact; Jane receives it.
//! let contacts = TableId::new("contacts", "contacts");
//! let mut change = alex.change(now + 10, &mut entropy);
//! let horatio = change.create_record(&contacts, &[("full_name", Value::String("Horatio".into()))])?;
//! let bundle = change.commit()?;
//! jane.receive(vec![bundle], now + 20);
//!
//! let name = jane.state().field(horatio, &FieldKey::new("contacts", "full_name"));
//! assert_eq!(name.value, Some(Value::String("Horatio".into())));
//! assert_eq!(jane.state().state_hash(), alex.state().state_hash());
//! # Ok::<(), openprod_core::workspace::EditError>(())
//! ```

pub mod access;
pub mod backup;
pub mod bundle;
pub mod conflict;
pub mod deflate;
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
pub mod sync;
pub mod time;
pub mod value;
pub mod workspace;

/// Version of the engine, shown in the app and recorded by peers.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
