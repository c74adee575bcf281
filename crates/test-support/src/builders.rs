//! Builders of what a marketplace test needs: verified nurses where it wants them,
//! facilities with their schedulers, shift bodies, and the calls that post and claim.

use crate::{TestApp, db};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
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
    let email = format!("scheduler-{id}@shiftwire.example");
    let scheduler = app.staff_token(&email, Role::Scheduler, vec![id]).await;
    Facility { id, scheduler }
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
    let response = app
        .post(
            &format!("/v1/facilities/{}/shifts", f.id),
            body,
            Some(&f.scheduler),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("json")
}

/// The `id` of a JSON object.
pub fn id_of(value: &Value) -> Uuid {
    Uuid::parse_str(value["id"].as_str().expect("id")).expect("uuid")
}

pub async fn claim(app: &TestApp, token: &str, shift: Uuid) -> reqwest::Response {
    app.post(
        &format!("/v1/shifts/{shift}/claim"),
        &json!({}),
        Some(token),
    )
    .await
}
