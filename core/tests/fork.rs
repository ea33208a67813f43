//! Forking (`spec/workspace.md`, Workspace Forks): any member copies a
//! workspace as it stands into a new one that has none of its history, is
//! owned by the member who made the copy, and shows exactly what the
//! original shows.

#[allow(dead_code)]
#[path = "workspace/support.rs"]
mod support;

use std::collections::BTreeSet;

use openprod_core::bundle::Hash;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::ids::EntityId;
use openprod_core::op::OpPayload;
use openprod_core::state::{ForkRecord, State};
use openprod_core::value::Value;
use openprod_core::workspace::{Fork, ITEMS_PER_FORK_BUNDLE, Workspace};

use support::*;

/// The records of [`a_show_with_everything`] that the checks look at.
struct Cast {
    /// In conflict: Jane and Alex gave different roles at the same time.
    horatio: EntityId,
    /// In contacts and attendees, renamed through the mapped attendee name.
    john: EntityId,
    deleted: EntityId,
    merge_survivor: EntityId,
    merged_away: EntityId,
}

/// Jane's show, synced with Alex: two modules' tables, a confirmed mapping,
/// a table link, a field in conflict, a cleared field that has a default, a
/// deleted record, two records merged, and a relationship with properties.
fn a_show_with_everything() -> (Show, Cast) {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    show.map_names(JANE);
    show.edit(JANE, |change| change.link_tables(&contacts(), &attendees()));
    let (cast, _) = show.edit(JANE, |change| {
        let horatio =
            change.create_record(&contacts(), &[("full_name", text("Horatio")), ("phone", text("555-0101"))])?;
        let john = change.create_record(&contacts(), &[("full_name", text("John"))])?;
        change.add_to_table(john, &attendees())?;
        let opening = change.create_record(&events(), &[("title", text("Opening night"))])?;
        let usher = change.create_edge(&attends(), john, opening, &[("role", text("Usher"))])?;
        change.set_edge_property(usher, "confirmed", Some(Value::Boolean(true)))?;
        let deleted = change.create_record(&contacts(), &[("full_name", text("Rosencrantz"))])?;
        let first = change.create_record(&contacts(), &[("full_name", text("Guildenstern"))])?;
        let second =
            change.create_record(&contacts(), &[("email", text("g@example.org")), ("full_name", text("G."))])?;
        let merge_survivor = first.min(second);
        let merged_away = first.max(second);
        Ok(Cast { horatio, john, deleted, merge_survivor, merged_away })
    });
    show.edit(JANE, |change| {
        change.set_field(cast.john, &attendees(), "attendee_name", text("Johnny"))?;
        change.clear_field(cast.horatio, &contacts(), "phone")?;
        change.clear_field(cast.horatio, &contacts(), "is_active")?;
        change.delete_record(cast.deleted)?;
        change.merge_records(cast.merge_survivor, cast.merged_away)
    });
    show.sync(JANE, ALEX);
    show.edit(JANE, |change| change.set_field(cast.horatio, &contacts(), "role", text("Stage Manager")));
    show.edit(ALEX, |change| change.set_field(cast.horatio, &contacts(), "role", text("ASM")));
    show.sync(JANE, ALEX);
    assert!(!show.state(JANE).open_conflicts().is_empty(), "the show has a conflict to copy");
    (show, cast)
}

/// `device` copies the show under a new name; the original records the copy.
fn fork(show: &mut Show, device: usize, name: &str) -> Fork {
    let now = show.tick();
    let owner_name = show.state(device).display_name(&actor(device)).expect("a member").to_owned();
    let fork = show.ws(device).fork(name, &owner_name, now, &mut SeededEntropy::new(77));
    let new_workspace = fork.workspace.id();
    show.edit(device, |change| {
        change.record_fork(new_workspace);
        Ok(())
    });
    fork
}

/// Everything a person can see of `original` is the same in `copy`: the
/// tables and their records, each field's value (through every storage key
/// written, mapped or not), the relationships and their properties, the
/// mappings, the table links and the modules.
fn assert_shows_the_same(original: &State, copy: &State) {
    let modules = |state: &State| -> Vec<(String, String)> {
        state.modules().map(|module| (module.manifest.name.clone(), module.manifest.version.to_string())).collect()
    };
    assert_eq!(modules(copy), modules(original), "modules");
    let tables = |state: &State| -> Vec<_> { state.tables().into_iter().map(|(table, _)| table).collect() };
    assert_eq!(tables(copy), tables(original), "tables");
    for source in tables(original) {
        for target in tables(original) {
            assert_eq!(
                copy.tables_linked(&source, &target),
                original.tables_linked(&source, &target),
                "{source} → {target}"
            );
        }
    }
    let mappings = |state: &State| -> Vec<_> {
        state.mappings().map(|mapping| (mapping.shared_key.clone(), mapping.fields.clone())).collect()
    };
    assert_eq!(mappings(copy), mappings(original), "confirmed mappings");

    assert_eq!(copy.live_entities().collect::<Vec<_>>(), original.live_entities().collect::<Vec<_>>(), "live records");
    for table in tables(original) {
        assert_eq!(copy.records(&table), original.records(&table), "records of {table}");
        for entity in original.records(&table) {
            let row = |state: &State| -> Vec<_> {
                state.row(entity, &table).into_iter().map(|(name, field)| (name, field.value)).collect()
            };
            assert_eq!(row(copy), row(original), "{entity} as a row of {table}");
        }
    }
    for entity in original.live_entities() {
        assert_eq!(copy.tables_of(entity), original.tables_of(entity), "tables of {entity}");
        for key in original.written_fields(entity) {
            assert_eq!(copy.field(entity, &key).value, original.field(entity, &key).value, "{entity} {key}");
        }
        assert_eq!(copy.edges_of(entity), original.edges_of(entity), "relationships of {entity}");
        for edge in original.edges_of(entity) {
            assert_eq!(copy.edge_properties(edge.id), original.edge_properties(edge.id));
            for property in original.edge_properties(edge.id) {
                assert_eq!(
                    copy.edge_property(edge.id, &property).value,
                    original.edge_property(edge.id, &property).value,
                    "{property} of {}",
                    edge.id
                );
            }
        }
    }
}

fn bundle_hashes(workspace: &Workspace) -> BTreeSet<Hash> {
    workspace.log().bundles().map(|bundle| bundle.hash()).collect()
}

#[test]
fn a_fork_shows_what_the_original_shows_without_its_history_conflicts_or_members() {
    let (mut show, cast) = a_show_with_everything();
    let source = show.ws(JANE).id();
    let clock_when_copied = show.ws(JANE).clock().current();
    let fork = fork(&mut show, JANE, "Hamlet (copy)");
    let copy = fork.workspace.state();
    let original = show.state(JANE);

    assert_eq!(original.edges_of(cast.john).len(), 1, "the original has a relationship to copy");
    assert_ne!(fork.workspace.id(), source);
    assert_eq!(copy.workspace_name(), Some("Hamlet (copy)"));
    assert_shows_the_same(original, copy);
    let role = key("contacts", "role");
    assert!(original.field(cast.horatio, &role).is_conflicted());
    assert!(copy.conflicts().is_empty(), "a conflicted field takes the value it shows: {:?}", copy.conflicts());
    assert_eq!(copy.field(cast.john, &attendee_name()).value, Some(text("Johnny")));
    assert_eq!(
        (copy.field_unmapped(cast.john, &attendee_name()).value, copy.field_unmapped(cast.john, &full_name()).value),
        (Some(text("Johnny")), None),
        "a mapped field's value is written once, under the key that held it"
    );
    assert_eq!(
        copy.field(cast.horatio, &key("contacts", "is_active")).value,
        None,
        "a cleared field gets no default back"
    );
    assert_eq!(copy.created(cast.deleted), None, "deleted records are not copied");
    assert_eq!(copy.created(cast.merged_away), None, "merged-away records are not copied");
    assert_eq!(copy.merged_into(cast.merged_away), None);
    assert!(copy.entity_exists(cast.merge_survivor));
    assert_eq!(copy.field(cast.merge_survivor, &key("contacts", "email")).value, Some(text("g@example.org")));

    let jane = actor(JANE);
    assert!(bundle_hashes(&fork.workspace).is_disjoint(&bundle_hashes(show.ws(JANE))), "no bundle of the original");
    assert!(fork.workspace.log().bundles().all(|bundle| bundle.header.author == jane));
    assert_eq!(copy.owner(), Some(jane));
    assert_eq!(copy.roster().map(|entry| entry.actor).collect::<Vec<_>>(), vec![jane], "only the forker");
    assert_eq!(copy.forked_from(), Some(ForkRecord { workspace: source, by: jane, at: clock_when_copied }));
    assert!(fork.recovery_key.matches(&copy.recovery_verifier().expect("a recovery key")));
    assert!(!fork.workspace.can_undo(), "the copy is where the workspace starts, not an edit");

    let forks = show.state(JANE).forks();
    assert_eq!(forks.len(), 1);
    assert_eq!((forks[0].workspace, forks[0].by), (fork.workspace.id(), jane));
    assert!(forks[0].at > clock_when_copied);
    show.sync(JANE, ALEX);
    assert_eq!(show.state(ALEX).forks(), forks, "the audit trail reaches the other members");
}

#[test]
fn a_member_who_is_not_the_owner_can_fork_and_owns_the_copy() {
    let (mut show, _) = a_show_with_everything();
    let alex = actor(ALEX);
    assert!(!show.state(ALEX).is_owner(&alex));
    let fork = fork(&mut show, ALEX, "Hamlet (Alex's)");
    let copy = fork.workspace.state();

    assert_shows_the_same(show.state(ALEX), copy);
    assert_eq!(copy.owner(), Some(alex));
    assert_eq!(
        copy.roster().map(|entry| (entry.actor, entry.display_name.as_str())).collect::<Vec<_>>(),
        vec![(alex, "Alex")]
    );
    assert!(fork.recovery_key.matches(&copy.recovery_verifier().expect("the new owner's recovery key")));
    show.sync(JANE, ALEX);
    assert_eq!(
        show.state(JANE).forks().iter().map(|record| (record.workspace, record.by)).collect::<Vec<_>>(),
        vec![(fork.workspace.id(), alex)]
    );
}

#[test]
fn a_fork_reopens_from_its_bundles_to_the_same_state() {
    let (mut show, _) = a_show_with_everything();
    let fork = fork(&mut show, JANE, "Hamlet (copy)");
    let (reopened, report) =
        Workspace::open(fork.workspace.id(), identity(JANE), fork.bundles.clone(), show.now, ClockConfig::default());
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(reopened.log().len(), fork.bundles.len());
    assert_eq!(reopened.state().state_hash(), fork.workspace.state().state_hash());
}

#[test]
fn a_large_workspace_is_copied_in_bundles_of_bounded_size() {
    let mut show = Show::new();
    let people = 2 * ITEMS_PER_FORK_BUNDLE + 500;
    show.edit(JANE, |change| {
        for person in 0..people {
            change.create_record(&contacts(), &[("full_name", text(&format!("Person {person}")))])?;
        }
        Ok(())
    });
    let fork = fork(&mut show, JANE, "Hamlet (copy)");

    let records_per_bundle: Vec<usize> = fork
        .bundles
        .iter()
        .map(|bundle| bundle.ops.iter().filter(|op| matches!(op.payload, OpPayload::CreateEntity { .. })).count())
        .collect();
    assert_eq!(
        records_per_bundle,
        vec![0, 0, ITEMS_PER_FORK_BUNDLE, ITEMS_PER_FORK_BUNDLE, 500],
        "the first two: workspace, then structure"
    );
    // Signed together at the end, each with a signature of its own: a bundle
    // left out would still reopen, vouched for by the next one.
    for bundle in &fork.bundles {
        assert_eq!(bundle.verify(fork.workspace.id()), Ok(()), "bundle {}", bundle.header.seq);
    }
    assert_shows_the_same(show.state(JANE), fork.workspace.state());
}
