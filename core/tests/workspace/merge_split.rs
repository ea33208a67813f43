//! Identity repair: merging two records into one and splitting one into two
//! (`spec/data-model.md`, "Identity Repair").

use openprod_core::ids::EntityId;
use openprod_core::op::{DataHandling, OpPayload};
use openprod_core::workspace::EditError;

use crate::support::*;

/// Two contacts, created one minute apart (so the first has the smaller id).
fn two_contacts(show: &mut Show, first: &str, second: &str) -> (EntityId, EntityId) {
    let a = show.contact(JANE, first);
    let b = show.contact(JANE, second);
    assert!(a < b, "UUIDv7 ids sort by creation time");
    (a, b)
}

// ----- merge -----

#[test]
fn the_survivor_of_a_merge_is_the_smaller_id_whichever_record_is_named_first() {
    let mut forwards = Show::new();
    let (a, b) = two_contacts(&mut forwards, "Rosencrantz", "Guildenstern");
    let (survivor, _) = forwards.edit(JANE, |change| change.merge_records(a, b));
    assert_eq!(survivor, a);

    let mut backwards = Show::new();
    let (same_a, same_b) = two_contacts(&mut backwards, "Rosencrantz", "Guildenstern");
    assert_eq!((same_a, same_b), (a, b), "same seeds, same ids");
    let (survivor, _) = backwards.edit(JANE, |change| change.merge_records(b, a));
    assert_eq!(survivor, a);

    for show in [&forwards, &backwards] {
        assert_eq!(show.state(JANE).merged_into(b), Some(a));
        assert_eq!(show.state(JANE).merged_into(a), None);
    }
    assert_eq!(forwards.state(JANE).state_hash(), backwards.state(JANE).state_hash());
}

#[test]
fn a_merged_away_id_resolves_to_the_survivor_which_is_in_both_records_tables() {
    let mut show = Show::new();
    let john = show.contact(JANE, "John Smith");
    let (attendee, _) = show.edit(JANE, |change| {
        change.create_record(&attendees(), &[("attendee_name", text("J. Smith")), ("seat", number(4.0))])
    });
    let ((), bundle) = show.edit(JANE, |change| change.merge_records(attendee, john).map(|_| ()));
    assert!(matches!(
        payloads(&bundle).as_slice(),
        [OpPayload::MergeEntities { first, second }] if (*first, *second) == (attendee, john)
    ));

    let state = show.state(JANE);
    assert_eq!(state.resolve(attendee), john);
    assert_eq!(state.resolve(john), john);
    assert!(state.entity_exists(attendee), "queries through the old id still find the record");
    assert_eq!(state.tables_of(john), vec![contacts(), attendees()]);
    assert_eq!(state.records(&contacts()), vec![john]);
    assert_eq!(state.records(&attendees()), vec![john], "the survivor is listed, once");
    assert_eq!(show.value(JANE, john, &key("scheduling", "seat")), Some(number(4.0)));
    assert_eq!(show.value(JANE, attendee, &full_name()), Some(text("John Smith")));
    assert!(state.live_entities().all(|entity| entity != attendee));
}

#[test]
fn every_later_edit_of_a_merged_away_record_is_refused_and_names_the_survivor() {
    let mut show = Show::new();
    let (survivor, absorbed) = two_contacts(&mut show, "Rosencrantz", "Guildenstern");
    let other = show.contact(JANE, "Osric");
    let event = show.event(JANE, "Voyage to England");
    show.edit(JANE, |change| change.merge_records(survivor, absorbed));
    let merged = EditError::MergedInto { entity: absorbed, survivor };

    assert_eq!(show.refuse(JANE, |change| change.set_field(absorbed, &contacts(), "role", text("Spy"))), merged);
    assert_eq!(show.refuse(JANE, |change| change.clear_field(absorbed, &contacts(), "role")), merged);
    assert_eq!(show.refuse(JANE, |change| change.delete_record(absorbed)), merged);
    assert_eq!(show.refuse(JANE, |change| change.add_to_table(absorbed, &attendees())), merged);
    assert_eq!(
        show.refuse(JANE, |change| change.remove_from_table(absorbed, &contacts(), DataHandling::Preserve)),
        merged
    );
    assert_eq!(show.refuse(JANE, |change| change.create_edge(&attends(), absorbed, event, &[])), merged);
    assert_eq!(show.refuse(JANE, |change| change.merge_records(other, absorbed)), merged);
    assert_eq!(show.refuse(JANE, |change| change.split_record(absorbed, &[contacts()], &[])), merged);

    // The survivor takes edits as usual.
    show.edit(JANE, |change| change.set_field(survivor, &contacts(), "role", text("Courtier")));
}

#[test]
fn merging_a_record_with_itself_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.merge_records(hamlet, hamlet));
    assert_eq!(error, EditError::SameRecord(hamlet));
}

#[test]
fn merging_a_deleted_record_is_refused() {
    let mut show = Show::new();
    let (a, b) = two_contacts(&mut show, "Hamlet", "Hamlet");
    show.edit(JANE, |change| change.delete_record(b));
    let error = show.refuse(JANE, |change| change.merge_records(a, b));
    assert_eq!(error, EditError::RecordDeleted(b));
}

#[test]
fn chains_of_merges_resolve_transitively() {
    let mut show = Show::new();
    let (first, second) = two_contacts(&mut show, "Fortinbras", "Fortinbras, Prince");
    let third = show.contact(JANE, "Young Fortinbras");
    assert!(second < third);

    show.edit(JANE, |change| change.merge_records(third, second));
    assert_eq!(show.state(JANE).resolve(third), second);
    show.edit(JANE, |change| change.merge_records(second, first));

    let state = show.state(JANE);
    assert_eq!(state.resolve(third), first, "third → second → first");
    assert_eq!(state.merged_into(third), Some(first));
    assert_eq!(state.records(&contacts()), vec![first]);
    let error = show.refuse(JANE, |change| change.set_field(third, &contacts(), "role", text("King of Norway")));
    assert_eq!(error, EditError::MergedInto { entity: third, survivor: first });
}

#[test]
fn chained_merges_made_apart_resolve_transitively_after_sync() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (first, second) = two_contacts(&mut show, "Fortinbras", "Fortinbras, Prince");
    let third = show.contact(JANE, "Young Fortinbras");
    show.sync(JANE, ALEX);

    show.edit(JANE, |change| change.merge_records(first, second));
    show.edit(ALEX, |change| change.merge_records(second, third));
    assert_eq!(show.state(ALEX).resolve(third), second, "before sync");
    show.sync(JANE, ALEX);

    for device in [JANE, ALEX] {
        let state = show.state(device);
        assert_eq!(state.resolve(second), first, "device {device}");
        assert_eq!(state.resolve(third), first, "device {device}");
        assert_eq!(state.records(&contacts()), vec![first]);
    }
    assert_eq!(show.state(JANE).state_hash(), show.state(ALEX).state_hash());
}

#[test]
fn merging_records_that_both_have_a_value_turns_the_field_into_a_conflict() {
    let mut show = Show::new();
    let (john, smith) = two_contacts(&mut show, "John Smith", "J. Smith");
    show.edit(JANE, |change| change.set_field(john, &contacts(), "email", text("john@example.org")));
    show.edit(JANE, |change| change.merge_records(john, smith));

    let name = show.state(JANE).field(john, &full_name());
    assert!(name.is_conflicted());
    let competing: Vec<_> = name.heads.iter().map(|write| write.value.clone()).collect();
    assert_eq!(competing, vec![Some(text("John Smith")), Some(text("J. Smith"))]);
    assert_eq!(name.value, Some(text("J. Smith")), "the last writer shows until someone decides");
    let email = show.state(JANE).field(john, &key("contacts", "email"));
    assert!(!email.is_conflicted(), "only one of them had an email");
    assert_eq!(email.value, Some(text("john@example.org")));
}

#[test]
fn edits_made_to_a_record_before_a_peer_merged_it_away_land_on_the_survivor() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (survivor, absorbed) = two_contacts(&mut show, "Reynaldo", "Reynaldo (servant)");
    show.sync(JANE, ALEX);
    show.edit(ALEX, |change| change.set_field(absorbed, &contacts(), "role", text("Servant to Polonius")));
    show.edit(JANE, |change| change.merge_records(survivor, absorbed));
    show.sync(JANE, ALEX);

    for device in [JANE, ALEX] {
        assert_eq!(show.value(device, survivor, &key("contacts", "role")), Some(text("Servant to Polonius")));
    }
}

#[test]
fn relationships_of_a_merged_away_record_move_to_the_survivor() {
    let mut show = Show::new();
    let john = show.attendee(JANE, "John Smith");
    let smith = show.attendee(JANE, "J. Smith");
    let rehearsal = show.event(JANE, "Rehearsal");
    let (edge, _) = show.edit(JANE, |change| change.create_edge(&attends(), smith, rehearsal, &[]));
    show.edit(JANE, |change| change.merge_records(john, smith));

    let edges = show.state(JANE).edges_of(john);
    assert_eq!(edges.len(), 1);
    assert_eq!((edges[0].id, edges[0].source, edges[0].target), (edge, john, rehearsal));
    assert_eq!(show.state(JANE).edge(edge).map(|view| view.source), Some(john));
}

// ----- split -----

#[test]
fn splitting_moves_the_chosen_tables_to_a_new_record_with_copies_of_the_chosen_fields() {
    let mut show = Show::new();
    let (hamlet, _) = show.edit(JANE, |change| {
        let hamlet = change.create_record(&contacts(), &[("full_name", text("Hamlet")), ("role", text("Prince"))])?;
        change.add_to_table(hamlet, &attendees())?;
        change.set_field(hamlet, &attendees(), "attendee_name", text("King Hamlet"))?;
        change.set_field(hamlet, &attendees(), "seat", number(1.0))?;
        Ok(hamlet)
    });

    let (ghost, bundle) = show.edit(JANE, |change| {
        change.split_record(hamlet, &[attendees()], &[attendee_name(), key("scheduling", "seat")])
    });

    match payloads(&bundle).as_slice() {
        [OpPayload::SplitEntity { source, into, tables }, ..] => {
            assert_eq!((*source, *into, tables), (hamlet, ghost, &vec![attendees()]));
        }
        other => panic!("SplitEntity expected first, got {other:?}"),
    }
    assert_eq!(written_keys(&bundle), ["scheduling.attendee_name", "scheduling.seat"]);

    let state = show.state(JANE);
    assert_ne!(ghost, hamlet);
    assert!(state.entity_exists(ghost));
    assert_eq!(state.tables_of(hamlet), vec![contacts()]);
    assert_eq!(state.tables_of(ghost), vec![attendees()]);
    assert_eq!(state.records(&attendees()), vec![ghost]);
    assert_eq!(state.records(&contacts()), vec![hamlet]);
    assert_eq!(show.value(JANE, ghost, &attendee_name()), Some(text("King Hamlet")));
    assert_eq!(show.value(JANE, ghost, &key("scheduling", "seat")), Some(number(1.0)));
    assert_eq!(show.value(JANE, ghost, &key("scheduling", "rsvp")), None, "not chosen, not copied");
    assert_eq!(show.value(JANE, ghost, &full_name()), None);
    assert_eq!(show.value(JANE, hamlet, &full_name()), Some(text("Hamlet")), "the source keeps its values");
    assert_eq!(show.value(JANE, hamlet, &key("contacts", "role")), Some(text("Prince")));
}

#[test]
fn splitting_a_merged_record_gives_the_absorbed_tables_a_record_of_their_own() {
    let mut show = Show::new();
    let john = show.contact(JANE, "John Smith");
    let smith = show.attendee(JANE, "J. Smith");
    show.edit(JANE, |change| change.merge_records(john, smith));
    let (split_off, _) = show.edit(JANE, |change| change.split_record(john, &[attendees()], &[attendee_name()]));

    let state = show.state(JANE);
    assert_eq!(state.tables_of(john), vec![contacts()]);
    assert_eq!(state.tables_of(split_off), vec![attendees()]);
    assert_eq!(state.records(&attendees()), vec![split_off]);
    assert_eq!(state.resolve(smith), john, "a split does not undo the merge record of ids");
}

#[test]
fn splitting_without_a_table_for_the_new_record_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.split_record(hamlet, &[], &[full_name()]));
    assert_eq!(error, EditError::SplitNeedsTables);
}

#[test]
fn splitting_off_a_table_the_record_is_not_in_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.split_record(hamlet, &[attendees()], &[]));
    assert_eq!(error, EditError::NotInTable { entity: hamlet, table: attendees() });
}

#[test]
fn splitting_a_deleted_record_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    let error = show.refuse(JANE, |change| change.split_record(hamlet, &[contacts()], &[]));
    assert_eq!(error, EditError::RecordDeleted(hamlet));
}
