//! A nurse's devices (where pushes go when her app is closed) and her notification
//! preferences.

use crate::{
    ApiError, AppState,
    error::Problem,
    extract::{Auth, IdPath, NurseOnly, ValidJson, bearer_claims},
    routes::schemas::LicenceKindName,
};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiftwire_core::{CredentialKind, Role};
use shiftwire_notify::push::{
    PreferencesChange, PushRequestError, prefs::Preferences, prefs::QuietHoursBody,
};
use utoipa::ToSchema;
use uuid::Uuid;

impl From<PushRequestError> for ApiError {
    fn from(error: PushRequestError) -> Self {
        match error {
            PushRequestError::NotFound => ApiError::not_found(),
            PushRequestError::Database(e) => e.into(),
            other => ApiError::unprocessable("invalid_request", other.to_string()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    #[schema(value_type = PlatformName)]
    platform: String,
    /// The push token the platform issued (APNs device token, FCM registration token):
    /// 8 to 4,096 visible ASCII characters.
    #[schema(
        example = "f1e2d3c4b5a6978877665544332211ffeeddccbbaa99887766554433221100aa",
        min_length = 8,
        max_length = 4096,
        pattern = r"^[\x21-\x7E]{8,4096}$"
    )]
    token: String,
}

/// Where a device's pushes go.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PlatformName {
    Ios,
    Android,
    Web,
}

#[derive(Serialize, ToSchema)]
pub struct DeviceBody {
    id: Uuid,
    #[schema(value_type = PlatformName)]
    platform: String,
    created_at: DateTime<Utc>,
}

/// Register this phone for pushes. A token registered before (by anyone) moves to the
/// caller. Signing out of this session forgets the device.
#[utoipa::path(post, path = "/v1/me/devices", tag = "notifications", security(("bearer" = [])),
    request_body = DeviceRequest,
    responses(
        (status = 201, description = "Registered", body = DeviceBody),
        (status = 403, description = "Not a nurse", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request`: platform or token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<DeviceRequest>,
) -> Result<(StatusCode, Json<DeviceBody>), ApiError> {
    let (user, claims) = bearer_claims(&headers, &state).await?;
    if user.role != Role::Nurse {
        return Err(ApiError::forbidden());
    }
    let device = state
        .push
        .register_device(user.id, claims.sid, &body.platform, &body.token)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(DeviceBody {
            id: device.id,
            platform: device.platform,
            created_at: device.created_at,
        }),
    ))
}

/// Forget one of the caller's devices.
#[utoipa::path(delete, path = "/v1/me/devices/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Device id")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 404, description = "No such device of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_device(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.push.delete_device(nurse.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Local time of day, `HH:MM` (24-hour clock).
    #[schema(example = "22:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    start: String,
    /// Local time of day, `HH:MM`; not after `start` means the next morning.
    #[schema(example = "07:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: String,
    /// An IANA time zone.
    #[schema(example = "America/Los_Angeles", schema_with = iana_time_zone)]
    timezone: String,
}

/// Every IANA zone name the server knows, as the schema's enum.
fn iana_time_zone() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("An IANA time zone name"))
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .examples(["America/Los_Angeles"])
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct PreferencesBody {
    /// Push new shifts (default true).
    push_offers: bool,
    /// Text urgent shifts (default false).
    sms_urgent: bool,
    /// Nothing is pushed or texted in these hours; `null`: none.
    quiet_hours: Option<QuietHours>,
    /// Pushes only for shifts paying at least this; `null`: any.
    min_hourly_rate_cents: Option<i32>,
    /// Pushes only for these roles; `null`: any.
    #[schema(value_type = Option<Vec<LicenceKindName>>)]
    roles: Option<Vec<CredentialKind>>,
}

impl From<Preferences> for PreferencesBody {
    fn from(p: Preferences) -> Self {
        Self {
            push_offers: p.push_offers,
            sms_urgent: p.sms_urgent,
            quiet_hours: p.quiet_hours.map(|q| {
                let (start, end) = q.shown();
                QuietHours {
                    start,
                    end,
                    timezone: q.timezone.name().to_owned(),
                }
            }),
            min_hourly_rate_cents: p.min_hourly_rate_cents,
            roles: p.roles,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesPatch {
    push_offers: Option<bool>,
    sms_urgent: Option<bool>,
    /// `null` clears them.
    #[serde(default, deserialize_with = "crate::routes::me::present")]
    #[schema(value_type = Option<QuietHours>)]
    quiet_hours: Option<Option<QuietHours>>,
    /// Whole cents (`6500` and `6500.0` alike).
    #[serde(default, deserialize_with = "crate::routes::me::present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000)]
    min_hourly_rate_cents: Option<Option<f64>>,
    #[serde(default, deserialize_with = "crate::routes::me::present")]
    #[schema(value_type = Option<Vec<LicenceKindName>>)]
    roles: Option<Option<Vec<CredentialKind>>>,
}

/// A JSON number of whole cents (`6500.0` is `6500`), 1 to 100,000.
fn whole_cents(rate: f64) -> Result<i32, ApiError> {
    let whole = rate.fract() == 0.0 && (1.0..=100_000.0).contains(&rate);
    if whole {
        // In range and integral, so the cast is exact.
        Ok(rate as i32)
    } else {
        Err(ApiError::unprocessable(
            "invalid_request",
            "min_hourly_rate_cents must be whole cents between 1 and 100000, or null",
        ))
    }
}

/// The caller's notification preferences (the defaults until she changes one).
#[utoipa::path(get, path = "/v1/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "Her preferences", body = PreferencesBody),
        (status = 403, description = "Not a nurse", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_preferences(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let prefs = state.push.preferences(nurse.user.id).await?;
    Ok(Json(prefs.into()))
}

/// Change the caller's notification preferences; absent fields stay, `null` clears.
#[utoipa::path(patch, path = "/v1/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    request_body = PreferencesPatch,
    responses(
        (status = 200, description = "Her preferences now", body = PreferencesBody),
        (status = 403, description = "Not a nurse", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request` (a time, a time zone, the rate or a role), `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_preferences(
    nurse: Auth<NurseOnly>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<PreferencesPatch>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let change = PreferencesChange {
        push_offers: body.push_offers,
        sms_urgent: body.sms_urgent,
        quiet_hours: body.quiet_hours.map(|q| {
            q.map(|q| QuietHoursBody {
                start: q.start,
                end: q.end,
                timezone: q.timezone,
            })
        }),
        min_hourly_rate_cents: body
            .min_hourly_rate_cents
            .map(|rate| rate.map(whole_cents).transpose())
            .transpose()?,
        roles: body.roles,
    };
    let prefs = state.push.update_preferences(nurse.user.id, change).await?;
    Ok(Json(prefs.into()))
}
