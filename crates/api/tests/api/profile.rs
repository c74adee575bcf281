use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_core::{DomainEvent, Role};
use shiftwire_test_support::{assert_problem, spawn_app};
use sqlx::PgPool;

const PHONE: &str = "+14155552671";

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_new_nurse_starts_unverified_with_defaults(pool: PgPool) {
    let app = spawn_app(pool).await;
    let pair = app.nurse_tokens(PHONE).await;
    let token = pair["access_token"].as_str().expect("token");
    let response = app.get("/v1/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.expect("json");
    assert_eq!(me["phone"], PHONE);
    assert_eq!(me["verification_status"], "unverified");
    assert_eq!(me["max_distance_km"], 25.0);
    assert_eq!(me["available"], true);
    assert_eq!(me["home"], Value::Null);
    assert_eq!(me["name"], Value::Null);
    assert_eq!(me["credentials"], json!([]));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn patch_changes_only_what_it_names_and_announces_matching_changes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let pair = app.nurse_tokens(PHONE).await;
    let token = pair["access_token"].as_str().expect("token");

    let response = app
        .patch(
            "/v1/me",
            &json!({ "name": "  Amara   Okafor ", "home": { "lat": 37.8, "lon": -122.27 },
                     "max_distance_km": 40.5 }),
            Some(token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.expect("json");
    assert_eq!(me["name"], "Amara Okafor");
    assert_eq!(me["home"], json!({ "lat": 37.8, "lon": -122.27 }));
    assert_eq!(me["max_distance_km"], 40.5);
    assert_eq!(me["available"], true);
    app.next_event(|e| matches!(e, DomainEvent::ProfileUpdated { .. }))
        .await;

    let response = app
        .patch(
            "/v1/me",
            &json!({ "available": false, "home": null }),
            Some(token),
        )
        .await;
    let me: Value = response.json().await.expect("json");
    assert_eq!(
        (me["available"].clone(), me["home"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(me["name"], "Amara Okafor", "absent fields are kept");
    let announced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = 'profile.updated'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(announced, 2);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn invalid_profile_changes_are_refused_and_change_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = app.named_nurse(PHONE, "Amara Okafor").await;
    for (body, code) in [
        (json!({ "max_distance_km": 0.5 }), "invalid_profile"),
        (json!({ "max_distance_km": 200.5 }), "invalid_profile"),
        (json!({ "name": "   " }), "invalid_profile"),
        (json!({ "name": "x".repeat(101) }), "invalid_profile"),
        (
            json!({ "home": { "lat": 91.0, "lon": 0.0 } }),
            "invalid_body",
        ),
        (json!({ "home": { "lat": 10.0 } }), "invalid_body"),
        (
            json!({ "verification_status": "verified" }),
            "unknown_field",
        ),
        (json!({ "phone": "+14155550000" }), "unknown_field"),
    ] {
        let response = app.patch("/v1/me", &body, Some(&token)).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let me: Value = app
        .get("/v1/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["name"], "Amara Okafor");
    assert_eq!(me["max_distance_km"], 25.0);
    assert_eq!(me["phone"], PHONE);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn staff_have_no_nurse_profile(pool: PgPool) {
    let app = spawn_app(pool).await;
    let verifier = app
        .staff_token("verifier@shiftwire.example", Role::Verifier, vec![])
        .await;
    assert_problem(
        app.get("/v1/me", Some(&verifier)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get("/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
}
