//! Timesheets over the real API: check-out submits the geofenced hours less the
//! facility's break; the facility approves, adjusts or rejects; the nurse disputes within
//! 48 hours (and not after, read off an injected clock); an admin resolves; what nobody
//! acts on is approved automatically at the deadline; the payroll CSV holds exactly the
//! payable hours in range. Every step is audited and kept in the timesheet's history.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shiftwire_test_support::{
    TestApp, assert_json, assert_problem,
    builders::{
        FACILITY_AT, Facility, book, cancel_shift, check_in, check_out, facility, id_of,
        nearby_nurse, post_shift, shift_body,
    },
    db, spawn_app,
};
use sqlx::PgPool;
use uuid::Uuid;

/// A nurse who worked a shift of the facility and checked out.
struct Worked {
    nurse: String,
    nurse_id: Uuid,
    booking: Uuid,
    shift: Uuid,
    /// The shift's window.
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// The timesheet as the nurse sees it right after check-out.
    timesheet: Value,
}

impl Worked {
    fn id(&self) -> Uuid {
        id_of(&self.timesheet)
    }
}

/// A fresh nurse books an 8-hour shift, checks in, and (the shift moved 9 hours into the
/// past, so it ended an hour ago) checks out: worked time counts from the start until
/// 30 minutes after the end.
async fn worked(app: &TestApp, f: &Facility) -> Worked {
    let (nurse, nurse_id) = nearby_nurse(app).await;
    let shift = id_of(&post_shift(app, f, &shift_body(10, 8)).await);
    let booking = book(app, &nurse, shift).await;
    assert_json(
        check_in(app, &nurse, booking, FACILITY_AT).await,
        StatusCode::OK,
    )
    .await;
    // Whole seconds: the database keeps microseconds, the CSV seconds.
    let starts_at = (Utc::now() - Duration::hours(9)).trunc_subsecs(0);
    let ends_at = starts_at + Duration::hours(8);
    db::backdate_shift(&app.pool, shift, starts_at, ends_at).await;
    db::backdate_checked_in_booking(&app.pool, booking, starts_at, ends_at).await;
    assert_json(
        check_out(app, &nurse, booking, FACILITY_AT).await,
        StatusCode::OK,
    )
    .await;
    let mine = app.get_json("/v1/me/timesheets", &nurse).await;
    let timesheet = mine["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["booking_id"] == booking.to_string())
        .cloned()
        .expect("check-out submitted a timesheet");
    Worked {
        nurse,
        nurse_id,
        booking,
        shift,
        starts_at,
        ends_at,
        timesheet,
    }
}

fn times(
    clock_in: DateTime<Utc>,
    clock_out: DateTime<Utc>,
    break_minutes: i32,
    reason: &str,
) -> Value {
    json!({
        "clock_in": clock_in,
        "clock_out": clock_out,
        "break_minutes": break_minutes,
        "reason": reason,
    })
}

async fn act(
    app: &TestApp,
    token: &str,
    id: Uuid,
    action: &str,
    body: &Value,
) -> reqwest::Response {
    app.post(&format!("/v1/timesheets/{id}/{action}"), body, Some(token))
        .await
}

async fn resolve(app: &TestApp, token: &str, id: Uuid, body: &Value) -> reqwest::Response {
    app.post(
        &format!("/v1/admin/timesheets/{id}/resolve"),
        body,
        Some(token),
    )
    .await
}

/// The facility's timesheets (`query`: "" or "?status=submitted", say): the first page.
async fn listed(app: &TestApp, f: &Facility, query: &str) -> Vec<Value> {
    let path = format!("/v1/facilities/{}/timesheets{query}", f.id);
    app.get_json(&path, &f.scheduler).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn sheet_of(app: &TestApp, f: &Facility, id: Uuid) -> Value {
    listed(app, f, "")
        .await
        .into_iter()
        .find(|t| t["id"] == id.to_string())
        .expect("the timesheet is listed")
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("time").parse().expect("RFC 3339")
}

/// The actions of the audit rows of a timesheet, oldest first.
async fn audited(app: &TestApp, id: Uuid) -> Vec<String> {
    db::timesheet_audit(&app.pool, id)
        .await
        .into_iter()
        .map(|(action, ..)| action)
        .collect()
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn check_out_submits_the_geofenced_hours_less_the_facilitys_break(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    db::facility_default_break(&app.pool, f.id, 45).await;
    let w = worked(&app, &f).await;
    let t = &w.timesheet;
    assert_eq!(t["status"], "submitted", "{t}");
    assert_eq!(t["booking_id"], w.booking.to_string());
    assert_eq!(time(&t["clock_in"]), w.starts_at);
    // Checked out an hour after the end: counted until 30 minutes after it.
    assert_eq!(time(&t["clock_out"]), w.ends_at + Duration::minutes(30));
    assert_eq!(t["break_minutes"], 45);
    assert_eq!(t["worked_minutes"], 8 * 60 + 30 - 45);
    assert_eq!(t["shift"]["id"], w.shift.to_string());
    assert_eq!(t["shift"]["unit"], "4 West, Med-Surg");
    assert_eq!(t["nurse"]["id"], w.nurse_id.to_string());
    assert_eq!(t["nurse"]["name"], "Test Nurse");
    assert_eq!(
        time(&t["auto_approves_at"]),
        time(&t["submitted_at"]) + Duration::hours(72)
    );
    let history = t["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["action"], "submitted");
    assert_eq!(history[0]["actor_role"], "nurse");
    assert_eq!(history[0]["actor_id"], w.nurse_id.to_string());
    assert_eq!(history[0]["worked_minutes"], 8 * 60 + 30 - 45);
    // The facility sees the same timesheet, awaiting its decision.
    let pending = listed(&app, &f, "?status=submitted").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["id"], t["id"]);
    assert!(listed(&app, &f, "?status=approved").await.is_empty());
    assert_eq!(audited(&app, w.id()).await, ["timesheet.submitted"]);
    assert_eq!(
        db::count_timesheets_of_booking(&app.pool, w.booking).await,
        1
    );
    // Checking out again is refused and submits nothing more.
    let again = check_out(&app, &w.nurse, w.booking, FACILITY_AT).await;
    assert_problem(again, StatusCode::CONFLICT, "not_checkable").await;
    assert_eq!(
        db::count_timesheets_of_booking(&app.pool, w.booking).await,
        1
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_short_stay_is_never_negative(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let (nurse, _) = nearby_nurse(&app).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(10, 8)).await);
    let booking = book(&app, &nurse, shift).await;
    assert_json(
        check_in(&app, &nurse, booking, FACILITY_AT).await,
        StatusCode::OK,
    )
    .await;
    assert_json(
        check_out(&app, &nurse, booking, FACILITY_AT).await,
        StatusCode::OK,
    )
    .await;
    let mine = app.get_json("/v1/me/timesheets", &nurse).await;
    let t = &mine["items"][0];
    assert_eq!(t["status"], "submitted");
    assert_eq!(t["worked_minutes"], 0, "{t}");
    assert_eq!(
        t["break_minutes"], 0,
        "no break fits in a stay of no minutes: {t}"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_facility_approves_once_and_only_its_own_scheduler_may(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let other = facility(&app, "Bayview Care Center").await;
    let w = worked(&app, &f).await;
    // A nurse cannot approve, not even her own hours; another facility does not see them.
    assert_problem(
        act(&app, &w.nurse, w.id(), "approve", &json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        act(&app, &other.scheduler, w.id(), "approve", &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let path = format!("/v1/facilities/{}/timesheets", f.id);
    assert_problem(
        app.get(&path, Some(&other.scheduler)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(listed(&app, &other, "").await.is_empty());
    assert_eq!(audited(&app, w.id()).await, ["timesheet.submitted"]);

    let approved = assert_json(
        act(&app, &f.scheduler, w.id(), "approve", &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(approved["worked_minutes"], w.timesheet["worked_minutes"]);
    assert!(approved["auto_approves_at"].is_null());
    let step = &approved["history"][1];
    assert_eq!(step["action"], "approved");
    assert_eq!(step["actor_role"], "scheduler");
    assert_eq!(step["status"], "approved");
    // Decided: nothing else the facility does applies, and an approval is not disputable.
    assert_problem(
        act(&app, &f.scheduler, w.id(), "approve", &json!({})).await,
        StatusCode::CONFLICT,
        "timesheet_decided",
    )
    .await;
    assert_problem(
        act(
            &app,
            &f.scheduler,
            w.id(),
            "reject",
            &json!({ "reason": "Too late" }),
        )
        .await,
        StatusCode::CONFLICT,
        "timesheet_decided",
    )
    .await;
    assert_problem(
        act(
            &app,
            &w.nurse,
            w.id(),
            "dispute",
            &json!({ "reason": "I want more" }),
        )
        .await,
        StatusCode::CONFLICT,
        "timesheet_not_disputable",
    )
    .await;
    let audit = db::timesheet_audit(&app.pool, w.id()).await;
    assert_eq!(audit.len(), 2);
    let (action, _, _, details) = &audit[1];
    assert_eq!(action, "timesheet.approved");
    assert_eq!(details["before"]["status"], "submitted");
    assert_eq!(details["after"]["status"], "approved");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn an_adjustment_is_disputed_within_48_hours_and_an_admin_resolves_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let admin = app.admin_token().await;
    let w = worked(&app, &f).await;
    // The facility says she left at the end, with a 60-minute break.
    let body = times(
        w.starts_at,
        w.ends_at,
        60,
        "Left at 19:00 per the charge nurse",
    );
    let adjusted = assert_json(
        act(&app, &f.scheduler, w.id(), "adjust", &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(adjusted["status"], "adjusted", "{adjusted}");
    assert_eq!(time(&adjusted["clock_out"]), w.ends_at);
    assert_eq!(adjusted["break_minutes"], 60);
    assert_eq!(adjusted["worked_minutes"], 8 * 60 - 60);
    let decided = time(&adjusted["decided_at"]);
    assert_eq!(
        time(&adjusted["dispute_until"]),
        decided + Duration::hours(48)
    );
    let step = &adjusted["history"][1];
    assert_eq!(step["action"], "adjusted");
    assert_eq!(step["reason"], "Left at 19:00 per the charge nurse");
    // An admin cannot resolve what is not disputed.
    let resolution = times(
        w.starts_at,
        w.ends_at + Duration::minutes(30),
        30,
        "Badge log shows 19:30",
    );
    assert_problem(
        resolve(&app, &admin, w.id(), &resolution).await,
        StatusCode::CONFLICT,
        "timesheet_not_disputed",
    )
    .await;

    // 47 hours later she disputes; another nurse cannot.
    app.clock.advance(Duration::hours(47));
    let (stranger, _) = nearby_nurse(&app).await;
    let reason = json!({ "reason": "I stayed for handover until 19:30" });
    assert_problem(
        act(&app, &stranger, w.id(), "dispute", &reason).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let disputed = assert_json(
        act(&app, &w.nurse, w.id(), "dispute", &reason).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(disputed["status"], "disputed", "{disputed}");
    assert_eq!(disputed["history"][2]["actor_role"], "nurse");
    assert_eq!(
        disputed["history"][2]["reason"],
        "I stayed for handover until 19:30"
    );
    // The facility cannot decide again while the dispute stands.
    assert_problem(
        act(&app, &f.scheduler, w.id(), "approve", &json!({})).await,
        StatusCode::CONFLICT,
        "timesheet_decided",
    )
    .await;

    // The admin finds it among the disputes to resolve.
    let disputes = app
        .get_json("/v1/admin/timesheets?status=disputed", &admin)
        .await;
    let waiting: Vec<&Value> = disputes["items"]
        .as_array()
        .expect("items")
        .iter()
        .collect();
    assert_eq!(waiting.len(), 1, "{disputes}");
    assert_eq!(waiting[0]["id"], w.id().to_string());
    assert_eq!(
        waiting[0]["history"][2]["reason"],
        "I stayed for handover until 19:30"
    );
    let resolved = assert_json(
        resolve(&app, &admin, w.id(), &resolution).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resolved["status"], "approved", "{resolved}");
    assert_eq!(
        time(&resolved["clock_out"]),
        w.ends_at + Duration::minutes(30)
    );
    assert_eq!(resolved["break_minutes"], 30);
    assert_eq!(resolved["worked_minutes"], 8 * 60);
    let actions: Vec<&str> = resolved["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["submitted", "adjusted", "disputed", "resolved"]);
    assert_eq!(resolved["history"][3]["actor_role"], "admin");
    // The nurse sees the outcome.
    let mine = app.get_json("/v1/me/timesheets", &w.nurse).await;
    assert_eq!(mine["items"][0]["status"], "approved");
    assert_eq!(mine["items"][0]["worked_minutes"], 8 * 60);

    let audit = db::timesheet_audit(&app.pool, w.id()).await;
    let actions: Vec<&str> = audit.iter().map(|(a, ..)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "timesheet.submitted",
            "timesheet.adjusted",
            "timesheet.disputed",
            "timesheet.resolved"
        ]
    );
    let (_, actor, reason, details) = &audit[1];
    assert!(actor.is_some());
    assert_eq!(
        reason.as_deref(),
        Some("Left at 19:00 per the charge nurse")
    );
    assert_eq!(details["before"]["worked_minutes"], 8 * 60);
    assert_eq!(details["after"]["worked_minutes"], 8 * 60 - 60);
    let (_, _, reason, details) = &audit[3];
    assert_eq!(reason.as_deref(), Some("Badge log shows 19:30"));
    assert_eq!(details["before"]["status"], "disputed");
    assert_eq!(details["after"]["status"], "approved");
    assert_eq!(details["actor_role"], "admin");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_rejection_disputed_after_48_hours_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let w = worked(&app, &f).await;
    let rejected = assert_json(
        act(
            &app,
            &f.scheduler,
            w.id(),
            "reject",
            &json!({ "reason": "Not on the unit roster" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(rejected["history"][1]["reason"], "Not on the unit roster");
    app.clock
        .advance(Duration::hours(48) + Duration::minutes(1));
    let late = act(
        &app,
        &w.nurse,
        w.id(),
        "dispute",
        &json!({ "reason": "I was there" }),
    )
    .await;
    assert_problem(late, StatusCode::CONFLICT, "dispute_window_closed").await;
    let still = sheet_of(&app, &f, w.id()).await;
    assert_eq!(still["status"], "rejected");
    assert_eq!(still["history"].as_array().expect("history").len(), 2);
    assert_eq!(
        audited(&app, w.id()).await,
        ["timesheet.submitted", "timesheet.rejected"]
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn bad_input_is_refused_and_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let admin = app.admin_token().await;
    let w = worked(&app, &f).await;
    let (start, end) = (w.starts_at, w.ends_at);
    let refused = [
        (
            "adjust",
            times(end, start, 30, "Swapped"),
            "invalid_request",
        ),
        (
            "adjust",
            times(start, start, 0, "Nothing"),
            "invalid_request",
        ),
        (
            "adjust",
            times(start, start + Duration::hours(27), 30, "Too long"),
            "invalid_request",
        ),
        (
            "adjust",
            times(start, end, 481, "Long break"),
            "invalid_request",
        ),
        (
            "adjust",
            times(start, end, -5, "Negative"),
            "invalid_request",
        ),
        (
            "adjust",
            times(start, start + Duration::minutes(20), 30, "Break longer"),
            "invalid_request",
        ),
        (
            "adjust",
            times(start, end, 30, "  \u{200B} "),
            "reason_required",
        ),
        (
            "adjust",
            json!({ "clock_in": start, "clock_out": end, "break_minutes": 30 }),
            "invalid_body",
        ),
        (
            "adjust",
            json!({ "clock_in": start, "clock_out": end, "break_minutes": 30, "reason": "x", "status": "approved" }),
            "unknown_field",
        ),
        ("reject", json!({ "reason": "" }), "reason_required"),
        ("reject", json!({}), "invalid_body"),
    ];
    for (action, body, code) in refused {
        let response = act(&app, &f.scheduler, w.id(), action, &body).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let bad_times = resolve(&app, &admin, w.id(), &times(end, start, 0, "Swapped")).await;
    assert_problem(
        bad_times,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    for query in ["?status=paid", "?limit=0", "?cursor=nonsense"] {
        let path = format!("/v1/facilities/{}/timesheets{query}", f.id);
        let response = app.get(&path, Some(&f.scheduler)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
    }
    let after = sheet_of(&app, &f, w.id()).await;
    assert_eq!(after["status"], "submitted");
    assert_eq!(after["history"], w.timesheet["history"]);
    assert_eq!(after["worked_minutes"], w.timesheet["worked_minutes"]);
    assert_eq!(audited(&app, w.id()).await, ["timesheet.submitted"]);
    // A dispute without a reason is refused too, once there is something to dispute.
    let decided = act(
        &app,
        &f.scheduler,
        w.id(),
        "reject",
        &json!({ "reason": "No badge scan" }),
    )
    .await;
    assert_json(decided, StatusCode::OK).await;
    let blank = act(&app, &w.nurse, w.id(), "dispute", &json!({ "reason": " " })).await;
    assert_problem(blank, StatusCode::UNPROCESSABLE_ENTITY, "reason_required").await;
    assert_eq!(sheet_of(&app, &f, w.id()).await["status"], "rejected");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn what_nobody_acts_on_is_approved_automatically_at_the_deadline(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let waiting = worked(&app, &f).await;
    let adjusted = worked(&app, &f).await;
    let body = times(adjusted.starts_at, adjusted.ends_at, 30, "Left at the end");
    assert_json(
        act(&app, &f.scheduler, adjusted.id(), "adjust", &body).await,
        StatusCode::OK,
    )
    .await;
    let deadline = time(&waiting.timesheet["auto_approves_at"]);
    assert_eq!(
        deadline,
        time(&waiting.timesheet["submitted_at"]) + Duration::hours(72)
    );

    // A minute before the deadline: still waiting.
    app.clock
        .advance(Duration::hours(72) - Duration::minutes(1));
    app.state
        .matching
        .auto_approve_timesheets()
        .await
        .expect("sweep");
    assert_eq!(
        sheet_of(&app, &f, waiting.id()).await["status"],
        "submitted"
    );

    // At the deadline, two nodes sweep at once: one decision.
    app.clock.advance(Duration::minutes(1));
    let (a, b) = tokio::join!(
        app.state.matching.auto_approve_timesheets(),
        app.state.matching.auto_approve_timesheets()
    );
    assert!(a.expect("sweep") + b.expect("sweep") <= 1);
    let approved = sheet_of(&app, &f, waiting.id()).await;
    assert_eq!(approved["status"], "approved", "{approved}");
    let step = &approved["history"][1];
    assert_eq!(step["action"], "auto_approved");
    assert_eq!(step["actor_role"], "system");
    assert!(step["actor_id"].is_null());
    let audit = db::timesheet_audit(&app.pool, waiting.id()).await;
    assert_eq!(audit.len(), 2, "one approval, audited once");
    let (action, actor, _, details) = &audit[1];
    assert_eq!(action, "timesheet.auto_approved");
    assert!(actor.is_none(), "done by Shiftwire itself");
    assert_eq!(details["actor_role"], "system");
    // Only submitted timesheets wait for the facility: the adjustment stands.
    assert_eq!(
        sheet_of(&app, &f, adjusted.id()).await["status"],
        "adjusted"
    );
}

/// The rows of a CSV body, header first.
fn csv_rows(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_payroll_csv_holds_the_payable_hours_in_range(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General Hospital").await;
    let other = facility(&app, "Bayview Care Center").await;
    let approved = worked(&app, &f).await;
    let waiting = worked(&app, &f).await;
    let rejected = worked(&app, &f).await;
    let earlier = worked(&app, &f).await;
    let fresh_adjustment = worked(&app, &f).await;
    // A name a spreadsheet would run as a formula.
    app.state
        .accounts
        .set_name(approved.nurse_id, "=HYPERLINK(\"http://x\")")
        .await
        .expect("name");
    for w in [&approved, &earlier] {
        let ok = act(&app, &f.scheduler, w.id(), "approve", &json!({})).await;
        assert_json(ok, StatusCode::OK).await;
    }
    let decided = act(
        &app,
        &f.scheduler,
        rejected.id(),
        "reject",
        &json!({ "reason": "No badge scan" }),
    )
    .await;
    assert_json(decided, StatusCode::OK).await;
    let body = times(
        fresh_adjustment.starts_at,
        fresh_adjustment.ends_at,
        30,
        "Left at the end",
    );
    assert_json(
        act(&app, &f.scheduler, fresh_adjustment.id(), "adjust", &body).await,
        StatusCode::OK,
    )
    .await;
    // The earlier shift moves to last week, out of the range.
    let last_week = earlier.starts_at - Duration::days(7);
    db::backdate_shift(
        &app.pool,
        earlier.shift,
        last_week,
        last_week + Duration::hours(8),
    )
    .await;
    // A booking the facility cancelled late: no timesheet, two hours owed.
    let (late_nurse, late_nurse_id) = nearby_nurse(&app).await;
    let late_shift = id_of(&post_shift(&app, &f, &shift_body(6 * 60, 8)).await);
    let late_booking = book(&app, &late_nurse, late_shift).await;
    assert_json(
        cancel_shift(&app, &f, late_shift, "Census dropped").await,
        StatusCode::OK,
    )
    .await;
    db::owes_late_cancel_pay(&app.pool, late_booking, 120).await;

    let from = Utc::now() - Duration::days(1);
    let to = Utc::now() + Duration::days(1);
    let path = format!(
        "/v1/facilities/{}/timesheets.csv?from={}&to={}",
        f.id,
        rfc3339(from),
        rfc3339(to)
    );
    let response = app.get(&path, Some(&f.scheduler)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let rows = csv_rows(&response.text().await.expect("body"));
    assert_eq!(
        rows[0],
        [
            "timesheet_id",
            "booking_id",
            "nurse_id",
            "nurse_name",
            "facility",
            "unit",
            "role",
            "shift_starts_at",
            "clock_in",
            "clock_out",
            "break_minutes",
            "worked_minutes",
            "hourly_rate_cents",
            "late_cancel_pay_minutes",
            "status"
        ]
    );
    assert_eq!(
        rows.len(),
        3,
        "header, the approved hours, the late cancellation: {rows:?}"
    );
    let hours = &rows[1];
    assert_eq!(hours[0], approved.id().to_string());
    assert_eq!(hours[1], approved.booking.to_string());
    assert_eq!(hours[2], approved.nurse_id.to_string());
    assert_eq!(hours[3], "'=HYPERLINK(\"http://x\")", "kept as text");
    assert_eq!(hours[4], "Mercy General Hospital");
    assert_eq!(hours[5], "4 West, Med-Surg");
    assert_eq!(hours[6], "RN");
    assert_eq!(hours[7], rfc3339(approved.starts_at));
    assert_eq!(hours[8], rfc3339(approved.starts_at));
    assert_eq!(hours[9], rfc3339(approved.ends_at + Duration::minutes(30)));
    assert_eq!(hours[10], "30");
    assert_eq!(hours[11], (8 * 60).to_string());
    assert_eq!(hours[12], "6500");
    assert_eq!(hours[13], "0");
    assert_eq!(hours[14], "approved");
    let late = &rows[2];
    assert_eq!(late[0], "", "no timesheet");
    assert_eq!(late[1], late_booking.to_string());
    assert_eq!(late[2], late_nurse_id.to_string());
    assert_eq!(late[8], "");
    assert_eq!(late[11], "0");
    assert_eq!(late[13], "120");
    assert_eq!(late[14], "late_cancelled");
    for absent in [&waiting, &rejected, &earlier, &fresh_adjustment] {
        assert!(
            rows.iter().all(|r| r[0] != absent.id().to_string()),
            "{rows:?}"
        );
    }
    // Two days on, the adjustment stands (nobody disputed it): payroll pays it.
    app.clock.advance(Duration::hours(49));
    let response = app.get(&path, Some(&f.scheduler)).await;
    let rows = csv_rows(&response.text().await.expect("body"));
    let adjusted: Vec<_> = rows
        .iter()
        .filter(|r| r[0] == fresh_adjustment.id().to_string())
        .collect();
    assert_eq!(adjusted.len(), 1, "{rows:?}");
    assert_eq!(adjusted[0][14], "adjusted");
    assert_eq!(adjusted[0][9], rfc3339(fresh_adjustment.ends_at));

    // Another facility's scheduler: not found. A backwards range: refused.
    assert_problem(
        app.get(&path, Some(&other.scheduler)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let backwards = format!(
        "/v1/facilities/{}/timesheets.csv?from={}&to={}",
        f.id,
        rfc3339(to),
        rfc3339(from)
    );
    assert_problem(
        app.get(&backwards, Some(&f.scheduler)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    )
    .await;
}
