//! The compact form bundles travel in (`sync::stream`): what the parts of a
//! stream read back as, in which order they must come, what hostile parts
//! do, and what the form saves.
//!
//! A part must read back as exactly the bundles written, less the
//! signatures a later bundle of the same run in the part vouches for, so
//! that the usual checks judge what arrives as they would have judged what
//! left. Signing is the slow step, so the shared catch-up is made once.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use common::*;
use openprod_core::bundle::{ArrivedBundle, Bundle, ChainTip, Hash, Signatures, VerifyError, prove_run, verify_run};
use openprod_core::encoding::{DecodeError, Encoder};
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::Hlc;
use openprod_core::identity::ActorId;
use openprod_core::ids::{EdgeId, EntityId, OpId, WorkspaceId};
use openprod_core::log::{Appended, OpLog};
use openprod_core::names::FieldKey;
use openprod_core::op::{OpPayload, Operation};
use openprod_core::store::{BUNDLES_READ_AT_ONCE, LogFolding, NotInLog, decode_log_record, encode_log_record};
use openprod_core::sync::{
    BundlePart, LogStream, Message, PROTOCOL_VERSION, StreamReader, StreamWriter, SyncConfig, decode_bundles,
    encode_bundles, stream_parts, vouched_runs,
};

/// What `reader` reads of `part`, as plain bundles, after checking what it
/// derived on the way: each bundle's hash is its own, and the checks judge
/// each arrived bundle (against the tip it names) exactly as a plain copy.
fn read(reader: &mut StreamReader, part: &BundlePart) -> Result<Vec<Bundle>, DecodeError> {
    let arrived = reader.read(part)?;
    for arrived in &arrived {
        let bundle = arrived.bundle();
        assert_eq!(arrived.hash(), bundle.hash(), "the hash derived for #{}", bundle.header.seq);
        let after = bundle.header.previous.map(|hash| ChainTip { seq: bundle.header.seq - 1, hash });
        assert_eq!(
            prove_run(std::slice::from_ref(arrived), after, workspace(), Signatures::Newest),
            prove_run(std::slice::from_ref(bundle), after, workspace(), Signatures::Newest),
            "#{} judged as it arrived and as a plain copy",
            bundle.header.seq
        );
    }
    Ok(arrived.into_iter().map(ArrivedBundle::into_bundle).collect())
}

// ---------------------------------------------------------------------------
// Allocation watch: the largest single allocation each thread asks for, so
// that hostile-part tests can check that no declared count is trusted.

#[path = "common/allocation_watch.rs"]
mod allocation_watch;

/// Reads an untrusted part, failing the test (with the body in hex) if the
/// reader panics or allocates at once more than the part's bytes justify.
fn read_untrusted(reader: &mut StreamReader, part: &BundlePart) -> Result<Vec<Bundle>, DecodeError> {
    allocation_watch::reset();
    let result = catch_unwind(AssertUnwindSafe(|| read(reader, part)));
    let largest = allocation_watch::largest();
    let shown = || hex::encode(&part.body[..part.body.len().min(400)]);
    let result = result.unwrap_or_else(|_| {
        panic!("reading part {} of {} bytes ({} bundles) panicked: {}", part.part, part.body.len(), part.count, shown())
    });
    // Each bundle and each element inside takes at least one byte of the
    // body, and none is more than a few dozen bytes in memory.
    let allowed = 64 * part.body.len() + 4096;
    assert!(
        largest <= allowed,
        "reading {} bytes allocated {largest} at once (allowed {allowed}): {}",
        part.body.len(),
        shown()
    );
    result
}

// ---------------------------------------------------------------------------
// Fixtures.

fn workspace() -> WorkspaceId {
    workspace_id(1)
}

/// Ten stable pseudo-random bytes, named by `seed`.
fn random_bytes(seed: &str) -> [u8; 10] {
    *blake3::hash(seed.as_bytes()).as_bytes().first_chunk().expect("a hash is longer than ten bytes")
}

const FIELDS: [&str; 5] = ["full_name", "role", "email", "phone", "department"];

/// The shape of W1 (`bulk_write` in tests/bench/compare/openprod): write
/// `index` sets field `FIELDS[round % 5]` of record `index % records` (in
/// round `index / records`) to "value {round} of record {record}",
/// replacing the field's previous write, whoever made it. Each write is a
/// one-operation bundle made one millisecond after the last, with the id
/// derived from its place at that millisecond, as a device makes them;
/// `writers` take turns in bursts of `burst` writes. The bundles come in the
/// order they were made.
fn contacts_writes(writers: &mut [Author], writes: usize, records: usize, burst: usize) -> Vec<Bundle> {
    let mut latest: BTreeMap<(usize, &str), OpId> = BTreeMap::new();
    (0..writes)
        .map(|index| {
            let (round, record) = (index / records, index % records);
            let field = FIELDS[round % FIELDS.len()];
            let wall = NOW + index as u64;
            let writer = &mut writers[(index / burst) % writers.len()];
            let id = OpId::derived(&writer.actor(), writer.tip().map_or(1, |tip| tip.seq + 1), 0, wall);
            // Records were made the day before.
            let entity = EntityId::new_v7(NOW - 86_400_000 + record as u64, random_bytes(&format!("record {record}")));
            let payload = OpPayload::SetField {
                entity,
                field: FieldKey::new("contacts", field),
                value: text(&format!("value {round} of record {record}")),
                replaces: latest.insert((record, field), id).into_iter().collect(),
            };
            writer.sign(vec![operation(id, Hlc::new(wall, 0), payload)])
        })
        .collect()
}

/// A catch-up after a day's work: Alice, Bob and Carol filling in contacts
/// (W1-shaped, taking turns four writes at a time) and, now and then between
/// them, Jane making every other kind of change in bundles of one to four
/// operations; her last few bundles come in one run.
fn crew_catch_up() -> &'static [Bundle] {
    static CATCH_UP: OnceLock<Vec<Bundle>> = OnceLock::new();
    CATCH_UP.get_or_init(|| {
        let mut writers = ["alice", "bob", "carol"].map(|name| Author::new(name, workspace()));
        let writes = contacts_writes(&mut writers, 150, 30, 4);
        let mut jane = Author::new("jane", workspace()).with_clock(NOW + 3);
        let mut payloads = sample_payloads().into_iter().peekable();
        let mut janes = Vec::new();
        while payloads.peek().is_some() {
            let ops: Vec<Operation> =
                payloads.by_ref().take(janes.len() % 4 + 1).map(|payload| jane.next_op(payload)).collect();
            janes.push(jane.sign(ops));
        }
        let mut janes = janes.into_iter();
        let mut bundles = Vec::new();
        for (index, write) in writes.into_iter().enumerate() {
            if index % 9 == 3 {
                bundles.extend(janes.next());
            }
            bundles.push(write);
        }
        bundles.extend(janes);
        bundles
    })
}

/// A chain begun before format 2: `old` bundles in format 1 (hashed with
/// their signature), then `new` ones in format 2 continuing them (formats
/// whose op ids were drawn at random).
fn mixed_format_chain(name: &str, old: usize, new: usize) -> Vec<Bundle> {
    let mut author = Author::new(name, workspace());
    let mut tip = None;
    (0..old + new)
        .map(|index| {
            let op = author.next_op(set_field(entity_id(index as u8), "full_name", text("Yorick")));
            let modules = module_versions_of(std::slice::from_ref(&op));
            let mut bundle = Bundle::sign(&author.identity, workspace(), tip, modules, vec![op]);
            bundle.header.format = if index < old { 1 } else { 2 };
            bundle = resign(bundle, &author.identity);
            tip = Some(bundle.tip());
            bundle
        })
        .collect()
}

/// `author`'s next bundle of `ops`, edited after signing and signed again:
/// genuine, but not as a receiver would derive it.
fn edited(author: &mut Author, ops: Vec<Operation>, edit: impl FnOnce(&mut Bundle)) -> Bundle {
    let mut bundle = author.sign(ops);
    edit(&mut bundle);
    resign(bundle, &author.identity)
}

// ---------------------------------------------------------------------------
// Streams.

/// `bundles` as one part carries them: a bundle goes without its signature
/// when a later bundle of its run in the part (same author, next seq, linked)
/// carries one, which vouches for it, unless its hash covers it (format 1).
fn as_travelled(part: &[Bundle]) -> Vec<Bundle> {
    let mut travelled = part.to_vec();
    let continues = |index: usize| {
        index > 0 && index < part.len() && {
            let (bundle, next) = (&part[index - 1], &part[index]);
            next.header.author == bundle.header.author
                && next.header.seq == bundle.header.seq + 1
                && next.header.previous == Some(bundle.hash())
        }
    };
    let mut signed_later = false;
    for index in (0..part.len()).rev() {
        if !continues(index + 1) {
            signed_later = false;
        }
        if signed_later && !part[index].header.hash_covers_signature() {
            travelled[index].signature = None;
        }
        signed_later |= part[index].signature.is_some();
    }
    travelled
}

/// `bundles` cut into consecutive parts of `sizes` bundles, and a last part
/// with the rest.
fn cut<'a>(bundles: &'a [Bundle], sizes: &[usize]) -> Vec<&'a [Bundle]> {
    let mut rest = bundles;
    let mut slices = Vec::new();
    for &size in sizes {
        let (part, after) = rest.split_at(size);
        slices.push(part);
        rest = after;
    }
    slices.push(rest);
    slices
}

/// `slices` written in order as the parts of stream `stream`.
fn write_stream(stream: u32, slices: &[&[Bundle]]) -> Vec<BundlePart> {
    let mut writer = StreamWriter::new(stream);
    let mut remaining: usize = slices.iter().map(|slice| slice.len()).sum();
    slices
        .iter()
        .map(|slice| {
            remaining -= slice.len();
            writer.part(workspace(), &slice.iter().collect::<Vec<_>>(), remaining as u64)
        })
        .collect()
}

/// Verifies each author run of `bundles` as a receiver does, each extending
/// its author's tip in `tips`, which advance.
fn verify_runs(bundles: &[Bundle], tips: &mut BTreeMap<ActorId, ChainTip>) -> Result<(), VerifyError> {
    for run in bundles.chunk_by(|a, b| a.header.author == b.header.author) {
        let author = run[0].header.author;
        verify_run(run, tips.get(&author).copied(), workspace())?;
        tips.insert(author, run[run.len() - 1].tip());
    }
    Ok(())
}

/// The authors' tips after `bundles`, all intact.
fn tips_after(bundles: &[Bundle]) -> BTreeMap<ActorId, ChainTip> {
    bundles.iter().map(|bundle| (bundle.header.author, bundle.tip())).collect()
}

// ---------------------------------------------------------------------------
// 1. Round trips.

#[test]
fn a_catch_up_in_parts_reads_back_with_one_signature_per_run_in_each_part() {
    let catch_up = crew_catch_up();
    // Parts cut anywhere, mid-run too, as small as one bundle.
    let slices = cut(catch_up, &[1, 17, 40, 3, 60]);
    let parts = write_stream(4, &slices);
    let mut reader = StreamReader::default();
    let mut tips = BTreeMap::new();
    let mut signatures = 0;
    for (index, (slice, part)) in slices.iter().zip(&parts).enumerate() {
        assert_eq!((part.stream, part.part, part.count), (4, index as u32, slice.len() as u64));
        let frame = Message::Bundles(part.clone()).encode();
        assert_eq!(Message::decode(&frame), Ok(Message::Bundles(part.clone())), "part {index} over the wire");

        let decoded = read(&mut reader, part).unwrap_or_else(|error| panic!("part {index}: {error}"));
        assert_eq!(decoded, as_travelled(slice), "part {index}");
        for run in decoded.chunk_by(|a, b| a.header.author == b.header.author) {
            let (newest, older) = run.split_last().unwrap();
            assert!(
                newest.signature.is_some() && older.iter().all(|bundle| bundle.signature.is_none()),
                "part {index}"
            );
            signatures += 1;
        }
        assert_eq!(verify_runs(&decoded, &mut tips), Ok(()), "part {index}");
    }
    assert_eq!(parts.last().unwrap().remaining, 0);
    assert_eq!(tips, tips_after(catch_up), "every author's whole chain arrived");
    assert!(signatures < catch_up.len() / 2, "{signatures} signatures for {} bundles", catch_up.len());
}

/// Bundles that are not as a receiver would derive them, each of which must
/// read back exactly as it was (the checks then judge it).
fn odd_bundles() -> Vec<Bundle> {
    let mut odd = Author::new("odd", workspace());
    let mut bundles = mixed_format_chain("elder", 3, 2);
    // Clocks that are not the largest of the operations'.
    let op = odd.next_op(set_field(entity_id(1), "email", text("a@example.org")));
    bundles.push(edited(&mut odd, vec![op], |bundle| bundle.header.hlc = Hlc::new(NOW + 60_000, 5)));
    let op = odd.next_op(set_field(entity_id(1), "email", text("b@example.org")));
    bundles.push(edited(&mut odd, vec![op], |bundle| bundle.header.hlc = Hlc::ZERO));
    // Operation hashes that do not match: a wrong one, one too many, one too few.
    let op = odd.next_op(set_field(entity_id(2), "email", text("c@example.org")));
    bundles.push(edited(&mut odd, vec![op], |bundle| bundle.header.op_hashes[0] = Hash([7; 32])));
    let op = odd.next_op(set_field(entity_id(2), "phone", text("555")));
    bundles.push(edited(&mut odd, vec![op], |bundle| bundle.header.op_hashes.push(Hash([8; 32]))));
    let ops = vec![
        odd.next_op(set_field(entity_id(3), "phone", text("1"))),
        odd.next_op(set_field(entity_id(3), "role", text("2"))),
    ];
    bundles.push(edited(&mut odd, ops, |bundle| {
        bundle.header.op_hashes.pop();
    }));
    // Every kind of operation in one bundle, with the module versions they need…
    bundles.push(odd.sign(sample_operations()));
    // …and module versions no operation needs.
    let op = odd.next_op(set_field(entity_id(4), "email", text("d@example.org")));
    let modules = vec![("contacts".into(), "1.0.0".into()), ("crew".into(), "2.0.0-beta.1+Zoë".into())];
    bundles.push(Bundle::sign(&odd.identity, workspace(), odd.tip(), modules, vec![op]));
    // Extreme clocks and ids that are no UUIDv7 of their operation's time.
    let extremes = vec![
        operation(
            OpId::from_bytes([0xff; 16]),
            Hlc::new(u64::MAX, u32::MAX),
            OpPayload::DeleteEdge { edge: EdgeId::from_bytes([0; 16]) },
        ),
        operation(
            OpId::from_bytes([0; 16]),
            Hlc::ZERO,
            OpPayload::RestoreEdge { edge: EdgeId::from_bytes([0xff; 16]) },
        ),
        operation(op_id(1, 1), Hlc::new(NOW, 0), set_field(EntityId::from_bytes([0x80; 16]), "email", text(""))),
    ];
    bundles.push(odd.sign(extremes));
    // A bundle without operations (which the canonical decoding refuses).
    bundles.push(odd.sign(Vec::new()));
    // Another workspace's run.
    bundles.extend(Author::new("visitor", workspace_id(2)).one_op_bundles(2));
    // Every kind of operation, one per bundle, in one run.
    bundles.extend(Author::new("jane", workspace()).varied_bundles(sample_payloads().len()));
    // Unsigned bundles: inside a run, and newest of a run (whose signed
    // predecessor then keeps its signature: nothing later vouches for it).
    let mut quiet = chain("quiet", workspace(), 5);
    quiet[1].signature = None;
    quiet[4].signature = None;
    bundles.extend(quiet);
    // The same bundle twice; a chain with a gap; a chain continued from
    // before the stream; the next seq with a forged link.
    let gappy = chain("gappy", workspace(), 6);
    let mut forged = gappy[4].clone();
    forged.header.previous = Some(Hash([9; 32]));
    let forged = resign(forged, &identity("gappy"));
    bundles.extend([&gappy[4], &gappy[4], &gappy[0], &gappy[2], &gappy[3], &forged, &gappy[5]].map(Clone::clone));
    bundles
}

#[test]
fn odd_and_forged_bundles_read_back_exactly_as_they_were() {
    let bundles = odd_bundles();
    assert_eq!(verify_run(&bundles[..5], None, workspace()), Ok(()), "the mixed-format chain is genuine");
    for sizes in [&[][..], &[4, 1, 3, 3, 10, 2, 25][..]] {
        let slices = cut(&bundles, sizes);
        let mut reader = StreamReader::default();
        for (index, (slice, part)) in slices.iter().zip(write_stream(9, &slices)).enumerate() {
            let decoded =
                read(&mut reader, &part).unwrap_or_else(|error| panic!("part {index} of {}: {error}", slices.len()));
            assert_eq!(decoded, as_travelled(slice), "part {index} of {}", slices.len());
        }
    }
    // Format-1 signatures travel inside a run, and the run still holds.
    let mixed = mixed_format_chain("elder", 3, 2);
    let decoded = read(&mut StreamReader::default(), &write_stream(0, &[&mixed])[0]).unwrap();
    assert!(decoded[..3].iter().all(|bundle| bundle.signature.is_some()));
    assert_eq!(decoded[3].signature, None);
    assert_eq!(verify_run(&decoded, None, workspace()), Ok(()));
}

#[test]
fn an_operation_id_derived_from_its_place_travels_as_its_time_alone() {
    let mut writers = ["alice", "bob"].map(|name| Author::new(name, workspace()));
    let derived = contacts_writes(&mut writers, 120, 20, 4);
    // The same writes with ids drawn at random, as before format 3 (and so
    // in format 2, which did not derive them).
    let mut tips: BTreeMap<ActorId, ChainTip> = BTreeMap::new();
    let drawn: Vec<Bundle> = derived
        .iter()
        .enumerate()
        .map(|(index, bundle)| {
            let author = if bundle.header.author == writers[0].actor() { &writers[0] } else { &writers[1] };
            let mut ops = bundle.ops.clone();
            ops[0].id = OpId::new_v7(ops[0].id.unix_millis(), random_bytes(&format!("drawn {index}")));
            let mut bundle =
                Bundle::sign(&author.identity, workspace(), tips.get(&author.actor()).copied(), Vec::new(), ops);
            bundle.header.format = 2;
            let bundle = resign(bundle, &author.identity);
            tips.insert(author.actor(), bundle.tip());
            bundle
        })
        .collect();
    let [derived_part, drawn_part] = [&derived, &drawn].map(|bundles| write_stream(0, &[bundles]).remove(0));
    // Each write replaces an earlier one, referred to by its place in the
    // stream either way; only the operation's own id differs.
    let saved = drawn_part.body.len() - derived_part.body.len();
    assert!(saved >= 10 * derived.len(), "{saved} bytes saved over {} operations", derived.len());
    let read_back = read(&mut StreamReader::default(), &derived_part).unwrap();
    assert_eq!(read_back, as_travelled(&derived));
    assert_eq!(verify_runs(&read_back, &mut BTreeMap::new()), Ok(()));
}

/// A record of three bundles (format 2, ids drawn at random) as the app
/// stored them before bundle format 3, when an operation's own id was a
/// plain reference in the stream form; and each bundle's canonical bytes.
/// Made by `encode_log_record` at commit 70bcba1.
const RECORD_BEFORE_DERIVED_OP_IDS: &str = concat!(
    "5300000001a0c4506c007303830303030303030303ec022200ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d",
    "7726879333dbdabe7c01010008636f6e74616374730005312e302e3080b083c59868000000760686060606060606060a",
    "000075058505050505050505010011636f6e74616374732e636f6e7461637473133c934c9ffa23e8804f13a2b85c9ad0",
    "7e6b48bb71220080f452052c03747e6ab01bed54e22bcd186c68259a88e03bb610a20dc82d80d17dd46878cb97980d0c",
    "a302000000770787070707070707070d02000d636f6e74616374732e726f6c6501065072696e636500c38a856febd4e3",
    "6d9872b49e01400d77eddb86d82968b1c6efad1e122958c1443da507557c2577a4108ae29b394e11b032215eee9f89ee",
    "6aaa322645c151080ea302000000780888080808080808080d030101044b696e6701025ec059e2323ca35522ba00e4b3",
    "bcd7feca488a231b82ad78722a75aba635fbf42f84f59aa956a706fd7d720caf1e46d82396fec6baa4775ea060f87427",
    "dfb704",
);
const ITS_BUNDLES: [&str; 3] = [
    concat!(
        "0201a0c4506c0073038303030303030303ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe",
        "7c0100000001a0c4506c00000000000108636f6e746163747305312e302e3001de39ce0d31be7f82f318e82cc80fa580",
        "230145b8cf470ed4c117d3209f92295001133c934c9ffa23e8804f13a2b85c9ad07e6b48bb71220080f452052c03747e",
        "6ab01bed54e22bcd186c68259a88e03bb610a20dc82d80d17dd46878cb97980d0c01a0c4506c00760686060606060606",
        "06000001a0c4506c00000000000a01a0c4506c00750585050505050505050111636f6e74616374732e636f6e74616374",
        "73",
    ),
    concat!(
        "0201a0c4506c0073038303030303030303ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe",
        "7c0201e0817e199801b15aed3917123b0a78de65288936c36aefcaadc9574a602d0d34000001a0c4506c010000000001",
        "08636f6e746163747305312e302e300109df5c2ddb03cbaa69c3369d5f6ec520826d9b90563bfbacaac199b52c28e5c1",
        "01c38a856febd4e36d9872b49e01400d77eddb86d82968b1c6efad1e122958c1443da507557c2577a4108ae29b394e11",
        "b032215eee9f89ee6aaa322645c151080e01a0c4506c0177078707070707070707000001a0c4506c01000000000d01a0",
        "c4506c00750585050505050505050d636f6e74616374732e726f6c6501065072696e636500",
    ),
    concat!(
        "0201a0c4506c0073038303030303030303ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe",
        "7c03011fa082a5e93812b8989da7d38458970f50d2a25c315e750049a7eba8a3e738e2000001a0c4506c020000000001",
        "08636f6e746163747305312e302e30017af961d6ff7a77e5296f47ef47e39e1954c56865b33b7dd0d45603a22dcdd2f3",
        "015ec059e2323ca35522ba00e4b3bcd7feca488a231b82ad78722a75aba635fbf42f84f59aa956a706fd7d720caf1e46",
        "d82396fec6baa4775ea060f87427dfb70401a0c4506c0278088808080808080808000001a0c4506c02000000000d01a0",
        "c4506c00750585050505050505050d636f6e74616374732e726f6c6501044b696e670101a0c4506c0177078707070707",
        "070707",
    ),
];

#[test]
fn a_record_stored_before_operation_ids_were_derived_still_reads() {
    let record = hex::decode(RECORD_BEFORE_DERIVED_OP_IDS).unwrap();
    assert_eq!(record[0], b'S', "the old stream form's mark");
    let expected: Vec<Bundle> =
        ITS_BUNDLES.map(|bytes| Bundle::decode_one(&hex::decode(bytes).unwrap()).unwrap()).into();
    let read: Vec<Bundle> =
        decode_log_record(&record).map(|bundle| bundle.expect("the old record reads").into_bundle()).collect();
    assert_eq!(read, expected);
    assert_eq!(verify_run(&read, None, read[0].header.workspace), Ok(()));
    // Merged with a record of today's form, as compaction does, it still reads in order.
    let newer: Vec<&Bundle> = expected.iter().collect();
    let merged = [record.clone(), encode_log_record(&newer)].concat();
    assert_eq!(decode_log_record(&merged).count(), 6);
    assert!(decode_log_record(&merged).all(|bundle| bundle.is_ok()));
}

/// A record of one writer's 150 field writes on 10 records (each write
/// after the fifth of a record replacing one), as travelled (one
/// signature), stored deflated around a unit of the stream form written
/// before payload ids were changes of distance (sync protocol 3). Made by
/// `encode_log_record` at commit aa6899a.
const RECORD_BEFORE_ID_CHANGES: &str = concat!(
    "5ab127cd0875d74b6c54551cc7f173a62d21da566128e5213ac5472de874de8f02a540b12852db0a284281b133d322f3",
    "629829d65a68adaf6a2bf621b1d11a15376a520d3ea2183646b7061335264637d2c485c4441359b08026b7ff5f2ec9ef",
    "74fbfdf536f99c3b9d9cdd4a29fdee776d29754c0f69ebe78c9eae75a9baf3eddb6b5aa7bd9535170ecfbd3f38f9d1d9",
    "4523b393debfdbcb6e3a58feb69ed55a2deeca660ab1aec27155e6757bdc9ec14f87bf7fb3472955a1aefd73aea32ff1",
    "cdcff12f87e2bfcca8a5b274278ba9d4a14c2c9dd0cede58aa9870795cd9a42b9fe8cae6e32e8f7acf815fcf357eee88",
    "b739a3cebf34db7aeddb93e3efd49ebbb8e4c0580bddfaecdbbecad16d977ffca97ce42dbaf5dbb7851da7473fd8abaf",
    "fcd94cb701fbf65471bc6eeacada555b1ae93668df0e7cfbe19c5b8f2dff2a49b721fbb67fe7747ab1e768694309dd86",
    "eddb13ff7dd13e3bd3d699fe8c6e23f6ed4074d4e5b8babf696633dd4617b6cb54050e2f9f4de1dcbce4dc9c7892bdca",
    "492da555ce6609ad721ab7d22afeb7d02ae295b48a7105ada25a4eab38de4cabc8ddae2a219748c78ea4f4c22bef2374",
    "6bf0287b15badb6815bad5b40add2a5a856e25ad42b78256a1aba655e896d32a7455b40addbd36ba5c4f3683b7ce4fe8",
    "6af1287b15ba7b6815babb6915babb6815ba3b6915bab5b40a5d0dad42e7a255e8eea055e87cca89b72e9ec8c5f28574",
    "225390572f40fcbc789ebd8a9f8756f1aba755fcdcb48adffdb48adf7db48adf7a5ac56f1dade25747abf86d2c13aba0",
    "dd4a6fb2be9a36d0ecd51baddc40b34f6fb0729466bf6eb07284e6808e5a394c735047ac1ca239a4c3560ed21cd6212b",
    "07688ee8a095fd344775c0ca0f948a5ae80635bf95b7d3ecd50bb999669fe46d34fb256fa53920790bcd41c94d348724",
    "6fa6392cb991e688e44d344725b795885a98a93d4233d45a6986da2e9aa1f630cd50db4933d41ea2196a0fd20cb51d34",
    "43ad8566a83de110b50853db4733d41ea7196a8fd10cb5bd34436d0fcd50db4d33d41ea5196a1d3443ad9d66a8c5f15f",
    "2fcad4ba6886da9334432d4633d40ed30cb5433443ed20cd50eba4196a076886da7e9aa19629d3cbac7b8af7868b8a7c",
    "82d3bcc32dc53be08ef20eb9a77807dd11de61d7c33bf0ba79875e9277f0257887dfd3a5f0b35f093ce2778277f8f5f2",
    "0ebf22eff02bf00ebfe3bcc32fcf3bfc8ef10ebf1ceff0cbf20ebfe7740900ed1703000e1906101c340c2c42a52a4ef1",
    "bf00c293bc83708077103ecb3b08fb7907e133bc83b08f77108e6a0708ed170410be6a1880f015c300842386010c5f36",
    "0c80f8926100c5170d0330be6018c0f179c30090c3860124cf680d49fb5501926f1806909c320c203969184072c23080",
    "e4b86100c9d70d03489e360c20f99a61302f79d6a1e63f526386c1bce40fbf2ffa5af9aa7dbf26eb6b3bf6addc3551f7",
    "4973efd4fad6fe4bf5decbdd9772ffce5e5dd7f447b67a4d31727e4fd58aff2f8c0c77affeadb365ebc5aa8f6be6264a",
    "ae03",
);

#[test]
fn a_record_stored_before_payload_ids_were_changes_of_distance_still_reads() {
    let record = hex::decode(RECORD_BEFORE_ID_CHANGES).unwrap();
    let mut writers = [Author::new("ann", workspace())];
    let expected = as_travelled(&contacts_writes(&mut writers, 150, 10, 150));
    let read: Vec<Bundle> =
        decode_log_record(&record).map(|bundle| bundle.expect("the old record reads").into_bundle()).collect();
    assert_eq!(read, expected);
    assert_eq!(verify_run(&read, None, workspace()), Ok(()));
    let today = encode_log_record(&expected.iter().collect::<Vec<_>>());
    assert!(today.len() < record.len(), "{} bytes today, {} then", today.len(), record.len());
    let merged = [record, today].concat();
    assert_eq!(decode_log_record(&merged).count(), 2 * expected.len());
    assert!(decode_log_record(&merged).all(|bundle| bundle.is_ok()));
}

// ---------------------------------------------------------------------------
// 2. Part order.

#[test]
fn a_part_read_without_the_one_before_is_refused_until_a_part_0() {
    let slices = cut(crew_catch_up(), &[30, 30, 30]);
    let parts = write_stream(1, &slices);

    let error = read(&mut StreamReader::default(), &parts[1]).unwrap_err();
    assert!(error.to_string().contains("lost"), "{error}");

    // Part 1 lost: parts 2 and 3 cannot be read, though 3 follows 2.
    let mut reader = StreamReader::default();
    assert_eq!(read(&mut reader, &parts[0]), Ok(as_travelled(slices[0])));
    assert!(read(&mut reader, &parts[2]).is_err());
    assert!(read(&mut reader, &parts[3]).is_err());
    // The stream's part 0 sent again starts it over, as does a new stream's.
    assert_eq!(read(&mut reader, &parts[0]), Ok(as_travelled(slices[0])));
    assert_eq!(read(&mut reader, &parts[1]), Ok(as_travelled(slices[1])));
    for (slice, part) in slices.iter().zip(&write_stream(2, &slices)) {
        assert_eq!(read(&mut reader, part), Ok(as_travelled(slice)));
    }

    // A new stream in the middle of one ends the one before.
    let mut reader = StreamReader::default();
    assert!(read(&mut reader, &parts[0]).is_ok() && read(&mut reader, &parts[1]).is_ok());
    assert!(read(&mut reader, &write_stream(3, &slices)[0]).is_ok());
    assert!(read(&mut reader, &parts[2]).is_err());
}

#[test]
fn after_a_damaged_part_even_its_intact_copy_is_refused() {
    let slices = cut(crew_catch_up(), &[30, 30]);
    let parts = write_stream(1, &slices);
    let mut damaged = parts[1].clone();
    damaged.body.pop();
    let mut reader = StreamReader::default();
    assert!(read(&mut reader, &parts[0]).is_ok());
    assert!(read(&mut reader, &damaged).is_err());
    // Its tables may have been half-updated: nothing of the stream reads now.
    assert!(read(&mut reader, &parts[1]).is_err());
    assert!(read(&mut reader, &parts[2]).is_err());
}

#[test]
fn a_repeated_part_reads_as_nothing_and_the_stream_goes_on() {
    let slices = cut(crew_catch_up(), &[30, 30, 30]);
    let parts = write_stream(1, &slices);
    let mut reader = StreamReader::default();
    assert_eq!(read(&mut reader, &parts[0]), Ok(as_travelled(slices[0])));
    assert_eq!(read(&mut reader, &parts[1]), Ok(as_travelled(slices[1])));
    assert_eq!(read(&mut reader, &parts[1]), Ok(Vec::new()));
    assert_eq!(read(&mut reader, &parts[0]), Ok(Vec::new()));
    assert_eq!(read(&mut reader, &parts[2]), Ok(as_travelled(slices[2])));
    assert_eq!(read(&mut reader, &parts[3]), Ok(as_travelled(slices[3])));
    assert_eq!(read(&mut reader, &parts[3]), Ok(Vec::new()));
}

#[test]
fn a_lone_part_reads_alone_however_often_it_comes() {
    let bundles = &crew_catch_up()[..12];
    let frame = encode_bundles(bundles, 7);
    let Ok(Message::Bundles(part)) = Message::decode(&frame) else { panic!("a bundles message") };
    assert_eq!(part.part, 0);
    let expected = as_travelled(bundles);
    let mut reader = StreamReader::default();
    assert_eq!(read(&mut reader, &part), Ok(expected.clone()));
    // A part 0 when only part 0 was read may be the next lone message.
    assert_eq!(read(&mut reader, &part), Ok(expected.clone()));
    assert_eq!(decode_bundles(&frame), Ok((expected, 7)));
}

// ---------------------------------------------------------------------------
// 3. Hostile parts.

/// A small two-part stream: the catch-up's first 26 bundles, runs of four
/// authors, three of them Jane's bundles of several kinds of operation.
fn hostile_target() -> (Vec<&'static [Bundle]>, Vec<BundlePart>) {
    let slices = cut(&crew_catch_up()[..26], &[13]);
    let parts = write_stream(5, &slices);
    (slices, parts)
}

#[test]
fn every_truncation_of_a_part_is_an_error() {
    let (slices, parts) = hostile_target();
    for (index, part) in parts.iter().enumerate() {
        let frame = Message::Bundles(part.clone()).encode();
        for length in 0..frame.len() {
            assert!(Message::decode(&frame[..length]).is_err(), "part {index} cut to {length} bytes of its frame");
        }
        for length in 0..part.body.len() {
            let mut reader = StreamReader::default();
            for before in &parts[..index] {
                read(&mut reader, before).unwrap();
            }
            let truncated = BundlePart { body: part.body[..length].to_vec(), ..part.clone() };
            assert!(read_untrusted(&mut reader, &truncated).is_err(), "part {index} cut to {length} bytes");
        }
        let mut reader = StreamReader::default();
        for before in &parts[..index] {
            read(&mut reader, before).unwrap();
        }
        assert_eq!(read_untrusted(&mut reader, part), Ok(as_travelled(slices[index])), "the whole part {index}");
    }
}

/// What became of damaged parts.
#[derive(Debug, Default)]
struct Outcomes {
    refused_by_reading: usize,
    refused_by_verifying: usize,
    unchanged: usize,
}

/// Reads `damaged` in place of `parts[index]`: it must not panic, and
/// whatever reads and verifies must be what was sent.
fn read_damaged(
    slices: &[&[Bundle]],
    parts: &[BundlePart],
    index: usize,
    damaged: &BundlePart,
    outcomes: &mut Outcomes,
) {
    let mut reader = StreamReader::default();
    for before in &parts[..index] {
        read(&mut reader, before).unwrap();
    }
    let Ok(decoded) = read_untrusted(&mut reader, damaged) else {
        outcomes.refused_by_reading += 1;
        return;
    };
    let mut tips = tips_after(&slices[..index].concat());
    if verify_runs(&decoded, &mut tips).is_err() {
        outcomes.refused_by_verifying += 1;
        return;
    }
    let sent = slices[index];
    assert!(
        decoded.len() == sent.len() && decoded.iter().zip(sent).all(|(got, sent)| got.same_contents(sent)),
        "part {index}: a damaged body read as other bundles that verify: {}",
        hex::encode(&damaged.body)
    );
    outcomes.unchanged += 1;
}

#[test]
fn flipped_bits_never_panic_nor_pass_for_the_bundles_sent() {
    let (slices, parts) = hostile_target();
    let mut outcomes = Outcomes::default();
    for (index, part) in parts.iter().enumerate() {
        for position in 0..part.body.len() {
            for bit in 0..8 {
                let mut damaged = part.clone();
                damaged.body[position] ^= 1 << bit;
                read_damaged(&slices, &parts, index, &damaged, &mut outcomes);
            }
        }
    }
    // Both defences took part.
    assert!(outcomes.refused_by_reading > 0 && outcomes.refused_by_verifying > 0, "{outcomes:?}");
}

#[test]
fn random_bytes_in_a_part_never_panic_nor_pass_for_the_bundles_sent() {
    let (slices, parts) = hostile_target();
    let mut random = SeededEntropy::new(11);
    let mut outcomes = Outcomes::default();
    for _ in 0..3_000 {
        let index = (random.next_u64() % 2) as usize;
        let mut damaged = parts[index].clone();
        for _ in 0..1 + random.next_u64() % 4 {
            let position = (random.next_u64() % damaged.body.len() as u64) as usize;
            damaged.body[position] = random.next_u64() as u8;
        }
        read_damaged(&slices, &parts, index, &damaged, &mut outcomes);
    }
    assert!(outcomes.refused_by_reading > 0 && outcomes.refused_by_verifying > 0, "{outcomes:?}");
}

#[test]
fn flipped_bits_of_a_lone_frame_never_panic_nor_pass_for_the_bundles_sent() {
    // The frame's own fields too: stream, part, count, workspace.
    let bundles = &crew_catch_up()[..8];
    let frame = encode_bundles(bundles, 3);
    for position in 0..frame.len() {
        for bit in 0..8 {
            let mut damaged = frame.clone();
            damaged[position] ^= 1 << bit;
            let Ok((decoded, _)) = catch_unwind(|| decode_bundles(&damaged))
                .unwrap_or_else(|_| panic!("decoding panicked on {}", hex::encode(&damaged)))
            else {
                continue;
            };
            if verify_runs(&decoded, &mut BTreeMap::new()).is_ok() {
                assert_eq!(decoded, as_travelled(bundles), "byte {position}, bit {bit}");
            }
        }
    }
}

/// Bits of a bundle's flag byte, as core/src/sync/stream.rs lays them out:
/// hostile parts are written by hand.
mod flag {
    pub const CONTINUES: u8 = 1;
    pub const HASHES_WRITTEN: u8 = 1 << 3;
    pub const FORMAT_WRITTEN: u8 = 1 << 4;
    pub const ONE_OPERATION: u8 = 1 << 5;
    pub const SAME_MODULES: u8 = 1 << 7;
}

/// The tag of a `DeleteEdge` operation in the payload encoding.
const DELETE_EDGE: u8 = 21;

/// Writes a hand-made bundle's flags, author (new: Mallory) and seq (1).
fn mallory(out: &mut Encoder, flags: u8) -> &mut Encoder {
    out.u8(flags).varint(0).fixed(actor("mallory").as_bytes()).varint(1)
}

/// Writes a hand-made operation: the first of the part (its clock a delta
/// from 0), a new id made at its time and written in full (not derived from
/// its place), deleting the edge `edge_distance` back in the table of ids
/// (1: the operation's own id). As the part's first payload id, its
/// distance is written as the change from 0: the distance itself.
fn delete_edge(out: &mut Encoder, edge_distance: i64) -> &mut Encoder {
    out.signed_varint(NOW as i64).varint(0).varint(1).signed_varint(0).fixed(&[1; 10]);
    out.u8(DELETE_EDGE).signed_varint(edge_distance)
}

/// The bytes `write` writes.
fn bytes(write: impl FnOnce(&mut Encoder) -> &mut Encoder) -> Vec<u8> {
    let mut out = Encoder::new();
    write(&mut out);
    out.into_bytes()
}

/// A lone part of `count` bundles in `body`.
fn lone_part(count: u64, body: Vec<u8>) -> BundlePart {
    BundlePart { stream: 0, part: 0, remaining: 0, workspace: workspace(), count, body }
}

#[test]
fn hostile_counts_and_references_are_errors_not_allocations() {
    use flag::{CONTINUES, FORMAT_WRITTEN, HASHES_WRITTEN, ONE_OPERATION, SAME_MODULES};
    let read = |count: u64, body: Vec<u8>| read_untrusted(&mut StreamReader::default(), &lone_part(count, body));
    // Mallory's bundle of one operation, as the cases below damage it.
    let valid = bytes(|out| delete_edge(mallory(out, ONE_OPERATION).varint(0), 1));
    let decoded = read(1, valid.clone()).expect("the hand-made bundle reads");
    assert_eq!(decoded[0].header.author, actor("mallory"));

    let beyond_48_bits = (1 << 48) - NOW as i64;
    let cases: Vec<(&str, u64, Vec<u8>)> = vec![
        ("a bundle before one that continues it", 1, vec![CONTINUES | ONE_OPERATION]),
        ("a bundle before one that shares its modules", 1, bytes(|out| mallory(out, ONE_OPERATION | SAME_MODULES))),
        ("a bundle's flags", 2, valid.clone()),
        ("the end of the bundles", 1, [valid, vec![0]].concat()),
        ("a sequence number from 1", 1, bytes(|out| out.u8(ONE_OPERATION).varint(0).fixed(&[7; 32]).varint(0))),
        (
            "module versions sorted by module name",
            1,
            bytes(|out| {
                let modules = mallory(out, ONE_OPERATION).varint(2);
                modules.varint(0).str("crew").varint(0).str("1.0").varint(0).str("contacts").varint(2)
            }),
        ),
        // References beyond what the tables hold.
        ("an author", 1, bytes(|out| out.u8(ONE_OPERATION).varint(1))),
        ("an author", 1, bytes(|out| out.u8(ONE_OPERATION).varint(u64::MAX))),
        ("a module name", 1, bytes(|out| mallory(out, ONE_OPERATION).varint(1).varint(3).varint(0))),
        ("an operation id", 1, bytes(|out| mallory(out, ONE_OPERATION).varint(0).signed_varint(1).varint(0).varint(2))),
        ("an edge id", 1, bytes(|out| delete_edge(mallory(out, ONE_OPERATION).varint(0), 2))),
        ("an edge id", 1, bytes(|out| delete_edge(mallory(out, ONE_OPERATION).varint(0), -1))),
        ("an edge id", 1, bytes(|out| delete_edge(mallory(out, ONE_OPERATION).varint(0), i64::MIN))),
        // Counts beyond what the bytes could hold.
        ("a list of module versions", 1, bytes(|out| mallory(out, ONE_OPERATION).varint(u64::MAX))),
        ("a number of operations", 1, bytes(|out| mallory(out, 0).varint(0).varint(u64::MAX))),
        ("a number of operations", 1, bytes(|out| mallory(out, 0).varint(0).varint(1 << 20))),
        (
            "a list of operation hashes",
            1,
            bytes(|out| delete_edge(mallory(out, ONE_OPERATION | HASHES_WRITTEN).varint(0), 1).varint(1 << 40)),
        ),
        // Values out of range.
        (
            "an operation clock's counter",
            1,
            bytes(|out| mallory(out, ONE_OPERATION).varint(0).signed_varint(1).varint(1 << 32)),
        ),
        (
            "an id's time",
            1,
            bytes(|out| {
                let operation = mallory(out, ONE_OPERATION).varint(0).signed_varint(NOW as i64).varint(0);
                operation.varint(1).signed_varint(beyond_48_bits).fixed(&[1; 10])
            }),
        ),
        (
            "an operation id's time",
            1,
            bytes(|out| {
                let operation = mallory(out, ONE_OPERATION).varint(0).signed_varint(NOW as i64).varint(0);
                operation.varint(0).signed_varint(beyond_48_bits)
            }),
        ),
        // A format-1 bundle without the signature its hash covers.
        (
            "the signature a format-1 bundle is hashed with",
            1,
            bytes(|out| {
                out.u8(FORMAT_WRITTEN | ONE_OPERATION).u8(1).varint(0).fixed(actor("mallory").as_bytes()).varint(1);
                delete_edge(out.varint(0), 1)
            }),
        ),
    ];
    for (what, count, body) in cases {
        let error = read(count, body.clone()).expect_err(what);
        assert_eq!(error.what, what, "{}", hex::encode(&body));
    }
}

#[test]
fn a_frame_claiming_more_bundles_than_it_holds_is_refused_before_allocating() {
    // A `Bundles` message (tag 2): stream 0, part 0, none remaining.
    let frame = |count: u64, body: &[u8]| {
        let mut out = Encoder::new();
        out.u8(PROTOCOL_VERSION).u8(2).varint(0).varint(0).varint(0).fixed(workspace().as_bytes());
        out.varint(count).bytes(body);
        out.into_bytes()
    };
    let body = vec![0x55; 10_000];
    for count in [u64::MAX, 1 << 40, body.len() as u64] {
        let claiming = frame(count, &body);
        allocation_watch::reset();
        assert!(Message::decode(&claiming).is_err(), "{count} bundles");
        assert!(allocation_watch::largest() <= 4096, "{count} bundles");
    }
    // As many as the bytes could hold: the reader allocates in proportion.
    let Ok(Message::Bundles(part)) = Message::decode(&frame(body.len() as u64 / 5, &body)) else { panic!("a frame") };
    assert!(read_untrusted(&mut StreamReader::default(), &part).is_err());
}

#[test]
fn a_bundle_continuing_the_last_possible_seq_is_an_error() {
    let body = bytes(|out| {
        out.u8(flag::ONE_OPERATION).varint(0).fixed(actor("mallory").as_bytes()).varint(u64::MAX).fixed(&[0; 32]);
        delete_edge(out.varint(0), 1);
        // The next bundle continues it; its operation repeats the first's id.
        out.u8(flag::CONTINUES | flag::ONE_OPERATION).varint(0).signed_varint(1).varint(0).varint(1);
        out.u8(DELETE_EDGE).varint(1)
    });
    assert!(read_untrusted(&mut StreamReader::default(), &lone_part(2, body)).is_err());
}

// ---------------------------------------------------------------------------
// 4. What the compact form saves.

#[test]
fn a_w1_like_catch_up_costs_a_fraction_of_the_canonical_encoding() {
    let mut writers = ["alice", "bob", "carol"].map(|name| Author::new(name, workspace()));
    let mut bundles = contacts_writes(&mut writers, 2_000, 200, 10);
    // A catch-up sends each author's chain in turn (`OpLog::missing_for`).
    bundles.sort_by_key(|bundle| bundle.header.author);
    let batch_size = SyncConfig::default().batch_size;
    let slices: Vec<&[Bundle]> = bundles.chunks(batch_size).collect();
    let parts = write_stream(0, &slices);

    let ops: usize = bundles.iter().map(|bundle| bundle.ops.len()).sum();
    let streamed: usize = parts.iter().map(|part| Message::Bundles(part.clone()).encode().len()).sum();
    let canonical: usize = bundles.iter().map(|bundle| bundle.encoded().len()).sum();
    let per_op = |bytes: usize| bytes as f64 / ops as f64;
    println!(
        "{ops} operations in {} parts: {streamed} bytes streamed ({:.1} per operation), {canonical} canonical ({:.1} per operation)",
        parts.len(),
        per_op(streamed),
        per_op(canonical)
    );

    let mut reader = StreamReader::default();
    let mut tips = BTreeMap::new();
    for (slice, part) in slices.iter().zip(&parts) {
        let decoded = read(&mut reader, part).unwrap();
        assert_eq!(decoded, as_travelled(slice));
        assert_eq!(verify_runs(&decoded, &mut tips), Ok(()));
    }
    assert!(per_op(streamed) < 60.0, "{:.1} bytes per operation", per_op(streamed));
    assert!(streamed * 4 < canonical, "{streamed} bytes streamed, {canonical} canonical");
}

#[test]
fn a_catch_up_leaves_out_unvouched_tails_and_cuts_parts_only_where_a_run_may_end() {
    // Jane's chain as a device holds it after catching up in parts: signed
    // where earlier parts ended (#4 and #8), then two bundles nothing vouches for yet.
    let mut jane = chain("jane", workspace(), 10);
    for (index, bundle) in jane.iter_mut().enumerate() {
        if index != 3 && index != 7 {
            bundle.signature = None;
        }
    }
    let kim = chain("kim", workspace(), 3);
    let vouched = vouched_runs(jane.iter().chain(&kim));
    let expected: Vec<&Bundle> = jane[..8].iter().chain(&kim).collect();
    assert_eq!(vouched, expected, "Jane's #9 and #10 wait for a signed successor");

    let parts = stream_parts(workspace(), &vouched, 5, 2);
    let sizes: Vec<u64> = parts.iter().map(|part| part.count).collect();
    let remaining: Vec<u64> = parts.iter().map(|part| part.remaining).collect();
    // At least two bundles a part, cut only after a signed bundle or an author's last.
    assert_eq!(sizes, [4, 4, 2, 1]);
    assert_eq!(remaining, [7, 3, 1, 0]);
    let mut reader = StreamReader::default();
    let mut tip: BTreeMap<ActorId, ChainTip> = BTreeMap::new();
    for part in &parts {
        assert_eq!(part.stream, 5);
        let bundles = read(&mut reader, part).expect("the stream reads in order");
        for run in bundles.chunk_by(|a, b| a.header.author == b.header.author) {
            let author = run[0].header.author;
            assert_eq!(verify_run(run, tip.get(&author).copied(), workspace()), Ok(()));
            tip.insert(author, run.last().expect("a run").tip());
        }
    }
}

#[test]
fn a_stream_starts_with_small_parts_and_doubles_them_up_to_the_batch_size() {
    let jane = chain("jane", workspace(), 1_500);
    let vouched = vouched_runs(jane.iter());
    let parts = stream_parts(workspace(), &vouched, 0, 512);
    let sizes: Vec<u64> = parts.iter().map(|part| part.count).collect();
    assert_eq!(sizes, [32, 64, 128, 256, 512, 508]);
    // A small batch size caps the first parts too.
    let sizes: Vec<u64> = stream_parts(workspace(), &vouched[..100], 0, 40).iter().map(|part| part.count).collect();
    assert_eq!(sizes, [32, 40, 28]);
}

#[test]
fn a_log_streams_the_same_parts_without_hashing_its_checked_bundles_again() {
    let mut log = OpLog::new();
    for bundle in crew_catch_up() {
        assert_eq!(log.append(bundle.clone()), Ok(Appended::New));
    }
    let vouched = vouched_runs(log.bundles());
    assert_eq!(vouched.len(), crew_catch_up().len());
    for batch_size in [1, 7, 512] {
        let mut stream = LogStream::new(3);
        stream.push(&vouched);
        let parts: Vec<BundlePart> = std::iter::from_fn(|| stream.next_part(&log, workspace(), batch_size)).collect();
        assert!(stream.is_done());
        assert_eq!(parts, stream_parts(workspace(), &vouched, 3, batch_size), "{batch_size} bundles a part");
    }
}

#[test]
fn bundles_queued_while_a_log_stream_is_under_way_follow_in_the_same_stream() {
    let mut log = OpLog::new();
    let jane = chain("jane", workspace(), 100);
    let kim = chain("kim", workspace(), 50);
    for bundle in jane.iter().chain(&kim) {
        assert_eq!(log.append(bundle.clone()), Ok(Appended::New));
    }
    let mut stream = LogStream::new(9);
    stream.push(&jane[..60].iter().collect::<Vec<_>>());
    let first = stream.next_part(&log, workspace(), 512).expect("a first part");
    assert_eq!((first.count, first.remaining), (32, 28), "the first part is small; the rest of Jane's 60 remain");
    // Meanwhile Jane's later bundles and Kim's arrive; the stream takes them on.
    stream.push(&jane[60..].iter().chain(&kim).collect::<Vec<_>>());
    let rest: Vec<BundlePart> = std::iter::from_fn(|| stream.next_part(&log, workspace(), 512)).collect();
    assert_eq!(
        rest.iter().map(|part| (part.part, part.count, part.remaining)).collect::<Vec<_>>(),
        [(1, 64, 54), (2, 54, 0)]
    );
    let mut reader = StreamReader::default();
    let mut arrived = Vec::new();
    for part in std::iter::once(&first).chain(&rest) {
        assert_eq!(part.stream, 9);
        arrived.extend(read(&mut reader, part).expect("one stream, read in order"));
    }
    let sent: Vec<&Bundle> = jane.iter().chain(&kim).collect();
    assert_eq!(arrived.len(), sent.len());
    assert!(arrived.iter().zip(sent).all(|(arrived, sent)| arrived.same_contents(sent)), "every bundle, in order");
    assert_eq!(stream.next_part(&log, workspace(), 512), None, "nothing is left to send");
}

/// Bundles as a device's log holds them: every one checked, most signed,
/// some chains begun in format 1, one bundle whose signature a later one
/// vouches for.
fn logged_bundles() -> Vec<Bundle> {
    let mut bundles: Vec<Bundle> = crew_catch_up().to_vec();
    bundles.extend(mixed_format_chain("kim", 3, 4));
    let mut lee = chain("lee", workspace(), 3);
    lee[1].signature = None;
    bundles.extend(lee);
    bundles
}

#[test]
fn a_stored_record_gives_back_every_bundle_exactly_with_every_signature() {
    let bundles = logged_bundles();
    let borrowed: Vec<&Bundle> = bundles.iter().collect();
    let record = encode_log_record(&borrowed);
    let read: Vec<ArrivedBundle> =
        decode_log_record(&record).collect::<Result<_, _>>().expect("a record as written reads back");
    assert_eq!(read.len(), bundles.len());
    for (read, bundle) in read.iter().zip(&bundles) {
        assert_eq!(read.bundle(), bundle, "signatures included: storage keeps what the log held");
        assert_eq!(read.hash(), bundle.hash());
    }
    let canonical: usize = bundles.iter().map(|bundle| bundle.encoded().len()).sum();
    assert!(record.len() * 2 < canonical, "{} stored bytes for {canonical} canonical ones", record.len());
    assert!(encode_log_record(&[]).is_empty(), "no bundles, no record");
}

#[test]
fn a_record_of_many_bundles_is_stored_as_units_read_a_few_hundred_at_a_time() {
    // An import stores thousands of bundles at once; reading decodes a
    // whole unit in one go, and a browser must not be held that long.
    let mut writers = ["alice", "bob"].map(|name| Author::new(name, workspace()));
    let bundles = contacts_writes(&mut writers, 2 * BUNDLES_READ_AT_ONCE + 100, 300, 7);
    let borrowed: Vec<&Bundle> = bundles.iter().collect();
    let record = encode_log_record(&borrowed);
    let units: Vec<Vec<u8>> = borrowed.chunks(BUNDLES_READ_AT_ONCE).map(encode_log_record).collect();
    assert_eq!(units.len(), 3);
    assert_eq!(record, units.concat(), "units of at most {BUNDLES_READ_AT_ONCE} bundles, back to back");
    let read: Vec<Bundle> = decode_log_record(&record)
        .map(|bundle| bundle.map(ArrivedBundle::into_bundle))
        .collect::<Result<_, _>>()
        .expect("a record as written reads back");
    assert_eq!(read, bundles, "runs cut between units keep their links and signatures");
}

#[test]
fn a_long_record_is_stored_deflated_around_one_stream_unit() {
    let bundles = logged_bundles();
    let record = encode_log_record(&bundles.iter().collect::<Vec<_>>());
    let one_bundle = encode_log_record(&[&bundles[0]]);
    assert_eq!((record[0], one_bundle[0]), (b'Z', b'U'), "only a record long enough to gain is deflated");
    // A deflated unit around anything but one stream-form unit (here a
    // bundle in canonical form) is damage, not a way around the checks.
    let canonical = bundles[0].encoded();
    let padded = [canonical.clone(), vec![0; 4096]].concat();
    let deflated = openprod_core::deflate::deflate_frame(&padded).expect("zeros deflate");
    let mut wrapped = Encoder::new();
    wrapped.u8(b'Z').varint(padded.len() as u64).bytes(&deflated);
    let read: Vec<_> = decode_log_record(&wrapped.into_bytes()).collect();
    let error = read.last().and_then(|last| last.as_ref().err()).expect("refused");
    assert_eq!(error.what, "a stream-form or folded unit inside a deflated one");
}

#[test]
fn records_written_before_and_merged_records_read_back_in_order() {
    let bundles = logged_bundles();
    let (old, rest) = bundles.split_at(40);
    let (first, second) = rest.split_at(rest.len() / 2);
    // Compaction merges records by concatenating them, whatever their form:
    // bundles stored one by one in canonical form (as before), then two records.
    let mut merged: Vec<u8> = old.iter().flat_map(Bundle::encoded).collect();
    merged.extend(encode_log_record(&first.iter().collect::<Vec<_>>()));
    merged.extend(encode_log_record(&second.iter().collect::<Vec<_>>()));
    let read: Vec<Bundle> = decode_log_record(&merged)
        .map(|bundle| bundle.map(ArrivedBundle::into_bundle))
        .collect::<Result<_, _>>()
        .expect("every unit reads");
    assert_eq!(read, bundles);
}

/// A device's log after a large catch-up (three writers filling in
/// contacts, each one's chain in turn, a signature per run and part) and a
/// day's other work, with the records the driver stored it in: one per
/// received batch of 256.
fn log_to_fold() -> (OpLog, Vec<Bundle>, Vec<Vec<u8>>) {
    let mut writers = ["dan", "eve", "fay"].map(|name| Author::new(name, workspace()));
    // Every field written twice, so that half the writes replace one.
    let mut received = contacts_writes(&mut writers, 3_000, 300, 10);
    received.sort_by_key(|bundle| bundle.header.author);
    let mut bundles: Vec<Bundle> = received.chunks(256).flat_map(as_travelled).collect();
    bundles.extend(logged_bundles());
    let mut log = OpLog::new();
    for bundle in &bundles {
        assert_eq!(log.append(bundle.clone()), Ok(Appended::New));
    }
    let records = bundles.chunks(256).map(|batch| encode_log_record(&batch.iter().collect::<Vec<_>>())).collect();
    (log, bundles, records)
}

fn fold(log: &OpLog, bundles: &[Bundle], parts_per_step: usize) -> Vec<u8> {
    let named = bundles.iter().map(|bundle| (bundle.header.author, bundle.header.seq)).collect();
    let mut folding = LogFolding::new(workspace(), named).expect("bundles to fold");
    let mut steps = 1;
    while !folding.step(log, parts_per_step).expect("the log holds them") {
        steps += 1;
    }
    assert!(steps > 1 || parts_per_step > 1, "a step writes at most the parts it is asked for");
    folding.finish().encode()
}

#[test]
fn a_folded_log_reads_back_every_bundle_in_order_and_takes_less_than_its_records() {
    let (log, bundles, records) = log_to_fold();
    let folded = fold(&log, &bundles, 1);
    assert_eq!(folded, fold(&log, &bundles, usize::MAX), "written a part per step or at once, the same bytes");
    assert_eq!(folded[0], b'Z', "a folded log is stored deflated");
    let read: Vec<ArrivedBundle> =
        decode_log_record(&folded).collect::<Result<_, _>>().expect("a folded log as written reads back");
    assert_eq!(read.len(), bundles.len());
    for (read, bundle) in read.iter().zip(&bundles) {
        assert_eq!(read.bundle(), bundle, "signatures included");
        assert_eq!(read.hash(), bundle.hash());
    }
    let stored: usize = records.iter().map(Vec::len).sum();
    println!("{} bundles: {stored} bytes in {} records, {} folded", bundles.len(), records.len(), folded.len());
    assert!(folded.len() * 3 < stored * 2, "{} bytes folded, {stored} in records", folded.len());
}

#[test]
fn records_stored_after_a_folded_log_read_back_behind_it() {
    let (log, bundles, _) = log_to_fold();
    let (earlier, later) = bundles.split_at(2_000);
    let later: Vec<&Bundle> = later.iter().collect();
    let merged = [fold(&log, earlier, 2), encode_log_record(&later[..3]), encode_log_record(&later[3..])].concat();
    let read: Vec<Bundle> = decode_log_record(&merged)
        .map(|bundle| bundle.map(ArrivedBundle::into_bundle))
        .collect::<Result<_, _>>()
        .expect("every unit reads");
    assert_eq!(read, bundles);
}

#[test]
fn folding_a_bundle_the_log_lacks_is_an_error_and_nothing_is_no_fold() {
    let (log, bundles, _) = log_to_fold();
    let mut named: Vec<(ActorId, u64)> =
        bundles.iter().map(|bundle| (bundle.header.author, bundle.header.seq)).collect();
    let stranger = (actor("stranger"), 1);
    named.insert(1_000, stranger);
    let mut folding = LogFolding::new(workspace(), named).unwrap();
    assert_eq!(folding.step(&log, 1), Ok(false), "the first part is in the log");
    let error = folding.step(&log, usize::MAX).unwrap_err();
    assert_eq!(error, NotInLog { author: stranger.0, seq: 1 });
    assert!(error.to_string().contains("is stored but not in the log"), "{error}");
    assert!(LogFolding::new(workspace(), Vec::new()).is_none());
}

#[test]
fn a_damaged_folded_log_reads_as_an_error_never_a_panic_nor_fewer_bundles() {
    let (log, bundles, _) = log_to_fold();
    let folded = fold(&log, &bundles, usize::MAX);
    for length in (0..folded.len()).step_by(97) {
        let read: Vec<Result<ArrivedBundle, DecodeError>> = decode_log_record(&folded[..length]).collect();
        assert!(read.last().is_some_and(Result::is_err), "a folded log cut at {length} of {} bytes", folded.len());
    }
    // Inside the deflated bytes, damage shows as a failed inflate or as a
    // part that does not read; either way an error, and never a panic.
    let mut flipped = folded.clone();
    for index in (0..folded.len()).step_by(211) {
        flipped[index] ^= 0x40;
        let read = decode_log_record(&flipped).collect::<Result<Vec<_>, _>>();
        if let Ok(read) = read {
            assert_eq!(read.len(), bundles.len());
        }
        flipped[index] ^= 0x40;
    }
}

#[test]
fn a_damaged_record_reads_as_an_error_never_a_panic_nor_fewer_bundles() {
    let bundles = logged_bundles();
    let record = encode_log_record(&bundles[..60].iter().collect::<Vec<_>>());
    for length in 0..record.len() {
        let read: Vec<Result<ArrivedBundle, DecodeError>> = decode_log_record(&record[..length]).collect();
        assert!(read.last().is_some_and(Result::is_err), "a record cut at {length} of {} bytes", record.len());
    }
    let mut flipped = record.clone();
    for index in (0..record.len()).step_by(7) {
        flipped[index] ^= 0x40;
        let read = decode_log_record(&flipped).collect::<Result<Vec<_>, _>>();
        if let Ok(read) = read {
            // A flip that still decodes (a value's text, say) changes a
            // bundle, whose hash then no longer matches its signature.
            assert_eq!(read.len(), 60);
        }
        flipped[index] ^= 0x40;
    }
}
