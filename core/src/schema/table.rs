//! Table declarations: `[table.TABLE]` and its `fields`.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

use super::field::read_field;
use super::names::{TABLE_NAME_RULE, is_table_name, split_table_reference};
use super::reader::{Context, Item, Key, describe_toml, entries_in_file_order};
use super::{FieldDef, TableDef};

const TABLE_KEYS: [&str; 4] = ["display_name", "description", "compatible_tables", "fields"];

/// Reads the `[table]` section: every table in it, in file order.
pub(super) fn read_tables(cx: &mut Context<'_>, section: &DeTable<'_>) -> Vec<TableDef> {
    entries_in_file_order(section).into_iter().filter_map(|(key, item)| read_table(cx, key, item)).collect()
}

fn read_table(cx: &mut Context<'_>, key: &Key<'_>, item: &Item<'_>) -> Option<TableDef> {
    let name = key.get_ref().as_ref();
    let place = format!("table '{name}'");
    if !is_table_name(name) {
        cx.report(key.span(), format!("table name '{name}' {TABLE_NAME_RULE}"));
    }
    let DeValue::Table(declaration) = item.get_ref() else {
        let found = describe_toml(item.get_ref());
        cx.report(item.span(), format!("{place} must be declared as a table, e.g. [table.{name}], not as {found}"));
        return None;
    };
    let mut table = TableDef {
        name: name.to_owned(),
        display_name: None,
        description: None,
        compatible_tables: Vec::new(),
        fields: Vec::new(),
    };
    for (key, item) in entries_in_file_order(declaration) {
        match key.get_ref().as_ref() {
            "display_name" => table.display_name = cx.owned_text(&place, "display_name", item),
            "description" => table.description = cx.owned_text(&place, "description", item),
            "compatible_tables" => table.compatible_tables = read_table_hints(cx, &place, "compatible_tables", item),
            "fields" => table.fields = read_fields(cx, name, &place, item),
            _ => cx.report_unknown_key(&place, key, &TABLE_KEYS),
        }
    }
    Some(table)
}

/// Reads a list of tables suggested for linking. Hints may name any
/// module's tables, including modules that are not installed, so only their
/// form is checked.
pub(super) fn read_table_hints(cx: &mut Context<'_>, place: &str, key: &str, item: &Item<'_>) -> Vec<String> {
    let mut references = Vec::new();
    for reference in cx.text_list(place, key, item) {
        let text = *reference.get_ref();
        if split_table_reference(text).is_some() {
            references.push(text.to_owned());
        } else {
            let message =
                format!("'{key}' of {place} lists '{text}', which is not a table reference written as module.table");
            cx.report(reference.span(), message);
        }
    }
    references
}

/// Reads the fields in file order. Along the way it refuses a second field
/// suggesting a shared key the table already uses: once confirmed, the two
/// columns would be one piece of data.
fn read_fields(cx: &mut Context<'_>, table_name: &str, place: &str, item: &Item<'_>) -> Vec<FieldDef> {
    let Some(declarations) = cx.table(place, "fields", item) else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    let mut field_by_shared_key = BTreeMap::new();
    for (key, item) in entries_in_file_order(declarations) {
        let Some(field) = read_field(cx, table_name, key, item) else { continue };
        if let Some(shared_key) = &field.shared_key {
            if let Some(first) = field_by_shared_key.get(shared_key) {
                let message = format!(
                    "fields '{first}' and '{}' of {place} both suggest shared key '{shared_key}'; \
                     a table can map it to only one field",
                    field.name
                );
                cx.report(key.span(), message);
            } else {
                field_by_shared_key.insert(shared_key.clone(), field.name.clone());
            }
        }
        fields.push(field);
    }
    fields
}
