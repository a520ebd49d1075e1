//! The sync driver as an app meets it, through the exported API, against the real server
//! router on a loopback port: a server that goes away, a sync cancelled while the server
//! does not answer, and a revoked device wiped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keukentafel_core::model::{
    HouseholdRole, Law, Mandate, Money, NewCase, NewHouseholdMember, NewMember, ProvisionCategory,
    Role, Timestamp,
};
use keukentafel_core::{DeviceId, MemberId, WorkspaceId};
use keukentafel_ffi::{
    ChangeListener, Device, KeukentafelError, RemoteChange, SyncCancel, SyncState,
};
use keukentafel_server::{AppState, SqliteStorage, app, auth};

/// The server on a runtime of its own, as a separate process would be.
struct Server {
    addr: SocketAddr,
    db: PathBuf,
    workspace: WorkspaceId,
    runtime: Option<(tokio::runtime::Runtime, tokio::sync::watch::Sender<bool>)>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let db = dir.join("server.db");
        let (workspace, _) = SqliteStorage::open(&db)
            .expect("db")
            .create_workspace(
                "Wijkteam Zuid",
                "Zuid",
                NewMember {
                    display_name: "Ad".into(),
                    role: Role::Admin,
                    mandate: Mandate::default(),
                },
            )
            .expect("workspace");
        let mut server = Server {
            addr: "127.0.0.1:0".parse().expect("addr"),
            db,
            workspace,
            runtime: None,
        };
        server.serve();
        server
    }

    /// Serves on `self.addr` (a free port the first time, the same port after a restart).
    fn serve(&mut self) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(self.addr))
            .expect("bind");
        self.addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let state = AppState::new(SqliteStorage::open(&self.db).expect("db"), stopped);
        runtime.spawn(async move {
            let _ = axum::serve(listener, app(state)).await;
        });
        self.runtime = Some((runtime, stop));
    }

    /// Shuts down as for a deploy: open syncs are told "server shutting down" (a stop
    /// without a wipe order), then every connection closes.
    fn stop(&mut self) {
        if let Some((rt, stop)) = self.runtime.take() {
            stop.send_replace(true);
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(700)).await });
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn member(&self, name: &str) -> MemberId {
        let id = MemberId::random();
        SqliteStorage::open(&self.db)
            .expect("db")
            .edit_workspace(&self.workspace, None, |doc, author, now| {
                doc.add_member(
                    author,
                    now,
                    &id,
                    NewMember {
                        display_name: name.into(),
                        role: Role::Practitioner,
                        mandate: Mandate::default()
                            .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500)),
                    },
                )
            })
            .expect("member");
        id
    }

    fn enrolled(&self, dir: &Path, name: &str) -> Arc<Device> {
        let member = self.member(name);
        let code = auth::new_enrolment_code().expect("code");
        SqliteStorage::open(&self.db)
            .expect("db")
            .add_enrolment(
                &auth::code_hash(&code),
                &self.workspace,
                &member,
                Timestamp(Timestamp::now().0 + 60_000),
            )
            .expect("invite");
        let device = Device::open(
            dir.join(format!("{name}.db")).display().to_string(),
            vec![3; 32],
        )
        .expect("store");
        device.enrol(self.url(), code, name.into()).expect("enrol");
        device
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn new_case(number: &str) -> NewCase {
    NewCase {
        case_number: number.into(),
        law: Law::Wmo,
        melding_date: Timestamp::now().date(),
        household: vec![NewHouseholdMember {
            name: "J. de Vries".into(),
            birth_date: None,
            role: HouseholdRole::Resident,
        }],
        assigned: vec![],
    }
}

#[test]
fn work_recorded_while_the_server_is_gone_reaches_it_later() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Server::start(dir.path());
    let sanne = server.enrolled(dir.path(), "sanne");
    server.stop();

    let case = sanne
        .create_case(new_case("2026-0001"))
        .expect("offline edit");
    let err = sanne.sync_now(None, None).expect_err("no server");
    assert!(matches!(err, KeukentafelError::Network { .. }), "{err:?}");
    assert_eq!(sanne.sync_state(), SyncState::Offline);
    assert_eq!(sanne.my_cases().expect("cases").len(), 1, "nothing lost");

    server.serve();
    let report = sanne.sync_now(None, None).expect("sync");
    assert_eq!(report.state, SyncState::UpToDate);
    assert_eq!(report.documents_sent, 1);
    let stored = SqliteStorage::open(&server.db)
        .expect("db")
        .case_members(&case)
        .expect("case on the server");
    let me = sanne.me().expect("me").id;
    assert!(stored.contains(&me), "the case reached the server");
}

#[test]
fn a_sync_waiting_on_a_silent_server_is_cancelled_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Server::start(dir.path());
    let sanne = server.enrolled(dir.path(), "sanne");
    server.stop();
    // Accepts connections and never answers (bound as the server binds: the port may still
    // be in TIME_WAIT).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let silent = rt
        .block_on(tokio::net::TcpListener::bind(server.addr))
        .expect("bind");

    let cancel = SyncCancel::new();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            cancel.cancel();
        })
    };
    let started = Instant::now();
    let err = sanne.sync_now(None, Some(cancel)).expect_err("cancelled");
    assert!(matches!(err, KeukentafelError::Cancelled), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled well before the connect time-out"
    );
    assert_eq!(sanne.sync_state(), SyncState::Offline);
    canceller.join().expect("thread");
    drop(silent);
}

#[test]
fn a_revoked_device_is_told_and_wiped() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path());
    let sanne = server.enrolled(dir.path(), "sanne");
    sanne.create_case(new_case("2026-0002")).expect("case");
    sanne.sync_now(None, None).expect("sync");

    let device = DeviceId::parse(&sanne.device_id().expect("id").to_string()).expect("id");
    SqliteStorage::open(&server.db)
        .expect("db")
        .revoke(&device, Timestamp::now())
        .expect("revoke");
    let report = sanne.sync_now(None, None).expect("sync");
    assert!(
        matches!(report.state, SyncState::Stopped { wiped: true, .. }),
        "{:?}",
        report.state
    );
    assert_eq!(sanne.sync_state(), report.state);
    assert!(matches!(
        sanne.my_cases(),
        Err(KeukentafelError::NotEnrolled)
    ));
}

/// Waits, bounded, until `f` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Ignore;

impl ChangeListener for Ignore {
    fn on_remote_change(&self, _: RemoteChange) {}
}

#[test]
fn live_sync_rides_out_a_server_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Server::start(dir.path());
    let sanne = server.enrolled(dir.path(), "sanne");
    let live = sanne.start_live_sync(Box::new(Ignore)).expect("live");
    assert!(
        matches!(
            sanne.start_live_sync(Box::new(Ignore)),
            Err(KeukentafelError::InvalidInput { .. })
        ),
        "one live sync per device"
    );
    eventually("live sync is up", || {
        sanne.sync_state() == SyncState::UpToDate
    });

    // A deploy: the server says it is shutting down. Not a reason to give up.
    server.stop();
    eventually("the device shows offline", || {
        sanne.sync_state() == SyncState::Offline
    });
    let case = sanne
        .create_case(new_case("2026-0003"))
        .expect("offline edit");

    server.serve();
    let me = sanne.me().expect("me").id;
    eventually("the case reaches the restarted server", || {
        SqliteStorage::open(&server.db)
            .expect("db")
            .case_members(&case)
            .is_ok_and(|m| m.contains(&me))
    });
    eventually("up to date again", || {
        sanne.sync_state() == SyncState::UpToDate
    });
    // "Sync now" while live sync runs asks live sync for a round.
    let report = sanne.sync_now(None, None).expect("sync now");
    assert_eq!(report.state, SyncState::UpToDate);

    live.stop();
    assert!(!live.is_running());
    assert_eq!(sanne.sync_state(), SyncState::Offline);
}
