//! Event-writing commits (`make bench-event-commits`): the outbox's order against the
//! ordering lock it replaced and other orders. Writers each commit one transaction after
//! another that records one event, with 1, 8 and 64 writers at once, along six paths:
//!
//! - **outbox**: the real `shiftwire_outbox::record` and `read_after`. Writers take ids
//!   from a sequence without waiting for one another; the reader (as each node's
//!   dispatcher) takes events in id order, and at a missing id below one it can see it
//!   writes a placeholder there (`ON CONFLICT DO NOTHING`). PostgreSQL's unique index
//!   makes that insert wait for a writer still holding the id in an open transaction, so
//!   the reader waits for exactly the event writers in flight below it, and for nothing
//!   else. A writer whose id was taken first (it drew the id and the reader took it
//!   before the writer's row existed) conflicts, and takes the next id. The bench's
//!   reader reads every event from the table; a dispatcher takes the next one straight
//!   from the bus when it is the next position, so this is the slower case;
//! - **ordering lock (before)**: the outbox's order until this change, on a table of the
//!   bench's own: one advisory lock, taken in the insert and held until the commit, orders
//!   every event-writing commit (an event is in its final place when it commits);
//! - **lock at commit**: the same lock, taken at `COMMIT` instead of at the insert: a
//!   deferred constraint trigger takes it and gives the event its position (the row is
//!   inserted with a provisional negative id), so the lock is held for the commit alone,
//!   not across the round trip from the insert to the `COMMIT`;
//! - **relay**: no lock; the event commits without a position, and one relay task gives
//!   committed events their positions in batches (one transaction per batch), woken by
//!   the writers;
//! - **xmin**: no lock; the event records `pg_current_xact_id()`, and a reader takes
//!   events in `(xid, id)` order only below its snapshot's `xmin`, where no transaction
//!   that could still add one is running;
//! - **baseline**: the same transaction inserting the same payload into a plain table.
//!
//! Each path also measures the time from the start of a writer's `COMMIT` to the event
//! being readable in its final place: for the lock, at the insert or at commit (and the
//! baseline), that is the commit itself; for the relay, until the relay's transaction
//! that positioned it committed; for xmin, until a reader found it below `xmin`; for the
//! outbox, until `read_after` answered it in order. And from the writer's `BEGIN` to readable in order:
//! what a nurse waits for after a scheduler's POST, with the lock's wait (which comes
//! before `COMMIT`) included. Where a reader or the relay decides the order, it goes on
//! after the writers stop until it has read every committed event (at most 5 s); the
//! table counts the events it never read, which must be 0. The xmin path waits for *every* writing
//! transaction in the cluster, not only event writers, so each path runs three times:
//! alone; beside a task writing 500-row batches the whole time, as the real-time layer's
//! offer log does; and beside a write transaction held open for 600 ms once a second, as
//! the no-show detector's 500-booking sweep holds one (621 ms p50 in its benchmark).

use crate::report::Recorder;
use anyhow::Context;
use shiftwire_core::DomainEvent;
use sqlx::{PgPool, postgres::PgPoolOptions};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct EventCommitArgs {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Writer counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    writers: Vec<usize>,
    /// Also run every path beside the offer log's batches and beside a long sweep.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    beside: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Outbox,
    Lock,
    CommitLock,
    Relay,
    Xmin,
    Plain,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::Lock => "ordering lock (before)",
            Self::CommitLock => "lock at commit",
            Self::Relay => "relay",
            Self::Xmin => "xmin reader",
            Self::Plain => "baseline (no order)",
        }
    }
}

/// When each event's writer began its transaction and sent `COMMIT`, by id.
type Committed = Arc<Mutex<HashMap<i64, (Instant, Instant)>>>;

/// What else writes while the event writers do.
#[derive(Clone, Copy, PartialEq)]
enum Beside {
    Nothing,
    /// 500-row batches, one after another.
    OfferLog,
    /// A write transaction open for 600 ms, once a second.
    LongSweep,
}

impl Beside {
    fn name(self) -> &'static str {
        match self {
            Self::Nothing => "alone",
            Self::OfferLog => "+ offer log",
            Self::LongSweep => "+ 600 ms sweep",
        }
    }
}

fn event() -> DomainEvent {
    DomainEvent::ProfileUpdated {
        nurse_id: Uuid::now_v7(),
    }
}

/// One event-writing transaction; returns how long its `COMMIT` took.
async fn commit_once(pool: &PgPool, path: Path, committed: &Committed) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let mut tx = pool.begin().await?;
    let payload = serde_json::to_value(event())?;
    let id: Option<i64> = match path {
        Path::Outbox => Some(shiftwire_outbox::record(&mut tx, vec![event()]).await?[0].seq),
        Path::Lock => {
            // As `shiftwire_outbox::record` wrote until `b75cb69`.
            sqlx::query(
                "INSERT INTO bench_lock_events (payload)
                 SELECT $2 FROM (SELECT pg_advisory_xact_lock($1) OFFSET 0) AS ordered
                 RETURNING id",
            )
            .bind(7341_i64)
            .bind(payload)
            .fetch_one(&mut *tx)
            .await?;
            None
        }
        Path::CommitLock => {
            sqlx::query("INSERT INTO bench_commit_lock_events (payload) VALUES ($1)")
                .bind(payload)
                .execute(&mut *tx)
                .await?;
            None
        }
        Path::Relay => Some(
            sqlx::query_scalar("INSERT INTO bench_relay_events (payload) VALUES ($1) RETURNING id")
                .bind(payload)
                .fetch_one(&mut *tx)
                .await?,
        ),
        Path::Xmin => Some(
            sqlx::query_scalar(
                "INSERT INTO bench_xmin_events (xid, payload)
                 VALUES (pg_current_xact_id()::text::bigint, $1) RETURNING id",
            )
            .bind(payload)
            .fetch_one(&mut *tx)
            .await?,
        ),
        Path::Plain => {
            sqlx::query("INSERT INTO bench_plain_events (payload) VALUES ($1)")
                .bind(payload)
                .execute(&mut *tx)
                .await?;
            None
        }
    };
    let commit = Instant::now();
    if let Some(id) = id {
        committed
            .lock()
            .expect("committed map")
            .insert(id, (began, commit));
    }
    tx.commit().await?;
    Ok(commit.elapsed())
}

/// How long after its `COMMIT` was sent, and after its transaction began, each event
/// was readable in its final place.
#[derive(Default)]
struct Readable {
    after_commit: Recorder,
    after_begin: Recorder,
    /// Committed events never read in order (only where a reader or the relay reads).
    unread: Option<usize>,
}

/// Records, for each id read in its final place, how long after its `COMMIT` was sent
/// and after its transaction began.
fn readable(ids: &[i64], committed: &Committed, latencies: &mut Readable) {
    let now = Instant::now();
    let mut committed = committed.lock().expect("committed map");
    for id in ids {
        if let Some((began, commit)) = committed.remove(id) {
            let since = |at| now.saturating_duration_since(at);
            latencies.after_commit.record(since(commit), Ok(()));
            latencies.after_begin.record(since(began), Ok(()));
        }
    }
}

/// The relay's step: gives committed events without a position the next positions, in
/// id order, up to 1,000 in one transaction. Returns their ids.
async fn relay_batch(pool: &PgPool) -> anyhow::Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "WITH next AS (
             SELECT id, row_number() OVER (ORDER BY id) AS n FROM bench_relay_events
             WHERE position IS NULL ORDER BY id LIMIT 1000),
         base AS (SELECT COALESCE(max(position), 0) AS p FROM bench_relay_events)
         UPDATE bench_relay_events e SET position = base.p + next.n
         FROM next, base WHERE e.id = next.id RETURNING e.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}

/// The xmin reader's step: up to 1,000 events after `cursor` in `(xid, id)` order, below
/// its snapshot's `xmin`. Returns their ids and moves the cursor.
async fn xmin_batch(pool: &PgPool, cursor: &mut (i64, i64)) -> anyhow::Result<Vec<i64>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT xid, id FROM bench_xmin_events
         WHERE (xid, id) > ($1, $2)
           AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
         ORDER BY xid, id LIMIT 1000",
    )
    .bind(cursor.0)
    .bind(cursor.1)
    .fetch_all(pool)
    .await?;
    if let Some(&last) = rows.last() {
        *cursor = last;
    }
    Ok(rows.into_iter().map(|(_, id)| id).collect())
}

/// The outbox reader's step: what `shiftwire_outbox::read_after` answers after `cursor`
/// (in order, without a gap), as a node's dispatcher reads it. Returns the events' ids and
/// moves the cursor past them and past holes.
async fn outbox_batch(pool: &PgPool, cursor: &mut i64) -> anyhow::Result<Vec<i64>> {
    let read = shiftwire_outbox::read_after(pool, *cursor, 1000).await?;
    if let Some(last) = read.last() {
        *cursor = last.seq();
    }
    Ok(read
        .into_iter()
        .filter_map(|stored| match stored {
            shiftwire_outbox::Stored::Event(e) => Some(e.seq),
            _ => None,
        })
        .collect())
}

/// The relay or one of the readers, until `stop`, and then until it has read every event
/// the writers committed (they are done when `done` is set), or 5 s have passed: how long
/// after its `COMMIT` each event was in its final place, and how many it never read.
async fn follow(
    path: Path,
    pool: PgPool,
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    committed: Committed,
    start: i64,
) -> anyhow::Result<Readable> {
    let mut latencies = Readable::default();
    let mut cursor = (0_i64, 0_i64);
    // Earlier measurements' events are not read again: the caller took the position
    // before any writer started.
    let mut position = start;
    let mut drain_until = None;
    loop {
        if stop.load(Ordering::Relaxed) && done.load(Ordering::Relaxed) {
            let until = *drain_until.get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
            if committed.lock().expect("committed map").is_empty() || Instant::now() >= until {
                break;
            }
        }
        let (ids, pause) = match path {
            Path::Relay => (relay_batch(&pool).await?, Duration::from_millis(5)),
            Path::Outbox => (
                outbox_batch(&pool, &mut position).await?,
                Duration::from_millis(1),
            ),
            // Events may be waiting for an older transaction: look again soon even if no
            // writer wakes the reader.
            _ => (
                xmin_batch(&pool, &mut cursor).await?,
                Duration::from_millis(1),
            ),
        };
        readable(&ids, &committed, &mut latencies);
        if ids.len() < 1000 {
            let _ = tokio::time::timeout(pause, wake.notified()).await;
        }
    }
    latencies.unread = Some(committed.lock().expect("committed map").len());
    Ok(latencies)
}

/// Other writing until `stop`.
async fn beside(pool: PgPool, what: Beside, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        match what {
            Beside::Nothing => return Ok(()),
            Beside::OfferLog => {
                sqlx::query(
                    "INSERT INTO bench_offer_log (nurse_id, seq)
                     SELECT gen_random_uuid(), g FROM generate_series(1, 500) g",
                )
                .execute(&pool)
                .await?;
            }
            Beside::LongSweep => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO bench_offer_log (nurse_id, seq) VALUES (gen_random_uuid(), 0)",
                )
                .execute(&mut *tx)
                .await?;
                tokio::time::sleep(Duration::from_millis(600)).await;
                tx.commit().await?;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
    }
    Ok(())
}

/// Commits per second and the p50 / p99 of one commit's time, `writers` at once, and for
/// the relay and xmin paths the time from commit to readable.
async fn measure(
    pool: &PgPool,
    path: Path,
    writers: usize,
    seconds: u64,
    with: Beside,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    let committed: Committed = Arc::default();
    let start = shiftwire_outbox::last_position(pool).await?;
    let reader = matches!(path, Path::Outbox | Path::Relay | Path::Xmin).then(|| {
        tokio::spawn(follow(
            path,
            pool.clone(),
            wake.clone(),
            stop.clone(),
            done.clone(),
            committed.clone(),
            start,
        ))
    });
    let background = tokio::spawn(beside(pool.clone(), with, stop.clone()));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (pool, stop, wake, committed) =
            (pool.clone(), stop.clone(), wake.clone(), committed.clone());
        tasks.push(tokio::spawn(async move {
            let (mut commits, mut commit_only) = (Recorder::new(), Recorder::new());
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let commit = commit_once(&pool, path, &committed).await?;
                commits.record(t.elapsed(), Ok(()));
                commit_only.record(commit, Ok(()));
                wake.notify_one();
            }
            anyhow::Ok((commits, commit_only))
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut commits, mut commit_only) = (Recorder::new(), Recorder::new());
    for task in tasks {
        let (all, commit) = task.await??;
        commits.merge(&all);
        commit_only.merge(&commit);
    }
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    // In its final place when its commit returns (lock, baseline), or when the relay or
    // the reader found it.
    let readable = match reader {
        Some(reader) => reader.await??,
        None => Readable {
            after_commit: commit_only,
            after_begin: commits.clone(),
            unread: None,
        },
    };
    background.await??;
    let p = commits.percentiles();
    let r = readable.after_commit.percentiles();
    let b = readable.after_begin.percentiles();
    println!(
        "| {} | {} | {writers} | {:.0} | {:.2} / {:.2} ms | {:.2} / {:.2} / {:.2} ms | {:.2} / {:.2} ms | {} |",
        path.name(),
        with.name(),
        commits.requests() as f64 / elapsed,
        p.p50,
        p.p99,
        r.p50,
        r.p99,
        r.max,
        b.p50,
        b.p99,
        readable
            .unread
            .map_or_else(|| "–".to_owned(), |n| n.to_string())
    );
    Ok(())
}

pub async fn run(args: EventCommitArgs) -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let most = args.writers.iter().copied().max().unwrap_or(1);
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(u32::try_from(most + 2).unwrap_or(66).max(3))
        .connect(&url)
        .await?;
    shiftwire_api::MIGRATOR.run(&pool).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS bench_plain_events (id bigserial PRIMARY KEY, payload jsonb NOT NULL);
         CREATE TABLE IF NOT EXISTS bench_relay_events (id bigserial PRIMARY KEY,
             position bigint UNIQUE, payload jsonb NOT NULL);
         CREATE INDEX IF NOT EXISTS bench_relay_unpositioned ON bench_relay_events (id)
             WHERE position IS NULL;
         CREATE TABLE IF NOT EXISTS bench_xmin_events (id bigserial PRIMARY KEY,
             xid bigint NOT NULL, payload jsonb NOT NULL);
         CREATE INDEX IF NOT EXISTS bench_xmin_order ON bench_xmin_events (xid, id);
         CREATE SEQUENCE IF NOT EXISTS bench_commit_lock_provisional;
         CREATE SEQUENCE IF NOT EXISTS bench_commit_lock_position;
         CREATE TABLE IF NOT EXISTS bench_commit_lock_events (
             id bigint PRIMARY KEY DEFAULT -nextval('bench_commit_lock_provisional'),
             payload jsonb NOT NULL);
         CREATE OR REPLACE FUNCTION bench_commit_lock_position() RETURNS trigger
             LANGUAGE plpgsql AS $$
             BEGIN
                 PERFORM pg_advisory_xact_lock(7340);
                 UPDATE bench_commit_lock_events
                     SET id = nextval('bench_commit_lock_position') WHERE id = NEW.id;
                 RETURN NULL;
             END $$;
         DROP TRIGGER IF EXISTS bench_commit_lock_position ON bench_commit_lock_events;
         CREATE CONSTRAINT TRIGGER bench_commit_lock_position
             AFTER INSERT ON bench_commit_lock_events DEFERRABLE INITIALLY DEFERRED
             FOR EACH ROW EXECUTE FUNCTION bench_commit_lock_position();
         CREATE TABLE IF NOT EXISTS bench_lock_events (id bigserial PRIMARY KEY, payload jsonb NOT NULL);
         CREATE TABLE IF NOT EXISTS bench_offer_log (nurse_id uuid NOT NULL, seq bigint NOT NULL);",
    )
    .execute(&pool)
    .await?;
    println!(
        "| path | other writes | writers | commits/s | transaction p50 / p99 | COMMIT sent → readable in order p50 / p99 / max | BEGIN → readable in order p50 / p99 | committed, never read |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let besides: &[Beside] = if args.beside {
        &[Beside::Nothing, Beside::OfferLog, Beside::LongSweep]
    } else {
        &[Beside::Nothing]
    };
    for &with in besides {
        for &writers in &args.writers {
            for path in [
                Path::Outbox,
                Path::Lock,
                Path::CommitLock,
                Path::Relay,
                Path::Xmin,
                Path::Plain,
            ] {
                measure(&pool, path, writers, args.seconds, with).await?;
            }
        }
    }
    Ok(())
}
