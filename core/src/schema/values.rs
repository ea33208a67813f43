//! Checking values against fields, and reading values people type.

use std::fmt;

use super::FieldDef;
use crate::time::parse_iso8601;
use crate::value::{FieldType, Value};

/// Why a value cannot go into a field, worded for the person who entered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub message: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

impl FieldDef {
    /// Checks a value before it is written, so that no record holds a value
    /// its table's schema does not allow, whichever person, peer or script
    /// wrote it.
    ///
    /// # Errors
    ///
    /// When the value is of another type than the field's, or the field is
    /// a list, whose items are never set as one value.
    pub fn check_value(&self, value: &Value) -> Result<(), ValueError> {
        if self.is_list() {
            return Err(ValueError {
                message: format!("field '{}' is a list: its items are added and removed one by one", self.label()),
            });
        }
        if value.field_type() != self.field_type {
            return Err(ValueError {
                message: format!(
                    "field '{}' expects {}, not {}",
                    self.label(),
                    describe_type(self.field_type),
                    describe_type(value.field_type())
                ),
            });
        }
        Ok(())
    }
}

/// Reads what someone typed into a cell as a value of `field_type`.
///
/// Text is kept exactly as typed; for the other types, surrounding spaces
/// are ignored, because a stray space should not turn a number into an
/// error. Booleans accept `yes`/`no` (what the UI shows) and `true`/`false`
/// (what scripts and CSV files tend to contain), in any case.
///
/// # Errors
///
/// When the text is not a value of the type; the message quotes the text.
pub fn parse_value(field_type: FieldType, text: &str) -> Result<Value, ValueError> {
    let trimmed = text.trim();
    let parsed = match field_type {
        FieldType::String => Some(Value::String(text.to_owned())),
        FieldType::Number => trimmed.parse().ok().and_then(|number| Value::number(number).ok()),
        FieldType::Boolean => parse_boolean(trimmed).map(Value::Boolean),
        FieldType::Timestamp => {
            return parse_iso8601(trimmed)
                .map(Value::Timestamp)
                .map_err(|error| ValueError { message: error.to_string() });
        }
        FieldType::Blob => parse_blob_reference(trimmed).map(Value::Blob),
    };
    let expected = match field_type {
        FieldType::Boolean => "yes or no",
        other => describe_type(other),
    };
    parsed.ok_or_else(|| ValueError { message: format!("'{}' is not {expected}", shorten(trimmed)) })
}

fn parse_boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("yes") || text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("no") || text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Reads a blob reference as [`Value`]'s `Display` writes it:
/// `blake3:` and the 64 hex digits of the content hash.
pub(super) fn parse_blob_reference(text: &str) -> Option<[u8; 32]> {
    let digits = text.strip_prefix("blake3:")?;
    let mut hash = [0; 32];
    hex::decode_to_slice(digits, &mut hash).ok()?;
    Some(hash)
}

/// What values of a type are called in messages.
pub(super) fn describe_type(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::String => "text",
        FieldType::Number => "a number",
        FieldType::Boolean => "true or false",
        FieldType::Timestamp => "a date and time",
        FieldType::Blob => "an asset reference (blake3: and 64 hex digits)",
    }
}

/// Keeps a huge paste from filling a message.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 64;
    let mut characters = text.chars();
    let mut shortened: String = characters.by_ref().take(LIMIT).collect();
    if characters.next().is_some() {
        shortened.push('…');
    }
    shortened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::CrdtKind;

    fn field(field_type: FieldType, display_name: Option<&str>) -> FieldDef {
        FieldDef {
            name: "field_name".to_owned(),
            field_type,
            display_name: display_name.map(str::to_owned),
            description: None,
            required: false,
            default: None,
            shared_key: None,
            private: false,
            crdt: None,
        }
    }

    fn number(value: f64) -> Value {
        Value::number(value).expect("finite")
    }

    fn hash_text() -> String {
        format!("blake3:{}", "ab".repeat(32))
    }

    #[test]
    fn check_value_accepts_each_type_in_its_own_field() {
        let values = [
            Value::String("Jane".to_owned()),
            number(42.5),
            Value::Boolean(true),
            Value::Timestamp(1_770_301_800_000),
            Value::Blob([0xab; 32]),
        ];
        for value in values {
            assert_eq!(field(value.field_type(), None).check_value(&value), Ok(()), "{value:?}");
        }
    }

    #[test]
    fn check_value_names_the_field_by_its_display_name() {
        let cue_number = field(FieldType::Number, Some("Cue #"));
        let error = cue_number.check_value(&Value::String("42".to_owned())).expect_err("text is not a number");
        assert_eq!(error.to_string(), "field 'Cue #' expects a number, not text");
    }

    #[test]
    fn check_value_falls_back_to_the_field_name() {
        let error = field(FieldType::Boolean, None).check_value(&Value::Timestamp(0)).expect_err("wrong type");
        assert_eq!(error.to_string(), "field 'field_name' expects true or false, not a date and time");
        let error = field(FieldType::Timestamp, None).check_value(&Value::Blob([0; 32])).expect_err("wrong type");
        assert_eq!(
            error.to_string(),
            "field 'field_name' expects a date and time, not an asset reference (blake3: and 64 hex digits)"
        );
    }

    #[test]
    fn check_value_refuses_a_whole_value_for_a_list_field() {
        let tags = FieldDef { crdt: Some(CrdtKind::List), ..field(FieldType::String, Some("Tags")) };
        let error = tags.check_value(&Value::String("red".to_owned())).expect_err("lists change item by item");
        assert_eq!(error.to_string(), "field 'Tags' is a list: its items are added and removed one by one");
    }

    #[test]
    fn parse_value_keeps_text_as_typed() {
        assert_eq!(parse_value(FieldType::String, "  FOH  "), Ok(Value::String("  FOH  ".to_owned())));
        assert_eq!(parse_value(FieldType::String, ""), Ok(Value::String(String::new())));
    }

    #[test]
    fn parse_value_reads_numbers() {
        assert_eq!(parse_value(FieldType::Number, " 42 "), Ok(number(42.0)));
        assert_eq!(parse_value(FieldType::Number, "-3.5"), Ok(number(-3.5)));
        assert_eq!(parse_value(FieldType::Number, "1e3"), Ok(number(1000.0)));
        for bad in ["", "abc", "1,5", "inf", "-infinity", "NaN"] {
            let error = parse_value(FieldType::Number, bad).expect_err(bad);
            assert_eq!(error.to_string(), format!("'{bad}' is not a number"));
        }
    }

    #[test]
    fn parse_value_reads_yes_no_true_false_in_any_case() {
        for yes in ["yes", "Yes", "TRUE", " true "] {
            assert_eq!(parse_value(FieldType::Boolean, yes), Ok(Value::Boolean(true)), "{yes}");
        }
        for no in ["no", "NO", "false", "False"] {
            assert_eq!(parse_value(FieldType::Boolean, no), Ok(Value::Boolean(false)), "{no}");
        }
        let error = parse_value(FieldType::Boolean, "maybe").expect_err("not a boolean");
        assert_eq!(error.to_string(), "'maybe' is not yes or no");
    }

    #[test]
    fn parse_value_reads_iso8601_timestamps() {
        assert_eq!(parse_value(FieldType::Timestamp, "2026-02-05T14:30:00Z"), Ok(Value::Timestamp(1_770_301_800_000)));
        assert_eq!(parse_value(FieldType::Timestamp, "1970-01-01"), Ok(Value::Timestamp(0)));
        let error = parse_value(FieldType::Timestamp, "next tuesday").expect_err("not a date");
        assert_eq!(error.to_string(), "'next tuesday' is not a date and time (expected e.g. 2026-02-05T14:30:00Z)");
    }

    #[test]
    fn parse_value_reads_blob_references() {
        assert_eq!(parse_value(FieldType::Blob, &hash_text()), Ok(Value::Blob([0xab; 32])));
        let upper_case = format!("blake3:{}", "AB".repeat(32));
        assert_eq!(parse_value(FieldType::Blob, &upper_case), Ok(Value::Blob([0xab; 32])));
        for bad in ["", "abab", "blake3:abab", "sha256:abab"] {
            let error = parse_value(FieldType::Blob, bad).expect_err(bad);
            assert_eq!(error.to_string(), format!("'{bad}' is not an asset reference (blake3: and 64 hex digits)"));
        }
    }

    #[test]
    fn parse_value_shortens_huge_input_in_messages() {
        let error = parse_value(FieldType::Number, &"9x".repeat(100)).expect_err("not a number");
        assert_eq!(error.to_string(), format!("'{}…' is not a number", "9x".repeat(32)));
    }

    #[test]
    fn parsed_values_fit_their_fields() {
        let inputs = [
            (FieldType::String, "Jane".to_owned()),
            (FieldType::Number, "7".to_owned()),
            (FieldType::Boolean, "no".to_owned()),
            (FieldType::Timestamp, "2026-02-05T14:30:00+01:00".to_owned()),
            (FieldType::Blob, hash_text()),
        ];
        for (field_type, text) in inputs {
            let value = parse_value(field_type, &text).expect("valid input");
            assert_eq!(field(field_type, None).check_value(&value), Ok(()), "{text}");
        }
    }
}
