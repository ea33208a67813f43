//! Engine benchmarks (DESIGN.md §10): applying verified operations,
//! signing and verifying bundles, verifying runs, rebuilding and receiving a
//! 100,000-bundle workspace, and hashing a 10,000-record state.
//!
//! `cargo bench -p openprod-core --bench engine` (a few minutes on the
//! project's 2-core machine). Budget: native apply ≥ 1,000,000 ops/s.
//!
//! The workload is the catch-up of DESIGN.md §10: 10 authors write 10 times
//! to each of 10,000 records, one field write per bundle — 100,000 one-op
//! bundles. Each write replaces the previous write to the same field, as an
//! author who had seen it would. It is generated once per process.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use openprod_core::bundle::{Bundle, ChainTip, Signatures, prove_run, verify_each};
use openprod_core::entropy::{Entropy, SeededEntropy};
use openprod_core::hlc::{ClockConfig, Hlc};
use openprod_core::identity::{ActorId, Identity};
use openprod_core::ids::{EntityId, OpId, WorkspaceId};
use openprod_core::names::{FieldKey, TableId};
use openprod_core::op::{OpPayload, Operation};
use openprod_core::state::State;
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;

const NOW: u64 = 1_790_000_000_000;
const AUTHORS: usize = 10;
const RECORDS: usize = 10_000;
const WRITES_PER_RECORD: usize = 10;
const BUNDLES: usize = RECORDS * WRITES_PER_RECORD;
const BATCH: usize = 1_000;
const FIELDS: [&str; 5] = ["full_name", "role", "email", "phone", "department"];
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");

fn author(index: usize) -> Identity {
    Identity::from_seed([index as u8 + 1; 32])
}

fn replica() -> Identity {
    Identity::from_seed([200; 32])
}

/// Late enough that every HLC of the corpus is in the past.
fn receive_now() -> u64 {
    NOW + 10 * BUNDLES as u64
}

struct Corpus {
    workspace: WorkspaceId,
    records: Vec<EntityId>,
    /// The 100,000 field writes with their authors, in bundle order.
    ops: Vec<(ActorId, Operation)>,
    /// One bundle per write: author by author, each in chain order (the
    /// order a sync delivers them in).
    bundles: Vec<Bundle>,
}

/// Write `j` (0–9) to record `r` is author `j`'s; it replaces write `j - 5`
/// to the same field, and its clock is ahead of every earlier write to that
/// record, so each author's chain has increasing clocks.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let started = std::time::Instant::now();
        let mut entropy = SeededEntropy::new(7);
        let workspace = WorkspaceId::new_v7(NOW, entropy.array());
        let records: Vec<EntityId> = (0..RECORDS).map(|_| EntityId::new_v7(NOW, entropy.array())).collect();
        let identities: Vec<Identity> = (0..AUTHORS).map(author).collect();
        let mut ops = Vec::with_capacity(BUNDLES);
        let mut bundles = Vec::with_capacity(BUNDLES);
        let mut last_write: Vec<Vec<Option<OpId>>> = vec![vec![None; FIELDS.len()]; RECORDS];
        for (j, identity) in identities.iter().enumerate() {
            let mut tip: Option<ChainTip> = None;
            for (r, &entity) in records.iter().enumerate() {
                let wall = NOW + (j * RECORDS + r) as u64;
                let slot = j % FIELDS.len();
                // Each bundle is the author's next: seq r + 1, its one operation at index 0.
                let id = OpId::derived(&identity.actor_id(), r as u64 + 1, 0, wall);
                let payload = OpPayload::SetField {
                    entity,
                    field: FieldKey::new("contacts", FIELDS[slot]),
                    value: Value::String(format!("value {j} of record {r}")),
                    replaces: last_write[r][slot].into_iter().collect(),
                };
                last_write[r][slot] = Some(id);
                let op = Operation { id, hlc: Hlc::new(wall, 0), payload };
                ops.push((identity.actor_id(), op.clone()));
                let bundle =
                    Bundle::sign(identity, workspace, tip, vec![("contacts".into(), "1.0.0".into())], vec![op]);
                tip = Some(bundle.tip());
                bundles.push(bundle);
            }
        }
        eprintln!("(generated {} one-op bundles from {AUTHORS} authors in {:.2?})", bundles.len(), started.elapsed());
        Corpus { workspace, records, ops, bundles }
    })
}

/// A 10,000-record state: the workspace's bootstrap, the contacts module,
/// the records' creation and the corpus's 100,000 writes.
fn ten_thousand_record_state() -> State {
    let corpus = corpus();
    let owner = author(0).actor_id();
    let mut entropy = SeededEntropy::new(8);
    let mut state = State::new();
    let mut op = |wall: u64, payload: OpPayload| Operation {
        id: OpId::new_v7(wall, entropy.array()),
        hlc: Hlc::new(wall, 0),
        payload,
    };
    state.apply(
        owner,
        &op(NOW - 3, OpPayload::Bootstrap { workspace_name: "Hamlet".into(), owner_name: "Jane".into() }),
    );
    state.apply(owner, &op(NOW - 2, OpPayload::AdoptModule { manifest_toml: CONTACTS.into(), tables_toml: None }));
    let contacts = TableId::new("contacts", "contacts");
    for &entity in &corpus.records {
        state.apply(owner, &op(NOW - 1, OpPayload::CreateEntity { entity, initial_table: Some(contacts.clone()) }));
    }
    for (author, op) in &corpus.ops {
        state.apply(*author, op);
    }
    assert_eq!(state.records(&contacts).len(), RECORDS);
    state
}

/// For benchmarks whose single iteration takes 0.1 s or more: ten samples
/// of equally many iterations, so that a run takes seconds, not minutes.
fn long_running(group: &mut BenchmarkGroup<'_, WallTime>, seconds: u64) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(seconds));
}

fn apply(c: &mut Criterion) {
    let corpus = corpus();
    let mut group = c.benchmark_group("apply");
    long_running(&mut group, 4);
    group.throughput(Throughput::Elements(corpus.ops.len() as u64));
    group.bench_function("State::apply 100k SetField ops (10k records x 10 writes, 10 authors)", |b| {
        b.iter_batched(
            State::new,
            |mut state| {
                for (author, op) in &corpus.ops {
                    state.apply(*author, op);
                }
                state
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// `count` operations of one author, for a bundle of that size.
fn field_writes(count: usize) -> Vec<Operation> {
    corpus().ops[..count].iter().map(|(_, op)| op.clone()).collect()
}

fn sign_and_verify(c: &mut Criterion) {
    let corpus = corpus();
    let identity = author(0);
    let mut group = c.benchmark_group("bundle");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for size in [1, 64] {
        let ops = field_writes(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("Bundle::sign {size} op(s)"), |b| {
            b.iter_batched(
                || ops.clone(),
                |ops| Bundle::sign(&identity, corpus.workspace, None, Vec::new(), ops),
                BatchSize::SmallInput,
            );
        });
        let bundle = Bundle::sign(&identity, corpus.workspace, None, Vec::new(), ops);
        group.bench_function(format!("Bundle::verify {size} op(s)"), |b| {
            b.iter(|| black_box(&bundle).verify(corpus.workspace).expect("valid"));
        });
    }

    // 64 independent one-op bundles from 10 authors, as live edits arrive.
    let live: Vec<Bundle> = (0..64).map(|i| corpus.bundles[(i % AUTHORS) * RECORDS + i].clone()).collect();
    group.throughput(Throughput::Elements(live.len() as u64));
    group.bench_function("verify_each 64 one-op bundles (batch)", |b| {
        b.iter(|| verify_each(black_box(&live), corpus.workspace).expect("valid"));
    });
    group.bench_function("Bundle::verify x64 one-op bundles (single)", |b| {
        b.iter(|| {
            for bundle in black_box(&live) {
                bundle.verify(corpus.workspace).expect("valid");
            }
        });
    });

    // Signing the headers of 256 one-op bundles, as a burst does at its end
    // (`Workspace::burst`), and one by one, as single edits are.
    let headers: Vec<Vec<u8>> = corpus.bundles[..256].iter().map(|bundle| bundle.header.encoded()).collect();
    let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
    group.throughput(Throughput::Elements(headers.len() as u64));
    group.bench_function("Identity::sign_each 256 headers (together)", |b| {
        b.iter(|| identity.sign_each(black_box(&headers)));
    });
    group.bench_function("Identity::sign x256 headers (one by one)", |b| {
        b.iter(|| black_box(&headers).iter().map(|header| identity.sign(header)).collect::<Vec<_>>());
    });
    group.finish();
}

fn verify_runs(c: &mut Criterion) {
    let corpus = corpus();
    let mut group = c.benchmark_group("catch-up");
    long_running(&mut group, 4);
    group.throughput(Throughput::Elements(corpus.bundles.len() as u64));
    // As a catch-up or an opening proves a run: hash links, and the newest
    // signature vouching for the rest.
    group.bench_function("prove_run 100k one-op bundles (10 runs of 10k, newest signature)", |b| {
        b.iter(|| {
            for run in corpus.bundles.chunks(RECORDS) {
                let proof = prove_run(black_box(run), None, corpus.workspace, Signatures::Newest);
                assert_eq!(proof.proven, run.len());
            }
        });
    });
    group.finish();
}

fn rebuild_and_receive(c: &mut Criterion) {
    let corpus = corpus();
    let mut group = c.benchmark_group("catch-up");
    long_running(&mut group, 8);
    group.throughput(Throughput::Elements(corpus.bundles.len() as u64));
    group.bench_function("Workspace::open 100k one-op bundles (10 authors)", |b| {
        b.iter_batched(
            || corpus.bundles.clone(),
            |bundles| {
                let (workspace, report) =
                    Workspace::open(corpus.workspace, replica(), bundles, receive_now(), ClockConfig::default());
                assert_eq!(report.applied.len(), BUNDLES, "refused: {:?}", report.refused.first().map(|r| &r.reason));
                workspace
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("Workspace::receive 100k one-op bundles in batches of 1,000", |b| {
        b.iter_batched(
            || corpus.bundles.chunks(BATCH).map(<[Bundle]>::to_vec).collect::<Vec<_>>(),
            |batches| {
                let mut workspace =
                    Workspace::empty(corpus.workspace, replica(), receive_now(), ClockConfig::default());
                for batch in batches {
                    let report = workspace.receive(batch, receive_now());
                    assert!(report.refused.is_empty());
                }
                workspace
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn state_hash(c: &mut Criterion) {
    let mut state = ten_thousand_record_state();
    // The state keeps its hash until the next operation; applying this one
    // (a rejected mapping, which the hash does not cover, applied again and
    // again) makes the next call compute it afresh.
    let owner = author(0).actor_id();
    let fields = vec![FieldKey::new("contacts", "full_name"), FieldKey::new("crew", "display_name")];
    let touch = Operation {
        id: OpId::new_v7(NOW, [0; 10]),
        hlc: Hlc::new(NOW, 0),
        payload: OpPayload::RejectMapping { shared_key: "name".into(), fields },
    };
    let mut group = c.benchmark_group("state");
    long_running(&mut group, 4);
    group.bench_function("State::state_hash 10k records (computed)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                state.apply(owner, &touch);
                let started = Instant::now();
                black_box(state.state_hash());
                total += started.elapsed();
            }
            total
        });
    });
    group.finish();

    let mut group = c.benchmark_group("state");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    state.state_hash();
    group.bench_function("State::state_hash 10k records (unchanged since last call)", |b| {
        b.iter(|| black_box(&state).state_hash());
    });
    group.finish();
}

criterion_group!(benches, apply, sign_and_verify, verify_runs, rebuild_and_receive, state_hash);
criterion_main!(benches);
