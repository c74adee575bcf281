//! The authorisation matrix: every route of the served OpenAPI document × every kind of
//! caller, each pair with fresh real objects and a valid request, so that authorisation,
//! not validation or state, decides the answer. The expectations come from
//! `CONTRACT.md` and `api-spec/decisions.md`: no token 401, a role the route does not
//! admit 403 `forbidden`, another tenant's existing object 404 `not_found`.
//!
//! A route in the spec without a row here fails the test, as does a row for a route the
//! spec does not have: a new route cannot ship without deciding who may call it.

use reqwest::{Method, multipart};
use serde_json::{Value, json};
use shiftwire_core::{CredentialKind, Role};
use shiftwire_test_support::builders::{
    FACILITY_AT, Facility, claim, id_of, nearby_nurse, post_shift, shift_body,
};
use shiftwire_test_support::{STAFF_PASSWORD, TestApp, db, spawn_app_with};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::time::Instant;
use uuid::Uuid;

/// Who calls. "Nurse" owns every nurse-owned object a row uses (booking, credential,
/// document, the nurse id of suspend/reinstate); "Scheduler" is assigned to facility A,
/// which owns every shift a row uses; "Other scheduler" is assigned to facility B only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Anonymous,
    Nurse,
    OtherNurse,
    Scheduler,
    OtherScheduler,
    Verifier,
    Admin,
}

/// The columns of the matrix, in this order.
const PRINCIPALS: [Who; 7] = [
    Who::Anonymous,
    Who::Nurse,
    Who::OtherNurse,
    Who::Scheduler,
    Who::OtherScheduler,
    Who::Verifier,
    Who::Admin,
];

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::Anonymous => "anonymous",
            Who::Nurse => "nurse (owner)",
            Who::OtherNurse => "other nurse",
            Who::Scheduler => "scheduler (facility A)",
            Who::OtherScheduler => "scheduler (facility B)",
            Who::Verifier => "verifier",
            Who::Admin => "admin",
        }
    }
}

/// The expected answer: a status, and for a problem its `code`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Expect {
    status: u16,
    code: Option<&'static str>,
}

const fn ok(status: u16) -> Expect {
    Expect { status, code: None }
}

const fn problem(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code: Some(code),
    }
}

const OK: Expect = ok(200);
const ACCEPTED: Expect = ok(202);
const NO_CONTENT: Expect = ok(204);
/// No `Authorization` header.
const UNAUTHENTICATED: Expect = problem(401, "missing_token");
/// A token, but not one this route takes.
const INVALID_TOKEN: Expect = problem(401, "invalid_token");
/// Signed in, but the route does not admit this role.
const FORBIDDEN: Expect = problem(403, "forbidden");
/// Another tenant's object, or none: no existence oracle.
const NOT_FOUND: Expect = problem(404, "not_found");
/// Every request of a suspended user.
const SUSPENDED: Expect = problem(403, "account_suspended");
/// `GET /v1/ws` without an upgrade.
const NOT_A_WEBSOCKET: Expect = problem(400, "not_a_websocket");

/// Anyone, signed in or not.
const PUBLIC: [Expect; 7] = [OK; 7];
/// Any nurse, acting on themselves (`/v1/me...`, nearby search).
const ANY_NURSE: [Expect; 7] = [
    UNAUTHENTICATED,
    OK,
    OK,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
];
/// Only the nurse who owns the object; another nurse gets 404.
const OWNER_NURSE: [Expect; 7] = [
    UNAUTHENTICATED,
    OK,
    NOT_FOUND,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
];
/// Only a scheduler of the facility; another facility's scheduler gets 404.
const FACILITY_SCHEDULER: [Expect; 7] = [
    UNAUTHENTICATED,
    FORBIDDEN,
    FORBIDDEN,
    OK,
    NOT_FOUND,
    FORBIDDEN,
    FORBIDDEN,
];
/// The verification console: verifiers and admins.
const REVIEWERS: [Expect; 7] = [
    UNAUTHENTICATED,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    OK,
    OK,
];
/// Admins only.
const ADMIN: [Expect; 7] = [
    UNAUTHENTICATED,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    FORBIDDEN,
    OK,
];
/// Anyone signed in.
const SIGNED_IN: [Expect; 7] = [UNAUTHENTICATED, OK, OK, OK, OK, OK, OK];

/// `expect` with every success (2xx) replaced by `status`.
const fn success_is(expect: [Expect; 7], status: u16) -> [Expect; 7] {
    let mut out = expect;
    let mut i = 0;
    while i < out.len() {
        if out[i].status / 100 == 2 {
            out[i] = ok(status);
        }
        i += 1;
    }
    out
}

/// Objects a row needs, made fresh for each (route, principal) pair so that a state change
/// (claim, release, cancel, suspend, ...) never leaks into another pair.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    /// Just the two fresh nurses every pair gets.
    Nothing,
    /// An open shift of facility A, starting in 4 h.
    OpenShift,
    /// A shift of facility A starting in 10 min (inside the check-in window), booked by
    /// the owner nurse.
    Booking,
    /// As `Booking`, and the owner nurse has checked in (`in_progress`).
    CheckedIn,
    /// A pending certification (BLS) of the owner nurse, its automatic check done.
    Credential,
    /// As `Credential`, with a PDF the owner nurse uploaded.
    Document,
    /// The owner nurse, suspended by the admin.
    Suspended,
    /// A sign-in code sent to a fresh phone number.
    OtpSent,
    /// A fresh refresh token of the caller (of the owner nurse for an anonymous caller).
    RefreshToken,
    /// A pending identity of the owner nurse, in the verifiers' queue.
    Identity,
    /// A pending identity of the owner nurse handed to the external identity service.
    ExternalIdentity,
    /// The owner nurse's approved RN licence.
    ApprovedLicence,
    /// A device the owner nurse registered for pushes.
    Device,
    /// As `CheckedIn`, and the owner nurse checked out: her timesheet is `submitted`.
    Timesheet,
    /// As `Timesheet`, adjusted by facility A's scheduler.
    AdjustedTimesheet,
    /// As `AdjustedTimesheet`, disputed by the owner nurse.
    DisputedTimesheet,
}

/// The request body.
enum Payload {
    None,
    Json(fn(&Ctx) -> Value),
    /// `multipart/form-data` with one `file` field holding a PDF.
    Pdf,
    /// The multipart form of an identity submission.
    IdentityForm,
    /// A JSON body signed as the identity service signs its deliveries.
    Signed(fn(&Ctx) -> Value),
}

/// The identity service's webhook secret in this test.
const WEBHOOK_SECRET: &str = "authz-webhook-secret-0123456789abcdef";

struct Row {
    method: &'static str,
    /// Exactly as in the OpenAPI document; `{fid}` is facility A, `{id}` the row's object.
    path: &'static str,
    query: &'static str,
    setup: Setup,
    payload: Payload,
    /// In the order of `PRINCIPALS`.
    expect: [Expect; 7],
}

fn row(
    method: &'static str,
    path: &'static str,
    setup: Setup,
    payload: Payload,
    expect: [Expect; 7],
) -> Row {
    Row {
        method,
        path,
        query: "",
        setup,
        payload,
        expect,
    }
}

impl Row {
    fn with_query(mut self, query: &'static str) -> Row {
        self.query = query;
        self
    }
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// Every route of the API and who may call it.
fn table() -> Vec<Row> {
    use Payload::{IdentityForm, Json, None as NoBody, Pdf, Signed};
    use Setup::*;
    let empty: fn(&Ctx) -> Value = |_| json!({});
    let at_facility: fn(&Ctx) -> Value = |_| json!({ "lat": FACILITY_AT.0, "lon": FACILITY_AT.1 });
    let timesheet_times: fn(&Ctx) -> Value = |_| {
        let clock_out = chrono::Utc::now();
        json!({
            "clock_in": clock_out - chrono::Duration::hours(2),
            "clock_out": clock_out,
            "break_minutes": 15,
            "reason": "Badge log"
        })
    };
    vec![
        // ------------------------------------------------ operations: public
        row("GET", "/healthz", Nothing, NoBody, PUBLIC),
        row("GET", "/readyz", Nothing, NoBody, PUBLIC),
        // On the API's port only with METRICS_TOKEN, which is no user's token.
        row(
            "GET",
            "/metrics",
            Nothing,
            NoBody,
            [
                UNAUTHENTICATED,
                INVALID_TOKEN,
                INVALID_TOKEN,
                INVALID_TOKEN,
                INVALID_TOKEN,
                INVALID_TOKEN,
                INVALID_TOKEN,
            ],
        ),
        row("GET", "/openapi.json", Nothing, NoBody, PUBLIC),
        // ------------------------------------------------ auth: public, a token is ignored
        row(
            "POST",
            "/v1/auth/otp",
            Nothing,
            Json(|c| json!({ "phone": c.phone })),
            [ACCEPTED; 7],
        ),
        row(
            "POST",
            "/v1/auth/otp/verify",
            OtpSent,
            Json(|c| json!({ "phone": c.phone, "code": c.code })),
            PUBLIC,
        ),
        row(
            "POST",
            "/v1/auth/login",
            Nothing,
            Json(|c| json!({ "email": c.login_email, "password": STAFF_PASSWORD })),
            PUBLIC,
        ),
        row(
            "POST",
            "/v1/auth/refresh",
            RefreshToken,
            Json(|c| json!({ "refresh_token": c.refresh_token })),
            PUBLIC,
        ),
        row(
            "POST",
            "/v1/auth/logout",
            RefreshToken,
            Json(|c| json!({ "refresh_token": c.refresh_token })),
            [NO_CONTENT; 7],
        ),
        // ------------------------------------------------ real time
        row(
            "GET",
            "/v1/ws",
            Nothing,
            NoBody,
            [
                UNAUTHENTICATED,
                NOT_A_WEBSOCKET,
                NOT_A_WEBSOCKET,
                NOT_A_WEBSOCKET,
                NOT_A_WEBSOCKET,
                NOT_A_WEBSOCKET,
                NOT_A_WEBSOCKET,
            ],
        ),
        row("POST", "/v1/ws/ticket", Nothing, Json(empty), SIGNED_IN),
        // ------------------------------------------------ the nurse's own profile
        row("GET", "/v1/me", Nothing, NoBody, ANY_NURSE),
        row("GET", "/v1/me/attendance", Nothing, NoBody, ANY_NURSE),
        row(
            "PATCH",
            "/v1/me",
            Nothing,
            Json(|_| json!({ "name": "Amara Okafor", "available": true })),
            ANY_NURSE,
        ),
        row(
            "POST",
            "/v1/me/credentials",
            Nothing,
            Json(
                |c| json!({ "kind": "BLS", "number": format!("BLS-AUTHZ-{}", c.n), "expires_on": "2028-03-31" }),
            ),
            success_is(ANY_NURSE, 201),
        ),
        row(
            "GET",
            "/v1/me/credentials/{id}",
            Credential,
            NoBody,
            OWNER_NURSE,
        ),
        row(
            "POST",
            "/v1/me/credentials/{id}/document",
            Credential,
            Pdf,
            success_is(OWNER_NURSE, 201),
        ),
        row("GET", "/v1/me/bookings", Booking, NoBody, ANY_NURSE),
        row(
            "POST",
            "/v1/me/devices",
            Nothing,
            Json(|c| json!({ "platform": "android", "token": format!("authz-token-{:08}", c.n) })),
            success_is(ANY_NURSE, 201),
        ),
        row(
            "DELETE",
            "/v1/me/devices/{id}",
            Device,
            NoBody,
            success_is(OWNER_NURSE, 204),
        ),
        row(
            "GET",
            "/v1/me/notification-preferences",
            Nothing,
            NoBody,
            ANY_NURSE,
        ),
        row(
            "PATCH",
            "/v1/me/notification-preferences",
            Nothing,
            Json(|_| json!({ "push_offers": false })),
            ANY_NURSE,
        ),
        row(
            "POST",
            "/v1/me/identity",
            Nothing,
            IdentityForm,
            success_is(ANY_NURSE, 201),
        ),
        // ------------------------------------------------ marketplace (nurses)
        row("GET", "/v1/shifts/nearby", OpenShift, NoBody, ANY_NURSE).with_query("?radius_km=25"),
        // Any verified nurse may claim an open shift (each pair gets its own shift).
        row(
            "POST",
            "/v1/shifts/{id}/claim",
            OpenShift,
            Json(empty),
            success_is(ANY_NURSE, 201),
        ),
        row(
            "GET",
            "/v1/bookings/{id}/release-preview",
            Booking,
            NoBody,
            OWNER_NURSE,
        ),
        row(
            "POST",
            "/v1/bookings/{id}/on-the-way",
            Booking,
            Json(|_| json!({ "eta_minutes": 20 })),
            OWNER_NURSE,
        ),
        row(
            "POST",
            "/v1/bookings/{id}/release",
            Booking,
            Json(|_| json!({ "reason": "Family emergency" })),
            OWNER_NURSE,
        ),
        row(
            "POST",
            "/v1/bookings/{id}/handoff/ack",
            Booking,
            Json(empty),
            OWNER_NURSE,
        ),
        row(
            "POST",
            "/v1/bookings/{id}/check-in",
            Booking,
            Json(at_facility),
            OWNER_NURSE,
        ),
        row(
            "POST",
            "/v1/bookings/{id}/check-out",
            CheckedIn,
            Json(at_facility),
            OWNER_NURSE,
        ),
        // ------------------------------------------------ a facility's nurses
        row(
            "PUT",
            "/v1/facilities/{fid}/favourites/{nurse_id}",
            Nothing,
            NoBody,
            success_is(FACILITY_SCHEDULER, 204),
        ),
        row(
            "DELETE",
            "/v1/facilities/{fid}/favourites/{nurse_id}",
            Nothing,
            NoBody,
            success_is(FACILITY_SCHEDULER, 204),
        ),
        row(
            "PUT",
            "/v1/facilities/{fid}/blocks/{nurse_id}",
            Nothing,
            Json(|_| json!({ "reason": "Left the unit unattended" })),
            success_is(FACILITY_SCHEDULER, 204),
        ),
        row(
            "DELETE",
            "/v1/facilities/{fid}/blocks/{nurse_id}",
            Nothing,
            NoBody,
            success_is(FACILITY_SCHEDULER, 204),
        ),
        row(
            "GET",
            "/v1/facilities/{fid}/nurses",
            Nothing,
            NoBody,
            FACILITY_SCHEDULER,
        ),
        // ------------------------------------------------ shifts (schedulers of the facility)
        row(
            "POST",
            "/v1/facilities/{fid}/shifts",
            Nothing,
            Json(|_| shift_body(240, 8)),
            success_is(FACILITY_SCHEDULER, 201),
        ),
        row(
            "GET",
            "/v1/facilities/{fid}/shifts",
            OpenShift,
            NoBody,
            FACILITY_SCHEDULER,
        )
        .with_query("?status=open"),
        row(
            "PATCH",
            "/v1/shifts/{id}",
            OpenShift,
            Json(|_| json!({ "hourly_rate_cents": 7200, "unit": "5 East, Telemetry" })),
            FACILITY_SCHEDULER,
        ),
        row(
            "POST",
            "/v1/shifts/{id}/boost",
            OpenShift,
            Json(|_| json!({ "hourly_rate_cents": 9900 })),
            FACILITY_SCHEDULER,
        ),
        row(
            "POST",
            "/v1/shifts/{id}/cancel",
            OpenShift,
            Json(|_| json!({ "reason": "Census dropped" })),
            FACILITY_SCHEDULER,
        ),
        // ------------------------------------------------ timesheets
        row(
            "GET",
            "/v1/facilities/{fid}/timesheets",
            Timesheet,
            NoBody,
            FACILITY_SCHEDULER,
        )
        .with_query("?status=submitted"),
        row(
            "GET",
            "/v1/facilities/{fid}/timesheets.csv",
            Timesheet,
            NoBody,
            FACILITY_SCHEDULER,
        )
        .with_query("?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"),
        row(
            "POST",
            "/v1/timesheets/{id}/approve",
            Timesheet,
            Json(empty),
            FACILITY_SCHEDULER,
        ),
        row(
            "POST",
            "/v1/timesheets/{id}/adjust",
            Timesheet,
            Json(timesheet_times),
            FACILITY_SCHEDULER,
        ),
        row(
            "POST",
            "/v1/timesheets/{id}/reject",
            Timesheet,
            Json(|_| json!({ "reason": "Not on the unit roster" })),
            FACILITY_SCHEDULER,
        ),
        row("GET", "/v1/me/timesheets", Timesheet, NoBody, ANY_NURSE),
        row(
            "POST",
            "/v1/timesheets/{id}/dispute",
            AdjustedTimesheet,
            Json(|_| json!({ "reason": "I stayed for handover" })),
            OWNER_NURSE,
        ),
        row(
            "GET",
            "/v1/admin/timesheets",
            DisputedTimesheet,
            NoBody,
            ADMIN,
        )
        .with_query("?status=disputed"),
        row(
            "POST",
            "/v1/admin/timesheets/{id}/resolve",
            DisputedTimesheet,
            Json(timesheet_times),
            ADMIN,
        ),
        // ------------------------------------------------ verification console
        row(
            "GET",
            "/v1/admin/verifications",
            Credential,
            NoBody,
            REVIEWERS,
        )
        .with_query("?status=pending"),
        row(
            "GET",
            "/v1/admin/credentials/{id}/document",
            Document,
            NoBody,
            REVIEWERS,
        ),
        row(
            "POST",
            "/v1/admin/credentials/{id}/approve",
            Credential,
            Json(empty),
            REVIEWERS,
        ),
        row(
            "POST",
            "/v1/admin/credentials/{id}/reject",
            Credential,
            Json(|_| json!({ "reason": "The card is illegible; please upload a clearer photo." })),
            REVIEWERS,
        ),
        row(
            "POST",
            "/v1/admin/credentials/{id}/revoke",
            ApprovedLicence,
            Json(|_| json!({ "reason": "The board revoked this licence." })),
            REVIEWERS,
        ),
        row(
            "GET",
            "/v1/admin/identities/{id}",
            Identity,
            NoBody,
            REVIEWERS,
        ),
        row(
            "GET",
            "/v1/admin/identities/{id}/id-document",
            Identity,
            NoBody,
            REVIEWERS,
        ),
        row(
            "GET",
            "/v1/admin/identities/{id}/selfie",
            Identity,
            NoBody,
            REVIEWERS,
        ),
        row(
            "POST",
            "/v1/admin/identities/{id}/approve",
            Identity,
            Json(empty),
            REVIEWERS,
        ),
        row(
            "POST",
            "/v1/admin/identities/{id}/reject",
            Identity,
            Json(|_| json!({ "reason": "The photo ID is expired." })),
            REVIEWERS,
        ),
        // ------------------------------------------------ webhooks: the signature decides
        row(
            "POST",
            "/v1/webhooks/identity",
            ExternalIdentity,
            Signed(|c| {
                json!({
                    "reference": c.identity,
                    "status": "verified",
                    "legal_name": "Test Nurse",
                    "date_of_birth": "1990-04-17"
                })
            }),
            PUBLIC,
        ),
        // ------------------------------------------------ administration
        row(
            "POST",
            "/v1/admin/nurses/{id}/suspend",
            Nothing,
            Json(|_| json!({ "reason": "Licence under investigation" })),
            ADMIN,
        ),
        // The nurse in the path is the owner nurse, suspended: she cannot lift her own
        // suspension (every request of a suspended user is `account_suspended`).
        row(
            "POST",
            "/v1/admin/nurses/{id}/reinstate",
            Suspended,
            Json(empty),
            [
                UNAUTHENTICATED,
                SUSPENDED,
                FORBIDDEN,
                FORBIDDEN,
                FORBIDDEN,
                FORBIDDEN,
                OK,
            ],
        ),
        row("GET", "/v1/admin/audit", Document, NoBody, ADMIN),
        row(
            "POST",
            "/v1/admin/facilities",
            Nothing,
            Json(|c| {
                json!({
                    "name": format!("Authz Clinic {}", c.n),
                    "address": "2 Capitol Mall, Sacramento",
                    "location": { "lat": 38.577, "lon": -121.49 },
                    "timezone": "America/Los_Angeles",
                    "state": "CA",
                    "geofence_m": 150
                })
            }),
            success_is(ADMIN, 201),
        ),
        row(
            "POST",
            "/v1/admin/users",
            Nothing,
            Json(|c| {
                json!({
                    "email": format!("new-scheduler-{}@shiftwire.example", c.n),
                    "password": STAFF_PASSWORD,
                    "role": "scheduler",
                    "facility_ids": [c.facility]
                })
            }),
            success_is(ADMIN, 201),
        ),
    ]
}

struct Staff {
    id: Uuid,
    email: String,
    token: String,
}

async fn staff(app: &TestApp, email: &str, role: Role, facility_ids: Vec<Uuid>) -> Staff {
    let id = app.create_staff(email, role, facility_ids).await;
    let response = app.login(email, STAFF_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200, "login {email}");
    let body: Value = response.json().await.expect("json");
    Staff {
        id,
        email: email.to_owned(),
        token: body["access_token"].as_str().expect("token").to_owned(),
    }
}

/// What every pair shares: two facilities with their schedulers, a verifier, an admin.
struct World {
    a: Facility,
    scheduler: Staff,
    other_scheduler: Staff,
    verifier: Staff,
    admin: Staff,
}

impl World {
    async fn new(app: &TestApp) -> World {
        let a = app.create_facility("Mercy General Hospital").await;
        let b = app.create_facility("Bayview Care Center").await;
        let scheduler = staff(
            app,
            "scheduler-a@shiftwire.example",
            Role::Scheduler,
            vec![a],
        )
        .await;
        let other_scheduler = staff(
            app,
            "scheduler-b@shiftwire.example",
            Role::Scheduler,
            vec![b],
        )
        .await;
        let verifier = staff(app, "verifier@shiftwire.example", Role::Verifier, vec![]).await;
        let admin = staff(app, "admin@shiftwire.example", Role::Admin, vec![]).await;
        World {
            a: Facility {
                id: a,
                scheduler: scheduler.token.clone(),
            },
            scheduler,
            other_scheduler,
            verifier,
            admin,
        }
    }

    fn staff(&self, who: Who) -> Option<&Staff> {
        match who {
            Who::Scheduler => Some(&self.scheduler),
            Who::OtherScheduler => Some(&self.other_scheduler),
            Who::Verifier => Some(&self.verifier),
            Who::Admin => Some(&self.admin),
            Who::Anonymous | Who::Nurse | Who::OtherNurse => None,
        }
    }
}

/// The objects of one (route, principal) pair.
struct Ctx {
    n: u32,
    facility: Uuid,
    owner: (String, Uuid),
    other: (String, Uuid),
    shift: Option<Uuid>,
    booking: Option<Uuid>,
    credential: Option<Uuid>,
    identity: Option<Uuid>,
    device: Option<Uuid>,
    timesheet: Option<Uuid>,
    phone: String,
    code: String,
    refresh_token: String,
    login_email: String,
}

impl Ctx {
    async fn new(app: &TestApp, world: &World, n: u32, who: Who, setup: Setup) -> Ctx {
        let owner = nearby_nurse(app).await;
        let other = nearby_nurse(app).await;
        let mut ctx = Ctx {
            n,
            facility: world.a.id,
            owner,
            other,
            shift: None,
            booking: None,
            credential: None,
            identity: None,
            device: None,
            timesheet: None,
            // Not the +1415555.... numbers of `nurse_at`: these become new nurses.
            phone: format!("+1415556{n:04}"),
            code: String::new(),
            refresh_token: String::new(),
            // Staff sign in as themselves; the others with the verifier's password.
            login_email: world.staff(who).unwrap_or(&world.verifier).email.clone(),
        };
        match setup {
            Setup::Nothing => {}
            Setup::OpenShift => {
                ctx.shift = Some(id_of(&post_shift(app, &world.a, &shift_body(240, 8)).await));
            }
            Setup::Booking
            | Setup::CheckedIn
            | Setup::Timesheet
            | Setup::AdjustedTimesheet
            | Setup::DisputedTimesheet => {
                let shift = id_of(&post_shift(app, &world.a, &shift_body(10, 2)).await);
                let response = claim(app, &ctx.owner.0, shift).await;
                assert_eq!(response.status().as_u16(), 201, "setup: claim");
                let booking = id_of(&response.json().await.expect("json"));
                if setup != Setup::Booking {
                    let response = app
                        .post(
                            &format!("/v1/bookings/{booking}/check-in"),
                            &json!({ "lat": FACILITY_AT.0, "lon": FACILITY_AT.1 }),
                            Some(&ctx.owner.0),
                        )
                        .await;
                    assert_eq!(response.status().as_u16(), 200, "setup: check-in");
                }
                ctx.shift = Some(shift);
                ctx.booking = Some(booking);
                if !matches!(setup, Setup::Booking | Setup::CheckedIn) {
                    ctx.timesheet = Some(timesheet(app, world, &ctx, setup).await);
                }
            }
            Setup::Identity => {
                let response = app
                    .submit_identity(&ctx.owner.0, "Test Nurse", "1990-04-17")
                    .await;
                assert_eq!(response.status().as_u16(), 201, "setup: identity");
                ctx.identity = Some(id_of(&response.json().await.expect("json")));
            }
            Setup::ExternalIdentity => {
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO identities (id, nurse_id, legal_name, date_of_birth, provider,
                         id_document_key, id_document_type, id_document_sha256,
                         selfie_key, selfie_type, selfie_sha256)
                     VALUES ($1, $2, 'Test Nurse', '1990-04-17', 'external',
                             $3, 'image/png', '\\x00', $4, 'image/png', '\\x00')",
                )
                .bind(id)
                .bind(ctx.owner.1)
                .bind(Uuid::now_v7().to_string())
                .bind(Uuid::now_v7().to_string())
                .execute(&app.pool)
                .await
                .expect("external identity");
                ctx.identity = Some(id);
            }
            Setup::Device => {
                let device = app
                    .state
                    .push
                    .register_device(ctx.owner.1, None, "ios", &format!("authz-device-{n:08}"))
                    .await
                    .expect("device");
                ctx.device = Some(device.id);
            }
            Setup::ApprovedLicence => {
                let licence = app
                    .state
                    .verification
                    .credentials_of(ctx.owner.1)
                    .await
                    .expect("credentials")
                    .into_iter()
                    .find(|c| c.kind == CredentialKind::RN)
                    .expect("licence");
                ctx.credential = Some(licence.id);
            }
            Setup::Credential | Setup::Document => {
                let id = db::certification_awaiting_review(
                    &app.pool,
                    ctx.owner.1,
                    &format!("BLS-PENDING-{n}"),
                )
                .await;
                if setup == Setup::Document {
                    let response = upload(app, &ctx.owner.0, id).await;
                    assert_eq!(response.status().as_u16(), 201, "setup: upload");
                }
                ctx.credential = Some(id);
            }
            Setup::Suspended => {
                let response = app
                    .post(
                        &format!("/v1/admin/nurses/{}/suspend", ctx.owner.1),
                        &json!({ "reason": "Licence under investigation" }),
                        Some(&world.admin.token),
                    )
                    .await;
                assert_eq!(response.status().as_u16(), 200, "setup: suspend");
            }
            Setup::OtpSent => {
                let response = app.request_code(&ctx.phone).await;
                assert_eq!(response.status().as_u16(), 202, "setup: send code");
                ctx.code = app.sms.last_code(&ctx.phone);
            }
            Setup::RefreshToken => {
                let (user, role) = match world.staff(who) {
                    Some(staff) => (staff.id, role_of(who)),
                    None if who == Who::OtherNurse => (ctx.other.1, Role::Nurse),
                    None => (ctx.owner.1, Role::Nurse),
                };
                ctx.refresh_token = app
                    .state
                    .refresh
                    .sign_in(user, role)
                    .await
                    .expect("sign in")
                    .refresh_token;
            }
        }
        ctx
    }

    fn token<'a>(&'a self, world: &'a World, who: Who) -> Option<&'a str> {
        match who {
            Who::Anonymous => None,
            Who::Nurse => Some(&self.owner.0),
            Who::OtherNurse => Some(&self.other.0),
            _ => world.staff(who).map(|s| s.token.as_str()),
        }
    }

    /// The row's path with its ids filled in.
    fn path(&self, row: &Row) -> String {
        let id = if row.path.starts_with("/v1/timesheets/")
            || row.path.starts_with("/v1/admin/timesheets/")
        {
            self.timesheet
        } else if row.path.starts_with("/v1/shifts/") {
            self.shift
        } else if row.path.starts_with("/v1/bookings/") {
            self.booking
        } else if row.path.contains("/credentials/") {
            self.credential
        } else if row.path.starts_with("/v1/admin/identities/") {
            self.identity
        } else if row.path.starts_with("/v1/admin/nurses/") {
            Some(self.owner.1)
        } else if row.path.starts_with("/v1/me/devices/") {
            self.device
        } else {
            None
        };
        let mut path = row
            .path
            .replace("{fid}", &self.facility.to_string())
            .replace("{nurse_id}", &self.owner.1.to_string());
        if path.contains("{id}") {
            let id = id.unwrap_or_else(|| {
                panic!(
                    "{} {}: its setup makes no object for {{id}}",
                    row.method, row.path
                )
            });
            path = path.replace("{id}", &id.to_string());
        }
        format!("{path}{}", row.query)
    }
}

/// The owner nurse checks out of her checked-in booking; the timesheet that submits is
/// then adjusted by facility A's scheduler and disputed by her, as far as `setup` says.
async fn timesheet(app: &TestApp, world: &World, ctx: &Ctx, setup: Setup) -> Uuid {
    let nurse = &ctx.owner.0;
    let booking = ctx.booking.expect("booking");
    let response = app
        .post(
            &format!("/v1/bookings/{booking}/check-out"),
            &json!({ "lat": FACILITY_AT.0, "lon": FACILITY_AT.1 }),
            Some(nurse),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200, "setup: check-out");
    let mine: Value = app.get_json("/v1/me/timesheets", nurse).await;
    let id = id_of(&mine["items"][0]);
    if setup == Setup::Timesheet {
        return id;
    }
    let clock_out = chrono::Utc::now();
    let response = app
        .post(
            &format!("/v1/timesheets/{id}/adjust"),
            &json!({
                "clock_in": clock_out - chrono::Duration::hours(1),
                "clock_out": clock_out,
                "break_minutes": 0,
                "reason": "Left early"
            }),
            Some(&world.scheduler.token),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200, "setup: adjust");
    if setup == Setup::AdjustedTimesheet {
        return id;
    }
    let response = app
        .post(
            &format!("/v1/timesheets/{id}/dispute"),
            &json!({ "reason": "I stayed" }),
            Some(nurse),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200, "setup: dispute");
    id
}

fn role_of(who: Who) -> Role {
    match who {
        Who::Scheduler | Who::OtherScheduler => Role::Scheduler,
        Who::Verifier => Role::Verifier,
        Who::Admin => Role::Admin,
        Who::Anonymous | Who::Nurse | Who::OtherNurse => Role::Nurse,
    }
}

async fn upload(app: &TestApp, token: &str, credential: Uuid) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/me/credentials/{credential}/document")))
        .bearer_auth(token)
        .multipart(pdf_form())
        .send()
        .await
        .expect("upload")
}

fn pdf_form() -> multipart::Form {
    let part = multipart::Part::bytes(PDF)
        .file_name("bls-card.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    multipart::Form::new().part("file", part)
}

/// What the server answered: the status and, for a problem, its code.
struct Answer {
    status: u16,
    code: Option<String>,
    body: String,
}

/// Sends the row's request as `who`.
async fn send(app: &TestApp, world: &World, row: &Row, ctx: &Ctx, who: Who) -> Answer {
    let method = Method::from_bytes(row.method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(&ctx.path(row)));
    if let Some(token) = ctx.token(world, who) {
        request = request.bearer_auth(token);
    }
    request = match &row.payload {
        Payload::None => request,
        Payload::Json(body) => request.json(&body(ctx)),
        Payload::Pdf => request.multipart(pdf_form()),
        Payload::IdentityForm => {
            let image = |name: &str| {
                multipart::Part::bytes(shiftwire_test_support::PNG)
                    .file_name(name.to_owned())
                    .mime_str("image/png")
                    .expect("mime")
            };
            request.multipart(
                multipart::Form::new()
                    .text("legal_name", "Test Nurse")
                    .text("date_of_birth", "1990-04-17")
                    .part("id_document", image("id.png"))
                    .part("selfie", image("selfie.png")),
            )
        }
        Payload::Signed(body) => {
            let body = serde_json::to_vec(&body(ctx)).expect("json");
            let t = chrono::Utc::now().timestamp();
            request
                .header("content-type", "application/json")
                .header(
                    "shiftwire-signature",
                    crate::identity::signature(WEBHOOK_SECRET, t, &body),
                )
                .body(body)
        }
    };
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let is_problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let body = response.text().await.unwrap_or_default();
    let code = if is_problem {
        serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|problem| problem["code"].as_str().map(str::to_owned))
    } else {
        None
    };
    Answer { status, code, body }
}

/// The ids a caller of another tenant must never see, even in a successful answer (a list
/// or a profile that lets another nurse's or another facility's objects through).
fn foreign_ids(ctx: &Ctx, who: Who) -> Vec<(&'static str, Uuid)> {
    let mut ids = Vec::new();
    match who {
        Who::OtherNurse => {
            ids.push(("the owner nurse's id", ctx.owner.1));
            ids.extend(ctx.booking.map(|id| ("the owner nurse's booking", id)));
            ids.extend(
                ctx.credential
                    .map(|id| ("the owner nurse's credential", id)),
            );
            ids.extend(ctx.timesheet.map(|id| ("the owner nurse's timesheet", id)));
        }
        Who::OtherScheduler => {
            ids.push(("facility A's id", ctx.facility));
            ids.extend(ctx.shift.map(|id| ("facility A's shift", id)));
            ids.extend(ctx.booking.map(|id| ("a booking at facility A", id)));
            ids.extend(ctx.timesheet.map(|id| ("a timesheet at facility A", id)));
        }
        _ => {}
    }
    ids
}

fn describe(status: u16, code: Option<&str>) -> String {
    match code {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

/// Every (METHOD, path) of the served OpenAPI document.
async fn documented_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let spec: Value = response.json().await.expect("json");
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn every_route_admits_exactly_the_callers_the_contract_names(pool: PgPool) {
    let started = Instant::now();
    // Rate limits are not what this test is about.
    let app = spawn_app_with(pool, |s| {
        s.identity_webhook_secret = Some(WEBHOOK_SECRET.into());
        s.rate_limits.otp_sends_per_ip_per_hour = 10_000;
        s.rate_limits.otp_verifies_per_ip_per_minute = 10_000;
        s.rate_limits.login_attempts_per_ip_per_minute = 10_000;
        s.rate_limits.refreshes_per_ip_per_minute = 10_000;
    })
    .await;
    let world = World::new(&app).await;
    let table = table();

    // The table and the spec name the same routes, each once.
    let documented = documented_routes(&app).await;
    let mut failures = Vec::new();
    let mut tabled = BTreeSet::new();
    for row in &table {
        let route = (row.method.to_owned(), row.path.to_owned());
        if !tabled.insert(route.clone()) {
            failures.push(format!("{} {}: two rows in the table", route.0, route.1));
        }
        if !documented.contains(&route) {
            failures.push(format!(
                "{} {}: in the table but not in /openapi.json",
                route.0, route.1
            ));
        }
    }
    for route in documented.difference(&tabled) {
        failures.push(format!(
            "{} {}: in /openapi.json but has no row in the authorisation table",
            route.0, route.1
        ));
    }

    let mut n = 0;
    let mut mismatches = Vec::new();
    let mut grid = Vec::new();
    for row in &table {
        let mut cells = Vec::new();
        for (who, expected) in PRINCIPALS.into_iter().zip(row.expect) {
            n += 1;
            let ctx = Ctx::new(&app, &world, n, who, row.setup).await;
            let got = send(&app, &world, row, &ctx, who).await;
            // A success is judged by its status; a problem by its status and code.
            let mut problems = Vec::new();
            if got.status != expected.status
                || (expected.code.is_some() && got.code.as_deref() != expected.code)
            {
                problems.push(format!(
                    "expected {}, got {}",
                    describe(expected.status, expected.code),
                    describe(got.status, got.code.as_deref()),
                ));
            }
            for (what, id) in foreign_ids(&ctx, who) {
                if got.body.contains(&id.to_string()) {
                    problems.push(format!(
                        "the {} answer shows {what} ({id})",
                        describe(got.status, got.code.as_deref())
                    ));
                }
            }
            if problems.is_empty() {
                cells.push(format!("{:>3} ", got.status));
            } else {
                cells.push(format!("{:>3}!", got.status));
                for problem in problems {
                    mismatches.push(format!(
                        "{} {} as {}: {problem}",
                        row.method,
                        row.path,
                        who.label()
                    ));
                }
            }
        }
        grid.push(format!(
            "{:<6} {:<40} {}",
            row.method,
            row.path,
            cells.join(" ")
        ));
    }

    println!(
        "authorisation matrix: {} routes x {} principals = {n} requests in {:.1} s",
        table.len(),
        PRINCIPALS.len(),
        started.elapsed().as_secs_f64()
    );
    println!("columns: {}", PRINCIPALS.map(Who::label).join(" | "));
    for line in &grid {
        println!("{line}");
    }
    println!(
        "unexpected outcomes: {} (and {} table/spec problems)",
        mismatches.len(),
        failures.len()
    );
    for mismatch in &mismatches {
        println!("  MISMATCH {mismatch}");
    }
    for failure in &failures {
        println!("  TABLE {failure}");
    }
    failures.extend(mismatches);
    assert!(
        failures.is_empty(),
        "{} unexpected outcomes in the authorisation matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
