//! After the claim over the real API and sockets: the nurse on her way (the scheduler
//! sees it, and it extends her deadline), the no-show detector (its deadline read off an
//! injected clock, one decision on two nodes, catching up after downtime), the re-offer
//! to everyone eligible but the nurse who did not come, the late check-in refused, and the
//! pay a facility owes for a late cancellation.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem,
    builders::{
        FACILITY_AT, book, bookings_of, cancel_shift, check_in, claim, facility, id_of,
        nearby_nurse, nearby_shifts, post_shift, shift_body,
    },
    db, spawn_app,
    ws::{Ws, offers_of, sentinel},
};
use sqlx::PgPool;
use uuid::Uuid;

async fn on_the_way(
    app: &TestApp,
    token: &str,
    booking: Uuid,
    eta_minutes: Value,
) -> reqwest::Response {
    app.post(
        &format!("/v1/bookings/{booking}/on-the-way"),
        &json!({ "eta_minutes": eta_minutes }),
        Some(token),
    )
    .await
}

async fn booking_of(app: &TestApp, token: &str, booking: Uuid) -> Value {
    let all = bookings_of(app, token).await;
    all["items"]
        .as_array()
        .or_else(|| all.as_array())
        .expect("bookings")
        .iter()
        .find(|b| id_of(b) == booking)
        .cloned()
        .expect("the booking is listed")
}

/// One sweep of the detector (each app also runs its own every 30 seconds, so a test
/// reads the outcome rather than who decided).
async fn no_shows(app: &TestApp) -> usize {
    app.state
        .matching
        .mark_no_shows()
        .await
        .expect("no-show sweep")
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_nurse_on_her_way_is_seen_by_the_scheduler_and_has_until_her_eta(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let soon = id_of(&post_shift(&app, &f, &shift_body(120, 2)).await);
    let later = id_of(&post_shift(&app, &f, &shift_body(5 * 60, 4)).await);
    let booking = book(&app, &nurse, soon).await;
    let early = book(&app, &nurse, later).await;
    let mut scheduler = Ws::connect(&app, &f.scheduler).await;

    // More than 3 hours before the start: too early. An ETA out of range changes nothing.
    assert_problem(
        on_the_way(&app, &nurse, early, json!(20)).await,
        StatusCode::CONFLICT,
        "outside_on_the_way_window",
    )
    .await;
    assert_problem(
        on_the_way(&app, &nurse, booking, json!(361)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_problem(
        on_the_way(&app, &nurse, booking, json!(12.5)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(
        booking_of(&app, &nurse, booking).await["eta_at"],
        Value::Null
    );

    // 2.5 hours away: she expects to arrive 30 minutes after the start.
    // A whole number written as 150.0 is the same number.
    let said = on_the_way(&app, &nurse, booking, json!(150.0)).await;
    let said = assert_json(said, StatusCode::OK).await;
    assert!(said["on_the_way_at"].is_string(), "{said}");
    let eta = said["eta_at"].as_str().expect("eta").to_owned();
    let seen = scheduler.next().await;
    assert_eq!(seen["type"], "booking.on_the_way", "{seen}");
    assert_eq!(seen["booking_id"], booking.to_string());
    assert_eq!(seen["shift_id"], soon.to_string());
    assert_eq!(seen["facility_id"], f.id.to_string());
    let seen_eta: chrono::DateTime<chrono::Utc> =
        seen["eta_at"].as_str().expect("eta").parse().expect("time");
    assert_eq!(
        seen_eta,
        eta.parse::<chrono::DateTime<chrono::Utc>>().expect("time")
    );

    // The plain 15-minute grace has passed, her ETA + 15 has not.
    app.clock.advance(Duration::minutes(120 + 20));
    no_shows(&app).await;
    assert_eq!(db::booking_status(&app.pool, booking).await, "booked");
    // ETA + 15 minutes (start + 45) has passed.
    app.clock.advance(Duration::minutes(26));
    no_shows(&app).await;
    assert_eq!(db::booking_status(&app.pool, booking).await, "no_show");
    let frame = scheduler.frames_until("booking.no_show").await;
    let notice = frame.last().expect("notice");
    assert_eq!(notice["booking_id"], booking.to_string());
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_no_show_goes_back_out_to_everyone_eligible_but_the_nurse_who_did_not_come(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (absent, _) = nearby_nurse(&app).await;
    let (other, _) = nearby_nurse(&app).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(60, 8)).await);
    let booking = book(&app, &absent, shift).await;
    let mut scheduler = Ws::connect(&app, &f.scheduler).await;
    let mut absent_ws = Ws::connect(&app, &absent).await;
    let mut other_ws = Ws::connect(&app, &other).await;

    // 14 minutes after the start: still within the grace.
    app.clock.advance(Duration::minutes(60 + 14));
    assert_eq!(no_shows(&app).await, 0);
    app.clock.advance(Duration::minutes(2));
    no_shows(&app).await;
    assert_eq!(db::booking_status(&app.pool, booking).await, "no_show");
    // Once: a second sweep finds nothing.
    assert_eq!(no_shows(&app).await, 0);

    let notice = scheduler.frames_until("booking.no_show").await;
    let notice = notice.last().expect("notice");
    assert_eq!(notice["reoffered"], true, "{notice}");
    assert_eq!(notice["shift_id"], shift.to_string());
    assert!(notice["owner_id"].is_string());

    // The nurse who did not come: her booking says so, the offer never reaches her, the
    // shift is not in her search, her claim and her late check-in are refused.
    let updated = absent_ws.frames_until("booking.updated").await;
    assert_eq!(
        updated.last().expect("frame")["booking"]["status"],
        "no_show"
    );
    sentinel(&app, &absent).await;
    let meanwhile = absent_ws.frames_until("verification.updated").await;
    assert!(offers_of(&meanwhile).is_empty(), "{meanwhile:?}");
    let mine = booking_of(&app, &absent, booking).await;
    assert_eq!(mine["status"], "no_show");
    assert!(mine["no_show_at"].is_string());
    let found = nearby_shifts(&app, &absent, "").await;
    assert!(!found.to_string().contains(&shift.to_string()), "{found}");
    let refused = claim(&app, &absent, shift).await;
    let refused = assert_problem(refused, StatusCode::FORBIDDEN, "not_eligible").await;
    assert_eq!(refused["rule"], "missed_this_shift");
    assert_problem(
        check_in(&app, &absent, booking, FACILITY_AT).await,
        StatusCode::CONFLICT,
        "booking_no_show",
    )
    .await;
    let attendance = assert_json(
        app.get("/v1/me/attendance", Some(&absent)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(attendance["score"], 0, "{attendance}");
    assert_eq!(attendance["events"][0]["points"], -100);
    assert_eq!(
        attendance["events"][0]["reason"],
        shiftwire_matching::NO_SHOW_REASON
    );

    // Everyone else eligible is offered it again, and may claim it after its start.
    let frames = other_ws.frames_until("shift.offered").await;
    let offer = frames.last().expect("offer");
    assert_eq!(offer["shift"]["id"], shift.to_string());
    let found = nearby_shifts(&app, &other, "").await;
    assert!(found.to_string().contains(&shift.to_string()), "{found}");
    let taken = assert_json(claim(&app, &other, shift).await, StatusCode::CREATED).await;
    assert_eq!(taken["status"], "booked");
    // Claimed after the start, she is expected from her claim: the grace runs from then.
    no_shows(&app).await;
    assert_eq!(db::booking_status(&app.pool, id_of(&taken)).await, "booked");
    app.clock.advance(Duration::minutes(16));
    no_shows(&app).await;
    assert_eq!(
        db::booking_status(&app.pool, id_of(&taken)).await,
        "no_show"
    );
    // The late check-in stays refused after the new claim.
    assert_problem(
        check_in(&app, &absent, booking, FACILITY_AT).await,
        StatusCode::CONFLICT,
        "booking_no_show",
    )
    .await;
    assert_eq!(
        db::attendance_events_of(&app.pool, booking, "no_show").await,
        1
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_no_show_with_less_than_an_hour_left_is_not_offered_again(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(30, 2)).await);
    let booking = book(&app, &nurse, shift).await;
    let mut scheduler = Ws::connect(&app, &f.scheduler).await;
    // 70 minutes after the start: 50 minutes of the shift remain.
    app.clock.advance(Duration::minutes(30 + 70));
    no_shows(&app).await;
    let notice = scheduler.frames_until("booking.no_show").await;
    assert_eq!(notice.last().expect("notice")["reoffered"], false);
    let listed = assert_json(
        app.get(
            &format!("/v1/facilities/{}/shifts", f.id),
            Some(&f.scheduler),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        listed.to_string().contains("\"cancelled\""),
        "nobody can still work it: {listed}"
    );
    assert_eq!(booking_of(&app, &nurse, booking).await["status"], "no_show");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn two_nodes_sweeping_at_once_decide_each_no_show_once(pool: PgPool) {
    let a = spawn_app(pool.clone()).await;
    let b = spawn_app(pool).await;
    let f = facility(&a, "Mercy General Hospital").await;
    let mut bookings = Vec::new();
    for _ in 0..12 {
        let (nurse, _) = nearby_nurse(&a).await;
        let shift = id_of(&post_shift(&a, &f, &shift_body(30, 8)).await);
        bookings.push(book(&a, &nurse, shift).await);
    }
    for app in [&a, &b] {
        app.clock.advance(Duration::minutes(30 + 16));
    }
    let (on_a, on_b) = tokio::join!(no_shows(&a), no_shows(&b));
    // The nodes' own detectors may have taken some: together, never more than all.
    assert!(on_a + on_b <= bookings.len(), "{on_a} + {on_b}");
    for booking in &bookings {
        assert_eq!(db::booking_status(&a.pool, *booking).await, "no_show");
        assert_eq!(
            db::attendance_events_of(&a.pool, *booking, "no_show").await,
            1
        );
    }
    assert_eq!(
        db::count_outbox_of_topic(&a.pool, "booking.no_show").await,
        12,
        "one decision per booking"
    );
    assert_eq!(
        db::count_outbox_of_topic(&a.pool, "shift.opened").await,
        24,
        "posted, then re-opened once"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_detector_catches_up_on_what_fell_due_while_no_node_ran(pool: PgPool) {
    let first = spawn_app(pool.clone()).await;
    let f = facility(&first, "Mercy General Hospital").await;
    let (nurse, _) = nearby_nurse(&first).await;
    let shift = id_of(&post_shift(&first, &f, &shift_body(60, 8)).await);
    let booking = book(&first, &nurse, shift).await;
    drop(first);
    // Every node was down while the shift started and its deadline passed.
    db::booked_shift_started_minutes_ago(&pool, booking, 90).await;
    let restarted = spawn_app(pool).await;
    // Nobody calls the sweep: the detector's first round at start finds it.
    let decided = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if db::booking_status(&restarted.pool, booking).await == "no_show" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(decided.is_ok(), "the detector caught up after the restart");
    assert_eq!(
        db::attendance_events_of(&restarted.pool, booking, "no_show").await,
        1
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_facility_cancelling_inside_24_hours_owes_two_hours_of_pay(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let close = id_of(&post_shift(&app, &f, &shift_body(10 * 60, 8)).await);
    let far = id_of(&post_shift(&app, &f, &shift_body(30 * 60, 8)).await);
    let close_booking = book(&app, &nurse, close).await;
    let far_booking = book(&app, &nurse, far).await;
    for shift in [close, far] {
        let response = cancel_shift(&app, &f, shift, "Census dropped").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let owed = booking_of(&app, &nurse, close_booking).await;
    assert_eq!(owed["status"], "cancelled");
    assert_eq!(owed["late_cancel_pay_minutes"], 120, "{owed}");
    assert_eq!(
        booking_of(&app, &nurse, far_booking).await["late_cancel_pay_minutes"],
        0
    );
}
