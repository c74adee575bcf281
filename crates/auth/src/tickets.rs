//! Single-use WebSocket tickets, for clients that cannot set an Authorization header on
//! the upgrade request: issued to a signed-in user, good for one connection within 30 s.
//! Only a hash is stored, so the table cannot be replayed.

use crate::{
    AuthError,
    refresh::{new_token, token_hash},
};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

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

    /// A new ticket for `user_id`.
    pub async fn issue(&self, user_id: Uuid) -> Result<String, AuthError> {
        let (ticket, hash) = new_token();
        sqlx::query!(
            "INSERT INTO ws_tickets (ticket_hash, user_id, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
            hash,
            user_id,
            TICKET_TTL.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(ticket)
    }

    /// Spends a ticket: the user it was issued to, once, if it has not expired.
    pub async fn redeem(&self, ticket: &str) -> Result<Option<Uuid>, AuthError> {
        if ticket.is_empty() || ticket.len() > MAX_TICKET_LEN {
            return Ok(None);
        }
        let user_id = sqlx::query_scalar!(
            "UPDATE ws_tickets SET used_at = now()
             WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING user_id",
            token_hash(ticket)
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(user_id)
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
