//! A device's side of the server tests: enrolment and sync over real HTTP and WebSocket.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use keukentafel_core::sync::{EnrolResponse, ServerMessage};
use keukentafel_core::{DeviceStore, StoreKey, SyncRound};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

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
