//! Problems found in a module's files, located for the person who fixes them.

use std::fmt;

/// One problem in a module's manifest or schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The file as the author knows it, e.g. `contacts/manifest.toml`.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, counted in characters so that it matches what editors show
    /// on lines with non-ASCII text.
    pub column: u32,
    pub message: String,
}

/// `file:line:column: message`, the form compilers use, which editors and
/// terminals turn into a link to the spot.
impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

impl std::error::Error for SchemaError {}

/// The 1-based line and column of the byte at `offset` in `text`.
///
/// Offsets come from the TOML parser, so they should fall on a character
/// inside `text`; one that does not is moved back to the nearest character
/// start rather than trusted, because a wrong position beats a panic.
pub(super) fn line_and_column(text: &str, offset: usize) -> (u32, u32) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let current_line = before.rsplit('\n').next().unwrap_or_default();
    let column = current_line.chars().count() + 1;
    (saturating_u32(line), saturating_u32(column))
}

fn saturating_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}
