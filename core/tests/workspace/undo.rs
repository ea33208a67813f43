//! Undo and redo of one's own bundles, and when they are skipped because
//! someone else changed the same data since (`spec/operations.md`, "Undo/Redo").

use openprod_core::bundle::Bundle;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::op::{DataHandling, OpPayload};
use openprod_core::value::Value;
use openprod_core::workspace::{UndoOutcome, Workspace};

use crate::support::*;

fn applied(outcome: UndoOutcome) -> Bundle {
    match outcome {
        UndoOutcome::Applied(bundle) => bundle,
        other => panic!("expected the undo or redo to apply, got {other:?}"),
    }
}

fn skipped(outcome: UndoOutcome) -> String {
    match outcome {
        UndoOutcome::Skipped { reason } => reason,
        other => panic!("expected the undo to be skipped, got {other:?}"),
    }
}

fn role() -> openprod_core::names::FieldKey {
    key("contacts", "role")
}

#[test]
fn undoing_a_field_edit_shows_the_previous_value_and_redoing_shows_the_edit_again() {
    let mut show = Show::new();
    let (hamlet, _) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Hamlet")), ("role", text("Student"))])
    });
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));

    let undone = applied(show.undo(JANE));
    assert!(matches!(payloads(&undone).as_slice(), [OpPayload::SetField { value, .. }] if *value == text("Student")));
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("Student")));
    assert!(!show.state(JANE).field(hamlet, &role()).is_conflicted());
    assert!(show.ws(JANE).can_redo());

    applied(show.redo(JANE));
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("Prince")));
    assert!(!show.state(JANE).field(hamlet, &role()).is_conflicted());
    assert!(!show.ws(JANE).can_redo());
}

#[test]
fn undoing_a_clear_brings_the_value_back() {
    let mut show = Show::new();
    let (hamlet, _) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Hamlet")), ("role", text("Prince"))])
    });
    show.edit(JANE, |change| change.clear_field(hamlet, &contacts(), "role"));
    applied(show.undo(JANE));
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("Prince")));
}

#[test]
fn undoing_two_edits_of_one_field_in_a_row_goes_back_two_values() {
    let mut show = Show::new();
    let (hamlet, _) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Hamlet")), ("role", text("Student"))])
    });
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("King")));

    applied(show.undo(JANE));
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("Prince")));
    applied(show.undo(JANE));
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("Student")));
    assert!(!show.state(JANE).field(hamlet, &role()).is_conflicted());

    applied(show.redo(JANE));
    applied(show.redo(JANE));
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("King")));
    assert!(!show.state(JANE).field(hamlet, &role()).is_conflicted());
}

#[test]
fn undoing_an_edit_and_then_the_creation_of_the_record_deletes_it() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "full_name", text("Prince Hamlet")));
    applied(show.undo(JANE));
    assert_eq!(show.value(JANE, hamlet, &full_name()), Some(text("Hamlet")));
    applied(show.undo(JANE));
    assert!(show.state(JANE).entity_deleted(hamlet));
}

#[test]
fn undoing_a_creation_deletes_the_record_and_redoing_brings_it_back_with_its_values() {
    let mut show = Show::new();
    let horatio = show.contact(JANE, "Horatio");
    let undone = applied(show.undo(JANE));
    assert!(
        payloads(&undone)
            .iter()
            .any(|payload| matches!(payload, OpPayload::DeleteEntity { entity, .. } if *entity == horatio))
    );
    assert!(show.state(JANE).entity_deleted(horatio));
    assert!(show.state(JANE).records(&contacts()).is_empty());

    applied(show.redo(JANE));
    assert!(show.state(JANE).entity_exists(horatio));
    assert_eq!(show.value(JANE, horatio, &full_name()), Some(text("Horatio")));
    assert_eq!(show.value(JANE, horatio, &key("contacts", "is_active")), Some(Value::Boolean(true)));
}

#[test]
fn undoing_a_deletion_restores_the_record_and_the_relationships_it_took_with_it() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let funeral = show.event(JANE, "Funeral");
    let garden = show.event(JANE, "Garden");
    let (to_funeral, _) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, funeral, &[]));
    let (to_garden, _) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, garden, &[]));
    show.edit(JANE, |change| change.delete_record(ophelia));
    assert!(show.state(JANE).edges_of(ophelia).is_empty());

    let undone = applied(show.undo(JANE));
    let mut both = vec![to_funeral, to_garden];
    both.sort();
    match payloads(&undone).as_slice() {
        [OpPayload::RestoreEntity { entity, restore_edges }] => {
            assert_eq!(*entity, ophelia);
            assert_eq!(restore_edges, &both);
        }
        other => panic!("one RestoreEntity expected, got {other:?}"),
    }
    let state = show.state(JANE);
    assert!(state.entity_exists(ophelia));
    assert!(state.edge(to_funeral).is_some());
    assert!(state.edge(to_garden).is_some());
    assert_eq!(state.edges_of(ophelia).len(), 2);
}

#[test]
fn undoing_a_deletion_leaves_out_a_relationship_whose_other_record_was_deleted_since() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let ophelia = show.attendee(JANE, "Ophelia");
    let funeral = show.event(JANE, "Funeral");
    let garden = show.event(JANE, "Garden");
    let (to_funeral, _) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, funeral, &[]));
    let (to_garden, _) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, garden, &[]));
    show.edit(JANE, |change| change.delete_record(ophelia));
    show.sync(JANE, ALEX);
    show.edit(ALEX, |change| change.delete_record(garden));
    show.sync(JANE, ALEX);

    let undone = applied(show.undo(JANE));
    match payloads(&undone).as_slice() {
        [OpPayload::RestoreEntity { restore_edges, .. }] => assert_eq!(restore_edges, &vec![to_funeral]),
        other => panic!("one RestoreEntity expected, got {other:?}"),
    }
    show.sync(JANE, ALEX);
    for device in [JANE, ALEX] {
        let state = show.state(device);
        assert!(state.entity_exists(ophelia));
        assert!(state.edge(to_funeral).is_some());
        assert!(!state.edge_alive(to_garden), "device {device}");
        assert!(!state.entity_exists(garden), "undo never brings back someone else's deletion");
    }
}

#[test]
fn undo_is_skipped_when_someone_else_changed_the_field_since_and_the_stack_moves_on() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let hamlet = show.contact(JANE, "Hamlet");
    let bernardo = show.contact(JANE, "Bernardo");
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    show.sync(JANE, ALEX);
    show.edit(ALEX, |change| change.set_field(hamlet, &contacts(), "role", text("Dane")));
    show.sync(JANE, ALEX);

    let bundles = show.ws(JANE).log().len();
    let reason = skipped(show.undo(JANE));
    assert!(reason.contains("Alex"), "the reason names who changed it: {reason}");
    assert!(reason.contains("Role"), "the reason names the field: {reason}");
    assert_eq!(show.ws(JANE).log().len(), bundles, "a skipped undo makes no bundle");
    assert_eq!(show.value(JANE, hamlet, &role()), Some(text("Dane")));
    assert!(!show.ws(JANE).can_redo(), "a skipped step cannot be redone");

    // The next undo takes back the bundle before: creating Bernardo.
    applied(show.undo(JANE));
    assert!(show.state(JANE).entity_deleted(bernardo));
    assert!(show.state(JANE).entity_exists(hamlet));
}

#[test]
fn undo_is_skipped_when_someone_else_changed_the_record_since() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let hamlet = show.contact(JANE, "Hamlet");
    show.sync(JANE, ALEX);
    show.edit(ALEX, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    show.sync(JANE, ALEX);

    let reason = skipped(show.undo(JANE));
    assert!(reason.contains("Alex"), "{reason}");
    assert!(show.state(JANE).entity_exists(hamlet), "Alex's work on the record is not deleted by Jane's undo");
}

#[test]
fn a_new_edit_clears_what_could_be_redone() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    applied(show.undo(JANE));
    assert!(show.ws(JANE).can_redo());

    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "department", text("Royals")));
    assert!(!show.ws(JANE).can_redo());
    assert_eq!(show.redo(JANE), UndoOutcome::NothingToDo);
    assert_eq!(show.value(JANE, hamlet, &role()), None);
}

#[test]
fn there_is_nothing_to_undo_in_a_new_workspace_or_to_redo_before_an_undo() {
    let mut entropy = SeededEntropy::new(5);
    let (mut workspace, _) = Workspace::create(identity(JANE), "Hamlet", "Jane", NOW, &mut entropy);
    assert!(!workspace.can_undo());
    assert_eq!(workspace.undo(NOW + MINUTE), UndoOutcome::NothingToDo);
    assert_eq!(workspace.redo(NOW + MINUTE), UndoOutcome::NothingToDo);
    assert_eq!(workspace.log().len(), 1);

    let mut show = Show::new();
    show.contact(JANE, "Hamlet");
    assert_eq!(show.redo(JANE), UndoOutcome::NothingToDo);
}

#[test]
fn undoing_a_removal_that_discarded_values_brings_the_table_and_its_values_back() {
    let mut show = Show::new();
    let (horatio, _) = show.edit(JANE, |change| {
        let horatio = change.create_record(&contacts(), &[("full_name", text("Horatio"))])?;
        change.add_to_table(horatio, &attendees())?;
        change.set_field(horatio, &attendees(), "seat", number(12.0))?;
        Ok(horatio)
    });
    show.edit(JANE, |change| change.remove_from_table(horatio, &attendees(), DataHandling::Discard));
    assert_eq!(show.value(JANE, horatio, &key("scheduling", "seat")), None);

    applied(show.undo(JANE));
    assert!(show.state(JANE).in_table(horatio, &attendees()));
    assert_eq!(show.value(JANE, horatio, &key("scheduling", "seat")), Some(number(12.0)));
    assert_eq!(show.value(JANE, horatio, &key("scheduling", "rsvp")), Some(text("invited")));
}

#[test]
fn undoing_an_addition_to_a_table_takes_the_record_and_the_defaults_out_again() {
    let mut show = Show::new();
    let (cue, _) = show.edit(JANE, |change| change.create_record(&lighting_cues(), &[("cue_number", number(5.0))]));
    show.edit(JANE, |change| change.add_to_table(cue, &sm_cues()));
    applied(show.undo(JANE));
    let state = show.state(JANE);
    assert!(!state.in_table(cue, &sm_cues()));
    assert!(state.in_table(cue, &lighting_cues()));
    assert_eq!(show.value(JANE, cue, &key("sm", "call_text")), None);
}

#[test]
fn undoing_relationship_edits() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let funeral = show.event(JANE, "Funeral");
    let (edge, _) =
        show.edit(JANE, |change| change.create_edge(&attends(), ophelia, funeral, &[("role", text("Corpse"))]));
    show.edit(JANE, |change| change.set_edge_property(edge, "role", Some(text("Ophelia"))));

    applied(show.undo(JANE));
    assert_eq!(show.state(JANE).edge_property(edge, "role").value, Some(text("Corpse")));
    applied(show.undo(JANE));
    assert_eq!(show.state(JANE).edge(edge), None, "undoing the creation deletes the relationship");
    applied(show.redo(JANE));
    assert!(show.state(JANE).edge(edge).is_some());
}

#[test]
fn a_merge_is_not_undone_but_skipped_with_advice() {
    let mut show = Show::new();
    let a = show.contact(JANE, "Rosencrantz");
    let b = show.contact(JANE, "Guildenstern");
    let osric = show.contact(JANE, "Osric");
    show.edit(JANE, |change| change.merge_records(a, b));
    let reason = skipped(show.undo(JANE));
    assert!(reason.contains("split"), "{reason}");
    assert_eq!(show.state(JANE).resolve(b), a, "still merged");
    applied(show.undo(JANE));
    assert!(show.state(JANE).entity_deleted(osric), "the stack moved on to creating Osric");
}

#[test]
fn an_undo_is_a_bundle_like_any_other_and_reaches_peers() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    let undone = applied(show.undo(JANE));
    assert_eq!(undone.header.author, actor(JANE));
    assert_eq!(show.ws(JANE).log().bundles().next_back(), Some(&undone));
    show.sync(JANE, ALEX);
    assert_eq!(show.value(ALEX, hamlet, &role()), None);
    assert_eq!(show.state(ALEX).state_hash(), show.state(JANE).state_hash());
}

#[test]
fn undo_keeps_the_last_hundred_bundles() {
    let mut show = Show::new();
    let mut created = Vec::new();
    for index in 0..101 {
        created.push(show.contact(JANE, &format!("Courtier {index}")));
    }
    for _ in 0..100 {
        applied(show.undo(JANE));
    }
    assert_eq!(show.undo(JANE), UndoOutcome::NothingToDo);
    assert_eq!(show.state(JANE).records(&contacts()), vec![created[0]], "the oldest fell off the stack");
}

#[test]
fn undo_history_does_not_survive_reopening() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    assert!(show.ws(JANE).can_undo());
    let bundles = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    let (mut reopened, _) =
        Workspace::open(show.ws(JANE).id(), Identity::from_seed([1; 32]), bundles, show.now, ClockConfig::default());
    assert!(!reopened.can_undo());
    assert_eq!(reopened.undo(show.now + MINUTE), UndoOutcome::NothingToDo);
    assert_eq!(reopened.state().field(hamlet, &role()).value, Some(text("Prince")));
}
