//! The deterministic multi-peer simulator: real engines and real sync
//! sessions over a seeded network that loses, duplicates, delays and
//! reorders frames, partitions and heals, with skewed clocks and a peer that
//! forges bundles. After healing and quiescence every honest peer must hold
//! every bundle, derive the same state and the same conflicts, and have
//! quarantined every forged bundle it was sent.
//!
//! `cargo test` runs 500 seeds. The long run:
//! `OPENPROD_SIM_SEEDS=10000 cargo test --release -p openprod-core --test simulation -- --nocapture`

mod network;

use network::{Outcome, simulate};

fn seeds() -> u64 {
    std::env::var("OPENPROD_SIM_SEEDS").ok().and_then(|text| text.parse().ok()).unwrap_or(500)
}

#[test]
fn honest_peers_converge_under_faults_and_forgery() {
    let seeds = seeds();
    let mut divergences = Vec::new();
    let mut totals = Outcome::default();
    for seed in 0..seeds {
        match simulate(seed) {
            Ok(outcome) => totals.add(&outcome),
            Err(problem) => divergences.push(format!(
                "seed {seed}: {problem} — reproduce: OPENPROD_SIM_SEED={seed} cargo test -p openprod-core --test simulation one_seed -- --nocapture"
            )),
        }
    }
    println!(
        "simulated {seeds} seeds: {} divergences; {} bundles made, {} frames delivered, {} lost, {} duplicated, {} forged bundles quarantined, {} partitions healed",
        divergences.len(),
        totals.bundles,
        totals.delivered,
        totals.lost,
        totals.duplicated,
        totals.quarantined,
        totals.partitions
    );
    assert!(divergences.is_empty(), "{}", divergences.join("\n"));
    assert!(totals.quarantined > 0 && totals.partitions > 0 && totals.lost > 0, "the faults must actually happen");
}

/// One seed, for reproducing a failure: `OPENPROD_SIM_SEED=<n>`.
#[test]
fn one_seed() {
    let seed = std::env::var("OPENPROD_SIM_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or(42);
    let outcome = simulate(seed).unwrap_or_else(|problem| panic!("seed {seed}: {problem}"));
    println!("seed {seed}: {outcome:?}");
}
