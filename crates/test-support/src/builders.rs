//! Builders of what a marketplace test needs: verified nurses where it wants them,
//! facilities with their schedulers, shift bodies, and the calls that post and claim.

use crate::{TestApp, assert_json, db};
use chrono::{Duration, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shiftwire_auth::Users;
use shiftwire_core::{Coordinates, Phone, Role};
use shiftwire_matching::ProfileChange;
use std::sync::atomic::{AtomicU32, Ordering};
use uuid::Uuid;

/// Mercy General ([`TestApp::create_facility`]) is at 38.57, -121.45 in CA, geofence
/// 200 m.
pub const FACILITY_AT: (f64, f64) = (38.57, -121.45);

static PHONES: AtomicU32 = AtomicU32::new(0);

/// A phone number no other builder in this process hands out.
pub fn fresh_phone() -> String {
    format!("+1415555{:04}", PHONES.fetch_add(1, Ordering::SeqCst))
}

/// A verified, available RN (CA licence, BLS, both approved) living at `home` and going
/// `max_km`; returns (access token, id). Signed in without an SMS.
pub async fn nurse_at(app: &TestApp, home: (f64, f64), max_km: f64) -> (String, Uuid) {
    let phone = Phone::parse(&fresh_phone()).expect("phone");
    let (id, _) = Users::new(app.pool.clone())
        .nurse_for_phone(&phone)
        .await
        .expect("nurse");
    app.state
        .accounts
        .set_name(id, "Test Nurse")
        .await
        .expect("name");
    let change = ProfileChange {
        home: Some(Some(Coordinates::new(home.0, home.1).expect("home"))),
        max_distance_km: Some(max_km),
        available: None,
    };
    app.state
        .matching
        .update_profile(id, change)
        .await
        .expect("profile");
    for (kind, state) in [("RN", Some("CA")), ("BLS", None)] {
        let number = format!("{kind}-{}", phone.as_e164());
        db::approved_credential(&app.pool, id, kind, &number, state, "2028-03-31").await;
    }
    let token = app
        .state
        .refresh
        .sign_in(id, Role::Nurse)
        .await
        .expect("sign in")
        .access_token;
    (token, id)
}

/// A verified RN a few kilometres from [`FACILITY_AT`], going 25 km.
pub async fn nearby_nurse(app: &TestApp) -> (String, Uuid) {
    nurse_at(app, (38.58, -121.46), 25.0).await
}

/// A facility and a signed-in scheduler of it.
pub struct Facility {
    pub id: Uuid,
    pub scheduler: String,
}

pub async fn facility(app: &TestApp, name: &str) -> Facility {
    let id = app.create_facility(name).await;
    Facility {
        id,
        scheduler: scheduler_of(app, id).await,
    }
}

/// A facility at `at` (lat, lon) in `state`, and a signed-in scheduler of it.
pub async fn facility_at(app: &TestApp, name: &str, state: &str, at: (f64, f64)) -> Facility {
    let id = db::facility_at(&app.pool, name, state, at).await;
    Facility {
        id,
        scheduler: scheduler_of(app, id).await,
    }
}

/// A scheduler of the facility (`scheduler-{id}@shiftwire.example`), signed in.
async fn scheduler_of(app: &TestApp, facility_id: Uuid) -> String {
    let email = format!("scheduler-{facility_id}@shiftwire.example");
    app.staff_token(&email, Role::Scheduler, vec![facility_id])
        .await
}

/// A CA RN licence numbered `number`, expiring 2028-03-31, as a nurse submits it
/// (RN-100234 is Amara Okafor's in [`crate::TEST_REGISTRY`]).
pub fn rn_licence(number: &str) -> Value {
    json!({ "kind": "RN", "number": number, "issuing_state": "CA", "expires_on": "2028-03-31" })
}

/// An RN shift needing BLS, starting in `starts_in_min` minutes, `hours` long.
pub fn shift_body(starts_in_min: i64, hours: i64) -> Value {
    let starts_at = Utc::now() + Duration::minutes(starts_in_min);
    json!({
        "role": "RN",
        "starts_at": starts_at,
        "ends_at": starts_at + Duration::hours(hours),
        "hourly_rate_cents": 6500,
        "required_certifications": ["BLS"],
        "unit": "4 West, Med-Surg",
        "handoff": {
            "report_to": "Charge nurse, 4 West (ext. 4410)",
            "arrival_instructions": "Staff entrance on J St; badge pickup at security.",
            "parking": "Garage B, level 3",
            "exceptions": ["Epic access is set up on arrival"]
        }
    })
}

/// Posts a shift as the facility's scheduler; it must be created.
pub async fn post_shift(app: &TestApp, f: &Facility, body: &Value) -> Value {
    assert_json(send_shift(app, f, body).await, StatusCode::CREATED).await
}

/// Posts a shift as the facility's scheduler; the answer, whatever it is.
pub async fn send_shift(app: &TestApp, f: &Facility, body: &Value) -> Response {
    let path = format!("/v1/facilities/{}/shifts", f.id);
    app.post(&path, body, Some(&f.scheduler)).await
}

/// The open shifts the nurse could claim, nearest first, around her or the point in
/// `query` ("" or "?radius_km=5", say): the first page.
pub async fn nearby_shifts(app: &TestApp, token: &str, query: &str) -> Value {
    app.get_json(&format!("/v1/shifts/nearby{query}"), token)
        .await
}

/// The nurse's bookings: the first page.
pub async fn bookings_of(app: &TestApp, token: &str) -> Value {
    app.get_json("/v1/me/bookings", token).await
}

/// The facility's shifts as its scheduler lists them (`query`: "" or "?status=open", say).
pub async fn shifts_of(app: &TestApp, f: &Facility, query: &str) -> Value {
    let path = format!("/v1/facilities/{}/shifts{query}", f.id);
    app.get_json(&path, &f.scheduler).await
}

/// The facility's scheduler changes the shift.
pub async fn patch_shift(app: &TestApp, f: &Facility, shift: Uuid, patch: &Value) -> Response {
    app.patch(&format!("/v1/shifts/{shift}"), patch, Some(&f.scheduler))
        .await
}

/// The facility's scheduler changes the shift; the change must be taken. The shift as
/// changed.
pub async fn shift_changed(app: &TestApp, f: &Facility, shift: Uuid, patch: &Value) -> Value {
    assert_json(patch_shift(app, f, shift, patch).await, StatusCode::OK).await
}

/// The facility's scheduler cancels the shift, for `reason`.
pub async fn cancel_shift(app: &TestApp, f: &Facility, shift: Uuid, reason: &str) -> Response {
    let path = format!("/v1/shifts/{shift}/cancel");
    app.post(&path, &json!({ "reason": reason }), Some(&f.scheduler))
        .await
}

/// `PUT /v1/facilities/{fid}/{list}/{nurse}` as the facility's scheduler: `list` is
/// `favourites` (body `null`) or `blocks` (body `{ "reason": ... }`); the status.
pub async fn put_on_list(
    app: &TestApp,
    f: &Facility,
    list: &str,
    nurse: Uuid,
    body: &Value,
) -> StatusCode {
    app.client
        .put(app.url(&format!("/v1/facilities/{}/{list}/{nurse}", f.id)))
        .bearer_auth(&f.scheduler)
        .json(body)
        .send()
        .await
        .expect("request")
        .status()
}

/// The `id` of a JSON object.
pub fn id_of(value: &Value) -> Uuid {
    Uuid::parse_str(value["id"].as_str().expect("id")).expect("uuid")
}

pub async fn claim(app: &TestApp, token: &str, shift: Uuid) -> Response {
    app.post(
        &format!("/v1/shifts/{shift}/claim"),
        &json!({}),
        Some(token),
    )
    .await
}

/// Claims the shift for the nurse; it must be booked. The booking's id.
pub async fn book(app: &TestApp, token: &str, shift: Uuid) -> Uuid {
    id_of(&assert_json(claim(app, token, shift).await, StatusCode::CREATED).await)
}

/// The nurse acknowledges her booking's handoff packet.
pub async fn acknowledge_handoff(app: &TestApp, token: &str, booking: Uuid) -> Response {
    let path = format!("/v1/bookings/{booking}/handoff/ack");
    app.post(&path, &json!({}), Some(token)).await
}

/// The nurse checks in to her booking standing at `at` (lat, lon).
pub async fn check_in(app: &TestApp, token: &str, booking: Uuid, at: (f64, f64)) -> Response {
    let path = format!("/v1/bookings/{booking}/check-in");
    app.post(&path, &json!({ "lat": at.0, "lon": at.1 }), Some(token))
        .await
}

/// The nurse checks out of her booking standing at `at` (lat, lon).
pub async fn check_out(app: &TestApp, token: &str, booking: Uuid, at: (f64, f64)) -> Response {
    let path = format!("/v1/bookings/{booking}/check-out");
    app.post(&path, &json!({ "lat": at.0, "lon": at.1 }), Some(token))
        .await
}

/// The nurse releases her booking, for `reason`.
pub async fn release(app: &TestApp, token: &str, booking: Uuid, reason: &str) -> Response {
    let path = format!("/v1/bookings/{booking}/release");
    app.post(&path, &json!({ "reason": reason }), Some(token))
        .await
}
