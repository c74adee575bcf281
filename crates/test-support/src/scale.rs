//! Bulk synthetic data over one metro area, for benchmarks (`shiftwire-loadgen seed`) and
//! the delivery oracle's test: facilities (one in ten across the state line in NV),
//! verified nurses (RNs 60 %, LPNs and CNAs; licences from CA 85 %, NV 10 % or
//! multistate CA 5 %; BLS for most, ACLS for some; homes all over the area, radii 10 to
//! 50 km) and open shifts, all owned by one scheduler of every generated facility.
//! Generated inside PostgreSQL (`INSERT … SELECT generate_series`), in batches, so a
//! million shifts take a minute. Straight into the tables: never for production.

use anyhow::Context;
use shiftwire_auth::JwtKeys;
use shiftwire_core::Role;
use sqlx::PgPool;
use std::{io::Write, path::Path, time::Instant};
use uuid::Uuid;

/// The world the delivery oracle judges, one tab-separated line per nurse, credential,
/// booking and facility (`scripts/bench.sh` runs the same file with psql).
pub const ORACLE_WORLD_SQL: &str = include_str!("../sql/oracle-world.sql");

/// Where and how much to generate.
pub struct Scale {
    pub shifts: i64,
    pub facilities: i64,
    pub nurses: i64,
    /// Centre (lat, lon) and half-width in degrees of the square everything is in.
    pub centre: (f64, f64),
    pub spread_deg: f64,
    /// Share of nurses marked unavailable.
    pub unavailable: f64,
    /// PostgreSQL's `setseed` for reproducible draws (ids stay random).
    pub seed: Option<f64>,
    /// Names start with this ("Bench", "Oracle").
    pub label: &'static str,
}

impl Scale {
    /// The benchmarks' Bay Area: 37.70, −122.20 ± 0.6°, everyone available.
    pub fn bay_area(shifts: i64, facilities: i64, nurses: i64) -> Self {
        Self {
            shifts,
            facilities,
            nurses,
            centre: (37.70, -122.20),
            spread_deg: 0.6,
            unavailable: 0.0,
            seed: None,
            label: "Bench",
        }
    }
}

/// What was generated.
pub struct Generated {
    /// The synthetic nurses, in generation order.
    pub nurses: Vec<Uuid>,
    /// The scheduler of every generated facility, who owns every generated shift.
    pub scheduler: Uuid,
}

const BATCH: i64 = 100_000;

pub async fn generate(pool: &PgPool, scale: &Scale) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    if let Some(seed) = scale.seed {
        sqlx::query("SELECT setseed($1)")
            .bind(seed)
            .execute(&mut *tx)
            .await?;
    }
    // UUID v7 in SQL: the millisecond timestamp over a random v4, version bits set to 7.
    sqlx::query(
        "CREATE FUNCTION pg_temp.uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
           SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid $$",
    )
    .execute(&mut *tx)
    .await?;
    let (lat, lon) = scale.centre;
    let label = scale.label;
    sqlx::query(
        "CREATE TEMP TABLE generated_facilities ON COMMIT DROP AS
         SELECT pg_temp.uuid7() AS id, n FROM generate_series(1, $1) AS n",
    )
    .bind(scale.facilities)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
         SELECT id, $5 || ' facility ' || n, n || ' Synthetic Way',
                ST_SetSRID(ST_MakePoint($2 + (random() * 2 - 1) * $3, $1 + (random() * 2 - 1) * $3), 4326)::geography,
                'America/Los_Angeles', CASE WHEN n % 10 = 0 THEN 'NV' ELSE 'CA' END,
                150 + (random() * 350)::int
         FROM generated_facilities ORDER BY n",
    )
    .bind(lat)
    .bind(lon)
    .bind(scale.spread_deg)
    .bind(scale.facilities)
    .bind(label)
    .execute(&mut *tx)
    .await
    .context("generating facilities")?;
    let scheduler = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, role, email, password_hash, name)
         VALUES ($1, 'scheduler', lower($2) || '-scheduler-' || $1 || '@shiftwire.example',
                 'not-a-password-hash', $2 || ' scheduler')",
    )
    .bind(scheduler)
    .bind(label)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO staff_facilities (user_id, facility_id)
         SELECT $1, id FROM generated_facilities",
    )
    .bind(scheduler)
    .execute(&mut *tx)
    .await?;

    sqlx::query(
        "CREATE TEMP TABLE generated_nurses ON COMMIT DROP AS
         SELECT pg_temp.uuid7() AS id, n,
                CASE WHEN random() < 0.6 THEN 'RN' WHEN random() < 0.6 THEN 'LPN' ELSE 'CNA' END AS kind,
                random() < 0.85 AS bls, random() < 0.3 AS acls, random() AS licence_draw,
                random() < $2 AS unavailable
         FROM generate_series(1, $1) AS n",
    )
    .bind(scale.nurses)
    .bind(scale.unavailable)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, role, phone, name)
         SELECT id, 'nurse', '+1' || lpad((9000000000 + n + floor(random() * 1000) * 1000000)::text, 10, '0'),
                $1 || ' nurse ' || n
         FROM generated_nurses ORDER BY n
         ON CONFLICT (phone) DO NOTHING",
    )
    .bind(label)
    .execute(&mut *tx)
    .await
    .context("generating nurses")?;
    sqlx::query(
        "INSERT INTO nurse_profiles (nurse_id, home, max_distance_km, available)
         SELECT g.id,
                ST_SetSRID(ST_MakePoint($2 + (random() * 2 - 1) * $3, $1 + (random() * 2 - 1) * $3), 4326)::geography,
                10 + floor(random() * 41), NOT g.unavailable
         FROM generated_nurses g JOIN users u ON u.id = g.id ORDER BY g.n",
    )
    .bind(lat)
    .bind(lon)
    .bind(scale.spread_deg)
    .execute(&mut *tx)
    .await
    .context("generating nurses' homes")?;
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, multistate, expires_on,
                                  status, checked_at)
         SELECT pg_temp.uuid7(), g.id, c.kind, c.kind || '-' || upper(left($1, 1)) || g.n, c.state,
                c.multistate, current_date + 400 + (random() * 500)::int, 'approved', now()
         FROM generated_nurses g
         JOIN users u ON u.id = g.id
         CROSS JOIN LATERAL (VALUES
                (g.kind, CASE WHEN g.licence_draw < 0.10 THEN 'NV' ELSE 'CA' END,
                 g.licence_draw >= 0.95 AND g.kind IN ('RN', 'LPN'), true),
                ('BLS', NULL, false, g.bls),
                ('ACLS', NULL, false, g.acls))
              AS c(kind, state, multistate, held)
         WHERE c.held",
    )
    .bind(label)
    .execute(&mut *tx)
    .await
    .context("generating credentials")?;
    let nurses: Vec<Uuid> = sqlx::query_scalar(
        "SELECT g.id FROM generated_nurses g JOIN users u ON u.id = g.id ORDER BY g.n",
    )
    .fetch_all(&mut *tx)
    .await?;
    println!(
        "{} facilities and {} nurses generated",
        scale.facilities,
        nurses.len()
    );

    let mut done = 0;
    while done < scale.shifts {
        let batch = BATCH.min(scale.shifts - done);
        sqlx::query(
            "WITH f AS (SELECT g.id, f.location, f.state, g.n AS k
                        FROM generated_facilities g JOIN facilities f ON f.id = g.id),
                  picked AS (
                      SELECT 1 + floor(random() * $3)::bigint AS k,
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
        .bind(scale.facilities)
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
    println!("generated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Generated { nurses, scheduler })
}

/// [`generate`]s `scale` into the database of the server's settings (`DATABASE_URL`), and
/// writes the nurses' access tokens, signed with the server's key, to `tokens_out`.
pub async fn seed_database(scale: &Scale, tokens_out: Option<&Path>) -> anyhow::Result<()> {
    let settings = shiftwire_api::Settings::from_env()?;
    if settings.environment == shiftwire_api::config::Environment::Production {
        anyhow::bail!("refusing to generate synthetic data with SHIFTWIRE_ENV=production");
    }
    let pool = shiftwire_api::application::connect(&settings).await?;
    let generated = generate(&pool, scale).await?;
    if let Some(out) = tokens_out {
        let jwt = JwtKeys::new(
            &settings.jwt_secret,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl,
        );
        write_tokens(&pool, &jwt, &generated.nurses, out).await?;
    }
    Ok(())
}

/// One signed-in session per nurse (so their tokens work everywhere an app's do, tickets
/// included) and an access token for each, written as `id<TAB>token` lines to `out`.
/// Local only: this never goes over HTTP.
pub async fn write_tokens(
    pool: &PgPool,
    jwt: &JwtKeys,
    nurses: &[Uuid],
    out: &Path,
) -> anyhow::Result<()> {
    let sessions: Vec<Uuid> = nurses.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO refresh_families (id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])",
    )
    .bind(&sessions)
    .bind(nurses)
    .execute(pool)
    .await?;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    for (id, session) in nurses.iter().zip(&sessions) {
        let token = jwt.issue(*id, Role::Nurse, *session, 0)?;
        writeln!(file, "{id}\t{token}")?;
    }
    file.flush()?;
    println!(
        "access tokens of {} nurses written to {}",
        nurses.len(),
        out.display()
    );
    Ok(())
}
