//! A nurse's notification preferences and what they let through: categories, a minimum
//! rate, roles, and quiet hours in her own time zone (daylight-saving changes included).

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use shiftwire_core::{CredentialKind, ShiftTerms};

/// Quiet hours: `start` to `end` local time in `timezone`; across midnight when `end` is
/// not after `start` (22:00–07:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub timezone: Tz,
}

impl QuietHours {
    /// Whether `at` falls in the quiet hours, read on the local clock of `timezone` (so a
    /// daylight-saving change moves them with the clock).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone).time();
        if self.start < self.end {
            self.start <= local && local < self.end
        } else if self.start > self.end {
            local >= self.start || local < self.end
        } else {
            // start == end: no quiet hours at all.
            false
        }
    }

    /// `HH:MM` of the start and end, as sent.
    pub fn shown(&self) -> (String, String) {
        (
            self.start.format("%H:%M").to_string(),
            self.end.format("%H:%M").to_string(),
        )
    }
}

/// What a nurse wants to hear about when her app is closed.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    pub push_offers: bool,
    pub sms_urgent: bool,
    pub quiet_hours: Option<QuietHours>,
    pub min_hourly_rate_cents: Option<i32>,
    pub roles: Option<Vec<CredentialKind>>,
}

impl Default for Preferences {
    /// The contract's defaults: offers pushed, no urgent SMS, no quiet hours, no filters.
    fn default() -> Self {
        Self {
            push_offers: true,
            sms_urgent: false,
            quiet_hours: None,
            min_hourly_rate_cents: None,
            roles: None,
        }
    }
}

impl Preferences {
    /// Whether an offer of a shift with these terms may be pushed to her at `now`.
    pub fn accepts_offer(&self, terms: &ShiftTerms, now: DateTime<Utc>) -> bool {
        self.push_offers && self.accepts_terms(terms) && !self.is_quiet(now)
    }

    /// Whether an urgent shift with these terms may be texted to her at `now`.
    pub fn accepts_urgent_sms(&self, terms: &ShiftTerms, now: DateTime<Utc>) -> bool {
        self.sms_urgent && self.accepts_terms(terms) && !self.is_quiet(now)
    }

    fn accepts_terms(&self, terms: &ShiftTerms) -> bool {
        let rate_ok = self
            .min_hourly_rate_cents
            .is_none_or(|min| terms.hourly_rate_cents.cents() >= min);
        let role_ok = self
            .roles
            .as_ref()
            .is_none_or(|roles| roles.contains(&terms.role));
        rate_ok && role_ok
    }

    pub fn is_quiet(&self, now: DateTime<Utc>) -> bool {
        self.quiet_hours.as_ref().is_some_and(|q| q.contains(now))
    }
}

/// Quiet hours as sent and shown: `{ start: "22:00", end: "07:00", timezone }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursBody {
    pub start: String,
    pub end: String,
    pub timezone: String,
}

/// Why a preferences change was refused; the message is what the nurse reads.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPreferences {
    #[error("quiet_hours.start and quiet_hours.end are times of day, HH:MM (for example 22:00)")]
    Time,
    #[error("quiet_hours.timezone must be an IANA time zone, for example America/Los_Angeles")]
    Timezone,
    #[error("min_hourly_rate_cents must be between 1 and 100000, or null")]
    Rate,
    #[error("roles takes RN, LPN, CNA or NP (or null for all)")]
    Role,
}

impl QuietHoursBody {
    pub fn parse(&self) -> Result<QuietHours, InvalidPreferences> {
        // Exactly `HH:MM`, as the schema says (chrono alone would take `7:00`).
        let time = |raw: &str| {
            let shaped = raw.len() == 5 && raw.as_bytes()[2] == b':';
            shaped
                .then(|| NaiveTime::parse_from_str(raw, "%H:%M").ok())
                .flatten()
                .ok_or(InvalidPreferences::Time)
        };
        Ok(QuietHours {
            start: time(&self.start)?,
            end: time(&self.end)?,
            timezone: self
                .timezone
                .parse::<Tz>()
                .map_err(|_| InvalidPreferences::Timezone)?,
        })
    }
}

pub(crate) fn check_rate(rate: Option<i32>) -> Result<Option<i32>, InvalidPreferences> {
    match rate {
        Some(r) if !(1..=100_000).contains(&r) => Err(InvalidPreferences::Rate),
        other => Ok(other),
    }
}

pub(crate) fn check_roles(
    roles: Option<Vec<CredentialKind>>,
) -> Result<Option<Vec<CredentialKind>>, InvalidPreferences> {
    match roles {
        Some(roles) if roles.iter().any(|r| !r.is_licence()) => Err(InvalidPreferences::Role),
        Some(mut roles) => {
            roles.sort_by_key(|r| r.as_str());
            roles.dedup();
            Ok(Some(roles))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(start: &str, end: &str, tz: &str) -> QuietHours {
        QuietHoursBody {
            start: start.into(),
            end: end.into(),
            timezone: tz.into(),
        }
        .parse()
        .expect("quiet hours")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn quiet_hours_across_midnight_follow_the_local_clock() {
        let q = quiet("22:00", "07:00", "America/Los_Angeles");
        // 23:30 PST on 14 Jan = 07:30 UTC; 07:30 PST = 15:30 UTC.
        assert!(q.contains(at("2027-01-15T07:30:00Z")));
        assert!(!q.contains(at("2027-01-15T15:30:00Z")));
        // 06:59 local is quiet, 07:00 is not.
        assert!(q.contains(at("2027-01-15T14:59:00Z")));
        assert!(!q.contains(at("2027-01-15T15:00:00Z")));
    }

    #[test]
    fn daylight_saving_moves_quiet_hours_with_the_clock() {
        let q = quiet("22:00", "07:00", "America/Los_Angeles");
        // Spring forward, Sunday 14 March 2027 (02:00 PST -> 03:00 PDT).
        // 06:30 PDT on the 14th = 13:30 UTC: still quiet by the local clock.
        assert!(q.contains(at("2027-03-14T13:30:00Z")));
        // 07:30 PDT = 14:30 UTC: quiet hours are over (in PST it would be 06:30, quiet).
        assert!(!q.contains(at("2027-03-14T14:30:00Z")));
        // Fall back, Sunday 7 November 2027 (02:00 PDT -> 01:00 PST).
        // 06:30 PST on the 7th = 14:30 UTC: quiet; 07:30 PST = 15:30 UTC: not.
        assert!(q.contains(at("2027-11-07T14:30:00Z")));
        assert!(!q.contains(at("2027-11-07T15:30:00Z")));
        // The repeated 01:30 hour is quiet both times.
        assert!(q.contains(at("2027-11-07T08:30:00Z")));
        assert!(q.contains(at("2027-11-07T09:30:00Z")));
    }

    #[test]
    fn daytime_quiet_hours_and_equal_bounds() {
        let q = quiet("13:00", "14:00", "UTC");
        assert!(q.contains(at("2027-01-01T13:30:00Z")));
        assert!(!q.contains(at("2027-01-01T14:00:00Z")));
        assert!(!quiet("09:00", "09:00", "UTC").contains(at("2027-01-01T09:00:00Z")));
    }

    #[test]
    fn bad_preferences_are_named() {
        let bad = |s: &str, e: &str, tz: &str| {
            QuietHoursBody {
                start: s.into(),
                end: e.into(),
                timezone: tz.into(),
            }
            .parse()
            .expect_err("refused")
        };
        assert_eq!(bad("25:00", "07:00", "UTC"), InvalidPreferences::Time);
        assert_eq!(bad("7:00", "07:00", "UTC"), InvalidPreferences::Time);
        assert_eq!(
            bad("22:00", "07:00", "Mars/Olympus"),
            InvalidPreferences::Timezone
        );
        assert_eq!(check_rate(Some(0)), Err(InvalidPreferences::Rate));
        assert_eq!(
            check_roles(Some(vec![CredentialKind::BLS])),
            Err(InvalidPreferences::Role)
        );
    }
}
