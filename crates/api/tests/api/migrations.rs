//! Existing databases migrate cleanly: data written under an earlier schema comes through
//! each migration with what the migration promises.

use sqlx::PgPool;
use uuid::Uuid;

/// The identity migration, which makes one licence approvable on one account only.
const IDENTITY_MIGRATION: i64 = 20261129000001;

/// Applies the migrations `keep` selects, as plain SQL in order.
async fn apply(pool: &PgPool, keep: impl Fn(i64) -> bool) {
    for migration in shiftwire_api::MIGRATOR.iter() {
        if keep(migration.version) {
            sqlx::raw_sql(&migration.sql)
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("migration {}: {e}", migration.version));
        }
    }
}

#[sqlx::test(migrations = false)]
async fn a_licence_approved_on_two_accounts_keeps_only_the_earliest_approval(pool: PgPool) {
    apply(&pool, |v| v < IDENTITY_MIGRATION).await;
    let mut nurses = Vec::new();
    for n in 0..3 {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, role, phone, name) VALUES ($1, 'nurse', $2, 'A Nurse')",
        )
        .bind(id)
        .bind(format!("+1415555400{n}"))
        .execute(&pool)
        .await
        .expect("nurse");
        nurses.push(id);
    }
    // One licence approved three times over, written three ways; and an unrelated one.
    let mut approved = Vec::new();
    for (n, (nurse, number)) in nurses
        .iter()
        .zip(["RN-100234", "rn 100234", "RN100-234"])
        .enumerate()
    {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on,
                                      status, checked_at, decided_at)
             VALUES ($1, $2, 'RN', $3, 'CA', '2028-03-31', 'approved', now(),
                     now() - make_interval(days => $4))",
        )
        .bind(id)
        .bind(nurse)
        .bind(number)
        .bind(10 - n as i32)
        .execute(&pool)
        .await
        .expect("credential");
        approved.push(id);
    }
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on, status)
         VALUES ($1, $2, 'RN', 'RN-555', 'NV', '2028-03-31', 'approved')",
    )
    .bind(Uuid::now_v7())
    .bind(nurses[1])
    .execute(&pool)
    .await
    .expect("another licence");

    apply(&pool, |v| v >= IDENTITY_MIGRATION).await;

    let rows: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT id, status, reason_code FROM credentials WHERE issuing_state = 'CA' ORDER BY decided_at NULLS LAST, id",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(
        rows[0],
        (approved[0], "approved".into(), None),
        "the earliest stands"
    );
    for demoted in &rows[1..] {
        assert_eq!(demoted.1, "pending");
        assert_eq!(demoted.2.as_deref(), Some("licence_in_use"));
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'credential.flagged'
                                          AND details->>'reason_code' = 'licence_in_use'",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(audited, 2);
    let still_approved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM credentials WHERE status = 'approved'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(
        still_approved, 2,
        "the unrelated licence keeps its approval"
    );
    // The database now refuses a second approval.
    let refused = sqlx::query("UPDATE credentials SET status = 'approved' WHERE id = $1")
        .bind(approved[2])
        .execute(&pool)
        .await;
    assert!(refused.is_err());
}
