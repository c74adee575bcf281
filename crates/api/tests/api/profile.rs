use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_core::DomainEvent;
use shiftwire_test_support::{assert_json, assert_problem, db, spawn_app};
use sqlx::PgPool;

const PHONE: &str = "+14155552671";

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_new_nurse_starts_unverified_with_defaults(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.nurse_session(PHONE).await.access;
    let me = app.me(&token).await;
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
    let token = app.nurse_session(PHONE).await.access;

    let response = app
        .patch(
            "/v1/me",
            &json!({ "name": "  Amara   Okafor ", "home": { "lat": 37.8, "lon": -122.27 },
                     "max_distance_km": 40.5 }),
            Some(&token),
        )
        .await;
    let me = assert_json(response, StatusCode::OK).await;
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
            Some(&token),
        )
        .await;
    let me = assert_json(response, StatusCode::OK).await;
    assert_eq!(
        (me["available"].clone(), me["home"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(me["name"], "Amara Okafor", "absent fields are kept");
    let announced = db::count_outbox_of_topic(&app.pool, "profile.updated").await;
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
    let me = app.me(&token).await;
    assert_eq!(me["name"], "Amara Okafor");
    assert_eq!(me["max_distance_km"], 25.0);
    assert_eq!(me["phone"], PHONE);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn staff_have_no_nurse_profile(pool: PgPool) {
    let app = spawn_app(pool).await;
    let verifier = app.verifier_token().await;
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
