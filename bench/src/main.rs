//! `keukentafel-bench`: Keukentafel side by side with automerge-repo and samod on the same
//! dataset, workloads and wire measurement. See `docs` of issue 7 in the README.

mod dataset;

use std::path::PathBuf;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Gen { n, out } => dataset::generate(n, &out),
    }
}
