//! Adopting modules, refusing invalid ones with located errors, and the
//! module versions each bundle records.

use openprod_core::entropy::SeededEntropy;
use openprod_core::names::TableId;
use openprod_core::op::OpPayload;
use openprod_core::workspace::{EditError, Workspace};

use crate::support::*;

const WARDROBE: &str = r#"[module]
name = "wardrobe"
version = "0.9.1"

[table.costumes.fields.piece]
type = "string"
required = true
"#;

/// Two mistakes, on lines 6 and 8.
const BROKEN: &str = r#"[module]
name = "wardrobe"
version = "1.0.0"

[table.costumes.fields.size]
type = "text"

[table.costumes.fields.colour]
required = true
"#;

fn versions(bundle: &openprod_core::bundle::Bundle) -> Vec<(&str, &str)> {
    bundle.header.module_versions.iter().map(|(module, version)| (module.as_str(), version.as_str())).collect()
}

#[test]
fn adopting_a_module_makes_its_tables_usable_on_every_device() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (name, bundle) = show.edit(JANE, |change| change.adopt_module(WARDROBE, None));
    assert_eq!(name, "wardrobe");
    assert!(
        matches!(payloads(&bundle).as_slice(), [OpPayload::AdoptModule { manifest_toml, tables_toml: None }] if manifest_toml == WARDROBE)
    );
    show.sync(JANE, ALEX);

    let costumes = TableId::new("wardrobe", "costumes");
    let adopted = show.state(ALEX).module("wardrobe").expect("adopted through sync");
    assert_eq!(adopted.manifest.version.to_string(), "0.9.1");
    assert_eq!(adopted.adopted.actor, actor(JANE));
    assert!(show.state(ALEX).table(&costumes).is_some());
    let (cloak, _) = show.edit(ALEX, |change| change.create_record(&costumes, &[("piece", text("Inky cloak"))]));
    assert_eq!(show.value(ALEX, cloak, &key("wardrobe", "piece")), Some(text("Inky cloak")));
}

#[test]
fn an_invalid_module_is_refused_with_every_mistake_located_by_file_and_line() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| change.adopt_module(BROKEN, None));
    let EditError::InvalidModule(errors) = &error else { panic!("expected InvalidModule, got {error:?}") };
    let places: Vec<_> = errors.iter().map(|error| (error.file.as_str(), error.line)).collect();
    assert_eq!(places, vec![("manifest.toml", 6), ("manifest.toml", 8)], "{errors:#?}");
    assert!(errors[0].message.contains("text"), "{}", errors[0].message);
    assert!(errors[0].to_string().starts_with("manifest.toml:6:"), "{}", errors[0]);
    assert!(errors[1].to_string().starts_with("manifest.toml:8:"), "{}", errors[1]);
    let shown = error.to_string();
    assert!(shown.contains("manifest.toml:6:") && shown.contains("manifest.toml:8:"), "{shown}");
    assert!(show.state(JANE).module("wardrobe").is_none());
}

#[test]
fn a_module_may_not_take_the_engine_s_reserved_name() {
    let mut show = Show::new();
    let core = WARDROBE.replace("name = \"wardrobe\"", "name = \"core\"");
    let error = show.refuse(JANE, |change| change.adopt_module(&core, None));
    match error {
        EditError::InvalidModule(errors) => {
            assert!(errors.iter().any(|error| error.message.contains("reserved") && error.line == 2), "{errors:#?}");
        }
        other => panic!("expected the reserved name to be refused, got {other:?}"),
    }
}

#[test]
fn a_module_s_tables_may_come_from_its_schema_file() {
    let mut entropy = SeededEntropy::new(3);
    let (mut workspace, _) = Workspace::create(identity(JANE), "Hamlet", "Jane", NOW, &mut entropy);
    let manifest = "[module]\nname = \"props\"\nversion = \"1.0.0\"\n";
    let tables = "[table.props.fields.item]\ntype = \"string\"\n";
    let mut change = workspace.change(NOW + MINUTE, &mut entropy);
    change.adopt_module(manifest, Some(tables)).unwrap();
    change.commit().unwrap();
    assert!(workspace.state().table(&TableId::new("props", "props")).is_some());

    let mut change = workspace.change(NOW + 2 * MINUTE, &mut entropy);
    let error = change.adopt_module(manifest, Some("[table.props.fields.item]\ntype = 3\n")).unwrap_err();
    let EditError::InvalidModule(errors) = error else { panic!("expected InvalidModule") };
    assert_eq!((errors[0].file.as_str(), errors[0].line), ("schema/tables.toml", 2), "{errors:#?}");
}

#[test]
fn a_bundle_records_the_versions_of_the_modules_its_operations_use() {
    let mut show = Show::new();
    let (hamlet, created) =
        show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Hamlet"))]));
    assert_eq!(versions(&created), vec![("contacts", "1.0.0")]);

    let (_, several) = show.edit(JANE, |change| {
        let cue = change.create_record(&lighting_cues(), &[("cue_number", number(1.0))])?;
        change.add_to_table(cue, &sm_cues())?;
        change.set_field(hamlet, &contacts(), "role", text("Prince"))
    });
    assert_eq!(versions(&several), vec![("contacts", "1.0.0"), ("lighting", "2.1.0"), ("sm", "0.3.0")]);

    let (_, mapped) =
        show.edit(JANE, |change| change.confirm_mapping("name", &[full_name(), key("lighting", "label")]));
    assert_eq!(versions(&mapped), vec![("contacts", "1.0.0"), ("lighting", "2.1.0")]);

    let ((), deleted) = show.edit(JANE, |change| change.delete_record(hamlet));
    assert!(versions(&deleted).is_empty(), "a deletion uses no module's schema");
}

#[test]
fn a_bundle_setting_a_relationship_property_records_the_version_of_the_module_declaring_it() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let funeral = show.event(JANE, "Funeral");
    let (edge, created) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, funeral, &[]));
    assert_eq!(versions(&created), vec![("scheduling", "1.2.0")]);
    let ((), set) = show.edit(JANE, |change| change.set_edge_property(edge, "role", Some(text("Mourner"))));
    assert_eq!(versions(&set), vec![("scheduling", "1.2.0")], "the property's type comes from scheduling's schema");
}

#[test]
fn a_newer_version_adopted_on_another_device_is_recorded_in_this_device_s_next_bundle() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (hamlet, before) =
        show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Hamlet"))]));
    let newer = CONTACTS_MANIFEST.replace("version = \"1.0.0\"", "version = \"1.1.0\"");
    show.edit(ALEX, |change| change.adopt_module(&newer, None));
    show.sync(ALEX, JANE);
    // Jane's device signed nothing in between: the same module, a new version.
    let ((), after) = show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    assert_eq!(versions(&before), vec![("contacts", "1.0.0")]);
    assert_eq!(versions(&after), vec![("contacts", "1.1.0")]);
}

#[test]
fn bundles_after_a_newer_version_is_adopted_record_the_newer_version() {
    let mut show = Show::new();
    let (_, before) = show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Hamlet"))]));
    let newer = CONTACTS_MANIFEST.replace("version = \"1.0.0\"", "version = \"1.1.0\"");
    show.edit(JANE, |change| change.adopt_module(&newer, None));
    assert_eq!(show.state(JANE).module("contacts").unwrap().manifest.version.to_string(), "1.1.0");
    let (_, after) = show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Horatio"))]));
    assert_eq!(versions(&before), vec![("contacts", "1.0.0")]);
    assert_eq!(versions(&after), vec![("contacts", "1.1.0")]);
}
