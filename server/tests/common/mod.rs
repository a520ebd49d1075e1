//! The server tests' fixtures: a server on a real loopback port (the router in-process, or
//! the real binary), and a device's side of enrolment and sync over real HTTP and WebSocket.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use keukentafel_core::model::{
    HouseholdRole, Law, LifeDomain, Mandate, Money, NewCase, NewConversation, NewHouseholdMember,
    NewMember, NewParticipant, ParticipantKind, ProvisionCategory, Role, Timestamp,
};
use keukentafel_core::sync::{EnrolResponse, ServerMessage};
use keukentafel_core::{DeviceStore, MemberId, StoreKey, SyncRound, WorkspaceId};
use keukentafel_server::{AppState, ServerConfig, SqliteStorage, auth};
use time::macros::date;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The router served in-process as the binary serves it, over a store with one workspace.
pub struct TestServer {
    pub addr: SocketAddr,
    pub db: PathBuf,
    pub workspace: WorkspaceId,
    pub state: Arc<AppState>,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// A server with the default limits.
pub async fn start(dir: &Path) -> TestServer {
    start_with(dir, ServerConfig::default(), None).await
}

/// A server with the given limits, over TLS when a configuration is given.
pub async fn start_with(
    dir: &Path,
    config: ServerConfig,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
) -> TestServer {
    let db = dir.join("server.db");
    let mut admin = SqliteStorage::open(&db).expect("db");
    let (workspace, _) = admin
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
    drop(admin);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let state = AppState::with_config(SqliteStorage::open(&db).expect("db"), stopped, config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = keukentafel_server::serve(listener, serving, tls, axum_server::Handle::new()).await;
    });
    TestServer {
        addr,
        db,
        workspace,
        state,
        _stop: stop,
    }
}

impl TestServer {
    /// A second connection to the server's database, as the admin tool has.
    pub fn admin(&self) -> SqliteStorage {
        SqliteStorage::open(&self.db).expect("admin connection")
    }

    pub fn add_member(&self, name: &str, role: Role) -> MemberId {
        add_member(&mut self.admin(), &self.workspace, name, role)
    }

    pub fn invite(&self, member: &MemberId, valid_ms: i64) -> String {
        invite(&mut self.admin(), &self.workspace, member, valid_ms)
    }

    pub async fn enrol(&self, code: &str) -> reqwest::Response {
        enrol(self.addr, code).await
    }

    pub async fn device(&self, dir: &Path, name: &str, member: &MemberId) -> Device {
        device(self.addr, dir, name, &self.invite(member, 60_000)).await
    }

    pub async fn connect(
        &self,
        credential: &str,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        connect(self.addr, credential).await
    }

    /// One sync over a fresh connection; returns what the server said last (for Stop).
    pub async fn sync(&self, d: &mut Device) -> Option<ServerMessage> {
        sync(self.addr, d).await.pop()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Adds a member with a mandate for household help.
pub fn add_member(
    storage: &mut SqliteStorage,
    workspace: &WorkspaceId,
    name: &str,
    role: Role,
) -> MemberId {
    let id = MemberId::random();
    storage
        .edit_workspace(workspace, None, |doc, author, now| {
            doc.add_member(
                author,
                now,
                &id,
                NewMember {
                    display_name: name.into(),
                    role,
                    mandate: Mandate::default()
                        .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500)),
                },
            )
        })
        .expect("add member");
    id
}

/// An enrolment code for `member`, valid for `valid_ms` from now (negative: expired).
pub fn invite(
    storage: &mut SqliteStorage,
    workspace: &WorkspaceId,
    member: &MemberId,
    valid_ms: i64,
) -> String {
    let code = auth::new_enrolment_code().expect("code");
    storage
        .add_enrolment(
            &auth::code_hash(&code),
            workspace,
            member,
            Timestamp(Timestamp::now().0 + valid_ms),
        )
        .expect("invite");
    code
}

pub fn new_case(number: &str) -> NewCase {
    NewCase {
        case_number: number.into(),
        law: Law::Wmo,
        melding_date: date!(2026 - 11 - 02),
        household: vec![NewHouseholdMember {
            name: "Bewoner".into(),
            birth_date: None,
            role: HouseholdRole::Resident,
        }],
        assigned: vec![],
    }
}

pub fn conversation() -> NewConversation {
    NewConversation {
        date: date!(2026 - 11 - 20),
        place: "thuis".into(),
        participants: vec![NewParticipant {
            kind: ParticipantKind::Resident,
            name: "bewoner".into(),
            person: None,
            member: None,
        }],
        question: "Hulp in huis.".into(),
        domains: BTreeSet::from([LifeDomain::Adl]),
        notes: String::new(),
        agreements: vec![],
        client_support_offered: true,
    }
}

/// A loopback address nothing listens on right now.
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// The real binary, killed when dropped.
pub struct Binary(pub Child);

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real binary serving `db` on `addr` and waits until it answers; with `log`,
/// all it writes (its debug log among it) goes into that file.
pub async fn start_binary(db: &Path, addr: SocketAddr, log: Option<&Path>) -> Binary {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keukentafel-server"));
    command.args([
        "--db",
        &db.display().to_string(),
        "serve",
        "--listen",
        &addr.to_string(),
    ]);
    match log {
        Some(path) => {
            // The log goes to stdout; panics and anything else to stderr.
            let file = std::fs::File::create(path).expect("log file");
            command
                .env("RUST_LOG", "debug")
                .stdout(file.try_clone().expect("log file"))
                .stderr(file);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let server = Binary(command.spawn().expect("start server"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("http://{addr}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not come up");
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Device {
    pub store: DeviceStore,
    pub credential: String,
    pub device_id: String,
}

pub async fn enrol(addr: SocketAddr, code: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/v1/enrol"))
        .json(&serde_json::json!({ "code": code, "label": "telefoon" }))
        .send()
        .await
        .expect("request")
}

/// Enrols a new device with `code` and opens its store.
pub async fn device(addr: SocketAddr, dir: &Path, name: &str, code: &str) -> Device {
    let resp: EnrolResponse = enrol(addr, code).await.json().await.expect("enrolled");
    let mut store = DeviceStore::open(
        &dir.join(format!("{name}.db")),
        &StoreKey::from_bytes([8; 32]),
    )
    .expect("store");
    store.enrol(&format!("http://{addr}"), &resp).expect("join");
    Device {
        store,
        credential: resp.credential,
        device_id: resp.device_id,
    }
}

pub async fn connect(
    addr: SocketAddr,
    credential: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{addr}/v1/sync")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {credential}").parse().expect("header"),
    );
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

pub async fn next_message(ws: &mut Socket) -> Option<ServerMessage> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??
        {
            Ok(Message::Binary(b)) => return ServerMessage::decode(&b).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// One sync over a fresh connection. Returns every server message seen; stops early, with
/// what it has, if the connection fails (a server being killed).
pub async fn sync(addr: SocketAddr, d: &mut Device) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    let Ok(mut ws) = connect(addr, &d.credential).await else {
        return seen;
    };
    let sent = d.store.sync_start().expect("start");
    let mut round = SyncRound::new(&sent);
    for m in sent {
        if ws.send(Message::Binary(m.encode().into())).await.is_err() {
            return seen;
        }
    }
    while !round.settled() {
        let Some(msg) = next_message(&mut ws).await else {
            return seen;
        };
        round.observe(&msg);
        let step = d.store.sync_receive(&msg).expect("device");
        for r in step.replies {
            if ws.send(Message::Binary(r.encode().into())).await.is_err() {
                return seen;
            }
        }
        seen.push(msg);
    }
    ws.close(None).await.ok();
    while let Some(Ok(_)) = ws.next().await {}
    seen
}
