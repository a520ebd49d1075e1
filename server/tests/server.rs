//! The real router on a real loopback port, with real device stores enrolling and syncing.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

mod common;

use common::{Device, Socket, next_message};
use futures_util::SinkExt;
use keukentafel_core::model::{
    CaseStatus, ClosureReason, HouseholdRole, Law, LifeDomain, Mandate, Money, NewCase,
    NewConversation, NewHouseholdMember, NewMember, NewParticipant, ParticipantKind,
    ProvisionCategory, Role, Timestamp,
};
use keukentafel_core::sync::ServerMessage;
use keukentafel_core::{MemberId, NotesEdit, WorkspaceId};
use keukentafel_server::{AppState, SqliteStorage, app, auth};
use time::macros::date;
use tokio_tungstenite::tungstenite::Message;

struct TestServer {
    addr: SocketAddr,
    db: std::path::PathBuf,
    workspace: WorkspaceId,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn start(dir: &Path) -> TestServer {
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
    let state = AppState::new(SqliteStorage::open(&db).expect("db"), stopped);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    TestServer {
        addr,
        db,
        workspace,
        _stop: stop,
    }
}

impl TestServer {
    fn admin(&self) -> SqliteStorage {
        SqliteStorage::open(&self.db).expect("admin connection")
    }

    fn add_member(&self, name: &str, role: Role) -> MemberId {
        let id = MemberId::random();
        self.admin()
            .edit_workspace(&self.workspace, None, |doc, author, now| {
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

    fn invite(&self, member: &MemberId, valid_ms: i64) -> String {
        let code = auth::new_enrolment_code().expect("code");
        self.admin()
            .add_enrolment(
                &auth::code_hash(&code),
                &self.workspace,
                member,
                Timestamp(Timestamp::now().0 + valid_ms),
            )
            .expect("invite");
        code
    }

    async fn enrol(&self, code: &str) -> reqwest::Response {
        common::enrol(self.addr, code).await
    }

    async fn device(&self, dir: &Path, name: &str, member: &MemberId) -> Device {
        common::device(self.addr, dir, name, &self.invite(member, 60_000)).await
    }

    async fn connect(
        &self,
        credential: &str,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        common::connect(self.addr, credential).await
    }

    /// One sync over a fresh connection; returns what the server said last (for Stop).
    async fn sync(&self, d: &mut Device) -> Option<ServerMessage> {
        common::sync(self.addr, d).await.pop()
    }
}

fn new_case(number: &str) -> NewCase {
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

fn conversation() -> NewConversation {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_enrol_sync_and_converge_through_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let piet = server.add_member("Piet", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    let mut laptop = server.device(dir.path(), "piet", &piet).await;
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;

    let case = phone.store.create_case(new_case("2026-1")).expect("case");
    phone
        .store
        .edit_case(&case, |doc, ctx| doc.assign(ctx, &piet))
        .expect("assign");
    let conv = phone
        .store
        .edit_case(&case, |doc, ctx| {
            doc.record_conversation(ctx, conversation())
        })
        .expect("conv");
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;
    assert_eq!(
        laptop.store.case(&case).expect("Piet has it").case_number,
        "2026-1"
    );

    phone
        .store
        .edit_case(&case, |doc, ctx| {
            doc.edit_notes(ctx, &conv, NotesEdit::Replace("Sanne schrijft.".into()))
        })
        .expect("notes");
    phone
        .store
        .edit_case(&case, |doc, ctx| doc.set_status(ctx, CaseStatus::Onderzoek))
        .expect("status");
    laptop
        .store
        .edit_case(&case, |doc, ctx| {
            doc.close(ctx, date!(2026 - 11 - 21), ClosureReason::Withdrawn)
        })
        .expect("close");
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;
    server.sync(&mut phone).await;
    let a = phone.store.case(&case).expect("case");
    let b = laptop.store.case(&case).expect("case");
    assert_eq!(a, b);
    assert_eq!(a.conversations[&conv].notes, "Sanne schrijft.");
    assert!(
        phone
            .store
            .conflicts(&case)
            .expect("conflicts")
            .iter()
            .any(|c| c.field == "status")
    );
    assert!(
        laptop
            .store
            .conflicts(&case)
            .expect("conflicts")
            .iter()
            .any(|c| c.field == "status")
    );

    let log = server.admin().access_log(case.as_str()).expect("log");
    assert!(
        log.iter()
            .any(|r| r.action == "change" && r.outcome == "accepted")
    );
    assert!(
        log.iter().any(|r| r.action == "sent document"
            && r.device.as_deref() == Some(laptop.device_id.as_str()))
    );

    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("keukentafel_changes_accepted_total"));
    let health = reqwest::get(format!("http://{}/health", server.addr))
        .await
        .expect("health");
    assert!(health.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_a_connected_device_within_a_second() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let lead = server.add_member("Fatima", Role::TeamLead);
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut tablet = server.device(dir.path(), "lead", &lead).await;
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    server.sync(&mut phone).await;

    // The team lead's tablet stays connected.
    let mut ws = server.connect(&tablet.credential).await.expect("connect");
    for m in tablet.store.sync_start().expect("start") {
        ws.send(Message::Binary(m.encode().into()))
            .await
            .expect("send");
    }
    loop {
        let msg = next_message(&mut ws).await.expect("answer");
        let step = tablet.store.sync_receive(&msg).expect("take in");
        for r in step.replies {
            ws.send(Message::Binary(r.encode().into()))
                .await
                .expect("ack");
        }
        if matches!(
            msg,
            ServerMessage::Updates { more: false, .. } | ServerMessage::UpToDate { .. }
        ) {
            break;
        }
    }
    let case = phone.store.create_case(new_case("2026-2")).expect("case");
    let pushed = std::time::Instant::now();
    server.sync(&mut phone).await;
    let msg = tokio::time::timeout(Duration::from_secs(1), next_message(&mut ws))
        .await
        .expect("within a second")
        .expect("message");
    let step = tablet.store.sync_receive(&msg).expect("take in");
    assert!(pushed.elapsed() < Duration::from_secs(2));
    assert!(!step.replies.is_empty());
    assert_eq!(
        tablet
            .store
            .case(&case)
            .expect("the lead sees it")
            .case_number,
        "2026-2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_credential_or_code_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    assert!(server.connect("").await.is_err(), "no credential");
    assert!(
        server.connect(&"ab".repeat(32)).await.is_err(),
        "unknown credential"
    );
    let code = server.invite(&sanne, 60_000);
    assert!(server.enrol(&code).await.status().is_success());
    let again = server.enrol(&code).await;
    assert_eq!(again.status(), 401, "a code works once");
    assert!(again.text().await.expect("body").contains("already used"));
    let expired = server.invite(&sanne, -1);
    let r = server.enrol(&expired).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("body").contains("expired"));
    assert_eq!(server.enrol("AAAA-BBBB-CCCC").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_stopped_mid_connection_and_erases_its_data() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    server.sync(&mut phone).await;
    phone.store.create_case(new_case("2026-3")).expect("case");
    server.sync(&mut phone).await;

    let mut ws = server.connect(&phone.credential).await.expect("connect");
    ws.send(Message::Binary(
        keukentafel_core::sync::ClientMessage::Hello {
            cursor: phone.store.sync_cursor().expect("cursor"),
            lacking: vec![],
        }
        .encode()
        .into(),
    ))
    .await
    .expect("hello");
    assert!(matches!(
        next_message(&mut ws).await,
        Some(ServerMessage::UpToDate { .. } | ServerMessage::Updates { .. })
    ));
    server
        .admin()
        .revoke(
            &keukentafel_core::DeviceId::parse(&phone.device_id).expect("id"),
            Timestamp::now(),
        )
        .expect("revoke");
    let stop = tokio::time::timeout(Duration::from_secs(2), next_message(&mut ws))
        .await
        .expect("stopped at once")
        .expect("message");
    assert!(
        matches!(stop, ServerMessage::Stop { erase: true, .. }),
        "{stop:?}"
    );
    let step = phone.store.sync_receive(&stop).expect("erase");
    assert!(step.erased);
    assert!(phone.store.my_cases().is_err() || phone.store.my_cases().expect("list").is_empty());
    assert!(
        phone.store.workspace().is_err(),
        "nothing of the team is left on the device"
    );

    let stop = server.sync(&mut phone).await;
    assert!(
        matches!(stop, Some(ServerMessage::Stop { erase: true, .. })),
        "a new connection is refused too: {stop:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_one_device_does_not_stall_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let piet = server.add_member("Piet", Role::Practitioner);
    let rogue = server.device(dir.path(), "rogue", &piet).await;
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    for frame in [
        vec![0xffu8; 10],
        vec![],
        vec![1u8, 1, 0xff, 0xff],
        vec![1u8; 70_000],
    ] {
        let mut ws = server.connect(&rogue.credential).await.expect("connect");
        ws.send(Message::Binary(frame.into())).await.expect("send");
        assert!(matches!(
            next_message(&mut ws).await,
            Some(ServerMessage::Stop { erase: false, .. })
        ));
    }
    let case = phone.store.create_case(new_case("2026-4")).expect("case");
    server.sync(&mut phone).await;
    let mut other = server
        .device(
            dir.path(),
            "lead",
            &server.add_member("Fatima", Role::TeamLead),
        )
        .await;
    server.sync(&mut other).await;
    assert!(other.store.case(&case).is_ok(), "the server kept serving");
    assert!(server.admin().integrity_check().expect("check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practitioner_never_receives_a_case_not_assigned_to_them() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let piet = server.add_member("Piet", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    let mut laptop = server.device(dir.path(), "piet", &piet).await;
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;
    let case = phone.store.create_case(new_case("2026-5")).expect("case");
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;
    assert!(laptop.store.case(&case).is_err());
    let log = server.admin().access_log(case.as_str()).expect("log");
    assert!(
        log.iter()
            .all(|r| r.device.as_deref() != Some(laptop.device_id.as_str())),
        "nothing of it went to Piet's device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_change_is_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    server.sync(&mut phone).await;
    let mut ws = server.connect(&phone.credential).await.expect("connect");
    let hello = keukentafel_core::sync::ClientMessage::Hello {
        cursor: phone.store.sync_cursor().expect("cursor"),
        lacking: vec![],
    };
    ws.send(Message::Binary(hello.encode().into()))
        .await
        .expect("hello");
    next_message(&mut ws).await.expect("answer");
    // A change chunk claiming a run of 2^40 values: it aborts a process that hands it to
    // Automerge 0.12 unchecked.
    let mut bomb = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 12];
    bomb.extend_from_slice(&[0, 16, 1, 1, 1, 1, 0, 0, 1, 0x01, 6, 0x80]);
    let push = keukentafel_core::sync::ClientMessage::Push {
        batch: 1,
        docs: vec![keukentafel_core::sync::DocChanges {
            doc: keukentafel_core::sync::DocRef::Case(keukentafel_core::CaseId::random()),
            changes: bomb,
        }],
    };
    ws.send(Message::Binary(push.encode().into()))
        .await
        .expect("push");
    let answer = next_message(&mut ws).await.expect("answer");
    assert!(
        matches!(answer, ServerMessage::Refused { .. }),
        "{answer:?}"
    );
    let case = phone.store.create_case(new_case("2026-8")).expect("case");
    assert!(
        matches!(
            server.sync(&mut phone).await,
            Some(ServerMessage::Accepted { .. })
        ),
        "the server still serves"
    );
    assert!(
        server
            .admin()
            .access_log(case.as_str())
            .expect("log")
            .iter()
            .any(|r| r.outcome == "accepted")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_another_workspace_sees_and_writes_nothing_here() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    server.sync(&mut phone).await;
    let case = phone.store.create_case(new_case("2026-9")).expect("case");
    server.sync(&mut phone).await;

    // A second team on the same server, with a team lead who sees all of *their* cases.
    let mut admin = server.admin();
    let (other_ws, _) = admin
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
    admin
        .edit_workspace(&other_ws, None, |doc, a, now| {
            doc.add_member(
                a,
                now,
                &lead,
                NewMember {
                    display_name: "Lead West".into(),
                    role: Role::TeamLead,
                    mandate: Mandate::default(),
                },
            )
        })
        .expect("lead");
    let code = auth::new_enrolment_code().expect("code");
    admin
        .add_enrolment(
            &auth::code_hash(&code),
            &other_ws,
            &lead,
            Timestamp(Timestamp::now().0 + 60_000),
        )
        .expect("invite");
    let mut stranger = common::device(server.addr, dir.path(), "west", &code).await;
    server.sync(&mut stranger).await;
    assert!(
        stranger.store.case(&case).is_err(),
        "nothing of another team arrives"
    );
    assert!(
        stranger
            .store
            .list_cases(&Default::default())
            .expect("list")
            .is_empty()
    );

    // Pushing into the other team's case is refused.
    let mut ws = server.connect(&stranger.credential).await.expect("connect");
    let hello = keukentafel_core::sync::ClientMessage::Hello {
        cursor: stranger.store.sync_cursor().expect("cursor"),
        lacking: vec![],
    };
    ws.send(Message::Binary(hello.encode().into()))
        .await
        .expect("hello");
    next_message(&mut ws).await.expect("answer");
    let theirs = phone.store.export_case(&case).expect("export");
    let push = keukentafel_core::sync::ClientMessage::Push {
        batch: 1,
        docs: vec![keukentafel_core::sync::DocChanges {
            doc: keukentafel_core::sync::DocRef::Case(case.clone()),
            changes: theirs,
        }],
    };
    ws.send(Message::Binary(push.encode().into()))
        .await
        .expect("push");
    assert!(matches!(
        next_message(&mut ws).await,
        Some(ServerMessage::Refused { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practitioner_cannot_write_into_a_case_not_assigned_to_them() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let piet = server.add_member("Piet", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    let mut laptop = server.device(dir.path(), "piet", &piet).await;
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;
    let case = phone.store.create_case(new_case("2026-10")).expect("case");
    phone
        .store
        .edit_case(&case, |doc, ctx| doc.assign(ctx, &piet))
        .expect("assign Piet");
    server.sync(&mut phone).await;
    server.sync(&mut laptop).await;
    phone
        .store
        .edit_case(&case, |doc, ctx| doc.unassign(ctx, &piet))
        .expect("take Piet off");
    server.sync(&mut phone).await;
    // Offline, Piet still works in the case he was taken off.
    laptop
        .store
        .edit_case(&case, |doc, ctx| {
            doc.set_aanvraag_date(ctx, date!(2026 - 11 - 10))
        })
        .expect("offline edit");
    server.sync(&mut laptop).await;
    let quarantine = laptop.store.quarantine().expect("quarantine");
    assert_eq!(quarantine.len(), 1, "refused and kept aside, not lost");
    assert!(
        quarantine[0].reason.contains("no longer"),
        "{}",
        quarantine[0].reason
    );
    assert!(!quarantine[0].changes.is_empty());
    assert!(
        laptop.store.case(&case).is_err(),
        "and the case left his device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_the_team_over_the_admin_api() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let admin_member = server.add_member("Beheer", Role::Admin);
    let admin = server.device(dir.path(), "admin", &admin_member).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let phone = server.device(dir.path(), "sanne", &sanne).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", server.addr);

    // Not without a credential, and not with a practitioner's.
    let r = http
        .get(url("/v1/admin/devices"))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 401);
    let r = http
        .get(url("/v1/admin/devices"))
        .bearer_auth(&phone.credential)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 403);

    let r = http
        .post(url("/v1/admin/members"))
        .bearer_auth(&admin.credential)
        .json(&serde_json::json!({ "display_name": "Piet", "role": "practitioner", "mandate": { "huishoudelijke_hulp": 2500 } }))
        .send()
        .await
        .expect("call");
    assert!(r.status().is_success(), "{}", r.status());
    let piet: serde_json::Value = r.json().await.expect("json");
    let piet = piet["member_id"].as_str().expect("id").to_owned();
    let r = http
        .post(url("/v1/admin/invites"))
        .bearer_auth(&admin.credential)
        .json(&serde_json::json!({ "member_id": piet, "valid_hours": 2 }))
        .send()
        .await
        .expect("call");
    let invite: serde_json::Value = r.json().await.expect("json");
    let code = invite["code"].as_str().expect("code").to_owned();
    let mut laptop = common::device(server.addr, dir.path(), "piet", &code).await;
    server.sync(&mut laptop).await;
    let ws = laptop.store.workspace().expect("workspace");
    let piet_id = MemberId::parse(&piet).expect("id");
    assert_eq!(
        ws.members[&piet_id]
            .mandate
            .limit(ProvisionCategory::HuishoudelijkeHulp),
        Some(Money::euros(2_500))
    );

    let devices: Vec<serde_json::Value> = http
        .get(url("/v1/admin/devices"))
        .bearer_auth(&admin.credential)
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    assert_eq!(devices.len(), 3);
    let r = http
        .post(url(&format!(
            "/v1/admin/devices/{}/revoke",
            laptop.device_id
        )))
        .bearer_auth(&admin.credential)
        .send()
        .await
        .expect("call");
    assert!(r.status().is_success());
    assert!(matches!(
        server.sync(&mut laptop).await,
        Some(ServerMessage::Stop { erase: true, .. })
    ));

    // What the rulebook refuses is a clear error, and nothing is stored.
    let r = http
        .post(url("/v1/admin/members"))
        .bearer_auth(&admin.credential)
        .json(&serde_json::json!({ "display_name": "", "role": "practitioner" }))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 422, "the rulebook's refusal is a clear error");
    for euros in [i64::MAX, -1] {
        let r = http
            .post(url("/v1/admin/members"))
            .bearer_auth(&admin.credential)
            .json(&serde_json::json!({ "display_name": "Piet", "role": "practitioner", "mandate": { "huishoudelijke_hulp": euros } }))
            .send()
            .await
            .expect("call");
        assert_eq!(
            r.status(),
            400,
            "a mandate of {euros} euros is a bad request"
        );
    }
    let r = http
        .get(url(&format!(
            "/v1/admin/access-log/{}",
            keukentafel_core::CaseId::random()
        )))
        .bearer_auth(&admin.credential)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_for_a_member_who_left_enrols_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let code = server.invite(&sanne, 60_000);
    server
        .admin()
        .edit_workspace(&server.workspace, None, |doc, a, now| {
            doc.deactivate_member(a, now, &sanne)
        })
        .expect("Sanne leaves");
    let r = server.enrol(&code).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("body").contains("no longer active"));
}
