//! The seeded simulation on every test run: 500 seeds of a team under faults (see
//! `keukentafel_tests::sim`). `SIM_SEED=n` replays one seed; `SIM_BASE=n` runs the 500
//! seeds from n; a longer soak is `cargo run -p keukentafel-tests --release --bin simulate`.

use std::time::{Duration, Instant};

use keukentafel_tests::sim;

const SEEDS: u64 = 500;

#[test]
fn every_seed_keeps_every_guarantee() {
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let seeds = match (env("SIM_SEED"), env("SIM_BASE")) {
        (Some(seed), _) => seed..seed + 1,
        (None, base) => base.unwrap_or(0)..base.unwrap_or(0) + SEEDS,
    };
    let wanted = seeds.end - seeds.start;
    let started = Instant::now();
    let batch = sim::run_many(
        seeds,
        2,
        &sim::scratch_dir(),
        started + Duration::from_secs(900),
    );
    let s = &batch.stats;
    eprintln!(
        "simulation: {} seeds in {:.0?}, {} devices, {} operations ({} refused by the rulebook), \
         {} frames, {} cuts, {} duplicates, {} delays, {} partitions, {} device crashes, \
         {} server restarts, {} pushes accepted, {} refused, {} revocations, {} departures",
        batch.seeds,
        started.elapsed(),
        s.devices,
        s.ops,
        s.ops_refused,
        s.frames,
        s.cuts,
        s.duplicates,
        s.delays,
        s.partitions,
        s.device_crashes,
        s.server_restarts,
        s.accepted,
        s.refused,
        s.revocations,
        s.departures
    );
    let report: Vec<String> = batch
        .failures
        .iter()
        .map(|(seed, what)| {
            format!(
                "seed {seed}: {what}\n  replay: {}",
                sim::replay_command(*seed)
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "{} seeds failed:\n{}",
        report.len(),
        report.join("\n")
    );
    assert_eq!(
        batch.seeds, wanted,
        "only {} of {wanted} seeds ran in time",
        batch.seeds
    );
    assert!(s.ops > 0 && s.accepted > 0, "the simulation did no work");
}
