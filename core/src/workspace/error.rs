//! Why a local edit was refused. Every refusal leaves the workspace unchanged.

use std::fmt;

use crate::ids::{EdgeId, EntityId, OpId};
use crate::names::{EdgeType, FieldKey, TableId};
use crate::schema::{SchemaError, ValueError};
use crate::value::FieldType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    UnknownTable(TableId),
    UnknownField {
        table: TableId,
        field: String,
    },
    WrongValue(ValueError),
    RequiredFieldMissing {
        table: TableId,
        field: String,
    },
    RequiredFieldCleared {
        field: String,
    },
    /// CRDT fields change through their own edits, never by replacing the value.
    CollaborativeField {
        field: String,
    },
    NoSuchRecord(EntityId),
    RecordDeleted(EntityId),
    RecordNotDeleted(EntityId),
    /// Later writes to an absorbed record are refused: it lives on as `survivor`.
    MergedInto {
        entity: EntityId,
        survivor: EntityId,
    },
    NotInTable {
        entity: EntityId,
        table: TableId,
    },
    AlreadyInTable {
        entity: EntityId,
        table: TableId,
    },
    NotRemovedByThat {
        entity: EntityId,
        table: TableId,
        op: OpId,
    },
    UnknownEdgeType(EdgeType),
    UnknownEdgeProperty {
        edge_type: EdgeType,
        property: String,
    },
    NoSuchEdge(EdgeId),
    EdgeDeleted(EdgeId),
    EdgeNotDeleted(EdgeId),
    UnknownFieldKey(FieldKey),
    MappingNeedsTwoFields,
    MappingTypesDiffer {
        first: FieldKey,
        first_type: FieldType,
        second: FieldKey,
        second_type: FieldType,
    },
    FieldAlreadyMapped {
        field: FieldKey,
        shared_key: String,
    },
    PrivateField(FieldKey),
    NoSuchMapping(OpId),
    SameRecord(EntityId),
    SplitNeedsTables,
    InvalidModule(Vec<SchemaError>),
    NoConflict {
        field: String,
    },
    NothingToSave,
    /// Settings the spec reserves to the workspace's owner.
    OwnerOnly {
        what: &'static str,
    },
    NoSuchAccessKey(OpId),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::UnknownTable(table) => write!(f, "there is no table '{table}' in this workspace"),
            EditError::UnknownField { table, field } => write!(f, "table '{table}' has no field '{field}'"),
            EditError::WrongValue(error) => write!(f, "{error}"),
            EditError::RequiredFieldMissing { table, field } => {
                write!(f, "'{field}' is required: a new record of '{table}' needs a value for it")
            }
            EditError::RequiredFieldCleared { field } => write!(f, "'{field}' is required and cannot be emptied"),
            EditError::CollaborativeField { field } => {
                write!(f, "'{field}' is edited together, character by character; it cannot be replaced as a whole")
            }
            EditError::NoSuchRecord(entity) => write!(f, "record {entity} does not exist"),
            EditError::RecordDeleted(entity) => write!(f, "record {entity} has been deleted"),
            EditError::RecordNotDeleted(entity) => write!(f, "record {entity} is not deleted"),
            EditError::MergedInto { entity, survivor } => write!(f, "record {entity} was merged into {survivor}"),
            EditError::NotInTable { entity, table } => write!(f, "record {entity} is not in table '{table}'"),
            EditError::AlreadyInTable { entity, table } => write!(f, "record {entity} is already in table '{table}'"),
            EditError::NotRemovedByThat { entity, table, op } => {
                write!(f, "operation {op} did not remove record {entity} from table '{table}'")
            }
            EditError::UnknownEdgeType(edge_type) => write!(f, "there is no relationship type '{edge_type}'"),
            EditError::UnknownEdgeProperty { edge_type, property } => {
                write!(f, "relationship type '{edge_type}' has no property '{property}'")
            }
            EditError::NoSuchEdge(edge) => write!(f, "relationship {edge} does not exist"),
            EditError::EdgeDeleted(edge) => write!(f, "relationship {edge} has been deleted"),
            EditError::EdgeNotDeleted(edge) => write!(f, "relationship {edge} is not deleted"),
            EditError::UnknownFieldKey(field) => write!(f, "no adopted module declares the field '{field}'"),
            EditError::MappingNeedsTwoFields => f.write_str("a mapping joins at least two fields"),
            EditError::MappingTypesDiffer { first, first_type, second, second_type } => write!(
                f,
                "'{first}' holds {first_type} values but '{second}' holds {second_type} values: they cannot be the same data"
            ),
            EditError::FieldAlreadyMapped { field, shared_key } => {
                write!(f, "'{field}' is already mapped to '{shared_key}'; revoke that mapping first")
            }
            EditError::PrivateField(field) => write!(f, "'{field}' is private to its module and cannot be mapped"),
            EditError::NoSuchMapping(op) => write!(f, "there is no active mapping {op}"),
            EditError::SameRecord(entity) => write!(f, "record {entity} cannot be merged with itself"),
            EditError::SplitNeedsTables => f.write_str("choose at least one table for the new record"),
            EditError::InvalidModule(errors) => {
                f.write_str("the module cannot be adopted:")?;
                for error in errors {
                    write!(f, "\n{error}")?;
                }
                Ok(())
            }
            EditError::NoConflict { field } => write!(f, "'{field}' has no conflict to settle"),
            EditError::NothingToSave => f.write_str("there is nothing to save"),
            EditError::OwnerOnly { what } => write!(f, "only the workspace's owner can {what}"),
            EditError::NoSuchAccessKey(key) => write!(f, "there is no access key {key}"),
        }
    }
}

impl std::error::Error for EditError {}
