use crate::{ApiError, AppState, MIGRATOR, error::Problem, telemetry};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (alive) or `ready` (database reachable and migrated).
    status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database is reachable and every migration this build knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready for traffic", body = Health),
    (status = 503, description = "Database unreachable or not migrated", body = Problem,
        content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let not_ready = |detail: &str| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail)
            .with_retry_after(Duration::from_secs(2))
    };
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar!(
            "SELECT COALESCE(max(version), 0) AS \"v!\" FROM _sqlx_migrations WHERE success"
        )
        .fetch_one(&state.pool),
    )
    .await
    .map_err(|_| not_ready("the database did not answer in time"))?
    .map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        not_ready("the database is unreachable")
    })?;
    if applied < latest {
        return Err(not_ready("database migrations are pending"));
    }
    Ok(Json(Health { status: "ready" }))
}

/// Prometheus metrics in the text exposition format. On the API's port only with
/// `Authorization: Bearer <METRICS_TOKEN>`; a scraper inside the network reads them
/// without a token on `METRICS_ADDR` (loopback by default).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])), responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
    (status = 401, description = "`missing_token`, `invalid_token`: not the metrics token", body = Problem,
        content_type = "application/problem+json")))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .ok_or(shiftwire_auth::AuthError::MissingToken)?;
    let presented = crate::extract::bearer_token(presented).unwrap_or_default();
    let matches = state.metrics_token.as_ref().is_some_and(|token| {
        use subtle::ConstantTimeEq;
        bool::from(
            secrecy::ExposeSecret::expose_secret(token)
                .as_bytes()
                .ct_eq(presented.as_bytes()),
        )
    });
    if !matches {
        return Err(shiftwire_auth::AuthError::InvalidToken.into());
    }
    Ok(metrics_text().await)
}

/// The metrics as served on `METRICS_ADDR`, where the network, not a token, guards them.
pub async fn metrics_text() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        telemetry::render_metrics(),
    )
}

/// This API's OpenAPI 3.1 description, as served by this build.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses(
    (status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> impl IntoResponse {
    Json(crate::openapi::spec())
}
