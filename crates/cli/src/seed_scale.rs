//! `shiftwire seed --scale N`: bulk synthetic data over one metro area, for benchmarks.
//! The queries here are checked at run time, not compile time: they use a temporary
//! function and table that compile-time checking cannot see.
//! Generated inside PostgreSQL (`INSERT … SELECT generate_series`), in batches, so a
//! million shifts take a minute, not an hour. Never for production databases.

use anyhow::Context;
use secrecy::SecretString;
use shiftwire_api::AppState;
use shiftwire_auth::{AuthError, PasswordHasher, Users, users::NewStaffUser};
use shiftwire_core::{Email, Role};
use sqlx::PgPool;
use std::{io::Write, path::PathBuf, time::Instant};
use uuid::Uuid;

/// How much to generate.
pub struct Scale {
    pub shifts: i64,
    pub facilities: i64,
    pub nurses: i64,
    /// Where to write one access token per synthetic nurse (`id<TAB>token` lines), for the
    /// load generator. Local only: this never goes over HTTP.
    pub tokens_out: Option<PathBuf>,
}

/// Centre and spread of the synthetic metro area (the San Francisco Bay Area).
const CENTRE: (f64, f64) = (37.70, -122.20);
const SPREAD_DEG: f64 = 0.6;
const BATCH: i64 = 100_000;

pub async fn run(pool: &PgPool, state: &AppState, scale: Scale) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // UUID v7 in SQL: the millisecond timestamp over a random v4, version bits set to 7.
    sqlx::query(
        "CREATE FUNCTION pg_temp.uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
           SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid $$",
    )
    .execute(&mut *tx)
    .await?;

    let scheduler = bench_scheduler(pool).await?;
    let facilities_before: i64 = sqlx::query_scalar("SELECT count(*) FROM facilities")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
         SELECT pg_temp.uuid7(), 'Bench facility ' || n, n || ' Synthetic Way',
                ST_SetSRID(ST_MakePoint($2 + (random() * 2 - 1) * $4, $1 + (random() * 2 - 1) * $4), 4326)::geography,
                'America/Los_Angeles', CASE WHEN n % 10 = 0 THEN 'NV' ELSE 'CA' END,
                150 + (random() * 350)::int
         FROM generate_series(1, $3) AS n",
    )
    .bind(CENTRE.0)
    .bind(CENTRE.1)
    .bind(scale.facilities)
    .bind(SPREAD_DEG)
    .execute(&mut *tx)
    .await
    .context("generating facilities")?;
    sqlx::query(
        "INSERT INTO staff_facilities (user_id, facility_id)
         SELECT $1, id FROM facilities WHERE name LIKE 'Bench facility %'
         ON CONFLICT DO NOTHING",
    )
    .bind(scheduler)
    .execute(&mut *tx)
    .await?;
    println!(
        "facilities: {} generated ({} before)",
        scale.facilities, facilities_before
    );

    // Synthetic nurses: verified RNs (60 %), LPNs and CNAs; licences from CA (85 %), NV
    // (10 %) or multistate CA (5 %); BLS for most, ACLS for some; homes all over the
    // area, radii from 10 to 50 km. One facility in ten is across the state line (NV).
    sqlx::query(
        "CREATE TEMP TABLE bench_nurses ON COMMIT DROP AS
         SELECT pg_temp.uuid7() AS id, n,
                CASE WHEN random() < 0.6 THEN 'RN' WHEN random() < 0.6 THEN 'LPN' ELSE 'CNA' END AS kind,
                random() < 0.85 AS bls, random() < 0.3 AS acls, random() AS licence_draw
         FROM generate_series(1, $1) AS n",
    )
    .bind(scale.nurses)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, role, phone, name)
         SELECT id, 'nurse', '+1' || lpad((9000000000 + n + floor(random() * 1000) * 1000000)::text, 10, '0'),
                'Bench nurse ' || n
         FROM bench_nurses
         ON CONFLICT (phone) DO NOTHING",
    )
    .execute(&mut *tx)
    .await
    .context("generating nurses")?;
    sqlx::query(
        "INSERT INTO nurse_profiles (nurse_id, home, max_distance_km)
         SELECT b.id,
                ST_SetSRID(ST_MakePoint($2 + (random() * 2 - 1) * $3, $1 + (random() * 2 - 1) * $3), 4326)::geography,
                10 + floor(random() * 41)
         FROM bench_nurses b JOIN users u ON u.id = b.id",
    )
    .bind(CENTRE.0)
    .bind(CENTRE.1)
    .bind(SPREAD_DEG)
    .execute(&mut *tx)
    .await
    .context("generating nurses' homes")?;
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, multistate, expires_on,
                                  status, checked_at)
         SELECT pg_temp.uuid7(), b.id, c.kind, c.kind || '-B' || b.n, c.state, c.multistate,
                current_date + 400 + (random() * 500)::int, 'approved', now()
         FROM bench_nurses b
         JOIN users u ON u.id = b.id
         CROSS JOIN LATERAL (VALUES
                (b.kind, CASE WHEN b.licence_draw < 0.10 THEN 'NV' ELSE 'CA' END,
                 b.licence_draw >= 0.95 AND b.kind IN ('RN', 'LPN'), true),
                ('BLS', NULL, false, b.bls),
                ('ACLS', NULL, false, b.acls))
              AS c(kind, state, multistate, held)
         WHERE c.held",
    )
    .execute(&mut *tx)
    .await
    .context("generating credentials")?;
    let nurse_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT b.id FROM bench_nurses b JOIN users u ON u.id = b.id ORDER BY b.n",
    )
    .fetch_all(&mut *tx)
    .await?;
    println!("nurses: {} generated", nurse_ids.len());

    let mut done = 0;
    while done < scale.shifts {
        let batch = BATCH.min(scale.shifts - done);
        sqlx::query(
            "WITH f AS (SELECT id, location, state, row_number() OVER () AS k
                        FROM facilities WHERE name LIKE 'Bench facility %'),
                  total AS (SELECT count(*) AS c FROM f),
                  picked AS (
                      SELECT 1 + floor(random() * (SELECT c FROM total))::bigint AS k,
                             now() + interval '2 hours' + random() * interval '14 days' AS starts_at,
                             CASE WHEN random() < 0.6 THEN 'RN' WHEN random() < 0.6 THEN 'LPN'
                                  WHEN random() < 0.8 THEN 'CNA' ELSE 'NP' END AS role,
                             random() AS r
                      FROM generate_series(1, $1))
             INSERT INTO shifts (id, facility_id, owner_id, role, starts_at, ends_at,
                                 hourly_rate_cents, required_certifications, unit, handoff,
                                 location, facility_state)
             SELECT pg_temp.uuid7(), f.id, $2, p.role, p.starts_at,
                    p.starts_at + (8 + floor(p.r * 5)) * interval '1 hour',
                    4000 + floor(p.r * 6000)::int,
                    CASE WHEN p.r < 0.5 THEN ARRAY['BLS'] WHEN p.r < 0.6 THEN ARRAY['BLS', 'ACLS']
                         ELSE ARRAY[]::text[] END,
                    'Unit ' || (1 + floor(p.r * 9))::int,
                    '{\"report_to\": \"Charge nurse\", \"arrival_instructions\": \"Staff entrance, badge at security\", \"exceptions\": []}'::jsonb,
                    f.location, f.state
             FROM picked p JOIN f ON f.k = p.k",
        )
        .bind(batch)
        .bind(scheduler)
        .execute(&mut *tx)
        .await
        .context("generating shifts")?;
        done += batch;
        println!("shifts: {done} of {}", scale.shifts);
    }
    tx.commit().await?;
    sqlx::query("ANALYZE facilities, shifts, users, nurse_profiles, credentials")
        .execute(pool)
        .await?;

    if let Some(path) = scale.tokens_out {
        // One sign-in session per nurse, in one statement, so the tokens work everywhere a
        // signed-in app's do (tickets included).
        let sessions: Vec<uuid::Uuid> = nurse_ids.iter().map(|_| uuid::Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])",
        )
        .bind(&sessions)
        .bind(&nurse_ids)
        .execute(pool)
        .await?;
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        for (id, session) in nurse_ids.iter().zip(&sessions) {
            let token = state.jwt.issue(*id, Role::Nurse, *session, 0)?;
            writeln!(out, "{id}\t{token}")?;
        }
        out.flush()?;
        println!(
            "access tokens of {} nurses written to {}",
            nurse_ids.len(),
            path.display()
        );
    }
    println!("generated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The scheduler who owns every synthetic shift.
async fn bench_scheduler(pool: &PgPool) -> anyhow::Result<Uuid> {
    const EMAIL: &str = "bench-scheduler@shiftwire.example";
    let existing: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(EMAIL)
        .fetch_optional(pool)
        .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    // A facility for the scheduler's mandatory assignment.
    let anchor = shiftwire_core::new_id();
    sqlx::query(
        "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
         VALUES ($1, 'Bench anchor facility', '1 Synthetic Way',
                 ST_SetSRID(ST_MakePoint($3, $2), 4326)::geography, 'America/Los_Angeles', 'CA', 200)",
    )
    .bind(anchor)
    .bind(CENTRE.0)
    .bind(CENTRE.1)
    .execute(pool)
    .await?;
    let hasher = PasswordHasher::new(1)?;
    match Users::new(pool.clone())
        .create_staff(
            &hasher,
            NewStaffUser {
                email: Email::parse(EMAIL).map_err(|e| anyhow::anyhow!("{e}"))?,
                password: SecretString::from(uuid::Uuid::new_v4().to_string()),
                role: Role::Scheduler,
                facility_ids: vec![anchor],
            },
        )
        .await
    {
        Ok(user) => Ok(user.id),
        Err(AuthError::EmailTaken) => Err(anyhow::anyhow!("{EMAIL} appeared concurrently")),
        Err(e) => Err(anyhow::anyhow!("creating the bench scheduler: {e}")),
    }
}
