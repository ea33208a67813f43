//! Edge type declarations: `[edge.NAME]` and `[edge.NAME.properties]`.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::field::VALUE_TYPES;
use super::names::{LOWERCASE_NAME_RULE, is_lowercase_name, plain_list, split_table_reference};
use super::reader::{Context, Item, Key, describe_toml, entries_in_file_order};
use super::table::read_table_hints;
use super::{EdgeTypeDef, TableDef};
use crate::value::FieldType;

const EDGE_KEYS: [&str; 8] = [
    "display_name",
    "source_tables",
    "source_table",
    "target_tables",
    "target_tables_hint",
    "target_description",
    "ordered",
    "properties",
];

/// What an edge type may constrain its ends to: the declaring module's own
/// tables (data-model.md, "Edge Bindings": other modules' tables can only be
/// hinted, since modules never depend on each other).
pub(super) struct OwnTables<'a> {
    /// `None` when the manifest's module name is missing or invalid; that is
    /// reported already, and references are then checked for form only.
    pub(super) module_name: Option<&'a str>,
    pub(super) tables: &'a [TableDef],
}

/// Reads the `[edge]` section: every edge type in it, in file order.
pub(super) fn read_edge_types(cx: &mut Context<'_>, section: &DeTable<'_>, own: &OwnTables<'_>) -> Vec<EdgeTypeDef> {
    entries_in_file_order(section).into_iter().filter_map(|(key, item)| read_edge_type(cx, key, item, own)).collect()
}

fn read_edge_type(cx: &mut Context<'_>, key: &Key<'_>, item: &Item<'_>, own: &OwnTables<'_>) -> Option<EdgeTypeDef> {
    let name = key.get_ref().as_ref();
    let place = format!("edge type '{name}'");
    if !is_lowercase_name(name) {
        cx.report(key.span(), format!("edge type name '{name}' {LOWERCASE_NAME_RULE}"));
    }
    let DeValue::Table(declaration) = item.get_ref() else {
        let found = describe_toml(item.get_ref());
        cx.report(item.span(), format!("{place} must be declared as a table, e.g. [edge.{name}], not as {found}"));
        return None;
    };
    let mut edge_type = EdgeTypeDef {
        name: name.to_owned(),
        display_name: None,
        source_tables: Vec::new(),
        target_tables: Vec::new(),
        target_tables_hint: Vec::new(),
        target_description: None,
        ordered: false,
        properties: Vec::new(),
    };
    let mut source_key_seen = None;
    for (key, item) in entries_in_file_order(declaration) {
        let key_name = key.get_ref().as_ref();
        match key_name {
            "display_name" => edge_type.display_name = cx.owned_text(&place, key_name, item),
            "target_description" => edge_type.target_description = cx.owned_text(&place, key_name, item),
            "source_tables" | "source_table" => {
                if let Some(first) = source_key_seen {
                    let message =
                        format!("{place} has both {first} and {key_name}; list all source tables in source_tables");
                    cx.report(key.span(), message);
                    continue;
                }
                source_key_seen = Some(key_name);
                let references = read_references(cx, &place, key_name, item);
                edge_type.source_tables = own_table_references(cx, &place, key_name, references, own);
            }
            "target_tables" => {
                let references = read_references(cx, &place, key_name, item);
                edge_type.target_tables = own_table_references(cx, &place, key_name, references, own);
            }
            "target_tables_hint" => edge_type.target_tables_hint = read_table_hints(cx, &place, key_name, item),
            "ordered" => edge_type.ordered = cx.boolean(&place, key_name, item).unwrap_or(false),
            "properties" => edge_type.properties = read_properties(cx, &place, item),
            _ => cx.report_unknown_key(&place, key, &EDGE_KEYS),
        }
    }
    Some(edge_type)
}

/// `source_table` is the single-table form modules.md uses; every other key
/// holds a list.
fn read_references<'t>(cx: &mut Context<'_>, place: &str, key: &str, item: &'t Item<'_>) -> Vec<Spanned<&'t str>> {
    if key == "source_table" {
        cx.text(place, key, item).map(|text| Spanned::new(item.span(), text)).into_iter().collect()
    } else {
        cx.text_list(place, key, item)
    }
}

fn own_table_references(
    cx: &mut Context<'_>,
    place: &str,
    key: &str,
    references: Vec<Spanned<&str>>,
    own: &OwnTables<'_>,
) -> Vec<String> {
    let mut tables = Vec::new();
    for reference in references {
        let text = *reference.get_ref();
        match own_table_problem(text, key, own) {
            None => tables.push(text.to_owned()),
            Some(problem) => cx.report(reference.span(), format!("'{key}' of {place} lists '{text}', {problem}")),
        }
    }
    tables
}

/// Why `reference` does not name one of the module's own tables, if it does not.
fn own_table_problem(reference: &str, key: &str, own: &OwnTables<'_>) -> Option<String> {
    let Some((module, table)) = split_table_reference(reference) else {
        return Some("which is not a table reference written as module.table".to_owned());
    };
    let own_module = own.module_name?;
    if module != own_module {
        let advice = if key == "target_tables" { "; suggest other modules' tables in target_tables_hint" } else { "" };
        return Some(format!("but a module can constrain edges only to its own tables ({own_module}.…){advice}"));
    }
    if own.tables.iter().all(|own_table| own_table.name != table) {
        return Some(format!("but module '{own_module}' declares no table '{table}'"));
    }
    None
}

/// Property names follow the field-name rule, which also keeps them clear of
/// `_position`, the property the engine manages on ordered edges.
fn read_properties(cx: &mut Context<'_>, place: &str, item: &Item<'_>) -> Vec<(String, FieldType)> {
    let Some(declarations) = cx.table(place, "properties", item) else {
        return Vec::new();
    };
    let mut properties = Vec::new();
    for (key, item) in entries_in_file_order(declarations) {
        let name = key.get_ref().as_ref();
        if !is_lowercase_name(name) {
            cx.report(key.span(), format!("property name '{name}' of {place} {LOWERCASE_NAME_RULE}"));
        }
        let Some(type_name) = cx.text(place, &format!("properties.{name}"), item) else { continue };
        let Some(field_type) = FieldType::from_name(type_name) else {
            let expected = plain_list(&VALUE_TYPES);
            cx.report(
                item.span(),
                format!("property '{name}' of {place} has unknown type '{type_name}' (expected {expected})"),
            );
            continue;
        };
        properties.push((name.to_owned(), field_type));
    }
    properties
}
