//! Texts to nurses other than sign-in codes: urgent shifts. They go through the same
//! `SmsSender` as sign-in codes and count against the same hourly budget, and they stop
//! at [`URGENT_SHARE`] of it so that sign-in codes always keep the rest.

use crate::SmsSender;
use shiftwire_core::Phone;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// The part of the hourly SMS budget (`OTP_SENDS_PER_HOUR`) urgent-shift texts may use:
/// a nurse locked out of signing in because texts about shifts spent the budget would
/// be the worse failure.
pub const URGENT_SHARE: f64 = 0.8;

/// The advisory lock that serialises urgent texts' budget checks ("SMS" in ASCII).
const URGENT_BUDGET_LOCK: i64 = 0x0053_4d53;

/// Why a text was not sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextRefused {
    #[error("the hourly SMS budget has no room for urgent-shift texts")]
    Budget,
    #[error("no active nurse with a phone number")]
    NoPhone,
    #[error("the SMS gateway failed: {0}")]
    Gateway(String),
}

/// Sends urgent-shift texts to nurses by id (the phone number never leaves this crate).
#[derive(Clone)]
pub struct NurseTexts {
    pool: PgPool,
    sms: Arc<dyn SmsSender>,
    sends_per_hour: i64,
}

impl NurseTexts {
    /// `sends_per_hour` is the hourly budget shared with sign-in codes.
    pub fn new(pool: PgPool, sms: Arc<dyn SmsSender>, sends_per_hour: i64) -> Self {
        Self {
            pool,
            sms,
            sends_per_hour,
        }
    }

    /// Texts `body` to the nurse, if the hourly budget has room. The text is counted
    /// before it is handed to the gateway and uncounted if the gateway fails.
    pub async fn urgent_shift(&self, nurse_id: Uuid, body: &str) -> Result<(), TextRefused> {
        let db = |e: sqlx::Error| TextRefused::Gateway(format!("database: {e}"));
        let phone = sqlx::query_scalar!(
            "SELECT phone FROM users
             WHERE id = $1 AND role = 'nurse' AND suspended_at IS NULL",
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .flatten()
        .and_then(|p| Phone::parse(&p).ok())
        .ok_or(TextRefused::NoPhone)?;
        // Counted and reserved under one lock, so texts sent at once cannot overshoot.
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", URGENT_BUDGET_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let sent_this_hour = sqlx::query_scalar!(
            r#"SELECT (SELECT count(*) FROM otp_codes WHERE created_at > now() - interval '1 hour')
                    + (SELECT count(*) FROM sms_sent WHERE created_at > now() - interval '1 hour')
               AS "sent!""#
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if sent_this_hour as f64 >= self.sends_per_hour as f64 * URGENT_SHARE {
            metrics::counter!("sms_budget_refusals_total", "budget" => "urgent").increment(1);
            return Err(TextRefused::Budget);
        }
        let id = sqlx::query_scalar!(
            "INSERT INTO sms_sent (purpose, user_id) VALUES ('urgent_shift', $1) RETURNING id",
            nurse_id
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if let Err(error) = self.sms.send(&phone, body).await {
            tracing::warn!(%error, to = %phone.masked(), "urgent-shift text not delivered");
            sqlx::query!("DELETE FROM sms_sent WHERE id = $1", id)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            return Err(TextRefused::Gateway(error.to_string()));
        }
        metrics::counter!("sms_urgent_sent_total").increment(1);
        Ok(())
    }
}
