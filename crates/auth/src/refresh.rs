use crate::{AuthError, JwtKeys};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{RngCore, rngs::OsRng};
use sha2::{Digest, Sha256};
use shiftwire_core::{DomainEvent, EventBus, Role, new_id};
use sqlx::{PgPool, Postgres, Transaction};
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

/// What a successful sign-in or refresh returns.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Opaque, single-use refresh tokens in families: each sign-in starts a family, each
/// refresh spends the presented token and issues the next one in the same family, and a
/// spent token presented again revokes the whole family (someone copied it).
#[derive(Clone)]
pub struct RefreshTokens {
    pool: PgPool,
    jwt: Arc<JwtKeys>,
    ttl: Duration,
    /// Where sign-outs are announced: the user's sockets close on every node.
    events: Arc<dyn EventBus>,
}

/// Longest refresh token we bother to look up; ours are 43 characters.
const MAX_TOKEN_LEN: usize = 128;

pub(crate) fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

// The token is 256 random bits, so a plain SHA-256 is enough to make a stolen table useless.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl RefreshTokens {
    pub fn new(pool: PgPool, jwt: Arc<JwtKeys>, ttl: Duration, events: Arc<dyn EventBus>) -> Self {
        Self {
            pool,
            jwt,
            ttl,
            events,
        }
    }

    async fn insert_token(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        family_id: Uuid,
    ) -> Result<String, AuthError> {
        let (token, hash) = new_token();
        sqlx::query!(
            "INSERT INTO refresh_tokens (token_hash, family_id, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
            hash,
            family_id,
            self.ttl.as_secs_f64()
        )
        .execute(&mut **tx)
        .await?;
        Ok(token)
    }

    fn pair(
        &self,
        user_id: Uuid,
        role: Role,
        family_id: Uuid,
        epoch: i32,
        refresh_token: String,
    ) -> Result<TokenPair, AuthError> {
        Ok(TokenPair {
            access_token: self.jwt.issue(user_id, role, family_id, epoch)?,
            refresh_token,
            expires_in: self.jwt.ttl().as_secs(),
        })
    }

    /// Starts a new family for a fresh sign-in.
    pub async fn sign_in(&self, user_id: Uuid, role: Role) -> Result<TokenPair, AuthError> {
        let mut tx = self.pool.begin().await?;
        let family_id = new_id();
        sqlx::query!(
            "INSERT INTO refresh_families (id, user_id) VALUES ($1, $2)",
            family_id,
            user_id
        )
        .execute(&mut *tx)
        .await?;
        let token = self.insert_token(&mut tx, family_id).await?;
        let epoch = sqlx::query_scalar!("SELECT token_epoch FROM users WHERE id = $1", user_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        self.pair(user_id, role, family_id, epoch, token)
    }

    /// Spends `token` and returns the next pair of its family.
    pub async fn rotate(&self, token: &str) -> Result<TokenPair, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::InvalidRefreshToken);
        }
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE serialises concurrent refreshes of one token: the second sees it spent.
        let row = sqlx::query!(
            r#"SELECT t.family_id, t.used_at IS NOT NULL AS "spent!",
                      t.expires_at <= now() AS "expired!",
                      f.revoked_at IS NOT NULL AS "revoked!",
                      u.id AS user_id, u.role, u.suspended_at IS NOT NULL AS "suspended!",
                      u.token_epoch
               FROM refresh_tokens t
               JOIN refresh_families f ON f.id = t.family_id
               JOIN users u ON u.id = f.user_id
               WHERE t.token_hash = $1
               FOR UPDATE OF t, f"#,
            token_hash(token)
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AuthError::InvalidRefreshToken)?;

        if row.spent {
            sqlx::query!(
                "UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'reuse'
                 WHERE id = $1 AND revoked_at IS NULL",
                row.family_id
            )
            .execute(&mut *tx)
            .await?;
            // Someone copied the token: the user's sockets close on every node too.
            let event = DomainEvent::UserSignedOut {
                user_id: row.user_id,
                session_id: Some(row.family_id),
            };
            shiftwire_outbox::record_and_commit(tx, vec![event], self.events.as_ref()).await?;
            tracing::warn!(family_id = %row.family_id, user_id = %row.user_id,
                "spent refresh token presented again; family revoked");
            return Err(AuthError::RefreshTokenReused);
        }
        if row.revoked || row.expired {
            return Err(AuthError::InvalidRefreshToken);
        }
        if row.suspended {
            return Err(AuthError::Suspended);
        }
        let role: Role = row
            .role
            .parse()
            .map_err(|_| AuthError::Internal("unknown role in users table".into()))?;
        sqlx::query!(
            "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
            token_hash(token)
        )
        .execute(&mut *tx)
        .await?;
        let next = self.insert_token(&mut tx, row.family_id).await?;
        tx.commit().await?;
        self.pair(row.user_id, role, row.family_id, row.token_epoch, next)
    }

    /// Deletes tokens that expired more than a day ago, and families left without tokens.
    pub async fn prune(&self) -> Result<u64, AuthError> {
        let tokens =
            sqlx::query!("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
                .execute(&self.pool)
                .await?;
        sqlx::query!(
            "DELETE FROM refresh_families f
             WHERE created_at < now() - interval '1 day'
               AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)"
        )
        .execute(&self.pool)
        .await?;
        Ok(tokens.rows_affected())
    }
}

/// Revokes every refresh family of a user inside the caller's transaction (suspension).
/// `reason` is one of `logout`, `reuse`, `suspension`.
pub(crate) async fn revoke_all_in(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    reason: &str,
) -> Result<u64, AuthError> {
    let done = sqlx::query!(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        reason
    )
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

impl RefreshTokens {
    /// Signs out the session of `token` (an unknown or already ended session is not an
    /// error). Ending it and announcing it commit together: the user's sockets close on
    /// every node, and tickets the session issued die with it.
    pub async fn sign_out(&self, token: &str) -> Result<(), AuthError> {
        let mut tx = self.pool.begin().await?;
        let signed_out = sign_out_in(&mut tx, token).await?;
        let events = signed_out
            .map(|(user_id, session_id)| {
                vec![DomainEvent::UserSignedOut {
                    user_id,
                    session_id: Some(session_id),
                }]
            })
            .unwrap_or_default();
        shiftwire_outbox::record_and_commit(tx, events, self.events.as_ref()).await?;
        Ok(())
    }
}

/// Ends the session of `token` inside the caller's transaction; returns whose it was and
/// the session (`None` for an unknown or already ended session: signing out twice is not
/// an error).
async fn sign_out_in(
    tx: &mut Transaction<'_, Postgres>,
    token: &str,
) -> Result<Option<(Uuid, Uuid)>, AuthError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let ended = sqlx::query!(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'logout'
         WHERE revoked_at IS NULL
           AND id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
         RETURNING user_id, id",
        token_hash(token)
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(ended.map(|r| (r.user_id, r.id)))
}
