//! Extractors: validated JSON bodies, the client's address, and the signed-in user with
//! the roles a route admits. A handler that takes `Auth<AdminOnly>` cannot run for
//! anyone else, so a route cannot forget its authorisation.

use crate::{ApiError, AppState};
use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use shiftwire_auth::{AccessClaims, AuthError, Principal};
use shiftwire_core::Role;
use std::{marker::PhantomData, net::IpAddr, net::SocketAddr};

/// A JSON request body, deserialised strictly: wrong content type 415, over the body
/// limit 413, broken JSON 400, wrong shape or unknown fields 422.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        // Every body of this API is an object; serde would also fill a struct from an
        // array of its fields in order.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::unprocessable(
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        parse_json(&bytes).map(ValidJson)
    }
}

/// The body of a POST that documents none: empty, or an empty JSON object.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        // Nothing at all; whitespace alone is not JSON (and not "no body").
        if bytes.is_empty() {
            return Ok(NoBody);
        }
        // Exactly `{}`: serde would also build an empty struct from `[]`.
        match parse_json::<serde_json::Value>(&bytes)? {
            serde_json::Value::Object(fields) if fields.is_empty() => Ok(NoBody),
            _ => Err(ApiError::unprocessable(
                "invalid_body",
                "this request takes no body: send none, or `{}`",
            )),
        }
    }
}

fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than 64 KiB",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            "the request body could not be read",
        )
    }
}

/// Parses a JSON request body strictly, as [`ValidJson`] and [`NoBody`] do: broken JSON is
/// a 400 `malformed_json` problem, an unknown field 422 `unknown_field`, any other wrong
/// shape 422 `invalid_body`, and so is a string holding U+0000, which PostgreSQL text
/// cannot store. Pure, so the fuzz target `problem_mapping` calls it directly.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                bounded(&format!("the body is not valid JSON: {e}")),
            ),
            // serde's data errors name the field and what was expected: useful to show,
            // once cut to a bounded length (they quote the offending name or value).
            Category::Data if e.to_string().starts_with("unknown field") => {
                ApiError::unprocessable("unknown_field", bounded(&e.to_string()))
            }
            Category::Data => ApiError::unprocessable("invalid_body", bounded(&e.to_string())),
        }
    })?;
    if has_escaped_nul(bytes) {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "text may not contain the NUL character (\\u0000)",
        ));
    }
    Ok(value)
}

/// Longest `detail` taken from a parser message, in characters.
const MAX_DETAIL_CHARS: usize = 200;

/// A parser message cut to [`MAX_DETAIL_CHARS`]: serde's messages quote the offending
/// name or value in full, and a problem must not echo a 64 KiB body back (found by
/// fuzzing).
fn bounded(message: &str) -> String {
    match message.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

/// Whether valid JSON `bytes` hold a `\u0000` escape, the only way JSON carries U+0000 (raw
/// control characters are a syntax error). `\\u0000` is a backslash and "u0000", no NUL.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &byte) in bytes.iter().enumerate() {
        if byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if byte == b'u' && backslashes % 2 == 1 && bytes[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The client's IP address: the TCP peer, or with `TRUST_X_FORWARDED_FOR=true` (behind
/// our own load balancer) the last address that balancer appended to `X-Forwarded-For`.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.trust_forwarded_for {
            // Only the right-most entry was written by our balancer; the rest came from
            // the client and may be forged.
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(ClientIp(ip));
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| ClientIp(addr.ip()))
            .ok_or_else(|| ApiError::internal("server started without peer addresses"))
    }
}

/// A set of roles a route admits.
pub trait Allowed {
    const ROLES: &'static [Role];
}

/// Roles admitted by routes of the verification console, and so on, one type per set.
pub struct AnyRole;
pub struct NurseOnly;
pub struct AdminOnly;
pub struct VerifierOrAdmin;
/// Schedulers act only within their facilities (`Principal::facility_ids`).
pub struct SchedulerOnly;

impl Allowed for AnyRole {
    const ROLES: &'static [Role] = &Role::ALL;
}
impl Allowed for NurseOnly {
    const ROLES: &'static [Role] = &[Role::Nurse];
}
impl Allowed for AdminOnly {
    const ROLES: &'static [Role] = &[Role::Admin];
}
impl Allowed for SchedulerOnly {
    const ROLES: &'static [Role] = &[Role::Scheduler];
}
impl Allowed for VerifierOrAdmin {
    const ROLES: &'static [Role] = &[Role::Verifier, Role::Admin];
}

/// The signed-in user, admitted only if their role is in `A`.
///
/// The token proves who they are; their current role, suspension and facilities are read
/// from the database on each request, so a suspension takes effect at once.
pub struct Auth<A: Allowed> {
    pub user: Principal,
    _roles: PhantomData<A>,
}

impl<A: Allowed> FromRequestParts<AppState> for Auth<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = bearer_user(&parts.headers, state).await?;
        if !A::ROLES.contains(&user.role) {
            return Err(ApiError::forbidden());
        }
        Ok(Self {
            user,
            _roles: PhantomData,
        })
    }
}

/// The user whose access token is in the `Authorization` header.
pub(crate) async fn bearer_user(
    headers: &axum::http::HeaderMap,
    state: &AppState,
) -> Result<Principal, ApiError> {
    bearer_claims(headers, state).await.map(|(user, _)| user)
}

/// The user whose access token is in the `Authorization` header, with the token's claims.
pub(crate) async fn bearer_claims(
    headers: &axum::http::HeaderMap,
    state: &AppState,
) -> Result<(Principal, AccessClaims), ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?;
    let token = bearer_token(header).ok_or(AuthError::InvalidToken)?;
    token_user(state, token).await
}

/// The user of an access token: valid, of the current token generation (a token issued
/// before a suspension stays dead after reinstatement), of an account that exists, is not
/// suspended and still has the token's role.
pub(crate) async fn token_user(
    state: &AppState,
    token: &str,
) -> Result<(Principal, AccessClaims), ApiError> {
    token_user_of(&state.jwt, &state.users, token).await
}

/// [`token_user`] with only what it needs: a socket keeps these, not a whole `AppState`.
pub(crate) async fn token_user_of(
    jwt: &shiftwire_auth::JwtKeys,
    users: &shiftwire_auth::Users,
    token: &str,
) -> Result<(Principal, AccessClaims), ApiError> {
    let claims = jwt.verify(token)?;
    let user = signed_in_of(users, claims.sub, Some(claims.role)).await?;
    if claims.epoch < user.token_epoch {
        return Err(AuthError::InvalidToken.into());
    }
    Ok((user, claims))
}

/// The token of an `Authorization: Bearer <token>` header (either case of the scheme).
pub(crate) fn bearer_token(header: &axum::http::HeaderValue) -> Option<&str> {
    let value = header.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// The signed-in user `user_id`, re-read: refused when unknown, suspended, or (with
/// `role`) when their role changed since the token was issued.
pub(crate) async fn signed_in(
    state: &AppState,
    user_id: uuid::Uuid,
    role: Option<shiftwire_core::Role>,
) -> Result<Principal, ApiError> {
    signed_in_of(&state.users, user_id, role).await
}

async fn signed_in_of(
    users: &shiftwire_auth::Users,
    user_id: uuid::Uuid,
    role: Option<shiftwire_core::Role>,
) -> Result<Principal, ApiError> {
    let user = users
        .principal(user_id)
        .await?
        .ok_or(AuthError::InvalidToken)?;
    if user.suspended {
        return Err(AuthError::Suspended.into());
    }
    if role.is_some_and(|role| role != user.role) {
        // The role changed since the token was issued: make the client sign in again.
        return Err(AuthError::InvalidToken.into());
    }
    Ok(user)
}

/// An id in the path. A malformed id answers 404 like an unknown one: there is no such
/// resource either way.
pub struct IdPath(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found())?;
        uuid::Uuid::parse_str(&raw)
            .map(IdPath)
            .map_err(|_| ApiError::not_found())
    }
}

/// Two ids in the path (a facility and a nurse, say); anything but two UUIDs is 404.
pub struct IdsPath(pub uuid::Uuid, pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdsPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found())?;
        match (uuid::Uuid::parse_str(&a), uuid::Uuid::parse_str(&b)) {
            (Ok(a), Ok(b)) => Ok(IdsPath(a, b)),
            _ => Err(ApiError::not_found()),
        }
    }
}

/// Query parameters, strictly: unknown or malformed parameters are 422 problems.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ValidQuery)
            .map_err(|e| ApiError::unprocessable("invalid_query", format!("query parameters: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Reason {
        #[allow(dead_code)]
        reason: String,
    }

    #[test]
    fn a_problem_never_echoes_a_long_body() {
        // serde quotes a wrongly typed string value in full.
        let body = format!("\"{}\"", "b".repeat(10_000));
        let Err(error) = parse_json::<u32>(body.as_bytes()) else {
            panic!("a string is not a number");
        };
        let problem = serde_json::to_value(error.problem()).expect("problem");
        let detail = problem["detail"].as_str().expect("detail");
        assert_eq!(problem["code"], "invalid_body");
        assert!(
            detail.chars().count() <= MAX_DETAIL_CHARS + 1,
            "{}",
            detail.len()
        );
    }

    #[test]
    fn a_nul_character_is_an_invalid_body_not_a_database_error() {
        let refused = parse_json::<Reason>(br#"{"reason":"a\u0000b"}"#).expect_err("NUL");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.code(), "invalid_body");
        // An escaped backslash followed by "u0000" is text, not a NUL; one more is a NUL.
        assert!(parse_json::<Reason>(br#"{"reason":"a\\u0000b"}"#).is_ok());
        assert!(parse_json::<Reason>(br#"{"reason":"a\\\u0000b"}"#).is_err());
        // Broken JSON is still 400, whatever it holds.
        let broken = parse_json::<Reason>(br#"{"reason":"\u0000"#).expect_err("EOF");
        assert_eq!(broken.code(), "malformed_json");
    }
}
