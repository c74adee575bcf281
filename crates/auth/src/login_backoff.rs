//! Backoff after failed staff logins, in PostgreSQL so it holds across nodes. Counted per
//! email address and client address together: someone guessing from one place slows down,
//! and a stranger cannot lock a verifier or admin out by failing on purpose from
//! elsewhere. Across all places, failures for one email above a ceiling raise an alert
//! (a warning log without the email, and a metric) for a person to look at. Counted
//! whether or not an account has the email, so nothing says which accounts exist.

use crate::{AuthError, keyed_hash};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use std::{net::IpAddr, time::Duration};

/// When the backoff starts and how long it may grow.
#[derive(Debug, Clone)]
pub struct LoginBackoffPolicy {
    /// Failed logins for one email from one client address before each further one waits.
    pub free_attempts: u32,
    /// The longest wait (it doubles from one second per failure beyond the free ones).
    pub max_lock: Duration,
    /// Failed logins for one email from anywhere within an hour that raise an alert.
    pub account_alert: u32,
}

impl Default for LoginBackoffPolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            max_lock: Duration::from_secs(15 * 60),
            account_alert: 100,
        }
    }
}

/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct LoginBackoff {
    pool: PgPool,
    secret: SecretString,
    policy: LoginBackoffPolicy,
}

impl LoginBackoff {
    pub fn new(pool: PgPool, secret: SecretString, policy: LoginBackoffPolicy) -> Self {
        Self {
            pool,
            secret,
            policy,
        }
    }

    /// The key of one email from one client address.
    fn key(&self, email: &str, client: IpAddr) -> Vec<u8> {
        let normalised = email.trim().to_lowercase();
        keyed_hash(
            self.secret.expose_secret().as_bytes(),
            format!("login:{normalised}|{client}").as_bytes(),
        )
    }

    /// The key of one email from anywhere (the alert's count).
    fn account_key(&self, email: &str) -> Vec<u8> {
        let normalised = email.trim().to_lowercase();
        keyed_hash(
            self.secret.expose_secret().as_bytes(),
            format!("login-account:{normalised}").as_bytes(),
        )
    }

    /// Refuses a login attempt for `email` from `client` while its backoff runs.
    pub async fn check(&self, email: &str, client: IpAddr) -> Result<(), AuthError> {
        let wait = sqlx::query_scalar!(
            "SELECT EXTRACT(EPOCH FROM locked_until - now())::float8 FROM login_failures
             WHERE account_key = $1 AND locked_until > now()",
            self.key(email, client)
        )
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        match wait {
            Some(secs) => Err(AuthError::RateLimited {
                retry_after: Duration::from_secs_f64(secs.ceil().max(1.0)),
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed login; beyond the free attempts, each one locks the email for
    /// this client for 1, 2, 4, ... seconds, up to the policy's maximum. Failures for the
    /// email from anywhere that reach the alert ceiling are reported.
    pub async fn failed(&self, email: &str, client: IpAddr) -> Result<(), AuthError> {
        let account_failures = self.count(self.account_key(email)).await?;
        if account_failures == i32::try_from(self.policy.account_alert).unwrap_or(i32::MAX) {
            metrics::counter!("login_failures_alerts_total").increment(1);
            tracing::warn!(
                failures = account_failures,
                "failed logins for one staff email within an hour reached the alert ceiling"
            );
        }
        self.count(self.key(email, client)).await?;
        sqlx::query!(
            "UPDATE login_failures SET locked_until = now() + make_interval(
                 secs => least($3, power(2, failures - $2 - 1)))
             WHERE account_key = $1 AND failures > $2",
            self.key(email, client),
            i32::try_from(self.policy.free_attempts).unwrap_or(i32::MAX),
            self.policy.max_lock.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Adds a failure under `key`; returns the count within the memory window.
    async fn count(&self, key: Vec<u8>) -> Result<i32, AuthError> {
        Ok(sqlx::query_scalar!(
            "INSERT INTO login_failures AS l (account_key, failures) VALUES ($1, 1)
             ON CONFLICT (account_key) DO UPDATE SET
                 failures = CASE WHEN l.last_failed_at < now() - make_interval(secs => $2)
                                 THEN 1 ELSE l.failures + 1 END,
                 last_failed_at = now()
             RETURNING failures",
            key,
            MEMORY.as_secs_f64()
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// A successful login clears the failures of the email from this client.
    pub async fn succeeded(&self, email: &str, client: IpAddr) -> Result<(), AuthError> {
        sqlx::query!(
            "DELETE FROM login_failures WHERE account_key = $1",
            self.key(email, client)
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets failures nobody has added to for an hour.
    pub async fn prune(&self) -> Result<u64, AuthError> {
        let done = sqlx::query!(
            "DELETE FROM login_failures
             WHERE last_failed_at < now() - make_interval(secs => $1)
               AND (locked_until IS NULL OR locked_until < now())",
            MEMORY.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
