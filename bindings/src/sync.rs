//! The sync driver: core's device-side sync engine carried over a WebSocket, on a small
//! tokio runtime this crate owns. The engine decides what to send and takes in what comes
//! back (`DeviceStore::sync_start` / `sync_receive`, durable before acknowledged); this
//! module only moves frames, keeps time-outs, and tells the app how it goes.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use keukentafel_core::sync::{
    ClientMessage, DocRef, EnrolRequest, EnrolResponse, Enrolment, Payload, ServerMessage,
    wire::MAX_FRAME_BYTES,
};
use keukentafel_core::{CaseId, SyncRound};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::device::Shared;
use crate::error::{KeukentafelError, Result};

/// How long to wait for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a running sync waits for the server's next message before giving up.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Live sync pings this often, so that a dead connection is noticed.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Live sync retries a lost connection after 1, 2, 4, ... seconds, up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How syncing stands, for the status line every screen shows.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// Not connected: never synced, or the connection is gone. Everything recorded is kept
    /// on the device and sent at the next sync.
    Offline,
    /// A sync is running.
    Syncing {
        /// How far it is.
        progress: SyncProgress,
    },
    /// The device holds everything the server has for it, and the server everything of
    /// the device.
    UpToDate,
    /// The server refused some changes of this device. They are kept aside (see
    /// `quarantined()`); show `reason` and ask the user to contact the office.
    Refused {
        /// The server's reason: rules and identifiers, no case contents.
        reason: String,
    },
    /// The server no longer serves this device (revoked, left the team, or an unknown
    /// credential). With `wiped`, the server ordered the case data erased and it is gone
    /// from this device; enrol again with a new code.
    Stopped {
        /// Why, as the server said.
        reason: String,
        /// Whether this device's case data was erased.
        wiped: bool,
    },
}

/// How far a sync is. The number of documents to receive is not known in advance: the
/// server says whether more follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// Documents with local changes sent and answered by the server.
    pub documents_sent: u32,
    /// Documents with local changes to send in this sync.
    pub documents_to_send: u32,
    /// Documents received from the server so far.
    pub documents_received: u32,
    /// Whether the server has more to send.
    pub more_to_receive: bool,
}

/// What one sync did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Documents of this device the server accepted.
    pub documents_sent: u32,
    /// Documents received (new, changed, or removed from the device).
    pub documents_received: u32,
    /// Cases that changed on this device through the sync.
    pub changed_cases: Vec<CaseId>,
    /// Cases removed from this device (no longer assigned to this member).
    pub removed_cases: Vec<CaseId>,
    /// Reasons of the server's refusals; the refused changes are in quarantine.
    pub refused: Vec<String>,
    /// The state after the sync.
    pub state: SyncState,
}

/// Changes that arrived from the team while live sync runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct RemoteChange {
    /// Cases that changed (or newly arrived) on this device.
    pub changed_cases: Vec<CaseId>,
    /// Cases removed from this device (no longer assigned to this member).
    pub removed_cases: Vec<CaseId>,
    /// Whether the workspace (members, mandates, budgets) changed.
    pub workspace_changed: bool,
}

impl RemoteChange {
    fn is_empty(&self) -> bool {
        self.changed_cases.is_empty() && self.removed_cases.is_empty() && !self.workspace_changed
    }
}

/// Told how a "sync now" progresses. Called on the sync thread: hand over to the UI thread.
#[uniffi::export(callback_interface)]
pub trait SyncProgressListener: Send + Sync {
    /// The sync got further.
    fn on_progress(&self, progress: SyncProgress);
}

/// Told when the sync state changes. Called on the sync thread: hand over to the UI thread.
#[uniffi::export(callback_interface)]
pub trait SyncStateObserver: Send + Sync {
    /// The state is now `state`.
    fn on_state_changed(&self, state: SyncState);
}

/// Told when changes of the team arrive during live sync. Called on the sync thread:
/// hand over to the UI thread, and read the changed cases from the device there.
#[uniffi::export(callback_interface)]
pub trait ChangeListener: Send + Sync {
    /// These documents changed on this device.
    fn on_remote_change(&self, change: RemoteChange);
}

/// Cancels a running "sync now" from another thread. What was stored before the
/// cancellation stays stored; the next sync goes on from there.
#[derive(uniffi::Object)]
pub struct SyncCancel {
    cancelled: watch::Sender<bool>,
}

#[uniffi::export]
impl SyncCancel {
    /// A token to pass to `sync_now`.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancel {
            cancelled: watch::Sender::new(false),
        })
    }

    /// Cancels the sync this token was passed to (also when called before it started).
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
    }
}

impl SyncCancel {
    async fn wait(&self) {
        let mut rx = self.cancelled.subscribe();
        // An Err means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// Live sync while connected: started by `Device::start_live_sync`, runs until stopped.
#[derive(uniffi::Object)]
pub struct LiveSync {
    stop: watch::Sender<bool>,
    task: Mutex<tokio::task::JoinHandle<()>>,
}

#[uniffi::export]
impl LiveSync {
    /// Stops live sync: the change listener is not called again once this returns, and the
    /// connection closes. Returns within two seconds, however the network behaves.
    pub fn stop(&self) {
        self.stop.send_replace(true);
        // The loop checks the flag before every call of the listener; waiting for the task
        // makes sure no call is under way either (not possible from inside a listener,
        // which runs on the sync thread itself).
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        if let (Ok(mut task), Ok(rt)) = (self.task.lock(), runtime()) {
            let _ = rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), &mut *task).await });
        }
    }

    /// Whether live sync is still running (it ends when stopped, or when the server no
    /// longer serves this device).
    pub fn is_running(&self) -> bool {
        self.task.lock().map(|t| !t.is_finished()).unwrap_or(false)
    }
}

impl Drop for LiveSync {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// The runtime of every sync in this process: two worker threads, started on first use.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("keukentafel-sync")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| KeukentafelError::Internal {
            reason: format!("cannot start the sync thread: {e}"),
        })
}

/// Runs `f` to completion on the sync runtime, from an app thread.
pub(crate) fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(KeukentafelError::Internal {
            reason: "a blocking sync call was made from a sync callback".into(),
        });
    }
    runtime()?.block_on(f)
}

/// Calls into the app. A listener that throws must not take the sync down with it: uniffi
/// turns the exception into a panic on this side, which is contained here.
pub(crate) fn call_app(f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        tracing::warn!("an app listener failed; sync goes on");
    }
}

fn tls() -> Result<Arc<rustls::ClientConfig>> {
    static TLS: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| KeukentafelError::Internal {
        reason: format!("TLS set-up failed: {e}"),
    })
}

/// The server's base address, checked: `https://host[:port]`, or `http://` for a server on
/// this machine (tests, demos). No path, no user name: the credential goes only where the
/// address says.
pub(crate) fn server_base(server: &str) -> Result<String> {
    let invalid = |reason: &str| KeukentafelError::InvalidInput {
        reason: reason.into(),
    };
    let base = server.trim().trim_end_matches('/');
    let (secure, authority) = match base.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        _ => return Err(invalid("the server address must start with https://")),
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ', '\\']) {
        return Err(invalid(
            "the server address must be like https://server.example.nl",
        ));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if !secure && !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return Err(invalid(
            "the server address must start with https:// (http:// only for this machine)",
        ));
    }
    Ok(base.to_owned())
}

fn network(what: &str, e: impl std::fmt::Display) -> KeukentafelError {
    KeukentafelError::Network {
        reason: format!("{what}: {e}"),
    }
}

/// Enrols with the server: trades the one-time code for this device's identity. Blocks.
pub(crate) fn enrol(server: &str, code: &str, label: &str) -> Result<EnrolResponse> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(MESSAGE_TIMEOUT))
        // The code is a secret: it goes to the address given and nowhere else.
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(format!("{server}/v1/enrol"))
        .send_json(&EnrolRequest {
            code: code.trim().to_owned(),
            label: label.to_owned(),
        })
        .map_err(|e| network("cannot reach the server", e))?;
    let status = resp.status();
    if status.is_success() {
        return resp
            .body_mut()
            .read_json::<EnrolResponse>()
            .map_err(|e| network("the server's answer is not an enrolment", e));
    }
    // The server's error bodies are `{"error": "..."}` without personal data.
    let reason = resp
        .body_mut()
        .read_json::<serde_json::Value>()
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| status.to_string());
    Err(match status.as_u16() {
        400..=403 => KeukentafelError::Unauthorized { reason },
        _ => KeukentafelError::Network { reason },
    })
}

async fn connect(enrolment: &Enrolment) -> Result<Socket> {
    let base = server_base(&enrolment.server)?;
    let url = format!(
        "{}/v1/sync",
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let mut req = url
        .into_client_request()
        .map_err(|e| network("bad server address", e))?;
    let bearer = format!("Bearer {}", enrolment.credential)
        .parse()
        .map_err(|_| KeukentafelError::Storage {
            reason: "the stored credential is damaged; enrol again".into(),
        })?;
    req.headers_mut().insert("authorization", bearer);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        req,
        Some(config),
        true,
        Some(Connector::Rustls(tls()?)),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => Err(network("cannot reach the server", "timed out")),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) if resp.status().as_u16() == 401 => {
            Err(KeukentafelError::Unauthorized {
                reason: "the server does not know this device (revoked?)".into(),
            })
        }
        Ok(Err(e)) => Err(network("cannot reach the server", e)),
    }
}

async fn send_all(ws: &mut Socket, msgs: Vec<ClientMessage>) -> Result<()> {
    for m in msgs {
        match tokio::time::timeout(MESSAGE_TIMEOUT, ws.send(Message::Binary(m.encode().into())))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(network("connection lost", e)),
            Err(_) => return Err(network("connection lost", "sending timed out")),
        }
    }
    Ok(())
}

/// What arrived on the connection.
enum Frame {
    /// A server message.
    Message(ServerMessage),
    /// A ping or pong: the connection lives.
    Alive,
}

/// The next frame; an error when the connection ended.
async fn next_frame(ws: &mut Socket) -> Result<Frame> {
    loop {
        match ws.next().await {
            None | Some(Ok(Message::Close(_))) => {
                return Err(network("connection lost", "closed by the server"));
            }
            Some(Err(e)) => return Err(network("connection lost", e)),
            Some(Ok(Message::Binary(b))) => {
                return ServerMessage::decode(&b)
                    .map(Frame::Message)
                    .map_err(|e| network("the server sent a message this app cannot read", e));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(Frame::Alive),
            Some(Ok(_)) => continue,
        }
    }
}

/// What the messages of one sync added up to.
#[derive(Default)]
struct Tally {
    progress: SyncProgress,
    change: RemoteChange,
    refused: Vec<String>,
    /// The server ordered this device wiped, with why.
    wiped: Option<String>,
}

impl Tally {
    fn state(&self) -> SyncState {
        match (&self.wiped, self.refused.last()) {
            (Some(reason), _) => SyncState::Stopped {
                reason: reason.clone(),
                wiped: true,
            },
            (None, Some(reason)) => SyncState::Refused {
                reason: reason.clone(),
            },
            (None, None) => SyncState::UpToDate,
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Takes in one server message through the store; returns the replies to send. A stop
/// without a wipe order (the server restarting, or failing for a moment) is a lost
/// connection: sync again later.
fn take_in(shared: &Shared, msg: &ServerMessage, tally: &mut Tally) -> Result<Vec<ClientMessage>> {
    let step = shared.store()?.sync_receive(msg)?;
    match msg {
        ServerMessage::Updates { docs, more, .. } => {
            tally.progress.documents_received += count(docs.len());
            tally.progress.more_to_receive = *more;
            for update in docs {
                match (&update.doc, &update.payload) {
                    (DocRef::Case(id), Payload::Remove) => {
                        tally.change.removed_cases.push(id.clone())
                    }
                    (DocRef::Case(id), _) => tally.change.changed_cases.push(id.clone()),
                    (DocRef::Workspace(_), _) => tally.change.workspace_changed = true,
                }
            }
        }
        ServerMessage::UpToDate { .. } => tally.progress.more_to_receive = false,
        ServerMessage::Accepted { .. } => tally.progress.documents_sent += 1,
        ServerMessage::Refused { reason, .. } => {
            tally.progress.documents_sent += 1;
            tally.refused.push(reason.clone());
        }
        ServerMessage::Stop { .. } => {}
    }
    match step.stopped {
        Some(reason) if step.erased => tally.wiped = Some(reason),
        Some(reason) => return Err(network("the server stopped the sync", reason)),
        None => {}
    }
    Ok(step.replies)
}

fn pushed_docs(msgs: &[ClientMessage]) -> u32 {
    count(
        msgs.iter()
            .map(|m| match m {
                ClientMessage::Push { docs, .. } => docs.len(),
                _ => 0,
            })
            .sum(),
    )
}

fn enrolment(shared: &Shared) -> Result<Enrolment> {
    shared
        .store()?
        .enrolment()?
        .ok_or(KeukentafelError::NotEnrolled)
}

/// Opens a sync: connects, sends the hello and the device's unsent changes.
async fn open(shared: &Shared) -> Result<(Socket, SyncRound, Tally)> {
    let enrolment = enrolment(shared)?;
    let mut tally = Tally::default();
    shared.set_state(SyncState::Syncing {
        progress: tally.progress,
    });
    let mut ws = connect(&enrolment).await?;
    let sent = shared.store()?.sync_start()?;
    tally.progress.documents_to_send = pushed_docs(&sent);
    tally.progress.more_to_receive = true;
    let round = SyncRound::new(&sent);
    send_all(&mut ws, sent).await?;
    Ok((ws, round, tally))
}

/// One complete sync over a new connection.
async fn sync_once(
    shared: &Shared,
    progress: Option<&dyn SyncProgressListener>,
) -> Result<SyncReport> {
    let (mut ws, mut round, mut tally) = open(shared).await?;
    while !round.settled() {
        let msg = match tokio::time::timeout(MESSAGE_TIMEOUT, next_frame(&mut ws)).await {
            Err(_) => return Err(network("the server stopped answering", "timed out")),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Frame::Alive)) => continue,
            Ok(Ok(Frame::Message(m))) => m,
        };
        round.observe(&msg);
        let replies = take_in(shared, &msg, &mut tally)?;
        send_all(&mut ws, replies).await?;
        shared.set_state(SyncState::Syncing {
            progress: tally.progress,
        });
        if let Some(p) = progress {
            call_app(|| p.on_progress(tally.progress));
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    Ok(SyncReport {
        documents_sent: tally.progress.documents_sent,
        documents_received: tally.progress.documents_received,
        state: tally.state(),
        changed_cases: tally.change.changed_cases,
        removed_cases: tally.change.removed_cases,
        refused: tally.refused,
    })
}

/// "Sync now", cancellable: the state ends as the outcome says. While live sync runs, it
/// asks live sync for a round instead of opening a second connection.
pub(crate) async fn sync_now(
    shared: &Shared,
    progress: Option<&dyn SyncProgressListener>,
    cancel: Option<&SyncCancel>,
) -> Result<SyncReport> {
    let cancelled = async {
        match cancel {
            Some(c) => c.wait().await,
            None => std::future::pending().await,
        }
    };
    let live = shared.live_rounds.subscribe();
    let outcome = tokio::select! {
        r = async {
            if shared.live_running() {
                live_round(shared, live).await
            } else {
                sync_once(shared, progress).await
            }
        } => r,
        () = cancelled => Err(KeukentafelError::Cancelled),
    };
    if !shared.live_running() {
        match &outcome {
            Ok(report) => shared.set_state(report.state.clone()),
            // A device without enrolment (never, or wiped) keeps the state that says why.
            Err(KeukentafelError::NotEnrolled) => {}
            Err(e) => shared.set_state(state_after(e)),
        }
    }
    outcome
}

/// Waits, bounded, for live sync to complete a round after the nudge.
async fn live_round(shared: &Shared, mut rounds: watch::Receiver<u64>) -> Result<SyncReport> {
    let before = *rounds.borrow_and_update();
    shared.local_edits.notify_one();
    match tokio::time::timeout(MESSAGE_TIMEOUT, rounds.wait_for(|r| *r > before)).await {
        Ok(Ok(_)) => Ok(SyncReport {
            documents_sent: 0,
            documents_received: 0,
            changed_cases: Vec::new(),
            removed_cases: Vec::new(),
            refused: Vec::new(),
            state: shared.state(),
        }),
        _ => Err(network("live sync did not complete a round", "timed out")),
    }
}

fn state_after(e: &KeukentafelError) -> SyncState {
    match e {
        KeukentafelError::Unauthorized { reason } => SyncState::Stopped {
            reason: reason.clone(),
            wiped: false,
        },
        _ => SyncState::Offline,
    }
}

/// Starts live sync on the runtime; one per device.
pub(crate) fn start_live(
    shared: Arc<Shared>,
    listener: Box<dyn ChangeListener>,
) -> Result<LiveSync> {
    if shared
        .live_running
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return Err(KeukentafelError::InvalidInput {
            reason: "live sync is already running on this device".into(),
        });
    }
    let (stop, stop_rx) = watch::channel(false);
    let task = {
        let shared = shared.clone();
        runtime()?.spawn(async move {
            live(&shared, Arc::from(listener), stop_rx).await;
            shared
                .live_running
                .store(false, std::sync::atomic::Ordering::SeqCst);
        })
    };
    Ok(LiveSync {
        stop,
        task: Mutex::new(task),
    })
}

/// Resolves once the app stopped live sync.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it here.
    let _ = stop.wait_for(|s| *s).await;
}

async fn live(shared: &Shared, listener: Arc<dyn ChangeListener>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let outcome = live_connection(shared, &*listener, &mut stop, &mut backoff).await;
        match outcome {
            Ok(LiveEnd::Stopped) => {
                shared.set_state(SyncState::Offline);
                return;
            }
            Ok(LiveEnd::Wiped) => return,
            // A device without enrolment (never, or wiped) keeps the state that says why.
            Err(KeukentafelError::NotEnrolled) => return,
            Err(e) => {
                shared.set_state(state_after(&e));
                if matches!(e, KeukentafelError::Unauthorized { .. }) {
                    return;
                }
            }
        }
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {
                shared.set_state(SyncState::Offline);
                return;
            }
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How a live connection ended without an error.
enum LiveEnd {
    /// The app stopped live sync.
    Stopped,
    /// The server ordered this device wiped.
    Wiped,
}

/// One live connection: a full sync, then the server's live pushes in and the device's
/// edits out, until the app stops it or the connection ends. A connection that stays
/// silent longer than two pings is taken for dead.
async fn live_connection(
    shared: &Shared,
    listener: &dyn ChangeListener,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<LiveEnd> {
    if *stop.borrow() {
        return Ok(LiveEnd::Stopped);
    }
    let (mut ws, mut round, mut tally) = open(shared).await?;
    let mut waiting_since = Instant::now();
    // Edits made while pushes are out wait for their answers, so nothing is pushed twice.
    let mut edited = false;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            biased;
            () = stopped(stop) => {
                let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
                return Ok(LiveEnd::Stopped);
            }
            () = shared.local_edits.notified() => edited = true,
            _ = ping.tick() => {
                send_ping(&mut ws).await?;
            }
            frame = tokio::time::timeout(2 * PING_EVERY, next_frame(&mut ws)) => {
                let Frame::Message(msg) = frame
                    .map_err(|_| network("connection lost", "the server went silent"))??
                else {
                    continue;
                };
                round.observe(&msg);
                let replies = take_in(shared, &msg, &mut tally)?;
                send_all(&mut ws, replies).await?;
                let change = std::mem::take(&mut tally.change);
                if !change.is_empty() && !*stop.borrow() {
                    call_app(|| listener.on_remote_change(change));
                }
                if tally.wiped.is_some() {
                    shared.set_state(tally.state());
                    return Ok(LiveEnd::Wiped);
                }
            }
        }
        if !round.settled() {
            if waiting_since.elapsed() > MESSAGE_TIMEOUT {
                return Err(network("the server stopped answering", "timed out"));
            }
            shared.set_state(SyncState::Syncing {
                progress: tally.progress,
            });
            continue;
        }
        // A connection is only trusted once it completed a round: then a later failure
        // starts retrying from the shortest wait again.
        *backoff = Duration::from_secs(1);
        if std::mem::take(&mut edited) {
            let pushes = shared.store()?.sync_pushes()?;
            if !pushes.is_empty() {
                tally.refused.clear();
                tally.progress.documents_to_send += pushed_docs(&pushes);
                round = SyncRound::new(&pushes);
                waiting_since = Instant::now();
                shared.set_state(SyncState::Syncing {
                    progress: tally.progress,
                });
                send_all(&mut ws, pushes).await?;
                continue;
            }
        }
        shared.set_state(tally.state());
        shared.live_rounds.send_modify(|r| *r += 1);
    }
}

async fn send_ping(ws: &mut Socket) -> Result<()> {
    match tokio::time::timeout(MESSAGE_TIMEOUT, ws.send(Message::Ping(Vec::new().into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(network("connection lost", "ping failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_address_is_checked_before_anything_is_sent() {
        assert_eq!(
            server_base("https://wijkteam.example.nl/").ok().as_deref(),
            Some("https://wijkteam.example.nl")
        );
        for local in [
            "http://127.0.0.1:7878",
            "http://localhost:80",
            "http://[::1]:7878",
        ] {
            assert!(server_base(local).is_ok(), "{local}");
        }
        for bad in [
            "wijkteam.example.nl",
            "ftp://x",
            "https://",
            "https://x/v1",
            "https://x y",
            "http://wijkteam.example.nl",
            "https://wijkteam.example.nl@elders.example",
            "http://127.0.0.1@elders.example",
        ] {
            assert!(
                matches!(server_base(bad), Err(KeukentafelError::InvalidInput { .. })),
                "{bad}"
            );
        }
    }
}
