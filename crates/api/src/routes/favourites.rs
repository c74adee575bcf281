//! A facility's favourites and do-not-return list, and the nurses it knows (schedulers of
//! that facility; another facility's is not found).

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{Auth, IdPath, IdsPath, SchedulerOnly, ValidJson},
    routes::marketplace::ReasonBody,
};
use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Add a nurse to the facility's favourites: she is offered its favourites-first shifts
/// inside their window, and may still claim there while her attendance restricts her.
/// Idempotent. A blocked nurse cannot be a favourite (409 `nurse_blocked`).
#[utoipa::path(put, path = "/v1/facilities/{fid}/favourites/{nurse_id}", tag = "facilities", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), ("nurse_id" = Uuid, Path, description = "Nurse id")),
    responses(
        (status = 204, description = "She is a favourite"),
        (status = 404, description = "No such facility of yours, or no such nurse", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`nurse_blocked`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_favourite(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdsPath(facility_id, nurse_id): IdsPath,
) -> Result<StatusCode, ApiError> {
    let user = &scheduler.user;
    state
        .matching
        .set_favourite(user.id, &user.facility_ids, facility_id, nurse_id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a nurse from the facility's favourites. Idempotent.
#[utoipa::path(delete, path = "/v1/facilities/{fid}/favourites/{nurse_id}", tag = "facilities", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), ("nurse_id" = Uuid, Path, description = "Nurse id")),
    responses(
        (status = 204, description = "She is not a favourite"),
        (status = 404, description = "No such facility of yours, or no such nurse", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_favourite(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdsPath(facility_id, nurse_id): IdsPath,
) -> Result<StatusCode, ApiError> {
    let user = &scheduler.user;
    state
        .matching
        .set_favourite(user.id, &user.facility_ids, facility_id, nurse_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Do not return: the nurse gets no offer, search result, push or claim at this facility,
/// and her future bookings here are cancelled (`nurse_ineligible`; she is told only that
/// she is not eligible at this facility). Removes her from the favourites. Blocking again
/// replaces the reason. Audited with the reason.
#[utoipa::path(put, path = "/v1/facilities/{fid}/blocks/{nurse_id}", tag = "facilities", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), ("nurse_id" = Uuid, Path, description = "Nurse id")),
    request_body = ReasonBody,
    responses(
        (status = 204, description = "Blocked"),
        (status = 404, description = "No such facility of yours, or no such nurse", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn block(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdsPath(facility_id, nurse_id): IdsPath,
    ValidJson(body): ValidJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    let user = &scheduler.user;
    state
        .matching
        .set_block(
            user.id,
            &user.facility_ids,
            facility_id,
            nurse_id,
            Some(body.reason()),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a block. Idempotent. Cancelled bookings stay cancelled.
#[utoipa::path(delete, path = "/v1/facilities/{fid}/blocks/{nurse_id}", tag = "facilities", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id"), ("nurse_id" = Uuid, Path, description = "Nurse id")),
    responses(
        (status = 204, description = "Not blocked"),
        (status = 404, description = "No such facility of yours, or no such nurse", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unblock(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdsPath(facility_id, nurse_id): IdsPath,
) -> Result<StatusCode, ApiError> {
    let user = &scheduler.user;
    state
        .matching
        .set_block(user.id, &user.facility_ids, facility_id, nurse_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct FacilityNurseBody {
    id: Uuid,
    name: Option<String>,
    /// Completed shifts at this facility.
    shifts_worked: i64,
    /// Her attendance score (100 at most).
    attendance_score: i32,
    favourite: bool,
    blocked: bool,
    /// The facility's reason for the block (never shown to her).
    block_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FacilityNursesBody {
    items: Vec<FacilityNurseBody>,
}

/// Nurses who worked at the facility (or that it favourited or blocked), with shifts
/// worked there, attendance score, favourite and blocked; at most 500.
#[utoipa::path(get, path = "/v1/facilities/{fid}/nurses", tag = "facilities", security(("bearer" = [])),
    params(("fid" = Uuid, Path, description = "Facility id")),
    responses(
        (status = 200, description = "The facility's nurses", body = FacilityNursesBody),
        (status = 404, description = "No such facility of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn facility_nurses(
    scheduler: Auth<SchedulerOnly>,
    State(state): State<AppState>,
    IdPath(facility_id): IdPath,
) -> Result<Json<FacilityNursesBody>, ApiError> {
    let nurses = state
        .matching
        .facility_nurses(&scheduler.user.facility_ids, facility_id)
        .await?;
    let ids: Vec<Uuid> = nurses.iter().map(|n| n.id).collect();
    let names = state.accounts.names(&ids).await?;
    Ok(Json(FacilityNursesBody {
        items: nurses
            .into_iter()
            .map(|n| FacilityNurseBody {
                name: names.get(&n.id).cloned().flatten(),
                id: n.id,
                shifts_worked: n.shifts_worked,
                attendance_score: n.attendance_score,
                favourite: n.favourite,
                blocked: n.blocked,
                block_reason: n.block_reason,
            })
            .collect(),
    }))
}
