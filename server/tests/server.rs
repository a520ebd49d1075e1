//! The real router on a real loopback port, with real device stores enrolling and syncing.

//! Attacks on it are in `attacks.rs`.

use std::time::Duration;

mod common;

use common::{conversation, new_case, next_message};
use futures_util::SinkExt;
use keukentafel_core::model::{CaseStatus, ClosureReason, Money, ProvisionCategory, Role};
use keukentafel_core::sync::ServerMessage;
use keukentafel_core::{MemberId, NotesEdit};
use time::macros::date;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_enrol_sync_and_converge_through_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start(dir.path()).await;
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
    let server = common::start(dir.path()).await;
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
async fn an_admin_manages_the_team_over_the_admin_api() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start(dir.path()).await;
    let admin_member = server.add_member("Beheer", Role::Admin);
    let admin = server.device(dir.path(), "admin", &admin_member).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let _phone = server.device(dir.path(), "sanne", &sanne).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", server.addr);

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
