//! The delivery oracle of `shiftwire-loadgen scale`, small enough for every `make test`:
//! the real server in-process on a fresh database, a few hundred synthetic nurses over
//! the Bay Area held by two `shiftwire-loadgen worker` processes on two loopback source
//! addresses, random shifts posted while 10 % of the clients disconnect and reconnect
//! with `resume`, and the oracle's count: nobody eligible missed, nobody ineligible
//! offered, no offer twice. No wall-clock time is asserted.

use shiftwire_core::Role;
use shiftwire_loadgen::{
    fleet::{FleetConfig, lock, source_addrs},
    oracle::{Rng, World},
    scale::{Client, Session, SessionConfig},
};
use shiftwire_test_support::{
    scale::{self, ORACLE_WORLD_SQL, Scale},
    spawn_app,
};
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};

/// Bay Area data drawn as `shiftwire-loadgen seed` draws it, over a smaller area so that
/// each shift has a few dozen eligible nurses, 5 % of them unavailable; reproducible.
fn oracle_scale() -> Scale {
    Scale {
        shifts: 0,
        facilities: 20,
        nurses: 300,
        centre: (37.70, -122.20),
        spread_deg: 0.3,
        unavailable: 0.05,
        seed: Some(0.4242),
        label: "Oracle",
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn every_offer_reaches_exactly_the_eligible_nurses_across_reconnects(pool: PgPool) {
    let generated = scale::generate(&pool, &oracle_scale())
        .await
        .expect("synthetic data");
    let (nurses, scheduler) = (generated.nurses, generated.scheduler);
    // The real server, in-process, started as `shiftwire serve` starts it.
    let app = spawn_app(pool.clone()).await;
    let (addr, state) = (app.addr, app.state.clone());

    // The oracle's view of the same data, exported as bench.sh exports it.
    let lines: Vec<String> = sqlx::query_scalar(ORACLE_WORLD_SQL)
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
    app.shutdown.cancel();
}
