//! Our side of every scenario: the real `keukentafel-server` binary with its SQLite
//! database as a separate process, and the app's device (`keukentafel-ffi`'s `Device`: the
//! durable, encrypted `DeviceStore` with the app's sync driver) over WebSocket through the
//! proxy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use keukentafel_core::model::Timestamp;
use keukentafel_core::{CaseId, ConversationId, MemberId};
use keukentafel_ffi::{ChangeListener, Device, RemoteChange, SyncState};
use keukentafel_server::{SqliteStorage, auth};
use serde_json::{Value, json};

use crate::dataset::{Edit, Manifest, Seed};
use crate::proxy::Proxy;
use crate::system::{Server, free_port};

/// Every device store of the benchmark uses this key (the files are thrown away).
const KEY: [u8; 32] = [7; 32];

/// Our system on one dataset.
pub struct Ours {
    server_bin: PathBuf,
    data: PathBuf,
    manifest: Manifest,
    seed: Seed,
}

impl Ours {
    /// Our side for the dataset in `data`, with the server binary `server_bin`.
    pub fn new(server_bin: PathBuf, data: &Path) -> anyhow::Result<Ours> {
        ensure!(
            server_bin.exists(),
            "no server binary at {}",
            server_bin.display()
        );
        Ok(Ours {
            server_bin,
            data: data.to_owned(),
            manifest: Manifest::read(data)?,
            seed: Seed::read(data)?,
        })
    }

    /// A copy of the seeded server database in `dir`.
    pub fn fresh_storage(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let db = dir.join("server.db");
        std::fs::copy(self.data.join("ours/server.db"), &db)?;
        Ok(db)
    }

    /// Starts the server on `db`.
    pub fn serve(&self, db: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let mut cmd = Command::new(&self.server_bin);
        cmd.arg("--db")
            .arg(db)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn");
        Server::start(cmd, port, false)
    }

    /// A new device of `member`, enrolled through the proxy with a code written straight
    /// into the server's database (as the admin tool does). Enrolment bytes are not
    /// counted: they are not sync.
    fn enrolled(
        &self,
        db: &Path,
        proxy: &Proxy,
        path: &Path,
        member: &MemberId,
    ) -> anyhow::Result<Arc<Device>> {
        let code = auth::new_enrolment_code()?;
        SqliteStorage::open(db)?.add_enrolment(
            &auth::code_hash(&code),
            &self.seed.workspace,
            member,
            Timestamp(Timestamp::now().0 + 3_600_000),
        )?;
        let device = Device::open(path.to_string_lossy().into_owned(), KEY.to_vec())?;
        device.enrol(
            format!("http://127.0.0.1:{}", proxy.port()),
            code,
            "bench".into(),
        )?;
        proxy.take_bytes();
        Ok(device)
    }

    fn device_path(client: &Path) -> PathBuf {
        client.join("device.db")
    }

    /// A new device of the team lead syncs all N cases; the device is left in `client`.
    pub fn initial(&self, db: &Path, proxy: &Proxy, client: &Path) -> anyhow::Result<Value> {
        std::fs::create_dir_all(client)?;
        let device = self.enrolled(db, proxy, &Self::device_path(client), &self.seed.lead)?;
        let t = Instant::now();
        let report = device.sync_now(None, None)?;
        let seconds = t.elapsed().as_secs_f64();
        ensure!(
            report.state == SyncState::UpToDate,
            "sync ended {:?}",
            report.state
        );
        let docs = device.cases(None)?.len();
        ensure!(
            docs == self.manifest.n,
            "device holds {docs} of {} cases",
            self.manifest.n
        );
        Ok(json!({"seconds": seconds, "docs": docs}))
    }

    /// The device left by `initial` opens (untimed) and syncs with nothing changed.
    pub fn reconnect(&self, client: &Path) -> anyhow::Result<Value> {
        let device = open(&Self::device_path(client))?;
        let t = Instant::now();
        let report = device.sync_now(None, None)?;
        let seconds = t.elapsed().as_secs_f64();
        ensure!(
            report.documents_received == 0 && report.documents_sent == 0,
            "a reconnect with nothing changed moved documents"
        );
        Ok(
            json!({"seconds": seconds, "note": "connect + hello + the server's answer; store opened before"}),
        )
    }

    /// The office edits 10 cases online; the device left by `initial` edits 20 cases
    /// offline, then syncs (timed) until both ways converged.
    pub fn offline_day(&self, db: &Path, proxy: &Proxy, rep: &Path) -> anyhow::Result<Value> {
        let office = self.enrolled(db, proxy, &rep.join("office.db"), &self.seed.office)?;
        office.sync_now(None, None)?;
        self.apply(&office, &self.manifest.office)?;
        let report = office.sync_now(None, None)?;
        ensure!(
            report.state == SyncState::UpToDate,
            "office sync ended {:?}",
            report.state
        );
        let device = open(&Self::device_path(&rep.join("client")))?;
        self.apply(&device, &self.manifest.offline_day)?;
        let t = Instant::now();
        let report = device.sync_now(None, None)?;
        let seconds = t.elapsed().as_secs_f64();
        ensure!(
            report.state == SyncState::UpToDate,
            "sync ended {:?}",
            report.state
        );
        for e in &self.manifest.office {
            let notes = self.notes(&device, e.case)?;
            ensure!(
                notes.contains(&e.insert),
                "an office edit did not reach the device"
            );
        }
        Ok(json!({"seconds": seconds}))
    }

    fn ids(&self, case: usize) -> anyhow::Result<(CaseId, ConversationId)> {
        Ok((
            self.seed.cases.get(case).context("case index")?.clone(),
            self.seed
                .conversations
                .get(case)
                .context("case index")?
                .clone(),
        ))
    }

    fn notes(&self, device: &Device, case: usize) -> anyhow::Result<String> {
        let (id, conv) = self.ids(case)?;
        Ok(device
            .case(id)?
            .conversations
            .into_iter()
            .find(|c| c.id == conv)
            .context("conversation")?
            .notes)
    }

    /// Applies splices, each durable, through the domain API.
    fn apply(&self, device: &Device, edits: &[Edit]) -> anyhow::Result<()> {
        for e in edits {
            let (id, conv) = self.ids(e.case)?;
            let len = self.notes(device, e.case)?.chars().count();
            let at = u32::try_from(e.pos.min(len))?;
            device.insert_notes(id, conv, at, e.insert.clone())?;
        }
        Ok(())
    }

    /// `devices` devices in live sync, each pushing one small edit a second to its own
    /// case for `seconds`; latency is from the durable local edit until the server
    /// accepted it.
    pub fn many(
        &self,
        db: &Path,
        proxy: &Proxy,
        dir: &Path,
        devices: usize,
        seconds: u64,
    ) -> anyhow::Result<Value> {
        if devices > self.seed.practitioners.len() {
            bail!(
                "at most {} devices for this dataset",
                self.seed.practitioners.len()
            );
        }
        std::fs::create_dir_all(dir)?;
        let mut enrolled = Vec::with_capacity(devices);
        for (i, member) in self.seed.practitioners.iter().take(devices).enumerate() {
            let device = self.enrolled(db, proxy, &dir.join(format!("{i}.db")), member)?;
            enrolled.push((device, self.ids(i)?));
        }
        let barrier = Arc::new(Barrier::new(devices + 1));
        let insert = self.manifest.small_edit.insert.clone();
        let threads: Vec<_> = enrolled
            .into_iter()
            .enumerate()
            .map(|(i, (device, (case, conv)))| {
                let barrier = barrier.clone();
                let insert = insert.clone();
                std::thread::spawn(move || {
                    many_device(&device, case, conv, &insert, &barrier, i, devices, seconds)
                })
            })
            .collect();
        barrier.wait();
        let mut latencies = Vec::new();
        let mut errors = 0usize;
        for t in threads {
            match t.join() {
                Ok(Ok((l, e))) => {
                    latencies.extend(l);
                    errors += e;
                }
                // A device that could not even start counts as one error per planned edit.
                _ => errors += usize::try_from(seconds).unwrap_or(usize::MAX),
            }
        }
        latencies.sort_by(f64::total_cmp);
        ensure!(!latencies.is_empty(), "no edit was acknowledged");
        Ok(json!({
            "p50_ms": percentile(&latencies, 50),
            "p99_ms": percentile(&latencies, 99),
            "edits": latencies.len(),
            "errors": errors,
        }))
    }

    /// Durable edits on the device left by the other scenarios (it holds all N cases),
    /// each timed until committed.
    pub fn commit(&self, client: &Path, reps: usize) -> anyhow::Result<Value> {
        let device = open(&Self::device_path(client))?;
        let (case, conv) = self.ids(0)?;
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            device.insert_notes(
                case.clone(),
                conv.clone(),
                0,
                self.manifest.small_edit.insert.clone(),
            )?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(json!({"median_ms": percentile(&times, 50), "p95_ms": percentile(&times, 95)}))
    }
}

fn open(path: &Path) -> anyhow::Result<Arc<Device>> {
    Ok(Device::open(
        path.to_string_lossy().into_owned(),
        KEY.to_vec(),
    )?)
}

/// The `p`th percentile of sorted values.
pub fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

struct Quiet;

impl ChangeListener for Quiet {
    fn on_remote_change(&self, _: RemoteChange) {}
}

/// One device of the "many" scenario: live sync, then an edit a second; returns the
/// acknowledgement latencies (ms) and the number of failed edits.
#[allow(clippy::too_many_arguments)]
fn many_device(
    device: &Device,
    case: CaseId,
    conv: ConversationId,
    insert: &str,
    barrier: &Barrier,
    i: usize,
    devices: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<f64>, usize)> {
    // The live connection's first round is done before the clock starts.
    let started = device
        .sync_now(None, None)
        .and_then(|_| device.start_live_sync(Box::new(Quiet)))
        .and_then(|live| device.sync_now(None, None).map(|_| live));
    // Everyone reaches the barrier, also a device that failed to start.
    barrier.wait();
    let live = started?;
    // Spread the devices over the second, as real ones would be.
    let offset = Duration::from_millis((i * 1000 / devices.max(1)) as u64);
    std::thread::sleep(offset);
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for k in 0..seconds {
        let due = start + Duration::from_secs(k);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let edited = device.insert_notes(case.clone(), conv.clone(), 0, insert.to_owned());
        let t = Instant::now();
        match edited.and_then(|()| device.sync_now(None, None)) {
            Ok(r) if r.state == SyncState::UpToDate => {
                latencies.push(t.elapsed().as_secs_f64() * 1000.0)
            }
            _ => errors += 1,
        }
    }
    live.stop();
    Ok((latencies, errors))
}
