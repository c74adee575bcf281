//! Deliveries from outside services: the identity provider's decisions.

use crate::{ApiError, AppState, error::Problem, extract::parse_json};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde::Serialize;
use shiftwire_verification::{ProviderResult, identity::Applied, verify_webhook_signature};
use utoipa::ToSchema;
use uuid::Uuid;

/// The body the identity provider sends.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IdentityResultBody {
    /// The identity id Shiftwire sent as `reference`.
    reference: Uuid,
    /// `verified` or `rejected`.
    #[schema(example = "verified")]
    status: String,
    /// The legal name as the provider confirmed it (it wins over the submitted one).
    legal_name: String,
    #[schema(value_type = String, format = Date)]
    date_of_birth: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookReceipt {
    reference: Uuid,
    /// False for a delivery whose identity was already decided (a replay): nothing
    /// changed.
    applied: bool,
}

fn unauthorised(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", detail)
}

/// The identity provider's decision about an identity. Signed:
/// `Shiftwire-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body" with
/// IDENTITY_WEBHOOK_SECRET>`. A bad, missing or stale (over 5 minutes) signature is 401 and
/// changes nothing; a delivery processed twice changes nothing the second time.
#[utoipa::path(post, path = "/v1/webhooks/identity", tag = "webhooks",
    request_body = IdentityResultBody,
    params(("Shiftwire-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">`")),
    responses(
        (status = 200, description = "Received", body = WebhookReceipt),
        (status = 401, description = "`invalid_signature`: missing, malformed, stale or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no identity handed to the provider has this reference", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`, `unknown_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn identity_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let Some(secret) = &state.identity_webhook_secret else {
        return Err(unauthorised(
            "identity deliveries are not configured on this server",
        ));
    };
    let signature = headers
        .get("shiftwire-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    verify_webhook_signature(secret.expose_secret().as_bytes(), signature, &body, now)
        .map_err(|e| unauthorised(e.to_string()))?;
    let result: ProviderResult = parse_json(&body)?;
    let applied = state.verification.apply_provider_result(&result).await?;
    Ok(Json(WebhookReceipt {
        reference: result.reference,
        applied: matches!(applied, Applied::Changed(_)),
    }))
}
