//! The web pages of `shiftwire serve`: the scheduler portal (`/portal`) and the
//! verification console (`/console`). Server-rendered askama templates with htmx; the
//! session is a cookie (see `session`), every form carries the session's CSRF token, and
//! every page calls the same domain functions, with the same roles and tenancy, as the API.

mod assets;
mod console;
mod nurses;
mod portal;
mod session;
mod timesheets;

use crate::{
    ApiError, AppState,
    extract::{Allowed, signed_in},
};
use askama::Template;
use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use shiftwire_auth::{Principal, WebSession};
use shiftwire_core::Role;
use std::{marker::PhantomData, time::Instant};

pub(crate) use session::session_token;

/// The pages' policy: scripts and styles from our own origin only (no inline script),
/// images and frames from our own origin (documents), the WebSocket to our own origin.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; frame-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Every page route. Merged into the API's router, so the same limits and headers apply.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/assets/{name}", get(assets::serve))
        .merge(session::routes())
        .merge(portal::routes())
        .merge(timesheets::routes())
        .merge(nurses::routes())
        .merge(console::routes())
        .layer(middleware::from_fn(server_timing))
}

/// `Server-Timing: app;dur=<ms>` on every page: how long the server took to render it
/// (what the portal benchmark reads).
async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// `/`: the staff member's own area, or the sign-in page.
async fn home(staff: Option<Staff<AnyStaff>>) -> Redirect {
    match staff.map(|s| s.user.role) {
        Some(Role::Scheduler) => Redirect::to("/portal"),
        Some(_) => Redirect::to("/console"),
        None => Redirect::to("/sign-in"),
    }
}

// ---------------------------------------------------------------- roles of pages

/// Any staff member (nurses use the app, not these pages).
pub(crate) struct AnyStaff;
impl Allowed for AnyStaff {
    const ROLES: &'static [Role] = &[Role::Scheduler, Role::Verifier, Role::Admin];
}

// ---------------------------------------------------------------- the signed-in staff member

/// The signed-in staff member of a page, admitted only if their role is in `A`. Without a
/// live session the page answers with the sign-in page (303); with the wrong role, 403.
pub(crate) struct Staff<A: Allowed> {
    pub user: Principal,
    pub session: WebSession,
    pub email: String,
    _roles: PhantomData<fn() -> A>,
}

impl<A: Allowed> Staff<A> {
    /// The page chrome for this staff member.
    pub fn chrome(&self, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            signed_in: true,
            email: self.email.clone(),
            csrf: self.session.csrf_token.clone(),
            scheduler: self.user.role == Role::Scheduler,
            admin: self.user.role == Role::Admin,
        }
    }
}

impl Staff<crate::extract::AdminOnly> {
    /// An admin sees every console page a verifier sees.
    pub fn viewer(&self) -> Staff<crate::extract::VerifierOrAdmin> {
        Staff {
            user: self.user.clone(),
            session: self.session.clone(),
            email: self.email.clone(),
            _roles: PhantomData,
        }
    }
}

impl<A: Allowed> FromRequestParts<AppState> for Staff<A> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let sign_in = || WebError::SignIn {
            next: next_of(parts),
        };
        let token = session_token(&parts.headers, state.secure_cookies).ok_or_else(sign_in)?;
        let session = state
            .web_sessions
            .find(&token)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(sign_in)?;
        let user = match signed_in(state, session.user_id, None).await {
            Ok(user) => user,
            Err(_) => return Err(sign_in()),
        };
        if !A::ROLES.contains(&user.role) {
            return Err(WebError::Forbidden);
        }
        let email = state
            .users
            .staff_email(user.id)
            .await
            .map_err(ApiError::from)?
            .unwrap_or_default();
        Ok(Self {
            user,
            session,
            email,
            _roles: PhantomData,
        })
    }
}

impl<A: Allowed> axum::extract::OptionalFromRequestParts<AppState> for Staff<A> {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, WebError> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(staff) => Ok(Some(staff)),
            Err(WebError::SignIn { .. } | WebError::Forbidden) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// Where to come back to after signing in: this page, if it was a GET of a page.
fn next_of(parts: &Parts) -> String {
    if parts.method != Method::GET {
        return String::new();
    }
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with("/portal") || p.starts_with("/console"))
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------- forms

/// The fields of a form the signed-in staff member posted, after the CSRF checks: the
/// request comes from our own origin (`Sec-Fetch-Site`, `Origin`), and its `_csrf` field
/// (or `X-CSRF-Token` header, sent by htmx) is the session's token.
pub(crate) struct StaffForm<A: Allowed> {
    pub staff: Staff<A>,
    pub fields: Fields,
}

impl<A: Allowed> FromRequest<AppState> for StaffForm<A> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let staff = Staff::<A>::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            return Err(WebError::Csrf);
        }
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(WebError::Page(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "this page takes a form",
            )));
        }
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| {
                WebError::Page(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the form is too large",
                ))
            })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            WebError::Page(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_form",
                "the form could not be read",
            ))
        })?;
        let fields = Fields(pairs);
        let sent = fields.get("_csrf").map(str::to_owned).or_else(|| {
            parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let expected = staff.session.csrf_token.as_bytes();
        let matches = sent
            .is_some_and(|sent| subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), expected).into());
        if !matches {
            return Err(WebError::Csrf);
        }
        Ok(Self { staff, fields })
    }
}

/// Whether a state-changing request comes from our own pages. A browser says so in
/// `Sec-Fetch-Site`, which decides alone when present (with our `Referrer-Policy:
/// no-referrer`, Chromium sends `Origin: null` on same-origin form posts). Without it, an
/// `Origin` must name the host the request went to. A client that sends neither (not a
/// browser) still needs the session's CSRF token.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => origin_is_host(origin, headers),
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host this request was sent to.
pub(crate) fn origin_is_host(origin: &HeaderValue, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// The name/value pairs of a posted form, in order (a name may repeat).
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

// ---------------------------------------------------------------- rendering

/// What every page's layout shows: the title, who is signed in, and the CSRF token that
/// forms and htmx requests carry.
#[derive(Clone)]
pub(crate) struct Chrome {
    pub title: String,
    pub signed_in: bool,
    pub email: String,
    pub csrf: String,
    pub scheduler: bool,
    pub admin: bool,
}

impl Chrome {
    /// The chrome of a page seen signed out (sign-in, errors before sign-in).
    pub fn anonymous(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            signed_in: false,
            email: String::new(),
            csrf: String::new(),
            scheduler: false,
            admin: false,
        }
    }
}

/// A rendered page (or fragment) with its status and the pages' headers: the strict CSP,
/// and `no-store` so that nothing a page showed stays in a cache after sign-out.
pub(crate) fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, private"),
            );
            response
        }
        Err(error) => {
            ApiError::internal(format!("rendering a page: {error}")).log();
            (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response()
        }
    }
}

pub(crate) fn page(template: &impl Template) -> Response {
    html(StatusCode::OK, template)
}

/// After a form: back to `to` with a GET (so a reload does not post again).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
}

/// How a page fails: to the sign-in page, or an error page in words.
#[derive(Debug)]
pub(crate) enum WebError {
    SignIn { next: String },
    Forbidden,
    Csrf,
    Page(ApiError),
}

impl<E: Into<ApiError>> From<E> for WebError {
    fn from(error: E) -> Self {
        Self::Page(error.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            Self::SignIn { next } => {
                let to = if next.is_empty() {
                    "/sign-in".to_owned()
                } else {
                    format!("/sign-in?next={}", urlencode(&next))
                };
                return Redirect::to(&to).into_response();
            }
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not for your role".to_owned(),
                "This page is for another kind of staff account.".to_owned(),
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "The form was refused".to_owned(),
                "The form did not come from this site's own page, or the page is too old. \
                 Go back, reload the page and try again."
                    .to_owned(),
            ),
            Self::Page(error) => {
                error.log();
                let status = error.status();
                let heading = match status {
                    StatusCode::NOT_FOUND => "Not found".to_owned(),
                    s if s.is_server_error() => "Something went wrong".to_owned(),
                    s => s.canonical_reason().unwrap_or("Error").to_owned(),
                };
                let message = if status == StatusCode::NOT_FOUND {
                    "There is no such page, or it is not one of yours.".to_owned()
                } else {
                    error.problem().detail
                };
                (status, heading, message)
            }
        };
        html(
            status,
            &ErrorPage {
                chrome: Chrome::anonymous(heading.clone()),
                heading,
                message,
            },
        )
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// "3 h 5 min ago"-style ages for people.
pub(crate) fn age(since: chrono::DateTime<chrono::Utc>) -> String {
    let minutes = (chrono::Utc::now() - since).num_minutes().max(0);
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// A reason code of the review queue, in words.
pub(crate) fn reason_in_words(code: &str) -> &'static str {
    match code {
        "identity_unverified" => "No verified identity yet",
        "identity_review" => "Identity to compare with the photo ID",
        "identity_provider_unavailable" => "The identity service could not be reached",
        "identity_missing" => "Approved before identity checks; no identity on file",
        "name_mismatch" => "Registry name differs from the verified legal name",
        "licence_in_use" => "Licence already approved on another account",
        "not_found" => "Not found in the state registry",
        "ambiguous_match" => "Several registry records match",
        "registry_unavailable" => "The state registry could not be reached",
        "registry_changed" => "The registry's record changed since approval",
        "discipline_flag" => "The registry shows a discipline flag",
        "license_inactive" => "The registry shows the licence inactive",
        "license_expired" => "The registry shows the licence expired",
        "expiry_mismatch" => "Expiry date differs from the registry",
        "certification_review" => "Certification card to check by eye",
        _ => "Needs a person's decision",
    }
}

/// Money for people: `$65.00`.
pub(crate) fn dollars(cents: i32) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_our_own_origin_may_post() {
        assert!(same_origin(&headers(&[("host", "portal.example")])));
        assert!(same_origin(&headers(&[
            ("host", "portal.example"),
            ("origin", "https://portal.example"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "portal.example"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "portal.example"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "portal.example"),
            ("sec-fetch-site", "same-site"),
        ])));
        // Chromium's same-origin form post under `Referrer-Policy: no-referrer`.
        assert!(same_origin(&headers(&[
            ("host", "portal.example"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "portal.example"),
            ("origin", "null"),
        ])));
    }

    #[test]
    fn money_and_codes_read_as_words() {
        assert_eq!(dollars(6505), "$65.05");
        assert_eq!(
            reason_in_words("name_mismatch"),
            "Registry name differs from the verified legal name"
        );
        assert_eq!(
            urlencode("/portal/f/1?day=2026-12-01"),
            "%2Fportal%2Ff%2F1%3Fday%3D2026-12-01"
        );
    }
}
