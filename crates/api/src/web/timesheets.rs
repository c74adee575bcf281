//! The portal's "Timesheets to approve": a facility's submitted timesheets, each with
//! forms to approve it, adjust its times (in the facility's local time, with a reason) or
//! reject it (with a reason). The same rules and tenancy as the API: another facility's
//! timesheet is not found; a refused form shows why beside it and changes nothing.

use super::{Chrome, Staff, StaffForm, WebError, html, page, portal::path_id, see_other};
use crate::{AppState, extract::SchedulerOnly};
use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shiftwire_core::{TimesheetStatus, TimesheetTimes};
use shiftwire_matching::{Timesheet, TimesheetActor, TimesheetFilter};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/f/{fid}/timesheets", get(timesheets_page))
        .route("/portal/timesheets/{id}/approve", post(approve))
        .route("/portal/timesheets/{id}/adjust", post(adjust))
        .route("/portal/timesheets/{id}/reject", post(reject))
}

/// Most timesheets the page shows at once (oldest first: the closest to auto-approval).
const PAGE_LIMIT: i64 = 200;
/// A decision the nurse reads needs its reason.
const REASON_NEEDED: &str = "Give a reason (up to 1,000 characters): the nurse reads it.";
/// How an adjustment's times are typed (`<input type="datetime-local">`).
const LOCAL_INPUT: &str = "%Y-%m-%dT%H:%M";

struct Row {
    id: Uuid,
    nurse: String,
    shift: String,
    unit: String,
    role: String,
    clock_in: String,
    clock_out: String,
    clock_in_input: String,
    clock_out_input: String,
    break_minutes: i32,
    worked: String,
    auto_approves: String,
    /// A refusal of one of this row's forms, in words.
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/timesheets.html")]
struct TimesheetsPage {
    chrome: Chrome,
    facility_id: Uuid,
    facility_name: String,
    timezone: String,
    notice: Option<&'static str>,
    /// A refusal about a timesheet no longer listed (decided meanwhile).
    problem: Option<String>,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct PageQuery {
    done: Option<String>,
}

fn local(at: DateTime<Utc>, tz: Tz, format: &str) -> String {
    at.with_timezone(&tz).format(format).to_string()
}

fn hours(minutes: i32) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

async fn view(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    facility_id: Uuid,
    notice: Option<&'static str>,
    refused: Option<(Uuid, String)>,
) -> Result<TimesheetsPage, WebError> {
    let scope = &staff.user.facility_ids;
    let facility = state.matching.facility(scope, facility_id).await?;
    let tz: Tz = facility.timezone.parse().unwrap_or(Tz::UTC);
    let filter = TimesheetFilter {
        status: Some(TimesheetStatus::Submitted),
        after: None,
        limit: PAGE_LIMIT,
    };
    let sheets = state
        .matching
        .facility_timesheets(scope, facility_id, &filter)
        .await?;
    let ids: Vec<Uuid> = sheets.iter().map(|t| t.nurse_id).collect();
    let names = state.accounts.names(&ids).await?;
    let rows = sheets
        .into_iter()
        .map(|t: Timesheet| Row {
            id: t.id,
            nurse: names
                .get(&t.nurse_id)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "A nurse without a name yet".into()),
            shift: format!(
                "{}–{}",
                local(t.starts_at, tz, "%a %-d %b %H:%M"),
                local(t.ends_at, tz, "%H:%M")
            ),
            unit: t.unit,
            role: t.role,
            clock_in: local(t.clock_in, tz, "%a %-d %b %H:%M"),
            clock_out: local(t.clock_out, tz, "%a %-d %b %H:%M"),
            clock_in_input: local(t.clock_in, tz, LOCAL_INPUT),
            clock_out_input: local(t.clock_out, tz, LOCAL_INPUT),
            break_minutes: t.break_minutes,
            worked: hours(t.worked_minutes),
            auto_approves: t
                .auto_approves_at
                .map(|at| local(at, tz, "%a %-d %b %H:%M"))
                .unwrap_or_default(),
            error: refused
                .as_ref()
                .filter(|(id, _)| *id == t.id)
                .map(|(_, why)| why.clone()),
        })
        .collect();
    Ok(TimesheetsPage {
        chrome: staff.chrome(format!("Timesheets to approve: {}", facility.name)),
        facility_id,
        facility_name: facility.name,
        timezone: facility.timezone,
        notice,
        problem: None,
        rows,
    })
}

async fn timesheets_page(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
    Path(fid): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, WebError> {
    let fid = path_id(&fid)?;
    let notice = match query.done.as_deref() {
        Some("approved") => Some("Timesheet approved."),
        Some("adjusted") => Some("Timesheet adjusted. The nurse may dispute it for 48 hours."),
        Some("rejected") => Some("Timesheet rejected. The nurse may dispute it for 48 hours."),
        _ => None,
    };
    Ok(page(&view(&state, &staff, fid, notice, None).await?))
}

/// The timesheet a form acts on, if the scheduler may see it (else not found, before
/// anything in the form is read).
async fn target(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    id: &str,
) -> Result<Timesheet, WebError> {
    let id = path_id(id)?;
    let who = TimesheetActor::Scheduler {
        id: staff.user.id,
        scope: &staff.user.facility_ids,
    };
    Ok(state.matching.timesheet(who, id).await?)
}

/// Where a form leads: the list with its notice when it worked; the list again with the
/// refusal beside the timesheet when a rule refused it; not found as such.
async fn after(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    sheet: &Timesheet,
    outcome: Result<Timesheet, shiftwire_matching::MatchingError>,
    done: &str,
) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(see_other(&format!(
            "/portal/f/{}/timesheets?done={done}",
            sheet.facility_id
        ))),
        Err(error) => {
            let error = crate::ApiError::from(error);
            if error.status() == StatusCode::NOT_FOUND {
                return Err(error.into());
            }
            refused(state, staff, sheet, error.status(), error.problem().detail).await
        }
    }
}

async fn refused(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    sheet: &Timesheet,
    status: StatusCode,
    why: String,
) -> Result<Response, WebError> {
    let mut view = view(
        state,
        staff,
        sheet.facility_id,
        None,
        Some((sheet.id, why.clone())),
    )
    .await?;
    // A timesheet no longer waiting (decided meanwhile) is not listed: say so at the top.
    if !view.rows.iter().any(|r| r.id == sheet.id) {
        view.problem = Some(why);
    }
    Ok(html(status, &view))
}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let sheet = target(&state, &staff, &id).await?;
    let user = &staff.user;
    let outcome = state
        .matching
        .approve_timesheet(user.id, &user.facility_ids, sheet.id)
        .await;
    after(&state, &staff, &sheet, outcome, "approved").await
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let sheet = target(&state, &staff, &id).await?;
    let reason = form.fields.text("reason");
    if shiftwire_core::text::reason(&reason).is_none() {
        let why = REASON_NEEDED.to_owned();
        return refused(
            &state,
            &staff,
            &sheet,
            StatusCode::UNPROCESSABLE_ENTITY,
            why,
        )
        .await;
    }
    let user = &staff.user;
    let outcome = state
        .matching
        .reject_timesheet(user.id, &user.facility_ids, sheet.id, &reason)
        .await;
    after(&state, &staff, &sheet, outcome, "rejected").await
}

async fn adjust(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let sheet = target(&state, &staff, &id).await?;
    let facility = state
        .matching
        .facility(&staff.user.facility_ids, sheet.facility_id)
        .await?;
    let tz: Tz = facility.timezone.parse().unwrap_or(Tz::UTC);
    let at = |name: &str| {
        NaiveDateTime::parse_from_str(&form.fields.text(name), LOCAL_INPUT)
            .ok()
            .and_then(|local| tz.from_local_datetime(&local).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    let reason = form.fields.text("reason");
    let times = match (
        at("clock_in"),
        at("clock_out"),
        form.fields.text("break_minutes").parse::<i32>(),
    ) {
        (Some(clock_in), Some(clock_out), Ok(break_minutes)) => {
            TimesheetTimes::new(clock_in, clock_out, break_minutes).map_err(|e| e.to_string())
        }
        _ => {
            Err("Give the clock-in and clock-out (date and time) and the break in minutes.".into())
        }
    };
    // A mistake in the times is shown before a missing reason.
    let times = times.and_then(|times| match shiftwire_core::text::reason(&reason) {
        Some(_) => Ok(times),
        None => Err(REASON_NEEDED.to_owned()),
    });
    let times = match times {
        Ok(times) => times,
        Err(why) => {
            return refused(
                &state,
                &staff,
                &sheet,
                StatusCode::UNPROCESSABLE_ENTITY,
                why,
            )
            .await;
        }
    };
    let user = &staff.user;
    let outcome = state
        .matching
        .adjust_timesheet(user.id, &user.facility_ids, sheet.id, times, &reason)
        .await;
    after(&state, &staff, &sheet, outcome, "adjusted").await
}
