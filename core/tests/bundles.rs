//! The operation encoding, bundle signing and verification, and the oplog.
//!
//! Signing is the slowest step, so the signed chains several tests share are
//! made once.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use common::*;
use openprod_core::bundle::{BUNDLE_FORMAT, Bundle, ChainTip, Hash, VerifyError, check_link, verify_each, verify_run};
use openprod_core::encoding::{DecodeError, Decoder, Encoder};
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::Hlc;
use openprod_core::identity::{ActorId, IdentityError, Signature};
use openprod_core::ids::{EdgeId, OpId, WorkspaceId};
use openprod_core::log::{Appended, OpLog, VersionVector};
use openprod_core::names::FieldKey;
use openprod_core::op::{OpPayload, Operation};
use openprod_core::value::Value;

// ---------------------------------------------------------------------------
// Allocation watch: the largest single allocation each thread asks for, so
// that hostile-input tests can check a declared length is never trusted.

#[path = "common/allocation_watch.rs"]
mod allocation_watch;

/// Decodes untrusted bytes, failing the test (with the input in hex) if the
/// decoder panics or allocates more at once than the input could justify.
fn decode_untrusted(bytes: &[u8]) -> Result<Bundle, DecodeError> {
    allocation_watch::reset();
    let result = catch_unwind(AssertUnwindSafe(|| Bundle::decode_one(bytes)));
    let largest = allocation_watch::largest();
    let shown = || hex::encode(&bytes[..bytes.len().min(400)]);
    let result = result.unwrap_or_else(|_| panic!("decoding panicked on {} bytes: {}", bytes.len(), shown()));
    // Each decoded element takes at least one input byte, and no element
    // type is more than a few dozen bytes in memory.
    let allowed = 64 * bytes.len() + 4096;
    assert!(
        largest <= allowed,
        "decoding {} bytes allocated {largest} bytes at once (allowed {allowed}): {}",
        bytes.len(),
        shown()
    );
    result
}

// ---------------------------------------------------------------------------
// Shared fixtures.

fn workspace() -> WorkspaceId {
    workspace_id(1)
}

/// Jane's first 100 bundles, one operation each, cycling through every payload kind.
fn jane_run() -> &'static [Bundle] {
    static RUN: OnceLock<Vec<Bundle>> = OnceLock::new();
    RUN.get_or_init(|| Author::new("jane", workspace()).varied_bundles(100))
}

const CREW: [&str; 4] = ["alice", "bob", "carol", "dan"];
const CHAIN_LENGTH: usize = 16;

/// Sixteen one-op bundles from each of four authors whose clocks overlap
/// (Alice and Bob write at exactly the same HLCs, so op ids break the ties).
fn crew_chains() -> &'static BTreeMap<ActorId, Vec<Bundle>> {
    static CHAINS: OnceLock<BTreeMap<ActorId, Vec<Bundle>>> = OnceLock::new();
    CHAINS.get_or_init(|| {
        CREW.iter()
            .enumerate()
            .map(|(index, name)| {
                let clock = NOW + [0, 0, 3, 7][index];
                let mut author = Author::new(name, workspace()).with_clock(clock);
                (author.actor(), author.one_op_bundles(CHAIN_LENGTH))
            })
            .collect()
    })
}

/// The crew's bundles interleaved round-robin: 64 bundles, each author's in chain order.
fn crew_round_robin() -> Vec<Bundle> {
    let chains: Vec<&Vec<Bundle>> = crew_chains().values().collect();
    (0..CHAIN_LENGTH).flat_map(|seq| chains.iter().map(move |chain| chain[seq].clone())).collect()
}

/// The crew's bundles in a pseudo-random interleaving that keeps each author's chain order.
fn crew_shuffled(seed: u64) -> Vec<Bundle> {
    let mut random = SeededEntropy::new(seed);
    let mut queues: Vec<std::collections::VecDeque<Bundle>> =
        crew_chains().values().map(|chain| chain.iter().cloned().collect()).collect();
    let mut order = Vec::new();
    while queues.iter().any(|queue| !queue.is_empty()) {
        let non_empty: Vec<usize> = (0..queues.len()).filter(|&i| !queues[i].is_empty()).collect();
        let pick = non_empty[(random.next_u64() % non_empty.len() as u64) as usize];
        order.push(queues[pick].pop_front().unwrap());
    }
    order
}

fn log_of(bundles: &[Bundle]) -> OpLog {
    let mut log = OpLog::new();
    for bundle in bundles {
        assert_eq!(
            log.append(bundle.clone()),
            Ok(Appended::New),
            "seq {} of {:?}",
            bundle.header.seq,
            bundle.header.author
        );
    }
    log
}

/// A signature over `bundle`'s header by someone other than its author.
fn forged_signature(bundle: &Bundle) -> Signature {
    identity("mallory").sign(&bundle.header.encoded())
}

// ---------------------------------------------------------------------------
// 1. Encoding round trips.

#[test]
fn samples_cover_every_operation_kind() {
    let mut seen: Vec<&str> = sample_payloads().iter().map(variant_name).collect();
    seen.sort();
    seen.dedup();
    let mut all = ALL_VARIANTS.to_vec();
    all.sort();
    assert_eq!(seen, all);
}

#[test]
fn every_operation_kind_round_trips_to_identical_bytes() {
    for op in sample_operations() {
        let bytes = op.encoded();
        let mut input = Decoder::new(&bytes);
        let decoded = Operation::decode(&mut input).unwrap_or_else(|error| panic!("{op:?}: {error}"));
        assert_eq!(input.finish("the end of the operation"), Ok(()), "{op:?} left bytes unread");
        assert_eq!(decoded, op);
        assert_eq!(decoded.encoded(), bytes, "re-encoding {op:?} changed its bytes");

        // Through `encode` into a shared encoder too: the same bytes, and
        // two operations back to back decode one after the other.
        let mut out = Encoder::new();
        op.encode(&mut out);
        op.encode(&mut out);
        let twice = out.into_bytes();
        assert_eq!(twice, [bytes.clone(), bytes.clone()].concat());
        let mut input = Decoder::new(&twice);
        assert_eq!(Operation::decode(&mut input).as_ref(), Ok(&op));
        assert_eq!(Operation::decode(&mut input).as_ref(), Ok(&op));
        assert!(input.is_empty());
    }
}

#[test]
fn every_operation_kind_round_trips_inside_a_bundle() {
    // One bundle per kind (Jane's run cycles through every sample payload)…
    for bundle in jane_run() {
        let bytes = bundle.encoded();
        let decoded = Bundle::decode_one(&bytes).unwrap_or_else(|error| panic!("seq {}: {error}", bundle.header.seq));
        assert_eq!(&decoded, bundle);
        assert_eq!(decoded.encoded(), bytes, "seq {} re-encodes differently", bundle.header.seq);
        assert_eq!(decoded.hash(), bundle.hash());
    }
    // …and every kind in one bundle, which must still verify after the trip.
    let mut author = Author::new("alex", workspace());
    let ops: Vec<Operation> = sample_payloads().into_iter().map(|payload| author.next_op(payload)).collect();
    let bundle = author.sign(ops);
    let bytes = bundle.encoded();
    let decoded = Bundle::decode_one(&bytes).unwrap();
    assert_eq!(decoded, bundle);
    assert_eq!(decoded.encoded(), bytes);
    assert_eq!(decoded.verify(workspace()), Ok(()));
}

#[test]
fn a_bundle_encodes_as_header_then_signature_then_operations() {
    let bundle = &jane_run()[1];
    let header = &bundle.header;
    let mut expected_header = vec![BUNDLE_FORMAT];
    expected_header.extend_from_slice(header.workspace.as_bytes());
    expected_header.extend_from_slice(header.author.as_bytes());
    expected_header.push(2); // seq, a one-byte varint
    expected_header.push(1); // a previous bundle follows
    expected_header.extend_from_slice(&jane_run()[0].hash().0);
    expected_header.extend_from_slice(&header.hlc.to_bytes());
    expected_header.push(0); // no module versions: a Bootstrap names no module
    expected_header.push(1); // one operation hash
    expected_header.extend_from_slice(&Hash::of(&bundle.ops[0].encoded()).0);
    assert_eq!(header.encoded(), expected_header);

    let signature = bundle.signature.as_ref().expect("signed by its author").to_bytes().to_vec();
    let expected = [expected_header.clone(), vec![1], signature, bundle.ops[0].encoded()].concat();
    assert_eq!(bundle.encoded(), expected);
    // Without its signature (vouched for by a later bundle): a 0 marker.
    let unsigned = Bundle { signature: None, ..bundle.clone() };
    assert_eq!(unsigned.encoded(), [expected_header, vec![0], bundle.ops[0].encoded()].concat());
    assert_eq!(Bundle::decode_one(&unsigned.encoded()), Ok(unsigned.clone()));
    // The hash covers the header alone, so both copies link alike.
    assert_eq!(unsigned.hash(), bundle.hash());
    assert_eq!(unsigned.hash(), Hash::of(&bundle.header.encoded()));
}

#[test]
fn operation_type_tags_never_change() {
    // Every stored bundle holds these numbers: renumbering one loses data.
    let pinned = [
        ("Bootstrap", 1),
        ("AdmitActor", 2),
        ("AdoptModule", 3),
        ("CreateEntity", 10),
        ("DeleteEntity", 11),
        ("RestoreEntity", 12),
        ("SetField", 13),
        ("ClearField", 14),
        ("AddToTable", 15),
        ("RemoveFromTable", 16),
        ("RestoreFacet", 17),
        ("CreateEdge", 20),
        ("DeleteEdge", 21),
        ("RestoreEdge", 22),
        ("SetEdgeProperty", 23),
        ("LinkTables", 30),
        ("UnlinkTables", 31),
        ("ConfirmMapping", 32),
        ("RejectMapping", 33),
        ("RevokeMapping", 34),
        ("MergeEntities", 40),
        ("SplitEntity", 41),
        ("ResolveConflict", 50),
        ("SetJoinMode", 60),
        ("CreateAccessKey", 61),
        ("RevokeAccessKey", 62),
        ("UseAccessKey", 63),
        ("SetRecoveryKey", 64),
        ("Forked", 65),
        ("ForkedFrom", 66),
    ];
    let pinned: BTreeMap<&str, u8> = pinned.into_iter().collect();
    assert_eq!(pinned.len(), ALL_VARIANTS.len());
    for op in sample_operations() {
        let bytes = op.encoded();
        assert_eq!(&bytes[..16], op.id.as_bytes());
        assert_eq!(bytes[16..28], op.hlc.to_bytes());
        let name = variant_name(&op.payload);
        assert_eq!(bytes[28], pinned[name], "tag of {name}");
    }
    // Value tags, seen through a field write: id, clock, tag, entity, field name, value.
    let field = FieldKey::new("contacts", "email");
    let value_offset = 16 + 12 + 1 + 16 + 1 + field.as_str().len();
    for (value, tag) in [
        (text("x"), 1),
        (number(2.5), 2),
        (Value::Boolean(true), 3),
        (Value::Timestamp(-5), 4),
        (Value::Blob([7; 32]), 5),
    ] {
        let payload = OpPayload::SetField { entity: entity_id(1), field: field.clone(), value, replaces: Vec::new() };
        let bytes = operation(op_id(NOW, 1), Hlc::new(NOW, 0), payload).encoded();
        assert_eq!(bytes[value_offset], tag);
    }
}

/// A field write of `value`, encoded, with the value's 8 number bytes replaced by `raw`.
fn field_write_with_raw_number(raw: f64) -> Vec<u8> {
    let payload = OpPayload::SetField {
        entity: entity_id(1),
        field: FieldKey::new("contacts", "age"),
        value: number(1.0),
        replaces: Vec::new(),
    };
    let mut bytes = operation(op_id(NOW, 1), Hlc::new(NOW, 0), payload).encoded();
    // The encoding ends with the number's 8 bytes and an empty list of replaced writes.
    let end = bytes.len() - 1;
    assert_eq!(bytes[end - 8..end], 1.0f64.to_be_bytes());
    bytes[end - 8..end].copy_from_slice(&raw.to_be_bytes());
    bytes
}

fn decode_operation(bytes: &[u8]) -> Result<Operation, DecodeError> {
    let mut input = Decoder::new(bytes);
    let op = Operation::decode(&mut input)?;
    input.finish("the end of the operation")?;
    Ok(op)
}

#[test]
fn numbers_have_one_encoding_only() {
    assert!(decode_operation(&field_write_with_raw_number(0.0)).is_ok());
    assert!(decode_operation(&field_write_with_raw_number(-7.25)).is_ok());
    for raw in [-0.0, f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let error = decode_operation(&field_write_with_raw_number(raw)).unwrap_err();
        assert_eq!(error.what, "a finite number", "{raw}");
    }
    // The engine's own values never hold -0.0.
    let Value::Number(zero) = number(-0.0) else { unreachable!() };
    assert_eq!(zero.get().to_bits(), 0.0f64.to_bits());
    assert_eq!(
        operation(op_id(NOW, 1), Hlc::new(NOW, 0), set_field(entity_id(1), "age", number(-0.0))).encoded(),
        operation(op_id(NOW, 1), Hlc::new(NOW, 0), set_field(entity_id(1), "age", number(0.0))).encoded(),
    );
}

#[test]
fn non_canonical_and_malformed_bundles_are_refused() {
    let good = jane_run()[4].clone();
    let bytes = good.encoded();
    assert!(Bundle::decode_one(&bytes).is_ok());

    let refuse = |bytes: &[u8], why: &str| {
        assert!(decode_untrusted(bytes).is_err(), "accepted {why}");
    };

    // Trailing bytes would give two encodings of one bundle.
    refuse(&[bytes.clone(), vec![0]].concat(), "a trailing byte");
    // An unknown bundle format.
    for format in [0, BUNDLE_FORMAT + 1] {
        let mut unknown_format = bytes.clone();
        unknown_format[0] = format;
        refuse(&unknown_format, "an unknown bundle format");
    }
    // The signature marker must be 0 or 1.
    let marker_at = good.header.encoded().len();
    let mut marker = bytes.clone();
    marker[marker_at] = 2;
    refuse(&marker, "signature marker 2");
    // The seq (5, at byte 49) padded to two bytes.
    assert_eq!(bytes[49], 5);
    refuse(&[&bytes[..49], &[0x85, 0x00], &bytes[50..]].concat(), "a padded seq");
    // The previous-bundle marker must be 0 or 1.
    let mut marker = bytes.clone();
    marker[50] = 2;
    refuse(&marker, "previous-bundle marker 2");

    let reencoded = |edit: &dyn Fn(&mut Bundle)| {
        let mut bundle = good.clone();
        edit(&mut bundle);
        bundle.encoded()
    };
    refuse(&reencoded(&|b| b.header.seq = 0), "seq 0");
    refuse(&reencoded(&|b| b.header.seq = 1), "seq 1 naming a previous bundle");
    refuse(&reencoded(&|b| b.header.previous = None), "seq 5 naming no previous bundle");
    refuse(
        &reencoded(&|b| b.header.module_versions = [("b".into(), "1".into()), ("a".into(), "1".into())].into()),
        "module versions out of order",
    );
    refuse(
        &reencoded(&|b| b.header.module_versions = [("a".into(), "1".into()), ("a".into(), "2".into())].into()),
        "a module listed twice",
    );
    refuse(
        &reencoded(&|b| {
            b.header.op_hashes.clear();
            b.ops.clear();
        }),
        "a bundle without operations",
    );
    refuse(&reencoded(&|b| b.header.op_hashes.push(Hash([0; 32]))), "fewer operations than hashes");
    // More operations than hashes: the extra operation is trailing data.
    refuse(&reencoded(&|b| b.ops.push(b.ops[0].clone())), "more operations than hashes");

    // Operations: an unknown tag, an unknown value tag, a bad flag, a bad name.
    let op_start = good.header.encoded().len() + 1 + 64;
    let mut unknown_tag = bytes.clone();
    unknown_tag[op_start + 28] = 99;
    refuse(&unknown_tag, "operation tag 99");

    let mut author = Author::new("jane", workspace());
    let discard = author.next_op(OpPayload::RemoveFromTable {
        entity: entity_id(1),
        table: openprod_core::names::TableId::new("crew", "members"),
        handling: openprod_core::op::DataHandling::Discard,
    });
    let mut op_bytes = discard.encoded();
    assert!(decode_operation(&op_bytes).is_ok());
    *op_bytes.last_mut().unwrap() = 2;
    assert!(decode_operation(&op_bytes).is_err(), "data handling flag 2");

    let write = author.next_op(set_field(entity_id(1), "email", text("a")));
    let mut op_bytes = write.encoded();
    let value_tag = 16 + 12 + 1 + 16 + 1 + "contacts.email".len();
    op_bytes[value_tag] = 9;
    assert!(decode_operation(&op_bytes).is_err(), "value tag 9");

    // A field name without a module, and one that is not UTF-8.
    let mut out = Encoder::new();
    out.fixed(op_id(NOW, 1).as_bytes()).fixed(&Hlc::new(NOW, 0).to_bytes()).u8(14).fixed(entity_id(1).as_bytes());
    let prefix = out.into_bytes();
    for (name, why) in [(&b"email"[..], "a field name without module"), (&[0xc3, 0x28][..], "invalid UTF-8")] {
        let mut out = Encoder::new();
        out.fixed(&prefix).bytes(name).varint(0);
        assert!(decode_operation(&out.into_bytes()).is_err(), "{why}");
    }
    let mut out = Encoder::new();
    out.fixed(&prefix).str("contacts.email").varint(0);
    assert!(decode_operation(&out.into_bytes()).is_ok(), "the well-formed control case");
}

// ---------------------------------------------------------------------------
// 2. Verifying one bundle.

#[test]
fn verify_accepts_a_well_formed_bundle() {
    for bundle in &jane_run()[..3] {
        assert_eq!(bundle.verify(workspace()), Ok(()));
    }
    let decoded = Bundle::decode_one(&jane_run()[2].encoded()).unwrap();
    assert_eq!(decoded.verify(workspace()), Ok(()));
}

#[test]
fn verify_refuses_a_bundle_of_another_workspace() {
    let bundle = &jane_run()[0];
    let elsewhere = workspace_id(2);
    assert_eq!(bundle.verify(elsewhere), Err(VerifyError::ForeignWorkspace { seq: 1, workspace: workspace() }));
}

#[test]
fn verify_refuses_a_changed_operation() {
    let mut changed = jane_run()[2].clone();
    changed.ops[0].hlc = Hlc::new(changed.ops[0].hlc.wall(), 1);
    assert_eq!(changed.verify(workspace()), Err(VerifyError::BadOperationHash { seq: 3, index: 0 }));

    let mut changed = jane_run()[2].clone();
    changed.ops[0].id = op_id(NOW, 0xee);
    assert_eq!(changed.verify(workspace()), Err(VerifyError::BadOperationHash { seq: 3, index: 0 }));

    // The second of three operations.
    let mut author = Author::new("alex", workspace());
    let ops = (0..3).map(|n| author.next_op(set_field(entity_id(n), "email", text("a")))).collect();
    let mut bundle = author.sign(ops);
    assert_eq!(bundle.verify(workspace()), Ok(()));
    bundle.ops[1].payload = set_field(entity_id(1), "email", text("b"));
    assert_eq!(bundle.verify(workspace()), Err(VerifyError::BadOperationHash { seq: 1, index: 1 }));

    // A dropped or an added operation.
    let mut dropped = jane_run()[2].clone();
    dropped.ops.clear();
    assert_eq!(dropped.verify(workspace()), Err(VerifyError::BadOperationHash { seq: 3, index: 0 }));
    let mut added = jane_run()[2].clone();
    added.ops.push(added.ops[0].clone());
    assert_eq!(added.verify(workspace()), Err(VerifyError::BadOperationHash { seq: 3, index: 1 }));
}

#[test]
fn verify_refuses_a_changed_header_field() {
    let original = &jane_run()[3];
    type Edit = fn(&mut Bundle);
    let edits: [(&str, Edit); 4] = [
        ("seq", |b| b.header.seq += 1),
        ("previous", |b| b.header.previous = Some(Hash([9; 32]))),
        ("module versions", |b| {
            b.header.module_versions =
                b.header.module_versions.iter().cloned().chain([("zz".into(), "9".into())]).collect()
        }),
        ("author", |b| b.header.author = actor("mallory")),
    ];
    for (field, edit) in edits {
        let mut changed = original.clone();
        edit(&mut changed);
        assert_eq!(changed.verify(workspace()), Err(VerifyError::BadSignature { seq: changed.header.seq }), "{field}");
    }
}

#[test]
fn verify_refuses_a_signature_by_another_key() {
    let mut forged = jane_run()[3].clone();
    forged.signature = Some(forged_signature(&forged));
    assert_eq!(forged.verify(workspace()), Err(VerifyError::BadSignature { seq: 4 }));
    // The signature of another bundle of the same author does not fit either.
    forged.signature = jane_run()[2].signature.clone();
    assert_eq!(forged.verify(workspace()), Err(VerifyError::BadSignature { seq: 4 }));
}

#[test]
fn verify_refuses_a_header_clock_that_is_not_the_newest_operation_clock() {
    let jane = identity("jane");
    let mut author = Author::new("alex", workspace());
    let ops: Vec<Operation> = (0..3).map(|n| author.next_op(set_field(entity_id(n), "email", text("a")))).collect();
    let newest = ops[2].hlc;
    let bundle = author.sign(ops);
    assert_eq!(bundle.header.hlc, newest);

    // Signed properly, so only the clock is wrong.
    for wrong in [bundle.ops[0].hlc, Hlc::new(newest.wall(), newest.counter() + 1), Hlc::ZERO] {
        let mut changed = bundle.clone();
        changed.header.hlc = wrong;
        let changed = resign(changed, &author.identity);
        assert_eq!(changed.verify(workspace()), Err(VerifyError::WrongBundleClock { seq: 1 }), "{wrong:?}");
    }
    // Jane's run too: a one-op bundle whose header clock differs from its op's.
    let mut changed = jane_run()[0].clone();
    changed.header.hlc = Hlc::new(changed.header.hlc.wall() + 1, 0);
    assert_eq!(resign(changed, &jane).verify(workspace()), Err(VerifyError::WrongBundleClock { seq: 1 }));
}

#[test]
fn a_bundle_signed_with_an_actor_id_that_is_no_public_key_is_refused() {
    let not_a_key = invalid_public_key();
    let mut bundle = jane_run()[0].clone();
    bundle.header.author = not_a_key;
    assert_eq!(bundle.verify(workspace()), Err(VerifyError::BadSignature { seq: 1 }));
}

/// 32 bytes that do not decode to an Ed25519 point (found deterministically).
fn invalid_public_key() -> ActorId {
    (0..=255u8)
        .map(|n| ActorId::from_bytes([n; 32]))
        .find(|actor| actor.verify(b"", &Signature::from_bytes([0; 64])) == Err(IdentityError::InvalidPublicKey))
        .expect("some repeated byte is not a curve point")
}

// ---------------------------------------------------------------------------
// 3. Flipped bits: every damaged byte is caught by both verification paths.

/// The live-edit path over a run: each bundle verified alone with
/// [`Bundle::verify`] and linked to the one before with [`check_link`].
fn verify_run_bundle_by_bundle(
    run: &[Bundle],
    after: Option<ChainTip>,
    workspace: WorkspaceId,
) -> Result<(), VerifyError> {
    let mut tip = after;
    for bundle in run {
        bundle.verify(workspace)?;
        check_link(&bundle.header, tip)?;
        tip = Some(bundle.tip());
    }
    Ok(())
}

/// The same checks in the batched form: every link, then [`verify_each`]
/// (contents one by one, signatures in one batch).
fn verify_links_then_each(run: &[Bundle], after: Option<ChainTip>, workspace: WorkspaceId) -> Result<(), VerifyError> {
    let mut tip = after;
    for bundle in run {
        check_link(&bundle.header, tip)?;
        tip = Some(bundle.tip());
    }
    verify_each(run, workspace).map_err(|(_, error)| error)
}

type OneByOne = fn(&[Bundle], Option<ChainTip>, WorkspaceId) -> Result<(), VerifyError>;

/// The seq an error names.
fn named_seq(error: &VerifyError) -> u64 {
    match error {
        VerifyError::ForeignWorkspace { seq, .. }
        | VerifyError::BadOperationHash { seq, .. }
        | VerifyError::WrongBundleClock { seq }
        | VerifyError::BadSignature { seq }
        | VerifyError::Unvouched { seq }
        | VerifyError::ChainGap { seq, .. }
        | VerifyError::BrokenChain { seq }
        | VerifyError::Fork { seq }
        | VerifyError::MixedAuthors { seq }
        | VerifyError::DuplicateOperation { seq, .. }
        | VerifyError::ForeignOperationId { seq, .. } => *seq,
    }
}

/// A run to damage, which intact extends `after`, and the bundle-by-bundle
/// path to check it with besides [`verify_run`].
struct Target<'a> {
    run: &'a [Bundle],
    after: Option<ChainTip>,
    one_by_one: OneByOne,
}

#[derive(Debug, Default)]
struct FlipOutcomes {
    refused_by_decoding: usize,
    refused_by_verifying: usize,
}

/// Flips `bit` of byte `position` of `run[index]`'s encoding, and asserts
/// that the run with that bundle damaged is refused both bundle by bundle
/// and as a run, each error naming the damaged bundle or the one after it
/// (whose link to it broke).
fn assert_flip_is_refused(
    target: &Target<'_>,
    index: usize,
    bytes: &[u8],
    position: usize,
    bit: u8,
    outcomes: &mut FlipOutcomes,
) {
    let Target { run, after, one_by_one } = *target;
    let workspace = workspace();
    let mut damaged_bytes = bytes.to_vec();
    damaged_bytes[position] ^= bit;
    let seq = run[index].header.seq;
    let where_ = format!("bundle {index} (seq {seq}), byte {position} of {}, bit {bit:#04x}", bytes.len());
    let damaged = match decode_untrusted(&damaged_bytes) {
        Err(_) => {
            outcomes.refused_by_decoding += 1;
            return;
        }
        Ok(bundle) => bundle,
    };
    assert_ne!(damaged, run[index], "{where_}: different bytes decoded to the same bundle");
    assert_eq!(damaged.encoded(), damaged_bytes, "{where_}: the damaged bundle decodes but re-encodes differently");
    // A damaged seq field is named by its new value.
    let acceptable = [seq, seq + 1, damaged.header.seq];
    let author_of_newest_damaged =
        run.len() > 1 && index + 1 == run.len() && damaged.header.author != run[index].header.author;
    let mut damaged_run = run.to_vec();
    damaged_run[index] = damaged;

    let error = one_by_one(&damaged_run, after, workspace).expect_err(&format!("{where_}: accepted bundle by bundle"));
    assert!(acceptable.contains(&named_seq(&error)), "{where_}: bundle by bundle, {error:?} names another bundle");

    let error = verify_run(&damaged_run, after, workspace).expect_err(&format!("{where_}: accepted as a run"));
    if author_of_newest_damaged {
        // `verify_run` takes the run's author from its newest bundle, so
        // when that one's author is damaged it names the oldest instead.
        assert_eq!(error, VerifyError::MixedAuthors { seq: run[0].header.seq }, "{where_}");
    } else {
        assert!(acceptable.contains(&named_seq(&error)), "{where_}: as a run, {error:?} names another bundle");
    }
    outcomes.refused_by_verifying += 1;
}

/// Which bytes of a bundle's encoding to damage.
#[derive(Clone, Copy)]
enum Region {
    Everything,
    /// The bytes after the signature.
    Operations,
}

/// Flips `bits` of every byte in `region` of every bundle of `target.run`.
fn flip_every_byte(target: &Target<'_>, region: Region, bits: &[u8]) -> FlipOutcomes {
    assert_eq!((target.one_by_one)(target.run, target.after, workspace()), Ok(()), "the intact run, bundle by bundle");
    assert_eq!(verify_run(target.run, target.after, workspace()), Ok(()), "the intact run as a run");
    let mut outcomes = FlipOutcomes::default();
    let mut flips = 0;
    for (index, bundle) in target.run.iter().enumerate() {
        let bytes = bundle.encoded();
        let start = match region {
            Region::Everything => 0,
            Region::Operations => bundle.header.encoded().len() + 1 + 64,
        };
        for position in start..bytes.len() {
            for &bit in bits {
                assert_flip_is_refused(target, index, &bytes, position, bit, &mut outcomes);
                flips += 1;
            }
        }
    }
    assert_eq!(outcomes.refused_by_decoding + outcomes.refused_by_verifying, flips);
    // Both defences took part: damage that still decodes was caught by verification.
    assert!(outcomes.refused_by_decoding > 0 && outcomes.refused_by_verifying > 0, "{outcomes:?}");
    outcomes
}

const EVERY_BIT: [u8; 8] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80];

#[test]
fn every_flipped_byte_of_a_20_bundle_run_is_refused_bundle_by_bundle_and_as_a_run() {
    let target = Target { run: &jane_run()[..20], after: None, one_by_one: verify_links_then_each };
    flip_every_byte(&target, Region::Everything, &[0x01]);
}

#[test]
fn every_flipped_bit_of_a_6_bundle_run_is_refused_bundle_by_bundle_and_as_a_run() {
    let target = Target { run: &jane_run()[..6], after: None, one_by_one: verify_run_bundle_by_bundle };
    flip_every_byte(&target, Region::Everything, &EVERY_BIT);
    // The same run continuing a held tip.
    let target =
        Target { run: &jane_run()[6..9], after: Some(jane_run()[5].tip()), one_by_one: verify_run_bundle_by_bundle };
    flip_every_byte(&target, Region::Everything, &[0x01, 0x80]);
}

#[test]
fn every_flipped_bit_of_every_operation_kind_is_refused() {
    // A one-bundle run for each sample payload, every bit of every byte of
    // its operation (the run tests above damage headers and signatures).
    let run = &jane_run()[..sample_payloads().len()];
    for (index, bundle) in run.iter().enumerate() {
        let after = index.checked_sub(1).map(|before| run[before].tip());
        let target = Target { run: std::slice::from_ref(bundle), after, one_by_one: verify_run_bundle_by_bundle };
        flip_every_byte(&target, Region::Operations, &EVERY_BIT);
    }
}

#[test]
fn sampled_flipped_bits_of_a_100_bundle_run_are_refused_bundle_by_bundle_and_as_a_run() {
    let run = jane_run();
    assert_eq!(run.len(), 100);
    let target = Target { run, after: None, one_by_one: verify_links_then_each };
    assert_eq!(verify_links_then_each(run, None, workspace()), Ok(()));
    assert_eq!(verify_run(run, None, workspace()), Ok(()));

    let mut random = SeededEntropy::new(100);
    let mut outcomes = FlipOutcomes::default();
    for (index, bundle) in run.iter().enumerate() {
        let bytes = bundle.encoded();
        let header_len = bundle.header.encoded().len();
        let mut positions: Vec<usize> = (0..8).map(|_| (random.next_u64() % bytes.len() as u64) as usize).collect();
        // Always one byte of the signature and one of the operation.
        positions.extend([header_len + (random.next_u64() % 64) as usize, header_len + 64 + 20]);
        for position in positions {
            let bit = EVERY_BIT[(random.next_u64() % 8) as usize];
            assert_flip_is_refused(&target, index, &bytes, position, bit, &mut outcomes);
        }
    }
    assert!(outcomes.refused_by_verifying > 100, "{outcomes:?}");
}

// ---------------------------------------------------------------------------
// 4. Verifying runs.

#[test]
fn verify_run_accepts_an_intact_run_from_the_start_or_after_a_tip() {
    let run = jane_run();
    assert_eq!(verify_run(&run[..10], None, workspace()), Ok(()));
    assert_eq!(verify_run(&run[10..20], Some(run[9].tip()), workspace()), Ok(()));
    assert_eq!(verify_run(&run[19..20], Some(run[18].tip()), workspace()), Ok(()));
    assert_eq!(verify_run(&[], None, workspace()), Ok(()));
    assert_eq!(verify_run(&[], Some(run[3].tip()), workspace()), Ok(()));
}

#[test]
fn verify_run_refuses_a_run_that_does_not_extend_the_tip() {
    let run = jane_run();
    let later = &run[10..14]; // seqs 11 to 14
    assert_eq!(verify_run(later, None, workspace()), Err(VerifyError::ChainGap { seq: 11, expected: 1 }));
    assert_eq!(
        verify_run(later, Some(run[8].tip()), workspace()),
        Err(VerifyError::ChainGap { seq: 11, expected: 10 })
    );
    assert_eq!(
        verify_run(later, Some(run[10].tip()), workspace()),
        Err(VerifyError::ChainGap { seq: 11, expected: 12 })
    );
    // The right seq but another bundle's hash.
    let elsewhere = ChainTip { seq: 10, hash: Hash([0x5a; 32]) };
    assert_eq!(verify_run(later, Some(elsewhere), workspace()), Err(VerifyError::BrokenChain { seq: 11 }));
    let bobs_tenth = &crew_chains()[&actor("bob")][9];
    assert_eq!(verify_run(later, Some(bobs_tenth.tip()), workspace()), Err(VerifyError::BrokenChain { seq: 11 }));
    // A hole or a swap inside the run.
    let holed = [run[0].clone(), run[1].clone(), run[3].clone()];
    assert_eq!(verify_run(&holed, None, workspace()), Err(VerifyError::ChainGap { seq: 4, expected: 3 }));
    let swapped = [run[0].clone(), run[2].clone(), run[1].clone()];
    assert_eq!(verify_run(&swapped, None, workspace()), Err(VerifyError::ChainGap { seq: 3, expected: 2 }));
    let repeated = [run[0].clone(), run[1].clone(), run[1].clone()];
    assert_eq!(verify_run(&repeated, None, workspace()), Err(VerifyError::ChainGap { seq: 2, expected: 3 }));
}

#[test]
fn verify_run_refuses_a_run_mixing_authors() {
    let jane = jane_run();
    // Mallory signs a bundle that links perfectly onto Jane's chain.
    let mut mallory = Author::new("mallory", workspace());
    let mut op = mallory.next_op(set_field(entity_id(1), "email", text("mallory@example.org")));
    // Its id that of its place, seq 4 of Mallory's chain.
    op.id = OpId::derived(&mallory.actor(), 4, 0, NOW);
    let grafted = Bundle::sign(
        &mallory.identity,
        workspace(),
        Some(jane[2].tip()),
        module_versions_of(std::slice::from_ref(&op)),
        vec![op],
    );
    assert_eq!(grafted.verify(workspace()), Ok(()));
    assert_eq!(check_link(&grafted.header, Some(jane[2].tip())), Ok(()));

    let run = [jane[0].clone(), jane[1].clone(), jane[2].clone(), grafted.clone()];
    assert_eq!(verify_run(&run, None, workspace()), Err(VerifyError::MixedAuthors { seq: 1 }));
    // Mallory's bundle leading a run of Jane's.
    let run = [grafted, jane[3].clone()];
    assert_eq!(verify_run(&run, Some(jane[2].tip()), workspace()), Err(VerifyError::MixedAuthors { seq: 4 }));
}

#[test]
fn an_operation_id_copied_from_another_members_operation_is_refused() {
    // Mallory signs a bundle whose operation carries the id of one of
    // Jane's, already published: a device that took it first would refuse
    // Jane's as a repeat and hold up her chain after it.
    let jane = jane_run();
    let mut mallory = Author::new("mallory", workspace());
    let mut op = mallory.next_op(set_field(entity_id(1), "email", text("mallory@example.org")));
    op.id = jane[2].ops[0].id;
    let copy = mallory.sign(vec![op.clone()]);
    let foreign = VerifyError::ForeignOperationId { seq: 1, index: 0 };
    let refused = Err(foreign.clone());
    assert_eq!(copy.verify(workspace()), refused);
    assert_eq!(verify_run(std::slice::from_ref(&copy), None, workspace()), refused);
    assert_eq!(verify_each(&[jane[0].clone(), copy.clone()], workspace()), Err((1, foreign.clone())));
    assert!(foreign.to_string().contains("carries an id that is not its own"));
    // Jane's own bundles carry the ids of their places, and verify.
    assert_eq!(verify_run(&jane[..3], None, workspace()), Ok(()));
    // Formats before 3 drew ids at random, and are not judged by it.
    let mut older =
        Bundle::sign(&mallory.identity, workspace(), None, module_versions_of(std::slice::from_ref(&op)), vec![op]);
    older.header.format = 2;
    assert_eq!(resign(older, &mallory.identity).verify(workspace()), Ok(()));
}

#[test]
fn verify_run_names_the_newest_bundle_when_only_its_signature_is_bad() {
    let mut run = jane_run()[..6].to_vec();
    let newest = run.last_mut().unwrap();
    newest.signature = Some(forged_signature(newest));
    assert_eq!(verify_run(&run, None, workspace()), Err(VerifyError::BadSignature { seq: 6 }));
    assert_eq!(verify_run(&run[3..], Some(run[2].tip()), workspace()), Err(VerifyError::BadSignature { seq: 6 }));
}

#[test]
fn verify_run_pinpoints_a_bad_bundle_in_the_middle() {
    let jane = identity("jane");
    let run = &jane_run()[..10];
    let with_fifth = |edit: &dyn Fn(&mut Bundle)| {
        let mut damaged = run.to_vec();
        edit(&mut damaged[4]);
        verify_run(&damaged, None, workspace())
    };
    // A changed operation.
    assert_eq!(
        with_fifth(&|b| b.ops[0].hlc = Hlc::new(b.ops[0].hlc.wall() + 1, 0)),
        Err(VerifyError::BadOperationHash { seq: 5, index: 0 })
    );
    // A header clock out of step with the operation, re-signed by Jane herself.
    assert_eq!(
        with_fifth(&|b| {
            b.header.hlc = Hlc::ZERO;
            *b = resign(b.clone(), &jane);
        }),
        Err(VerifyError::WrongBundleClock { seq: 5 })
    );
    // A bundle of another workspace.
    assert_eq!(
        with_fifth(&|b| {
            b.header.workspace = workspace_id(2);
            *b = resign(b.clone(), &jane);
        }),
        Err(VerifyError::ForeignWorkspace { seq: 5, workspace: workspace_id(2) })
    );
    // A forged signature: every signature a run carries is checked.
    assert_eq!(with_fifth(&|b| b.signature = Some(forged_signature(b))), Err(VerifyError::BadSignature { seq: 5 }));
    // A missing one is not missed: the newest signature vouches for the fifth.
    assert_eq!(with_fifth(&|b| b.signature = None), Ok(()));
    // Another fifth bundle, validly signed by Jane on her fourth (a fork),
    // breaks the same link.
    let id = OpId::derived(&jane.actor_id(), 5, 0, NOW);
    let op = operation(id, run[4].ops[0].hlc, set_field(entity_id(5), "email", text("fork")));
    let other_fifth = Bundle::sign(&jane, workspace(), Some(run[3].tip()), Vec::new(), vec![op]);
    assert_eq!(other_fifth.header.seq, 5);
    assert_eq!(other_fifth.verify(workspace()), Ok(()));
    assert_eq!(with_fifth(&|b| *b = other_fifth.clone()), Err(VerifyError::BrokenChain { seq: 6 }));
    // A sixth bundle whose seq says 7: a gap right after the fifth.
    let mut damaged = run.to_vec();
    damaged[5].header.seq = 7;
    assert_eq!(verify_run(&damaged, None, workspace()), Err(VerifyError::ChainGap { seq: 7, expected: 6 }));
}

// ---------------------------------------------------------------------------
// 5. Verifying independent bundles in a batch.

#[test]
fn verify_each_accepts_bundles_from_several_authors() {
    let bundles = crew_round_robin();
    assert_eq!(bundles.len(), 64);
    assert_eq!(verify_each(&bundles, workspace()), Ok(()));
    assert_eq!(verify_each(&bundles[..1], workspace()), Ok(()));
    assert_eq!(verify_each(&[], workspace()), Ok(()));
}

#[test]
fn verify_each_names_the_one_forged_signature_among_64() {
    let mut bundles = crew_round_robin();
    let forged = 37;
    bundles[forged].signature = Some(forged_signature(&bundles[forged]));
    let seq = bundles[forged].header.seq;
    assert_eq!(verify_each(&bundles, workspace()), Err((forged, VerifyError::BadSignature { seq })));
}

#[test]
fn verify_each_names_a_bundle_whose_contents_are_wrong() {
    let mut bundles = crew_round_robin();
    bundles[20].ops[0].id = op_id(NOW, 0x77);
    let seq = bundles[20].header.seq;
    assert_eq!(verify_each(&bundles, workspace()), Err((20, VerifyError::BadOperationHash { seq, index: 0 })));

    let mut bundles = crew_round_robin();
    bundles[5].header.workspace = workspace_id(3);
    let seq = bundles[5].header.seq;
    assert_eq!(
        verify_each(&bundles, workspace()),
        Err((5, VerifyError::ForeignWorkspace { seq, workspace: workspace_id(3) }))
    );
}

#[test]
fn verify_each_names_a_bundle_whose_author_is_no_public_key() {
    let mut bundles = crew_round_robin()[..8].to_vec();
    bundles[6].header.author = invalid_public_key();
    let seq = bundles[6].header.seq;
    assert_eq!(verify_each(&bundles, workspace()), Err((6, VerifyError::BadSignature { seq })));
}

// ---------------------------------------------------------------------------
// 6. The oplog.

#[test]
fn log_accepts_any_interleaving_of_authors_that_keeps_each_chain_in_order() {
    let orders = [
        crew_round_robin(),
        crew_chains().values().flatten().cloned().collect(),
        crew_chains().values().rev().flatten().cloned().collect(),
        crew_shuffled(1),
        crew_shuffled(2),
    ];
    for order in orders {
        let log = log_of(&order);
        assert_eq!(log.len(), 64);
        assert_eq!(log.op_count(), 64);
        assert_eq!(log.bundles().cloned().collect::<Vec<_>>(), order, "reception order is kept");
        for (actor, chain) in crew_chains() {
            assert_eq!(log.tip(actor), Some(chain.last().unwrap().tip()));
            for bundle in chain {
                assert_eq!(log.get(actor, bundle.header.seq), Some(bundle));
                let op = &bundle.ops[0];
                assert_eq!(log.operation(op.id), Some((bundle, op)));
            }
            assert_eq!(log.get(actor, 0), None);
            assert_eq!(log.get(actor, CHAIN_LENGTH as u64 + 1), None);
        }
        assert_eq!(log.tip(&actor("mallory")), None);
        assert_eq!(log.operation(op_id(NOW, 0xee)), None);
    }
}

#[test]
fn a_log_longer_than_its_storage_chunks_reads_back_every_bundle_in_order() {
    // The log stores bundles in chunks of 4,096: cross two boundaries.
    let mut author = Author::new("jane", workspace());
    let chain = author.one_op_bundles(2 * 4_096 + 3);
    let log = log_of(&chain);
    assert_eq!(log.len(), chain.len());
    assert_eq!(log.bundles().len(), chain.len());
    assert!(log.bundles().eq(chain.iter()), "reception order, forwards");
    assert!(log.bundles().rev().eq(chain.iter().rev()), "and backwards");
    for index in [0, 4_095, 4_096, 4_097, 8_191, 8_192, chain.len() - 1] {
        assert_eq!(log.bundle(index), &chain[index]);
        assert_eq!(log.get(&author.actor(), index as u64 + 1), Some(&chain[index]));
    }
    let mut vector = VersionVector::new();
    vector.set(author.actor(), 4_090);
    assert!(log.missing_for(&vector).eq(chain[4_090..].iter()), "what a peer lacks, across a chunk boundary");
}

/// Everything observable about a log, to check that a refused or duplicate append changed nothing.
fn observe(log: &OpLog) -> (Vec<Bundle>, usize, VersionVector, Hash, Vec<(OpId, u64)>) {
    let found = log
        .bundles()
        .flat_map(|bundle| &bundle.ops)
        .map(|op| (op.id, log.operation(op.id).map_or(0, |(bundle, _)| bundle.header.seq)))
        .collect();
    (log.bundles().cloned().collect::<Vec<_>>(), log.op_count(), log.version_vector(), log.ops_digest(), found)
}

#[test]
fn log_keeps_a_duplicate_once_and_changes_nothing() {
    let mut log = log_of(&crew_round_robin()[..20]);
    let before = observe(&log);
    for index in [0, 7, 19] {
        let again = crew_round_robin()[index].clone();
        assert_eq!(log.check(&again), Ok(Appended::Duplicate));
        assert_eq!(log.append(again), Ok(Appended::Duplicate));
        assert_eq!(observe(&log), before);
    }
    // A decoded copy (not the same value in memory) is a duplicate too.
    let copy = Bundle::decode_one(&crew_round_robin()[3].encoded()).unwrap();
    assert_eq!(log.append(copy), Ok(Appended::Duplicate));
    assert_eq!(observe(&log), before);
}

#[test]
fn log_refuses_a_bundle_that_skips_ahead_in_its_chain() {
    let alice = &crew_chains()[&actor("alice")];
    let mut log = OpLog::new();
    assert_eq!(log.append(alice[1].clone()), Err(VerifyError::ChainGap { seq: 2, expected: 1 }));
    assert!(log.is_empty());
    assert_eq!(log.append(alice[0].clone()), Ok(Appended::New));
    let before = observe(&log);
    assert_eq!(log.check(&alice[2]), Err(VerifyError::ChainGap { seq: 3, expected: 2 }));
    assert_eq!(log.append(alice[2].clone()), Err(VerifyError::ChainGap { seq: 3, expected: 2 }));
    assert_eq!(observe(&log), before);
    // Filling the gap lets the rest in.
    assert_eq!(log.append(alice[1].clone()), Ok(Appended::New));
    assert_eq!(log.append(alice[2].clone()), Ok(Appended::New));
}

#[test]
fn log_refuses_a_fork_of_a_held_bundle_and_a_bundle_built_on_one() {
    let alice = &crew_chains()[&actor("alice")];
    let mut log = log_of(&alice[..3]);
    // Alice's key used on a second device: a different history from seq 1.
    let mut second_device = Author::new("alice", workspace()).with_clock(NOW + 500);
    let forked: Vec<Bundle> = (0..4)
        .map(|n| {
            let op = second_device.next_op(set_field(entity_id(n), "email", text("other")));
            second_device.sign(vec![op])
        })
        .collect();
    for bundle in &forked {
        assert_eq!(bundle.verify(workspace()), Ok(()), "each forked bundle is validly signed");
    }
    let before = observe(&log);
    assert_eq!(log.append(forked[0].clone()), Err(VerifyError::Fork { seq: 1 }));
    assert_eq!(log.append(forked[1].clone()), Err(VerifyError::Fork { seq: 2 }));
    assert_eq!(log.append(forked[2].clone()), Err(VerifyError::Fork { seq: 3 }));
    // Seq 4 of the other history does not follow the held seq 3.
    assert_eq!(log.append(forked[3].clone()), Err(VerifyError::BrokenChain { seq: 4 }));
    assert_eq!(observe(&log), before);
}

#[test]
fn log_refuses_an_operation_id_it_already_holds() {
    let mut log = log_of(&crew_round_robin()[..8]);
    let held = crew_round_robin()[2].ops[0].clone();
    let before = observe(&log);

    // Mallory replays Alice's op id in an op of her own, at another clock.
    let mut mallory = Author::new("mallory", workspace());
    let replay = operation(held.id, Hlc::new(NOW + 999, 0), set_field(entity_id(1), "email", text("x")));
    let bundle = mallory.sign(vec![replay]);
    assert_eq!(log.check(&bundle), Err(VerifyError::DuplicateOperation { seq: 1, op: held.id }));
    assert_eq!(log.append(bundle), Err(VerifyError::DuplicateOperation { seq: 1, op: held.id }));
    assert_eq!(observe(&log), before);

    // One bundle naming the same new op id twice.
    let mut erin = Author::new("erin", workspace());
    let op = erin.next_op(set_field(entity_id(2), "email", text("y")));
    let twice = erin.sign(vec![op.clone(), op.clone()]);
    assert_eq!(log.append(twice), Err(VerifyError::DuplicateOperation { seq: 1, op: op.id }));
    assert_eq!(observe(&log), before);
}

#[test]
fn version_vector_counts_each_authors_chain() {
    let round_robin = crew_round_robin();
    let log = log_of(&round_robin[..10]); // 3, 3, 2 and 2 bundles
    let vector = log.version_vector();
    let mut expected = BTreeMap::new();
    for bundle in &round_robin[..10] {
        *expected.entry(bundle.header.author).or_insert(0u64) += 1;
    }
    assert_eq!(vector.iter().map(|(actor, seq)| (*actor, *seq)).collect::<BTreeMap<_, _>>(), expected);
    assert_eq!(vector.get(&actor("mallory")), 0);
    assert!(vector.covers(&VersionVector::new()));
    assert!(log_of(&round_robin).version_vector().covers(&vector));
    assert!(!vector.covers(&log_of(&round_robin).version_vector()));
    assert_eq!(OpLog::new().version_vector(), VersionVector::new());
}

#[test]
fn missing_for_gives_exactly_what_a_peer_lacks_in_chain_order() {
    let log = log_of(&crew_shuffled(3));
    let [alice, bob, carol, dan] = CREW.map(actor);
    let mut peer = VersionVector::new();
    // Alice: nothing held. Bob: 5. Carol: all. Dan: more than this log has.
    // Erin: an author this log has never heard of.
    peer.set(bob, 5);
    peer.set(carol, CHAIN_LENGTH as u64);
    peer.set(dan, CHAIN_LENGTH as u64 + 4);
    peer.set(actor("erin"), 3);

    let missing: Vec<&Bundle> = log.missing_for(&peer).collect();
    let mut by_author: BTreeMap<ActorId, Vec<u64>> = BTreeMap::new();
    for bundle in &missing {
        by_author.entry(bundle.header.author).or_default().push(bundle.header.seq);
    }
    let expected: BTreeMap<ActorId, Vec<u64>> =
        [(alice, (1..=16).collect()), (bob, (6..=16).collect())].into_iter().collect();
    assert_eq!(by_author, expected, "exactly seq > the peer's, each author's in chain order");
    for bundle in &missing {
        assert_eq!(Some(*bundle), log.get(&bundle.header.author, bundle.header.seq));
    }
    assert_eq!(log.missing_count(&peer), 27);
    assert_eq!(log.missing_count(&peer), missing.len() as u64);

    assert_eq!(log.missing_for(&log.version_vector()).count(), 0);
    assert_eq!(log.missing_count(&log.version_vector()), 0);
    assert_eq!(log.missing_for(&VersionVector::new()).count(), 64);
    assert_eq!(log.missing_count(&VersionVector::new()), 64);
    let mut beyond = VersionVector::new();
    beyond.set(alice, u64::MAX);
    assert_eq!(log.missing_for(&beyond).filter(|bundle| bundle.header.author == alice).count(), 0);
    assert_eq!(log.missing_count(&beyond), 48);
}

#[test]
fn sending_what_a_peer_lacks_brings_it_level() {
    let full = log_of(&crew_round_robin());
    // The peer holds a different prefix of each chain.
    let mut peer = OpLog::new();
    for (index, chain) in crew_chains().values().enumerate() {
        for bundle in &chain[..index * 5] {
            peer.append(bundle.clone()).unwrap();
        }
    }
    let wanted = full.missing_count(&peer.version_vector());
    let sent: Vec<Bundle> = full.missing_for(&peer.version_vector()).cloned().collect();
    assert_eq!(sent.len() as u64, wanted);
    for bundle in sent {
        assert_eq!(peer.append(bundle), Ok(Appended::New));
    }
    assert_eq!(peer.version_vector(), full.version_vector());
    assert_eq!(peer.ops_digest(), full.ops_digest());
    assert_eq!(full.missing_count(&peer.version_vector()), 0);
}

#[test]
fn every_operation_is_found_and_digested_alike_whatever_the_arrival_order() {
    // Add multi-op bundles whose clocks interleave with the crew's.
    let mut erin = Author::new("erin", workspace()).with_clock(NOW + 2);
    let mut erins = Vec::new();
    for _ in 0..3 {
        let ops = (0..4).map(|n| erin.next_op(set_field(entity_id(n), "email", text("e")))).collect();
        erins.push(erin.sign(ops));
        erin.clock -= 2; // the next bundle starts before this one ended
    }
    let arrivals = [[crew_round_robin(), erins.clone()].concat(), [erins.clone(), crew_shuffled(4)].concat(), {
        let mut mixed = crew_shuffled(5);
        for (at, bundle) in [(60, &erins[2]), (30, &erins[1]), (0, &erins[0])] {
            mixed.insert(at, bundle.clone());
        }
        mixed
    }];
    let mut expected: Vec<(Hlc, OpId)> =
        arrivals[0].iter().flat_map(|bundle| bundle.ops.iter().map(|op| (op.hlc, op.id))).collect();
    expected.sort();
    assert_eq!(expected.len(), 64 + 12);
    assert!(expected.windows(2).any(|pair| pair[0].0 == pair[1].0), "the fixture has equal clocks to break ties on");

    let mut digests = Vec::new();
    for arrival in &arrivals {
        let log = log_of(arrival);
        assert_eq!(log.op_count(), expected.len());
        for (hlc, id) in &expected {
            let (bundle, op) = log.operation(*id).expect("every operation is found by its id");
            assert_eq!((op.id, op.hlc), (*id, *hlc));
            assert!(bundle.ops.contains(op), "each operation comes with its own bundle");
        }
        digests.push(log.ops_digest());
    }
    assert!(digests.windows(2).all(|pair| pair[0] == pair[1]), "{digests:?}");

    // One operation fewer, a different digest.
    let fewer = log_of(&arrivals[0][..arrivals[0].len() - 1]);
    assert_ne!(fewer.ops_digest(), digests[0]);
    assert_ne!(OpLog::new().ops_digest(), digests[0]);
}

// ---------------------------------------------------------------------------
// 7. Hostile input never panics, never allocates wildly.

#[test]
fn random_bytes_never_decode_into_a_bundle() {
    let mut random = SeededEntropy::new(7);
    let mut lengths: Vec<usize> = (0..4000).map(|_| (random.next_u64() % 400) as usize).collect();
    lengths.extend([0, 1, 2, 64, 200, 1 << 12, 1 << 16, 1 << 20]);
    for length in lengths {
        let mut bytes = vec![0u8; length];
        openprod_core::entropy::Entropy::fill(&mut random, &mut bytes);
        assert!(decode_untrusted(&bytes).is_err(), "random bytes decoded: {}", hex::encode(&bytes));
        // The same with a valid bundle format, to get past the first byte.
        if let Some(first) = bytes.first_mut() {
            *first = 1;
            let _ = decode_untrusted(&bytes);
        }
    }
}

#[test]
fn every_truncation_of_a_valid_bundle_fails_to_decode() {
    let mut author = Author::new("alex", workspace());
    let ops: Vec<Operation> = sample_payloads().into_iter().map(|payload| author.next_op(payload)).collect();
    let everything = author.sign(ops);
    let mut bundles: Vec<&Bundle> = jane_run()[..sample_payloads().len()].iter().collect();
    bundles.push(&everything);
    for bundle in bundles {
        let bytes = bundle.encoded();
        assert!(decode_untrusted(&bytes).is_ok());
        for length in 0..bytes.len() {
            let result = decode_untrusted(&bytes[..length]);
            assert!(result.is_err(), "seq {} cut to {length} of {} bytes decoded", bundle.header.seq, bytes.len());
        }
    }
}

#[test]
fn huge_declared_lengths_fail_without_being_allocated() {
    let good = &jane_run()[1];
    let header = good.header.encoded();
    // The header up to the module list: format, workspace, author, seq,
    // previous marker and hash, clock.
    let before_modules = 1 + 16 + 32 + 1 + 1 + 32 + 12;
    let op_start = header.len() + 64;
    let good_bytes = good.encoded();
    let op_prefix = &good_bytes[..op_start];
    let op_bytes = good.ops[0].encoded();
    let id_and_clock = &op_bytes[..28];
    let huge = [u64::MAX, u64::MAX >> 1, 1 << 40, u32::MAX as u64, 1 << 20, 100_000];

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for count in huge {
        let with = |build: &dyn Fn(&mut Encoder)| {
            let mut out = Encoder::new();
            build(&mut out);
            out.into_bytes()
        };
        // Lists in the header.
        cases.push((
            format!("{count} module versions"),
            with(&|out| {
                out.fixed(&header[..before_modules]).varint(count).fixed(&[0; 64]);
            }),
        ));
        cases.push((
            format!("{count} operation hashes"),
            with(&|out| {
                out.fixed(&header[..before_modules]).varint(0).varint(count).fixed(&[0; 96]);
            }),
        ));
        cases.push((
            format!("a module name of {count} bytes"),
            with(&|out| {
                out.fixed(&header[..before_modules]).varint(1).varint(count).fixed(b"contacts");
            }),
        ));
        // Lists and strings in an operation.
        let op = |tag: u8, rest: &dyn Fn(&mut Encoder)| {
            with(&|out| {
                out.fixed(op_prefix).fixed(id_and_clock).u8(tag);
                rest(out);
                out.fixed(&[1; 40]);
            })
        };
        let entity = entity_id(1);
        cases.push((
            format!("a workspace name of {count} bytes"),
            op(1, &|out| {
                out.varint(count);
            }),
        ));
        cases.push((
            format!("{count} cascaded edges"),
            op(11, &|out| {
                out.fixed(entity.as_bytes()).varint(count);
            }),
        ));
        cases.push((
            format!("{count} replaced writes"),
            op(14, &|out| {
                out.fixed(entity.as_bytes()).str("contacts.email").varint(count);
            }),
        ));
        cases.push((
            format!("{count} edge properties"),
            op(20, &|out| {
                out.fixed(edge_id(1).as_bytes())
                    .str("crew.works_on")
                    .fixed(entity.as_bytes())
                    .fixed(entity.as_bytes())
                    .varint(count);
            }),
        ));
        cases.push((
            format!("{count} mapped fields"),
            op(32, &|out| {
                out.str("name").varint(count);
            }),
        ));
        cases.push((
            format!("{count} split tables"),
            op(41, &|out| {
                out.fixed(entity.as_bytes()).fixed(entity.as_bytes()).varint(count);
            }),
        ));
        cases.push((
            format!("a text value of {count} bytes"),
            op(13, &|out| {
                out.fixed(entity.as_bytes()).str("contacts.email").u8(1).varint(count);
            }),
        ));
    }
    // A header announcing many operations, each only a few bytes long.
    let mut many_ops = Encoder::new();
    many_ops.fixed(&header[..before_modules]).varint(0).varint(1000).fixed(&vec![0; 32 * 1000]).fixed(&[0; 64]);
    many_ops.fixed(&[0; 100]);
    cases.push(("a thousand announced operations and 100 bytes of them".into(), many_ops.into_bytes()));

    for (what, bytes) in cases {
        assert!(decode_untrusted(&bytes).is_err(), "decoded {what}");
    }
}

#[test]
fn random_damage_to_valid_bundles_never_panics_and_never_goes_unnoticed() {
    let mut random = SeededEntropy::new(11);
    let run = &jane_run()[..sample_payloads().len()];
    let mut decoded_anyway = 0;
    for case in 0..3000 {
        let index = case % run.len();
        let original = &run[index];
        let mut bytes = original.encoded();
        // Damage only what lies after the signature, so that what still
        // decodes is refused without paying for an Ed25519 check; the
        // flipped-bit tests cover the header and signature.
        let op_start = original.header.encoded().len() + 64;
        for _ in 0..1 + random.next_u64() % 3 {
            let span = (bytes.len() - op_start) as u64;
            let at = op_start + (random.next_u64() % span) as usize;
            match random.next_u64() % 3 {
                0 => bytes[at] = random.next_u64() as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, random.next_u64() as u8),
            }
        }
        if bytes == original.encoded() {
            continue;
        }
        if let Ok(damaged) = decode_untrusted(&bytes) {
            decoded_anyway += 1;
            assert_eq!(damaged.encoded(), bytes, "decodes but re-encodes differently");
            assert!(damaged.verify(workspace()).is_err(), "damaged bundle verified: {}", hex::encode(&bytes));
            let after = index.checked_sub(1).map(|before| run[before].tip());
            assert!(verify_run(&[damaged], after, workspace()).is_err());
        }
    }
    assert!(decoded_anyway > 0, "the damage should sometimes still decode (e.g. inside a text)");
}

// ---------------------------------------------------------------------------
// Random operations and bundles round-trip (proptest).

#[cfg(not(target_arch = "wasm32"))]
mod random_round_trips {
    use super::*;
    use openprod_core::ids::EntityId;
    use openprod_core::names::{EdgeType, TableId};
    use openprod_core::op::{DataHandling, JoinMode};
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    fn entity() -> impl Strategy<Value = EntityId> {
        any::<[u8; 16]>().prop_map(EntityId::from_bytes)
    }

    fn edge() -> impl Strategy<Value = EdgeId> {
        any::<[u8; 16]>().prop_map(EdgeId::from_bytes)
    }

    fn op_id() -> impl Strategy<Value = OpId> {
        any::<[u8; 16]>().prop_map(OpId::from_bytes)
    }

    fn hlc() -> impl Strategy<Value = Hlc> {
        (any::<u64>(), any::<u32>()).prop_map(|(wall, counter)| Hlc::new(wall, counter))
    }

    fn name_part() -> impl Strategy<Value = String> {
        "[^.]{1,12}"
    }

    fn table() -> impl Strategy<Value = TableId> {
        (name_part(), name_part()).prop_map(|(module, local)| TableId::new(&module, &local))
    }

    fn field() -> impl Strategy<Value = FieldKey> {
        (name_part(), name_part()).prop_map(|(module, local)| FieldKey::new(&module, &local))
    }

    fn edge_type() -> impl Strategy<Value = EdgeType> {
        (name_part(), name_part()).prop_map(|(module, local)| EdgeType::new(&module, &local))
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::String),
            any::<f64>().prop_filter_map("finite numbers only", |raw| Value::number(raw).ok()),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::Timestamp),
            any::<[u8; 32]>().prop_map(Value::Blob),
        ]
    }

    fn ids<T: std::fmt::Debug>(id: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
        vec(id, 0..4)
    }

    fn payload() -> impl Strategy<Value = OpPayload> {
        prop_oneof![
            (any::<String>(), any::<String>())
                .prop_map(|(workspace_name, owner_name)| OpPayload::Bootstrap { workspace_name, owner_name }),
            (any::<[u8; 32]>(), any::<String>()).prop_map(|(actor, display_name)| OpPayload::AdmitActor {
                actor: ActorId::from_bytes(actor),
                display_name
            }),
            (any::<String>(), proptest::option::of(any::<String>()))
                .prop_map(|(manifest_toml, tables_toml)| OpPayload::AdoptModule { manifest_toml, tables_toml }),
            (entity(), proptest::option::of(table()))
                .prop_map(|(entity, initial_table)| OpPayload::CreateEntity { entity, initial_table }),
            (entity(), ids(edge()))
                .prop_map(|(entity, cascade_edges)| OpPayload::DeleteEntity { entity, cascade_edges }),
            (entity(), ids(edge()))
                .prop_map(|(entity, restore_edges)| OpPayload::RestoreEntity { entity, restore_edges }),
            (entity(), field(), value(), ids(op_id()))
                .prop_map(|(entity, field, value, replaces)| OpPayload::SetField { entity, field, value, replaces }),
            (entity(), field(), ids(op_id())).prop_map(|(entity, field, replaces)| OpPayload::ClearField {
                entity,
                field,
                replaces
            }),
            (entity(), table()).prop_map(|(entity, table)| OpPayload::AddToTable { entity, table }),
            (entity(), table(), any::<bool>()).prop_map(|(entity, table, discard)| OpPayload::RemoveFromTable {
                entity,
                table,
                handling: if discard { DataHandling::Discard } else { DataHandling::Preserve },
            }),
            (entity(), table(), op_id()).prop_map(|(entity, table, from_op)| OpPayload::RestoreFacet {
                entity,
                table,
                from_op
            }),
            (edge(), edge_type(), entity(), entity(), vec((any::<String>(), value()), 0..4)).prop_map(
                |(edge, edge_type, source, target, properties)| OpPayload::CreateEdge {
                    edge,
                    edge_type,
                    source,
                    target,
                    properties
                }
            ),
            edge().prop_map(|edge| OpPayload::DeleteEdge { edge }),
            edge().prop_map(|edge| OpPayload::RestoreEdge { edge }),
            (edge(), any::<String>(), proptest::option::of(value()), ids(op_id())).prop_map(
                |(edge, property, value, replaces)| OpPayload::SetEdgeProperty { edge, property, value, replaces }
            ),
            (table(), table()).prop_map(|(source, target)| OpPayload::LinkTables { source, target }),
            (table(), table()).prop_map(|(source, target)| OpPayload::UnlinkTables { source, target }),
            (any::<String>(), vec(field(), 0..4))
                .prop_map(|(shared_key, fields)| OpPayload::ConfirmMapping { shared_key, fields }),
            (any::<String>(), vec(field(), 0..4))
                .prop_map(|(shared_key, fields)| OpPayload::RejectMapping { shared_key, fields }),
            op_id().prop_map(|mapping| OpPayload::RevokeMapping { mapping }),
            (entity(), entity()).prop_map(|(first, second)| OpPayload::MergeEntities { first, second }),
            (entity(), field(), proptest::option::of(value()), ids(op_id()), proptest::option::of(op_id())).prop_map(
                |(entity, field, value, resolves, supersedes)| OpPayload::ResolveConflict {
                    entity,
                    field,
                    value,
                    resolves,
                    supersedes
                }
            ),
            (entity(), entity(), vec(table(), 0..4)).prop_map(|(source, into, tables)| OpPayload::SplitEntity {
                source,
                into,
                tables
            }),
            prop_oneof![Just(JoinMode::Open), Just(JoinMode::AccessKey), Just(JoinMode::Request)]
                .prop_map(|mode| OpPayload::SetJoinMode { mode }),
            (any::<String>(), hlc(), proptest::option::of(any::<u32>()))
                .prop_map(|(code, expires, max_uses)| OpPayload::CreateAccessKey { code, expires, max_uses }),
            op_id().prop_map(|key| OpPayload::RevokeAccessKey { key }),
            (op_id(), any::<[u8; 32]>())
                .prop_map(|(key, actor)| OpPayload::UseAccessKey { key, actor: ActorId::from_bytes(actor) }),
            any::<[u8; 32]>().prop_map(|verifier| OpPayload::SetRecoveryKey { verifier }),
            any::<[u8; 16]>().prop_map(|id| OpPayload::Forked { new_workspace: WorkspaceId::from_bytes(id) }),
            (any::<[u8; 16]>(), hlc())
                .prop_map(|(id, source_hlc)| OpPayload::ForkedFrom { source: WorkspaceId::from_bytes(id), source_hlc }),
        ]
    }

    fn random_operation() -> impl Strategy<Value = Operation> {
        (op_id(), hlc(), payload()).prop_map(|(id, hlc, payload)| Operation { id, hlc, payload })
    }

    /// A bundle that is well formed but not validly signed: decoding does not
    /// check signatures, and signing in a debug build is slow.
    fn random_bundle() -> impl Strategy<Value = Bundle> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            1..=u64::MAX,
            any::<[u8; 32]>(),
            btree_map(any::<String>(), any::<String>(), 0..3),
            vec(random_operation(), 1..4),
            vec(any::<u8>(), 64),
            1..=2u8,
            any::<bool>(),
        )
            .prop_map(|(workspace, author, seq, previous, modules, ops, signature, format, signed)| {
                let header = openprod_core::bundle::BundleHeader {
                    format,
                    workspace: WorkspaceId::from_bytes(workspace),
                    author: ActorId::from_bytes(author),
                    seq,
                    previous: (seq > 1).then_some(Hash(previous)),
                    hlc: ops.iter().map(|op| op.hlc).max().unwrap(),
                    module_versions: modules.into_iter().collect(),
                    op_hashes: ops.iter().map(|op| Hash::of(&op.encoded())).collect(),
                };
                // Format 1 hashes the signature, so it always has one.
                let signature = (signed || format == 1).then(|| Signature::from_bytes(signature.try_into().unwrap()));
                Bundle { header, ops, signature }
            })
    }

    fn config() -> ProptestConfig {
        ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn random_operations_round_trip_to_identical_bytes(op in random_operation()) {
            let bytes = op.encoded();
            let decoded = decode_operation(&bytes).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&decoded, &op);
            prop_assert_eq!(decoded.encoded(), bytes);
        }

        #[test]
        fn random_bundles_round_trip_to_identical_bytes(bundle in random_bundle()) {
            let bytes = bundle.encoded();
            let decoded = decode_untrusted(&bytes).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&decoded, &bundle);
            prop_assert_eq!(decoded.encoded(), bytes);
            prop_assert_eq!(decoded.hash(), bundle.hash());
        }

        #[test]
        fn random_truncations_of_random_bundles_fail_to_decode(bundle in random_bundle(), cut in any::<prop::sample::Index>()) {
            let bytes = bundle.encoded();
            let length = cut.index(bytes.len());
            prop_assert!(decode_untrusted(&bytes[..length]).is_err());
        }
    }
}
