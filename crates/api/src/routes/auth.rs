use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{ClientIp, ValidJson},
};
use axum::{Json, extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shiftwire_auth::{AuthError, TokenPair};
use shiftwire_core::{Email, Phone, Role};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpRequest {
    /// Mobile number, international (`+1 415 555 2671`) or US national form.
    #[schema(example = "+14155552671")]
    phone: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpVerifyRequest {
    #[schema(example = "+14155552671")]
    phone: String,
    /// The 6-digit code from the SMS.
    #[schema(example = "042917")]
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "scheduler@mercy-general.example")]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPairBody {
    /// JWT to send as `Authorization: Bearer …`; valid `expires_in` seconds.
    access_token: String,
    /// Opaque, single use: each refresh returns a new one and spends this one.
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    #[schema(example = 900)]
    expires_in: u64,
}

impl From<TokenPair> for TokenPairBody {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
        }
    }
}

/// Send a sign-in code by SMS. Answers 202 for every well-formed number, known or not.
#[utoipa::path(post, path = "/v1/auth/otp", tag = "auth", request_body = OtpRequest,
    responses(
        (status = 202, description = "A code was sent"),
        (status = 422, description = "`invalid_phone`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` (see Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`sms_unavailable`, `database_unavailable` (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<OtpRequest>,
) -> Result<StatusCode, ApiError> {
    let phone = Phone::parse(&body.phone).map_err(AuthError::from)?;
    state.ip_limits.otp_send(ip)?;
    state.otp.send(&phone).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Exchange an SMS code for tokens. A phone seen for the first time becomes a new nurse.
#[utoipa::path(post, path = "/v1/auth/otp/verify", tag = "auth", request_body = OtpVerifyRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPairBody),
        (status = 401, description = "`invalid_code`: wrong, expired, used or burned", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_suspended`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_phone`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<OtpVerifyRequest>,
) -> Result<Json<TokenPairBody>, ApiError> {
    let phone = Phone::parse(&body.phone).map_err(AuthError::from)?;
    state.ip_limits.otp_verify(ip)?;
    let user_id = state.otp.verify(&phone, body.code.trim()).await?;
    let pair = state.refresh.sign_in(user_id, Role::Nurse).await?;
    Ok(Json(pair.into()))
}

/// Staff sign-in with email and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPairBody),
        (status = 401, description = "`invalid_credentials` (unknown email and wrong password alike)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_suspended`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts from this address, or for this email (backoff after 5 failures)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Json<TokenPairBody>, ApiError> {
    state.ip_limits.login(ip)?;
    // Per email and client address, known or not: guessing one account's password slows
    // down without telling anyone whether the account exists, and a stranger failing on
    // purpose elsewhere cannot lock its owner out.
    state.login_backoff.check(&body.email, ip).await?;
    let account = match Email::parse(&body.email) {
        Ok(email) => state.users.staff_login(&email).await?,
        Err(_) => None,
    };
    // Unknown emails are checked against a decoy hash: same answer, comparable time.
    let hash = account.as_ref().map(|a| a.password_hash.as_str());
    if !state.passwords.verify(hash, &body.password).await {
        state.login_backoff.failed(&body.email, ip).await?;
        return Err(AuthError::InvalidCredentials.into());
    }
    let account = account.ok_or(AuthError::InvalidCredentials)?;
    state.login_backoff.succeeded(&body.email, ip).await?;
    if account.suspended {
        return Err(AuthError::Suspended.into());
    }
    let pair = state.refresh.sign_in(account.id, account.role).await?;
    Ok(Json(pair.into()))
}

/// Spend a refresh token for a new token pair. Presenting a spent token signs out its
/// whole session family (`refresh_token_reused`).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented token is now spent", body = TokenPairBody),
        (status = 401, description = "`invalid_refresh_token` or `refresh_token_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_suspended`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<Json<TokenPairBody>, ApiError> {
    state.ip_limits.refresh(ip)?;
    let pair = state.refresh.rotate(&body.refresh_token).await?;
    Ok(Json(pair.into()))
}

/// Sign out: revokes the refresh family of the given token. Needs no access token, so an
/// app whose access token expired can still sign out; an unknown token is not an error.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.refresh.sign_out(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
