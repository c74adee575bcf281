use reqwest::StatusCode;
use serde_json::json;
use shiftwire_test_support::{assert_problem, db, spawn_app};
use sqlx::PgPool;

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn unknown_routes_and_wrong_methods_are_problems(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_problem(
        app.get("/v1/nope", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let wrong_method = app.get("/v1/auth/login", None).await;
    assert!(
        wrong_method.headers().contains_key("allow"),
        "405 keeps its Allow header"
    );
    assert_problem(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn bad_bodies_are_refused_with_their_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    let url = app.url("/v1/auth/otp");
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(url.clone())
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let malformed = send("{\"phone\": ".into(), "application/json")
        .await
        .expect("send");
    assert_problem(malformed, StatusCode::BAD_REQUEST, "malformed_json").await;

    let unknown = app
        .post(
            "/v1/auth/otp",
            &json!({ "phone": "+14155552671", "role": "admin" }),
            None,
        )
        .await;
    let body = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("role"),
        "{body}"
    );

    let wrong_type = app
        .post("/v1/auth/otp", &json!({ "phone": 14155552671u64 }), None)
        .await;
    assert_problem(wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let missing = app.post("/v1/auth/otp", &json!({}), None).await;
    assert_problem(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let not_json = send(
        "phone=+14155552671".into(),
        "application/x-www-form-urlencoded",
    )
    .await
    .expect("send");
    assert_problem(
        not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let huge = format!("{{\"phone\": \"{}\"}}", "1".repeat(70 * 1024));
    let too_large = send(huge, "application/json").await.expect("send");
    assert_problem(
        too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    // None of it sent a code or stored anything.
    assert_eq!(db::count_codes(&app.pool).await, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn responses_carry_request_ids_and_protective_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/healthz", None).await;
    let headers = response.headers();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id");
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );

    let echoed = app
        .get_with_header("/healthz", "x-request-id", "portal-7f3a")
        .await;
    assert_eq!(
        echoed.headers()["x-request-id"],
        "portal-7f3a",
        "a caller's id is kept"
    );
}

/// Browsers may call the API only from the configured portal and console origins.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn cross_origin_access_is_limited_to_the_configured_origins(pool: PgPool) {
    let app = shiftwire_test_support::spawn_app_with(pool, |s| {
        s.cors_allowed_origins = vec![
            "https://portal.shiftwire.example".parse().expect("origin"),
            "https://console.shiftwire.example".parse().expect("origin"),
        ];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://portal.shiftwire.example")
        .await
        .expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://portal.shiftwire.example"
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let refused = preflight("https://evil.example").await.expect("preflight");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let simple = app
        .get_with_header("/healthz", "origin", "https://console.shiftwire.example")
        .await;
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://console.shiftwire.example"
    );
}

/// A client that sends its headers slowly (slow-loris) is cut off; others are served.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn slow_headers_are_cut_off(pool: PgPool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = shiftwire_test_support::spawn_app_with(pool, |s| {
        s.header_read_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: shiftwire\r\nX-Slow: 1")
        .await
        .expect("write");
    // Meanwhile an ordinary request is answered.
    assert_eq!(
        app.get("/healthz", None).await.status(),
        reqwest::StatusCode::OK
    );
    let mut rest = Vec::new();
    // The server ends the connection (a reset is an end too) instead of waiting forever.
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut rest),
    )
    .await
    .expect("the server closed the slow connection");
    let answer = String::from_utf8_lossy(&rest);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}
