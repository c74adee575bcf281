//! Browser sessions of the portal and console. The browser holds a random token in an
//! `HttpOnly` cookie; the table keeps only its SHA-256. A session ends at sign-out, after
//! `idle` without a request, after `absolute` since sign-in, or when its user's token
//! generation moves on (a suspension), exactly as access tokens do.

use crate::AuthError;
use crate::refresh::{new_token, token_hash};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use shiftwire_core::{DomainEvent, EventBus, new_id};
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

/// How long a browser session lives.
#[derive(Debug, Clone)]
pub struct WebSessionPolicy {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, however busy.
    pub absolute: Duration,
}

impl Default for WebSessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// A live session, as found from its cookie.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// Put in every form and htmx request of this session (see [`csrf_token`]).
    pub csrf_token: String,
    /// When the session ends at the latest (its absolute timeout).
    pub expires_at: DateTime<Utc>,
}

/// Longest cookie value looked up; ours are 43 characters.
const MAX_TOKEN_LEN: usize = 128;
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY_SECS: f64 = 30.0;

/// The CSRF token of the session whose cookie holds `token`: derived from it, so it needs
/// no storage, and a page that shows it reveals nothing that signs anyone in.
pub fn csrf_token(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"shiftwire web csrf\0");
    hasher.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

#[derive(Clone)]
pub struct WebSessions {
    pool: PgPool,
    policy: WebSessionPolicy,
    /// Sign-outs are announced: the user's sockets close on every node.
    events: Arc<dyn EventBus>,
}

impl WebSessions {
    pub fn new(pool: PgPool, policy: WebSessionPolicy, events: Arc<dyn EventBus>) -> Self {
        Self {
            pool,
            policy,
            events,
        }
    }

    pub fn policy(&self) -> &WebSessionPolicy {
        &self.policy
    }

    /// Starts a session for a staff member who just proved their password; returns the
    /// cookie value and the session.
    pub async fn start(&self, user_id: Uuid) -> Result<(String, WebSession), AuthError> {
        let (token, hash) = new_token();
        let id = new_id();
        let expires_at = sqlx::query_scalar!(
            "INSERT INTO web_sessions (id, user_id, token_hash, token_epoch, expires_at)
             SELECT $1, u.id, $3, u.token_epoch, now() + make_interval(secs => $4)
             FROM users u WHERE u.id = $2
             RETURNING expires_at",
            id,
            user_id,
            hash,
            self.policy.absolute.as_secs_f64()
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
        let session = WebSession {
            id,
            user_id,
            csrf_token: csrf_token(&token),
            expires_at,
        };
        Ok((token, session))
    }

    /// The live session of a cookie value, or `None` when it is unknown, ended, idle too
    /// long, past its absolute end, or of a user suspended (now or since it began).
    /// Counts as activity for the idle timeout.
    pub async fn find(&self, token: &str) -> Result<Option<WebSession>, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let row = sqlx::query!(
            r#"SELECT s.id, s.user_id, s.expires_at,
                      s.last_seen_at < now() - make_interval(secs => $3) AS "stale!"
               FROM web_sessions s JOIN users u ON u.id = s.user_id
               WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now()
                 AND s.last_seen_at > now() - make_interval(secs => $2)
                 AND s.token_epoch = u.token_epoch AND u.suspended_at IS NULL"#,
            token_hash(token),
            self.policy.idle.as_secs_f64(),
            TOUCH_EVERY_SECS
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if row.stale {
            sqlx::query!(
                "UPDATE web_sessions SET last_seen_at = now() WHERE id = $1",
                row.id
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(Some(WebSession {
            id: row.id,
            user_id: row.user_id,
            csrf_token: csrf_token(token),
            expires_at: row.expires_at,
        }))
    }

    /// Ends the session of a cookie value (unknown or ended: nothing to do). Ending it and
    /// announcing it commit together, so the pages' sockets close on every node.
    pub async fn end(&self, token: &str) -> Result<(), AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let user_id = sqlx::query_scalar!(
            "UPDATE web_sessions SET ended_at = now()
             WHERE token_hash = $1 AND ended_at IS NULL RETURNING user_id",
            token_hash(token)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let events = user_id
            .map(|user_id| {
                vec![DomainEvent::UserSignedOut {
                    user_id,
                    session_id: None,
                }]
            })
            .unwrap_or_default();
        shiftwire_outbox::record_and_commit(tx, events, self.events.as_ref()).await?;
        Ok(())
    }

    /// Deletes sessions that ended or expired more than a day ago.
    pub async fn prune(&self) -> Result<u64, AuthError> {
        let done = sqlx::query!(
            "DELETE FROM web_sessions
             WHERE COALESCE(ended_at, LEAST(expires_at, last_seen_at + make_interval(secs => $1)))
                   < now() - interval '1 day'",
            self.policy.idle.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_do_not_reveal_it() {
        let (a, _) = new_token();
        let (b, _) = new_token();
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert!(!csrf_token(&a).contains(&a));
    }
}
