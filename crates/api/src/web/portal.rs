//! The scheduler portal: a live board per facility and day (or the next 7 days), posting
//! shifts for one or several dates from saved templates, and a shift's page with its offer
//! history, handoff packet and cancellation. Tenancy is the API's: a facility or shift
//! outside the scheduler's facilities is not found.

use super::{
    Chrome, Fields, Staff, StaffForm, WebError, dollars, html, page, see_other, urlencode,
};
use crate::{AppState, extract::SchedulerOnly};
use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shiftwire_core::{
    CredentialKind, HourlyRate, ShiftStatus, ShiftTerms, ShiftWindow, Unit, text::is_blank,
};
use shiftwire_matching::{
    Facility, HandoffPacket, NewShift, NewShiftTemplate, Shift, ShiftFilter, ShiftPatch,
};
use std::collections::HashMap;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(facilities))
        .route("/portal/f/{fid}", get(board_page))
        .route("/portal/f/{fid}/board", get(board_fragment))
        .route("/portal/f/{fid}/shifts/new", get(new_shift_form))
        .route("/portal/f/{fid}/shifts", post(post_shifts))
        .route("/portal/shifts/{id}", get(shift_page))
        .route("/portal/shifts/{id}/handoff", post(edit_handoff))
        .route("/portal/shifts/{id}/cancel", post(cancel_shift))
        .route("/portal/shifts/{id}/boost", post(boost_shift))
}

/// Most shifts a board shows at once.
const BOARD_LIMIT: i64 = 500;
/// Date fields on the posting form.
const DATE_SLOTS: usize = 7;

/// An id in a page's path; a malformed one is not found, like an unknown one.
pub(super) fn path_id(raw: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(raw).map_err(|_| WebError::Page(crate::ApiError::not_found()))
}

fn zone(facility: &Facility) -> Tz {
    facility.timezone.parse().unwrap_or(Tz::UTC)
}

fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

fn local_day(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %-d %b %Y").to_string()
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

// ---------------------------------------------------------------- facilities

#[derive(Template)]
#[template(path = "portal/facilities.html")]
struct FacilitiesPage {
    chrome: Chrome,
    facilities: Vec<(Uuid, String, String)>,
}

async fn facilities(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
) -> Result<Response, WebError> {
    let mut list = Vec::new();
    for fid in &staff.user.facility_ids {
        let f = state
            .matching
            .facility(&staff.user.facility_ids, *fid)
            .await?;
        list.push((f.id, f.name, f.address));
    }
    list.sort_by(|a, b| a.1.cmp(&b.1));
    if let [(only, _, _)] = list.as_slice() {
        return Ok(see_other(&format!("/portal/f/{only}")));
    }
    Ok(page(&FacilitiesPage {
        chrome: staff.chrome("Your facilities"),
        facilities: list,
    }))
}

// ---------------------------------------------------------------- the board

#[derive(Deserialize)]
struct BoardQuery {
    day: Option<String>,
    posted: Option<u32>,
}

struct ShiftCard {
    id: Uuid,
    time: String,
    role: &'static str,
    unit: String,
    rate: String,
    status_class: &'static str,
    status_label: &'static str,
    detail: String,
    at_risk: bool,
}

struct DayView {
    label: String,
    shifts: Vec<ShiftCard>,
}

struct BoardView {
    facility_id: Uuid,
    range: String,
    /// The board's own query, for its live refresh.
    query: String,
    alerts: Vec<String>,
    days: Vec<DayView>,
    count: usize,
    previous_day: String,
    next_day: String,
    today: String,
}

#[derive(Template)]
#[template(path = "portal/board.html")]
struct BoardPage {
    chrome: Chrome,
    facility_name: String,
    facility_address: String,
    notice: Option<String>,
    board: BoardView,
}

#[derive(Template)]
#[template(path = "portal/board_fragment.html")]
struct BoardFragment {
    board: BoardView,
}

async fn board_page(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
    Path(fid): Path<String>,
    Query(query): Query<BoardQuery>,
) -> Result<Response, WebError> {
    let (facility, board) = load_board(&state, &staff, &fid, &query).await?;
    let notice = query
        .posted
        .map(|n| format!("Posted {}.", plural(n.into(), "shift", "shifts")));
    Ok(page(&BoardPage {
        chrome: staff.chrome(format!("Board · {}", facility.name)),
        facility_name: facility.name,
        facility_address: facility.address,
        notice,
        board,
    }))
}

/// The board alone, as the page re-reads it when a notice arrives.
async fn board_fragment(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
    Path(fid): Path<String>,
    Query(query): Query<BoardQuery>,
) -> Result<Response, WebError> {
    let (_, board) = load_board(&state, &staff, &fid, &query).await?;
    Ok(page(&BoardFragment { board }))
}

async fn load_board(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    fid: &str,
    query: &BoardQuery,
) -> Result<(Facility, BoardView), WebError> {
    let fid = path_id(fid)?;
    let facility = state
        .matching
        .facility(&staff.user.facility_ids, fid)
        .await?;
    let board = board(state, staff, &facility, query.day.as_deref()).await?;
    Ok((facility, board))
}

/// The board of one facility: one local day, or the next 7 days from today.
async fn board(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    facility: &Facility,
    day: Option<&str>,
) -> Result<BoardView, WebError> {
    let tz = zone(facility);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let chosen = match day {
        None | Some("") => None,
        Some(raw) => Some(NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
            WebError::Page(crate::ApiError::unprocessable(
                "invalid_query",
                "day: give a date as YYYY-MM-DD",
            ))
        })?),
    };
    let first = chosen.unwrap_or(today);
    let days = if chosen.is_some() { 1 } else { 7 };
    let from = local_midnight(first, tz);
    let to = local_midnight(first + Duration::days(days), tz);
    let filter = ShiftFilter {
        from: Some(from),
        to: Some(to),
        limit: BOARD_LIMIT,
        ..ShiftFilter::default()
    };
    let shifts = state
        .matching
        .facility_shifts(&staff.user.facility_ids, facility.id, &filter)
        .await?;
    let ids: Vec<Uuid> = shifts.iter().map(|s| s.id).collect();
    let offered = state.matching.offered_counts(&ids).await?;
    let nurse_ids: Vec<Uuid> = shifts
        .iter()
        .filter_map(|s| s.booking.as_ref().map(|b| b.nurse_id))
        .collect();
    let names = state.accounts.names(&nurse_ids).await?;

    let mut alerts = Vec::new();
    let mut by_day: Vec<DayView> = Vec::new();
    for shift in &shifts {
        let offered_to = offered.get(&shift.id).copied().unwrap_or(0);
        let card = card(shift, offered_to, &names, tz);
        if shift.at_risk {
            alerts.push(format!(
                "Unfilled: {} {} on {} at {} is still open, {} to start, offered to {}.",
                card.role,
                card.unit,
                local_day(shift.terms.starts_at(), tz),
                card.time,
                until(shift.terms.starts_at()),
                plural(offered_to, "nurse", "nurses"),
            ));
        }
        let label = local_day(shift.terms.starts_at(), tz);
        match by_day.last_mut() {
            Some(day) if day.label == label => day.shifts.push(card),
            _ => by_day.push(DayView {
                label,
                shifts: vec![card],
            }),
        }
    }
    let range = match chosen {
        Some(day) => day.format("%A %-d %B %Y").to_string(),
        None => format!(
            "{} to {}",
            first.format("%a %-d %b"),
            (first + Duration::days(6)).format("%a %-d %b %Y")
        ),
    };
    let query = chosen
        .map(|d| format!("?day={}", urlencode(&d.to_string())))
        .unwrap_or_default();
    Ok(BoardView {
        facility_id: facility.id,
        range,
        query,
        alerts,
        count: shifts.len(),
        days: by_day,
        previous_day: (first - Duration::days(1)).to_string(),
        next_day: (first + Duration::days(1)).to_string(),
        today: today.to_string(),
    })
}

fn local_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

fn until(at: DateTime<Utc>) -> String {
    let minutes = (at - Utc::now()).num_minutes().max(0);
    if minutes < 60 {
        format!("{minutes} min")
    } else {
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
}

fn status_of(status: ShiftStatus) -> (&'static str, &'static str) {
    match status {
        ShiftStatus::Open => ("open", "Open"),
        ShiftStatus::Booked => ("booked", "Booked"),
        ShiftStatus::InProgress => ("in_progress", "Checked in"),
        ShiftStatus::Completed => ("completed", "Completed"),
        ShiftStatus::Cancelled => ("cancelled", "Cancelled"),
    }
}

fn card(
    shift: &Shift,
    offered_to: i64,
    names: &HashMap<Uuid, Option<String>>,
    tz: Tz,
) -> ShiftCard {
    let (status_class, status_label) = status_of(shift.status);
    let nurse = shift.booking.as_ref().map(|b| {
        names
            .get(&b.nurse_id)
            .cloned()
            .flatten()
            .unwrap_or_else(|| "A nurse without a display name".to_owned())
    });
    let detail = match (shift.status, &shift.booking, nurse) {
        (ShiftStatus::Open, _, _) => {
            let mut words = format!("Offered to {}", plural(offered_to, "nurse", "nurses"));
            if shift.reopened_after_no_show {
                words = format!("No-show: offered again as urgent · {words}");
            }
            if shift.release_count > 0 {
                words.push_str(&format!(
                    "; released {}",
                    plural(shift.release_count.into(), "time", "times")
                ));
            }
            words
        }
        (ShiftStatus::Booked, Some(booking), Some(nurse)) => format!(
            "{nurse} · {}{}",
            match booking.eta_at {
                Some(eta) => format!("on the way, expected {} · ", local_time(eta, tz)),
                None => String::new(),
            },
            if booking.handoff_acknowledged {
                "handoff acknowledged"
            } else {
                "handoff not yet acknowledged"
            }
        ),
        (ShiftStatus::InProgress | ShiftStatus::Completed, _, Some(nurse)) => nurse,
        (ShiftStatus::Cancelled, _, _) => shift
            .cancel_reason
            .clone()
            .unwrap_or_else(|| "No reason recorded".to_owned()),
        _ => String::new(),
    };
    ShiftCard {
        id: shift.id,
        time: format!(
            "{}–{}",
            local_time(shift.terms.starts_at(), tz),
            local_time(shift.terms.ends_at(), tz)
        ),
        role: shift.terms.role.as_str(),
        unit: shift.terms.unit.as_str().to_owned(),
        rate: format!("{}/h", dollars(shift.terms.hourly_rate_cents.cents())),
        status_class,
        status_label,
        detail,
        at_risk: shift.at_risk,
    }
}

// ---------------------------------------------------------------- posting shifts

/// What the posting form holds, as typed (re-shown with the errors).
#[derive(Default)]
struct ShiftFormValues {
    template: String,
    role: String,
    start_time: String,
    end_time: String,
    rate: String,
    unit: String,
    certs: Vec<String>,
    report_to: String,
    arrival_instructions: String,
    parking: String,
    unit_notes: String,
    exceptions: String,
    dates: Vec<String>,
    template_name: String,
}

impl ShiftFormValues {
    fn has_cert(&self, cert: &str) -> bool {
        self.certs.iter().any(|c| c == cert)
    }

    fn date(&self, slot: &usize) -> &str {
        self.dates
            .get(*slot)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// Each field's problem, in words, shown next to it.
#[derive(Default)]
struct FieldErrors {
    role: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    rate: Option<String>,
    unit: Option<String>,
    certs: Option<String>,
    report_to: Option<String>,
    arrival_instructions: Option<String>,
    dates: Option<String>,
    template_name: Option<String>,
    general: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        [
            &self.role,
            &self.start_time,
            &self.end_time,
            &self.rate,
            &self.unit,
            &self.certs,
            &self.report_to,
            &self.arrival_instructions,
            &self.dates,
            &self.template_name,
            &self.general,
        ]
        .iter()
        .any(|e| e.is_some())
    }
}

#[derive(Template)]
#[template(path = "portal/new_shift.html")]
struct NewShiftPage {
    chrome: Chrome,
    facility_id: Uuid,
    facility_name: String,
    timezone: String,
    templates: Vec<(Uuid, String)>,
    values: ShiftFormValues,
    errors: FieldErrors,
    slots: Vec<usize>,
    roles: [&'static str; 4],
    certifications: [&'static str; 3],
}

#[derive(Deserialize)]
struct NewShiftQuery {
    template: Option<String>,
}

async fn new_shift_form(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
    Path(fid): Path<String>,
    Query(query): Query<NewShiftQuery>,
) -> Result<Response, WebError> {
    let (facility, templates) = facility_and_templates(&state, &staff, &fid).await?;
    let mut values = ShiftFormValues {
        role: "RN".into(),
        start_time: "07:00".into(),
        end_time: "19:00".into(),
        ..ShiftFormValues::default()
    };
    if let Some(chosen) = query
        .template
        .as_deref()
        .and_then(|t| Uuid::parse_str(t).ok())
        .and_then(|id| templates.iter().find(|t| t.id == id))
    {
        let end = chosen.start_time + Duration::minutes(chosen.duration_minutes.into());
        values = ShiftFormValues {
            template: chosen.id.to_string(),
            role: chosen.role.as_str().into(),
            start_time: chosen.start_time.format("%H:%M").to_string(),
            end_time: end.format("%H:%M").to_string(),
            rate: format!(
                "{}.{:02}",
                chosen.hourly_rate_cents.cents() / 100,
                chosen.hourly_rate_cents.cents() % 100
            ),
            unit: chosen.unit.as_str().into(),
            certs: chosen
                .required_certifications
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            report_to: chosen.handoff.report_to.clone(),
            arrival_instructions: chosen.handoff.arrival_instructions.clone(),
            parking: chosen.handoff.parking.clone().unwrap_or_default(),
            unit_notes: chosen.handoff.unit_notes.clone().unwrap_or_default(),
            exceptions: chosen.handoff.exceptions.join("\n"),
            dates: Vec::new(),
            template_name: String::new(),
        };
    }
    Ok(new_shift_page(
        StatusCode::OK,
        &staff,
        &facility,
        &templates,
        values,
        FieldErrors::default(),
    ))
}

/// A facility of the scheduler's, with its saved templates (the posting form's needs).
async fn facility_and_templates(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    fid: &str,
) -> Result<(Facility, Vec<shiftwire_matching::ShiftTemplate>), WebError> {
    let fid = path_id(fid)?;
    let scope = &staff.user.facility_ids;
    let facility = state.matching.facility(scope, fid).await?;
    let templates = state.matching.templates(scope, fid).await?;
    Ok((facility, templates))
}

fn new_shift_page(
    status: StatusCode,
    staff: &Staff<SchedulerOnly>,
    facility: &Facility,
    templates: &[shiftwire_matching::ShiftTemplate],
    values: ShiftFormValues,
    errors: FieldErrors,
) -> Response {
    html(
        status,
        &NewShiftPage {
            chrome: staff.chrome(format!("Post shifts · {}", facility.name)),
            facility_id: facility.id,
            facility_name: facility.name.clone(),
            timezone: facility.timezone.clone(),
            templates: templates.iter().map(|t| (t.id, t.name.clone())).collect(),
            values,
            errors,
            slots: (0..DATE_SLOTS).collect(),
            roles: ["RN", "LPN", "CNA", "NP"],
            certifications: ["BLS", "ACLS", "PALS"],
        },
    )
}

fn values_of(fields: &Fields) -> ShiftFormValues {
    ShiftFormValues {
        template: fields.text("template"),
        role: fields.text("role"),
        start_time: fields.text("start_time"),
        end_time: fields.text("end_time"),
        rate: fields.text("rate"),
        unit: fields.text("unit"),
        certs: fields.all("cert").into_iter().map(str::to_owned).collect(),
        report_to: fields.text("report_to"),
        arrival_instructions: fields.text("arrival_instructions"),
        parking: fields.text("parking"),
        unit_notes: fields.text("unit_notes"),
        exceptions: fields.text("exceptions"),
        dates: fields.all("date").into_iter().map(str::to_owned).collect(),
        template_name: fields.text("template_name"),
    }
}

/// Dollars as typed (`65`, `65.5`, `$65.50`) in cents.
fn cents(raw: &str) -> Option<i32> {
    let raw = raw.trim().trim_start_matches('$').replace(',', "");
    let (whole, fraction) = raw.split_once('.').unwrap_or((&raw, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 6 {
        return None;
    }
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i32 = whole.parse().ok()?;
    let fraction: i32 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

fn handoff_of(values: &ShiftFormValues, errors: &mut FieldErrors) -> Option<HandoffPacket> {
    if is_blank(&values.report_to) {
        errors.report_to = Some("Say whom the nurse reports to when she arrives.".into());
    }
    if is_blank(&values.arrival_instructions) {
        errors.arrival_instructions =
            Some("Say where the nurse goes and what she does on arrival.".into());
    }
    let optional = |v: &str| (!is_blank(v)).then(|| v.trim().to_owned());
    (errors.report_to.is_none() && errors.arrival_instructions.is_none()).then(|| HandoffPacket {
        report_to: values.report_to.trim().to_owned(),
        arrival_instructions: values.arrival_instructions.trim().to_owned(),
        parking: optional(&values.parking),
        unit_notes: optional(&values.unit_notes),
        exceptions: values
            .exceptions
            .lines()
            .map(str::trim)
            .filter(|l| !is_blank(l))
            .map(str::to_owned)
            .collect(),
    })
}

/// The shifts a filled-in form asks for, or what is wrong with it, field by field.
struct Validated {
    role: CredentialKind,
    start_time: NaiveTime,
    duration_minutes: i32,
    rate: HourlyRate,
    unit: Unit,
    certs: Vec<CredentialKind>,
    handoff: HandoffPacket,
    windows: Vec<ShiftWindow>,
}

fn validate(values: &ShiftFormValues, tz: Tz, errors: &mut FieldErrors) -> Option<Validated> {
    let role = values
        .role
        .parse::<CredentialKind>()
        .ok()
        .filter(|k| k.is_licence());
    if role.is_none() {
        errors.role = Some("Choose the licence the shift needs: RN, LPN, CNA or NP.".into());
    }
    let time = |raw: &str| NaiveTime::parse_from_str(raw, "%H:%M").ok();
    let start = time(&values.start_time);
    if start.is_none() {
        errors.start_time = Some("Give the start as hours and minutes, for example 07:00.".into());
    }
    let end = time(&values.end_time);
    if end.is_none() {
        errors.end_time = Some("Give the end as hours and minutes, for example 19:00.".into());
    }
    let duration_minutes = match (start, end) {
        (Some(start), Some(end)) => {
            let mut minutes = (end - start).num_minutes();
            if minutes <= 0 {
                // Ends the next day (a night shift).
                minutes += 24 * 60;
            }
            if minutes < 60 {
                errors.end_time = Some("A shift lasts at least 1 hour.".into());
            }
            i32::try_from(minutes).ok()
        }
        _ => None,
    };
    let rate = cents(&values.rate).and_then(|c| HourlyRate::new(c).ok());
    if rate.is_none() {
        errors.rate = Some(
            "Give the hourly rate in dollars, for example 65 or 65.50 (at most $1,000).".into(),
        );
    }
    let unit = Unit::new(&values.unit).ok();
    if unit.is_none() {
        errors.unit = Some("Give the unit, 1 to 100 characters, for example 4 West.".into());
    }
    let mut certs = Vec::new();
    for raw in &values.certs {
        match raw.parse::<CredentialKind>() {
            Ok(kind) if !kind.is_licence() => certs.push(kind),
            _ => errors.certs = Some("Certifications are BLS, ACLS or PALS.".into()),
        }
    }
    let handoff = handoff_of(values, errors);
    if values.template_name.chars().count() > 80 {
        errors.template_name = Some("A template's name is at most 80 characters.".into());
    }

    let mut windows = Vec::new();
    let mut problems = Vec::new();
    let mut dates: Vec<NaiveDate> = Vec::new();
    for raw in &values.dates {
        match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            Ok(date) if !dates.contains(&date) => dates.push(date),
            Ok(_) => {}
            Err(_) => problems.push(format!("{raw} is not a date (use YYYY-MM-DD)")),
        }
    }
    if dates.is_empty() && problems.is_empty() {
        problems.push("Choose at least one date".into());
    }
    dates.sort();
    if let (Some(start), Some(minutes)) = (start, duration_minutes) {
        for date in &dates {
            let label = date.format("%a %-d %b %Y");
            let Some(starts_at) = tz
                .from_local_datetime(&date.and_time(start))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
            else {
                problems.push(format!(
                    "{label}: that start time does not exist (clocks change)"
                ));
                continue;
            };
            let ends_at = starts_at + Duration::minutes(minutes.into());
            match ShiftWindow::upcoming(starts_at, ends_at, Utc::now()) {
                Ok(window) => windows.push(window),
                Err(shiftwire_core::InvalidTerms::StartsInThePast) => {
                    problems.push(format!("{label}: that start has already passed"));
                }
                Err(other) => problems.push(format!("{label}: {other}")),
            }
        }
    }
    if !problems.is_empty() {
        errors.dates = Some(format!("{}.", problems.join("; ")));
    }
    if errors.any() {
        return None;
    }
    Some(Validated {
        role: role?,
        start_time: start?,
        duration_minutes: duration_minutes?,
        rate: rate?,
        unit: unit?,
        certs,
        handoff: handoff?,
        windows,
    })
}

async fn post_shifts(
    State(state): State<AppState>,
    Path(fid): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let (facility, templates) = facility_and_templates(&state, &staff, &fid).await?;
    let fid = facility.id;
    let values = values_of(&form.fields);
    let mut errors = FieldErrors::default();
    let Some(valid) = validate(&values, zone(&facility), &mut errors) else {
        return Ok(new_shift_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &staff,
            &facility,
            &templates,
            values,
            errors,
        ));
    };
    let mut posted = 0u32;
    for window in &valid.windows {
        let terms = ShiftTerms::new(
            valid.role,
            *window,
            valid.rate,
            valid.unit.clone(),
            valid.certs.clone(),
        )
        .map_err(shiftwire_matching::MatchingError::from)?;
        let created = state
            .matching
            .create_shift(
                staff.user.id,
                &staff.user.facility_ids,
                fid,
                NewShift {
                    terms,
                    handoff: valid.handoff.clone(),
                    favourites_first_minutes: 0,
                },
            )
            .await;
        if let Err(error) = created {
            let error = crate::ApiError::from(error);
            errors.general = Some(format!(
                "{} Posted {} before this.",
                error.problem().detail,
                plural(posted.into(), "shift", "shifts")
            ));
            return Ok(new_shift_page(
                error.status(),
                &staff,
                &facility,
                &templates,
                values,
                errors,
            ));
        }
        posted += 1;
    }
    if !values.template_name.trim().is_empty() {
        state
            .matching
            .save_template(
                staff.user.id,
                &staff.user.facility_ids,
                fid,
                NewShiftTemplate {
                    name: values.template_name.clone(),
                    role: valid.role,
                    start_time: valid.start_time,
                    duration_minutes: valid.duration_minutes,
                    hourly_rate_cents: valid.rate,
                    unit: valid.unit,
                    required_certifications: valid.certs,
                    handoff: valid.handoff,
                },
            )
            .await?;
    }
    Ok(see_other(&format!("/portal/f/{fid}?posted={posted}")))
}

// ---------------------------------------------------------------- one shift

#[derive(Deserialize)]
struct ShiftQuery {
    done: Option<String>,
}

struct OfferRow {
    nurse: String,
    at: String,
}

#[derive(Template)]
#[template(path = "portal/shift.html")]
struct ShiftPage {
    chrome: Chrome,
    shift_id: Uuid,
    facility_id: Uuid,
    facility_name: String,
    day: String,
    time: String,
    role: &'static str,
    unit: String,
    rate: String,
    certifications: String,
    status_class: &'static str,
    status_label: &'static str,
    at_risk: bool,
    nurse: Option<String>,
    acknowledged: bool,
    handoff_version: i32,
    cancel_reason: Option<String>,
    editable: bool,
    /// Open: the rate may be boosted.
    boostable: bool,
    boosted: bool,
    values: ShiftFormValues,
    errors: FieldErrors,
    cancel_error: Option<String>,
    boost_error: Option<String>,
    notice: Option<&'static str>,
    offers: Vec<OfferRow>,
    offers_total: usize,
}

/// Most offers a shift's page lists.
const OFFER_HISTORY_LIMIT: i64 = 500;

async fn shift_view(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    id: Uuid,
    values: Option<ShiftFormValues>,
    errors: FieldErrors,
    refused: Option<Refused>,
    notice: Option<&'static str>,
) -> Result<ShiftPage, WebError> {
    let scope = &staff.user.facility_ids;
    let shift = state.matching.shift(scope, id).await?;
    let facility = state.matching.facility(scope, shift.facility_id).await?;
    let tz = zone(&facility);
    let offers = state
        .matching
        .offer_history(scope, id, OFFER_HISTORY_LIMIT)
        .await?;
    let mut nurse_ids: Vec<Uuid> = offers.iter().map(|o| o.nurse_id).collect();
    if let Some(booking) = &shift.booking {
        nurse_ids.push(booking.nurse_id);
    }
    let names = state.accounts.names(&nurse_ids).await?;
    let name_of = |id: &Uuid| {
        names
            .get(id)
            .cloned()
            .flatten()
            .unwrap_or_else(|| "A nurse without a display name".to_owned())
    };
    let (status_class, status_label) = status_of(shift.status);
    let h = &shift.handoff;
    let values = values.unwrap_or_else(|| ShiftFormValues {
        report_to: h.report_to.clone(),
        arrival_instructions: h.arrival_instructions.clone(),
        parking: h.parking.clone().unwrap_or_default(),
        unit_notes: h.unit_notes.clone().unwrap_or_default(),
        exceptions: h.exceptions.join("\n"),
        ..ShiftFormValues::default()
    });
    Ok(ShiftPage {
        chrome: staff.chrome(format!(
            "{} {} · {}",
            shift.terms.role.as_str(),
            shift.terms.unit.as_str(),
            local_day(shift.terms.starts_at(), tz)
        )),
        shift_id: shift.id,
        facility_id: facility.id,
        facility_name: facility.name.clone(),
        day: local_day(shift.terms.starts_at(), tz),
        time: format!(
            "{}–{} ({})",
            local_time(shift.terms.starts_at(), tz),
            local_time(shift.terms.ends_at(), tz),
            facility.timezone
        ),
        role: shift.terms.role.as_str(),
        unit: shift.terms.unit.as_str().to_owned(),
        rate: format!("{}/h", dollars(shift.terms.hourly_rate_cents.cents())),
        certifications: if shift.terms.required_certifications.is_empty() {
            "None".to_owned()
        } else {
            shift
                .terms
                .required_certifications
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        status_class,
        status_label,
        at_risk: shift.at_risk,
        nurse: shift.booking.as_ref().map(|b| name_of(&b.nurse_id)),
        acknowledged: shift
            .booking
            .as_ref()
            .is_some_and(|b| b.handoff_acknowledged),
        handoff_version: shift.handoff_version,
        cancel_reason: shift.cancel_reason.clone(),
        editable: matches!(shift.status, ShiftStatus::Open | ShiftStatus::Booked),
        boostable: shift.status == ShiftStatus::Open,
        boosted: shift.boosted_at.is_some(),
        values,
        errors,
        cancel_error: refused
            .as_ref()
            .filter(|r| r.form == RefusedForm::Cancel)
            .map(|r| r.message.clone()),
        boost_error: refused
            .filter(|r| r.form == RefusedForm::Boost)
            .map(|r| r.message),
        notice,
        offers_total: offers.len(),
        offers: offers
            .iter()
            .map(|o| OfferRow {
                nurse: name_of(&o.nurse_id),
                at: format!(
                    "{} {}",
                    local_day(o.offered_at, tz),
                    o.offered_at.with_timezone(&tz).format("%H:%M:%S")
                ),
            })
            .collect(),
    })
}

async fn shift_page(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ShiftQuery>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let notice = match query.done.as_deref() {
        Some("handoff") => {
            Some("Handoff packet saved. A booked nurse is told and asked to acknowledge it again.")
        }
        Some("cancelled") => {
            Some("Shift cancelled. Nurses who held the offer, and a booked nurse, are told.")
        }
        Some("boosted") => Some(
            "Rate boosted. Nurses holding the offer see the new rate; nurses whose app is closed get a push, and those who asked, an urgent text.",
        ),
        _ => None,
    };
    let view = shift_view(
        &state,
        &staff,
        id,
        None,
        FieldErrors::default(),
        None,
        notice,
    )
    .await?;
    Ok(page(&view))
}

async fn edit_handoff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let id = path_id(&id)?;
    let values = values_of(&form.fields);
    let mut errors = FieldErrors::default();
    let Some(handoff) = handoff_of(&values, &mut errors) else {
        let view = shift_view(&state, &staff, id, Some(values), errors, None, None).await?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &view));
    };
    let patch = ShiftPatch {
        handoff: Some(handoff),
        ..ShiftPatch::default()
    };
    match state
        .matching
        .update_shift(staff.user.id, &staff.user.facility_ids, id, patch)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/portal/shifts/{id}?done=handoff"))),
        Err(error) => {
            let error = crate::ApiError::from(error);
            if error.status() == StatusCode::NOT_FOUND {
                return Err(error.into());
            }
            errors.general = Some(error.problem().detail);
            let view = shift_view(&state, &staff, id, Some(values), errors, None, None).await?;
            Ok(html(error.status(), &view))
        }
    }
}

async fn cancel_shift(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let id = path_id(&id)?;
    let reason = form.fields.text("reason");
    if shiftwire_core::text::reason(&reason).is_none() {
        return refused(
            &state,
            &staff,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Refused::cancel("Give a reason (up to 1,000 characters): the booked nurse reads it."),
        )
        .await;
    }
    let outcome = state
        .matching
        .cancel_shift(staff.user.id, &staff.user.facility_ids, id, &reason)
        .await;
    after_form(
        &state,
        &staff,
        id,
        outcome,
        "cancelled",
        RefusedForm::Cancel,
    )
    .await
}

async fn boost_shift(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let id = path_id(&id)?;
    let Some(rate) = cents(&form.fields.text("rate")).and_then(|c| HourlyRate::new(c).ok()) else {
        let message =
            Refused::boost("Give the new hourly rate in dollars, for example 80 or 82.50.");
        return refused(
            &state,
            &staff,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
        )
        .await;
    };
    let outcome = state
        .matching
        .boost_shift(staff.user.id, &staff.user.facility_ids, id, rate)
        .await;
    after_form(&state, &staff, id, outcome, "boosted", RefusedForm::Boost).await
}

/// Where a form on a shift's page leads: to the page with its `done` notice when it
/// worked; the page again, with the refusal in words beside the form, when a rule refused
/// it; not found as such.
async fn after_form(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    id: Uuid,
    outcome: Result<Shift, shiftwire_matching::MatchingError>,
    done: &str,
    form: RefusedForm,
) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(see_other(&format!("/portal/shifts/{id}?done={done}"))),
        Err(error) => {
            let error = crate::ApiError::from(error);
            if error.status() == StatusCode::NOT_FOUND {
                return Err(error.into());
            }
            let message = Refused {
                form,
                message: error.problem().detail,
            };
            refused(state, staff, id, error.status(), message).await
        }
    }
}

/// Which form on a shift's page was refused, and why.
struct Refused {
    form: RefusedForm,
    message: String,
}

#[derive(PartialEq, Eq)]
enum RefusedForm {
    Cancel,
    Boost,
}

impl Refused {
    fn cancel(message: &str) -> Self {
        Self {
            form: RefusedForm::Cancel,
            message: message.to_owned(),
        }
    }

    fn boost(message: &str) -> Self {
        Self {
            form: RefusedForm::Boost,
            message: message.to_owned(),
        }
    }
}

/// The shift's page again, with the refused form's message.
async fn refused(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    id: Uuid,
    status: StatusCode,
    refused: Refused,
) -> Result<Response, WebError> {
    let view = shift_view(
        state,
        staff,
        id,
        None,
        FieldErrors::default(),
        Some(refused),
        None,
    )
    .await?;
    Ok(html(status, &view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_people_type_them() {
        assert_eq!(cents("65"), Some(6500));
        assert_eq!(cents("$65.5"), Some(6550));
        assert_eq!(cents("1,000.00"), Some(100_000));
        for bad in ["", "abc", "65.555", "-5", "1e3", "9999999"] {
            assert_eq!(cents(bad), None, "{bad}");
        }
    }

    fn filled(dates: &[&str]) -> ShiftFormValues {
        ShiftFormValues {
            role: "RN".into(),
            start_time: "19:00".into(),
            end_time: "07:00".into(),
            rate: "70".into(),
            unit: "ICU".into(),
            report_to: "Charge nurse".into(),
            arrival_instructions: "Main entrance".into(),
            dates: dates.iter().map(|d| (*d).to_owned()).collect(),
            ..ShiftFormValues::default()
        }
    }

    #[test]
    fn a_night_shift_ends_the_next_morning_in_the_facilitys_zone() {
        let tomorrow = (Utc::now() + Duration::days(2)).date_naive().to_string();
        let mut errors = FieldErrors::default();
        let valid =
            validate(&filled(&[&tomorrow]), Tz::America__Los_Angeles, &mut errors).expect("valid");
        assert_eq!(valid.duration_minutes, 12 * 60);
        let window = &valid.windows[0];
        assert_eq!((window.ends_at - window.starts_at).num_hours(), 12);
        assert_eq!(
            window
                .starts_at
                .with_timezone(&Tz::America__Los_Angeles)
                .format("%H:%M")
                .to_string(),
            "19:00"
        );
    }

    #[test]
    fn every_wrong_field_is_named_in_words() {
        let mut values = filled(&["2001-01-01", "not a date"]);
        values.role = "BLS".into();
        values.rate = "free".into();
        values.report_to = " ".into();
        let mut errors = FieldErrors::default();
        assert!(validate(&values, Tz::UTC, &mut errors).is_none());
        assert!(errors.role.is_some() && errors.rate.is_some() && errors.report_to.is_some());
        let dates = errors.dates.expect("dates");
        assert!(
            dates.contains("already passed") && dates.contains("not a date"),
            "{dates}"
        );
    }
}
