//! The `shiftwire` binary as operators run it: migrate, seed, create users, serve, stop.

use serde_json::json;
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
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE role = 'admin'").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE role = 'verifier'").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE role = 'scheduler'").await,
        2
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE role = 'nurse'").await,
        3
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM facilities").await, 2);
    // The demo shows each path of verification: one approved by the registry, flagged
    // cases in the queue with their reasons, one nurse with nothing on file.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM credentials WHERE status = 'approved'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM credentials WHERE status = 'pending' AND reason_code = 'name_mismatch'").await,
        1
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM credentials").await, 3);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM shifts WHERE status = 'open'").await,
        6
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
        count(
            &pool,
            "SELECT count(*) FROM users WHERE email = 'chief@shiftwire.example' AND role = 'admin'"
        )
        .await,
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
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 1);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
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
