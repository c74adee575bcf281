use std::time::Duration;

/// Everything that can go wrong while signing in or using a token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    InvalidPhone(#[from] shiftwire_core::PhoneError),
    #[error("too many requests; retry after {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("this refresh token was already used; the session has been signed out")]
    RefreshTokenReused,
    #[error("the access token is missing")]
    MissingToken,
    #[error("the access token is not valid")]
    InvalidToken,
    #[error("this account is suspended")]
    Suspended,
    #[error("the SMS could not be sent; try again shortly")]
    SmsUnavailable,
    #[error("{0}")]
    InvalidStaffUser(&'static str),
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("a facility in facility_ids does not exist")]
    UnknownFacility,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    InvalidProfile(&'static str),
    #[error("a reason is required")]
    ReasonRequired,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
