//! The nurse's own profile and credentials.

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{Auth, IdPath, NurseOnly, ValidJson},
    routes::schemas::{CredentialBody, CredentialKindName, ProfileBody, SubmittedIdentityBody},
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
use shiftwire_matching::ProfileChange;
use shiftwire_verification::{MAX_DOCUMENT_BYTES, NewCredential, NewIdentity};
use utoipa::ToSchema;

/// Room for the multipart envelope around a maximal document.
pub const UPLOAD_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 64 * 1024;
/// An identity submission: two maximal images and the text fields.
pub const IDENTITY_BODY_LIMIT: usize = 2 * MAX_DOCUMENT_BYTES + 64 * 1024;
/// Longest text field of a multipart form.
const MAX_TEXT_FIELD: usize = 1024;

/// Distinguishes an absent field (keep) from `null` (clear).
pub(crate) fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
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
    Ok(Json(ProfileBody::of(&state, nurse.user.id).await?))
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
    // Everything is checked before anything is written.
    let name = body
        .name
        .as_deref()
        .map(shiftwire_auth::display_name)
        .transpose()?;
    let change = ProfileChange {
        home: body.home,
        max_distance_km: body.max_distance_km,
        available: body.available,
    };
    change.validate()?;
    if let Some(name) = name {
        state.accounts.set_name(nurse.user.id, &name).await?;
    }
    state.matching.update_profile(nurse.user.id, change).await?;
    Ok(Json(ProfileBody::of(&state, nurse.user.id).await?))
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

/// The multipart form of an identity submission.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct IdentityUpload {
    /// As on the photo ID, 1 to 200 characters.
    #[schema(example = "Amara Nneka Okafor")]
    legal_name: String,
    /// `YYYY-MM-DD`; the nurse must be 18 to 100 years old.
    #[schema(value_type = String, format = Date, example = "1991-04-17")]
    date_of_birth: String,
    /// A photo ID (driving licence, passport): PDF, JPEG or PNG, at most 10 MiB.
    #[schema(value_type = String, format = Binary)]
    id_document: Vec<u8>,
    /// A photo of the nurse's face: JPEG or PNG, at most 10 MiB.
    #[schema(value_type = String, format = Binary)]
    selfie: Vec<u8>,
}

/// Submit who you are: legal name, date of birth, photo ID and selfie. Licences are
/// matched against the registry by this legal name once it is verified; a new submission
/// replaces a pending one.
#[utoipa::path(post, path = "/v1/me/identity", tag = "nurse", security(("bearer" = [])),
    request_body(content = IdentityUpload, content_type = "multipart/form-data", description = "Fields `legal_name`, `date_of_birth`, `id_document`, `selfie`"),
    responses(
        (status = 201, description = "Submitted, `pending`", body = SubmittedIdentityBody),
        (status = 400, description = "`malformed_multipart`: the multipart body could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`identity_verified`: already verified", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type` (not multipart), `unsupported_document_type` (ID not PDF/JPEG/PNG, selfie not JPEG/PNG)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_identity` (name, date of birth, age), `missing_field`, `unknown_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn submit_identity(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<SubmittedIdentityBody>), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > IDENTITY_BODY_LIMIT) {
        return Err(too_large());
    }
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the identity as multipart/form-data",
        )
    })?;
    let mut fields: [Option<BytesMut>; 4] = Default::default();
    const NAMES: [&str; 4] = ["legal_name", "date_of_birth", "id_document", "selfie"];
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let slot = field
            .name()
            .and_then(|name| NAMES.iter().position(|n| *n == name))
            .filter(|i| fields[*i].is_none())
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_field",
                    "send legal_name, date_of_birth, id_document and selfie, each once",
                )
            })?;
        let cap = if slot < 2 {
            MAX_TEXT_FIELD
        } else {
            MAX_DOCUMENT_BYTES
        };
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if bytes.len() + chunk.len() > cap {
                return Err(if slot < 2 {
                    ApiError::unprocessable(
                        "invalid_identity",
                        format!("{} is too long", NAMES[slot]),
                    )
                } else {
                    too_large()
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        fields[slot] = Some(bytes);
    }
    let [legal_name, date_of_birth, id_document, selfie] = fields;
    let missing = |name: &str| {
        ApiError::unprocessable(
            "missing_field",
            format!("the multipart field `{name}` is missing"),
        )
    };
    let text = |bytes: BytesMut, name: &str| {
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            ApiError::unprocessable("invalid_identity", format!("{name} must be UTF-8 text"))
        })
    };
    let legal_name = text(
        legal_name.ok_or_else(|| missing("legal_name"))?,
        "legal_name",
    )?;
    let date_of_birth = text(
        date_of_birth.ok_or_else(|| missing("date_of_birth"))?,
        "date_of_birth",
    )?;
    let date_of_birth =
        NaiveDate::parse_from_str(date_of_birth.trim(), "%Y-%m-%d").map_err(|_| {
            ApiError::unprocessable(
                "invalid_identity",
                "date_of_birth must be a date as YYYY-MM-DD",
            )
        })?;
    let new = NewIdentity {
        legal_name,
        date_of_birth,
        id_document: id_document.ok_or_else(|| missing("id_document"))?.freeze(),
        selfie: selfie.ok_or_else(|| missing("selfie"))?.freeze(),
    };
    let submitted = state
        .verification
        .submit_identity(nurse.user.id, new)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubmittedIdentityBody::new(
            submitted.identity,
            submitted.verification_url,
        )),
    ))
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
