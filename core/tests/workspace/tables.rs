//! Table membership: adding a record to a table, removing it (keeping or
//! discarding the table's values), restoring a removed table, and linking
//! tables.

use openprod_core::ids::OpId;
use openprod_core::op::{DataHandling, OpPayload};
use openprod_core::value::Value;
use openprod_core::workspace::EditError;

use crate::support::*;

fn removal_of(bundle: &openprod_core::bundle::Bundle) -> OpId {
    op_id_where(bundle, |payload| matches!(payload, OpPayload::RemoveFromTable { .. }))
}

// ----- add_to_table -----

#[test]
fn adding_a_record_to_a_table_attaches_it_with_the_table_defaults() {
    let mut show = Show::new();
    let (cue, _) = show.edit(JANE, |change| change.create_record(&lighting_cues(), &[("cue_number", number(11.0))]));
    let ((), bundle) = show.edit(JANE, |change| change.add_to_table(cue, &sm_cues()));

    assert!(
        matches!(bundle.ops[0].payload, OpPayload::AddToTable { entity, ref table } if entity == cue && *table == sm_cues())
    );
    assert_eq!(written_keys(&bundle), ["sm.call_text", "sm.standby"]);
    let state = show.state(JANE);
    assert_eq!(state.tables_of(cue), vec![lighting_cues(), sm_cues()]);
    assert!(state.in_table(cue, &sm_cues()));
    assert_eq!(state.records(&sm_cues()), vec![cue]);
    assert_eq!(show.value(JANE, cue, &key("sm", "call_text")), Some(text("GO")));
    assert_eq!(show.value(JANE, cue, &key("sm", "standby")), Some(Value::Boolean(false)));
    assert_eq!(show.value(JANE, cue, &key("lighting", "cue_number")), Some(number(11.0)), "the record is the same one");
}

#[test]
fn adding_a_record_back_to_a_table_writes_defaults_only_for_fields_without_a_value() {
    let mut show = Show::new();
    let (cue, _) = show.edit(JANE, |change| change.create_record(&lighting_cues(), &[("cue_number", number(11.0))]));
    show.edit(JANE, |change| {
        change.add_to_table(cue, &sm_cues())?;
        change.set_field(cue, &sm_cues(), "call_text", text("Standby lights"))
    });
    show.edit(JANE, |change| change.remove_from_table(cue, &sm_cues(), DataHandling::Preserve));

    let ((), bundle) = show.edit(JANE, |change| change.add_to_table(cue, &sm_cues()));
    assert_eq!(payloads(&bundle).len(), 1, "every field of the table still has a value: {:?}", payloads(&bundle));
    assert_eq!(show.value(JANE, cue, &key("sm", "call_text")), Some(text("Standby lights")));
}

#[test]
fn adding_a_record_to_a_table_it_is_in_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.add_to_table(hamlet, &contacts()));
    assert_eq!(error, EditError::AlreadyInTable { entity: hamlet, table: contacts() });
}

#[test]
fn adding_a_record_to_an_unknown_table_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let crew = openprod_core::names::TableId::new("wardrobe", "fittings");
    let error = show.refuse(JANE, |change| change.add_to_table(hamlet, &crew));
    assert_eq!(error, EditError::UnknownTable(crew));
}

#[test]
fn adding_a_deleted_record_to_a_table_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    let error = show.refuse(JANE, |change| change.add_to_table(hamlet, &attendees()));
    assert_eq!(error, EditError::RecordDeleted(hamlet));
}

// ----- remove_from_table -----

#[test]
fn removing_a_record_from_a_table_and_preserving_keeps_its_values_for_restoring() {
    let mut show = Show::new();
    let (horatio, _) = show.edit(JANE, |change| {
        let horatio = change.create_record(&contacts(), &[("full_name", text("Horatio"))])?;
        change.add_to_table(horatio, &attendees())?;
        change.set_field(horatio, &attendees(), "seat", number(7.0))?;
        change.set_field(horatio, &attendees(), "rsvp", text("yes"))?;
        Ok(horatio)
    });

    let ((), removed) =
        show.edit(JANE, |change| change.remove_from_table(horatio, &attendees(), DataHandling::Preserve));
    match payloads(&removed).as_slice() {
        [OpPayload::RemoveFromTable { entity, table, handling }] => {
            assert_eq!((*entity, table, *handling), (horatio, &attendees(), DataHandling::Preserve));
        }
        other => panic!("one RemoveFromTable expected, got {other:?}"),
    }
    let state = show.state(JANE);
    assert!(!state.in_table(horatio, &attendees()));
    assert!(state.records(&attendees()).is_empty());
    assert_eq!(state.tables_of(horatio), vec![contacts()]);
    assert!(state.entity_exists(horatio));
    assert_eq!(show.value(JANE, horatio, &key("scheduling", "seat")), Some(number(7.0)), "kept, hidden");

    let removal = removal_of(&removed);
    show.edit(JANE, |change| change.restore_facet(horatio, &attendees(), removal));
    assert_eq!(show.state(JANE).records(&attendees()), vec![horatio]);
    assert_eq!(show.value(JANE, horatio, &key("scheduling", "seat")), Some(number(7.0)));
    assert_eq!(show.value(JANE, horatio, &key("scheduling", "rsvp")), Some(text("yes")));
}

#[test]
fn removing_a_record_from_a_table_and_discarding_clears_only_that_table_s_own_fields() {
    let mut show = Show::new();
    show.map_names(JANE);
    let (john, _) = show.edit(JANE, |change| {
        let john = change.create_record(
            &contacts(),
            &[("full_name", text("John Smith")), ("email", text("john@contacts.example"))],
        )?;
        change.add_to_table(john, &attendees())?;
        change.set_field(john, &attendees(), "email", text("john@schedule.example"))?;
        change.set_field(john, &attendees(), "seat", number(12.0))?;
        Ok(john)
    });

    let ((), removed) = show.edit(JANE, |change| change.remove_from_table(john, &attendees(), DataHandling::Discard));
    assert!(matches!(removed.ops[0].payload, OpPayload::RemoveFromTable { handling: DataHandling::Discard, .. }));
    let mut cleared = written_keys(&removed);
    cleared.sort();
    assert_eq!(cleared, ["scheduling.email", "scheduling.rsvp", "scheduling.seat"], "the mapped name is not cleared");
    assert!(removed.ops[1..].iter().all(|op| matches!(op.payload, OpPayload::ClearField { .. })));

    assert_eq!(show.state(JANE).tables_of(john), vec![contacts()]);
    for field in ["email", "rsvp", "seat"] {
        assert_eq!(show.value(JANE, john, &key("scheduling", field)), None, "scheduling.{field}");
    }
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("John Smith")), "shared with contacts: kept");
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("John Smith")));
    assert_eq!(show.value(JANE, john, &key("contacts", "email")), Some(text("john@contacts.example")));

    let removal = removal_of(&removed);
    show.edit(JANE, |change| change.restore_facet(john, &attendees(), removal));
    assert!(show.state(JANE).in_table(john, &attendees()));
    assert_eq!(show.value(JANE, john, &key("scheduling", "seat")), None, "discarded values do not come back");
}

#[test]
fn removing_a_record_from_its_last_table_deletes_it() {
    let mut show = Show::new();
    let poloniuss_event = show.event(JANE, "Arras");
    let (rat, _) = show.edit(JANE, |change| {
        let rat = change.create_record(&attendees(), &[("attendee_name", text("A rat"))])?;
        change.create_edge(&attends(), rat, poloniuss_event, &[])?;
        Ok(rat)
    });
    let edge = show.state(JANE).edges_of(rat)[0].id;

    let ((), bundle) = show.edit(JANE, |change| change.remove_from_table(rat, &attendees(), DataHandling::Preserve));
    match payloads(&bundle).as_slice() {
        [OpPayload::DeleteEntity { entity, cascade_edges }] => {
            assert_eq!(*entity, rat);
            assert_eq!(cascade_edges, &vec![edge]);
        }
        other => panic!("removing from the last table is a deletion, got {other:?}"),
    }
    assert!(show.state(JANE).entity_deleted(rat));
    assert!(show.state(JANE).records(&attendees()).is_empty());
}

#[test]
fn removing_a_record_from_a_table_it_is_not_in_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.remove_from_table(hamlet, &attendees(), DataHandling::Discard));
    assert_eq!(error, EditError::NotInTable { entity: hamlet, table: attendees() });
}

#[test]
fn removing_a_deleted_record_from_a_table_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    let error = show.refuse(JANE, |change| change.remove_from_table(hamlet, &contacts(), DataHandling::Preserve));
    assert_eq!(error, EditError::RecordDeleted(hamlet));
}

// ----- restore_facet -----

#[test]
fn restoring_a_table_with_an_operation_that_did_not_remove_it_is_refused() {
    let mut show = Show::new();
    let (horatio, created) = show.edit(JANE, |change| {
        let horatio = change.create_record(&contacts(), &[("full_name", text("Horatio"))])?;
        change.add_to_table(horatio, &attendees())?;
        change.add_to_table(horatio, &sm_cues())?;
        Ok(horatio)
    });
    let ((), removed) = show.edit(JANE, |change| change.remove_from_table(horatio, &sm_cues(), DataHandling::Preserve));
    show.edit(JANE, |change| change.remove_from_table(horatio, &attendees(), DataHandling::Preserve));
    let sm_removal = removal_of(&removed);

    let error = show.refuse(JANE, |change| change.restore_facet(horatio, &attendees(), sm_removal));
    assert_eq!(error, EditError::NotRemovedByThat { entity: horatio, table: attendees(), op: sm_removal });

    let creation = created.ops[0].id;
    let error = show.refuse(JANE, |change| change.restore_facet(horatio, &attendees(), creation));
    assert_eq!(error, EditError::NotRemovedByThat { entity: horatio, table: attendees(), op: creation });

    let unknown = OpId::new_v7(NOW, [1; 10]);
    let error = show.refuse(JANE, |change| change.restore_facet(horatio, &attendees(), unknown));
    assert_eq!(error, EditError::NotRemovedByThat { entity: horatio, table: attendees(), op: unknown });

    let other = show.contact(JANE, "Bernardo");
    let error = show.refuse(JANE, |change| change.restore_facet(other, &sm_cues(), sm_removal));
    assert_eq!(error, EditError::NotRemovedByThat { entity: other, table: sm_cues(), op: sm_removal });
}

#[test]
fn restoring_a_table_the_record_is_back_in_is_refused() {
    let mut show = Show::new();
    let (horatio, _) = show.edit(JANE, |change| {
        let horatio = change.create_record(&contacts(), &[("full_name", text("Horatio"))])?;
        change.add_to_table(horatio, &attendees())?;
        Ok(horatio)
    });
    let ((), removed) =
        show.edit(JANE, |change| change.remove_from_table(horatio, &attendees(), DataHandling::Preserve));
    show.edit(JANE, |change| change.add_to_table(horatio, &attendees()));
    let removal = removal_of(&removed);
    let error = show.refuse(JANE, |change| change.restore_facet(horatio, &attendees(), removal));
    assert_eq!(error, EditError::AlreadyInTable { entity: horatio, table: attendees() });
}

// ----- link_tables / unlink_tables -----

#[test]
fn linking_and_unlinking_tables() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let ((), linked) = show.edit(JANE, |change| change.link_tables(&contacts(), &attendees()));
    assert!(matches!(linked.ops[0].payload, OpPayload::LinkTables { .. }));
    assert!(show.state(JANE).tables_linked(&contacts(), &attendees()));
    assert!(!show.state(JANE).tables_linked(&attendees(), &contacts()), "a link has a direction");

    show.sync(JANE, ALEX);
    assert!(show.state(ALEX).tables_linked(&contacts(), &attendees()));

    show.edit(ALEX, |change| change.unlink_tables(&contacts(), &attendees()));
    show.sync(JANE, ALEX);
    assert!(!show.state(JANE).tables_linked(&contacts(), &attendees()));
}

#[test]
fn linking_an_unknown_table_is_refused() {
    let mut show = Show::new();
    let unknown = openprod_core::names::TableId::new("casting", "performers");
    let error = show.refuse(JANE, |change| change.link_tables(&contacts(), &unknown));
    assert_eq!(error, EditError::UnknownTable(unknown.clone()));
    let error = show.refuse(JANE, |change| change.link_tables(&unknown, &contacts()));
    assert_eq!(error, EditError::UnknownTable(unknown));
}
