//! What tests do to the database where no API may: put a credential on file as already
//! approved, change what a board says of a licence, move a shift or a booking in time,
//! suspend staff, and read state back that no route shows (counts, ranges, evidence).
//! Every statement of the tests on the rooms' tables (`users`, `credentials`, `shifts`,
//! `bookings`) lives here, named for what it stands for, so the rooms' own crates stay
//! the only other place that touches their tables.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
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
    let id = nurse_account(pool, phone, name).await;
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

// Accounts (`users`).

/// A nurse account with this phone and display name, straight into `users` and nothing
/// else (so it works on any schema, even before nurse profiles existed).
pub async fn nurse_account(pool: &PgPool, phone: &str, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, role, phone, name) VALUES ($1, 'nurse', $2, $3)")
        .bind(id)
        .bind(phone)
        .bind(name)
        .execute(pool)
        .await
        .expect("nurse");
    id
}

/// Marks a user suspended in the table and nothing more (no new token generation, no
/// sessions ended, no bookings released): staff, whom no API suspends.
pub async fn suspend_directly(pool: &PgPool, user_id: Uuid) {
    sqlx::query("UPDATE users SET suspended_at = now() WHERE id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .expect("suspend");
}

/// How many accounts there are, of every role.
pub async fn count_users(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
        .expect("count of users")
}

/// How many accounts of `role` (`nurse`, `scheduler`, `verifier`, `admin`) there are.
pub async fn count_users_with_role(pool: &PgPool, role: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = $1")
        .bind(role)
        .fetch_one(pool)
        .await
        .expect("count of users with a role")
}

/// How many staff accounts (anyone but nurses) there are.
pub async fn count_staff(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role <> 'nurse'")
        .fetch_one(pool)
        .await
        .expect("count of staff")
}

/// How many accounts have exactly this stored `email` and `role`.
pub async fn count_users_with_email_and_role(pool: &PgPool, email: &str, role: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1 AND role = $2")
        .bind(email)
        .bind(role)
        .fetch_one(pool)
        .await
        .expect("count of users with an email")
}

/// How many assignments of staff to facilities there are.
pub async fn count_facility_assignments(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM staff_facilities")
        .fetch_one(pool)
        .await
        .expect("count of assignments")
}

/// The role and phone of an account, for a test that has only one.
pub async fn sole_user_role_and_phone(pool: &PgPool) -> (String, String) {
    sqlx::query_as("SELECT role, phone FROM users")
        .fetch_one(pool)
        .await
        .expect("one user")
}

// Sign-in codes and sessions.

/// Every sign-in code on file has expired.
pub async fn codes_expired(pool: &PgPool) {
    sqlx::query("UPDATE otp_codes SET expires_at = now() - interval '1 second'")
        .execute(pool)
        .await
        .expect("expire");
}

/// The oldest sign-in code on file was sent `minutes` minutes ago.
pub async fn oldest_code_sent_minutes_ago(pool: &PgPool, minutes: i32) {
    sqlx::query(
        "UPDATE otp_codes SET created_at = now() - make_interval(mins => $1)
         WHERE id = (SELECT id FROM otp_codes ORDER BY created_at LIMIT 1)",
    )
    .bind(minutes)
    .execute(pool)
    .await
    .expect("age");
}

/// The wrong guesses spent on each sign-in code, the oldest code first.
pub async fn code_attempts(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar("SELECT attempts FROM otp_codes ORDER BY created_at")
        .fetch_all(pool)
        .await
        .expect("attempts")
}

/// How many sign-in codes are on file.
pub async fn count_codes(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM otp_codes")
        .fetch_one(pool)
        .await
        .expect("count of codes")
}

/// The phone key and the code hash of the only sign-in code on file, as stored.
pub async fn sole_code_keys(pool: &PgPool) -> (Vec<u8>, Vec<u8>) {
    sqlx::query_as("SELECT phone_key, code_hash FROM otp_codes")
        .fetch_one(pool)
        .await
        .expect("code")
}

/// Why the only refresh-token family was revoked, if it was.
pub async fn sole_refresh_family_revoked_reason(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar("SELECT revoked_reason FROM refresh_families")
        .fetch_one(pool)
        .await
        .expect("family")
}

// Credentials: what the boards and the automatic check left on file.

/// A pending certification the automatic check handed to a verifier (certifications
/// have no registry): a BLS card numbered `number`, expiring 2028-03-31.
pub async fn certification_awaiting_review(pool: &PgPool, nurse_id: Uuid, number: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, expires_on, status,
                                  checked_at, reason_code, reason)
         VALUES ($1, $2, 'BLS', $3, '2028-03-31', 'pending', now(),
                 'certification_review', 'Certifications have no registry')",
    )
    .bind(id)
    .bind(nurse_id)
    .bind(number)
    .execute(pool)
    .await
    .expect("pending credential");
    id
}

/// A certification (no issuing state) the automatic check has seen and left pending,
/// without a reason.
pub async fn pending_certification(
    pool: &PgPool,
    nurse_id: Uuid,
    kind: &str,
    number: &str,
    expires_on: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, expires_on, multistate, status,
                                  checked_at)
         VALUES ($1, $2, $3, $4, $5::date, false, 'pending', now())",
    )
    .bind(id)
    .bind(nurse_id)
    .bind(kind)
    .bind(number)
    .bind(expires_on)
    .execute(pool)
    .await
    .expect("pending certification");
    id
}

/// A multistate (compact) licence issued in `state`, on file as approved by the registry.
pub async fn approved_multistate_licence(
    pool: &PgPool,
    nurse_id: Uuid,
    kind: &str,
    number: &str,
    state: &str,
    expires_on: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on,
                                  multistate, status, checked_at)
         VALUES ($1, $2, $3, $4, $5, $6::date, true, 'approved', now())",
    )
    .bind(id)
    .bind(nurse_id)
    .bind(kind)
    .bind(number)
    .bind(state)
    .bind(expires_on)
    .execute(pool)
    .await
    .expect("multistate licence");
    id
}

/// A CA RN licence approved `days_ago` days ago (checked now), written with only the
/// columns the first schema had (so it works before later migrations too).
pub async fn rn_licence_approved_days_ago(
    pool: &PgPool,
    nurse_id: Uuid,
    number: &str,
    days_ago: i32,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on,
                                  status, checked_at, decided_at)
         VALUES ($1, $2, 'RN', $3, 'CA', '2028-03-31', 'approved', now(),
                 now() - make_interval(days => $4))",
    )
    .bind(id)
    .bind(nurse_id)
    .bind(number)
    .bind(days_ago)
    .execute(pool)
    .await
    .expect("credential");
    id
}

/// An RN licence of `state` marked approved with no check and no decision on record
/// (as data from before the automatic check).
pub async fn rn_licence_approved_unchecked(
    pool: &PgPool,
    nurse_id: Uuid,
    number: &str,
    state: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on, status)
         VALUES ($1, $2, 'RN', $3, $4, '2028-03-31', 'approved')",
    )
    .bind(id)
    .bind(nurse_id)
    .bind(number)
    .bind(state)
    .execute(pool)
    .await
    .expect("another licence");
    id
}

/// Sets a credential approved in the table, past every rule but the database's own;
/// returns what the database answered.
pub async fn try_approve_directly(pool: &PgPool, credential_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE credentials SET status = 'approved' WHERE id = $1")
        .bind(credential_id)
        .execute(pool)
        .await
        .map(drop)
}

/// The board says the nurse's RN licence is an LPN licence (same number): she holds no RN.
pub async fn rn_licence_becomes_lpn(pool: &PgPool, nurse_id: Uuid) {
    sqlx::query("UPDATE credentials SET kind = 'LPN' WHERE nurse_id = $1 AND kind = 'RN'")
        .bind(nurse_id)
        .execute(pool)
        .await
        .expect("lpn");
}

/// The nurse's RN licence becomes an LPN licence numbered as before with `-LPN` appended.
pub async fn rn_licence_becomes_lpn_renumbered(pool: &PgPool, nurse_id: Uuid) {
    sqlx::query(
        "UPDATE credentials SET kind = 'LPN', number = number || '-LPN'
         WHERE nurse_id = $1 AND kind = 'RN'",
    )
    .bind(nurse_id)
    .execute(pool)
    .await
    .expect("an LPN");
}

/// The nurse's RN licence was issued in `state` (not where the tests' facilities are).
pub async fn rn_licence_issued_in(pool: &PgPool, nurse_id: Uuid, state: &str) {
    sqlx::query("UPDATE credentials SET issuing_state = $2 WHERE nurse_id = $1 AND kind = 'RN'")
        .bind(nurse_id)
        .bind(state)
        .execute(pool)
        .await
        .expect("licence state");
}

/// The nurse's RN licence has this `number` now and is due for a registry re-check.
pub async fn rn_licence_renumbered_and_due(pool: &PgPool, nurse_id: Uuid, number: &str) {
    sqlx::query(
        "UPDATE credentials SET number = $2, recheck_due_at = now() - interval '1 minute'
         WHERE nurse_id = $1 AND kind = 'RN'",
    )
    .bind(nurse_id)
    .bind(number)
    .execute(pool)
    .await
    .expect("due");
}

/// The nurse's BLS card expires today (the database's date).
pub async fn bls_expires_today(pool: &PgPool, nurse_id: Uuid) {
    sqlx::query(
        "UPDATE credentials SET expires_on = current_date WHERE nurse_id = $1 AND kind = 'BLS'",
    )
    .bind(nurse_id)
    .execute(pool)
    .await
    .expect("bls");
}

/// The nurse's BLS card expires tomorrow (the database's date).
pub async fn bls_expires_tomorrow(pool: &PgPool, nurse_id: Uuid) {
    sqlx::query(
        "UPDATE credentials SET expires_on = current_date + 1 WHERE nurse_id = $1 AND kind = 'BLS'",
    )
    .bind(nurse_id)
    .execute(pool)
    .await
    .expect("lapse BLS");
}

/// The nurse's credentials of `kind` expire on `expires_on` (YYYY-MM-DD).
pub async fn credential_expires_on(pool: &PgPool, nurse_id: Uuid, kind: &str, expires_on: &str) {
    sqlx::query("UPDATE credentials SET expires_on = $3::date WHERE nurse_id = $1 AND kind = $2")
        .bind(nurse_id)
        .bind(kind)
        .bind(expires_on)
        .execute(pool)
        .await
        .expect("expiry");
}

/// The board corrected a credential's expiry to yesterday (the database's date); it stays
/// as it is until the sweeper runs.
pub async fn credential_expired_yesterday(pool: &PgPool, credential_id: Uuid) {
    sqlx::query("UPDATE credentials SET expires_on = current_date - 1 WHERE id = $1")
        .bind(credential_id)
        .execute(pool)
        .await
        .expect("back-date");
}

/// Every credential of the nurse is pending again: she is not verified.
pub async fn credentials_back_to_pending(pool: &PgPool, nurse_id: Uuid) {
    sqlx::query("UPDATE credentials SET status = 'pending' WHERE nurse_id = $1")
        .bind(nurse_id)
        .execute(pool)
        .await
        .expect("pending");
}

/// Every credential of the nurse is gone: she has nothing on file.
pub async fn forget_credentials(pool: &PgPool, nurse_id: Uuid) {
    sqlx::query("DELETE FROM credentials WHERE nurse_id = $1")
        .bind(nurse_id)
        .execute(pool)
        .await
        .expect("unverify");
}

/// An approved credential's registry re-check is due now.
pub async fn recheck_due_now(pool: &PgPool, credential_id: Uuid) {
    sqlx::query(
        "UPDATE credentials SET recheck_due_at = now() - interval '1 second' WHERE id = $1",
    )
    .bind(credential_id)
    .execute(pool)
    .await
    .expect("due");
}

/// A credential's re-check is taken off the schedule, if it is flagged.
pub async fn unschedule_recheck_if_flagged(pool: &PgPool, credential_id: Uuid) {
    sqlx::query(
        "UPDATE credentials SET recheck_due_at = NULL WHERE id = $1 AND flagged_at IS NOT NULL",
    )
    .bind(credential_id)
    .execute(pool)
    .await
    .expect("flagged");
}

/// When a credential's next registry re-check is due (it must have one).
pub async fn recheck_due_at(pool: &PgPool, credential_id: Uuid) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT recheck_due_at FROM credentials WHERE id = $1")
        .bind(credential_id)
        .fetch_one(pool)
        .await
        .expect("due")
}

/// What the registry returned when it approved a credential automatically.
pub async fn evidence_of(pool: &PgPool, credential_id: Uuid) -> Value {
    sqlx::query_scalar("SELECT evidence FROM credentials WHERE id = $1")
        .bind(credential_id)
        .fetch_one(pool)
        .await
        .expect("evidence")
}

/// The id, status and reason code of every licence of `state`, the earliest decided
/// first (undecided last), then by id.
pub async fn licences_of_state_by_decision(
    pool: &PgPool,
    state: &str,
) -> Vec<(Uuid, String, Option<String>)> {
    sqlx::query_as(
        "SELECT id, status, reason_code FROM credentials WHERE issuing_state = $1
         ORDER BY decided_at NULLS LAST, id",
    )
    .bind(state)
    .fetch_all(pool)
    .await
    .expect("rows")
}

/// How many licences are approved on more than one credential (one kind, state and
/// number, however written): must be none.
pub async fn count_licences_approved_twice(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT number_key FROM credentials WHERE status = 'approved'
                               GROUP BY kind, issuing_state, number_key HAVING count(*) > 1) d",
    )
    .fetch_one(pool)
    .await
    .expect("count")
}

/// How many approved credentials are due for a registry re-check now.
pub async fn count_approved_due_for_recheck(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM credentials WHERE status = 'approved' AND recheck_due_at <= now()",
    )
    .fetch_one(pool)
    .await
    .expect("count")
}

/// How many credentials are on file, of every nurse.
pub async fn count_credentials(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM credentials")
        .fetch_one(pool)
        .await
        .expect("count of credentials")
}

/// How many credentials have this `status`.
pub async fn count_credentials_with_status(pool: &PgPool, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM credentials WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
        .expect("count of credentials with a status")
}

/// How many credentials wait for a person for this `reason_code`.
pub async fn count_credentials_with_reason(pool: &PgPool, reason_code: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM credentials WHERE reason_code = $1")
        .bind(reason_code)
        .fetch_one(pool)
        .await
        .expect("count of credentials with a reason")
}

/// How many documents a credential has on file (at most one).
pub async fn count_documents_of(pool: &PgPool, credential_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM credential_documents WHERE credential_id = $1")
        .bind(credential_id)
        .fetch_one(pool)
        .await
        .expect("count of documents")
}

// Identities.

/// How many identities were ever submitted, of every nurse.
pub async fn count_identities(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM identities")
        .fetch_one(pool)
        .await
        .expect("count of identities")
}

/// The status of an identity (`pending`, `verified`, `rejected`).
pub async fn identity_status(pool: &PgPool, identity_id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM identities WHERE id = $1")
        .bind(identity_id)
        .fetch_one(pool)
        .await
        .expect("identity status")
}

/// An identity the external service was deciding is a verifier's to decide now.
pub async fn identity_left_to_verifiers(pool: &PgPool, identity_id: Uuid) {
    sqlx::query("UPDATE identities SET provider = 'manual' WHERE id = $1")
        .bind(identity_id)
        .execute(pool)
        .await
        .expect("provider");
}

/// The storage keys of every identity's photo ID and selfie.
pub async fn identity_image_keys(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT unnest(ARRAY[id_document_key, selfie_key]) FROM identities")
        .fetch_all(pool)
        .await
        .expect("identity keys")
}

// Nurses' profiles and the offer log.

/// The nurse reported a live location at `at` (lat, lon), `minutes_ago` minutes ago
/// (it counts for 15).
pub async fn live_location_reported(
    pool: &PgPool,
    nurse_id: Uuid,
    at: (f64, f64),
    minutes_ago: i32,
) {
    sqlx::query(
        "UPDATE nurse_profiles SET live_location = ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography,
             live_location_at = now() - make_interval(mins => $4)
         WHERE nurse_id = $1",
    )
    .bind(nurse_id)
    .bind(at.1)
    .bind(at.0)
    .bind(minutes_ago)
    .execute(pool)
    .await
    .expect("live location");
}

/// Whether the nurse's last live location is stored.
pub async fn has_live_location(pool: &PgPool, nurse_id: Uuid) -> bool {
    sqlx::query_scalar("SELECT live_location IS NOT NULL FROM nurse_profiles WHERE nurse_id = $1")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("profile")
}

/// How many offers to the nurse the offer log holds.
pub async fn count_offers_logged_for(pool: &PgPool, nurse_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM offer_log WHERE nurse_id = $1")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("offer log")
}

// Shifts and bookings.

/// Moves a shift's window to `starts_at`..`ends_at` (into the past, say), past every rule.
pub async fn backdate_shift(
    pool: &PgPool,
    shift_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) {
    sqlx::query("UPDATE shifts SET starts_at = $2, ends_at = $3 WHERE id = $1")
        .bind(shift_id)
        .bind(starts_at)
        .bind(ends_at)
        .execute(pool)
        .await
        .expect("past");
}

/// Moves a booking with its shift: its range is `starts_at`..`ends_at` and the nurse
/// checked in at `starts_at`.
pub async fn backdate_checked_in_booking(
    pool: &PgPool,
    booking_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) {
    sqlx::query("UPDATE bookings SET during = tstzrange($2, $3), checked_in_at = $2 WHERE id = $1")
        .bind(booking_id)
        .bind(starts_at)
        .bind(ends_at)
        .execute(pool)
        .await
        .expect("past");
}

/// The shift ended `hours` hours ago (its start stays).
pub async fn shift_ended_hours_ago(pool: &PgPool, shift_id: Uuid, hours: i32) {
    sqlx::query("UPDATE shifts SET ends_at = now() - make_interval(hours => $2) WHERE id = $1")
        .bind(shift_id)
        .bind(hours)
        .execute(pool)
        .await
        .expect("later");
}

/// The facility deducts `minutes` of break from each checked-out shift.
pub async fn facility_default_break(pool: &PgPool, facility_id: Uuid, minutes: i32) {
    sqlx::query("UPDATE facilities SET default_break_minutes = $2 WHERE id = $1")
        .bind(facility_id)
        .bind(minutes)
        .execute(pool)
        .await
        .expect("default break");
}

/// The facility's cancellation of this booking came late: it owes `minutes` of pay.
pub async fn owes_late_cancel_pay(pool: &PgPool, booking_id: Uuid, minutes: i32) {
    sqlx::query("UPDATE bookings SET late_cancel_pay_minutes = $2 WHERE id = $1")
        .bind(booking_id)
        .bind(minutes)
        .execute(pool)
        .await
        .expect("late cancellation pay");
}

/// How many timesheets the booking has.
pub async fn count_timesheets_of_booking(pool: &PgPool, booking_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM timesheets WHERE booking_id = $1")
        .bind(booking_id)
        .fetch_one(pool)
        .await
        .expect("count of timesheets")
}

/// The audit rows of a timesheet, oldest first: (action, actor, reason, details).
pub async fn timesheet_audit(
    pool: &PgPool,
    timesheet_id: Uuid,
) -> Vec<(String, Option<Uuid>, Option<String>, Value)> {
    sqlx::query_as(
        "SELECT action, actor_id, reason, details FROM audit_log
         WHERE subject_type = 'timesheet' AND subject_id = $1 ORDER BY id",
    )
    .bind(timesheet_id)
    .fetch_all(pool)
    .await
    .expect("audit rows")
}

/// Locks a shift's row in the caller's transaction, so that whatever needs it waits
/// until the transaction ends.
pub async fn hold_shift_row(conn: &mut PgConnection, shift_id: Uuid) {
    sqlx::query("SELECT id FROM shifts WHERE id = $1 FOR UPDATE")
        .bind(shift_id)
        .execute(conn)
        .await
        .expect("hold");
}

/// How many shifts there are, of every facility and status.
pub async fn count_shifts(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM shifts")
        .fetch_one(pool)
        .await
        .expect("count of shifts")
}

/// How many shifts have this `status`.
pub async fn count_shifts_with_status(pool: &PgPool, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM shifts WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
        .expect("count of shifts with a status")
}

/// The ids (as text) of the open shifts of a unit.
pub async fn open_shift_ids_in_unit(pool: &PgPool, unit: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT id::text FROM shifts WHERE unit = $1 AND status = 'open'")
        .bind(unit)
        .fetch_all(pool)
        .await
        .expect("shifts")
}

/// How many bookings a shift has had, in every status.
pub async fn count_bookings_of_shift(pool: &PgPool, shift_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM bookings WHERE shift_id = $1")
        .bind(shift_id)
        .fetch_one(pool)
        .await
        .expect("count of bookings")
}

/// How many bookings a nurse has had, in every status.
pub async fn count_bookings_of_nurse(pool: &PgPool, nurse_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM bookings WHERE nurse_id = $1")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("count of bookings")
}

/// How many bookings of one shift by one nurse there are, in every status.
pub async fn count_bookings_of_nurse_on_shift(
    pool: &PgPool,
    nurse_id: Uuid,
    shift_id: Uuid,
) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM bookings WHERE shift_id = $1 AND nurse_id = $2")
        .bind(shift_id)
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("count of bookings")
}

/// How many WebSocket tickets were ever issued.
pub async fn count_ws_tickets(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ws_tickets")
        .fetch_one(pool)
        .await
        .expect("count of tickets")
}

/// How many of the nurse's bookings are live (`booked`).
pub async fn count_live_bookings_of_nurse(pool: &PgPool, nurse_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM bookings WHERE nurse_id = $1 AND status = 'booked'")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("count of live bookings")
}

/// The time range the live booking of a shift holds in its nurse's schedule, if the
/// shift is booked.
pub async fn booked_range_of_shift(
    pool: &PgPool,
    shift_id: Uuid,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT lower(during), upper(during) FROM bookings
         WHERE shift_id = $1 AND status = 'booked'",
    )
    .bind(shift_id)
    .fetch_optional(pool)
    .await
    .expect("booking")
}

// The outbox.

/// How many events of `topic` the outbox holds.
pub async fn count_outbox_of_topic(pool: &PgPool, topic: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(pool)
        .await
        .expect("count of events")
}

/// The topics of the events about a shift, in the order they were written.
pub async fn outbox_topics_of_shift(pool: &PgPool, shift_id: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT topic FROM outbox WHERE payload->>'shift_id' = $1 ORDER BY id")
        .bind(shift_id.to_string())
        .fetch_all(pool)
        .await
        .expect("outbox")
}

/// The stream position (outbox id) of the event of `topic` about a shift.
pub async fn outbox_position_of(pool: &PgPool, topic: &str, shift_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT id FROM outbox WHERE topic = $1 AND payload->>'shift_id' = $2")
        .bind(topic)
        .bind(shift_id.to_string())
        .fetch_one(pool)
        .await
        .expect("outbox")
}

/// The payload of the only event of `topic` in the outbox.
pub async fn sole_payload_of_topic(pool: &PgPool, topic: &str) -> Value {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(pool)
        .await
        .expect("payload")
}

// Facilities and the audit log.

/// A facility of this name at `at` (lat, lon) in `state`, geofence 200 m, straight into
/// the table (to put one where no address would).
pub async fn facility_at(pool: &PgPool, name: &str, state: &str, at: (f64, f64)) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
         VALUES ($1, $2, 'Main St', ST_SetSRID(ST_MakePoint($4, $3), 4326)::geography,
                 'America/Los_Angeles', $5, 200)",
    )
    .bind(id)
    .bind(name)
    .bind(at.0)
    .bind(at.1)
    .bind(state)
    .execute(pool)
    .await
    .expect("facility");
    id
}

/// The id of the facility of this name (one of the seeded ones, say).
pub async fn facility_named(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM facilities WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("facility")
}

/// How many audit rows record `action` on `subject_id`.
pub async fn audit_rows(pool: &PgPool, subject_id: Uuid, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE subject_id = $1 AND action = $2")
        .bind(subject_id)
        .bind(action)
        .fetch_one(pool)
        .await
        .expect("count of audit rows")
}

/// How many decisions (approvals and rejections) the audit log records on a credential.
pub async fn count_decisions_of(pool: &PgPool, credential_id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE subject_id = $1
                                          AND action IN ('credential.approved', 'credential.rejected')",
    )
    .bind(credential_id)
    .fetch_one(pool)
    .await
    .expect("count of decisions")
}

/// How many events of `topic` the outbox holds for `user_id`.
pub async fn count_outbox_for_user(pool: &PgPool, topic: &str, user_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = $1 AND user_id = $2")
        .bind(topic)
        .bind(user_id)
        .fetch_one(pool)
        .await
        .expect("count of events")
}

/// How many credentials the audit log records as flagged for `reason_code`.
pub async fn count_flagged_for(pool: &PgPool, reason_code: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'credential.flagged'
                                          AND details->>'reason_code' = $1",
    )
    .bind(reason_code)
    .fetch_one(pool)
    .await
    .expect("audit")
}

/// Every browser session of the portal and console was last used `minutes` ago.
pub async fn web_sessions_idle_for(pool: &PgPool, minutes: i32) {
    sqlx::query("UPDATE web_sessions SET last_seen_at = now() - make_interval(mins => $1)")
        .bind(minutes)
        .execute(pool)
        .await
        .expect("idle sessions");
}

/// How many shift templates a facility has saved.
pub async fn count_templates(pool: &PgPool, facility_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM shift_templates WHERE facility_id = $1")
        .bind(facility_id)
        .fetch_one(pool)
        .await
        .expect("templates")
}

/// Push jobs planned for a nurse, of every kind and state.
pub async fn count_push_jobs(pool: &PgPool, nurse_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM push_jobs WHERE nurse_id = $1")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("push jobs")
}

/// Devices registered to a nurse.
pub async fn count_devices(pool: &PgPool, nurse_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM devices WHERE nurse_id = $1")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("devices")
}

/// Whether some node counts the nurse as holding a socket.
pub async fn is_present(pool: &PgPool, nurse_id: Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM presence WHERE nurse_id = $1)")
        .bind(nurse_id)
        .fetch_one(pool)
        .await
        .expect("presence")
}

/// A user's phone number (E.164).
pub async fn phone_of(pool: &PgPool, user_id: Uuid) -> String {
    sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .expect("phone")
}

/// Whether the push planner has read every committed event, no job is due unsent, and
/// no job is being sent (a text is marked sent before the gateway is called).
pub async fn pushes_settled(pool: &PgPool) -> bool {
    sqlx::query_scalar(
        "SELECT (SELECT seq FROM push_cursor WHERE name = 'offers')
                    >= (SELECT COALESCE(max(id), 0) FROM outbox)
                AND NOT EXISTS (SELECT 1 FROM push_jobs
                                WHERE (sent_at IS NULL AND failed_at IS NULL
                                       AND not_before <= now())
                                   OR locked_until > now())",
    )
    .fetch_one(pool)
    .await
    .expect("push progress")
}

/// A nurse's push jobs of `kind`: (sent, why it was left out or failed).
pub async fn push_jobs_of(
    pool: &PgPool,
    nurse_id: Uuid,
    kind: &str,
) -> Vec<(bool, Option<String>)> {
    sqlx::query_as(
        "SELECT sent_at IS NOT NULL, last_error FROM push_jobs
         WHERE nurse_id = $1 AND kind = $2 ORDER BY id",
    )
    .bind(nurse_id)
    .bind(kind)
    .fetch_all(pool)
    .await
    .expect("push jobs")
}

// After the claim.

/// A booking's status as stored.
pub async fn booking_status(pool: &PgPool, booking_id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM bookings WHERE id = $1")
        .bind(booking_id)
        .fetch_one(pool)
        .await
        .expect("booking")
}

/// How many attendance events of `cause` a booking has.
pub async fn attendance_events_of(pool: &PgPool, booking_id: Uuid, cause: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM attendance_events WHERE booking_id = $1 AND cause = $2",
    )
    .bind(booking_id)
    .bind(cause)
    .fetch_one(pool)
    .await
    .expect("attendance events")
}

/// A booked shift moved so that it started `started_minutes_ago` (as if every server was
/// down while its no-show deadline passed), keeping its length; its booking claimed a day
/// before that start.
pub async fn booked_shift_started_minutes_ago(
    pool: &PgPool,
    booking_id: Uuid,
    started_minutes_ago: i32,
) {
    let mut tx = pool.begin().await.expect("tx");
    sqlx::query(
        "UPDATE shifts s SET starts_at = now() - make_interval(mins => $2),
                             ends_at = now() - make_interval(mins => $2) + (s.ends_at - s.starts_at)
         FROM bookings b WHERE b.id = $1 AND s.id = b.shift_id",
    )
    .bind(booking_id)
    .bind(started_minutes_ago)
    .execute(&mut *tx)
    .await
    .expect("move the shift");
    sqlx::query(
        "UPDATE bookings b SET during = tstzrange(s.starts_at, s.ends_at),
                              created_at = s.starts_at - interval '1 day'
         FROM shifts s WHERE b.id = $1 AND s.id = b.shift_id",
    )
    .bind(booking_id)
    .execute(&mut *tx)
    .await
    .expect("move the booking");
    tx.commit().await.expect("commit");
}
