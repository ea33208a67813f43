//! Names of schema things as they appear in operations.
//!
//! Operations name tables, fields and edge types by module-qualified names,
//! so that an operation means the same on every peer whatever else is adopted.

use std::fmt;
use std::sync::Arc;

/// What a name in an operation is read into: a qualified name, or plain
/// text (a relationship's property).
pub(crate) trait OpName: Sized {
    /// From text read in place; `None` if it is not a name of this kind.
    fn from_text(text: &str) -> Option<Self>;

    /// From text a sync stream holds for all its operations: shared rather
    /// than copied where the type allows, as the same few names come back
    /// in every operation.
    fn from_shared(text: &Arc<str>) -> Option<Self> {
        Self::from_text(text)
    }
}

impl OpName for String {
    fn from_text(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

/// `module.local`, both parts non-empty, no further dot.
fn is_qualified(text: &str) -> bool {
    text.split_once('.').is_some_and(|(module, local)| !module.is_empty() && !local.is_empty() && !local.contains('.'))
}

macro_rules! qualified_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        /// Shared text: every operation, write and index entry naming the
        /// same thing may hold it, and a copy costs a count, not an allocation.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// `module.local`, e.g. `contacts.email`.
            pub fn new(module: &str, local: &str) -> Self {
                // Every edit makes one: joined by hand, as `format!` costs
                // several times more in wasm.
                $name([module, local].join(".").into())
            }

            /// Parses `module.local`; both parts must be non-empty.
            pub fn parse(text: &str) -> Option<Self> {
                is_qualified(text).then(|| $name(text.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn module(&self) -> &str {
                self.0.split_once('.').map_or("", |(module, _)| module)
            }

            pub fn local(&self) -> &str {
                self.0.split_once('.').map_or("", |(_, local)| local)
            }
        }

        impl OpName for $name {
            fn from_text(text: &str) -> Option<Self> {
                Self::parse(text)
            }

            fn from_shared(text: &Arc<str>) -> Option<Self> {
                is_qualified(text).then(|| $name(text.clone()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

qualified_name!(
    /// A table, which is also the facet backing it: `module.table`.
    TableId
);
qualified_name!(
    /// A field's own storage key: `module.field`. Writes are always stored
    /// under it; a confirmed mapping unifies several keys into one shared field.
    FieldKey
);
qualified_name!(
    /// An edge type: `module.edge`.
    EdgeType
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_and_validate() {
        let key = FieldKey::new("contacts", "email");
        assert_eq!(key.as_str(), "contacts.email");
        assert_eq!((key.module(), key.local()), ("contacts", "email"));
        assert_eq!(FieldKey::parse("contacts.email"), Some(key));
        for bad in ["contacts", ".email", "contacts.", "a.b.c"] {
            assert_eq!(TableId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_name_read_from_shared_text_validates_alike_and_shares_the_text() {
        for text in ["contacts.email", "contacts", ".email", "contacts.", "a.b.c"] {
            let shared: Arc<str> = text.into();
            assert_eq!(FieldKey::from_shared(&shared), FieldKey::from_text(text), "{text}");
        }
        let shared: Arc<str> = "contacts.email".into();
        let key = FieldKey::from_shared(&shared).expect("a qualified name");
        assert!(Arc::ptr_eq(&key.0, &shared), "the key holds the stream's text, not a copy");
        assert_eq!(String::from_shared(&shared).as_deref(), Some("contacts.email"));
    }
}
