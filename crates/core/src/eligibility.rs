//! Who may take a shift: the one implementation of the rule, used by the claim
//! transaction, by nearby search (whose SQL filters are tested to agree with it) and by
//! the real-time dispatcher.

use crate::{Coordinates, CredentialKind, ShiftTerms};
use chrono::{DateTime, NaiveDate, Utc};
use geo::{Distance, Geodesic, Point};
use serde::Serialize;

/// Slack when comparing a distance with a radius: a radius given in km, converted to
/// metres, may round a hair below the distance it was meant to include.
const DISTANCE_TOLERANCE_M: f64 = 0.001;

/// How long a live location reported over the WebSocket counts; after that, home.
pub const LIVE_LOCATION_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// Geodesic distance on the WGS 84 ellipsoid, in metres (what PostGIS `geography` computes).
pub fn distance_m(a: Coordinates, b: Coordinates) -> f64 {
    Geodesic.distance(Point::new(a.lon(), a.lat()), Point::new(b.lon(), b.lat()))
}

/// An approved credential, as eligibility needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCredential {
    pub kind: CredentialKind,
    /// Issuing state of a licence; `None` for certifications.
    pub state: Option<String>,
    pub multistate: bool,
    pub expires_on: NaiveDate,
}

/// What eligibility needs to know about a nurse.
#[derive(Debug, Clone)]
pub struct NurseFacts {
    pub nurse_id: uuid::Uuid,
    pub suspended: bool,
    pub available: bool,
    /// Approved credentials only.
    pub credentials: Vec<HeldCredential>,
    /// Live location if reported in the last 15 minutes, else home.
    pub position: Option<Coordinates>,
    pub max_distance_km: f64,
    /// Time ranges of the nurse's current bookings.
    pub booked: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Facilities that will not have her back (do-not-return).
    pub blocked_at: Vec<uuid::Uuid>,
    /// Facilities that keep her among their favourites.
    pub favourite_of: Vec<uuid::Uuid>,
    /// Until then (an attendance score at or below 0) she may take shifts only where she
    /// is a favourite.
    pub restricted_until: Option<DateTime<Utc>>,
}

/// What eligibility needs to know about a shift.
#[derive(Debug, Clone)]
pub struct ShiftFacts {
    pub terms: ShiftTerms,
    pub facility_state: String,
    pub facility_location: Coordinates,
    /// Nurses who may not take this shift: those who did not come to it before.
    pub excluded: Vec<uuid::Uuid>,
    pub facility_id: uuid::Uuid,
    /// Until then only the facility's favourites may take it.
    pub favourites_until: Option<DateTime<Utc>>,
}

/// What the rooms that own them say of a nurse's standing: whether her account is
/// suspended (accounts) and her approved credentials (verification).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    pub suspended: bool,
    /// Approved credentials only.
    pub credentials: Vec<HeldCredential>,
}

/// A nurse's eligibility facts with both positions they may be matched from.
#[derive(Debug, Clone)]
pub struct NurseRecord {
    /// `position` is the live location while fresh, else home.
    pub facts: NurseFacts,
    pub home: Option<Coordinates>,
    /// The last live location and when it was reported.
    pub live: Option<(Coordinates, DateTime<Utc>)>,
}

impl NurseRecord {
    /// Where the nurse is matched from at `now`: live if fresh, else home.
    pub fn position_at(&self, now: DateTime<Utc>) -> Option<Coordinates> {
        match self.live {
            Some((live, at)) if now - at <= LIVE_LOCATION_TTL => Some(live),
            _ => self.home,
        }
    }

    /// The record with `facts.position` set for `now`.
    pub fn positioned(mut self, now: DateTime<Utc>) -> Self {
        self.facts.position = self.position_at(now);
        self
    }
}

/// The rule that refused a nurse, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ineligible {
    Suspended,
    NotVerified,
    Unavailable,
    /// No approved licence of the shift's role.
    Role,
    /// A licence of the role, but not valid in the facility's state.
    LicenceState,
    /// The licence or a required certification is missing or expires before the shift ends.
    CertificationExpired,
    TooFar,
    ScheduleConflict,
    /// She was booked on this shift and did not come; it went back out to others.
    MissedThisShift,
    /// The facility will not have her back. She is told no more than that.
    NotAtThisFacility,
    /// The shift is offered to the facility's favourites first, and the window is open.
    FavouritesFirst,
    /// Her attendance score fell to 0 or below: for 7 days she may take shifts only
    /// where she is a favourite.
    AttendanceRestricted,
}

impl Ineligible {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspended => "suspended",
            Self::NotVerified => "not_verified",
            Self::Unavailable => "unavailable",
            Self::Role => "role",
            Self::LicenceState => "licence_state",
            Self::CertificationExpired => "certification_expired",
            Self::TooFar => "too_far",
            Self::ScheduleConflict => "schedule_conflict",
            Self::MissedThisShift => "missed_this_shift",
            Self::NotAtThisFacility => "not_at_this_facility",
            Self::FavouritesFirst => "favourites_first",
            Self::AttendanceRestricted => "attendance_restricted",
        }
    }
}

/// The last calendar day (UTC) a credential must still be valid on to cover the shift.
fn last_day(shift: &ShiftFacts) -> NaiveDate {
    shift.terms.ends_at().date_naive()
}

/// Whether `nurse` may take `shift` at `now`.
pub fn eligibility(
    nurse: &NurseFacts,
    shift: &ShiftFacts,
    now: DateTime<Utc>,
) -> Result<(), Ineligible> {
    eligible_at_distance(nurse, shift, now).map(|_| ())
}

/// [`eligibility`], answering with the distance in metres from the nurse's position to
/// the facility when eligible (offers show it; computed once).
pub fn eligible_at_distance(
    nurse: &NurseFacts,
    shift: &ShiftFacts,
    now: DateTime<Utc>,
) -> Result<f64, Ineligible> {
    if nurse.suspended {
        return Err(Ineligible::Suspended);
    }
    holds_a_licence(nurse, now)?;
    if !nurse.available {
        return Err(Ineligible::Unavailable);
    }
    if shift.excluded.contains(&nurse.nurse_id) {
        return Err(Ineligible::MissedThisShift);
    }
    if nurse.blocked_at.contains(&shift.facility_id) {
        return Err(Ineligible::NotAtThisFacility);
    }
    let favourite = nurse.favourite_of.contains(&shift.facility_id);
    if !favourite && nurse.restricted_until.is_some_and(|until| now < until) {
        return Err(Ineligible::AttendanceRestricted);
    }
    if !favourite && shift.favourites_until.is_some_and(|until| now < until) {
        return Err(Ineligible::FavouritesFirst);
    }
    credentials_cover(nurse, shift, now)?;
    let distance = nurse
        .position
        .map(|p| distance_m(p, shift.facility_location))
        .filter(|d| *d <= nurse.max_distance_km * 1000.0 + DISTANCE_TOLERANCE_M)
        .ok_or(Ineligible::TooFar)?;
    if nurse
        .booked
        .iter()
        .any(|(start, end)| shift.terms.window.overlaps(*start, *end))
    {
        return Err(Ineligible::ScheduleConflict);
    }
    Ok(distance)
}

/// Whether a nurse who booked `shift` may still work it: the rules a booking keeps
/// following after the claim (suspension, the licence and certifications through the
/// shift's end, and the facility not blocking her). Availability, distance, schedule,
/// favourites and attendance were settled by the claim: a nurse who moves house or marks
/// herself unavailable keeps the shifts she already took.
pub fn keeps_booking(
    nurse: &NurseFacts,
    shift: &ShiftFacts,
    now: DateTime<Utc>,
) -> Result<(), Ineligible> {
    if nurse.suspended {
        return Err(Ineligible::Suspended);
    }
    holds_a_licence(nurse, now)?;
    if nurse.blocked_at.contains(&shift.facility_id) {
        return Err(Ineligible::NotAtThisFacility);
    }
    credentials_cover(nurse, shift, now)
}

/// An approved licence that has not expired: what makes a nurse verified.
fn holds_a_licence(nurse: &NurseFacts, now: DateTime<Utc>) -> Result<(), Ineligible> {
    let today = now.date_naive();
    if nurse
        .credentials
        .iter()
        .any(|c| c.kind.is_licence() && c.expires_on >= today)
    {
        Ok(())
    } else {
        Err(Ineligible::NotVerified)
    }
}

/// A licence of the shift's role, valid in the facility's state (or multistate) through
/// the shift's last day, and every required certification through that day too.
fn credentials_cover(
    nurse: &NurseFacts,
    shift: &ShiftFacts,
    now: DateTime<Utc>,
) -> Result<(), Ineligible> {
    let today = now.date_naive();
    let of_role: Vec<&HeldCredential> = nurse
        .credentials
        .iter()
        .filter(|c| c.kind == shift.terms.role && c.expires_on >= today)
        .collect();
    if of_role.is_empty() {
        return Err(Ineligible::Role);
    }
    let in_state: Vec<&&HeldCredential> = of_role
        .iter()
        .filter(|c| c.multistate || c.state.as_deref() == Some(shift.facility_state.as_str()))
        .collect();
    if in_state.is_empty() {
        return Err(Ineligible::LicenceState);
    }
    let through = last_day(shift);
    if !in_state.iter().any(|c| c.expires_on >= through) {
        return Err(Ineligible::CertificationExpired);
    }
    for required in &shift.terms.required_certifications {
        let held = nurse
            .credentials
            .iter()
            .any(|c| c.kind == *required && c.expires_on >= through);
        if !held {
            return Err(Ineligible::CertificationExpired);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HourlyRate, ShiftWindow, Unit};
    use chrono::Duration;
    use proptest::prelude::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).expect("coordinates")
    }

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().expect("time")
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn rn(state: &str) -> HeldCredential {
        HeldCredential {
            kind: CredentialKind::RN,
            state: Some(state.into()),
            multistate: false,
            expires_on: date("2028-03-31"),
        }
    }

    fn nurse() -> NurseFacts {
        NurseFacts {
            nurse_id: uuid::Uuid::nil(),
            suspended: false,
            available: true,
            credentials: vec![
                rn("CA"),
                HeldCredential {
                    kind: CredentialKind::BLS,
                    state: None,
                    multistate: false,
                    expires_on: date("2027-01-31"),
                },
            ],
            position: Some(at(37.80, -122.27)),
            max_distance_km: 25.0,
            booked: vec![],
            blocked_at: vec![],
            favourite_of: vec![],
            restricted_until: None,
        }
    }

    fn shift() -> ShiftFacts {
        ShiftFacts {
            terms: ShiftTerms::new(
                CredentialKind::RN,
                window(now() + Duration::hours(2), now() + Duration::hours(14)),
                HourlyRate::new(9000).expect("rate"),
                Unit::new("ICU").expect("unit"),
                vec![CredentialKind::BLS],
            )
            .expect("terms"),
            facility_state: "CA".into(),
            facility_location: at(37.74, -122.385),
            excluded: vec![],
            facility_id: uuid::Uuid::from_u128(42),
            favourites_until: None,
        }
    }

    fn window(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> ShiftWindow {
        ShiftWindow::new(starts_at, ends_at).expect("window")
    }

    #[test]
    fn an_eligible_nurse_passes() {
        assert_eq!(eligibility(&nurse(), &shift(), now()), Ok(()));
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let check = |n: NurseFacts, s: ShiftFacts| eligibility(&n, &s, now()).err();
        let mut n = nurse();
        n.suspended = true;
        assert_eq!(check(n, shift()), Some(Ineligible::Suspended));
        let mut n = nurse();
        n.credentials.retain(|c| !c.kind.is_licence());
        assert_eq!(check(n, shift()), Some(Ineligible::NotVerified));
        let mut n = nurse();
        n.available = false;
        assert_eq!(check(n, shift()), Some(Ineligible::Unavailable));
        let mut s = shift();
        s.excluded = vec![uuid::Uuid::from_u128(7), nurse().nurse_id];
        assert_eq!(check(nurse(), s), Some(Ineligible::MissedThisShift));
        let mut n = nurse();
        n.blocked_at = vec![shift().facility_id];
        assert_eq!(
            check(n.clone(), shift()),
            Some(Ineligible::NotAtThisFacility)
        );
        assert_eq!(
            keeps_booking(&n, &shift(), now()),
            Err(Ineligible::NotAtThisFacility),
            "a block ends her bookings there"
        );
        let mut n = nurse();
        n.restricted_until = Some(now() + Duration::days(3));
        assert_eq!(
            check(n.clone(), shift()),
            Some(Ineligible::AttendanceRestricted)
        );
        n.favourite_of = vec![shift().facility_id];
        assert_eq!(
            check(n, shift()),
            None,
            "a favourite is welcome while restricted"
        );
        let mut n = nurse();
        n.restricted_until = Some(now());
        assert_eq!(check(n, shift()), None, "the restriction lifts at its end");
        let mut s = shift();
        s.favourites_until = Some(now() + Duration::minutes(30));
        assert_eq!(check(nurse(), s.clone()), Some(Ineligible::FavouritesFirst));
        let mut n = nurse();
        n.favourite_of = vec![s.facility_id];
        assert_eq!(check(n, s.clone()), None);
        s.favourites_until = Some(now());
        assert_eq!(check(nurse(), s), None, "then everyone eligible");
        let mut s = shift();
        s.terms.role = CredentialKind::NP;
        assert_eq!(check(nurse(), s), Some(Ineligible::Role));
        let mut s = shift();
        s.facility_state = "NV".into();
        assert_eq!(check(nurse(), s), Some(Ineligible::LicenceState));
        let mut n = nurse();
        n.credentials[0].multistate = true;
        let mut s = shift();
        s.facility_state = "NV".into();
        assert_eq!(
            check(n, s),
            Ok(()).err(),
            "a multistate licence is valid elsewhere"
        );
        let mut s = shift();
        s.terms.required_certifications.push(CredentialKind::ACLS);
        assert_eq!(check(nurse(), s), Some(Ineligible::CertificationExpired));
        let mut s = shift();
        s.terms.window = window(
            "2027-01-31T20:00:00Z".parse().expect("time"),
            "2027-02-01T04:00:00Z".parse().expect("time"),
        );
        assert_eq!(
            check(nurse(), s),
            Some(Ineligible::CertificationExpired),
            "BLS lapses mid-shift"
        );
        let mut n = nurse();
        n.max_distance_km = 5.0;
        assert_eq!(check(n, shift()), Some(Ineligible::TooFar));
        let mut n = nurse();
        n.position = None;
        assert_eq!(check(n, shift()), Some(Ineligible::TooFar));
        let mut n = nurse();
        n.booked
            .push((now() + Duration::hours(13), now() + Duration::hours(20)));
        assert_eq!(check(n, shift()), Some(Ineligible::ScheduleConflict));
        let mut n = nurse();
        n.booked
            .push((now() + Duration::hours(14), now() + Duration::hours(20)));
        assert_eq!(
            check(n, shift()),
            Ok(()).err(),
            "back-to-back shifts do not overlap"
        );
    }

    #[test]
    fn a_booking_follows_suspension_and_credentials_only() {
        let keeps = |n: NurseFacts| keeps_booking(&n, &shift(), now()).err();
        assert_eq!(keeps(nurse()), None);
        // Settled by the claim: availability, distance and other bookings.
        let mut n = nurse();
        n.available = false;
        n.position = None;
        n.booked
            .push((now() + Duration::hours(13), now() + Duration::hours(20)));
        assert_eq!(keeps(n), None);
        let mut n = nurse();
        n.suspended = true;
        assert_eq!(keeps(n), Some(Ineligible::Suspended));
        let mut n = nurse();
        n.credentials.retain(|c| c.kind != CredentialKind::RN);
        assert_eq!(keeps(n), Some(Ineligible::NotVerified));
        let mut n = nurse();
        n.credentials[0].expires_on = now().date_naive();
        n.credentials.push(HeldCredential {
            kind: CredentialKind::LPN,
            state: Some("CA".into()),
            multistate: false,
            expires_on: date("2030-01-01"),
        });
        assert_eq!(
            keeps(n),
            Some(Ineligible::CertificationExpired),
            "the RN licence lapses before the shift ends"
        );
        let mut n = nurse();
        n.credentials.retain(|c| c.kind != CredentialKind::BLS);
        assert_eq!(keeps(n), Some(Ineligible::CertificationExpired));
    }

    #[test]
    fn distances_are_geodesic() {
        // One degree of latitude at the equator is 110.574 km on WGS 84.
        let d = distance_m(at(0.0, 0.0), at(1.0, 0.0));
        assert!((d - 110_574.0).abs() < 1.0, "{d}");
        // Across the antimeridian the short way round.
        let d = distance_m(at(0.0, 179.9), at(0.0, -179.9));
        assert!((d - 22_263.9).abs() < 1.0, "{d}");
        // At a pole every longitude is the same point.
        assert!(distance_m(at(90.0, 0.0), at(90.0, 120.0)) < 1e-6);
    }

    proptest! {
        /// A nurse eligible for a shift keeps it as a booking; one who may not keep it
        /// could not have claimed it.
        #[test]
        fn keeping_a_booking_is_implied_by_eligibility(
            suspended: bool, available: bool, km in 0.0f64..50.0,
            rn_days in -5i64..800, bls_days in -5i64..800, multistate: bool,
            state in prop::sample::select(vec!["CA", "NV"]),
        ) {
            let mut n = nurse();
            n.suspended = suspended;
            n.available = available;
            n.max_distance_km = km;
            n.credentials[0].expires_on = now().date_naive() + Duration::days(rn_days);
            n.credentials[0].multistate = multistate;
            n.credentials[1].expires_on = now().date_naive() + Duration::days(bls_days);
            let mut s = shift();
            s.facility_state = state.into();
            if eligibility(&n, &s, now()).is_ok() {
                prop_assert_eq!(keeps_booking(&n, &s, now()), Ok(()));
            }
            if keeps_booking(&n, &s, now()).is_err() {
                prop_assert!(eligibility(&n, &s, now()).is_err());
            }
        }

        /// Blocks, favourites and the attendance restriction: a blocked nurse is never
        /// eligible there; while a favourites window or her restriction holds, only a
        /// favourite is; outside both, being a favourite changes nothing.
        #[test]
        fn blocks_and_favourites_decide_as_the_contract_says(
            blocked: bool, favourite: bool, elsewhere: bool,
            restricted_min in proptest::option::of(-600i64..600),
            window_min in proptest::option::of(-120i64..120),
        ) {
            let s = {
                let mut s = shift();
                s.favourites_until = window_min.map(|m| now() + Duration::minutes(m));
                s
            };
            let other = uuid::Uuid::from_u128(99);
            let mut n = nurse();
            n.restricted_until = restricted_min.map(|m| now() + Duration::minutes(m));
            if blocked { n.blocked_at.push(s.facility_id); }
            if favourite { n.favourite_of.push(s.facility_id); }
            // Another facility's block or favour never matters here.
            if elsewhere { n.blocked_at.push(other); n.favourite_of.push(other); }
            let restricted = restricted_min.is_some_and(|m| m > 0);
            let window = window_min.is_some_and(|m| m > 0);
            let result = eligibility(&n, &s, now());
            if blocked {
                prop_assert_eq!(result, Err(Ineligible::NotAtThisFacility));
            } else if !favourite && restricted {
                prop_assert_eq!(result, Err(Ineligible::AttendanceRestricted));
            } else if !favourite && window {
                prop_assert_eq!(result, Err(Ineligible::FavouritesFirst));
            } else {
                prop_assert_eq!(result, Ok(()));
            }
            // A booking survives everything but the block.
            prop_assert_eq!(keeps_booking(&n, &s, now()).is_ok(), !blocked);
        }

        #[test]
        fn distance_is_symmetric_and_non_negative(
            lat1 in -90.0f64..=90.0, lon1 in -180.0f64..=180.0,
            lat2 in -90.0f64..=90.0, lon2 in -180.0f64..=180.0,
        ) {
            let (a, b) = (at(lat1, lon1), at(lat2, lon2));
            let ab = distance_m(a, b);
            prop_assert!(ab >= 0.0 && ab.is_finite());
            prop_assert!((ab - distance_m(b, a)).abs() < 1e-3);
            // Nothing on Earth is more than half a meridian away.
            prop_assert!(ab <= 20_004_000.0);
        }

        /// "Within R" means distance ≤ R: a nurse whose radius is exactly the distance is
        /// eligible, and with zero radius only a nurse at the facility is.
        #[test]
        fn the_radius_is_inclusive(lat in -89.0f64..=89.0, lon in -179.0f64..=179.0, dlat in -0.5f64..=0.5, dlon in -0.5f64..=0.5) {
            let facility = at(lat, lon);
            let position = at(lat + dlat, lon + dlon);
            let mut n = nurse();
            n.position = Some(position);
            n.max_distance_km = distance_m(position, facility) / 1000.0;
            let mut s = shift();
            s.facility_location = facility;
            prop_assert_eq!(eligibility(&n, &s, now()), Ok(()));
            let exact_km = n.max_distance_km;
            n.max_distance_km *= 0.999;
            // 0.1 % short of the distance is outside (beyond the 1 mm rounding slack).
            if exact_km > 0.01 {
                prop_assert_eq!(eligibility(&n, &s, now()), Err(Ineligible::TooFar));
            }
            n.max_distance_km = 0.0;
            n.position = Some(facility);
            prop_assert_eq!(eligibility(&n, &s, now()), Ok(()));
        }
    }
}
