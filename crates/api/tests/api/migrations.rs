//! Existing databases migrate cleanly: data written under an earlier schema comes through
//! each migration with what the migration promises.

use shiftwire_test_support::db;
use sqlx::PgPool;

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
        nurses.push(db::nurse_account(&pool, &format!("+1415555400{n}"), "A Nurse").await);
    }
    // One licence approved three times over, written three ways; and an unrelated one.
    let mut approved = Vec::new();
    for (n, (nurse, number)) in nurses
        .iter()
        .zip(["RN-100234", "rn 100234", "RN100-234"])
        .enumerate()
    {
        let days_ago = 10 - n as i32;
        approved.push(db::rn_licence_approved_days_ago(&pool, *nurse, number, days_ago).await);
    }
    db::rn_licence_approved_unchecked(&pool, nurses[1], "RN-555", "NV").await;

    apply(&pool, |v| v >= IDENTITY_MIGRATION).await;

    let rows = db::licences_of_state_by_decision(&pool, "CA").await;
    assert_eq!(
        rows[0],
        (approved[0], "approved".into(), None),
        "the earliest stands"
    );
    for demoted in &rows[1..] {
        assert_eq!(demoted.1, "pending");
        assert_eq!(demoted.2.as_deref(), Some("licence_in_use"));
    }
    let audited = db::count_flagged_for(&pool, "licence_in_use").await;
    assert_eq!(audited, 2);
    let still_approved = db::count_credentials_with_status(&pool, "approved").await;
    assert_eq!(
        still_approved, 2,
        "the unrelated licence keeps its approval"
    );
    // The database now refuses a second approval.
    let refused = db::try_approve_directly(&pool, approved[2]).await;
    assert!(refused.is_err());
}
