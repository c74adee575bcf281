//! Pushes to nurses whose app is closed, against real HTTP servers started inside the
//! tests standing in for the providers: a webhook recorder, FCM (its OAuth token endpoint
//! and `messages:send`) and APNs (HTTP/2). Devices and preferences over the real API;
//! presence from real WebSockets.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Version},
    response::IntoResponse,
    routing::post,
};
use serde_json::{Value, json};
use shiftwire_api::config::PushProvider;
use shiftwire_test_support::builders::{
    Facility, facility, id_of, nearby_nurse, post_shift, put_on_list, shift_body,
};
use shiftwire_test_support::ws::Ws;
use shiftwire_test_support::{TestApp, assert_json, db, eventually, spawn_app_with};
use sqlx::PgPool;
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};
use uuid::Uuid;

/// One request a stand-in provider received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    version: Version,
    headers: HeaderMap,
    body: Value,
}

/// A provider stand-in: records every request, answers with the scripted statuses in
/// turn (then 200), or never answers while `hang` is set.
#[derive(Default)]
struct StandIn {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<(u16, Value)>>,
    hang: std::sync::atomic::AtomicBool,
}

impl StandIn {
    fn answer_next(&self, status: u16, body: Value) {
        self.script.lock().expect("lock").push_back((status, body));
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn pushes(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| !r.path.ends_with("/token"))
            .collect()
    }

    async fn wait_for_pushes(&self, n: usize, what: &str) -> Vec<Received> {
        eventually(what, || async { self.pushes().len() >= n }).await;
        self.pushes()
    }
}

async fn record(
    State(stand_in): State<Arc<StandIn>>,
    Path(path): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    stand_in.received.lock().expect("lock").push(Received {
        path: format!("/{path}"),
        version,
        headers,
        body,
    });
    if stand_in.hang.load(std::sync::atomic::Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    if path.ends_with("token") {
        return (
            StatusCode::OK,
            Json(json!({ "access_token": "stand-in-oauth-token", "expires_in": 3600 })),
        );
    }
    let (status, answer) = stand_in
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or((200, json!({ "name": "projects/p/messages/1" })));
    (StatusCode::from_u16(status).expect("status"), Json(answer))
}

/// Starts a stand-in on loopback (HTTP/1.1 and HTTP/2 without TLS); its base URL.
async fn stand_in() -> (Arc<StandIn>, String) {
    let stand_in = Arc::new(StandIn::default());
    let app = Router::new()
        .route("/{*path}", post(record))
        .with_state(stand_in.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (stand_in, format!("http://{addr}"))
}

/// Shiftwire pushing through `provider`, with a short coalescing window and quick
/// presence.
async fn app_pushing(pool: PgPool, provider: PushProvider, coalesce_secs: u64) -> TestApp {
    spawn_app_with(pool, move |s| {
        s.push_provider = provider;
        s.push_timeout = Duration::from_secs(1);
        s.push.coalesce = Duration::from_secs(coalesce_secs);
        s.push.presence_interval = Duration::from_millis(200);
        s.push.poll = Duration::from_millis(20);
    })
    .await
}

async fn webhook_app(pool: PgPool, coalesce_secs: u64) -> (TestApp, Arc<StandIn>) {
    let (recorder, base) = stand_in().await;
    let url = format!("{base}/push").parse().expect("url");
    let app = app_pushing(pool, PushProvider::Webhook { url }, coalesce_secs).await;
    (app, recorder)
}

async fn register(app: &TestApp, token: &str, platform: &str, device_token: &str) -> Value {
    let body = json!({ "platform": platform, "token": device_token });
    assert_json(
        app.post("/v1/me/devices", &body, Some(token)).await,
        reqwest::StatusCode::CREATED,
    )
    .await
}

/// A verified nurse near the facility, with one device; (access token, id).
async fn offline_nurse(app: &TestApp, device_token: &str) -> (String, Uuid) {
    let (token, id) = nearby_nurse(app).await;
    register(app, &token, "android", device_token).await;
    (token, id)
}

async fn prefs(app: &TestApp, token: &str, patch: Value) -> Value {
    assert_json(
        app.patch("/v1/me/notification-preferences", &patch, Some(token))
            .await,
        reqwest::StatusCode::OK,
    )
    .await
}

/// Waits until every push job of `nurse_id` was settled without a push because she held
/// a socket (`last_error` `online`).
async fn settled_as_online(app: &TestApp, nurse_id: Uuid) {
    eventually("her push jobs are settled as online", || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT bool_and(failed_at IS NOT NULL AND last_error = 'online') FROM push_jobs WHERE nurse_id = $1",
        )
        .bind(nurse_id)
        .fetch_one(&app.pool)
        .await
        .unwrap_or(false)
    })
    .await;
}

async fn shift(app: &TestApp, f: &Facility) -> Uuid {
    id_of(&post_shift(app, f, &shift_body(24 * 60, 8)).await)
}

/// Quiet hours from an hour ago to an hour from now, in UTC.
fn quiet_now() -> Value {
    let now = chrono::Utc::now();
    let at = |hours| {
        (now + chrono::Duration::hours(hours))
            .format("%H:%M")
            .to_string()
    };
    json!({ "start": at(-1), "end": at(1), "timezone": "UTC" })
}

/// Waits until the planner has read every event and every due job is settled.
async fn settled(app: &TestApp) {
    eventually("every push planned and settled", || {
        db::pushes_settled(&app.pool)
    })
    .await;
}

/// Pushes addressed to `device_token`.
fn to(pushes: &[Received], device_token: &str) -> Vec<Value> {
    pushes
        .iter()
        .filter(|r| r.body["token"] == device_token)
        .map(|r| r.body.clone())
        .collect()
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn devices_and_preferences_over_the_api(pool: PgPool) {
    let (app, _recorder) = webhook_app(pool, 60).await;
    let (amara, amara_id) = nearby_nurse(&app).await;
    let (grace, grace_id) = nearby_nurse(&app).await;
    let device = register(&app, &amara, "ios", "apns-device-token-0001").await;
    assert_eq!(device["platform"], "ios");
    // The same token registered by another nurse moves to her.
    register(&app, &grace, "ios", "apns-device-token-0001").await;
    assert_eq!(db::count_devices(&app.pool, amara_id).await, 0);
    assert_eq!(db::count_devices(&app.pool, grace_id).await, 1);
    // Amara cannot delete Grace's device; Grace can.
    let path = format!("/v1/me/devices/{}", device["id"].as_str().expect("id"));
    let theirs = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&amara)
        .send()
        .await
        .expect("delete");
    assert_eq!(theirs.status(), 404);
    for bad in [
        json!({ "platform": "blackberry", "token": "abcdefgh1234" }),
        json!({ "platform": "ios", "token": "short" }),
    ] {
        let refused = app.post("/v1/me/devices", &bad, Some(&amara)).await;
        assert_eq!(refused.status(), 422, "{bad}");
    }

    let defaults = assert_json(
        app.get("/v1/me/notification-preferences", Some(&amara))
            .await,
        reqwest::StatusCode::OK,
    )
    .await;
    assert_eq!(
        defaults,
        json!({ "push_offers": true, "sms_urgent": false, "quiet_hours": null,
                "min_hourly_rate_cents": null, "roles": null })
    );
    let changed = prefs(
        &app,
        &amara,
        json!({ "quiet_hours": { "start": "22:00", "end": "07:00", "timezone": "America/Los_Angeles" },
                "min_hourly_rate_cents": 6000, "roles": ["RN"] }),
    )
    .await;
    assert_eq!(changed["quiet_hours"]["timezone"], "America/Los_Angeles");
    assert_eq!(changed["push_offers"], true, "an absent field stays");
    let cleared = prefs(&app, &amara, json!({ "quiet_hours": null })).await;
    assert_eq!(cleared["quiet_hours"], Value::Null);
    assert_eq!(cleared["min_hourly_rate_cents"], 6000);
    let bad = app
        .patch(
            "/v1/me/notification-preferences",
            &json!({ "quiet_hours": { "start": "22:00", "end": "07:00", "timezone": "Mars/Base" } }),
            Some(&amara),
        )
        .await;
    assert_eq!(bad.status(), 422);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_offline_eligible_nurse_gets_one_push_and_an_online_one_none(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 60).await;
    let f = facility(&app, "Mercy General").await;
    let (_offline, _) = offline_nurse(&app, "offline-device-token-1").await;
    let (online, online_id) = offline_nurse(&app, "online-device-token-1").await;
    let mut ws = Ws::connect(&app, &online).await;
    eventually("the online nurse's presence", || {
        db::is_present(&app.pool, online_id)
    })
    .await;

    let shift_id = shift(&app, &f).await;
    let pushes = recorder
        .wait_for_pushes(1, "the offline nurse's push")
        .await;
    let offline_pushes = to(&pushes, "offline-device-token-1");
    assert_eq!(offline_pushes.len(), 1, "{pushes:?}");
    let push = &offline_pushes[0];
    assert_eq!(push["platform"], "android");
    assert_eq!(push["data"]["type"], "shift.offered");
    assert_eq!(push["data"]["shift_id"], shift_id.to_string());
    assert!(!push["body"].as_str().expect("body").is_empty());
    // The online nurse heard of it over her socket, and gets no push.
    let offer = shiftwire_test_support::ws::offer_of(&mut ws, shift_id).await;
    assert_eq!(offer["shift"]["id"], shift_id.to_string());
    settled_as_online(&app, online_id).await;
    assert!(to(&recorder.pushes(), "online-device-token-1").is_empty());
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn preferences_that_refuse_an_offer_mean_no_push(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 60).await;
    let f = facility(&app, "Mercy General").await;
    let (opted_out, opted_out_id) = offline_nurse(&app, "opted-out-token-1").await;
    prefs(&app, &opted_out, json!({ "push_offers": false })).await;
    let (pricey, pricey_id) = offline_nurse(&app, "pricey-token-0001").await;
    prefs(&app, &pricey, json!({ "min_hourly_rate_cents": 9000 })).await;
    let (lpn_only, lpn_only_id) = offline_nurse(&app, "lpn-only-token-01").await;
    prefs(&app, &lpn_only, json!({ "roles": ["LPN"] })).await;
    let (quiet, quiet_id) = offline_nurse(&app, "quiet-now-token-1").await;
    prefs(&app, &quiet, json!({ "quiet_hours": quiet_now() })).await;
    let (_sentinel, _) = offline_nurse(&app, "sentinel-token-01").await;

    shift(&app, &f).await; // $65/h RN
    let pushes = recorder.wait_for_pushes(1, "the sentinel's push").await;
    assert_eq!(to(&pushes, "sentinel-token-01").len(), 1);
    // Jobs are planned per event in one transaction: the sentinel's job came with theirs.
    for (who, id) in [
        ("push_offers false", opted_out_id),
        ("rate under the minimum", pricey_id),
        ("role not listed", lpn_only_id),
        ("quiet hours", quiet_id),
    ] {
        assert_eq!(db::count_push_jobs(&app.pool, id).await, 0, "{who}");
    }
    assert_eq!(recorder.pushes().len(), 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn three_offers_in_the_window_are_one_push_then_one_digest(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 2).await;
    let f = facility(&app, "Mercy General").await;
    offline_nurse(&app, "coalesced-token-1").await;
    for hours in [24, 48, 72] {
        post_shift(&app, &f, &shift_body(hours * 60, 8)).await;
    }
    let pushes = recorder
        .wait_for_pushes(2, "the offer and the digest")
        .await;
    let mine = to(&pushes, "coalesced-token-1");
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[0]["data"]["type"], "shift.offered");
    assert_eq!(mine[1]["data"]["type"], "shift.digest");
    assert_eq!(mine[1]["body"], "2 new shifts near you.");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_digest_due_in_quiet_hours_is_not_sent(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 2).await;
    let f = facility(&app, "Mercy General").await;
    let (token, id) = offline_nurse(&app, "digest-quiet-token").await;
    post_shift(&app, &f, &shift_body(24 * 60, 8)).await;
    recorder.wait_for_pushes(1, "the offer push").await;
    // A second offer in the window is folded into a digest due when the window ends;
    // by then the nurse's quiet hours have begun.
    post_shift(&app, &f, &shift_body(48 * 60, 8)).await;
    eventually("the digest is planned", || async {
        db::push_jobs_of(&app.pool, id, "digest").await.len() == 1
    })
    .await;
    prefs(&app, &token, json!({ "quiet_hours": quiet_now() })).await;
    eventually("the digest is settled", || async {
        db::push_jobs_of(&app.pool, id, "digest").await
            == vec![(false, Some("quiet hours".to_owned()))]
    })
    .await;
    assert_eq!(to(&recorder.pushes(), "digest-quiet-token").len(), 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn urgent_shifts_are_texted_to_offline_nurses_who_asked_at_most_twice_a_day(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 60).await;
    let f = facility(&app, "Mercy General").await;
    // Asked for urgent texts; no device at all.
    let (texted, texted_id) = nearby_nurse(&app).await;
    prefs(&app, &texted, json!({ "sms_urgent": true })).await;
    // Asked, but in her quiet hours.
    let (quiet, quiet_id) = nearby_nurse(&app).await;
    prefs(
        &app,
        &quiet,
        json!({ "sms_urgent": true, "quiet_hours": quiet_now() }),
    )
    .await;
    // Asked, but only above the shift's rate.
    let (pricey, pricey_id) = nearby_nurse(&app).await;
    prefs(
        &app,
        &pricey,
        json!({ "sms_urgent": true, "min_hourly_rate_cents": 9000 }),
    )
    .await;
    // Asked, but her app is open.
    let (online, online_id) = nearby_nurse(&app).await;
    prefs(&app, &online, json!({ "sms_urgent": true })).await;
    let _ws = Ws::connect(&app, &online).await;
    eventually("the online nurse's presence", || {
        db::is_present(&app.pool, online_id)
    })
    .await;
    // Did not ask (the default): a push, no text.
    let (_pushed, pushed_id) = offline_nurse(&app, "urgent-sentinel-01").await;

    // A shift a day away is not urgent; three starting within 12 hours are.
    post_shift(&app, &f, &shift_body(24 * 60, 8)).await;
    for starts_in_min in [120, 180, 240] {
        post_shift(&app, &f, &shift_body(starts_in_min, 8)).await;
    }
    recorder.wait_for_pushes(1, "the sentinel's push").await;
    settled(&app).await;

    let texts = app.sms.sent_to(&db::phone_of(&app.pool, texted_id).await);
    assert_eq!(texts.len(), 2, "two urgent texts a day: {texts:?}");
    for text in &texts {
        assert_eq!(text, shiftwire_notify::push::URGENT_TEXT);
        assert!(
            !text.contains("Mercy") && !text.contains("4 West"),
            "{text}"
        );
    }
    for (who, id) in [
        ("quiet hours", quiet_id),
        ("rate under her minimum", pricey_id),
        ("app open", online_id),
        ("did not ask", pushed_id),
    ] {
        let phone = db::phone_of(&app.pool, id).await;
        assert!(app.sms.sent_to(&phone).is_empty(), "{who}");
    }
    assert!(
        db::push_jobs_of(&app.pool, online_id, "urgent_sms")
            .await
            .iter()
            .all(|(sent, why)| !sent && why.as_deref() == Some("online"))
    );
    assert_eq!(to(&recorder.pushes(), "urgent-sentinel-01").len(), 1);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn urgent_texts_share_the_hourly_sms_budget_and_leave_room_for_sign_in(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.otp.sends_per_hour = 5;
        s.push.presence_interval = Duration::from_millis(200);
        s.push.poll = Duration::from_millis(20);
    })
    .await;
    let f = facility(&app, "Mercy General").await;
    let mut nurses = Vec::new();
    for _ in 0..5 {
        let (token, id) = nearby_nurse(&app).await;
        prefs(&app, &token, json!({ "sms_urgent": true })).await;
        nurses.push(id);
    }
    post_shift(&app, &f, &shift_body(120, 8)).await;
    settled(&app).await;
    let mut texted = 0;
    for id in &nurses {
        texted += app.sms.sent_to(&db::phone_of(&app.pool, *id).await).len();
    }
    // Urgent texts stop at four fifths of the hour's five.
    assert_eq!(texted, 4);
    let refused: usize = {
        let mut refused = 0;
        for id in &nurses {
            refused += db::push_jobs_of(&app.pool, *id, "urgent_sms")
                .await
                .iter()
                .filter(|(_, why)| why.as_deref() == Some("sms budget"))
                .count();
        }
        refused
    };
    assert_eq!(refused, 1);
    // A sign-in code still goes, and it is the fifth text of the hour: the next is refused.
    assert_eq!(
        app.request_code("+14155550188").await.status(),
        reqwest::StatusCode::ACCEPTED
    );
    assert_eq!(
        app.request_code("+14155550199").await.status(),
        reqwest::StatusCode::TOO_MANY_REQUESTS
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_dead_token_is_deleted_and_a_503_then_200_is_delivered_once(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 60).await;
    let f = facility(&app, "Mercy General").await;
    let (_dead, dead_id) = offline_nurse(&app, "dead-device-token").await;
    recorder.answer_next(410, json!({}));
    shift(&app, &f).await;
    eventually("the dead device is deleted", || async {
        db::count_devices(&app.pool, dead_id).await == 0
    })
    .await;

    let (_flaky, _) = offline_nurse(&app, "flaky-device-tok1").await;
    recorder.answer_next(503, json!({}));
    let before = recorder.pushes().len();
    shift(&app, &f).await;
    let pushes = recorder
        .wait_for_pushes(before + 2, "a retry after the 503")
        .await;
    let flaky = to(&pushes, "flaky-device-tok1");
    assert_eq!(
        flaky.len(),
        2,
        "one refused with 503, one delivered: {flaky:?}"
    );
    // Nothing more is sent for it: the job is marked sent.
    eventually("the job is sent", || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT bool_and(sent_at IS NOT NULL) FROM push_jobs WHERE attempts = 2",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap_or(false)
    })
    .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_provider_that_hangs_never_holds_up_offers_over_the_socket(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 60).await;
    recorder
        .hang
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let f = facility(&app, "Mercy General").await;
    offline_nurse(&app, "hanging-device-01").await;
    let first = shift(&app, &f).await;
    recorder.wait_for_pushes(1, "the hanging call").await;
    // While the provider hangs, a connected nurse is offered the next shift at once.
    let (online, _) = nearby_nurse(&app).await;
    let mut ws = Ws::connect(&app, &online).await;
    let next = shift(&app, &f).await;
    let offer = shiftwire_test_support::ws::offer_of(&mut ws, next).await;
    assert_eq!(offer["shift"]["id"], next.to_string());
    assert_ne!(first, next);
    // And posting answered normally (the request above), whatever the provider does.
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn signing_out_forgets_the_sessions_devices(pool: PgPool) {
    let (app, _recorder) = webhook_app(pool, 60).await;
    let (_token, nurse) = nearby_nurse(&app).await;
    let phone: String = sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
        .bind(nurse)
        .fetch_one(&app.pool)
        .await
        .expect("phone");
    let session = app.nurse_session(&phone).await;
    register(&app, &session.access, "ios", "session-device-01").await;
    assert_eq!(db::count_devices(&app.pool, nurse).await, 1);
    app.sign_out(&session.refresh).await;
    eventually("the device is forgotten", || async {
        db::count_devices(&app.pool, nurse).await == 0
    })
    .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn two_nodes_push_each_of_200_offline_nurses_once(pool: PgPool) {
    let (recorder, base) = stand_in().await;
    let url: reqwest::Url = format!("{base}/push").parse().expect("url");
    let node_a = app_pushing(pool.clone(), PushProvider::Webhook { url: url.clone() }, 60).await;
    let node_b = app_pushing(pool, PushProvider::Webhook { url }, 60).await;
    let f = facility(&node_a, "Mercy General").await;
    for n in 0..200 {
        offline_nurse(&node_a, &format!("two-nodes-token-{n:04}")).await;
    }
    // A nurse with a device whose app is open on node B: online for node A too.
    let (online, online_id) = offline_nurse(&node_a, "two-nodes-online-b").await;
    let _ws = Ws::connect(&node_b, &online).await;
    eventually("her presence", || db::is_present(&node_a.pool, online_id)).await;
    let shift_id = shift(&node_b, &f).await;
    let pushes = recorder.wait_for_pushes(200, "200 pushes").await;
    // A little longer, for a duplicate to show if there were one.
    settled(&node_a).await;
    let pushes = if recorder.pushes().len() > pushes.len() {
        recorder.pushes()
    } else {
        pushes
    };
    assert_eq!(pushes.len(), 200);
    assert!(to(&pushes, "two-nodes-online-b").is_empty());
    let tokens: std::collections::HashSet<String> = pushes
        .iter()
        .map(|p| p.body["token"].as_str().expect("token").to_owned())
        .collect();
    assert_eq!(tokens.len(), 200, "each nurse exactly once");
    assert!(
        pushes
            .iter()
            .all(|p| p.body["data"]["shift_id"] == shift_id.to_string())
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn fcm_gets_a_service_account_token_once_and_unregistered_tokens_are_deleted(pool: PgPool) {
    let (fcm, base) = stand_in().await;
    let dir = tempfile::tempdir().expect("dir");
    let credentials = dir.path().join("service-account.json");
    let key = std::fs::read_to_string(fixture("fcm-test-key.pem")).expect("key");
    std::fs::write(
        &credentials,
        json!({
            "type": "service_account",
            "project_id": "shiftwire-test",
            "client_email": "push@shiftwire-test.iam.gserviceaccount.com",
            "private_key": key,
            "token_uri": format!("{base}/token"),
        })
        .to_string(),
    )
    .expect("write");
    let app = app_pushing(
        pool,
        PushProvider::Fcm {
            credentials_file: credentials,
            endpoint: base.clone(),
        },
        60,
    )
    .await;
    let f = facility(&app, "Mercy General").await;
    offline_nurse(&app, "fcm-registration-1").await;
    offline_nurse(&app, "fcm-registration-2").await;
    // Whichever device is sent to second is reported unregistered.
    fcm.answer_next(200, json!({ "name": "projects/shiftwire-test/messages/1" }));
    fcm.answer_next(
        404,
        json!({ "error": { "status": "NOT_FOUND", "details": [{ "errorCode": "UNREGISTERED" }] } }),
    );
    shift(&app, &f).await;
    fcm.wait_for_pushes(2, "two FCM sends").await;
    let requests = fcm.received();
    let token_requests: Vec<&Received> = requests.iter().filter(|r| r.path == "/token").collect();
    assert_eq!(token_requests.len(), 1, "one OAuth exchange for both sends");
    let assertion = token_requests[0].body.as_str().expect("form");
    assert!(assertion.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"));
    // The assertion is an RS256 JWT of the service account, for the token endpoint.
    let jwt = assertion.split("assertion=").nth(1).expect("assertion");
    let public = std::fs::read(fixture("fcm-test-key.pub.pem")).expect("public key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("{base}/token")]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_rsa_pem(&public).expect("key"),
        &validation,
    )
    .expect("a valid assertion")
    .claims;
    assert_eq!(claims["iss"], "push@shiftwire-test.iam.gserviceaccount.com");
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    for send in requests.iter().filter(|r| r.path != "/token") {
        assert_eq!(send.path, "/v1/projects/shiftwire-test/messages:send");
        assert_eq!(send.headers["authorization"], "Bearer stand-in-oauth-token");
        assert_eq!(send.body["message"]["android"]["priority"], "high");
    }
    let second = requests
        .iter()
        .filter(|r| r.path != "/token")
        .nth(1)
        .expect("second send");
    let dead_token = second.body["message"]["token"].as_str().expect("token");
    eventually("the unregistered device is deleted", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM devices WHERE token = $1")
            .bind(dead_token)
            .fetch_one(&app.pool)
            .await
            .unwrap_or(1)
            == 0
    })
    .await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn apns_is_sent_over_http2_with_a_signed_provider_token(pool: PgPool) {
    let (apns, base) = stand_in().await;
    let app = app_pushing(
        pool,
        PushProvider::Apns {
            key_file: fixture("apns-test-key.p8"),
            key_id: "KEY1234567".into(),
            team_id: "TEAM123456".into(),
            topic: "org.shiftwire.nurse".into(),
            endpoint: base,
        },
        60,
    )
    .await;
    let f = facility(&app, "Mercy General").await;
    let (_nurse, nurse_id) = nearby_nurse(&app).await;
    app.state
        .push
        .register_device(nurse_id, None, "ios", "a1b2c3d4e5f60718293a4b5c6d7e8f90")
        .await
        .expect("device");
    apns.answer_next(410, json!({ "reason": "Unregistered" }));
    shift(&app, &f).await;
    let pushes = apns.wait_for_pushes(1, "the APNs send").await;
    let send = &pushes[0];
    assert_eq!(send.version, Version::HTTP_2, "APNs is HTTP/2");
    assert_eq!(send.path, "/3/device/a1b2c3d4e5f60718293a4b5c6d7e8f90");
    assert_eq!(send.headers["apns-topic"], "org.shiftwire.nurse");
    assert_eq!(send.headers["apns-priority"], "10");
    assert_eq!(send.headers["apns-push-type"], "alert");
    assert!(send.headers.contains_key("apns-collapse-id"));
    assert_eq!(send.body["type"], "shift.offered");
    let bearer = send.headers["authorization"].to_str().expect("auth");
    let jwt = bearer.strip_prefix("bearer ").expect("bearer");
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    assert_eq!(header.kid.as_deref(), Some("KEY1234567"));
    let public = std::fs::read(fixture("apns-test-key.pub.pem")).expect("public key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_ec_pem(&public).expect("key"),
        &validation,
    )
    .expect("signed with the team's key")
    .claims;
    assert_eq!(claims["iss"], "TEAM123456");
    eventually("the unregistered device is deleted", || async {
        db::count_devices(&app.pool, nurse_id).await == 0
    })
    .await;
}

/// The index of reach boxes finds exactly the nurses whose own radius takes in a place,
/// by the same geodesic distance as the eligibility rule: randomised homes, radii (1 to
/// 200 km) and places, at 38° and at 64° north (where a degree of longitude is short),
/// and live locations that count only while fresh.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nurses_near_are_the_nurses_whose_reach_takes_the_place_in(pool: PgPool) {
    use shiftwire_core::{Coordinates, eligibility::distance_m};
    let app = spawn_app_with(pool, |_| {}).await;
    // A small deterministic generator: the same draws every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut draw = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for (centre_lat, centre_lon) in [(38.5, -121.5), (64.0, -147.7)] {
        let mut nurses = Vec::new();
        for n in 0..150 {
            let home = (
                centre_lat + (draw() * 2.0 - 1.0) * 2.5,
                centre_lon + (draw() * 2.0 - 1.0) * 4.0,
            );
            let km = 1.0 + draw() * 199.0;
            let phone = format!(
                "+1415557{:04}",
                n + if centre_lat > 50.0 { 5000 } else { 0 }
            );
            let id = db::nurse_with_home(&app.pool, &phone, "Reach nurse", home, km).await;
            // A third also report a live location somewhere else; half of those are stale.
            let live = (n % 3 == 0).then(|| {
                (
                    centre_lat + (draw() * 2.0 - 1.0) * 2.5,
                    centre_lon + (draw() * 2.0 - 1.0) * 4.0,
                )
            });
            let fresh = n % 6 == 0;
            if let Some(at) = live {
                let minutes_ago = if fresh { 1 } else { 20 };
                db::live_location_reported(&app.pool, id, at, minutes_ago).await;
            }
            nurses.push((id, home, km, live.filter(|_| fresh)));
        }
        for _ in 0..40 {
            let at = Coordinates::new(
                centre_lat + (draw() * 2.0 - 1.0) * 2.5,
                centre_lon + (draw() * 2.0 - 1.0) * 4.0,
            )
            .expect("place");
            let mut found = app.state.matching.nurses_near(at).await.expect("near");
            found.sort();
            let mut expected: Vec<Uuid> = nurses
                .iter()
                .filter(|(_, home, km, live)| {
                    let within = |(lat, lon): (f64, f64)| {
                        distance_m(Coordinates::new(lat, lon).expect("point"), at) <= km * 1000.0
                    };
                    within(*home) || live.is_some_and(within)
                })
                .map(|(id, ..)| *id)
                .collect();
            expected.sort();
            assert_eq!(found, expected, "at {at:?}");
        }
        sqlx::query("DELETE FROM nurse_profiles")
            .execute(&app.pool)
            .await
            .expect("clear");
    }
}

async fn boost(app: &TestApp, f: &Facility, shift: Uuid, cents: i64) -> reqwest::Response {
    let path = format!("/v1/shifts/{shift}/boost");
    app.post(
        &path,
        &json!({ "hourly_rate_cents": cents }),
        Some(&f.scheduler),
    )
    .await
}

/// A boost raises the rate, is audited, and announces the shift again: `shift.updated`
/// to the socket holding its offer, a push to the offline nurse, and (a boosted shift is
/// urgent, even three days out) a text to the nurse who asked for urgent texts. A boost
/// that does not raise the rate, or of a shift no longer open, changes nothing.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_boost_raises_the_rate_and_announces_the_shift_again_as_urgent(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 0).await;
    let f = facility(&app, "Mercy General").await;
    offline_nurse(&app, "boosted-device-01").await;
    let (texted, texted_id) = nearby_nurse(&app).await;
    prefs(&app, &texted, json!({ "sms_urgent": true })).await;
    let texted_phone = db::phone_of(&app.pool, texted_id).await;
    let (online, online_id) = nearby_nurse(&app).await;
    let mut ws = Ws::connect(&app, &online).await;
    eventually("the online nurse's presence", || {
        db::is_present(&app.pool, online_id)
    })
    .await;

    let shift_id = id_of(&post_shift(&app, &f, &shift_body(3 * 24 * 60, 8)).await);
    shiftwire_test_support::ws::offer_of(&mut ws, shift_id).await;
    recorder.wait_for_pushes(1, "the offer push").await;
    settled(&app).await;
    assert!(app.sms.sent_to(&texted_phone).is_empty(), "not urgent yet");

    let boosted = assert_json(
        boost(&app, &f, shift_id, 8000).await,
        reqwest::StatusCode::OK,
    )
    .await;
    assert_eq!(boosted["hourly_rate_cents"], 8000);
    assert!(boosted["boosted_at"].is_string(), "{boosted}");
    let frames = ws.frames_until("shift.updated").await;
    let updated = frames.last().expect("shift.updated");
    assert_eq!(updated["shift"]["id"], shift_id.to_string());
    assert_eq!(updated["shift"]["hourly_rate_cents"], 8000);
    let pushes = recorder.wait_for_pushes(2, "the boost's push").await;
    let mine = to(&pushes, "boosted-device-01");
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(
        mine.iter()
            .all(|p| p["data"]["shift_id"] == shift_id.to_string())
    );
    settled(&app).await;
    assert_eq!(
        app.sms.sent_to(&texted_phone),
        vec![shiftwire_notify::push::URGENT_TEXT.to_owned()]
    );
    let audited: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'shift.boosted' AND subject_id = $1",
    )
    .bind(shift_id)
    .fetch_one(&app.pool)
    .await
    .expect("audited");
    assert_eq!(audited["before"]["hourly_rate_cents"], 6500);
    assert_eq!(audited["after"]["hourly_rate_cents"], 8000);

    for cents in [8000, 7000] {
        let refused = boost(&app, &f, shift_id, cents).await;
        shiftwire_test_support::assert_problem(
            refused,
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
    }
    shiftwire_test_support::builders::cancel_shift(&app, &f, shift_id, "Census dropped").await;
    shiftwire_test_support::assert_problem(
        boost(&app, &f, shift_id, 9000).await,
        reqwest::StatusCode::CONFLICT,
        "shift_not_open",
    )
    .await;
    let rate: i32 = sqlx::query_scalar("SELECT hourly_rate_cents FROM shifts WHERE id = $1")
        .bind(shift_id)
        .fetch_one(&app.pool)
        .await
        .expect("rate");
    assert_eq!(rate, 8000);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_block_holds_for_pushes_and_a_no_show_is_pushed_to_her_and_reoffered(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 0).await;
    let f = facility(&app, "Mercy General").await;
    let (_blocked, blocked_id) = offline_nurse(&app, "blocked-token-0001").await;
    let (absent, _) = offline_nurse(&app, "absent-token-00001").await;
    let (_other, _) = offline_nurse(&app, "other-token-000001").await;
    let blocked = json!({ "reason": "Do not return" });
    assert_eq!(
        put_on_list(&app, &f, "blocks", blocked_id, &blocked).await,
        reqwest::StatusCode::NO_CONTENT
    );

    // A shift starting in an hour: the blocked nurse hears nothing of it.
    let shift_id = id_of(&post_shift(&app, &f, &shift_body(60, 8)).await);
    recorder
        .wait_for_pushes(2, "the two pushes of the shift")
        .await;
    settled(&app).await;
    assert!(to(&recorder.pushes(), "blocked-token-0001").is_empty());
    assert_eq!(db::count_push_jobs(&app.pool, blocked_id).await, 0);

    // The absent nurse takes it and never comes: she is told, the shift goes back out to
    // the other nurse (a second offer push) and never to her or the blocked nurse.
    let booking = shiftwire_test_support::builders::book(&app, &absent, shift_id).await;
    app.clock.advance(chrono::Duration::minutes(60 + 16));
    app.state.matching.mark_no_shows().await.expect("sweep");
    recorder
        .wait_for_pushes(4, "the no-show notice and the re-offer")
        .await;
    settled(&app).await;
    let pushes = recorder.pushes();
    let hers = to(&pushes, "absent-token-00001");
    assert_eq!(hers.len(), 2, "the offer, then the no-show: {hers:?}");
    assert_eq!(
        hers[1]["data"]["booking_id"],
        booking.to_string(),
        "{hers:?}"
    );
    let others = to(&pushes, "other-token-000001");
    assert_eq!(
        others.len(),
        2,
        "offered twice, once per opening: {others:?}"
    );
    assert!(
        others
            .iter()
            .all(|p| p["data"]["shift_id"] == shift_id.to_string())
    );
    assert!(to(&pushes, "blocked-token-0001").is_empty());
}

/// The row of `nurse_id` on any node: (node, seen_at).
async fn presence_row(
    pool: &PgPool,
    nurse_id: Uuid,
) -> Option<(Uuid, chrono::DateTime<chrono::Utc>)> {
    sqlx::query_as("SELECT node_id, seen_at FROM presence WHERE nurse_id = $1")
        .bind(nurse_id)
        .fetch_optional(pool)
        .await
        .expect("presence")
}

/// A node writes only the changes of its set of connected nurses and beats its own
/// heartbeat: a nurse who stays connected keeps the row written when she came, the
/// row of one who left goes, and the rows count while the node's heartbeat is fresh. A
/// node that stopped beating (a crash) no longer makes its nurses count as online.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn presence_is_written_as_changes_and_counts_while_its_node_beats(pool: PgPool) {
    let (app, recorder) = webhook_app(pool, 60).await;
    let f = facility(&app, "Mercy General").await;
    let (staying, staying_id) = offline_nurse(&app, "staying-token-0001").await;
    let (leaving, leaving_id) = offline_nurse(&app, "leaving-token-0001").await;
    let (_crashed, crashed_id) = offline_nurse(&app, "crashed-node-token-1").await;
    let mut staying_ws = Ws::connect(&app, &staying).await;
    let mut leaving_ws = Ws::connect(&app, &leaving).await;
    eventually("both nurses present", || async {
        db::is_present(&app.pool, staying_id).await && db::is_present(&app.pool, leaving_id).await
    })
    .await;
    let (node, came_at) = presence_row(&app.pool, staying_id).await.expect("row");

    leaving_ws.socket.close(None).await.expect("close");
    eventually("the nurse who left is gone", || async {
        !db::is_present(&app.pool, leaving_id).await
    })
    .await;
    // Several presence intervals (200 ms here) later, the heartbeat moved and her row
    // did not: nothing re-wrote it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        presence_row(&app.pool, staying_id).await,
        Some((node, came_at)),
        "a nurse who stays connected keeps the row written when she came"
    );
    let beat: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT seen_at FROM presence_nodes WHERE node_id = $1")
            .bind(node)
            .fetch_one(&app.pool)
            .await
            .expect("heartbeat");
    assert!(
        beat > came_at,
        "the node's heartbeat moves on: {beat} after {came_at}"
    );

    // A node that crashed ten minutes ago left a row behind for a nurse now offline.
    let gone_node = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO presence_nodes (node_id, seen_at) VALUES ($1, now() - interval '10 minutes');
         ",
    )
    .bind(gone_node)
    .execute(&app.pool)
    .await
    .expect("stale heartbeat");
    sqlx::query(
        "INSERT INTO presence (nurse_id, node_id, seen_at)
         VALUES ($1, $2, now() - interval '10 minutes')",
    )
    .bind(crashed_id)
    .bind(gone_node)
    .execute(&app.pool)
    .await
    .expect("stale row");

    let shift_id = shift(&app, &f).await;
    let pushes = recorder
        .wait_for_pushes(2, "the two offline nurses' pushes")
        .await;
    assert_eq!(to(&pushes, "crashed-node-token-1").len(), 1, "{pushes:?}");
    assert_eq!(to(&pushes, "leaving-token-0001").len(), 1, "{pushes:?}");
    let offer = shiftwire_test_support::ws::offer_of(&mut staying_ws, shift_id).await;
    assert_eq!(offer["shift"]["id"], shift_id.to_string());
    settled_as_online(&app, staying_id).await;
    assert!(to(&recorder.pushes(), "staying-token-0001").is_empty());
}
