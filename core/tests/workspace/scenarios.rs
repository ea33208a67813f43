//! The spec's scenario walkthroughs (openprod-spec `ARCHITECTURE.md`,
//! "Appendix: Scenario Walkthroughs"), played on several devices.

use openprod_core::conflict::ConflictStatus;
use openprod_core::op::{DataHandling, OpPayload};
use openprod_core::value::Value;

use crate::support::*;

/// Scenario B: a contact and an attendee turn out to be the same person.
#[test]
fn scenario_b_linking_records_across_modules() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);

    // 1. Contacts has a contact named "John Smith" (Jane's laptop).
    let john = show.contact(JANE, "John Smith");
    // 2. Scheduling has an attendee named "J. Smith" (Alex's tablet).
    let j_smith = show.attendee(ALEX, "J. Smith");
    show.sync(JANE, ALEX);

    // 3. Both modules suggest the shared key `name` for their name fields.
    fn suggested(
        state: &openprod_core::state::State,
        table: &openprod_core::names::TableId,
        field: &str,
    ) -> Option<String> {
        state.table(table).and_then(|definition| definition.field(field)).and_then(|field| field.shared_key.clone())
    }
    assert_eq!(suggested(show.state(JANE), &contacts(), "full_name").as_deref(), Some("name"));
    assert_eq!(suggested(show.state(JANE), &attendees(), "attendee_name").as_deref(), Some("name"));
    assert!(show.state(JANE).mapping_of(&full_name()).is_none(), "suggestions do not bind by themselves");

    // 4. Jane confirms the mapping.
    show.map_names(JANE);
    assert_eq!(show.value(JANE, john, &full_name()), Some(text("John Smith")), "two records, no conflict yet");
    assert_eq!(show.value(JANE, j_smith, &attendee_name()), Some(text("J. Smith")));

    // 5–6. She sees they are one person and merges them: one record, both tables.
    let (survivor, _) = show.edit(JANE, |change| change.merge_records(john, j_smith));
    assert_eq!(survivor, john.min(j_smith));
    show.sync(JANE, ALEX);

    // 7. The name is now in conflict: "John Smith" against "J. Smith".
    for device in [JANE, ALEX] {
        let state = show.state(device);
        assert_eq!(state.tables_of(survivor), vec![contacts(), attendees()]);
        assert_eq!(state.records(&contacts()), vec![survivor]);
        assert_eq!(state.records(&attendees()), vec![survivor]);

        let name = state.field(survivor, &full_name());
        assert!(name.is_conflicted(), "device {device}");
        let mut competing: Vec<_> = name.heads.iter().filter_map(|write| write.value.clone()).collect();
        competing.sort_by_key(|value| value.to_string());
        assert_eq!(competing, vec![text("J. Smith"), text("John Smith")]);

        let last_writer = name.heads.iter().max_by_key(|write| (write.stamp.hlc, write.stamp.op)).unwrap();
        assert_eq!(name.value, last_writer.value, "the last writer by (HLC, op id) shows until someone decides");
        assert_eq!(name.value, Some(text("J. Smith")), "Alex's attendee was written after Jane's contact");
        assert_eq!(last_writer.stamp.actor, actor(ALEX));
        assert_eq!(state.field(survivor, &attendee_name()), name, "both modules see the same field");

        let conflict = state.conflict(survivor, &attendee_name()).expect("a conflict to show");
        assert_eq!(conflict.status, ConflictStatus::Open);
        assert_eq!(conflict.shared_key.as_deref(), Some("name"));
        assert_eq!(state.open_conflicts().iter().filter(|open| open.entity == survivor).count(), 1);
    }

    // 8. Jane resolves it, choosing "John Smith".
    show.edit(JANE, |change| {
        change.resolve_conflict(survivor, &attendees(), "attendee_name", Some(text("John Smith")))
    });
    show.sync(JANE, ALEX);

    // 9. Both modules now see "John Smith", on both devices.
    for device in [JANE, ALEX] {
        let state = show.state(device);
        for field in [full_name(), attendee_name()] {
            let name = state.field(survivor, &field);
            assert_eq!(name.value, Some(text("John Smith")), "device {device}, {field}");
            assert!(!name.is_conflicted());
        }
        assert_eq!(show.value(device, j_smith, &attendee_name()), Some(text("John Smith")), "through the old id too");
        assert_eq!(
            state.conflict(survivor, &full_name()).map(|conflict| conflict.status),
            Some(ConflictStatus::Resolved)
        );
    }
    assert_eq!(show.state(JANE).state_hash(), show.state(ALEX).state_hash());
}

/// Scenario D, with the membership rule played by hand: called cues of
/// every department appear in the stage manager's cue list.
#[test]
fn scenario_d_per_record_table_membership() {
    let mut show = Show::with_crew(&["Jane", "Alex", "Jordan"]);
    let (stage_manager, lighting_designer, sound_designer) = (JANE, ALEX, JORDAN);

    // 1. The lighting designer creates LX 1 to LX 20, and the auto-follow LX 11.1.
    let (cues, _) = show.edit(lighting_designer, |change| {
        let mut cues = Vec::new();
        for number_of_cue in 1..=20 {
            cues.push(change.create_record(
                &lighting_cues(),
                &[("cue_number", number(f64::from(number_of_cue))), ("is_called", Value::Boolean(false))],
            )?);
        }
        let follow = change.create_record(
            &lighting_cues(),
            &[("cue_number", number(11.1)), ("label", text("auto-follow")), ("is_called", Value::Boolean(false))],
        )?;
        Ok((cues, follow))
    });
    let (lx, lx_11_1) = cues;
    let lx_11 = lx[10];

    // 2–3. LX 11 is marked as called and, as the rule would, joins the SM cues.
    let ((), called) = show.edit(lighting_designer, |change| {
        change.set_field(lx_11, &lighting_cues(), "is_called", Value::Boolean(true))?;
        change.add_to_table(lx_11, &sm_cues())
    });
    assert!(
        payloads(&called)
            .iter()
            .any(|payload| matches!(payload, OpPayload::AddToTable { entity, .. } if *entity == lx_11))
    );

    // 5. The sound designer creates SND 5, marks it as called: it joins the SM cues too.
    let (snd_5, _) = show.edit(sound_designer, |change| {
        let snd_5 = change.create_record(&sound_cues(), &[("cue_number", number(5.0))])?;
        change.set_field(snd_5, &sound_cues(), "is_called", Value::Boolean(true))?;
        change.add_to_table(snd_5, &sm_cues())?;
        Ok(snd_5)
    });
    show.sync_all();

    // 4. and 6. The stage manager's cue list has exactly the called cues of both departments.
    let state = show.state(stage_manager);
    assert_eq!(state.records(&sm_cues()), vec![lx_11, snd_5]);
    assert_eq!(state.records(&lighting_cues()).len(), 21);
    assert_eq!(state.records(&sound_cues()), vec![snd_5]);
    assert_eq!(state.tables_of(lx_11), vec![lighting_cues(), sm_cues()]);
    assert_eq!(state.tables_of(lx_11_1), vec![lighting_cues()], "the auto-follow stays with lighting");
    assert_eq!(state.tables_of(snd_5), vec![sm_cues(), sound_cues()]);
    assert!(lx.iter().filter(|cue| **cue != lx_11).all(|cue| !state.in_table(*cue, &sm_cues())));
    for cue in [lx_11, snd_5] {
        assert_eq!(show.value(stage_manager, cue, &key("sm", "call_text")), Some(text("GO")), "SM Cues' default");
    }
    assert_eq!(show.value(stage_manager, lx_11, &key("lighting", "cue_number")), Some(number(11.0)));

    // The stage manager notes a page for LX 11, then cuts it from the calling
    // script, keeping the note; the lighting designer meanwhile sets its level.
    show.edit(stage_manager, |change| change.set_field(lx_11, &sm_cues(), "page", number(42.0)));
    let ((), cut) =
        show.edit(stage_manager, |change| change.remove_from_table(lx_11, &sm_cues(), DataHandling::Preserve));
    show.edit(lighting_designer, |change| change.set_field(lx_11, &lighting_cues(), "intensity", number(80.0)));
    show.sync_all();
    for device in [stage_manager, lighting_designer, sound_designer] {
        let state = show.state(device);
        assert_eq!(state.records(&sm_cues()), vec![snd_5], "device {device}");
        assert_eq!(state.tables_of(lx_11), vec![lighting_cues()]);
        assert!(state.entity_exists(lx_11), "leaving one table is not leaving them all");
        assert_eq!(show.value(device, lx_11, &key("lighting", "intensity")), Some(number(80.0)));
    }

    // Put back, the cue has its page note again.
    let removal = op_id_where(&cut, |payload| matches!(payload, OpPayload::RemoveFromTable { .. }));
    show.edit(stage_manager, |change| change.restore_facet(lx_11, &sm_cues(), removal));
    show.sync_all();
    let state = show.state(sound_designer);
    assert_eq!(state.records(&sm_cues()), vec![lx_11, snd_5]);
    assert_eq!(show.value(sound_designer, lx_11, &key("sm", "page")), Some(number(42.0)));
}
