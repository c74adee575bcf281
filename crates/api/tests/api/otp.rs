use futures::future::join_all;
use reqwest::StatusCode;
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem, count_answered, db, spawn_app, spawn_app_with,
};
use sqlx::PgPool;
use std::sync::atomic::Ordering;

const PHONE: &str = "+14155552671";

/// The code is refused as any wrong code is (401 `invalid_code`).
async fn assert_code_refused(app: &TestApp, code: &str) {
    let refused = app.verify_code(PHONE, code).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_code").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_code_signs_a_new_phone_in_as_an_unverified_nurse(pool: PgPool) {
    let app = spawn_app(pool).await;
    // National spelling is normalised to E.164 for sending and for the account.
    let sent = app.request_code("(415) 555-2671").await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let code = app.sms.last_code(PHONE);

    let response = app.verify_code(PHONE, &code).await;
    let pair = assert_json(response, StatusCode::OK).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(
        pair["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(
        pair["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 43)
    );

    let (role, phone) = db::sole_user_role_and_phone(&app.pool).await;
    assert_eq!((role.as_str(), phone.as_str()), ("nurse", PHONE));

    // The same phone signs in to the same account next time.
    app.nurse_tokens(PHONE).await;
    assert_eq!(db::count_users(&app.pool).await, 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn codes_are_stored_only_as_keyed_hashes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let code = app.texted_code(PHONE).await;
    let (phone_key, code_hash) = db::sole_code_keys(&app.pool).await;
    assert_eq!(code_hash.len(), 32);
    assert_eq!(phone_key.len(), 32);
    let haystack = [phone_key, code_hash].concat();
    for needle in [code.as_bytes(), PHONE.as_bytes(), b"4155552671".as_slice()] {
        assert!(!haystack.windows(needle.len()).any(|w| w == needle));
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_code_works_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let code = app.texted_code(PHONE).await;
    assert_eq!(app.verify_code(PHONE, &code).await.status(), StatusCode::OK);
    assert_code_refused(&app, &code).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_expired_code_is_refused_like_a_wrong_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let code = app.texted_code(PHONE).await;
    db::codes_expired(&app.pool).await;
    assert_code_refused(&app, &code).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_newer_code_replaces_the_older_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = app.texted_code(PHONE).await;
    let second = app.texted_code(PHONE).await;
    if first != second {
        assert_code_refused(&app, &first).await;
    }
    assert_eq!(
        app.verify_code(PHONE, &second).await.status(),
        StatusCode::OK
    );
}

fn wrong_code(right: &str) -> String {
    let n: u32 = right.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_fifth_wrong_guess_burns_the_code(pool: PgPool) {
    let app = spawn_app(pool).await;
    let code = app.texted_code(PHONE).await;
    for _ in 0..5 {
        assert_code_refused(&app, &wrong_code(&code)).await;
    }
    // Same answer as any wrong code: no oracle telling the code is burned.
    assert_code_refused(&app, &code).await;
    assert_eq!(db::code_attempts(&app.pool).await, vec![5]);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn fifty_concurrent_wrong_guesses_evaluate_at_most_five(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.rate_limits.otp_verifies_per_ip_per_minute = 1_000;
    })
    .await;
    let code = app.texted_code(PHONE).await;
    let wrong = wrong_code(&code);
    let guesses = join_all((0..50).map(|_| app.verify_code(PHONE, &wrong))).await;
    for guess in guesses {
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        db::code_attempts(&app.pool).await,
        vec![5],
        "only five guesses were compared"
    );
    assert_code_refused(&app, &code).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_malformed_code_is_refused_without_spending_an_attempt(pool: PgPool) {
    let app = spawn_app(pool).await;
    let code = app.texted_code(PHONE).await;
    for bad in ["12345", "1234567", "abcdef", ""] {
        assert_code_refused(&app, bad).await;
    }
    assert_eq!(db::code_attempts(&app.pool).await, vec![0]);
    assert_eq!(app.verify_code(PHONE, &code).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_fourth_send_in_ten_minutes_is_429_with_retry_after(pool: PgPool) {
    let app = spawn_app(pool).await;
    for _ in 0..3 {
        assert_eq!(app.request_code(PHONE).await.status(), StatusCode::ACCEPTED);
    }
    let fourth = app.request_code(PHONE).await;
    let retry_after: u64 = fourth
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_problem(fourth, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.sms.count_to(PHONE), 3, "no fourth SMS");

    // The window slides: once the oldest send is over ten minutes old, one more is allowed.
    db::oldest_code_sent_minutes_ago(&app.pool, 11).await;
    assert_eq!(app.request_code(PHONE).await.status(), StatusCode::ACCEPTED);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn concurrent_sends_cannot_overshoot_the_per_phone_limit(pool: PgPool) {
    let app = spawn_app(pool).await;
    let answers = join_all((0..10).map(|_| app.request_code(PHONE))).await;
    let accepted = count_answered(&answers, StatusCode::ACCEPTED);
    let limited = count_answered(&answers, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!((accepted, limited), (3, 7));
    assert_eq!(app.sms.count_to(PHONE), 3);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn sends_are_limited_per_client_address(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.rate_limits.otp_sends_per_ip_per_hour = 2).await;
    assert_eq!(
        app.request_code("+14155552671").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.request_code("+14155552672").await.status(),
        StatusCode::ACCEPTED
    );
    let third = app.request_code("+14155552673").await;
    assert!(third.headers().contains_key("retry-after"));
    assert_problem(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn known_and_unknown_phones_get_the_same_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.nurse_tokens(PHONE).await;
    let known = app.request_code(PHONE).await;
    let unknown = app.request_code("+14155552672").await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(
        known.text().await.expect("body"),
        unknown.text().await.expect("body")
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_malformed_phone_is_422_and_sends_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    for bad in [
        "",
        "not a phone",
        "12",
        "+999 1234",
        "+1 415 555 2671 ext 2",
    ] {
        assert_problem(
            app.request_code(bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        )
        .await;
    }
    assert_problem(
        app.verify_code("call me", "123456").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_phone",
    )
    .await;
    assert!(db::code_attempts(&app.pool).await.is_empty());
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_failed_sms_is_503_and_does_not_use_up_the_allowance(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.sms.fail.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert_problem(
            app.request_code(PHONE).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "sms_unavailable",
        )
        .await;
    }
    app.sms.fail.store(false, Ordering::SeqCst);
    assert_eq!(app.request_code(PHONE).await.status(), StatusCode::ACCEPTED);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_suspended_nurse_cannot_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.nurse_session(PHONE).await;
    let nurse = app.state.jwt.verify(&session.access).expect("claims").sub;
    app.suspend_account(nurse, "licence revoked").await;
    let code = app.texted_code(PHONE).await;
    assert_problem(
        app.verify_code(PHONE, &code).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
}

/// SMS pumping: codes to one range of numbers and codes overall have hourly budgets.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn sms_budgets_cap_a_number_range_and_the_total(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.otp.sends_per_prefix_per_hour = 3;
        s.otp.sends_per_hour = 5;
    })
    .await;
    // +1 415 555 xxxx: one prefix.
    for n in 0..3 {
        let sent = app.request_code(&format!("+1415555{n:04}")).await;
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
    let pumped = app.request_code("+14155550999").await;
    assert!(pumped.headers().contains_key("retry-after"));
    assert_problem(pumped, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.sms.count_to("+14155550999"), 0, "nothing was sent");
    // Another range still works, until the total budget is spent.
    for phone in ["+12125550100", "+13105550100"] {
        assert_eq!(app.request_code(phone).await.status(), StatusCode::ACCEPTED);
    }
    assert_problem(
        app.request_code("+16175550100").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}
