//! The spec's examples and this repository's modules read as declared.

use super::*;

// The lighting module from modules.md, "Full Manifest Example" and
// "Schema File: schema/tables.toml".
const LIGHTING_MANIFEST: &str = r#"
[module]
name = "lighting"
version = "2.1.0"
display_name = "Lighting"
description = "Lighting cue management, patch, and console integration"
author = "Openprod Community"

[capabilities]
network = ["osc:8000-8010", "http.client"]
filesystem = ["read:imports/*", "write:exports/*", "watch:imports/*"]
data = ["read:lighting.*", "write:lighting.*"]
"#;

const LIGHTING_TABLES: &str = r#"
# ─────────────────────────────────────────────
# Lighting Cues table
# ─────────────────────────────────────────────
[table.cues]
display_name = "Lighting Cues"
description = "All lighting cue data: numbers, levels, timing"

# Compatibility hints: which other tables make sense to link with this one.
# These are UI hints for the table-linking flow — not enforcement.
compatible_tables = ["sm.cues", "scheduling.events"]

[table.cues.fields.cue_number]
type = "number"
required = true
display_name = "Cue #"
description = "The cue number as it appears on the console"

[table.cues.fields.label]
type = "string"
display_name = "Label"

[table.cues.fields.name]
type = "string"
display_name = "Cue Name"
shared_key = "name"                # SUGGESTION — see Shared Key Suggestions

[table.cues.fields.intensity]
type = "number"
display_name = "Intensity"
description = "Master intensity level (0-100)"

[table.cues.fields.fade_time]
type = "number"
display_name = "Fade Time"
description = "Upfade time in seconds"

[table.cues.fields.is_called]
type = "boolean"
display_name = "Called"
description = "Whether this cue is called by the stage manager"
default = true

[table.cues.fields.notes]
type = "string"
display_name = "Notes"
shared_key = "notes"
crdt = "text"

# ─────────────────────────────────────────────
# Fixtures table
# ─────────────────────────────────────────────
[table.fixtures]
display_name = "Fixtures"
description = "Lighting instruments: type, position, patch"

[table.fixtures.fields.unit_number]
type = "string"
required = true
display_name = "Unit #"

[table.fixtures.fields.name]
type = "string"
display_name = "Fixture Name"
shared_key = "name"

[table.fixtures.fields.channel]
type = "number"
display_name = "Channel"

[table.fixtures.fields.dmx_address]
type = "number"
display_name = "DMX Address"

[table.fixtures.fields.fixture_type]
type = "string"
display_name = "Instrument Type"

[table.fixtures.fields.position]
type = "string"
display_name = "Position"

[table.fixtures.fields.color]
type = "string"
display_name = "Color/Gel"

[table.fixtures.fields.wattage]
type = "number"
display_name = "Wattage"
"#;

#[test]
fn contacts_module_of_this_repository() {
    let contacts = parse(include_str!("../../../../modules/contacts/manifest.toml"), None);
    assert_eq!(contacts.name, "contacts");
    assert_eq!(contacts.version, ModuleVersion { major: 1, minor: 0, patch: 0 });
    assert_eq!(contacts.display_name.as_deref(), Some("Contacts"));
    assert_eq!(contacts.author.as_deref(), Some("Openprod"));
    assert!(!contacts.local_only);
    assert!(contacts.edge_types.is_empty());

    let [table] = contacts.tables.as_slice() else { panic!("one table: {:?}", contacts.tables) };
    assert_eq!(table.facet_id(&contacts.name), "contacts.contacts");
    assert_eq!(table.label(), "Contacts");
    assert_eq!(table.compatible_tables, ["scheduling.attendees", "casting.performers"]);
    assert_eq!(
        field_names(table),
        ["full_name", "role", "department", "email", "phone", "pronouns", "emergency_contact", "is_active", "notes"]
    );

    let full_name = table.field("full_name").expect("full_name");
    assert_eq!(full_name.field_type, FieldType::String);
    assert!(full_name.required);
    assert_eq!(full_name.label(), "Name");
    assert_eq!(full_name.shared_key.as_deref(), Some("name"));

    let role = table.field("role").expect("role");
    assert!(!role.required);
    assert_eq!(role.shared_key, None);
    assert_eq!(role.description.as_deref(), Some("Position on this production, e.g. Stage Manager, Lighting Designer"));

    let is_active = table.field("is_active").expect("is_active");
    assert_eq!(is_active.field_type, FieldType::Boolean);
    assert_eq!(is_active.default, Some(Value::Boolean(true)));

    let notes = table.field("notes").expect("notes");
    assert_eq!(notes.crdt, Some(CrdtKind::Text(TextGranularity::Character)));
    assert_eq!(notes.shared_key.as_deref(), Some("notes"));
}

#[test]
fn lighting_example_with_a_separate_schema_file() {
    let lighting = parse(LIGHTING_MANIFEST, Some(LIGHTING_TABLES));
    assert_eq!(lighting.name, "lighting");
    assert_eq!(lighting.version, ModuleVersion { major: 2, minor: 1, patch: 0 });
    assert_eq!(lighting.version.to_string(), "2.1.0");
    assert_eq!(lighting.description.as_deref(), Some("Lighting cue management, patch, and console integration"));
    assert_eq!(lighting.tables.iter().map(|table| table.name.as_str()).collect::<Vec<_>>(), ["cues", "fixtures"]);

    let cues = lighting.table("cues").expect("cues");
    assert_eq!(cues.display_name.as_deref(), Some("Lighting Cues"));
    assert_eq!(cues.compatible_tables, ["sm.cues", "scheduling.events"]);
    assert_eq!(field_names(cues), ["cue_number", "label", "name", "intensity", "fade_time", "is_called", "notes"]);
    let cue_number = cues.field("cue_number").expect("cue_number");
    assert_eq!(
        *cue_number,
        FieldDef {
            name: "cue_number".to_owned(),
            field_type: FieldType::Number,
            display_name: Some("Cue #".to_owned()),
            description: Some("The cue number as it appears on the console".to_owned()),
            required: true,
            default: None,
            shared_key: None,
            private: false,
            crdt: None,
        }
    );
    assert_eq!(cues.field("is_called").and_then(|field| field.default.clone()), Some(Value::Boolean(true)));

    let fixtures = lighting.table("fixtures").expect("fixtures");
    assert_eq!(fixtures.facet_id("lighting"), "lighting.fixtures");
    assert!(fixtures.compatible_tables.is_empty());
    assert_eq!(
        field_names(fixtures),
        ["unit_number", "name", "channel", "dmx_address", "fixture_type", "position", "color", "wattage"]
    );
    assert_eq!(fixtures.field("wattage").map(|field| field.field_type), Some(FieldType::Number));
}

#[test]
fn complete_contacts_example_with_scripts_and_a_blob_field() {
    let manifest = r#"
[module]
name = "contacts"
version = "1.0.0"
display_name = "Contacts"
description = "Contact management for production teams"
author = "Openprod Community"

[capabilities]
filesystem = ["read:imports/*.csv", "write:exports/*.vcf"]
data = ["read:contacts.*", "write:contacts.*"]

[script.import_csv]
display_name = "Import Contacts from CSV"
execution_mode = "manual"
session_mode = "session"
on_error = "skip"

[script.export_vcards]
display_name = "Export as vCards"
execution_mode = "manual"
session_mode = "session"
"#;
    let tables = r#"
[table.contacts]
display_name = "Contacts"
description = "Production team contacts and personnel"
compatible_tables = ["scheduling.attendees", "casting.actors"]

[table.contacts.fields.full_name]
type = "string"
required = true
display_name = "Name"
shared_key = "name"

[table.contacts.fields.notes]
type = "string"
display_name = "Notes"
shared_key = "notes"
crdt = "text"

[table.contacts.fields.photo]
type = "blob"
display_name = "Photo"
"#;
    let contacts = parse(manifest, Some(tables));
    let table = contacts.table("contacts").expect("contacts");
    assert_eq!(field_names(table), ["full_name", "notes", "photo"]);
    assert_eq!(table.field("photo").map(|field| field.field_type), Some(FieldType::Blob));
}

#[test]
fn inline_schema_example() {
    let tags = parse(
        r##"
[module]
name = "tags"
version = "1.0.0"
display_name = "Tags"
description = "Taggable labels for any record"

[table.tags]
display_name = "Tags"

[table.tags.fields.tag_name]
type = "string"
required = true

[table.tags.fields.color]
type = "string"
default = "#888888"
"##,
        None,
    );
    let table = tags.table("tags").expect("tags");
    assert_eq!(field_names(table), ["tag_name", "color"]);
    assert_eq!(table.field("color").and_then(|field| field.default.clone()), Some(Value::String("#888888".to_owned())));
    assert_eq!(table.field("tag_name").map(FieldDef::label), Some("tag_name"));
}

#[test]
fn data_model_examples_with_capitalised_tables_and_a_private_field() {
    let contacts = parse(
        r#"
[module]
name = "contacts"
version = "0.1.0"

[table.Contacts]
description = "People and organizations"

[table.Contacts.fields.name]
type = "string"
required = true
shared_key = "name"

[table.Contacts.fields.status]
type = "string"
# No shared_key: namespaced as "contacts.status"

[table.Contacts.fields.internal_notes]
type = "string"
private = true
# Explicitly namespaced: "contacts.internal_notes"
"#,
        None,
    );
    let table = contacts.table("Contacts").expect("Contacts");
    assert_eq!(table.facet_id(&contacts.name), "contacts.Contacts");
    assert_eq!(table.label(), "Contacts");
    assert!(table.field("internal_notes").is_some_and(|field| field.private));
    assert!(table.field("status").is_some_and(|field| !field.private && field.shared_key.is_none()));
    assert_eq!(contacts.table("contacts"), None, "table names are case-sensitive");

    let lighting = parse(
        r#"
[module]
name = "lighting"
version = "0.1.0"

[table.LightingCues]
description = "Lighting cue list"

[table.LightingCues.fields.cue_number]
type = "number"
required = true

[table.LightingCues.fields.is_called]
type = "boolean"
default = true
"#,
        None,
    );
    assert_eq!(
        lighting.table("LightingCues").map(|table| table.facet_id("lighting")),
        Some("lighting.LightingCues".to_owned())
    );
}

#[test]
fn crdt_fields_with_text_granularity_and_lists() {
    let module = parse(
        r#"
[module]
name = "lighting"
version = "1.0.0"

[table.LightingCues.fields.description]
type = "string"
shared_key = "description"
crdt = "text"

[table.LightingCues.fields.notes]
type = "string"
crdt = "text"
crdt_granularity = "paragraph"

[table.LightingCues.fields.tags]
type = "list"
crdt = "list"
item_type = "string"

[table.LightingCues.fields.levels]
type = "list"
crdt = "list"
item_type = "number"
"#,
        None,
    );
    let table = module.table("LightingCues").expect("LightingCues");
    let description = table.field("description").expect("description");
    assert_eq!(description.crdt, Some(CrdtKind::Text(TextGranularity::Character)));
    assert!(!description.is_list());
    assert_eq!(description.item_type(), None);
    assert_eq!(table.field("notes").and_then(|field| field.crdt), Some(CrdtKind::Text(TextGranularity::Paragraph)));

    let tags = table.field("tags").expect("tags");
    assert!(tags.is_list());
    assert_eq!(tags.crdt, Some(CrdtKind::List));
    assert_eq!(tags.item_type(), Some(FieldType::String));
    assert_eq!(table.field("levels").and_then(FieldDef::item_type), Some(FieldType::Number));
}

#[test]
fn defaults_of_every_type() {
    let module = parse(
        r#"
[module]
name = "defaults"
version = "1.0.0"

[table.examples.fields]
text = { type = "string", default = "FOH" }
whole = { type = "number", default = 42 }
hexadecimal = { type = "number", default = 0xff }
largest_exact = { type = "number", default = -9_007_199_254_740_992 }
fraction = { type = "number", default = 2.5 }
negative_zero = { type = "number", default = -0.0 }
flag = { type = "boolean", default = false }
as_text = { type = "timestamp", default = "2026-02-05T14:30:00Z" }
with_offset = { type = "timestamp", default = "2026-02-05T15:30:00+01:00" }
as_toml_datetime = { type = "timestamp", default = 2026-02-05T14:30:00Z }
as_toml_date = { type = "timestamp", default = 1970-01-02 }
photo = { type = "blob", default = "blake3:00000000000000000000000000000000000000000000000000000000000000ff" }
"#,
        None,
    );
    let table = module.table("examples").expect("examples");
    let default = |name: &str| table.field(name).and_then(|field| field.default.clone());
    assert_eq!(default("text"), Some(Value::String("FOH".to_owned())));
    assert_eq!(default("whole"), Some(number(42.0)));
    assert_eq!(default("hexadecimal"), Some(number(255.0)));
    assert_eq!(default("largest_exact"), Some(number(-9_007_199_254_740_992.0)));
    assert_eq!(default("fraction"), Some(number(2.5)));
    assert_eq!(default("negative_zero"), Some(number(0.0)));
    assert_eq!(default("flag"), Some(Value::Boolean(false)));
    assert_eq!(default("as_text"), Some(Value::Timestamp(1_770_301_800_000)));
    assert_eq!(default("with_offset"), Some(Value::Timestamp(1_770_301_800_000)));
    assert_eq!(default("as_toml_datetime"), Some(Value::Timestamp(1_770_301_800_000)));
    assert_eq!(default("as_toml_date"), Some(Value::Timestamp(86_400_000)));
    let mut hash = [0; 32];
    hash[31] = 0xff;
    assert_eq!(default("photo"), Some(Value::Blob(hash)));
}

#[test]
fn edge_type_with_hints_and_properties() {
    let casting = parse(
        r#"
[module]
name = "casting"
version = "1.0.0"

[table.Actors.fields.name]
type = "string"

[edge.assigned_to]
# Constraints on own tables are allowed
source_tables = ["casting.Actors"]

# Cross-module constraints are HINTS, not requirements
target_tables_hint = ["scenes.Scenes", "scheduling.Segments"]
target_description = "Scene, segment, or schedulable unit"

# Edge properties
[edge.assigned_to.properties]
character = "string"
entrance = "string"
has_quick_change = "boolean"
"#,
        None,
    );
    let assigned_to = casting.edge_type("assigned_to").expect("assigned_to");
    assert_eq!(
        *assigned_to,
        EdgeTypeDef {
            name: "assigned_to".to_owned(),
            display_name: None,
            source_tables: vec!["casting.Actors".to_owned()],
            target_tables: Vec::new(),
            target_tables_hint: vec!["scenes.Scenes".to_owned(), "scheduling.Segments".to_owned()],
            target_description: Some("Scene, segment, or schedulable unit".to_owned()),
            ordered: false,
            properties: vec![
                ("character".to_owned(), FieldType::String),
                ("entrance".to_owned(), FieldType::String),
                ("has_quick_change".to_owned(), FieldType::Boolean),
            ],
        }
    );
    assert_eq!(assigned_to.type_id(&casting.name), "casting.assigned_to");
    assert_eq!(assigned_to.property("has_quick_change"), Some(FieldType::Boolean));
    assert_eq!(assigned_to.property("blocking"), None);
    assert_eq!(casting.edge_type("worn_by"), None);
}

#[test]
fn ordered_edge_type_within_the_module() {
    let lighting = parse(
        r#"
[module]
name = "lighting"
version = "1.0.0"

[table.LightingCues.fields.cue_number]
type = "number"

[table.CueLists.fields.name]
type = "string"

[edge.in_cue_list]
source_tables = ["lighting.LightingCues"]
target_tables = ["lighting.CueLists"]
ordered = true                # Enable CRDT-based ordering

[edge.in_cue_list.properties]
call_text = "string"
timing_override = "number"
"#,
        None,
    );
    let in_cue_list = lighting.edge_type("in_cue_list").expect("in_cue_list");
    assert!(in_cue_list.ordered);
    assert_eq!(in_cue_list.source_tables, ["lighting.LightingCues"]);
    assert_eq!(in_cue_list.target_tables, ["lighting.CueLists"]);
    assert_eq!(
        in_cue_list.properties,
        [("call_text".to_owned(), FieldType::String), ("timing_override".to_owned(), FieldType::Number)]
    );
}

#[test]
fn edge_types_in_the_form_of_modules_md() {
    let lighting = parse(
        r#"
[module]
name = "lighting"
version = "1.0.0"

[table.fixtures.fields.name]
type = "string"

[table.cues.fields.name]
type = "string"

[edge.mounted_at]
display_name = "Mounted At"
source_table = "lighting.fixtures"
target_description = "Position or location"
ordered = false
properties = { unit_number = "string", circuit = "string" }

[edge.in_cue_list]
display_name = "In Cue List"
source_table = "lighting.cues"
ordered = true
properties = { call_text = "string", timing_override = "number" }
"#,
        None,
    );
    assert_eq!(
        lighting.edge_types.iter().map(|edge| edge.name.as_str()).collect::<Vec<_>>(),
        ["mounted_at", "in_cue_list"]
    );
    let mounted_at = lighting.edge_type("mounted_at").expect("mounted_at");
    assert_eq!(mounted_at.display_name.as_deref(), Some("Mounted At"));
    assert_eq!(mounted_at.source_tables, ["lighting.fixtures"]);
    assert!(!mounted_at.ordered);
    assert_eq!(
        mounted_at.properties,
        [("unit_number".to_owned(), FieldType::String), ("circuit".to_owned(), FieldType::String)]
    );
    assert!(lighting.edge_type("in_cue_list").is_some_and(|edge| edge.ordered));
}

#[test]
fn minimal_and_local_only_manifests() {
    let minimal = parse(
        r#"
[module]
name = "contacts"
version = "1.0.0"
display_name = "Contacts"
description = "Contact management for production teams"
author = "Openprod Community"
"#,
        None,
    );
    assert!(minimal.tables.is_empty() && minimal.edge_types.is_empty());
    assert!(!minimal.local_only);

    let notes = parse("[module]\nname = \"my_notes\"\nversion = \"0.10.3\"\nlocal_only = true\n", None);
    assert!(notes.local_only);
    assert_eq!(notes.version, ModuleVersion { major: 0, minor: 10, patch: 3 });
    assert!(notes.version > ModuleVersion { major: 0, minor: 9, patch: 12 }, "versions compare as numbers");
}

#[test]
fn declaration_order_is_the_order_in_the_file() {
    let module = parse(
        r#"
[module]
name = "ordering"
version = "1.0.0"

[table.zebra.fields.zulu]
type = "string"

[table.alpha]
display_name = "Alpha"

[table.alpha.fields.yankee]
type = "string"

[table.alpha.fields.xray]
type = "string"

[table.alpha.fields.whiskey]
type = "string"

[table.middle.fields]
victor = { type = "number" }
uniform = { type = "number" }

[edge.second_edge]
[edge.first_edge]
"#,
        None,
    );
    let tables: Vec<_> = module.tables.iter().map(|table| table.name.as_str()).collect();
    assert_eq!(tables, ["zebra", "alpha", "middle"]);
    assert_eq!(module.table("alpha").map(field_names), Some(vec!["yankee", "xray", "whiskey"]));
    assert_eq!(module.table("middle").map(field_names), Some(vec!["victor", "uniform"]));
    let edges: Vec<_> = module.edge_types.iter().map(|edge| edge.name.as_str()).collect();
    assert_eq!(edges, ["second_edge", "first_edge"]);
}

#[test]
fn schema_file_declarations_take_precedence_over_the_manifests() {
    let manifest = r#"
[module]
name = "lighting"
version = "1.0.0"

[table.old_cues.fields.cue_number]
type = "no such type, and never read"

[edge.old_edge]
[edge.manifest_edge]
"#;
    let only_tables = parse(manifest, Some("[table.cues.fields.cue_number]\ntype = \"number\"\n"));
    assert_eq!(only_tables.tables.iter().map(|table| table.name.as_str()).collect::<Vec<_>>(), ["cues"]);
    assert_eq!(only_tables.edge_types.len(), 2, "edges still come from the manifest");

    let both = parse(manifest, Some("[table.cues]\n[edge.schema_edge]\n"));
    assert_eq!(both.edge_types.iter().map(|edge| edge.name.as_str()).collect::<Vec<_>>(), ["schema_edge"]);

    let empty_schema_file = problems(manifest, Some("# nothing yet\n"));
    assert_eq!(
        empty_schema_file,
        [
            "test/manifest.toml:7:8: field 'cue_number' in table 'old_cues' has unknown type 'no such type, and never read' \
          (expected string, number, boolean, timestamp or blob)"
        ]
    );
}
