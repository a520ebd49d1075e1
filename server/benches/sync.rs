//! Server figures for the README: acknowledgement latency with 200 devices connected and
//! pushing edits, and a reconnect with nothing changed for a device holding 5,000 cases.
//! Server and clients share this machine (loopback).
//!
//! Run: `cargo bench -p keukentafel-server --bench sync` (add `-- --quick` for a smoke run).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use keukentafel_core::model::{
    HouseholdRole, Law, Mandate, NewCase, NewHouseholdMember, NewMember, Role, Timestamp,
};
use keukentafel_core::sync::EnrolResponse;
use keukentafel_core::sync::{ClientMessage, DocChanges, DocRef, ServerMessage, ServerStorage};
use keukentafel_core::{
    Author, CaseDoc, ChangeRef, Context, DeviceId, MemberId, WorkspaceDoc, WorkspaceId,
};
use keukentafel_server::{AppState, SqliteStorage, app, auth};
use time::macros::date;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn percentile(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn new_case(i: usize) -> NewCase {
    NewCase {
        case_number: format!("B-{i:05}"),
        law: Law::Wmo,
        melding_date: date!(2026 - 11 - 01),
        household: vec![NewHouseholdMember {
            name: "Bewoner".into(),
            birth_date: None,
            role: HouseholdRole::Resident,
        }],
        assigned: vec![],
    }
}

async fn start(db: &std::path::Path) -> SocketAddr {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    std::mem::forget(stop);
    let state = AppState::new(SqliteStorage::open(db).expect("db"), stopped);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    addr
}

async fn connect(addr: SocketAddr, credential: &str) -> Socket {
    let mut req = format!("ws://{addr}/v1/sync")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {credential}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .expect("connect")
        .0
}

async fn recv(ws: &mut Socket) -> ServerMessage {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Binary(b) => return ServerMessage::decode(&b).expect("decode"),
            _ => continue,
        }
    }
}

async fn send(ws: &mut Socket, m: &ClientMessage) {
    ws.send(Message::Binary(m.encode().into()))
        .await
        .expect("send");
}

/// Hello and take in the answer (acknowledged); returns the cursor.
async fn hello(ws: &mut Socket, cursor: u64) -> u64 {
    send(
        ws,
        &ClientMessage::Hello {
            cursor,
            lacking: vec![],
        },
    )
    .await;
    loop {
        match recv(ws).await {
            ServerMessage::UpToDate { cursor } => return cursor,
            ServerMessage::Updates {
                cursor,
                more: false,
                ..
            } => {
                send(ws, &ClientMessage::Ack { cursor }).await;
                return cursor;
            }
            _ => {}
        }
    }
}

struct Enrolled {
    credential: String,
    author: Author,
    workspace: WorkspaceDoc,
}

async fn enrol(addr: SocketAddr, code: &str) -> Enrolled {
    let r: EnrolResponse = reqwest::Client::new()
        .post(format!("http://{addr}/v1/enrol"))
        .json(&serde_json::json!({ "code": code, "label": "bench" }))
        .send()
        .await
        .expect("enrol")
        .json()
        .await
        .expect("json");
    let doc = base64::engine::general_purpose::STANDARD
        .decode(&r.workspace_doc)
        .expect("base64");
    Enrolled {
        credential: r.credential,
        author: Author {
            member: MemberId::parse(&r.member_id).expect("id"),
            device: DeviceId::parse(&r.device_id).expect("id"),
        },
        workspace: WorkspaceDoc::load(&doc).expect("workspace"),
    }
}

fn team(storage: &mut SqliteStorage, members: usize, role: Role) -> (WorkspaceId, Vec<String>) {
    let (ws, _) = storage
        .create_workspace(
            "Bench",
            "Bench",
            NewMember {
                display_name: "Ad".into(),
                role: Role::Admin,
                mandate: Mandate::default(),
            },
        )
        .expect("workspace");
    let ids: Vec<MemberId> = (0..members).map(|_| MemberId::random()).collect();
    storage
        .edit_workspace(&ws, None, |doc, a, now| {
            for (i, id) in ids.iter().enumerate() {
                doc.add_member(
                    a,
                    now,
                    id,
                    NewMember {
                        display_name: format!("P{i}"),
                        role,
                        mandate: Mandate::default(),
                    },
                )?;
            }
            Ok(())
        })
        .expect("members");
    let codes = ids
        .iter()
        .map(|m| {
            let code = auth::new_enrolment_code().expect("code");
            storage
                .add_enrolment(
                    &auth::code_hash(&code),
                    &ws,
                    m,
                    Timestamp(Timestamp::now().0 + 3_600_000),
                )
                .expect("invite");
            code
        })
        .collect();
    (ws, codes)
}

/// One device: opens a case, then pushes `edits` small edits, `pause` apart; returns the
/// time from each push to its acknowledgement.
async fn device(
    addr: SocketAddr,
    e: Enrolled,
    edits: usize,
    pause: Duration,
) -> Result<Vec<Duration>, String> {
    let mut ws = connect(addr, &e.credential).await;
    hello(&mut ws, 0).await;
    let ctx = Context {
        workspace: e.workspace.workspace(),
        author: &e.author,
        now: Timestamp::now(),
    };
    let (mut doc, id) = CaseDoc::create(&ctx, new_case(0)).map_err(|x| x.to_string())?;
    doc.take_changes();
    let mut server_heads: Vec<ChangeRef> = Vec::new();
    let mut latencies = Vec::new();
    for k in 0..=edits {
        if k > 0 {
            let ctx = Context {
                workspace: e.workspace.workspace(),
                author: &e.author,
                now: Timestamp::now(),
            };
            doc.add_household_member(
                &ctx,
                NewHouseholdMember {
                    name: format!("Lid {k}"),
                    birth_date: None,
                    role: HouseholdRole::Other,
                },
            )
            .map_err(|x| x.to_string())?;
            doc.take_changes();
        }
        let changes = doc.changes_since(&server_heads);
        let t = Instant::now();
        send(
            &mut ws,
            &ClientMessage::Push {
                batch: k as u64,
                docs: vec![DocChanges {
                    doc: DocRef::Case(id.clone()),
                    changes,
                }],
            },
        )
        .await;
        loop {
            match recv(&mut ws).await {
                ServerMessage::Accepted { heads, .. } => {
                    if k > 0 {
                        latencies.push(t.elapsed());
                    }
                    server_heads = heads
                        .0
                        .iter()
                        .filter_map(|h| ChangeRef::parse(&hex::encode(h)).ok())
                        .collect();
                    break;
                }
                ServerMessage::Updates {
                    cursor,
                    more: false,
                    ..
                } => send(&mut ws, &ClientMessage::Ack { cursor }).await,
                ServerMessage::Refused { reason, .. } => return Err(reason),
                ServerMessage::Stop { reason, .. } => return Err(reason),
                _ => {}
            }
        }
        tokio::time::sleep(pause).await;
    }
    Ok(latencies)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().expect("dir");
    println!("| measure | result | target |");
    println!("|---|---|---|");

    // 1. Many devices pushing small edits.
    let devices = if quick { 20 } else { 200 };
    let edits = if quick { 5 } else { 20 };
    let db = dir.path().join("many.db");
    let (_, codes) = team(
        &mut SqliteStorage::open(&db).expect("db"),
        devices,
        Role::Practitioner,
    );
    let addr = start(&db).await;
    let mut enrolled = Vec::new();
    for code in &codes {
        enrolled.push(enrol(addr, code).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = enrolled
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            tokio::spawn(device(
                addr,
                e,
                edits,
                Duration::from_millis(500 + (i as u64 * 7) % 500),
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => latencies.extend(l),
            _ => errors += 1,
        }
    }
    let wall = started.elapsed();
    let n = latencies.len();
    let p50 = percentile(&mut latencies, 50);
    let p99 = percentile(&mut latencies, 99);
    println!(
        "| {devices} devices connected, {n} small edits pushed over {:.0} s: ack latency p50 / p99, errors | {} / {}, {errors} errors | p99 < 100 ms, no errors |",
        wall.as_secs_f64(),
        ms(p50),
        ms(p99)
    );

    // 2. Reconnect with nothing changed, holding N cases.
    let n = if quick { 500 } else { 5_000 };
    let db = dir.path().join("reconnect.db");
    let mut storage = SqliteStorage::open(&db).expect("db");
    let (ws_id, codes) = team(&mut storage, 1, Role::TeamLead);
    let ws = storage.workspace(&ws_id).expect("read").expect("workspace");
    let admin = Author {
        member: ws
            .workspace()
            .members
            .keys()
            .next()
            .expect("member")
            .clone(),
        device: DeviceId::random(),
    };
    for i in 0..n {
        let ctx = Context {
            workspace: ws.workspace(),
            author: &admin,
            now: Timestamp::now(),
        };
        // Opened by the team lead's id so that the rulebook accepts it; stored directly.
        let lead = ws
            .workspace()
            .members
            .values()
            .find(|m| m.role == Role::TeamLead)
            .expect("lead")
            .id
            .clone();
        let author = Author {
            member: lead,
            device: admin.device.clone(),
        };
        let ctx = Context {
            author: &author,
            ..ctx
        };
        let (mut doc, _) = CaseDoc::create(&ctx, new_case(i)).expect("case");
        let changes: Vec<u8> = doc
            .take_changes()
            .into_iter()
            .flat_map(|c| c.bytes)
            .collect();
        storage
            .store_case(&ws_id, &doc, &changes, &admin.device)
            .expect("store");
    }
    drop(storage);
    let addr = start(&db).await;
    let e = enrol(addr, &codes[0]).await;
    let mut first = connect(addr, &e.credential).await;
    let cursor = hello(&mut first, 0).await;
    // Let the acknowledgement land before measuring reconnects.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let mut ws = connect(addr, &e.credential).await;
        let got = hello(&mut ws, cursor).await;
        times.push(t.elapsed());
        assert_eq!(got, cursor);
        let _ = ws.close(None).await;
    }
    println!(
        "| reconnect with nothing changed, device holding {n} cases (connect + hello + answer), median of 21 | {} | < 50 ms |",
        ms(percentile(&mut times, 50))
    );
}
