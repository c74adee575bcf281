//! Attendance over the real API: what a release costs by notice (seen before confirming
//! and afterwards, with its reason), the free 5-minute undo read off an injected clock,
//! +5 for a worked shift with the score capped at 100, and one event per booking and
//! cause enforced by the database.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::Value;
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem,
    builders::{
        FACILITY_AT, book, check_in, check_out, facility, id_of, nearby_nurse, post_shift, release,
        shift_body,
    },
    spawn_app,
};
use sqlx::PgPool;
use uuid::Uuid;

async fn preview(app: &TestApp, token: &str, booking: Uuid) -> Value {
    let path = format!("/v1/bookings/{booking}/release-preview");
    assert_json(app.get(&path, Some(token)).await, StatusCode::OK).await
}

async fn attendance(app: &TestApp, token: &str) -> Value {
    assert_json(
        app.get("/v1/me/attendance", Some(token)).await,
        StatusCode::OK,
    )
    .await
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn each_notice_tier_costs_its_points_and_the_nurse_sees_why(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    // Hours before the start at release (the clock moves 6 minutes past the free undo),
    // the points, and the tier the reason names.
    let tiers = [
        (80, -10, "more than 72 hours"),
        (30, -25, "24 to 72 hours"),
        (20, -40, "16 to 24 hours"),
        (12, -55, "8 to 16 hours"),
        (6, -70, "4 to 8 hours"),
        (2, -85, "less than 4 hours"),
    ];
    let mut booked = Vec::new();
    for (hours, points, tier) in tiers {
        let shift = id_of(&post_shift(&app, &f, &shift_body(hours * 60, 8)).await);
        let (nurse, _) = nearby_nurse(&app).await;
        let booking = book(&app, &nurse, shift).await;
        booked.push((nurse, booking, points, tier));
    }
    app.clock.advance(Duration::minutes(6));
    for (nurse, booking, points, tier) in booked {
        let shown = preview(&app, &nurse, booking).await;
        assert_eq!(shown["points"], points, "{tier}: {shown}");
        let reason = format!("released {tier} before the start");
        assert_eq!(shown["reason"], reason.as_str());
        // Looking changes nothing.
        assert_eq!(
            attendance(&app, &nurse).await["events"],
            serde_json::json!([])
        );
        assert_eq!(
            release(&app, &nurse, booking, "Family emergency")
                .await
                .status(),
            StatusCode::OK
        );
        let mine = attendance(&app, &nurse).await;
        assert_eq!(mine["score"], 100 + points, "{mine}");
        let events = mine["events"].as_array().expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["booking_id"], booking.to_string());
        assert_eq!(events[0]["points"], points);
        assert_eq!(events[0]["reason"], reason.as_str());
        // Released, it has no release left to preview.
        let path = format!("/v1/bookings/{booking}/release-preview");
        assert_problem(
            app.get(&path, Some(&nurse)).await,
            StatusCode::CONFLICT,
            "not_releasable",
        )
        .await;
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_release_within_5_minutes_of_claiming_is_free_and_after_that_it_costs(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let first = id_of(&post_shift(&app, &f, &shift_body(30 * 60, 8)).await);
    let second = id_of(&post_shift(&app, &f, &shift_body(60 * 60, 8)).await);
    let undone = book(&app, &nurse, first).await;
    let kept = book(&app, &nurse, second).await;
    assert_eq!(preview(&app, &nurse, undone).await["points"], 0);
    release(&app, &nurse, undone, "Claimed the wrong day").await;
    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(30));
    let later = preview(&app, &nurse, kept).await;
    assert_eq!(later["points"], -25, "{later}");
    release(&app, &nurse, kept, "Cannot make it").await;
    let mine = attendance(&app, &nurse).await;
    assert_eq!(mine["score"], 75);
    let events = mine["events"].as_array().expect("events");
    assert_eq!(
        events.len(),
        2,
        "the free undo is shown too, with its reason"
    );
    assert_eq!(events[0]["points"], 0);
    assert!(
        events[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("free")
    );
    assert_eq!(events[1]["points"], -25);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_worked_shift_earns_5_once_and_the_score_never_passes_100(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    let soon = id_of(&post_shift(&app, &f, &shift_body(10, 8)).await);
    let booking = book(&app, &nurse, soon).await;
    assert_json(
        check_in(&app, &nurse, booking, FACILITY_AT).await,
        StatusCode::OK,
    )
    .await;
    assert_json(
        check_out(&app, &nurse, booking, FACILITY_AT).await,
        StatusCode::OK,
    )
    .await;
    let mine = attendance(&app, &nurse).await;
    assert_eq!(mine["score"], 100);
    assert_eq!(mine["events"][0]["points"], 5);
    assert_eq!(mine["events"][0]["reason"], "worked the shift");
    // The database holds one event per booking and cause, whoever tries again.
    let again = sqlx::query(
        "INSERT INTO attendance_events (id, nurse_id, booking_id, cause, points, reason, at)
         VALUES (gen_random_uuid(), $1, $2, 'worked', 5, 'worked the shift', now())",
    )
    .bind(nurse_id)
    .bind(booking)
    .execute(&app.pool)
    .await;
    let error = again.expect_err("a second worked event for the booking");
    assert!(
        error
            .to_string()
            .contains("attendance_events_booking_id_cause_key"),
        "{error}"
    );
    // Another nurse's booking is not found.
    let (other, _) = nearby_nurse(&app).await;
    let path = format!("/v1/bookings/{booking}/release-preview");
    assert_problem(
        app.get(&path, Some(&other)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
