//! Every mistake is reported with its file, line and column, all at once.

use super::*;

#[test]
fn unknown_field_type() {
    assert_eq!(
        problems(
            r#"[module]
name = "contacts"
version = "1.0.0"

[table.contacts.fields.full_name]
type = "strng"
"#,
            None
        ),
        ["test/manifest.toml:6:8: field 'full_name' in table 'contacts' has unknown type 'strng' \
             (expected string, number, boolean, timestamp or blob)"]
    );
}

#[test]
fn syntax_errors_of_both_files_are_reported_and_nothing_else() {
    let manifest = r#"[module]
name = "contacts
version = "1.0.0"
"#;
    let tables = "[table.contacts.fields.x]\ntype = \"strng\"\ntype = \"number\"\n";
    let reported = problems(manifest, Some(tables));
    assert_eq!(
        reported,
        [
            "test/manifest.toml:2:17: TOML syntax error: invalid basic string, expected `\"`",
            "test/schema/tables.toml:3:1: TOML syntax error: duplicate key",
        ]
    );
}

#[test]
fn module_section_is_required() {
    assert_eq!(
        problems("[table.cues.fields.cue_number]\ntype = \"number\"\n", None),
        ["test/manifest.toml:1:1: missing [module] section with the module's name and version"]
    );
}

#[test]
fn module_name_and_version_are_required() {
    assert_eq!(
        problems("\n[module]\ndisplay_name = \"Contacts\"\n", None),
        [
            "test/manifest.toml:2:2: [module] has no name (e.g. name = \"contacts\")",
            "test/manifest.toml:2:2: [module] has no version (e.g. version = \"1.0.0\")",
        ]
    );
}

#[test]
fn module_name_core_is_reserved() {
    assert_eq!(
        problems("[module]\nname = \"core\"\nversion = \"1.0.0\"\n", None),
        ["test/manifest.toml:2:8: module name 'core' is reserved for the engine's built-in tables and fields"]
    );
}

#[test]
fn module_names_are_lowercase_identifiers() {
    for name in ["my-notes", "Contacts", "2d", "", "_x"] {
        assert_eq!(
            problems(&format!("[module]\nname = \"{name}\"\nversion = \"1.0.0\"\n"), None),
            [format!(
                "test/manifest.toml:2:8: module name '{name}' must start with a lowercase letter \
                 and use only lowercase letters, digits and underscores"
            )]
        );
    }
}

#[test]
fn version_is_major_minor_patch() {
    for version in ["1.0", "1", "1.0.0.0", "01.0.0", "1.0.0-beta", "v1.0.0", "1..0", "+1.0.0", "1.0. 0", ""] {
        assert_eq!(
            problems(&format!("[module]\nname = \"x\"\nversion = \"{version}\"\n"), None),
            [format!(
                "test/manifest.toml:3:11: version '{version}' must be MAJOR.MINOR.PATCH, three whole numbers such as \"1.0.0\""
            )]
        );
    }
    assert_eq!(
        problems("[module]\nname = \"x\"\nversion = 1.0\n", None),
        ["test/manifest.toml:3:11: 'version' of [module] must be text, not a number"]
    );
}

#[test]
fn module_section_keys_are_checked() {
    assert_eq!(
        problems(
            r#"[module]
name = "x"
version = "1.0.0"
auther = "Jane"
local_only = "yes"
display_name = ["X"]
"#,
            None
        ),
        [
            "test/manifest.toml:4:1: [module] has unknown key 'auther' \
             (expected name, version, display_name, description, author or local_only)",
            "test/manifest.toml:5:14: 'local_only' of [module] must be true or false, not text",
            "test/manifest.toml:6:16: 'display_name' of [module] must be text, not a list",
        ]
    );
}

#[test]
fn unknown_sections_are_refused_and_capabilities_and_scripts_ignored() {
    assert_eq!(
        problems(
            r#"title = "Lighting"
module = "lighting"

[capabilities]
anything = { goes = ["here"] }

[script.osc_listener]
execution_mode = "background"

[tables.cues.fields.cue_number]
type = "number"
"#,
            None
        ),
        [
            "test/manifest.toml:1:1: unknown section 'title' (expected module, table, edge, capabilities or script)",
            "test/manifest.toml:2:10: 'module' must be a section such as [module], not text",
            "test/manifest.toml:10:2: unknown section 'tables' (expected module, table, edge, capabilities or script)",
        ]
    );
}

#[test]
fn schema_file_holds_only_tables_and_edges() {
    let manifest = "[module]\nname = \"x\"\nversion = \"1.0.0\"\n";
    assert_eq!(
        problems(manifest, Some("[module]\nname = \"x\"\n\n[capabilities]\n")),
        [
            "test/schema/tables.toml:1:2: unknown section 'module' (expected table or edge)",
            "test/schema/tables.toml:4:2: unknown section 'capabilities' (expected table or edge)",
        ]
    );
    let problems_without_folder = parse_manifest("manifest.toml", manifest, Some("table = 1\n")).expect_err("refused");
    assert_eq!(
        lines(&problems_without_folder),
        ["schema/tables.toml:1:9: 'table' must be a section such as [table], not a number"]
    );
}

#[test]
fn table_declarations_are_checked() {
    assert_eq!(
        problems(
            r#"[module]
name = "x"
version = "1.0.0"

[table]
lonely = "not a table"

[table.2nd_cues]
display_name = "Second"

[table.cues]
dispaly_name = "Cues"
description = 7
compatible_tables = ["sm.cues", "sound", 12, "Sound.Cues"]

[table.patch]
compatible_tables = "sm.cues"
fields = ["channel"]
"#,
            None
        ),
        [
            "test/manifest.toml:6:10: table 'lonely' must be declared as a table, e.g. [table.lonely], not as text",
            "test/manifest.toml:8:8: table name '2nd_cues' must start with a letter and use only letters, digits and underscores",
            "test/manifest.toml:12:1: table 'cues' has unknown key 'dispaly_name' \
             (expected display_name, description, compatible_tables or fields)",
            "test/manifest.toml:13:15: 'description' of table 'cues' must be text, not a number",
            "test/manifest.toml:14:33: 'compatible_tables' of table 'cues' lists 'sound', \
             which is not a table reference written as module.table",
            "test/manifest.toml:14:42: 'compatible_tables entry' of table 'cues' must be text, not a number",
            "test/manifest.toml:14:46: 'compatible_tables' of table 'cues' lists 'Sound.Cues', \
             which is not a table reference written as module.table",
            "test/manifest.toml:17:21: 'compatible_tables' of table 'patch' must be a list of texts, not text",
            "test/manifest.toml:18:10: 'fields' of table 'patch' must be a table, not a list",
        ]
    );
}

#[test]
fn field_declarations_are_checked() {
    assert_eq!(
        problems(
            r#"[module]
name = "x"
version = "1.0.0"

[table.cues.fields]
shorthand = "number"

[table.cues.fields."Cue #"]
type = "number"

[table.cues.fields.label]
display_name = "Label"

[table.cues.fields.cue_number]
type = "number"
requird = true
required = "yes"
private = 1
description = false
"#,
            None
        ),
        [
            "test/manifest.toml:6:13: field 'shorthand' in table 'cues' must be declared as a table, \
             e.g. [table.cues.fields.shorthand] with a line type = \"string\", not as text",
            "test/manifest.toml:8:20: field name 'Cue #' in table 'cues' must start with a lowercase letter \
             and use only lowercase letters, digits and underscores",
            "test/manifest.toml:11:20: field 'label' in table 'cues' has no type \
             (expected string, number, boolean, timestamp or blob)",
            "test/manifest.toml:16:1: field 'cue_number' in table 'cues' has unknown key 'requird' (expected type, \
             display_name, description, required, default, shared_key, private, crdt, crdt_granularity or item_type)",
            "test/manifest.toml:17:12: 'required' of field 'cue_number' in table 'cues' must be true or false, not text",
            "test/manifest.toml:18:11: 'private' of field 'cue_number' in table 'cues' must be true or false, not a number",
            "test/manifest.toml:19:15: 'description' of field 'cue_number' in table 'cues' must be text, not true or false",
        ]
    );
}

#[test]
fn defaults_must_fit_the_field_type() {
    assert_eq!(
        problems(
            r#"[module]
name = "x"
version = "1.0.0"

[table.t.fields]
text = { type = "string", default = 5 }
count = { type = "number", default = "5" }
flag = { type = "boolean", default = "yes" }
moment = { type = "timestamp", default = "tomorrow" }
local_time = { type = "timestamp", default = 2026-02-05T14:30:00 }
photo = { type = "blob", default = "photo.png" }
infinite = { type = "number", default = inf }
not_a_number = { type = "number", default = nan }
too_large = { type = "number", default = 9_007_199_254_740_993 }
typed_twice = { type = "timestamp", default = 12 }
"#,
            None
        ),
        [
            "test/manifest.toml:6:37: 'default' of field 'text' in table 't' must be text, not a number",
            "test/manifest.toml:7:38: 'default' of field 'count' in table 't' must be a number, not text",
            "test/manifest.toml:8:38: 'default' of field 'flag' in table 't' must be true or false, not text",
            "test/manifest.toml:9:42: 'default' of field 'moment' in table 't' is invalid: \
             'tomorrow' is not a date and time (expected e.g. 2026-02-05T14:30:00Z)",
            "test/manifest.toml:10:46: 'default' of field 'local_time' in table 't' is invalid: \
             '2026-02-05T14:30:00' is not a date and time (expected e.g. 2026-02-05T14:30:00Z)",
            "test/manifest.toml:11:36: 'default' of field 'photo' in table 't' must be an asset reference \
             (blake3: and 64 hex digits), not 'photo.png'",
            "test/manifest.toml:12:41: 'default' of field 'infinite' in table 't' must be a finite number, not inf",
            "test/manifest.toml:13:45: 'default' of field 'not_a_number' in table 't' must be a finite number, not nan",
            "test/manifest.toml:14:42: 'default' of field 'too_large' in table 't' is invalid: \
             9007199254740993 is too large to be stored exactly",
            "test/manifest.toml:15:47: 'default' of field 'typed_twice' in table 't' must be a date and time, not a number",
        ]
    );
}

#[test]
fn crdt_options_must_fit_the_field_type() {
    assert_eq!(
        problems(
            r#"[module]
name = "x"
version = "1.0.0"

[table.t.fields]
counted = { type = "number", crdt = "text" }
flat = { type = "string", crdt = "list", item_type = "string" }
loose = { type = "list", item_type = "string" }
textual = { type = "list", crdt = "text", item_type = "string" }
bare = { type = "list", crdt = "list" }
of_times = { type = "list", crdt = "list", item_type = "timestamp" }
itemised = { type = "string", item_type = "string" }
defaulted = { type = "list", crdt = "list", item_type = "string", default = "a" }
mystery = { type = "string", crdt = "yjs" }
coarse = { type = "string", crdt_granularity = "paragraph" }
grainy = { type = "list", crdt = "list", item_type = "number", crdt_granularity = "character" }
fine = { type = "string", crdt = "text", crdt_granularity = "word" }
"#,
            None
        ),
        [
            "test/manifest.toml:6:37: field 'counted' in table 't' has crdt = \"text\", \
             which works only on string fields, not on number",
            "test/manifest.toml:7:34: field 'flat' in table 't' has crdt = \"list\", which needs type = \"list\" and an item_type",
            "test/manifest.toml:7:54: field 'flat' in table 't' has an item_type, but only fields with type = \"list\" have items",
            "test/manifest.toml:8:18: field 'loose' in table 't' has type 'list', which needs crdt = \"list\"",
            "test/manifest.toml:9:20: field 'textual' in table 't' has type 'list', which needs crdt = \"list\"",
            "test/manifest.toml:10:17: field 'bare' in table 't' is a list but has no item_type (expected string, number or boolean)",
            "test/manifest.toml:11:56: field 'of_times' in table 't' has item_type 'timestamp', but list items must be \
             string, number or boolean (for a list of records, declare an ordered edge type)",
            "test/manifest.toml:12:43: field 'itemised' in table 't' has an item_type, but only fields with type = \"list\" have items",
            "test/manifest.toml:13:77: field 'defaulted' in table 't' is a list, which cannot have a default",
            "test/manifest.toml:14:37: field 'mystery' in table 't' has unknown crdt 'yjs' (expected text or list)",
            "test/manifest.toml:15:48: field 'coarse' in table 't' has a crdt_granularity but no crdt = \"text\"",
            "test/manifest.toml:16:83: field 'grainy' in table 't' has a crdt_granularity, which applies only to crdt = \"text\"",
            "test/manifest.toml:17:61: field 'fine' in table 't' has unknown crdt_granularity 'word' (expected character or paragraph)",
        ]
    );
}

#[test]
fn shared_keys_are_checked() {
    assert_eq!(
        problems(
            r#"[module]
name = "x"
version = "1.0.0"

[table.people.fields]
full_name = { type = "string", shared_key = "name" }
nickname = { type = "string", shared_key = "name" }
mail = { type = "string", shared_key = "E-mail" }
secret = { type = "string", private = true, shared_key = "notes" }

[table.crew.fields]
crew_name = { type = "string", shared_key = "name" }
"#,
            None
        ),
        [
            "test/manifest.toml:7:1: fields 'full_name' and 'nickname' of table 'people' both suggest shared key 'name'; \
             a table can map it to only one field",
            "test/manifest.toml:8:40: shared_key 'E-mail' of field 'mail' in table 'people' must start with a lowercase \
             letter and use only lowercase letters, digits and underscores",
            "test/manifest.toml:9:58: field 'secret' in table 'people' is private, so it cannot suggest shared key 'notes' \
             (remove one of the two)",
        ]
    );
}

#[test]
fn edge_declarations_are_checked() {
    assert_eq!(
        problems(
            r#"[module]
name = "casting"
version = "1.0.0"

[table.Actors.fields.name]
type = "string"

[edge.AssignedTo]

[edge.assigned_to]
source_tables = ["scenes.Scenes", "casting.Actorz", "Actors"]
target_tables = ["scenes.Scenes"]
target_tables_hint = ["scenes"]
source_table = "casting.Actors"
ordered = "yes"
target = "casting.Actors"

[edge.assigned_to.properties]
character = "strng"
_position = "number"
"Quick Change" = "boolean"
nested = { type = "string" }

[edge.loose]
properties = ["character"]

[edge]
dangling = 3
"#,
            None
        ),
        [
            "test/manifest.toml:8:7: edge type name 'AssignedTo' must start with a lowercase letter \
             and use only lowercase letters, digits and underscores",
            "test/manifest.toml:11:18: 'source_tables' of edge type 'assigned_to' lists 'scenes.Scenes', \
             but a module can constrain edges only to its own tables (casting.…)",
            "test/manifest.toml:11:35: 'source_tables' of edge type 'assigned_to' lists 'casting.Actorz', \
             but module 'casting' declares no table 'Actorz'",
            "test/manifest.toml:11:53: 'source_tables' of edge type 'assigned_to' lists 'Actors', \
             which is not a table reference written as module.table",
            "test/manifest.toml:12:18: 'target_tables' of edge type 'assigned_to' lists 'scenes.Scenes', \
             but a module can constrain edges only to its own tables (casting.…); \
             suggest other modules' tables in target_tables_hint",
            "test/manifest.toml:13:23: 'target_tables_hint' of edge type 'assigned_to' lists 'scenes', \
             which is not a table reference written as module.table",
            "test/manifest.toml:14:1: edge type 'assigned_to' has both source_tables and source_table; \
             list all source tables in source_tables",
            "test/manifest.toml:15:11: 'ordered' of edge type 'assigned_to' must be true or false, not text",
            "test/manifest.toml:16:1: edge type 'assigned_to' has unknown key 'target' (expected display_name, \
             source_tables, source_table, target_tables, target_tables_hint, target_description, ordered or properties)",
            "test/manifest.toml:19:13: property 'character' of edge type 'assigned_to' has unknown type 'strng' \
             (expected string, number, boolean, timestamp or blob)",
            "test/manifest.toml:20:1: property name '_position' of edge type 'assigned_to' must start with a lowercase \
             letter and use only lowercase letters, digits and underscores",
            "test/manifest.toml:21:1: property name 'Quick Change' of edge type 'assigned_to' must start with a \
             lowercase letter and use only lowercase letters, digits and underscores",
            "test/manifest.toml:22:10: 'properties.nested' of edge type 'assigned_to' must be text, not a table",
            "test/manifest.toml:25:14: 'properties' of edge type 'loose' must be a table, not a list",
            "test/manifest.toml:28:12: edge type 'dangling' must be declared as a table, e.g. [edge.dangling], not as a number",
        ]
    );
}

#[test]
fn all_problems_of_both_files_are_reported_at_once_in_file_order() {
    let manifest = r#"[module]
name = "Lighting"
version = "2.1"

[table.ignored.fields.x]
type = "overridden by the schema file"

[edge.in_cue_list]
source_tables = ["lighting.cues"]
"#;
    let tables = r#"[table.cues.fields.cue_number]
type = "numbr"
requried = true

[table.cues.fields.notes]
type = "string"
crdt = "txt"
"#;
    let reported = parse_manifest("lighting/manifest.toml", manifest, Some(tables)).expect_err("refused");
    assert_eq!(
        lines(&reported),
        [
            "lighting/manifest.toml:2:8: module name 'Lighting' must start with a lowercase letter \
             and use only lowercase letters, digits and underscores",
            "lighting/manifest.toml:3:11: version '2.1' must be MAJOR.MINOR.PATCH, three whole numbers such as \"1.0.0\"",
            "lighting/schema/tables.toml:2:8: field 'cue_number' in table 'cues' has unknown type 'numbr' \
             (expected string, number, boolean, timestamp or blob)",
            "lighting/schema/tables.toml:3:1: field 'cue_number' in table 'cues' has unknown key 'requried' (expected \
             type, display_name, description, required, default, shared_key, private, crdt, crdt_granularity or item_type)",
            "lighting/schema/tables.toml:7:8: field 'notes' in table 'cues' has unknown crdt 'txt' (expected text or list)",
        ]
    );
    assert_eq!(
        reported[0],
        SchemaError {
            file: "lighting/manifest.toml".to_owned(),
            line: 2,
            column: 8,
            message: "module name 'Lighting' must start with a lowercase letter \
                      and use only lowercase letters, digits and underscores"
                .to_owned(),
        }
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        problems(
            "[module]\nname = \"x\"\nversion = \"1.0.0\"\n[table.t.fields]\nf = { display_name = \"Café ☕\", type = \"strng\" }\n",
            None
        ),
        ["test/manifest.toml:5:39: field 'f' in table 't' has unknown type 'strng' \
             (expected string, number, boolean, timestamp or blob)"]
    );
}

#[test]
fn line_and_column_of_any_offset() {
    use super::error::line_and_column;
    let text = "ab\nçd\n";
    assert_eq!(line_and_column(text, 0), (1, 1));
    assert_eq!(line_and_column(text, 2), (1, 3));
    assert_eq!(line_and_column(text, 3), (2, 1));
    assert_eq!(line_and_column(text, 5), (2, 2), "after the two bytes of ç");
    assert_eq!(line_and_column(text, 4), (2, 1), "inside ç: moved back to its start");
    assert_eq!(line_and_column(text, 99), (3, 1), "past the end: the end");
    assert_eq!(line_and_column("", 0), (1, 1));
}

#[test]
fn hostile_input_is_refused_without_panicking() {
    let deep = format!(
        "[module]\nname = \"x\"\nversion = \"1.0.0\"\n[table.t.fields.f]\ntype = {}1{}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert!(parse_manifest("x/manifest.toml", &deep, None).is_err());
    for garbage in [
        "\u{0}",
        "[[module]]\nname = 1",
        "[module]\nname = \"x\"\nversion = \"99999999999999999999.0.0\"",
        "=",
        "[module",
    ] {
        assert!(parse_manifest("x/manifest.toml", garbage, Some(garbage)).is_err(), "{garbage:?}");
    }
}
