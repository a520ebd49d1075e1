//! The HTTP and WebSocket surface: routing, authentication and the sync driver. The sync
//! logic itself is the core's [`ServerSession`]; every database step runs on the blocking
//! pool, never on the async workers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use keukentafel_core::model::{Mandate, Money, NewMember, ProvisionCategory, Role, Timestamp};
use keukentafel_core::sync::wire::MAX_FRAME_BYTES;
use keukentafel_core::sync::{
    DocRef, EnrolRequest, EnrolResponse, Payload, Peer, ServerMessage, ServerSession, ServerStorage,
};
use keukentafel_core::{CaseId, DeviceId, Limits, MemberId, WorkspaceId};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use crate::auth;
use crate::error::{ServerError, ServerResult};
use crate::storage::{DeviceRecord, SqliteStorage};

/// How often an open connection re-checks that its device is still allowed.
const REVOCATION_CHECK: Duration = Duration::from_millis(500);

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    connected: AtomicU64,
    syncs: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A document of the workspace changed: sessions that may care poll.
#[derive(Clone, Debug)]
struct Notice {
    doc: DocRef,
    assigned: BTreeSet<MemberId>,
    /// The device that pushed it, which has the change already; `None` for changes the
    /// server made (the admin API).
    from: Option<keukentafel_core::DeviceId>,
}

/// Shared server state.
pub struct AppState {
    storage: Arc<Mutex<SqliteStorage>>,
    hubs: Mutex<HashMap<WorkspaceId, broadcast::Sender<Notice>>>,
    metrics: Metrics,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// State over a store; flipping `shutdown` to true ends every open sync cleanly.
    pub fn new(storage: SqliteStorage, shutdown: watch::Receiver<bool>) -> Arc<AppState> {
        Arc::new(AppState {
            storage: Arc::new(Mutex::new(storage)),
            hubs: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            limits: Limits::default(),
            shutdown,
        })
    }

    /// Devices connected for sync right now.
    pub fn connected_devices(&self) -> u64 {
        self.metrics.connected.load(Ordering::Relaxed)
    }

    fn hub(&self, workspace: &WorkspaceId) -> broadcast::Sender<Notice> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        hubs.entry(workspace.clone())
            .or_insert_with(|| broadcast::channel(256).0)
            .clone()
    }

    /// Runs `f` on the store on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteStorage) -> ServerResult<T> + Send + 'static,
    ) -> ServerResult<T> {
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&storage)))
            .await
            .map_err(|_| ServerError::Task)?
    }
}

fn lock(storage: &Mutex<SqliteStorage>) -> MutexGuard<'_, SqliteStorage> {
    // A panic while holding the lock cannot leave SQLite half-written: `immediate` rolls
    // back on a panic, and every write outside it is one statement or a savepoint.
    storage.lock().unwrap_or_else(|p| p.into_inner())
}

/// The router: `/health`, `/metrics`, `POST /v1/enrol`, and the sync WebSocket `/v1/sync`.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/enrol", post(enrol))
        .route("/v1/sync", get(sync))
        .route("/v1/admin/members", post(admin_add_member))
        .route("/v1/admin/invites", post(admin_invite))
        .route("/v1/admin/devices", get(admin_devices))
        .route("/v1/admin/devices/{device}/revoke", post(admin_revoke))
        .route("/v1/admin/access-log/{case}", get(admin_access_log))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    let m = &state.metrics;
    let line = |name: &str, help: &str, kind: &str, v: &AtomicU64| {
        format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
            v.load(Ordering::Relaxed)
        )
    };
    [
        line(
            "keukentafel_connected_devices",
            "Devices connected for sync.",
            "gauge",
            &m.connected,
        ),
        line(
            "keukentafel_syncs_total",
            "Sync sessions opened.",
            "counter",
            &m.syncs,
        ),
        line(
            "keukentafel_bytes_in_total",
            "Sync bytes received.",
            "counter",
            &m.bytes_in,
        ),
        line(
            "keukentafel_bytes_out_total",
            "Sync bytes sent.",
            "counter",
            &m.bytes_out,
        ),
        line(
            "keukentafel_changes_accepted_total",
            "Document pushes stored.",
            "counter",
            &m.accepted,
        ),
        line(
            "keukentafel_changes_refused_total",
            "Document pushes refused.",
            "counter",
            &m.refused,
        ),
    ]
    .concat()
}

async fn enrol(
    State(state): State<Arc<AppState>>,
    Json(req): Json<EnrolRequest>,
) -> ServerResult<Json<EnrolResponse>> {
    if req.code.len() > 64 || req.label.chars().count() > 100 {
        return Err(ServerError::BadRequest("code or label too long"));
    }
    let credential = auth::new_credential()?;
    let (code_hash, cred_hash) = (
        auth::code_hash(&req.code),
        auth::credential_hash(&credential),
    );
    let label = req.label.clone();
    let result = state
        .blocking(move |s| {
            let device = s.enrol(&code_hash, &cred_hash, &label, Timestamp::now());
            match &device {
                Ok(d) => s.log(Some(d), None, "enrolled", "ok")?,
                Err(e) => s.log(None, None, "enrolment refused", &e.to_string())?,
            }
            let device = device?;
            let doc = s
                .workspace(&device.workspace)?
                .ok_or(ServerError::NotFound("workspace"))?;
            Ok((device, doc.save()))
        })
        .await;
    let (device, doc) = result?;
    tracing::info!(device = %device.device.short(), "device enrolled");
    Ok(Json(EnrolResponse {
        device_id: device.device.to_string(),
        credential,
        member_id: device.member.to_string(),
        workspace_id: device.workspace.to_string(),
        workspace_doc: base64::engine::general_purpose::STANDARD.encode(doc),
    }))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> ServerResult<DeviceRecord> {
    let hash = auth::credential_hash(
        bearer(headers).ok_or(ServerError::Unauthorized("missing credential"))?,
    );
    state
        .blocking(move |s| s.device_by_credential(&hash))
        .await?
        .ok_or(ServerError::Unauthorized("unknown credential"))
}

async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let device = match authenticate(&state, &headers).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run_session(state, device, socket))
}

async fn send(
    socket: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    state: &AppState,
    msgs: &[ServerMessage],
) -> bool {
    for m in msgs {
        let frame = m.encode();
        state
            .metrics
            .bytes_out
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        if socket.send(Message::Binary(frame.into())).await.is_err() {
            return false;
        }
    }
    true
}

/// Logs what a session sent and stored, and counts it; returns a notice per stored
/// document for the other sessions.
fn account(
    s: &SqliteStorage,
    metrics: &Metrics,
    device: &DeviceRecord,
    replies: &[ServerMessage],
) -> ServerResult<Vec<Notice>> {
    let mut stored = Vec::new();
    for r in replies {
        match r {
            ServerMessage::Updates { docs, .. } => {
                for d in docs {
                    let what = match d.payload {
                        Payload::Full(_) => "sent document",
                        Payload::Changes(_) => "sent changes",
                        Payload::Remove => "told to erase",
                    };
                    s.log(Some(device), Some(d.doc.id()), what, "ok")?;
                }
            }
            ServerMessage::Accepted { doc, .. } => {
                let assigned = match doc {
                    DocRef::Case(id) => s.case_members(id)?,
                    DocRef::Workspace(_) => BTreeSet::new(),
                };
                stored.push(Notice {
                    doc: doc.clone(),
                    assigned,
                    from: Some(device.device.clone()),
                });
                metrics.accepted.fetch_add(1, Ordering::Relaxed);
                s.log(Some(device), Some(doc.id()), "change", "accepted")?;
            }
            ServerMessage::Refused { doc, reason, .. } => {
                metrics.refused.fetch_add(1, Ordering::Relaxed);
                s.log(
                    Some(device),
                    Some(doc.id()),
                    "change",
                    &format!("refused: {reason}"),
                )?;
            }
            ServerMessage::UpToDate { .. } | ServerMessage::Stop { .. } => {}
        }
    }
    Ok(stored)
}

async fn run_session(state: Arc<AppState>, device: DeviceRecord, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    if device.revoked_at.is_some() {
        let _ = send(
            &mut tx,
            &state,
            &[ServerMessage::Stop {
                reason: "this device was revoked".into(),
                erase: true,
            }],
        )
        .await;
        return;
    }
    state.metrics.connected.fetch_add(1, Ordering::Relaxed);
    state.metrics.syncs.fetch_add(1, Ordering::Relaxed);
    let peer = Peer {
        device: device.device.clone(),
        member: device.member.clone(),
        workspace: device.workspace.clone(),
    };
    let hub = state.hub(&device.workspace);
    let mut notified = hub.subscribe();
    let mut session = Some(ServerSession::new(peer, state.limits.clone()));
    let mut check = tokio::time::interval(REVOCATION_CHECK);
    let mut shutdown = state.shutdown.clone();
    loop {
        let step: Option<Vec<u8>> = tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(frame))) => Some(frame.to_vec()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Text(_))) => Some(Vec::new()),
                _ => break,
            },
            notice = notified.recv() => match notice {
                Ok(n) if n.from.as_ref() == Some(&device.device)
                    || !session.as_ref().is_some_and(|s| s.cares_about(&n.doc, &n.assigned)) => continue,
                _ => None,
            },
            _ = check.tick() => {
                let id = device.device.clone();
                // Only a confirmed revocation erases a device; a failed check is tried again.
                match state.blocking(move |s| s.device(&id)).await {
                    Ok(Some(d)) if d.revoked_at.is_some() => {
                        let _ = send(&mut tx, &state, &[ServerMessage::Stop { reason: "this device was revoked".into(), erase: true }]).await;
                        break;
                    }
                    Ok(None) => {
                        let _ = send(&mut tx, &state, &[ServerMessage::Stop { reason: "unknown device".into(), erase: false }]).await;
                        break;
                    }
                    _ => continue,
                }
            }
            _ = shutdown.changed() => {
                let _ = send(&mut tx, &state, &[ServerMessage::Stop { reason: "server shutting down; sync again later".into(), erase: false }]).await;
                break;
            }
        };
        if let Some(frame) = &step {
            state
                .metrics
                .bytes_in
                .fetch_add(frame.len() as u64, Ordering::Relaxed);
        }
        let Some(mut s) = session.take() else { break };
        let dev = device.clone();
        let storage = state.storage.clone();
        let shared = state.clone();
        // One write transaction per step: the engine's reads and writes and the access log
        // commit together, before any acknowledgement leaves.
        let worked = tokio::task::spawn_blocking(move || {
            let mut st = lock(&storage);
            let outcome = st.immediate(|st| {
                let replies = match &step {
                    Some(frame) => s.receive(st, frame),
                    None => s.poll(st),
                }?;
                let notices = account(st, &shared.metrics, &dev, &replies)?;
                Ok((replies, notices))
            });
            (s, outcome)
        })
        .await;
        let Ok((s, outcome)) = worked else { break };
        session = Some(s);
        let (replies, notices) = match outcome {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "sync step failed");
                let stop = ServerMessage::Stop {
                    reason: "internal error; sync again later".into(),
                    erase: false,
                };
                (vec![stop], Vec::new())
            }
        };
        if !send(&mut tx, &state, &replies).await {
            break;
        }
        for notice in notices {
            let _ = hub.send(notice);
        }
        if replies
            .iter()
            .any(|r| matches!(r, ServerMessage::Stop { .. }))
        {
            break;
        }
    }
    state.metrics.connected.fetch_sub(1, Ordering::Relaxed);
}

// ---- admin API: the admin tool's operations over HTTP JSON, for an admin's or team lead's
// enrolled device, within its own workspace.

async fn admin(state: &AppState, headers: &HeaderMap) -> ServerResult<DeviceRecord> {
    let device = authenticate(state, headers).await?;
    if device.revoked_at.is_some() {
        return Err(ServerError::Unauthorized("this device was revoked"));
    }
    let (ws, member) = (device.workspace.clone(), device.member.clone());
    let role = state
        .blocking(move |s| {
            Ok(s.workspace_state(&ws)?
                .and_then(|w| w.member(&member).map(|m| m.role)))
        })
        .await?;
    match role {
        Some(Role::Admin | Role::TeamLead) => Ok(device),
        _ => Err(ServerError::Forbidden(
            "managing the team needs an admin or team lead",
        )),
    }
}

/// A new member.
#[derive(Deserialize)]
pub struct AddMemberRequest {
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Mandate: per provision category the highest amount per decision, in whole euros.
    #[serde(default)]
    pub mandate: BTreeMap<ProvisionCategory, i64>,
}

async fn admin_add_member(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(req): Json<AddMemberRequest>,
) -> ServerResult<Json<serde_json::Value>> {
    let caller = admin(&state, &headers).await?;
    if req.display_name.chars().count() > 100 {
        return Err(ServerError::BadRequest("display_name too long"));
    }
    let id = MemberId::random();
    let workspace = caller.workspace.clone();
    let member = id.clone();
    let mandate = req
        .mandate
        .iter()
        .try_fold(Mandate::default(), |m, (c, e)| {
            Money::try_euros(*e)
                .filter(|a| a.cents() >= 0)
                .map(|a| m.with(*c, a))
        })
        .ok_or(ServerError::BadRequest(
            "mandate amounts must be whole euros, not negative and not absurdly large",
        ))?;
    state
        .blocking(move |s| {
            s.immediate(|s| {
                s.edit_workspace(
                    &caller.workspace,
                    Some(&caller.member),
                    |doc, author, now| {
                        doc.add_member(
                            author,
                            now,
                            &member,
                            NewMember {
                                display_name: req.display_name,
                                role: req.role,
                                mandate,
                            },
                        )
                    },
                )?;
                s.log(Some(&caller), None, "member added", member.as_str())
            })
        })
        .await?;
    // Connected devices of the team learn of the new member at once.
    let _ = state.hub(&workspace).send(Notice {
        doc: DocRef::Workspace(workspace.clone()),
        assigned: BTreeSet::new(),
        from: None,
    });
    Ok(Json(serde_json::json!({ "member_id": id })))
}

/// An enrolment code for a member's new device.
#[derive(Deserialize)]
pub struct InviteRequest {
    /// The member.
    pub member_id: MemberId,
    /// How long the code stays valid (1 to 336 hours; 24 when left out).
    #[serde(default = "default_valid_hours")]
    pub valid_hours: i64,
}

fn default_valid_hours() -> i64 {
    24
}

async fn admin_invite(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(req): Json<InviteRequest>,
) -> ServerResult<Json<serde_json::Value>> {
    let caller = admin(&state, &headers).await?;
    if !(1..=336).contains(&req.valid_hours) {
        return Err(ServerError::BadRequest(
            "valid_hours must be between 1 and 336",
        ));
    }
    let code = auth::new_enrolment_code()?;
    let hash = auth::code_hash(&code);
    let expires = Timestamp(Timestamp::now().0 + req.valid_hours * 3_600_000);
    state
        .blocking(move |s| {
            let ws = s
                .workspace_state(&caller.workspace)?
                .ok_or(ServerError::NotFound("workspace"))?;
            if ws.member(&req.member_id).is_none() {
                return Err(ServerError::NotFound("member"));
            }
            s.add_enrolment(&hash, &caller.workspace, &req.member_id, expires)?;
            s.log(Some(&caller), None, "invite issued", req.member_id.as_str())
        })
        .await?;
    Ok(Json(
        serde_json::json!({ "code": code, "expires_at": expires.0 }),
    ))
}

async fn admin_devices(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ServerResult<Json<Vec<DeviceRecord>>> {
    let caller = admin(&state, &headers).await?;
    Ok(Json(
        state
            .blocking(move |s| s.devices(&caller.workspace))
            .await?,
    ))
}

async fn admin_revoke(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(device): Path<String>,
) -> ServerResult<Json<serde_json::Value>> {
    let caller = admin(&state, &headers).await?;
    let device = DeviceId::parse(&device).map_err(|_| ServerError::NotFound("device"))?;
    state
        .blocking(move |s| {
            let target = s
                .device(&device)?
                .filter(|d| d.workspace == caller.workspace)
                .ok_or(ServerError::NotFound("device"))?;
            s.revoke(&device, Timestamp::now())?;
            s.log(
                Some(&target),
                None,
                "revoked",
                &format!("by member {}", caller.member),
            )
        })
        .await?;
    Ok(Json(serde_json::json!({ "revoked": true })))
}

async fn admin_access_log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(case): Path<String>,
) -> ServerResult<Json<Vec<crate::storage::AccessRecord>>> {
    let caller = admin(&state, &headers).await?;
    let case = CaseId::parse(&case).map_err(|_| ServerError::NotFound("case"))?;
    let records = state
        .blocking(move |s| {
            let ours = s
                .case(&case)?
                .is_some_and(|c| c.case().workspace == caller.workspace);
            if !ours {
                return Err(ServerError::NotFound("case"));
            }
            s.access_log(case.as_str())
        })
        .await?;
    Ok(Json(records))
}
