//! The OpenAPI document is generated from the route annotations; `api-spec/openapi.yaml`
//! is this output, committed, and a test fails when the two differ.

use crate::{AppState, routes};
use axum::Router;
use std::sync::OnceLock;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shiftwire API",
        version = "1.0.0",
        description = "Real-time shift marketplace: facilities post open shifts, verified nurses nearby claim them. Every error is RFC 9457 problem+json with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "auth", description = "Sign-in: SMS codes for nurses, passwords for staff, token refresh"),
        (name = "nurse", description = "The nurse's own profile and credentials"),
        (name = "verification", description = "The verification console (verifier, admin)"),
        (name = "admin", description = "Administration (admin role)"),
        (name = "shifts", description = "Shifts of a facility (its schedulers)"),
        (name = "marketplace", description = "Nearby shifts, claims and bookings (nurses)"),
        (name = "realtime", description = "The WebSocket: offers, withdrawals and notices in real time (see api-spec/websocket.md)"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every route of the API with its documentation.
pub(crate) fn router_and_spec() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
        .routes(routes!(routes::health::metrics))
        .routes(routes!(routes::health::openapi_json))
        .routes(routes!(routes::auth::send_otp))
        .routes(routes!(routes::auth::verify_otp))
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::refresh))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::admin_users::create_staff_user))
        .routes(routes!(routes::me::get_profile, routes::me::patch_profile))
        .routes(routes!(routes::me::submit_credential))
        .routes(routes!(routes::me::get_credential))
        .routes(routes!(routes::me::upload_document))
        .routes(routes!(routes::verifications::review_queue))
        .routes(routes!(routes::verifications::download_document))
        .routes(routes!(routes::verifications::approve))
        .routes(routes!(routes::verifications::reject))
        .routes(routes!(routes::verifications::suspend))
        .routes(routes!(routes::verifications::reinstate))
        .routes(routes!(routes::verifications::audit_log))
        .routes(routes!(routes::marketplace::create_facility))
        .routes(routes!(
            routes::marketplace::create_shift,
            routes::marketplace::list_shifts
        ))
        .routes(routes!(routes::marketplace::patch_shift))
        .routes(routes!(routes::marketplace::cancel_shift))
        .routes(routes!(routes::marketplace::nearby))
        .routes(routes!(routes::marketplace::claim))
        .routes(routes!(routes::marketplace::release))
        .routes(routes!(routes::marketplace::acknowledge_handoff))
        .routes(routes!(routes::marketplace::check_in))
        .routes(routes!(routes::marketplace::check_out))
        .routes(routes!(routes::marketplace::my_bookings))
        .routes(routes!(routes::ws::issue_ticket))
        .routes(routes!(routes::ws::connect))
        .split_for_parts()
}

/// The OpenAPI document of this build.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| router_and_spec().1)
}

/// The document as YAML, exactly as committed in `api-spec/openapi.yaml`.
pub fn spec_yaml() -> anyhow::Result<String> {
    Ok(spec().to_yaml()?)
}
