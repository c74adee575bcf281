//! What happened, recorded where it happened: domain events are written to the outbox
//! inside the transaction of the change they announce (they commit together or not at
//! all), published on the event bus only after that commit, and read back in stream order
//! by every node's dispatcher. The audit log is written the same way. Infrastructure: this
//! crate knows no domain beyond the event type in `core`.

pub mod audit;

use async_trait::async_trait;
use shiftwire_core::{DomainEvent, EventBus, PublishedEvent};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::time::Duration;
use uuid::Uuid;

/// What another room does inside the caller's transaction about one subject, when the
/// caller's change calls for it (the marketplace releasing the bookings of a nurse who
/// became ineligible, say). It records its own events and returns them, for the caller to
/// publish with its own after the commit. The caller knows the trait, not the room.
#[async_trait]
pub trait Consequence: Send + Sync {
    async fn follow(
        &self,
        conn: &mut PgConnection,
        subject: Uuid,
    ) -> Result<Vec<PublishedEvent>, sqlx::Error>;
}

/// A consequence that does nothing: for tools and tests of one room alone.
pub struct NoConsequence;

#[async_trait]
impl Consequence for NoConsequence {
    async fn follow(
        &self,
        _: &mut PgConnection,
        _: Uuid,
    ) -> Result<Vec<PublishedEvent>, sqlx::Error> {
        Ok(Vec::new())
    }
}

/// The advisory lock that orders outbox inserts: held from the insert to the commit, so
/// outbox ids become visible in the order they were assigned.
const ORDER_LOCK: i64 = 0x5348_4946_5457_0001;

/// Writes `events` to the outbox inside the caller's transaction, which must commit right
/// after: they commit with the change they announce, or not at all. Returns them with
/// their stream positions.
///
/// Inserts are serialised until commit by an advisory lock, which makes the outbox id a
/// commit-ordered sequence: a reader that sees id N sees every committed id below N.
/// The real-time layer relies on that for gap-free delivery and resume.
pub async fn record(
    conn: &mut PgConnection,
    events: Vec<DomainEvent>,
) -> Result<Vec<PublishedEvent>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut published = Vec::with_capacity(events.len());
    for event in events {
        let payload = serde_json::to_value(&event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let seq = if published.is_empty() {
            // The lock and the first row in one round trip, so the lock is held one round
            // trip less. The fenced subquery (`OFFSET 0`) is scanned before the row is
            // formed: the lock is taken before the row's id is drawn from the sequence,
            // as with a separate `SELECT pg_advisory_xact_lock` (checked with a third
            // session drawing from the sequence while the insert waits for the lock).
            sqlx::query_scalar(
                "INSERT INTO outbox (topic, user_id, facility_id, payload)
                 SELECT $2, $3, $4, $5 FROM (SELECT pg_advisory_xact_lock($1) OFFSET 0) AS ordered
                 RETURNING id",
            )
            .bind(ORDER_LOCK)
            .bind(event.topic())
            .bind(event.user_id())
            .bind(event.facility_id())
            .bind(&payload)
            .fetch_one(&mut *conn)
            .await?
        } else {
            sqlx::query_scalar!(
                "INSERT INTO outbox (topic, user_id, facility_id, payload) VALUES ($1, $2, $3, $4)
             RETURNING id",
                event.topic(),
                event.user_id(),
                event.facility_id(),
                payload
            )
            .fetch_one(&mut *conn)
            .await?
        };
        published.push(PublishedEvent { seq, event });
    }
    Ok(published)
}

/// Commits `tx`, whose events [`record`] wrote, then publishes them in stream order: the
/// bus only ever carries committed events.
pub async fn commit(
    tx: Transaction<'_, Postgres>,
    mut published: Vec<PublishedEvent>,
    bus: &dyn EventBus,
) -> Result<(), sqlx::Error> {
    tx.commit().await?;
    published.sort_by_key(|e| e.seq);
    for event in published {
        bus.publish(event);
    }
    Ok(())
}

/// [`record`] then [`commit`]: the whole step for a caller with nothing else to record.
pub async fn record_and_commit(
    mut tx: Transaction<'_, Postgres>,
    events: Vec<DomainEvent>,
    bus: &dyn EventBus,
) -> Result<(), sqlx::Error> {
    let published = record(&mut tx, events).await?;
    commit(tx, published, bus).await
}

/// An outbox row as read back: the event, or why it could not be read.
pub enum Stored {
    Event(PublishedEvent),
    /// Written by another version, or damaged: skipped, with its position.
    Unreadable {
        seq: i64,
        error: String,
    },
}

impl Stored {
    pub fn seq(&self) -> i64 {
        match self {
            Self::Event(e) => e.seq,
            Self::Unreadable { seq, .. } => *seq,
        }
    }
}

/// The position of the newest committed event (0 for an empty outbox).
pub async fn last_position(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT COALESCE(max(id), 0) AS "max!" FROM outbox"#)
        .fetch_one(pool)
        .await
}

/// Up to `limit` committed events after `after`, in stream order.
pub async fn read_after(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<Stored>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, payload FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
        after,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |row| match serde_json::from_value::<DomainEvent>(row.payload) {
                Ok(event) => Stored::Event(PublishedEvent { seq: row.id, event }),
                Err(error) => Stored::Unreadable {
                    seq: row.id,
                    error: error.to_string(),
                },
            },
        )
        .collect())
}

/// Deletes events older than `keep` (every node has dispatched them by then; clients
/// away longer resume from the state of things, not from events). Returns rows deleted.
pub async fn prune(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM outbox WHERE created_at < now() - make_interval(secs => $1)",
        keep.as_secs_f64()
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
