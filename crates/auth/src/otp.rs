use crate::{AuthError, SmsSender, Users, keyed_hash};
use rand::{Rng, rngs::OsRng};
use secrecy::{ExposeSecret, SecretString};
use shiftwire_core::{Phone, new_id};
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The rules of SMS sign-in codes.
#[derive(Debug, Clone)]
pub struct OtpPolicy {
    /// How long a code is valid.
    pub ttl: Duration,
    /// Wrong guesses allowed per code; the last one burns it.
    pub max_attempts: i32,
    /// Codes sent to one phone within `send_window`.
    pub sends_per_phone: i64,
    pub send_window: Duration,
    /// Codes sent per hour to numbers sharing their first [`PREFIX_DIGITS`] digits
    /// (SMS pumping walks a range of premium numbers).
    pub sends_per_prefix_per_hour: i64,
    /// Codes sent per hour in all: a ceiling on what an attack can cost.
    pub sends_per_hour: i64,
}

/// Digits of the E.164 number (country code included) that make its prefix: `+1 415 555`.
pub const PREFIX_DIGITS: usize = 7;
const HOUR: Duration = Duration::from_secs(3600);

impl Default for OtpPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10 * 60),
            max_attempts: 5,
            sends_per_phone: 3,
            send_window: Duration::from_secs(10 * 60),
            sends_per_prefix_per_hour: 60,
            sends_per_hour: 5_000,
        }
    }
}

/// Issues and checks 6-digit sign-in codes sent by SMS.
///
/// Neither the phone nor the code is stored in the clear: both are HMAC-SHA256 under
/// `OTP_SECRET`, and the code's hash is bound to the phone's.
#[derive(Clone)]
pub struct OtpService {
    pool: PgPool,
    sms: Arc<dyn SmsSender>,
    secret: SecretString,
    policy: OtpPolicy,
    users: Users,
}

fn is_six_digits(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

impl OtpService {
    pub fn new(
        pool: PgPool,
        sms: Arc<dyn SmsSender>,
        secret: SecretString,
        policy: OtpPolicy,
    ) -> Self {
        let users = Users::new(pool.clone());
        Self {
            pool,
            sms,
            secret,
            policy,
            users,
        }
    }

    fn phone_key(&self, phone: &Phone) -> Vec<u8> {
        let mut data = b"phone:".to_vec();
        data.extend_from_slice(phone.as_e164().as_bytes());
        keyed_hash(self.secret.expose_secret().as_bytes(), &data)
    }

    fn prefix_key(&self, phone: &Phone) -> Vec<u8> {
        let digits: String = phone
            .as_e164()
            .chars()
            .filter(char::is_ascii_digit)
            .take(PREFIX_DIGITS)
            .collect();
        keyed_hash(
            self.secret.expose_secret().as_bytes(),
            format!("prefix:{digits}").as_bytes(),
        )
    }

    /// How long until a budget of `limit` sends per `window`, `used` with the oldest at
    /// `oldest_age_secs` ago, frees up; `None` while there is room.
    fn exhausted(
        used: i64,
        limit: i64,
        retry_after_secs: Option<f64>,
        window: Duration,
    ) -> Option<Duration> {
        (used >= limit).then(|| {
            Duration::from_secs_f64(
                retry_after_secs
                    .unwrap_or(window.as_secs_f64())
                    .ceil()
                    .max(1.0),
            )
        })
    }

    fn code_hash(&self, phone_key: &[u8], code: &str) -> Vec<u8> {
        let mut data = b"code:".to_vec();
        data.extend_from_slice(phone_key);
        data.extend_from_slice(code.as_bytes());
        keyed_hash(self.secret.expose_secret().as_bytes(), &data)
    }

    /// Sends a new code to `phone`, replacing any earlier one. The answer is the same
    /// whether or not the phone belongs to an account.
    pub async fn send(&self, phone: &Phone) -> Result<(), AuthError> {
        let phone_key = self.phone_key(phone);
        let code = format!("{:06}", OsRng.gen_range(0..1_000_000u32));
        let code_hash = self.code_hash(&phone_key, &code);
        let id = new_id();

        let prefix_key = self.prefix_key(phone);
        let mut tx = self.pool.begin().await?;
        // Serialise sends per phone and per prefix so concurrent requests cannot
        // overshoot those limits (the overall budget may be overshot by a few).
        for key in [&phone_key, &prefix_key] {
            let lock_key = i64::from_be_bytes(key[..8].try_into().unwrap_or([0; 8]));
            sqlx::query!("SELECT pg_advisory_xact_lock($1)", lock_key)
                .execute(&mut *tx)
                .await?;
        }
        let window_secs = self.policy.send_window.as_secs_f64();
        let recent = sqlx::query!(
            r#"SELECT count(*) AS "count!",
                      EXTRACT(EPOCH FROM min(created_at) + make_interval(secs => $2) - now())::float8
                          AS "retry_after_secs"
               FROM otp_codes
               WHERE phone_key = $1 AND created_at > now() - make_interval(secs => $2)"#,
            phone_key,
            window_secs
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(retry_after) = Self::exhausted(
            recent.count,
            self.policy.sends_per_phone,
            recent.retry_after_secs,
            self.policy.send_window,
        ) {
            return Err(AuthError::RateLimited { retry_after });
        }
        // The overall budget counts every text sent this hour: codes and urgent shifts.
        let budgets = sqlx::query!(
            r#"WITH codes AS (SELECT prefix_key, created_at FROM otp_codes
                              WHERE created_at > now() - interval '1 hour'),
                    every AS (SELECT created_at FROM codes
                              UNION ALL
                              SELECT created_at FROM sms_sent
                              WHERE created_at > now() - interval '1 hour')
               SELECT (SELECT count(*) FROM codes WHERE prefix_key = $1) AS "prefix!",
                      (SELECT EXTRACT(EPOCH FROM min(created_at) + interval '1 hour' - now())::float8
                       FROM codes WHERE prefix_key = $1) AS "prefix_retry_secs",
                      (SELECT count(*) FROM every) AS "all!",
                      (SELECT EXTRACT(EPOCH FROM min(created_at) + interval '1 hour' - now())::float8
                       FROM every) AS "all_retry_secs""#,
            prefix_key
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(retry_after) = Self::exhausted(
            budgets.prefix,
            self.policy.sends_per_prefix_per_hour,
            budgets.prefix_retry_secs,
            HOUR,
        ) {
            metrics::counter!("sms_budget_refusals_total", "budget" => "prefix").increment(1);
            tracing::warn!(to = %phone.masked(), "hourly SMS budget of a number prefix reached");
            return Err(AuthError::RateLimited { retry_after });
        }
        if let Some(retry_after) = Self::exhausted(
            budgets.all,
            self.policy.sends_per_hour,
            budgets.all_retry_secs,
            HOUR,
        ) {
            metrics::counter!("sms_budget_refusals_total", "budget" => "global").increment(1);
            tracing::error!("the hourly SMS budget is spent: sign-in codes are refused");
            return Err(AuthError::RateLimited { retry_after });
        }
        sqlx::query!(
            "UPDATE otp_codes SET closed_at = now() WHERE phone_key = $1 AND closed_at IS NULL",
            phone_key
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO otp_codes (id, phone_key, prefix_key, code_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
            id,
            phone_key,
            prefix_key,
            code_hash,
            self.policy.ttl.as_secs_f64()
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        let minutes = self.policy.ttl.as_secs() / 60;
        let body = format!(
            "Your Shiftwire sign-in code is {code}. It expires in {minutes} minutes. \
             Shiftwire staff will never ask you for it."
        );
        if let Err(error) = self.sms.send(phone, &body).await {
            tracing::error!(%error, to = %phone.masked(), "sign-in code not delivered");
            // A code nobody received must not count against the phone's allowance.
            sqlx::query!("DELETE FROM otp_codes WHERE id = $1", id)
                .execute(&self.pool)
                .await?;
            return Err(AuthError::SmsUnavailable);
        }
        Ok(())
    }

    /// Checks a code and, when right, signs the phone's nurse in (creating the nurse on
    /// first sight). Wrong, expired, spent and burned codes all answer `InvalidCode`.
    pub async fn verify(&self, phone: &Phone, code: &str) -> Result<Uuid, AuthError> {
        if !is_six_digits(code) {
            return Err(AuthError::InvalidCode);
        }
        let phone_key = self.phone_key(phone);
        // The attempt is counted before the code is compared, in one conditional UPDATE:
        // however many guesses race, at most `max_attempts` of them get a row to compare.
        let attempt = sqlx::query!(
            "UPDATE otp_codes SET attempts = attempts + 1
             WHERE id = (SELECT id FROM otp_codes
                         WHERE phone_key = $1 AND closed_at IS NULL
                         ORDER BY created_at DESC LIMIT 1)
               AND closed_at IS NULL AND expires_at > now() AND attempts < $2
             RETURNING id, code_hash",
            phone_key,
            self.policy.max_attempts
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(AuthError::InvalidCode)?;

        let expected = self.code_hash(&phone_key, code);
        if !bool::from(expected.ct_eq(&attempt.code_hash)) {
            return Err(AuthError::InvalidCode);
        }
        let spent = sqlx::query!(
            "UPDATE otp_codes SET closed_at = now() WHERE id = $1 AND closed_at IS NULL",
            attempt.id
        )
        .execute(&self.pool)
        .await?;
        if spent.rows_affected() != 1 {
            // A concurrent request with the same right code got there first.
            return Err(AuthError::InvalidCode);
        }
        let (user_id, suspended) = self.users.nurse_for_phone(phone).await?;
        if suspended {
            return Err(AuthError::Suspended);
        }
        Ok(user_id)
    }

    /// Deletes codes that can no longer be used or counted.
    pub async fn prune(&self) -> Result<u64, AuthError> {
        // Kept for the longest window that counts them (the hourly budgets).
        let window = self
            .policy
            .send_window
            .max(self.policy.ttl)
            .max(HOUR)
            .as_secs_f64();
        let done = sqlx::query!(
            "DELETE FROM otp_codes WHERE created_at < now() - make_interval(secs => $1)",
            window * 2.0
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::is_six_digits;

    #[test]
    fn only_six_ascii_digits_are_codes() {
        assert!(is_six_digits("012345"));
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""] {
            assert!(!is_six_digits(bad), "{bad}");
        }
    }
}
