use reqwest::StatusCode;
use shiftwire_test_support::spawn_app;
use sqlx::PgPool;
use std::sync::atomic::Ordering;

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn shutdown_lets_in_flight_requests_finish_then_stops_accepting(pool: PgPool) {
    let mut app = spawn_app(pool).await;
    app.sms.hold.store(true, Ordering::SeqCst);
    let in_flight = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/v1/auth/otp");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({ "phone": "+14155552671" }))
                .send()
                .await
        }
    });
    // The request is inside the handler (waiting on the SMS gateway) when shutdown starts.
    app.sms.entered.notified().await;
    app.shutdown.cancel();
    app.sms.release.notify_one();

    let response = in_flight
        .await
        .expect("join")
        .expect("in-flight request completes");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let health_url = app.url("/healthz");
    (&mut app.server)
        .await
        .expect("join")
        .expect("server stops cleanly");
    assert!(
        app.client.get(health_url).send().await.is_err(),
        "no new connections after shutdown"
    );
}
