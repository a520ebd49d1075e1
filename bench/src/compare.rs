//! `compare`: every scenario on every system, repeated, and the table of medians with the
//! ratio ours / reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::dataset;
use crate::ours::Ours;
use crate::proxy::Proxy;
use crate::reference::{Reference, copy_tree, url};
use crate::report;
use crate::system::{Machine, Server};

/// What to run.
pub struct Options {
    /// Dataset sizes.
    pub ns: Vec<usize>,
    /// Repetitions per scenario.
    pub reps: usize,
    /// Systems: ours, automerge-repo, samod.
    pub systems: Vec<String>,
    /// Results directory.
    pub out: PathBuf,
    /// Devices and seconds of the "many" scenario.
    pub devices: usize,
    /// Seconds of the "many" scenario.
    pub seconds: u64,
    /// Edits timed by the "commit" scenario.
    pub commit_reps: usize,
    /// Our server binary.
    pub server_bin: PathBuf,
    /// The automerge-repo runner (`runner.mjs`).
    pub node_runner: PathBuf,
    /// Server flavors of the automerge-repo runner to run.
    pub node_flavors: Vec<String>,
    /// The samod runner binary.
    pub samod_runner: PathBuf,
    /// Longest a runner command may take.
    pub limit: Duration,
}

/// Scenario names, in the protocol's order.
pub const SCENARIOS: [&str; 5] = ["initial", "reconnect", "offline-day", "many", "commit"];

/// One repetition's outcome of one scenario: the runner's JSON plus what the harness
/// measured (wire bytes, server memory and CPU), or why it failed.
pub type Outcome = Result<Value, String>;

/// Everything measured: by system, scenario and N, the outcome of each repetition.
pub type Samples = BTreeMap<(String, String, usize), Vec<Outcome>>;

enum Runner {
    Ours(Box<Ours>),
    Reference(Reference),
}

/// Runs the comparison and writes `results.md` and `results.json` into `opts.out`.
pub fn run(opts: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.out)?;
    let proxy = Proxy::start()?;
    let mut samples = Samples::new();
    let mut systems: Vec<String> = Vec::new();
    for s in &opts.systems {
        match s.as_str() {
            "automerge-repo" => systems.extend(
                opts.node_flavors
                    .iter()
                    .map(|f| format!("automerge-repo@{f}")),
            ),
            other => systems.push(other.to_owned()),
        }
    }
    for &n in &opts.ns {
        let data = opts.out.join(format!("data/n{n}"));
        if !data.join("manifest.json").exists() {
            eprintln!("generating the dataset of {n} cases");
            let _ = std::fs::remove_dir_all(&data);
            dataset::generate(n, &data)?;
        }
        for system in &systems {
            eprintln!("{system}, N = {n}");
            let work = opts.out.join("work").join(system.replace('@', "-"));
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work)?;
            let first_n = n == opts.ns[0];
            let runner = runner(system, opts, &data, &work, &proxy);
            for rep in 0..opts.reps {
                let started = std::time::Instant::now();
                let outcomes = match &runner {
                    Ok(r) => repetition(
                        r,
                        opts,
                        &data,
                        &work.join(format!("rep{rep}")),
                        &proxy,
                        n,
                        first_n,
                    ),
                    Err(e) => SCENARIOS
                        .iter()
                        .map(|s| (s.to_string(), Err(e.clone())))
                        .collect(),
                };
                for (scenario, outcome) in outcomes {
                    if let Err(e) = &outcome {
                        eprintln!("  {scenario} failed: {e}");
                    }
                    samples
                        .entry((system.clone(), scenario, n))
                        .or_default()
                        .push(outcome);
                }
                eprintln!(
                    "  repetition {} done in {:.0} s",
                    rep + 1,
                    started.elapsed().as_secs_f64()
                );
                // Written after every repetition, so that a run stopped early keeps what it
                // measured.
                write(opts, &systems, &samples)?;
            }
            let _ = std::fs::remove_dir_all(&work);
        }
    }
    println!("{}", write(opts, &systems, &samples)?);
    let failed: Vec<&str> = samples
        .iter()
        .filter(|((system, _, _), outcomes)| {
            system == "ours" && outcomes.iter().any(Result::is_err)
        })
        .map(|((_, scenario, _), _)| scenario.as_str())
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "our side failed in: {}",
        failed.join(", ")
    );
    Ok(())
}

/// Writes results.md and results.json; returns the Markdown.
fn write(opts: &Options, systems: &[String], samples: &Samples) -> anyhow::Result<String> {
    let report = report::Report::new(Machine::read(), opts, systems, samples);
    let md = report.markdown();
    std::fs::write(opts.out.join("results.md"), &md)?;
    std::fs::write(
        opts.out.join("results.json"),
        serde_json::to_string_pretty(&report.json())?,
    )?;
    Ok(md)
}

fn runner(
    system: &str,
    opts: &Options,
    data: &Path,
    work: &Path,
    proxy: &Proxy,
) -> Result<Runner, String> {
    let reference = match system.split_once('@') {
        _ if system == "ours" => {
            return Ours::new(opts.server_bin.clone(), data)
                .map(|o| Runner::Ours(Box::new(o)))
                .map_err(|e| format!("{e:#}"));
        }
        Some(("automerge-repo", flavor)) => Reference::node(&opts.node_runner, flavor, opts.limit),
        _ if system == "samod" => Reference::samod(&opts.samod_runner, opts.limit),
        _ => return Err(format!("unknown system {system}")),
    }
    .map_err(|e| format!("not available: {e:#}"))?;
    reference
        .seed(data, &work.join("seed"), proxy)
        .map_err(|e| format!("seeding failed: {e:#}"))?;
    Ok(Runner::Reference(reference))
}

/// Runs `client` against `server` through the proxy; adds wire bytes and the server's
/// peak memory and CPU time to its JSON.
fn measured(
    proxy: &Proxy,
    server: Server,
    client: impl FnOnce() -> anyhow::Result<Value>,
) -> Outcome {
    proxy.point_to(server.port);
    proxy.take_bytes();
    let out = client();
    let bytes = proxy.take_bytes();
    let usage = server.stop();
    let mut v = out.map_err(|e| format!("{e:#}"))?;
    let usage = usage.map_err(|e| format!("server usage: {e:#}"))?;
    v["wire_bytes"] = json!(bytes);
    v["server_peak_rss_mb"] = json!(usage.peak_rss_mb);
    v["server_cpu_s"] = json!(usage.cpu_seconds);
    Ok(v)
}

fn str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// One repetition of every scenario on a fresh copy of the seeded server: initial,
/// reconnect and offline day in turn on the same device and server storage; "many" on
/// another fresh copy; "commit" locally (only for the first N).
fn repetition(
    runner: &Runner,
    opts: &Options,
    data: &Path,
    rep: &Path,
    proxy: &Proxy,
    n: usize,
    first_n: bool,
) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    let err = |e: anyhow::Error| format!("{e:#}");
    let client = rep.join("client");
    match runner {
        Runner::Ours(ours) => {
            let db = match ours.fresh_storage(&rep.join("server")) {
                Ok(db) => db,
                Err(e) => return vec![("initial".into(), Err(err(e)))],
            };
            let serve = || ours.serve(&db);
            let initial = serve()
                .map_err(err)
                .and_then(|s| measured(proxy, s, || ours.initial(&db, proxy, &client)));
            let ok = initial.is_ok();
            out.push(("initial".into(), initial));
            let after = |name: &str, f: &dyn Fn() -> Outcome| -> Outcome {
                if ok {
                    f()
                } else {
                    Err(format!("{name} needs a device from initial, which failed"))
                }
            };
            out.push((
                "reconnect".into(),
                after("reconnect", &|| {
                    serve()
                        .map_err(err)
                        .and_then(|s| measured(proxy, s, || ours.reconnect(&client)))
                }),
            ));
            out.push((
                "offline-day".into(),
                after("offline-day", &|| {
                    serve()
                        .map_err(err)
                        .and_then(|s| measured(proxy, s, || ours.offline_day(&db, proxy, rep)))
                }),
            ));
            if first_n {
                out.push((
                    "many".into(),
                    ours.fresh_storage(&rep.join("many-server"))
                        .map_err(err)
                        .and_then(|db| {
                            ours.serve(&db).map_err(err).and_then(|s| {
                                measured(proxy, s, || {
                                    ours.many(
                                        &db,
                                        proxy,
                                        &rep.join("many"),
                                        opts.devices,
                                        opts.seconds,
                                    )
                                })
                            })
                        }),
                ));
                out.push((
                    "commit".into(),
                    after("commit", &|| {
                        ours.commit(&client, opts.commit_reps).map_err(err)
                    }),
                ));
            }
        }
        Runner::Reference(r) => {
            let seed = rep.parent().map(|w| w.join("seed")).unwrap_or_default();
            let state = str(&seed.join("state"));
            let storage = match std::fs::create_dir_all(rep)
                .map_err(anyhow::Error::from)
                .and_then(|()| copy_tree(&seed.join("storage"), &rep.join("storage")))
            {
                Ok(s) => s,
                Err(e) => return vec![("initial".into(), Err(err(e)))],
            };
            let (u, c, d) = (url(proxy), str(&client), str(data));
            let step = |storage: &Path, args: Vec<&str>| -> Outcome {
                r.serve(storage)
                    .map_err(err)
                    .and_then(|s| measured(proxy, s, || r.run(&args)))
            };
            let initial = step(
                &storage,
                vec!["initial", "--url", &u, "--state", &state, "--client", &c],
            )
            .and_then(|v| {
                // A runner that stopped short of every document has not done the scenario.
                match v.get("docs").and_then(Value::as_u64) {
                    Some(docs) if docs as usize != n => {
                        Err(format!("the client holds {docs} of {n} documents"))
                    }
                    _ => Ok(v),
                }
            });
            let ok = initial.is_ok();
            out.push(("initial".into(), initial));
            let needs =
                |name: &str| Err(format!("{name} needs a client from initial, which failed"));
            out.push((
                "reconnect".into(),
                if ok {
                    step(
                        &storage,
                        vec!["reconnect", "--url", &u, "--state", &state, "--client", &c],
                    )
                } else {
                    needs("reconnect")
                },
            ));
            out.push((
                "offline-day".into(),
                if ok {
                    step(
                        &storage,
                        vec![
                            "offline-day",
                            "--url",
                            &u,
                            "--data",
                            &d,
                            "--state",
                            &state,
                            "--client",
                            &c,
                        ],
                    )
                } else {
                    needs("offline-day")
                },
            ));
            if first_n {
                let (devices, seconds) = (opts.devices.to_string(), opts.seconds.to_string());
                out.push((
                    "many".into(),
                    copy_tree(&seed.join("storage"), &rep.join("many-storage"))
                        .map_err(err)
                        .and_then(|s| {
                            step(
                                &s,
                                vec![
                                    "many",
                                    "--url",
                                    &u,
                                    "--state",
                                    &state,
                                    "--devices",
                                    &devices,
                                    "--seconds",
                                    &seconds,
                                ],
                            )
                        }),
                ));
                let reps = opts.commit_reps.to_string();
                out.push((
                    "commit".into(),
                    r.run(&[
                        "commit",
                        "--dir",
                        &str(&rep.join("commit")),
                        "--reps",
                        &reps,
                        "--data",
                        &d,
                    ])
                    .map_err(err),
                ));
            }
        }
    }
    out
}
