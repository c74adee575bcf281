//! `Idempotency-Key` for the POSTs a flaky mobile network may retry: the same key and
//! body replay the first answer (2xx and 4xx are kept; 5xx, 408 and 429 are not, so a
//! retry runs again); the same key with another body is 422 `idempotency_key_reused`.
//! Keys are per user and kept 24 hours.
//!
//! The request runs to its end in a task of its own, inside the request timeout's reach
//! but not its grasp: a client that gave up (408) and retries with the same key finds the
//! first run still going (409 `idempotency_key_in_use`) or its real answer, never a
//! stored timeout that hides a commit.

use crate::{
    ApiError, AppState,
    app::JSON_BODY_LIMIT,
    extract::{bearer_token, token_user},
};
use axum::{
    body::{Body, to_bytes},
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tracing::Instrument;

/// Routes that honour the header.
const ROUTES: &[&str] = &[
    "/v1/shifts/{id}/claim",
    "/v1/bookings/{id}/release",
    "/v1/bookings/{id}/check-in",
    "/v1/bookings/{id}/check-out",
    "/v1/facilities/{fid}/shifts",
];

/// Largest response body kept for replay (bookings and shifts are a few KiB).
const MAX_STORED_RESPONSE: usize = 256 * 1024;

pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let applies = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| ROUTES.contains(&p.as_str()));
    let key = request.headers().get("idempotency-key").cloned();
    let (true, Some(key)) = (applies, key) else {
        return next.run(request).await;
    };
    // Keys are scoped per user; without a valid token the route itself answers 401 (before
    // anything is said about the key).
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(bearer_token)
        .map(str::to_owned);
    let Some(token) = token.filter(|t| state.jwt.verify(t).is_ok()) else {
        return next.run(request).await;
    };
    // A stored answer goes only to a caller who may still make the request: a suspended
    // user, a token of an older generation, a changed role get their refusal, not a replay.
    let user_id = match token_user(&state, &token).await {
        Ok((user, _)) => user.id,
        Err(refusal) => return refusal.into_response(),
    };
    let key = match key.to_str() {
        Ok(k) if valid_key(k) => k.to_owned(),
        _ => {
            return ApiError::unprocessable(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    match replay_or_run(&state, user_id, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

/// 1 to 255 visible ASCII characters (no spaces or control characters).
fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

async fn replay_or_run(
    state: &AppState,
    user_id: uuid::Uuid,
    key: String,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, JSON_BODY_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than 64 KiB",
        )
        .into_response()
    })?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.path());
    hasher.update(b"\n");
    hasher.update(&body);
    let request_hash = hasher.finalize().to_vec();
    let db = |e: sqlx::Error| ApiError::from(e).into_response();

    // Expired keys are forgotten, and so are claims on a key whose first request never
    // finished (the server stopped mid-request): the client may try again.
    sqlx::query!(
        "DELETE FROM idempotency_keys
         WHERE user_id = $1 AND key = $2
           AND (created_at < now() - interval '24 hours'
                OR (status IS NULL AND created_at < now() - interval '2 minutes'))",
        user_id,
        key
    )
    .execute(&state.pool)
    .await
    .map_err(db)?;
    let claimed = sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        user_id,
        key,
        request_hash
    )
    .execute(&state.pool)
    .await
    .map_err(db)?
    .rows_affected()
        == 1;

    if !claimed {
        let stored = sqlx::query!(
            "SELECT request_hash, status, content_type, body FROM idempotency_keys
             WHERE user_id = $1 AND key = $2",
            user_id,
            key
        )
        .fetch_optional(&state.pool)
        .await
        .map_err(db)?;
        let Some(stored) = stored else {
            return Err(in_use());
        };
        if stored.request_hash != request_hash {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
            .into_response());
        }
        let Some(status) = stored.status else {
            return Err(in_use());
        };
        let mut response = Response::new(Body::from(stored.body.unwrap_or_default()));
        *response.status_mut() = StatusCode::from_u16(u16::try_from(status).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(content_type) = stored
            .content_type
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }

    // The request runs in a task of its own: if the client's timeout fires first, it still
    // finishes and its answer is kept for the retry.
    let request = Request::from_parts(parts, Body::from(body));
    let state = state.clone();
    let run = tokio::spawn(
        async move { run_and_keep(&state, user_id, key, next.run(request).await).await }
            .instrument(tracing::Span::current()),
    );
    match run.await {
        Ok(answer) => answer,
        Err(error) => {
            Err(ApiError::internal(format!("the request task failed: {error}")).into_response())
        }
    }
}

/// Keeps `response` under the key, unless it is one a retry should not get again.
async fn run_and_keep(
    state: &AppState,
    user_id: uuid::Uuid,
    key: String,
    response: Response,
) -> Result<Response, Response> {
    let db = |e: sqlx::Error| ApiError::from(e).into_response();
    let status = response.status();
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        // Not kept: the client may retry and get a real answer.
        sqlx::query!(
            "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            user_id,
            key
        )
        .execute(&state.pool)
        .await
        .map_err(db)?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, MAX_STORED_RESPONSE)
        .await
        .map_err(ApiError::internal)
        .map_err(IntoResponse::into_response)?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    sqlx::query!(
        "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
         WHERE user_id = $1 AND key = $2",
        user_id,
        key,
        i32::from(status.as_u16()),
        content_type,
        bytes.to_vec()
    )
    .execute(&state.pool)
    .await
    .map_err(db)?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn in_use() -> Response {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still running; retry shortly",
    )
    .with_retry_after(std::time::Duration::from_secs(1))
    .into_response()
}

/// Deletes keys older than 24 hours.
pub async fn prune(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn keys_are_visible_ascii() {
        assert!(valid_key("claim-7f3a9c"));
        assert!(valid_key(&"k".repeat(255)));
        for bad in ["", "with space", "tab\there", "é", &"k".repeat(256)] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }
}
