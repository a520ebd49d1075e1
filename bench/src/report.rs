//! The results table: medians per system, ratio ours / reference, targets, the machine,
//! the references' versions and what differs between the systems.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use serde_json::{Value, json};

use crate::compare::{Options, Samples};
use crate::system::Machine;

#[derive(Clone, Copy)]
enum Unit {
    /// Seconds in the JSON, shown as ms or s.
    Seconds,
    /// Milliseconds.
    Ms,
    Bytes,
    Mb,
    Count,
    CpuSeconds,
}

/// How a target is judged.
#[derive(Clone, Copy)]
enum Target {
    /// ours / reference at most this.
    Ratio(f64),
    /// ours below this.
    Below(f64),
    /// ours exactly zero.
    Zero,
}

struct Row {
    scenario: &'static str,
    measure: &'static str,
    key: &'static str,
    unit: Unit,
    /// The target, and for which N (None: every N).
    target: Option<(&'static str, Target, Option<usize>)>,
}

const fn row(scenario: &'static str, measure: &'static str, key: &'static str, unit: Unit) -> Row {
    Row {
        scenario,
        measure,
        key,
        unit,
        target: None,
    }
}

fn rows() -> Vec<Row> {
    let target = |r: Row, text, t, n| Row {
        target: Some((text, t, n)),
        ..r
    };
    vec![
        target(
            row("initial", "time", "seconds", Unit::Seconds),
            ">= 3x faster",
            Target::Ratio(1.0 / 3.0),
            Some(5_000),
        ),
        target(
            row("initial", "wire bytes", "wire_bytes", Unit::Bytes),
            "<= reference",
            Target::Ratio(1.0),
            Some(5_000),
        ),
        row("initial", "server peak RSS", "server_peak_rss_mb", Unit::Mb),
        target(
            row("reconnect", "time", "seconds", Unit::Seconds),
            ">= 50x faster",
            Target::Ratio(0.02),
            Some(5_000),
        ),
        target(
            row("reconnect", "wire bytes", "wire_bytes", Unit::Bytes),
            ">= 50x fewer",
            Target::Ratio(0.02),
            Some(5_000),
        ),
        target(
            row("offline-day", "time", "seconds", Unit::Seconds),
            ">= 3x faster",
            Target::Ratio(1.0 / 3.0),
            None,
        ),
        row("offline-day", "wire bytes", "wire_bytes", Unit::Bytes),
        row("many", "ack latency p50", "p50_ms", Unit::Ms),
        target(
            row("many", "ack latency p99", "p99_ms", Unit::Ms),
            "< 100 ms",
            Target::Below(100.0),
            None,
        ),
        row("many", "edits acknowledged", "edits", Unit::Count),
        target(
            row("many", "errors", "errors", Unit::Count),
            "zero",
            Target::Zero,
            None,
        ),
        row("many", "server CPU", "server_cpu_s", Unit::CpuSeconds),
        target(
            row("many", "server peak RSS", "server_peak_rss_mb", Unit::Mb),
            "< 300 MB",
            Target::Below(300.0),
            None,
        ),
        row("commit", "durable edit median", "median_ms", Unit::Ms),
        row("commit", "durable edit p95", "p95_ms", Unit::Ms),
    ]
}

fn show(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Seconds if v < 1.0 => format!("{:.1} ms", v * 1000.0),
        Unit::Seconds => format!("{v:.2} s"),
        Unit::Ms => format!("{v:.1} ms"),
        Unit::Bytes if v < 10_000.0 => format!("{v:.0} B"),
        Unit::Bytes if v < 10_000_000.0 => format!("{:.1} KB", v / 1000.0),
        Unit::Bytes => format!("{:.1} MB", v / 1_000_000.0),
        Unit::Mb => format!("{v:.0} MB"),
        Unit::Count => format!("{v:.0}"),
        Unit::CpuSeconds => format!("{v:.1} s"),
    }
}

/// The median; of an even count, the mean of the two middle values.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[mid]),
        _ => Some((v[mid - 1] + v[mid]) / 2.0),
    }
}

/// The median of one measure over the repetitions, or why there is none.
#[derive(Clone, Debug)]
struct Cell {
    median: Result<f64, String>,
    samples: Vec<f64>,
    failed: usize,
    flavor: Option<String>,
}

fn cell(samples: &Samples, system: &str, scenario: &str, n: usize, key: &str) -> Option<Cell> {
    let outcomes = samples.get(&(system.to_owned(), scenario.to_owned(), n))?;
    let mut values = Vec::new();
    let mut error = None;
    for o in outcomes {
        match o {
            Ok(v) => match v.get(key).and_then(Value::as_f64) {
                Some(x) => values.push(x),
                None => error = Some(format!("the runner's answer has no {key}")),
            },
            Err(e) => error = Some(e.clone()),
        }
    }
    let failed = outcomes.len() - values.len();
    Some(Cell {
        median: median(values.clone()).ok_or_else(|| error.unwrap_or_else(|| "no result".into())),
        samples: values,
        failed,
        flavor: None,
    })
}

/// Per reference column, its cell (None: not run).
type Columns = Vec<(String, Option<Cell>)>;

/// The finished report.
pub struct Report {
    machine: Machine,
    versions: BTreeMap<String, String>,
    settings: Value,
    /// (row index, N, ours, references by name)
    lines: Vec<(usize, usize, Cell, Columns)>,
    notes: BTreeMap<String, Vec<String>>,
    references: Vec<String>,
}

/// The reference columns: automerge-repo (better of its flavors) and samod, as asked.
fn reference_names(systems: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in systems.iter().filter(|s| *s != "ours") {
        let name = s.split('@').next().unwrap_or(s).to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

impl Report {
    /// Builds the report from the samples.
    pub fn new(machine: Machine, opts: &Options, systems: &[String], samples: &Samples) -> Report {
        let references = reference_names(systems);
        let mut lines = Vec::new();
        for &n in &opts.ns {
            for (i, r) in rows().iter().enumerate() {
                let Some(ours) = cell(samples, "ours", r.scenario, n, r.key) else {
                    if systems.iter().any(|s| s == "ours") {
                        continue;
                    }
                    // Without our side there is nothing to compare; still show the references.
                    let refs = refs_for(&references, systems, samples, r, n);
                    if refs.iter().all(|(_, c)| c.is_none()) {
                        continue;
                    }
                    lines.push((
                        i,
                        n,
                        Cell {
                            median: Err("not run".into()),
                            samples: vec![],
                            failed: 0,
                            flavor: None,
                        },
                        refs,
                    ));
                    continue;
                };
                let refs = refs_for(&references, systems, samples, r, n);
                lines.push((i, n, ours, refs));
            }
        }
        let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ((system, _, _), outcomes) in samples {
            for o in outcomes.iter().flatten() {
                if let Some(note) = o.get("note").and_then(Value::as_str) {
                    let list = notes.entry(system.clone()).or_default();
                    if !list.iter().any(|x| x == note) {
                        list.push(note.to_owned());
                    }
                }
            }
        }
        Report {
            machine,
            versions: versions(opts, systems),
            settings: json!({
                "n": opts.ns,
                "repetitions": opts.reps,
                "many_devices": opts.devices,
                "many_seconds": opts.seconds,
                "commit_edits": opts.commit_reps,
                "systems": systems,
            }),
            lines,
            notes,
            references,
        }
    }

    fn ratio(ours: &Cell, reference: &Cell) -> Option<f64> {
        match (&ours.median, &reference.median) {
            (Ok(o), Ok(r)) if *r > 0.0 => Some(o / r),
            _ => None,
        }
    }

    fn verdict(&self, row: &Row, n: usize, ours: &Cell, refs: &[(String, Option<Cell>)]) -> String {
        let Some((text, target, for_n)) = row.target else {
            return String::new();
        };
        if for_n.is_some_and(|t| t != n) {
            return format!("({text} at N={})", for_n.unwrap_or(n));
        }
        let Ok(o) = ours.median else {
            return format!("{text}: no figure");
        };
        match target {
            Target::Below(limit) => format!("{text}: {}", if o < limit { "met" } else { "MISSED" }),
            Target::Zero => format!("{text}: {}", if o == 0.0 { "met" } else { "MISSED" }),
            Target::Ratio(_) if refs.is_empty() => format!("{text}: no reference run"),
            Target::Ratio(max) => {
                let parts: Vec<String> = refs
                    .iter()
                    .map(
                        |(name, c)| match c.as_ref().and_then(|c| Self::ratio(ours, c)) {
                            Some(q) if q <= max => format!("met vs {name}"),
                            Some(_) => format!("MISSED vs {name}"),
                            None => format!("pending vs {name}"),
                        },
                    )
                    .collect();
                format!("{text}: {}", parts.join(", "))
            }
        }
    }

    fn show_cell(unit: Unit, c: &Cell, runs: usize) -> String {
        match &c.median {
            Ok(v) => {
                let mut s = show(unit, *v);
                if let Some(f) = &c.flavor {
                    let _ = write!(s, " ({f})");
                }
                if c.failed > 0 {
                    let _ = write!(s, " ({} of {runs} runs failed)", c.failed);
                }
                s
            }
            Err(e) => format!("failed: {}", one_line(e)),
        }
    }

    /// The Markdown table with the machine, versions and notes.
    pub fn markdown(&self) -> String {
        let all = rows();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Machine: {}, {} cores, {:.0} GiB RAM. Medians of {} repetitions; ratio = ours / reference (below 1: ours is lower).\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.ram_gib,
            self.settings["repetitions"]
        );
        let _ = write!(s, "| scenario | measure | N | ours |");
        for r in &self.references {
            let _ = write!(s, " {r} | ours / {r} |");
        }
        let _ = writeln!(s, " target |");
        let _ = write!(s, "|---|---|---|---|");
        for _ in &self.references {
            let _ = write!(s, "---|---|");
        }
        let _ = writeln!(s, "---|");
        let runs = self.settings["repetitions"].as_u64().unwrap_or(0) as usize;
        for (i, n, ours, refs) in &self.lines {
            let r = &all[*i];
            let _ = write!(
                s,
                "| {} | {} | {} | {} |",
                r.scenario,
                r.measure,
                n,
                Self::show_cell(r.unit, ours, runs)
            );
            for (_, c) in refs {
                match c {
                    Some(c) => {
                        let ratio =
                            Self::ratio(ours, c).map_or_else(|| "-".into(), |q| format!("{q:.3}"));
                        let _ = write!(s, " {} | {ratio} |", Self::show_cell(r.unit, c, runs));
                    }
                    None => {
                        let _ = write!(s, " not run | - |");
                    }
                }
            }
            let _ = writeln!(s, " {} |", self.verdict(r, *n, ours, refs));
        }
        let _ = writeln!(s, "\nVersions:");
        for (k, v) in &self.versions {
            let _ = writeln!(s, "- {k}: {v}");
        }
        let _ = writeln!(s, "\nWhat differs:");
        for (system, text) in what_differs(&self.references) {
            let _ = writeln!(s, "- {system}: {text}");
            for note in self
                .notes
                .iter()
                .filter(|(k, _)| k.starts_with(system.as_str()))
                .flat_map(|(k, v)| v.iter().map(move |n| (k, n)))
            {
                let _ = writeln!(s, "  - {} says: {}", note.0, one_line(note.1));
            }
        }
        s
    }

    /// The same as JSON, with every repetition's value.
    pub fn json(&self) -> Value {
        let all = rows();
        let cell = |c: &Cell| {
            json!({
                "median": c.median.as_ref().ok(),
                "error": c.median.as_ref().err(),
                "samples": c.samples,
                "failed_runs": c.failed,
                "flavor": c.flavor,
            })
        };
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|(i, n, ours, refs)| {
                let r = &all[*i];
                let columns: serde_json::Map<String, Value> = refs
                    .iter()
                    .map(|(name, c)| {
                        let v = c.as_ref().map_or(Value::Null, |c| {
                            let mut v = cell(c);
                            v["ratio"] = json!(Self::ratio(ours, c));
                            v
                        });
                        (name.clone(), v)
                    })
                    .collect();
                json!({
                    "scenario": r.scenario,
                    "measure": r.measure,
                    "key": r.key,
                    "n": n,
                    "ours": cell(ours),
                    "references": columns,
                    "target": self.verdict(r, *n, ours, refs),
                })
            })
            .collect();
        json!({
            "machine": {"cpu": self.machine.cpu, "cores": self.machine.cores, "ram_gib": self.machine.ram_gib},
            "versions": self.versions,
            "settings": self.settings,
            "rows": lines,
            "what_differs": what_differs(&self.references).into_iter().collect::<BTreeMap<_, _>>(),
            "runner_notes": self.notes,
        })
    }
}

fn one_line(s: &str) -> String {
    let flat = s.replace(['\n', '|'], " ");
    if flat.chars().count() > 160 {
        format!("{}...", flat.chars().take(160).collect::<String>())
    } else {
        flat
    }
}

/// Per reference column the cell; for automerge-repo the better of its server flavors.
fn refs_for(
    references: &[String],
    systems: &[String],
    samples: &Samples,
    r: &Row,
    n: usize,
) -> Columns {
    references
        .iter()
        .map(|name| {
            let mut best: Option<Cell> = None;
            for system in systems
                .iter()
                .filter(|s| s.split('@').next() == Some(name.as_str()))
            {
                let Some(mut c) = cell(samples, system, r.scenario, n, r.key) else {
                    continue;
                };
                c.flavor = system.split_once('@').map(|(_, f)| f.to_owned());
                // More acknowledged edits is better; for every other measure, less.
                let better = match (&c.median, best.as_ref().map(|b| &b.median)) {
                    (_, None) => true,
                    (Ok(_), Some(Err(_))) => true,
                    (Ok(x), Some(Ok(y))) if r.key == "edits" => x > y,
                    (Ok(x), Some(Ok(y))) => x < y,
                    _ => false,
                };
                if better {
                    best = Some(c);
                }
            }
            (name.clone(), best)
        })
        .collect()
}

fn versions(opts: &Options, systems: &[String]) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert(
        "keukentafel".into(),
        format!(
            "{} (automerge {})",
            env!("CARGO_PKG_VERSION"),
            lock_version("Cargo.lock", "automerge")
        ),
    );
    if systems.iter().any(|s| s.starts_with("automerge-repo")) {
        let node = Command::new("node")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or_else(|| "node not found".into(), |s| s.trim().to_owned());
        let pkg = opts
            .node_runner
            .parent()
            .map(|d| d.join("package.json"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|p| p.get("dependencies").cloned())
            .map_or_else(
                || "package.json not found".into(),
                |d| {
                    d.as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default()
                },
            );
        v.insert("automerge-repo".into(), format!("node {node}; {pkg}"));
    }
    if systems.iter().any(|s| s == "samod") {
        // The runner's lock file; BENCH_SAMOD_LOCK when the runner was built elsewhere.
        let lock =
            std::env::var("BENCH_SAMOD_LOCK").unwrap_or_else(|_| "bench/samod/Cargo.lock".into());
        v.insert(
            "samod".into(),
            format!(
                "samod {} (automerge {})",
                lock_version(&lock, "samod"),
                lock_version(&lock, "automerge")
            ),
        );
    }
    v
}

/// A package's version in a Cargo.lock (the first, if several).
fn lock_version(lock: &str, name: &str) -> String {
    let Ok(text) = std::fs::read_to_string(lock) else {
        return "unknown".into();
    };
    let needle = format!("name = \"{name}\"\nversion = \"");
    text.find(&needle)
        .and_then(|i| text[i + needle.len()..].split('"').next())
        .map_or_else(|| "unknown".into(), str::to_owned)
}

fn what_differs(references: &[String]) -> Vec<(String, String)> {
    let mut v = vec![
        ("all".into(), "server and clients share this machine and talk over loopback through the harness's byte-counting TCP proxy; wire bytes = TCP payload both ways (HTTP upgrade, WebSocket frames, messages). The server is a separate process started fresh for every scenario and repetition; its peak RSS is VmHWM and its CPU is user + system time over its whole life (\"many\" includes connecting all clients). Offline-day bytes include the office client's traffic. \"many\" and \"commit\" run at the first N only.".to_owned()),
        ("ours".into(), "keukentafel-server (axum/tokio, SQLite WAL with synchronous=FULL) checks every push against the rulebook and the member's rights and sends a device only the cases its member may see; sync runs on a per-workspace feed with a cursor, so a device with nothing to do exchanges one hello and one answer. The device is the app's DeviceStore (SQLCipher, every edit durable) with the app's sync driver (keukentafel-ffi). In \"many\" every device is a practitioner holding its own case; all devices' stores and sync share this one process and the driver's two-thread runtime. \"commit\" edits a case on the device holding all N cases.".to_owned()),
    ];
    for r in references {
        let text = match r.as_str() {
            "automerge-repo" => {
                "generic Automerge document sync (no rules, no authentication), per-document sync state; server = a Repo with NodeWSServerAdapter + NodeFSStorageAdapter (files). Run both as the published sync-server package (automerge-repo 1.x) and the same server lines on the latest 2.x packages; each cell shows the better of the two with its flavor."
            }
            "samod" => {
                "Rust implementation of the automerge-repo protocol on tokio/axum, with its filesystem storage; generic Automerge sync, no rules, no authentication."
            }
            _ => "",
        };
        v.push((r.clone(), text.to_owned()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
    }
}
