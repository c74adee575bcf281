//! The verification console: the review queue, documents, decisions, suspensions, audit.

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{AdminOnly, Auth, IdPath, NoBody, ValidJson, ValidQuery, VerifierOrAdmin},
    pagination::{self, Page, PageParams},
    routes::schemas::{
        AuditEntryBody, CredentialBody, EmptyBody, IdentityBody, NurseAccountBody, QueueItemBody,
    },
};
use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use shiftwire_outbox::audit::AuditFilter;
use shiftwire_verification::{Document, IdentityDocument, QueueKind};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Only `pending` (the default) is served: decided cases are in the audit log.
    #[param(value_type = Option<QueueStatusName>, inline)]
    status: Option<String>,
    /// Only cases of this kind: `credential` or `identity`.
    #[param(value_type = Option<QueueKindParam>, inline)]
    kind: Option<String>,
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The statuses the review queue serves: only `pending`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum QueueStatusName {
    Pending,
}

/// The kinds of case in the review queue.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum QueueKindParam {
    Credential,
    Identity,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why; 1 to 1000 characters. Shown to the nurse for a rejection.
    #[schema(example = "The uploaded card is illegible; please upload a clearer photo.")]
    reason: String,
}

/// Cases awaiting a person, oldest first, each with the reason the automation could not
/// decide: credentials (pending, or approved and flagged by a re-check), identities to
/// compare with their photo ID, and nurses approved before identity checks with none on
/// file.
#[utoipa::path(get, path = "/v1/admin/verifications", tag = "verification", security(("bearer" = [])),
    params(QueueParams),
    responses(
        (status = 200, description = "A page of the queue", body = Page<QueueItemBody>),
        (status = 403, description = "Not a verifier or admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_query`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn review_queue(
    _reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<QueueParams>,
) -> Result<Json<Page<QueueItemBody>>, ApiError> {
    if params.status.as_deref().is_some_and(|s| s != "pending") {
        return Err(ApiError::unprocessable(
            "invalid_query",
            "status: only `pending` is supported; decided cases are in the audit log",
        ));
    }
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
    let kind = match params.kind.as_deref() {
        None => None,
        Some("credential") => Some(QueueKind::Credential),
        Some("identity") => Some(QueueKind::Identity),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_query",
                "kind: `credential` or `identity`",
            ));
        }
    };
    let mut rows = state
        .verification
        .review_queue(kind, after, limit + 1)
        .await?;
    let nurses: Vec<Uuid> = rows.iter().map(|item| item.nurse_id).collect();
    let names = state.accounts.names(&nurses).await?;
    for item in &mut rows {
        item.nurse_name = names.get(&item.nurse_id).cloned().flatten();
    }
    Ok(Json(pagination::page(
        rows,
        limit,
        |item| pagination::encode_at_id(item.queued_at, item.key),
        Into::into,
    )))
}

/// Download a credential's document. Every download is written to the audit log.
#[utoipa::path(get, path = "/v1/admin/credentials/{id}/document", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential id")),
    responses(
        (status = 200, description = "The document, with its own type, as an attachment",
            content(("application/pdf"), ("image/jpeg"), ("image/png"))),
        (status = 404, description = "No such credential or no document", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn download_document(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let document = state
        .verification
        .download_document(reviewer.user.id, id)
        .await?;
    document_response(document, &format!("credential-{id}"))
}

/// A stored document as an attachment that can never run as a page.
fn document_response(document: Document, name: &str) -> Result<Response, ApiError> {
    let extension = match document.content_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    };
    let disposition = format!("attachment; filename=\"{name}.{extension}\"");
    // A document is data, never a page that may run scripts in the console's origin.
    sandboxed_document(document, &disposition, "sandbox; default-src 'none'")
}

/// A stored document with its own type, the given `Content-Disposition`, and a sandboxing
/// `Content-Security-Policy` (the console shows documents inline with this too).
pub(crate) fn sandboxed_document(
    document: Document,
    disposition: &str,
    csp: &'static str,
) -> Result<Response, ApiError> {
    let mut response = document.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&document.content_type).map_err(ApiError::internal)?,
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(disposition).map_err(ApiError::internal)?,
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    Ok(response)
}

/// Approve a pending credential (a licence needs its nurse's verified identity and may be
/// approved on one account only), or keep an approved one a re-check flagged.
#[utoipa::path(post, path = "/v1/admin/credentials/{id}/approve", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential id")),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "Approved", body = CredentialBody),
        (status = 404, description = "No such credential", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_decided`, `credential_expired`, `identity_unverified`, `licence_in_use`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    _body: NoBody,
) -> Result<Json<CredentialBody>, ApiError> {
    let credential = state.verification.approve(reviewer.user.id, id).await?;
    Ok(Json(credential.into()))
}

/// Reject a pending credential; the reason is required and shown to the nurse.
#[utoipa::path(post, path = "/v1/admin/credentials/{id}/reject", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Rejected", body = CredentialBody),
        (status = 404, description = "No such credential", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_decided`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ReasonRequest>,
) -> Result<Json<CredentialBody>, ApiError> {
    let credential = state
        .verification
        .reject(reviewer.user.id, id, &body.reason)
        .await?;
    Ok(Json(credential.into()))
}

/// Revoke an approved credential, saying why. The nurse is told, offers she no longer
/// qualifies for are withdrawn, and future bookings she may no longer work are cancelled
/// (`nurse_ineligible`) and their shifts offered again.
#[utoipa::path(post, path = "/v1/admin/credentials/{id}/revoke", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Revoked", body = CredentialBody),
        (status = 404, description = "No such credential", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_revocable`: it is not approved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ReasonRequest>,
) -> Result<Json<CredentialBody>, ApiError> {
    let credential = state
        .verification
        .revoke(reviewer.user.id, id, &body.reason)
        .await?;
    Ok(Json(credential.into()))
}

/// An identity submission, for a verifier to compare with its photo ID and selfie.
#[utoipa::path(get, path = "/v1/admin/identities/{id}", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Identity id")),
    responses(
        (status = 200, description = "The identity", body = IdentityBody),
        (status = 404, description = "No such identity", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn identity(
    _reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<IdentityBody>, ApiError> {
    Ok(Json(state.verification.identity_by_id(id).await?.into()))
}

async fn identity_document(
    state: &AppState,
    actor: Uuid,
    id: Uuid,
    which: IdentityDocument,
) -> Result<Response, ApiError> {
    let document = state
        .verification
        .identity_document(actor, id, which)
        .await?;
    let name = match which {
        IdentityDocument::IdDocument => "id-document",
        IdentityDocument::Selfie => "selfie",
    };
    document_response(document, &format!("identity-{id}-{name}"))
}

/// Download an identity's photo ID. Every view is written to the audit log.
#[utoipa::path(get, path = "/v1/admin/identities/{id}/id-document", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Identity id")),
    responses(
        (status = 200, description = "The photo ID, with its own type, as an attachment",
            content(("application/pdf"), ("image/jpeg"), ("image/png"))),
        (status = 404, description = "No such identity", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn identity_id_document(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    identity_document(&state, reviewer.user.id, id, IdentityDocument::IdDocument).await
}

/// Download an identity's selfie. Every view is written to the audit log.
#[utoipa::path(get, path = "/v1/admin/identities/{id}/selfie", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Identity id")),
    responses(
        (status = 200, description = "The selfie, as an attachment",
            content(("image/jpeg"), ("image/png"))),
        (status = 404, description = "No such identity", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn identity_selfie(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    identity_document(&state, reviewer.user.id, id, IdentityDocument::Selfie).await
}

/// Approve a pending identity: its legal name becomes the one the registry is matched
/// against, and the nurse's pending licences are checked again.
#[utoipa::path(post, path = "/v1/admin/identities/{id}/approve", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Identity id")),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "Verified", body = IdentityBody),
        (status = 404, description = "No such identity", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_decided`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_identity(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    _body: NoBody,
) -> Result<Json<IdentityBody>, ApiError> {
    let identity = state
        .verification
        .approve_identity(reviewer.user.id, id)
        .await?;
    Ok(Json(identity.into()))
}

/// Reject a pending identity; the reason is required and shown to the nurse.
#[utoipa::path(post, path = "/v1/admin/identities/{id}/reject", tag = "verification", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Identity id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Rejected", body = IdentityBody),
        (status = 404, description = "No such identity", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_decided`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject_identity(
    reviewer: Auth<VerifierOrAdmin>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ReasonRequest>,
) -> Result<Json<IdentityBody>, ApiError> {
    let identity = state
        .verification
        .reject_identity(reviewer.user.id, id, &body.reason)
        .await?;
    Ok(Json(identity.into()))
}

/// Suspend a nurse (admin): sessions end at once and every request answers
/// `account_suspended`.
#[utoipa::path(post, path = "/v1/admin/nurses/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The nurse's user id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Suspended", body = NurseAccountBody),
        (status = 404, description = "No such nurse", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`reason_required`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn suspend(
    admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ValidJson(body): ValidJson<ReasonRequest>,
) -> Result<Json<NurseAccountBody>, ApiError> {
    let account = state
        .accounts
        .suspend(admin.user.id, id, &body.reason)
        .await?;
    Ok(Json(NurseAccountBody::of(&state, account).await?))
}

/// Lift a nurse's suspension (admin).
#[utoipa::path(post, path = "/v1/admin/nurses/{id}/reinstate", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The nurse's user id")),
    request_body(content = Option<EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "Reinstated", body = NurseAccountBody),
        (status = 404, description = "No such nurse", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reinstate(
    admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    _body: NoBody,
) -> Result<Json<NurseAccountBody>, ApiError> {
    let account = state.accounts.reinstate(admin.user.id, id).await?;
    Ok(Json(NurseAccountBody::of(&state, account).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only entries by this user.
    actor: Option<Uuid>,
    /// Only entries about this object (credential, nurse, ...).
    subject: Option<Uuid>,
    /// Items per page: default 50, larger values are clamped to 200.
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The append-only audit log, newest first (admin).
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of the audit log", body = Page<AuditEntryBody>),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_query`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_log(
    _admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<AuditParams>,
) -> Result<Json<Page<AuditEntryBody>>, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let limit = page.limit()?;
    let filter = AuditFilter {
        actor: params.actor,
        subject: params.subject,
        before: page
            .cursor
            .as_deref()
            .map(pagination::decode_id)
            .transpose()?,
        limit: limit + 1,
        action: None,
    };
    let rows = shiftwire_outbox::audit::read(&state.pool, &filter).await?;
    Ok(Json(pagination::page(
        rows,
        limit,
        |entry| pagination::encode_id(entry.id),
        Into::into,
    )))
}
