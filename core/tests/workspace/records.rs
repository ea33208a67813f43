//! Records: creating, editing, clearing, deleting and restoring them, the
//! refusals of each, the field history, and what a change leaves behind.

use openprod_core::ids::EntityId;
use openprod_core::op::OpPayload;
use openprod_core::value::Value;
use openprod_core::workspace::EditError;

use crate::support::*;

// ----- create_record -----

#[test]
fn creating_a_record_writes_the_given_values_and_the_table_defaults() {
    let mut show = Show::new();
    let (horatio, bundle) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Horatio")), ("role", text("Friend"))])
    });

    let state = show.state(JANE);
    assert!(state.entity_exists(horatio));
    assert_eq!(state.tables_of(horatio), vec![contacts()]);
    assert_eq!(state.records(&contacts()), vec![horatio]);
    assert_eq!(show.value(JANE, horatio, &full_name()), Some(text("Horatio")));
    assert_eq!(show.value(JANE, horatio, &key("contacts", "role")), Some(text("Friend")));
    assert_eq!(show.value(JANE, horatio, &key("contacts", "is_active")), Some(Value::Boolean(true)), "default");
    assert_eq!(show.value(JANE, horatio, &key("contacts", "email")), None, "no value, no default");

    match bundle.ops[0].payload {
        OpPayload::CreateEntity { entity, initial_table: Some(ref table) } => {
            assert_eq!(entity, horatio);
            assert_eq!(*table, contacts());
        }
        ref other => panic!("a record starts with CreateEntity, not {other:?}"),
    }
    assert_eq!(written_keys(&bundle), ["contacts.full_name", "contacts.role", "contacts.is_active"]);
}

#[test]
fn a_value_given_at_creation_takes_the_place_of_the_default() {
    let mut show = Show::new();
    let (yorick, bundle) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Yorick")), ("is_active", Value::Boolean(false))])
    });
    assert_eq!(show.value(JANE, yorick, &key("contacts", "is_active")), Some(Value::Boolean(false)));
    assert_eq!(written_keys(&bundle), ["contacts.full_name", "contacts.is_active"], "the default is not written too");
}

#[test]
fn creating_a_record_without_its_required_field_is_refused() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| change.create_record(&contacts(), &[("role", text("Gravedigger"))]));
    assert_eq!(error, EditError::RequiredFieldMissing { table: contacts(), field: "Name".into() });
}

#[test]
fn creating_a_record_in_an_unknown_table_is_refused() {
    let mut show = Show::new();
    let vendors = openprod_core::names::TableId::new("contacts", "vendors");
    let error = show.refuse(JANE, |change| change.create_record(&vendors, &[("full_name", text("Props R Us"))]));
    assert_eq!(error, EditError::UnknownTable(vendors));
}

#[test]
fn creating_a_record_with_an_undeclared_field_is_refused() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Osric")), ("nickname", text("Waterfly"))])
    });
    assert_eq!(error, EditError::UnknownField { table: contacts(), field: "nickname".into() });
}

#[test]
fn creating_a_record_with_a_value_of_the_wrong_type_is_refused() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| change.create_record(&contacts(), &[("full_name", number(42.0))]));
    match error {
        EditError::WrongValue(problem) => {
            assert!(problem.message.contains("Name"), "the message names the field: {}", problem.message)
        }
        other => panic!("expected WrongValue, got {other:?}"),
    }
}

#[test]
fn creating_a_record_with_a_value_for_a_collaborative_text_field_is_refused() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Ophelia")), ("notes", text("flowers"))])
    });
    assert_eq!(error, EditError::CollaborativeField { field: "Notes".into() });
}

#[test]
fn creating_a_record_with_a_whole_value_for_a_list_field_is_refused() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| {
        change.create_record(&lighting_cues(), &[("cue_number", number(1.0)), ("tags", text("warm"))])
    });
    assert_eq!(error, EditError::CollaborativeField { field: "tags".into() });
}

// ----- set_field / clear_field -----

#[test]
fn setting_a_field_replaces_the_value_it_showed() {
    let mut show = Show::new();
    let (laertes, created) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Laertes")), ("role", text("Fencer"))])
    });
    let first_role = op_id_where(
        &created,
        |payload| matches!(payload, OpPayload::SetField { field, .. } if field.as_str() == "contacts.role"),
    );
    let ((), edited) = show.edit(JANE, |change| change.set_field(laertes, &contacts(), "role", text("Duellist")));

    assert_eq!(show.value(JANE, laertes, &key("contacts", "role")), Some(text("Duellist")));
    let role = show.state(JANE).field(laertes, &key("contacts", "role"));
    assert_eq!(role.heads.len(), 1, "no conflict with one's own earlier write");
    match edited.ops.as_slice() {
        [op] => match &op.payload {
            OpPayload::SetField { replaces, .. } => assert_eq!(replaces, &vec![first_role]),
            other => panic!("expected SetField, got {other:?}"),
        },
        other => panic!("one operation expected, got {other:?}"),
    }
}

#[test]
fn setting_a_field_the_table_does_not_declare_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.set_field(hamlet, &contacts(), "shoe_size", number(9.0)));
    assert_eq!(error, EditError::UnknownField { table: contacts(), field: "shoe_size".into() });
}

#[test]
fn setting_a_field_with_a_value_of_the_wrong_type_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.set_field(hamlet, &contacts(), "is_active", text("yes")));
    assert!(matches!(error, EditError::WrongValue(_)), "{error:?}");
}

#[test]
fn setting_a_collaborative_text_field_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.set_field(hamlet, &contacts(), "notes", text("To be")));
    assert_eq!(error, EditError::CollaborativeField { field: "Notes".into() });
}

#[test]
fn setting_a_field_through_a_table_the_record_is_not_in_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.set_field(hamlet, &attendees(), "seat", number(12.0)));
    assert_eq!(error, EditError::NotInTable { entity: hamlet, table: attendees() });
}

#[test]
fn setting_a_field_of_a_deleted_record_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    let error = show.refuse(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    assert_eq!(error, EditError::RecordDeleted(hamlet));
}

#[test]
fn setting_a_field_of_a_record_that_never_existed_is_refused() {
    let mut show = Show::new();
    let ghost = EntityId::new_v7(NOW, [7; 10]);
    let error = show.refuse(JANE, |change| change.set_field(ghost, &contacts(), "role", text("Ghost")));
    assert_eq!(error, EditError::NoSuchRecord(ghost));
}

#[test]
fn setting_a_field_of_a_merged_away_record_is_refused_and_names_the_survivor() {
    let mut show = Show::new();
    let first = show.contact(JANE, "Rosencrantz");
    let second = show.contact(JANE, "Guildenstern");
    let (survivor, _) = show.edit(JANE, |change| change.merge_records(first, second));
    let absorbed = if survivor == first { second } else { first };
    let error = show.refuse(JANE, |change| change.set_field(absorbed, &contacts(), "role", text("Courtier")));
    assert_eq!(error, EditError::MergedInto { entity: absorbed, survivor });
}

#[test]
fn clearing_a_field_leaves_it_empty() {
    let mut show = Show::new();
    let (polonius, _) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Polonius")), ("role", text("Counsellor"))])
    });
    let ((), bundle) = show.edit(JANE, |change| change.clear_field(polonius, &contacts(), "role"));
    assert!(matches!(bundle.ops[0].payload, OpPayload::ClearField { .. }));
    let role = show.state(JANE).field(polonius, &key("contacts", "role"));
    assert_eq!(role.value, None);
    assert_eq!(role.heads.len(), 1, "the clear is the field's one current write");
    assert_eq!(role.heads[0].value, None);
}

#[test]
fn clearing_a_required_field_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.clear_field(hamlet, &contacts(), "full_name"));
    assert_eq!(error, EditError::RequiredFieldCleared { field: "Name".into() });
}

#[test]
fn clearing_an_undeclared_field_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.clear_field(hamlet, &contacts(), "shoe_size"));
    assert_eq!(error, EditError::UnknownField { table: contacts(), field: "shoe_size".into() });
}

#[test]
fn clearing_a_field_of_a_deleted_record_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    let error = show.refuse(JANE, |change| change.clear_field(hamlet, &contacts(), "role"));
    assert_eq!(error, EditError::RecordDeleted(hamlet));
}

/// A collaborative field changes through its own edits only: clearing it
/// would throw away concurrent character edits exactly as replacing it would
/// (`spec/operations.md`, "Why not SetField").
#[test]
fn clearing_a_collaborative_text_field_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.clear_field(hamlet, &contacts(), "notes"));
    assert_eq!(error, EditError::CollaborativeField { field: "Notes".into() });
}

// ----- resolve_conflict -----

#[test]
fn settling_a_field_without_a_conflict_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error =
        show.refuse(JANE, |change| change.resolve_conflict(hamlet, &contacts(), "full_name", Some(text("Hamlet"))));
    assert_eq!(error, EditError::NoConflict { field: "Name".into() });
}

#[test]
fn settling_a_conflict_shows_the_chosen_value_on_every_device() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let hamlet = show.contact(JANE, "Hamlet");
    show.sync(JANE, ALEX);
    show.edit(JANE, |change| change.set_field(hamlet, &contacts(), "role", text("Prince")));
    show.edit(ALEX, |change| change.set_field(hamlet, &contacts(), "role", text("Dane")));
    show.sync(JANE, ALEX);
    assert!(show.state(JANE).field(hamlet, &key("contacts", "role")).is_conflicted());

    let error = show.refuse(JANE, |change| change.resolve_conflict(hamlet, &contacts(), "role", Some(number(1.0))));
    assert!(matches!(error, EditError::WrongValue(_)), "{error:?}");
    let error = show.refuse(JANE, |change| change.resolve_conflict(hamlet, &contacts(), "full_name", None));
    assert_eq!(error, EditError::RequiredFieldCleared { field: "Name".into() });

    show.edit(JANE, |change| change.resolve_conflict(hamlet, &contacts(), "role", Some(text("Prince of Denmark"))));
    show.sync(JANE, ALEX);
    for device in [JANE, ALEX] {
        let role = show.state(device).field(hamlet, &key("contacts", "role"));
        assert!(!role.is_conflicted());
        assert_eq!(role.value, Some(text("Prince of Denmark")));
    }
}

// ----- delete_record / restore_record -----

#[test]
fn deleting_a_record_deletes_the_relationships_that_touch_it_in_the_same_operation() {
    let mut show = Show::new();
    let ophelia = show.attendee(JANE, "Ophelia");
    let laertes = show.attendee(JANE, "Laertes");
    let funeral = show.event(JANE, "Funeral");
    let banquet = show.event(JANE, "Banquet");
    let (to_funeral, _) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, funeral, &[]));
    let (to_banquet, _) = show.edit(JANE, |change| change.create_edge(&attends(), ophelia, banquet, &[]));
    let (brother_to_funeral, _) = show.edit(JANE, |change| change.create_edge(&attends(), laertes, funeral, &[]));

    let ((), bundle) = show.edit(JANE, |change| change.delete_record(ophelia));

    let mut expected = vec![to_funeral, to_banquet];
    expected.sort();
    match payloads(&bundle).as_slice() {
        [OpPayload::DeleteEntity { entity, cascade_edges }] => {
            assert_eq!(*entity, ophelia);
            assert_eq!(cascade_edges, &expected, "the operation lists the relationships it deleted");
        }
        other => panic!("one DeleteEntity expected, got {other:?}"),
    }
    let state = show.state(JANE);
    assert!(!state.entity_exists(ophelia));
    assert!(state.entity_deleted(ophelia));
    assert_eq!(state.records(&attendees()), vec![laertes]);
    for edge in [to_funeral, to_banquet] {
        assert_eq!(state.edge(edge), None);
        assert!(!state.edge_alive(edge));
    }
    let funeral_edges: Vec<_> = state.edges_of(funeral).into_iter().map(|edge| edge.id).collect();
    assert_eq!(funeral_edges, vec![brother_to_funeral], "other records' relationships stay");
    assert!(state.entity_exists(funeral), "deleting a record never deletes the records it was related to");
}

#[test]
fn deleting_a_record_twice_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    let error = show.refuse(JANE, |change| change.delete_record(hamlet));
    assert_eq!(error, EditError::RecordDeleted(hamlet));
}

#[test]
fn deleting_a_record_that_never_existed_is_refused() {
    let mut show = Show::new();
    let ghost = EntityId::new_v7(NOW, [9; 10]);
    let error = show.refuse(JANE, |change| change.delete_record(ghost));
    assert_eq!(error, EditError::NoSuchRecord(ghost));
}

#[test]
fn restoring_a_deleted_record_brings_it_back_with_its_values() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.edit(JANE, |change| change.delete_record(hamlet));
    show.edit(JANE, |change| change.restore_record(hamlet));
    let state = show.state(JANE);
    assert!(state.entity_exists(hamlet));
    assert_eq!(state.records(&contacts()), vec![hamlet]);
    assert_eq!(show.value(JANE, hamlet, &full_name()), Some(text("Hamlet")));
}

#[test]
fn restoring_a_record_that_is_not_deleted_is_refused() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let error = show.refuse(JANE, |change| change.restore_record(hamlet));
    assert_eq!(error, EditError::RecordNotDeleted(hamlet));
}

/// "Record … is not deleted" would be a wrong thing to tell about an id no
/// record ever had.
#[test]
fn restoring_a_record_that_never_existed_is_refused_as_unknown() {
    let mut show = Show::new();
    let ghost = EntityId::new_v7(NOW, [3; 10]);
    let error = show.refuse(JANE, |change| change.restore_record(ghost));
    assert_eq!(error, EditError::NoSuchRecord(ghost));
}

#[test]
fn restoring_a_merged_away_record_is_refused() {
    let mut show = Show::new();
    let first = show.contact(JANE, "Cornelius");
    let second = show.contact(JANE, "Voltemand");
    let (survivor, _) = show.edit(JANE, |change| change.merge_records(first, second));
    let absorbed = if survivor == first { second } else { first };
    let error = show.refuse(JANE, |change| change.restore_record(absorbed));
    assert_eq!(error, EditError::MergedInto { entity: absorbed, survivor });
}

// ----- field history -----

#[test]
fn the_field_history_records_who_wrote_what_and_when() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let hamlet = show.contact(JANE, "Hamlet");
    let created_at = show.now;
    show.sync(JANE, ALEX);
    show.edit(ALEX, |change| change.set_field(hamlet, &contacts(), "full_name", text("Prince Hamlet")));
    let renamed_at = show.now;
    show.sync(JANE, ALEX);

    for device in [JANE, ALEX] {
        let history = show.state(device).field_history(hamlet, &full_name());
        let entries: Vec<_> =
            history.iter().map(|write| (write.stamp.actor, write.stamp.hlc.wall(), write.value.clone())).collect();
        assert_eq!(
            entries,
            vec![
                (actor(JANE), created_at, Some(text("Hamlet"))),
                (actor(ALEX), renamed_at, Some(text("Prince Hamlet"))),
            ]
        );
        assert_eq!(show.state(device).display_name(&history[1].stamp.actor), Some("Alex"));
        assert_eq!(show.value(device, hamlet, &full_name()), Some(text("Prince Hamlet")));
    }
}

#[test]
fn the_field_history_keeps_cleared_values_as_empty_writes() {
    let mut show = Show::new();
    let (gertrude, _) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Gertrude")), ("role", text("Queen"))])
    });
    show.edit(JANE, |change| change.clear_field(gertrude, &contacts(), "role"));
    let values: Vec<_> = show
        .state(JANE)
        .field_history(gertrude, &key("contacts", "role"))
        .into_iter()
        .map(|write| write.value)
        .collect();
    assert_eq!(values, vec![Some(text("Queen")), None]);
}

// ----- what a change leaves behind -----

#[test]
fn committing_an_empty_change_is_refused_and_saves_nothing() {
    let mut show = Show::new();
    let bundles = show.ws(JANE).log().len();
    let change = show.change(JANE);
    assert!(change.is_empty());
    assert_eq!(change.commit(), Err(EditError::NothingToSave));
    assert_eq!(show.ws(JANE).log().len(), bundles);
}

#[test]
fn a_change_holding_only_refused_steps_has_nothing_to_save() {
    let mut show = Show::new();
    let hash = show.state(JANE).state_hash();
    let bundles = show.ws(JANE).log().len();
    let mut change = show.change(JANE);
    assert!(change.create_record(&contacts(), &[]).is_err());
    assert!(change.create_record(&events(), &[("title", number(1.0))]).is_err());
    assert!(change.is_empty());
    assert_eq!(change.commit(), Err(EditError::NothingToSave));
    assert_eq!(show.ws(JANE).log().len(), bundles);
    assert_eq!(show.state(JANE).state_hash(), hash);
}

#[test]
fn a_refused_step_does_not_undo_the_accepted_steps_of_its_change() {
    let mut show = Show::new();
    show.tick();
    let mut change = show.change(JANE);
    let marcellus = change.create_record(&contacts(), &[("full_name", text("Marcellus"))]).unwrap();
    let refused = change.set_field(marcellus, &contacts(), "is_active", text("on watch"));
    assert!(matches!(refused, Err(EditError::WrongValue(_))));
    change.set_field(marcellus, &contacts(), "role", text("Officer")).unwrap();
    let bundle = change.commit().unwrap();

    assert_eq!(written_keys(&bundle), ["contacts.full_name", "contacts.is_active", "contacts.role"]);
    assert_eq!(show.value(JANE, marcellus, &key("contacts", "is_active")), Some(Value::Boolean(true)));
    assert_eq!(show.value(JANE, marcellus, &key("contacts", "role")), Some(text("Officer")));
}

#[test]
fn a_change_dropped_without_committing_leaves_the_workspace_as_it_was() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let hash = show.state(JANE).state_hash();
    let bundles = show.ws(JANE).log().len();
    {
        let mut change = show.change(JANE);
        change.set_field(hamlet, &contacts(), "role", text("Prince")).unwrap();
        change.delete_record(hamlet).unwrap();
        assert!(!change.is_empty());
    }
    assert_eq!(show.ws(JANE).log().len(), bundles);
    assert_eq!(show.state(JANE).state_hash(), hash);
    assert!(show.state(JANE).entity_exists(hamlet));
}

#[test]
fn a_change_sees_records_it_created_itself() {
    let mut show = Show::new();
    let ((ghost, edge), _) = show.edit(JANE, |change| {
        let ghost = change.create_record(&attendees(), &[("attendee_name", text("Ghost"))])?;
        change.set_field(ghost, &attendees(), "seat", number(1.0))?;
        let battlements = change.create_record(&events(), &[("title", text("Battlements"))])?;
        let edge = change.create_edge(&attends(), ghost, battlements, &[])?;
        change.set_edge_property(edge, "role", Some(text("Apparition")))?;
        Ok((ghost, edge))
    });
    assert_eq!(show.value(JANE, ghost, &key("scheduling", "seat")), Some(number(1.0)));
    assert_eq!(show.state(JANE).edge_property(edge, "role").value, Some(text("Apparition")));
}

/// Each step is checked against the change so far: a record deleted by an
/// earlier step is as deleted to the next one as a committed deletion.
#[test]
fn a_record_deleted_earlier_in_the_same_change_refuses_later_writes() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    show.tick();
    let mut change = show.change(JANE);
    change.delete_record(hamlet).unwrap();
    assert_eq!(change.set_field(hamlet, &contacts(), "role", text("Prince")), Err(EditError::RecordDeleted(hamlet)));
    assert_eq!(change.delete_record(hamlet), Err(EditError::RecordDeleted(hamlet)));
}

#[test]
fn a_row_lists_the_table_fields_in_declaration_order_with_their_values() {
    let mut show = Show::new();
    let (horatio, _) = show.edit(JANE, |change| {
        change.create_record(&contacts(), &[("full_name", text("Horatio")), ("role", text("Friend"))])
    });
    let row = show.state(JANE).row(horatio, &contacts());
    let names: Vec<&str> = row.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names[..3], ["full_name", "role", "department"]);
    assert_eq!(row[0].1.value, Some(text("Horatio")));
    assert_eq!(row[1].1.value, Some(text("Friend")));
    assert_eq!(row[2].1.value, None);
    let active = row.iter().find(|(name, _)| name == "is_active").expect("declared");
    assert_eq!(active.1.value, Some(Value::Boolean(true)));
}
