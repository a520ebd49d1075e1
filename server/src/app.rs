//! The HTTP and WebSocket surface: routing, authentication and the sync driver. The sync
//! logic itself is the core's [`ServerSession`]; every database step runs on the blocking
//! pool, never on the async workers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State,
};
use axum::http::{HeaderMap, StatusCode, request::Parts};
use axum::middleware::Next;
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

/// Most client addresses whose failed attempts are remembered at once: a bound on the
/// memory a spray of addresses can take.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The server's defences against misbehaving and hostile clients. Every limit applies per
/// server process.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Most sync connections one device may hold open at once; one more is answered with
    /// HTTP 429 before the WebSocket upgrade. A device needs one (live sync); a few more
    /// allow for a connection the device has given up on but the server not yet.
    pub max_connections_per_device: usize,
    /// Failed enrolments and authentications (unknown, used or expired code, missing or
    /// unknown credential) from one client address within `failure_window`, after which
    /// every enrolment and authenticated call from that address is answered with HTTP 429
    /// until the window has passed. Successful calls do not count.
    pub max_failures_per_client: usize,
    /// The window over which failures are counted.
    pub failure_window: Duration,
    /// Time a client has to send a complete request head, from connecting or, on a
    /// kept-alive connection, from the previous answer; then the connection is closed.
    pub header_read_timeout: Duration,
    /// Time a request (body included) may take before it is answered with HTTP 408.
    pub request_timeout: Duration,
    /// A sync connection that delivers no complete message (pings count) for this long is
    /// closed. Devices ping every 20 seconds.
    pub idle_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections_per_device: 4,
            max_failures_per_client: 20,
            failure_window: Duration::from_secs(600),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

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
    config: ServerConfig,
    /// Open sync connections per device.
    connections: Mutex<HashMap<DeviceId, usize>>,
    /// Recent failed attempts per client address, oldest first.
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// State over a store with the default [`ServerConfig`]; flipping `shutdown` to true
    /// ends every open sync cleanly.
    pub fn new(storage: SqliteStorage, shutdown: watch::Receiver<bool>) -> Arc<AppState> {
        AppState::with_config(storage, shutdown, ServerConfig::default())
    }

    /// State over a store with the given limits and timeouts.
    pub fn with_config(
        storage: SqliteStorage,
        shutdown: watch::Receiver<bool>,
        config: ServerConfig,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            storage: Arc::new(Mutex::new(storage)),
            hubs: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            limits: Limits::default(),
            config,
            connections: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            shutdown,
        })
    }

    /// The limits and timeouts this state was made with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
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

/// Refuses a client that failed too often lately. Without its address (a router served
/// without connection info) nothing is counted.
fn check_client(state: &AppState, client: ClientAddr) -> ServerResult<()> {
    let Some(ip) = client.0 else { return Ok(()) };
    let mut failures = state.failures.lock().unwrap_or_else(|p| p.into_inner());
    let Some(recent) = failures.get_mut(&ip) else {
        return Ok(());
    };
    let since = Instant::now().checked_sub(state.config.failure_window);
    while recent
        .front()
        .is_some_and(|t| since.is_some_and(|s| *t < s))
    {
        recent.pop_front();
    }
    if recent.is_empty() {
        failures.remove(&ip);
        return Ok(());
    }
    if recent.len() >= state.config.max_failures_per_client {
        return Err(ServerError::TooMany(
            "too many failed attempts from this address; try again later",
        ));
    }
    Ok(())
}

/// Counts a failed enrolment or authentication against the client's address.
fn count_failure(state: &AppState, client: ClientAddr) {
    let Some(ip) = client.0 else { return };
    let mut failures = state.failures.lock().unwrap_or_else(|p| p.into_inner());
    if failures.len() >= MAX_TRACKED_CLIENTS && !failures.contains_key(&ip) {
        // Expired counts go first. If most are still fresh, all go: whoever sprays this many
        // addresses is not slowed by a count per address anyway, and clearing keeps the
        // cost of a call constant on average.
        let since = Instant::now().checked_sub(state.config.failure_window);
        failures.retain(|_, r| r.back().is_some_and(|t| since.is_none_or(|s| *t >= s)));
        if failures.len() >= MAX_TRACKED_CLIENTS / 2 {
            failures.clear();
        }
    }
    let recent = failures.entry(ip).or_default();
    recent.push_back(Instant::now());
    // Only whether the limit is reached matters: older entries beyond it add nothing.
    while recent.len() > state.config.max_failures_per_client {
        recent.pop_front();
    }
}

/// The address of the client, when the router is served with connection info (as
/// [`serve`] does).
#[derive(Clone, Copy, Debug)]
struct ClientAddr(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| client_key(c.0.ip())),
        ))
    }
}

/// The address failures are counted against: an IPv6 client is its /64, since one
/// subscriber usually has all of a /64 to pick addresses from.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// A JSON body whose rejection never echoes the input: the reasons serde gives quote
/// what was sent, which may be a name.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ServerError::BadRequest("expected a JSON body"))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ServerError::TooLarge("request body too large"))
            }
            Err(_) => Err(ServerError::BadRequest("malformed request body")),
        }
    }
}

/// Answers a request that takes longer than the configured time (a body sent a byte at a
/// time, say) with 408. A WebSocket upgrade is answered at once, so a sync lasts longer.
async fn request_deadline(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ServerError::Timeout.into_response(),
    }
}

/// Serves the router on `listener` (HTTPS and WSS with `tls`) until `handle` shuts it
/// down, with the header read timeout of the state's [`ServerConfig`] and each client's
/// address known to the router.
pub async fn serve(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    handle: axum_server::Handle<SocketAddr>,
) -> std::io::Result<()> {
    let timeout = state.config.header_read_timeout;
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    // hyper's header read timeout bounds each request head, and a kept-alive connection
    // waiting for the next; the first request timeout bounds a connection that sends
    // nothing, which the detection of its HTTP version would wait on for ever.
    let mut server = axum_server::from_tcp(listener)?
        .handle(handle)
        .first_request_timeout(timeout);
    server.http_builder().http1().header_read_timeout(timeout);
    match tls {
        Some(config) => {
            server
                .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(config))
                .serve(service)
                .await
        }
        None => server.serve(service).await,
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
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
    client: ClientAddr,
    Body(req): Body<EnrolRequest>,
) -> ServerResult<Json<EnrolResponse>> {
    check_client(&state, client)?;
    let result = enrol_device(&state, req).await;
    if matches!(
        result,
        Err(ServerError::Unauthorized(_) | ServerError::BadRequest(_))
    ) {
        count_failure(&state, client);
    }
    result
}

async fn enrol_device(state: &AppState, req: EnrolRequest) -> ServerResult<Json<EnrolResponse>> {
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

/// The device of the request's credential (a revoked one too: the caller decides).
async fn authenticate(
    state: &AppState,
    client: ClientAddr,
    headers: &HeaderMap,
) -> ServerResult<DeviceRecord> {
    check_client(state, client)?;
    let found = match bearer(headers) {
        None => Err(ServerError::Unauthorized("missing credential")),
        Some(credential) => {
            let hash = auth::credential_hash(credential);
            state
                .blocking(move |s| s.device_by_credential(&hash))
                .await?
                .ok_or(ServerError::Unauthorized("unknown credential"))
        }
    };
    if found.is_err() {
        count_failure(state, client);
    }
    found
}

/// One of a device's sync connections; dropping it frees the place.
struct ConnectionSlot {
    state: Arc<AppState>,
    device: DeviceId,
}

impl ConnectionSlot {
    fn take(state: &Arc<AppState>, device: &DeviceId) -> Option<ConnectionSlot> {
        let mut open = state.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(device.clone()).or_default();
        if *n >= state.config.max_connections_per_device {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            state: state.clone(),
            device: device.clone(),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .state
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.device) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.device);
            }
        }
    }
}

async fn sync(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // Credential first: a caller without one learns nothing, not even how to upgrade.
    let device = match authenticate(&state, client, &headers).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) if device.revoked_at.is_some() => {
            return ServerError::Unauthorized("this device was revoked").into_response();
        }
        Err(_) => return ServerError::BadRequest("expected a WebSocket upgrade").into_response(),
    };
    let Some(slot) = ConnectionSlot::take(&state, &device.device) else {
        return ServerError::TooMany("too many sync connections for this device").into_response();
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run_session(state, device, socket, slot))
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

async fn run_session(
    state: Arc<AppState>,
    device: DeviceRecord,
    socket: WebSocket,
    _slot: ConnectionSlot,
) {
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
    let peer = Peer {
        device: device.device.clone(),
        member: device.member.clone(),
        workspace: device.workspace.clone(),
    };
    let limits = state.limits.clone();
    // Numbered as accepted: from now on this connection supersedes the device's older ones.
    let session = state
        .blocking(move |s| Ok(ServerSession::new(peer, limits, s)?))
        .await;
    let mut session = match session {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "sync session could not start");
            let _ = send(
                &mut tx,
                &state,
                &[ServerMessage::Stop {
                    reason: "internal error; sync again later".into(),
                    erase: false,
                }],
            )
            .await;
            return;
        }
    };
    state.metrics.connected.fetch_add(1, Ordering::Relaxed);
    state.metrics.syncs.fetch_add(1, Ordering::Relaxed);
    let hub = state.hub(&device.workspace);
    let mut notified = hub.subscribe();
    let mut check = tokio::time::interval(REVOCATION_CHECK);
    let mut shutdown = state.shutdown.clone();
    // A frame dribbled in a byte at a time, or a peer gone silent, holds the connection
    // only until this passes without a complete message.
    let idle = state.config.idle_timeout;
    let mut alive_until = tokio::time::Instant::now() + idle;
    loop {
        let step: Option<Vec<u8>> = tokio::select! {
            msg = rx.next() => {
                alive_until = tokio::time::Instant::now() + idle;
                match msg {
                    Some(Ok(Message::Binary(frame))) => Some(frame.to_vec()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(_))) => Some(Vec::new()),
                    _ => break,
                }
            },
            _ = tokio::time::sleep_until(alive_until) => break,
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
        let from_client = step.is_some();
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
        if from_client {
            // The client's wait starts once it has the answer, however long the step took.
            alive_until = tokio::time::Instant::now() + idle;
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

async fn admin(
    state: &AppState,
    client: ClientAddr,
    headers: &HeaderMap,
) -> ServerResult<DeviceRecord> {
    let device = authenticate(state, client, headers).await?;
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
    client: ClientAddr,
    headers: HeaderMap,
    Body(req): Body<AddMemberRequest>,
) -> ServerResult<Json<serde_json::Value>> {
    let caller = admin(&state, client, &headers).await?;
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
    client: ClientAddr,
    headers: HeaderMap,
    Body(req): Body<InviteRequest>,
) -> ServerResult<Json<serde_json::Value>> {
    let caller = admin(&state, client, &headers).await?;
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
    client: ClientAddr,
    headers: HeaderMap,
) -> ServerResult<Json<Vec<DeviceRecord>>> {
    let caller = admin(&state, client, &headers).await?;
    Ok(Json(
        state
            .blocking(move |s| s.devices(&caller.workspace))
            .await?,
    ))
}

async fn admin_revoke(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Path(device): Path<String>,
) -> ServerResult<Json<serde_json::Value>> {
    let caller = admin(&state, client, &headers).await?;
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
    client: ClientAddr,
    headers: HeaderMap,
    Path(case): Path<String>,
) -> ServerResult<Json<Vec<crate::storage::AccessRecord>>> {
    let caller = admin(&state, client, &headers).await?;
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::client_key;

    fn key(s: &str) -> IpAddr {
        client_key(s.parse().expect("address"))
    }

    #[test]
    fn failures_count_per_ipv4_address_and_per_ipv6_64() {
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
