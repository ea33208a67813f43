//! Reading a module's manifest, and its schema file if any, into a
//! [`ModuleManifest`].

use toml::de::{DeTable, DeValue};

use super::edge::{OwnTables, read_edge_types};
use super::names::{LOWERCASE_NAME_RULE, is_lowercase_name, plain_list};
use super::reader::{Context, Item, describe_toml, entries_in_file_order};
use super::table::read_tables;
use super::{ModuleManifest, ModuleVersion, SchemaError};

/// Besides the declarations read here, a manifest carries the module's
/// capabilities and scripts, which other parts of the system read.
const MANIFEST_SECTIONS: [&str; 5] = ["module", "table", "edge", "capabilities", "script"];

const SCHEMA_FILE_SECTIONS: [&str; 2] = ["table", "edge"];

const MODULE_KEYS: [&str; 6] = ["name", "version", "display_name", "description", "author", "local_only"];

/// Names the engine's built-in tables and fields.
const RESERVED_MODULE_NAME: &str = "core";

const MODULE_PLACE: &str = "[module]";

/// Reads a module's `manifest.toml` and, when the module has one, its
/// `schema/tables.toml`.
///
/// `path` names the manifest in messages, e.g. `contacts/manifest.toml`;
/// problems in the schema file are reported against `schema/tables.toml`
/// in the same folder. Tables and edge types may be declared in either file;
/// when both files declare tables (or both declare edge types), the schema
/// file's win and the manifest's are not read (modules.md, "Inline Schema").
///
/// # Errors
///
/// Every problem found, ordered by file, line and column. A file with TOML
/// syntax errors is reported for those alone: what the parser recovers
/// around them is a guess, and checking a guess would report problems that
/// are not there.
pub fn parse_manifest(
    path: &str,
    manifest_toml: &str,
    tables_toml: Option<&str>,
) -> Result<ModuleManifest, Vec<SchemaError>> {
    let mut problems = Vec::new();
    let manifest = Document::parse(path.to_owned(), manifest_toml, &mut problems);
    let schema_file = tables_toml.map(|text| Document::parse(schema_file_path(path), text, &mut problems));
    if problems.is_empty()
        && let Some(module) = read_declarations(&manifest, schema_file.as_ref(), &mut problems)
        && problems.is_empty()
    {
        return Ok(module);
    }
    problems.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)).then(a.column.cmp(&b.column)));
    Err(problems)
}

/// The schema file as messages name it.
fn schema_file_path(manifest_path: &str) -> String {
    match manifest_path.rsplit_once(['/', '\\']) {
        Some((folder, _)) => format!("{folder}/schema/tables.toml"),
        None => "schema/tables.toml".to_owned(),
    }
}

/// One parsed file, kept with its name and text for locating problems.
struct Document<'i> {
    path: String,
    text: &'i str,
    root: DeTable<'i>,
}

impl<'i> Document<'i> {
    /// Parses `text`, recording all its syntax errors.
    fn parse(path: String, text: &'i str, problems: &mut Vec<SchemaError>) -> Self {
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        let mut cx = Context::new(&path, text, problems);
        for error in syntax_errors {
            cx.report(error.span().unwrap_or_default(), format!("TOML syntax error: {}", error.message()));
        }
        Document { path, text, root: root.into_inner() }
    }

    fn context<'a>(&'a self, problems: &'a mut Vec<SchemaError>) -> Context<'a> {
        Context::new(&self.path, self.text, problems)
    }

    fn section(&self, name: &str) -> Option<&DeTable<'i>> {
        match self.root.get(name)?.get_ref() {
            DeValue::Table(section) => Some(section),
            _ => None,
        }
    }
}

/// What `[module]` says about the module itself.
struct ModuleIdentity {
    name: String,
    version: ModuleVersion,
    display_name: Option<String>,
    description: Option<String>,
    author: Option<String>,
    local_only: bool,
}

/// `None` when the module's identity could not be read; every other problem
/// is only recorded, so that all of them are found in one pass.
fn read_declarations(
    manifest: &Document<'_>,
    schema_file: Option<&Document<'_>>,
    problems: &mut Vec<SchemaError>,
) -> Option<ModuleManifest> {
    check_sections(&mut manifest.context(problems), &manifest.root, &MANIFEST_SECTIONS);
    if let Some(schema_file) = schema_file {
        check_sections(&mut schema_file.context(problems), &schema_file.root, &SCHEMA_FILE_SECTIONS);
    }
    let identity = read_module_section(&mut manifest.context(problems), &manifest.root);
    let tables = match declaring("table", manifest, schema_file) {
        Some((document, section)) => read_tables(&mut document.context(problems), section),
        None => Vec::new(),
    };
    let own_tables =
        OwnTables { module_name: identity.as_ref().map(|identity| identity.name.as_str()), tables: &tables };
    let edge_types = match declaring("edge", manifest, schema_file) {
        Some((document, section)) => read_edge_types(&mut document.context(problems), section, &own_tables),
        None => Vec::new(),
    };
    let identity = identity?;
    Some(ModuleManifest {
        name: identity.name,
        version: identity.version,
        display_name: identity.display_name,
        description: identity.description,
        author: identity.author,
        local_only: identity.local_only,
        tables,
        edge_types,
    })
}

/// The file whose declarations of `section` count, and those declarations:
/// the schema file's win over the manifest's.
fn declaring<'d, 'i>(
    section: &str,
    manifest: &'d Document<'i>,
    schema_file: Option<&'d Document<'i>>,
) -> Option<(&'d Document<'i>, &'d DeTable<'i>)> {
    schema_file.into_iter().chain([manifest]).find_map(|document| Some((document, document.section(section)?)))
}

/// Reports top-level keys a file may not hold, and sections that are not
/// tables. Unknown sections are refused rather than skipped because they are
/// almost always a misspelling (`[tables.cues]`), which would otherwise make
/// a declaration silently vanish.
fn check_sections(cx: &mut Context<'_>, root: &DeTable<'_>, allowed: &[&str]) {
    for (key, item) in entries_in_file_order(root) {
        let name = key.get_ref().as_ref();
        if !allowed.contains(&name) {
            cx.report(key.span(), format!("unknown section '{name}' (expected {})", plain_list(allowed)));
        } else if !matches!(item.get_ref(), DeValue::Table(_)) {
            let found = describe_toml(item.get_ref());
            cx.report(item.span(), format!("'{name}' must be a section such as [{name}], not {found}"));
        }
    }
}

fn read_module_section(cx: &mut Context<'_>, root: &DeTable<'_>) -> Option<ModuleIdentity> {
    let Some((section_key, item)) = root.get_key_value("module") else {
        cx.report(0..0, "missing [module] section with the module's name and version".to_owned());
        return None;
    };
    // Anything but a table was reported by `check_sections`.
    let DeValue::Table(section) = item.get_ref() else { return None };
    let mut name = None;
    let mut version = None;
    let mut display_name = None;
    let mut description = None;
    let mut author = None;
    let mut local_only = false;
    for (key, item) in entries_in_file_order(section) {
        match key.get_ref().as_ref() {
            "name" => name = read_module_name(cx, item),
            "version" => version = read_version(cx, item),
            "display_name" => display_name = cx.owned_text(MODULE_PLACE, "display_name", item),
            "description" => description = cx.owned_text(MODULE_PLACE, "description", item),
            "author" => author = cx.owned_text(MODULE_PLACE, "author", item),
            "local_only" => local_only = cx.boolean(MODULE_PLACE, "local_only", item).unwrap_or(false),
            _ => cx.report_unknown_key(MODULE_PLACE, key, &MODULE_KEYS),
        }
    }
    for (required, example) in [("name", "name = \"contacts\""), ("version", "version = \"1.0.0\"")] {
        if !section.contains_key(required) {
            cx.report(section_key.span(), format!("{MODULE_PLACE} has no {required} (e.g. {example})"));
        }
    }
    Some(ModuleIdentity { name: name?, version: version?, display_name, description, author, local_only })
}

fn read_module_name(cx: &mut Context<'_>, item: &Item<'_>) -> Option<String> {
    let name = cx.text(MODULE_PLACE, "name", item)?;
    if name == RESERVED_MODULE_NAME {
        cx.report(item.span(), format!("module name '{name}' is reserved for the engine's built-in tables and fields"));
        return None;
    }
    if !is_lowercase_name(name) {
        cx.report(item.span(), format!("module name '{name}' {LOWERCASE_NAME_RULE}"));
        return None;
    }
    Some(name.to_owned())
}

fn read_version(cx: &mut Context<'_>, item: &Item<'_>) -> Option<ModuleVersion> {
    let text = cx.text(MODULE_PLACE, "version", item)?;
    let version = parse_version(text);
    if version.is_none() {
        cx.report(
            item.span(),
            format!("version '{text}' must be MAJOR.MINOR.PATCH, three whole numbers such as \"1.0.0\""),
        );
    }
    version
}

fn parse_version(text: &str) -> Option<ModuleVersion> {
    let mut numbers = text.split('.').map(parse_version_number);
    let version = ModuleVersion { major: numbers.next()??, minor: numbers.next()??, patch: numbers.next()?? };
    numbers.next().is_none().then_some(version)
}

/// Digits only and no leading zeros, as in semantic versioning, so that each
/// version has exactly one spelling.
fn parse_version_number(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if digits_only && !leading_zero { text.parse().ok() } else { None }
}
