//! Reading manifests: the spec's examples and the repository's modules parse
//! to what they declare, and every mistake is reported at its line and column.

mod examples;
mod problems;

use super::*;

/// Reads a manifest that must be valid.
pub(super) fn parse(manifest: &str, tables: Option<&str>) -> ModuleManifest {
    match parse_manifest("test/manifest.toml", manifest, tables) {
        Ok(module) => module,
        Err(problems) => panic!("expected a valid manifest, got:\n{}", lines(&problems).join("\n")),
    }
}

/// Reads a manifest that must be refused, and returns its problems as shown
/// to the author.
pub(super) fn problems(manifest: &str, tables: Option<&str>) -> Vec<String> {
    match parse_manifest("test/manifest.toml", manifest, tables) {
        Ok(module) => panic!("expected problems, got {module:#?}"),
        Err(problems) => lines(&problems),
    }
}

pub(super) fn lines(problems: &[SchemaError]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

pub(super) fn field_names(table: &TableDef) -> Vec<&str> {
    table.fields.iter().map(|field| field.name.as_str()).collect()
}

pub(super) fn number(value: f64) -> Value {
    Value::number(value).expect("finite")
}
