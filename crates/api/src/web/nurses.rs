//! The portal's "Nurses" page of a facility: the nurses who worked there (or that it
//! favourited or blocked), with shifts worked and attendance score, and forms to add or
//! remove a favourite and to block (with a reason) or lift a block. The same rules and
//! tenancy as the API: another facility is not found; a refused form says why and changes
//! nothing.

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
use serde::Deserialize;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/f/{fid}/nurses", get(nurses_page))
        .route("/portal/f/{fid}/nurses/{nid}/{action}", post(act))
}

struct Row {
    id: Uuid,
    name: String,
    shifts_worked: i64,
    attendance_score: i32,
    favourite: bool,
    blocked: bool,
    block_reason: String,
}

#[derive(Template)]
#[template(path = "portal/nurses.html")]
struct NursesPage {
    chrome: Chrome,
    facility_id: Uuid,
    facility_name: String,
    notice: Option<&'static str>,
    problem: Option<String>,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct PageQuery {
    done: Option<String>,
}

async fn view(
    state: &AppState,
    staff: &Staff<SchedulerOnly>,
    facility_id: Uuid,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<NursesPage, WebError> {
    let scope = &staff.user.facility_ids;
    let facility = state.matching.facility(scope, facility_id).await?;
    let nurses = state.matching.facility_nurses(scope, facility_id).await?;
    let ids: Vec<Uuid> = nurses.iter().map(|n| n.id).collect();
    let names = state.accounts.names(&ids).await?;
    let mut rows: Vec<Row> = nurses
        .into_iter()
        .map(|n| Row {
            name: names
                .get(&n.id)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "A nurse without a name yet".into()),
            id: n.id,
            shifts_worked: n.shifts_worked,
            attendance_score: n.attendance_score,
            favourite: n.favourite,
            blocked: n.blocked,
            block_reason: n.block_reason.unwrap_or_default(),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(NursesPage {
        chrome: staff.chrome(format!("Nurses: {}", facility.name)),
        facility_id,
        facility_name: facility.name,
        notice,
        problem,
        rows,
    })
}

async fn nurses_page(
    staff: Staff<SchedulerOnly>,
    State(state): State<AppState>,
    Path(fid): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, WebError> {
    let fid = path_id(&fid)?;
    let notice = match query.done.as_deref() {
        Some("favourite") => Some("Added to your favourites."),
        Some("unfavourite") => Some("Removed from your favourites."),
        Some("block") => {
            Some("Blocked. Her future bookings here are cancelled and the shifts offered again.")
        }
        Some("unblock") => Some("Block lifted."),
        _ => None,
    };
    Ok(page(&view(&state, &staff, fid, notice, None).await?))
}

async fn act(
    State(state): State<AppState>,
    Path((fid, nid, action)): Path<(String, String, String)>,
    form: StaffForm<SchedulerOnly>,
) -> Result<Response, WebError> {
    let staff = form.staff;
    let (facility_id, nurse_id) = (path_id(&fid)?, path_id(&nid)?);
    let user = &staff.user;
    let scope = &user.facility_ids;
    // Another facility is not found before anything in the form is read.
    state.matching.facility(scope, facility_id).await?;
    let matching = &state.matching;
    let outcome = match action.as_str() {
        "favourite" | "unfavourite" => {
            matching
                .set_favourite(user.id, scope, facility_id, nurse_id, action == "favourite")
                .await
        }
        "block" => {
            let reason = form.fields.text("reason");
            if shiftwire_core::text::reason(&reason).is_none() {
                let why = "Give a reason (up to 1,000 characters). It stays with your facility: \
                           she is told only that she is not eligible here."
                    .to_owned();
                let view = view(&state, &staff, facility_id, None, Some(why)).await?;
                return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &view));
            }
            matching
                .set_block(user.id, scope, facility_id, nurse_id, Some(&reason))
                .await
        }
        "unblock" => {
            matching
                .set_block(user.id, scope, facility_id, nurse_id, None)
                .await
        }
        _ => return Err(crate::ApiError::not_found().into()),
    };
    match outcome {
        Ok(()) => Ok(see_other(&format!(
            "/portal/f/{facility_id}/nurses?done={action}"
        ))),
        Err(error) => {
            let error = crate::ApiError::from(error);
            if error.status() == StatusCode::NOT_FOUND {
                return Err(error.into());
            }
            let why = error.problem().detail;
            let view = view(&state, &staff, facility_id, None, Some(why)).await?;
            Ok(html(error.status(), &view))
        }
    }
}
