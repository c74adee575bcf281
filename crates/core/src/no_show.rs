//! After the claim: when a nurse may say she is on her way, when a booking nobody checked
//! in to becomes a no-show, and whether its shift still goes back out.

use chrono::{DateTime, Duration, Utc};

/// A nurse may say she is on her way from this long before the start.
pub const ON_THE_WAY_OPENS_BEFORE: Duration = Duration::hours(3);
/// The longest ETA she may give, in minutes.
pub const MAX_ETA_MINUTES: i64 = 360;
/// A nurse on her way has until her ETA plus this.
pub const ETA_GRACE: Duration = Duration::minutes(15);
/// ... but never longer than this after the start.
pub const ON_THE_WAY_LATEST: Duration = Duration::minutes(60);
/// A no-show's shift goes back out only if at least this much of it remains; it may then
/// be claimed until this long before its end.
pub const REOFFER_MIN_REMAINING: Duration = Duration::minutes(60);

/// When a booking expected from `starts_at` becomes a no-show if nobody checked in:
/// `starts_at + grace`, or for a nurse on her way with `eta`, her ETA + 15 minutes if that
/// is later, at most 60 minutes after the start. Saying she is on her way never shortens
/// the grace everyone has. A booking claimed after its shift started (a shift offered
/// again after a no-show) is expected from its claim: see [`expected_from`].
pub fn deadline(
    starts_at: DateTime<Utc>,
    eta: Option<DateTime<Utc>>,
    grace: Duration,
) -> DateTime<Utc> {
    let plain = starts_at + grace;
    match eta {
        None => plain,
        Some(eta) => plain
            .max(eta + ETA_GRACE)
            .min((starts_at + ON_THE_WAY_LATEST).max(plain)),
    }
}

/// When the nurse of a booking claimed at `claimed_at` is expected: the shift's start, or
/// the claim if it came later.
pub fn expected_from(starts_at: DateTime<Utc>, claimed_at: DateTime<Utc>) -> DateTime<Utc> {
    starts_at.max(claimed_at)
}

/// Until when a shift ending at `ends_at` may be claimed once it re-opened after a
/// no-show at `now`: `None` if less than [`REOFFER_MIN_REMAINING`] of it remains (it is
/// then not offered again).
pub fn reoffer_until(ends_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (ends_at - now >= REOFFER_MIN_REMAINING).then(|| ends_at - REOFFER_MIN_REMAINING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn start() -> DateTime<Utc> {
        "2026-12-01T07:00:00Z".parse().expect("time")
    }

    #[test]
    fn the_deadline_by_example() {
        let grace = Duration::minutes(15);
        let m = Duration::minutes;
        assert_eq!(deadline(start(), None, grace), start() + m(15));
        // On the way, expected 20 minutes late: until 35 minutes after the start.
        assert_eq!(
            deadline(start(), Some(start() + m(20)), grace),
            start() + m(35)
        );
        // Expected early: the plain grace still holds.
        assert_eq!(
            deadline(start(), Some(start() - m(30)), grace),
            start() + m(15)
        );
        // Expected two hours late: at most an hour after the start.
        assert_eq!(
            deadline(start(), Some(start() + m(120)), grace),
            start() + m(60)
        );
        // A grace longer than the hour is never cut by an ETA.
        assert_eq!(
            deadline(start(), Some(start() + m(5)), m(90)),
            start() + m(90)
        );
    }

    #[test]
    fn a_shift_goes_back_out_while_an_hour_remains() {
        let ends = start() + Duration::hours(8);
        assert_eq!(
            reoffer_until(ends, ends - Duration::minutes(60)),
            Some(ends - Duration::minutes(60))
        );
        assert_eq!(reoffer_until(ends, ends - Duration::minutes(59)), None);
        assert_eq!(
            reoffer_until(ends, start()),
            Some(ends - Duration::minutes(60))
        );
    }

    proptest! {
        /// The deadline is never before the plain grace, and with an ETA never after the
        /// later of the plain grace and an hour past the start.
        #[test]
        fn the_deadline_stays_in_its_bounds(eta in proptest::option::of(-600i64..600), grace in 0i64..120) {
            let grace = Duration::minutes(grace);
            let eta = eta.map(|m| start() + Duration::minutes(m));
            let d = deadline(start(), eta, grace);
            prop_assert!(d >= start() + grace);
            prop_assert!(d <= (start() + grace).max(start() + ON_THE_WAY_LATEST));
            if let Some(eta) = eta {
                prop_assert!(d >= (eta + ETA_GRACE).min(start() + ON_THE_WAY_LATEST));
            }
        }
    }
}
