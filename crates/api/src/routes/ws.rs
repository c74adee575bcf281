//! `GET /v1/ws` and its tickets: authenticate, upgrade with small buffers, and hand the
//! socket, adapted to plain frames, to the real-time layer. The protocol is in
//! `api-spec/websocket.md`.

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{NoBody, ValidQuery, bearer_claims, signed_in, token_user_of},
    routes::schemas::EmptyBody,
};
use axum::{
    Json,
    extract::{
        State,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode},
    response::Response,
};
use bytes::Bytes;
use futures::{SinkExt, StreamExt, future};
use serde::{Deserialize, Serialize};
use shiftwire_auth::{AccessClaims, AuthError, TICKET_TTL};
use shiftwire_core::ws::MAX_CLIENT_MESSAGE;
use shiftwire_notify::{Incoming, Outgoing, Principal, Reauthenticate, TransportError};
use std::sync::Arc;
use tokio_tungstenite::tungstenite;
use utoipa::{IntoParams, ToSchema};

/// Bytes tungstenite reads from the socket at a time. The buffer is allocated up front
/// and held for the connection's life, so at tens of thousands of idle connections it is
/// much of the memory (tungstenite's default is 128 KiB). Client messages are small (a
/// location, a `resume`, an access token); a longer one, up to `MAX_CLIENT_MESSAGE`,
/// makes the buffer grow for it.
const READ_BUFFER: usize = 1024;
/// Frames are gathered up to this size before a write; `flush` writes the rest at once.
const WRITE_BUFFER: usize = 4 * 1024;
/// Unsent bytes a connection may hold before writing fails (a client that stopped
/// reading); its queue closes it first in practice.
const MAX_WRITE_BUFFER: usize = 64 * 1024;

#[derive(Serialize, ToSchema)]
pub struct WsTicket {
    /// Pass as `GET /v1/ws?ticket=...` within `expires_in` seconds; good for one connection.
    ticket: String,
    expires_in: u64,
}

#[utoipa::path(post, path = "/v1/ws/ticket", tag = "realtime",
    security(("bearer" = [])),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "A single-use ticket for one WebSocket connection", body = WsTicket),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: NoBody,
) -> Result<Json<WsTicket>, ApiError> {
    // The ticket belongs to this token's session and opens a socket that lives no longer
    // than this token.
    let (user, claims) = bearer_claims(&headers, &state).await?;
    let expires_at = expiry_of(&claims).ok_or(AuthError::InvalidToken)?;
    let ticket = state.tickets.issue(user.id, claims.sid, expires_at).await?;
    Ok(Json(WsTicket {
        ticket,
        expires_in: TICKET_TTL.as_secs(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// A ticket from `POST /v1/ws/ticket`, for clients that cannot set headers.
    ticket: Option<String>,
}

#[utoipa::path(get, path = "/v1/ws", tag = "realtime",
    params(WsQuery),
    security(("bearer" = []), ()),
    responses(
        (status = 101, description = "Upgraded: the WebSocket protocol of api-spec/websocket.md"),
        (status = 400, description = "Not a WebSocket upgrade request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token, ticket or session cookie", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_suspended`, or `origin_not_allowed` (a session cookie sent from a page of another origin)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    ValidQuery(query): ValidQuery<WsQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let bearer = headers.contains_key(axum::http::header::AUTHORIZATION);
    // The portal's and console's pages: their session cookie, from an allowed origin only
    // (another site's page cannot open a socket with a staff member's cookie).
    let session = if !bearer && query.ticket.is_none() {
        let token = crate::web::session_token(&headers, state.secure_cookies)
            .ok_or(AuthError::MissingToken)?;
        if !page_origin_allowed(&state, &headers) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "a page of this origin may not open a socket with a session cookie",
            ));
        }
        Some(token)
    } else {
        None
    };
    // Checked before a ticket is spent: a request that cannot upgrade keeps its ticket.
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_websocket",
            format!("GET /v1/ws must be a WebSocket upgrade: {rejection}"),
        )
    })?;
    let (user, expires_at) = match (session, query.ticket) {
        (Some(token), _) => {
            let session = state
                .web_sessions
                .find(&token)
                .await?
                .ok_or(AuthError::InvalidToken)?;
            let user = signed_in(&state, session.user_id, None).await?;
            (user, Some(session.expires_at))
        }
        (None, Some(ticket)) if !bearer => {
            let redeemed = state
                .tickets
                .redeem(&ticket)
                .await?
                .ok_or(AuthError::InvalidToken)?;
            let user = signed_in(&state, redeemed.user_id, None).await?;
            (user, redeemed.access_expires_at)
        }
        (None, _) => {
            let (user, claims) = bearer_claims(&headers, &state).await?;
            (user, expiry_of(&claims))
        }
    };
    let principal = Principal {
        user_id: user.id,
        role: user.role,
        facility_ids: user.facility_ids,
        // A ticket from before tickets carried their token's expiry lives one token's
        // lifetime.
        expires_at: expires_at
            .or_else(|| chrono::Utc::now().checked_add_signed(chrono::TimeDelta::minutes(15))),
    };
    let hub = state.hub.clone();
    let reauthenticate: Arc<dyn Reauthenticate> = Arc::new(TokenCheck {
        jwt: state.jwt.clone(),
        users: state.users.clone(),
    });
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve_socket(hub, principal, reauthenticate, socket)))
}

/// Whether the `Origin` of a cookie-authenticated upgrade is the server's own, or one of
/// `CORS_ALLOWED_ORIGINS`. A browser always sends `Origin` with a WebSocket upgrade.
fn page_origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return false;
    };
    crate::web::origin_is_host(origin, headers) || state.web_origins.iter().any(|o| o == origin)
}

/// When an access token expires.
fn expiry_of(claims: &AccessClaims) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(i64::try_from(claims.exp).ok()?, 0)
}

/// Checks the fresh tokens clients send over their sockets (`auth`) as every request's
/// token is checked. Each socket holds one for its lifetime, so it keeps two handles
/// rather than a clone of the whole `AppState`.
struct TokenCheck {
    jwt: Arc<shiftwire_auth::JwtKeys>,
    users: shiftwire_auth::Users,
}

#[async_trait::async_trait]
impl Reauthenticate for TokenCheck {
    async fn check(
        &self,
        access_token: &str,
    ) -> Option<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> {
        let (user, claims) = token_user_of(&self.jwt, &self.users, access_token)
            .await
            .ok()?;
        Some((user.id, expiry_of(&claims)?))
    }
}

async fn serve_socket(
    hub: shiftwire_notify::Hub,
    principal: Principal,
    reauthenticate: Arc<dyn Reauthenticate>,
    socket: WebSocket,
) {
    let (sink, stream) = socket.split();
    let sink = sink.with(|out: Outgoing| future::ready(Ok::<_, axum::Error>(to_message(out))));
    let stream = stream.filter_map(|read| future::ready(from_message(read)));
    hub.serve_connection(principal, reauthenticate, Box::pin(sink), Box::pin(stream))
        .await;
}

fn to_message(out: Outgoing) -> Message {
    match out {
        // Frames are UTF-8 by construction (built from `String`s).
        Outgoing::Text(frame) => {
            Message::Text(Utf8Bytes::try_from(frame.into_bytes()).unwrap_or_default())
        }
        Outgoing::Ping => Message::Ping(Bytes::new()),
        Outgoing::Close(code, reason) => Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    }
}

fn from_message(read: Result<Message, axum::Error>) -> Option<Result<Incoming, TransportError>> {
    Some(match read {
        Ok(Message::Text(text)) => Ok(Incoming::Text(text.as_str().to_owned())),
        Ok(Message::Binary(_)) => Ok(Incoming::Binary),
        Ok(Message::Pong(_)) => Ok(Incoming::Pong),
        // tungstenite answers pings itself.
        Ok(Message::Ping(_)) => return None,
        Ok(Message::Close(_)) => Ok(Incoming::Close),
        Err(error) => Err(match error.into_inner().downcast::<tungstenite::Error>() {
            Ok(error) if matches!(*error, tungstenite::Error::Capacity(_)) => {
                TransportError::TooLarge
            }
            _ => TransportError::Broken,
        }),
    })
}
