//! One WebSocket connection: register, say hello, then write queued frames, answer
//! client messages and keep the connection alive, until either side closes it. The
//! transport (axum's WebSocket) is adapted by `api`; this crate sees frames only.

use crate::hub::{Control, Frame, Hub, Principal, Reauthenticate};
use crate::resume::resume;
use futures::{Sink, SinkExt, Stream, StreamExt};
use governor::{Quota, RateLimiter};
use shiftwire_core::{
    Coordinates, Role,
    ws::{ClientMessage, MAX_CLIENT_MESSAGE, ServerMessage, close},
};
use std::{num::NonZeroU32, sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_util::sync::WaitForCancellationFuture;
use uuid::Uuid;

/// What the server writes.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Text(Frame),
    Ping,
    Close(u16, &'static str),
}

/// What the client sent.
#[derive(Debug)]
pub enum Incoming {
    Text(String),
    Binary,
    Pong,
    Close,
}

/// Why reading failed.
#[derive(Debug)]
pub enum TransportError {
    /// A message over the size limit.
    TooLarge,
    /// Anything else: the connection is gone.
    Broken,
}

/// Frames written in one batch before flushing.
const WRITE_BATCH: usize = 64;
/// How long a write may take before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

impl Hub {
    /// Serves one upgraded connection until it closes. It lives no longer than the
    /// principal's credential, unless the client renews it with `auth` (checked by
    /// `reauthenticate`).
    pub async fn serve_connection<W, R>(
        &self,
        principal: Principal,
        reauthenticate: Arc<dyn Reauthenticate>,
        mut sink: W,
        mut stream: R,
    ) where
        W: Sink<Outgoing> + Unpin + Send,
        R: Stream<Item = Result<Incoming, TransportError>> + Unpin + Send,
    {
        let (queue, mut frames) = mpsc::channel(self.config().queue_capacity);
        let control = Arc::new(Control::default());
        let Some(registered) = self
            .register(principal.clone(), queue, control.clone())
            .await
        else {
            let _ = close_with(&mut sink, close::GOING_AWAY, "try again").await;
            return;
        };
        let conn = registered.conn;
        let hello = Frame::of(&ServerMessage::Hello {
            session_id: Uuid::now_v7(),
            last_seq: registered.after_seq,
        });
        let mut session = Session {
            hub: self,
            principal: &principal,
            reauthenticate,
            expires_at: principal.expires_at,
            conn,
            after_seq: registered.after_seq,
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(
                    NonZeroU32::new(self.config().messages_per_second).unwrap_or(NonZeroU32::MIN),
                )
                .allow_burst(
                    NonZeroU32::new(self.config().message_burst).unwrap_or(NonZeroU32::MIN),
                ),
                self.inner.clock.clone(),
            ),
        };
        let ping_every = self.config().ping_interval;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut awaiting_pong = false;
        let shutdown = self.inner.shutdown.clone();
        // Made once and polled in place: a new `cancelled()` per loop turn would register
        // and unregister a waiter for every frame.
        let closed = control.closed.cancelled();
        tokio::pin!(closed);
        let stopping = shutdown.cancelled();
        tokio::pin!(stopping);
        let expiry = tokio::time::sleep_until(deadline(session.expires_at));
        tokio::pin!(expiry);
        let mut outcome = write_all(
            &mut sink,
            vec![Outgoing::Text(hello)],
            &mut closed,
            &control,
        )
        .await;
        while outcome.is_ok() {
            outcome = tokio::select! {
                biased;
                () = &mut closed => Err(control.code()),
                () = &mut stopping => Err(close::GOING_AWAY),
                () = &mut expiry => {
                    metrics::counter!("ws_clients_dropped_total", "reason" => "token_expired").increment(1);
                    Err(close::TOKEN_EXPIRED)
                }
                frame = frames.recv() => match frame {
                    Some(frame) => {
                        let mut batch = vec![Outgoing::Text(frame)];
                        while batch.len() < WRITE_BATCH {
                            match frames.try_recv() {
                                Ok(frame) => batch.push(Outgoing::Text(frame)),
                                Err(_) => break,
                            }
                        }
                        write_all(&mut sink, batch, &mut closed, &control).await
                    }
                    None => Err(close::GOING_AWAY),
                },
                message = stream.next() => match message {
                    Some(Ok(Incoming::Text(text))) => {
                        let replies = session.on_text(&text).await;
                        // A renewed credential moves the deadline.
                        expiry.as_mut().reset(deadline(session.expires_at));
                        match replies {
                            Ok(replies) => write_all(&mut sink, replies, &mut closed, &control).await,
                            Err(code) => Err(code),
                        }
                    }
                    Some(Ok(Incoming::Binary)) => {
                        let reply = session.error("unsupported_message", "send JSON text frames");
                        write_all(&mut sink, vec![reply], &mut closed, &control).await
                    }
                    Some(Ok(Incoming::Pong)) => {
                        awaiting_pong = false;
                        Ok(())
                    }
                    Some(Err(TransportError::TooLarge)) => {
                        metrics::counter!("ws_clients_dropped_total", "reason" => "too_large").increment(1);
                        Err(close::TOO_BIG)
                    }
                    Some(Ok(Incoming::Close)) | Some(Err(TransportError::Broken)) | None => {
                        Err(0)
                    }
                },
                _ = ping.tick() => {
                    if awaiting_pong {
                        metrics::counter!("ws_clients_dropped_total", "reason" => "no_pong").increment(1);
                        Err(close::POLICY)
                    } else {
                        awaiting_pong = true;
                        write_all(&mut sink, vec![Outgoing::Ping], &mut closed, &control).await
                    }
                }
            };
        }
        self.unregister(conn);
        if let Err(code) = outcome
            && code != 0
        {
            // Frames queued before the close still concern this client (a suspended
            // nurse's cancelled booking): they go first, briefly. A client closed for
            // not reading gets only the close.
            if code != close::TRY_AGAIN_LATER {
                let mut queued = Vec::new();
                while let Ok(frame) = frames.try_recv() {
                    queued.push(Outgoing::Text(frame));
                }
                if !queued.is_empty() {
                    let flush = async {
                        for item in queued {
                            sink.feed(item).await?;
                        }
                        sink.flush().await
                    };
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, flush).await;
                }
            }
            let _ = close_with(&mut sink, code, reason(code)).await;
            // The client may still be sending (a flood, the rest of an oversized message).
            // Closing a socket with unread input resets it, and a reset can overtake the
            // close frame: keep the connection, reading and dropping what comes, until the
            // client answers the close or briefly, so the client reads its close code.
            let linger = async {
                loop {
                    match stream.next().await {
                        Some(Ok(Incoming::Close)) | None => return,
                        Some(Ok(_)) => {}
                        // Nothing more can be read (an oversized message): just wait.
                        Some(Err(_)) => std::future::pending::<()>().await,
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, linger).await;
        }
    }
}

/// When a connection whose credential expires at `at` must close (far away without one).
fn deadline(at: Option<chrono::DateTime<chrono::Utc>>) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    match at {
        Some(at) => {
            let left = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
            now + left
        }
        None => now + Duration::from_secs(365 * 24 * 3600),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "server going away",
        close::POLICY => "closed by policy",
        close::TOO_BIG => "message too big",
        close::TRY_AGAIN_LATER => "too slow: reconnect and resume",
        close::NORMAL => "signed out",
        close::TOKEN_EXPIRED => "token_expired",
        close::REPLACED => "too many connections: this one was the oldest",
        _ => "",
    }
}

/// Writes `batch` and flushes, unless the connection is asked to close meanwhile (a
/// client that does not read must not hold its task forever). `Err(code)` closes.
async fn write_all<W>(
    sink: &mut W,
    batch: Vec<Outgoing>,
    closed: &mut std::pin::Pin<&mut WaitForCancellationFuture<'_>>,
    control: &Control,
) -> Result<(), u16>
where
    W: Sink<Outgoing> + Unpin,
{
    let write = async {
        for item in batch {
            sink.feed(item).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        biased;
        () = closed.as_mut() => Err(control.code()),
        written = tokio::time::timeout(WRITE_TIMEOUT, write) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(0),
            Err(_) => {
                metrics::counter!("ws_clients_dropped_total", "reason" => "write_timeout").increment(1);
                Err(close::TRY_AGAIN_LATER)
            }
        },
    }
}

async fn close_with<W>(sink: &mut W, code: u16, reason: &'static str) -> Result<(), ()>
where
    W: Sink<Outgoing> + Unpin,
{
    let close = async {
        sink.send(Outgoing::Close(code, reason))
            .await
            .map_err(|_| ())?;
        sink.close().await.map_err(|_| ())
    };
    tokio::time::timeout(CLOSE_TIMEOUT, close)
        .await
        .map_err(|_| ())?
}

struct Session<'a> {
    hub: &'a Hub,
    principal: &'a Principal,
    reauthenticate: Arc<dyn Reauthenticate>,
    /// When the current credential expires.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    conn: crate::hub::ConnId,
    after_seq: i64,
    limiter: RateLimiter<
        governor::state::NotKeyed,
        governor::state::InMemoryState,
        governor::clock::DefaultClock,
    >,
}

impl Session<'_> {
    fn error(&self, code: &str, detail: &str) -> Outgoing {
        Outgoing::Text(Frame::of(&ServerMessage::Error {
            code: code.into(),
            detail: detail.into(),
        }))
    }

    /// Handles one client message; `Err(code)` closes the connection.
    async fn on_text(&mut self, text: &str) -> Result<Vec<Outgoing>, u16> {
        if self.limiter.check().is_err() {
            metrics::counter!("ws_clients_dropped_total", "reason" => "flooding").increment(1);
            return Err(close::POLICY);
        }
        if text.len() > MAX_CLIENT_MESSAGE {
            return Err(close::TOO_BIG);
        }
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(_) => {
                return Ok(vec![self.error(
                    "invalid_message",
                    "expected {\"type\": \"location\" | \"resume\" | \"ping\" | \"auth\", ...}",
                )]);
            }
        };
        match message {
            ClientMessage::Ping {} => Ok(vec![Outgoing::Text(Frame::of(&ServerMessage::Pong))]),
            ClientMessage::Auth { access_token } => {
                match self.reauthenticate.check(&access_token).await {
                    Some((user_id, expires_at)) if user_id == self.principal.user_id => {
                        self.expires_at = Some(expires_at);
                        Ok(Vec::new())
                    }
                    // Never another user's: the socket stays whose it was.
                    Some(_) => Ok(vec![self.error(
                        "auth_other_user",
                        "that token belongs to another user; this connection is unchanged",
                    )]),
                    None => Ok(vec![self.error(
                        "auth_invalid",
                        "that token is not valid; this connection still closes when its own expires",
                    )]),
                }
            }
            ClientMessage::Location { lat, lon } => {
                if self.principal.role != Role::Nurse {
                    return Ok(vec![
                        self.error("nurses_only", "only nurses report a location"),
                    ]);
                }
                let Ok(at) = Coordinates::new(lat, lon) else {
                    return Ok(vec![self.error(
                        "invalid_location",
                        "lat must be in [-90, 90] and lon in [-180, 180]",
                    )]);
                };
                let now = chrono::Utc::now();
                self.hub
                    .state()
                    .index
                    .set_live(self.principal.user_id, at, now);
                self.hub
                    .inner
                    .locations
                    .record(self.principal.user_id, at, now);
                Ok(Vec::new())
            }
            ClientMessage::Resume { last_seq } => {
                if self.principal.role != Role::Nurse {
                    // Staff frames are notices; their state is in the REST API.
                    return Ok(vec![Outgoing::Text(Frame::of(&ServerMessage::Resumed {
                        last_seq: self.after_seq.max(last_seq),
                        offers: 0,
                        withdrawals: 0,
                    }))]);
                }
                match resume(
                    self.hub,
                    self.conn,
                    self.principal.user_id,
                    last_seq.max(0),
                    self.after_seq,
                )
                .await
                {
                    Ok(frames) => Ok(frames.into_iter().map(Outgoing::Text).collect()),
                    Err(error) => {
                        tracing::warn!(%error, "resume failed");
                        Ok(vec![self.error(
                            "resume_failed",
                            "could not resume now; try again shortly",
                        )])
                    }
                }
            }
        }
    }
}
