use reqwest::StatusCode;
use serde_json::Value;
use shiftwire_test_support::{assert_problem, spawn_app};
use sqlx::{PgPool, postgres::PgPoolOptions};
use std::time::Duration;

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn healthz_and_readyz_answer_when_the_database_is_up(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.expect("json")["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["status"],
        "ready"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn readyz_is_503_while_migrations_are_pending(pool: PgPool) {
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&pool)
        .await
        .expect("forget migrations");
    let app = spawn_app(pool).await;
    assert_problem(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
    )
    .await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn readyz_is_503_and_requests_fail_fast_when_the_database_is_unreachable(pool: PgPool) {
    drop(pool);
    // Nothing listens on port 1: every connection attempt is refused at once.
    let unreachable = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/shiftwire")
        .expect("lazy pool");
    let app = spawn_app(unreachable).await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    assert_problem(ready, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
    let login = app
        .login("admin@shiftwire.example", "whatever password")
        .await;
    assert_problem(
        login,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    )
    .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn metrics_count_requests_by_matched_route(pool: PgPool) {
    let token = "metrics-token-0123456789abcdef0123456789";
    let app =
        shiftwire_test_support::spawn_app_with(pool, |s| s.metrics_token = Some(token.into()))
            .await;
    app.get("/healthz", None).await;
    app.get("/no/such/route/with-an-id-123", None).await;
    let metrics = app.get("/metrics", Some(token)).await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.expect("text");
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains("route=\"/healthz\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(
        !text.contains("with-an-id-123"),
        "raw paths must not become labels"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}
