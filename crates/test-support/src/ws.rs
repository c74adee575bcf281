//! The WebSocket test client: a real socket to the test app, frames as JSON, bounded
//! waits, close codes.

use crate::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, handshake::client::Request},
};
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket client of the test app.
pub struct Ws {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    hello: Value,
}

pub fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://{}/v1/ws{query}", app.addr)
}

/// The upgrade request to the WebSocket at `url` (`ws://…/v1/ws`), with `token` in its
/// `Authorization` header.
pub fn upgrade_request(url: &str, token: &str) -> Request {
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

/// A single-use ticket of the caller's, for a socket opened without a header.
pub async fn ticket(app: &TestApp, token: &str) -> String {
    let ticket = app.post("/v1/ws/ticket", &json!({}), Some(token)).await;
    let ticket = crate::assert_json(ticket, reqwest::StatusCode::OK).await;
    ticket["ticket"].as_str().expect("ticket").to_owned()
}

/// Opens a socket that must be refused (`what` names it in the failure); the HTTP status
/// of the refusal.
pub async fn refused_upgrade(request: impl IntoClientRequest + Unpin, what: &str) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        other => panic!("{what} must be refused, got {other:?}"),
    }
}

impl Ws {
    pub async fn connect(app: &TestApp, token: &str) -> Ws {
        let request = upgrade_request(&ws_url(app, ""), token);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        Self::greeted(socket).await
    }

    pub async fn greeted(socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Ws {
        let mut ws = Ws {
            socket,
            hello: Value::Null,
        };
        let hello = ws.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        assert!(hello["session_id"].is_string());
        ws.hello = hello;
        ws
    }

    pub fn hello_seq(&self) -> i64 {
        self.hello["last_seq"].as_i64().expect("last_seq")
    }

    /// The next text frame, as JSON.
    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return serde_json::from_str(text.as_str()).expect("JSON frame");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("expected a text frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("a frame within 10 s")
    }

    /// Frames up to and including the first of type `until`.
    pub async fn frames_until(&mut self, until: &str) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let done = frame["type"] == until;
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Reads until the server closes; the close code, if it sent one.
    pub async fn close_code(&mut self) -> Option<u16> {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .expect("the server closed within 10 s")
    }
}

/// Makes the dispatcher send `nurse` a frame after everything committed so far: their
/// credential submission's automatic check ends in `verification.updated`. Frames before
/// it are everything the nurse was sent meanwhile.
pub async fn sentinel(app: &TestApp, token: &str) {
    let number = format!("ACLS-{}", Uuid::now_v7().simple());
    app.submit_checked(
        token,
        json!({ "kind": "ACLS", "number": number, "expires_on": "2028-01-31" }),
    )
    .await;
}

/// Reads until the offer of `shift_id`.
pub async fn offer_of(ws: &mut Ws, shift_id: Uuid) -> Value {
    loop {
        let frame = ws.next().await;
        if frame["type"] == "shift.offered" && frame["shift"]["id"] == shift_id.to_string() {
            return frame;
        }
    }
}

pub fn offers_of(frames: &[Value]) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "shift.offered")
        .collect()
}
