//! Reading typed values out of parsed TOML while recording every problem.
//!
//! The readers return `None` both when a key is absent and when it held
//! something unusable; in the second case the problem is already recorded,
//! and the manifest as a whole will be refused, so callers only have to skip
//! the checks that depended on the value.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::error::{SchemaError, line_and_column};
use super::names::plain_list;

pub(super) type Key<'i> = Spanned<DeString<'i>>;
pub(super) type Item<'i> = Spanned<DeValue<'i>>;

/// Reading position in one file: where its problems go, and the text needed
/// to turn the parser's byte offsets into lines and columns.
pub(super) struct Context<'a> {
    path: &'a str,
    text: &'a str,
    problems: &'a mut Vec<SchemaError>,
}

impl<'a> Context<'a> {
    pub(super) fn new(path: &'a str, text: &'a str, problems: &'a mut Vec<SchemaError>) -> Self {
        Context { path, text, problems }
    }

    pub(super) fn report(&mut self, span: Range<usize>, message: String) {
        let (line, column) = line_and_column(self.text, span.start);
        self.problems.push(SchemaError { file: self.path.to_owned(), line, column, message });
    }

    /// Reports a key that `place` does not define. The expected keys are
    /// listed because the usual cause is a typo (`requird`).
    pub(super) fn report_unknown_key(&mut self, place: &str, key: &Key<'_>, expected: &[&str]) {
        let message = format!("{place} has unknown key '{}' (expected {})", key.get_ref(), plain_list(expected));
        self.report(key.span(), message);
    }

    pub(super) fn text<'t>(&mut self, place: &str, key: &str, item: &'t Item<'_>) -> Option<&'t str> {
        let DeValue::String(text) = item.get_ref() else {
            self.report_wrong_kind(place, key, "text", item);
            return None;
        };
        Some(text)
    }

    pub(super) fn owned_text(&mut self, place: &str, key: &str, item: &Item<'_>) -> Option<String> {
        self.text(place, key, item).map(str::to_owned)
    }

    pub(super) fn boolean(&mut self, place: &str, key: &str, item: &Item<'_>) -> Option<bool> {
        let DeValue::Boolean(value) = item.get_ref() else {
            self.report_wrong_kind(place, key, "true or false", item);
            return None;
        };
        Some(*value)
    }

    pub(super) fn table<'t, 'i>(&mut self, place: &str, key: &str, item: &'t Item<'i>) -> Option<&'t DeTable<'i>> {
        let DeValue::Table(table) = item.get_ref() else {
            self.report_wrong_kind(place, key, "a table", item);
            return None;
        };
        Some(table)
    }

    /// A list of texts, each with its position so that later checks can
    /// point at the one entry that is wrong. Entries that are not text are
    /// reported and left out.
    pub(super) fn text_list<'t>(&mut self, place: &str, key: &str, item: &'t Item<'_>) -> Vec<Spanned<&'t str>> {
        let DeValue::Array(entries) = item.get_ref() else {
            self.report_wrong_kind(place, key, "a list of texts", item);
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|entry| {
                let DeValue::String(text) = entry.get_ref() else {
                    self.report_wrong_kind(place, &format!("{key} entry"), "text", entry);
                    return None;
                };
                Some(Spanned::new(entry.span(), text.as_ref()))
            })
            .collect()
    }

    fn report_wrong_kind(&mut self, place: &str, key: &str, expected: &str, item: &Item<'_>) {
        let message = format!("'{key}' of {place} must be {expected}, not {}", describe_toml(item.get_ref()));
        self.report(item.span(), message);
    }
}

/// The entries of a TOML table in the order they appear in the file.
///
/// The parser hands tables back sorted by key; putting them back in file
/// order keeps the author's order of tables and fields, which is the order
/// the UI shows them in.
pub(super) fn entries_in_file_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Item<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// What kind of TOML value someone wrote, in the words messages use.
pub(super) fn describe_toml(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "text",
        DeValue::Integer(_) | DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "true or false",
        DeValue::Datetime(_) => "a date and time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}
