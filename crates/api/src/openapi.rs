//! The OpenAPI document is generated from the route annotations; `api-spec/openapi.yaml`
//! is this output, committed, and a test fails when the two differ.

use crate::{AppState, error::PROBLEM_CONTENT_TYPE, routes};
use axum::Router;
use std::sync::OnceLock;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema,
        header::HeaderBuilder,
        path::{Operation, ParameterIn},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
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
        (name = "facilities", description = "A facility's nurses: favourites and do-not-return (its schedulers)"),
        (name = "marketplace", description = "Nearby shifts, claims and bookings (nurses)"),
        (name = "timesheets", description = "Hours after check-out: the facility approves, adjusts or rejects them, the nurse may dispute, an admin resolves; the payroll export"),
        (name = "notifications", description = "Devices and notification preferences: pushes to nurses whose app is closed"),
        (name = "realtime", description = "The WebSocket: offers, withdrawals and notices in real time (see api-spec/websocket.md)"),
        (name = "webhooks", description = "Signed deliveries from outside services (the identity provider)"),
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

/// The problem responses every route can give by virtue of its extractors and layers,
/// added to each operation by rule so no annotation can forget one (an annotation that
/// documents a status itself keeps its own description):
///
/// - every operation: 408 `request_timeout` (the timeout layer);
/// - secured operations: 401 `missing_token`/`invalid_token` and 403 `forbidden`/
///   `account_suspended` (`Auth<…>`);
/// - a request body: 400, 413, 422 (`ValidJson`, `NoBody`, multipart), and 415 when the
///   body is required (`ValidJson` checks the content type; the optional bodies are empty
///   or `{}`, whatever their type);
/// - path parameters: 404 (unknown, another tenant's, or malformed ids);
/// - query parameters: 422 `invalid_query` (`ValidQuery`);
/// - `Idempotency-Key`: 409 `idempotency_key_in_use` and 422 `invalid_idempotency_key`/
///   `idempotency_key_reused`;
/// - every operation that reads the database (all but the `operations` tag, whose
///   `/readyz` documents its own 503): 503 `database_unavailable`.
///
/// Every 401 then documents `WWW-Authenticate`, and every 429 and 503 `Retry-After`.
/// utoipa writes an optional (`Option<…>`) request body as "schema or `null`"; a body is
/// optional by being left out, and `null` is refused, so the `null` is taken out.
struct CommonProblems;

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                document_problems(operation);
            }
        }
    }
}

fn document_problems(operation: &mut Operation) {
    let params = operation.parameters.as_deref().unwrap_or_default();
    let has_param = |location: ParameterIn| params.iter().any(|p| p.parameter_in == location);
    let in_path = has_param(ParameterIn::Path);
    let in_query = has_param(ParameterIn::Query);
    let idempotent = params
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Header && p.name == "Idempotency-Key");
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let uses_database = !operation
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == "operations"));
    let body_required = operation
        .request_body
        .as_ref()
        .map(|body| matches!(body.required, Some(Required::True)));

    if let Some(body) = operation.request_body.as_mut()
        && body_required == Some(false)
    {
        for content in body.content.values_mut() {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                let not_null: Vec<_> = one_of
                    .items
                    .iter()
                    .filter(|item| !is_null_schema(item))
                    .cloned()
                    .collect();
                if let [only] = not_null.as_slice() {
                    content.schema = Some(only.clone());
                }
            }
        }
    }

    let mut common: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut add = |status: &'static str, why: &'static str| match common
        .iter_mut()
        .find(|(s, _)| *s == status)
    {
        Some((_, reasons)) => reasons.push(why),
        None => common.push((status, vec![why])),
    };
    if body_required.is_some() {
        add(
            "400",
            "`malformed_json`: the body is not valid JSON (or could not be read)",
        );
        add("413", "`payload_too_large`: the body is over the limit");
        add(
            "422",
            "`invalid_body` or `unknown_field`: the body has the wrong shape",
        );
    }
    if body_required == Some(true) {
        add(
            "415",
            "`unsupported_media_type`: the body is not of a documented type",
        );
    }
    if secured {
        add("401", "`missing_token` or `invalid_token`: sign in (again)");
        add(
            "403",
            "`forbidden` (your role may not do this) or `account_suspended`",
        );
    }
    if in_path {
        add(
            "404",
            "`not_found`: no such resource of yours (or a malformed id)",
        );
    }
    if in_query {
        add(
            "422",
            "`invalid_query`, `invalid_limit` or `invalid_cursor`: a query parameter is wrong or unknown",
        );
    }
    if idempotent {
        add(
            "409",
            "`idempotency_key_in_use`: the first request with this key is still running (see Retry-After)",
        );
        add(
            "422",
            "`invalid_idempotency_key` or `idempotency_key_reused` (another request had this key)",
        );
    }
    if uses_database {
        add("503", "`database_unavailable`: try again after Retry-After");
    }
    add("408", "`request_timeout`: the request took too long");

    let responses = &mut operation.responses.responses;
    for (status, reasons) in common {
        if responses.contains_key(status) {
            continue;
        }
        let problem = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        let response = ResponseBuilder::new()
            .description(reasons.join("; "))
            .content(PROBLEM_CONTENT_TYPE, problem)
            .build();
        responses.insert(status.to_owned(), RefOr::T(response));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let header = match status.as_str() {
            "401" => ("WWW-Authenticate", "`Bearer`"),
            "429" | "503" => ("Retry-After", "Seconds to wait before trying again"),
            _ => continue,
        };
        response
            .headers
            .entry(header.0.to_owned())
            .or_insert_with(|| {
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(match header.0 {
                        "Retry-After" => Type::Integer,
                        _ => Type::String,
                    }))
                    .description(Some(header.1))
                    .build()
            });
    }
}

fn is_null_schema(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(object))
        if object.schema_type == utoipa::openapi::schema::SchemaType::Type(Type::Null))
}

/// Every route of the API with its documentation.
pub(crate) fn router_and_spec() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
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
        .routes(routes!(routes::me::submit_identity))
        .routes(routes!(routes::devices::register_device))
        .routes(routes!(routes::devices::delete_device))
        .routes(routes!(
            routes::devices::get_preferences,
            routes::devices::patch_preferences
        ))
        .routes(routes!(routes::verifications::review_queue))
        .routes(routes!(routes::verifications::download_document))
        .routes(routes!(routes::verifications::approve))
        .routes(routes!(routes::verifications::reject))
        .routes(routes!(routes::verifications::revoke))
        .routes(routes!(routes::verifications::identity))
        .routes(routes!(routes::verifications::identity_id_document))
        .routes(routes!(routes::verifications::identity_selfie))
        .routes(routes!(routes::verifications::approve_identity))
        .routes(routes!(routes::verifications::reject_identity))
        .routes(routes!(routes::webhooks::identity_result))
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
        .routes(routes!(routes::marketplace::boost_shift))
        .routes(routes!(routes::marketplace::release_preview))
        .routes(routes!(routes::marketplace::on_the_way))
        .routes(routes!(
            routes::favourites::add_favourite,
            routes::favourites::remove_favourite
        ))
        .routes(routes!(
            routes::favourites::block,
            routes::favourites::unblock
        ))
        .routes(routes!(routes::favourites::facility_nurses))
        .routes(routes!(routes::marketplace::my_attendance))
        .routes(routes!(routes::marketplace::nearby))
        .routes(routes!(routes::marketplace::claim))
        .routes(routes!(routes::marketplace::release))
        .routes(routes!(routes::marketplace::acknowledge_handoff))
        .routes(routes!(routes::marketplace::check_in))
        .routes(routes!(routes::marketplace::check_out))
        .routes(routes!(routes::marketplace::my_bookings))
        .routes(routes!(routes::timesheets::facility_timesheets))
        .routes(routes!(routes::timesheets::payroll_csv))
        .routes(routes!(routes::timesheets::approve_timesheet))
        .routes(routes!(routes::timesheets::adjust_timesheet))
        .routes(routes!(routes::timesheets::reject_timesheet))
        .routes(routes!(routes::timesheets::my_timesheets))
        .routes(routes!(routes::timesheets::dispute_timesheet))
        .routes(routes!(routes::timesheets::all_timesheets))
        .routes(routes!(routes::timesheets::resolve_timesheet))
        .routes(routes!(routes::ws::issue_ticket))
        .routes(routes!(routes::ws::connect))
        .split_for_parts();
    CommonProblems.modify(&mut spec);
    (router, spec)
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
