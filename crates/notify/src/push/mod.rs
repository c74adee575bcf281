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
    /// Senders per node: while one waits on the database, another's calls are in flight.
    pub senders: usize,
    /// Provider calls in flight per node (`PUSH_CONCURRENCY`).
    pub concurrency: usize,
    /// Tries before a job is given up.
    pub max_attempts: i32,
    /// How often an idle planner or sender looks for work.
    pub poll: Duration,
    /// How often a node refreshes its presence rows; rows older than three of these are
    /// stale (a node that crashed).
    pub presence_interval: Duration,
    /// A shift starting within this is urgent: it is also texted to nurses who asked for
    /// urgent texts (`URGENT_WITHIN_HOURS`).
    pub urgent_within: Duration,
    /// Urgent texts per nurse in any 24 hours (`SMS_URGENT_PER_NURSE_PER_DAY`).
    pub texts_per_nurse_per_day: i64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            coalesce: Duration::from_secs(60),
            batch: 1000,
            senders: 2,
            concurrency: 64,
            max_attempts: 8,
            poll: Duration::from_millis(100),
            presence_interval: Duration::from_secs(2),
            urgent_within: Duration::from_secs(12 * 3600),
            texts_per_nurse_per_day: 2,
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
    /// Urgent texts, when an SMS sender is wired in.
    texts: Option<Arc<dyn UrgentTexts>>,
}

impl Push {
    pub fn new(
        pool: PgPool,
        sender: Arc<dyn PushSender>,
        source: Arc<dyn DeliverySource>,
        texts: Option<Arc<dyn UrgentTexts>>,
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
                texts,
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
        sqlx::query!(
            "DELETE FROM presence p
             WHERE p.seen_at < now() - interval '1 hour'
               AND NOT EXISTS (SELECT 1 FROM presence_nodes n
                               WHERE n.node_id = p.node_id
                                 AND n.seen_at >= now() - interval '1 hour')"
        )
        .execute(&self.inner.pool)
        .await?;
        sqlx::query!("DELETE FROM presence_nodes WHERE seen_at < now() - interval '1 hour'")
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

    /// Keeps this node's presence current: its heartbeat (`presence_nodes`) at least every
    /// `presence_interval`, and the rows of the nurses with a socket here, of which it
    /// writes only the changes (the first write sets the whole set). A row counts while
    /// its node's heartbeat is fresh. Deleted at shutdown.
    pub async fn run_presence(self, hub: Hub, shutdown: CancellationToken) {
        let interval = self.inner.config.presence_interval;
        let mut tick = tokio::time::interval((interval / 8).max(Duration::from_millis(50)));
        // What the table holds for this node; `None` until the first write.
        let mut written_set: Option<HashSet<Uuid>> = None;
        let mut written = tokio::time::Instant::now() - interval;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now_here = hub.connected_nurses();
            if written_set.as_ref() == Some(&now_here) && written.elapsed() < interval {
                continue;
            }
            match self.write_presence(written_set.as_ref(), &now_here).await {
                Ok(()) => {
                    written_set = Some(now_here);
                    written = tokio::time::Instant::now();
                }
                // Rolled back: the next write starts again from what the table holds.
                Err(error) => tracing::warn!(%error, "writing presence failed"),
            }
        }
        let node_id = self.inner.node_id;
        let _ = sqlx::query!("DELETE FROM presence WHERE node_id = $1", node_id)
            .execute(&self.inner.pool)
            .await;
        let _ = sqlx::query!("DELETE FROM presence_nodes WHERE node_id = $1", node_id)
            .execute(&self.inner.pool)
            .await;
    }

    /// One transaction: the heartbeat, then the nurses who left and those who came since
    /// `before` (everyone else of this node's rows goes, when there is no `before`).
    async fn write_presence(
        &self,
        before: Option<&HashSet<Uuid>>,
        now_here: &HashSet<Uuid>,
    ) -> Result<(), sqlx::Error> {
        let node_id = self.inner.node_id;
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO presence_nodes (node_id, seen_at) VALUES ($1, now())
             ON CONFLICT (node_id) DO UPDATE SET seen_at = now()",
            node_id
        )
        .execute(&mut *tx)
        .await?;
        let came: Vec<Uuid> = match before {
            Some(before) => {
                let gone: Vec<Uuid> = before.difference(now_here).copied().collect();
                if !gone.is_empty() {
                    sqlx::query!(
                        "DELETE FROM presence WHERE node_id = $1 AND nurse_id = ANY($2)",
                        node_id,
                        &gone
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                now_here.difference(before).copied().collect()
            }
            None => {
                let all: Vec<Uuid> = now_here.iter().copied().collect();
                sqlx::query!(
                    "DELETE FROM presence WHERE node_id = $1 AND nurse_id <> ALL($2)",
                    node_id,
                    &all
                )
                .execute(&mut *tx)
                .await?;
                all
            }
        };
        if !came.is_empty() {
            sqlx::query!(
                "INSERT INTO presence (nurse_id, node_id, seen_at)
                 SELECT unnest($1::uuid[]), $2, now()
                 ON CONFLICT (nurse_id, node_id) DO UPDATE SET seen_at = now()",
                &came,
                node_id
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Which of `nurse_ids` hold a socket on any node: rows whose node's heartbeat is
    /// fresher than three presence intervals (or, written by a node that keeps no
    /// heartbeat, whose own time is).
    async fn online(&self, nurse_ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
        let stale = self.inner.config.presence_interval.as_secs_f64() * 3.0;
        let ids = sqlx::query_scalar!(
            "SELECT DISTINCT p.nurse_id FROM presence p
             LEFT JOIN presence_nodes n ON n.node_id = p.node_id
             WHERE p.nurse_id = ANY($1)
               AND (n.seen_at > now() - make_interval(secs => $2)
                    OR p.seen_at > now() - make_interval(secs => $2))",
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
                } => {
                    self.plan_offer(&mut tx, seq, shift_id, &shift, Announce::Opened)
                        .await?
                }
                // A favourites window ended: the shift reaches everyone else eligible.
                DomainEvent::ShiftUpdated {
                    shift_id,
                    shift,
                    widened: true,
                    ..
                } => {
                    self.plan_offer(&mut tx, seq, shift_id, &shift, Announce::Widened)
                        .await?
                }
                // A boost announces the shift again, as urgent.
                DomainEvent::ShiftUpdated {
                    shift_id,
                    shift,
                    boosted: true,
                    ..
                } => {
                    self.plan_offer(&mut tx, seq, shift_id, &shift, Announce::Boosted)
                        .await?
                }
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
                }
                | DomainEvent::BookingNoShow {
                    nurse_id,
                    booking_id,
                    shift_id,
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

    /// Whether a shift starting at `starts_at` is urgent at `now`.
    pub fn is_urgent(&self, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let within = chrono::Duration::from_std(self.inner.config.urgent_within)
            .unwrap_or(chrono::Duration::MAX);
        starts_at - now <= within
    }

    /// Who should hear of an opened shift while their app is closed: eligible by the one
    /// rule in core, with preferences that take it now, and then a registered device (a
    /// push) or, for an urgent shift, `sms_urgent` (a text). Online nurses are left out
    /// when the job is sent (presence may change in between). A boosted shift is urgent
    /// whenever it starts.
    pub async fn recipients(
        &self,
        shift: &OpenedShift,
        announce: Announce,
    ) -> anyhow::Result<Recipients> {
        let boosted = announce == Announce::Boosted;
        let near = self.inner.source.nurses_near(shift.location).await?;
        if near.is_empty() {
            return Ok(Recipients::default());
        }
        let now = Utc::now();
        let urgent = boosted || self.is_urgent(shift.terms.window.starts_at, now);
        let reachable = sqlx::query!(
            r#"SELECT n AS "nurse_id!",
                      EXISTS (SELECT 1 FROM devices d WHERE d.nurse_id = n) AS "device!"
               FROM unnest($1::uuid[]) AS n
               WHERE EXISTS (SELECT 1 FROM devices d WHERE d.nurse_id = n)
                  OR ($2 AND EXISTS (SELECT 1 FROM notification_preferences p
                                     WHERE p.nurse_id = n AND p.sms_urgent))"#,
            &near,
            urgent
        )
        .fetch_all(&self.inner.pool)
        .await?;
        if reachable.is_empty() {
            return Ok(Recipients::default());
        }
        let with_device: HashSet<Uuid> = reachable
            .iter()
            .filter(|r| r.device)
            .map(|r| r.nurse_id)
            .collect();
        let ids: Vec<Uuid> = reachable.iter().map(|r| r.nurse_id).collect();
        let facts: ShiftFacts = shift.facts();
        let records = self.inner.source.nurse_records(&ids).await?;
        let eligible: Vec<Uuid> = records
            .iter()
            .filter(|(_, r)| eligible_at_distance(&r.facts, &facts, now).is_ok())
            // The favourites heard of it when it opened.
            .filter(|(_, r)| {
                announce != Announce::Widened || !r.facts.favourite_of.contains(&facts.facility_id)
            })
            .map(|(id, _)| *id)
            .collect();
        let prefs = self.preferences_of(&eligible).await?;
        let mut out = Recipients::default();
        for id in eligible {
            let p = prefs.get(&id).cloned().unwrap_or_default();
            if with_device.contains(&id) && p.accepts_offer(&shift.terms, now) {
                out.push.push(id);
            }
            if urgent && p.accepts_urgent_sms(&shift.terms, now) {
                out.text.push(id);
            }
        }
        Ok(out)
    }

    async fn plan_offer(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        seq: i64,
        shift_id: Uuid,
        shift: &OpenedShift,
        announce: Announce,
    ) -> anyhow::Result<usize> {
        let started = std::time::Instant::now();
        let Recipients { push, text } = self.recipients(shift, announce).await?;
        let finding_ms = started.elapsed().as_secs_f64() * 1e3;
        let texts = self.plan_texts(tx, seq, shift_id, &text).await?;
        let planned = self.plan_offer_pushes(tx, seq, shift_id, push).await?;
        tracing::info!(
            %shift_id,
            pushes = planned,
            texts,
            finding_ms,
            planning_ms = started.elapsed().as_secs_f64() * 1e3,
            "push jobs planned"
        );
        Ok(planned + texts)
    }

    /// Plans offer pushes for `nurses`, folding into a digest those who had one within
    /// the coalescing window.
    async fn plan_offer_pushes(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        seq: i64,
        shift_id: Uuid,
        nurses: Vec<Uuid>,
    ) -> anyhow::Result<usize> {
        if nurses.is_empty() {
            return Ok(0);
        }
        let window = self.inner.config.coalesce.as_secs_f64();
        // Offer pushes already planned for these nurses within the window (and not left
        // out at sending because the nurse was online or in her quiet hours).
        let recent = sqlx::query!(
            r#"SELECT nurse_id, max(not_before) AS "latest!"
               FROM push_jobs
               WHERE nurse_id = ANY($1) AND kind IN ('offer', 'digest')
                 AND not_before > now() - make_interval(secs => $2)
                 AND (last_error IS NULL OR last_error <> ALL($3))
               GROUP BY nurse_id"#,
            &nurses,
            window,
            &LEFT_OUT.map(str::to_owned)
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

    /// Plans urgent texts for those of `nurses` under their daily allowance (texts sent
    /// in the last 24 hours, and texts waiting, count).
    async fn plan_texts(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        seq: i64,
        shift_id: Uuid,
        nurses: &[Uuid],
    ) -> Result<usize, sqlx::Error> {
        if nurses.is_empty() {
            return Ok(0);
        }
        let planned = sqlx::query_scalar!(
            "INSERT INTO push_jobs (nurse_id, kind, shift_id, source_seq)
             SELECT n, 'urgent_sms', $2, $3 FROM unnest($1::uuid[]) AS n
             WHERE (SELECT count(*) FROM push_jobs j
                    WHERE j.nurse_id = n AND j.kind = 'urgent_sms'
                      AND (j.sent_at > now() - interval '1 day'
                           OR (j.sent_at IS NULL AND j.failed_at IS NULL))) < $4
             RETURNING id",
            nurses,
            shift_id,
            seq,
            self.inner.config.texts_per_nurse_per_day
        )
        .fetch_all(&mut **tx)
        .await?;
        Ok(planned.len())
    }

    // ------------------------------------------------------------ sending

    /// How many senders this node runs.
    pub fn senders(&self) -> usize {
        self.inner.config.senders.max(1)
    }

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
        let jobs = sqlx::query_as!(
            Job,
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
        let handled = jobs.len();
        if jobs.is_empty() {
            return Ok(0);
        }
        let mut settled = Settled::default();
        let (pushes, texts) = self.gate(jobs, &mut settled).await?;
        self.settle(std::mem::take(&mut settled)).await?;
        self.send_pushes(pushes).await?;
        self.send_texts(&texts, &mut settled).await?;
        self.settle(settled).await?;
        Ok(handled)
    }
    /// Leaves out, as of now, what must not go: offers to a nurse online on any node,
    /// anything but a booking change in her quiet hours, and texts over her daily
    /// allowance. The rest is split into pushes and texts.
    async fn gate(
        &self,
        jobs: Vec<Job>,
        settled: &mut Settled,
    ) -> anyhow::Result<(Vec<Job>, Vec<Job>)> {
        let nurses: Vec<Uuid> = jobs.iter().map(|j| j.nurse_id).collect();
        let online = self.online(&nurses).await?;
        let prefs = self.preferences_of(&nurses).await?;
        let texted = self.texted_today(&jobs).await?;
        let now = Utc::now();
        let (mut pushes, mut texts) = (Vec::new(), Vec::new());
        for job in jobs {
            let booking = job.kind == "booking";
            let quiet = prefs.get(&job.nurse_id).is_some_and(|p| p.is_quiet(now));
            let left_out = if booking {
                None
            } else if online.contains(&job.nurse_id) {
                Some(ONLINE)
            } else if quiet {
                Some(QUIET)
            } else if job.kind == "urgent_sms"
                && texted.get(&job.nurse_id).copied().unwrap_or(0)
                    >= self.inner.config.texts_per_nurse_per_day
            {
                Some("daily text limit")
            } else {
                None
            };
            match left_out {
                Some(why) => settled.failed.push((job.id, why.to_owned())),
                None if job.kind == "urgent_sms" => texts.push(job),
                None => pushes.push(job),
            }
        }
        Ok((pushes, texts))
    }

    /// Urgent texts sent to the nurses of `jobs` in the last 24 hours.
    async fn texted_today(&self, jobs: &[Job]) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
        let nurses: Vec<Uuid> = jobs
            .iter()
            .filter(|j| j.kind == "urgent_sms")
            .map(|j| j.nurse_id)
            .collect();
        if nurses.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query!(
            r#"SELECT nurse_id, count(*) AS "sent!" FROM push_jobs
               WHERE nurse_id = ANY($1) AND kind = 'urgent_sms'
                 AND sent_at > now() - interval '1 day'
               GROUP BY nurse_id"#,
            &nurses
        )
        .fetch_all(&self.inner.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.nurse_id, r.sent)).collect())
    }

    /// Hands each push job to the provider, once per device of its nurse, and records
    /// each few jobs as soon as they are done: a node killed mid-batch sends again only
    /// what was in flight (with the same collapse id, so the phone shows it once).
    async fn send_pushes(&self, jobs: Vec<Job>) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let nurses: Vec<Uuid> = jobs.iter().map(|j| j.nurse_id).collect();
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
        let concurrency = self.inner.config.concurrency.max(1);
        let calls: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let targets = by_nurse.remove(&job.nurse_id).unwrap_or_default();
                self.clone().push_job(job, targets)
            })
            .collect();
        let mut done = futures::stream::iter(calls)
            .buffer_unordered(concurrency)
            .ready_chunks(concurrency);
        while let Some(finished) = done.next().await {
            let mut settled = Settled::default();
            let mut dead = Vec::new();
            for (job, outcome) in finished {
                dead.extend(outcome.dead.iter().copied());
                settled.record(&job, outcome, self);
            }
            if !dead.is_empty() {
                sqlx::query!("DELETE FROM devices WHERE id = ANY($1)", &dead)
                    .execute(&self.inner.pool)
                    .await?;
            }
            self.settle(settled).await?;
        }
        Ok(())
    }

    /// Sends one job to each of its nurse's devices.
    async fn push_job(self, job: Job, targets: Vec<(Uuid, String, String)>) -> (Job, Outcome) {
        let provider = self.inner.sender.name();
        let mut outcome = Outcome {
            no_device: targets.is_empty(),
            ..Outcome::default()
        };
        for (device_id, platform, token) in targets {
            let message = message_of(&job, &platform, &token);
            match self.inner.sender.send(&message).await {
                Ok(()) => {
                    outcome.delivered = true;
                    metrics::counter!("push_sent_total", "provider" => provider).increment(1);
                }
                Err(PushError::DeadToken) => {
                    outcome.dead.push(device_id);
                    metrics::counter!("push_dead_tokens_total", "provider" => provider)
                        .increment(1);
                }
                Err(PushError::Retry { after, why }) => {
                    outcome.retry = Some(after.or(outcome.retry.flatten()));
                    outcome.error = Some(why);
                    metrics::counter!("push_failed_total", "provider" => provider).increment(1);
                }
                Err(PushError::Refused(why)) => {
                    outcome.error = Some(why);
                    metrics::counter!("push_failed_total", "provider" => provider).increment(1);
                }
            }
        }
        (job, outcome)
    }

    /// Texts urgent shifts. A text is sent at most once: its job is marked sent before the
    /// gateway is called (a crash in between loses that text; the push still goes), and
    /// unmarked if the gateway fails and it may be tried again.
    async fn send_texts(&self, jobs: &[Job], settled: &mut Settled) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let Some(texts) = self.inner.texts.clone() else {
            for job in jobs {
                settled.failed.push((job.id, "no SMS sender".to_owned()));
            }
            return Ok(());
        };
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        sqlx::query!(
            "UPDATE push_jobs SET sent_at = now() WHERE id = ANY($1)",
            &ids
        )
        .execute(&self.inner.pool)
        .await?;
        let calls: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let (texts, nurse_id) = (texts.clone(), job.nurse_id);
                async move { (i, texts.urgent_shift(nurse_id, URGENT_TEXT).await) }
            })
            .collect();
        let results: Vec<(usize, Result<(), TextError>)> = futures::stream::iter(calls)
            .buffer_unordered(self.inner.config.concurrency.max(1))
            .collect()
            .await;
        for (i, result) in results {
            let job = &jobs[i];
            match result {
                Ok(()) => settled.sent(job, "sms"),
                Err(TextError::Retry(why)) => {
                    settled.unsent.push(job.id);
                    settled.retry_or_fail(job, None, why, self);
                }
                Err(refused) => {
                    settled.unsent.push(job.id);
                    settled.failed.push((job.id, refused.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Writes what became of a batch.
    async fn settle(&self, settled: Settled) -> Result<(), sqlx::Error> {
        if settled.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.pool.begin().await?;
        if !settled.unsent.is_empty() {
            sqlx::query!(
                "UPDATE push_jobs SET sent_at = NULL WHERE id = ANY($1)",
                &settled.unsent
            )
            .execute(&mut *tx)
            .await?;
        }
        if !settled.done.is_empty() {
            sqlx::query!(
                "UPDATE push_jobs SET sent_at = COALESCE(sent_at, now()), locked_until = NULL
                 WHERE id = ANY($1)",
                &settled.done
            )
            .execute(&mut *tx)
            .await?;
        }
        if !settled.failed.is_empty() {
            let (ids, why): (Vec<i64>, Vec<String>) = settled.failed.into_iter().unzip();
            sqlx::query!(
                "UPDATE push_jobs SET failed_at = now(), locked_until = NULL, last_error = t.why
                 FROM unnest($1::bigint[], $2::text[]) AS t(id, why)
                 WHERE push_jobs.id = t.id",
                &ids,
                &why
            )
            .execute(&mut *tx)
            .await?;
        }
        if !settled.retry.is_empty() {
            let (ids, at, why) = settled.retry.into_iter().fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |(mut ids, mut at, mut why), (i, a, w)| {
                    ids.push(i);
                    at.push(a);
                    why.push(w);
                    (ids, at, why)
                },
            );
            sqlx::query!(
                "UPDATE push_jobs SET not_before = t.at, locked_until = NULL, last_error = t.why
                 FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS t(id, at, why)
                 WHERE push_jobs.id = t.id",
                &ids,
                &at,
                &why
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

/// A claimed job.
struct Job {
    id: i64,
    nurse_id: Uuid,
    kind: String,
    shift_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    count: i32,
    attempts: i32,
    committed_at: DateTime<Utc>,
}

/// Why a job was left out at sending; such jobs do not count for coalescing.
const ONLINE: &str = "online";
const QUIET: &str = "quiet hours";
const NO_DEVICE: &str = "no device";
const LEFT_OUT: [&str; 3] = [ONLINE, QUIET, NO_DEVICE];

/// The text of an urgent-shift SMS: no facility, unit or patient, only a reason to open
/// the app.
pub const URGENT_TEXT: &str = "Shiftwire: an urgent shift near you starts soon. Open the app \
                               to see it and claim it. Turn these texts off in Notifications.";

/// What became of a batch of jobs.
#[derive(Default, Debug)]
struct Settled {
    /// Sent (or nothing to send).
    done: Vec<i64>,
    /// Texts marked sent before the gateway was called that were not sent after all.
    unsent: Vec<i64>,
    failed: Vec<(i64, String)>,
    retry: Vec<(i64, DateTime<Utc>, String)>,
}

impl Settled {
    fn is_empty(&self) -> bool {
        self.done.is_empty()
            && self.unsent.is_empty()
            && self.failed.is_empty()
            && self.retry.is_empty()
    }

    /// Records how a push job went. Delivered to any of her devices counts (a retry would
    /// repeat it there).
    fn record(&mut self, job: &Job, outcome: Outcome, push: &Push) {
        if outcome.no_device {
            self.failed.push((job.id, NO_DEVICE.to_owned()));
        } else if outcome.delivered || outcome.error.is_none() {
            self.sent(job, push.inner.sender.name());
        } else if let Some(after) = outcome.retry {
            self.retry_or_fail(job, after, outcome.error.unwrap_or_default(), push);
        } else {
            self.failed
                .push((job.id, outcome.error.unwrap_or_default()));
        }
    }

    fn sent(&mut self, job: &Job, provider: &'static str) {
        self.done.push(job.id);
        let waited = (Utc::now() - job.committed_at)
            .num_microseconds()
            .unwrap_or(0);
        metrics::histogram!("push_handoff_seconds", "provider" => provider)
            .record(waited as f64 / 1e6);
    }

    /// Tries again after the provider's wait (or the backoff), unless the job has had
    /// all its tries.
    fn retry_or_fail(&mut self, job: &Job, after: Option<Duration>, why: String, push: &Push) {
        if job.attempts >= push.inner.config.max_attempts {
            self.failed.push((job.id, why));
            return;
        }
        let wait = after.unwrap_or_else(|| backoff(job.attempts));
        let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        self.retry.push((job.id, at, why));
    }
}

/// Why an open shift is announced to nurses whose app is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// Posted or re-opened.
    Opened,
    /// Boosted: urgent, whenever it starts.
    Boosted,
    /// Its favourites-first window ended: everyone eligible but the favourites.
    Widened,
}

/// Who hears of an opened shift while the app is closed.
#[derive(Debug, Default)]
pub struct Recipients {
    /// By push.
    pub push: Vec<Uuid>,
    /// By urgent text.
    pub text: Vec<Uuid>,
}

/// Sends urgent-shift texts by nurse id: the SMS gateway and the shared SMS budget live
/// with sign-in (the api crate wires them in).
#[async_trait::async_trait]
pub trait UrgentTexts: Send + Sync {
    async fn urgent_shift(&self, nurse_id: Uuid, body: &str) -> Result<(), TextError>;
}

/// Why an urgent text did not go.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("sms budget")]
    Budget,
    #[error("no phone")]
    NoPhone,
    /// The gateway failed; worth another try.
    #[error("{0}")]
    Retry(String),
}

/// How one push job went, over its nurse's devices.
#[derive(Default)]
struct Outcome {
    no_device: bool,
    /// Devices whose tokens the provider called dead.
    dead: Vec<Uuid>,
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
fn message_of(job: &Job, platform: &str, token: &str) -> PushMessage {
    let (title, body, kind) = match job.kind.as_str() {
        "offer" => (
            "New shift near you".to_owned(),
            "Open Shiftwire to see it and claim it.".to_owned(),
            "shift.offered",
        ),
        "digest" => (
            "New shifts near you".to_owned(),
            if job.count == 1 {
                "1 more new shift near you.".to_owned()
            } else {
                format!("{} new shifts near you.", job.count)
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
                job.shift_id
            },
            booking_id: job.booking_id,
        },
        collapse_id: format!("shiftwire-{}", job.id),
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
        let job = |id, kind: &str, count| Job {
            id,
            nurse_id: shift,
            kind: kind.to_owned(),
            shift_id: Some(shift),
            booking_id: (kind == "booking").then_some(shift),
            count,
            attempts: 1,
            committed_at: Utc::now(),
        };
        let offer = message_of(&job(7, "offer", 1), "ios", "tok");
        assert_eq!(offer.data.kind, "shift.offered");
        assert_eq!(offer.data.shift_id, Some(shift));
        assert_eq!(offer.collapse_id, "shiftwire-7");
        let digest = message_of(&job(8, "digest", 3), "android", "tok");
        assert_eq!(digest.body, "3 new shifts near you.");
        assert_eq!(digest.data.shift_id, None);
        assert!(!digest.high_priority());
        let booking = message_of(&job(9, "booking", 1), "web", "tok");
        assert_eq!(booking.data.kind, "booking.updated");
        assert_eq!(booking.data.booking_id, Some(shift));
        for words in [
            &offer.body,
            &digest.body,
            &booking.body,
            &URGENT_TEXT.to_owned(),
        ] {
            assert!(!words.to_lowercase().contains("patient"), "{words}");
        }
    }

    #[test]
    fn retries_back_off_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(256));
    }
}
