//! Storage failures, in words a person can act on.

use std::fmt;

use indexed_db_futures::error::{Error, OpenDbError};
use openprod_core::encoding::DecodeError;
use wasm_bindgen::{JsCast, JsValue};

/// Why a storage call failed. A failed write changed nothing: each write is
/// one IndexedDB transaction, which the browser applies whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The browser refused the write for lack of space (`QuotaExceededError`).
    QuotaExceeded,
    /// A stored value does not decode. `record` names it, for a person or a
    /// bug report ("log record 42").
    Damaged { record: String, error: DecodeError },
    /// Another tab holds the database open, so it cannot be deleted yet.
    Blocked { database: String },
    /// The browser offers no usable IndexedDB here (private browsing, storage
    /// turned off, a broken profile) or no storage manager.
    Unavailable { reason: String },
    /// Any other error the browser reported, with its `DOMException` name.
    Browser { name: String, message: String },
}

impl StorageError {
    /// The error for a stored value that is not the byte array we wrote.
    pub(super) fn not_bytes(record: String) -> StorageError {
        StorageError::Damaged { record, error: DecodeError { offset: 0, what: "a byte array" } }
    }

    /// An error the browser reported, by its `DOMException` name.
    pub(super) fn from_browser(name: String, message: String) -> StorageError {
        if name == "QuotaExceededError" { StorageError::QuotaExceeded } else { StorageError::Browser { name, message } }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::QuotaExceeded => f.write_str(
                "This device's storage is full, so the change could not be saved here. Nothing was lost: \
                 your change is kept and can be saved again once space is freed.",
            ),
            StorageError::Damaged { record, error } => write!(
                f,
                "Data saved on this device is damaged: {record} could not be read (expected {} at byte {}).",
                error.what, error.offset
            ),
            StorageError::Blocked { database } => write!(
                f,
                "The stored data ({database}) is still open in another tab of Openprod. Close the other tabs to finish."
            ),
            StorageError::Unavailable { reason } => write!(
                f,
                "This browser does not let Openprod keep data on this device ({reason}). Private browsing or \
                 strict privacy settings can cause this."
            ),
            StorageError::Browser { name, message } => write!(f, "The browser's storage failed: {name}: {message}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<web_sys::DomException> for StorageError {
    fn from(exception: web_sys::DomException) -> Self {
        StorageError::from_browser(exception.name(), exception.message())
    }
}

impl From<Error> for StorageError {
    fn from(error: Error) -> Self {
        match error {
            Error::DomException(exception) => web_sys::DomException::from(exception).into(),
            other => StorageError::Browser { name: "Error".to_owned(), message: other.to_string() },
        }
    }
}

/// Opening (or deleting) a database failed: the browser's storage is not usable.
impl From<OpenDbError> for StorageError {
    fn from(error: OpenDbError) -> Self {
        match error {
            OpenDbError::Base(error) => match StorageError::from(error) {
                StorageError::Browser { name, message } => {
                    StorageError::Unavailable { reason: format!("{name}: {message}") }
                }
                other => other,
            },
            other => StorageError::Unavailable { reason: other.to_string() },
        }
    }
}

/// A rejected promise or a thrown exception from a direct web-sys call.
impl From<JsValue> for StorageError {
    fn from(value: JsValue) -> Self {
        match value.dyn_into::<web_sys::DomException>() {
            Ok(exception) => exception.into(),
            Err(value) => match value.dyn_into::<js_sys::Error>() {
                Ok(error) => StorageError::Browser { name: error.name().into(), message: error.message().into() },
                Err(value) => StorageError::Browser { name: "Error".to_owned(), message: format!("{value:?}") },
            },
        }
    }
}
