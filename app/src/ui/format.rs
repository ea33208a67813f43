//! Values as people read and type them.

use openprod_core::schema::FieldDef;
use openprod_core::time::{format_iso8601, parse_iso8601};
use openprod_core::value::{FieldType, Value};
use wasm_bindgen::JsValue;

/// A value as a cell shows it.
pub fn show_value(value: &Value) -> String {
    match value {
        Value::Timestamp(millis) => local_time(*millis as f64),
        other => other.to_string(),
    }
}

/// A value as an input holds it for editing: exact, so editing and saving
/// without a change writes nothing.
pub fn edit_text(value: Option<&Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::Timestamp(millis)) => format_iso8601(*millis),
        Some(other) => other.to_string(),
    }
}

/// What the person typed, as a value of the field's type. Empty text is no
/// value (a cleared field).
pub fn parse_input(field: &FieldDef, text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let label = field.label();
    let value = match field.field_type {
        FieldType::String => Value::String(text.to_owned()),
        FieldType::Number => text
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .and_then(|number| Value::number(number).ok())
            .ok_or_else(|| format!("'{label}' takes a number, such as 12 or 3.5"))?,
        FieldType::Boolean => match text.to_lowercase().as_str() {
            "yes" | "y" | "true" | "1" => Value::Boolean(true),
            "no" | "n" | "false" | "0" => Value::Boolean(false),
            _ => return Err(format!("'{label}' takes yes or no")),
        },
        FieldType::Timestamp => parse_iso8601(text)
            .map(Value::Timestamp)
            .map_err(|_| format!("'{label}' takes a date and time such as 2026-11-24T19:30:00Z"))?,
        FieldType::Blob => return Err(format!("'{label}' holds a file, which cannot be typed in")),
    };
    Ok(Some(value))
}

/// A moment in the viewer's own time zone and language.
pub fn local_time(unix_ms: f64) -> String {
    js_sys::Date::new(&JsValue::from_f64(unix_ms)).to_locale_string("default", &JsValue::UNDEFINED).into()
}

/// A byte count as people read it.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{count} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}
