use reqwest::StatusCode;
use serde_json::Value;
use shiftwire_test_support::{assert_json, spawn_app};
use sqlx::PgPool;

#[test]
fn committed_spec_matches_the_code() {
    let generated = shiftwire_api::openapi::spec_yaml().expect("yaml");
    let committed = include_str!("../../../../api-spec/openapi.yaml");
    assert!(
        generated == committed,
        "api-spec/openapi.yaml is out of date: run `make openapi` and commit the result"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_served_spec_lists_every_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/openapi.json", None).await;
    let spec = assert_json(response, StatusCode::OK).await;
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = spec["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v1/auth/otp", "post"),
        ("/v1/auth/otp/verify", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/admin/users", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    // Every documented route answers something other than the unknown-route 404.
    for path in paths.keys() {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .send()
            .await
            .expect("send");
        assert_ne!(
            response
                .headers()
                .get("content-type")
                .map(|v| v.as_bytes().to_vec()),
            None,
            "{path}"
        );
        if response.status() == StatusCode::NOT_FOUND {
            let body: Value = response.json().await.expect("json");
            panic!("{path} is documented but not routed: {body}");
        }
    }
}
