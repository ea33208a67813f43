//! Field declarations: `[table.TABLE.fields.FIELD]`.

use toml::de::{DeFloat, DeInteger, DeTable, DeValue};

use super::names::{LOWERCASE_NAME_RULE, is_lowercase_name, plain_list};
use super::reader::{Context, Item, Key, describe_toml, entries_in_file_order};
use super::values::{describe_type, parse_blob_reference};
use super::{CrdtKind, FieldDef, TextGranularity};
use crate::time::parse_iso8601;
use crate::value::{FieldType, Value};

const FIELD_KEYS: [&str; 10] = [
    "type",
    "display_name",
    "description",
    "required",
    "default",
    "shared_key",
    "private",
    "crdt",
    "crdt_granularity",
    "item_type",
];

/// The types a single value can have. `list` is left out of messages on
/// purpose: it is valid only together with `crdt = "list"`, and suggesting it
/// on its own would lead to the next error.
pub(super) const VALUE_TYPES: [&str; 5] = ["string", "number", "boolean", "timestamp", "blob"];

/// List items are primitives; ordered lists of records are ordered edges.
const ITEM_TYPES: [&str; 3] = ["string", "number", "boolean"];

/// Numbers are stored as 64-bit floats, which hold integers exactly only up
/// to this size; a larger default would silently change.
const LARGEST_EXACT_INTEGER: u64 = 1 << 53;

/// A `crdt` or `crdt_granularity` that could not be read; the reason has
/// been reported.
#[derive(Clone, Copy)]
struct Unreadable;

/// The keys of one field declaration, gathered before any is interpreted,
/// because what one key allows depends on others: `crdt`, `item_type` and
/// `default` depend on `type`, `shared_key` on `private`.
#[derive(Default)]
struct FieldKeys<'t, 'i> {
    field_type: Option<&'t Item<'i>>,
    display_name: Option<&'t Item<'i>>,
    description: Option<&'t Item<'i>>,
    required: Option<&'t Item<'i>>,
    default: Option<&'t Item<'i>>,
    shared_key: Option<&'t Item<'i>>,
    private: Option<&'t Item<'i>>,
    crdt: Option<&'t Item<'i>>,
    crdt_granularity: Option<&'t Item<'i>>,
    item_type: Option<&'t Item<'i>>,
}

impl<'t, 'i> FieldKeys<'t, 'i> {
    fn gather(cx: &mut Context<'_>, place: &str, declaration: &'t DeTable<'i>) -> Self {
        let mut keys = FieldKeys::default();
        for (key, item) in entries_in_file_order(declaration) {
            let slot = match key.get_ref().as_ref() {
                "type" => &mut keys.field_type,
                "display_name" => &mut keys.display_name,
                "description" => &mut keys.description,
                "required" => &mut keys.required,
                "default" => &mut keys.default,
                "shared_key" => &mut keys.shared_key,
                "private" => &mut keys.private,
                "crdt" => &mut keys.crdt,
                "crdt_granularity" => &mut keys.crdt_granularity,
                "item_type" => &mut keys.item_type,
                _ => {
                    cx.report_unknown_key(place, key, &FIELD_KEYS);
                    continue;
                }
            };
            *slot = Some(item);
        }
        keys
    }
}

pub(super) fn read_field(cx: &mut Context<'_>, table_name: &str, key: &Key<'_>, item: &Item<'_>) -> Option<FieldDef> {
    let name = key.get_ref().as_ref();
    let place = format!("field '{name}' in table '{table_name}'");
    if !is_lowercase_name(name) {
        cx.report(key.span(), format!("field name '{name}' in table '{table_name}' {LOWERCASE_NAME_RULE}"));
    }
    let DeValue::Table(declaration) = item.get_ref() else {
        let found = describe_toml(item.get_ref());
        let example = format!("[table.{table_name}.fields.{name}] with a line type = \"string\"");
        cx.report(item.span(), format!("{place} must be declared as a table, e.g. {example}, not as {found}"));
        return None;
    };
    let keys = FieldKeys::gather(cx, &place, declaration);
    let display_name = keys.display_name.and_then(|item| cx.owned_text(&place, "display_name", item));
    let description = keys.description.and_then(|item| cx.owned_text(&place, "description", item));
    let required = keys.required.and_then(|item| cx.boolean(&place, "required", item)).unwrap_or(false);
    let private = keys.private.and_then(|item| cx.boolean(&place, "private", item)).unwrap_or(false);
    let shared_key = keys.shared_key.and_then(|item| read_shared_key(cx, &place, item, private));
    let (field_type, crdt) = read_type_and_crdt(cx, &place, key, &keys)?;
    let default = keys.default.and_then(|item| read_default(cx, &place, field_type, crdt, item));
    Some(FieldDef {
        name: name.to_owned(),
        field_type,
        display_name,
        description,
        required,
        default,
        shared_key,
        private,
        crdt,
    })
}

fn read_shared_key(cx: &mut Context<'_>, place: &str, item: &Item<'_>, private: bool) -> Option<String> {
    let shared_key = cx.text(place, "shared_key", item)?;
    if !is_lowercase_name(shared_key) {
        cx.report(item.span(), format!("shared_key '{shared_key}' of {place} {LOWERCASE_NAME_RULE}"));
    } else if private {
        let message =
            format!("{place} is private, so it cannot suggest shared key '{shared_key}' (remove one of the two)");
        cx.report(item.span(), message);
    }
    Some(shared_key.to_owned())
}

/// `type` together with `crdt` and `item_type`, which are valid only in
/// certain combinations. For a list field the type returned is the item type.
fn read_type_and_crdt(
    cx: &mut Context<'_>,
    place: &str,
    key: &Key<'_>,
    keys: &FieldKeys<'_, '_>,
) -> Option<(FieldType, Option<CrdtKind>)> {
    let crdt = read_crdt(cx, place, keys);
    let Some(type_item) = keys.field_type else {
        cx.report(key.span(), format!("{place} has no type (expected {})", plain_list(&VALUE_TYPES)));
        return None;
    };
    let type_name = cx.text(place, "type", type_item)?;
    if type_name == "list" {
        return read_list_item_type(cx, place, type_item, keys.item_type, crdt);
    }
    let Some(field_type) = FieldType::from_name(type_name) else {
        let message = format!("{place} has unknown type '{type_name}' (expected {})", plain_list(&VALUE_TYPES));
        cx.report(type_item.span(), message);
        return None;
    };
    if let Some(item_type) = keys.item_type {
        let message = format!("{place} has an item_type, but only fields with type = \"list\" have items");
        cx.report(item_type.span(), message);
    }
    let crdt = crdt.unwrap_or_default();
    if let (Some(crdt_kind), Some(crdt_item)) = (crdt, keys.crdt) {
        check_crdt_fits_type(cx, place, crdt_kind, field_type, crdt_item);
    }
    Some((field_type, crdt))
}

fn check_crdt_fits_type(
    cx: &mut Context<'_>,
    place: &str,
    crdt: CrdtKind,
    field_type: FieldType,
    crdt_item: &Item<'_>,
) {
    match crdt {
        CrdtKind::List => {
            let message = format!("{place} has crdt = \"list\", which needs type = \"list\" and an item_type");
            cx.report(crdt_item.span(), message);
        }
        CrdtKind::Text(_) if field_type != FieldType::String => {
            let message =
                format!("{place} has crdt = \"text\", which works only on string fields, not on {field_type}");
            cx.report(crdt_item.span(), message);
        }
        CrdtKind::Text(_) => {}
    }
}

fn read_list_item_type(
    cx: &mut Context<'_>,
    place: &str,
    type_item: &Item<'_>,
    item_type: Option<&Item<'_>>,
    crdt: Result<Option<CrdtKind>, Unreadable>,
) -> Option<(FieldType, Option<CrdtKind>)> {
    if matches!(crdt, Ok(kind) if kind != Some(CrdtKind::List)) {
        cx.report(type_item.span(), format!("{place} has type 'list', which needs crdt = \"list\""));
    }
    let Some(item_type) = item_type else {
        let message = format!("{place} is a list but has no item_type (expected {})", plain_list(&ITEM_TYPES));
        cx.report(type_item.span(), message);
        return None;
    };
    let item_type_name = cx.text(place, "item_type", item_type)?;
    let Some(field_type) = FieldType::from_name(item_type_name).filter(|_| ITEM_TYPES.contains(&item_type_name)) else {
        let message = format!(
            "{place} has item_type '{item_type_name}', but list items must be {} \
             (for a list of records, declare an ordered edge type)",
            plain_list(&ITEM_TYPES)
        );
        cx.report(item_type.span(), message);
        return None;
    };
    Some((field_type, Some(CrdtKind::List)))
}

fn read_crdt(cx: &mut Context<'_>, place: &str, keys: &FieldKeys<'_, '_>) -> Result<Option<CrdtKind>, Unreadable> {
    let Some(crdt_item) = keys.crdt else {
        if let Some(granularity) = keys.crdt_granularity {
            cx.report(granularity.span(), format!("{place} has a crdt_granularity but no crdt = \"text\""));
            return Err(Unreadable);
        }
        return Ok(None);
    };
    match cx.text(place, "crdt", crdt_item).ok_or(Unreadable)? {
        "text" => {
            let granularity = match keys.crdt_granularity {
                Some(item) => read_granularity(cx, place, item)?,
                None => TextGranularity::default(),
            };
            Ok(Some(CrdtKind::Text(granularity)))
        }
        "list" => match keys.crdt_granularity {
            Some(item) => {
                cx.report(
                    item.span(),
                    format!("{place} has a crdt_granularity, which applies only to crdt = \"text\""),
                );
                Err(Unreadable)
            }
            None => Ok(Some(CrdtKind::List)),
        },
        other => {
            cx.report(crdt_item.span(), format!("{place} has unknown crdt '{other}' (expected text or list)"));
            Err(Unreadable)
        }
    }
}

fn read_granularity(cx: &mut Context<'_>, place: &str, item: &Item<'_>) -> Result<TextGranularity, Unreadable> {
    match cx.text(place, "crdt_granularity", item).ok_or(Unreadable)? {
        "character" => Ok(TextGranularity::Character),
        "paragraph" => Ok(TextGranularity::Paragraph),
        other => {
            let message = format!("{place} has unknown crdt_granularity '{other}' (expected character or paragraph)");
            cx.report(item.span(), message);
            Err(Unreadable)
        }
    }
}

fn read_default(
    cx: &mut Context<'_>,
    place: &str,
    field_type: FieldType,
    crdt: Option<CrdtKind>,
    item: &Item<'_>,
) -> Option<Value> {
    if crdt == Some(CrdtKind::List) {
        cx.report(item.span(), format!("{place} is a list, which cannot have a default"));
        return None;
    }
    match default_value(field_type, item.get_ref()) {
        Ok(value) => Some(value),
        Err(problem) => {
            cx.report(item.span(), format!("'default' of {place} {problem}"));
            None
        }
    }
}

/// The default as a value of the field's type, or the end of a sentence
/// saying why it is not one.
///
/// Timestamps may be written as text or as a TOML date-time; either way they
/// go through [`parse_iso8601`], which refuses times without a UTC offset
/// because they would mean a different instant on each peer.
fn default_value(field_type: FieldType, default: &DeValue<'_>) -> Result<Value, String> {
    let timestamp =
        |text: &str| parse_iso8601(text).map(Value::Timestamp).map_err(|error| format!("is invalid: {error}"));
    match (field_type, default) {
        (FieldType::String, DeValue::String(text)) => Ok(Value::String(text.as_ref().to_owned())),
        (FieldType::Number, DeValue::Integer(integer)) => integer_number(integer),
        (FieldType::Number, DeValue::Float(float)) => float_number(float),
        (FieldType::Boolean, DeValue::Boolean(value)) => Ok(Value::Boolean(*value)),
        (FieldType::Timestamp, DeValue::String(text)) => timestamp(text),
        (FieldType::Timestamp, DeValue::Datetime(datetime)) => timestamp(&datetime.to_string()),
        (FieldType::Blob, DeValue::String(text)) => parse_blob_reference(text)
            .map(Value::Blob)
            .ok_or_else(|| format!("must be {}, not '{text}'", describe_type(FieldType::Blob))),
        (expected, found) => Err(format!("must be {}, not {}", describe_type(expected), describe_toml(found))),
    }
}

fn integer_number(integer: &DeInteger<'_>) -> Result<Value, String> {
    i64::from_str_radix(integer.as_str(), integer.radix())
        .ok()
        .filter(|value| value.unsigned_abs() <= LARGEST_EXACT_INTEGER)
        // Exact: the filter above keeps the integer within f64's 53-bit mantissa.
        .and_then(|value| Value::number(value as f64).ok())
        .ok_or_else(|| format!("is invalid: {integer} is too large to be stored exactly"))
}

fn float_number(float: &DeFloat<'_>) -> Result<Value, String> {
    float
        .as_str()
        .parse()
        .ok()
        .and_then(|value| Value::number(value).ok())
        .ok_or_else(|| format!("must be a finite number, not {float}"))
}
