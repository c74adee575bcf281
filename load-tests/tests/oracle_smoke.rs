//! The delivery oracle of `shiftwire-loadgen scale`, small enough for every `make test`:
//! the real server in-process on a fresh database, a few hundred synthetic nurses over
//! the Bay Area held by two `shiftwire-loadgen worker` processes on two loopback source
//! addresses, random shifts posted while 10 % of the clients disconnect and reconnect
//! with `resume`, and the oracle's count: nobody eligible missed, nobody ineligible
//! offered, no offer twice. No wall-clock time is asserted.

use shiftwire_api::{AppState, Settings, app, config::RegistryProvider, state::Providers};
use shiftwire_core::Role;
use shiftwire_loadgen::{
    fleet::{FleetConfig, lock, source_addrs},
    oracle::{Rng, World},
    scale::{Client, Session, SessionConfig},
};
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

const NURSES: i64 = 300;
const FACILITIES: i64 = 20;

/// Bay Area data drawn like `shiftwire seed --scale` draws it (CA/NV/multistate licences,
/// RN/LPN/CNA, BLS/ACLS, radii 10–50 km, one facility in ten in NV), over a smaller area
/// so that each shift has a few dozen eligible nurses; reproducible (`setseed`).
async fn seed(pool: &PgPool) -> (Vec<Uuid>, Uuid) {
    let mut tx = pool.begin().await.expect("tx");
    sqlx::query("SELECT setseed(0.4242)")
        .execute(&mut *tx)
        .await
        .expect("setseed");
    sqlx::query(
        "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
         SELECT gen_random_uuid(), 'Oracle facility ' || n, n || ' Synthetic Way',
                ST_SetSRID(ST_MakePoint(-122.20 + (random() * 2 - 1) * 0.3,
                                        37.70 + (random() * 2 - 1) * 0.3), 4326)::geography,
                'America/Los_Angeles', CASE WHEN n % 10 = 0 THEN 'NV' ELSE 'CA' END, 200
         FROM generate_series(1, $1) AS n",
    )
    .bind(FACILITIES)
    .execute(&mut *tx)
    .await
    .expect("facilities");
    sqlx::query(
        "CREATE TEMP TABLE oracle_nurses ON COMMIT DROP AS
         SELECT gen_random_uuid() AS id, n,
                CASE WHEN random() < 0.6 THEN 'RN' WHEN random() < 0.6 THEN 'LPN' ELSE 'CNA' END AS kind,
                random() < 0.85 AS bls, random() < 0.3 AS acls, random() AS licence_draw,
                random() < 0.05 AS unavailable
         FROM generate_series(1, $1) AS n",
    )
    .bind(NURSES)
    .execute(&mut *tx)
    .await
    .expect("nurse draws");
    sqlx::query(
        "INSERT INTO users (id, role, phone, name)
         SELECT id, 'nurse', '+1' || lpad((9000000000 + n + floor(random() * 1000) * 1000000)::text, 10, '0'), 'Oracle nurse ' || n
         FROM oracle_nurses",
    )
    .execute(&mut *tx)
    .await
    .expect("nurses");
    sqlx::query(
        "INSERT INTO nurse_profiles (nurse_id, home, max_distance_km, available)
         SELECT id, ST_SetSRID(ST_MakePoint(-122.20 + (random() * 2 - 1) * 0.3,
                                            37.70 + (random() * 2 - 1) * 0.3), 4326)::geography,
                10 + floor(random() * 41), NOT unavailable
         FROM oracle_nurses ORDER BY n",
    )
    .execute(&mut *tx)
    .await
    .expect("nurses' homes");
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, multistate, expires_on,
                                  status, checked_at)
         SELECT gen_random_uuid(), b.id, c.kind, c.kind || '-O' || b.n, c.state, c.multistate,
                current_date + 400 + (random() * 500)::int, 'approved', now()
         FROM oracle_nurses b
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
    .expect("credentials");
    let nurses: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM oracle_nurses ORDER BY n")
        .fetch_all(&mut *tx)
        .await
        .expect("ids");
    let scheduler = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, role, email, password_hash, name)
         VALUES ($1, 'scheduler', 'oracle-scheduler@shiftwire.example', 'not-a-password-hash', 'Oracle')",
    )
    .bind(scheduler)
    .execute(&mut *tx)
    .await
    .expect("scheduler");
    sqlx::query(
        "INSERT INTO staff_facilities (user_id, facility_id) SELECT $1, id FROM facilities",
    )
    .bind(scheduler)
    .execute(&mut *tx)
    .await
    .expect("assignments");
    tx.commit().await.expect("commit");
    (nurses, scheduler)
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn every_offer_reaches_exactly_the_eligible_nurses_across_reconnects(pool: PgPool) {
    let (nurses, scheduler) = seed(&pool).await;

    // The real server, in-process.
    let mut settings = Settings::for_tests();
    settings.license_registry = RegistryProvider::Table {
        csv: concat!(env!("CARGO_MANIFEST_DIR"), "/../registry/demo-licenses.csv").into(),
    };
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let state = AppState::new(
        &settings,
        pool.clone(),
        Providers::default(),
        &tasks,
        shutdown.clone(),
    )
    .await
    .expect("app state");
    let router = app::build_router(state.clone(), &settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    app::spawn_background(&state, &settings, &tasks, shutdown.clone());
    let served = shutdown.clone();
    let serving = settings.clone();
    let server = tokio::spawn(async move { app::serve(listener, router, served, &serving).await });

    // The oracle's view of the same data, exported as bench.sh exports it.
    let lines: Vec<String> = sqlx::query_scalar(include_str!("../sql/oracle-world.sql"))
        .fetch_all(&pool)
        .await
        .expect("world export");
    let world = Arc::new(World::parse(lines.iter().map(String::as_str)).expect("world"));
    assert_eq!(world.nurses.len(), nurses.len());
    let clients: Vec<Client> = nurses
        .iter()
        .map(|id| Client {
            nurse: *id,
            token: state
                .jwt
                .issue(*id, Role::Nurse, uuid::Uuid::now_v7(), 0)
                .expect("nurse token"),
        })
        .collect();
    let facilities = world.facility_order.clone();

    let mut session = Session::start(SessionConfig {
        base: format!("http://{addr}").parse().expect("url"),
        scheduler_token: state
            .jwt
            .issue(scheduler, Role::Scheduler, uuid::Uuid::now_v7(), 0)
            .expect("scheduler token"),
        world,
        clients,
        fleet: FleetConfig {
            bin: env!("CARGO_BIN_EXE_shiftwire-loadgen").into(),
            workers: 2,
            ws_url: format!("ws://{addr}/v1/ws"),
            source_addrs: source_addrs(2),
            connect_concurrency: 16,
            max_secs: 300,
        },
    })
    .await
    .expect("workers");
    let connected = session
        .connect_all(Duration::from_secs(60))
        .await
        .expect("connect");
    assert_eq!(
        (connected.opened, connected.failed.len()),
        (nurses.len() as u64, 0),
        "{connected:?}"
    );

    // A few shifts with everyone connected, then more while 10 % reconnect with resume.
    let mut rng = Rng::new(7);
    let now = chrono::Utc::now();
    for _ in 0..10 {
        let spec = shiftwire_loadgen::oracle::random_shift(&mut rng, &facilities, now);
        let post = session.post("live", spec).await;
        assert!(post.id.is_ok(), "POST failed: {:?}", post.id);
    }
    let reconnects = session
        .reconnect_phase(40, 20, 10, &mut rng, &facilities)
        .await
        .expect("reconnect phase");
    session.settle().await;
    let verdict = session.judge_settled().await;
    eprintln!("oracle: {verdict:?}\nreconnects: {reconnects:?}");

    {
        let ledger = lock(&session.fleet.ledger);
        assert!(
            ledger.ended.is_empty(),
            "the server ended connections: {:?}",
            ledger.ended
        );
        assert!(
            ledger.reconnect_failed.is_empty(),
            "reconnects failed: {:?}",
            ledger.reconnect_failed
        );
    }
    assert_eq!(reconnects.post_errors, 0, "{reconnects:?}");
    assert_eq!(reconnects.cohort, 30, "{reconnects:?}");
    assert_eq!(reconnects.resumed, 2 * reconnects.cohort, "{reconnects:?}");
    assert_eq!(verdict.shifts, 50, "{verdict:?}");
    assert!(
        verdict.expected >= 200,
        "too few eligible pairs to mean anything: {verdict:?}"
    );
    assert_eq!(
        (
            verdict.missed,
            verdict.wrong,
            verdict.duplicates,
            verdict.strays
        ),
        (0, 0, 0, 0),
        "missed / wrong / duplicate / stray offers: {verdict:?}"
    );

    session.fleet.close_all().await.expect("close");
    session.fleet.shutdown().await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
