//! Field values and field types.

use std::fmt;

/// The type of a field, as declared in a module's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldType {
    String,
    Number,
    Boolean,
    /// A point in time, kept as milliseconds since the Unix epoch (UTC).
    Timestamp,
    /// A BLAKE3 content hash of an asset.
    Blob,
}

impl FieldType {
    /// The name used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Blob => "blob",
        }
    }

    pub fn from_name(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "timestamp" => FieldType::Timestamp,
            "blob" => FieldType::Blob,
            _ => return None,
        })
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field's value. Numbers are finite: NaN and infinities are refused when a
/// value is made, so equal values always encode and hash equally.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Number(Number),
    Boolean(bool),
    Timestamp(i64),
    Blob([u8; 32]),
}

impl Value {
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::String(_) => FieldType::String,
            Value::Number(_) => FieldType::Number,
            Value::Boolean(_) => FieldType::Boolean,
            Value::Timestamp(_) => FieldType::Timestamp,
            Value::Blob(_) => FieldType::Blob,
        }
    }

    pub fn number(value: f64) -> Result<Value, NotFinite> {
        Number::new(value).map(Value::Number)
    }
}

impl Eq for Value {}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(text) => f.write_str(text),
            Value::Number(number) => write!(f, "{}", number.get()),
            Value::Boolean(true) => f.write_str("yes"),
            Value::Boolean(false) => f.write_str("no"),
            Value::Timestamp(millis) => write!(f, "{}", crate::time::format_iso8601(*millis)),
            Value::Blob(hash) => write!(f, "blake3:{}", hex::encode(hash)),
        }
    }
}

/// A finite 64-bit float. `-0.0` is stored as `0.0` so that equal numbers
/// have one encoding.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Number(f64);

impl Number {
    pub fn new(value: f64) -> Result<Number, NotFinite> {
        if value.is_finite() { Ok(Number(if value == 0.0 { 0.0 } else { value })) } else { Err(NotFinite) }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Eq for Number {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFinite;

impl fmt::Display for NotFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number must be finite (not NaN or infinity)")
    }
}

impl std::error::Error for NotFinite {}
