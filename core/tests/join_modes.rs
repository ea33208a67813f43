//! Join modes (`spec/workspace.md`): the owner's settings and access keys as
//! every peer reads them from the log, and the enrollment exchange by which
//! a device with only a code, or only a request, gets the workspace secret
//! from a member — whatever the relay between them does.

mod common;

use openprod_core::access::{
    AccessCode, Ask, EnrollError, JoinWith, Joiner, JoinerOutcome, Member, Method, RecoveryKey, refusal,
};
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::Hlc;
use openprod_core::op::JoinMode;
use openprod_core::state::KeyRefusal;
use openprod_core::sync::WorkspaceSecret;
use openprod_core::workspace::{EditError, Workspace};

use common::{identity, workspace_id};

const NOW: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn code(text: &str) -> AccessCode {
    AccessCode::parse(text).unwrap()
}

/// The owner's workspace and a member's copy of it (the member admitted).
fn owner_and_member() -> (Workspace, Workspace) {
    let mut entropy = SeededEntropy::new(11);
    let (mut owner, first) = Workspace::create(identity("jane"), "Hamlet", "Jane", NOW, &mut entropy);
    let mut change = owner.change(NOW + 1, &mut entropy);
    change.admit_actor(identity("alex").actor_id(), "Alex");
    let admit = change.commit().unwrap();
    let mut member = Workspace::empty(owner.id(), identity("alex"), NOW + 2, Default::default());
    member.receive(vec![first, admit], NOW + 2);
    (owner, member)
}

fn sync(from: &Workspace, to: &mut Workspace, now: u64) {
    let lacking = from.log().bundles().cloned().collect::<Vec<_>>();
    to.receive(lacking, now);
}

// ---------------------------------------------------------------------------
// Settings in the log.

#[test]
fn a_workspace_starts_open_and_only_its_owner_changes_that() {
    let (mut owner, mut member) = owner_and_member();
    let mut entropy = SeededEntropy::new(1);
    assert_eq!(owner.state().join_mode(), JoinMode::Open);
    assert_eq!(owner.state().owner(), Some(identity("jane").actor_id()));

    let mut change = member.change(NOW + 10, &mut entropy);
    let refused = change.set_join_mode(JoinMode::Request).unwrap_err();
    assert_eq!(refused, EditError::OwnerOnly { what: "change how people join" });
    assert_eq!(refused.to_string(), "only the workspace's owner can change how people join");

    let mut change = owner.change(NOW + 20, &mut entropy);
    change.set_join_mode(JoinMode::AccessKey).unwrap();
    change.commit().unwrap();
    sync(&owner, &mut member, NOW + 30);
    assert_eq!(member.state().join_mode(), JoinMode::AccessKey);
    assert_eq!(member.state().state_hash(), owner.state().state_hash());
}

#[test]
fn settings_written_by_someone_other_than_the_owner_change_nothing() {
    // A member's device that skipped the owner check (a modified app) still
    // signs valid bundles: every peer must ignore what it "set".
    let (mut owner, member) = owner_and_member();
    let mut alex = common::Author::new("alex", owner.id()).with_clock(NOW + 3);
    // Continue Alex's chain as the member's log knows it: none yet.
    assert!(member.log().bundles().all(|bundle| bundle.header.author != alex.actor()));
    let forged = alex.next_op(openprod_core::op::OpPayload::SetJoinMode { mode: JoinMode::Request });
    let key = alex.next_op(openprod_core::op::OpPayload::CreateAccessKey {
        code: "K7XM4PQ9".into(),
        expires: Hlc::new(NOW + HOUR, 0),
        max_uses: None,
    });
    let bundle = alex.sign(vec![forged, key]);
    let report = owner.receive(vec![bundle], NOW + 5);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(owner.state().join_mode(), JoinMode::Open);
    assert!(owner.state().access_keys().is_empty());
}

#[test]
fn access_keys_expire_run_out_and_can_be_revoked() {
    let (mut owner, mut member) = owner_and_member();
    let mut entropy = SeededEntropy::new(2);
    let mut change = owner.change(NOW + 10, &mut entropy);
    change.set_join_mode(JoinMode::AccessKey).unwrap();
    let short = change.create_access_key(&code("K7XM-4PQ9"), NOW + HOUR, Some(2)).unwrap();
    let long = change.create_access_key(&code("ABCD-2345"), NOW + 24 * HOUR, None).unwrap();
    change.commit().unwrap();
    sync(&owner, &mut member, NOW + 20);

    // Any member lets people in; each person counts once, whoever admitted them.
    let sam = identity("sam").actor_id();
    let kim = identity("kim").actor_id();
    let mut change = member.change(NOW + 30, &mut entropy);
    change.admit_with_access_key(short, sam, "Sam");
    change.commit().unwrap();
    let mut change = owner.change(NOW + 31, &mut entropy);
    change.admit_with_access_key(short, sam, "Sam");
    change.commit().unwrap();
    sync(&member, &mut owner, NOW + 40);
    sync(&owner, &mut member, NOW + 40);

    let keys = owner.state().access_keys();
    let short_key = keys.iter().find(|key| key.id == short).unwrap();
    assert_eq!(short_key.uses, 1);
    assert_eq!(short_key.code, "K7XM4PQ9");
    assert_eq!(short_key.check(Hlc::new(NOW + 50, 0)), Ok(()));
    assert_eq!(short_key.check(Hlc::new(NOW + HOUR, 0)), Err(KeyRefusal::Expired));
    assert_eq!(owner.state().display_name(&sam), Some("Sam"));

    let mut change = member.change(NOW + 60, &mut entropy);
    change.admit_with_access_key(short, kim, "Kim");
    change.commit().unwrap();
    sync(&member, &mut owner, NOW + 70);
    let short_key = owner.state().access_keys().into_iter().find(|key| key.id == short).unwrap();
    assert_eq!(short_key.check(Hlc::new(NOW + 80, 0)), Err(KeyRefusal::UsedUp));

    let mut change = member.change(NOW + 90, &mut entropy);
    assert_eq!(change.revoke_access_key(long), Err(EditError::OwnerOnly { what: "revoke access keys" }));
    let mut change = owner.change(NOW + 90, &mut entropy);
    change.revoke_access_key(long).unwrap();
    change.commit().unwrap();
    let long_key = owner.state().access_keys().into_iter().find(|key| key.id == long).unwrap();
    assert_eq!(long_key.check(Hlc::new(NOW + 100, 0)), Err(KeyRefusal::Revoked));
    assert_eq!(KeyRefusal::Revoked.to_string(), "this access key was revoked");

    sync(&owner, &mut member, NOW + 110);
    assert_eq!(member.state().state_hash(), owner.state().state_hash());
    assert_eq!(member.state().access_keys(), owner.state().access_keys());
}

#[test]
fn the_recovery_key_is_kept_as_a_verifier_and_survives_reopening() {
    let (mut owner, _) = owner_and_member();
    let mut entropy = SeededEntropy::new(3);
    let key = RecoveryKey::generate(&mut entropy);
    let mut change = owner.change(NOW + 10, &mut entropy);
    change.set_recovery_key(&key).unwrap();
    change.set_join_mode(JoinMode::Request).unwrap();
    change.commit().unwrap();
    let verifier = owner.state().recovery_verifier().unwrap();
    assert!(key.matches(&verifier));
    let key_text = key.to_text();
    assert!(
        !owner
            .log()
            .bundles()
            .any(|bundle| { bundle.encoded().windows(key_text.len()).any(|window| window == key_text.as_bytes()) })
    );

    let bundles = owner.log().bundles().cloned().collect::<Vec<_>>();
    let (reopened, _) = Workspace::open(owner.id(), identity("jane"), bundles, NOW + 20, Default::default());
    assert_eq!(reopened.state().recovery_verifier(), Some(verifier));
    assert_eq!(reopened.state().join_mode(), JoinMode::Request);
    assert_eq!(reopened.state().state_hash(), owner.state().state_hash());
}

// ---------------------------------------------------------------------------
// Enrollment.

struct Exchange {
    joiner: Joiner,
    member: Result<Member, EnrollError>,
    answer: Vec<u8>,
}

fn begin(with: JoinWith<'_>, member_code: Option<&AccessCode>) -> Exchange {
    begin_seeded(21, with, member_code)
}

fn begin_seeded(seed: u64, with: JoinWith<'_>, member_code: Option<&AccessCode>) -> Exchange {
    let mut entropy = SeededEntropy::new(seed);
    let (joiner, ask_frame) = Joiner::start(identity("sam"), "Sam", workspace_id(1), with, &mut entropy);
    let ask = Ask::read(&ask_frame).unwrap();
    match Member::answer(ask, &ask_frame, member_code, &mut entropy) {
        Ok((member, answer)) => Exchange { joiner, member: Ok(member), answer },
        Err(error) => Exchange { joiner, member: Err(error), answer: Vec::new() },
    }
}

#[test]
fn the_right_code_hands_over_the_secret() {
    let key = code("K7XM-4PQ9");
    let mut exchange = begin(JoinWith::AccessKey(&key), Some(&key));
    let mut member = exchange.member.unwrap();
    assert_eq!(member.ask().actor, identity("sam").actor_id());
    assert_eq!(member.ask().display_name, "Sam");
    assert_eq!(member.ask().method, Method::AccessKey { hint: "K7".into() });

    let JoinerOutcome::Confirm { frame, check_code } = exchange.joiner.on_message(&exchange.answer).unwrap() else {
        panic!("an answer asks for a confirmation");
    };
    assert_eq!(check_code, member.check_code());
    member.on_confirm(&frame).unwrap();
    let secret = WorkspaceSecret::from_bytes([9; 32]);
    let welcome = member.welcome(&secret, &mut SeededEntropy::new(5)).unwrap();
    assert!(!welcome.windows(32).any(|window| window == secret.as_bytes()), "the secret travels encrypted");
    assert_eq!(exchange.joiner.on_message(&welcome).unwrap(), JoinerOutcome::Admitted(secret));
}

#[test]
fn a_wrong_code_is_caught_by_the_member_and_gets_nothing() {
    let typed = code("K7XM-4PQA");
    let real = code("K7XM-4PQ9");
    let mut exchange = begin(JoinWith::AccessKey(&typed), Some(&real));
    let mut member = exchange.member.unwrap();
    let JoinerOutcome::Confirm { frame, .. } = exchange.joiner.on_message(&exchange.answer).unwrap() else {
        panic!("an answer asks for a confirmation");
    };
    assert_eq!(member.on_confirm(&frame), Err(EnrollError::WrongCode));
    assert_eq!(EnrollError::WrongCode.to_string(), "the access key is not right");
    assert_eq!(
        member.welcome(&WorkspaceSecret::from_bytes([9; 32]), &mut SeededEntropy::new(5)),
        Err(EnrollError::OutOfTurn)
    );
    let reason = "the access key is not right";
    assert_eq!(exchange.joiner.on_message(&refusal(reason)).unwrap(), JoinerOutcome::Refused(reason.into()));
}

#[test]
fn a_code_naming_no_key_or_a_request_where_a_key_is_expected_is_refused() {
    let typed = code("K7XM-4PQ9");
    let other = code("ABCD-2345");
    assert_eq!(begin(JoinWith::AccessKey(&typed), Some(&other)).member.err(), Some(EnrollError::WrongMethod));
    assert_eq!(begin(JoinWith::Request, Some(&other)).member.err(), Some(EnrollError::WrongMethod));
    assert_eq!(begin(JoinWith::AccessKey(&typed), None).member.err(), Some(EnrollError::WrongMethod));
}

#[test]
fn a_relay_in_the_middle_of_a_code_exchange_gets_one_guess_and_no_secret() {
    // The relay answers the joiner itself, guessing the code, and asks the
    // member in the joiner's name with the same guess.
    let real = code("K7XM-4PQ9");
    let guess = code("K7XM-4PQ8");
    let mut entropy = SeededEntropy::new(31);
    let (mut joiner, ask_frame) =
        Joiner::start(identity("sam"), "Sam", workspace_id(1), JoinWith::AccessKey(&real), &mut entropy);
    let (relay_side, answer) =
        Member::answer(Ask::read(&ask_frame).unwrap(), &ask_frame, Some(&guess), &mut entropy).unwrap();
    let JoinerOutcome::Confirm { frame, .. } = joiner.on_message(&answer).unwrap() else { panic!() };
    let mut relay_side = relay_side;
    assert_eq!(relay_side.on_confirm(&frame), Err(EnrollError::WrongCode), "the guess is tested, and fails");

    // Towards the member, the relay has no code at all: its confirmation fails too.
    let (mut relay_joiner, relay_ask) =
        Joiner::start(identity("sam"), "Sam", workspace_id(1), JoinWith::AccessKey(&guess), &mut entropy);
    let (mut member, member_answer) =
        Member::answer(Ask::read(&relay_ask).unwrap(), &relay_ask, Some(&real), &mut entropy).unwrap();
    let JoinerOutcome::Confirm { frame, .. } = relay_joiner.on_message(&member_answer).unwrap() else { panic!() };
    assert_eq!(member.on_confirm(&frame), Err(EnrollError::WrongCode));
}

#[test]
fn a_welcome_under_another_key_is_refused_by_the_joiner() {
    let key = code("K7XM-4PQ9");
    let mut first = begin(JoinWith::AccessKey(&key), Some(&key));
    let mut second = begin_seeded(22, JoinWith::AccessKey(&key), Some(&key));
    let JoinerOutcome::Confirm { frame, .. } = second.joiner.on_message(&second.answer).unwrap() else { panic!() };
    let mut other_member = second.member.unwrap();
    other_member.on_confirm(&frame).unwrap();
    let foreign = other_member.welcome(&WorkspaceSecret::from_bytes([1; 32]), &mut SeededEntropy::new(1)).unwrap();
    first.joiner.on_message(&first.answer).unwrap();
    assert_eq!(first.joiner.on_message(&foreign), Err(EnrollError::KeysDiffer));
}

#[test]
fn in_request_mode_both_screens_show_the_same_check_code_and_a_relay_in_between_shows_otherwise() {
    let mut exchange = begin(JoinWith::Request, None);
    let mut member = exchange.member.unwrap();
    let JoinerOutcome::Confirm { frame, check_code } = exchange.joiner.on_message(&exchange.answer).unwrap() else {
        panic!()
    };
    assert_eq!(check_code, member.check_code());
    assert_eq!(check_code.len(), 7);
    assert!(check_code.chars().enumerate().all(|(at, c)| if at == 3 { c == ' ' } else { c.is_ascii_digit() }));
    member.on_confirm(&frame).unwrap();

    // A relay that answers each side itself ends with two different keys:
    // the codes the two people compare differ.
    let mut entropy = SeededEntropy::new(41);
    let (mut joiner, ask_frame) =
        Joiner::start(identity("sam"), "Sam", workspace_id(1), JoinWith::Request, &mut entropy);
    let (relay_as_member, relay_answer) =
        Member::answer(Ask::read(&ask_frame).unwrap(), &ask_frame, None, &mut entropy).unwrap();
    let (_, relay_ask) = Joiner::start(identity("sam"), "Sam", workspace_id(1), JoinWith::Request, &mut entropy);
    let (real_member, _) = Member::answer(Ask::read(&relay_ask).unwrap(), &relay_ask, None, &mut entropy).unwrap();
    let JoinerOutcome::Confirm { check_code: joiner_sees, .. } = joiner.on_message(&relay_answer).unwrap() else {
        panic!()
    };
    assert_eq!(joiner_sees, relay_as_member.check_code());
    assert_ne!(joiner_sees, real_member.check_code());
}

#[test]
fn a_confirmation_signed_by_someone_else_is_refused() {
    let key = code("K7XM-4PQ9");
    let mut entropy = SeededEntropy::new(51);
    // The ask names Sam, but the confirmation comes from Kim's exchange.
    let (_, sam_ask) = Joiner::start(identity("sam"), "Sam", workspace_id(1), JoinWith::AccessKey(&key), &mut entropy);
    let (mut member, _) = Member::answer(Ask::read(&sam_ask).unwrap(), &sam_ask, Some(&key), &mut entropy).unwrap();
    let (mut kim, kim_ask) =
        Joiner::start(identity("kim"), "Kim", workspace_id(1), JoinWith::AccessKey(&key), &mut entropy);
    let (_, kim_answer) = Member::answer(Ask::read(&kim_ask).unwrap(), &kim_ask, Some(&key), &mut entropy).unwrap();
    let JoinerOutcome::Confirm { frame, .. } = kim.on_message(&kim_answer).unwrap() else { panic!() };
    assert!(member.on_confirm(&frame).is_err());

    // A confirmation whose signature bytes were altered.
    let mut exchange = begin(JoinWith::AccessKey(&key), Some(&key));
    let mut member = exchange.member.unwrap();
    let JoinerOutcome::Confirm { mut frame, .. } = exchange.joiner.on_message(&exchange.answer).unwrap() else {
        panic!()
    };
    let last = frame.len() - 1;
    frame[last] ^= 1;
    assert_eq!(member.on_confirm(&frame), Err(EnrollError::BadSignature));
}

#[test]
fn hostile_frames_are_errors_in_words_never_panics() {
    let key = code("K7XM-4PQ9");
    let mut exchange = begin(JoinWith::AccessKey(&key), Some(&key));
    let mut member = exchange.member.unwrap();
    // A share that is the group's identity element fixes the key: refused.
    let mut identity_answer = exchange.answer.clone();
    let share_at = identity_answer.len() - 32;
    identity_answer[share_at..].fill(0);
    assert_eq!(exchange.joiner.on_message(&identity_answer), Err(EnrollError::BadShare));
    // Not a point at all.
    let mut bad_answer = exchange.answer.clone();
    bad_answer[share_at..].fill(0xff);
    assert_eq!(exchange.joiner.on_message(&bad_answer), Err(EnrollError::BadShare));

    let samples: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![1],
        vec![2, 1],
        vec![1, 9],
        vec![1, 2, 0, 0],
        vec![1, 1, 0],
        exchange.answer[..exchange.answer.len() - 1].to_vec(),
        [exchange.answer.as_slice(), &[0]].concat(),
    ];
    for frame in &samples {
        assert!(Ask::read(frame).is_err());
        assert!(member.on_confirm(frame).is_err());
        let outcome = exchange.joiner.on_message(frame);
        assert!(outcome.is_err(), "{frame:?} gave {outcome:?}");
        assert!(!outcome.unwrap_err().to_string().is_empty());
    }
    assert_eq!(
        Ask::read(&[2, 1]).unwrap_err().to_string(),
        "the other device runs another version of Openprod (joining version 2, this app speaks 1); update both"
    );
    // After all that, the real exchange still completes.
    let JoinerOutcome::Confirm { frame, .. } = exchange.joiner.on_message(&exchange.answer).unwrap() else { panic!() };
    member.on_confirm(&frame).unwrap();
}
