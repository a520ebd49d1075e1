//! Reference runner for the Keukentafel sync benchmark (issue 7): samod's sync
//! server (axum WebSockets, filesystem storage) and samod clients
//! (tokio-tungstenite WebSockets, filesystem storage) over loopback.
//!
//! The command line is the "Reference runner CLI" of the benchmark protocol:
//! every command prints one JSON object as its last stdout line and exits 0;
//! failures go to stderr with a non-zero exit.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use automerge::{Automerge, ChangeHash, ObjId, ObjType, ReadDoc, transaction::Transactable};
use axum::{
    Router,
    extract::{State, ws::WebSocketUpgrade},
    response::Response,
    routing::get,
};
use clap::{Parser, Subcommand};
use futures::{FutureExt, StreamExt, future::join_all, stream};
use samod::{
    AcceptorHandle, AutomergeUrl, BackoffConfig, ConcurrencyConfig, ConnectionId, DialerEvent,
    DialerHandle, DocHandle, PeerDocState, Repo, RepoEvent, RepoObserver, ShareConfig,
    StorageOperation, storage::TokioFilesystemStorage,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
    time::timeout,
};

/// Upper bound for any one phase (connect, sync of all documents, flush), so a
/// stuck run fails instead of hanging the benchmark.
const PHASE_TIMEOUT: Duration = Duration::from_secs(3000);
/// An edit in `many` that the server has not acknowledged within this time
/// counts as an error.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How many devices of `many` connect at the same time during set-up (untimed).
const SETUP_PARALLELISM: usize = 20;
/// How many case files `seed` imports at the same time.
const IMPORT_PARALLELISM: usize = 64;
/// How many cases `seed` pushes through one repo.
const SEED_CHUNK: usize = 500;

#[derive(Parser)]
#[command(about = "samod reference runner for the Keukentafel sync benchmark")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the sync server on 127.0.0.1 with durable storage until SIGTERM.
    Serve {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        storage: PathBuf,
    },
    /// Import every case of the dataset and push it to the server.
    Seed {
        #[arg(long)]
        url: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        state: PathBuf,
    },
    /// A new device fetches every seeded document.
    Initial {
        #[arg(long)]
        url: String,
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        client: PathBuf,
    },
    /// A device holding every document reconnects; nothing changed.
    Reconnect {
        #[arg(long)]
        url: String,
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        client: PathBuf,
    },
    /// A device that edited offline reconnects while an office client edited online.
    OfflineDay {
        #[arg(long)]
        url: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        client: PathBuf,
    },
    /// Many devices each push one small edit per second.
    Many {
        #[arg(long)]
        url: String,
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        devices: usize,
        #[arg(long)]
        seconds: u64,
    },
    /// Local durable edit latency on one device.
    Commit {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        reps: usize,
        #[arg(long)]
        data: PathBuf,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // samod warns about every message still queued for a
                // connection closed at shutdown; RUST_LOG=warn shows them.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let cli = Cli::parse();
    // Clients drive their repos from one thread (document work still goes to
    // a thread pool, see `fs_repo`): on a multi-threaded runtime samod's I/O
    // task can pick up a new dial before `Repo::dial` has registered the
    // dialer; it then logs "no dialer registered" and retries after a
    // backoff, which would be timed.
    let runtime = match cli.cmd {
        Cmd::Serve { .. } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let result = match &runtime {
        Ok(runtime) => runtime.block_on(run(cli.cmd)),
        Err(e) => Err(anyhow!("starting the async runtime: {e}")),
    };
    let code = match result {
        Ok(output) => {
            if let Some(output) = output {
                println!("{output}");
            }
            0
        }
        Err(e) => {
            eprintln!("keukentafel-bench-samod: {e:#}");
            1
        }
    };
    // Every repo is stopped and flushed by now; dropping the runtime (still
    // alive here) would wait a second or two on samod's idle background
    // tasks, which the harness would count as server shutdown time.
    std::process::exit(code)
}

async fn run(cmd: Cmd) -> Result<Option<Value>> {
    match cmd {
        Cmd::Serve { port, storage } => serve(port, &storage).await.map(|()| None),
        Cmd::Seed { url, data, state } => seed(&url, &data, &state).await.map(Some),
        Cmd::Initial { url, state, client } => initial(&url, &state, &client).await.map(Some),
        Cmd::Reconnect { url, state, client } => reconnect(&url, &state, &client).await.map(Some),
        Cmd::OfflineDay {
            url,
            data,
            state,
            client,
        } => offline_day(&url, &data, &state, &client).await.map(Some),
        Cmd::Many {
            url,
            state,
            devices,
            seconds,
        } => many(&url, &state, devices, seconds).await.map(Some),
        Cmd::Commit { dir, reps, data } => commit(&dir, reps, &data).await.map(Some),
    }
}

// ---------------------------------------------------------------------------
// Dataset and state files

/// `DATA/manifest.json` as written by `keukentafel-bench gen`.
#[derive(Deserialize)]
struct Manifest {
    cases: Vec<CaseFile>,
    offline_day: Vec<Edit>,
    office: Vec<Edit>,
    small_edit: SmallEdit,
}

#[derive(Deserialize)]
struct CaseFile {
    file: String,
    notes_path: Vec<String>,
}

#[derive(Deserialize)]
struct Edit {
    case: usize,
    pos: usize,
    insert: String,
}

#[derive(Deserialize)]
struct SmallEdit {
    insert: String,
}

/// What `seed` leaves in `STATE/samod-seed.json` for the later commands, which
/// get no `--data` but must know the notes path, the small edit, and what a
/// complete copy of each document contains.
#[derive(Serialize, Deserialize)]
struct Seeded {
    small_edit: String,
    docs: Vec<SeededDoc>,
}

#[derive(Serialize, Deserialize)]
struct SeededDoc {
    url: String,
    notes_path: Vec<String>,
    /// Heads right after seeding: a copy holding all of them is complete.
    heads: Vec<String>,
    notes_len: usize,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    std::fs::write(path, serde_json::to_vec(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn read_manifest(data: &Path) -> Result<Manifest> {
    let manifest: Manifest = read_json(&data.join("manifest.json"))?;
    ensure!(!manifest.cases.is_empty(), "the manifest lists no cases");
    let n = manifest.cases.len();
    ensure!(
        manifest
            .offline_day
            .iter()
            .chain(&manifest.office)
            .all(|e| e.case < n),
        "the manifest edits a case it does not list"
    );
    Ok(manifest)
}

fn read_seeded(state: &Path) -> Result<Seeded> {
    let seeded: Seeded = read_json(&state.join("samod-seed.json"))
        .context("no samod seed state (run `seed` first)")?;
    ensure!(!seeded.docs.is_empty(), "the seed state lists no documents");
    Ok(seeded)
}

// ---------------------------------------------------------------------------
// Documents

/// The Text object at the end of `path`; the path holds map keys only.
fn notes_obj<R: ReadDoc>(doc: &R, path: &[String]) -> Result<ObjId> {
    let mut obj = automerge::ROOT;
    for key in path {
        match doc.get(&obj, key.as_str())? {
            Some((automerge::Value::Object(_), id)) => obj = id,
            _ => bail!("the notes path does not lead through objects"),
        }
    }
    ensure!(
        doc.object_type(&obj)? == ObjType::Text,
        "the notes path does not end at a text"
    );
    Ok(obj)
}

fn notes_len(doc: &Automerge, path: &[String]) -> Result<usize> {
    Ok(doc.length(notes_obj(doc, path)?))
}

/// One change: `insert` spliced into the notes at `pos` (clamped to the text
/// length), or at the end when `pos` is `None`. Returns the change's hash.
fn splice_notes(
    doc: &mut Automerge,
    path: &[String],
    pos: Option<usize>,
    insert: &str,
) -> Result<ChangeHash> {
    let mut tx = doc.transaction();
    let obj = notes_obj(&tx, path)?;
    let len = tx.length(&obj);
    tx.splice_text(&obj, pos.unwrap_or(len).min(len), 0, insert)?;
    tx.commit().0.context("an edit made no change")
}

fn heads_hex(doc: &Automerge) -> Vec<String> {
    doc.get_heads().iter().map(ChangeHash::to_string).collect()
}

fn has_changes(doc: &Automerge, heads: &[String]) -> Result<bool> {
    for head in heads {
        let hash: ChangeHash = head
            .parse()
            .map_err(|_| anyhow!("bad change hash in state"))?;
        if doc.get_change_by_hash(&hash).is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// Repos and connections

/// A device repo over durable storage in `dir`. Document work (applying and
/// generating sync messages, saving) runs on a thread pool, as in samod's own
/// server, so a device uses every core although its runtime has one thread.
async fn fs_repo(dir: &Path) -> Result<Repo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(dir))
        .with_concurrency(ConcurrencyConfig::Threadpool(
            rayon::ThreadPoolBuilder::new().build()?,
        ))
        .load()
        .await)
}

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> Result<T> {
    timeout(PHASE_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("timed out: {what}"))
}

/// Dials the server and waits for the samod handshake.
async fn connect(repo: &Repo, url: &str) -> Result<(DialerHandle, ConnectionId)> {
    let url = url::Url::parse(url).context("bad --url")?;
    let backoff = BackoffConfig {
        max_retries: Some(3),
        ..BackoffConfig::default()
    };
    let dialer = repo.dial_websocket(url, backoff)?;
    bounded("connecting", dialer.established())
        .await?
        .map_err(|e| anyhow!("connecting: {e}"))?;
    let conn = dialer
        .connection_id()
        .context("the connection closed right after the handshake")?;
    Ok((dialer, conn))
}

/// Looks a document up: from local storage first, then from connected peers.
async fn find(repo: &Repo, url: &str) -> Result<DocHandle> {
    let url: AutomergeUrl = url.parse().map_err(|e| anyhow!("bad document url: {e}"))?;
    repo.find(url.document_id().clone())
        .await?
        .context("a seeded document is unavailable")
}

async fn find_all(repo: &Repo, seeded: &Seeded) -> Result<Vec<DocHandle>> {
    let found = bounded(
        "finding documents",
        join_all(seeded.docs.iter().map(|d| find(repo, &d.url))),
    )
    .await?;
    found.into_iter().collect()
}

/// Both sides hold the same changes of this document.
async fn in_sync(handle: &DocHandle, conn: ConnectionId) {
    futures::join!(
        handle.they_have_our_changes(conn),
        handle.we_have_their_changes(conn)
    );
}

async fn all_in_sync(handles: &[DocHandle], conn: ConnectionId) -> Result<()> {
    bounded(
        "confirming sync of every document",
        join_all(handles.iter().map(|h| in_sync(h, conn))),
    )
    .await
    .map(|_| ())
}

/// Stops the repo, which waits until every storage write has completed.
async fn flush(repo: &Repo) -> Result<()> {
    bounded("flushing storage", repo.stop()).await
}

// ---------------------------------------------------------------------------
// serve

async fn serve(port: u16, storage: &Path) -> Result<()> {
    std::fs::create_dir_all(storage).with_context(|| format!("creating {}", storage.display()))?;
    // As samod's own sync server (samod-cli serve): documents are processed
    // on a thread pool and only announced to peers that ask for them.
    let pool = rayon::ThreadPoolBuilder::new().build()?;
    let repo = Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(storage))
        .with_share_policy(ShareConfig::read_write().with_announce(false))
        .with_concurrency(ConcurrencyConfig::Threadpool(pool))
        .load()
        .await;
    let mut terminate = signal(SignalKind::terminate())?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    let acceptor = repo.make_acceptor(url::Url::parse(&format!("ws://{addr}"))?)?;
    let app = Router::new()
        .route("/", get(accept_websocket))
        .with_state(acceptor);
    let mut server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("{}", json!({ "listening": addr.port() }));
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        result = &mut server => bail!("the HTTP server stopped: {result:?}"),
    }
    server.abort();
    flush(&repo).await
}

async fn accept_websocket(
    upgrade: WebSocketUpgrade,
    State(acceptor): State<AcceptorHandle>,
) -> Response {
    upgrade.on_upgrade(move |socket| async move {
        if let Err(e) = acceptor.accept_axum(socket, None) {
            eprintln!("could not accept a connection: {e}");
        }
    })
}

// ---------------------------------------------------------------------------
// seed

async fn seed(url: &str, data: &Path, state: &Path) -> Result<Value> {
    let manifest = read_manifest(data)?;
    std::fs::create_dir_all(state)?;
    let start = Instant::now();
    let mut docs = Vec::with_capacity(manifest.cases.len());
    // samod's hub does work proportional to the open documents on every
    // event, so one repo pushing thousands of documents is quadratic; seeding
    // is not measured, so it goes in chunks, each a repo of its own.
    for chunk in manifest.cases.chunks(SEED_CHUNK) {
        docs.extend(seed_chunk(url, data, &state.join("seed-client"), chunk).await?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let notes_chars: usize = docs.iter().map(|d| d.notes_len).sum();
    let urls: Vec<String> = docs.iter().map(|d| d.url.clone()).collect();
    write_json(&state.join("ids.json"), &urls)?;
    let count = urls.len();
    write_json(
        &state.join("samod-seed.json"),
        &Seeded {
            small_edit: manifest.small_edit.insert,
            docs,
        },
    )?;
    Ok(json!({ "seconds": seconds, "docs": count, "notes_chars": notes_chars }))
}

/// Imports `cases` into a repo over `dir`, pushes them to the server and
/// waits until the server acknowledged every one.
async fn seed_chunk(
    url: &str,
    data: &Path,
    dir: &Path,
    cases: &[CaseFile],
) -> Result<Vec<SeededDoc>> {
    let repo = fs_repo(dir).await?;
    let created: Vec<Result<DocHandle>> = stream::iter(cases)
        .map(|case| {
            let bytes = std::fs::read(data.join(&case.file));
            let repo = repo.clone();
            async move {
                let doc = Automerge::load(&bytes.context("reading a case file")?)?;
                Ok(repo.create(doc).await?)
            }
        })
        .buffered(IMPORT_PARALLELISM)
        .collect()
        .await;
    let handles = created.into_iter().collect::<Result<Vec<_>>>()?;
    let (_dialer, conn) = connect(&repo, url).await?;
    bounded(
        "pushing every document to the server",
        join_all(handles.iter().map(|h| h.they_have_our_changes(conn))),
    )
    .await?;
    let docs = handles
        .iter()
        .zip(cases)
        .map(|(handle, case)| {
            handle.with_document(|doc| {
                Ok(SeededDoc {
                    url: handle.url().to_string(),
                    notes_path: case.notes_path.clone(),
                    heads: heads_hex(doc),
                    notes_len: notes_len(doc, &case.notes_path)?,
                })
            })
        })
        .collect::<Result<Vec<_>>>()?;
    flush(&repo).await?;
    Ok(docs)
}

// ---------------------------------------------------------------------------
// initial

async fn initial(url: &str, state: &Path, client: &Path) -> Result<Value> {
    let seeded = read_seeded(state)?;
    let repo = fs_repo(client).await?;
    let start = Instant::now();
    let (_dialer, _conn) = connect(&repo, url).await?;
    // `find` of a document missing locally resolves once this client holds
    // every change the server advertised for it.
    let handles = find_all(&repo, &seeded).await?;
    let mut notes_chars = 0;
    for (handle, doc) in handles.iter().zip(&seeded.docs) {
        handle.with_document(|d| -> Result<()> {
            ensure!(has_changes(d, &doc.heads)?, "a document arrived incomplete");
            notes_chars += notes_len(d, &doc.notes_path)?;
            Ok(())
        })?;
    }
    flush(&repo).await?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({ "seconds": seconds, "docs": handles.len(), "notes_chars": notes_chars }))
}

// ---------------------------------------------------------------------------
// reconnect

async fn reconnect(url: &str, state: &Path, client: &Path) -> Result<Value> {
    let seeded = read_seeded(state)?;
    let repo = fs_repo(client).await?;
    // Without a connection `find` only answers from local storage, so this
    // also proves the device holds every document.
    let load_start = Instant::now();
    let handles = find_all(&repo, &seeded)
        .await
        .context("the device does not hold every document (run `initial` first)")?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (_dialer, conn) = connect(&repo, url).await?;
    all_in_sync(&handles, conn).await?;
    let seconds = start.elapsed().as_secs_f64();
    flush(&repo).await?;
    Ok(json!({
        "seconds": seconds,
        "docs": handles.len(),
        "load_seconds": load_seconds,
        "note": "timed: WebSocket connect + samod handshake + a sync round confirming both sides \
                 hold the same heads, for every document; loading the documents from local \
                 storage beforehand is not timed (load_seconds)",
    }))
}

// ---------------------------------------------------------------------------
// offline-day

async fn offline_day(url: &str, data: &Path, state: &Path, client: &Path) -> Result<Value> {
    let manifest = read_manifest(data)?;
    let seeded = read_seeded(state)?;
    ensure!(
        manifest.cases.len() == seeded.docs.len(),
        "the dataset is not the one that was seeded"
    );

    // Untimed: the office edits online and waits for the server's acknowledgement.
    let office = Repo::build_tokio().load().await;
    let (_office_dialer, office_conn) = connect(&office, url).await?;
    let mut office_docs: HashMap<usize, DocHandle> = HashMap::new();
    for edit in &manifest.office {
        let handle = match office_docs.get(&edit.case) {
            Some(handle) => handle.clone(),
            None => find(&office, &seeded.docs[edit.case].url).await?,
        };
        let path = &seeded.docs[edit.case].notes_path;
        handle.with_document(|d| splice_notes(d, path, Some(edit.pos), &edit.insert))?;
        office_docs.insert(edit.case, handle);
    }
    bounded(
        "pushing the office edits",
        join_all(
            office_docs
                .values()
                .map(|h| h.they_have_our_changes(office_conn)),
        ),
    )
    .await?;
    let office_heads: Vec<(usize, Vec<String>)> = office_docs
        .iter()
        .map(|(case, h)| (*case, h.with_document(|d| heads_hex(d))))
        .collect();
    flush(&office).await?;

    // Untimed: the device edits while disconnected and flushes.
    let device = fs_repo(client).await?;
    let mut device_docs: HashMap<usize, DocHandle> = HashMap::new();
    for edit in &manifest.offline_day {
        let handle = match device_docs.get(&edit.case) {
            Some(handle) => handle.clone(),
            None => find(&device, &seeded.docs[edit.case].url)
                .await
                .context("the device does not hold an edited case (run `initial` first)")?,
        };
        let path = &seeded.docs[edit.case].notes_path;
        handle.with_document(|d| splice_notes(d, path, Some(edit.pos), &edit.insert))?;
        device_docs.insert(edit.case, handle);
    }
    flush(&device).await?;

    // Timed: the device, holding every case (loaded untimed), connects and
    // converges. automerge-repo has no "what changed" query, so the device
    // syncs every document it holds to learn about the office edits.
    let device = fs_repo(client).await?;
    let load_start = Instant::now();
    let handles = find_all(&device, &seeded).await?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (_dialer, conn) = connect(&device, url).await?;
    all_in_sync(&handles, conn).await?;
    let seconds = start.elapsed().as_secs_f64();
    for (case, heads) in &office_heads {
        ensure!(
            handles[*case].with_document(|d| has_changes(d, heads))?,
            "the device misses an office edit"
        );
    }
    flush(&device).await?;
    Ok(json!({
        "seconds": seconds,
        "device_edits": manifest.offline_day.len(),
        "office_edits": manifest.office.len(),
        "load_seconds": load_seconds,
        "note": "timed: connect + sync round over every document the device holds until both \
                 sides hold the same heads (includes the device's edits reaching the server and \
                 the office edits reaching the device); loading documents is not timed",
    }))
}

// ---------------------------------------------------------------------------
// many

struct Device {
    repo: Repo,
    dialer: DialerHandle,
    conn: ConnectionId,
    handle: DocHandle,
    notes_path: Vec<String>,
}

async fn many(url: &str, state: &Path, devices: usize, seconds: u64) -> Result<Value> {
    let seeded = read_seeded(state)?;
    ensure!(devices > 0, "--devices must be at least 1");
    let setup: Vec<Result<Device>> = stream::iter(0..devices)
        .map(|i| {
            let doc = &seeded.docs[i % seeded.docs.len()];
            async move {
                let repo = Repo::build_tokio().load().await;
                let (dialer, conn) = connect(&repo, url).await?;
                let handle = find(&repo, &doc.url).await?;
                Ok(Device {
                    repo,
                    dialer,
                    conn,
                    handle,
                    notes_path: doc.notes_path.clone(),
                })
            }
        })
        .buffer_unordered(SETUP_PARALLELISM)
        .collect()
        .await;
    let ready = setup.into_iter().collect::<Result<Vec<_>>>()?;
    let mut events: Vec<_> = ready.iter().map(|d| d.dialer.events()).collect();

    // Open loop: edit k of every device is made at its own second k whether
    // or not earlier edits were acknowledged, so a slow server sees the full
    // load and its delays show up as latency.
    let run_start = tokio::time::Instant::now();
    let count = ready.len();
    let outcomes = join_all(ready.iter().enumerate().flat_map(|(i, device)| {
        // Spread the devices over the second, as real devices would be.
        let offset = Duration::from_secs(1).mul_f64(i as f64 / count as f64);
        let insert = seeded.small_edit.as_str();
        (0..seconds).map(move |k| {
            let at = run_start + offset + Duration::from_secs(k);
            async move {
                tokio::time::sleep_until(at).await;
                timed_edit(device, insert).await
            }
        })
    }))
    .await;
    let mut errors = 0;
    for device_events in &mut events {
        while let Some(Some(event)) = device_events.next().now_or_never() {
            if matches!(
                event,
                DialerEvent::Disconnected { .. }
                    | DialerEvent::MaxRetriesReached
                    | DialerEvent::PermanentFailure
            ) {
                errors += 1;
            }
        }
    }
    join_all(ready.iter().map(|d| d.repo.stop())).await;

    let mut latencies: Vec<f64> = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Some(ms) => latencies.push(ms),
            None => errors += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "edits": latencies.len(),
        "errors": errors,
        "devices": count,
        "seconds": seconds,
        "note": "open loop: each device edits once a second whether or not earlier edits were \
                 acknowledged; latency = local change until the heads shared with the server \
                 include it; errors = not acknowledged within 10 s or connection lost",
    }))
}

/// One small edit; its latency in milliseconds runs from the local change
/// until the server's sync state shows it holds that change. `None` when the
/// edit fails or is not acknowledged within [`ACK_TIMEOUT`].
async fn timed_edit(device: &Device, insert: &str) -> Option<f64> {
    let start = Instant::now();
    let hash = device
        .handle
        .with_document(|d| splice_notes(d, &device.notes_path, None, insert))
        .ok()?;
    timeout(ACK_TIMEOUT, acknowledged(&device.handle, device.conn, hash))
        .await
        .ok()?;
    Some(start.elapsed().as_secs_f64() * 1000.0)
}

/// Resolves once the heads shared with the peer on `conn` include `hash`.
async fn acknowledged(handle: &DocHandle, conn: ConnectionId, hash: ChangeHash) {
    let covered = |states: &HashMap<ConnectionId, PeerDocState>| {
        states
            .get(&conn)
            .and_then(|s| s.shared_heads.as_ref())
            .is_some_and(|shared| {
                handle.with_document(|d| {
                    d.get_change_by_hash(&hash).is_some()
                        && !d.get_changes(shared).iter().any(|c| c.hash() == hash)
                })
            })
    };
    let (current, mut updates) = handle.peers();
    if covered(&current) {
        return;
    }
    while let Some(update) = updates.next().await {
        if covered(&update) {
            return;
        }
    }
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------
// commit

/// Counts completed storage writes, so an edit can be timed until it is on disk.
struct PutCounter(watch::Sender<u64>);

impl RepoObserver for PutCounter {
    fn observe(&self, event: &RepoEvent) {
        if let RepoEvent::StorageOperationCompleted {
            operation: StorageOperation::Put,
            ..
        } = event
        {
            self.0.send_modify(|n| *n += 1);
        }
    }
}

async fn commit(dir: &Path, reps: usize, data: &Path) -> Result<Value> {
    ensure!(reps > 0, "--reps must be at least 1");
    let manifest = read_manifest(data)?;
    let case = &manifest.cases[0];
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (puts, mut puts_seen) = watch::channel(0u64);
    let repo = Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(dir))
        .with_observer(PutCounter(puts))
        .load()
        .await;
    let doc = Automerge::load(&std::fs::read(data.join(&case.file)).context("reading case 0")?)?;
    // Resolves once the document is in storage.
    let handle = repo.create(doc).await?;
    let mut times_ms = Vec::with_capacity(reps);
    for _ in 0..reps {
        puts_seen.borrow_and_update();
        let start = Instant::now();
        handle.with_document(|d| {
            splice_notes(d, &case.notes_path, None, &manifest.small_edit.insert)
        })?;
        // Every change is written by samod right away (one incremental or
        // compacted chunk per change).
        timeout(ACK_TIMEOUT, puts_seen.changed())
            .await
            .map_err(|_| anyhow!("timed out: writing an edit"))??;
        times_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    flush(&repo).await?;
    times_ms.sort_by(f64::total_cmp);
    Ok(json!({
        "median_ms": percentile(&times_ms, 0.50),
        "p95_ms": percentile(&times_ms, 0.95),
        "reps": reps,
        "note": "timed: the change until samod's filesystem storage has written it \
                 (tokio::fs::write, no fsync)",
    }))
}
