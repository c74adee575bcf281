use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::future::join_all;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{
    STAFF_PASSWORD, TestApp, assert_json, assert_problem, builders, count_answered, db, spawn_app,
};
use sqlx::PgPool;
use std::time::{SystemTime, UNIX_EPOCH};

const PHONE: &str = "+14155552671";
const DEV_SECRET: &str = "shiftwire-dev-only-jwt-secret-change-me";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A token for `sub` with the given claims and key; the defaults are all valid.
fn forge(sub: &str, overrides: Value, key: &str) -> String {
    let mut claims = json!({
        "sub": sub, "role": "admin", "typ": "access", "iss": "shiftwire",
        "aud": "shiftwire-api", "iat": now(), "exp": now() + 600,
    });
    if let (Some(claims), Some(overrides)) = (claims.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            claims.insert(k.clone(), v.clone());
        }
    }
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("encode")
}

async fn admin_route(app: &TestApp, token: &str) -> reqwest::Response {
    app.post(
        "/v1/admin/users",
        &json!({ "email": "new@shiftwire.example", "password": "a long enough password", "role": "verifier" }),
        Some(token),
    )
    .await
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn refresh_rotates_the_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = app.nurse_tokens(PHONE).await;
    let response = app
        .refresh(first["refresh_token"].as_str().expect("token"))
        .await;
    let second = assert_json(response, StatusCode::OK).await;
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let third = app
        .refresh(second["refresh_token"].as_str().expect("token"))
        .await;
    assert_eq!(third.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn reusing_a_spent_refresh_token_revokes_its_whole_family(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = app.nurse_tokens(PHONE).await;
    let spent = first["refresh_token"].as_str().expect("token");
    let second = assert_json(app.refresh(spent).await, StatusCode::OK).await;
    let newest = second["refresh_token"].as_str().expect("token");

    assert_problem(
        app.refresh(spent).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    assert_problem(
        app.refresh(newest).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let reason = db::sole_refresh_family_revoked_reason(&app.pool).await;
    assert_eq!(reason.as_deref(), Some("reuse"));

    // Another device's session of the same nurse is untouched.
    let other = app.nurse_session(PHONE).await;
    assert_json(app.refresh(&other.refresh).await, StatusCode::OK).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.nurse_session(PHONE).await;
    let answers = join_all((0..8).map(|_| app.refresh(&session.refresh))).await;
    let ok = count_answered(&answers, StatusCode::OK);
    assert_eq!(ok, 1, "one rotation wins; the rest are reuse");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn unknown_and_garbage_refresh_tokens_are_401(pool: PgPool) {
    let app = spawn_app(pool).await;
    for token in ["", "not-a-token", &"x".repeat(500)] {
        assert_problem(
            app.refresh(token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn logout_revokes_the_family_and_is_idempotent(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.nurse_session(PHONE).await.refresh;
    let logout = app.sign_out(&token).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let refreshed = app.refresh(&token).await;
    assert_problem(refreshed, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let again = app.sign_out(&token).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn access_tokens_are_checked_strictly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin_id = app.create_admin().await;
    let sub = admin_id.to_string();

    // A correctly forged token with the right key works: the checks below fail for their reason.
    let valid = forge(&sub, json!({}), DEV_SECRET);
    assert_eq!(
        admin_route(&app, &valid).await.status(),
        StatusCode::CREATED
    );

    let other_key = forge(&sub, json!({}), "some-other-secret-that-is-long-enough");
    let expired = forge(
        &sub,
        json!({ "iat": now() - 3600, "exp": now() - 600 }),
        DEV_SECRET,
    );
    let refresh_typ = forge(&sub, json!({ "typ": "refresh" }), DEV_SECRET);
    let wrong_aud = forge(&sub, json!({ "aud": "someone-else" }), DEV_SECRET);
    let wrong_iss = forge(&sub, json!({ "iss": "someone-else" }), DEV_SECRET);
    let unknown_user = forge(&uuid::Uuid::now_v7().to_string(), json!({}), DEV_SECRET);
    let role_lie = forge(&sub, json!({ "role": "nurse" }), DEV_SECRET);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = valid.split('.').nth(1).expect("payload");
    let alg_none = format!("{header}.{payload}.");

    for (name, token) in [
        ("another key", other_key),
        ("alg none", alg_none),
        ("expired", expired),
        ("typ refresh", refresh_typ),
        ("wrong audience", wrong_aud),
        ("wrong issuer", wrong_iss),
        ("deleted user", unknown_user),
        ("role differs from the account", role_lie),
        ("garbage", "abc.def.ghi".to_owned()),
    ] {
        let response = admin_route(&app, &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    let missing = app.post("/v1/admin/users", &json!({}), None).await;
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_problem(missing, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_nurse_token_on_an_admin_route_is_403(pool: PgPool) {
    let app = spawn_app(pool).await;
    let nurse = app.nurse_session(PHONE).await;
    let response = admin_route(&app, &nurse.access).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let verifier = app.verifier_token().await;
    assert_problem(
        admin_route(&app, &verifier).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn suspension_takes_effect_on_unexpired_tokens(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin_token().await;
    let pair = app.login("admin@shiftwire.example", STAFF_PASSWORD).await;
    let pair = assert_json(pair, StatusCode::OK).await;
    let admin_id = app.state.jwt.verify(&admin).expect("claims").sub;
    db::suspend_directly(&app.pool, admin_id).await;
    assert_problem(
        admin_route(&app, &admin).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    assert_problem(
        app.refresh(pair["refresh_token"].as_str().expect("token"))
            .await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
}

/// Requests that arrive together have their users read together, in one query
/// (`principal_reads` in crates/auth). Each must still get its own user as the database
/// holds it: a suspended nurse among active ones is refused, every other nurse sees her
/// own profile, and each scheduler reaches her own facility and not the other's.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn concurrent_requests_each_get_their_own_user(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut nurses = Vec::new();
    for i in 0..60 {
        let phone = shiftwire_core::Phone::parse(&builders::fresh_phone()).expect("phone");
        let (id, _) = shiftwire_auth::Users::new(app.pool.clone())
            .nurse_for_phone(&phone)
            .await
            .expect("nurse");
        let token = app
            .state
            .refresh
            .sign_in(id, shiftwire_core::Role::Nurse)
            .await
            .expect("sign in")
            .access_token;
        let suspended = i % 3 == 0;
        if suspended {
            db::suspend_directly(&app.pool, id).await;
        }
        nurses.push((token, id, suspended));
    }
    let north = builders::facility(&app, "North").await;
    let south = builders::facility(&app, "South").await;

    let app = &app;
    for _round in 0..3 {
        let profiles = join_all(
            nurses
                .iter()
                .map(|(token, _, _)| app.get("/v1/me", Some(token))),
        );
        let facilities = join_all(
            [
                (&north, &north, 200),
                (&north, &south, 404),
                (&south, &south, 200),
            ]
            .into_iter()
            .chain([(&south, &north, 404)])
            .map(|(who, of, expected)| async move {
                let path = format!("/v1/facilities/{}/shifts", of.id);
                (
                    app.get(&path, Some(&who.scheduler)).await.status(),
                    expected,
                )
            }),
        );
        let (profiles, facilities) = futures::join!(profiles, facilities);
        for (response, (_, id, suspended)) in profiles.into_iter().zip(&nurses) {
            if *suspended {
                assert_problem(response, StatusCode::FORBIDDEN, "account_suspended").await;
            } else {
                let body = assert_json(response, StatusCode::OK).await;
                assert_eq!(body["id"], json!(id), "each nurse sees her own profile");
            }
        }
        for (status, expected) in facilities {
            assert_eq!(
                status.as_u16(),
                expected,
                "a scheduler reaches only her facility"
            );
        }
    }
}
