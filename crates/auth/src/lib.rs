//! Signing in to Shiftwire: SMS one-time codes for nurses, passwords for staff, short-lived
//! access tokens, rotating refresh-token families, and the abuse limits around them.

pub mod accounts;
mod error;
pub mod jwt;
pub mod login_backoff;
pub mod otp;
pub mod password;
mod principal_reads;
pub mod rate_limit;
pub mod refresh;
pub mod sms;
pub mod texts;
pub mod tickets;
pub mod users;
pub mod web_sessions;

pub use accounts::{Accounts, NurseAccount, display_name, nurse_standing_in};
pub use error::AuthError;
pub use jwt::{AccessClaims, JwtKeys};
pub use login_backoff::{LoginBackoff, LoginBackoffPolicy};
pub use otp::{OtpPolicy, OtpService};
pub use password::PasswordHasher;
pub use rate_limit::{IpRateLimits, RateLimitSettings};
pub use refresh::{RefreshTokens, TokenPair};
pub use sms::{LogSms, SmsError, SmsSender, WebhookSms};
pub use texts::{NurseTexts, TextRefused};
pub use tickets::{Redeemed, TICKET_TTL, WsTickets};
pub use users::{Principal, StaffUser, Users};
pub use web_sessions::{WebSession, WebSessionPolicy, WebSessions, csrf_token};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `data` under `key`: how phones and codes are stored.
pub(crate) fn keyed_hash(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}
