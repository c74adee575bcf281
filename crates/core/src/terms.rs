//! What a shift is, whatever shape carries it: its role, its window, its rate, its unit
//! and the certifications it requires. Validated once, here; every shift shape (the
//! scheduler's view, nearby search, a booking, an offer, the event that opens it, the
//! facts eligibility reads) nests one [`ShiftTerms`], serialised flat as before.

use crate::CredentialKind;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The shortest shift: a shorter one is a typo, not a shift.
pub const MIN_SHIFT: Duration = Duration::hours(1);
/// The longest shift.
pub const MAX_SHIFT: Duration = Duration::hours(24);

/// Why terms were refused; the message is what the scheduler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTerms {
    #[error("role must be RN, LPN, CNA or NP")]
    Role,
    #[error("starts_at must be in the future")]
    StartsInThePast,
    #[error("ends_at must be after starts_at")]
    EndsBeforeStart,
    #[error("a shift lasts at least 1 hour")]
    TooShort,
    #[error("a shift lasts at most 24 hours")]
    TooLong,
    #[error("hourly_rate_cents must be between 1 and 100000")]
    Rate,
    #[error("unit must be 1 to 100 characters")]
    Unit,
    #[error("required_certifications takes BLS, ACLS or PALS; the licence is the shift's role")]
    Certification,
}

/// Pay in US cents per hour: 1 to 100,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub struct HourlyRate(i32);

impl HourlyRate {
    pub fn new(cents: i32) -> Result<Self, InvalidTerms> {
        if (1..=100_000).contains(&cents) {
            Ok(Self(cents))
        } else {
            Err(InvalidTerms::Rate)
        }
    }

    /// A rate as the database holds it (checked when it was written).
    pub fn from_stored(cents: i32) -> Self {
        Self(cents)
    }

    pub fn cents(self) -> i32 {
        self.0
    }
}

impl TryFrom<i32> for HourlyRate {
    type Error = InvalidTerms;
    fn try_from(cents: i32) -> Result<Self, Self::Error> {
        Self::new(cents)
    }
}

impl From<HourlyRate> for i32 {
    fn from(rate: HourlyRate) -> Self {
        rate.0
    }
}

/// The unit a shift is on ("ICU", "Med-Surg 4 West"): trimmed, 1 to 100 characters, some
/// of them visible.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Unit(String);

impl Unit {
    pub fn new(raw: &str) -> Result<Self, InvalidTerms> {
        let unit = raw.trim();
        if crate::text::is_blank(unit) || unit.chars().count() > 100 {
            return Err(InvalidTerms::Unit);
        }
        Ok(Self(unit.to_owned()))
    }

    /// A unit as the database holds it (checked when it was written).
    pub fn from_stored(unit: String) -> Self {
        Self(unit)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Unit {
    type Error = InvalidTerms;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(&raw)
    }
}

impl From<Unit> for String {
    fn from(unit: Unit) -> Self {
        unit.0
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When a shift runs: it ends after it starts, and lasts 1 to 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShiftWindow {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl ShiftWindow {
    pub fn new(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<Self, InvalidTerms> {
        if ends_at <= starts_at {
            return Err(InvalidTerms::EndsBeforeStart);
        }
        if ends_at - starts_at < MIN_SHIFT {
            return Err(InvalidTerms::TooShort);
        }
        if ends_at - starts_at > MAX_SHIFT {
            return Err(InvalidTerms::TooLong);
        }
        Ok(Self { starts_at, ends_at })
    }

    /// A window for a shift being posted or moved at `now`: it must also start later.
    pub fn upcoming(
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTerms> {
        if starts_at <= now {
            return Err(InvalidTerms::StartsInThePast);
        }
        Self::new(starts_at, ends_at)
    }

    /// A window as the database holds it (shifts posted before a rule existed keep it).
    pub fn from_stored(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Self {
        Self { starts_at, ends_at }
    }

    /// Whether the two windows share a moment (back to back is not overlapping).
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        start < self.ends_at && self.starts_at < end
    }
}

/// The terms of a shift: what a nurse agrees to when she claims it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShiftTerms {
    /// The licence the shift needs: RN, LPN, CNA or NP.
    pub role: CredentialKind,
    #[serde(flatten)]
    pub window: ShiftWindow,
    pub hourly_rate_cents: HourlyRate,
    pub unit: Unit,
    /// BLS, ACLS or PALS, sorted, each once.
    pub required_certifications: Vec<CredentialKind>,
}

impl ShiftTerms {
    pub fn new(
        role: CredentialKind,
        window: ShiftWindow,
        hourly_rate_cents: HourlyRate,
        unit: Unit,
        required_certifications: Vec<CredentialKind>,
    ) -> Result<Self, InvalidTerms> {
        if !role.is_licence() {
            return Err(InvalidTerms::Role);
        }
        Ok(Self {
            role,
            window,
            hourly_rate_cents,
            unit,
            required_certifications: certifications(required_certifications)?,
        })
    }

    /// Terms as the database holds them (checked when they were written).
    pub fn from_stored(
        role: CredentialKind,
        window: ShiftWindow,
        hourly_rate_cents: HourlyRate,
        unit: Unit,
        required_certifications: Vec<CredentialKind>,
    ) -> Self {
        Self {
            role,
            window,
            hourly_rate_cents,
            unit,
            required_certifications,
        }
    }

    pub fn starts_at(&self) -> DateTime<Utc> {
        self.window.starts_at
    }

    pub fn ends_at(&self) -> DateTime<Utc> {
        self.window.ends_at
    }
}

/// Required certifications: no licences (the licence is the role), sorted, each once.
pub fn certifications(mut kinds: Vec<CredentialKind>) -> Result<Vec<CredentialKind>, InvalidTerms> {
    if kinds.iter().any(|k| k.is_licence()) {
        return Err(InvalidTerms::Certification);
    }
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn terms_are_checked_once_and_serialise_flat() {
        let window =
            ShiftWindow::new(t("2027-01-01T07:00:00Z"), t("2027-01-01T19:00:00Z")).expect("window");
        let terms = ShiftTerms::new(
            CredentialKind::RN,
            window,
            HourlyRate::new(9500).expect("rate"),
            Unit::new("  ICU ").expect("unit"),
            vec![
                CredentialKind::PALS,
                CredentialKind::BLS,
                CredentialKind::PALS,
            ],
        )
        .expect("terms");
        assert_eq!(terms.unit.as_str(), "ICU");
        assert_eq!(
            terms.required_certifications,
            vec![CredentialKind::BLS, CredentialKind::PALS]
        );
        let json = serde_json::to_value(&terms).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "role": "RN", "starts_at": "2027-01-01T07:00:00Z",
                "ends_at": "2027-01-01T19:00:00Z", "hourly_rate_cents": 9500,
                "unit": "ICU", "required_certifications": ["BLS", "PALS"],
            })
        );
        let back: ShiftTerms = serde_json::from_value(json).expect("parse");
        assert_eq!(back, terms);
        let bad_rate = serde_json::json!({
            "role": "RN", "starts_at": "2027-01-01T07:00:00Z",
            "ends_at": "2027-01-01T19:00:00Z", "hourly_rate_cents": 0,
            "unit": "ICU", "required_certifications": [],
        });
        assert!(serde_json::from_value::<ShiftTerms>(bad_rate).is_err());
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let start = t("2027-01-01T07:00:00Z");
        assert_eq!(
            ShiftWindow::new(start, start).err(),
            Some(InvalidTerms::EndsBeforeStart)
        );
        assert_eq!(
            ShiftWindow::new(start, start + Duration::minutes(59)).err(),
            Some(InvalidTerms::TooShort)
        );
        assert_eq!(
            ShiftWindow::new(start, start + Duration::hours(25)).err(),
            Some(InvalidTerms::TooLong)
        );
        assert!(ShiftWindow::new(start, start + MIN_SHIFT).is_ok());
        assert!(ShiftWindow::new(start, start + MAX_SHIFT).is_ok());
        assert_eq!(
            ShiftWindow::upcoming(start, start + MIN_SHIFT, start).err(),
            Some(InvalidTerms::StartsInThePast)
        );
        assert_eq!(HourlyRate::new(0).err(), Some(InvalidTerms::Rate));
        assert_eq!(HourlyRate::new(100_001).err(), Some(InvalidTerms::Rate));
        assert_eq!(Unit::new(" \u{200B} ").err(), Some(InvalidTerms::Unit));
        assert_eq!(Unit::new(&"u".repeat(101)).err(), Some(InvalidTerms::Unit));
        assert_eq!(
            certifications(vec![CredentialKind::RN]).err(),
            Some(InvalidTerms::Certification)
        );
        let window = ShiftWindow::new(start, start + MIN_SHIFT).expect("window");
        let rate = HourlyRate::new(1).expect("rate");
        let unit = Unit::new("ICU").expect("unit");
        assert_eq!(
            ShiftTerms::new(CredentialKind::BLS, window, rate, unit, vec![]).err(),
            Some(InvalidTerms::Role)
        );
    }

    #[test]
    fn back_to_back_windows_do_not_overlap() {
        let w =
            ShiftWindow::new(t("2027-01-01T07:00:00Z"), t("2027-01-01T19:00:00Z")).expect("window");
        assert!(!w.overlaps(t("2027-01-01T19:00:00Z"), t("2027-01-02T07:00:00Z")));
        assert!(w.overlaps(t("2027-01-01T18:59:00Z"), t("2027-01-02T07:00:00Z")));
    }
}
