//! Arbitrary bytes as a JSON request body: the API's strict body parsing
//! (`shiftwire_api::extract::parse_json`, what `ValidJson` and `NoBody` call) and the
//! problem+json response an error renders as (`ApiError::into_response`).
//!
//! Must never panic. Every refusal is a 4xx `application/problem+json` response whose
//! body is a JSON object with `type`, `title`, `status`, `detail` and `code`, consistent
//! with each other, and whose `detail` is bounded whatever the size of the input, so a
//! body is never echoed back beyond a small excerpt.

#![no_main]

use axum::{http::header, response::IntoResponse};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use shiftwire_api::{CreateShiftRequest, extract::parse_json};

/// Longest `detail` allowed. The fixed text of the longest serde message (an unknown
/// field of the shift body with the seven it expects, and a line and column) is under
/// 200 bytes; the rest is room for a short excerpt of the input.
const MAX_DETAIL: usize = 512;

fuzz_target!(|data: &[u8]| {
    // Any JSON: only syntax errors (and the nesting limit).
    check::<serde_json::Value>(data);
    // A real request body (`POST /v1/facilities/{fid}/shifts`): unknown fields, wrong
    // types, enums, timestamps, nested objects.
    check::<CreateShiftRequest>(data);
});

fn check<T: DeserializeOwned>(data: &[u8]) {
    let Err(error) = parse_json::<T>(data) else {
        return;
    };
    let status = error.status();
    let code = error.code();
    let expected_status = match code {
        "malformed_json" => 400,
        "unknown_field" | "invalid_body" => 422,
        other => panic!("unexpected problem code {other:?}"),
    };
    assert_eq!(status.as_u16(), expected_status, "status of {code}");

    let response = error.into_response();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(b"application/problem+json".as_slice())
    );

    let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .expect("an in-memory body reads");
    let problem: serde_json::Value =
        serde_json::from_slice(&body).expect("the problem body is JSON");
    let problem = problem.as_object().expect("the problem body is an object");
    let mut keys: Vec<&str> = problem.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "detail", "status", "title", "type"]);
    assert_eq!(problem["code"], code);
    assert_eq!(problem["status"], status.as_u16());
    assert_eq!(problem["type"], format!("urn:shiftwire:problem:{code}"));
    assert!(problem["title"].is_string());

    let detail = problem["detail"].as_str().expect("detail is a string");
    assert!(
        detail.len() <= MAX_DETAIL,
        "{code} detail of {} bytes for a body of {} bytes echoes the input: {:?}",
        detail.len(),
        data.len(),
        detail.chars().take(160).collect::<String>()
    );
}
