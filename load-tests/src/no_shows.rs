//! The no-show detector's cost (`make bench-no-shows`): 100,000 booked bookings whose
//! shifts start over the coming week, straight into a fresh database. First the sweep every
//! node runs every 30 seconds while nothing is due (the common case), against reading
//! every booked booking as the baseline a sweep without its index would pay. Then every
//! booking falls due at once (their shifts moved to have started 20 minutes ago) and the
//! sweeps decide them all, 500 per transaction, each re-opening its shift and writing its
//! events: the worst case after an outage.

use crate::report::Recorder;
use anyhow::Context;
use async_trait::async_trait;
use shiftwire_core::{EventBus, PublishedEvent, eligibility::Standing};
use shiftwire_matching::{Matching, Standings};
use sqlx::{PgConnection, PgPool, postgres::PgPoolOptions};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use uuid::Uuid;

#[derive(clap::Args)]
pub struct NoShowArgs {
    /// Booked bookings to seed.
    #[arg(long, default_value_t = 100_000)]
    bookings: i64,
    /// Sweeps timed while nothing is due.
    #[arg(long, default_value_t = 50)]
    idle_sweeps: usize,
}

/// The detector reads no standing; events go nowhere (no node is listening).
struct Nobody;

#[async_trait]
impl Standings for Nobody {
    async fn of(
        &self,
        _conn: &mut PgConnection,
        _nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Standing>, sqlx::Error> {
        Ok(HashMap::new())
    }
}

impl EventBus for Nobody {
    fn publish(&self, _event: PublishedEvent) {}
}

const SEED: &str = r#"
INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
VALUES ('00000000-0000-4000-8000-0000000000f1', 'Bench General', '1 Bench Way',
        ST_SetSRID(ST_MakePoint(-121.49, 38.58), 4326)::geography, 'America/Los_Angeles', 'CA', 200);
INSERT INTO users (id, role, email, password_hash, name)
VALUES ('00000000-0000-4000-8000-0000000000a1', 'scheduler', 'bench-owner@example.org', 'x', 'Bench owner');
INSERT INTO users (id, role, phone, name)
SELECT md5('bench-nurse-' || g)::uuid, 'nurse', '+1555' || lpad(g::text, 7, '0'), 'Bench nurse ' || g
FROM generate_series(1, $N) g;
INSERT INTO shifts (id, facility_id, owner_id, role, starts_at, ends_at, hourly_rate_cents,
                    unit, handoff, status, location, facility_state)
SELECT md5('bench-shift-' || g)::uuid, '00000000-0000-4000-8000-0000000000f1',
       '00000000-0000-4000-8000-0000000000a1', 'RN',
       date_trunc('minute', now()) + make_interval(mins => 60 + g % 10080),
       date_trunc('minute', now()) + make_interval(mins => 60 + g % 10080 + 480),
       6500, 'Med-Surg', '{"report_to":"Charge nurse","arrival_instructions":"Staff entrance"}',
       'booked', ST_SetSRID(ST_MakePoint(-121.49, 38.58), 4326)::geography, 'CA'
FROM generate_series(1, $N) g;
INSERT INTO bookings (id, shift_id, nurse_id, during, status)
SELECT md5('bench-booking-' || g)::uuid, md5('bench-shift-' || g)::uuid,
       md5('bench-nurse-' || g)::uuid, tstzrange(s.starts_at, s.ends_at), 'booked'
FROM generate_series(1, $N) g JOIN shifts s ON s.id = md5('bench-shift-' || g)::uuid;
ANALYZE users; ANALYZE shifts; ANALYZE bookings;
"#;

const FALL_DUE: &str = r#"
UPDATE shifts SET starts_at = now() - interval '20 minutes', ends_at = now() + interval '460 minutes'
WHERE owner_id = '00000000-0000-4000-8000-0000000000a1';
UPDATE bookings b SET during = tstzrange(s.starts_at, s.ends_at),
                      created_at = s.starts_at - interval '1 day'
FROM shifts s WHERE s.id = b.shift_id;
ANALYZE shifts; ANALYZE bookings;
"#;

/// One line of a phase's sweep times.
fn summary(name: &str, sweeps: &Recorder) {
    let p = sweeps.percentiles();
    println!(
        "{name}: n {} p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        sweeps.requests(),
        p.p50,
        p.p99,
        p.max
    );
}

/// Times one sweep (or baseline read) into `into`.
async fn timed<T>(
    into: &mut Recorder,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let out = work.await?;
    into.record(started.elapsed(), Ok(()));
    Ok(out)
}

pub async fn run(args: NoShowArgs) -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    shiftwire_api::MIGRATOR.run(&pool).await?;
    let started = Instant::now();
    sqlx::raw_sql(&SEED.replace("$N", &args.bookings.to_string()))
        .execute(&pool)
        .await
        .context("seeding")?;
    println!(
        "seeded {} booked bookings over the coming week in {:.1} s",
        args.bookings,
        started.elapsed().as_secs_f64()
    );
    let matching = Matching::new(
        pool.clone(),
        Arc::new(Nobody),
        Arc::new(Nobody),
        Duration::from_secs(7200),
    );

    // Nothing due: what every node pays every 30 s.
    let mut sweeps = Recorder::new();
    let mut baseline = Recorder::new();
    for _ in 0..args.idle_sweeps {
        let decided = timed(&mut sweeps, async { Ok(matching.mark_no_shows().await?) }).await?;
        anyhow::ensure!(decided == 0, "nothing was due, yet {decided} were decided");
        let booked: i64 = timed(&mut baseline, async {
            Ok(sqlx::query_scalar(
                "SELECT count(*) FROM bookings b JOIN shifts s ON s.id = b.shift_id
                 WHERE b.status = 'booked' AND s.status = 'booked'",
            )
            .fetch_one(&pool)
            .await?)
        })
        .await?;
        anyhow::ensure!(booked == args.bookings, "{booked} booked");
    }
    summary("sweep, nothing due", &sweeps);
    summary("baseline: read every booked booking", &baseline);

    // Everything due at once.
    sqlx::raw_sql(FALL_DUE).execute(&pool).await?;
    let mut sweeps = Recorder::new();
    let mut decided = 0usize;
    let t = Instant::now();
    loop {
        let n = timed(&mut sweeps, async { Ok(matching.mark_no_shows().await?) }).await?;
        if n == 0 {
            break;
        }
        decided += n;
    }
    let total = t.elapsed();
    anyhow::ensure!(
        decided as i64 == args.bookings,
        "decided {decided} of {}",
        args.bookings
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'booked'")
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(left == 0, "{left} still booked");
    summary(
        "sweep of 500 due (each re-opened; the last, empty one too)",
        &sweeps,
    );
    println!(
        "all {decided} due: decided in {:.1} s, {:.0} no-shows/s",
        total.as_secs_f64(),
        decided as f64 / total.as_secs_f64()
    );
    Ok(())
}
