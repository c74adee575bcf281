//! Secrets hygiene: a whole flow (sign-in by SMS and password, profile, credential and
//! document, identity, shift, claim, WebSocket by token and ticket, sign-out) runs with
//! every log line of the server captured at debug level, and none of them may hold a
//! phone number, a sign-in code, a password, a token, a ticket, a legal name, a date of
//! birth or document bytes.

use futures::StreamExt;
use reqwest::{StatusCode, multipart};
use serde_json::json;
use shiftwire_test_support::builders::{book, facility, id_of, post_shift, shift_body};
use shiftwire_test_support::{STAFF_PASSWORD, Session, assert_json, spawn_app, ws};
use sqlx::PgPool;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything logged in this test process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(
                    "debug,shiftwire_api=trace,shiftwire_auth=trace,shiftwire_notify=trace,\
                     shiftwire_matching=trace,shiftwire_verification=trace,tower_http=trace,\
                     hyper=info,hyper_util=info,h2=info,reqwest=info,rustls=info,\
                     tungstenite=info,tokio_tungstenite=info",
                )
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            // Another test of this process may have installed it first (cargo test);
            // then this capture stays empty and the assertion on its size fails loudly.
            let _ = tracing::subscriber::set_global_default(subscriber);
            captured
        })
        .clone()
}

/// Whether `secret` appears in `logs` as itself, not inside a longer run of letters and
/// digits (a six-digit code also occurs in timestamps' microseconds and in ids).
fn appears(logs: &str, secret: &str) -> bool {
    let part_of_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
    logs.match_indices(secret).any(|(at, _)| {
        !part_of_word(logs[..at].chars().next_back())
            && !part_of_word(logs[at + secret.len()..].chars().next())
    })
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn no_secret_or_personal_data_reaches_the_logs(pool: PgPool) {
    let captured = capture();
    let app = spawn_app(pool).await;

    // A nurse signs in by SMS and fills in her profile.
    let national = "(415) 555-0142";
    let Session { access, refresh } = app.nurse_session(national).await;
    let code = app.sms.last_code("+14155550142");
    let response = app
        .patch(
            "/v1/me",
            &json!({ "name": "Amara N. Okafor", "home": { "lat": 38.58, "lon": -121.46 } }),
            Some(&access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // Her licence (flagged: the registry spells her name differently), with a scanned card.
    let credential = app
        .submit_checked(
            &access,
            json!({ "kind": "RN", "number": "RN-100234", "issuing_state": "CA", "expires_on": "2028-03-31" }),
        )
        .await;
    let document_marker = "CONFIDENTIAL-LICENCE-SCAN-7f3a9c";
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend_from_slice(document_marker.as_bytes());
    pdf.extend_from_slice(b"\n%%EOF\n");
    let credential = id_of(&credential);
    let uploaded = app
        .upload_document(&access, credential, "licence.pdf", pdf)
        .await;
    assert_json(uploaded, StatusCode::CREATED).await;

    // Staff sign in with passwords, one wrong first.
    app.create_verifier().await;
    let wrong_password = "hunter2-is-not-it-either";
    assert_eq!(
        app.login("verifier@shiftwire.example", wrong_password)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app
        .login("verifier@shiftwire.example", STAFF_PASSWORD)
        .await;
    let login = assert_json(login, StatusCode::OK).await;
    let verifier = login["access_token"].as_str().expect("token").to_owned();
    // Her identity: legal name, date of birth, photo ID and selfie; the verifier looks at
    // the ID and approves, and her licence is checked again against the legal name.
    let legal_name = "Amara Nneka Okafor-Ibe";
    let date_of_birth = "1991-04-17";
    let photo_marker = "CONFIDENTIAL-PHOTO-ID-2b8e41";
    let mut photo = shiftwire_test_support::PNG.to_vec();
    photo.extend_from_slice(photo_marker.as_bytes());
    let image = |bytes: Vec<u8>| {
        multipart::Part::bytes(bytes)
            .file_name("id.png")
            .mime_str("image/png")
            .expect("mime")
    };
    let submitted = app
        .client
        .post(app.url("/v1/me/identity"))
        .bearer_auth(&access)
        .multipart(
            multipart::Form::new()
                .text("legal_name", legal_name)
                .text("date_of_birth", date_of_birth)
                .part("id_document", image(photo.clone()))
                .part("selfie", image(photo)),
        )
        .send()
        .await
        .expect("identity");
    let identity = id_of(&assert_json(submitted, StatusCode::CREATED).await);
    app.get_ok(
        &format!("/v1/admin/identities/{identity}/id-document"),
        &verifier,
    )
    .await;
    let approved = app.approve_identity(&verifier, identity).await;
    assert_json(approved, StatusCode::OK).await;
    app.credential_checked(credential).await;
    app.get_ok(
        &format!("/v1/admin/credentials/{credential}/document"),
        &verifier,
    )
    .await;
    let approved = app.approve_credential(&verifier, credential).await;
    assert_json(approved, StatusCode::OK).await;

    // A shift, her WebSocket (by header and by ticket), a claim, a sign-out.
    let f = facility(&app, "Mercy General").await;
    let request = ws::upgrade_request(&ws::ws_url(&app, ""), &access);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("ws");
    socket.next().await.expect("hello").expect("hello");
    let ticket = ws::ticket(&app, &access).await;
    let (mut by_ticket, _) =
        tokio_tungstenite::connect_async(ws::ws_url(&app, &format!("?ticket={ticket}")))
            .await
            .expect("ws by ticket");
    by_ticket.next().await.expect("hello").expect("hello");
    let mut body = shift_body(240, 8);
    body["required_certifications"] = json!([]);
    let shift = id_of(&post_shift(&app, &f, &body).await);
    socket.next().await.expect("offer").expect("offer");
    book(&app, &access, shift).await;
    let response = app.sign_out(&refresh).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    drop(socket);
    drop(by_ticket);
    app.shutdown.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).into_owned();
    assert!(appears("code=042917 sent", "042917"));
    assert!(!appears("at 15:36:22.042917Z", "042917"));
    assert!(
        logs.lines().count() > 50,
        "the capture must actually hold the server's logs ({} lines)",
        logs.lines().count()
    );
    let secrets = [
        ("phone (E.164)", "+14155550142".to_owned()),
        ("phone (digits)", "4155550142".to_owned()),
        ("phone (national)", national.to_owned()),
        ("sign-in code", code),
        ("password", STAFF_PASSWORD.to_owned()),
        ("wrong password", wrong_password.to_owned()),
        ("access token", access),
        ("refresh token", refresh),
        ("verifier token", verifier),
        ("ticket", ticket),
        ("document bytes", document_marker.to_owned()),
        ("photo ID bytes", photo_marker.to_owned()),
        ("legal name", legal_name.to_owned()),
        ("date of birth", date_of_birth.to_owned()),
    ];
    for (what, secret) in secrets {
        assert!(
            !appears(&logs, &secret),
            "the logs hold a {what}: {}",
            logs.lines()
                .find(|line| line.contains(&secret))
                .unwrap_or_default()
        );
    }
}
