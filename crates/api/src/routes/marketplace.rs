//! The marketplace: facilities (admin), shifts (schedulers of the facility), nearby
//! search, claims and bookings (nurses).

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{AdminOnly, Auth, IdPath, NoBody, NurseOnly, SchedulerOnly, ValidJson, ValidQuery},
    pagination::{self, Page, PageParams},
    routes::schemas::{CoordinatesBody, CredentialKindName, EmptyBody},
};
use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiftwire_core::{
    BookingStatus, Coordinates, CredentialKind, HourlyRate, ShiftStatus, ShiftTerms, ShiftWindow,
    Unit, UsState,
};
use shiftwire_matching::{
    Booking, Facility, HandoffPacket, MatchingError, NearbyQuery, NearbyShift, NewFacility,
    NewShift, Shift, ShiftFilter, ShiftPatch,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// ---------------------------------------------------------------- wire types

/// What a nurse needs on arrival.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffBody {
    /// Whom to report to, e.g. "Charge nurse, 4 West (ext. 4410)". Required.
    report_to: String,
    /// Where to go and how to get in. Required.
    arrival_instructions: String,
    parking: Option<String>,
    unit_notes: Option<String>,
    #[serde(default)]
    exceptions: Vec<String>,
}

impl From<HandoffBody> for HandoffPacket {
    fn from(h: HandoffBody) -> Self {
        Self {
            report_to: h.report_to,
            arrival_instructions: h.arrival_instructions,
            parking: h.parking,
            unit_notes: h.unit_notes,
            exceptions: h.exceptions,
        }
    }
}

impl From<HandoffPacket> for HandoffBody {
    fn from(h: HandoffPacket) -> Self {
        Self {
            report_to: h.report_to,
            arrival_instructions: h.arrival_instructions,
            parking: h.parking,
            unit_notes: h.unit_notes,
            exceptions: h.exceptions,
        }
    }
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ShiftStatusName {
    Open,
    Booked,
    InProgress,
    Completed,
    Cancelled,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum BookingStatusName {
    Booked,
    InProgress,
    Completed,
    Released,
    Cancelled,
    /// Nobody checked in by the deadline.
    NoShow,
}

/// A shift's terms, as every shape of a shift carries them.
#[derive(Serialize, ToSchema)]
pub struct ShiftTermsBody {
    /// The licence the shift needs.
    #[schema(value_type = CredentialKindName)]
    role: CredentialKind,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[schema(example = 6500)]
    hourly_rate_cents: i32,
    #[schema(example = "4 West, Med-Surg")]
    unit: String,
    #[schema(value_type = Vec<CredentialKindName>)]
    required_certifications: Vec<CredentialKind>,
}

impl From<ShiftTerms> for ShiftTermsBody {
    fn from(t: ShiftTerms) -> Self {
        Self {
            role: t.role,
            starts_at: t.window.starts_at,
            ends_at: t.window.ends_at,
            hourly_rate_cents: t.hourly_rate_cents.cents(),
            unit: t.unit.into(),
            required_certifications: t.required_certifications,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FacilityBody {
    id: Uuid,
    name: String,
    address: String,
    location: CoordinatesBody,
    timezone: String,
    state: String,
    geofence_m: i32,
    created_at: DateTime<Utc>,
}

impl From<Facility> for FacilityBody {
    fn from(f: Facility) -> Self {
        Self {
            id: f.id,
            name: f.name,
            address: f.address,
            location: f.location.into(),
            timezone: f.timezone,
            state: f.state,
            geofence_m: f.geofence_m,
            created_at: f.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NurseRefBody {
    id: Uuid,
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShiftBookingBody {
    id: Uuid,
    nurse: NurseRefBody,
    /// The current handoff version.
    handoff_version: i32,
    /// Whether the nurse acknowledged that version.
    handoff_acknowledged: bool,
    /// When the nurse, on her way, said she would arrive (`booking.on_the_way`).
    eta_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct ShiftBody {
    id: Uuid,
    facility_id: Uuid,
    /// The scheduler who decides about this shift.
    owner_id: Uuid,
    #[serde(flatten)]
    terms: ShiftTermsBody,
    handoff: HandoffBody,
    handoff_version: i32,
    #[schema(value_type = ShiftStatusName)]
    status: ShiftStatus,
    /// Still open within `UNFILLED_ALERT_MINUTES` of its start.
    at_risk: bool,
    /// How often a nurse released it.
    release_count: i32,
    cancel_reason: Option<String>,
    booking: Option<ShiftBookingBody>,
    /// When the rate was last raised by a boost (`POST /v1/shifts/{id}/boost`); a boosted
    /// shift counts as urgent.
    boosted_at: Option<DateTime<Utc>>,
    /// Its nurse did not come (a no-show) and it went back out: it may be claimed after
    /// its start, until an hour before its end.
    reopened_after_no_show: bool,
    created_at: DateTime<Utc>,
}

impl From<Shift> for ShiftBody {
    fn from(s: Shift) -> Self {
        Self {
            id: s.id,
            facility_id: s.facility_id,
            owner_id: s.owner_id,
            terms: s.terms.into(),
            handoff: s.handoff.into(),
            handoff_version: s.handoff_version,
            status: s.status,
            at_risk: s.at_risk,
            release_count: s.release_count,
            cancel_reason: s.cancel_reason,
            booking: s.booking.map(|b| ShiftBookingBody {
                id: b.id,
                nurse: NurseRefBody {
                    id: b.nurse_id,
                    name: b.nurse_name,
                },
                handoff_version: b.handoff_version,
                handoff_acknowledged: b.handoff_acknowledged,
                eta_at: b.eta_at,
            }),
            boosted_at: s.boosted_at,
            reopened_after_no_show: s.reopened_after_no_show,
            created_at: s.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FacilityRefBody {
    id: Uuid,
    name: String,
    location: CoordinatesBody,
}

#[derive(Serialize, ToSchema)]
pub struct NearbyShiftBody {
    id: Uuid,
    facility: FacilityRefBody,
    #[serde(flatten)]
    terms: ShiftTermsBody,
    /// Geodesic distance from the query point.
    distance_km: f64,
}

impl From<NearbyShift> for NearbyShiftBody {
    fn from(s: NearbyShift) -> Self {
        Self {
            id: s.id,
            facility: FacilityRefBody {
                id: s.facility_id,
                name: s.facility_name,
                location: s.facility_location.into(),
            },
            terms: s.terms.into(),
            distance_km: s.distance_km,
        }
    }
}

/// A booking with everything needed to arrive.
#[derive(Serialize, ToSchema)]
pub struct BookingBody {
    id: Uuid,
    #[schema(value_type = BookingStatusName)]
    status: BookingStatus,
    shift: BookingShiftBody,
    facility: FacilityBody,
    handoff: HandoffBody,
    handoff_version: i32,
    handoff_acknowledged: bool,
    checked_in_at: Option<DateTime<Utc>>,
    checked_out_at: Option<DateTime<Utc>>,
    worked_minutes: Option<i32>,
    /// Why a `cancelled` booking was cancelled: `facility_cancelled` (the facility
    /// cancelled the shift) or `nurse_ineligible` (you may no longer work it: suspended,
    /// a licence revoked or lapsed before the shift ends).
    cancel_reason: Option<String>,
    /// The facility's words, or the rule you no longer meet (`suspended`,
    /// `not_verified`, `role`, `licence_state`, `certification_expired`).
    cancel_detail: Option<String>,
    /// When you said you were on your way, and when you said you would arrive.
    on_the_way_at: Option<DateTime<Utc>>,
    eta_at: Option<DateTime<Utc>>,
    /// When the booking became a `no_show`.
    no_show_at: Option<DateTime<Utc>>,
    /// Pay the facility owes for cancelling this booked shift less than 24 hours before
    /// its start (0 otherwise).
    late_cancel_pay_minutes: i32,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct BookingShiftBody {
    id: Uuid,
    #[schema(value_type = ShiftStatusName)]
    status: ShiftStatus,
    #[serde(flatten)]
    terms: ShiftTermsBody,
}

impl From<Booking> for BookingBody {
    fn from(b: Booking) -> Self {
        Self {
            id: b.id,
            status: b.status,
            shift: BookingShiftBody {
                id: b.shift.id,
                status: b.shift.status,
                terms: b.shift.terms.into(),
            },
            facility: b.facility.into(),
            handoff: b.handoff.into(),
            handoff_version: b.handoff_version,
            handoff_acknowledged: b.handoff_acknowledged,
            checked_in_at: b.checked_in_at,
            checked_out_at: b.checked_out_at,
            worked_minutes: b.worked_minutes,
            cancel_reason: b.cancel_reason,
            cancel_detail: b.cancel_detail,
            on_the_way_at: b.on_the_way_at,
            eta_at: b.eta_at,
            no_show_at: b.no_show_at,
            late_cancel_pay_minutes: b.late_cancel_pay_minutes,
            created_at: b.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why; 1 to 1000 characters.
    reason: String,
}

impl ReasonBody {
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionBody {
    #[schema(example = 37.7402, minimum = -90, maximum = 90)]
    lat: f64,
    #[schema(example = -122.385, minimum = -180, maximum = 180)]
    lon: f64,
}

impl PositionBody {
    fn coordinates(&self) -> Result<Coordinates, ApiError> {
        Coordinates::new(self.lat, self.lon)
            .map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))
    }
}

/// The `Idempotency-Key` request header of the routes that honour it. For the document
/// only: the `idempotency` middleware reads it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// Replays the first response for the same key and body: 1 to 255 visible ASCII
    /// characters, scoped to the signed-in user, kept 24 hours.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 255,
        pattern = r"^[\x21-\x7E]+$"
    )]
    key: String,
}

/// Shifts with their booked nurses' display names (the accounts hold them).
async fn with_names(state: &AppState, mut shifts: Vec<Shift>) -> Result<Vec<Shift>, ApiError> {
    let ids: Vec<Uuid> = shifts
        .iter()
        .filter_map(|s| s.booking.as_ref().map(|b| b.nurse_id))
        .collect();
    let names = state.accounts.names(&ids).await?;
    for booking in shifts.iter_mut().filter_map(|s| s.booking.as_mut()) {
        booking.nurse_name = names.get(&booking.nurse_id).cloned().flatten();
    }
    Ok(shifts)
}

async fn named(state: &AppState, shift: Shift) -> Result<Shift, ApiError> {
    let mut named = with_names(state, vec![shift]).await?;
    named.pop().ok_or_else(ApiError::not_found)
}

/// Terms a scheduler sent that cannot be a shift's.
fn invalid(why: shiftwire_core::InvalidTerms) -> ApiError {
    ApiError::unprocessable("invalid_request", why.to_string())
}

// ---------------------------------------------------------------- admin: facilities

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFacilityRequest {
    #[schema(example = "Mercy General Hospital")]
    name: String,
    address: String,
    #[schema(value_type = CoordinatesBody)]
    location: Coordinates,
    /// IANA zone, e.g. `America/Los_Angeles`.
    timezone: String,
    /// Two-letter state code: licences are checked against it.
    state: String,
    /// Check-in radius in metres, 10 to 5000.
    geofence_m: i32,
}

/// Register a facility (admin).
#[utoipa::path(post, path = "/v1/admin/facilities", tag = "admin", security(("bearer" = [])),
    request_body = CreateFacilityRequest,
    responses(
        (status = 201, description = "Created", body = FacilityBody),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_facility(
    _admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<CreateFacilityRequest>,
) -> Result<(StatusCode, Json<FacilityBody>), ApiError> {
    let us_state = UsState::parse(&body.state)
        .map_err(|e| ApiError::unprocessable("invalid_request", format!("state: {e}")))?;
    let facility = state
        .matching
        .create_facility(NewFacility {
            name: body.name,
            address: body.address,
            location: body.location,
            timezone: body.timezone,
            state: us_state,
            geofence_m: body.geofence_m,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(facility.into())))
}

// ---------------------------------------------------------------- schedulers: shifts

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShiftRequest {
    #[schema(value_type = CredentialKindName)]
    role: CredentialKind,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[schema(example = 6500)]
    hourly_rate_cents: i32,
    #[serde(default)]
    #[schema(value_type = Vec<CredentialKindName>)]
    required_certifications: Vec<CredentialKind>,
    #[schema(example = "4 West, Med-Surg")]
    unit: String,
    handoff: HandoffBody,
    /// For this long after posting, only the facility's favourites are offered the shift
    /// and may claim it; then every eligible nurse is offered it, once.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 120, example = 30)]
    favourites_first_minutes: u16,
}

/// Post an open shift (scheduler of the facility). Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/facilities/{fid}/shifts", tag = "shifts", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), IdempotencyKeyHeader),
    request_body = CreateShiftRequest,
    responses(
        (status = 201, description = "Posted, status `open`", body = ShiftBody),
        (status = 404, description = "No such facility of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request`, `invalid_body`, `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_shift(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(facility_id): IdPath,
    ValidJson(body): ValidJson<CreateShiftRequest>,
) -> Result<(StatusCode, Json<ShiftBody>), ApiError> {
    let user = &scheduler.user;
    // Another facility's shifts are not found, whatever the body says.
    if !user.facility_ids.contains(&facility_id) {
        return Err(ApiError::not_found());
    }
    let new = NewShift {
        terms: ShiftTerms::new(
            body.role,
            ShiftWindow::upcoming(body.starts_at, body.ends_at, Utc::now()).map_err(invalid)?,
            HourlyRate::new(body.hourly_rate_cents).map_err(invalid)?,
            Unit::new(&body.unit).map_err(invalid)?,
            body.required_certifications,
        )
        .map_err(invalid)?,
        handoff: body.handoff.into(),
        favourites_first_minutes: body.favourites_first_minutes,
    };
    let shift = state
        .matching
        .create_shift(user.id, &user.facility_ids, facility_id, new)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(named(&state, shift).await?.into()),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShiftListParams {
    /// Only shifts in this status.
    #[param(value_type = Option<ShiftStatusName>)]
    status: Option<String>,
    /// Shifts starting at or after this time.
    from: Option<DateTime<Utc>>,
    /// Shifts starting before this time.
    to: Option<DateTime<Utc>>,
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A facility's shifts by start time, each with `at_risk` and its booking (scheduler of
/// the facility).
#[utoipa::path(get, path = "/v1/facilities/{fid}/shifts", tag = "shifts", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), ShiftListParams),
    responses(
        (status = 200, description = "A page of shifts", body = Page<ShiftBody>),
        (status = 404, description = "No such facility of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_shifts(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(facility_id): IdPath,
    ValidQuery(params): ValidQuery<ShiftListParams>,
) -> Result<Json<Page<ShiftBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let limit = page.limit()?;
    let status = params
        .status
        .as_deref()
        .map(str::parse::<ShiftStatus>)
        .transpose()
        .map_err(|_| ApiError::unprocessable("invalid_query", "status: unknown shift status"))?;
    let filter = ShiftFilter {
        status,
        from: params.from,
        to: params.to,
        after: page
            .cursor
            .as_deref()
            .map(pagination::decode_at_id)
            .transpose()?,
        limit: limit + 1,
    };
    let rows = state
        .matching
        .facility_shifts(&scheduler.user.facility_ids, facility_id, &filter)
        .await?;
    let rows = with_names(&state, rows).await?;
    Ok(Json(pagination::page(
        rows,
        limit,
        |s| pagination::encode_at_id(s.terms.starts_at(), s.id),
        Into::into,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftPatchRequest {
    /// Open shifts only (a booked shift's role is the booking's: `shift_booked`).
    #[schema(value_type = Option<CredentialKindName>)]
    role: Option<CredentialKind>,
    /// Open shifts only.
    starts_at: Option<DateTime<Utc>>,
    /// Open shifts only.
    ends_at: Option<DateTime<Utc>>,
    /// On a booked shift it may only rise.
    hourly_rate_cents: Option<i32>,
    /// Open shifts only.
    #[schema(value_type = Option<Vec<CredentialKindName>>)]
    required_certifications: Option<Vec<CredentialKind>>,
    /// On a booked shift the nurse must acknowledge again.
    unit: Option<String>,
    /// A changed packet gets a new version; on a booked shift the nurse must acknowledge again.
    handoff: Option<HandoffBody>,
}

/// Change an open or booked shift (scheduler of the facility). Nurses holding the offer of
/// an open shift get the new terms (or a withdrawal); a booked nurse gets her booking's
/// new rate, unit or handoff. Every change is audited with its before and after.
#[utoipa::path(patch, path = "/v1/shifts/{id}", tag = "shifts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id")),
    request_body = ShiftPatchRequest,
    responses(
        (status = 200, description = "The updated shift", body = ShiftBody),
        (status = 404, description = "No such shift of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`shift_not_editable` (not open or booked), `shift_booked` (role, times or certifications of a booked shift, or a lower rate)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_shift(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ShiftPatchRequest>,
) -> Result<Json<ShiftBody>, ApiError> {
    let patch = ShiftPatch {
        role: body.role,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        hourly_rate_cents: body
            .hourly_rate_cents
            .map(HourlyRate::new)
            .transpose()
            .map_err(invalid)?,
        required_certifications: body.required_certifications,
        unit: body
            .unit
            .as_deref()
            .map(Unit::new)
            .transpose()
            .map_err(invalid)?,
        handoff: body.handoff.map(Into::into),
    };
    let shift = state
        .matching
        .update_shift(scheduler.user.id, &scheduler.user.facility_ids, id, patch)
        .await?;
    Ok(Json(named(&state, shift).await?.into()))
}

/// Cancel an open or booked shift, with a reason (scheduler of the facility).
#[utoipa::path(post, path = "/v1/shifts/{id}/cancel", tag = "shifts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Cancelled", body = ShiftBody),
        (status = 404, description = "No such shift of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`shift_not_cancellable`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_shift(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ReasonBody>,
) -> Result<Json<ShiftBody>, ApiError> {
    let shift = state
        .matching
        .cancel_shift(
            scheduler.user.id,
            &scheduler.user.facility_ids,
            id,
            &body.reason,
        )
        .await?;
    Ok(Json(named(&state, shift).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoostRequest {
    /// The new rate: more than the shift's current one.
    #[schema(example = 8000, minimum = 1, maximum = 100000)]
    hourly_rate_cents: i32,
}

/// Boost an open shift's rate (scheduler of the facility): it counts as urgent and is
/// announced again, `shift.updated` to sockets, a push and an urgent text to nurses whose
/// app is closed. Audited.
#[utoipa::path(post, path = "/v1/shifts/{id}/boost", tag = "shifts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id")),
    request_body = BoostRequest,
    responses(
        (status = 200, description = "Boosted", body = ShiftBody),
        (status = 404, description = "No such shift of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`shift_not_open` (booked, cancelled or started)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request` (not a valid rate, or not more than the current one), `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn boost_shift(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<BoostRequest>,
) -> Result<Json<ShiftBody>, ApiError> {
    let rate = HourlyRate::new(body.hourly_rate_cents).map_err(invalid)?;
    let shift = state
        .matching
        .boost_shift(scheduler.user.id, &scheduler.user.facility_ids, id, rate)
        .await?;
    Ok(Json(named(&state, shift).await?.into()))
}

// ---------------------------------------------------------------- nurses

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NearbyParams {
    /// Search point (with `lon`); default: the nurse's home.
    #[param(minimum = -90, maximum = 90)]
    lat: Option<f64>,
    /// Search point (with `lat`).
    #[param(minimum = -180, maximum = 180)]
    lon: Option<f64>,
    /// Default and maximum: the nurse's `max_distance_km`.
    #[param(minimum = 0)]
    radius_km: Option<f64>,
    /// Shifts starting at or after this time.
    from: Option<DateTime<Utc>>,
    /// Shifts starting before this time.
    to: Option<DateTime<Utc>>,
    #[param(value_type = Option<CredentialKindName>)]
    role: Option<CredentialKind>,
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn encode_distance_cursor(distance_km: f64, id: Uuid) -> String {
    let mut bytes = distance_km.to_be_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_distance_cursor(cursor: &str) -> Result<(f64, Uuid), ApiError> {
    use base64::Engine;
    let bad = || ApiError::unprocessable("invalid_cursor", "cursor is not one this server issued");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    if bytes.len() != 24 {
        return Err(bad());
    }
    let distance = f64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad())?);
    let id = Uuid::from_slice(&bytes[8..]).map_err(|_| bad())?;
    if !distance.is_finite() {
        return Err(bad());
    }
    Ok((distance, id))
}

/// Open shifts the caller is eligible for, nearest first, with the distance from the
/// search point. No other nurse's data.
#[utoipa::path(get, path = "/v1/shifts/nearby", tag = "marketplace", security(("bearer" = [])),
    params(NearbyParams),
    responses(
        (status = 200, description = "A page of shifts", body = Page<NearbyShiftBody>),
        (status = 422, description = "`invalid_query`, `no_search_point`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn nearby(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<NearbyParams>,
) -> Result<Json<Page<NearbyShiftBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let limit = page.limit()?;
    let point = match (params.lat, params.lon) {
        (Some(lat), Some(lon)) => Some(
            Coordinates::new(lat, lon)
                .map_err(|e| ApiError::unprocessable("invalid_query", e.to_string()))?,
        ),
        (None, None) => None,
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_query",
                "lat and lon go together",
            ));
        }
    };
    let radius_km = params.radius_km.unwrap_or(200.0);
    if !(radius_km.is_finite() && radius_km >= 0.0) {
        return Err(ApiError::unprocessable(
            "invalid_query",
            "radius_km must be a non-negative number",
        ));
    }
    let query = NearbyQuery {
        point,
        radius_km,
        from: params.from,
        to: params.to,
        role: params.role,
        after: page
            .cursor
            .as_deref()
            .map(decode_distance_cursor)
            .transpose()?,
        limit: limit + 1,
    };
    let rows = state.matching.nearby(nurse.user.id, &query).await?;
    Ok(Json(pagination::page(
        rows,
        limit,
        |s| encode_distance_cursor(s.order_key, s.id),
        Into::into,
    )))
}

/// Claim an open shift: the first valid claim wins. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/shifts/{id}/claim", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id"), IdempotencyKeyHeader),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 201, description = "Booked", body = BookingBody),
        (status = 403, description = "`not_verified`, `not_eligible` (with `rule`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shift", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`shift_taken`, `shift_not_open`, `schedule_conflict`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn claim(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    _body: NoBody,
) -> Result<(StatusCode, Json<BookingBody>), ApiError> {
    // A storm's losers are answered here, without the database (see `claim_gate`).
    if state.hub.known_taken(id) {
        metrics::counter!("claims_refused_in_memory_total", "why" => "known_taken").increment(1);
        return Err(MatchingError::ShiftTaken.into());
    }
    let nurse_id = nurse.user.id;
    // The gate's flight ends at the commit: the claims waiting behind it hear at once.
    let booking_id = state
        .claims
        .claim(id, || state.matching.commit_claim(nurse_id, id))
        .await?;
    let booking = state.matching.booking(nurse_id, booking_id).await?;
    Ok((StatusCode::CREATED, Json(booking.into())))
}

/// Give a booked shift back before it starts; it opens again for others. Accepts
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/bookings/{id}/release", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id"), IdempotencyKeyHeader),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Released", body = BookingBody),
        (status = 404, description = "No such booking of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_releasable`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ReasonBody>,
) -> Result<Json<BookingBody>, ApiError> {
    let booking = state
        .matching
        .release(nurse.user.id, id, &body.reason)
        .await?;
    Ok(Json(booking.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ReleasePreviewBody {
    /// What releasing now would do to the attendance score: zero or negative.
    #[schema(example = -25)]
    points: i32,
    #[schema(example = "released 24 to 72 hours before the start")]
    reason: String,
}

/// What releasing this booking now would cost in attendance points, and why, before the
/// nurse confirms (nothing changes).
#[utoipa::path(get, path = "/v1/bookings/{id}/release-preview", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The cost of releasing now", body = ReleasePreviewBody),
        (status = 404, description = "No such booking of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_releasable`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release_preview(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<ReleasePreviewBody>, ApiError> {
    let cost = state.matching.release_preview(nurse.user.id, id).await?;
    Ok(Json(ReleasePreviewBody {
        points: cost.points,
        reason: cost.reason,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnTheWayBody {
    /// Minutes until you expect to arrive, a whole number from 0 to 360 (`25` or `25.0`).
    #[schema(value_type = i64, example = 25, minimum = 0, maximum = 360)]
    eta_minutes: f64,
}

/// Tell the facility you are on your way (from 3 hours before the start). Its schedulers
/// see it (`booking.on_the_way`), and it extends the no-show deadline to your ETA plus 15
/// minutes, at most an hour after the start. Said again, the newer ETA counts.
#[utoipa::path(post, path = "/v1/bookings/{id}/on-the-way", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    request_body = OnTheWayBody,
    responses(
        (status = 200, description = "Recorded; the facility is told", body = BookingBody),
        (status = 404, description = "No such booking of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`outside_on_the_way_window` (more than 3 hours before the start), `booking_not_active`, `booking_no_show`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request`: an ETA outside 0 to 360 minutes", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn on_the_way(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<OnTheWayBody>,
) -> Result<Json<BookingBody>, ApiError> {
    // JSON has one kind of number: 25.0 is the integer 25, a fraction is not minutes.
    let eta = body.eta_minutes;
    if eta.fract() != 0.0 || !(0.0..=360.0).contains(&eta) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "eta_minutes must be a whole number of minutes from 0 to 360",
        ));
    }
    let booking = state
        .matching
        .on_the_way(nurse.user.id, id, eta as i64)
        .await?;
    Ok(Json(booking.into()))
}

#[derive(Serialize, ToSchema)]
pub struct AttendanceEventBody {
    at: DateTime<Utc>,
    booking_id: Uuid,
    /// Positive for a shift worked, negative for a release or a no-show.
    points: i32,
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct AttendanceBody {
    /// Starts at 100 and never passes it.
    score: i32,
    /// Every change, oldest first.
    events: Vec<AttendanceEventBody>,
}

/// The nurse's attendance score and every point change with its reason.
#[utoipa::path(get, path = "/v1/me/attendance", tag = "marketplace", security(("bearer" = [])),
    responses((status = 200, description = "Score and history", body = AttendanceBody)))]
pub async fn my_attendance(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
) -> Result<Json<AttendanceBody>, ApiError> {
    let attendance = state.matching.attendance(nurse.user.id).await?;
    Ok(Json(AttendanceBody {
        score: attendance.score,
        events: attendance
            .events
            .into_iter()
            .map(|e| AttendanceEventBody {
                at: e.at,
                booking_id: e.booking_id,
                points: e.points,
                reason: e.reason,
            })
            .collect(),
    }))
}

/// Acknowledge the current handoff packet.
#[utoipa::path(post, path = "/v1/bookings/{id}/handoff/ack", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "Acknowledged", body = BookingBody),
        (status = 404, description = "No such booking of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`booking_not_active`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn acknowledge_handoff(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    _body: NoBody,
) -> Result<Json<BookingBody>, ApiError> {
    let booking = state
        .matching
        .acknowledge_handoff(nurse.user.id, id)
        .await?;
    Ok(Json(booking.into()))
}

/// Check in at the facility: from 30 minutes before the start until the end, inside the
/// geofence. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/bookings/{id}/check-in", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id"), IdempotencyKeyHeader),
    request_body = PositionBody,
    responses(
        (status = 200, description = "Checked in; the shift is `in_progress`", body = BookingBody),
        (status = 403, description = "`outside_geofence` (with `distance_m`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_checkable`, `outside_check_in_window`, `booking_no_show` (nobody checked in by the deadline)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check_in(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<PositionBody>,
) -> Result<Json<BookingBody>, ApiError> {
    let at = body.coordinates()?;
    let booking = state.matching.check_in(nurse.user.id, id, at).await?;
    Ok(Json(booking.into()))
}

/// Check out at the facility, inside the geofence; records the worked minutes. Accepts
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/bookings/{id}/check-out", tag = "marketplace", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id"), IdempotencyKeyHeader),
    request_body = PositionBody,
    responses(
        (status = 200, description = "Checked out; the shift is `completed`", body = BookingBody),
        (status = 403, description = "`outside_geofence` (with `distance_m`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_checkable`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check_out(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<PositionBody>,
) -> Result<Json<BookingBody>, ApiError> {
    let at = body.coordinates()?;
    let booking = state.matching.check_out(nurse.user.id, id, at).await?;
    Ok(Json(booking.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BookingListParams {
    /// Bookings whose shift starts at or after this time.
    from: Option<DateTime<Utc>>,
    /// Bookings whose shift starts before this time.
    to: Option<DateTime<Utc>>,
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The nurse's bookings with shift, facility and handoff packet, by start time.
#[utoipa::path(get, path = "/v1/me/bookings", tag = "marketplace", security(("bearer" = [])),
    params(BookingListParams),
    responses((status = 200, description = "A page of bookings", body = Page<BookingBody>)))]
pub async fn my_bookings(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<BookingListParams>,
) -> Result<Json<Page<BookingBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let limit = page.limit()?;
    let after = page
        .cursor
        .as_deref()
        .map(pagination::decode_at_id)
        .transpose()?;
    let rows = state
        .matching
        .bookings_of(nurse.user.id, params.from, params.to, after, limit + 1)
        .await?;
    Ok(Json(pagination::page(
        rows,
        limit,
        |b| pagination::encode_at_id(b.shift.terms.starts_at(), b.id),
        Into::into,
    )))
}
