//! Verified means verified: identity before registry matching, one licence per account,
//! re-checks of approved licences, revocation, the signed identity webhook, and bookings
//! that follow eligibility (each cause over real WebSockets, checked with sentinels).

use async_trait::async_trait;
use axum::{Router, extract::Multipart, routing::post};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use shiftwire_core::{CredentialKind, CredentialStatus};
use shiftwire_test_support::builders::{
    book, facility, id_of, nurse_at, post_shift, rn_licence, shift_body,
};
use shiftwire_test_support::ws::{Ws, sentinel};
use shiftwire_test_support::{
    PNG, TestApp, assert_json, assert_problem, assert_rejected, db, spawn_app, spawn_app_with,
    spawn_app_with_registry,
};
use shiftwire_verification::{
    LicenseRegistry, TableRegistry,
    registry::{LicenseQuery, RegistryError, RegistryRecord},
};
use sqlx::PgPool;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use uuid::Uuid;

use crate::stand_in;

const AMARA: &str = "+14155553001";
const EVE: &str = "+14155553002";

/// `Shiftwire-Signature` for `body` at unix time `t`.
pub(crate) fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// A nurse who named herself `name` and submitted RN-100234, which waits for her
/// identity (`identity_unverified`); (access token, the licence).
async fn waiting_licence(app: &TestApp, phone: &str, name: &str) -> (String, Value) {
    let (token, _) = app.named_nurse(phone, name).await;
    let waiting = app.submit_checked(&token, rn_licence("RN-100234")).await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert_eq!(waiting["reason_code"], "identity_unverified", "{waiting}");
    (token, waiting)
}

async fn queue(app: &TestApp, reviewer: &str) -> Vec<Value> {
    let page = app.get_json("/v1/admin/verifications", reviewer).await;
    page["items"].as_array().expect("items").clone()
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_self_chosen_name_never_approves_a_licence(pool: PgPool) {
    let app = spawn_app(pool).await;
    // A brand-new phone names itself after the licence holder and submits her number.
    let (eve, submitted) = waiting_licence(&app, EVE, "Amara Okafor").await;
    let profile = app.me(&eve).await;
    assert_eq!(profile["verification_status"], "pending");
    assert_eq!(profile["identity"], json!({ "status": "none" }));

    // Her real identity is verified: the licence is checked again against that legal
    // name, and the registry's holder is someone else.
    app.verify_identity(&eve, "Eve Mallory").await;
    let id = id_of(&submitted);
    app.credential_checked(id).await;
    let checked = app.credential(&eve, id).await;
    assert_eq!(checked["status"], "pending");
    assert_eq!(checked["reason_code"], "name_mismatch");
    assert!(
        checked["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Eve Mallory")),
        "{checked}"
    );
    let profile = app.me(&eve).await;
    assert_eq!(
        profile["identity"],
        json!({ "status": "verified", "legal_name": "Eve Mallory" })
    );
    assert_eq!(profile["verification_status"], "pending");
    // A verifier cannot approve a licence for a nurse without a verified identity either.
    let (other, other_id) = app.named_nurse("+14155553003", "Amara Okafor").await;
    let waiting = app.submit_checked(&other, rn_licence("RN-100234")).await;
    assert_eq!(waiting["reason_code"], "identity_unverified");
    let verifier = app.verifier_token().await;
    let refused = app.approve_credential(&verifier, id_of(&waiting)).await;
    assert_problem(refused, StatusCode::CONFLICT, "identity_unverified").await;
    let approved = app
        .credentials_of(other_id)
        .await
        .iter()
        .filter(|c| c.status == CredentialStatus::Approved)
        .count();
    assert_eq!(approved, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_verified_legal_name_is_matched_and_a_rename_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = app.named_nurse(AMARA, "Ama").await;
    // The legal name carries her middle name and accents; the registry has neither.
    app.verify_identity(&token, "Amára Nneka Okafor").await;
    let approved = app.submit_checked(&token, rn_licence("rn 100-234")).await;
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(app.me(&token).await["verification_status"], "verified");

    let renamed = app
        .patch("/v1/me", &json!({ "name": "Someone Else" }), Some(&token))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let profile = app.me(&token).await;
    assert_eq!(profile["name"], "Someone Else");
    assert_eq!(profile["verification_status"], "verified");
    assert_eq!(profile["identity"]["legal_name"], "Amára Nneka Okafor");
    assert_eq!(profile["credentials"][0]["status"], "approved");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn one_licence_is_approved_on_one_account_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, first) = app.checked_licence(AMARA, "Amara Okafor").await;
    assert_eq!(first["status"], "approved");
    // A second account, even with a verified identity of the same name, and the number
    // written differently.
    let (second, _) = app.verified_nurse(EVE, "Amara Okafor").await;
    let copy = app.submit_checked(&second, rn_licence("rn100 234")).await;
    assert_eq!(copy["status"], "pending");
    assert_eq!(copy["reason_code"], "licence_in_use");
    let verifier = app.verifier_token().await;
    let items = queue(&app, &verifier).await;
    assert!(
        items
            .iter()
            .any(|i| i["credential"]["id"] == copy["id"] && i["reason_code"] == "licence_in_use"),
        "the verifier sees the case: {items:?}"
    );
    let refused = app.approve_credential(&verifier, id_of(&copy)).await;
    assert_problem(refused, StatusCode::CONFLICT, "licence_in_use").await;
    // Once the first approval is revoked, the verifier may approve the second.
    let reason = "The board confirms the licence belongs to the other account.";
    let revoked = app
        .revoke_credential(&verifier, id_of(&first), reason)
        .await;
    assert_json(revoked, StatusCode::OK).await;
    let approved = app.approve_credential(&verifier, id_of(&copy)).await;
    assert_json(approved, StatusCode::OK).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn two_accounts_racing_one_licence_are_never_both_approved(pool: PgPool) {
    const ROUNDS: usize = 40;
    let mut csv = String::from("number,state,kind,holder_name,status,expires_on,discipline_flag\n");
    for round in 0..ROUNDS {
        csv.push_str(&format!(
            "RN-77{round:04},CA,RN,Amara Okafor,active,2028-03-31,false\n"
        ));
    }
    let registry = TableRegistry::from_reader(csv.as_bytes()).expect("registry");
    let app =
        spawn_app_with_registry(pool, |s| s.verification_checkers = 4, Arc::new(registry)).await;
    let mut twins = Vec::new();
    for n in 0..2 {
        let (token, _) = app
            .verified_nurse(&format!("+1415555310{n}"), "Amara Okafor")
            .await;
        twins.push(token);
    }
    let mut both_pending = 0;
    for round in 0..ROUNDS {
        let number = format!("RN-77{round:04}");
        let submissions = futures::future::join_all(twins.iter().map(|token| {
            let app = &app;
            let number = number.clone();
            async move {
                let response = app
                    .post("/v1/me/credentials", &rn_licence(&number), Some(token))
                    .await;
                assert_eq!(response.status(), StatusCode::CREATED);
                id_of(&response.json().await.expect("json"))
            }
        }))
        .await;
        // The workers check them; a direct check races them as well.
        let _ = futures::future::join(
            app.state.verification.check_next(),
            app.state.verification.check_next(),
        )
        .await;
        let mut statuses = Vec::new();
        for id in &submissions {
            let decided = loop {
                let credential = app
                    .state
                    .verification
                    .credential(*id)
                    .await
                    .expect("credential");
                let row: (String, Option<String>, bool) = (
                    credential.status.as_str().to_owned(),
                    credential.reason_code,
                    credential.checked,
                );
                if row.2 {
                    break row;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            statuses.push(decided);
        }
        let approved = statuses.iter().filter(|s| s.0 == "approved").count();
        assert!(approved <= 1, "round {round}: {statuses:?}");
        for (status, reason, _) in &statuses {
            if status == "pending" {
                assert_eq!(reason.as_deref(), Some("licence_in_use"), "round {round}");
            }
        }
        if approved == 0 {
            both_pending += 1;
        }
    }
    println!(
        "{ROUNDS} rounds of two accounts racing one licence: 0 double approvals, {both_pending} rounds with neither approved"
    );
    let doubles = db::count_licences_approved_twice(&app.pool).await;
    assert_eq!(doubles, 0);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_verifier_reviews_identities_side_by_side_and_every_view_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, waiting) = waiting_licence(&app, AMARA, "Ama").await;

    // A first submission, replaced by a second: only the second is in the queue.
    let first = id_of(&app.submitted_identity(&token, "Amara Okafr").await);
    let second = app.submitted_identity(&token, "Amara Okafor").await;
    assert_eq!(second["status"], "pending");
    assert_eq!(second["legal_name"], "Amara Okafor");
    assert_eq!(second["verification_url"], Value::Null);
    let second = id_of(&second);
    assert_eq!(
        app.me(&token).await["identity"],
        json!({ "status": "pending", "legal_name": "Amara Okafor" })
    );

    let verifier = app.verifier_token().await;
    let items = queue(&app, &verifier).await;
    let identities: Vec<&Value> = items.iter().filter(|i| i["kind"] == "identity").collect();
    assert_eq!(identities.len(), 1, "{items:?}");
    assert_eq!(identities[0]["reason_code"], "identity_review");
    assert_eq!(identities[0]["identity"]["id"], second.to_string());
    assert_eq!(identities[0]["credential"], Value::Null);
    assert_eq!(identities[0]["nurse"]["name"], "Ama");
    assert!(
        !items.iter().any(|i| i["credential"]["id"] == waiting["id"]),
        "a licence waiting for its identity is not a case yet"
    );
    let gone = app
        .get(&format!("/v1/admin/identities/{first}"), Some(&verifier))
        .await;
    assert_problem(gone, StatusCode::NOT_FOUND, "not_found").await;

    let detail = app
        .get_json(&format!("/v1/admin/identities/{second}"), &verifier)
        .await;
    assert_eq!(detail["date_of_birth"], "1990-04-17");
    for url in [&detail["id_document_url"], &detail["selfie_url"]] {
        let image = app.get_ok(url.as_str().expect("url"), &verifier).await;
        assert_eq!(image.headers()["content-type"], "image/png");
        assert!(
            image.headers()["content-security-policy"]
                .to_str()
                .is_ok_and(|v| v.contains("sandbox"))
        );
        assert_eq!(image.bytes().await.expect("bytes").as_ref(), PNG);
    }
    assert_eq!(
        db::audit_rows(&app.pool, second, "identity.document_viewed").await,
        2
    );

    let approved = app.approve_identity(&verifier, second).await;
    let approved = assert_json(approved, StatusCode::OK).await;
    assert_eq!(approved["status"], "verified");
    // Approving the identity re-ran the check of her waiting licence.
    app.credential_checked(id_of(&waiting)).await;
    assert_eq!(
        app.credential(&token, id_of(&waiting)).await["status"],
        "approved"
    );
    assert_eq!(app.me(&token).await["verification_status"], "verified");
    let again = app.approve_identity(&verifier, second).await;
    assert_problem(again, StatusCode::CONFLICT, "already_decided").await;
    // A verified identity is final: a new submission is refused.
    let resubmitted = app
        .submit_identity(&token, "Amara Okafor", "1990-04-17")
        .await;
    assert_problem(resubmitted, StatusCode::CONFLICT, "identity_verified").await;
    assert_eq!(
        db::audit_rows(&app.pool, second, "identity.approved").await,
        1
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_rejected_identity_says_why_and_approves_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, waiting) = waiting_licence(&app, AMARA, "Amara Okafor").await;
    let identity = id_of(&app.submitted_identity(&token, "Amara Okafor").await);
    let verifier = app.verifier_token().await;
    let blank = app.reject_identity(&verifier, identity, "  ").await;
    assert_problem(blank, StatusCode::UNPROCESSABLE_ENTITY, "reason_required").await;
    let reason = "The selfie does not show the person on the photo ID.";
    let rejected = app.reject_identity(&verifier, identity, reason).await;
    assert_rejected(rejected, reason).await;
    assert_eq!(
        app.me(&token).await["identity"],
        json!({ "status": "rejected" })
    );
    assert_eq!(
        app.credential(&token, id_of(&waiting)).await["reason_code"],
        "identity_unverified"
    );
    // She may try again.
    app.submitted_identity(&token, "Amara Okafor").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn bad_identity_submissions_are_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = app.named_nurse(AMARA, "Amara Okafor").await;
    let under_age = (chrono::Utc::now() - chrono::Duration::days(17 * 366))
        .date_naive()
        .to_string();
    for (name, dob, code) in [
        ("", "1990-04-17", "invalid_identity"),
        ("R2-D2", "1990-04-17", "invalid_identity"),
        ("Amara Okafor", "17/04/1990", "invalid_identity"),
        ("Amara Okafor", under_age.as_str(), "invalid_identity"),
        ("Amara Okafor", "1900-01-01", "invalid_identity"),
    ] {
        let response = app.submit_identity(&token, name, dob).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let part = |bytes: &'static [u8], mime: &str| {
        reqwest::multipart::Part::bytes(bytes)
            .file_name("x")
            .mime_str(mime)
            .expect("mime")
    };
    let send = |form: reqwest::multipart::Form| {
        app.client
            .post(app.url("/v1/me/identity"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    };
    let base = || {
        reqwest::multipart::Form::new()
            .text("legal_name", "Amara Okafor")
            .text("date_of_birth", "1990-04-17")
    };
    // A PDF photo ID is fine, a PDF selfie is not; text is neither.
    for (what, id_document, selfie) in [
        (
            "a PDF selfie",
            part(pdf, "application/pdf"),
            part(pdf, "image/jpeg"),
        ),
        (
            "a photo ID of text",
            part(b"not an image at all", "image/png"),
            part(PNG, "image/png"),
        ),
    ] {
        let form = base()
            .part("id_document", id_document)
            .part("selfie", selfie);
        let refused = send(form).await.expect("send");
        assert_eq!(
            refused.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{what}"
        );
        assert_problem(
            refused,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_document_type",
        )
        .await;
    }
    let missing = send(base().part("id_document", part(PNG, "image/png")))
        .await
        .expect("send");
    assert_problem(missing, StatusCode::UNPROCESSABLE_ENTITY, "missing_field").await;
    let unknown = send(
        base()
            .part("id_document", part(PNG, "image/png"))
            .part("selfie", part(PNG, "image/png"))
            .text("verified", "true"),
    )
    .await
    .expect("send");
    assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    assert_eq!(db::count_identities(&app.pool).await, 0);
    assert_eq!(
        std::fs::read_dir(app.documents_dir.path())
            .expect("dir")
            .count(),
        0,
        "no image was kept"
    );
    // A scheduler has no identity to submit.
    let f = facility(&app, "Mercy General").await;
    let forbidden = app
        .client
        .post(app.url("/v1/me/identity"))
        .bearer_auth(&f.scheduler)
        .multipart(
            base()
                .part("id_document", part(PNG, "image/png"))
                .part("selfie", part(PNG, "image/png")),
        )
        .send()
        .await
        .expect("send");
    assert_problem(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
}

/// What a stand-in identity service received, and how it answers.
#[derive(Default)]
struct IdentityService {
    received: Mutex<Vec<(String, String)>>,
    hang: bool,
}

/// Starts a stand-in identity service; returns its URL.
async fn identity_service(service: Arc<IdentityService>) -> reqwest::Url {
    let router = Router::new().route(
        "/verifications",
        post(move |mut form: Multipart| {
            let service = service.clone();
            async move {
                let mut reference = String::new();
                let mut name = String::new();
                while let Ok(Some(field)) = form.next_field().await {
                    match field.name() {
                        Some("reference") => reference = field.text().await.unwrap_or_default(),
                        Some("legal_name") => name = field.text().await.unwrap_or_default(),
                        _ => {
                            let _ = field.bytes().await;
                        }
                    }
                }
                if service.hang {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                service
                    .received
                    .lock()
                    .expect("lock")
                    .push((reference.clone(), name));
                axum::Json(json!({ "session_url": format!("https://idv.example/s/{reference}") }))
            }
        }),
    );
    stand_in::serve(router, "/verifications").await
}

const SECRET: &str = "identity-webhook-secret-0123456789abcdef";

async fn external_app(pool: PgPool, service: Arc<IdentityService>) -> TestApp {
    let url = identity_service(service).await;
    spawn_app_with(pool, move |s| {
        s.identity_provider = shiftwire_api::config::IdentityProviderKind::External {
            url,
            timeout: Duration::from_secs(1),
        };
        s.identity_webhook_secret = Some(SECRET.into());
    })
    .await
}

async fn deliver(app: &TestApp, body: &Value, signature: Option<String>) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).expect("json");
    let mut request = app
        .client
        .post(app.url("/v1/webhooks/identity"))
        .header("content-type", "application/json")
        .body(bytes);
    if let Some(signature) = signature {
        request = request.header("shiftwire-signature", signature);
    }
    request.send().await.expect("deliver")
}

fn signed(body: &Value, t: i64) -> String {
    signature(SECRET, t, &serde_json::to_vec(body).expect("json"))
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_identity_service_decides_through_a_signed_webhook_applied_once(pool: PgPool) {
    let service = Arc::new(IdentityService::default());
    let app = external_app(pool, service.clone()).await;
    let (token, waiting) = waiting_licence(&app, AMARA, "Ama").await;
    let submitted = app.submitted_identity(&token, "Amara N Okafor").await;
    let identity = id_of(&submitted);
    assert_eq!(
        submitted["verification_url"],
        format!("https://idv.example/s/{identity}")
    );
    assert_eq!(
        service.received.lock().expect("lock").clone(),
        vec![(identity.to_string(), "Amara N Okafor".to_owned())]
    );
    let verifier = app.verifier_token().await;
    assert!(
        !queue(&app, &verifier)
            .await
            .iter()
            .any(|i| i["identity"]["id"] == identity.to_string()),
        "the service decides it, not the queue"
    );

    let body = json!({
        "reference": identity,
        "status": "verified",
        "legal_name": "Amara Nneka Okafor",
        "date_of_birth": "1990-04-17"
    });
    let now = chrono::Utc::now().timestamp();
    let pending = || async { db::identity_status(&app.pool, identity).await == "pending" };
    // Refused: no signature, another secret, a changed body, a stale or future time. The
    // times are a minute past the tolerance, so a slow second between here and the server's
    // clock cannot bring one back inside it.
    let outside = 5 * 60 + 60;
    let refusals = [
        None,
        Some(signature(
            "another-secret-0123456789abcdef0123",
            now,
            &serde_json::to_vec(&body).expect("json"),
        )),
        Some(signed(
            &json!({ "reference": identity, "status": "verified", "legal_name": "X Y", "date_of_birth": "1990-04-17" }),
            now,
        )),
        Some(signed(&body, now - outside)),
        Some(signed(&body, now + outside)),
        Some("t=abc,v1=zz".to_owned()),
    ];
    for signature in refusals {
        let response = deliver(&app, &body, signature).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
        assert!(pending().await);
    }
    let unknown = json!({
        "reference": Uuid::now_v7(),
        "status": "verified",
        "legal_name": "Amara Okafor",
        "date_of_birth": "1990-04-17"
    });
    let response = deliver(&app, &unknown, Some(signed(&unknown, now))).await;
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(pending().await);

    let delivery = signed(&body, now - 30);
    let response = deliver(&app, &body, Some(delivery.clone())).await;
    let receipt = assert_json(response, StatusCode::OK).await;
    assert_eq!(receipt["applied"], true);
    // The same delivery again changes nothing.
    let replayed = deliver(&app, &body, Some(delivery)).await;
    assert_eq!(replayed.status(), StatusCode::OK);
    assert_eq!(
        replayed.json::<Value>().await.expect("json")["applied"],
        false
    );
    assert_eq!(
        db::audit_rows(&app.pool, identity, "identity.verified_by_provider").await,
        1
    );
    // The service's spelling of the legal name wins, and is recorded.
    let profile = app.me(&token).await;
    assert_eq!(
        profile["identity"],
        json!({ "status": "verified", "legal_name": "Amara Nneka Okafor" })
    );
    let detail = app
        .get_json(&format!("/v1/admin/identities/{identity}"), &verifier)
        .await;
    assert_eq!(detail["legal_name"], "Amara N Okafor");
    assert_eq!(detail["provider_legal_name"], "Amara Nneka Okafor");
    app.credential_checked(id_of(&waiting)).await;
    assert_eq!(
        app.credential(&token, id_of(&waiting)).await["status"],
        "approved"
    );
    // An identity a verifier decides is not the service's: its deliveries find nothing.
    db::identity_left_to_verifiers(&app.pool, identity).await;
    let response = deliver(&app, &body, Some(signed(&body, now))).await;
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_identity_service_that_never_answers_approves_nothing(pool: PgPool) {
    let service = Arc::new(IdentityService {
        hang: true,
        ..IdentityService::default()
    });
    let app = external_app(pool, service).await;
    let (token, waiting) = waiting_licence(&app, AMARA, "Amara Okafor").await;
    let started = std::time::Instant::now();
    let response = app
        .submit_identity(&token, "Amara Okafor", "1990-04-17")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "bounded by the timeout"
    );
    let submitted: Value = response.json().await.expect("json");
    assert_eq!(submitted["status"], "pending");
    assert_eq!(submitted["verification_url"], Value::Null);
    // Nothing was approved; a verifier owns the case instead.
    assert_eq!(app.me(&token).await["identity"]["status"], "pending");
    assert_eq!(
        app.credential(&token, id_of(&waiting)).await["reason_code"],
        "identity_unverified"
    );
    let verifier = app.verifier_token().await;
    let items = queue(&app, &verifier).await;
    assert!(
        items.iter().any(|i| i["identity"]["id"] == submitted["id"]
            && i["reason_code"] == "identity_provider_unavailable"),
        "{items:?}"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nurses_approved_before_identity_checks_keep_it_and_reach_the_queue(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, nurse_id) = nurse_at(&app, (38.58, -121.46), 25.0).await;
    assert_eq!(app.me(&token).await["verification_status"], "verified");
    assert_eq!(app.me(&token).await["identity"]["status"], "none");
    let verifier = app.verifier_token().await;
    let items = queue(&app, &verifier).await;
    let case = items
        .iter()
        .find(|i| i["nurse"]["id"] == nurse_id.to_string())
        .expect("her case");
    assert_eq!(case["kind"], "identity");
    assert_eq!(case["identity"], Value::Null);
    assert_eq!(case["reason_code"], "identity_review");
    // Once she submits, the case is her identity.
    app.submit_identity(&token, "Test Nurse", "1990-04-17")
        .await;
    let items = queue(&app, &verifier).await;
    let case = items
        .iter()
        .find(|i| i["nurse"]["id"] == nurse_id.to_string())
        .expect("her case");
    assert!(case["identity"]["id"].is_string());
    let identities = app
        .get_json("/v1/admin/verifications?kind=credential", &verifier)
        .await;
    assert!(
        identities["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["kind"] == "credential")
    );
}

/// A registry whose answers the test changes, counting lookups.
#[derive(Default)]
struct ChangingRegistry {
    records: Mutex<Vec<RegistryRecord>>,
    failing: std::sync::atomic::AtomicBool,
    lookups: AtomicUsize,
}

#[async_trait]
impl LicenseRegistry for ChangingRegistry {
    fn source(&self) -> String {
        "test".into()
    }

    async fn lookup(&self, query: &LicenseQuery) -> Result<Vec<RegistryRecord>, RegistryError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(RegistryError("board offline".into()));
        }
        let key = shiftwire_verification::registry::normalise_number(&query.number);
        Ok(self
            .records
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| shiftwire_verification::registry::normalise_number(&r.number) == key)
            .cloned()
            .collect())
    }
}

fn record(number: &str, expires_on: &str) -> RegistryRecord {
    RegistryRecord {
        number: number.into(),
        state: "CA".into(),
        kind: "RN".into(),
        holder_name: "Amara Okafor".into(),
        status: "active".into(),
        expires_on: expires_on.parse().expect("date"),
        discipline_flag: false,
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn approved_licences_are_re_checked_and_changes_reach_a_verifier(pool: PgPool) {
    let registry = Arc::new(ChangingRegistry::default());
    registry
        .records
        .lock()
        .expect("lock")
        .push(record("RN-100234", "2028-03-31"));
    let app = spawn_app_with_registry(pool, |_| {}, registry.clone()).await;
    let (token, approved) = app.checked_licence(AMARA, "Amara Okafor").await;
    assert_eq!(approved["status"], "approved");
    let id = id_of(&approved);
    let due = db::recheck_due_at(&app.pool, id).await;
    let days = (due - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "due in 30 days, not {days}");
    let verification = &app.state.verification;

    // Unchanged: scheduled again.
    db::recheck_due_now(&app.pool, id).await;
    let round = verification.recheck_due().await.expect("round");
    assert_eq!((round.leased, round.unchanged), (1, 1));
    assert_eq!(verification.recheck_due().await.expect("round").leased, 0);

    // The registry is down: nothing changes, it is asked again later.
    db::recheck_due_now(&app.pool, id).await;
    registry.failing.store(true, Ordering::SeqCst);
    let round = verification.recheck_due().await.expect("round");
    assert_eq!(round.unavailable, 1);
    assert_eq!(app.credential(&token, id).await["status"], "approved");
    assert_eq!(app.credential(&token, id).await["flagged_at"], Value::Null);
    registry.failing.store(false, Ordering::SeqCst);

    // Renewed at the board: the later expiry is taken.
    registry.records.lock().expect("lock")[0] = record("RN-100234", "2030-03-31");
    db::recheck_due_now(&app.pool, id).await;
    assert_eq!(verification.recheck_due().await.expect("round").renewed, 1);
    assert_eq!(app.credential(&token, id).await["expires_on"], "2030-03-31");
    assert_eq!(db::audit_rows(&app.pool, id, "credential.renewed").await, 1);

    // Lapsed at the board: flagged, still approved, a verifier decides.
    registry.records.lock().expect("lock")[0].status = "lapsed".into();
    db::recheck_due_now(&app.pool, id).await;
    assert_eq!(verification.recheck_due().await.expect("round").flagged, 1);
    let flagged = app.credential(&token, id).await;
    assert_eq!(flagged["status"], "approved");
    assert_eq!(flagged["reason_code"], "registry_changed");
    assert!(flagged["flagged_at"].is_string());
    assert_eq!(app.me(&token).await["verification_status"], "verified");
    let verifier = app.verifier_token().await;
    let items = queue(&app, &verifier).await;
    assert!(
        items
            .iter()
            .any(|i| i["credential"]["id"] == id.to_string()
                && i["reason_code"] == "registry_changed"),
        "{items:?}"
    );
    // Not re-checked again until decided.
    db::recheck_due_now(&app.pool, id).await;
    db::unschedule_recheck_if_flagged(&app.pool, id).await;
    assert_eq!(verification.recheck_due().await.expect("round").leased, 0);
    // The verifier keeps it (the flag clears) ...
    let kept = app.approve_credential(&verifier, id).await;
    let kept = assert_json(kept, StatusCode::OK).await;
    assert_eq!(
        (kept["status"].as_str(), kept["flagged_at"].is_null()),
        (Some("approved"), true)
    );
    assert_eq!(
        db::audit_rows(&app.pool, id, "credential.recheck_cleared").await,
        1
    );
    // ... or, flagged again, revokes it.
    db::recheck_due_now(&app.pool, id).await;
    assert_eq!(verification.recheck_due().await.expect("round").flagged, 1);
    let reason = "The board lists the licence as lapsed.";
    let revoked = app.revoke_credential(&verifier, id, reason).await;
    let revoked = assert_json(revoked, StatusCode::OK).await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoke_reason"], reason);
    assert_eq!(app.me(&token).await["verification_status"], "unverified");
    let twice = app.revoke_credential(&verifier, id, "again").await;
    assert_problem(twice, StatusCode::CONFLICT, "not_revocable").await;
    assert_eq!(db::audit_rows(&app.pool, id, "credential.revoked").await, 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn re_checks_on_two_nodes_lease_each_licence_once(pool: PgPool) {
    const LICENCES: usize = 60;
    let registry = Arc::new(ChangingRegistry::default());
    let app = spawn_app_with_registry(
        pool,
        |s| {
            s.registry_recheck.batch = 7;
            s.registry_recheck.concurrency = 4;
        },
        registry.clone(),
    )
    .await;
    for n in 0..LICENCES {
        let number = format!("RN-88{n:04}");
        registry
            .records
            .lock()
            .expect("lock")
            .push(record(&number, "2028-03-31"));
        let (_, nurse) = nurse_at(&app, (38.58, -121.46), 25.0).await;
        db::rn_licence_renumbered_and_due(&app.pool, nurse, &number).await;
    }
    let before = registry.lookups.load(Ordering::SeqCst);
    let second = app.state.verification.clone();
    let node = |v: shiftwire_verification::Verification| async move {
        let mut leased = 0;
        loop {
            let round = v.recheck_due().await.expect("round");
            if round.leased == 0 {
                return leased;
            }
            leased += round.leased;
        }
    };
    let (a, b) = futures::future::join(node(app.state.verification.clone()), node(second)).await;
    assert_eq!(a + b, LICENCES, "every due licence leased once ({a} + {b})");
    assert_eq!(registry.lookups.load(Ordering::SeqCst) - before, LICENCES);
    let still_due = db::count_approved_due_for_recheck(&app.pool).await;
    assert_eq!(still_due, 0);
}

/// The three causes of losing a booking.
#[derive(Clone, Copy, Debug)]
enum Cause {
    Revocation,
    Suspension,
    Expiry,
}

async fn a_booking_follows_eligibility(pool: PgPool, cause: Cause) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (booked, booked_id) = nurse_at(&app, (38.58, -121.46), 25.0).await;
    let (other, _) = nurse_at(&app, (38.59, -121.47), 25.0).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let booking = book(&app, &booked, shift).await;
    let mut nurse_ws = Ws::connect(&app, &booked).await;
    let mut other_ws = Ws::connect(&app, &other).await;
    let mut scheduler_ws = Ws::connect(&app, &f.scheduler).await;

    let licence = app.credential_of_kind(booked_id, CredentialKind::RN).await;
    match cause {
        Cause::Revocation => {
            let verifier = app.verifier_token().await;
            let reason = "The board revoked this licence.";
            let response = app.revoke_credential(&verifier, licence, reason).await;
            assert_json(response, StatusCode::OK).await;
        }
        Cause::Suspension => {
            let admin = app.admin_token().await;
            let reason = "Under investigation";
            let response = app.suspend_nurse(&admin, booked_id, reason).await;
            assert_json(response, StatusCode::OK).await;
        }
        Cause::Expiry => {
            // The board corrected the expiry to a date already past; the sweeper expires it.
            db::credential_expired_yesterday(&app.pool, licence).await;
            assert_eq!(
                app.state.verification.sweep_expired().await.expect("sweep"),
                1
            );
        }
    }

    // The scheduler hears the shift was released because the nurse may no longer work it.
    let released = loop {
        let frame = scheduler_ws.next().await;
        if frame["type"] == "shift.released" {
            break frame;
        }
    };
    assert_eq!(released["reason"], "nurse_ineligible", "{cause:?}");
    assert_eq!(released["shift_id"], shift.to_string());
    assert_eq!(released["booking_id"], booking.to_string());
    // The nurse hears her booking was cancelled, and why.
    let updated = loop {
        let frame = nurse_ws.next().await;
        if frame["type"] == "booking.updated" {
            break frame;
        }
        assert_ne!(frame["type"], "shift.offered", "{cause:?}: {frame}");
    };
    assert_eq!(updated["booking"]["status"], "cancelled");
    assert_eq!(updated["booking"]["cancel_reason"], "nurse_ineligible");
    // The other eligible nurse is offered the shift again.
    let offered = shiftwire_test_support::ws::offer_of(&mut other_ws, shift).await;
    assert!(offered["seq"].as_i64() > Some(0));
    match cause {
        Cause::Suspension => {
            assert_eq!(nurse_ws.close_code().await, Some(1008));
        }
        Cause::Revocation | Cause::Expiry => {
            // Nothing more for her before a sentinel: no re-offer of the lost shift.
            sentinel(&app, &booked).await;
            loop {
                let frame = nurse_ws.next().await;
                assert_ne!(frame["type"], "shift.offered", "{cause:?}: {frame}");
                if frame["type"] == "verification.updated"
                    && frame["credential"]["kind"] == CredentialKind::ACLS.as_str()
                {
                    break;
                }
            }
        }
    }
    let shift_status = app.shift(f.id, shift).await.status;
    assert_eq!(shift_status.as_str(), "open");
    let cancelled = app
        .state
        .matching
        .booking(booked_id, booking)
        .await
        .expect("booking");
    let (status, reason, detail) = (
        cancelled.status,
        cancelled.cancel_reason,
        cancelled.cancel_detail,
    );
    assert_eq!(status.as_str(), "cancelled");
    assert_eq!(reason.as_deref(), Some("nurse_ineligible"));
    let expected_rule = match cause {
        Cause::Suspension => "suspended",
        Cause::Revocation | Cause::Expiry => "not_verified",
    };
    assert_eq!(detail.as_deref(), Some(expected_rule));
    // The other nurse can claim it now.
    book(&app, &other, shift).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_revoked_licence_releases_future_bookings(pool: PgPool) {
    a_booking_follows_eligibility(pool, Cause::Revocation).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_suspension_releases_future_bookings(pool: PgPool) {
    a_booking_follows_eligibility(pool, Cause::Suspension).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_expired_licence_releases_future_bookings(pool: PgPool) {
    a_booking_follows_eligibility(pool, Cause::Expiry).await;
}
