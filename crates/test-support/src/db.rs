//! What tests do to the database where no API may: put a credential on file as already
//! approved, move a shift or a booking in time, and read state back that no route shows.
//! Every table-level write of the tests lives here, named for what it stands for, so the
//! rooms' own crates stay the only other place that touches their tables.

use sqlx::PgPool;
use uuid::Uuid;

/// A credential on file as approved by the registry (`state` for a licence).
pub async fn approved_credential(
    pool: &PgPool,
    nurse_id: Uuid,
    kind: &str,
    number: &str,
    state: Option<&str>,
    expires_on: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on, status,
                                  checked_at)
         VALUES ($1, $2, $3, $4, $5, $6::date, 'approved', now())",
    )
    .bind(id)
    .bind(nurse_id)
    .bind(kind)
    .bind(number)
    .bind(state)
    .bind(expires_on)
    .execute(pool)
    .await
    .expect("an approved credential");
    id
}

/// A verifier account to act as (without a password: it never signs in).
pub async fn reviewer(pool: &PgPool) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, role, email, password_hash) VALUES ($1, 'verifier', $2, '-')",
    )
    .bind(id)
    .bind(format!("reviewer-{id}@shiftwire.example"))
    .execute(pool)
    .await
    .expect("reviewer");
    id
}

/// A nurse account living at `home` (lat, lon) and going `max_km`, straight into the
/// tables: for tests that run the `shiftwire` binary in its own process and have no app
/// to build one through.
pub async fn nurse_with_home(
    pool: &PgPool,
    phone: &str,
    name: &str,
    home: (f64, f64),
    max_km: f64,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, role, phone, name) VALUES ($1, 'nurse', $2, $3)")
        .bind(id)
        .bind(phone)
        .bind(name)
        .execute(pool)
        .await
        .expect("nurse");
    sqlx::query(
        "INSERT INTO nurse_profiles (nurse_id, home, max_distance_km)
         VALUES ($1, ST_SetSRID(ST_MakePoint($3, $2), 4326)::geography, $4)",
    )
    .bind(id)
    .bind(home.0)
    .bind(home.1)
    .bind(max_km)
    .execute(pool)
    .await
    .expect("nurse's home");
    id
}
