use futures::future::join_all;
use reqwest::{StatusCode, multipart};
use serde_json::{Value, json};
use shiftwire_core::Role;
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem, assert_rejected,
    builders::{id_of, rn_licence},
    count_answered, db, spawn_app, spawn_app_with_registry,
};
use shiftwire_verification::HttpRegistry;
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

use crate::stand_in;

const AMARA: &str = "+14155552671";
const BEN: &str = "+14155552672";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

async fn verification_status(app: &TestApp, token: &str) -> Value {
    app.me(token).await["verification_status"].clone()
}

/// Credential documents on disk (identity images aside).
async fn stored_files(app: &TestApp) -> usize {
    let identity_images = db::identity_image_keys(&app.pool).await;
    std::fs::read_dir(app.documents_dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| !identity_images.contains(&e.file_name().to_string_lossy().into_owned()))
        .count()
}

/// A flagged (pending, checked) licence of a fresh nurse; returns (nurse token, credential id).
async fn flagged_case(app: &TestApp, phone: &str) -> (String, Uuid) {
    let (token, _) = app.verified_nurse(phone, "Amara Okafor").await;
    let credential = app.submit_checked(&token, rn_licence("RN-999999")).await;
    assert_eq!(credential["reason_code"], "not_found");
    (token, id_of(&credential))
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_exact_registry_match_is_approved_automatically_with_evidence(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, nurse_id) = app.verified_nurse(AMARA, "Amara Okafor").await;
    let response = app
        .post("/v1/me/credentials", &rn_licence("rn-100234"), Some(&token))
        .await;
    let submitted = assert_json(response, StatusCode::CREATED).await;
    assert_eq!(submitted["status"], "pending", "the contract's 201 shape");
    let id = id_of(&submitted);
    app.credential_checked(id).await;

    let credential = app.credential(&token, id).await;
    assert_eq!(credential["status"], "approved");
    assert_eq!(credential["number"], "RN-100234");
    assert_eq!(credential["automatic_check_done"], true);
    assert_eq!(verification_status(&app, &token).await, "verified");

    let evidence = db::evidence_of(&app.pool, id).await;
    assert_eq!(evidence["source"], "table");
    assert_eq!(evidence["record"]["holder_name"], "Amara Okafor");
    assert_eq!(
        db::audit_rows(&app.pool, id, "credential.auto_approved").await,
        1
    );
    let announced = db::count_outbox_for_user(&app.pool, "verification.updated", nurse_id).await;
    assert_eq!(announced, 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn every_non_match_reaches_the_queue_with_its_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = app.verified_nurse(AMARA, "Amara Okafor").await;
    let cases = [
        (rn_licence("RN-999999"), "not_found"),
        (rn_licence("RN-200001"), "name_mismatch"),
        (rn_licence("RN-200002"), "license_inactive"),
        (rn_licence("RN-200003"), "license_expired"),
        (rn_licence("RN-200004"), "discipline_flag"),
        (rn_licence("RN-200005"), "ambiguous_match"),
        (rn_licence("RN-200006"), "expiry_mismatch"),
        (
            json!({ "kind": "BLS", "number": "AHA-1", "expires_on": "2027-01-31" }),
            "certification_review",
        ),
    ];
    let mut expected = Vec::new();
    for (body, reason_code) in cases {
        let credential = app.submit_checked(&token, body).await;
        assert_eq!(credential["status"], "pending", "{reason_code}");
        assert_eq!(credential["reason_code"], reason_code);
        assert!(credential["reason"].as_str().is_some_and(|r| !r.is_empty()));
        expected.push((id_of(&credential), reason_code));
    }
    assert_eq!(verification_status(&app, &token).await, "pending");

    let verifier = app.verifier_token().await;
    let queue = app
        .get_json("/v1/admin/verifications?status=pending", &verifier)
        .await;
    let items = queue["items"].as_array().expect("items");
    let seen: Vec<(Uuid, &str)> = items
        .iter()
        .map(|i| {
            (
                id_of(&i["credential"]),
                i["reason_code"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(seen, expected, "oldest first, each with its reason");
    assert_eq!(items[0]["nurse"]["name"], "Amara Okafor");
    assert!(
        items[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("RN-999999"))
    );
    assert_eq!(items[0]["document_url"], Value::Null);
    assert_eq!(queue["next_cursor"], Value::Null);

    // A nurse without a verified identity is never matched: her licence waits for it,
    // out of the verifiers' queue (nothing to decide yet).
    let anonymous = app.nurse_session(BEN).await.access;
    let credential = app
        .submit_checked(&anonymous, rn_licence("RN-100234"))
        .await;
    assert_eq!(credential["status"], "pending");
    assert_eq!(credential["reason_code"], "identity_unverified");
    let queue = app.get_json("/v1/admin/verifications", &verifier).await;
    assert_eq!(
        queue["items"].as_array().map(Vec::len),
        Some(expected.len()),
        "not in the queue"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_queue_pages_with_a_cursor(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = app.verified_nurse(AMARA, "Amara Okafor").await;
    for n in 0..3 {
        app.submit_checked(&token, rn_licence(&format!("RN-90000{n}")))
            .await;
    }
    let verifier = app.verifier_token().await;
    let queue = "/v1/admin/verifications?limit=2";
    let first = app.get_json(queue, &verifier).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let second = app.next_page(queue, &first, &verifier).await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["items"][0]["credential"]["number"], "RN-900002");
    assert_eq!(second["next_cursor"], Value::Null);
    let bad = [
        "?cursor=garbage",
        "?status=approved",
        "?limit=0",
        "?colour=red",
    ];
    app.assert_queries_refused("/v1/admin/verifications", &verifier, &bad)
        .await;
}

async fn registry_server(delay: Duration, status: StatusCode, body: Value) -> reqwest::Url {
    let router = axum::Router::new().route(
        "/lookup",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                tokio::time::sleep(delay).await;
                (status, axum::Json(body))
            }
        }),
    );
    stand_in::serve(router, "/lookup").await
}

async fn with_http_registry(pool: PgPool, url: reqwest::Url) -> TestApp {
    let registry = HttpRegistry::new(url, Duration::from_millis(300)).expect("registry");
    spawn_app_with_registry(
        pool,
        |s| s.license_registry_timeout = Duration::from_millis(300),
        Arc::new(registry),
    )
    .await
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_registry_timeout_leaves_the_licence_pending_never_approved(pool: PgPool) {
    let record = json!([{ "number": "RN-100234", "state": "CA", "kind": "RN", "holder_name": "Amara Okafor",
                          "status": "active", "expires_on": "2028-03-31", "discipline_flag": false }]);
    // The record would match, but arrives after the timeout.
    let url = registry_server(Duration::from_secs(5), StatusCode::OK, record).await;
    let app = with_http_registry(pool, url).await;
    let (_, credential) = app.checked_licence(AMARA, "Amara Okafor").await;
    assert_eq!(credential["status"], "pending");
    assert_eq!(credential["reason_code"], "registry_unavailable");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_failing_registry_leaves_the_licence_pending(pool: PgPool) {
    let url = registry_server(Duration::ZERO, StatusCode::INTERNAL_SERVER_ERROR, json!({})).await;
    let app = with_http_registry(pool, url).await;
    let (_, credential) = app.checked_licence(AMARA, "Amara Okafor").await;
    assert_eq!(credential["reason_code"], "registry_unavailable");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_http_registry_approves_an_exact_match(pool: PgPool) {
    let record = json!([{ "number": "RN-100234", "state": "CA", "kind": "RN", "holder_name": "Amara Okafor",
                          "status": "active", "expires_on": "2028-03-31", "discipline_flag": false }]);
    let url = registry_server(Duration::ZERO, StatusCode::OK, record).await;
    let app = with_http_registry(pool, url).await;
    let (_, credential) = app.checked_licence(AMARA, "Amara Okafor").await;
    assert_eq!(credential["status"], "approved");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_verifier_approves_or_rejects_with_a_reason_and_each_decision_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (nurse, first) = flagged_case(&app, AMARA).await;
    app.create_verifier().await;
    let verifier = app
        .staff_token("v2@shiftwire.example", Role::Verifier, vec![])
        .await;

    let approved = app.approve_credential(&verifier, first).await;
    let approved = assert_json(approved, StatusCode::OK).await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(verification_status(&app, &nurse).await, "verified");
    assert_eq!(
        db::audit_rows(&app.pool, first, "credential.approved").await,
        1
    );

    let second = id_of(&app.submit_checked(&nurse, rn_licence("RN-999998")).await);
    // The reason is required: missing is a malformed body, blank is refused explicitly.
    let reject = format!("/v1/admin/credentials/{second}/reject");
    for (body, code) in [
        (json!({}), "invalid_body"),
        (json!({ "reason": "  " }), "reason_required"),
    ] {
        let refused = app.post(&reject, &body, Some(&verifier)).await;
        assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    assert_eq!(
        db::audit_rows(&app.pool, second, "credential.rejected").await,
        0,
        "nothing decided yet"
    );

    let reason = "Not listed with the board.";
    let rejected = app.reject_credential(&verifier, second, reason).await;
    assert_rejected(rejected, reason).await;
    assert_eq!(
        db::audit_rows(&app.pool, second, "credential.rejected").await,
        1
    );

    let again = app.approve_credential(&verifier, second).await;
    assert_problem(again, StatusCode::CONFLICT, "already_decided").await;
    let unknown = app.approve_credential(&verifier, Uuid::now_v7()).await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let malformed = app
        .post(
            "/v1/admin/credentials/not-an-id/approve",
            &json!({}),
            Some(&verifier),
        )
        .await;
    assert_problem(malformed, StatusCode::NOT_FOUND, "not_found").await;

    // The audit log names the verifier and the reason.
    let admin = app.admin_token().await;
    let log = app
        .get_json(&format!("/v1/admin/audit?subject={second}"), &admin)
        .await;
    let decision = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "credential.rejected")
        .expect("rejection audited");
    assert_eq!(decision["reason"], reason);
    assert_eq!(decision["subject_type"], "credential");
    assert!(decision["actor_id"].is_string());
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn concurrent_approve_and_reject_leave_exactly_one_decision(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, id) = flagged_case(&app, AMARA).await;
    let alice = app
        .staff_token("alice@shiftwire.example", Role::Verifier, vec![])
        .await;
    let bob = app
        .staff_token("bob@shiftwire.example", Role::Verifier, vec![])
        .await;
    let approve_url = format!("/v1/admin/credentials/{id}/approve");
    let reject_url = format!("/v1/admin/credentials/{id}/reject");
    let reject_body = json!({ "reason": "Card expired in the photo." });
    let empty = json!({});
    let answers = join_all((0..6).map(|n| {
        if n % 2 == 0 {
            app.post(&approve_url, &empty, Some(&alice))
        } else {
            app.post(&reject_url, &reject_body, Some(&bob))
        }
    }))
    .await;
    let ok = count_answered(&answers, StatusCode::OK);
    let conflict = count_answered(&answers, StatusCode::CONFLICT);
    assert_eq!((ok, conflict), (1, 5));
    assert_eq!(db::count_decisions_of(&app.pool, id).await, 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn documents_are_stored_by_content_type_and_downloads_are_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (nurse, id) = flagged_case(&app, AMARA).await;
    let response = app
        .upload_document(&nurse, id, "licence.pdf", PDF.to_vec())
        .await;
    let credential = assert_json(response, StatusCode::CREATED).await;
    assert_eq!(credential["has_document"], true);
    assert_eq!(stored_files(&app).await, 1);
    let names: Vec<String> = std::fs::read_dir(app.documents_dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| !n.ends_with(".partial"))
        .collect();
    assert!(
        names.iter().all(|n| Uuid::parse_str(n).is_ok()),
        "files are named by id: {names:?}"
    );

    let verifier = app.verifier_token().await;
    let queue = app.get_json("/v1/admin/verifications", &verifier).await;
    let url = queue["items"][0]["document_url"]
        .as_str()
        .expect("document url")
        .to_owned();
    assert_eq!(url, format!("/v1/admin/credentials/{id}/document"));
    for n in 1..=2 {
        let download = app.get_ok(&url, &verifier).await;
        assert_eq!(download.headers()["content-type"], "application/pdf");
        assert!(
            download.headers()["content-disposition"]
                .to_str()
                .unwrap_or_default()
                .starts_with("attachment")
        );
        assert_eq!(download.bytes().await.expect("bytes").as_ref(), PDF);
        assert_eq!(
            db::audit_rows(&app.pool, id, "document.viewed").await,
            n,
            "one audit row per download"
        );
    }

    // A replacement upload replaces the stored file too.
    let png = [
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ]
    .to_vec();
    assert_eq!(
        app.upload_document(&nurse, id, "card.png", png)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(stored_files(&app).await, 1);
    let download = app.get(&url, Some(&verifier)).await;
    assert_eq!(download.headers()["content-type"], "image/png");

    let (other_nurse, other) = flagged_case(&app, BEN).await;
    let none = app
        .get(
            &format!("/v1/admin/credentials/{other}/document"),
            Some(&verifier),
        )
        .await;
    assert_problem(none, StatusCode::NOT_FOUND, "not_found").await;
    let _ = other_nurse;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn disguised_and_oversized_uploads_are_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (nurse, id) = flagged_case(&app, AMARA).await;
    let executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    let text = b"This is definitely a licence, please approve.".to_vec();
    for (name, bytes) in [("licence.pdf", executable), ("licence.pdf", text)] {
        let response = app.upload_document(&nurse, id, name, bytes).await;
        assert_problem(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_document_type",
        )
        .await;
    }
    let mut huge = PDF.to_vec();
    huge.resize(11 * 1024 * 1024, b' ');
    let response = app.upload_document(&nurse, id, "licence.pdf", huge).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let no_file = app
        .client
        .post(app.url(&format!("/v1/me/credentials/{id}/document")))
        .bearer_auth(&nurse)
        .multipart(multipart::Form::new().text("note", "hello"))
        .send()
        .await
        .expect("send");
    assert_problem(no_file, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    let not_multipart = app
        .post(
            &format!("/v1/me/credentials/{id}/document"),
            &json!({}),
            Some(&nurse),
        )
        .await;
    assert_problem(
        not_multipart,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    assert_eq!(stored_files(&app).await, 0);
    assert_eq!(db::count_documents_of(&app.pool, id).await, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_nurse_cannot_see_or_touch_another_nurses_credential(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, amaras) = flagged_case(&app, AMARA).await;
    let (ben, _) = app.verified_nurse(BEN, "Ben Ode").await;
    let read = app
        .get(&format!("/v1/me/credentials/{amaras}"), Some(&ben))
        .await;
    assert_problem(read, StatusCode::NOT_FOUND, "not_found").await;
    let write = app
        .upload_document(&ben, amaras, "x.pdf", PDF.to_vec())
        .await;
    assert_problem(write, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(stored_files(&app).await, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn only_verifiers_and_admins_see_the_queue_and_only_admins_the_audit_log(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (nurse, id) = flagged_case(&app, AMARA).await;
    let facility = app.create_facility("Mercy General Hospital").await;
    let scheduler = app
        .staff_token("s@mercy.example", Role::Scheduler, vec![facility])
        .await;
    let verifier = app.verifier_token().await;
    let admin = app.admin_token().await;
    for token in [&nurse, &scheduler] {
        for path in [
            "/v1/admin/verifications".to_owned(),
            format!("/v1/admin/credentials/{id}/document"),
            "/v1/admin/audit".to_owned(),
        ] {
            assert_problem(
                app.get(&path, Some(token)).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        let approve = app.approve_credential(token, id).await;
        assert_problem(approve, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(
        app.get("/v1/admin/verifications", Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        app.get("/v1/admin/audit", Some(&verifier)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let log = app
        .get_json(&format!("/v1/admin/audit?subject={id}"), &admin)
        .await;
    assert_eq!(log["items"][0]["action"], "credential.flagged");
    assert_eq!(
        log["items"][0]["actor_id"],
        Value::Null,
        "the automatic check acts as Shiftwire itself"
    );
    let status = app
        .get("/v1/admin/audit?actor=nobody", Some(&admin))
        .await
        .status();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_sweeper_expires_credentials_and_the_nurse_loses_verified(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, credential) = app.checked_licence(AMARA, "Amara Okafor").await;
    assert_eq!(credential["status"], "approved");
    let id = id_of(&credential);
    db::credential_expired_yesterday(&app.pool, id).await;
    assert_eq!(
        app.state.verification.sweep_expired().await.expect("sweep"),
        1
    );
    let credential = app
        .get_json(&format!("/v1/me/credentials/{id}"), &token)
        .await;
    assert_eq!(credential["status"], "expired");
    assert_eq!(verification_status(&app, &token).await, "unverified");
    assert_eq!(db::audit_rows(&app.pool, id, "credential.expired").await, 1);
    assert_eq!(
        app.state.verification.sweep_expired().await.expect("sweep"),
        0,
        "idempotent"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn invalid_credentials_are_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, nurse_id) = app.verified_nurse(AMARA, "Amara Okafor").await;
    // A valid licence, but for one change (a null leaves the field out).
    let valid = rn_licence("RN-1");
    let cases = [
        (json!({ "issuing_state": null }), "invalid_credential"),
        (
            json!({ "kind": "BLS", "number": "A-1" }),
            "invalid_credential",
        ),
        (
            json!({ "kind": "CNA", "number": "C-1", "multistate": true }),
            "invalid_credential",
        ),
        (json!({ "expires_on": "2020-01-01" }), "invalid_credential"),
        (json!({ "issuing_state": "XX" }), "invalid_credential"),
        (json!({ "number": "" }), "invalid_credential"),
        (json!({ "number": "RN;DROP" }), "invalid_credential"),
        (json!({ "kind": "MD", "number": "X-1" }), "invalid_body"),
        (json!({ "expires_on": "31/01/2028" }), "invalid_body"),
        (json!({ "status": "approved" }), "unknown_field"),
    ];
    for (change, code) in cases {
        let mut body = valid.clone();
        for (key, value) in change.as_object().expect("a change") {
            if value.is_null() {
                body.as_object_mut().expect("an object").remove(key);
            } else {
                body[key].clone_from(value);
            }
        }
        let response = app.post("/v1/me/credentials", &body, Some(&token)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    assert_eq!(app.credentials_of(nurse_id).await.len(), 0);

    app.submit_checked(&token, rn_licence("RN-100234")).await;
    let duplicate = app
        .post("/v1/me/credentials", &rn_licence("RN 100234"), Some(&token))
        .await;
    let duplicate_status = duplicate.status();
    // "RN 100234" is stored as typed, so it is a different number; the same spelling is a duplicate.
    assert_eq!(duplicate_status, StatusCode::CREATED);
    let same = app
        .post("/v1/me/credentials", &rn_licence("RN-100234"), Some(&token))
        .await;
    assert_problem(same, StatusCode::CONFLICT, "credential_exists").await;

    let verifier = app.verifier_token().await;
    let staff = app
        .post("/v1/me/credentials", &rn_licence("RN-1"), Some(&verifier))
        .await;
    assert_problem(staff, StatusCode::FORBIDDEN, "forbidden").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn suspension_ends_sessions_at_once_and_reinstatement_lifts_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.nurse_session(AMARA).await;
    let nurse = &session.access;
    let nurse_id = id_of(&app.me(nurse).await);
    let admin = app.admin_token().await;
    let verifier = app.verifier_token().await;

    assert_problem(
        app.suspend_nurse(&verifier, nurse_id, "x").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.suspend_nurse(&admin, nurse_id, "").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    )
    .await;
    let verifier_id = app
        .create_staff("v2@shiftwire.example", Role::Verifier, vec![])
        .await;
    let not_a_nurse = app.suspend_nurse(&admin, verifier_id, "x").await;
    assert_problem(not_a_nurse, StatusCode::NOT_FOUND, "not_found").await;

    let response = app
        .suspend_nurse(&admin, nurse_id, "Licence under investigation")
        .await;
    let account = assert_json(response, StatusCode::OK).await;
    assert_eq!(account["verification_status"], "suspended");
    assert_eq!(account["suspended_reason"], "Licence under investigation");

    assert_problem(
        app.get("/v1/me", Some(nurse)).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    let refreshed = app.refresh(&session.refresh).await;
    assert_problem(refreshed, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    assert_eq!(
        db::audit_rows(&app.pool, nurse_id, "nurse.suspended").await,
        1
    );

    let response = app.reinstate_nurse(&admin, nurse_id).await;
    let account = assert_json(response, StatusCode::OK).await;
    assert_eq!(account["verification_status"], "unverified");
    assert_eq!(account["suspended_at"], Value::Null);
    assert_eq!(
        db::audit_rows(&app.pool, nurse_id, "nurse.reinstated").await,
        1
    );
    // The old session stays ended; signing in again works.
    let again = app.nurse_session(AMARA).await;
    app.me(&again.access).await;
}
