//! Favourites, do-not-return and the attendance restriction over the real API and sockets:
//! a blocked nurse gets no offer, no search result and no claim there and loses her future
//! booking; a favourites-first shift reaches only favourites until its window ends, then
//! everyone else once; a nurse whose score fell to 0 may claim only where she is a
//! favourite, for 7 days of the injected clock.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem,
    builders::{
        Facility, book, bookings_of, claim, facility, id_of, nearby_nurse, nearby_shifts,
        post_shift, put_on_list, shift_body,
    },
    db, spawn_app,
    ws::{Ws, offers_of, sentinel},
};
use sqlx::PgPool;

async fn nurses_of(app: &TestApp, f: &Facility) -> Vec<Value> {
    let listed = assert_json(
        app.get(
            &format!("/v1/facilities/{}/nurses", f.id),
            Some(&f.scheduler),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    listed["items"].as_array().expect("items").clone()
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_blocked_nurse_is_refused_everywhere_at_that_facility_and_loses_her_booking(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    let booked = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let booking = book(&app, &nurse, booked).await;
    let mut ws = Ws::connect(&app, &nurse).await;

    assert_eq!(
        put_on_list(&app, &f, "blocks", nurse_id, &json!({ "reason": " " })).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put_on_list(
            &app,
            &f,
            "blocks",
            nurse_id,
            &json!({ "reason": "Left the unit unattended" })
        )
        .await,
        StatusCode::NO_CONTENT
    );
    // Her future booking there ends, with nothing said of who or why.
    let updated = ws.frames_until("booking.updated").await;
    let cancelled = &updated.last().expect("frame")["booking"];
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "nurse_ineligible");
    assert_eq!(cancelled["cancel_detail"], "not_at_this_facility");
    assert!(!cancelled.to_string().contains("unattended"));
    assert_eq!(db::booking_status(&app.pool, booking).await, "cancelled");

    // A new shift there never reaches her; the sentinel proves the socket kept up.
    let shift = id_of(&post_shift(&app, &f, &shift_body(48 * 60, 8)).await);
    sentinel(&app, &nurse).await;
    let frames = ws.frames_until("verification.updated").await;
    assert!(offers_of(&frames).is_empty(), "{frames:?}");
    let found = nearby_shifts(&app, &nurse, "").await;
    assert!(!found.to_string().contains(&shift.to_string()), "{found}");
    let refused = assert_problem(
        claim(&app, &nurse, shift).await,
        StatusCode::FORBIDDEN,
        "not_eligible",
    )
    .await;
    assert_eq!(refused["rule"], "not_at_this_facility");

    // The scheduler sees her, blocked with the reason; she cannot be a favourite too.
    let listed = nurses_of(&app, &f).await;
    let her = listed
        .iter()
        .find(|n| id_of(n) == nurse_id)
        .expect("listed");
    assert_eq!(her["blocked"], true);
    assert_eq!(her["favourite"], false);
    assert_eq!(her["block_reason"], "Left the unit unattended");
    assert_eq!(
        put_on_list(&app, &f, "favourites", nurse_id, &json!(null)).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        db::audit_rows(&app.pool, nurse_id, "facility.nurse_blocked").await,
        1
    );

    // Lifted, she may claim there again.
    let lifted = app
        .client
        .delete(app.url(&format!("/v1/facilities/{}/blocks/{nurse_id}", f.id)))
        .bearer_auth(&f.scheduler)
        .send()
        .await
        .expect("request");
    assert_eq!(lifted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        claim(&app, &nurse, shift).await.status(),
        StatusCode::CREATED
    );
    let _ = bookings_of(&app, &nurse).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_favourites_first_shift_reaches_everyone_else_once_its_window_ends(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (favourite, favourite_id) = nearby_nurse(&app).await;
    let (other, _) = nearby_nurse(&app).await;
    assert_eq!(
        put_on_list(&app, &f, "favourites", favourite_id, &json!(null)).await,
        StatusCode::NO_CONTENT
    );
    let mut favourite_ws = Ws::connect(&app, &favourite).await;
    let mut other_ws = Ws::connect(&app, &other).await;
    let mut body = shift_body(24 * 60, 8);
    body["favourites_first_minutes"] = json!(30);
    let shift = id_of(&post_shift(&app, &f, &body).await);

    // Inside the window: the favourite is offered it, the other nurse is not and may not
    // claim it.
    let frames = favourite_ws.frames_until("shift.offered").await;
    assert_eq!(
        frames.last().expect("offer")["shift"]["id"],
        shift.to_string()
    );
    sentinel(&app, &other).await;
    let frames = other_ws.frames_until("verification.updated").await;
    assert!(offers_of(&frames).is_empty(), "{frames:?}");
    let refused = assert_problem(
        claim(&app, &other, shift).await,
        StatusCode::FORBIDDEN,
        "not_eligible",
    )
    .await;
    assert_eq!(refused["rule"], "favourites_first");
    assert!(
        !nearby_shifts(&app, &other, "")
            .await
            .to_string()
            .contains(&shift.to_string())
    );

    // The window ends: one offer to the other nurse, nothing new to the favourite.
    app.clock.advance(Duration::minutes(31));
    app.state
        .matching
        .end_favourites_windows()
        .await
        .expect("windows");
    let frames = other_ws.frames_until("shift.offered").await;
    assert_eq!(
        frames.last().expect("offer")["shift"]["id"],
        shift.to_string()
    );
    sentinel(&app, &other).await;
    sentinel(&app, &favourite).await;
    let after = other_ws.frames_until("verification.updated").await;
    assert!(offers_of(&after).is_empty(), "exactly once: {after:?}");
    let after = favourite_ws.frames_until("verification.updated").await;
    assert!(
        !after
            .iter()
            .any(|f| f["type"] == "shift.offered" || f["type"] == "shift.updated"),
        "{after:?}"
    );
    assert_eq!(
        claim(&app, &other, shift).await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn at_a_score_of_zero_a_nurse_claims_only_where_she_is_a_favourite_for_7_days(pool: PgPool) {
    let app = spawn_app(pool).await;
    let home = facility(&app, "Mercy General Hospital").await;
    let other = facility(&app, "Sutter Medical Center").await;
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    assert_eq!(
        put_on_list(&app, &home, "favourites", nurse_id, &json!(null)).await,
        StatusCode::NO_CONTENT
    );
    // A no-show takes her from 100 to 0.
    let missed = id_of(&post_shift(&app, &home, &shift_body(60, 2)).await);
    book(&app, &nurse, missed).await;
    app.clock.advance(Duration::minutes(60 + 16));
    app.state.matching.mark_no_shows().await.expect("sweep");
    let score = assert_json(
        app.get("/v1/me/attendance", Some(&nurse)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(score["score"], 0);

    let elsewhere = id_of(&post_shift(&app, &other, &shift_body(10 * 24 * 60, 8)).await);
    let at_home = id_of(&post_shift(&app, &home, &shift_body(12 * 24 * 60, 8)).await);
    let refused = assert_problem(
        claim(&app, &nurse, elsewhere).await,
        StatusCode::FORBIDDEN,
        "attendance_restricted",
    )
    .await;
    assert!(
        refused["restricted_until"].is_string(),
        "she sees until when: {refused}"
    );
    assert!(
        refused["detail"]
            .as_str()
            .expect("detail")
            .contains("favourited")
    );
    assert!(
        !nearby_shifts(&app, &nurse, "")
            .await
            .to_string()
            .contains(&elsewhere.to_string())
    );
    assert_eq!(
        claim(&app, &nurse, at_home).await.status(),
        StatusCode::CREATED
    );

    // A day short of 7: still restricted. After 7 days: lifted.
    app.clock.advance(Duration::days(6));
    assert_problem(
        claim(&app, &nurse, elsewhere).await,
        StatusCode::FORBIDDEN,
        "attendance_restricted",
    )
    .await;
    app.clock.advance(Duration::days(1));
    assert_eq!(
        claim(&app, &nurse, elsewhere).await.status(),
        StatusCode::CREATED
    );

    // The scheduler's list shows her score and that she is a favourite.
    let listed = nurses_of(&app, &home).await;
    let her = listed
        .iter()
        .find(|n| id_of(n) == nurse_id)
        .expect("listed");
    assert_eq!(her["favourite"], true);
    assert_eq!(her["attendance_score"], 0);
}
