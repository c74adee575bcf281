//! The `shiftwire` binary as operators run it: migrate, seed, create users, serve, stop.

use serde_json::json;
use shiftwire_test_support::{db, ws};
use sqlx::PgPool;
use std::{
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

/// The URL of the test's own database (same server as DATABASE_URL, its fresh database).
async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("database name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').expect("URL with a database");
    format!("{server}/{name}")
}

fn shiftwire(url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shiftwire"));
    // Run from the repository root, as operators do (the demo registry lives there), and
    // keep uploaded documents out of it.
    command
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env_clear()
        .env(
            "DOCUMENT_DIR",
            std::env::temp_dir().join("shiftwire-cli-test-documents"),
        )
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Several servers run at once here: none takes the fixed metrics port.
        .env("METRICS_ADDR", "off")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run shiftwire")
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrations = false)]
async fn migrate_and_seed_are_idempotent(pool: PgPool) {
    let url = database_url(&pool).await;
    for _ in 0..2 {
        let migrated = run(shiftwire(&url).arg("migrate"));
        assert!(migrated.status.success(), "{migrated:?}");
        let seeded = run(shiftwire(&url).arg("seed"));
        assert!(seeded.status.success(), "{seeded:?}");
        let printed = String::from_utf8_lossy(&seeded.stdout);
        assert!(printed.contains("admin@shiftwire.example"), "{printed}");
    }
    assert_eq!(db::count_users_with_role(&pool, "admin").await, 1);
    assert_eq!(db::count_users_with_role(&pool, "verifier").await, 1);
    assert_eq!(db::count_users_with_role(&pool, "scheduler").await, 2);
    assert_eq!(db::count_users_with_role(&pool, "nurse").await, 4);
    assert_eq!(count(&pool, "SELECT count(*) FROM facilities").await, 2);
    // The demo shows each path of verification: a verified identity with a licence the
    // registry approved, a licence waiting for its identity, an identity awaiting a
    // verifier, and a second account's claim on an approved licence.
    let of = |sql: &'static str| count(&pool, sql);
    assert_eq!(
        db::count_credentials_with_status(&pool, "approved").await,
        1
    );
    assert_eq!(
        db::count_credentials_with_reason(&pool, "identity_unverified").await,
        2,
        "Grace's (no identity) and Luis's (identity in review)"
    );
    assert_eq!(
        db::count_credentials_with_reason(&pool, "licence_in_use").await,
        1
    );
    assert_eq!(
        of("SELECT count(*) FROM identities WHERE status = 'verified'").await,
        2
    );
    assert_eq!(
        of("SELECT count(*) FROM identities WHERE status = 'pending' AND reason_code = 'identity_review'").await,
        1
    );
    assert_eq!(db::count_credentials(&pool).await, 5);
    // Six posted, one Amara released 6 hours before its start, and a boosted ICU night.
    assert_eq!(db::count_shifts_with_status(&pool, "open").await, 8);
    assert_eq!(
        of("SELECT count(*) FROM shifts WHERE boosted_at IS NOT NULL").await,
        1
    );
    // After the claim: a favourite and a block at Bayview, and Amara's attendance history
    // (the +5 of her worked shift, the −70 of her late release).
    assert_eq!(of("SELECT count(*) FROM facility_favourites").await, 1);
    assert_eq!(of("SELECT count(*) FROM facility_blocks").await, 1);
    assert_eq!(
        of("SELECT count(*) FROM attendance_events WHERE points IN (5, -70)").await,
        2
    );
    // Each scheduler works for exactly one of the two facilities.
    assert_eq!(
        count(
            &pool,
            "SELECT count(DISTINCT facility_id) FROM staff_facilities"
        )
        .await,
        2
    );

    let production = run(shiftwire(&url)
        .arg("seed")
        .env("SHIFTWIRE_ENV", "production"));
    assert!(
        !production.status.success(),
        "demo data is refused in production"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn admin_create_user_makes_staff_and_rejects_bad_input(pool: PgPool) {
    let url = database_url(&pool).await;
    let created = run(shiftwire(&url).args([
        "admin",
        "create-user",
        "--email",
        "Chief@Shiftwire.example",
        "--password",
        "a long enough password",
        "--role",
        "admin",
    ]));
    assert!(created.status.success(), "{created:?}");
    assert_eq!(
        db::count_users_with_email_and_role(&pool, "chief@shiftwire.example", "admin").await,
        1
    );
    for args in [
        [
            "--email",
            "x@shiftwire.example",
            "--password",
            "a long enough password",
            "--role",
            "root",
        ],
        [
            "--email",
            "x@shiftwire.example",
            "--password",
            "short",
            "--role",
            "verifier",
        ],
        [
            "--email",
            "x@shiftwire.example",
            "--password",
            "a long enough password",
            "--role",
            "scheduler",
        ],
        [
            "--email",
            "chief@shiftwire.example",
            "--password",
            "a long enough password",
            "--role",
            "verifier",
        ],
    ] {
        let refused = run(shiftwire(&url).args(["admin", "create-user"]).args(args));
        assert!(!refused.status.success(), "{args:?} should fail");
    }
    assert_eq!(db::count_users(&pool).await, 1);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `shiftwire serve` on a free port with `env`; waits until it is ready.
async fn start_server(url: &str, env: &[(&str, &str)]) -> (Server, String) {
    start_server_on(url, env, free_port()).await
}

/// Starts `shiftwire serve` on `port` with `env`; waits until it is ready.
async fn start_server_on(url: &str, env: &[(&str, &str)], port: u16) -> (Server, String) {
    let mut command = shiftwire(url);
    command
        .arg("serve")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let server = Server(command.spawn().expect("spawn serve"));
    let base = format!("127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("http://{base}/readyz")).send().await
            && r.status() == reqwest::StatusCode::OK
        {
            return (server, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("shiftwire serve did not become ready");
}

/// The key the test servers sign access tokens with (the development one).
fn dev_keys() -> shiftwire_auth::JwtKeys {
    let settings = shiftwire_api::Settings::for_tests();
    shiftwire_auth::JwtKeys::new(
        &settings.jwt_secret,
        &settings.jwt_issuer,
        &settings.jwt_audience,
        settings.access_token_ttl,
    )
}

/// The seeded scheduler of Mercy General, signed in at the server at `addr`; the access
/// token.
async fn demo_scheduler(client: &reqwest::Client, addr: &str) -> String {
    let login: serde_json::Value = client
        .post(format!("http://{addr}/v1/auth/login"))
        .json(&json!({ "email": "scheduler@mercy-general.example", "password": "shiftwire-demo-2026" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    login["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// An RN shift on `unit` needing no certification, from `starts_at` for `length`.
fn rn_shift(
    unit: &str,
    starts_at: chrono::DateTime<chrono::Utc>,
    length: chrono::Duration,
) -> serde_json::Value {
    json!({
        "role": "RN",
        "starts_at": starts_at,
        "ends_at": starts_at + length,
        "hourly_rate_cents": 7000,
        "required_certifications": [],
        "unit": unit,
        "handoff": { "report_to": "Charge nurse", "arrival_instructions": "Main entrance" }
    })
}

/// The next text frame of `socket`, as JSON, within 10 s.
async fn next_frame<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> serde_json::Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => {
            serde_json::from_str(text.as_str()).expect("JSON frame")
        }
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// Two `shiftwire serve` processes on one database and one NATS subject: a shift posted
/// through one is offered to a nurse connected to the other.
#[sqlx::test(migrations = false)]
async fn two_serve_processes_share_offers_over_nats(pool: PgPool) {
    let url = database_url(&pool).await;
    assert!(run(shiftwire(&url).arg("migrate")).status.success());
    assert!(run(shiftwire(&url).arg("seed")).status.success());
    let subject = format!("shiftwire.test.{}", uuid::Uuid::now_v7().simple());
    let env = [
        ("EVENT_BUS", "nats"),
        ("NATS_URL", "nats://127.0.0.1:4222"),
        ("NATS_SUBJECT", subject.as_str()),
    ];
    let (_posting, posting) = start_server(&url, &env).await;
    let (_delivering, delivering) = start_server(&url, &env).await;

    // A verified RN living next to Mercy General, with a token signed by the dev key
    // both servers use.
    let nurse =
        db::nurse_with_home(&pool, "+14155550777", "Ines Duarte", (38.58, -121.45), 25.0).await;
    db::approved_credential(&pool, nurse, "RN", "RN-TWO-NODES", Some("CA"), "2030-01-31").await;
    let token = dev_keys()
        .issue(nurse, shiftwire_core::Role::Nurse, uuid::Uuid::now_v7(), 0)
        .expect("token");
    let request = ws::upgrade_request(&format!("ws://{delivering}/v1/ws"), &token);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect to the second server");
    assert_eq!(next_frame(&mut socket).await["type"], "hello");

    let client = reqwest::Client::new();
    let scheduler = demo_scheduler(&client, &posting).await;
    let mercy = db::facility_named(&pool, "Mercy General Hospital").await;
    let starts_at = chrono::Utc::now() + chrono::Duration::days(3);
    let posted = client
        .post(format!("http://{posting}/v1/facilities/{mercy}/shifts"))
        .bearer_auth(scheduler)
        .json(&rn_shift(
            "3 East, Telemetry",
            starts_at,
            chrono::Duration::hours(8),
        ))
        .send()
        .await
        .expect("post shift");
    assert_eq!(posted.status(), reqwest::StatusCode::CREATED);
    let shift: serde_json::Value = posted.json().await.expect("json");
    let offer = next_frame(&mut socket).await;
    assert_eq!(offer["type"], "shift.offered", "{offer}");
    assert_eq!(offer["shift"]["id"], shift["id"]);
}

#[sqlx::test(migrations = false)]
async fn serve_migrates_answers_and_exits_zero_on_sigterm(pool: PgPool) {
    let url = database_url(&pool).await;
    assert!(run(shiftwire(&url).arg("migrate")).status.success());
    assert!(run(shiftwire(&url).arg("seed")).status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut server = Server(
        shiftwire(&url)
            .arg("serve")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve"),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            ready = r.status() == reqwest::StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "server became ready");

    // The demo admin the seed prints can sign in.
    let login = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({ "email": "admin@shiftwire.example", "password": "shiftwire-demo-2026" }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), reqwest::StatusCode::OK);

    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = tokio::task::spawn_blocking(move || server.0.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "graceful exit");
}

/// Verified RNs living next to Mercy General (the demo facility), with access tokens
/// signed by the dev key the servers use.
async fn nurses_at_mercy(pool: &PgPool, count: usize) -> Vec<String> {
    let keys = dev_keys();
    let mut tokens = Vec::new();
    for n in 0..count {
        let phone = format!("+1415555{:04}", 3000 + n);
        let nurse =
            db::nurse_with_home(pool, &phone, "Crash test nurse", (38.58, -121.45), 25.0).await;
        let number = format!("RN-CRASH-{n}");
        db::approved_credential(pool, nurse, "RN", &number, Some("CA"), "2030-01-31").await;
        tokens.push(
            keys.issue(nurse, shiftwire_core::Role::Nurse, uuid::Uuid::now_v7(), 0)
                .expect("token"),
        );
    }
    tokens
}

/// How long shifts keep opening on the restarted server before the apps come back (they
/// wait for the test's word, not a fixed time: a restart's length varies with the
/// machine's load, and the apps must be away while some shifts commit).
const AWAY_AFTER_RESTART: Duration = Duration::from_millis(500);

/// What one WebSocket client of the crash test saw.
#[derive(Default)]
struct Seen {
    /// Every `shift.offered` received, as (shift id, seq), duplicates included.
    offers: Vec<(String, i64)>,
    /// Offers that came in a `resume` replay after a reconnection.
    replayed: usize,
    connections: u32,
}

/// A nurse's app: connects (retrying while the server is away), resumes from its
/// committed position, commits by the rule of api-spec/websocket.md, until `stop`. After
/// losing its connection it stays away until `back`.
async fn nurse_app(
    addr: String,
    token: String,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    stop: tokio_util::sync::CancellationToken,
    back: tokio_util::sync::CancellationToken,
) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut committed: Option<i64> = None;
    while !stop.is_cancelled() {
        let request = ws::upgrade_request(&format!("ws://{addr}/v1/ws"), &token);
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let reconnection = {
            let mut seen = seen.lock().expect("seen");
            seen.connections += 1;
            seen.connections > 1
        };
        let mut resumed = false;
        let mut highest = i64::MIN;
        loop {
            let frame = tokio::select! {
                () = stop.cancelled() => return,
                frame = socket.next() => frame,
            };
            let Some(Ok(Message::Text(text))) = frame else {
                match frame {
                    Some(Ok(_)) => continue,
                    // The server went away: the phone comes back later.
                    _ => {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = back.cancelled() => {}
                        }
                        break;
                    }
                }
            };
            let frame: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
            match frame["type"].as_str() {
                Some("hello") => {
                    // A fresh app starts from where it joined the stream.
                    let last = *committed.get_or_insert(frame["last_seq"].as_i64().expect("seq"));
                    let resume = serde_json::json!({ "type": "resume", "last_seq": last });
                    if socket
                        .send(Message::text(resume.to_string()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Some("resumed") => {
                    resumed = true;
                    let last = frame["last_seq"].as_i64().expect("seq").max(highest);
                    committed = Some(committed.map_or(last, |c| c.max(last)));
                }
                Some("shift.offered") => {
                    let seq = frame["seq"].as_i64().expect("seq");
                    let shift = frame["shift"]["id"].as_str().expect("id").to_owned();
                    let mut seen = seen.lock().expect("seen");
                    seen.offers.push((shift, seq));
                    if reconnection && !resumed {
                        seen.replayed += 1;
                    }
                    highest = highest.max(seq);
                    if resumed {
                        committed = Some(committed.map_or(seq, |c| c.max(seq)));
                    }
                }
                _ => {}
            }
        }
    }
}

/// kill -9 of the server while a scheduler posts shifts to 20 connected nurses, then a
/// restart on the same port: once the apps have reconnected and resumed, each nurse has
/// every shift that committed exactly once, none missed, nothing else.
#[sqlx::test(migrations = false)]
async fn a_killed_server_loses_no_offer_once_clients_resume(pool: PgPool) {
    use std::sync::{Arc, Mutex};

    let url = database_url(&pool).await;
    assert!(run(shiftwire(&url).arg("migrate")).status.success());
    assert!(run(shiftwire(&url).arg("seed")).status.success());
    let port = free_port();
    let (mut server, addr) = start_server_on(&url, &[], port).await;
    let tokens = nurses_at_mercy(&pool, 20).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let back = tokio_util::sync::CancellationToken::new();
    let mut apps = Vec::new();
    let mut seen = Vec::new();
    for token in tokens {
        let record = Arc::new(Mutex::new(Seen::default()));
        seen.push(record.clone());
        apps.push(tokio::spawn(nurse_app(
            addr.clone(),
            token,
            record,
            stop.clone(),
            back.clone(),
        )));
    }
    // Every app is connected before the first post.
    for _ in 0..200 {
        if seen.iter().all(|s| s.lock().expect("seen").connections > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let scheduler = demo_scheduler(&client, &addr).await;
    let mercy = db::facility_named(&pool, "Mercy General Hospital").await;
    // A scheduler posts every 20 ms throughout, whatever the server's state.
    let posting = tokio_util::sync::CancellationToken::new();
    let poster = {
        let posting = posting.clone();
        let addr = addr.clone();
        tokio::spawn(async move {
            let (mut n, mut refused) = (0i64, 0u32);
            while !posting.is_cancelled() {
                let starts_at =
                    chrono::Utc::now() + chrono::Duration::days(2) + chrono::Duration::hours(n);
                let posted = client
                    .post(format!("http://{addr}/v1/facilities/{mercy}/shifts"))
                    .bearer_auth(&scheduler)
                    .json(&rn_shift(
                        "crash-test",
                        starts_at,
                        chrono::Duration::minutes(60),
                    ))
                    .send()
                    .await;
                if !matches!(posted, Ok(ref r) if r.status() == reqwest::StatusCode::CREATED) {
                    refused += 1;
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            refused
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    // No goodbye: the process dies between whatever it was doing, posts in flight.
    server.0.kill().expect("kill -9");
    server.0.wait().expect("reaped");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_restarted, _) = start_server_on(&url, &[], port).await;
    // Shifts keep opening while the apps are still away, then after they are back.
    tokio::time::sleep(AWAY_AFTER_RESTART).await;
    back.cancel();
    // Then at least a second more, and until enough shifts committed to judge (a loaded
    // machine posts slowly).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for _ in 0..100 {
        if db::open_shift_ids_in_unit(&pool, "crash-test").await.len() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    posting.cancel();
    let refused = poster.await.expect("poster");
    assert!(refused > 0, "some posts failed while the server was down");

    // The truth is the database: every shift that committed must reach every nurse.
    let committed = db::open_shift_ids_in_unit(&pool, "crash-test").await;
    assert!(
        committed.len() >= 20,
        "{} shifts committed",
        committed.len()
    );
    let complete = |s: &Seen| {
        committed
            .iter()
            .all(|id| s.offers.iter().any(|(shift, _)| shift == id))
    };
    for _ in 0..300 {
        if seen.iter().all(|s| complete(&s.lock().expect("seen"))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Settle, so a duplicate would have arrived too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for app in apps {
        app.await.expect("app");
    }
    let (mut missed, mut wrong, mut duplicated, mut reconnected) = (0, 0, 0, 0);
    for record in &seen {
        let record = record.lock().expect("seen");
        if record.connections > 1 {
            reconnected += 1;
        }
        for id in &committed {
            match record
                .offers
                .iter()
                .filter(|(shift, _)| shift == id)
                .count()
            {
                0 => missed += 1,
                1 => {}
                _ => duplicated += 1,
            }
        }
        wrong += record
            .offers
            .iter()
            .filter(|(shift, _)| !committed.contains(shift))
            .count();
    }
    assert_eq!(reconnected, 20, "every app reconnected after the kill");
    let replayed: usize = seen.iter().map(|s| s.lock().expect("seen").replayed).sum();
    assert!(
        replayed > 0,
        "offers opened while the apps were away came by resume"
    );
    assert_eq!(
        (missed, wrong, duplicated),
        (0, 0, 0),
        "missed / wrong / duplicated offers over {} shifts × 20 nurses",
        committed.len()
    );
}

/// The development secrets are written in this source code: a server reachable from the
/// network refuses to start with them unless development was asked for by name.
#[sqlx::test(migrations = false)]
async fn serve_refuses_the_built_in_secrets_on_a_network_address(pool: PgPool) {
    let url = database_url(&pool).await;
    let port = free_port();
    let refused = run(shiftwire(&url)
        .arg("serve")
        .env("BIND_ADDR", format!("0.0.0.0:{port}")));
    assert!(!refused.status.success(), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("refusing to serve"), "{said}");
    let everywhere = format!("0.0.0.0:{port}");
    // With production secrets it starts (and is stopped at once).
    let (server, _) = start_server_on(
        &url,
        &[
            ("BIND_ADDR", &everywhere),
            ("SHIFTWIRE_ENV", "production"),
            ("JWT_SECRET", "a-production-jwt-secret-0123456789abcdef"),
            ("OTP_SECRET", "a-production-otp-secret-0123456789abcdef"),
        ],
        port,
    )
    .await;
    drop(server);
    // Development asked for by name: it starts.
    let port = free_port();
    let everywhere = format!("0.0.0.0:{port}");
    let (server, _) = start_server_on(
        &url,
        &[("BIND_ADDR", &everywhere), ("SHIFTWIRE_ENV", "dev")],
        port,
    )
    .await;
    drop(server);
}

/// A push provider stand-in for the kill test: records each push's token and collapse id,
/// and answers after 20 ms, so that a batch is in flight for a while.
#[derive(Default)]
struct PushRecorder {
    received: std::sync::Mutex<Vec<(String, String)>>,
}

impl PushRecorder {
    fn received(&self) -> Vec<(String, String)> {
        self.received.lock().expect("lock").clone()
    }
}

async fn push_recorder() -> (std::sync::Arc<PushRecorder>, String) {
    use axum::{extract::State, http::HeaderMap, routing::post};
    let recorder = std::sync::Arc::new(PushRecorder::default());
    let app = axum::Router::new()
        .route(
            "/push",
            post(
                |State(r): State<std::sync::Arc<PushRecorder>>,
                 headers: HeaderMap,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    let collapse = headers
                        .get("shiftwire-collapse-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let token = body["token"].as_str().unwrap_or_default().to_owned();
                    r.received.lock().expect("lock").push((token, collapse));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    "ok"
                },
            ),
        )
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (recorder, format!("http://{addr}/push"))
}

/// kill -9 of a node in the middle of a push batch, then a restart: every offline nurse
/// gets the shift's push, and a push sent again (its first answer lost with the node)
/// carries the same collapse id, so no phone shows it twice. Only what was in flight is
/// sent again.
#[sqlx::test(migrations = false)]
async fn a_node_killed_mid_push_batch_misses_no_push_and_doubles_none(pool: PgPool) {
    const NURSES: usize = 300;
    const CONCURRENCY: usize = 8;
    let url = database_url(&pool).await;
    assert!(run(shiftwire(&url).arg("migrate")).status.success());
    assert!(run(shiftwire(&url).arg("seed")).status.success());
    let (recorder, push_url) = push_recorder().await;
    let concurrency = CONCURRENCY.to_string();
    let env = [
        ("PUSH_PROVIDER", "webhook"),
        ("PUSH_WEBHOOK_URL", push_url.as_str()),
        ("PUSH_CONCURRENCY", concurrency.as_str()),
    ];
    for n in 0..NURSES {
        let phone = format!("+1415556{n:04}");
        let nurse =
            db::nurse_with_home(&pool, &phone, "Pocket nurse", (38.58, -121.45), 25.0).await;
        let number = format!("RN-POCKET-{n}");
        db::approved_credential(&pool, nurse, "RN", &number, Some("CA"), "2030-01-31").await;
        sqlx::query(
            "INSERT INTO devices (id, nurse_id, platform, token) VALUES ($1, $2, 'android', $3)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(nurse)
        .bind(format!("pocket-device-{n:04}"))
        .execute(&pool)
        .await
        .expect("device");
    }
    let (mut server, addr) = start_server(&url, &env).await;
    let client = reqwest::Client::new();
    let scheduler = demo_scheduler(&client, &addr).await;
    let mercy = db::facility_named(&pool, "Mercy General Hospital").await;
    let starts_at = chrono::Utc::now() + chrono::Duration::days(2);
    let posted = client
        .post(format!("http://{addr}/v1/facilities/{mercy}/shifts"))
        .bearer_auth(scheduler)
        .json(&rn_shift("2 North", starts_at, chrono::Duration::hours(8)))
        .send()
        .await
        .expect("post shift");
    assert_eq!(posted.status(), reqwest::StatusCode::CREATED);

    let waited = std::time::Instant::now();
    while recorder.received().len() < 40 {
        assert!(waited.elapsed() < Duration::from_secs(30), "no pushes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.0.kill().expect("kill -9");
    server.0.wait().expect("reaped");
    let at_kill = recorder.received().len();
    assert!(at_kill < NURSES, "killed mid-batch ({at_kill} sent)");

    // Restart: jobs whose lease ran out (30 s) are sent by the new process.
    let (_restarted, _) = start_server(&url, &env).await;
    let waited = std::time::Instant::now();
    loop {
        let tokens: std::collections::HashSet<String> =
            recorder.received().into_iter().map(|(t, _)| t).collect();
        if tokens.len() == NURSES && db::pushes_settled(&pool).await {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(90),
            "{} of {NURSES} nurses pushed after the restart",
            tokens.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = recorder.received();
    let mut ids: std::collections::HashMap<String, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    for (token, collapse) in &received {
        assert!(!collapse.is_empty(), "every push carries a collapse id");
        ids.entry(token.clone())
            .or_default()
            .insert(collapse.clone());
    }
    assert_eq!(ids.len(), NURSES, "no push missed");
    assert!(
        ids.values().all(|c| c.len() == 1),
        "a push sent again carries its first collapse id"
    );
    // Sent again: only what was in flight, or finished but not yet recorded, at the kill.
    let again = received.len() - NURSES;
    assert!(again <= 2 * CONCURRENCY, "{again} pushes sent again");
    let sent: i64 = count(
        &pool,
        "SELECT count(*) FROM push_jobs WHERE sent_at IS NOT NULL",
    )
    .await;
    assert_eq!(sent, NURSES as i64);
}
