//! The real binary: SIGKILLed during syncs it loses nothing it acknowledged; SIGTERM ends
//! open syncs cleanly.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use keukentafel_core::model::{
    HouseholdRole, Law, Mandate, NewAgreement, NewCase, NewConversation, NewHouseholdMember,
    NewMember, NewParticipant, ParticipantKind, Role, Timestamp,
};
use keukentafel_core::sync::{ClientMessage, ServerMessage, ServerStorage};
use keukentafel_core::{ChangeRef, MemberId};
use keukentafel_server::{SqliteStorage, auth};
use time::macros::date;
use tokio_tungstenite::tungstenite::Message;

/// A workspace with a team lead, and `codes` enrolment codes for their devices.
fn prepare(db: &Path, codes: usize) -> Vec<String> {
    let mut s = SqliteStorage::open(db).expect("db");
    let (ws, _) = s
        .create_workspace(
            "Wijkteam West",
            "West",
            NewMember {
                display_name: "Ad".into(),
                role: Role::Admin,
                mandate: Mandate::default(),
            },
        )
        .expect("workspace");
    let lead = MemberId::random();
    s.edit_workspace(&ws, None, |doc, a, now| {
        doc.add_member(
            a,
            now,
            &lead,
            NewMember {
                display_name: "Lead".into(),
                role: Role::TeamLead,
                mandate: Mandate::default(),
            },
        )
    })
    .expect("member");
    (0..codes)
        .map(|_| {
            let code = auth::new_enrolment_code().expect("code");
            s.add_enrolment(
                &auth::code_hash(&code),
                &ws,
                &lead,
                Timestamp(Timestamp::now().0 + 60_000),
            )
            .expect("invite");
            code
        })
        .collect()
}

/// Heads the server reported as durable, per accepted push.
fn accepted_heads(seen: &[ServerMessage]) -> Vec<ChangeRef> {
    seen.iter()
        .filter_map(|m| match m {
            ServerMessage::Accepted { heads, .. } => Some(heads),
            _ => None,
        })
        .flat_map(|heads| {
            heads
                .0
                .iter()
                .map(|h| ChangeRef::parse(&hex::encode(h)).expect("hash"))
        })
        .collect()
}

/// Kills of the server per run: the floor for every CI run.
const KILLS: usize = 30;
/// Edits per device between kills: enough that every sync carries real work.
const EDITS: usize = 4;

/// Two devices of a team lead type into the same case and sync at the same time while the
/// server is SIGKILLed at a random moment, 30 times. Whatever the server acknowledged is
/// there afterwards, its database passes SQLite's integrity check, and once it is back
/// everything converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_sigkill_of_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("server.db");
    let codes = prepare(&db, 2);
    let addr = common::free_addr();
    let mut server = common::start_binary(&db, addr, None).await;
    let mut tablet = common::device(addr, dir.path(), "tablet", &codes[0]).await;
    let mut phone = common::device(addr, dir.path(), "phone", &codes[1]).await;
    let case = tablet
        .store
        .create_case(NewCase {
            case_number: "KILL-1".into(),
            law: Law::Wmo,
            melding_date: date!(2026 - 11 - 01),
            household: vec![NewHouseholdMember {
                name: "Bewoner".into(),
                birth_date: None,
                role: HouseholdRole::Resident,
            }],
            assigned: vec![],
        })
        .expect("case");
    let conv = tablet
        .store
        .edit_case(&case, |doc, ctx| {
            doc.record_conversation(
                ctx,
                NewConversation {
                    date: date!(2026 - 11 - 02),
                    place: "thuis".into(),
                    participants: vec![NewParticipant {
                        kind: ParticipantKind::Resident,
                        name: "Bewoner".into(),
                        person: None,
                        member: None,
                    }],
                    question: "Hulp.".into(),
                    domains: Default::default(),
                    notes: String::new(),
                    agreements: vec![],
                    client_support_offered: false,
                },
            )
        })
        .expect("conversation");
    common::sync(addr, &mut tablet).await;
    common::sync(addr, &mut phone).await;
    assert!(phone.store.case(&case).is_ok(), "the phone has the case");

    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!(
        "server kill seed {seed} (replay: KILL_SEED={seed} cargo test -p keukentafel-server --test process acknowledged)"
    );
    let mut rng = seed;
    let mut acknowledged: Vec<ChangeRef> = Vec::new();
    let mut interrupted = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    for round in 0..KILLS {
        assert!(Instant::now() < deadline, "out of time in round {round}");
        for (who, d) in [("t", &mut tablet), ("p", &mut phone)] {
            for i in 0..EDITS {
                d.store
                    .edit_case(&case, |doc, ctx| {
                        doc.add_agreement(
                            ctx,
                            &conv,
                            NewAgreement {
                                what: format!("taak {who}{round}.{i}"),
                                who: "wijkteam".into(),
                                due: None,
                            },
                        )
                    })
                    .expect("edit");
            }
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_micros(rng % 60_000);
        let killer = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            server.0.kill().expect("SIGKILL");
            server.0.wait().expect("reap");
            server
        });
        let (a, b) = tokio::join!(
            common::sync(addr, &mut tablet),
            common::sync(addr, &mut phone)
        );
        drop(killer.await.expect("killer"));
        let acked = accepted_heads(&a).len() + accepted_heads(&b).len();
        if acked < 2 {
            interrupted += 1;
        }
        acknowledged.extend(accepted_heads(&a));
        acknowledged.extend(accepted_heads(&b));
        server = common::start_binary(&db, addr, None).await;
    }
    eprintln!("{KILLS} kills, {interrupted} of them before both pushes were acknowledged");
    for _ in 0..2 {
        common::sync(addr, &mut tablet).await;
        common::sync(addr, &mut phone).await;
    }
    drop(server);

    let storage = SqliteStorage::open(&db).expect("reopen");
    assert!(storage.integrity_check().expect("check"));
    let stored = storage
        .case(&case)
        .expect("read")
        .expect("the case is on the server");
    for h in &acknowledged {
        assert!(
            stored.state_at(h).is_ok(),
            "an acknowledged change is missing after SIGKILL"
        );
    }
    for d in [&mut tablet, &mut phone] {
        assert_eq!(
            stored.case(),
            &d.store.case(&case).expect("case"),
            "device and server agree after recovery"
        );
    }
    assert_eq!(
        stored.case().conversations[&conv].agreements.len(),
        2 * EDITS * KILLS,
        "every edit of both devices arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_syncs_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("server.db");
    let codes = prepare(&db, 1);
    let addr = common::free_addr();
    let mut server = common::start_binary(&db, addr, None).await;
    let mut tablet = common::device(addr, dir.path(), "tablet", &codes[0]).await;
    common::sync(addr, &mut tablet).await;
    let mut ws = common::connect(addr, &tablet.credential)
        .await
        .expect("connect");
    ws.send(Message::Binary(
        ClientMessage::Hello {
            cursor: tablet.store.sync_cursor().expect("cursor"),
            lacking: vec![],
        }
        .encode()
        .into(),
    ))
    .await
    .expect("hello");
    assert!(matches!(
        common::next_message(&mut ws).await,
        Some(ServerMessage::UpToDate { .. })
    ));
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let stop = common::next_message(&mut ws).await;
    assert!(
        matches!(&stop, Some(ServerMessage::Stop { erase: false, reason }) if reason.contains("shutting down")),
        "{stop:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            assert!(status.success(), "clean exit: {status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_given_certificate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("dir");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).expect("write key");
    let addr = common::free_addr();
    let db = dir.path().join("server.db");
    let _server = common::Binary(
        Command::new(env!("CARGO_BIN_EXE_keukentafel-server"))
            .args([
                "--db",
                &db.display().to_string(),
                "serve",
                "--listen",
                &addr.to_string(),
            ])
            .args([
                "--tls-cert",
                &cert_pem.display().to_string(),
                "--tls-key",
                &key_pem.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server"),
    );
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.cert.der().clone())
        .expect("trust the test certificate");
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        assert!(Instant::now() < deadline, "no TLS answer");
        let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let Ok(mut tls) = connector.connect(name, tcp).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut out = String::new();
        tls.read_to_string(&mut out).await.ok();
        break out;
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""));
}
