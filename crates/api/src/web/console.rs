//! The verification console: the review queue, a credential or identity beside its
//! document(s) and the registry's evidence, decisions with reasons, a nurse's page, and
//! (admins) the audit log, facilities and staff. Every document view is audited by the
//! same verification functions the API calls.

use super::{
    Chrome, Staff, StaffForm, WebError, age, html, page, portal::path_id, reason_in_words,
    see_other,
};
use crate::{
    ApiError, AppState,
    extract::{AdminOnly, VerifierOrAdmin},
};
use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::Response,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shiftwire_auth::users::NewStaffUser;
use shiftwire_core::{Coordinates, Email, Role, UsState};
use shiftwire_matching::NewFacility;
use shiftwire_outbox::audit::AuditFilter;
use shiftwire_verification::{Document, IdentityDocument, QueueCase};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue))
        .route("/console/credentials/{id}", get(credential_page))
        .route(
            "/console/credentials/{id}/document",
            get(credential_document),
        )
        .route(
            "/console/credentials/{id}/approve",
            post(approve_credential),
        )
        .route("/console/credentials/{id}/reject", post(reject_credential))
        .route("/console/credentials/{id}/revoke", post(revoke_credential))
        .route("/console/identities/{id}", get(identity_page))
        .route(
            "/console/identities/{id}/id-document",
            get(identity_id_document),
        )
        .route("/console/identities/{id}/selfie", get(identity_selfie))
        .route("/console/identities/{id}/approve", post(approve_identity))
        .route("/console/identities/{id}/reject", post(reject_identity))
        .route("/console/nurses/{id}", get(nurse_page))
        .route("/console/nurses/{id}/suspend", post(suspend_nurse))
        .route("/console/nurses/{id}/reinstate", post(reinstate_nurse))
        .route("/console/audit", get(audit_page))
        .route(
            "/console/facilities",
            get(facilities_page).post(create_facility),
        )
        .route("/console/staff", get(staff_page).post(create_staff))
}

/// Most rows a console list shows.
const LIST_LIMIT: i64 = 200;

fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y %H:%M UTC").to_string()
}

fn name_or(name: Option<String>) -> String {
    name.unwrap_or_else(|| "No display name".to_owned())
}

// ---------------------------------------------------------------- the queue

struct QueueRow {
    kind: &'static str,
    link: String,
    nurse_id: Uuid,
    nurse: String,
    reason: &'static str,
    detail: String,
    age: String,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    chrome: Chrome,
    rows: Vec<QueueRow>,
}

async fn queue(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
) -> Result<Response, WebError> {
    let items = state
        .verification
        .review_queue(None, None, LIST_LIMIT)
        .await?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.nurse_id).collect();
    let names = state.accounts.names(&ids).await?;
    let rows = items
        .into_iter()
        .map(|item| {
            let (kind, link) = match &item.case {
                QueueCase::Credential(c) => (
                    "Licence or certification",
                    format!("/console/credentials/{}", c.id),
                ),
                QueueCase::Identity(i) => ("Identity", format!("/console/identities/{}", i.id)),
                QueueCase::IdentityMissing => (
                    "Identity missing",
                    format!("/console/nurses/{}", item.nurse_id),
                ),
            };
            let code = match item.case {
                QueueCase::IdentityMissing => "identity_missing",
                _ => item.reason_code.as_str(),
            };
            QueueRow {
                kind,
                link,
                nurse_id: item.nurse_id,
                nurse: name_or(names.get(&item.nurse_id).cloned().flatten()),
                reason: reason_in_words(code),
                detail: item.reason.clone().unwrap_or_default(),
                age: age(item.queued_at),
            }
        })
        .collect();
    Ok(page(&QueuePage {
        chrome: staff.chrome("Review queue"),
        rows,
    }))
}

// ---------------------------------------------------------------- documents

/// A stored document shown inline in the console: an image, or a PDF in a sandboxed
/// frame; it can never run as a page (`sandbox` CSP, `nosniff`).
fn inline_document(document: Document) -> Result<Response, WebError> {
    let mut response = crate::routes::verifications::sandboxed_document(
        document,
        "inline",
        "sandbox; default-src 'none'; frame-ancestors 'self'",
    )?;
    // Framed by the console itself only (`frame-ancestors 'self'`; browsers then ignore
    // the `X-Frame-Options: DENY` every response carries).
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    Ok(response)
}

async fn credential_document(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let document = state
        .verification
        .download_document(staff.user.id, id)
        .await?;
    inline_document(document)
}

async fn identity_id_document(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let document = state
        .verification
        .identity_document(staff.user.id, id, IdentityDocument::IdDocument)
        .await?;
    inline_document(document)
}

async fn identity_selfie(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let document = state
        .verification
        .identity_document(staff.user.id, id, IdentityDocument::Selfie)
        .await?;
    inline_document(document)
}

// ---------------------------------------------------------------- a credential

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn notice_of(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "approved" => Some("Approved. The nurse has been told."),
        "rejected" => Some("Rejected. The nurse has been told why."),
        "revoked" => {
            Some("Revoked. Her bookings that needed it were released and the nurse has been told.")
        }
        "suspended" => Some("Suspended. Her sessions ended and her future bookings were released."),
        "reinstated" => Some("Reinstated. She signs in again to continue."),
        "created" => Some("Created."),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "console/credential.html")]
struct CredentialPage {
    chrome: Chrome,
    id: Uuid,
    nurse_id: Uuid,
    nurse: String,
    legal_name: String,
    kind: &'static str,
    number: String,
    issuing_state: String,
    multistate: bool,
    expires_on: String,
    status: &'static str,
    reason: Option<&'static str>,
    reason_detail: Option<String>,
    evidence: Option<String>,
    decision_reason: Option<String>,
    submitted: String,
    document: Option<&'static str>,
    pending: bool,
    revocable: bool,
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn credential_view(
    state: &AppState,
    staff: &Staff<VerifierOrAdmin>,
    id: Uuid,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<CredentialPage, WebError> {
    let c = state.verification.credential(id).await?;
    let names = state.accounts.names(&[c.nurse_id]).await?;
    let identity = state.verification.identity_summary(c.nurse_id).await?;
    let flagged = c.status == shiftwire_core::CredentialStatus::Approved && c.flagged_at.is_some();
    Ok(CredentialPage {
        chrome: staff.chrome(format!("{} licence {}", c.kind.as_str(), c.number)),
        id: c.id,
        nurse_id: c.nurse_id,
        nurse: name_or(names.get(&c.nurse_id).cloned().flatten()),
        legal_name: identity
            .legal_name
            .map(|n| format!("{n} ({})", identity.status.as_str()))
            .unwrap_or_else(|| "No identity on file".to_owned()),
        kind: c.kind.as_str(),
        number: c.number.clone(),
        issuing_state: c.issuing_state.clone().unwrap_or_else(|| "None".into()),
        multistate: c.multistate,
        expires_on: c.expires_on.format("%-d %b %Y").to_string(),
        status: c.status.as_str(),
        reason: c.reason_code.as_deref().map(reason_in_words),
        reason_detail: c.reason.clone(),
        evidence: c
            .evidence
            .as_ref()
            .and_then(|e| serde_json::to_string_pretty(e).ok()),
        decision_reason: c.decision_reason.clone().or(c.revoke_reason.clone()),
        submitted: when(c.submitted_at),
        document: match c.document_type.as_deref() {
            Some("application/pdf") => Some("pdf"),
            Some(_) => Some("image"),
            None => None,
        },
        pending: c.status == shiftwire_core::CredentialStatus::Pending || flagged,
        revocable: c.status == shiftwire_core::CredentialStatus::Approved,
        notice,
        problem,
    })
}

/// The three kinds of case a console page shows, each with its decisions.
#[derive(Clone, Copy)]
enum Case {
    Credential,
    Identity,
    Nurse,
}

impl Case {
    fn url(self, id: Uuid) -> String {
        match self {
            Case::Credential => format!("/console/credentials/{id}"),
            Case::Identity => format!("/console/identities/{id}"),
            Case::Nurse => format!("/console/nurses/{id}"),
        }
    }
}

/// A case's page, with what just happened or why a decision was refused.
async fn render(
    state: &AppState,
    viewer: &Staff<VerifierOrAdmin>,
    case: Case,
    id: Uuid,
    status: StatusCode,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, WebError> {
    Ok(match case {
        Case::Credential => html(
            status,
            &credential_view(state, viewer, id, notice, problem).await?,
        ),
        Case::Identity => html(
            status,
            &identity_view(state, viewer, id, notice, problem).await?,
        ),
        Case::Nurse => html(
            status,
            &nurse_view(state, viewer, id, notice, problem).await?,
        ),
    })
}

async fn show(
    state: &AppState,
    staff: &Staff<VerifierOrAdmin>,
    case: Case,
    id: &str,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let id = path_id(id)?;
    render(
        state,
        staff,
        case,
        id,
        StatusCode::OK,
        notice_of(done),
        None,
    )
    .await
}

async fn credential_page(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, WebError> {
    show(&state, &staff, Case::Credential, &id, query.done.as_deref()).await
}

async fn identity_page(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, WebError> {
    show(&state, &staff, Case::Identity, &id, query.done.as_deref()).await
}

async fn nurse_page(
    staff: Staff<VerifierOrAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, WebError> {
    show(&state, &staff, Case::Nurse, &id, query.done.as_deref()).await
}

/// After a decision: back to the case's page with what happened, or the page again with
/// why not (a case that does not exist is not found).
async fn decided<T>(
    state: &AppState,
    viewer: &Staff<VerifierOrAdmin>,
    case: Case,
    id: Uuid,
    result: Result<T, ApiError>,
    done: &str,
) -> Result<Response, WebError> {
    match result {
        Ok(_) => Ok(see_other(&format!("{}?done={done}", case.url(id)))),
        Err(error) if error.status() == StatusCode::NOT_FOUND => Err(error.into()),
        Err(error) => {
            let detail = error.problem().detail;
            render(state, viewer, case, id, error.status(), None, Some(detail)).await
        }
    }
}

fn reason_of(form: &super::Fields) -> Result<String, ApiError> {
    let reason = form.text("reason");
    shiftwire_core::text::reason(&reason)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "reason_required",
                "Give a reason of up to 1,000 characters: the nurse reads it.",
            )
        })
}

async fn approve_credential(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<VerifierOrAdmin>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = state
        .verification
        .approve(form.staff.user.id, id)
        .await
        .map_err(ApiError::from);
    decided(
        &state,
        &form.staff,
        Case::Credential,
        id,
        result,
        "approved",
    )
    .await
}

async fn reject_credential(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<VerifierOrAdmin>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = async {
        let reason = reason_of(&form.fields)?;
        Ok::<_, ApiError>(
            state
                .verification
                .reject(form.staff.user.id, id, &reason)
                .await?,
        )
    }
    .await;
    decided(
        &state,
        &form.staff,
        Case::Credential,
        id,
        result,
        "rejected",
    )
    .await
}

async fn revoke_credential(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<VerifierOrAdmin>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = async {
        let reason = reason_of(&form.fields)?;
        Ok::<_, ApiError>(
            state
                .verification
                .revoke(form.staff.user.id, id, &reason)
                .await?,
        )
    }
    .await;
    decided(&state, &form.staff, Case::Credential, id, result, "revoked").await
}

// ---------------------------------------------------------------- an identity

#[derive(Template)]
#[template(path = "console/identity.html")]
struct IdentityPage {
    chrome: Chrome,
    id: Uuid,
    nurse_id: Uuid,
    nurse: String,
    legal_name: String,
    date_of_birth: String,
    status: &'static str,
    provider: String,
    provider_legal_name: Option<String>,
    reason: Option<&'static str>,
    reason_detail: Option<String>,
    decision_reason: Option<String>,
    submitted: String,
    id_document_pdf: bool,
    pending: bool,
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn identity_view(
    state: &AppState,
    staff: &Staff<VerifierOrAdmin>,
    id: Uuid,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<IdentityPage, WebError> {
    let i = state.verification.identity_by_id(id).await?;
    let names = state.accounts.names(&[i.nurse_id]).await?;
    Ok(IdentityPage {
        chrome: staff.chrome(format!("Identity of {}", i.legal_name)),
        id: i.id,
        nurse_id: i.nurse_id,
        nurse: name_or(names.get(&i.nurse_id).cloned().flatten()),
        legal_name: i.legal_name.clone(),
        date_of_birth: i.date_of_birth.format("%-d %b %Y").to_string(),
        status: i.status.as_str(),
        provider: i.provider.clone(),
        provider_legal_name: i.provider_legal_name.clone(),
        reason: i.reason_code.as_deref().map(reason_in_words),
        reason_detail: i.reason.clone(),
        decision_reason: i.decision_reason.clone(),
        submitted: when(i.submitted_at),
        id_document_pdf: i.id_document_type == "application/pdf",
        pending: i.status == shiftwire_core::IdentityStatus::Pending,
        notice,
        problem,
    })
}

async fn approve_identity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<VerifierOrAdmin>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = state
        .verification
        .approve_identity(form.staff.user.id, id)
        .await
        .map_err(ApiError::from);
    decided(&state, &form.staff, Case::Identity, id, result, "approved").await
}

async fn reject_identity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<VerifierOrAdmin>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = async {
        let reason = reason_of(&form.fields)?;
        Ok::<_, ApiError>(
            state
                .verification
                .reject_identity(form.staff.user.id, id, &reason)
                .await?,
        )
    }
    .await;
    decided(&state, &form.staff, Case::Identity, id, result, "rejected").await
}

// ---------------------------------------------------------------- a nurse

struct CredentialRow {
    id: Uuid,
    kind: &'static str,
    number: String,
    status: &'static str,
    expires_on: String,
}

struct BookingRow {
    facility: String,
    starts: String,
    role: &'static str,
    status: &'static str,
}

struct AuditRow {
    at: String,
    action: String,
    actor: String,
    subject: String,
    reason: String,
}

fn audit_rows(entries: Vec<shiftwire_outbox::audit::AuditEntry>) -> Vec<AuditRow> {
    entries
        .into_iter()
        .map(|e| AuditRow {
            at: when(e.at),
            action: e.action,
            actor: e
                .actor_id
                .map(|a| a.to_string())
                .unwrap_or_else(|| "Shiftwire (automatic)".into()),
            subject: format!("{} {}", e.subject_type, e.subject_id),
            reason: e.reason.unwrap_or_default(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/nurse.html")]
struct NursePage {
    chrome: Chrome,
    id: Uuid,
    name: String,
    identity: String,
    identity_id: Option<Uuid>,
    suspended: Option<String>,
    credentials: Vec<CredentialRow>,
    bookings: Vec<BookingRow>,
    audit: Vec<AuditRow>,
    admin: bool,
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn nurse_view(
    state: &AppState,
    staff: &Staff<VerifierOrAdmin>,
    id: Uuid,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<NursePage, WebError> {
    let account = state.accounts.nurse(id).await?;
    let identity = state.verification.current_identity(id).await?;
    let credentials = state.verification.credentials_of(id).await?;
    let bookings = state
        .matching
        .bookings_of(id, None, None, None, LIST_LIMIT)
        .await?;
    let audit = shiftwire_outbox::audit::read(
        &state.pool,
        &AuditFilter {
            subject: Some(id),
            limit: LIST_LIMIT,
            ..AuditFilter::default()
        },
    )
    .await
    .map_err(ApiError::from)?;
    Ok(NursePage {
        chrome: staff.chrome(format!("Nurse {}", name_or(account.name.clone()))),
        id,
        name: name_or(account.name),
        identity: identity
            .as_ref()
            .map(|i| format!("{} ({})", i.legal_name, i.status.as_str()))
            .unwrap_or_else(|| "No identity on file".into()),
        identity_id: identity.map(|i| i.id),
        suspended: account.suspended_at.map(|at| {
            format!(
                "Suspended since {}: {}",
                when(at),
                account.suspended_reason.unwrap_or_default()
            )
        }),
        credentials: credentials
            .into_iter()
            .map(|c| CredentialRow {
                id: c.id,
                kind: c.kind.as_str(),
                number: c.number,
                status: c.status.as_str(),
                expires_on: c.expires_on.format("%-d %b %Y").to_string(),
            })
            .collect(),
        bookings: bookings
            .into_iter()
            .map(|b| BookingRow {
                facility: b.facility.name,
                starts: when(b.shift.terms.starts_at()),
                role: b.shift.terms.role.as_str(),
                status: b.status.as_str(),
            })
            .collect(),
        audit: audit_rows(audit),
        admin: staff.user.role == Role::Admin,
        notice,
        problem,
    })
}

async fn suspend_nurse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<AdminOnly>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = async {
        let reason = reason_of(&form.fields)?;
        Ok::<_, ApiError>(
            state
                .accounts
                .suspend(form.staff.user.id, id, &reason)
                .await?,
        )
    }
    .await;
    decided(
        &state,
        &form.staff.viewer(),
        Case::Nurse,
        id,
        result,
        "suspended",
    )
    .await
}

async fn reinstate_nurse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: StaffForm<AdminOnly>,
) -> Result<Response, WebError> {
    let id = path_id(&id)?;
    let result = state
        .accounts
        .reinstate(form.staff.user.id, id)
        .await
        .map_err(ApiError::from);
    decided(
        &state,
        &form.staff.viewer(),
        Case::Nurse,
        id,
        result,
        "reinstated",
    )
    .await
}

// ---------------------------------------------------------------- the audit log

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    subject: Option<String>,
    action: Option<String>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    actor: String,
    subject: String,
    action: String,
    problem: Option<String>,
    rows: Vec<AuditRow>,
}

async fn audit_page(
    staff: Staff<AdminOnly>,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let (actor, subject, action) = (
        text(&query.actor),
        text(&query.subject),
        text(&query.action),
    );
    let mut problems = Vec::new();
    let mut id_of = |raw: &str, what: &str| {
        if raw.is_empty() {
            return None;
        }
        let parsed = Uuid::parse_str(raw).ok();
        if parsed.is_none() {
            problems.push(format!("{what} must be an id such as 0190c9a4-…"));
        }
        parsed
    };
    let filter = AuditFilter {
        actor: id_of(&actor, "Actor"),
        subject: id_of(&subject, "Subject"),
        action: (!action.is_empty()).then(|| action.clone()),
        before: None,
        limit: LIST_LIMIT,
    };
    let (status, rows, problem) = if problems.is_empty() {
        let entries = shiftwire_outbox::audit::read(&state.pool, &filter)
            .await
            .map_err(ApiError::from)?;
        (StatusCode::OK, audit_rows(entries), None)
    } else {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Vec::new(),
            Some(problems.join(" ")),
        )
    };
    Ok(html(
        status,
        &AuditPage {
            chrome: staff.chrome("Audit log"),
            actor,
            subject,
            action,
            problem,
            rows,
        },
    ))
}

// ---------------------------------------------------------------- facilities and staff

struct FacilityRow {
    id: Uuid,
    name: String,
    address: String,
    state: String,
    timezone: String,
}

#[derive(Template)]
#[template(path = "console/facilities.html")]
struct FacilitiesPage {
    chrome: Chrome,
    rows: Vec<FacilityRow>,
    values: std::collections::HashMap<&'static str, String>,
    problem: Option<String>,
    notice: Option<&'static str>,
}

impl FacilitiesPage {
    fn value(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

async fn facilities_view(
    state: &AppState,
    staff: &Staff<AdminOnly>,
    values: std::collections::HashMap<&'static str, String>,
    problem: Option<String>,
    notice: Option<&'static str>,
) -> Result<FacilitiesPage, WebError> {
    let rows = state
        .matching
        .facilities()
        .await?
        .into_iter()
        .take(1000)
        .map(|f| FacilityRow {
            id: f.id,
            name: f.name,
            address: f.address,
            state: f.state,
            timezone: f.timezone,
        })
        .collect();
    Ok(FacilitiesPage {
        chrome: staff.chrome("Facilities"),
        rows,
        values,
        problem,
        notice,
    })
}

async fn facilities_page(
    staff: Staff<AdminOnly>,
    State(state): State<AppState>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let view = facilities_view(
        &state,
        &staff,
        Default::default(),
        None,
        notice_of(query.done.as_deref()),
    )
    .await?;
    Ok(page(&view))
}

const FACILITY_FIELDS: [&str; 7] = [
    "name",
    "address",
    "lat",
    "lon",
    "timezone",
    "state",
    "geofence_m",
];

async fn create_facility(
    State(state): State<AppState>,
    form: StaffForm<AdminOnly>,
) -> Result<Response, WebError> {
    let values: std::collections::HashMap<&'static str, String> = FACILITY_FIELDS
        .iter()
        .map(|f| (*f, form.fields.text(f)))
        .collect();
    let number = |name: &str| values[name].parse::<f64>().ok();
    let created = async {
        let location = match (number("lat"), number("lon")) {
            (Some(lat), Some(lon)) => Coordinates::new(lat, lon)
                .map_err(|e| ApiError::unprocessable("invalid_request", e.to_string()))?,
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_request",
                    "Give the latitude and longitude as numbers, e.g. 37.7631 and -122.4576.",
                ));
            }
        };
        let us_state = UsState::parse(&values["state"])
            .map_err(|e| ApiError::unprocessable("invalid_request", format!("State: {e}")))?;
        let geofence_m = values["geofence_m"].parse::<i32>().map_err(|_| {
            ApiError::unprocessable(
                "invalid_request",
                "Give the check-in radius in whole metres, 10 to 5000.",
            )
        })?;
        state
            .matching
            .create_facility(NewFacility {
                name: values["name"].clone(),
                address: values["address"].clone(),
                location,
                timezone: values["timezone"].clone(),
                state: us_state,
                geofence_m,
            })
            .await
            .map_err(ApiError::from)
    }
    .await;
    match created {
        Ok(_) => Ok(see_other("/console/facilities?done=created")),
        Err(error) => {
            let status = error.status();
            let view = facilities_view(
                &state,
                &form.staff,
                values,
                Some(error.problem().detail),
                None,
            )
            .await?;
            Ok(html(status, &view))
        }
    }
}

struct StaffRow {
    email: String,
    role: &'static str,
    facilities: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/staff.html")]
struct StaffPage {
    chrome: Chrome,
    rows: Vec<StaffRow>,
    facilities: Vec<(Uuid, String)>,
    email: String,
    role: String,
    chosen: Vec<String>,
    problem: Option<String>,
    notice: Option<&'static str>,
}

impl StaffPage {
    fn is_chosen(&self, id: &Uuid) -> bool {
        self.chosen.iter().any(|c| *c == id.to_string())
    }
}

async fn staff_view(
    state: &AppState,
    staff: &Staff<AdminOnly>,
    email: String,
    role: String,
    chosen: Vec<String>,
    problem: Option<String>,
    notice: Option<&'static str>,
) -> Result<StaffPage, WebError> {
    let facilities: Vec<(Uuid, String)> = state
        .matching
        .facilities()
        .await?
        .into_iter()
        .take(1000)
        .map(|f| (f.id, f.name))
        .collect();
    let name_of = |id: &Uuid| {
        facilities
            .iter()
            .find(|(f, _)| f == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let rows = state
        .users
        .staff()
        .await?
        .into_iter()
        .map(|u| StaffRow {
            email: u.email,
            role: u.role.as_str(),
            facilities: u
                .facility_ids
                .iter()
                .map(name_of)
                .collect::<Vec<_>>()
                .join(", "),
            created: when(u.created_at),
        })
        .collect();
    Ok(StaffPage {
        chrome: staff.chrome("Staff"),
        rows,
        facilities,
        email,
        role,
        chosen,
        problem,
        notice,
    })
}

async fn staff_page(
    staff: Staff<AdminOnly>,
    State(state): State<AppState>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let view = staff_view(
        &state,
        &staff,
        String::new(),
        "scheduler".into(),
        Vec::new(),
        None,
        notice_of(query.done.as_deref()),
    )
    .await?;
    Ok(page(&view))
}

async fn create_staff(
    State(state): State<AppState>,
    form: StaffForm<AdminOnly>,
) -> Result<Response, WebError> {
    let email = form.fields.text("email");
    let role = form.fields.text("role");
    let chosen: Vec<String> = form
        .fields
        .all("facility_id")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let created = async {
        let parsed_email = Email::parse(&email).map_err(|_| {
            ApiError::unprocessable("invalid_request", "Give a valid email address.")
        })?;
        let parsed_role = role
            .parse::<Role>()
            .ok()
            .filter(|r| r.is_staff())
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_request", "Choose scheduler, verifier or admin.")
            })?;
        let facility_ids = chosen
            .iter()
            .map(|id| Uuid::parse_str(id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ApiError::unprocessable("invalid_request", "Unknown facility."))?;
        state
            .users
            .create_staff(
                &state.passwords,
                NewStaffUser {
                    email: parsed_email,
                    password: secrecy::SecretString::from(
                        form.fields.get("password").unwrap_or_default().to_owned(),
                    ),
                    role: parsed_role,
                    facility_ids,
                },
            )
            .await
            .map_err(ApiError::from)
    }
    .await;
    match created {
        Ok(_) => Ok(see_other("/console/staff?done=created")),
        Err(error) => {
            let status = error.status();
            let view = staff_view(
                &state,
                &form.staff,
                email,
                role,
                chosen,
                Some(error.problem().detail),
                None,
            )
            .await?;
            Ok(html(status, &view))
        }
    }
}
