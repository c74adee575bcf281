//! The nurse's own profile and credentials.

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{Auth, IdPath, NurseOnly, ValidJson},
    routes::schemas::{CredentialBody, CredentialKindName, ProfileBody},
};
use axum::{
    Json,
    extract::{Multipart, State, multipart::MultipartRejection},
    http::{HeaderMap, StatusCode, header},
};
use bytes::BytesMut;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};
use shiftwire_core::{Coordinates, CredentialKind, UsState};
use shiftwire_verification::{MAX_DOCUMENT_BYTES, NewCredential, ProfilePatch};
use utoipa::ToSchema;

/// Room for the multipart envelope around a maximal document.
pub const UPLOAD_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 64 * 1024;

/// Distinguishes an absent field (keep) from `null` (clear).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatchRequest {
    #[schema(example = "Amara Okafor")]
    name: Option<String>,
    /// Home location; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::routes::schemas::CoordinatesBody>)]
    home: Option<Option<Coordinates>>,
    /// 1 to 200.
    #[schema(example = 25.0)]
    max_distance_km: Option<f64>,
    available: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitCredentialRequest {
    #[schema(value_type = CredentialKindName)]
    kind: CredentialKind,
    #[schema(example = "RN-100234")]
    number: String,
    /// Two-letter state of a licence; leave out for certifications.
    #[schema(example = "CA")]
    issuing_state: Option<String>,
    #[schema(value_type = String, format = Date, example = "2028-03-31")]
    expires_on: NaiveDate,
    /// RN or LPN licence under the Nurse Licensure Compact.
    #[serde(default)]
    multistate: bool,
}

/// The multipart form of a document upload: exactly one field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DocumentUpload {
    /// The document: PDF, JPEG or PNG (recognised by its content), at most 10 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The signed-in nurse's profile, verification status and credentials.
#[utoipa::path(get, path = "/v1/me", tag = "nurse", security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileBody),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a nurse, or suspended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_profile(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
) -> Result<Json<ProfileBody>, ApiError> {
    let profile = state.verification.profile(nurse.user.id).await?;
    Ok(Json(profile.into()))
}

/// Change name, home, maximum distance or availability; absent fields stay as they are.
#[utoipa::path(patch, path = "/v1/me", tag = "nurse", security(("bearer" = [])),
    request_body = ProfilePatchRequest,
    responses(
        (status = 200, description = "The whole updated profile", body = ProfileBody),
        (status = 422, description = "`invalid_profile`, `invalid_body`, `unknown_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_profile(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<ProfilePatchRequest>,
) -> Result<Json<ProfileBody>, ApiError> {
    let patch = ProfilePatch {
        name: body.name,
        home: body.home,
        max_distance_km: body.max_distance_km,
        available: body.available,
    };
    let profile = state
        .verification
        .update_profile(nurse.user.id, patch)
        .await?;
    Ok(Json(profile.into()))
}

/// Submit a licence or certification. It starts `pending`; the automatic registry check
/// follows within moments (`verification.updated`).
#[utoipa::path(post, path = "/v1/me/credentials", tag = "nurse", security(("bearer" = [])),
    request_body = SubmitCredentialRequest,
    responses(
        (status = 201, description = "Submitted", body = CredentialBody),
        (status = 409, description = "`credential_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_credential`, `invalid_body`, `unknown_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn submit_credential(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<SubmitCredentialRequest>,
) -> Result<(StatusCode, Json<CredentialBody>), ApiError> {
    let issuing_state = body
        .issuing_state
        .as_deref()
        .map(UsState::parse)
        .transpose()
        .map_err(|e| {
            ApiError::unprocessable("invalid_credential", format!("issuing_state: {e}"))
        })?;
    let new = NewCredential {
        kind: body.kind,
        number: body.number,
        issuing_state,
        expires_on: body.expires_on,
        multistate: body.multistate,
    };
    let credential = state.verification.submit(nurse.user.id, new).await?;
    Ok((StatusCode::CREATED, Json(credential.into())))
}

/// One of the nurse's own credentials.
#[utoipa::path(get, path = "/v1/me/credentials/{id}", tag = "nurse", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Credential id")),
    responses(
        (status = 200, description = "The credential", body = CredentialBody),
        (status = 404, description = "No such credential of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_credential(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<CredentialBody>, ApiError> {
    let credential = state.verification.credential_of(nurse.user.id, id).await?;
    Ok(Json(credential.into()))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the document is larger than 10 MiB",
    )
}

/// Upload the document of a pending credential (multipart field `file`: PDF, JPEG or PNG,
/// recognised by content, at most 10 MiB). Replaces an earlier upload.
#[utoipa::path(post, path = "/v1/me/credentials/{id}/document", tag = "nurse", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Credential id")),
    request_body(content = DocumentUpload, content_type = "multipart/form-data", description = "Field `file`: the document"),
    responses(
        (status = 201, description = "Stored", body = CredentialBody),
        (status = 404, description = "No such credential of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_decided`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`malformed_multipart`: the multipart body could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type` (not multipart), `unsupported_document_type` (not a PDF, JPEG or PNG)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`missing_file`, `unknown_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload_document(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<CredentialBody>), ApiError> {
    // Refuse an oversized upload from its declared length, before reading any of it.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > UPLOAD_BODY_LIMIT) {
        return Err(too_large());
    }
    // Only the owner may upload: check before reading the body.
    state.verification.credential_of(nurse.user.id, id).await?;
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the document as multipart/form-data with a `file` field",
        )
    })?;
    let mut file: Option<BytesMut> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") || file.is_some() {
            return Err(ApiError::unprocessable(
                "unknown_field",
                "send exactly one multipart field, named `file`",
            ));
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if bytes.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some(bytes);
    }
    let file = file.ok_or_else(|| {
        ApiError::unprocessable("missing_file", "the multipart field `file` is missing")
    })?;
    let credential = state
        .verification
        .upload_document(nurse.user.id, id, file.freeze())
        .await?;
    Ok((StatusCode::CREATED, Json(credential.into())))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_multipart",
            "the multipart body could not be read",
        )
    }
}
