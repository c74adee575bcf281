//! What happened, recorded where it happened: domain events are written to the outbox
//! inside the transaction of the change they announce (they commit together or not at
//! all), published on the event bus only after that commit, and read back in stream order
//! by every node's dispatcher. The audit log is written the same way. Infrastructure: this
//! crate knows no domain beyond the event type in `core`.

pub mod audit;

use async_trait::async_trait;
use shiftwire_core::{DomainEvent, EventBus, PublishedEvent};
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
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

/// Every event writer holds this advisory lock shared, from its first event to its end,
/// so writers never wait for one another. It is taken exclusively only for an instant, by
/// [`pause_writers`]: that waits for every writer in flight and holds new ones back,
/// which is how a reader finds a position below which nothing is still being written.
const ORDER_LOCK: i64 = 0x5348_4946_5457_0001;

/// The topic of a placeholder a reader wrote at a position no event will take (its
/// writer rolled back, or drew it and was overtaken by the reader). Readers skip it.
const HOLE: &str = "outbox.hole";

/// How long a reader waits for the writer of a missing position before it answers what
/// it has (the caller comes back on its next event or tick).
pub const HOLE_WAIT: Duration = Duration::from_millis(100);

/// How long [`pause_writers`] holds new writers back at a time while it waits.
const PAUSE_WAIT: Duration = Duration::from_millis(50);

/// SQLSTATE `lock_not_available`: a lock wait ran past `lock_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Writes `events` to the outbox inside the caller's transaction, which must commit right
/// after: they commit with the change they announce, or not at all. Returns them with
/// their stream positions.
///
/// Writers do not wait for each other: each event takes the next id from the sequence,
/// and transactions may commit in another order than their ids. Readers restore the
/// order: [`read_after`] never answers past a missing id until that id's writer has
/// committed or is known never to. A reader that meets a missing id writes a placeholder
/// there (`ON CONFLICT DO NOTHING`), which waits for a writer that holds the id in an open
/// transaction; an id whose place a reader took first (the writer drew it but had not
/// written its row) conflicts here, and the event takes the next id instead.
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
        let seq = loop {
            // The shared lock before the id: the fenced subquery (`OFFSET 0`) is scanned
            // before the row's id is drawn, so a writer that holds an id holds the lock,
            // and `pause_writers` sees every id drawn before it as finished. Taking it
            // again for a later event of the same transaction costs nothing.
            let drawn: Option<i64> = sqlx::query_scalar(
                "INSERT INTO outbox (id, topic, user_id, facility_id, payload) OVERRIDING SYSTEM VALUE
                 SELECT nextval('outbox_id_seq'), $2, $3, $4, $5
                 FROM (SELECT pg_advisory_xact_lock_shared($1) OFFSET 0) AS ordered
                 ON CONFLICT (id) DO NOTHING
                 RETURNING id",
            )
            .bind(ORDER_LOCK)
            .bind(event.topic())
            .bind(event.user_id())
            .bind(event.facility_id())
            .bind(&payload)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(seq) = drawn {
                break seq;
            }
        };
        published.push(PublishedEvent { seq, event });
    }
    Ok(published)
}

/// Waits, inside the caller's transaction, until every event writer in flight has
/// committed or rolled back, and holds new ones back until that transaction ends. A
/// snapshot or a `max(id)` taken while it holds shows every event up to its largest
/// position: nothing below it is still being written. Hold it for an instant only.
///
/// New writers queue behind a waiting pause, so it waits at most `PAUSE_WAIT` at a time
/// and lets them through between tries: a slow writer in flight (a sweep, a writer
/// waiting for a row lock) holds up the pause, not every writer in the system.
pub async fn pause_writers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let wait = format!("{}ms", PAUSE_WAIT.as_millis());
    loop {
        sqlx::query("SAVEPOINT pause_writers")
            .execute(&mut *conn)
            .await?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(&wait)
            .execute(&mut *conn)
            .await?;
        let paused = sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ORDER_LOCK)
            .execute(&mut *conn)
            .await;
        match paused {
            Ok(_) => {
                // The rest of the caller's transaction waits as it would have.
                sqlx::query("SET LOCAL lock_timeout = DEFAULT")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("RELEASE SAVEPOINT pause_writers")
                    .execute(&mut *conn)
                    .await?;
                return Ok(());
            }
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
                sqlx::query("ROLLBACK TO SAVEPOINT pause_writers")
                    .execute(&mut *conn)
                    .await?;
                tokio::time::sleep(PAUSE_WAIT / 5).await;
            }
            Err(e) => return Err(e),
        }
    }
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

/// An outbox row as read back: the event, a position no event took, or why it could not
/// be read. Readers move their cursor past every one.
pub enum Stored {
    Event(PublishedEvent),
    /// A position no event will take (its writer rolled back, say): skipped.
    Hole {
        seq: i64,
    },
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
            Self::Hole { seq } | Self::Unreadable { seq, .. } => *seq,
        }
    }
}

/// The position of the newest event, once every writer in flight has finished (0 for an
/// empty outbox): every event up to it is readable, and none below it is still coming.
pub async fn last_position(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    pause_writers(&mut tx).await?;
    let last = sqlx::query_scalar!(r#"SELECT COALESCE(max(id), 0) AS "max!" FROM outbox"#)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(last)
}

/// Up to `limit` events after `after`, in stream order and without a gap: at a missing
/// position it waits (up to [`HOLE_WAIT`]) for the writer that holds it, and marks a
/// position no writer holds as a hole. Answers fewer when a writer is still at work below
/// the rest; the caller comes back. Positions pruned away are passed over.
pub async fn read_after(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<Stored>, sqlx::Error> {
    read_after_waiting(pool, after, limit, HOLE_WAIT).await
}

/// [`read_after`], waiting up to `wait` for each writer at work below the rest.
pub async fn read_after_waiting(
    pool: &PgPool,
    after: i64,
    limit: i64,
    wait: Duration,
) -> Result<Vec<Stored>, sqlx::Error> {
    let rows = sqlx::query!(
        // The horizon as scalar subqueries (one-time plans, the same snapshot), so the
        // primary key's index starts at the cursor; as a join it scanned from the
        // outbox's first row on every read.
        r#"SELECT (SELECT pruned_through FROM outbox_horizon) AS "pruned_through!",
                  id, topic, payload
           FROM outbox
           WHERE id > GREATEST($1, (SELECT pruned_through FROM outbox_horizon))
           ORDER BY id LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(pool)
    .await?;
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut read = Vec::with_capacity(rows.len());
    let mut cursor = after;
    for row in rows {
        cursor = cursor.max(row.pruned_through);
        // Each position between is missing here: settle them in order. The rows read
        // after them stay as read (committed rows do not change).
        while row.id > cursor + 1 && read.len() < limit {
            match settle(pool, cursor + 1, wait).await? {
                Some(stored) => read.push(stored),
                None => return Ok(read),
            }
            cursor += 1;
        }
        if read.len() >= limit {
            break;
        }
        cursor = row.id;
        read.push(stored(row.id, &row.topic, row.payload));
    }
    Ok(read)
}

/// An outbox row as the readers see it.
fn stored(seq: i64, topic: &str, payload: serde_json::Value) -> Stored {
    if topic == HOLE {
        return Stored::Hole { seq };
    }
    match serde_json::from_value::<DomainEvent>(payload) {
        Ok(event) => Stored::Event(PublishedEvent { seq, event }),
        Err(error) => Stored::Unreadable {
            seq,
            error: error.to_string(),
        },
    }
}

/// Makes position `seq` final and reads it: waits (up to `wait`) for a writer that holds
/// it in an open transaction, or writes a hole there if none does. `None` while its
/// writer is still at work.
async fn settle(pool: &PgPool, seq: i64, wait: Duration) -> Result<Option<Stored>, sqlx::Error> {
    // One round trip, in one implicit transaction (`SET LOCAL` ends with it); the `SELECT`
    // takes its snapshot after the insert, so it sees what the writer committed. Only
    // numbers and constants are formatted in.
    let settled = sqlx::raw_sql(&format!(
        "SET LOCAL lock_timeout = '{}ms';
         INSERT INTO outbox (id, topic, payload) OVERRIDING SYSTEM VALUE
         VALUES ({seq}, '{HOLE}', 'null') ON CONFLICT (id) DO NOTHING;
         SELECT topic, payload FROM outbox WHERE id = {seq}",
        wait.as_millis()
    ))
    .fetch_all(pool)
    .await;
    let rows = match settled {
        Ok(rows) => rows,
        // lock_not_available: the writer is still at work.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let row = rows.last().ok_or(sqlx::Error::RowNotFound)?;
    let topic: String = row.try_get("topic")?;
    let payload: serde_json::Value = row.try_get("payload")?;
    Ok(Some(stored(seq, &topic, payload)))
}

/// Deletes events (and holes) older than `keep` (every node has dispatched them by then;
/// clients away longer resume from the state of things, not from events), and moves the
/// horizon readers pass over to the newest position deleted. Returns rows deleted.
pub async fn prune(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH gone AS (
               DELETE FROM outbox WHERE created_at < now() - make_interval(secs => $1)
               RETURNING id),
           moved AS (
               UPDATE outbox_horizon
               SET pruned_through = GREATEST(pruned_through, (SELECT max(id) FROM gone))
               WHERE EXISTS (SELECT 1 FROM gone))
           SELECT count(*) AS "deleted!" FROM gone"#,
        keep.as_secs_f64()
    )
    .fetch_one(pool)
    .await
    .map(|n| n as u64)
}
