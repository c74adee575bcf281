//! Single-use WebSocket tickets, for clients that cannot set an Authorization header on
//! the upgrade request: issued to a signed-in user, good for one connection within 30 s.
//! Only a hash is stored, so the table cannot be replayed.

use crate::{
    AuthError,
    refresh::{new_token, token_hash},
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Whom a redeemed ticket opens a socket for, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Redeemed {
    pub user_id: Uuid,
    /// The expiry of the access token that asked for the ticket: the socket must be given
    /// a fresh one (`auth`) by then.
    pub access_expires_at: Option<DateTime<Utc>>,
}

/// How long a ticket may wait to be used.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
const MAX_TICKET_LEN: usize = 128;

#[derive(Clone)]
pub struct WsTickets {
    pool: PgPool,
}

impl WsTickets {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A new ticket for `user_id`, asked for by an access token of `session` that expires
    /// at `access_expires_at`.
    pub async fn issue(
        &self,
        user_id: Uuid,
        session: Option<Uuid>,
        access_expires_at: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let (ticket, hash) = new_token();
        // Only while the session lasts: a token of a session that ended gets no ticket.
        let issued = sqlx::query!(
            "INSERT INTO ws_tickets (ticket_hash, user_id, expires_at, family_id, access_expires_at)
             SELECT $1, $2, now() + make_interval(secs => $3), $4, $5
             WHERE $4::uuid IS NULL OR EXISTS (
                 SELECT 1 FROM refresh_families
                 WHERE id = $4 AND user_id = $2 AND revoked_at IS NULL)",
            hash,
            user_id,
            TICKET_TTL.as_secs_f64(),
            session,
            access_expires_at
        )
        .execute(&self.pool)
        .await?;
        if issued.rows_affected() != 1 {
            return Err(AuthError::InvalidToken);
        }
        Ok(ticket)
    }

    /// Spends a ticket: the user it was issued to, once, if it has not expired and its
    /// session has not ended (signed out, or revoked for a reused refresh token).
    pub async fn redeem(&self, ticket: &str) -> Result<Option<Redeemed>, AuthError> {
        if ticket.is_empty() || ticket.len() > MAX_TICKET_LEN {
            return Ok(None);
        }
        let redeemed = sqlx::query!(
            "UPDATE ws_tickets t SET used_at = now()
             WHERE t.ticket_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()
               AND (t.family_id IS NULL OR EXISTS (
                        SELECT 1 FROM refresh_families f
                        WHERE f.id = t.family_id AND f.revoked_at IS NULL))
             RETURNING t.user_id, t.access_expires_at",
            token_hash(ticket)
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(redeemed.map(|r| Redeemed {
            user_id: r.user_id,
            access_expires_at: r.access_expires_at,
        }))
    }

    /// Deletes tickets that expired more than an hour ago.
    pub async fn prune(&self) -> Result<u64, AuthError> {
        let done =
            sqlx::query!("DELETE FROM ws_tickets WHERE expires_at < now() - interval '1 hour'")
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}
