//! Taking in bundles: from peers in any order and any number of copies,
//! refusing forged, foreign and far-future ones without a trace, flagging
//! stale ones, and rebuilding a workspace from its stored bundles.

use openprod_core::bundle::{Bundle, VerifyError};
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::{ClockConfig, FutureHlc};
use openprod_core::identity::Identity;
use openprod_core::workspace::{Opening, Refusal, Workspace};

use crate::support::*;

/// Jane's bundles 3 (creating Horatio) and 4 (giving him a role), which
/// Alex, holding bundles 1 and 2 (setup), has not received yet.
fn janes_two_new_bundles(show: &mut Show) -> (openprod_core::ids::EntityId, Bundle, Bundle) {
    let (horatio, created) =
        show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Horatio"))]));
    let ((), edited) = show.edit(JANE, |change| change.set_field(horatio, &contacts(), "role", text("Friend")));
    assert_eq!((created.header.seq, edited.header.seq), (3, 4));
    (horatio, created, edited)
}

/// The bundle with one byte of its operations changed after signing: the
/// `H` of "Horatio" becomes a `J`.
fn with_a_flipped_byte(bundle: &Bundle) -> Bundle {
    let mut bytes = bundle.encoded();
    let at = bytes.windows(7).position(|window| window == b"Horatio").expect("the name is in the bundle");
    bytes[at] = b'J';
    Bundle::decode_one(&bytes).expect("still well-formed")
}

#[test]
fn a_new_bundle_is_logged_under_its_own_hash_and_the_next_links_to_it() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, created, edited) = janes_two_new_bundles(&mut show);
    let tip = show.ws(JANE).log().tip(&actor(JANE)).expect("Jane's chain");
    assert_eq!((tip.seq, tip.hash), (4, edited.hash()), "the hash taken when signing is the bundle's");
    assert_eq!(edited.header.previous, Some(created.hash()));
}

#[test]
fn bundles_arriving_out_of_order_and_again_are_applied_once() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (horatio, created, edited) = janes_two_new_bundles(&mut show);
    let ((), third) = show.edit(JANE, |change| change.set_field(horatio, &contacts(), "department", text("Court")));

    let now = show.now;
    let report = show.devices[ALEX].receive(vec![third, edited, created], now);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.applied, vec![(actor(JANE), 3), (actor(JANE), 4), (actor(JANE), 5)], "in chain order");
    assert_eq!(report.duplicates, 0);
    assert_eq!(show.state(ALEX).state_hash(), show.state(JANE).state_hash());

    let ops = show.state(ALEX).op_count();
    let everything = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    let again = show.devices[ALEX].receive(everything, now);
    assert!(again.applied.is_empty());
    assert!(again.refused.is_empty());
    assert_eq!(again.duplicates, 5, "the two setup bundles and Jane's three edits");
    assert_eq!(show.state(ALEX).op_count(), ops, "nothing applied twice");
    assert_eq!(show.value(ALEX, horatio, &key("contacts", "department")), Some(text("Court")));
}

#[test]
fn a_bundle_repeated_within_one_batch_is_applied_once_and_counted_as_a_duplicate() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, created, edited) = janes_two_new_bundles(&mut show);
    let now = show.now;
    let report = show.devices[ALEX].receive(vec![created.clone(), edited, created], now);
    assert_eq!(report.applied, vec![(actor(JANE), 3), (actor(JANE), 4)]);
    assert!(report.refused.is_empty());
    assert_eq!(report.duplicates, 1);
    assert_eq!(show.state(ALEX).state_hash(), show.state(JANE).state_hash());
}

#[test]
fn a_bundle_changed_after_signing_is_refused_while_other_authors_bundles_are_applied() {
    let mut show = Show::with_crew(&["Jane", "Alex", "Jordan"]);
    let (horatio, created, edited) = janes_two_new_bundles(&mut show);
    let (bernardo, jordans) =
        show.edit(JORDAN, |change| change.create_record(&contacts(), &[("full_name", text("Bernardo"))]));
    let forged = with_a_flipped_byte(&created);
    let hash_before = show.state(ALEX).state_hash();

    let now = show.now;
    let report = show.devices[ALEX].receive(vec![forged, edited.clone(), jordans], now);

    assert_eq!(report.applied, vec![(actor(JORDAN), 1)]);
    assert_eq!(report.refused.len(), 2, "{:?}", report.refused);
    let first = &report.refused[0];
    assert_eq!((first.author, first.seq), (actor(JANE), 3));
    assert!(matches!(first.reason, Refusal::Invalid(VerifyError::BadOperationHash { seq: 3, .. })), "{first:?}");
    let second = &report.refused[1];
    assert_eq!(
        (second.author, second.seq, &second.reason),
        (actor(JANE), 4, &Refusal::AfterRefused { refused_seq: 3 })
    );

    let state = show.state(ALEX);
    assert_ne!(state.state_hash(), hash_before, "Jordan's record arrived");
    assert!(state.entity_exists(bernardo));
    assert!(!state.entity_exists(horatio), "nothing of the forged bundle is applied");
    assert_eq!(state.records(&contacts()), vec![bernardo], "no Joratio either");
    assert_eq!(show.ws(ALEX).log().tip(&actor(JANE)).map(|tip| tip.seq), Some(2), "nor logged");

    // The genuine bundles are still welcome.
    let report = show.devices[ALEX].receive(vec![created, edited], now);
    assert_eq!(report.applied, vec![(actor(JANE), 3), (actor(JANE), 4)]);
    assert_eq!(show.value(ALEX, horatio, &key("contacts", "role")), Some(text("Friend")));
}

#[test]
fn a_bundle_signed_with_another_key_is_refused() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (horatio, created, edited) = janes_two_new_bundles(&mut show);
    let mallory = Identity::from_seed([66; 32]);
    let mut forged = created.clone();
    forged.signature = Some(mallory.sign(&forged.header.encoded()));

    let now = show.now;
    let report = show.devices[ALEX].receive(vec![forged, edited], now);
    assert!(report.applied.is_empty());
    assert_eq!(report.refused[0].reason, Refusal::Invalid(VerifyError::BadSignature { seq: 3 }));
    assert_eq!(report.refused[1].reason, Refusal::AfterRefused { refused_seq: 3 });
    assert!(!show.state(ALEX).entity_exists(horatio));
}

#[test]
fn a_bundle_of_an_unknown_author_signed_by_someone_else_is_refused() {
    let mut show = Show::with_crew(&["Jane", "Alex", "Jordan"]);
    let (bernardo, jordans) =
        show.edit(JORDAN, |change| change.create_record(&contacts(), &[("full_name", text("Bernardo"))]));
    let mallory = Identity::from_seed([66; 32]);
    let mut forged = jordans.clone();
    forged.signature = Some(mallory.sign(&forged.header.encoded()));
    let now = show.now;
    let report = show.devices[ALEX].receive(vec![forged], now);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].reason, Refusal::Invalid(VerifyError::BadSignature { seq: 1 }));
    assert!(!show.state(ALEX).entity_exists(bernardo));
    assert_eq!(show.ws(ALEX).log().tip(&actor(JORDAN)), None);
}

/// A damaged copy has the same header and signature as the genuine bundle
/// (only an operation differs), so it must not be mistaken for a copy of it.
#[test]
fn a_tampered_copy_does_not_hide_the_genuine_bundle_in_the_same_batch() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (horatio, created, edited) = janes_two_new_bundles(&mut show);
    let forged = with_a_flipped_byte(&created);
    let now = show.now;
    let report = show.devices[ALEX].receive(vec![forged, created, edited], now);
    assert_eq!(report.applied, vec![(actor(JANE), 3), (actor(JANE), 4)], "refused: {:?}", report.refused);
    assert_eq!(show.value(ALEX, horatio, &full_name()), Some(text("Horatio")));
    assert_eq!(show.state(ALEX).state_hash(), show.state(JANE).state_hash());
}

#[test]
fn a_bundle_from_too_far_in_the_future_is_refused_and_leaves_the_clock_alone() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let alex_now = show.now + MINUTE;
    show.now = alex_now + 10 * MINUTE - MINUTE; // Jane's next edit is ten minutes ahead of Alex
    let (horatio, ahead) =
        show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Horatio"))]));
    let clock_before = show.ws(ALEX).clock().current();
    let hash_before = show.state(ALEX).state_hash();

    let report = show.devices[ALEX].receive(vec![ahead.clone()], alex_now);
    assert!(report.applied.is_empty());
    assert_eq!(report.refused.len(), 1);
    assert_eq!(
        report.refused[0].reason,
        Refusal::FutureClock(FutureHlc { ahead_by_ms: 10 * MINUTE, max_drift_ms: 5 * MINUTE })
    );
    assert_eq!(show.ws(ALEX).clock().current(), clock_before, "one peer's wrong clock must not move ours");
    assert_eq!(show.state(ALEX).state_hash(), hash_before);
    assert_eq!(show.ws(ALEX).log().tip(&actor(JANE)).map(|tip| tip.seq), Some(2));

    // Once Alex's time has caught up, the same bundle is accepted.
    let report = show.devices[ALEX].receive(vec![ahead], alex_now + 6 * MINUTE);
    assert_eq!(report.applied, vec![(actor(JANE), 3)]);
    assert!(show.state(ALEX).entity_exists(horatio));
}

#[test]
fn five_minutes_ahead_is_accepted_and_a_millisecond_more_is_not() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, at_the_limit) = show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("A"))]));
    let (_, beyond) = show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("B"))]));
    let limit_wall = at_the_limit.header.hlc.wall();
    let beyond_wall = beyond.header.hlc.wall();

    let report = show.devices[ALEX].receive(vec![at_the_limit], limit_wall - 5 * MINUTE);
    assert_eq!(report.applied.len(), 1, "{:?}", report.refused);
    let report = show.devices[ALEX].receive(vec![beyond], beyond_wall - 5 * MINUTE - 1);
    assert!(
        matches!(report.refused[0].reason, Refusal::FutureClock(FutureHlc { ahead_by_ms, .. }) if ahead_by_ms == 5 * MINUTE + 1)
    );
}

#[test]
fn bundles_after_a_refused_one_of_the_same_author_wait_for_it() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, created, edited) = janes_two_new_bundles(&mut show);
    let ((), third) = show.edit(JANE, |change| {
        change.admit_actor(actor(JORDAN), "Jordan");
        Ok(())
    });
    let forged = with_a_flipped_byte(&created);
    let now = show.now;
    let report = show.devices[ALEX].receive(vec![third, edited, forged], now);
    let reasons: Vec<_> = report.refused.iter().map(|refused| (refused.seq, refused.reason.clone())).collect();
    assert!(matches!(reasons[0], (3, Refusal::Invalid(_))));
    assert_eq!(
        reasons[1..],
        [(4, Refusal::AfterRefused { refused_seq: 3 }), (5, Refusal::AfterRefused { refused_seq: 3 })]
    );
    assert_eq!(show.state(ALEX).display_name(&actor(JORDAN)), None);
}

#[test]
fn a_bundle_older_than_seven_days_is_applied_and_flagged_as_stale() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (horatio, old) = show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Horatio"))]));
    let made_at = show.now;
    let received_at = made_at + 8 * DAY;

    let report = show.devices[ALEX].receive(vec![old.clone()], received_at);
    assert_eq!(report.applied, vec![(actor(JANE), 3)]);
    assert!(report.refused.is_empty());
    let flagged: Vec<_> = report.stale.iter().map(|stale| (stale.op, stale.author, stale.age_ms)).collect();
    let expected: Vec<_> = old.ops.iter().map(|op| (op.id, actor(JANE), received_at - op.hlc.wall())).collect();
    assert_eq!(flagged, expected);
    assert!(flagged.iter().all(|(_, _, age)| *age == 8 * DAY));
    assert!(show.state(ALEX).entity_exists(horatio), "stale work is applied, never dropped");
    assert_eq!(show.value(ALEX, horatio, &full_name()), Some(text("Horatio")));
}

#[test]
fn a_bundle_less_than_seven_days_old_is_not_flagged() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, recent) = show.edit(JANE, |change| change.create_record(&contacts(), &[("full_name", text("Horatio"))]));
    let received_at = show.now + 6 * DAY;
    let report = show.devices[ALEX].receive(vec![recent], received_at);
    assert_eq!(report.applied.len(), 1);
    assert!(report.stale.is_empty());
}

#[test]
fn a_bundle_of_another_workspace_is_refused() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let mut entropy = SeededEntropy::new(99);
    let (elsewhere, foreign) =
        Workspace::create(Identity::from_seed([42; 32]), "Macbeth", "Mallory", NOW, &mut entropy);
    assert_ne!(elsewhere.id(), show.ws(ALEX).id());
    let hash_before = show.state(ALEX).state_hash();

    let now = show.now;
    let report = show.devices[ALEX].receive(vec![foreign], now);
    assert!(report.applied.is_empty());
    assert_eq!(
        report.refused[0].reason,
        Refusal::Invalid(VerifyError::ForeignWorkspace { seq: 1, workspace: elsewhere.id() })
    );
    assert_eq!(show.state(ALEX).state_hash(), hash_before);
    assert_eq!(show.state(ALEX).workspace_name(), Some("Hamlet"));

    // Jane's own bundles of another workspace are refused too.
    let (_, janes_other) = Workspace::create(identity(JANE), "Macbeth", "Jane", NOW, &mut entropy);
    let report = show.devices[ALEX].receive(vec![janes_other], now);
    assert!(report.applied.is_empty());
    assert!(matches!(report.refused[0].reason, Refusal::Invalid(_)));
    assert_eq!(show.state(ALEX).state_hash(), hash_before);
}

#[test]
fn opening_a_workspace_from_its_stored_bundles_gives_the_same_state() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (horatio, _, _) = janes_two_new_bundles(&mut show);
    let ophelia = show.attendee(ALEX, "Ophelia");
    let funeral = show.event(ALEX, "Funeral");
    show.edit(ALEX, |change| change.create_edge(&attends(), ophelia, funeral, &[]));
    show.sync(JANE, ALEX);
    show.map_names(JANE);
    show.edit(JANE, |change| change.merge_records(horatio, ophelia));

    let mut stored = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    stored.reverse();
    let opened_at = show.now + 30 * DAY;
    let (reopened, report) =
        Workspace::open(show.ws(JANE).id(), identity(JANE), stored.clone(), opened_at, ClockConfig::default());

    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.applied.len(), stored.len());
    assert!(report.stale.is_empty(), "this device's own storage is not news");
    let original = show.state(JANE);
    let state = reopened.state();
    assert_eq!(state.state_hash(), original.state_hash());
    for (table, _) in original.tables() {
        assert_eq!(state.records(&table), original.records(&table), "{table}");
    }
    assert_eq!(state.field(horatio, &attendee_name()), original.field(horatio, &attendee_name()));
    assert_eq!(state.edges_of(funeral), original.edges_of(funeral));
    assert_eq!(reopened.log().ops_digest(), show.ws(JANE).log().ops_digest());
}

#[test]
fn reopening_accepts_stored_bundles_even_when_the_device_clock_was_wound_back() {
    let mut show = Show::new();
    let hamlet = show.contact(JANE, "Hamlet");
    let last = show.ws(JANE).clock().current();
    let stored = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    let wound_back = NOW - DAY;
    let (reopened, report) =
        Workspace::open(show.ws(JANE).id(), identity(JANE), stored, wound_back, ClockConfig::default());
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert!(reopened.state().entity_exists(hamlet));
    assert!(reopened.clock().current() >= last, "new edits still sort after the stored ones");
}

#[test]
fn from_a_peer_every_signature_counts_and_a_run_needs_one_at_its_end() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    let (_, created, edited) = janes_two_new_bundles(&mut show);
    let now = show.now;
    // Bundle 3 travels without its signature: bundle 4's vouches for it.
    let unsigned_created = Bundle { signature: None, ..created.clone() };
    let alone = show.devices[ALEX].receive(vec![unsigned_created.clone()], now);
    assert!(alone.applied.is_empty());
    assert_eq!(alone.refused[0].reason, Refusal::Invalid(VerifyError::Unvouched { seq: 3 }));
    // A damaged signature in the middle of a run is a forgery, from a peer.
    let mut damaged = created.clone();
    damaged.signature = edited.signature.clone();
    let forged = show.devices[ALEX].receive(vec![damaged.clone(), edited.clone()], now);
    assert!(forged.applied.is_empty());
    assert_eq!(forged.refused[0].reason, Refusal::Invalid(VerifyError::BadSignature { seq: 3 }));
    // From a file, the newest signature proves the run and the unchecked one is not kept.
    let imported = show.devices[ALEX].import(vec![damaged.clone(), edited.clone()], now);
    assert_eq!(imported.applied, vec![(actor(JANE), 3), (actor(JANE), 4)]);
    let log = show.ws(ALEX).log();
    assert_eq!(log.get(&actor(JANE), 3).expect("held").signature, None);
    assert_eq!(log.get(&actor(JANE), 4).expect("held").signature, edited.signature);
    assert_eq!(show.state(ALEX).state_hash(), show.state(JANE).state_hash());
    // The same file again: copies of what is held, whose unkept signatures
    // are no more checked than they were the first time.
    let again = show.devices[ALEX].import(vec![damaged.clone(), edited.clone()], now);
    assert_eq!((again.applied.len(), again.duplicates), (0, 2), "{:?}", again.refused);
    assert!(again.refused.is_empty());
    // From a peer, a copy's signature that is not the one held must hold.
    let relayed = show.devices[ALEX].receive(vec![damaged], now);
    assert_eq!(relayed.refused[0].reason, Refusal::Invalid(VerifyError::BadSignature { seq: 3 }));
}

#[test]
fn a_stored_log_fed_in_pieces_cut_anywhere_reopens_to_the_same_state() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    for name in ["Hamlet", "Ophelia", "Horatio"] {
        show.contact(JANE, name);
    }
    show.contact(ALEX, "Laertes");
    // Alex takes Jane's work from a file: only the newest signature of each
    // of her runs is kept, so his log holds bundles without one.
    let file = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    let now = show.now;
    let imported = show.devices[ALEX].import(file, now);
    assert!(imported.refused.is_empty(), "{:?}", imported.refused);
    let stored = show.ws(ALEX).log().bundles().cloned().collect::<Vec<_>>();
    assert!(stored.iter().any(|bundle| bundle.signature.is_none()), "the log keeps unsigned bundles");

    for piece in 1..=stored.len() {
        let mut opening = Opening::new(show.ws(ALEX).id(), identity(ALEX), now, ClockConfig::default());
        for bundles in stored.chunks(piece) {
            opening.feed(bundles.to_vec(), now);
        }
        let restored = opening.finish();
        assert!(restored.report.refused.is_empty(), "pieces of {piece}: {:?}", restored.report.refused);
        assert_eq!(restored.workspace.state().state_hash(), show.state(ALEX).state_hash(), "pieces of {piece}");
    }

    // A log that ends before the signature its last bundles wait for is refused, in plain words.
    let unsigned_tail = stored.iter().rposition(|bundle| bundle.signature.is_none()).expect("an unsigned bundle");
    let mut opening = Opening::new(show.ws(ALEX).id(), identity(ALEX), now, ClockConfig::default());
    opening.feed(stored[..=unsigned_tail].to_vec(), now);
    let restored = opening.finish();
    let seq = stored[unsigned_tail].header.seq;
    assert!(
        restored
            .report
            .refused
            .iter()
            .any(|refused| refused.reason == Refusal::Invalid(VerifyError::Unvouched { seq })),
        "{:?}",
        restored.report.refused
    );
}

#[test]
fn a_stored_bundle_damaged_mid_chain_stops_its_chain_there_and_a_good_copy_later_resumes_it() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    for name in ["Hamlet", "Ophelia", "Horatio", "Laertes", "Osric"] {
        show.contact(JANE, name);
    }
    show.contact(ALEX, "Yorick");
    let stored = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    let at = stored
        .iter()
        .position(|bundle| bundle.encoded().windows(7).any(|window| window == b"Horatio"))
        .expect("Horatio's bundle");
    let damaged_seq = stored[at].header.seq;
    let jane_after = stored[at + 1..].iter().filter(|bundle| bundle.header.author == actor(JANE)).count();
    assert!(jane_after >= 2, "Jane wrote after Horatio");
    let mut damaged = stored.clone();
    damaged[at] = with_a_flipped_byte(&stored[at]);
    let (before, _) =
        Workspace::open(show.ws(JANE).id(), identity(JANE), stored[..at].to_vec(), show.now, ClockConfig::default());
    let now = show.now;

    for piece in 1..=damaged.len() {
        let mut opening = Opening::new(show.ws(JANE).id(), identity(JANE), now, ClockConfig::default());
        for bundles in damaged.chunks(piece) {
            opening.feed(bundles.to_vec(), now);
        }
        let restored = opening.finish();
        let refused = &restored.report.refused;
        assert_eq!(refused.len(), 1 + jane_after, "pieces of {piece}: {refused:?}");
        assert!(matches!(refused[0].reason, Refusal::Invalid(_)) && refused[0].seq == damaged_seq, "{refused:?}");
        assert!(
            refused[1..].iter().all(|later| later.reason == Refusal::AfterRefused { refused_seq: damaged_seq }),
            "pieces of {piece}: the chain stops at the damaged bundle: {refused:?}"
        );
        assert_eq!(restored.workspace.state().state_hash(), before.state().state_hash(), "pieces of {piece}");
    }

    // A good copy stored later (a retried write) resumes the chain where it stopped.
    let mut with_copy = damaged.clone();
    with_copy.push(stored[at].clone());
    for piece in 1..=with_copy.len() {
        let mut opening = Opening::new(show.ws(JANE).id(), identity(JANE), now, ClockConfig::default());
        for bundles in with_copy.chunks(piece) {
            opening.feed(bundles.to_vec(), now);
        }
        let restored = opening.finish();
        assert_eq!(restored.report.refused.len(), 1, "pieces of {piece}: only the damaged copy");
        assert_eq!(restored.workspace.state().state_hash(), show.state(JANE).state_hash(), "pieces of {piece}");
    }
}

#[test]
fn an_imported_chain_keeps_a_checked_signature_every_256_bundles() {
    let mut show = Show::with_crew(&["Jane", "Alex"]);
    for index in 0..600 {
        show.contact(JANE, &format!("Person {index}"));
    }
    let file = show.ws(JANE).log().bundles().cloned().collect::<Vec<_>>();
    let now = show.now;
    // What Alex took from Jane through sync before: every signature kept.
    let held_before = show.ws(ALEX).log().tip(&actor(JANE)).map_or(0, |tip| tip.seq);
    let imported = show.devices[ALEX].import(file, now);
    assert!(imported.refused.is_empty(), "{:?}", imported.refused);
    let log = show.ws(ALEX).log();
    let signed: Vec<u64> = log
        .bundles()
        .filter(|bundle| bundle.header.author == actor(JANE) && bundle.header.seq > held_before)
        .filter(|bundle| bundle.signature.is_some())
        .map(|bundle| bundle.header.seq)
        .collect();
    let newest = log.tip(&actor(JANE)).expect("Jane's chain").seq;
    assert_eq!(signed, vec![256, 512, newest], "spaced signatures and the newest, nothing else");
    assert!(log.bundles().filter(|bundle| bundle.signature.is_some()).all(|bundle| bundle.verify_signature().is_ok()));
}
