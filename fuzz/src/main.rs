//! `keukentafel-fuzz`: runs the fuzz targets for a bounded time, replays inputs, and writes
//! the seed corpus. See `fuzz/README.md`.

use std::io::Read as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arbitrary::Unstructured;
use clap::{Parser, Subcommand};
use keukentafel_fuzz::fixture::Fixture;
use keukentafel_fuzz::generate::Pool;
use keukentafel_fuzz::mutate::{Rng, mutate};
use keukentafel_fuzz::targets::{self, NAMES, Target};
use keukentafel_fuzz::{corpus_dir, crate_dir, input_name, inputs_in, regressions_dir, seeds};

/// A runaway allocation fails the allocation, which aborts the worker: the parent then
/// records the input it was running as a finding.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Most memory one worker may hold, in MiB, unless told otherwise.
const DEFAULT_MEMORY_MIB: usize = 2048;

/// Longest input the mutator makes.
const MAX_INPUT: usize = 1 << 20;

/// Time a worker gets beyond its budget for setup and the corpus pass before it counts as
/// hung.
const GRACE: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(about = "Fuzzing of Keukentafel's decoders of untrusted bytes, on stable Rust")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the corpus and then mutated inputs through targets for a bounded time.
    Run {
        /// One target.
        #[arg(long, conflicts_with = "all")]
        target: Option<String>,
        /// Every target (the default), one after the other.
        #[arg(long)]
        all: bool,
        /// Seconds for the whole run, shared between the targets.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the mutator; the same seed makes the same inputs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Most memory a worker may hold, in MiB; an allocation beyond it is a finding.
        #[arg(long, default_value_t = DEFAULT_MEMORY_MIB)]
        memory_limit_mib: usize,
    },
    /// Runs one input through its target (by default the target named by its directory).
    Replay {
        /// The input.
        file: PathBuf,
        /// The target, when the file is not under a target's directory.
        #[arg(long)]
        target: Option<String>,
    },
    /// Writes every target's corpus from real messages and crafted bombs.
    SeedCorpus {
        /// Replaces the fixture too: the sync targets' regressions then lose their meaning.
        #[arg(long)]
        new_fixture: bool,
    },
    /// One target's loop, in a child process of `run`.
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        target: String,
        #[arg(long)]
        seconds: u64,
        #[arg(long)]
        seed: u64,
        /// Where the input being run is kept, for the parent to find after an abort.
        #[arg(long)]
        current: PathBuf,
        #[arg(long, default_value_t = DEFAULT_MEMORY_MIB)]
        memory_limit_mib: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let memory_mib = match &cli.command {
        Cmd::Run {
            memory_limit_mib, ..
        }
        | Cmd::Worker {
            memory_limit_mib, ..
        } => *memory_limit_mib,
        _ => DEFAULT_MEMORY_MIB,
    };
    if ALLOCATOR
        .set_limit(memory_mib.saturating_mul(1 << 20))
        .is_err()
    {
        eprintln!("cannot set the memory limit");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Cmd::Run {
            target,
            all: _,
            seconds,
            seed,
            memory_limit_mib,
        } => run(target, seconds, seed, memory_limit_mib),
        Cmd::Replay { file, target } => replay(&file, target),
        Cmd::SeedCorpus { new_fixture } => seed_corpus(new_fixture),
        Cmd::Worker {
            target,
            seconds,
            seed,
            current,
            memory_limit_mib: _,
        } => worker(&target, seconds, seed, &current),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keukentafel-fuzz: {e:#}");
            ExitCode::FAILURE
        }
    }
}

static PANICS: AtomicU64 = AtomicU64::new(0);
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Keeps panics quiet (the core contains Automerge's on purpose) but remembers the last.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.to_string());
    }));
}

/// Runs one input; the panic message when it escaped.
fn execute(target: &mut dyn Target, input: &[u8]) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| target.run(input))) {
        Ok(()) => None,
        Err(_) => Some(
            LAST_PANIC
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| "panic".into()),
        ),
    }
}

fn replay_command(path: &Path) -> String {
    let shown = path
        .strip_prefix(crate_dir().parent().unwrap_or(crate_dir()))
        .unwrap_or(path);
    format!(
        "cargo run -p keukentafel-fuzz -- replay {}",
        shown.display()
    )
}

/// Keeps a finding as a regression input; returns its path.
fn keep_finding(target: &str, input: &[u8]) -> anyhow::Result<PathBuf> {
    let dir = regressions_dir(target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(input_name(input));
    std::fs::write(&path, input)?;
    Ok(path)
}

fn corpus_of(target: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for dir in [corpus_dir(target), regressions_dir(target)] {
        for p in inputs_in(&dir)? {
            out.push(std::fs::read(&p).with_context(|| format!("{}", p.display()))?);
        }
    }
    Ok(out)
}

fn worker(name: &str, seconds: u64, seed: u64, current: &Path) -> anyhow::Result<ExitCode> {
    quiet_panics();
    let fixture = Fixture::load()?;
    let mut target = targets::target(name, &fixture)?;
    let corpus = corpus_of(name)?;
    anyhow::ensure!(!corpus.is_empty(), "{name} has no corpus; run seed-corpus");
    let mut pool = Pool::from_frames(corpus.iter().flat_map(|c| target.frames(c)));
    if pool.blobs.is_empty() {
        pool.blobs.clone_from(&corpus);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut rng = Rng::new(seed ^ u64::from(crc(name)));
    let (mut executions, mut generated) = (0u64, 0u64);
    let mut next = 0usize;
    let finding = loop {
        let input = if next < corpus.len() {
            next += 1;
            corpus[next - 1].clone()
        } else if Instant::now() >= deadline {
            break None;
        } else if rng.one_in(8)
            && let Ok(Some(g)) = {
                let n = 256 + rng.below(4096);
                let raw = rng.bytes(n);
                target.generate(&mut Unstructured::new(&raw), &pool)
            }
        {
            generated += 1;
            g
        } else {
            let base = &corpus[rng.below(corpus.len())];
            let inside = if rng.below(8) < 3 {
                target.mutate_inside(&mut rng, base, &pool)
            } else {
                None
            };
            inside.unwrap_or_else(|| mutate(&mut rng, base, &corpus, MAX_INPUT))
        };
        std::fs::write(current, &input)?;
        executions += 1;
        if let Some(message) = execute(target.as_mut(), &input) {
            break Some((input, message));
        }
    };
    let finding_path = match &finding {
        Some((input, message)) => {
            let path = keep_finding(name, input)?;
            eprintln!("{name}: FINDING: {message}");
            eprintln!(
                "{name}: kept as {}; replay with: {}",
                path.display(),
                replay_command(&path)
            );
            Some(path)
        }
        None => None,
    };
    println!(
        "{}",
        serde_json::json!({
            "target": name,
            "executions": executions,
            "generated": generated,
            "seconds": started.elapsed().as_secs_f64(),
            "contained_panics": PANICS.load(Ordering::Relaxed) - u64::from(finding.is_some()),
            "finding": finding_path.map(|p| p.display().to_string()),
        })
    );
    Ok(if finding.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A small stable hash of a target's name, so each target gets its own input sequence.
fn crc(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn run(
    target: Option<String>,
    seconds: u64,
    seed: u64,
    memory_mib: usize,
) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = match target {
        Some(t) => vec![t],
        None => NAMES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let per_target = (seconds / names.len() as u64).max(1);
    let scratch = targets::scratch_dir("keukentafel-fuzz-run")?;
    let exe = std::env::current_exe()?;
    let (mut total, mut findings) = (0u64, Vec::new());
    let mut summary = Vec::new();
    for name in &names {
        let current = scratch.path().join(name);
        let mut child = Command::new(&exe)
            .args(["worker", "--target", name, "--seconds"])
            .arg(per_target.to_string())
            .arg("--seed")
            .arg(seed.to_string())
            .arg("--current")
            .arg(&current)
            .arg("--memory-limit-mib")
            .arg(memory_mib.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let limit = Instant::now() + Duration::from_secs(per_target) + GRACE;
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break Some(s);
            }
            if Instant::now() > limit {
                child.kill()?;
                child.wait()?;
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_string(&mut out)?;
        }
        let report: Option<serde_json::Value> =
            out.lines().rev().find_map(|l| serde_json::from_str(l).ok());
        let executions = report
            .as_ref()
            .and_then(|r| r["executions"].as_u64())
            .unwrap_or(0);
        let secs = report
            .as_ref()
            .and_then(|r| r["seconds"].as_f64())
            .unwrap_or(0.0);
        total += executions;
        let finding: Option<(PathBuf, String)> = match (&status, &report) {
            (Some(s), Some(r)) if !s.success() => r["finding"]
                .as_str()
                .map(|p| (PathBuf::from(p), "panic or 5xx".to_owned())),
            (Some(s), _) if s.success() => None,
            (status, _) => {
                // Aborted (an allocation over the cap, a stack overflow) or hung: the input
                // it was running is still in `current`.
                let why = match status {
                    Some(s) => {
                        format!("worker died ({s}): over-allocation, abort or stack overflow")
                    }
                    None => "worker hung".to_owned(),
                };
                match std::fs::read(&current) {
                    Ok(input) => Some((keep_finding(name, &input)?, why)),
                    Err(_) => anyhow::bail!("{name}: {why}, before running any input"),
                }
            }
        };
        let rate = if secs > 0.0 {
            executions as f64 / secs
        } else {
            0.0
        };
        let contained = report
            .as_ref()
            .and_then(|r| r["contained_panics"].as_u64())
            .unwrap_or(0);
        println!(
            "{name}: {executions} executions in {secs:.1} s ({rate:.0}/s), {} new findings, {contained} decoder panics contained by the core",
            usize::from(finding.is_some())
        );
        summary.push(serde_json::json!({
            "target": name,
            "executions": executions,
            "per_second": rate.round(),
            "findings": usize::from(finding.is_some()),
            "contained_panics": contained,
        }));
        if let Some((path, why)) = finding {
            println!("{name}: {why}; replay with: {}", replay_command(&path));
            findings.push(path);
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "executions": total,
            "findings": findings.len(),
            "targets": summary,
        })
    );
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn replay(file: &Path, target: Option<String>) -> anyhow::Result<ExitCode> {
    let name = match target {
        Some(t) => t,
        None => file
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .filter(|n| NAMES.contains(n))
            .map(str::to_owned)
            .context("cannot tell the target from the path; pass --target")?,
    };
    let input = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    let mut target = targets::target(&name, &Fixture::load()?)?;
    // Panics print as usual here (with RUST_BACKTRACE=1, where they come from), including
    // those the core contains on purpose.
    Ok(match execute(target.as_mut(), &input) {
        None => {
            println!("{name}: {} runs cleanly", file.display());
            ExitCode::SUCCESS
        }
        Some(message) => {
            println!("{name}: {} fails: {message}", file.display());
            ExitCode::FAILURE
        }
    })
}

fn seed_corpus(new_fixture: bool) -> anyhow::Result<ExitCode> {
    for (target, n) in seeds::write_all(crate_dir(), new_fixture)? {
        println!("{target}: {n} inputs");
    }
    Ok(ExitCode::SUCCESS)
}
