//! A deterministic simulation of a team: the real server engine on the real SQLite storage,
//! 3-10 real device stores, and a simulated network and clock, all driven from one seed.
//!
//! The network keeps each connection's two directions in order, as a WebSocket over TCP
//! does, and injects what a flaky connection and a hostile one do: connections cut at any
//! message (both ways, or only on the device's side while its last frames still reach the
//! server, so an old session goes on after a new one opened: reordering across
//! connections), frames duplicated, frames delayed, devices partitioned for a while,
//! devices crashing (losing everything not committed to their store), server restarts
//! (losing every session), and device clocks skewed by hours. Meanwhile the team works:
//! cases opened, conversations recorded, notes typed, agreements, decisions within and
//! above mandate with second signatures, goals, reassignments, conflicts resolved, and the
//! admin changes mandates, revokes a device, and lets a member leave.
//!
//! After healing (faults off, every device synced until nothing moves), [`check`] asserts
//! the guarantees: every device converges to the server's state of what it may see; no
//! change the server acknowledged, and none a device committed, is lost (unless refused
//! into that device's quarantine, or erased with a revoked device); the rulebook holds
//! everywhere; and no device holds a document it may not see.

mod check;
mod workload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use keukentafel_core::model::{Mandate, Money, NewMember, ProvisionCategory, Role, Timestamp};
use keukentafel_core::sync::{
    ClientMessage, DocRef, EnrolResponse, Heads, Peer, ServerMessage, ServerSession, ServerStorage,
};
use keukentafel_core::{
    CaseId, ChangeRef, DeviceId, DeviceStore, Limits, MemberId, StoreKey, SyncRound, WorkspaceId,
};
use keukentafel_server::{ServerError, SqliteStorage};

use crate::Rng;

/// Steps of work and faults per seed before healing.
const STEPS: usize = 160;

/// Heal rounds: every device syncs in turn; two carry any change to everyone, the last
/// must find nothing left to move.
const HEAL_ROUNDS: usize = 4;

/// Wall-clock start of every simulated run, 2026-11-23 08:00 UTC: times in documents are
/// the same on every replay.
const EPOCH_MS: i64 = 1_795_420_800_000;

/// What one seed did, for the figures in `docs/reliability.md`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Devices in the team.
    pub devices: u64,
    /// Domain operations that succeeded on a device.
    pub ops: u64,
    /// Operations the device's rulebook refused (or whose target it did not hold yet).
    pub ops_refused: u64,
    /// Frames delivered.
    pub frames: u64,
    /// Connections cut.
    pub cuts: u64,
    /// Frames duplicated.
    pub duplicates: u64,
    /// Delay spikes.
    pub delays: u64,
    /// Partitions of a device.
    pub partitions: u64,
    /// Device crashes.
    pub device_crashes: u64,
    /// Server restarts.
    pub server_restarts: u64,
    /// Pushes the server accepted.
    pub accepted: u64,
    /// Pushes the server refused.
    pub refused: u64,
    /// Devices revoked.
    pub revocations: u64,
    /// Members who left the team.
    pub departures: u64,
}

impl Stats {
    /// Adds another run's figures.
    pub fn add(&mut self, o: &Stats) {
        self.devices += o.devices;
        self.ops += o.ops;
        self.ops_refused += o.ops_refused;
        self.frames += o.frames;
        self.cuts += o.cuts;
        self.duplicates += o.duplicates;
        self.delays += o.delays;
        self.partitions += o.partitions;
        self.device_crashes += o.device_crashes;
        self.server_restarts += o.server_restarts;
        self.accepted += o.accepted;
        self.refused += o.refused;
        self.revocations += o.revocations;
        self.departures += o.departures;
    }
}

/// The one-line command that replays `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p keukentafel-tests --test simulation -- --nocapture")
}

/// Runs one seed in `dir` (a fresh directory; a RAM disk keeps it fast). On a broken
/// guarantee, says which and where.
pub fn run(seed: u64, dir: &Path) -> Result<Stats, String> {
    keukentafel_core::seed_ids_on_this_thread(Some(seed));
    let result = World::new(seed, dir).and_then(|mut w| {
        w.work()?;
        w.heal()?;
        check::all(&mut w)?;
        Ok(w.stats)
    });
    keukentafel_core::seed_ids_on_this_thread(None);
    result
}

fn fail(what: impl std::fmt::Display) -> String {
    what.to_string()
}

/// A member of the simulated team.
#[derive(Clone, Debug)]
struct TeamMember {
    id: MemberId,
    role: Role,
    /// Left the team during the run.
    left: bool,
}

struct Server {
    path: PathBuf,
    storage: SqliteStorage,
    workspace: WorkspaceId,
    /// Bumped at each restart: sessions of an older epoch are gone.
    epoch: u64,
    revoked: BTreeSet<DeviceId>,
    /// Every device ever enrolled, with its member: who may have authored what.
    enrolled: BTreeMap<DeviceId, MemberId>,
}

struct Device {
    path: PathBuf,
    key: [u8; 32],
    /// `None` while crashed.
    store: Option<DeviceStore>,
    id: DeviceId,
    member: MemberId,
    skew_ms: i64,
    conn: Option<u64>,
    offline_until: i64,
    /// The server ordered it to erase everything (revoked, or its member left).
    erased: bool,
}

/// One connection: the server's session for it and the frames on the way, in order.
struct Conn {
    device: usize,
    epoch: u64,
    /// `None` once the server side ended it (Stop, restart).
    session: Option<ServerSession>,
    /// Whether the device still reads it.
    device_open: bool,
    round: SyncRound,
    /// Edits made while pushes were out: pushed once those are answered, as the app's
    /// driver does (a push built on changes a refusal is about to set back must not follow).
    edited: bool,
    to_server: VecDeque<(i64, Vec<u8>)>,
    to_device: VecDeque<(i64, Vec<u8>)>,
}

/// The simulated world.
struct World {
    rng: Rng,
    now: Arc<AtomicI64>,
    server: Server,
    devices: Vec<Device>,
    team: Vec<TeamMember>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    /// Heads of a document the server reported as durable.
    acked: Vec<(DocRef, Heads)>,
    /// Heads of a case on a device right after an operation there committed.
    ledger: Vec<(usize, CaseId, Vec<ChangeRef>)>,
    /// Cases created, in order, with their case numbers: what the workload picks from.
    cases: Vec<(CaseId, String)>,
    stats: Stats,
    /// `SIM_TRACE` set: every event is printed, to follow a replayed seed.
    trace: bool,
}

fn server_err(e: ServerError) -> String {
    format!("server storage failed: {e}")
}

fn practitioner_mandate() -> Mandate {
    Mandate::default()
        .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500))
        .with(ProvisionCategory::Woningaanpassing, Money::euros(1_000))
}

impl World {
    fn new(seed: u64, dir: &Path) -> Result<World, String> {
        let mut rng = Rng::new(seed);
        let path = dir.join("server.db");
        let mut storage = SqliteStorage::open(&path).map_err(server_err)?;
        let (workspace, _admin) = storage
            .create_workspace(
                "Wijkteam Simulatie",
                "Noord",
                NewMember {
                    display_name: "Beheerder".into(),
                    role: Role::Admin,
                    mandate: Mandate::default(),
                },
            )
            .map_err(server_err)?;
        let practitioners = 2 + rng.below(3);
        let mut team = vec![TeamMember {
            id: MemberId::random(),
            role: Role::TeamLead,
            left: false,
        }];
        for _ in 0..practitioners {
            team.push(TeamMember {
                id: MemberId::random(),
                role: Role::Practitioner,
                left: false,
            });
        }
        for (i, m) in team.iter().enumerate() {
            let mandate = match m.role {
                Role::TeamLead => practitioner_mandate()
                    .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(10_000))
                    .with(ProvisionCategory::Woningaanpassing, Money::euros(25_000)),
                _ => practitioner_mandate(),
            };
            storage
                .edit_workspace(&workspace, None, |doc, author, now| {
                    doc.add_member(
                        author,
                        now,
                        &m.id,
                        NewMember {
                            display_name: format!("Lid {i}"),
                            role: m.role,
                            mandate,
                        },
                    )
                })
                .map_err(server_err)?;
        }
        let mut world = World {
            rng,
            now: Arc::new(AtomicI64::new(0)),
            server: Server {
                path,
                storage,
                workspace,
                epoch: 0,
                revoked: BTreeSet::new(),
                enrolled: BTreeMap::new(),
            },
            devices: Vec::new(),
            team,
            conns: BTreeMap::new(),
            next_conn: 1,
            acked: Vec::new(),
            ledger: Vec::new(),
            cases: Vec::new(),
            stats: Stats::default(),
            trace: std::env::var_os("SIM_TRACE").is_some(),
        };
        // Every member one device; the rest of the 3-10 are second devices of someone.
        let devices = 3 + world.rng.below(8) as usize;
        for i in 0..devices.max(world.team.len()) {
            let member = if i < world.team.len() {
                i
            } else {
                world.rng.index(world.team.len())
            };
            world.enrol(dir, member)?;
        }
        world.stats.devices = world.devices.len() as u64;
        Ok(world)
    }

    fn enrol(&mut self, dir: &Path, member: usize) -> Result<(), String> {
        let i = self.devices.len();
        let member = self.team[member].id.clone();
        let code = format!("code-{i}").into_bytes();
        let s = &mut self.server.storage;
        s.add_enrolment(
            &code,
            &self.server.workspace,
            &member,
            Timestamp(EPOCH_MS + 86_400_000),
        )
        .map_err(server_err)?;
        let record = s
            .enrol(&code, &code, "sim", Timestamp(EPOCH_MS))
            .map_err(server_err)?;
        let doc = s
            .workspace(&self.server.workspace)
            .map_err(fail)?
            .ok_or("no workspace on the server")?;
        let response = EnrolResponse {
            device_id: record.device.to_string(),
            credential: format!("credential-{i}"),
            member_id: member.to_string(),
            workspace_id: self.server.workspace.to_string(),
            workspace_doc: base64::engine::general_purpose::STANDARD.encode(doc.save()),
        };
        let path = dir.join(format!("device-{i}.db"));
        let key = [u8::try_from(i + 1).unwrap_or(1); 32];
        let skew_ms = if self.rng.chance(50) {
            self.rng.below(6 * 3_600_000) as i64 - 3 * 3_600_000
        } else {
            0
        };
        let mut store = open_store(&path, key, &self.now, skew_ms)?;
        store
            .enrol("http://sim", &response)
            .map_err(|e| format!("device {i} could not enrol: {e}"))?;
        self.server
            .enrolled
            .insert(record.device.clone(), member.clone());
        self.devices.push(Device {
            path,
            key,
            store: Some(store),
            id: record.device,
            member,
            skew_ms,
            conn: None,
            offline_until: 0,
            erased: false,
        });
        Ok(())
    }

    fn now(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }

    fn note(&self, event: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[{:>7} ms] {}", self.now(), event());
        }
    }

    /// The work phase: operations and faults, interleaved from the seed.
    fn work(&mut self) -> Result<(), String> {
        for _ in 0..STEPS {
            let dt = 1 + self.rng.below(400) as i64;
            self.now.fetch_add(dt, Ordering::Relaxed);
            match self.rng.below(100) {
                0..=37 => {
                    let d = self.rng.index(self.devices.len());
                    self.operate(d)?;
                }
                38..=62 => self.deliver_some()?,
                63..=72 => {
                    let d = self.rng.index(self.devices.len());
                    match self.devices[d].conn {
                        Some(c) if self.rng.chance(40) => self.cut(c, true),
                        Some(_) => {}
                        None => self.connect(d)?,
                    }
                }
                73..=77 => {
                    if let Some(c) = self.random_conn() {
                        let hard = self.rng.chance(50);
                        self.cut(c, hard);
                        self.stats.cuts += 1;
                    }
                }
                78..=80 => self.duplicate(),
                81..=83 => self.delay(),
                84..=86 => {
                    let d = self.rng.index(self.devices.len());
                    if let Some(c) = self.devices[d].conn {
                        self.cut(c, true);
                    }
                    self.devices[d].offline_until = self.now() + self.rng.below(20_000) as i64;
                    self.stats.partitions += 1;
                }
                87..=89 => {
                    let d = self.rng.index(self.devices.len());
                    self.crash_device(d)?;
                }
                90..=91 => self.restart_server()?,
                92..=95 => self.admin_mandate()?,
                96 => self.admin_revoke()?,
                97 => self.admin_departure()?,
                _ => {
                    let d = self.rng.index(self.devices.len());
                    self.connect(d)?;
                }
            }
        }
        Ok(())
    }

    fn random_conn(&mut self) -> Option<u64> {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        self.rng.pick(&ids).copied()
    }

    fn store(&mut self, d: usize) -> Option<&mut DeviceStore> {
        self.devices[d].store.as_mut()
    }

    /// Opens a connection for device `d` and sends its hello and pushes.
    fn connect(&mut self, d: usize) -> Result<(), String> {
        let dev = &self.devices[d];
        if dev.conn.is_some() || dev.store.is_none() || dev.offline_until > self.now() {
            return Ok(());
        }
        let id = self.next_conn;
        self.next_conn += 1;
        let peer = Peer {
            device: dev.id.clone(),
            member: dev.member.clone(),
            workspace: self.server.workspace.clone(),
        };
        let revoked = self.server.revoked.contains(&dev.id);
        let session = if revoked {
            None
        } else {
            Some(
                ServerSession::new(peer, Limits::default(), &mut self.server.storage)
                    .map_err(|e| format!("the server could not open a session: {e}"))?,
            )
        };
        let mut conn = Conn {
            device: d,
            epoch: self.server.epoch,
            session,
            device_open: true,
            round: SyncRound::new(&[]),
            edited: false,
            to_server: VecDeque::new(),
            to_device: VecDeque::new(),
        };
        if revoked {
            // As the server's driver does at the door.
            let stop = ServerMessage::Stop {
                reason: "this device was revoked".into(),
                erase: true,
            };
            conn.to_device.push_back((self.now(), stop.encode()));
        } else {
            let Some(store) = self.devices[d].store.as_mut() else {
                return Ok(());
            };
            let sent = store
                .sync_start()
                .map_err(|e| format!("device {d} could not start a sync: {e}"))?;
            conn.round = SyncRound::new(&sent);
            let at = self.now() + self.latency();
            for m in sent {
                conn.to_server.push_back((at, m.encode()));
            }
        }
        self.note(|| format!("device {d} connects: connection {id}"));
        self.conns.insert(id, conn);
        self.devices[d].conn = Some(id);
        Ok(())
    }

    fn latency(&mut self) -> i64 {
        1 + self.rng.below(80) as i64
    }

    /// Cuts a connection. `hard`: both directions are lost at once. Otherwise only the
    /// device lets go: frames it sent still reach the server's old session, which may then
    /// act after a newer connection of the same device.
    fn cut(&mut self, c: u64, hard: bool) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        let d = conn.device;
        if self.trace {
            eprintln!(
                "[{:>7} ms] connection {c} of device {d} cut (hard: {hard})",
                self.now.load(Ordering::Relaxed)
            );
        }
        conn.device_open = false;
        conn.to_device.clear();
        if hard {
            conn.to_server.clear();
            conn.session = None;
        }
        if self.devices[d].conn == Some(c) {
            self.devices[d].conn = None;
        }
        self.drop_if_idle(c);
    }

    fn drop_if_idle(&mut self, c: u64) {
        if let Some(conn) = self.conns.get(&c) {
            let server_done = conn.session.is_none() || conn.to_server.is_empty();
            if !conn.device_open && server_done {
                self.conns.remove(&c);
            }
        }
    }

    fn duplicate(&mut self) {
        let Some(c) = self.random_conn() else { return };
        let to_server = self.rng.chance(50);
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        let queue = if to_server {
            &mut conn.to_server
        } else {
            &mut conn.to_device
        };
        if let Some(front) = queue.front().cloned() {
            queue.push_front(front);
            self.stats.duplicates += 1;
        }
    }

    fn delay(&mut self) {
        let Some(c) = self.random_conn() else { return };
        let extra = self.rng.below(5_000) as i64;
        if let Some(conn) = self.conns.get_mut(&c) {
            for (at, _) in conn.to_server.iter_mut().chain(conn.to_device.iter_mut()) {
                *at += extra;
            }
            self.stats.delays += 1;
        }
    }

    /// Delivers the frames that are due on some connections, in each direction's order.
    fn deliver_some(&mut self) -> Result<(), String> {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for c in ids {
            if self.rng.chance(60) {
                self.deliver_due(c, self.now())?;
            }
        }
        Ok(())
    }

    /// Delivers every frame of connection `c` due by `until`, alternating directions.
    fn deliver_due(&mut self, c: u64, until: i64) -> Result<(), String> {
        let mut budget = 10_000;
        loop {
            budget -= 1;
            if budget == 0 {
                return Err(format!("connection {c} never goes quiet"));
            }
            let Some(conn) = self.conns.get_mut(&c) else {
                return Ok(());
            };
            let server_next = conn
                .to_server
                .front()
                .filter(|(at, _)| *at <= until)
                .is_some();
            let device_next = conn
                .to_device
                .front()
                .filter(|(at, _)| *at <= until)
                .is_some();
            let to_server = match (server_next, device_next) {
                (false, false) => break,
                (true, false) => true,
                (false, true) => false,
                (true, true) => self.rng.chance(50),
            };
            if to_server {
                self.deliver_to_server(c)?;
            } else {
                self.deliver_to_device(c)?;
            }
        }
        self.drop_if_idle(c);
        Ok(())
    }

    /// The server's driver: one frame into the session, in one transaction, replies out,
    /// and other sessions that care polled (live push).
    fn deliver_to_server(&mut self, c: u64) -> Result<(), String> {
        let epoch = self.server.epoch;
        let Some(conn) = self.conns.get_mut(&c) else {
            return Ok(());
        };
        let Some((_, frame)) = conn.to_server.pop_front() else {
            return Ok(());
        };
        if conn.epoch != epoch {
            conn.session = None;
        }
        let Some(mut session) = conn.session.take() else {
            return Ok(());
        };
        self.stats.frames += 1;
        if self.trace {
            let what = ClientMessage::decode(&frame)
                .map(|m| format!("{m:?}"))
                .unwrap_or_default();
            let what: String = what.chars().take(160).collect();
            eprintln!("[{:>7} ms] server <- connection {c}: {what}", self.now());
        }
        let replies = self
            .server
            .storage
            .immediate(|st| Ok(session.receive(st, &frame)?))
            .map_err(|e| format!("the server failed on a frame: {e}"))?;
        let stopped = replies
            .iter()
            .any(|r| matches!(r, ServerMessage::Stop { .. }));
        let from = session.peer().device.clone();
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.session = (!stopped).then_some(session);
        }
        self.send_to_device(c, &replies);
        self.live_push(&from, &replies)
    }

    fn send_to_device(&mut self, c: u64, replies: &[ServerMessage]) {
        let at = self.now() + self.latency();
        for r in replies {
            match r {
                ServerMessage::Accepted { doc, heads, .. } => {
                    self.stats.accepted += 1;
                    self.acked.push((doc.clone(), heads.clone()));
                }
                ServerMessage::Refused { .. } => self.stats.refused += 1,
                _ => {}
            }
        }
        if let Some(conn) = self.conns.get_mut(&c)
            && conn.device_open
        {
            for r in replies {
                conn.to_device.push_back((at, r.encode()));
            }
        }
    }

    /// Other sessions of the workspace hear of stored changes and send what concerns them.
    fn live_push(&mut self, from: &DeviceId, replies: &[ServerMessage]) -> Result<(), String> {
        let stored: Vec<DocRef> = replies
            .iter()
            .filter_map(|r| match r {
                ServerMessage::Accepted { doc, .. } => Some(doc.clone()),
                _ => None,
            })
            .collect();
        for doc in stored {
            let assigned = match &doc {
                DocRef::Case(id) => self.server.storage.case_members(id).map_err(server_err)?,
                DocRef::Workspace(_) => BTreeSet::new(),
            };
            self.poll_sessions(|s| s.peer().device != *from && s.cares_about(&doc, &assigned))?;
        }
        Ok(())
    }

    fn poll_sessions(&mut self, wanted: impl Fn(&ServerSession) -> bool) -> Result<(), String> {
        let epoch = self.server.epoch;
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for c in ids {
            let Some(conn) = self.conns.get_mut(&c) else {
                continue;
            };
            if conn.epoch != epoch {
                conn.session = None;
            }
            let Some(mut session) = conn.session.take() else {
                continue;
            };
            let replies = if wanted(&session) {
                self.server
                    .storage
                    .immediate(|st| Ok(session.poll(st)?))
                    .map_err(|e| format!("the server failed to poll: {e}"))?
            } else {
                Vec::new()
            };
            let stopped = replies
                .iter()
                .any(|r| matches!(r, ServerMessage::Stop { .. }));
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.session = (!stopped).then_some(session);
            }
            self.send_to_device(c, &replies);
        }
        Ok(())
    }

    /// The device's driver: one frame into the store, replies out.
    fn deliver_to_device(&mut self, c: u64) -> Result<(), String> {
        let Some(conn) = self.conns.get_mut(&c) else {
            return Ok(());
        };
        let Some((_, frame)) = conn.to_device.pop_front() else {
            return Ok(());
        };
        let d = conn.device;
        self.stats.frames += 1;
        let msg = ServerMessage::decode(&frame)
            .map_err(|e| format!("device {d} got a frame it cannot read: {e}"))?;
        if self.trace {
            let what: String = format!("{msg:?}").chars().take(160).collect();
            eprintln!(
                "[{:>7} ms] device {d} <- connection {c}: {what}",
                self.now.load(Ordering::Relaxed)
            );
        }
        conn.round.observe(&msg);
        let Some(store) = self.devices[d].store.as_mut() else {
            return Ok(());
        };
        let step = store
            .sync_receive(&msg)
            .map_err(|e| format!("device {d} failed to take in {}: {e}", kind(&msg)))?;
        let at = self.now() + self.latency();
        if let Some(conn) = self.conns.get_mut(&c) {
            for r in &step.replies {
                conn.to_server.push_back((at, r.encode()));
            }
        }
        if step.erased {
            self.devices[d].erased = true;
        }
        if step.stopped.is_some() {
            self.cut(c, false);
            return Ok(());
        }
        let waiting = self
            .conns
            .get(&c)
            .is_some_and(|conn| conn.edited && conn.round.settled());
        if waiting {
            self.push_now(d)?;
        }
        Ok(())
    }

    /// After a local edit on a connected device: its pushes go out at once (live sync), or
    /// once the pushes already out are answered.
    fn push_now(&mut self, d: usize) -> Result<(), String> {
        let Some(c) = self.devices[d].conn else {
            return Ok(());
        };
        let Some(conn) = self.conns.get_mut(&c) else {
            return Ok(());
        };
        if !conn.round.settled() {
            conn.edited = true;
            return Ok(());
        }
        conn.edited = false;
        let Some(store) = self.devices[d].store.as_mut() else {
            return Ok(());
        };
        let pushes: Vec<ClientMessage> = store
            .sync_pushes()
            .map_err(|e| format!("device {d} could not push: {e}"))?;
        let at = self.now() + self.latency();
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.round = SyncRound::new(&pushes);
            for m in pushes {
                conn.to_server.push_back((at, m.encode()));
            }
        }
        Ok(())
    }

    /// The device dies: its connection with it, and everything not in its store. On
    /// restart the store must hold exactly what it held.
    fn crash_device(&mut self, d: usize) -> Result<(), String> {
        let Some(mut store) = self.devices[d].store.take() else {
            return Ok(());
        };
        self.stats.device_crashes += 1;
        self.note(|| format!("device {d} crashes"));
        let held = held_heads(&mut store)?;
        let cursor = store.sync_cursor().map_err(fail)?;
        drop(store);
        if let Some(c) = self.devices[d].conn {
            // Frames it had sent are on the wire; the server sees them, then the reset.
            self.cut(c, false);
        }
        let dev = &self.devices[d];
        let mut store = open_store(&dev.path, dev.key, &self.now, dev.skew_ms)?;
        let after = held_heads(&mut store)?;
        if after != held || store.sync_cursor().map_err(fail)? != cursor {
            return Err(format!(
                "device {d} lost committed state in a crash ({} cases before, {} after)",
                held.len(),
                after.len()
            ));
        }
        self.devices[d].store = Some(store);
        Ok(())
    }

    /// Every session lost; the store reopened from disk.
    fn restart_server(&mut self) -> Result<(), String> {
        self.stats.server_restarts += 1;
        self.note(|| "server restarts".into());
        self.server.epoch += 1;
        for conn in self.conns.values_mut() {
            conn.session = None;
            conn.to_server.clear();
            conn.to_device.clear();
            conn.device_open = false;
        }
        self.conns.clear();
        for dev in &mut self.devices {
            dev.conn = None;
        }
        self.server.storage = SqliteStorage::open(&self.server.path).map_err(server_err)?;
        if !self.server.storage.integrity_check().map_err(server_err)? {
            return Err("the server's database failed its integrity check".into());
        }
        Ok(())
    }

    /// The admin changes a practitioner's mandate; connected devices hear of it.
    fn admin_mandate(&mut self) -> Result<(), String> {
        let candidates: Vec<MemberId> = self
            .team
            .iter()
            .filter(|m| m.role == Role::Practitioner && !m.left)
            .map(|m| m.id.clone())
            .collect();
        let Some(member) = self.rng.pick(&candidates).cloned() else {
            return Ok(());
        };
        let euros = [500, 1_000, 2_500, 5_000][self.rng.index(4)];
        let mandate =
            practitioner_mandate().with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(euros));
        self.server
            .storage
            .edit_workspace(&self.server.workspace, None, |doc, author, now| {
                doc.set_mandate(author, now, &member, &mandate)
            })
            .map_err(server_err)?;
        self.note(|| format!("admin sets a mandate to EUR {euros}"));
        self.poll_sessions(|_| true)
    }

    /// The admin revokes a device (at most one per run, never the team lead's).
    fn admin_revoke(&mut self) -> Result<(), String> {
        if self.stats.revocations > 0 {
            return Ok(());
        }
        let d = 1 + self.rng.index(self.devices.len() - 1);
        let id = self.devices[d].id.clone();
        self.server
            .storage
            .revoke(&id, Timestamp(EPOCH_MS + self.now()))
            .map_err(server_err)?;
        self.note(|| format!("admin revokes device {d}"));
        self.server.revoked.insert(id);
        self.stats.revocations += 1;
        // As the driver's revocation check does for an open connection.
        let stop = ServerMessage::Stop {
            reason: "this device was revoked".into(),
            erase: true,
        };
        let at = self.now() + self.latency();
        for conn in self.conns.values_mut().filter(|c| c.device == d) {
            conn.session = None;
            conn.to_server.clear();
            if conn.device_open {
                conn.to_device.push_back((at, stop.encode()));
            }
        }
        Ok(())
    }

    /// A practitioner leaves the team (at most one per run, and one always stays).
    fn admin_departure(&mut self) -> Result<(), String> {
        let staying = self
            .team
            .iter()
            .filter(|m| m.role == Role::Practitioner && !m.left)
            .count();
        if self.stats.departures > 0 || staying < 2 {
            return Ok(());
        }
        let candidates: Vec<usize> = (0..self.team.len())
            .filter(|i| self.team[*i].role == Role::Practitioner && !self.team[*i].left)
            .collect();
        let Some(&m) = self.rng.pick(&candidates) else {
            return Ok(());
        };
        let member = self.team[m].id.clone();
        self.server
            .storage
            .edit_workspace(&self.server.workspace, None, |doc, author, now| {
                doc.deactivate_member(author, now, &member)
            })
            .map_err(server_err)?;
        self.note(|| format!("member {m} leaves the team"));
        self.team[m].left = true;
        self.stats.departures += 1;
        self.poll_sessions(|_| true)
    }

    /// Faults off; every device syncs in turn until nothing moves.
    fn heal(&mut self) -> Result<(), String> {
        for d in 0..self.devices.len() {
            self.devices[d].offline_until = 0;
            if self.devices[d].store.is_none() {
                let dev = &self.devices[d];
                self.devices[d].store =
                    Some(open_store(&dev.path, dev.key, &self.now, dev.skew_ms)?);
            }
        }
        // What is on the wire arrives, then every connection closes.
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for c in ids {
            self.deliver_due(c, i64::MAX)?;
            self.cut(c, true);
        }
        self.conns.clear();
        for round in 0..HEAL_ROUNDS {
            for d in 0..self.devices.len() {
                self.now.fetch_add(1_000, Ordering::Relaxed);
                let pushed = self.sync_fully(d)?;
                if round == HEAL_ROUNDS - 1 && pushed {
                    return Err(format!(
                        "device {d} still had changes to push after {} heal rounds",
                        HEAL_ROUNDS - 1
                    ));
                }
            }
        }
        Ok(())
    }

    /// One complete sync of device `d` on a fresh connection; whether it pushed anything.
    fn sync_fully(&mut self, d: usize) -> Result<bool, String> {
        if self.devices[d].erased && self.server.revoked.contains(&self.devices[d].id) {
            return Ok(false);
        }
        self.connect(d)?;
        let Some(c) = self.devices[d].conn else {
            return Ok(false);
        };
        let pushed = self.conns.get(&c).is_some_and(|conn| {
            conn.to_server
                .iter()
                .any(|(_, f)| matches!(ClientMessage::decode(f), Ok(ClientMessage::Push { .. })))
        });
        self.deliver_due(c, i64::MAX)?;
        let settled = self.conns.get(&c).is_none_or(|conn| conn.round.settled());
        if !settled {
            return Err(format!(
                "device {d}'s sync did not settle on a clean network"
            ));
        }
        self.cut(c, true);
        self.conns.remove(&c);
        Ok(pushed)
    }
}

fn kind(msg: &ServerMessage) -> &'static str {
    match msg {
        ServerMessage::Updates { .. } => "updates",
        ServerMessage::UpToDate { .. } => "up-to-date",
        ServerMessage::Accepted { .. } => "an acceptance",
        ServerMessage::Refused { .. } => "a refusal",
        ServerMessage::Stop { .. } => "a stop",
    }
}

fn open_store(
    path: &Path,
    key: [u8; 32],
    now: &Arc<AtomicI64>,
    skew_ms: i64,
) -> Result<DeviceStore, String> {
    let mut store = DeviceStore::open(path, &StoreKey::from_bytes(key))
        .map_err(|e| format!("a device store did not open: {e}"))?;
    let now = now.clone();
    store.set_clock(move || Timestamp(EPOCH_MS + now.load(Ordering::Relaxed) + skew_ms));
    Ok(store)
}

/// Every case a store holds, with its heads.
fn held_heads(store: &mut DeviceStore) -> Result<BTreeMap<CaseId, Vec<ChangeRef>>, String> {
    let ids: Vec<CaseId> = store
        .list_cases(&Default::default())
        .map_err(fail)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut out = BTreeMap::new();
    for id in ids {
        let mut heads = store.heads(&id).map_err(fail)?;
        heads.sort();
        out.insert(id, heads);
    }
    Ok(out)
}

/// What a batch of seeds found.
#[derive(Debug, Default)]
pub struct Batch {
    /// Seeds run to the end.
    pub seeds: u64,
    /// Their figures together.
    pub stats: Stats,
    /// Seeds that broke a guarantee, with what broke.
    pub failures: Vec<(u64, String)>,
}

/// Runs `seeds` on `threads` threads, each seed in a fresh directory under `dir`, until
/// all ran or `deadline` passed.
pub fn run_many(
    seeds: std::ops::Range<u64>,
    threads: usize,
    dir: &Path,
    deadline: std::time::Instant,
) -> Batch {
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let batch = std::sync::Mutex::new(Batch::default());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end || std::time::Instant::now() > deadline {
                        break;
                    }
                    let outcome = tempfile::Builder::new()
                        .prefix(&format!("sim-{seed}-"))
                        .tempdir_in(dir)
                        .map_err(|e| format!("no directory for the run: {e}"))
                        .and_then(|d| run(seed, d.path()));
                    let mut b = batch.lock().unwrap_or_else(|p| p.into_inner());
                    b.seeds += 1;
                    match outcome {
                        Ok(stats) => b.stats.add(&stats),
                        Err(e) => b.failures.push((seed, e)),
                    }
                }
            });
        }
    });
    let mut batch = batch.into_inner().unwrap_or_else(|p| p.into_inner());
    batch.failures.sort();
    batch
}

/// A RAM disk when there is one: the stores fsync every commit, and the simulation is
/// about ordering and faults, not about the disk (the crash loops cover the disk).
pub fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}
