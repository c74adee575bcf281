//! The portal's and console's pages over real HTTP: who may open which page (every page
//! route × every kind of staff member, and no one signed in), CSRF refusals that change
//! nothing, sessions that end with sign-out, suspension and idleness, the pages' WebSocket
//! on the session cookie from allowed origins only, and posting shifts for several dates
//! from a form. What a person sees in a browser is tested in `e2e/` with Chromium.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use shiftwire_core::Role;
use shiftwire_test_support::builders::{
    FACILITY_AT, Facility, acknowledge_handoff, book, check_in, check_out, facility, id_of,
    nearby_nurse, post_shift, shift_body, shifts_of,
};
use shiftwire_test_support::pages::{Browser, SESSION_COOKIE};
use shiftwire_test_support::ws::{Ws, refused_upgrade, ws_url};
use shiftwire_test_support::{PNG, TestApp, db, spawn_app};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Scheduler,
    OtherScheduler,
    Verifier,
    Admin,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Scheduler,
    Who::OtherScheduler,
    Who::Verifier,
    Who::Admin,
];

/// What a page route answers each kind of caller, in the order of [`EVERYONE`]:
/// a status (303 for anonymous is the sign-in page).
struct Row {
    method: &'static str,
    path: String,
    expect: [u16; 5],
}

/// Schedulers of A only, of B only (B's scheduler is "another tenant" for A's objects).
const PORTAL: [u16; 5] = [303, 200, 404, 403, 403];
const CONSOLE: [u16; 5] = [303, 403, 403, 200, 200];
const ADMIN: [u16; 5] = [303, 403, 403, 403, 200];

struct World {
    a: Facility,
    b: Uuid,
    shift: Uuid,
    credential: Uuid,
    identity: Uuid,
    nurse: Uuid,
}

async fn world(app: &TestApp) -> World {
    let a = facility(app, "Facility A").await;
    let b = facility(app, "Facility B").await;
    app.create_staff("sched-a@shiftwire.example", Role::Scheduler, vec![a.id])
        .await;
    app.create_staff("sched-b@shiftwire.example", Role::Scheduler, vec![b.id])
        .await;
    app.create_verifier().await;
    app.create_admin().await;
    let shift = id_of(&post_shift(app, &a, &shift_body(24 * 60, 8)).await);
    let (token, nurse) = nearby_nurse(app).await;
    let credential = db::certification_awaiting_review(&app.pool, nurse, "ACLS-9").await;
    let uploaded = app
        .upload_document(
            &token,
            credential,
            "card.pdf",
            b"%PDF-1.4\n%%EOF\n".to_vec(),
        )
        .await;
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    let identity = id_of(&app.submitted_identity(&token, "Test Nurse").await);
    World {
        b: b.id,
        a,
        shift,
        credential,
        identity,
        nurse,
    }
}

async fn browser(app: &TestApp, who: Who) -> Browser {
    let mut browser = Browser::new(app);
    let email = match who {
        Who::Anonymous => return browser,
        Who::Scheduler => "sched-a@shiftwire.example",
        Who::OtherScheduler => "sched-b@shiftwire.example",
        Who::Verifier => "verifier@shiftwire.example",
        Who::Admin => "admin@shiftwire.example",
    };
    browser.sign_in(email).await;
    browser
}

/// A page every staff member can open, to read the session's CSRF token from.
fn home_of(who: Who, w: &World) -> String {
    match who {
        Who::Scheduler => format!("/portal/f/{}", w.a.id),
        Who::OtherScheduler => format!("/portal/f/{}", w.b),
        _ => "/console".into(),
    }
}

/// A submitted timesheet at facility A: a nurse worked a shift there and checked out.
async fn submitted_timesheet(app: &TestApp, w: &World) -> Uuid {
    let (nurse, _) = nearby_nurse(app).await;
    let shift = id_of(&post_shift(app, &w.a, &shift_body(10, 2)).await);
    let booking = book(app, &nurse, shift).await;
    assert!(
        check_in(app, &nurse, booking, FACILITY_AT)
            .await
            .status()
            .is_success()
    );
    assert!(
        check_out(app, &nurse, booking, FACILITY_AT)
            .await
            .status()
            .is_success()
    );
    id_of(&app.get_json("/v1/me/timesheets", &nurse).await["items"][0])
}

fn rows(w: &World, t: Uuid) -> Vec<Row> {
    let get = |path: String, expect| Row {
        method: "GET",
        path,
        expect,
    };
    let post = |path: String, expect| Row {
        method: "POST",
        path,
        expect,
    };
    let (f, s, c, i, n) = (w.a.id, w.shift, w.credential, w.identity, w.nurse);
    let unknown = Uuid::now_v7();
    vec![
        // A scheduler with one facility is taken to its board.
        get("/portal".into(), [303, 303, 303, 403, 403]),
        get(format!("/portal/f/{f}"), PORTAL),
        get(format!("/portal/f/{f}/board"), PORTAL),
        get(format!("/portal/f/{f}/shifts/new"), PORTAL),
        get(format!("/portal/shifts/{s}"), PORTAL),
        // An empty form: authorisation first, then the fields (422 in words).
        post(format!("/portal/f/{f}/shifts"), [303, 422, 404, 403, 403]),
        post(
            format!("/portal/shifts/{s}/handoff"),
            [303, 422, 404, 403, 403],
        ),
        post(
            format!("/portal/shifts/{s}/cancel"),
            [303, 422, 404, 403, 403],
        ),
        post(
            format!("/portal/shifts/{s}/boost"),
            [303, 422, 404, 403, 403],
        ),
        get(format!("/portal/f/{f}/nurses"), PORTAL),
        // A favourite and its removal; a block without its reason is refused in words.
        post(
            format!("/portal/f/{f}/nurses/{n}/favourite"),
            [303, 303, 404, 403, 403],
        ),
        post(
            format!("/portal/f/{f}/nurses/{n}/unfavourite"),
            [303, 303, 404, 403, 403],
        ),
        post(
            format!("/portal/f/{f}/nurses/{n}/block"),
            [303, 422, 404, 403, 403],
        ),
        post(
            format!("/portal/f/{f}/nurses/{n}/unblock"),
            [303, 303, 404, 403, 403],
        ),
        get(format!("/portal/f/{f}/timesheets"), PORTAL),
        // Empty forms are refused in words; the approval (last) takes the timesheet.
        post(
            format!("/portal/timesheets/{t}/adjust"),
            [303, 422, 404, 403, 403],
        ),
        post(
            format!("/portal/timesheets/{t}/reject"),
            [303, 422, 404, 403, 403],
        ),
        post(
            format!("/portal/timesheets/{unknown}/approve"),
            [303, 404, 404, 403, 403],
        ),
        post(
            format!("/portal/timesheets/{t}/approve"),
            [303, 303, 404, 403, 403],
        ),
        get("/console".into(), CONSOLE),
        get(format!("/console/credentials/{c}"), CONSOLE),
        get(format!("/console/credentials/{c}/document"), CONSOLE),
        get(format!("/console/identities/{i}"), CONSOLE),
        get(format!("/console/identities/{i}/id-document"), CONSOLE),
        get(format!("/console/identities/{i}/selfie"), CONSOLE),
        get(format!("/console/nurses/{n}"), CONSOLE),
        // Decisions on an unknown case, or without the required reason, change nothing.
        post(
            format!("/console/credentials/{unknown}/approve"),
            [303, 403, 403, 404, 404],
        ),
        post(
            format!("/console/credentials/{c}/reject"),
            [303, 403, 403, 422, 422],
        ),
        post(
            format!("/console/credentials/{c}/revoke"),
            [303, 403, 403, 422, 422],
        ),
        post(
            format!("/console/identities/{unknown}/approve"),
            [303, 403, 403, 404, 404],
        ),
        post(
            format!("/console/identities/{i}/reject"),
            [303, 403, 403, 422, 422],
        ),
        post(
            format!("/console/nurses/{n}/suspend"),
            [303, 403, 403, 403, 422],
        ),
        post(
            format!("/console/nurses/{unknown}/reinstate"),
            [303, 403, 403, 403, 404],
        ),
        get("/console/audit".into(), ADMIN),
        get("/console/facilities".into(), ADMIN),
        post("/console/facilities".into(), [303, 403, 403, 403, 422]),
        get("/console/staff".into(), ADMIN),
        post("/console/staff".into(), [303, 403, 403, 403, 422]),
    ]
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn every_page_admits_exactly_the_staff_the_api_admits(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    // One session each: a wrong answer for one page cannot hide behind a fresh sign-in.
    let mut browsers = Vec::new();
    for who in EVERYONE {
        let browser = browser(&app, who).await;
        let csrf = match who {
            Who::Anonymous => String::new(),
            _ => browser.get(&home_of(who, &w)).await.csrf(),
        };
        browsers.push((who, browser, csrf));
    }
    let mut wrong = Vec::new();
    let timesheet = submitted_timesheet(&app, &w).await;
    let rows = rows(&w, timesheet);
    for row in &rows {
        for (column, (who, browser, csrf)) in browsers.iter().enumerate() {
            let page = match row.method {
                "GET" => browser.get(&row.path).await,
                _ => browser.post(&row.path, &[("_csrf", csrf.as_str())]).await,
            };
            let expected = row.expect[column];
            if page.status.as_u16() != expected {
                wrong.push(format!(
                    "{} {} as {who:?}: {} (expected {expected})",
                    row.method, row.path, page.status
                ));
            }
            if expected == 303 && *who == Who::Anonymous {
                let to = page.location.unwrap_or_default();
                assert!(
                    to.starts_with("/sign-in"),
                    "{} {}: {to}",
                    row.method,
                    row.path
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        rows.len() * 5,
        wrong.join("\n")
    );
    // The nurse's case was not decided by any of it.
    let credential = app
        .state
        .verification
        .credential(w.credential)
        .await
        .expect("credential");
    assert_eq!(credential.status.as_str(), "pending");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn another_facilitys_shift_is_the_same_page_as_a_missing_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let other = browser(&app, Who::OtherScheduler).await;
    let theirs = other.get(&format!("/portal/shifts/{}", w.shift)).await;
    let missing = other
        .get(&format!("/portal/shifts/{}", Uuid::now_v7()))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.status, missing.status);
    assert_eq!(theirs.body, missing.body);
    assert!(
        theirs
            .body
            .contains("There is no such page, or it is not one of yours.")
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_form_without_the_sessions_token_or_from_another_site_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let csrf = scheduler
        .get(&format!("/portal/shifts/{}", w.shift))
        .await
        .csrf();
    let cancel = format!("/portal/shifts/{}/cancel", w.shift);
    let reason = ("reason", "Census dropped");
    let attempts = [
        ("no token", scheduler.post(&cancel, &[reason]).await),
        (
            "another session's token",
            scheduler
                .post(&cancel, &[("_csrf", "bm90LXRoaXMtc2Vzc2lvbnM"), reason])
                .await,
        ),
        (
            "another site's page",
            scheduler
                .post_from(
                    &cancel,
                    &[("_csrf", &csrf), reason],
                    Some("https://evil.example"),
                )
                .await,
        ),
    ];
    for (what, page) in attempts {
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{what}");
        assert!(
            page.body.contains("The form was refused"),
            "{what}: {}",
            page.body
        );
    }
    let shift = app.shift(w.a.id, w.shift).await;
    assert_eq!(shift.status.as_str(), "open", "the shift was not cancelled");
    // With the token, from the page itself, it works.
    let done = scheduler
        .post_from(
            &cancel,
            &[("_csrf", &csrf), reason],
            Some(scheduler.origin()),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        app.shift(w.a.id, w.shift).await.status.as_str(),
        "cancelled"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn sign_in_follows_the_apis_rules_and_the_cookie_is_httponly_and_strict(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.create_verifier().await;
    let mut browser = Browser::new(&app);
    for (email, password) in [
        ("verifier@shiftwire.example", "wrong password of length"),
        ("nobody@shiftwire.example", "wrong password of length"),
    ] {
        let page = browser.try_sign_in(email, password).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body.contains("do not match a staff account"),
            "{}",
            page.body
        );
        assert!(browser.session_token().is_none());
    }
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(app.url("/sign-in"))
        .form(&[
            ("email", "verifier@shiftwire.example"),
            ("password", shiftwire_test_support::STAFF_PASSWORD),
        ])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/console");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.starts_with(&format!("{SESSION_COOKIE}=")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    // On loopback there is no TLS, so no `Secure` (and no `__Host-` name, which needs it).
    assert!(!cookie.contains("Secure"), "{cookie}");
    // A nurse has no password: the pages are for staff.
    let page = browser
        .try_sign_in("+14155550101", "whatever-it-is-long")
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn pages_have_a_strict_policy_and_are_never_cached(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.create_verifier().await;
    let response = reqwest::get(app.url("/sign-in")).await.expect("page");
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().expect("csp");
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "default-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(
        headers["cache-control"]
            .to_str()
            .expect("cc")
            .contains("no-store")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let body = response.text().await.expect("body");
    assert!(!body.contains("<script>"), "no inline script");
    assert!(!body.contains(" on"), "no inline handlers");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_session_ends_with_sign_out_suspension_and_idleness(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let path = format!("/portal/f/{}", w.a.id);

    let mut first = browser(&app, Who::Scheduler).await;
    let csrf = first.get(&path).await.csrf();
    let out = first.post("/sign-out", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        first.get(&path).await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );

    let idle = browser(&app, Who::Scheduler).await;
    assert_eq!(idle.get(&path).await.status, StatusCode::OK);
    db::web_sessions_idle_for(&app.pool, 31).await;
    assert_eq!(
        idle.get(&path).await.status,
        StatusCode::SEE_OTHER,
        "idle 31 min"
    );

    let suspended = browser(&app, Who::Scheduler).await;
    assert_eq!(suspended.get(&path).await.status, StatusCode::OK);
    let scheduler = app
        .state
        .users
        .staff_login(&shiftwire_core::Email::parse("sched-a@shiftwire.example").expect("email"))
        .await
        .expect("login")
        .expect("scheduler")
        .id;
    db::suspend_directly(&app.pool, scheduler).await;
    assert_eq!(
        suspended.get(&path).await.status,
        StatusCode::SEE_OTHER,
        "suspended"
    );
    first = Browser::new(&app);
    let refused = first
        .try_sign_in(
            "sched-a@shiftwire.example",
            shiftwire_test_support::STAFF_PASSWORD,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

fn page_socket(
    app: &TestApp,
    cookie: &str,
    origin: Option<&str>,
) -> tungstenite::http::Request<()> {
    let mut request = ws_url(app, "").into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "cookie",
        format!("{SESSION_COOKIE}={cookie}")
            .parse()
            .expect("cookie"),
    );
    if let Some(origin) = origin {
        headers.insert("origin", origin.parse().expect("origin"));
    }
    request
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_pages_socket_opens_with_the_cookie_from_our_origin_only_and_ends_with_sign_out(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let cookie = scheduler.session_token().expect("cookie");
    for origin in [Some("https://evil.example"), None] {
        let status = refused_upgrade(page_socket(&app, &cookie, origin), "a foreign page").await;
        assert_eq!(status, 403, "{origin:?}");
    }
    let origin = scheduler.origin().to_owned();
    let (socket, _) = tokio_tungstenite::connect_async(page_socket(&app, &cookie, Some(&origin)))
        .await
        .expect("our own page connects");
    let mut ws = Ws::greeted(socket).await;

    // The board's notices arrive: a nurse books one of the facility's shifts.
    let (nurse, _) = nearby_nurse(&app).await;
    let booking = book(&app, &nurse, w.shift).await;
    let booked = ws.next().await;
    assert_eq!(booked["type"], "shift.booked", "{booked}");
    acknowledge_handoff(&app, &nurse, booking).await;
    let acknowledged = ws.next().await;
    assert_eq!(
        acknowledged["type"], "handoff.acknowledged",
        "{acknowledged}"
    );

    let csrf = scheduler.get(&format!("/portal/f/{}", w.a.id)).await.csrf();
    scheduler.post("/sign-out", &[("_csrf", &csrf)]).await;
    let closed = ws.close_code().await;
    assert_eq!(closed, Some(1000), "signing out closes the page's socket");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn shifts_posted_for_three_dates_open_at_the_facilitys_local_time_and_the_template_is_kept(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let form = format!("/portal/f/{}/shifts/new", w.a.id);
    let days: Vec<String> = (2..5)
        .map(|d| (Utc::now() + Duration::days(d)).date_naive().to_string())
        .collect();
    let mut fields = vec![
        ("role", "RN"),
        ("start_time", "19:00"),
        ("end_time", "07:30"),
        ("rate", "72.50"),
        ("unit", "ICU"),
        ("cert", "ACLS"),
        ("report_to", "Charge nurse, ICU"),
        ("arrival_instructions", "Badge pickup at security"),
        ("exceptions", "No float\nEpic access on arrival"),
        ("template_name", "ICU nights"),
    ];
    for day in &days {
        fields.push(("date", day));
    }
    let posted = scheduler
        .submit(&form, &format!("/portal/f/{}/shifts", w.a.id), &fields)
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert_eq!(
        posted.location.as_deref(),
        Some(format!("/portal/f/{}?posted=3", w.a.id).as_str())
    );
    let listed = shifts_of(&app, &w.a, "?status=open").await;
    let icu: Vec<&serde_json::Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|s| s["unit"] == "ICU")
        .collect();
    assert_eq!(icu.len(), 3);
    for shift in &icu {
        assert_eq!(shift["hourly_rate_cents"], 7250);
        assert_eq!(shift["required_certifications"], json!(["ACLS"]));
        assert_eq!(
            shift["handoff"]["exceptions"],
            json!(["No float", "Epic access on arrival"])
        );
        let starts: chrono::DateTime<Utc> =
            shift["starts_at"].as_str().expect("t").parse().expect("t");
        let ends: chrono::DateTime<Utc> = shift["ends_at"].as_str().expect("t").parse().expect("t");
        assert_eq!((ends - starts).num_minutes(), 12 * 60 + 30);
        let local = starts.with_timezone(&chrono_tz::America::Los_Angeles);
        assert_eq!(local.format("%H:%M").to_string(), "19:00");
    }
    assert_eq!(db::count_templates(&app.pool, w.a.id).await, 1);
    let board = scheduler
        .get(&format!("/portal/f/{}?posted=3", w.a.id))
        .await;
    assert!(board.body.contains("Posted 3 shifts."), "{}", board.body);
    assert_eq!(
        board.body.matches("ICU</a>").count(),
        3,
        "three ICU shifts on the board"
    );
    // The template fills the form again.
    let new = scheduler.get(&form).await;
    let template_id = new
        .body
        .split("<option value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a template option")
        .to_owned();
    let from_template = scheduler
        .get(&format!("{form}?template={template_id}"))
        .await;
    for value in [
        "value=\"19:00\"",
        "value=\"07:30\"",
        "value=\"72.50\"",
        "Charge nurse, ICU",
    ] {
        assert!(from_template.body.contains(value), "{value}");
    }
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_wrong_form_names_each_field_in_words_and_posts_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let before = shifts_of(&app, &w.a, "").await["items"]
        .as_array()
        .expect("items")
        .len();
    let page = scheduler
        .submit(
            &format!("/portal/f/{}/shifts/new", w.a.id),
            &format!("/portal/f/{}/shifts", w.a.id),
            &[
                ("role", "RN"),
                ("start_time", "07:00"),
                ("end_time", "19:00"),
                ("rate", "lots"),
                ("unit", "ICU"),
                ("report_to", "  "),
                ("arrival_instructions", "Main desk"),
                ("date", "2001-02-03"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for words in [
        "Give the hourly rate in dollars",
        "Say whom the nurse reports to",
        "that start has already passed",
        "Nothing was posted.",
    ] {
        assert!(page.body.contains(words), "{words}");
    }
    let after = shifts_of(&app, &w.a, "").await["items"]
        .as_array()
        .expect("items")
        .len();
    assert_eq!(before, after);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_board_shows_who_booked_and_the_console_shows_the_documents_views_in_the_audit(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let (nurse, _) = nearby_nurse(&app).await;
    let booking = book(&app, &nurse, w.shift).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let board = scheduler.get(&format!("/portal/f/{}", w.a.id)).await;
    assert!(
        board
            .body
            .contains("Test Nurse · handoff not yet acknowledged"),
        "{}",
        board.body
    );
    acknowledge_handoff(&app, &nurse, booking).await;
    let board = scheduler.get(&format!("/portal/f/{}/board", w.a.id)).await;
    assert!(board.body.contains("Test Nurse · handoff acknowledged"));
    let shift = scheduler.get(&format!("/portal/shifts/{}", w.shift)).await;
    assert!(shift.body.contains("acknowledged by the nurse"));
    assert!(shift.body.contains("Offer history"));

    let verifier = browser(&app, Who::Verifier).await;
    let page = verifier
        .get(&format!("/console/credentials/{}", w.credential))
        .await;
    assert!(
        page.body.contains("Certification card to check by eye"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<iframe sandbox"),
        "a PDF is shown in a sandboxed frame"
    );
    let document = reqwest::Client::new()
        .get(app.url(&format!("/console/credentials/{}/document", w.credential)))
        .header(
            "cookie",
            format!("{SESSION_COOKIE}={}", verifier.session_token().expect("c")),
        )
        .send()
        .await
        .expect("document");
    assert_eq!(document.status(), StatusCode::OK);
    assert!(
        document.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .starts_with("sandbox")
    );
    assert_eq!(document.headers()["x-content-type-options"], "nosniff");
    let identity = verifier
        .get(&format!("/console/identities/{}", w.identity))
        .await;
    assert!(identity.body.contains("/selfie"));
    let selfie = reqwest::Client::new()
        .get(app.url(&format!("/console/identities/{}/selfie", w.identity)))
        .header(
            "cookie",
            format!("{SESSION_COOKIE}={}", verifier.session_token().expect("c")),
        )
        .send()
        .await
        .expect("selfie");
    assert_eq!(selfie.bytes().await.expect("bytes").as_ref(), PNG);
    let admin = browser(&app, Who::Admin).await;
    let audit = admin
        .get(&format!("/console/audit?subject={}", w.credential))
        .await;
    assert!(audit.body.contains("document.viewed"), "{}", audit.body);
}

/// A scheduler boosts an open shift from its page: a rate that is not more than now is
/// refused in words and changes nothing; a higher one is saved and shown as boosted.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_scheduler_boosts_an_open_shift_from_its_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let page = format!("/portal/shifts/{}", w.shift);
    let boost = format!("/portal/shifts/{}/boost", w.shift);
    let before = app
        .shift(w.a.id, w.shift)
        .await
        .terms
        .hourly_rate_cents
        .cents();
    for (rate, status) in [
        ("not a rate", StatusCode::UNPROCESSABLE_ENTITY),
        ("1", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let refused = scheduler.submit(&page, &boost, &[("rate", rate)]).await;
        assert_eq!(refused.status, status, "{rate}");
        assert!(
            refused.body.contains("id=\"boost-error\""),
            "{}",
            refused.body
        );
    }
    assert_eq!(
        app.shift(w.a.id, w.shift)
            .await
            .terms
            .hourly_rate_cents
            .cents(),
        before
    );
    let higher = format!("{}", before / 100 + 15);
    let done = scheduler.submit(&page, &boost, &[("rate", &higher)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let shift = app.shift(w.a.id, w.shift).await;
    assert_eq!(shift.terms.hourly_rate_cents.cents(), before + 1500);
    assert!(shift.boosted_at.is_some());
    let shown = scheduler.get(&format!("{page}?done=boosted")).await;
    assert!(shown.body.contains("Rate boosted."), "{}", shown.body);
    assert!(shown.body.contains("Boosted: urgent"));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_scheduler_adjusts_and_approves_timesheets_from_the_portal(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let adjusted = submitted_timesheet(&app, &w).await;
    let approved = submitted_timesheet(&app, &w).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let list = format!("/portal/f/{}/timesheets", w.a.id);
    let shown = scheduler.get(&list).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.contains("Timesheets to approve"),
        "{}",
        shown.body
    );
    assert!(
        shown
            .body
            .contains(&format!("/portal/timesheets/{adjusted}/adjust"))
    );
    assert!(
        shown
            .body
            .contains(&format!("/portal/timesheets/{approved}/approve"))
    );

    // The facility's local time (Los Angeles): one hour from the clock-in, no break.
    let sheets = app
        .get_json(
            &format!("/v1/facilities/{}/timesheets", w.a.id),
            &w.a.scheduler,
        )
        .await;
    let sheet = sheets["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["id"] == adjusted.to_string())
        .expect("listed")
        .clone();
    let clock_in: chrono::DateTime<Utc> = sheet["clock_in"]
        .as_str()
        .expect("clock_in")
        .parse()
        .expect("time");
    let la = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&chrono_tz::America::Los_Angeles)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let (from, to) = (la(clock_in), la(clock_in + Duration::hours(1)));
    let action = format!("/portal/timesheets/{adjusted}/adjust");
    let refused = scheduler
        .submit(
            &list,
            &action,
            &[
                ("clock_in", &from),
                ("clock_out", &to),
                ("break_minutes", "90"),
                ("reason", "Left early"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains(&format!("id=\"error-{adjusted}\"")),
        "{}",
        refused.body
    );
    let done = scheduler
        .submit(
            &list,
            &action,
            &[
                ("clock_in", &from),
                ("clock_out", &to),
                ("break_minutes", "0"),
                ("reason", "Left early"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let approve = format!("/portal/timesheets/{approved}/approve");
    let done = scheduler.submit(&list, &approve, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{list}?done=approved").as_str())
    );

    let sheets = app
        .get_json(
            &format!("/v1/facilities/{}/timesheets", w.a.id),
            &w.a.scheduler,
        )
        .await;
    let by_id = |id: Uuid| {
        sheets["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|t| t["id"] == id.to_string())
            .expect("listed")
            .clone()
    };
    let adjusted = by_id(adjusted);
    assert_eq!(adjusted["status"], "adjusted");
    // Minutes, as typed: the seconds of the original clock-in are gone.
    assert_eq!(adjusted["worked_minutes"], 60);
    assert_eq!(adjusted["history"][1]["reason"], "Left early");
    assert_eq!(by_id(approved)["status"], "approved");
    // Decided, neither is waiting any more.
    let shown = scheduler.get(&format!("{list}?done=approved")).await;
    assert!(shown.body.contains("Timesheet approved."));
    assert!(
        shown
            .body
            .contains("No timesheets are waiting for a decision.")
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_scheduler_favourites_and_blocks_nurses_from_the_portal(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let list = format!("/portal/f/{}/nurses", w.a.id);
    let base = format!("/portal/f/{}/nurses/{}", w.a.id, w.nurse);
    let done = scheduler
        .submit(&list, &format!("{base}/favourite"), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let shown = scheduler.get(&format!("{list}?done=favourite")).await;
    assert!(
        shown.body.contains("Added to your favourites."),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(&format!("{base}/unfavourite")));

    // A block needs its reason; with one, she is blocked and no longer a favourite.
    let refused = scheduler.submit(&list, &format!("{base}/block"), &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Give a reason"), "{}", refused.body);
    let done = scheduler
        .submit(
            &list,
            &format!("{base}/block"),
            &[("reason", "Left the unit before handoff")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let listed = app
        .get_json(&format!("/v1/facilities/{}/nurses", w.a.id), &w.a.scheduler)
        .await;
    let her = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|n| n["id"] == w.nurse.to_string())
        .expect("listed")
        .clone();
    assert_eq!(her["blocked"], true);
    assert_eq!(her["favourite"], false);
    assert_eq!(her["block_reason"], "Left the unit before handoff");
    let shown = scheduler.get(&list).await;
    assert!(shown.body.contains("Left the unit before handoff"));
    assert!(shown.body.contains(&format!("{base}/unblock")));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_board_shows_a_nurse_on_her_way_and_a_shift_reoffered_after_a_no_show(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = world(&app).await;
    let scheduler = browser(&app, Who::Scheduler).await;
    let (nurse, _) = nearby_nurse(&app).await;
    let (late, _) = nearby_nurse(&app).await;
    let coming = id_of(&post_shift(&app, &w.a, &shift_body(120, 2)).await);
    let missed = id_of(&post_shift(&app, &w.a, &shift_body(60, 8)).await);
    let booking = book(&app, &nurse, coming).await;
    book(&app, &late, missed).await;
    let said = app
        .post(
            &format!("/v1/bookings/{booking}/on-the-way"),
            &json!({ "eta_minutes": 100 }),
            Some(&nurse),
        )
        .await;
    assert_eq!(said.status(), StatusCode::OK);
    let board = scheduler.get(&format!("/portal/f/{}", w.a.id)).await;
    assert_eq!(board.status, StatusCode::OK);
    assert!(
        board.body.contains("on the way, expected"),
        "{}",
        board.body
    );

    app.clock.advance(Duration::minutes(60 + 16));
    app.state.matching.mark_no_shows().await.expect("sweep");
    let board = scheduler.get(&format!("/portal/f/{}", w.a.id)).await;
    assert!(
        board.body.contains("No-show: offered again as urgent"),
        "{}",
        board.body
    );
}
