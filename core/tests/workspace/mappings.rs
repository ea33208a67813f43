//! Field mappings: confirming that two modules' fields are one piece of
//! data, refusing mappings that cannot be, and revoking them without losing
//! a value (`spec/data-model.md`, "Shared Keys").

use openprod_core::conflict::ConflictStatus;
use openprod_core::ids::{EntityId, OpId};
use openprod_core::op::OpPayload;
use openprod_core::value::FieldType;
use openprod_core::workspace::EditError;

use crate::support::*;

/// A person in both contacts and attendees.
fn in_both_tables(show: &mut Show, device: usize, name: &str) -> EntityId {
    show.edit(device, |change| {
        let person = change.create_record(&contacts(), &[("full_name", text(name))])?;
        change.add_to_table(person, &attendees())?;
        Ok(person)
    })
    .0
}

// ----- confirm_mapping -----

#[test]
fn after_confirming_a_mapping_both_fields_show_the_same_value() {
    let mut show = Show::new();
    let horatio = show.contact(JANE, "Horatio");
    let (mapping, bundle) = show.edit(JANE, |change| change.confirm_mapping("name", &[attendee_name(), full_name()]));

    match payloads(&bundle).as_slice() {
        [OpPayload::ConfirmMapping { shared_key, fields }] => {
            assert_eq!(shared_key, "name");
            assert_eq!(fields, &vec![full_name(), attendee_name()], "stored sorted");
        }
        other => panic!("one ConfirmMapping expected, got {other:?}"),
    }
    let state = show.state(JANE);
    let active = state.mapping_of(&attendee_name()).expect("mapped");
    assert_eq!((active.id, active.shared_key.as_str()), (mapping, "name"));
    assert_eq!(state.mapping(mapping), Some(active));
    assert_eq!(state.field_group(&full_name()), vec![full_name(), attendee_name()]);

    // A value written before the mapping shows through the other field too.
    show.edit(JANE, |change| change.add_to_table(horatio, &attendees()));
    assert_eq!(show.value(JANE, horatio, &attendee_name()), Some(text("Horatio")));
    assert_eq!(show.value(JANE, horatio, &full_name()), Some(text("Horatio")));
}

#[test]
fn after_confirming_a_mapping_a_write_to_either_field_shows_through_the_other() {
    let mut show = Show::new();
    show.map_names(JANE);
    let john = in_both_tables(&mut show, JANE, "John Smith");
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("John Smith")));

    show.edit(JANE, |change| change.set_field(john, &attendees(), "attendee_name", text("Johnny Smith")));
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("Johnny Smith")));
    let name = show.state(JANE).field(john, &full_name());
    assert_eq!(name.heads.len(), 1, "the write replaced the value written through the other field");

    show.edit(JANE, |change| change.set_field(john, &contacts(), "full_name", text("John Smith Jr.")));
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("John Smith Jr.")));
    assert!(!show.state(JANE).field(john, &attendee_name()).is_conflicted());
}

#[test]
fn writes_to_both_mapped_fields_in_one_change_leave_one_value_not_a_conflict() {
    let mut show = Show::new();
    show.map_names(JANE);
    let john = in_both_tables(&mut show, JANE, "John");

    let (_, bundle) = show.edit(JANE, |change| {
        change.set_field(john, &contacts(), "full_name", text("John Smith"))?;
        change.set_field(john, &attendees(), "attendee_name", text("J. Smith"))
    });
    let [first, second] = bundle.ops.as_slice() else { panic!("two writes expected, got {:?}", bundle.ops) };
    match &second.payload {
        OpPayload::SetField { replaces, .. } => assert_eq!(replaces, &vec![first.id], "the second replaces the first"),
        other => panic!("a SetField expected, got {other:?}"),
    }
    let name = show.state(JANE).field(john, &full_name());
    assert_eq!(name.heads.len(), 1, "one head, no conflict with itself");
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("J. Smith")));
}

#[test]
fn values_written_concurrently_to_the_two_fields_become_a_conflict_once_they_are_mapped() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let john = in_both_tables(&mut show, JANE, "John");
    show.sync(JANE, ALEX);
    show.edit(JANE, |change| change.set_field(john, &contacts(), "full_name", text("John Smith")));
    show.edit(ALEX, |change| change.set_field(john, &attendees(), "attendee_name", text("J. Smith")));
    show.sync(JANE, ALEX);
    assert!(!show.state(JANE).field(john, &full_name()).is_conflicted(), "two fields, no conflict yet");
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("John Smith")));
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("J. Smith")));

    show.map_names(JANE);
    show.sync(JANE, ALEX);

    for device in [JANE, ALEX] {
        let state = show.state(device);
        for field in [full_name(), attendee_name()] {
            let value = state.field(john, &field);
            assert!(value.is_conflicted(), "device {device}, {field}");
            let competing: Vec<_> = value.heads.iter().map(|write| write.value.clone()).collect();
            assert_eq!(competing, vec![Some(text("John Smith")), Some(text("J. Smith"))]);
            assert_eq!(value.value, Some(text("J. Smith")), "the later write shows until someone decides");
        }
        let conflict = state.conflict(john, &attendee_name()).expect("a conflict");
        assert_eq!(conflict.status, ConflictStatus::Open);
        assert_eq!(conflict.shared_key.as_deref(), Some("name"));
    }
}

#[test]
fn confirming_the_same_shared_key_again_adds_a_field_to_the_mapping() {
    let mut show = Show::new();
    let first = show.map_names(JANE);
    show.edit(JANE, |change| change.confirm_mapping("name", &[full_name(), key("lighting", "label")]));
    let state = show.state(JANE);
    let mapping = state.mapping_of(&key("lighting", "label")).expect("mapped");
    assert_eq!(mapping.id, first);
    assert_eq!(mapping.fields, vec![full_name(), key("lighting", "label"), attendee_name()]);
    assert_eq!(state.mappings().count(), 1);
}

#[test]
fn a_mapping_needs_two_fields() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| change.confirm_mapping("name", &[full_name()]));
    assert_eq!(error, EditError::MappingNeedsTwoFields);
    let error = show.refuse(JANE, |change| change.confirm_mapping("name", &[]));
    assert_eq!(error, EditError::MappingNeedsTwoFields);
}

/// Naming one field twice is a mapping of one field.
#[test]
fn a_mapping_of_one_field_named_twice_is_refused() {
    let mut show = Show::new();
    let error = show.refuse(JANE, |change| change.confirm_mapping("name", &[full_name(), full_name()]));
    assert_eq!(error, EditError::MappingNeedsTwoFields);
}

#[test]
fn mapping_a_field_no_module_declares_is_refused() {
    let mut show = Show::new();
    let of_unknown_module = key("casting", "performer_name");
    let error = show.refuse(JANE, |change| change.confirm_mapping("name", &[full_name(), of_unknown_module.clone()]));
    assert_eq!(error, EditError::UnknownFieldKey(of_unknown_module));
    let undeclared = key("scheduling", "nickname");
    let error = show.refuse(JANE, |change| change.confirm_mapping("name", &[undeclared.clone(), full_name()]));
    assert_eq!(error, EditError::UnknownFieldKey(undeclared));
}

#[test]
fn mapping_fields_of_different_types_is_refused() {
    let mut show = Show::new();
    let seat = key("scheduling", "seat");
    let error = show.refuse(JANE, |change| change.confirm_mapping("name", &[full_name(), seat.clone()]));
    assert_eq!(
        error,
        EditError::MappingTypesDiffer {
            first: full_name(),
            first_type: FieldType::String,
            second: seat,
            second_type: FieldType::Number,
        }
    );
}

#[test]
fn mapping_a_collaborative_text_to_a_plain_text_is_refused() {
    let mut show = Show::new();
    let contact_notes = key("contacts", "notes");
    let attendee_notes = key("scheduling", "notes");
    let error =
        show.refuse(JANE, |change| change.confirm_mapping("notes", &[contact_notes.clone(), attendee_notes.clone()]));
    assert_eq!(
        error,
        EditError::MappingTypesDiffer {
            first: contact_notes,
            first_type: FieldType::String,
            second: attendee_notes,
            second_type: FieldType::String,
        }
    );
}

#[test]
fn mapping_a_private_field_is_refused() {
    let mut show = Show::new();
    let private = key("scheduling", "internal_notes");
    let error =
        show.refuse(JANE, |change| change.confirm_mapping("notes", &[key("contacts", "role"), private.clone()]));
    assert_eq!(error, EditError::PrivateField(private));
}

#[test]
fn mapping_a_field_already_mapped_to_another_key_is_refused() {
    let mut show = Show::new();
    show.map_names(JANE);
    let error = show.refuse(JANE, |change| change.confirm_mapping("title", &[key("lighting", "label"), full_name()]));
    assert_eq!(error, EditError::FieldAlreadyMapped { field: full_name(), shared_key: "name".into() });
}

// ----- reject_mapping -----

#[test]
fn rejecting_a_suggested_mapping_is_remembered_and_maps_nothing() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    show.edit(JANE, |change| change.reject_mapping("email", &[key("scheduling", "email"), key("contacts", "email")]));
    show.sync(JANE, ALEX);
    for device in [JANE, ALEX] {
        let state = show.state(device);
        assert!(state.is_mapping_rejected("email", &[key("contacts", "email"), key("scheduling", "email")]));
        assert!(!state.is_mapping_rejected("name", &[full_name(), attendee_name()]));
        assert!(state.mapping_of(&key("contacts", "email")).is_none());
    }
    let error = show.refuse(JANE, |change| change.reject_mapping("email", &[key("contacts", "fax")]));
    assert_eq!(error, EditError::UnknownFieldKey(key("contacts", "fax")));
}

// ----- revoke_mapping -----

#[test]
fn revoking_a_mapping_copies_the_shared_value_into_each_field_that_would_lose_it() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let mapping = show.map_names(JANE);
    let john = in_both_tables(&mut show, JANE, "John Smith");
    let horatio = show.contact(JANE, "Horatio");

    let ((), bundle) = show.edit(JANE, |change| change.revoke_mapping(mapping));
    match payloads(&bundle).as_slice() {
        [OpPayload::RevokeMapping { mapping: revoked }, OpPayload::SetField { entity, field, value, .. }] => {
            assert_eq!(*revoked, mapping);
            assert_eq!((*entity, field, value), (john, &attendee_name(), &text("John Smith")));
        }
        other => panic!("the revocation and one copy expected (Horatio is no attendee), got {other:?}"),
    }

    show.sync(JANE, ALEX);
    for device in [JANE, ALEX] {
        let state = show.state(device);
        assert!(state.mapping(mapping).is_none());
        assert!(state.mapping_of(&full_name()).is_none());
        assert_eq!(state.field_group(&full_name()), vec![full_name()]);
        assert_eq!(show.value(device, john, &full_name()), Some(text("John Smith")));
        assert_eq!(show.value(device, john, &attendee_name()), Some(text("John Smith")));
        assert_eq!(show.value(device, horatio, &full_name()), Some(text("Horatio")));
    }

    // The fields are independent again.
    show.edit(JANE, |change| change.set_field(john, &contacts(), "full_name", text("John")));
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("John")));
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("John Smith")));
}

#[test]
fn revoking_a_mapping_gives_back_the_value_last_written_through_the_other_field() {
    let mut show = Show::new();
    let mapping = show.map_names(JANE);
    let john = in_both_tables(&mut show, JANE, "John Smith");
    show.edit(JANE, |change| change.set_field(john, &attendees(), "attendee_name", text("Jack Smith")));

    let ((), bundle) = show.edit(JANE, |change| change.revoke_mapping(mapping));
    assert_eq!(written_keys(&bundle), ["contacts.full_name"], "contacts' own write was replaced: it gets a copy");
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("Jack Smith")));
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("Jack Smith")));
    assert!(!show.state(JANE).field(john, &full_name()).is_conflicted());
}

/// Deleting is reversible, so a deleted record's values are values too:
/// restored after the mapping was revoked, the record must show in each
/// field what it showed before.
#[test]
fn revoking_a_mapping_keeps_the_values_of_deleted_records_for_their_restoration() {
    let mut show = Show::new();
    let mapping = show.map_names(JANE);
    let john = in_both_tables(&mut show, JANE, "John Smith");
    show.edit(JANE, |change| change.delete_record(john));
    show.edit(JANE, |change| change.revoke_mapping(mapping));
    show.edit(JANE, |change| change.restore_record(john));

    assert_eq!(show.value(JANE, john, &full_name()), Some(text("John Smith")));
    assert_eq!(show.value(JANE, john, &attendee_name()), Some(text("John Smith")));
}

#[test]
fn revoking_a_mapping_that_is_not_active_is_refused() {
    let mut show = Show::new();
    let unknown = OpId::new_v7(NOW, [2; 10]);
    let error = show.refuse(JANE, |change| change.revoke_mapping(unknown));
    assert_eq!(error, EditError::NoSuchMapping(unknown));

    let mapping = show.map_names(JANE);
    show.edit(JANE, |change| change.revoke_mapping(mapping));
    let error = show.refuse(JANE, |change| change.revoke_mapping(mapping));
    assert_eq!(error, EditError::NoSuchMapping(mapping));
}
