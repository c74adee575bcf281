//! Rules that must hold under races, retries and expiry (issue-by-issue regressions of an
//! independent review): claims never interleave with a PATCH, a booked shift's terms are
//! the booking's, sockets live no longer than their credentials, an idempotent retry finds
//! the real answer, tokens die with a suspension, and bad input of every kind is refused.

use chrono::{Duration as Span, Utc};
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_core::{CredentialKind, Role};
use shiftwire_test_support::builders::{
    FACILITY_AT, acknowledge_handoff, book, bookings_of, check_in, check_out, claim, facility,
    facility_at, id_of, nearby_nurse, nearby_shifts, nurse_at, patch_shift, post_shift, send_shift,
    shift_body, shift_changed,
};
use shiftwire_test_support::ws::{self, Ws, offer_of, sentinel, ws_url};
use shiftwire_test_support::{
    STAFF_PASSWORD, TestApp, assert_json, assert_problem, db, five_messages_a_second, spawn_app,
    spawn_app_with,
};
use sqlx::PgPool;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{Frame, coding::Data, coding::OpCode},
};
use uuid::Uuid;

/// Waits (bounded) until some other database session is waiting for a lock: the request
/// under test has reached the locked row.
async fn until_blocked(app: &TestApp) {
    for _ in 0..2000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&app.pool)
        .await
        .expect("pg_stat_activity");
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("no request reached the lock within 4 s");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_claim_and_a_patch_of_one_shift_never_interleave(pool: PgPool) {
    const ROUNDS: usize = 40;
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let mut bookings_matching = 0;
    let mut patches_first = 0;
    for round in 0..ROUNDS {
        // A fresh nurse each round (RN + BLS, no ACLS), and her claim racing a PATCH that
        // moves the shift two days and requires ACLS.
        let (nurse, _) = nearby_nurse(&app).await;
        let shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
        let starts_at = Utc::now() + Span::days(3);
        let patch = json!({
            "starts_at": starts_at,
            "ends_at": starts_at + Span::hours(8),
            "required_certifications": ["BLS", "ACLS"]
        });
        // Every other round, hold the nurse's credentials so the claim stalls after its
        // first read (the window the review widened by hand).
        let mut holder = None;
        if round % 2 == 0 {
            let mut tx = app.pool.begin().await.expect("tx");
            sqlx::query("LOCK TABLE credentials IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .expect("lock");
            holder = Some(tx);
        }
        let url = format!("/v1/shifts/{shift}");
        let claimed = claim(&app, &nurse, shift);
        let patched = app.patch(&url, &patch, Some(&f.scheduler));
        let release = async {
            if let Some(tx) = holder.take() {
                until_blocked(&app).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.rollback().await.expect("unlock");
            }
        };
        let (claimed, patched, ()) = tokio::join!(claimed, patched, release);
        let (claim_status, patch_status) = (claimed.status(), patched.status());
        let row = app.shift(f.id, shift).await;
        let booking = db::booked_range_of_shift(&app.pool, shift).await;
        match booking {
            Some((start, end)) => {
                assert_eq!(
                    (start, end),
                    (row.terms.window.starts_at, row.terms.window.ends_at),
                    "round {round}: the booking is the shift's range"
                );
                assert!(
                    !row.terms
                        .required_certifications
                        .contains(&CredentialKind::ACLS),
                    "round {round}: booked by a nurse without the ACLS the shift now requires"
                );
                assert_eq!(claim_status, StatusCode::CREATED, "round {round}");
                assert_eq!(
                    patch_status,
                    StatusCode::CONFLICT,
                    "round {round}: shift_booked"
                );
                bookings_matching += 1;
            }
            None => {
                assert_eq!(patch_status, StatusCode::OK, "round {round}");
                assert_eq!(
                    claim_status,
                    StatusCode::FORBIDDEN,
                    "round {round}: not_eligible"
                );
                patches_first += 1;
            }
        }
    }
    println!(
        "{ROUNDS} rounds of a claim racing a PATCH: {bookings_matching} claims first, {patches_first} PATCHes first, 0 interleavings"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_booked_shifts_terms_change_only_as_the_booking_allows(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let booking = book(&app, &nurse, shift).await;
    let ack = acknowledge_handoff(&app, &nurse, booking).await;
    assert_json(ack, StatusCode::OK).await;
    let mut ws = Ws::connect(&app, &nurse).await;
    let later = Utc::now() + Span::days(2);
    for refused in [
        json!({ "role": "LPN" }),
        json!({ "starts_at": later, "ends_at": later + Span::hours(8) }),
        json!({ "required_certifications": ["BLS", "ACLS"] }),
        json!({ "hourly_rate_cents": 1 }),
    ] {
        let response = patch_shift(&app, &f, shift, &refused).await;
        assert_problem(response, StatusCode::CONFLICT, "shift_booked").await;
    }
    // A raise reaches the nurse; her acknowledgement stands.
    shift_changed(&app, &f, shift, &json!({ "hourly_rate_cents": 9000 })).await;
    let frame = ws.next().await;
    assert_eq!(frame["type"], "booking.updated", "{frame}");
    assert_eq!(frame["booking"]["shift"]["hourly_rate_cents"], 9000);
    assert_eq!(frame["booking"]["handoff_acknowledged"], true);
    // A new unit needs her acknowledgement again.
    shift_changed(&app, &f, shift, &json!({ "unit": "5 East, Telemetry" })).await;
    let frame = ws.next().await;
    assert_eq!(frame["type"], "booking.updated");
    assert_eq!(frame["booking"]["shift"]["unit"], "5 East, Telemetry");
    assert_eq!(frame["booking"]["handoff_acknowledged"], false);
    let mine = bookings_of(&app, &nurse).await;
    assert_eq!(mine["items"][0]["shift"]["hourly_rate_cents"], 9000);
    // Every change is audited with before and after.
    let audits: Vec<Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE subject_id = $1 AND action = 'shift.updated' ORDER BY id",
    )
    .bind(shift)
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0]["before"]["hourly_rate_cents"], 6500);
    assert_eq!(audits[0]["after"]["hourly_rate_cents"], 9000);
    assert_eq!(audits[1]["before"]["unit"], "4 West, Med-Surg");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn holders_of_an_open_shifts_offer_hear_its_new_terms(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (rn, _) = nearby_nurse(&app).await;
    let (lpn, lpn_id) = nearby_nurse(&app).await;
    db::rn_licence_becomes_lpn_renumbered(&app.pool, lpn_id).await;
    let mut rn_ws = Ws::connect(&app, &rn).await;
    let mut lpn_ws = Ws::connect(&app, &lpn).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    offer_of(&mut rn_ws, shift).await;
    // New rate: the holder gets the new terms.
    shift_changed(&app, &f, shift, &json!({ "hourly_rate_cents": 8100 })).await;
    let updated = rn_ws.next().await;
    assert_eq!(updated["type"], "shift.updated", "{updated}");
    assert_eq!(updated["shift"]["id"], shift.to_string());
    assert_eq!(updated["shift"]["hourly_rate_cents"], 8100);
    assert!(updated["shift"]["distance_km"].is_number());
    // New role: the RN no longer qualifies (withdrawn), the LPN now does (offered).
    shift_changed(&app, &f, shift, &json!({ "role": "LPN" })).await;
    let withdrawn = rn_ws.next().await;
    assert_eq!(withdrawn["type"], "shift.withdrawn");
    assert_eq!(withdrawn["reason"], "ineligible");
    let offered = offer_of(&mut lpn_ws, shift).await;
    assert_eq!(offered["shift"]["role"], "LPN");
    // Nothing else for the RN before a sentinel.
    sentinel(&app, &rn).await;
    let frame = rn_ws.next().await;
    assert_eq!(frame["type"], "verification.updated", "{frame}");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_socket_closes_when_its_token_expires_unless_renewed(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.access_token_ttl = Duration::from_secs(2)).await;
    let (token, nurse_id) = nearby_nurse(&app).await;
    let (other, _) = nearby_nurse(&app).await;
    let mut expiring = Ws::connect(&app, &token).await;
    let mut renewed = Ws::connect(&app, &token).await;
    // Another user's token is refused and changes nothing.
    renewed
        .send(json!({ "type": "auth", "access_token": other }))
        .await;
    let refused = renewed.next().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "auth_other_user");
    // A fresh token of her own, valid for ten minutes.
    let ten_minutes = shiftwire_auth::JwtKeys::new(
        &secrecy::SecretString::from("shiftwire-dev-only-jwt-secret-change-me"),
        "shiftwire",
        "shiftwire-api",
        Duration::from_secs(600),
    );
    let fresh = ten_minutes
        .issue(nurse_id, Role::Nurse, Uuid::now_v7(), 0)
        .expect("token");
    renewed
        .send(json!({ "type": "auth", "access_token": fresh }))
        .await;
    assert_eq!(expiring.close_code().await, Some(4001));
    // Past the first token's expiry, the renewed socket still answers.
    renewed.send(json!({ "type": "ping" })).await;
    assert_eq!(renewed.next().await["type"], "pong");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_reused_refresh_token_and_a_sign_out_end_sockets_and_tickets(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.nurse_session("+14155556001").await;
    let mut socket = Ws::connect(&app, &session.access).await;
    // The refresh token is spent once, then presented again: the family is revoked and
    // her sockets close on every node.
    assert_json(app.refresh(&session.refresh).await, StatusCode::OK).await;
    let reused = app.refresh(&session.refresh).await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_eq!(socket.close_code().await, Some(1000));

    // A ticket issued before sign-out dies with the session.
    let session = app.nurse_session("+14155556002").await;
    let ticket = ws::ticket(&app, &session.access).await;
    let logout = app.sign_out(&session.refresh).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let by_ticket = ws_url(&app, &format!("?ticket={ticket}"));
    let refused = ws::refused_upgrade(by_ticket, "a ticket of an ended session").await;
    assert_eq!(refused, 401);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_user_holds_at_most_five_sockets_the_oldest_gives_way(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = nearby_nurse(&app).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(Ws::connect(&app, &token).await);
    }
    let mut sixth = Ws::connect(&app, &token).await;
    assert_eq!(sockets[0].close_code().await, Some(4002));
    for ws in sockets.iter_mut().skip(1) {
        ws.send(json!({ "type": "ping" })).await;
        assert_eq!(ws.next().await["type"], "pong");
    }
    sixth.send(json!({ "type": "ping" })).await;
    assert_eq!(sixth.next().await["type"], "pong");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_retry_after_a_timeout_finds_the_real_answer_never_a_stored_timeout(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.request_timeout = Duration::from_secs(1)).await;
    let f = facility(&app, "Mercy General").await;
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let claim_with_key = || {
        app.client
            .post(app.url(&format!("/v1/shifts/{shift}/claim")))
            .bearer_auth(&nurse)
            .header("idempotency-key", "claim-after-timeout")
            .json(&json!({}))
            .send()
    };
    // The shift's row is held, so the claim cannot finish within the request timeout.
    let mut holder = app.pool.begin().await.expect("tx");
    db::hold_shift_row(&mut holder, shift).await;
    let first = claim_with_key().await.expect("claim");
    assert_problem(first, StatusCode::REQUEST_TIMEOUT, "request_timeout").await;
    // Its run is still going: the retry is told to wait, not handed a stored 408.
    let retry = claim_with_key().await.expect("retry");
    assert_problem(retry, StatusCode::CONFLICT, "idempotency_key_in_use").await;
    holder.rollback().await.expect("release");
    // The first run commits after the client saw 408; the retry finds it.
    let replayed = loop {
        let response = claim_with_key().await.expect("retry");
        if response.status() != StatusCode::CONFLICT {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let bookings = db::count_bookings_of_nurse_on_shift(&app.pool, nurse_id, shift).await;
    assert_eq!(bookings, 1);
    // A suspended nurse's replay is refused, not served.
    let admin = app.admin_token().await;
    let suspended = app
        .suspend_nurse(&admin, nurse_id, "Under investigation")
        .await;
    assert_json(suspended, StatusCode::OK).await;
    let replay = claim_with_key().await.expect("replay");
    assert_problem(replay, StatusCode::FORBIDDEN, "account_suspended").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn tokens_issued_before_a_suspension_stay_dead_after_reinstatement(pool: PgPool) {
    let app = spawn_app(pool).await;
    let old = app.nurse_session("+14155556003").await.access;
    let nurse_id = id_of(&app.me(&old).await);
    let admin = app.admin_token().await;
    for action in ["suspend", "reinstate"] {
        let response = app
            .post(
                &format!("/v1/admin/nurses/{nurse_id}/{action}"),
                &json!({ "reason": "Checking her licence" }),
                Some(&admin),
            )
            .await;
        // Reinstate takes no body; `{ "reason" }` is an unknown field there.
        if action == "reinstate" {
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let response = app.reinstate_nurse(&admin, nurse_id).await;
            assert_json(response, StatusCode::OK).await;
        } else {
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    assert_problem(
        app.get("/v1/me", Some(&old)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let fresh = app.nurse_session("+14155556003").await;
    app.me(&fresh.access).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_forged_cursor_is_refused_on_every_list(pool: PgPool) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let verifier = app.verifier_token().await;
    let mut bytes = (-1_000_000_000_000_000_000i64).to_be_bytes().to_vec();
    bytes.extend_from_slice(Uuid::now_v7().as_bytes());
    let forged = URL_SAFE_NO_PAD.encode(bytes);
    for (path, token) in [
        (
            format!("/v1/facilities/{}/shifts?cursor={forged}", f.id),
            &f.scheduler,
        ),
        (format!("/v1/me/bookings?cursor={forged}"), &nurse),
        (
            format!("/v1/admin/verifications?cursor={forged}"),
            &verifier,
        ),
    ] {
        let response = app.get(&path, Some(token)).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor").await;
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nearby_lists_only_what_the_nurse_could_claim_wherever_she_searches(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await; // near her home
    let far = facility_at(&app, "Tahoe Forest Hospital", "CA", (39.33, -120.18)).await;
    let near_shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let far_shift = id_of(&post_shift(&app, &far, &shift_body(24 * 60, 8)).await);
    let (nurse, _) = nurse_at(&app, (FACILITY_AT.0 + 0.01, FACILITY_AT.1), 25.0).await;
    // Searching around the far hospital: its shift is beyond her own 25 km.
    let listed = nearby_shifts(&app, &nurse, "?lat=39.33&lon=-120.18&radius_km=25").await;
    assert_eq!(listed["items"], json!([]));
    assert_problem(
        claim(&app, &nurse, far_shift).await,
        StatusCode::FORBIDDEN,
        "not_eligible",
    )
    .await;
    let listed = nearby_shifts(&app, &nurse, "?radius_km=25").await;
    assert_eq!(listed["items"][0]["id"], near_shift.to_string());
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn check_out_and_shift_length_are_bounded(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let starts = Utc::now() + Span::hours(24);
    let mut short = shift_body(24 * 60, 8);
    short["ends_at"] = json!(starts + Span::minutes(30));
    short["starts_at"] = json!(starts);
    let refused = send_shift(&app, &f, &short).await;
    let problem =
        assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1 hour"))
    );

    let mut bookings = Vec::new();
    for _ in 0..2 {
        let (nurse, _) = nearby_nurse(&app).await;
        let shift = id_of(&post_shift(&app, &f, &shift_body(10, 8)).await);
        let booking = book(&app, &nurse, shift).await;
        let checked_in = check_in(&app, &nurse, booking, FACILITY_AT).await;
        assert_json(checked_in, StatusCode::OK).await;
        bookings.push((shift, booking, nurse));
        // Into the past: it ended an hour ago.
        let (start, end) = (Utc::now() - Span::hours(9), Utc::now() - Span::hours(1));
        db::backdate_shift(&app.pool, shift, start, end).await;
        db::backdate_checked_in_booking(&app.pool, booking, start, end).await;
    }
    // An hour after the end: accepted, worked time capped at the end + 30 min.
    let (_, booking, nurse) = &bookings[0];
    let out = check_out(&app, nurse, *booking, FACILITY_AT).await;
    let out = assert_json(out, StatusCode::OK).await;
    assert_eq!(out["worked_minutes"], 8 * 60 + 30);
    // Three hours after the end: too late.
    db::shift_ended_hours_ago(&app.pool, bookings[1].0, 3).await;
    let (_, booking, nurse) = &bookings[1];
    let late = check_out(&app, nurse, *booking, FACILITY_AT).await;
    assert_problem(late, StatusCode::CONFLICT, "outside_check_out_window").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn invisible_text_is_blank(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    for (field, value) in [
        ("report_to", "\u{200B}"),
        ("arrival_instructions", "\u{200B}\u{200C}\u{2060}"),
        ("unit", "\u{200D}\u{FEFF}"),
    ] {
        let mut body = shift_body(24 * 60, 8);
        if field == "unit" {
            body["unit"] = json!(value);
        } else {
            body["handoff"][field] = json!(value);
        }
        let response = send_shift(&app, &f, &body).await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
    }
    let shifts = db::count_shifts(&app.pool).await;
    assert_eq!(shifts, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_request_id_is_echoed_only_when_it_is_a_short_visible_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let echoed = |id: String| {
        let app = &app;
        async move {
            let response = app.get_with_header("/healthz", "x-request-id", &id).await;
            response.headers()["x-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned()
        }
    };
    let good = "a".repeat(128);
    assert_eq!(echoed(good.clone()).await, good);
    for bad in ["b".repeat(129), "c".repeat(20_000), "has space".into()] {
        let got = echoed(bad.clone()).await;
        assert_ne!(got, bad);
        assert!(
            Uuid::parse_str(&got).is_ok(),
            "replaced by a fresh id: {got}"
        );
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_stranger_cannot_lock_a_staff_member_out(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.trust_forwarded_for = true;
        s.login_backoff.account_alert = 3;
    })
    .await;
    app.create_admin().await;
    let login_from = |ip: &'static str, password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": "admin@shiftwire.example", "password": password }))
            .send()
    };
    let mut refused = 0;
    for _ in 0..10 {
        let response = login_from("203.0.113.9", "not-the-password-at-all")
            .await
            .expect("login");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "the stranger is slowed down");
    let owner = login_from("198.51.100.7", STAFF_PASSWORD)
        .await
        .expect("login");
    assert_eq!(
        owner.status(),
        StatusCode::OK,
        "the admin signs in from her own place"
    );
    assert!(
        shiftwire_api::telemetry::render_metrics().contains("login_failures_alerts_total"),
        "the failures for one account raised an alert"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn close_codes_arrive_after_a_flood_or_an_oversized_message(pool: PgPool) {
    let app = spawn_app_with(pool, five_messages_a_second).await;
    let (token, _) = nearby_nurse(&app).await;
    // A flood that keeps sending without reading.
    let flooder = Ws::connect(&app, &token).await;
    let (mut write, mut read) = flooder.socket.split();
    let padding = "x".repeat(3000);
    let sender = tokio::spawn(async move {
        for _ in 0..3000 {
            let ping = json!({ "type": "ping", "pad": padding }).to_string();
            if write.send(Message::text(ping)).await.is_err() {
                break;
            }
        }
    });
    let code = read_close(&mut read).await;
    sender.abort();
    assert_eq!(code, Some(1008));
    // A message of 100 KiB in 1 KiB fragments, past the 4 KiB limit.
    let oversized = Ws::connect(&app, &token).await;
    let (mut write, mut read) = oversized.socket.split();
    let sender = tokio::spawn(async move {
        let chunk = vec![b'y'; 1024];
        for n in 0..100 {
            let opcode = if n == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(chunk.clone(), opcode, n == 99);
            if write.send(Message::Frame(frame)).await.is_err() {
                break;
            }
        }
    });
    let code = read_close(&mut read).await;
    sender.abort();
    assert_eq!(code, Some(1009));
}

/// Reads until the close frame; its code, or `None` if the connection was reset first.
async fn read_close<S>(read: &mut S) -> Option<u16>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("closed within 10 s")
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn metrics_need_the_metrics_token_on_the_api_port(pool: PgPool) {
    let token = "metrics-token-0123456789abcdef0123456789";
    let app = spawn_app_with(pool, |s| s.metrics_token = Some(token.into())).await;
    let anonymous = app.get("/metrics", None).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let (nurse, _) = nearby_nurse(&app).await;
    assert_problem(
        app.get("/metrics", Some(&nurse)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let scraped = app.get("/metrics", Some(token)).await;
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(
        scraped
            .text()
            .await
            .expect("text")
            .contains("http_requests")
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_post_without_a_documented_body_takes_none_or_an_empty_object(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (nurse, nurse_id) = nearby_nurse(&app).await;
    let admin = app.admin_token().await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let booked = id_of(&post_shift(&app, &f, &shift_body(48 * 60, 8)).await);
    let booking = book(&app, &nurse, booked).await;
    let credential = app.credential_of_kind(nurse_id, CredentialKind::BLS).await;
    let routes = [
        (format!("/v1/shifts/{shift}/claim"), nurse.clone()),
        (format!("/v1/bookings/{booking}/handoff/ack"), nurse.clone()),
        (
            format!("/v1/admin/credentials/{credential}/approve"),
            admin.clone(),
        ),
        (
            format!("/v1/admin/nurses/{nurse_id}/reinstate"),
            admin.clone(),
        ),
        ("/v1/ws/ticket".to_owned(), nurse.clone()),
    ];
    let mut refused = 0;
    for (path, token) in &routes {
        for body in ["[]", "\"x\"", "{\"a\":1}", "null", "0"] {
            let response = app
                .client
                .post(app.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post");
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} with {body}"
            );
            refused += 1;
        }
    }
    // Whitespace alone is not JSON either (it is not "no body"): 400 `malformed_json`.
    for (path, token) in &routes {
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("\n")
            .send()
            .await
            .expect("post");
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{path} with a newline"
        );
        refused += 1;
    }
    println!("{refused} requests with a body where none is documented: all refused");
    let tickets = db::count_ws_tickets(&app.pool).await;
    assert_eq!(tickets, 0, "no ticket was issued");
    let bookings = db::count_bookings_of_shift(&app.pool, shift).await;
    assert_eq!(bookings, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_withdrawal_is_never_lost_however_soon_the_socket_dropped(pool: PgPool) {
    const ROUNDS: usize = 60;
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let mut missed = 0;
    for round in 0..ROUNDS {
        let (claimer, _) = nearby_nurse(&app).await;
        let mut ws = Ws::connect(&app, &nurse).await;
        let shift =
            id_of(&post_shift(&app, &f, &shift_body(24 * 60 + round as i64 * 600, 8)).await);
        let offer = offer_of(&mut ws, shift).await;
        let seq = offer["seq"].as_i64().expect("seq");
        // The socket drops the instant the offer arrived, and the shift is taken at once.
        drop(ws);
        book(&app, &claimer, shift).await;
        let mut back = Ws::connect(&app, &nurse).await;
        back.send(json!({ "type": "resume", "last_seq": seq }))
            .await;
        let frames = back.frames_until("resumed").await;
        let withdrawn = frames.iter().any(|f| {
            f["type"] == "shift.withdrawn"
                && f["shift_id"] == shift.to_string()
                && f["reason"] == "booked"
        });
        if !withdrawn {
            missed += 1;
        }
    }
    println!("{ROUNDS} rounds of offer, drop, booking, resume: {missed} withdrawals missing");
    assert_eq!(missed, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_document_cannot_replace_one_after_the_decision(pool: PgPool) {
    use std::sync::atomic::Ordering;
    let app = spawn_app(pool).await;
    let (nurse, nurse_id) = app.named_nurse("+14155556004", "Amara Okafor").await;
    let card = app
        .submit_checked(
            &nurse,
            json!({ "kind": "BLS", "number": "AHA-77", "expires_on": "2028-01-31" }),
        )
        .await;
    let credential = id_of(&card);
    let verifier = app.verifier_token().await;
    // The upload is held after the file is written, before its database transaction.
    app.documents.hold.store(true, Ordering::SeqCst);
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec();
    let upload = app.upload_document(&nurse, credential, "card.pdf", pdf);
    let decide = async {
        app.documents.entered.notified().await;
        let approved = app.approve_credential(&verifier, credential).await;
        assert_json(approved, StatusCode::OK).await;
        app.documents.hold.store(false, Ordering::SeqCst);
        app.documents.release.notify_one();
    };
    let (uploaded, ()) = tokio::join!(upload, decide);
    assert_problem(uploaded, StatusCode::CONFLICT, "already_decided").await;
    let documents = app
        .credentials_of(nurse_id)
        .await
        .iter()
        .filter(|c| c.has_document)
        .count();
    assert_eq!(
        documents, 0,
        "the approved credential kept what it was approved with"
    );
}
