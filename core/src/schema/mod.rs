//! Module schemas: what a module declares about itself in `manifest.toml`
//! (and optionally `schema/tables.toml`), namely its identity, its tables
//! with their typed fields, and its edge types (see the spec's modules.md and
//! data-model.md).
//!
//! Manifests arrive from peers as well as from the local disk, so reading one
//! never panics and never stops at the first mistake: every problem is
//! reported at once, located by file, line and column, in words a module
//! author can act on.
//!
//! ```
//! use openprod_core::schema::parse_manifest;
//! use openprod_core::value::FieldType;
//!
//! let manifest = parse_manifest(
//!     "tags/manifest.toml",
//!     r#"
//!         [module]
//!         name = "tags"
//!         version = "1.0.0"
//!
//!         [table.tags.fields.tag_name]
//!         type = "string"
//!         required = true
//!     "#,
//!     None,
//! )
//! .expect("a valid manifest");
//! let tags = manifest.table("tags").expect("the tags table");
//! assert_eq!(tags.facet_id(&manifest.name), "tags.tags");
//! assert_eq!(tags.field("tag_name").map(|field| field.field_type), Some(FieldType::String));
//! ```

mod edge;
mod error;
mod field;
mod manifest;
mod names;
mod reader;
mod table;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;

use crate::value::{FieldType, Value};

pub use error::SchemaError;
pub use manifest::parse_manifest;
pub use values::{ValueError, parse_value};

/// A module as its manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleManifest {
    /// Prefixes everything the module owns: its facets (`contacts.contacts`),
    /// edge types and namespaced fields.
    pub name: String,
    pub version: ModuleVersion,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    /// The module's data stays on this device and never syncs
    /// (modules.md, "Local-Only Modules").
    pub local_only: bool,
    /// In declaration order, which is the order authors expect the UI to
    /// list them in.
    pub tables: Vec<TableDef>,
    /// In declaration order.
    pub edge_types: Vec<EdgeTypeDef>,
}

impl ModuleManifest {
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|table| table.name == name)
    }

    pub fn edge_type(&self, name: &str) -> Option<&EdgeTypeDef> {
        self.edge_types.iter().find(|edge_type| edge_type.name == name)
    }
}

/// A module's `MAJOR.MINOR.PATCH` version. Kept as numbers rather than text
/// so that versions compare as versions (`1.10.0` is newer than `1.9.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A table: a named collection of records with typed columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// Tables (`module.table`) the table-linking UI suggests linking with.
    /// Hints only: linking other tables is allowed after a warning.
    pub compatible_tables: Vec<String>,
    /// In declaration order, which is the default column order.
    pub fields: Vec<FieldDef>,
}

impl TableDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The facet that backs this table inside the engine: a record of the
    /// table is an entity carrying this facet (data-model.md,
    /// "Facet-Table Correspondence").
    pub fn facet_id(&self, module_name: &str) -> String {
        format!("{module_name}.{}", self.name)
    }

    /// What the UI calls the table.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub name: String,
    /// The type of the field's value; for a list field, the type of each
    /// item (value.rs has no list type because a list is never written as
    /// one value, only changed item by item through its CRDT).
    pub field_type: FieldType,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    /// The value a new record starts with. Never set on list fields.
    pub default: Option<Value>,
    /// The module author's suggestion that this field holds the same data as
    /// other modules' fields with the same key. It takes effect only once a
    /// user confirms the mapping.
    pub shared_key: Option<String>,
    /// The field stays namespaced (`module.field`) and is never offered for
    /// mapping to other modules' fields.
    pub private: bool,
    /// Set when concurrent edits merge through a CRDT instead of surfacing as
    /// a conflict. [`CrdtKind::List`] is what makes a field a list.
    pub crdt: Option<CrdtKind>,
}

impl FieldDef {
    pub fn is_list(&self) -> bool {
        self.crdt == Some(CrdtKind::List)
    }

    /// The type of a list field's items; `None` for other fields.
    pub fn item_type(&self) -> Option<FieldType> {
        self.is_list().then_some(self.field_type)
    }

    /// What the UI calls the field, and so what messages about it say.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// How concurrent edits to a field merge (crdt.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrdtKind {
    /// Collaborative editing of a string field.
    Text(TextGranularity),
    /// An ordered list of primitive items.
    List,
}

/// The unit a text CRDT merges by: finer merges keep more of everyone's
/// edits, coarser ones keep the CRDT state smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TextGranularity {
    #[default]
    Character,
    Paragraph,
}

/// A kind of relationship between records, declared with `[edge.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeTypeDef {
    pub name: String,
    pub display_name: Option<String>,
    /// Tables of this module (`module.table`) whose records may be the
    /// source of such an edge; empty means any record.
    pub source_tables: Vec<String>,
    /// Tables of this module whose records may be the target; empty means
    /// any record. A module may constrain edges only to its own tables.
    pub target_tables: Vec<String>,
    /// Tables of other modules suggested as targets. The user decides, when
    /// configuring the edge's bindings.
    pub target_tables_hint: Vec<String>,
    pub target_description: Option<String>,
    /// Edges of this type keep a position among the edges of the same type
    /// into the same target (ordered-edges.md).
    pub ordered: bool,
    /// The properties each edge carries, in declaration order.
    pub properties: Vec<(String, FieldType)>,
}

impl EdgeTypeDef {
    pub fn property(&self, name: &str) -> Option<FieldType> {
        self.properties.iter().find(|(property, _)| property == name).map(|&(_, field_type)| field_type)
    }

    /// The namespaced type recorded on each edge, e.g. `casting.assigned_to`
    /// (data-model.md, "Edge Structure").
    pub fn type_id(&self, module_name: &str) -> String {
        format!("{module_name}.{}", self.name)
    }
}
