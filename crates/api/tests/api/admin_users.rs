use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{assert_json, assert_problem, db, spawn_app};
use sqlx::PgPool;

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_admin_creates_a_scheduler_who_can_then_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let facility = app.create_facility("Mercy General Hospital").await;
    let admin = app.admin_token().await;
    let response = app
        .post(
            "/v1/admin/users",
            &json!({
                "email": "Jordan.Reyes@Mercy-General.example",
                "password": "a long enough password",
                "role": "scheduler",
                "facility_ids": [facility, facility],
            }),
            Some(&admin),
        )
        .await;
    let user = assert_json(response, StatusCode::CREATED).await;
    assert_eq!(user["email"], "jordan.reyes@mercy-general.example");
    assert_eq!(user["role"], "scheduler");
    assert_eq!(user["facility_ids"], json!([facility]));
    let id = uuid::Uuid::parse_str(user["id"].as_str().expect("id")).expect("uuid");
    assert_eq!(id.get_version_num(), 7);
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    let login = app
        .login(
            "jordan.reyes@mercy-general.example",
            "a long enough password",
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn invalid_staff_users_are_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let facility = app.create_facility("Bayview Care Center").await;
    let admin = app.admin_token().await;
    let before = db::count_staff(&app.pool).await;
    let good = json!({ "email": "a@shiftwire.example", "password": "a long enough password",
                       "role": "scheduler", "facility_ids": [facility] });
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let unprocessable = [
        (with("email", json!("not an email")), "invalid_email"),
        (with("password", json!("short")), "invalid_user"),
        (with("role", json!("nurse")), "invalid_body"),
        (with("role", json!("superuser")), "invalid_body"),
        (with("facility_ids", json!([])), "invalid_user"),
        (
            with("facility_ids", json!([uuid::Uuid::now_v7()])),
            "unknown_facility",
        ),
        (with("is_admin", json!(true)), "unknown_field"),
        (
            json!({ "email": "v@shiftwire.example", "password": "a long enough password",
                    "role": "verifier", "facility_ids": [facility] }),
            "invalid_user",
        ),
    ];
    for (body, code) in unprocessable {
        let response = app.post("/v1/admin/users", &body, Some(&admin)).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let taken = with("email", json!("ADMIN@shiftwire.example"));
    let response = app.post("/v1/admin/users", &taken, Some(&admin)).await;
    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
    assert_eq!(db::count_staff(&app.pool).await, before, "no partial users");
    let assignments = db::count_facility_assignments(&app.pool).await;
    assert_eq!(assignments, 0, "no orphan assignments");
}
