use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiftwire_core::{
    BookingStatus, Coordinates, CredentialKind, HourlyRate, ShiftStatus, ShiftTerms, Unit,
};
use uuid::Uuid;

/// What a nurse needs on arrival. `report_to` and `arrival_instructions` are required:
/// a shift cannot open without them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffPacket {
    pub report_to: String,
    pub arrival_instructions: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parking: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_notes: Option<String>,
    #[serde(default)]
    pub exceptions: Vec<String>,
}

impl HandoffPacket {
    /// Trims every text and checks what is required and how long things may be.
    pub fn validated(mut self) -> Result<Self, String> {
        fn text(value: &str, name: &str, max: usize, required: bool) -> Result<String, String> {
            let value = value.trim().to_owned();
            // Only visible characters count: a zero-width space is not whom to report to.
            if required && shiftwire_core::text::is_blank(&value) {
                return Err(format!("handoff.{name} is required and must not be blank"));
            }
            if value.chars().count() > max {
                return Err(format!("handoff.{name} must be at most {max} characters"));
            }
            Ok(value)
        }
        self.report_to = text(&self.report_to, "report_to", 500, true)?;
        self.arrival_instructions = text(
            &self.arrival_instructions,
            "arrival_instructions",
            2000,
            true,
        )?;
        self.parking = self
            .parking
            .map(|p| text(&p, "parking", 1000, false))
            .transpose()?
            .filter(|p| !p.is_empty());
        self.unit_notes = self
            .unit_notes
            .map(|n| text(&n, "unit_notes", 2000, false))
            .transpose()?
            .filter(|n| !n.is_empty());
        if self.exceptions.len() > 20 {
            return Err("handoff.exceptions holds at most 20 items".into());
        }
        self.exceptions = self
            .exceptions
            .iter()
            .map(|e| text(e, "exceptions[]", 500, true))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }
}

/// A facility as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Facility {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub location: Coordinates,
    pub timezone: String,
    pub state: String,
    pub geofence_m: i32,
    pub created_at: DateTime<Utc>,
}

pub struct NewFacility {
    pub name: String,
    pub address: String,
    pub location: Coordinates,
    pub timezone: String,
    pub state: shiftwire_core::UsState,
    pub geofence_m: i32,
}

/// A shift to post: its terms (validated; the start must also be in the future when it
/// is posted) and its handoff packet.
pub struct NewShift {
    pub terms: ShiftTerms,
    pub handoff: HandoffPacket,
    /// For this long after posting (0 to 120 minutes) only the facility's favourites are
    /// offered the shift and may claim it.
    pub favourites_first_minutes: u16,
}

/// The longest favourites-first window.
pub const MAX_FAVOURITES_FIRST_MINUTES: u16 = 120;

/// A scheduler's change to a shift; `None` leaves a field as it is. The window is checked
/// with the other half as it stands.
#[derive(Default)]
pub struct ShiftPatch {
    pub role: Option<CredentialKind>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub hourly_rate_cents: Option<HourlyRate>,
    pub required_certifications: Option<Vec<CredentialKind>>,
    pub unit: Option<Unit>,
    pub handoff: Option<HandoffPacket>,
}

/// Who booked a shift and whether they have read its handoff packet.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftBooking {
    pub id: Uuid,
    pub nurse_id: Uuid,
    pub nurse_name: Option<String>,
    pub handoff_version: i32,
    pub handoff_acknowledged: bool,
    /// When the nurse, on her way, said she would arrive.
    pub eta_at: Option<DateTime<Utc>>,
}

/// A shift as its facility's schedulers see it.
#[derive(Debug, Clone, Serialize)]
pub struct Shift {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub owner_id: Uuid,
    #[serde(flatten)]
    pub terms: ShiftTerms,
    pub handoff: HandoffPacket,
    pub handoff_version: i32,
    pub status: ShiftStatus,
    /// Still open within the unfilled-alert window before its start.
    pub at_risk: bool,
    pub release_count: i32,
    pub cancel_reason: Option<String>,
    pub booking: Option<ShiftBooking>,
    /// When the rate was last raised by a boost (the shift counts as urgent).
    pub boosted_at: Option<DateTime<Utc>>,
    /// Its nurse did not come and it went back out (claimable after its start).
    pub reopened_after_no_show: bool,
    pub created_at: DateTime<Utc>,
}

/// An open shift as a nurse sees it in nearby search: no other nurse's data.
#[derive(Debug, Clone, Serialize)]
pub struct NearbyShift {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub facility_name: String,
    pub facility_location: Coordinates,
    #[serde(flatten)]
    pub terms: ShiftTerms,
    /// Geodesic distance (WGS 84) from the search point.
    pub distance_km: f64,
    /// Great-circle distance in metres: the order of results and of the page cursor.
    pub order_key: f64,
}

/// A nurse's booking with everything needed to arrive: shift, facility, handoff packet.
/// Serialised as the nurse sees it, in `GET /v1/me/bookings` and `booking.updated` alike.
#[derive(Debug, Clone, Serialize)]
pub struct Booking {
    pub id: Uuid,
    pub status: BookingStatus,
    #[serde(skip)]
    pub nurse_id: Uuid,
    pub shift: BookedShift,
    pub facility: Facility,
    pub handoff: HandoffPacket,
    pub handoff_version: i32,
    pub handoff_acknowledged: bool,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub worked_minutes: Option<i32>,
    /// Why a cancelled booking was cancelled: `facility_cancelled` or `nurse_ineligible`.
    pub cancel_reason: Option<String>,
    /// The scheduler's words, or the eligibility rule the nurse no longer meets.
    pub cancel_detail: Option<String>,
    pub on_the_way_at: Option<DateTime<Utc>>,
    pub eta_at: Option<DateTime<Utc>>,
    pub no_show_at: Option<DateTime<Utc>>,
    /// Pay the facility owes for cancelling less than 24 h before the start.
    pub late_cancel_pay_minutes: i32,
    pub created_at: DateTime<Utc>,
}

/// The shift of a booking, as its nurse sees it.
#[derive(Debug, Clone, Serialize)]
pub struct BookedShift {
    pub id: Uuid,
    pub status: ShiftStatus,
    #[serde(flatten)]
    pub terms: ShiftTerms,
}

/// Nearby search parameters, already validated.
#[derive(Debug, Clone)]
pub struct NearbyQuery {
    /// Where to search from; `None`: the nurse's home.
    pub point: Option<Coordinates>,
    pub radius_km: f64,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub role: Option<CredentialKind>,
    /// `(order_key, id)` of the last item of the previous page.
    pub after: Option<(f64, Uuid)>,
    pub limit: i64,
}
