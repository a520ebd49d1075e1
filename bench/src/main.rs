//! `keukentafel-bench`: Keukentafel side by side with automerge-repo and samod on the same
//! dataset, workloads and wire measurement (issue 7; `scripts/bench.sh` runs it).

mod compare;
mod dataset;
mod ours;
mod proxy;
mod reference;
mod report;
mod system;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "keukentafel-bench",
    about = "Keukentafel against automerge-repo and samod"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the dataset: N cases as Automerge documents, the scenarios' edits, and our
    /// server's database holding the same documents.
    Gen {
        /// Number of cases.
        #[arg(long)]
        n: usize,
        /// Directory to write (must not hold a dataset yet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Runs every scenario on every system and writes results.md and results.json.
    Compare {
        /// Small and short: N = 50, 20 devices for 3 s, one repetition.
        #[arg(long)]
        quick: bool,
        /// Dataset sizes, comma separated (default 1000,5000; quick 50).
        #[arg(long, value_delimiter = ',')]
        n: Vec<usize>,
        /// Repetitions (default 3; quick 1).
        #[arg(long)]
        reps: Option<usize>,
        /// Systems, comma separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ours,automerge-repo,samod"
        )]
        systems: Vec<String>,
        /// Results (and datasets, work files) go here.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Devices of the "many" scenario (default 200; quick 20).
        #[arg(long)]
        devices: Option<usize>,
        /// Seconds of the "many" scenario (default 30; quick 3).
        #[arg(long)]
        seconds: Option<u64>,
        /// Our server binary (default: next to this one).
        #[arg(long, env = "BENCH_SERVER")]
        server: Option<PathBuf>,
        /// The automerge-repo runner.
        #[arg(
            long,
            env = "BENCH_NODE_RUNNER",
            default_value = "bench/automerge-repo/runner.mjs"
        )]
        node_runner: PathBuf,
        /// Server flavors of the automerge-repo runner, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "published,latest")]
        node_flavors: Vec<String>,
        /// The samod runner (default: keukentafel-bench-samod next to this binary).
        #[arg(long, env = "BENCH_SAMOD_RUNNER")]
        samod_runner: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Gen { n, out } => dataset::generate(n, &out),
        Command::Compare {
            quick,
            n,
            reps,
            systems,
            out,
            devices,
            seconds,
            server,
            node_runner,
            node_flavors,
            samod_runner,
        } => {
            let here = std::env::current_exe()?
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default();
            let ns = match (n.is_empty(), quick) {
                (false, _) => n,
                (true, true) => vec![50],
                (true, false) => vec![1_000, 5_000],
            };
            compare::run(&compare::Options {
                ns,
                reps: reps.unwrap_or(if quick { 1 } else { 3 }),
                systems,
                out,
                devices: devices.unwrap_or(if quick { 20 } else { 200 }),
                seconds: seconds.unwrap_or(if quick { 3 } else { 30 }),
                commit_reps: if quick { 50 } else { 200 },
                server_bin: server.unwrap_or_else(|| here.join("keukentafel-server")),
                node_runner,
                node_flavors,
                samod_runner: samod_runner.unwrap_or_else(|| here.join("keukentafel-bench-samod")),
                limit: Duration::from_secs(if quick { 300 } else { 3_600 }),
            })
        }
    }
}
