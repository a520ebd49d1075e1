//! The attack catalogue: each test is named after what an attacker tries against the real
//! router on a real loopback port, and asserts what the server does about it. Timeouts and
//! limits are shortened through `ServerConfig` so the whole file runs in seconds.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::{Device, Socket, TestServer, new_case, next_message};
use futures_util::{SinkExt, StreamExt};
use keukentafel_core::model::{Role, Timestamp};
use keukentafel_core::sync::{
    ClientMessage, DocChanges, DocRef, EnrolResponse, ServerMessage, ServerStorage,
};
use keukentafel_core::{CaseId, DeviceId, DeviceStore, MemberId, StoreKey};
use keukentafel_server::{ServerConfig, SqliteStorage};
use reqwest::header::HeaderValue;
use time::macros::date;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// A failure limit high enough for tests that fail on purpose, and timeouts short enough
/// to see a hostile connection dropped yet long enough for a slow machine.
fn quick() -> ServerConfig {
    ServerConfig {
        max_failures_per_client: 10_000,
        header_read_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    }
}

/// Timeouts for the slow-drip attacks on HTTP: a byte every [`DRIP`] outlasts each of them.
fn impatient() -> ServerConfig {
    ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(300),
        ..quick()
    }
}

/// Sync connections closed after a second without a message; requests as patient as
/// ever, for the enrolments and syncs around.
fn idle_in_a_second() -> ServerConfig {
    ServerConfig {
        idle_timeout: Duration::from_secs(1),
        ..quick()
    }
}

/// How often a slow-drip attacker sends a byte.
const DRIP: Duration = Duration::from_millis(50);

/// A team on a server: an admin's tablet, Sanne's phone with a synced case, and what none
/// of it may ever show to a stranger.
struct Team {
    server: TestServer,
    admin: Device,
    phone: Device,
    sanne: MemberId,
    case: CaseId,
    secrets: Vec<String>,
}

async fn team(dir: &Path, config: ServerConfig) -> Team {
    let server = common::start_with(dir, config, None).await;
    let admin_member = server.add_member("Marloes Visscher", Role::Admin);
    let admin = server.device(dir, "admin", &admin_member).await;
    let sanne = server.add_member("Sanne de Vries", Role::Practitioner);
    let mut phone = server.device(dir, "sanne", &sanne).await;
    server.sync(&mut phone).await;
    let case = phone
        .store
        .create_case(new_case("WMO-2026-77341"))
        .expect("case");
    server.sync(&mut phone).await;
    let secrets = vec![
        "Marloes Visscher".to_owned(),
        "Sanne de Vries".to_owned(),
        "WMO-2026-77341".to_owned(),
        "Bewoner".to_owned(),
        server.workspace.to_string(),
        sanne.to_string(),
        admin_member.to_string(),
        case.to_string(),
        phone.device_id.clone(),
        admin.device_id.clone(),
    ];
    Team {
        server,
        admin,
        phone,
        sanne,
        case,
        secrets,
    }
}

impl Team {
    fn members(&self) -> usize {
        self.server
            .admin()
            .workspace_state(&self.server.workspace)
            .expect("read")
            .expect("workspace")
            .members
            .len()
    }

    fn revoked(&self, device: &str) -> bool {
        self.server
            .admin()
            .device(&DeviceId::parse(device).expect("id"))
            .expect("read")
            .expect("device")
            .revoked_at
            .is_some()
    }
}

/// A refusal shows a reason and nothing else: no ids, names or case contents.
fn assert_bare_refusal(what: &str, body: &str, secrets: &[String]) {
    let json: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("{what}: the refusal is a JSON error: {body}"));
    let object = json.as_object().expect("an object");
    assert!(
        object.len() == 1 && object["error"].is_string(),
        "{what}: only an error reason: {body}"
    );
    for s in secrets {
        assert!(!body.contains(s.as_str()), "{what}: {body} shows {s}");
    }
}

/// The Authorization header a call carries, if any.
type Credential = Option<HeaderValue>;

fn bearer(credential: &str) -> Credential {
    Some(format!("Bearer {credential}").parse().expect("header"))
}

/// Opens the sync WebSocket with the given Authorization header.
async fn open_sync(
    addr: SocketAddr,
    credential: &Credential,
) -> Result<Socket, tungstenite::Error> {
    let mut req = format!("ws://{addr}/v1/sync")
        .into_client_request()
        .expect("request");
    if let Some(h) = credential {
        req.headers_mut().insert("authorization", h.clone());
    }
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

/// Calls every authenticated endpoint with `credential` (the sync WebSocket too, with
/// `sync`); returns per endpoint the status and body of the answer.
async fn call_every_endpoint(
    t: &Team,
    credential: &Credential,
    sync: bool,
) -> Vec<(String, u16, String)> {
    let http = reqwest::Client::new();
    let with = |r: reqwest::RequestBuilder| match credential {
        Some(h) => r.header("authorization", h.clone()),
        None => r,
    };
    let url = |p: &str| t.server.url(p);
    let calls = [
        (
            "add member",
            with(http.post(url("/v1/admin/members")))
                .json(&serde_json::json!({ "display_name": "Indringer", "role": "admin" })),
        ),
        (
            "invite",
            with(http.post(url("/v1/admin/invites")))
                .json(&serde_json::json!({ "member_id": t.sanne })),
        ),
        ("devices", with(http.get(url("/v1/admin/devices")))),
        (
            "revoke",
            with(http.post(url(&format!(
                "/v1/admin/devices/{}/revoke",
                t.phone.device_id
            )))),
        ),
        (
            "access log",
            with(http.get(url(&format!("/v1/admin/access-log/{}", t.case)))),
        ),
    ];
    let mut answers = Vec::new();
    for (name, call) in calls {
        let r = call.send().await.expect("call");
        let status = r.status().as_u16();
        answers.push((name.to_owned(), status, r.text().await.expect("body")));
    }
    if !sync {
        return answers;
    }
    let r = with(http.get(url("/v1/sync"))).send().await.expect("call");
    let status = r.status().as_u16();
    answers.push((
        "sync without upgrade".to_owned(),
        status,
        r.text().await.expect("body"),
    ));
    match open_sync(t.server.addr, credential).await {
        Err(tungstenite::Error::Http(r)) => answers.push((
            "sync".to_owned(),
            r.status().as_u16(),
            String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("sync: {e}"),
        Ok(mut ws) => {
            // Only a revoked device gets through the upgrade, to be told to erase.
            let first = next_message(&mut ws).await;
            assert!(
                matches!(first, Some(ServerMessage::Stop { erase: true, .. })),
                "sync: {first:?}"
            );
            assert!(next_message(&mut ws).await.is_none(), "and nothing else");
            answers.push(("sync".to_owned(), 101, String::new()));
        }
    }
    answers
}

/// Every endpoint refuses the call with `status`, shows nothing, and changes nothing.
async fn assert_every_endpoint_refuses(t: &Team, credential: Credential, status: u16) {
    let members = t.members();
    for (name, got, body) in call_every_endpoint(t, &credential, true).await {
        if name == "sync" && got == 101 {
            continue;
        }
        assert_eq!(got, status, "{name}: {body}");
        assert_bare_refusal(&name, &body, &t.secrets);
    }
    assert_eq!(t.members(), members, "no member was added");
    assert!(!t.revoked(&t.phone.device_id), "no device was revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_credential_are_refused_on_every_endpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    assert_every_endpoint_refuses(&t, None, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_with_a_malformed_authorization_header_are_refused_on_every_endpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let user_pass = format!("Basic {}", t.admin.credential);
    let no_space = format!("Bearer{}", t.admin.credential);
    let malformed = [
        "Bearer".as_bytes(),
        b"Bearer ",
        user_pass.as_bytes(),
        no_space.as_bytes(),
        b"Bearer \xff\xfe\x80",
        b"Bearer ' OR '1'='1",
    ];
    for header in malformed {
        let header = HeaderValue::from_bytes(header).expect("a header value");
        assert_every_endpoint_refuses(&t, Some(header), 401).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_with_an_unknown_credential_are_refused_on_every_endpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let mut near = t.admin.credential.clone();
    near.replace_range(0..1, if near.starts_with('0') { "1" } else { "0" });
    for credential in [near, "ab".repeat(32), String::new()] {
        assert_every_endpoint_refuses(&t, bearer(&credential), 401).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_with_a_revoked_admin_devices_credential_are_refused_on_every_endpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    t.server
        .admin()
        .revoke(
            &DeviceId::parse(&t.admin.device_id).expect("id"),
            Timestamp::now(),
        )
        .expect("revoke");
    assert_every_endpoint_refuses(&t, bearer(&t.admin.credential), 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practitioners_credential_is_refused_on_every_admin_endpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let members = t.members();
    for (name, status, body) in call_every_endpoint(&t, &bearer(&t.phone.credential), false).await {
        assert_eq!(status, 403, "{name}: {body}");
        assert_bare_refusal(&name, &body, &t.secrets);
    }
    assert_eq!(t.members(), members);
    assert!(!t.revoked(&t.phone.device_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_with_a_missing_unknown_or_malformed_code_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let http = reqwest::Client::new();
    let url = t.server.url("/v1/enrol");
    let bodies = [
        (
            401,
            serde_json::json!({ "code": "AAAA-BBBB-CCCC", "label": "x" }),
        ),
        (401, serde_json::json!({ "code": "", "label": "x" })),
        (
            401,
            serde_json::json!({ "code": "' OR 1=1 --", "label": "x" }),
        ),
        (
            400,
            serde_json::json!({ "code": "A".repeat(65), "label": "x" }),
        ),
        (400, serde_json::json!({ "label": "x" })),
        (400, serde_json::json!({ "code": 7, "label": "x" })),
        (400, serde_json::json!(["AAAA-BBBB-CCCC"])),
    ];
    for (status, body) in bodies {
        let r = http.post(&url).json(&body).send().await.expect("call");
        assert_eq!(r.status(), status, "{body}");
        assert_bare_refusal("enrol", &r.text().await.expect("body"), &t.secrets);
    }
    for raw in ["", "{", "code=AAAA-BBBB-CCCC"] {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("call");
        assert_eq!(r.status(), 400, "{raw}");
        assert_bare_refusal("enrol", &r.text().await.expect("body"), &t.secrets);
    }
    let r = http.post(&url).body("{}").send().await.expect("call");
    assert_eq!(r.status(), 400, "no JSON content type");
    assert_eq!(
        t.server
            .admin()
            .devices(&t.server.workspace)
            .expect("list")
            .len(),
        2,
        "no device was enrolled"
    );
}

/// Says hello for `d` and takes in the server's answer to it.
async fn hello(ws: &mut Socket, d: &mut Device) {
    let hello = ClientMessage::Hello {
        cursor: d.store.sync_cursor().expect("cursor"),
        lacking: vec![],
    };
    ws.send(Message::Binary(hello.encode().into()))
        .await
        .expect("hello");
    loop {
        match next_message(ws).await.expect("answer") {
            ServerMessage::Updates { more: true, .. } => continue,
            ServerMessage::Updates { .. } | ServerMessage::UpToDate { .. } => return,
            other => panic!("{other:?}"),
        }
    }
}

/// Pushes `changes` for `doc` over `d`'s own connection; returns the server's answer.
async fn push(addr: SocketAddr, d: &mut Device, doc: DocRef, changes: Vec<u8>) -> ServerMessage {
    let mut ws = common::connect(addr, &d.credential).await.expect("connect");
    hello(&mut ws, d).await;
    let push = ClientMessage::Push {
        batch: 1,
        docs: vec![DocChanges { doc, changes }],
    };
    ws.send(Message::Binary(push.encode().into()))
        .await
        .expect("push");
    next_message(&mut ws).await.expect("answer")
}

fn assert_refused(answer: &ServerMessage, reason: &str) {
    assert!(
        matches!(answer, ServerMessage::Refused { reason: r, .. } if r.contains(reason)),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_stopped_mid_connection_and_erases_its_data() {
    let dir = tempfile::tempdir().expect("dir");
    // The default idle timeout: the connection waits for the revocation, silent.
    let server = common::start(dir.path()).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    server.sync(&mut phone).await;
    phone.store.create_case(new_case("2026-3")).expect("case");
    server.sync(&mut phone).await;

    let mut ws = server.connect(&phone.credential).await.expect("connect");
    hello(&mut ws, &mut phone).await;
    server
        .admin()
        .revoke(
            &DeviceId::parse(&phone.device_id).expect("id"),
            Timestamp::now(),
        )
        .expect("revoke");
    let stop = next_message(&mut ws).await.expect("message");
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

/// A second team on the same server: its team lead's and its admin's devices.
async fn other_team(t: &Team, dir: &Path) -> (Device, Device) {
    let mut storage = t.server.admin();
    let (west, _) = storage
        .create_workspace(
            "Wijkteam West",
            "West",
            keukentafel_core::model::NewMember {
                display_name: "Ad".into(),
                role: Role::Admin,
                mandate: Default::default(),
            },
        )
        .expect("workspace");
    let lead = common::add_member(&mut storage, &west, "Lead West", Role::TeamLead);
    let admin = common::add_member(&mut storage, &west, "Admin West", Role::Admin);
    let lead_code = common::invite(&mut storage, &west, &lead, 60_000);
    let admin_code = common::invite(&mut storage, &west, &admin, 60_000);
    let mut lead = common::device(t.server.addr, dir, "west-lead", &lead_code).await;
    t.server.sync(&mut lead).await;
    let admin = common::device(t.server.addr, dir, "west-admin", &admin_code).await;
    (lead, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_another_workspace_reads_nothing_here() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let (mut stranger, _) = other_team(&t, dir.path()).await;
    let seen = common::sync(t.server.addr, &mut stranger).await;
    assert!(
        stranger.store.case(&t.case).is_err(),
        "the case did not arrive"
    );
    assert!(
        stranger
            .store
            .list_cases(&Default::default())
            .expect("list")
            .is_empty()
    );
    let names =
        serde_json::to_string(stranger.store.workspace().expect("their own team")).expect("json");
    assert!(!names.contains("Sanne de Vries") && !names.contains("Marloes Visscher"));
    assert!(
        !format!("{seen:?}").contains(t.case.as_str()),
        "the case is not even named"
    );
    let log = t.server.admin().access_log(t.case.as_str()).expect("log");
    assert!(
        log.iter()
            .all(|r| r.device.as_deref() != Some(stranger.device_id.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_another_workspace_writes_nothing_here() {
    let dir = tempfile::tempdir().expect("dir");
    let mut t = team(dir.path(), quick()).await;
    let (mut stranger, _) = other_team(&t, dir.path()).await;
    let before = t
        .server
        .admin()
        .case(&t.case)
        .expect("read")
        .expect("case")
        .heads();
    // The team's own case, as their device holds it, pushed in by the stranger.
    let theirs = t.phone.store.export_case(&t.case).expect("export");
    let answer = push(
        t.server.addr,
        &mut stranger,
        DocRef::Case(t.case.clone()),
        theirs,
    )
    .await;
    assert_refused(&answer, "not allowed");
    // And their workspace document, named by its id.
    let ws_doc = DocRef::Workspace(t.server.workspace.clone());
    let answer = push(
        t.server.addr,
        &mut stranger,
        ws_doc,
        vec![0x85, 0x6f, 0x4a, 0x83],
    )
    .await;
    assert!(
        matches!(answer, ServerMessage::Refused { .. }),
        "{answer:?}"
    );
    assert_eq!(
        t.server
            .admin()
            .case(&t.case)
            .expect("read")
            .expect("case")
            .heads(),
        before,
        "nothing was stored"
    );
    assert_eq!(t.members(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_another_workspace_cannot_touch_this_one() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let (_, west_admin) = other_team(&t, dir.path()).await;
    let http = reqwest::Client::new();
    let cred = west_admin.credential.as_str();
    let r = http
        .post(
            t.server
                .url(&format!("/v1/admin/devices/{}/revoke", t.phone.device_id)),
        )
        .bearer_auth(cred)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 404);
    assert_bare_refusal("revoke", &r.text().await.expect("body"), &t.secrets);
    let r = http
        .get(t.server.url(&format!("/v1/admin/access-log/{}", t.case)))
        .bearer_auth(cred)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 404);
    assert_bare_refusal("access log", &r.text().await.expect("body"), &t.secrets);
    let r = http
        .post(t.server.url("/v1/admin/invites"))
        .bearer_auth(cred)
        .json(&serde_json::json!({ "member_id": t.sanne }))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 404, "no code for a member of another team");
    assert_bare_refusal("invite", &r.text().await.expect("body"), &t.secrets);
    let devices = http
        .get(t.server.url("/v1/admin/devices"))
        .bearer_auth(cred)
        .send()
        .await
        .expect("call")
        .text()
        .await
        .expect("body");
    for s in &t.secrets {
        assert!(!devices.contains(s.as_str()), "{devices} shows {s}");
    }
    let members = t.members();
    let r = http
        .post(t.server.url("/v1/admin/members"))
        .bearer_auth(cred)
        .json(&serde_json::json!({ "display_name": "Indringer", "role": "admin" }))
        .send()
        .await
        .expect("call");
    assert!(r.status().is_success(), "added to their own team");
    assert_eq!(t.members(), members, "not to this one");
    assert!(!t.revoked(&t.phone.device_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practitioner_never_receives_a_case_not_assigned_to_them() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let piet = t.server.add_member("Piet", Role::Practitioner);
    let mut laptop = t.server.device(dir.path(), "piet", &piet).await;
    let seen = common::sync(t.server.addr, &mut laptop).await;
    assert!(laptop.store.case(&t.case).is_err());
    assert!(!format!("{seen:?}").contains(t.case.as_str()));
    let log = t.server.admin().access_log(t.case.as_str()).expect("log");
    assert!(
        log.iter()
            .all(|r| r.device.as_deref() != Some(laptop.device_id.as_str())),
        "nothing of it went to Piet's device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practitioner_cannot_write_into_a_case_not_assigned_to_them() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), quick(), None).await;
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
    assert!(
        laptop.store.case(&case).is_err(),
        "and the case left his device"
    );
    let stored = server.admin().case(&case).expect("read").expect("case");
    assert_eq!(stored.case().aanvraag_date, None, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_carrying_another_devices_actor_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let piet = t.server.add_member("Piet", Role::Practitioner);
    let mut laptop = t.server.device(dir.path(), "piet", &piet).await;
    t.server.sync(&mut laptop).await;
    let mut phone = t.phone;
    // Sanne's new case, not yet synced, pushed by Piet's device as if it were his.
    let case = phone.store.create_case(new_case("2026-11")).expect("case");
    let hers = phone.store.export_case(&case).expect("export");
    let answer = push(t.server.addr, &mut laptop, DocRef::Case(case.clone()), hers).await;
    assert_refused(&answer, "another device");
    assert!(t.server.admin().case(&case).expect("read").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_changes_name_another_member_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let piet = t.server.add_member("Piet", Role::Practitioner);
    let code = t.server.invite(&piet, 60_000);
    let enrolled: EnrolResponse = common::enrol(t.server.addr, &code)
        .await
        .json()
        .await
        .expect("enrolled");
    // Piet's device id and credential, with a store that believes it is Sanne's member:
    // its changes carry his actor and name her.
    let mut forged = DeviceStore::open(
        &dir.path().join("forged.db"),
        &StoreKey::from_bytes([9; 32]),
    )
    .expect("store");
    forged
        .enrol(
            &t.server.url(""),
            &EnrolResponse {
                member_id: t.sanne.to_string(),
                ..enrolled.clone()
            },
        )
        .expect("join");
    let mut forger = Device {
        store: forged,
        credential: enrolled.credential,
        device_id: enrolled.device_id,
    };
    let case = forger.store.create_case(new_case("2026-12")).expect("case");
    let changes = forger.store.export_case(&case).expect("export");
    let answer = push(
        t.server.addr,
        &mut forger,
        DocRef::Case(case.clone()),
        changes,
    )
    .await;
    assert_refused(&answer, "another device or member");
    assert!(t.server.admin().case(&case).expect("read").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_enrolment_code_is_refused_the_second_time() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let code = t.server.invite(&t.sanne, 60_000);
    assert!(t.server.enrol(&code).await.status().is_success());
    // Retyped in lower case and without dashes, it is the same code.
    for again in [code.clone(), code.replace('-', "").to_lowercase()] {
        let r = t.server.enrol(&again).await;
        assert_eq!(r.status(), 401, "a code works once");
        let body = r.text().await.expect("body");
        assert!(body.contains("already used"), "{body}");
        assert_bare_refusal("enrol", &body, &t.secrets);
    }
    assert_eq!(
        t.server
            .admin()
            .devices(&t.server.workspace)
            .expect("list")
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolments_racing_on_one_code_enrol_one_device() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let code = t.server.invite(&t.sanne, 60_000);
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (addr, code) = (t.server.addr, code.clone());
            tokio::spawn(async move { common::enrol(addr, &code).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.expect("racer"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401, 401, 401, 401, 401]);
    assert_eq!(
        t.server
            .admin()
            .devices(&t.server.workspace)
            .expect("list")
            .len(),
        3,
        "one device more, not eight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_enrolment_code_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let expired = t.server.invite(&t.sanne, -1);
    let r = t.server.enrol(&expired).await;
    assert_eq!(r.status(), 401);
    let body = r.text().await.expect("body");
    assert!(body.contains("expired"), "{body}");
    assert_bare_refusal("enrol", &body, &t.secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_for_a_member_who_left_enrols_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let piet = t.server.add_member("Piet", Role::Practitioner);
    let code = t.server.invite(&piet, 60_000);
    t.server
        .admin()
        .edit_workspace(&t.server.workspace, None, |doc, a, now| {
            doc.deactivate_member(a, now, &piet)
        })
        .expect("Piet leaves");
    let r = t.server.enrol(&code).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("body").contains("no longer active"));
}

/// The server's count of sync bytes received, from `/metrics`.
async fn bytes_in(server: &TestServer) -> u64 {
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("keukentafel_bytes_in_total "))
        .expect("counter")
        .parse()
        .expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_16_mib_is_dropped_unread_and_others_are_served() {
    let dir = tempfile::tempdir().expect("dir");
    let mut t = team(dir.path(), quick()).await;
    let mut ws = t
        .server
        .connect(&t.admin.credential)
        .await
        .expect("connect");
    let huge = vec![1u8; keukentafel_core::sync::wire::MAX_FRAME_BYTES + 1];
    // The server may cut the connection while the frame is still going out.
    let _ = ws.send(Message::Binary(huge.into())).await;
    assert_eq!(next_message(&mut ws).await, None, "the connection ends");
    assert!(
        bytes_in(&t.server).await < 1024 * 1024,
        "the frame was refused by its header, not read"
    );
    let case = t
        .phone
        .store
        .create_case(new_case("2026-13"))
        .expect("case");
    t.server.sync(&mut t.phone).await;
    assert!(t.server.admin().case(&case).expect("read").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_over_the_changes_limit_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let mut t = team(dir.path(), quick()).await;
    let case = CaseId::random();
    let over = keukentafel_core::Limits::default().max_changes_bytes + 1;
    let answer = push(
        t.server.addr,
        &mut t.phone,
        DocRef::Case(case.clone()),
        vec![0u8; over],
    )
    .await;
    assert_refused(&answer, "exceeds the limit");
    assert!(t.server.admin().case(&case).expect("read").is_none());
    assert!(t.server.admin().integrity_check().expect("check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_from_one_device_do_not_stall_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    let mut t = team(dir.path(), quick()).await;
    for frame in [
        vec![0xffu8; 10],
        vec![],
        vec![1u8, 1, 0xff, 0xff],
        vec![1u8; 70_000],
    ] {
        let mut ws = t
            .server
            .connect(&t.admin.credential)
            .await
            .expect("connect");
        ws.send(Message::Binary(frame.into())).await.expect("send");
        assert!(matches!(
            next_message(&mut ws).await,
            Some(ServerMessage::Stop { erase: false, .. })
        ));
    }
    let case = t.phone.store.create_case(new_case("2026-4")).expect("case");
    t.server.sync(&mut t.phone).await;
    let lead = t.server.add_member("Fatima", Role::TeamLead);
    let mut tablet = t.server.device(dir.path(), "lead", &lead).await;
    t.server.sync(&mut tablet).await;
    assert!(tablet.store.case(&case).is_ok(), "the server kept serving");
    assert!(t.server.admin().integrity_check().expect("check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_in_a_push_is_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("dir");
    let mut t = team(dir.path(), quick()).await;
    // A change chunk claiming a run of 2^40 values: it aborts a process that hands it to
    // Automerge 0.12 unchecked.
    let mut bomb = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 12];
    bomb.extend_from_slice(&[0, 16, 1, 1, 1, 1, 0, 0, 1, 0x01, 6, 0x80]);
    let answer = push(
        t.server.addr,
        &mut t.phone,
        DocRef::Case(CaseId::random()),
        bomb,
    )
    .await;
    assert!(
        matches!(answer, ServerMessage::Refused { .. }),
        "{answer:?}"
    );
    let case = t.phone.store.create_case(new_case("2026-8")).expect("case");
    assert!(
        matches!(
            t.server.sync(&mut t.phone).await,
            Some(ServerMessage::Accepted { .. })
        ),
        "the server still serves"
    );
    assert!(t.server.admin().case(&case).expect("read").is_some());
}

/// Sends `bytes` one at a time, [`DRIP`] apart, until the server answers or hangs up.
/// Returns how many bytes went out and what came back.
async fn dribble(stream: impl AsyncRead + AsyncWrite, bytes: &[u8]) -> (usize, String) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; 4096];
    for (i, b) in bytes.iter().enumerate() {
        if wr.write_all(&[*b]).await.is_err() || wr.flush().await.is_err() {
            return (i, String::new());
        }
        tokio::select! {
            n = rd.read(&mut buf) => {
                let n = n.unwrap_or(0);
                return (i + 1, String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            _ = tokio::time::sleep(DRIP) => {}
        }
    }
    let n = tokio::time::timeout(Duration::from_secs(5), rd.read(&mut buf))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    (bytes.len(), String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A request head that takes 200 drips to send whole.
fn slow_head() -> Vec<u8> {
    format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(160)
    )
    .into_bytes()
}

async fn health(server: &TestServer) -> bool {
    reqwest::get(server.url("/health"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_dribbled_byte_by_byte_are_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), impatient(), None).await;
    let head = slow_head();
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let slow = tokio::spawn(async move { dribble(tcp, &slow_head()).await });
    assert!(health(&server).await, "others are served meanwhile");
    let (sent, answer) = slow.await.expect("dribble");
    assert!(
        sent < head.len(),
        "cut off after {sent} of {} bytes",
        head.len()
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(health(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_a_request_is_closed() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), impatient(), None).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("the server hangs up");
    assert_eq!(read.unwrap_or(0), 0, "without answering");
    assert!(health(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_left_idle_after_a_request_is_closed() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), impatient(), None).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("\"ok\"") {
        let n = tcp.read(&mut buf).await.expect("answer");
        assert!(n > 0, "answered before closing");
        answer.extend_from_slice(&buf[..n]);
    }
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("the server hangs up on the idle connection");
    assert_eq!(read.unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_dribbled_over_tls_are_cut_off() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("dir");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        cert.cert.pem().into_bytes(),
        cert.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .expect("tls config");
    let server = common::start_with(dir.path(), impatient(), Some(tls)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("trust");
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        connector
            .connect(name.clone(), tcp)
            .await
            .expect("handshake")
    };
    let mut fast = connect().await;
    fast.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    fast.read_to_string(&mut answer).await.ok();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = slow_head();
    let (sent, answer) = dribble(connect().await, &head).await;
    assert!(
        sent < head.len(),
        "cut off after {sent} of {} bytes",
        head.len()
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_dribbled_byte_by_byte_is_answered_with_408() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), impatient(), None).await;
    let body = format!(
        r#"{{"code":"AAAA-BBBB-CCCC","label":"{}"}}"#,
        "x".repeat(160)
    );
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(
        format!(
            "POST /v1/enrol HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("head");
    let (sent, answer) = dribble(tcp, body.as_bytes()).await;
    assert!(
        sent < body.len(),
        "cut off after {sent} of {} bytes",
        body.len()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(health(&server).await);
}

/// Opens the sync WebSocket by hand, for sending raw bytes after the upgrade.
async fn raw_sync(addr: SocketAddr, credential: &str) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(
        format!(
            "GET /v1/sync HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {credential}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        tcp.read_exact(&mut byte).await.expect("answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_frame_dribbled_byte_by_byte_is_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), idle_in_a_second(), None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    let tcp = raw_sync(server.addr, &phone.credential).await;
    // A masked binary frame of 200 bytes.
    let mut frame = vec![0x82, 0x80 | 126, 0, 200, 1, 2, 3, 4];
    frame.extend(std::iter::repeat_n(0u8, 200));
    let slow = tokio::spawn(async move { dribble(tcp, &frame).await });
    assert!(
        !common::sync(server.addr, &mut phone).await.is_empty(),
        "the same device syncs meanwhile over another connection"
    );
    let (sent, _) = slow.await.expect("dribble");
    assert!(sent < 208, "cut off after {sent} of 208 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_connection_that_goes_silent_is_closed_and_one_that_pings_is_not() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), idle_in_a_second(), None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let mut phone = server.device(dir.path(), "sanne", &sanne).await;
    let mut ws = server.connect(&phone.credential).await.expect("connect");
    // Pinging for three idle timeouts keeps it open.
    for _ in 0..30 {
        ws.send(Message::Ping(Vec::new().into()))
            .await
            .expect("ping");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hello(&mut ws, &mut phone).await;
    // Silence ends it.
    assert_eq!(next_message(&mut ws).await, None, "closed when silent");
    assert_eq!(server.state.connected_devices(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sync_connections_from_one_device_gets_429() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerConfig {
        max_connections_per_device: 2,
        ..ServerConfig::default()
    };
    let server = common::start_with(dir.path(), config, None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let piet = server.add_member("Piet", Role::Practitioner);
    let phone = server.device(dir.path(), "sanne", &sanne).await;
    let mut laptop = server.device(dir.path(), "piet", &piet).await;
    let mut first = server.connect(&phone.credential).await.expect("first");
    let _second = server.connect(&phone.credential).await.expect("second");
    for _ in 0..5 {
        match server.connect(&phone.credential).await {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
            other => panic!("a third connection: {:?}", other.map(|_| "open")),
        }
    }
    assert!(
        !common::sync(server.addr, &mut laptop).await.is_empty(),
        "another device is served"
    );
    first.close(None).await.expect("close");
    while let Some(Ok(_)) = first.next().await {}
    let mut reopened = false;
    for _ in 0..100 {
        if server.connect(&phone.credential).await.is_ok() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed connection frees its place");
}

/// A client that connects from `ip` (any 127.x address reaches the loopback server).
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()
        .expect("client")
}

async fn enrol_from(client: &reqwest::Client, server: &TestServer, code: &str) -> u16 {
    client
        .post(server.url("/v1/enrol"))
        .json(&serde_json::json!({ "code": code, "label": "telefoon" }))
        .send()
        .await
        .expect("call")
        .status()
        .as_u16()
}

fn limited() -> ServerConfig {
    ServerConfig {
        max_failures_per_client: 5,
        ..quick()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_enrolment_codes_from_one_address_gets_429() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), limited(), None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let guesser = client_from(Ipv4Addr::LOCALHOST);
    for i in 0..5 {
        assert_eq!(
            enrol_from(&guesser, &server, &format!("AAAA-BBBB-CCC{i}")).await,
            401
        );
    }
    let code = server.invite(&sanne, 60_000);
    assert_eq!(
        enrol_from(&guesser, &server, &code).await,
        429,
        "not even a right code is tried from there"
    );
    let r = guesser
        .post(server.url("/v1/enrol"))
        .json(&serde_json::json!({ "code": code, "label": "telefoon" }))
        .send()
        .await
        .expect("call");
    assert_bare_refusal(
        "enrol",
        &r.text().await.expect("body"),
        std::slice::from_ref(&code),
    );
    assert_eq!(
        enrol_from(&client_from(Ipv4Addr::new(127, 0, 0, 2)), &server, &code).await,
        200,
        "another address is served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_credentials_from_one_address_gets_429() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), limited(), None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let phone = server.device(dir.path(), "sanne", &sanne).await;
    let guesser = client_from(Ipv4Addr::LOCALHOST);
    for i in 0..5 {
        let r = guesser
            .get(server.url("/v1/admin/devices"))
            .bearer_auth(format!("{i:064}"))
            .send()
            .await
            .expect("call");
        assert_eq!(r.status(), 401);
    }
    match server.connect(&phone.credential).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!(
            "sync from the guessing address: {:?}",
            other.map(|_| "open")
        ),
    }
    let r = guesser
        .get(server.url("/v1/admin/devices"))
        .bearer_auth(format!("{:064}", 6))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_enrolments_and_syncs_do_not_count_as_failures() {
    let dir = tempfile::tempdir().expect("dir");
    let server = common::start_with(dir.path(), limited(), None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    // Just under the limit of failures, then many successes from the same address.
    for i in 0..4 {
        assert_eq!(
            server.enrol(&format!("AAAA-BBBB-CCC{i}")).await.status(),
            401
        );
    }
    for i in 0..12 {
        let mut d = server.device(dir.path(), &format!("d{i}"), &sanne).await;
        assert!(!common::sync(server.addr, &mut d).await.is_empty());
    }
    let code = server.invite(&sanne, 60_000);
    assert_eq!(server.enrol(&code).await.status(), 200);
}

/// What attackers type into text fields, hoping one reaches SQL or a path unescaped.
const HOSTILE: &[&str] = &[
    "'; DROP TABLE devices; --",
    "\" OR \"1\"=\"1",
    "Robert'); DELETE FROM enrolments; --",
    "1; UPDATE devices SET revoked_at = NULL",
    "../../../etc/passwd",
    "..\\..\\boot.ini",
    "%2e%2e%2f%00",
    "nul\u{0}byte",
    "<script>alert(1)</script>",
    "\u{202e}gnp.exe",
    "名前 ✓ 🙂",
];

/// Every byte but letters and digits percent-encoded, so the server decodes all of it.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The store is whole and nobody's device was touched.
fn assert_untouched(t: &Team, devices: usize) {
    let storage = t.server.admin();
    assert!(storage.integrity_check().expect("check"));
    let list = storage.devices(&t.server.workspace).expect("list");
    assert_eq!(list.len(), devices);
    assert!(list.iter().all(|d| d.revoked_at.is_none()));
    assert!(storage.case(&t.case).expect("read").is_some());
}

/// Sends a call; a hostile value may be refused with 4xx, never fail the server.
async fn not_a_server_error(what: &str, call: reqwest::RequestBuilder) -> (u16, String) {
    let r = call.send().await.expect("call");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert!(status < 500, "{what}: {status} {body}");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_in_a_members_display_name_is_stored_verbatim_or_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let http = reqwest::Client::new();
    let members = t.members();
    let mut added = 0;
    for hostile in HOSTILE {
        let call = http
            .post(t.server.url("/v1/admin/members"))
            .bearer_auth(&t.admin.credential)
            .json(&serde_json::json!({ "display_name": hostile, "role": "practitioner" }));
        let (status, body) = not_a_server_error(hostile, call).await;
        if status == 200 {
            let id: serde_json::Value = serde_json::from_str(&body).expect("json");
            let id = MemberId::parse(id["member_id"].as_str().expect("id")).expect("id");
            let ws = t
                .server
                .admin()
                .workspace_state(&t.server.workspace)
                .expect("read")
                .expect("workspace");
            assert_eq!(ws.members[&id].display_name, *hostile, "stored verbatim");
            added += 1;
        } else {
            assert_bare_refusal(hostile, &body, &[hostile.to_string()]);
        }
    }
    assert_eq!(t.members(), members + added);
    assert_untouched(&t, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_in_an_invites_fields_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let http = reqwest::Client::new();
    for hostile in HOSTILE {
        for body in [
            serde_json::json!({ "member_id": hostile }),
            serde_json::json!({ "member_id": t.sanne, "valid_hours": hostile }),
        ] {
            let call = http
                .post(t.server.url("/v1/admin/invites"))
                .bearer_auth(&t.admin.credential)
                .json(&body);
            let (status, answer) = not_a_server_error(hostile, call).await;
            assert_eq!(status, 400, "{hostile}: {answer}");
            assert_bare_refusal(hostile, &answer, &[hostile.to_string()]);
        }
    }
    assert_untouched(&t, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_in_the_device_path_segment_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let http = reqwest::Client::new();
    for hostile in HOSTILE.iter().copied().chain([
        &*format!("{}' OR '1'='1", t.phone.device_id),
        &*format!("{}/../{}", t.admin.device_id, t.phone.device_id),
    ]) {
        let call = http
            .post(t.server.url(&format!(
                "/v1/admin/devices/{}/revoke",
                path_segment(hostile)
            )))
            .bearer_auth(&t.admin.credential);
        let (status, body) = not_a_server_error(hostile, call).await;
        assert_eq!(status, 404, "{hostile}: {body}");
        assert_bare_refusal(hostile, &body, &t.secrets);
    }
    assert_untouched(&t, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_in_the_case_path_segment_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let http = reqwest::Client::new();
    for hostile in HOSTILE
        .iter()
        .copied()
        .chain([&*format!("{}' OR '1'='1", t.case)])
    {
        let call = http
            .get(
                t.server
                    .url(&format!("/v1/admin/access-log/{}", path_segment(hostile))),
            )
            .bearer_auth(&t.admin.credential);
        let (status, body) = not_a_server_error(hostile, call).await;
        assert_eq!(status, 404, "{hostile}: {body}");
        assert_bare_refusal(hostile, &body, &t.secrets);
    }
    assert_untouched(&t, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_in_an_enrolment_label_is_stored_verbatim_and_in_a_code_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = team(dir.path(), quick()).await;
    let http = reqwest::Client::new();
    for hostile in HOSTILE {
        let call = http
            .post(t.server.url("/v1/enrol"))
            .json(&serde_json::json!({ "code": hostile, "label": "telefoon" }));
        let (status, body) = not_a_server_error(hostile, call).await;
        assert_eq!(status, 401, "{hostile}: {body}");
        assert_bare_refusal(hostile, &body, &t.secrets);
    }
    assert_untouched(&t, 2);
    for hostile in HOSTILE {
        let code = t.server.invite(&t.sanne, 60_000);
        let call = http
            .post(t.server.url("/v1/enrol"))
            .json(&serde_json::json!({ "code": code, "label": hostile }));
        let (status, body) = not_a_server_error(hostile, call).await;
        assert_eq!(status, 200, "{hostile}: {body}");
    }
    let devices: Vec<serde_json::Value> = http
        .get(t.server.url("/v1/admin/devices"))
        .bearer_auth(&t.admin.credential)
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    for hostile in HOSTILE {
        assert!(
            devices.iter().any(|d| d["label"] == *hostile),
            "{hostile} stored verbatim"
        );
    }
    assert_untouched(&t, 2 + HOSTILE.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_never_reaches_the_logs_or_error_bodies() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("server.db");
    let log = dir.path().join("server.log");
    let mut storage = SqliteStorage::open(&db).expect("db");
    let (ws, _) = storage
        .create_workspace(
            "Wijkteam Oost",
            "Oost",
            keukentafel_core::model::NewMember {
                display_name: "Marloes Visscher".into(),
                role: Role::Admin,
                mandate: Default::default(),
            },
        )
        .expect("workspace");
    let beheer = common::add_member(&mut storage, &ws, "Gerrit Beheer-Lodewijks", Role::Admin);
    let admin_code = common::invite(&mut storage, &ws, &beheer, 60_000);
    drop(storage);
    let addr = common::free_addr();
    let binary = common::start_binary(&db, addr, Some(&log)).await;
    let url = |p: &str| format!("http://{addr}{p}");
    let http = reqwest::Client::new();
    let mut errors = Vec::new();
    let mut call = async |r: reqwest::RequestBuilder| {
        let r = r.send().await.expect("call");
        let (status, body) = (r.status(), r.text().await.expect("body"));
        if !status.is_success() {
            errors.push(body.clone());
        }
        body
    };

    let admin: EnrolResponse = serde_json::from_str(
        &call(http.post(url("/v1/enrol")).json(
            &serde_json::json!({ "code": admin_code, "label": "tablet van Gerrit Beheer-Lodewijks" }),
        ))
        .await,
    )
    .expect("enrolled");
    let as_admin = |r: reqwest::RequestBuilder| r.bearer_auth(&admin.credential);
    let mut member = async |name: &str| -> String {
        let body = call(
            as_admin(http.post(url("/v1/admin/members")))
                .json(&serde_json::json!({ "display_name": name, "role": "practitioner" })),
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["member_id"].as_str().expect("id").to_owned()
    };
    let sanne = member("Sanne de Vries-Oosterhuis").await;
    let piet = member("Piet Hermans").await;
    let mut code_for = async |id: &str| -> String {
        let body = call(
            as_admin(http.post(url("/v1/admin/invites")))
                .json(&serde_json::json!({ "member_id": id })),
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["code"].as_str().expect("code").to_owned()
    };
    let (sanne_code, piet_code) = (code_for(&sanne).await, code_for(&piet).await);
    let mut phone = common::device(addr, dir.path(), "sanne", &sanne_code).await;
    let mut laptop = common::device(addr, dir.path(), "piet", &piet_code).await;
    common::sync(addr, &mut phone).await;
    common::sync(addr, &mut laptop).await;

    let household = |number: &str| keukentafel_core::model::NewCase {
        household: vec![keukentafel_core::model::NewHouseholdMember {
            name: "Jan Pietersen-Bakker".into(),
            birth_date: Some(date!(1961 - 04 - 17)),
            role: keukentafel_core::model::HouseholdRole::Resident,
        }],
        ..new_case(number)
    };
    let case = phone
        .store
        .create_case(household("WMO-2026-77341"))
        .expect("case");
    let conv = phone
        .store
        .edit_case(&case, |doc, ctx| {
            doc.record_conversation(ctx, common::conversation())
        })
        .expect("conversation");
    phone
        .store
        .edit_case(&case, |doc, ctx| {
            doc.edit_notes(
                ctx,
                &conv,
                keukentafel_core::NotesEdit::Replace(
                    "Jan heeft schulden bij Stichting Budgetbeheer Zeeland".into(),
                ),
            )
        })
        .expect("notes");
    common::sync(addr, &mut phone).await;
    // A refused change: Piet's device pushes Sanne's next case as its own.
    let other = phone
        .store
        .create_case(household("WMO-2026-99817"))
        .expect("case");
    let hers = phone.store.export_case(&other).expect("export");
    assert_refused(
        &push(addr, &mut laptop, DocRef::Case(other), hers).await,
        "another device",
    );
    // Admin calls with names that fail.
    for body in [
        serde_json::json!({ "display_name": "Jan Pietersen-Bakker", "role": "koning" }),
        serde_json::json!({ "display_name": "Jan Pietersen-Bakker ".repeat(6), "role": "practitioner" }),
        serde_json::json!({ "display_name": "Jan Pietersen-Bakker", "role": "practitioner", "mandate": { "Jan Pietersen-Bakker": 5 } }),
        serde_json::json!({ "display_name": ["Jan Pietersen-Bakker"], "role": "practitioner" }),
    ] {
        call(as_admin(http.post(url("/v1/admin/members"))).json(&body)).await;
    }
    for body in [
        serde_json::json!({ "member_id": "Jan Pietersen-Bakker" }),
        serde_json::json!({ "member_id": sanne, "valid_hours": "Jan Pietersen-Bakker" }),
    ] {
        call(as_admin(http.post(url("/v1/admin/invites"))).json(&body)).await;
    }
    for body in [
        serde_json::json!({ "code": "Jan Pietersen-Bakker", "label": "telefoon" }),
        serde_json::json!({ "code": sanne_code, "label": "telefoon van Sanne de Vries-Oosterhuis" }),
        serde_json::json!({ "code": "AAAA", "label": "Jan Pietersen-Bakker ".repeat(6) }),
        serde_json::json!({ "code": { "Jan Pietersen-Bakker": 1 }, "label": "x" }),
    ] {
        call(http.post(url("/v1/enrol")).json(&body)).await;
    }
    call(as_admin(
        http.get(url("/v1/admin/access-log/Jan%20Pietersen-Bakker")),
    ))
    .await;
    call(as_admin(http.post(url(&format!(
        "/v1/admin/devices/{}/revoke",
        laptop.device_id
    )))))
    .await;
    call(as_admin(
        http.get(url(&format!("/v1/admin/access-log/{case}"))),
    ))
    .await;
    assert!(
        matches!(
            common::sync(addr, &mut laptop).await.pop(),
            Some(ServerMessage::Stop { erase: true, .. })
        ),
        "the revoked laptop is told to erase"
    );
    drop(binary);

    let personal = [
        "Marloes Visscher",
        "Gerrit Beheer-Lodewijks",
        "Sanne de Vries-Oosterhuis",
        "Piet Hermans",
        "Jan Pietersen-Bakker",
        "1961-04-17",
        "WMO-2026-77341",
        "WMO-2026-99817",
        "Budgetbeheer",
        "schulden",
    ];
    assert!(errors.len() >= 10, "the failing calls failed: {errors:?}");
    for body in &errors {
        for p in personal {
            assert!(!body.contains(p), "an error body shows {p}: {body}");
        }
    }
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(
        logged.contains("DEBUG") && logged.contains("device enrolled"),
        "the log was captured at debug level: {logged}"
    );
    for p in personal {
        assert!(!logged.contains(p), "the log shows {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_stopped_guessing_is_served_again_after_the_window() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerConfig {
        max_failures_per_client: 2,
        failure_window: Duration::from_secs(2),
        ..quick()
    };
    let server = common::start_with(dir.path(), config, None).await;
    let sanne = server.add_member("Sanne", Role::Practitioner);
    let code = server.invite(&sanne, 60_000);
    for guess in ["AAAA-BBBB-CCC1", "AAAA-BBBB-CCC2"] {
        assert_eq!(server.enrol(guess).await.status(), 401);
    }
    assert_eq!(server.enrol(&code).await.status(), 429);
    let mut served = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match server.enrol(&code).await.status().as_u16() {
            429 => continue,
            status => {
                assert_eq!(status, 200);
                served = true;
                break;
            }
        }
    }
    assert!(served, "the block ends with the window");
}
