//! Signing in to the portal and console with email and password (the API's rules, rate
//! limits and backoff), and signing out. The session cookie is `HttpOnly` and
//! `SameSite=Strict`; it is `Secure` and named with the `__Host-` prefix unless the server
//! listens on loopback only, where browsers get plain http and a `__Host-` cookie would be
//! refused.

use super::{AnyStaff, Chrome, Fields, Staff, WebError, html, page, same_origin, see_other};
use crate::{ApiError, AppState, extract::ClientIp};
use askama::Template;
use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use secrecy::SecretString;
use serde::Deserialize;
use shiftwire_auth::AuthError;
use shiftwire_core::{Email, Role};

/// The cookie's name when it is `Secure` (any address other than loopback).
pub(crate) const COOKIE_SECURE: &str = "__Host-shiftwire_session";
/// The cookie's name on loopback, where it cannot be `Secure`.
pub(crate) const COOKIE_DEV: &str = "shiftwire_session";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
}

/// The session cookie's value in a request's `Cookie` headers.
pub(crate) fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = if secure { COOKIE_SECURE } else { COOKIE_DEV };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn cookie(state: &AppState, value: &str, max_age_secs: u64) -> HeaderValue {
    let (name, secure) = if state.secure_cookies {
        (COOKIE_SECURE, "; Secure")
    } else {
        (COOKIE_DEV, "")
    };
    let cookie = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

/// Only our own pages are places to return to after signing in.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| {
        (n.starts_with("/portal") || n.starts_with("/console"))
            && !n.contains("//")
            && !n.contains('\\')
    })
    .unwrap_or_default()
    .to_owned()
}

async fn sign_in_page(
    staff: Option<Staff<AnyStaff>>,
    Query(query): Query<SignInQuery>,
) -> Response {
    if let Some(staff) = staff {
        return see_other(home_of(staff.user.role));
    }
    page(&SignInPage {
        chrome: Chrome::anonymous("Sign in"),
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
    })
}

fn home_of(role: Role) -> &'static str {
    match role {
        Role::Scheduler => "/portal",
        _ => "/console",
    }
}

/// Email and password, exactly as `POST /v1/auth/login` checks them: the per-address rate
/// limit, the per-email backoff, one answer for an unknown email and a wrong password.
async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Csrf);
    }
    let fields = Fields(serde_urlencoded::from_bytes(&body).unwrap_or_default());
    let email_raw = fields.text("email");
    let password = SecretString::from(fields.get("password").unwrap_or_default().to_owned());
    let next = safe_next(fields.get("next"));
    let refuse = |status: StatusCode, message: &str| {
        html(
            status,
            &SignInPage {
                chrome: Chrome::anonymous("Sign in"),
                email: email_raw.clone(),
                next: next.clone(),
                error: Some(message.to_owned()),
            },
        )
    };
    let checked = async {
        state.ip_limits.login(ip)?;
        state.login_backoff.check(&email_raw, ip).await?;
        let account = match Email::parse(&email_raw) {
            Ok(email) => state.users.staff_login(&email).await?,
            Err(_) => None,
        };
        let hash = account.as_ref().map(|a| a.password_hash.as_str());
        if !state.passwords.verify(hash, &password).await {
            state.login_backoff.failed(&email_raw, ip).await?;
            return Err(AuthError::InvalidCredentials);
        }
        let account = account.ok_or(AuthError::InvalidCredentials)?;
        state.login_backoff.succeeded(&email_raw, ip).await?;
        if account.suspended {
            return Err(AuthError::Suspended);
        }
        Ok(account)
    }
    .await;
    let account = match checked {
        Ok(account) => account,
        Err(AuthError::InvalidCredentials) => {
            return Ok(refuse(
                StatusCode::UNAUTHORIZED,
                "That email and password do not match a staff account.",
            ));
        }
        Err(AuthError::Suspended) => {
            return Ok(refuse(
                StatusCode::FORBIDDEN,
                "This account is suspended. Ask an administrator.",
            ));
        }
        Err(other) => {
            let error = ApiError::from(other);
            if error.status() == StatusCode::TOO_MANY_REQUESTS {
                return Ok(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts. Wait a few minutes, then try again.",
                ));
            }
            return Err(error.into());
        }
    };
    let (token, _session) = state.web_sessions.start(account.id).await?;
    let to = if next.is_empty() {
        home_of(account.role).to_owned()
    } else {
        next
    };
    let mut response = see_other(&to);
    let max_age = state.web_sessions.policy().absolute.as_secs();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, &token, max_age));
    Ok(response)
}

/// Ends the session (its sockets close on every node) and clears the cookie. Needs the
/// session's CSRF token, so another site cannot sign anyone out.
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    _form: super::StaffForm<AnyStaff>,
) -> Result<Response, WebError> {
    if let Some(token) = super::session_token(&headers, state.secure_cookies) {
        state.web_sessions.end(&token).await?;
    }
    let mut response = see_other("/sign-in").into_response();
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, cookie(&state, "", 0));
    // Tell the browser to drop what it kept of our pages (the back button shows nothing).
    headers.insert(
        HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"cache\""),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_pages_are_returned_to() {
        assert_eq!(safe_next(Some("/portal/f/1")), "/portal/f/1");
        assert_eq!(safe_next(Some("/console")), "/console");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/portal//evil",
            "/v1/me",
            "/portal\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "", "{bad}");
        }
    }

    #[test]
    fn the_session_cookie_is_read_by_its_name_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; shiftwire_session=tok; __Host-shiftwire_session=sec"),
        );
        assert_eq!(session_token(&headers, false).as_deref(), Some("tok"));
        assert_eq!(session_token(&headers, true).as_deref(), Some("sec"));
    }
}
