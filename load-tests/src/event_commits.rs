//! The ceiling on event-writing commits (`make bench-event-commits`): writers each commit
//! one transaction after another that records one event in the outbox
//! (`shiftwire_outbox::record`, whose advisory lock orders every event-writing commit in
//! the system), with 1, 8 and 64 writers at once. The baseline, same run: the same
//! transactions inserting the same payload into a table without the lock.

use crate::report::Recorder;
use anyhow::Context;
use shiftwire_core::DomainEvent;
use sqlx::{PgPool, postgres::PgPoolOptions};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use uuid::Uuid;

#[derive(clap::Args)]
pub struct EventCommitArgs {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Writer counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    writers: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Outbox,
    Plain,
}

async fn commit_once(pool: &PgPool, path: Path) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let event = DomainEvent::ProfileUpdated {
        nurse_id: Uuid::now_v7(),
    };
    match path {
        Path::Outbox => {
            shiftwire_outbox::record(&mut tx, vec![event]).await?;
        }
        Path::Plain => {
            sqlx::query("INSERT INTO bench_plain_events (payload) VALUES ($1)")
                .bind(serde_json::to_value(&event)?)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Commits per second and the p50 / p99 of one commit's time, `writers` at once.
async fn measure(pool: &PgPool, path: Path, writers: usize, seconds: u64) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (pool, stop) = (pool.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut commits = Recorder::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                commit_once(&pool, path).await?;
                commits.record(t.elapsed(), Ok(()));
            }
            anyhow::Ok(commits)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut commits = Recorder::new();
    for task in tasks {
        commits.merge(&task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let p = commits.percentiles();
    println!(
        "{:<22} writers {writers:>3}: {:>7.0} commits/s, commit p50 {:.2} ms p99 {:.2} ms",
        match path {
            Path::Outbox => "outbox (ordered)",
            Path::Plain => "baseline (no lock)",
        },
        commits.requests() as f64 / elapsed,
        p.p50,
        p.p99
    );
    Ok(())
}

pub async fn run(args: EventCommitArgs) -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let most = args.writers.iter().copied().max().unwrap_or(1);
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(u32::try_from(most).unwrap_or(64).max(1))
        .connect(&url)
        .await?;
    shiftwire_api::MIGRATOR.run(&pool).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS bench_plain_events (id bigserial PRIMARY KEY, payload jsonb NOT NULL)",
    )
    .execute(&pool)
    .await?;
    for &writers in &args.writers {
        for path in [Path::Outbox, Path::Plain] {
            measure(&pool, path, writers, args.seconds).await?;
        }
    }
    Ok(())
}
