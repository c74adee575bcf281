use chrono::{Duration, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem,
    builders::{
        FACILITY_AT, acknowledge_handoff, book, bookings_of, cancel_shift, check_in, check_out,
        claim, facility, facility_at, id_of, nearby_nurse, nearby_shifts, nurse_at, patch_shift,
        post_shift, put_on_list, release, send_shift, shift_body, shift_changed, shifts_of,
    },
    db, spawn_app, spawn_app_with,
};
use sqlx::PgPool;
use uuid::Uuid;

/// A day, in the minutes `shift_body` takes.
const DAY: i64 = 24 * 60;

/// 200 nurses claim `shift` at once, in turn through each of `nodes`: exactly one books
/// it, every other one is told `shift_taken`, and the shift has one booking.
async fn storm_books_once(nodes: &[&TestApp], shift: Uuid) {
    let mut nurses = Vec::new();
    for _ in 0..200 {
        nurses.push(nearby_nurse(nodes[0]).await.0);
    }
    let answers = join_all(
        nurses
            .iter()
            .enumerate()
            .map(|(i, token)| claim(nodes[i % nodes.len()], token, shift)),
    )
    .await;
    let created = answers
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    for answer in answers
        .into_iter()
        .filter(|r| r.status() != StatusCode::CREATED)
    {
        assert_problem(answer, StatusCode::CONFLICT, "shift_taken").await;
    }
    assert_eq!(db::count_bookings_of_shift(&nodes[0].pool, shift).await, 1);
}

async fn topics(app: &TestApp, shift: Uuid) -> Vec<String> {
    db::outbox_topics_of_shift(&app.pool, shift).await
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_posted_shift_is_open_with_its_handoff_and_owner(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = post_shift(&app, &f, &shift_body(240, 8)).await;
    assert_eq!(shift["status"], "open");
    assert_eq!(
        shift["handoff"]["report_to"],
        "Charge nurse, 4 West (ext. 4410)"
    );
    assert_eq!(shift["handoff_version"], 1);
    assert_eq!(shift["booking"], Value::Null);
    assert_eq!(shift["at_risk"], false);
    assert!(shift["owner_id"].is_string());
    let list = shifts_of(&app, &f, "?status=open").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_shift_cannot_open_without_its_context_or_a_sane_window(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let with = |path: &[&str], value: Value| {
        let mut body = shift_body(240, 8);
        let mut target = &mut body;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        body
    };
    let past = Utc::now() - Duration::hours(1);
    for (body, code) in [
        (
            with(&["handoff", "report_to"], json!("  ")),
            "invalid_request",
        ),
        (
            with(&["handoff", "arrival_instructions"], json!("")),
            "invalid_request",
        ),
        (
            with(&["ends_at"], json!(Utc::now() + Duration::hours(30))),
            "invalid_request",
        ),
        (with(&["starts_at"], json!(past)), "invalid_request"),
        (with(&["hourly_rate_cents"], json!(0)), "invalid_request"),
        (with(&["role"], json!("BLS")), "invalid_request"),
        (
            with(&["required_certifications"], json!(["RN"])),
            "invalid_request",
        ),
        (with(&["handoff", "wifi"], json!("x")), "unknown_field"),
        (with(&["status"], json!("booked")), "unknown_field"),
    ] {
        let response = send_shift(&app, &f, &body).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let shifts = db::count_shifts(&app.pool).await;
    assert_eq!(shifts, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn schedulers_see_only_their_facilities(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = facility(&app, "Mercy General Hospital").await;
    let b = facility(&app, "Bayview Care Center").await;
    let b_shift = id_of(&post_shift(&app, &b, &shift_body(240, 8)).await);
    for response in [
        app.get(
            &format!("/v1/facilities/{}/shifts", b.id),
            Some(&a.scheduler),
        )
        .await,
        app.post(
            &format!("/v1/facilities/{}/shifts", b.id),
            &shift_body(240, 8),
            Some(&a.scheduler),
        )
        .await,
        app.patch(
            &format!("/v1/shifts/{b_shift}"),
            &json!({ "unit": "x" }),
            Some(&a.scheduler),
        )
        .await,
        app.post(
            &format!("/v1/shifts/{b_shift}/cancel"),
            &json!({ "reason": "x" }),
            Some(&a.scheduler),
        )
        .await,
    ] {
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let (nurse, _) = nearby_nurse(&app).await;
    let as_nurse = app
        .post(
            &format!("/v1/facilities/{}/shifts", a.id),
            &shift_body(240, 8),
            Some(&nurse),
        )
        .await;
    assert_problem(as_nurse, StatusCode::FORBIDDEN, "forbidden").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn each_eligibility_rule_refuses_a_claim_with_its_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    // Tomorrow or later, whatever the hour: a BLS card that expires today does not cover
    // it (a shift ending today would be covered).
    let shift = id_of(&post_shift(&app, &f, &shift_body(DAY + 240, 8)).await);

    let (far, _) = nurse_at(&app, (37.80, -122.27), 25.0).await; // Oakland, ~120 km away
    let (unavailable, _) = nearby_nurse(&app).await;
    let response = app
        .patch("/v1/me", &json!({ "available": false }), Some(&unavailable))
        .await;
    assert_json(response, StatusCode::OK).await;
    let (lpn, lpn_id) = nearby_nurse(&app).await;
    db::rn_licence_becomes_lpn(&app.pool, lpn_id).await;
    let (nevada, nevada_id) = nearby_nurse(&app).await;
    db::rn_licence_issued_in(&app.pool, nevada_id, "NV").await;
    let (no_bls, no_bls_id) = nearby_nurse(&app).await;
    db::bls_expires_today(&app.pool, no_bls_id).await;
    let (unverified, unverified_id) = nearby_nurse(&app).await;
    db::credentials_back_to_pending(&app.pool, unverified_id).await;

    for (token, rule) in [
        (&far, "too_far"),
        (&unavailable, "unavailable"),
        (&lpn, "role"),
        (&nevada, "licence_state"),
        (&no_bls, "certification_expired"),
    ] {
        let body = assert_problem(
            claim(&app, token, shift).await,
            StatusCode::FORBIDDEN,
            "not_eligible",
        )
        .await;
        assert_eq!(body["rule"], rule);
    }
    assert_problem(
        claim(&app, &unverified, shift).await,
        StatusCode::FORBIDDEN,
        "not_verified",
    )
    .await;

    let (busy, _) = nearby_nurse(&app).await;
    let overlapping = id_of(&post_shift(&app, &f, &shift_body(DAY + 300, 8)).await);
    book(&app, &busy, overlapping).await;
    assert_problem(
        claim(&app, &busy, shift).await,
        StatusCode::CONFLICT,
        "schedule_conflict",
    )
    .await;

    let (suspended, suspended_id) = nearby_nurse(&app).await;
    app.suspend_account(suspended_id, "Under investigation")
        .await;
    assert_problem(
        claim(&app, &suspended, shift).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;

    let (eligible, _) = nearby_nurse(&app).await;
    book(&app, &eligible, shift).await;
    let unknown = claim(&app, &eligible, Uuid::now_v7()).await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn two_hundred_concurrent_claims_book_the_shift_exactly_once(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.database_max_connections = 20).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    storm_books_once(&[&app], shift).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_storm_over_two_nodes_books_the_shift_exactly_once(pool: PgPool) {
    // Each node refuses its own storm in memory; the database decides between them.
    let a = spawn_app_with(pool.clone(), |s| s.database_max_connections = 10).await;
    let b = spawn_app_with(pool, |s| s.database_max_connections = 10).await;
    let f = facility(&a, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&a, &f, &shift_body(240, 8)).await);
    storm_books_once(&[&a, &b], shift).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_node_that_heard_of_the_booking_refuses_claims_without_the_database(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let (first, _) = nearby_nurse(&app).await;
    let (second, _) = nearby_nurse(&app).await;
    assert!(!app.state.hub.known_taken(shift));
    let booking = book(&app, &first, shift).await;
    // The node published the booking as it committed, before answering.
    assert!(app.state.hub.known_taken(shift));
    // With the shift's row held, a claim that went to the database would wait for it: the
    // answer comes anyway (the timeout only keeps a failure from hanging the suite).
    let mut hold = app.pool.begin().await.expect("begin");
    db::hold_shift_row(&mut hold, shift).await;
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        claim(&app, &second, shift),
    )
    .await
    .expect("the claim waited for the database");
    assert_problem(refused, StatusCode::CONFLICT, "shift_taken").await;
    hold.rollback().await.expect("rollback");
    // Released: the node forgets the booking as the release commits, so the shift can
    // be claimed at once.
    let released = release(&app, &first, booking, "Family emergency").await;
    assert_eq!(released.status(), StatusCode::OK);
    assert!(!app.state.hub.known_taken(shift));
    book(&app, &second, shift).await;
    assert!(app.state.hub.known_taken(shift));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn one_nurse_racing_for_two_overlapping_shifts_gets_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    for round in 0..5 {
        // Two fresh overlapping shifts each round, a day apart from the last round's.
        let start = 240 + round * DAY;
        let first = id_of(&post_shift(&app, &f, &shift_body(start, 8)).await);
        let second = id_of(&post_shift(&app, &f, &shift_body(start + 60, 8)).await);
        let (a, b) = tokio::join!(claim(&app, &nurse, first), claim(&app, &nurse, second));
        let statuses = [a.status(), b.status()];
        assert!(statuses.contains(&StatusCode::CREATED), "{statuses:?}");
        let loser = if a.status() == StatusCode::CREATED {
            b
        } else {
            a
        };
        assert_problem(loser, StatusCode::CONFLICT, "schedule_conflict").await;
        let live = db::count_live_bookings_of_nurse(&app.pool, nurse_id).await;
        assert_eq!(live, round + 1);
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_release_reopens_the_shift_for_another_nurse(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let (first, _) = nearby_nurse(&app).await;
    let (second, _) = nearby_nurse(&app).await;
    let booking = book(&app, &first, shift).await;
    assert_problem(
        claim(&app, &second, shift).await,
        StatusCode::CONFLICT,
        "shift_taken",
    )
    .await;
    let url = format!("/v1/bookings/{booking}/release");
    let no_reason = app.post(&url, &json!({}), Some(&first)).await;
    assert_problem(no_reason, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let not_hers = release(&app, &second, booking, "x").await;
    assert_problem(not_hers, StatusCode::NOT_FOUND, "not_found").await;
    let released = release(&app, &first, booking, "Family emergency").await;
    let released = assert_json(released, StatusCode::OK).await;
    assert_eq!(released["status"], "released");
    assert_eq!(released["shift"]["status"], "open");
    book(&app, &second, shift).await;
    let list = shifts_of(&app, &f, "").await;
    assert_eq!(list["items"][0]["release_count"], 1);
    assert_eq!(list["items"][0]["status"], "booked");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_handoff_change_on_a_booked_shift_needs_a_new_acknowledgement(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let (nurse, _) = nearby_nurse(&app).await;
    let booking = book(&app, &nurse, shift).await;
    let ack = acknowledge_handoff(&app, &nurse, booking).await;
    assert_eq!(
        assert_json(ack, StatusCode::OK).await["handoff_acknowledged"],
        true
    );
    let list = shifts_of(&app, &f, "").await;
    assert_eq!(list["items"][0]["booking"]["handoff_acknowledged"], true);

    let mut handoff = shift_body(240, 8)["handoff"].clone();
    handoff["report_to"] = json!("House supervisor (ext. 2000)");
    let patched = shift_changed(&app, &f, shift, &json!({ "handoff": handoff })).await;
    assert_eq!(patched["handoff_version"], 2);
    assert_eq!(patched["booking"]["handoff_acknowledged"], false);
    assert_eq!(
        topics(&app, shift).await.last().map(String::as_str),
        Some("handoff.updated")
    );

    let mine = bookings_of(&app, &nurse).await;
    assert_eq!(
        mine["items"][0]["handoff"]["report_to"],
        "House supervisor (ext. 2000)"
    );
    assert_eq!(mine["items"][0]["handoff_acknowledged"], false);
    let later = json!({ "starts_at": Utc::now() + Duration::hours(5) });
    let times = patch_shift(&app, &f, shift, &later).await;
    assert_problem(times, StatusCode::CONFLICT, "shift_booked").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn check_in_and_out_work_only_inside_the_geofence(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let soon = id_of(&post_shift(&app, &f, &shift_body(10, 8)).await);
    let later = id_of(&post_shift(&app, &f, &shift_body(600, 8)).await);
    let (nurse, _) = nearby_nurse(&app).await;
    let booking = book(&app, &nurse, soon).await;
    // About 1.1 km north of the facility.
    let north = (FACILITY_AT.0 + 0.01, FACILITY_AT.1);
    let outside = check_in(&app, &nurse, booking, north).await;
    let body = assert_problem(outside, StatusCode::FORBIDDEN, "outside_geofence").await;
    assert!(
        body["distance_m"]
            .as_f64()
            .is_some_and(|d| (1000.0..1200.0).contains(&d)),
        "{body}"
    );
    let at_the_door = (FACILITY_AT.0 + 0.0005, FACILITY_AT.1);
    let inside = check_in(&app, &nurse, booking, at_the_door).await;
    let inside = assert_json(inside, StatusCode::OK).await;
    assert_eq!(inside["status"], "in_progress");
    assert_eq!(inside["shift"]["status"], "in_progress");
    let twice = check_in(&app, &nurse, booking, FACILITY_AT).await;
    assert_problem(twice, StatusCode::CONFLICT, "not_checkable").await;
    let out = check_out(&app, &nurse, booking, FACILITY_AT).await;
    let out = assert_json(out, StatusCode::OK).await;
    assert_eq!(out["status"], "completed");
    assert_eq!(out["worked_minutes"], 0);

    let (other, _) = nearby_nurse(&app).await;
    let early = book(&app, &other, later).await;
    let too_early = check_in(&app, &other, early, FACILITY_AT).await;
    assert_problem(too_early, StatusCode::CONFLICT, "outside_check_in_window").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_idempotent_claim_replays_the_same_booking(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    let send = |body: &'static str| {
        app.client
            .post(app.url(&format!("/v1/shifts/{shift}/claim")))
            .bearer_auth(&nurse)
            .header("idempotency-key", "claim-7f3a")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let first = send("{}").await.expect("send");
    let first = assert_json(first, StatusCode::CREATED).await;
    let again = send("{}").await.expect("send");
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.expect("json"), first);
    let bookings = db::count_bookings_of_nurse(&app.pool, nurse_id).await;
    assert_eq!(bookings, 1);
    let other_body = send("{ }").await.expect("send");
    assert_problem(
        other_body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;

    // A refusal is replayed too (4xx are stored), and keys are per user.
    let (other, _) = nearby_nurse(&app).await;
    let refused = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/v1/shifts/{shift}/claim")))
                .bearer_auth(token)
                .header("idempotency-key", "claim-7f3a")
                .send()
                .await
                .expect("send")
        }
    };
    assert_problem(
        refused(other.clone()).await,
        StatusCode::CONFLICT,
        "shift_taken",
    )
    .await;
    let replayed = refused(other).await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_problem(replayed, StatusCode::CONFLICT, "shift_taken").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_cancelled_shift_cannot_be_claimed_and_its_nurse_is_released(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let open = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let booked = id_of(&post_shift(&app, &f, &shift_body(900, 8)).await);
    let (nurse, _) = nearby_nurse(&app).await;
    let booking = book(&app, &nurse, booked).await;
    let blank = cancel_shift(&app, &f, open, "").await;
    assert_problem(blank, StatusCode::UNPROCESSABLE_ENTITY, "reason_required").await;
    for shift in [open, booked] {
        let cancelled = cancel_shift(&app, &f, shift, "Census dropped").await;
        assert_eq!(
            assert_json(cancelled, StatusCode::OK).await["status"],
            "cancelled"
        );
    }
    let (other, _) = nearby_nurse(&app).await;
    assert_problem(
        claim(&app, &other, open).await,
        StatusCode::CONFLICT,
        "shift_not_open",
    )
    .await;
    let mine = bookings_of(&app, &nurse).await;
    assert_eq!(mine["items"][0]["id"], booking.to_string());
    assert_eq!(mine["items"][0]["status"], "cancelled");
    let again = cancel_shift(&app, &f, open, "again").await;
    assert_problem(again, StatusCode::CONFLICT, "shift_not_cancellable").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_outbox_holds_exactly_the_events_of_what_committed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let (nurse, _) = nearby_nurse(&app).await;
    let booking = book(&app, &nurse, shift).await;
    release(&app, &nurse, booking, "Sick").await;
    cancel_shift(&app, &f, shift, "Filled internally").await;
    assert_eq!(
        topics(&app, shift).await,
        [
            "shift.opened",
            "shift.booked",
            "shift.released",
            "shift.opened",
            "shift.cancelled"
        ]
    );

    // A refused claim leaves no event. Two overlapping claims by one nurse race: the loser
    // is refused either by the eligibility read or, after marking its shift booked, by the
    // exclusion constraint, whose transaction then rolls back with its outbox row.
    let (busy, _) = nearby_nurse(&app).await;
    let first = id_of(&post_shift(&app, &f, &shift_body(300, 8)).await);
    let second = id_of(&post_shift(&app, &f, &shift_body(320, 8)).await);
    let (a, b) = tokio::join!(claim(&app, &busy, first), claim(&app, &busy, second));
    let loser = if a.status() == StatusCode::CREATED {
        second
    } else {
        first
    };
    assert!(a.status() == StatusCode::CREATED || b.status() == StatusCode::CREATED);
    assert_eq!(topics(&app, loser).await, ["shift.opened"]);
    let status = app.shift(f.id, loser).await.status;
    assert_eq!(
        status.as_str(),
        "open",
        "the refused claim left the shift open"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nearby_lists_eligible_open_shifts_nearest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let near = facility(&app, "Mercy General Hospital").await;
    let far = facility_at(&app, "Davis Community Clinic", "CA", (38.54, -121.74)).await;
    let near_shift = id_of(&post_shift(&app, &near, &shift_body(240, 8)).await);
    let far_shift = id_of(&post_shift(&app, &far, &shift_body(1500, 8)).await);
    let mut lpn_body = shift_body(2000, 8);
    lpn_body["role"] = json!("LPN");
    post_shift(&app, &near, &lpn_body).await;
    let mut acls_body = shift_body(2100, 8);
    acls_body["required_certifications"] = json!(["ACLS"]);
    post_shift(&app, &near, &acls_body).await;

    let (nurse, _) = nurse_at(&app, (38.58, -121.46), 50.0).await;
    let page = nearby_shifts(&app, &nurse, "").await;
    let items = page["items"].as_array().expect("items");
    let ids: Vec<Uuid> = items.iter().map(id_of).collect();
    assert_eq!(ids, [near_shift, far_shift], "eligible only, nearest first");
    let d0 = items[0]["distance_km"].as_f64().expect("distance");
    let d1 = items[1]["distance_km"].as_f64().expect("distance");
    assert!(d0 < 2.0 && (20.0..35.0).contains(&d1), "{d0} {d1}");
    assert!(items[0].get("handoff").is_none() && items[0].get("booking").is_none());

    let small = nearby_shifts(&app, &nurse, "?radius_km=5").await;
    assert_eq!(small["items"].as_array().map(Vec::len), Some(1));
    let paged = nearby_shifts(&app, &nurse, "?limit=1").await;
    let next = app
        .next_page("/v1/shifts/nearby?limit=1", &paged, &nurse)
        .await;
    assert_eq!(id_of(&next["items"][0]), far_shift);
    let elsewhere = nearby_shifts(&app, &nurse, "?lat=38.54&lon=-121.74&radius_km=3").await;
    assert_eq!(
        elsewhere["items"]
            .as_array()
            .map(|i| i.iter().map(id_of).collect::<Vec<_>>()),
        Some(vec![far_shift])
    );

    // Booking one removes overlapping shifts from the list; claim agrees with the list.
    book(&app, &nurse, near_shift).await;
    let after = nearby_shifts(&app, &nurse, "").await;
    assert_eq!(
        after["items"]
            .as_array()
            .map(|i| i.iter().map(id_of).collect::<Vec<_>>()),
        Some(vec![far_shift])
    );
    let (homeless, _) = nearby_nurse(&app).await;
    let response = app
        .patch("/v1/me", &json!({ "home": null }), Some(&homeless))
        .await;
    assert_json(response, StatusCode::OK).await;
    let no_point = app.get("/v1/shifts/nearby", Some(&homeless)).await;
    assert_problem(
        no_point,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_search_point",
    )
    .await;
    let with_point = app
        .get("/v1/shifts/nearby?lat=38.57&lon=-121.45", Some(&homeless))
        .await;
    assert_eq!(with_point.status(), StatusCode::OK);
    let bad = [
        "?lat=91&lon=0",
        "?lat=10",
        "?radius_km=-1",
        "?cursor=zzz",
        "?role=MD",
    ];
    app.assert_queries_refused("/v1/shifts/nearby", &nurse, &bad)
        .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_unfilled_shift_is_escalated_to_its_owner_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let soon = id_of(&post_shift(&app, &f, &shift_body(60, 8)).await);
    let later = id_of(&post_shift(&app, &f, &shift_body(600, 8)).await);
    assert_eq!(
        app.state.matching.escalate_unfilled().await.expect("sweep"),
        1
    );
    assert_eq!(
        app.state.matching.escalate_unfilled().await.expect("sweep"),
        0,
        "once per shift"
    );
    assert_eq!(topics(&app, soon).await, ["shift.opened", "shift.unfilled"]);
    assert_eq!(topics(&app, later).await, ["shift.opened"]);
    let payload = db::sole_payload_of_topic(&app.pool, "shift.unfilled").await;
    assert_eq!(payload["release_count"], 0);
    assert!(payload["owner_id"].is_string());
    let list = shifts_of(&app, &f, "").await;
    assert_eq!(list["items"][0]["at_risk"], true);
    assert_eq!(list["items"][1]["at_risk"], false);
}

/// Nearby search filters in SQL; claims check `shiftwire_core::eligibility` in Rust. Over
/// a grid of shifts (roles, states, certifications, dates, an overlap), both must agree.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nearby_search_agrees_with_the_eligibility_rule(pool: PgPool) {
    use shiftwire_core::{
        Coordinates, CredentialKind,
        eligibility::{HeldCredential, Ineligible, NurseFacts, ShiftFacts, eligibility},
    };
    let app = spawn_app(pool).await;
    let places = [
        ("CA", 38.57, -121.45), // Sacramento
        ("NV", 39.16, -119.77), // Carson City
        ("CA", 37.34, -121.89), // San Jose, ~190 km from home
        ("CA", 34.05, -118.24), // Los Angeles, far outside 200 km
    ];
    let home = (38.90, -120.60);
    let mut facilities = Vec::new();
    for (n, (state, lat, lon)) in places.iter().enumerate() {
        let facility = facility_at(&app, &format!("Facility {n}"), state, (*lat, *lon)).await;
        facilities.push((
            facility,
            *state,
            Coordinates::new(*lat, *lon).expect("coordinates"),
        ));
    }

    let (nurse, nurse_id) = nurse_at(&app, home, 200.0).await;
    // RN in CA until 2027-06-30, BLS until 2027-01-15, ACLS pending (does not count),
    // an LPN multistate licence from Texas.
    db::credential_expires_on(&app.pool, nurse_id, "RN", "2027-06-30").await;
    db::credential_expires_on(&app.pool, nurse_id, "BLS", "2027-01-15").await;
    db::pending_certification(&app.pool, nurse_id, "ACLS", "ACLS-X", "2028-12-31").await;
    db::approved_multistate_licence(&app.pool, nurse_id, "LPN", "LPN-X", "TX", "2028-12-31").await;
    let facts = NurseFacts {
        nurse_id,
        suspended: false,
        available: true,
        credentials: vec![
            HeldCredential {
                kind: CredentialKind::RN,
                state: Some("CA".into()),
                multistate: false,
                expires_on: "2027-06-30".parse().expect("date"),
            },
            HeldCredential {
                kind: CredentialKind::BLS,
                state: None,
                multistate: false,
                expires_on: "2027-01-15".parse().expect("date"),
            },
            HeldCredential {
                kind: CredentialKind::LPN,
                state: Some("TX".into()),
                multistate: true,
                expires_on: "2028-12-31".parse().expect("date"),
            },
        ],
        position: Some(Coordinates::new(home.0, home.1).expect("home")),
        max_distance_km: 200.0,
        booked: vec![],
        // San Jose will not have her back; Sacramento keeps her among its favourites.
        blocked_at: vec![facilities[2].0.id],
        favourite_of: vec![facilities[0].0.id],
        restricted_until: None,
    };
    for (what, f, body) in [
        (
            "blocks",
            &facilities[2].0,
            json!({ "reason": "Do not return" }),
        ),
        ("favourites", &facilities[0].0, json!(null)),
    ] {
        let status = put_on_list(&app, f, what, nurse_id, &body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{what}");
    }

    // The 60-day shifts are offered to favourites first, for an hour.
    let mut shifts = Vec::new();
    for (facility, state, location) in &facilities {
        for role in ["RN", "LPN", "NP"] {
            for certs in [json!([]), json!(["BLS"]), json!(["ACLS"])] {
                for start_in_days in [1i64, 60, 250] {
                    let mut body = shift_body(start_in_days * 24 * 60, 8);
                    body["role"] = json!(role);
                    body["required_certifications"] = certs.clone();
                    let window = start_in_days == 60;
                    if window {
                        body["favourites_first_minutes"] = json!(60);
                    }
                    let shift = post_shift(&app, facility, &body).await;
                    let favourites_until =
                        window.then(|| Utc::now() + chrono::Duration::minutes(60));
                    shifts.push((shift, *state, *location, facility.id, favourites_until));
                }
            }
        }
    }
    // Book one shift: everything overlapping it drops out of both views.
    let (booked_shift, ..) = shifts
        .iter()
        .find(|(s, state, ..)| {
            s["role"] == "RN" && s["required_certifications"] == json!([]) && *state == "CA"
        })
        .expect("a shift to book");
    let booking = claim(&app, &nurse, id_of(booked_shift)).await;
    let booking = assert_json(booking, StatusCode::CREATED).await;
    let booked = (
        booking["shift"]["starts_at"]
            .as_str()
            .expect("start")
            .parse()
            .expect("time"),
        booking["shift"]["ends_at"]
            .as_str()
            .expect("end")
            .parse()
            .expect("time"),
    );
    let facts = NurseFacts {
        booked: vec![booked],
        ..facts
    };

    let now = Utc::now();
    let shift_facts = |(s, state, location, facility_id, favourites_until): &(
        Value,
        &str,
        Coordinates,
        Uuid,
        Option<chrono::DateTime<Utc>>,
    )| ShiftFacts {
        // A shift's JSON carries its terms flat, as `ShiftTerms` reads them.
        terms: serde_json::from_value(s.clone()).expect("the shift's terms"),
        facility_state: (*state).to_owned(),
        facility_location: *location,
        excluded: vec![],
        facility_id: *facility_id,
        favourites_until: *favourites_until,
    };
    let mut expected: Vec<Uuid> = shifts
        .iter()
        .filter(|shift| id_of(&shift.0) != id_of(booked_shift))
        .filter(|shift| eligibility(&facts, &shift_facts(shift), now).is_ok())
        .map(|(s, ..)| id_of(s))
        .collect();
    // The block and the favourites window each keep out shifts she would otherwise see.
    for rule in [Ineligible::NotAtThisFacility, Ineligible::FavouritesFirst] {
        assert!(
            shifts
                .iter()
                .any(|shift| eligibility(&facts, &shift_facts(shift), now) == Err(rule)),
            "the grid exercises {rule:?}"
        );
    }
    expected.sort();

    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/shifts/nearby?limit=7&cursor={c}"),
            None => "/v1/shifts/nearby?limit=7".to_owned(),
        };
        let page = app.get_json(&url, &nurse).await;
        found.extend(page["items"].as_array().expect("items").iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    found.sort();
    assert!(
        !expected.is_empty() && expected.len() < shifts.len() - 1,
        "the grid has both outcomes"
    );
    assert_eq!(found, expected);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn idempotency_keys_are_checked_after_the_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let claim_with = |token: Option<String>, key: &'static str| {
        let mut request = app
            .client
            .post(app.url(&format!("/v1/shifts/{shift}/claim")))
            .header("idempotency-key", key)
            .json(&json!({}));
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        request.send()
    };
    // No token: the answer is about the token, whatever the key.
    let anonymous = claim_with(None, "has a space").await.expect("send");
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let spaced = claim_with(Some(format!("Bearer {nurse}")), "has a space")
        .await
        .expect("send");
    assert_problem(
        spaced,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_idempotency_key",
    )
    .await;
    // A lowercase scheme is a token all the same, and the key is honoured.
    let first = claim_with(Some(format!("bearer {nurse}")), "claim-1")
        .await
        .expect("send");
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = claim_with(Some(format!("bearer {nurse}")), "claim-1")
        .await
        .expect("send");
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}
