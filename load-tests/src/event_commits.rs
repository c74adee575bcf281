//! The ceiling on event-writing commits (`make bench-event-commits`), and what could
//! replace the outbox's ordering lock. Writers each commit one transaction after another
//! that records one event, with 1, 8 and 64 writers at once, along six paths:
//!
//! - **outbox**: `shiftwire_outbox::record`, whose advisory lock orders every
//!   event-writing commit in the system (an event is in its final place when it commits);
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
//! - **hole-filling reader**: no lock; the event takes the next id from a sequence, and
//!   a reader takes events in id order. At a missing id below one it can see, the reader
//!   inserts a placeholder row with that id (`ON CONFLICT DO NOTHING`). PostgreSQL's
//!   unique index makes that insert wait for a writer still holding that id in an open
//!   transaction, so the reader waits for exactly the event writers in flight below it
//!   and for nothing else. A writer whose id was filled first (it drew the id and the
//!   reader took it before the writer's row existed) finds the conflict and takes the
//!   next id;
//! - **baseline**: the same transaction inserting the same payload into a plain table.
//!
//! Each path also measures the time from the start of a writer's `COMMIT` to the event
//! being readable in its final place: for the lock, at the insert or at commit (and the
//! baseline), that is the commit itself; for the relay, until the relay's transaction that positioned it committed; for
//! xmin, until a reader found it below `xmin`; for the hole-filling reader, until the
//! reader delivered it in id order. And from the writer's `BEGIN` to readable in order:
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
    CommitLock,
    Relay,
    Xmin,
    Holes,
    Plain,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Self::Outbox => "outbox (lock)",
            Self::CommitLock => "lock at commit",
            Self::Relay => "relay",
            Self::Xmin => "xmin reader",
            Self::Holes => "hole-filling reader",
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
        Path::Outbox => {
            shiftwire_outbox::record(&mut tx, vec![event()]).await?;
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
        Path::Holes => {
            // `None` when the reader filled the drawn id first: draw the next one.
            let mut id = None;
            while id.is_none() {
                id = sqlx::query_scalar(
                    "INSERT INTO bench_hole_events (id, payload)
                     VALUES (nextval('bench_hole_events_id'), $1)
                     ON CONFLICT (id) DO NOTHING RETURNING id",
                )
                .bind(&payload)
                .fetch_optional(&mut *tx)
                .await?;
            }
            id
        }
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

/// The hole-filling reader's step: events after `cursor` in id order, up to the first
/// missing id below a visible one; that id is filled (waiting for its writer if one holds
/// it) and read again on the next step. Returns the events' ids (not the placeholders')
/// and moves the cursor past both; `true` when it filled a hole (read again at once).
async fn hole_batch(pool: &PgPool, cursor: &mut i64) -> anyhow::Result<(Vec<i64>, bool)> {
    let rows: Vec<(i64, bool)> = sqlx::query_as(
        "SELECT id, payload IS NOT NULL FROM bench_hole_events
         WHERE id > $1 ORDER BY id LIMIT 1000",
    )
    .bind(*cursor)
    .fetch_all(pool)
    .await?;
    let mut ids = Vec::new();
    for (id, event) in rows {
        if id != *cursor + 1 {
            // A writer holding `cursor + 1` makes this wait until it commits or rolls
            // back; an id no writer holds any more becomes a placeholder at once.
            sqlx::query(
                "INSERT INTO bench_hole_events (id, payload) VALUES ($1, NULL)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(*cursor + 1)
            .execute(pool)
            .await?;
            return Ok((ids, true));
        }
        *cursor = id;
        if event {
            ids.push(id);
        }
    }
    Ok((ids, false))
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
) -> anyhow::Result<Readable> {
    let mut latencies = Readable::default();
    let mut cursor = (0_i64, 0_i64);
    // Earlier measurements' events are not read again.
    let mut position: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM bench_hole_events")
            .fetch_one(&pool)
            .await?;
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
            // Nothing is read past a hole without filling it; after a fill, read on.
            Path::Holes => match hole_batch(&pool, &mut position).await? {
                (ids, true) => (ids, Duration::ZERO),
                (ids, false) => (ids, Duration::from_millis(1)),
            },
            // Events may be waiting for an older transaction: look again soon even if no
            // writer wakes the reader.
            _ => (
                xmin_batch(&pool, &mut cursor).await?,
                Duration::from_millis(1),
            ),
        };
        readable(&ids, &committed, &mut latencies);
        if ids.len() < 1000 && !pause.is_zero() {
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
    let reader = matches!(path, Path::Relay | Path::Xmin | Path::Holes).then(|| {
        tokio::spawn(follow(
            path,
            pool.clone(),
            wake.clone(),
            stop.clone(),
            done.clone(),
            committed.clone(),
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
         CREATE SEQUENCE IF NOT EXISTS bench_hole_events_id;
         CREATE TABLE IF NOT EXISTS bench_hole_events (id bigint PRIMARY KEY, payload jsonb);
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
                Path::CommitLock,
                Path::Relay,
                Path::Xmin,
                Path::Holes,
                Path::Plain,
            ] {
                measure(&pool, path, writers, args.seconds, with).await?;
            }
        }
    }
    Ok(())
}
