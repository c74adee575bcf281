use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{AdminOnly, Auth, ValidJson},
};
use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shiftwire_auth::{StaffUser, users::NewStaffUser};
use shiftwire_core::{Email, Role};
use utoipa::ToSchema;
use uuid::Uuid;

/// Roles an admin can give a staff account (nurses sign up by phone).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Scheduler,
    Verifier,
    Admin,
}

impl From<StaffRole> for Role {
    fn from(role: StaffRole) -> Self {
        match role {
            StaffRole::Scheduler => Role::Scheduler,
            StaffRole::Verifier => Role::Verifier,
            StaffRole::Admin => Role::Admin,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStaffUserRequest {
    #[schema(example = "jordan.reyes@mercy-general.example")]
    email: String,
    /// 12 to 128 characters.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    role: StaffRole,
    /// Facilities a scheduler works for (at least one); empty for verifiers and admins.
    #[serde(default)]
    facility_ids: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct StaffUserBody {
    id: Uuid,
    email: String,
    #[schema(value_type = StaffRole)]
    role: Role,
    facility_ids: Vec<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<StaffUser> for StaffUserBody {
    fn from(user: StaffUser) -> Self {
        Self {
            id: user.id,
            email: user.email,
            role: user.role,
            facility_ids: user.facility_ids,
            created_at: user.created_at,
        }
    }
}

/// Create a staff account (admin).
#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", request_body = CreateStaffUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = StaffUserBody),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_email`, `invalid_user`, `unknown_facility`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_staff_user(
    _admin: Auth<AdminOnly>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<CreateStaffUserRequest>,
) -> Result<(StatusCode, Json<StaffUserBody>), ApiError> {
    let email = Email::parse(&body.email)
        .map_err(|e| ApiError::unprocessable("invalid_email", e.to_string()))?;
    let new = NewStaffUser {
        email,
        password: body.password,
        role: body.role.into(),
        facility_ids: body.facility_ids,
    };
    let user = state.users.create_staff(&state.passwords, new).await?;
    tracing::info!(user_id = %user.id, role = %user.role, "staff user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}
