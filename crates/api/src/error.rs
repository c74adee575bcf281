//! One error type for every route. It renders RFC 9457 problem+json with a stable `code`;
//! internal detail (SQL errors, causes) goes to the log inside the request span, never
//! into the response body.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use shiftwire_auth::AuthError;
use shiftwire_matching::MatchingError;
use shiftwire_verification::VerificationError;
use std::time::Duration;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The body of every error response (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:shiftwire:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the status, e.g. "Conflict".
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Stable, machine-readable snake_case code, e.g. `invalid_code`, `shift_taken`.
    pub code: String,
    /// Extension members of some problems: `rule` (which eligibility rule refused, with
    /// `not_eligible`), `distance_m` and `geofence_m` (with `outside_geofence`).
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<Duration>,
    extensions: serde_json::Map<String, serde_json::Value>,
    /// Logged, never sent.
    internal: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            extensions: serde_json::Map::new(),
            internal: None,
        }
    }

    /// Adds an extension member to the problem body.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side; it has been logged",
            )
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not do this",
        )
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The problem body this error renders as.
    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: format!("urn:shiftwire:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            extensions: self.extensions.clone(),
        }
    }
}

impl ApiError {
    /// Logs the error as its response does: a server error with its internal cause, a
    /// refusal at debug level. The web pages call it before rendering their own page.
    pub(crate) fn log(&self) {
        if self.status.is_server_error() {
            tracing::error!(
                code = self.code,
                cause = self.internal.as_deref(),
                "request failed"
            );
        } else {
            tracing::debug!(
                code = self.code,
                status = self.status.as_u16(),
                "request refused"
            );
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            // The database is down or saturated: tell the client to retry, quickly.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => Self {
                internal: Some(error.to_string()),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the service is temporarily unavailable; try again shortly",
                )
                .with_retry_after(Duration::from_secs(2))
            },
            _ => Self::internal(error),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        use StatusCode as S;
        match error {
            AuthError::InvalidPhone(e) => Self::unprocessable("invalid_phone", e.to_string()),
            AuthError::RateLimited { retry_after } => Self::new(
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; wait before trying again",
            )
            .with_retry_after(retry_after),
            AuthError::InvalidCode => Self::new(
                S::UNAUTHORIZED,
                "invalid_code",
                "the code is wrong, expired or already used; request a new one if needed",
            ),
            AuthError::InvalidCredentials => Self::new(
                S::UNAUTHORIZED,
                "invalid_credentials",
                "email or password is wrong",
            ),
            AuthError::InvalidRefreshToken => Self::new(
                S::UNAUTHORIZED,
                "invalid_refresh_token",
                "the refresh token is not valid; sign in again",
            ),
            AuthError::RefreshTokenReused => Self::new(
                S::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was already used, so the session was signed out; sign in again",
            ),
            AuthError::MissingToken => Self::new(
                S::UNAUTHORIZED,
                "missing_token",
                "send an access token as `Authorization: Bearer <token>`",
            ),
            AuthError::InvalidToken => Self::new(
                S::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid or expired",
            ),
            AuthError::Suspended => Self::new(
                S::FORBIDDEN,
                "account_suspended",
                "this account is suspended; contact Shiftwire support",
            ),
            AuthError::SmsUnavailable => Self::new(
                S::SERVICE_UNAVAILABLE,
                "sms_unavailable",
                "the code could not be sent; try again shortly",
            )
            .with_retry_after(Duration::from_secs(5)),
            AuthError::InvalidStaffUser(why) => Self::unprocessable("invalid_user", why),
            AuthError::EmailTaken => Self::new(
                S::CONFLICT,
                "email_taken",
                "a user with this email already exists",
            ),
            AuthError::UnknownFacility => Self::unprocessable(
                "unknown_facility",
                "a facility in facility_ids does not exist",
            ),
            AuthError::NotFound => Self::not_found(),
            AuthError::InvalidProfile(why) => Self::unprocessable("invalid_profile", why),
            AuthError::ReasonRequired => Self::unprocessable(
                "reason_required",
                "a reason of 1 to 1000 characters is required",
            ),
            AuthError::Database(e) => e.into(),
            AuthError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<VerificationError> for ApiError {
    fn from(error: VerificationError) -> Self {
        use StatusCode as S;
        match error {
            VerificationError::NotFound => Self::not_found(),
            VerificationError::InvalidCredential(why) => {
                Self::unprocessable("invalid_credential", why)
            }
            VerificationError::InvalidIdentity(why) => Self::unprocessable("invalid_identity", why),
            VerificationError::LicenceInUse => Self::new(
                S::CONFLICT,
                "licence_in_use",
                "this licence is already approved on another account",
            ),
            VerificationError::IdentityUnverified => Self::new(
                S::CONFLICT,
                "identity_unverified",
                "the nurse has no verified identity: licences are approved against a verified legal name only",
            ),
            VerificationError::IdentityAlreadyVerified => Self::new(
                S::CONFLICT,
                "identity_verified",
                "your identity is already verified; contact Shiftwire support to change your legal name",
            ),
            VerificationError::NotRevocable => Self::new(
                S::CONFLICT,
                "not_revocable",
                "only an approved credential can be revoked; reject a pending one instead",
            ),
            VerificationError::UnsupportedIdentityDocument(why) => {
                Self::new(S::UNSUPPORTED_MEDIA_TYPE, "unsupported_document_type", why)
            }
            VerificationError::DuplicateCredential => Self::new(
                S::CONFLICT,
                "credential_exists",
                "this credential is already on file and pending or approved",
            ),
            VerificationError::AlreadyDecided => Self::new(
                S::CONFLICT,
                "already_decided",
                "this credential has already been decided",
            ),
            VerificationError::CredentialExpired => Self::new(
                S::CONFLICT,
                "credential_expired",
                "this credential has expired and cannot be approved",
            ),
            VerificationError::UnsupportedDocumentType => Self::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_document_type",
                "the document must be a PDF, JPEG or PNG file",
            ),
            VerificationError::ReasonRequired => Self::unprocessable(
                "reason_required",
                "a reason of 1 to 1000 characters is required",
            ),
            VerificationError::Store(e) => Self::internal(e),
            VerificationError::Database(e) => e.into(),
            VerificationError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<MatchingError> for ApiError {
    fn from(error: MatchingError) -> Self {
        use StatusCode as S;
        match error {
            MatchingError::NotFound => Self::not_found(),
            MatchingError::Invalid(why) => Self::unprocessable("invalid_request", why),
            MatchingError::InvalidTerms(why) => {
                Self::unprocessable("invalid_request", why.to_string())
            }
            MatchingError::InvalidProfile(why) => Self::unprocessable("invalid_profile", why),
            MatchingError::ShiftTaken => Self::new(
                S::CONFLICT,
                "shift_taken",
                "another nurse booked this shift first",
            ),
            MatchingError::ShiftNotOpen => Self::new(
                S::CONFLICT,
                "shift_not_open",
                "this shift is no longer open (cancelled or started)",
            ),
            MatchingError::ScheduleConflict => Self::new(
                S::CONFLICT,
                "schedule_conflict",
                "you already have a booking that overlaps this shift",
            ),
            MatchingError::NotVerified => Self::new(
                S::FORBIDDEN,
                "not_verified",
                "you need an approved, unexpired licence before claiming shifts",
            ),
            MatchingError::NotEligible(rule) => Self::new(
                S::FORBIDDEN,
                "not_eligible",
                format!("you are not eligible for this shift: {}", rule.as_str()),
            )
            .with("rule", rule.as_str()),
            e @ MatchingError::OutsideGeofence {
                distance_m,
                geofence_m,
            } => Self::new(S::FORBIDDEN, "outside_geofence", e.to_string())
                .with("distance_m", distance_m.round())
                .with("geofence_m", geofence_m),
            e @ MatchingError::NotReleasable => {
                Self::new(S::CONFLICT, "not_releasable", e.to_string())
            }
            e @ MatchingError::BookingNotActive => {
                Self::new(S::CONFLICT, "booking_not_active", e.to_string())
            }
            e @ MatchingError::NotCheckable(..) => {
                Self::new(S::CONFLICT, "not_checkable", e.to_string())
            }
            e @ MatchingError::AttendanceRestricted(until) => {
                Self::new(S::FORBIDDEN, "attendance_restricted", e.to_string())
                    .with("restricted_until", until.to_rfc3339())
            }
            e @ MatchingError::NurseBlocked => {
                Self::new(S::CONFLICT, "nurse_blocked", e.to_string())
            }
            e @ MatchingError::BookingNoShow => {
                Self::new(S::CONFLICT, "booking_no_show", e.to_string())
            }
            e @ MatchingError::OnTheWayTooEarly => {
                Self::new(S::CONFLICT, "outside_on_the_way_window", e.to_string())
            }
            e @ MatchingError::OutsideCheckInWindow => {
                Self::new(S::CONFLICT, "outside_check_in_window", e.to_string())
            }
            e @ MatchingError::OutsideCheckOutWindow => {
                Self::new(S::CONFLICT, "outside_check_out_window", e.to_string())
            }
            e @ MatchingError::ShiftNotEditable(_) => {
                Self::new(S::CONFLICT, "shift_not_editable", e.to_string())
            }
            e @ MatchingError::ShiftNotCancellable(_) => {
                Self::new(S::CONFLICT, "shift_not_cancellable", e.to_string())
            }
            MatchingError::ShiftBooked(detail) => Self::new(S::CONFLICT, "shift_booked", detail),
            MatchingError::ReasonRequired => Self::unprocessable(
                "reason_required",
                "a reason of 1 to 1000 characters is required",
            ),
            e @ MatchingError::TimesheetDecided(_) => {
                Self::new(S::CONFLICT, "timesheet_decided", e.to_string())
            }
            e @ MatchingError::TimesheetNotDisputable(_) => {
                Self::new(S::CONFLICT, "timesheet_not_disputable", e.to_string())
            }
            e @ MatchingError::DisputeWindowClosed => {
                Self::new(S::CONFLICT, "dispute_window_closed", e.to_string())
            }
            e @ MatchingError::TimesheetNotDisputed(_) => {
                Self::new(S::CONFLICT, "timesheet_not_disputed", e.to_string())
            }
            MatchingError::NoSearchPoint => Self::unprocessable(
                "no_search_point",
                "pass lat and lon, or set a home location on your profile",
            ),
            MatchingError::Database(e) => e.into(),
        }
    }
}
