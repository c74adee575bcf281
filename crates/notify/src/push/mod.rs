//! Reaching nurses whose app is closed: their devices and preferences, shared presence
//! (who holds a socket on any node), the planner that turns committed events into push
//! jobs, and the senders that hand the jobs to a provider.
//!
//! Exactly once across nodes: the planner reads the event stream under a row lock on its
//! cursor (`push_cursor`, `FOR UPDATE SKIP LOCKED`: one node plans at a time, the others
//! wait) and moves the cursor in the transaction that writes the jobs, so each event is
//! planned once, and a crash between reading and committing plans it again from scratch.
//! Senders on every node claim due jobs with `FOR UPDATE SKIP LOCKED` and a lease
//! (`locked_until`); a job is marked sent as soon as its provider accepted it. A node that
//! dies after the provider accepted and before marking it leaves the job to be sent again
//! when its lease ends, with the same provider collapse id (APNs `apns-collapse-id`, FCM
//! `collapse_key`), so the phone shows it once.

pub mod prefs;
pub mod providers;

use crate::{DeliverySource, Hub};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use prefs::{InvalidPreferences, Preferences, QuietHours, QuietHoursBody};
use providers::{PushData, PushError, PushMessage, PushSender};
use serde::Serialize;
use shiftwire_core::{
    CredentialKind, DomainEvent, OpenedShift,
    eligibility::{ShiftFacts, eligible_at_distance},
    new_id,
};
use sqlx::{PgPool, Postgres, Transaction};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How pushes are planned and sent.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// At most one offer push per nurse in this window; later offers fold into a digest
    /// sent when it ends (`PUSH_COALESCE_SECONDS`).
    pub coalesce: Duration,
    /// Jobs a sender claims at a time.
    pub batch: i64,
    /// Provider calls in flight per node (`PUSH_CONCURRENCY`).
    pub concurrency: usize,
    /// Tries before a job is given up.
    pub max_attempts: i32,
    /// How often an idle planner or sender looks for work.
    pub poll: Duration,
    /// How often a node refreshes its presence rows; rows older than three of these are
    /// stale (a node that crashed).
    pub presence_interval: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            coalesce: Duration::from_secs(60),
            batch: 500,
            concurrency: 64,
            max_attempts: 8,
            poll: Duration::from_millis(100),
            presence_interval: Duration::from_secs(2),
        }
    }
}

/// A registered device, as its nurse sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: Uuid,
    pub platform: String,
    pub created_at: DateTime<Utc>,
}

/// What the API refuses about devices and preferences.
#[derive(Debug, thiserror::Error)]
pub enum PushRequestError {
    #[error("platform must be ios, android or web")]
    Platform,
    #[error("token must be 8 to 4096 visible characters")]
    Token,
    #[error(transparent)]
    Preferences(#[from] InvalidPreferences),
    #[error("no such device")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A change to preferences: `None` leaves a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct PreferencesChange {
    pub push_offers: Option<bool>,
    pub sms_urgent: Option<bool>,
    pub quiet_hours: Option<Option<QuietHoursBody>>,
    pub min_hourly_rate_cents: Option<Option<i32>>,
    pub roles: Option<Option<Vec<CredentialKind>>>,
}

/// The push service of one node. Cheap to clone.
#[derive(Clone)]
pub struct Push {
    inner: Arc<PushInner>,
}

struct PushInner {
    pool: PgPool,
    sender: Arc<dyn PushSender>,
    source: Arc<dyn DeliverySource>,
    config: PushConfig,
    /// This process's presence rows.
    node_id: Uuid,
    /// Wakes the senders when the planner wrote jobs.
    jobs_written: Notify,
}

/// The furthest any nurse may be matched from (the largest radius she may choose).
const FURTHEST_KM: f64 = 200.0;

impl Push {
    pub fn new(
        pool: PgPool,
        sender: Arc<dyn PushSender>,
        source: Arc<dyn DeliverySource>,
        config: PushConfig,
    ) -> Self {
        Self {
            inner: Arc::new(PushInner {
                pool,
                sender,
                source,
                config,
                node_id: new_id(),
                jobs_written: Notify::new(),
            }),
        }
    }

    pub fn provider(&self) -> &'static str {
        self.inner.sender.name()
    }

    /// Deletes jobs done for a day and presence rows of nodes gone for an hour.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        let jobs = sqlx::query!(
            "DELETE FROM push_jobs
             WHERE COALESCE(sent_at, failed_at) < now() - interval '1 day'"
        )
        .execute(&self.inner.pool)
        .await?;
        sqlx::query!("DELETE FROM presence WHERE seen_at < now() - interval '1 hour'")
            .execute(&self.inner.pool)
            .await?;
        Ok(jobs.rows_affected())
    }

    // ------------------------------------------------------------ devices

    /// Registers a device for the nurse; a token registered before (by anyone) moves to
    /// her, with this session.
    pub async fn register_device(
        &self,
        nurse_id: Uuid,
        session_id: Option<Uuid>,
        platform: &str,
        token: &str,
    ) -> Result<Device, PushRequestError> {
        if !matches!(platform, "ios" | "android" | "web") {
            return Err(PushRequestError::Platform);
        }
        let token = token.trim();
        let visible = token.chars().all(|c| c.is_ascii_graphic());
        if !(8..=4096).contains(&token.len()) || !visible {
            return Err(PushRequestError::Token);
        }
        let row = sqlx::query!(
            "INSERT INTO devices (id, nurse_id, platform, token, session_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (token) DO UPDATE SET nurse_id = EXCLUDED.nurse_id,
                 platform = EXCLUDED.platform, session_id = EXCLUDED.session_id,
                 created_at = now()
             RETURNING id, platform, created_at",
            new_id(),
            nurse_id,
            platform,
            token,
            session_id
        )
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(Device {
            id: row.id,
            platform: row.platform,
            created_at: row.created_at,
        })
    }

    /// Deletes one of the nurse's devices (another's is not found).
    pub async fn delete_device(&self, nurse_id: Uuid, id: Uuid) -> Result<(), PushRequestError> {
        let done = sqlx::query!(
            "DELETE FROM devices WHERE id = $1 AND nurse_id = $2",
            id,
            nurse_id
        )
        .execute(&self.inner.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(PushRequestError::NotFound);
        }
        Ok(())
    }

    /// Deletes the devices a signed-out session registered.
    pub async fn forget_session(&self, session_id: Uuid) -> Result<u64, sqlx::Error> {
        let done = sqlx::query!("DELETE FROM devices WHERE session_id = $1", session_id)
            .execute(&self.inner.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ------------------------------------------------------------ preferences

    /// A nurse's preferences (the defaults until she changes one).
    pub async fn preferences(&self, nurse_id: Uuid) -> Result<Preferences, sqlx::Error> {
        Ok(self
            .preferences_of(&[nurse_id])
            .await?
            .remove(&nurse_id)
            .unwrap_or_default())
    }

    async fn preferences_of(
        &self,
        nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Preferences>, sqlx::Error> {
        let rows = sqlx::query!(
            "SELECT nurse_id, push_offers, sms_urgent, quiet_start, quiet_end, quiet_timezone,
                    min_hourly_rate_cents, roles
             FROM notification_preferences WHERE nurse_id = ANY($1)",
            nurse_ids
        )
        .fetch_all(&self.inner.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let quiet_hours = match (r.quiet_start, r.quiet_end, r.quiet_timezone) {
                    (Some(start), Some(end), Some(tz)) => {
                        tz.parse().ok().map(|timezone| QuietHours {
                            start,
                            end,
                            timezone,
                        })
                    }
                    _ => None,
                };
                let roles = r
                    .roles
                    .map(|roles| roles.iter().filter_map(|r| r.parse().ok()).collect());
                (
                    r.nurse_id,
                    Preferences {
                        push_offers: r.push_offers,
                        sms_urgent: r.sms_urgent,
                        quiet_hours,
                        min_hourly_rate_cents: r.min_hourly_rate_cents,
                        roles,
                    },
                )
            })
            .collect())
    }

    /// Applies a change to a nurse's preferences; every field is checked before anything
    /// is stored.
    pub async fn update_preferences(
        &self,
        nurse_id: Uuid,
        change: PreferencesChange,
    ) -> Result<Preferences, PushRequestError> {
        let mut prefs = self.preferences(nurse_id).await?;
        if let Some(v) = change.push_offers {
            prefs.push_offers = v;
        }
        if let Some(v) = change.sms_urgent {
            prefs.sms_urgent = v;
        }
        if let Some(q) = change.quiet_hours {
            prefs.quiet_hours = q.map(|q| q.parse()).transpose()?;
        }
        if let Some(r) = change.min_hourly_rate_cents {
            prefs.min_hourly_rate_cents = prefs::check_rate(r)?;
        }
        if let Some(r) = change.roles {
            prefs.roles = prefs::check_roles(r)?;
        }
        let quiet = prefs.quiet_hours.as_ref();
        let roles: Option<Vec<String>> = prefs
            .roles
            .as_ref()
            .map(|r| r.iter().map(|k| k.as_str().to_owned()).collect());
        sqlx::query!(
            "INSERT INTO notification_preferences (nurse_id, push_offers, sms_urgent,
                 quiet_start, quiet_end, quiet_timezone, min_hourly_rate_cents, roles)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (nurse_id) DO UPDATE SET push_offers = EXCLUDED.push_offers,
                 sms_urgent = EXCLUDED.sms_urgent, quiet_start = EXCLUDED.quiet_start,
                 quiet_end = EXCLUDED.quiet_end, quiet_timezone = EXCLUDED.quiet_timezone,
                 min_hourly_rate_cents = EXCLUDED.min_hourly_rate_cents,
                 roles = EXCLUDED.roles, updated_at = now()",
            nurse_id,
            prefs.push_offers,
            prefs.sms_urgent,
            quiet.map(|q| q.start),
            quiet.map(|q| q.end),
            quiet.map(|q| q.timezone.name().to_owned()),
            prefs.min_hourly_rate_cents,
            roles.as_deref()
        )
        .execute(&self.inner.pool)
        .await?;
        Ok(prefs)
    }

    // ------------------------------------------------------------ presence

    /// Keeps this node's presence rows current: the nurses with a socket here, written
    /// when the set changes and at least every `presence_interval`; deleted at shutdown.
    pub async fn run_presence(self, hub: Hub, shutdown: CancellationToken) {
        let interval = self.inner.config.presence_interval;
        let mut tick = tokio::time::interval((interval / 8).max(Duration::from_millis(50)));
        let mut last: HashSet<Uuid> = HashSet::new();
        let mut written = tokio::time::Instant::now() - interval;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now_here = hub.connected_nurses();
            if now_here == last && written.elapsed() < interval {
                continue;
            }
            match self.write_presence(&now_here).await {
                Ok(()) => {
                    last = now_here;
                    written = tokio::time::Instant::now();
                }
                Err(error) => tracing::warn!(%error, "writing presence failed"),
            }
        }
        let _ = sqlx::query!(
            "DELETE FROM presence WHERE node_id = $1",
            self.inner.node_id
        )
        .execute(&self.inner.pool)
        .await;
    }

    async fn write_presence(&self, nurses: &HashSet<Uuid>) -> Result<(), sqlx::Error> {
        let ids: Vec<Uuid> = nurses.iter().copied().collect();
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query!(
            "DELETE FROM presence WHERE node_id = $1 AND nurse_id <> ALL($2)",
            self.inner.node_id,
            &ids
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO presence (nurse_id, node_id, seen_at)
             SELECT unnest($1::uuid[]), $2, now()
             ON CONFLICT (nurse_id, node_id) DO UPDATE SET seen_at = now()",
            &ids,
            self.inner.node_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Which of `nurse_ids` hold a socket on any node (by rows fresher than three
    /// presence intervals).
    async fn online(&self, nurse_ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
        let stale = self.inner.config.presence_interval.as_secs_f64() * 3.0;
        let ids = sqlx::query_scalar!(
            "SELECT DISTINCT nurse_id FROM presence
             WHERE nurse_id = ANY($1) AND seen_at > now() - make_interval(secs => $2)",
            nurse_ids,
            stale
        )
        .fetch_all(&self.inner.pool)
        .await?;
        Ok(ids.into_iter().collect())
    }

    // ------------------------------------------------------------ planning

    /// Plans pushes from the committed event stream until `shutdown`, one node at a time.
    pub async fn run_planner(self, shutdown: CancellationToken) {
        loop {
            let planned = match self.plan_next().await {
                Ok(planned) => planned,
                Err(error) => {
                    tracing::warn!(%error, "planning pushes failed");
                    false
                }
            };
            if planned {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.inner.config.poll) => {}
            }
        }
    }

    /// Plans the next events after the cursor, if this node holds it; whether any were.
    pub async fn plan_next(&self) -> anyhow::Result<bool> {
        let mut tx = self.inner.pool.begin().await?;
        let Some(cursor) = sqlx::query_scalar!(
            "SELECT seq FROM push_cursor WHERE name = 'offers' FOR UPDATE SKIP LOCKED"
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            // Another node is planning.
            return Ok(false);
        };
        let events = shiftwire_outbox::read_after(&self.inner.pool, cursor, 200).await?;
        let Some(last) = events.last().map(|e| e.seq()) else {
            return Ok(false);
        };
        let mut jobs = 0usize;
        for stored in events {
            let shiftwire_outbox::Stored::Event(published) = stored else {
                continue;
            };
            let seq = published.seq;
            jobs += match published.event {
                DomainEvent::ShiftOpened {
                    shift_id, shift, ..
                } => self.plan_offer(&mut tx, seq, shift_id, &shift).await?,
                DomainEvent::HandoffUpdated {
                    nurse_id,
                    booking_id,
                    shift_id,
                    ..
                }
                | DomainEvent::BookingUpdated {
                    nurse_id,
                    booking_id,
                    shift_id,
                    ..
                } => booking_job(&mut tx, seq, nurse_id, shift_id, Some(booking_id)).await?,
                DomainEvent::ShiftReleased {
                    nurse_id,
                    booking_id,
                    shift_id,
                    reason: shiftwire_core::ReleaseReason::NurseIneligible,
                    ..
                } => booking_job(&mut tx, seq, nurse_id, shift_id, Some(booking_id)).await?,
                DomainEvent::ShiftCancelled {
                    nurse_id: Some(nurse_id),
                    shift_id,
                    ..
                } => booking_job(&mut tx, seq, nurse_id, shift_id, None).await?,
                // A signed-out session's devices hear nothing more.
                DomainEvent::UserSignedOut {
                    session_id: Some(session_id),
                    ..
                } => {
                    sqlx::query!("DELETE FROM devices WHERE session_id = $1", session_id)
                        .execute(&mut *tx)
                        .await?;
                    0
                }
                _ => 0,
            };
        }
        sqlx::query!(
            "UPDATE push_cursor SET seq = $1 WHERE name = 'offers'",
            last
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if jobs > 0 {
            self.inner.jobs_written.notify_waiters();
        }
        Ok(true)
    }

    /// The nurses who should hear of an opened shift by push: eligible by the one rule in
    /// core, with a registered device, and preferences that take it now. Online nurses
    /// are left out when the job is sent (presence may change in between).
    pub async fn recipients(&self, shift: &OpenedShift) -> anyhow::Result<Vec<Uuid>> {
        let near = self
            .inner
            .source
            .nurses_near(shift.location, FURTHEST_KM)
            .await?;
        if near.is_empty() {
            return Ok(Vec::new());
        }
        let with_devices = sqlx::query_scalar!(
            "SELECT DISTINCT nurse_id FROM devices WHERE nurse_id = ANY($1)",
            &near
        )
        .fetch_all(&self.inner.pool)
        .await?;
        if with_devices.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let facts: ShiftFacts = shift.facts();
        let records = self.inner.source.nurse_records(&with_devices).await?;
        let eligible: Vec<Uuid> = records
            .iter()
            .filter(|(_, r)| eligible_at_distance(&r.facts, &facts, now).is_ok())
            .map(|(id, _)| *id)
            .collect();
        let prefs = self.preferences_of(&eligible).await?;
        Ok(eligible
            .into_iter()
            .filter(|id| {
                prefs
                    .get(id)
                    .cloned()
                    .unwrap_or_default()
                    .accepts_offer(&shift.terms, now)
            })
            .collect())
    }

    async fn plan_offer(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        seq: i64,
        shift_id: Uuid,
        shift: &OpenedShift,
    ) -> anyhow::Result<usize> {
        let nurses = self.recipients(shift).await?;
        if nurses.is_empty() {
            return Ok(0);
        }
        let window = self.inner.config.coalesce.as_secs_f64();
        // Offer pushes already planned for these nurses within the window (and not left
        // out because the nurse was online).
        let recent = sqlx::query!(
            r#"SELECT nurse_id, max(not_before) AS "latest!"
               FROM push_jobs
               WHERE nurse_id = ANY($1) AND kind IN ('offer', 'digest')
                 AND not_before > now() - make_interval(secs => $2)
                 AND (last_error IS DISTINCT FROM 'online')
               GROUP BY nurse_id"#,
            &nurses,
            window
        )
        .fetch_all(&mut **tx)
        .await?;
        let recent: HashMap<Uuid, DateTime<Utc>> =
            recent.into_iter().map(|r| (r.nurse_id, r.latest)).collect();
        let fresh: Vec<Uuid> = nurses
            .iter()
            .filter(|n| !recent.contains_key(n))
            .copied()
            .collect();
        sqlx::query!(
            "INSERT INTO push_jobs (nurse_id, kind, shift_id, source_seq)
             SELECT unnest($1::uuid[]), 'offer', $2, $3",
            &fresh,
            shift_id,
            seq
        )
        .execute(&mut **tx)
        .await?;
        // The rest fold into a digest: one waiting digest counts one more; otherwise a
        // digest is due when the window of the last offer push ends.
        let folded: Vec<Uuid> = recent.keys().copied().collect();
        if !folded.is_empty() {
            let counted = sqlx::query_scalar!(
                "UPDATE push_jobs SET count = count + 1, source_seq = $2
                 WHERE kind = 'digest' AND nurse_id = ANY($1)
                   AND sent_at IS NULL AND failed_at IS NULL
                 RETURNING nurse_id",
                &folded,
                seq
            )
            .fetch_all(&mut **tx)
            .await?;
            let counted: HashSet<Uuid> = counted.into_iter().collect();
            let (ids, due): (Vec<Uuid>, Vec<DateTime<Utc>>) = recent
                .iter()
                .filter(|(id, _)| !counted.contains(id))
                .map(|(id, latest)| {
                    let due = *latest
                        + chrono::Duration::from_std(self.inner.config.coalesce)
                            .unwrap_or_default();
                    (*id, due)
                })
                .unzip();
            sqlx::query!(
                "INSERT INTO push_jobs (nurse_id, kind, source_seq, not_before)
                 SELECT n, 'digest', $3, d FROM unnest($1::uuid[], $2::timestamptz[]) AS t(n, d)",
                &ids,
                &due,
                seq
            )
            .execute(&mut **tx)
            .await?;
        }
        Ok(nurses.len())
    }

    // ------------------------------------------------------------ sending

    /// Sends due jobs until `shutdown`.
    pub async fn run_sender(self, shutdown: CancellationToken) {
        loop {
            let sent = match self.send_due().await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(%error, "sending pushes failed");
                    0
                }
            };
            if sent > 0 {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.inner.jobs_written.notified() => {}
                () = tokio::time::sleep(self.inner.config.poll) => {}
            }
        }
    }

    /// Claims a batch of due jobs and sends them; how many jobs it handled.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let jobs = sqlx::query!(
            "UPDATE push_jobs SET locked_until = now() + interval '30 seconds',
                                  attempts = attempts + 1
             WHERE id IN (SELECT id FROM push_jobs
                          WHERE sent_at IS NULL AND failed_at IS NULL AND not_before <= now()
                            AND (locked_until IS NULL OR locked_until < now())
                          ORDER BY not_before, id LIMIT $1
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, nurse_id, kind, shift_id, booking_id, count, attempts, committed_at",
            self.inner.config.batch
        )
        .fetch_all(&self.inner.pool)
        .await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let nurses: Vec<Uuid> = jobs.iter().map(|j| j.nurse_id).collect();
        let online = self.online(&nurses).await?;
        let devices = sqlx::query!(
            "SELECT id, nurse_id, platform, token FROM devices WHERE nurse_id = ANY($1)",
            &nurses
        )
        .fetch_all(&self.inner.pool)
        .await?;
        let mut by_nurse: HashMap<Uuid, Vec<(Uuid, String, String)>> = HashMap::new();
        for d in devices {
            by_nurse
                .entry(d.nurse_id)
                .or_default()
                .push((d.id, d.platform, d.token));
        }
        let provider = self.inner.sender.name();
        let mut calls = Vec::new();
        let mut skipped_online = Vec::new();
        let mut without_device = Vec::new();
        for job in &jobs {
            // A nurse with a socket hears of offers there; booking changes always go out.
            if job.kind != "booking" && online.contains(&job.nurse_id) {
                skipped_online.push(job.id);
                continue;
            }
            let Some(targets) = by_nurse.get(&job.nurse_id) else {
                without_device.push(job.id);
                continue;
            };
            for (device_id, platform, token) in targets {
                let message = message_of(
                    &job.kind,
                    job.count,
                    job.shift_id,
                    job.booking_id,
                    platform,
                    token,
                    job.id,
                );
                calls.push((job.id, *device_id, message));
            }
        }
        let sender = self.inner.sender.clone();
        let results: Vec<(i64, Uuid, Result<(), PushError>)> =
            futures::stream::iter(calls.into_iter().map(|(job, device, message)| {
                let sender = sender.clone();
                async move { (job, device, sender.send(&message).await) }
            }))
            .buffer_unordered(self.inner.config.concurrency.max(1))
            .collect()
            .await;

        let mut outcome: HashMap<i64, Outcome> = HashMap::new();
        let mut dead = Vec::new();
        for (job, device, result) in results {
            let entry = outcome.entry(job).or_default();
            match result {
                Ok(()) => {
                    entry.delivered = true;
                    metrics::counter!("push_sent_total", "provider" => provider).increment(1);
                }
                Err(PushError::DeadToken) => {
                    dead.push(device);
                    metrics::counter!("push_dead_tokens_total", "provider" => provider)
                        .increment(1);
                }
                Err(PushError::Retry { after, why }) => {
                    entry.retry = Some(after.or(entry.retry.flatten()));
                    entry.error = Some(why);
                    metrics::counter!("push_failed_total", "provider" => provider).increment(1);
                }
                Err(PushError::Refused(why)) => {
                    entry.error = Some(why);
                    metrics::counter!("push_failed_total", "provider" => provider).increment(1);
                }
            }
        }
        if !dead.is_empty() {
            sqlx::query!("DELETE FROM devices WHERE id = ANY($1)", &dead)
                .execute(&self.inner.pool)
                .await?;
        }
        let mut sent = Vec::new();
        let mut failed: Vec<(i64, String)> = Vec::new();
        let mut retry: Vec<(i64, DateTime<Utc>, String)> = Vec::new();
        let now = Utc::now();
        for job in &jobs {
            let Some(result) = outcome.remove(&job.id) else {
                continue;
            };
            if let Some(after) = result.retry
                && job.attempts < self.inner.config.max_attempts
            {
                let wait = after.unwrap_or_else(|| backoff(job.attempts));
                let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                retry.push((job.id, at, result.error.unwrap_or_default()));
            } else if result.delivered || result.error.is_none() {
                sent.push(job.id);
                let waited = (now - job.committed_at).num_microseconds().unwrap_or(0);
                metrics::histogram!("push_handoff_seconds", "provider" => provider)
                    .record(waited as f64 / 1e6);
            } else {
                failed.push((job.id, result.error.unwrap_or_default()));
            }
        }
        sqlx::query!(
            "UPDATE push_jobs SET sent_at = now(), locked_until = NULL WHERE id = ANY($1)",
            &sent
        )
        .execute(&self.inner.pool)
        .await?;
        let (online_ids, no_device_ids) = (skipped_online, without_device);
        sqlx::query!(
            "UPDATE push_jobs SET failed_at = now(), locked_until = NULL,
                 last_error = CASE WHEN id = ANY($1) THEN 'online' ELSE 'no device' END
             WHERE id = ANY($1) OR id = ANY($2)",
            &online_ids,
            &no_device_ids
        )
        .execute(&self.inner.pool)
        .await?;
        for (id, why) in failed {
            sqlx::query!(
                "UPDATE push_jobs SET failed_at = now(), locked_until = NULL, last_error = $2
                 WHERE id = $1",
                id,
                why
            )
            .execute(&self.inner.pool)
            .await?;
        }
        for (id, at, why) in retry {
            sqlx::query!(
                "UPDATE push_jobs SET not_before = $2, locked_until = NULL, last_error = $3
                 WHERE id = $1",
                id,
                at,
                why
            )
            .execute(&self.inner.pool)
            .await?;
        }
        Ok(jobs.len())
    }
}

#[derive(Default)]
struct Outcome {
    delivered: bool,
    /// Some: retry (after the provider's wait, if it gave one).
    retry: Option<Option<Duration>>,
    error: Option<String>,
}

/// 1 s, 2 s, 4 s, … up to 5 minutes.
fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 9) - 1).unwrap_or(0);
    Duration::from_secs(2u64.pow(exponent).min(300))
}

/// A job written for a nurse's booking (always pushed, whatever her preferences).
async fn booking_job(
    tx: &mut Transaction<'_, Postgres>,
    seq: i64,
    nurse_id: Uuid,
    shift_id: Uuid,
    booking_id: Option<Uuid>,
) -> Result<usize, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO push_jobs (nurse_id, kind, shift_id, booking_id, source_seq)
         VALUES ($1, 'booking', $2, $3, $4)",
        nurse_id,
        shift_id,
        booking_id,
        seq
    )
    .execute(&mut **tx)
    .await?;
    Ok(1)
}

/// The words of a push. No patient information: the app fetches the details.
fn message_of(
    kind: &str,
    count: i32,
    shift_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    platform: &str,
    token: &str,
    job: i64,
) -> PushMessage {
    let (title, body, kind) = match kind {
        "offer" => (
            "New shift near you".to_owned(),
            "Open Shiftwire to see it and claim it.".to_owned(),
            "shift.offered",
        ),
        "digest" => (
            "New shifts near you".to_owned(),
            if count == 1 {
                "1 more new shift near you.".to_owned()
            } else {
                format!("{count} new shifts near you.")
            },
            "shift.digest",
        ),
        _ => (
            "Your booking changed".to_owned(),
            "Open Shiftwire to see what changed.".to_owned(),
            "booking.updated",
        ),
    };
    PushMessage {
        platform: platform.to_owned(),
        token: token.to_owned(),
        title,
        body,
        data: PushData {
            kind: kind.to_owned(),
            shift_id: if kind == "shift.digest" {
                None
            } else {
                shift_id
            },
            booking_id,
        },
        collapse_id: format!("shiftwire-{job}"),
    }
}

impl Hub {
    /// The nurses with a socket on this node.
    pub fn connected_nurses(&self) -> HashSet<Uuid> {
        self.state()
            .conns
            .values()
            .filter(|c| c.principal.role == shiftwire_core::Role::Nurse)
            .map(|c| c.principal.user_id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_carry_no_details_and_digests_count() {
        let shift = Uuid::now_v7();
        let offer = message_of("offer", 1, Some(shift), None, "ios", "tok", 7);
        assert_eq!(offer.data.kind, "shift.offered");
        assert_eq!(offer.data.shift_id, Some(shift));
        assert_eq!(offer.collapse_id, "shiftwire-7");
        let digest = message_of("digest", 3, Some(shift), None, "android", "tok", 8);
        assert_eq!(digest.body, "3 new shifts near you.");
        assert_eq!(digest.data.shift_id, None);
        assert!(!digest.high_priority());
        let booking = message_of("booking", 1, Some(shift), Some(shift), "web", "tok", 9);
        assert_eq!(booking.data.kind, "booking.updated");
    }

    #[test]
    fn retries_back_off_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(256));
    }
}
