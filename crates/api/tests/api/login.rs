use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{
    STAFF_PASSWORD, TestApp, assert_json, assert_problem, db, spawn_app, spawn_app_with,
};
use sqlx::PgPool;

/// The sign-in is refused as any wrong email or password is (401 `invalid_credentials`);
/// the problem.
async fn refused_sign_in(app: &TestApp, email: &str, password: &str) -> Value {
    let refused = app.login(email, password).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn staff_sign_in_with_email_and_password(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.create_admin().await;
    // Email case and surrounding spaces do not matter.
    let response = app
        .login("  Admin@Shiftwire.example ", STAFF_PASSWORD)
        .await;
    let pair = assert_json(response, StatusCode::OK).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["access_token"].is_string() && pair["refresh_token"].is_string());
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn unknown_email_and_wrong_password_get_the_same_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.create_admin().await;
    let wrong = refused_sign_in(&app, "admin@shiftwire.example", "not the password").await;
    let unknown = refused_sign_in(&app, "nobody@shiftwire.example", "not the password").await;
    let malformed = refused_sign_in(&app, "not-an-email", "not the password").await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nurses_cannot_use_the_password_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.nurse_tokens("+14155552671").await;
    refused_sign_in(&app, "+14155552671", "x").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_suspended_staff_member_is_refused_after_the_password_check(pool: PgPool) {
    let app = spawn_app(pool).await;
    let verifier = app.create_verifier().await;
    db::suspend_directly(&app.pool, verifier).await;
    assert_problem(
        app.login("verifier@shiftwire.example", STAFF_PASSWORD)
            .await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    // A wrong password says nothing about the suspension.
    refused_sign_in(&app, "verifier@shiftwire.example", "wrong password!").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn login_attempts_are_limited_per_client_address(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.rate_limits.login_attempts_per_ip_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(
            app.login("x@shiftwire.example", "guess guess guess")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app.login("x@shiftwire.example", "guess guess guess").await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn behind_a_trusted_proxy_limits_follow_the_forwarded_address(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.rate_limits.login_attempts_per_ip_per_minute = 1;
        s.trust_forwarded_for = true;
    })
    .await;
    let attempt = |forwarded: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "email": "x@shiftwire.example", "password": "guess guess guess" }))
            .send()
    };
    // Only the right-most entry (written by the proxy) counts; a client-chosen prefix does not.
    let first = attempt("1.1.1.1, 203.0.113.7").await.expect("send");
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let spoofed = attempt("9.9.9.9, 203.0.113.7").await.expect("send");
    assert_problem(spoofed, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let other_client = attempt("198.51.100.4").await.expect("send");
    assert_eq!(other_client.status(), StatusCode::UNAUTHORIZED);
}

/// After 5 failures one email waits 1 s, then 2 s, ... whether or not an account has
/// it; the account's own password is refused during the wait too, and a success clears it.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn repeated_failures_for_one_email_back_off_known_or_not(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.create_admin().await;
    let mut outcomes = Vec::new();
    for email in ["admin@shiftwire.example", "nobody@shiftwire.example"] {
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(app.login(email, "not the password").await.status());
        }
        outcomes.push(statuses);
    }
    let expected: Vec<StatusCode> = std::iter::repeat_n(StatusCode::UNAUTHORIZED, 6)
        .chain([StatusCode::TOO_MANY_REQUESTS])
        .collect();
    assert_eq!(outcomes[0], expected, "known email");
    assert_eq!(
        outcomes[1], outcomes[0],
        "known and unknown emails look alike"
    );
    let locked = app.login("ADMIN@shiftwire.example ", STAFF_PASSWORD).await;
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    assert_problem(locked, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another account is not affected.
    app.create_verifier().await;
    assert_eq!(
        app.login("verifier@shiftwire.example", STAFF_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // Once the wait is over, the right password works and clears the count.
    sqlx::query("UPDATE login_failures SET locked_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("end the wait");
    assert_eq!(
        app.login("admin@shiftwire.example", STAFF_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("admin@shiftwire.example", "not the password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a success starts the count again"
    );
}
