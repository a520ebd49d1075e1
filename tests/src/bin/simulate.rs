//! The long soak of the seeded simulation: many more seeds than a test run, from a fresh
//! random start unless given one. Prints the figures, and a replay command per failing seed.
//!
//! `cargo run -p keukentafel-tests --release --bin simulate -- --seeds 20000`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use keukentafel_tests::sim;

#[derive(Parser)]
#[command(about = "Runs the seeded team simulation for many seeds")]
struct Args {
    /// How many seeds.
    #[arg(long, default_value_t = 10_000)]
    seeds: u64,
    /// The first seed (random when left out).
    #[arg(long)]
    from: Option<u64>,
    /// Threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop starting seeds after this many minutes.
    #[arg(long, default_value_t = 600)]
    minutes: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let from = args
        .from
        .unwrap_or_else(|| keukentafel_tests::seed_from_env("SIM_BASE") % 1_000_000_000);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.minutes * 60);
    let mut total = sim::Batch::default();
    // In chunks, so that progress shows on a long soak.
    let chunk = 500;
    let mut seed = from;
    while seed < from + args.seeds && Instant::now() < deadline {
        let end = (seed + chunk).min(from + args.seeds);
        let batch = sim::run_many(seed..end, args.threads, &sim::scratch_dir(), deadline);
        total.seeds += batch.seeds;
        total.stats.add(&batch.stats);
        total.failures.extend(batch.failures);
        println!(
            "{} seeds ({}..{end}) in {:.0?}, {} failed",
            total.seeds,
            from,
            started.elapsed(),
            total.failures.len()
        );
        seed = end;
    }
    println!("{:#?}", total.stats);
    for (seed, what) in &total.failures {
        println!(
            "seed {seed}: {what}\n  replay: {}",
            sim::replay_command(*seed)
        );
    }
    if total.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
