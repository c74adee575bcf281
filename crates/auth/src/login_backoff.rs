//! Per-account backoff after failed staff logins, in PostgreSQL so it holds across
//! nodes. Counted per email address whether or not an account has it, so the backoff
//! says nothing about which accounts exist.

use crate::{AuthError, keyed_hash};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use std::time::Duration;

/// When the backoff starts and how long it may grow.
#[derive(Debug, Clone)]
pub struct LoginBackoffPolicy {
    /// Failed logins for one email before each further one waits.
    pub free_attempts: u32,
    /// The longest wait (it doubles from one second per failure beyond the free ones).
    pub max_lock: Duration,
}

impl Default for LoginBackoffPolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            max_lock: Duration::from_secs(15 * 60),
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

    fn key(&self, email: &str) -> Vec<u8> {
        let normalised = email.trim().to_lowercase();
        keyed_hash(
            self.secret.expose_secret().as_bytes(),
            format!("login:{normalised}").as_bytes(),
        )
    }

    /// Refuses a login attempt for `email` while its backoff runs.
    pub async fn check(&self, email: &str) -> Result<(), AuthError> {
        let wait = sqlx::query_scalar!(
            "SELECT EXTRACT(EPOCH FROM locked_until - now())::float8 FROM login_failures
             WHERE account_key = $1 AND locked_until > now()",
            self.key(email)
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
    /// 1, 2, 4, ... seconds, up to the policy's maximum.
    pub async fn failed(&self, email: &str) -> Result<(), AuthError> {
        sqlx::query!(
            "INSERT INTO login_failures AS l (account_key, failures) VALUES ($1, 1)
             ON CONFLICT (account_key) DO UPDATE SET
                 failures = CASE WHEN l.last_failed_at < now() - make_interval(secs => $2)
                                 THEN 1 ELSE l.failures + 1 END,
                 last_failed_at = now()",
            self.key(email),
            MEMORY.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        sqlx::query!(
            "UPDATE login_failures SET locked_until = now() + make_interval(
                 secs => least($3, power(2, failures - $2 - 1)))
             WHERE account_key = $1 AND failures > $2",
            self.key(email),
            i32::try_from(self.policy.free_attempts).unwrap_or(i32::MAX),
            self.policy.max_lock.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A successful login clears the email's failures.
    pub async fn succeeded(&self, email: &str) -> Result<(), AuthError> {
        sqlx::query!(
            "DELETE FROM login_failures WHERE account_key = $1",
            self.key(email)
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
