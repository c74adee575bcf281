//! Timesheets: the facility's list and decisions (its schedulers), the nurse's own
//! timesheets and her dispute, the admin's resolution, and the payroll export
//! (`timesheets.csv`, streamed).

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{AdminOnly, Auth, IdPath, NoBody, NurseOnly, SchedulerOnly, ValidJson, ValidQuery},
    pagination::{self, Page, PageParams},
    routes::schemas::{CredentialKindName, EmptyBody},
};
use axum::{
    Json,
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shiftwire_core::{TimesheetStatus, TimesheetTimes};
use shiftwire_matching::{PayrollRow, Timesheet, TimesheetFilter, TimesheetStep};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// ---------------------------------------------------------------- wire types

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum TimesheetStatusName {
    Submitted,
    Approved,
    Adjusted,
    Disputed,
    Rejected,
}

#[derive(Serialize, ToSchema)]
pub struct TimesheetNurseBody {
    id: Uuid,
    name: Option<String>,
}

/// The shift the hours were worked on.
#[derive(Serialize, ToSchema)]
pub struct TimesheetShiftBody {
    id: Uuid,
    facility_id: Uuid,
    facility_name: String,
    #[schema(example = "4 West, Med-Surg")]
    unit: String,
    #[schema(value_type = CredentialKindName)]
    role: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[schema(example = 6500)]
    hourly_rate_cents: i32,
}

/// One step of a timesheet's life.
#[derive(Serialize, ToSchema)]
pub struct TimesheetStepBody {
    at: DateTime<Utc>,
    /// Who acted; `null` for Shiftwire itself (the auto-approval).
    actor_id: Option<Uuid>,
    /// `nurse`, `scheduler`, `admin` or `system`.
    #[schema(example = "scheduler")]
    actor_role: String,
    /// `submitted`, `approved`, `auto_approved`, `adjusted`, `rejected`, `disputed` or
    /// `resolved`.
    #[schema(example = "adjusted")]
    action: String,
    /// The status after this step.
    #[schema(value_type = TimesheetStatusName)]
    status: TimesheetStatus,
    clock_in: DateTime<Utc>,
    clock_out: DateTime<Utc>,
    break_minutes: i32,
    worked_minutes: i32,
    reason: Option<String>,
}

impl From<TimesheetStep> for TimesheetStepBody {
    fn from(s: TimesheetStep) -> Self {
        Self {
            at: s.at,
            actor_id: s.actor_id,
            actor_role: s.actor_role,
            action: s.action,
            status: s.status,
            clock_in: s.clock_in,
            clock_out: s.clock_out,
            break_minutes: s.break_minutes,
            worked_minutes: s.worked_minutes,
            reason: s.reason,
        }
    }
}

/// The hours of one booking: what check-out submitted, or what the facility or an admin
/// recorded since, with every step.
#[derive(Serialize, ToSchema)]
pub struct TimesheetBody {
    id: Uuid,
    booking_id: Uuid,
    nurse: TimesheetNurseBody,
    shift: TimesheetShiftBody,
    /// The geofenced check-in, unless the facility or an admin recorded another time.
    clock_in: DateTime<Utc>,
    /// The check-out, counted at most 30 minutes past the shift's end, unless the facility
    /// or an admin recorded another time.
    clock_out: DateTime<Utc>,
    #[schema(example = 30)]
    break_minutes: i32,
    /// `clock_out − clock_in − break_minutes` in whole minutes, never negative.
    #[schema(example = 450)]
    worked_minutes: i32,
    #[schema(value_type = TimesheetStatusName)]
    status: TimesheetStatus,
    submitted_at: DateTime<Utc>,
    /// The last decision (approval, adjustment, rejection, resolution).
    decided_at: Option<DateTime<Utc>>,
    /// While `submitted`: when it is approved automatically if nobody acts
    /// (`TIMESHEET_AUTO_APPROVE_HOURS` after submission).
    auto_approves_at: Option<DateTime<Utc>>,
    /// While `adjusted` or `rejected`: the last instant the nurse may dispute (48 hours
    /// after the decision).
    dispute_until: Option<DateTime<Utc>>,
    /// Every step, oldest first.
    history: Vec<TimesheetStepBody>,
}

impl From<Timesheet> for TimesheetBody {
    fn from(t: Timesheet) -> Self {
        Self {
            id: t.id,
            booking_id: t.booking_id,
            nurse: TimesheetNurseBody {
                id: t.nurse_id,
                name: t.nurse_name,
            },
            shift: TimesheetShiftBody {
                id: t.shift_id,
                facility_id: t.facility_id,
                facility_name: t.facility_name,
                unit: t.unit,
                role: t.role,
                starts_at: t.starts_at,
                ends_at: t.ends_at,
                hourly_rate_cents: t.hourly_rate_cents,
            },
            clock_in: t.clock_in,
            clock_out: t.clock_out,
            break_minutes: t.break_minutes,
            worked_minutes: t.worked_minutes,
            status: t.status,
            submitted_at: t.submitted_at,
            decided_at: t.decided_at,
            auto_approves_at: t.auto_approves_at,
            dispute_until: t.dispute_until,
            history: t.history.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimesheetReasonRequest {
    /// Why; 1 to 1000 characters.
    reason: String,
}

/// Times to record: clock-out after clock-in and at most 26 hours later, a break of 0 to
/// 480 minutes and no longer than the time between them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimesheetTimesRequest {
    clock_in: DateTime<Utc>,
    clock_out: DateTime<Utc>,
    #[schema(example = 30, minimum = 0, maximum = 480)]
    break_minutes: i32,
    /// Why; 1 to 1000 characters.
    reason: String,
}

impl TimesheetTimesRequest {
    fn times(&self) -> Result<TimesheetTimes, ApiError> {
        TimesheetTimes::new(self.clock_in, self.clock_out, self.break_minutes)
            .map_err(|e| ApiError::unprocessable("invalid_request", e.to_string()))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimesheetListParams {
    /// Only timesheets in this status.
    #[param(value_type = Option<TimesheetStatusName>)]
    status: Option<String>,
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MyTimesheetParams {
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Timesheets with their nurses' display names (the accounts hold them).
async fn with_names(
    state: &AppState,
    mut sheets: Vec<Timesheet>,
) -> Result<Vec<Timesheet>, ApiError> {
    let ids: Vec<Uuid> = sheets.iter().map(|t| t.nurse_id).collect();
    let names = state.accounts.names(&ids).await?;
    for sheet in &mut sheets {
        sheet.nurse_name = names.get(&sheet.nurse_id).cloned().flatten();
    }
    Ok(sheets)
}

async fn named(state: &AppState, sheet: Timesheet) -> Result<Json<TimesheetBody>, ApiError> {
    let mut named = with_names(state, vec![sheet]).await?;
    let sheet = named.pop().ok_or_else(ApiError::not_found)?;
    Ok(Json(sheet.into()))
}

fn filter(page: &PageParams, status: Option<&str>) -> Result<(TimesheetFilter, i64), ApiError> {
    let limit = page.limit()?;
    let status = status
        .map(str::parse::<TimesheetStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::unprocessable("invalid_query", "status: unknown timesheet status")
        })?;
    let after = page
        .cursor
        .as_deref()
        .map(pagination::decode_at_id)
        .transpose()?;
    Ok((
        TimesheetFilter {
            status,
            after,
            limit: limit + 1,
        },
        limit,
    ))
}

async fn page_of(
    state: &AppState,
    rows: Vec<Timesheet>,
    limit: i64,
) -> Result<Json<Page<TimesheetBody>>, ApiError> {
    let rows = with_names(state, rows).await?;
    Ok(Json(pagination::page(
        rows,
        limit,
        |t| pagination::encode_at_id(t.submitted_at, t.id),
        Into::into,
    )))
}

// ---------------------------------------------------------------- schedulers

/// A facility's timesheets in the order they were submitted, each with its history
/// (scheduler of the facility).
#[utoipa::path(get, path = "/v1/facilities/{fid}/timesheets", tag = "timesheets", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), TimesheetListParams),
    responses(
        (status = 200, description = "A page of timesheets", body = Page<TimesheetBody>),
        (status = 404, description = "No such facility of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_query`, `invalid_limit`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn facility_timesheets(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(facility_id): IdPath,
    ValidQuery(params): ValidQuery<TimesheetListParams>,
) -> Result<Json<Page<TimesheetBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let (filter, limit) = filter(&page, params.status.as_deref())?;
    let rows = state
        .matching
        .facility_timesheets(&scheduler.user.facility_ids, facility_id, &filter)
        .await?;
    page_of(&state, rows, limit).await
}

/// Approve a submitted timesheet as it stands (scheduler of the facility).
#[utoipa::path(post, path = "/v1/timesheets/{id}/approve", tag = "timesheets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Timesheet id")),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "Approved", body = TimesheetBody),
        (status = 404, description = "No such timesheet at your facilities", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`timesheet_decided` (not `submitted`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_timesheet(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    _body: NoBody,
) -> Result<Json<TimesheetBody>, ApiError> {
    let user = &scheduler.user;
    let sheet = state
        .matching
        .approve_timesheet(user.id, &user.facility_ids, id)
        .await?;
    named(&state, sheet).await
}

/// Record other times on a submitted timesheet, with a reason (scheduler of the
/// facility). The nurse may dispute the adjustment for 48 hours.
#[utoipa::path(post, path = "/v1/timesheets/{id}/adjust", tag = "timesheets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Timesheet id")),
    request_body = TimesheetTimesRequest,
    responses(
        (status = 200, description = "Adjusted", body = TimesheetBody),
        (status = 404, description = "No such timesheet at your facilities", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`timesheet_decided` (not `submitted`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request` (times), `reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn adjust_timesheet(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<TimesheetTimesRequest>,
) -> Result<Json<TimesheetBody>, ApiError> {
    let user = &scheduler.user;
    let sheet = state
        .matching
        .adjust_timesheet(user.id, &user.facility_ids, id, body.times()?, &body.reason)
        .await?;
    named(&state, sheet).await
}

/// Reject a submitted timesheet, with a reason (scheduler of the facility). The nurse
/// may dispute the rejection for 48 hours.
#[utoipa::path(post, path = "/v1/timesheets/{id}/reject", tag = "timesheets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Timesheet id")),
    request_body = TimesheetReasonRequest,
    responses(
        (status = 200, description = "Rejected", body = TimesheetBody),
        (status = 404, description = "No such timesheet at your facilities", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`timesheet_decided` (not `submitted`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject_timesheet(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<TimesheetReasonRequest>,
) -> Result<Json<TimesheetBody>, ApiError> {
    let user = &scheduler.user;
    let sheet = state
        .matching
        .reject_timesheet(user.id, &user.facility_ids, id, &body.reason)
        .await?;
    named(&state, sheet).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PayrollParams {
    /// Shifts starting at or after this time.
    from: DateTime<Utc>,
    /// Shifts starting before this time; after `from`.
    to: DateTime<Utc>,
}

/// Rows of the payroll export at a time: one name lookup per chunk.
const PAYROLL_CHUNK: usize = 500;
/// Chunks written ahead of a slow client, at most.
const PAYROLL_CHUNKS_AHEAD: usize = 2;

const PAYROLL_HEADER: [&str; 15] = [
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
    "status",
];

/// Approved hours for payroll (scheduler of the facility): CSV, one row per payable
/// timesheet (approved, or adjusted with its 48-hour dispute window closed) and one per
/// booking the facility cancelled late (`late_cancel_pay_minutes`, no times), for shifts
/// starting in `from..to`, by start. Streamed as it is read. Text cells that a
/// spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, tab or carriage
/// return) are prefixed with `'`.
#[utoipa::path(get, path = "/v1/facilities/{fid}/timesheets.csv", tag = "timesheets", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), PayrollParams),
    responses(
        (status = 200, description = "The payroll rows, with a header row", body = String, content_type = "text/csv"),
        (status = 404, description = "No such facility of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_query` (`to` not after `from`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn payroll_csv(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(facility_id): IdPath,
    ValidQuery(params): ValidQuery<PayrollParams>,
) -> Result<Response, ApiError> {
    state
        .matching
        .may_export_payroll(&scheduler.user.facility_ids, facility_id)?;
    if params.to <= params.from {
        return Err(ApiError::unprocessable(
            "invalid_query",
            "to must be after from",
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(PAYROLL_CHUNKS_AHEAD);
    // The writer stops when the rows end or the client goes away (the send fails).
    tokio::spawn(write_payroll(
        state,
        facility_id,
        params.from,
        params.to,
        tx,
    ));
    let chunks = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let filename = format!("attachment; filename=\"timesheets-{facility_id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

type Chunk = Result<Bytes, std::io::Error>;

/// Reads the payroll rows as the database yields them, a chunk at a time with its
/// nurses' names, and hands each chunk to the response as CSV.
async fn write_payroll(
    state: AppState,
    facility_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
) {
    let header = csv_bytes(|w| w.write_record(PAYROLL_HEADER));
    if tx.send(header).await.is_err() {
        return;
    }
    let rows = state
        .matching
        .payroll_rows(facility_id, from, to)
        .chunks(PAYROLL_CHUNK);
    futures::pin_mut!(rows);
    while let Some(chunk) = rows.next().await {
        let bytes = match payroll_chunk(&state, chunk).await {
            Ok(rows) => rows,
            Err(error) => {
                // The status line is sent: cut the body short so the client sees a broken
                // download, never a silently partial file.
                tracing::error!(error = %format!("{error:#}"), "payroll export failed");
                let _ = tx
                    .send(Err(std::io::Error::other("payroll export failed")))
                    .await;
                return;
            }
        };
        if tx.send(bytes).await.is_err() {
            return;
        }
    }
}

async fn payroll_chunk(
    state: &AppState,
    chunk: Vec<Result<PayrollRow, shiftwire_matching::MatchingError>>,
) -> anyhow::Result<Chunk> {
    let rows = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.nurse_id).collect();
    let names = state.accounts.names(&ids).await?;
    Ok(csv_bytes(|w| {
        for row in &rows {
            w.write_record(payroll_record(row, &names))?;
        }
        Ok(())
    }))
}

fn payroll_record(row: &PayrollRow, names: &HashMap<Uuid, Option<String>>) -> [String; 15] {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let name = names
        .get(&row.nurse_id)
        .cloned()
        .flatten()
        .unwrap_or_default();
    [
        row.timesheet_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        row.booking_id.to_string(),
        row.nurse_id.to_string(),
        spreadsheet_safe(&name),
        spreadsheet_safe(&row.facility_name),
        spreadsheet_safe(&row.unit),
        spreadsheet_safe(&row.role),
        time(Some(row.starts_at)),
        time(row.clock_in),
        time(row.clock_out),
        row.break_minutes.map(|b| b.to_string()).unwrap_or_default(),
        row.worked_minutes.to_string(),
        row.hourly_rate_cents.to_string(),
        row.late_cancel_pay_minutes.to_string(),
        row.status.clone(),
    ]
}

/// Text a spreadsheet would run as a formula is kept as text (OWASP's CSV injection
/// advice: a leading `'`).
pub fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn csv_bytes(write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>) -> Chunk {
    let mut writer = csv::Writer::from_writer(Vec::new());
    write(&mut writer).map_err(std::io::Error::other)?;
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

// ---------------------------------------------------------------- nurses

/// The nurse's own timesheets in the order they were submitted, each with its history.
#[utoipa::path(get, path = "/v1/me/timesheets", tag = "timesheets", security(("bearer" = [])),
    params(MyTimesheetParams),
    responses(
        (status = 200, description = "A page of timesheets", body = Page<TimesheetBody>),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn my_timesheets(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<MyTimesheetParams>,
) -> Result<Json<Page<TimesheetBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let (filter, limit) = filter(&page, None)?;
    let rows = state
        .matching
        .nurse_timesheets(nurse.user.id, &filter)
        .await?;
    page_of(&state, rows, limit).await
}

/// Dispute an adjustment or a rejection of your timesheet, with a reason, within 48
/// hours of it (nurse); an admin resolves it.
#[utoipa::path(post, path = "/v1/timesheets/{id}/dispute", tag = "timesheets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Timesheet id")),
    request_body = TimesheetReasonRequest,
    responses(
        (status = 200, description = "Disputed", body = TimesheetBody),
        (status = 404, description = "No such timesheet of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`timesheet_not_disputable` (not adjusted or rejected), `dispute_window_closed` (more than 48 hours after the decision)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn dispute_timesheet(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<TimesheetReasonRequest>,
) -> Result<Json<TimesheetBody>, ApiError> {
    let sheet = state
        .matching
        .dispute_timesheet(nurse.user.id, id, &body.reason)
        .await?;
    named(&state, sheet).await
}

// ---------------------------------------------------------------- admins

/// Every facility's timesheets in the order they were submitted (admin): the disputes
/// waiting for a resolution are `?status=disputed`.
#[utoipa::path(get, path = "/v1/admin/timesheets", tag = "timesheets", security(("bearer" = [])),
    params(TimesheetListParams),
    responses(
        (status = 200, description = "A page of timesheets", body = Page<TimesheetBody>),
        (status = 422, description = "`invalid_query`, `invalid_limit`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn all_timesheets(
    _admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<TimesheetListParams>,
) -> Result<Json<Page<TimesheetBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let (filter, limit) = filter(&page, params.status.as_deref())?;
    let rows = state.matching.all_timesheets(&filter).await?;
    page_of(&state, rows, limit).await
}

/// Resolve a disputed timesheet (admin): the times recorded stand and the timesheet is
/// `approved` with them; the step shows as `resolved` in its history.
#[utoipa::path(post, path = "/v1/admin/timesheets/{id}/resolve", tag = "timesheets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Timesheet id")),
    request_body = TimesheetTimesRequest,
    responses(
        (status = 200, description = "Resolved: approved with these times", body = TimesheetBody),
        (status = 404, description = "No such timesheet", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`timesheet_not_disputed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request` (times), `reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve_timesheet(
    admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<TimesheetTimesRequest>,
) -> Result<Json<TimesheetBody>, ApiError> {
    let sheet = state
        .matching
        .resolve_timesheet(admin.user.id, id, body.times()?, &body.reason)
        .await?;
    named(&state, sheet).await
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_are_kept_as_text() {
        for cell in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(cell), format!("'{cell}"));
        }
        assert_eq!(spreadsheet_safe("4 West, Med-Surg"), "4 West, Med-Surg");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
