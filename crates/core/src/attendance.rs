//! Attendance: the points a nurse's bookings earn and cost, and the score they make.
//! Every change carries the reason the nurse reads. The tiers follow what the leading
//! marketplace publishes.

use chrono::{DateTime, Duration, Utc};

/// The score a nurse starts with, and its ceiling.
pub const SCORE_CAP: i32 = 100;
/// A shift worked (checked out).
pub const WORKED_POINTS: i32 = 5;
/// A booking not turned up to.
pub const NO_SHOW_POINTS: i32 = -100;
/// A release this soon after claiming is free, if the shift starts at least
/// [`FREE_UNDO_MIN_NOTICE`] later.
pub const FREE_UNDO_WINDOW: Duration = Duration::minutes(5);
pub const FREE_UNDO_MIN_NOTICE: Duration = Duration::hours(8);

/// A facility that cancels a booked shift with less notice than this owes its nurse
/// [`LATE_CANCEL_PAY_MINUTES`] of pay.
pub const LATE_CANCEL_NOTICE: Duration = Duration::hours(24);
pub const LATE_CANCEL_PAY_MINUTES: i32 = 120;

/// The pay, in minutes, a facility owes for cancelling at `now` a booked shift that
/// starts at `starts_at`: 2 hours with less than 24 hours' notice, else nothing.
pub fn late_cancel_pay_minutes(starts_at: DateTime<Utc>, now: DateTime<Utc>) -> i32 {
    if starts_at - now < LATE_CANCEL_NOTICE {
        LATE_CANCEL_PAY_MINUTES
    } else {
        0
    }
}

/// What releasing a booking costs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseCost {
    /// Zero or negative.
    pub points: i32,
    pub reason: String,
}

/// The cost of releasing, at `now`, a booking claimed at `claimed_at` of a shift that
/// starts at `starts_at`, by notice: more than 72 h −10, 24–72 h −25, 16–24 h −40,
/// 8–16 h −55, 4–8 h −70, less than 4 h −85. A tier's lower bound belongs to it (exactly
/// 24 h is 24–72 h). Free within 5 minutes of claiming a shift at least 8 h away.
pub fn release_cost(
    claimed_at: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ReleaseCost {
    let notice = starts_at - now;
    if now - claimed_at <= FREE_UNDO_WINDOW && notice >= FREE_UNDO_MIN_NOTICE {
        return ReleaseCost {
            points: 0,
            reason:
                "released within 5 minutes of claiming, at least 8 hours before the start: free"
                    .to_owned(),
        };
    }
    let hours = Duration::hours;
    let (points, tier) = if notice > hours(72) {
        (-10, "more than 72 hours")
    } else if notice >= hours(24) {
        (-25, "24 to 72 hours")
    } else if notice >= hours(16) {
        (-40, "16 to 24 hours")
    } else if notice >= hours(8) {
        (-55, "8 to 16 hours")
    } else if notice >= hours(4) {
        (-70, "4 to 8 hours")
    } else {
        (-85, "less than 4 hours")
    };
    ReleaseCost {
        points,
        reason: format!("released {tier} before the start"),
    }
}

/// The score after `points`, in the order they were earned: from [`SCORE_CAP`], never
/// above it (a worked shift at 100 stays 100).
pub fn score(points: impl IntoIterator<Item = i32>) -> i32 {
    points.into_iter().fold(SCORE_CAP, |score, p| {
        (score.saturating_add(p)).min(SCORE_CAP)
    })
}

/// How long a nurse whose score fell to 0 or below may take shifts only where she is a
/// favourite.
pub const RESTRICTION: Duration = Duration::days(7);

/// Until when a nurse with these point changes (`(at, points)`, oldest first) is
/// restricted: [`RESTRICTION`] after the last change that left her score at 0 or below,
/// or `None` if none did. (The caller compares it with now: it may lie in the past.)
pub fn restricted_until(
    changes: impl IntoIterator<Item = (DateTime<Utc>, i32)>,
) -> Option<DateTime<Utc>> {
    let mut score = SCORE_CAP;
    let mut until = None;
    for (at, points) in changes {
        score = score.saturating_add(points).min(SCORE_CAP);
        if score <= 0 && points < 0 {
            until = Some(at + RESTRICTION);
        }
    }
    until
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours_before: f64, claimed_minutes_ago: i64) -> ReleaseCost {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let starts = now + Duration::milliseconds((hours_before * 3_600_000.0) as i64);
        release_cost(now - Duration::minutes(claimed_minutes_ago), starts, now)
    }

    #[test]
    fn a_score_at_or_below_zero_restricts_for_seven_days_from_the_fall() {
        let t: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().expect("time");
        let h = Duration::hours;
        assert_eq!(
            restricted_until([(t, -85), (t + h(1), -10)]),
            None,
            "5 left"
        );
        assert_eq!(
            restricted_until([(t, -85), (t + h(1), -15)]),
            Some(t + h(1) + RESTRICTION),
            "exactly 0"
        );
        // A later fall while still at or below 0 starts the 7 days again; a worked
        // shift does not.
        assert_eq!(
            restricted_until([(t, -100), (t + h(2), 5), (t + h(3), -10)]),
            Some(t + h(3) + RESTRICTION)
        );
        assert_eq!(
            restricted_until([(t, -100), (t + h(2), 5)]),
            Some(t + RESTRICTION)
        );
    }

    #[test]
    fn a_facility_cancelling_inside_24_hours_owes_two_hours() {
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().expect("time");
        assert_eq!(late_cancel_pay_minutes(now + Duration::hours(24), now), 0);
        let just_inside = now + Duration::hours(24) - Duration::seconds(1);
        assert_eq!(late_cancel_pay_minutes(just_inside, now), 120);
        assert_eq!(
            late_cancel_pay_minutes(now + Duration::minutes(5), now),
            120
        );
    }

    #[test]
    fn each_tier_holds_its_lower_bound() {
        let cases = [
            (72.001, -10),
            (72.0, -25),
            (24.0, -25),
            (23.999, -40),
            (16.0, -40),
            (15.999, -55),
            (8.0, -55),
            (7.999, -70),
            (4.0, -70),
            (3.999, -85),
            (0.1, -85),
        ];
        for (hours, points) in cases {
            assert_eq!(at(hours, 60).points, points, "{hours} h before the start");
        }
        assert_eq!(
            at(30.0, 60).reason,
            "released 24 to 72 hours before the start"
        );
    }

    #[test]
    fn a_quick_undo_is_free_only_for_a_shift_at_least_8_hours_away() {
        assert_eq!(at(8.0, 5).points, 0);
        assert_eq!(at(100.0, 0).points, 0);
        assert_eq!(at(8.0, 6).points, -55, "after 5 minutes");
        assert_eq!(at(7.99, 1).points, -70, "a shift under 8 hours away");
    }

    #[test]
    fn the_score_starts_at_and_never_passes_100() {
        assert_eq!(score([]), 100);
        assert_eq!(score([WORKED_POINTS]), 100);
        assert_eq!(score([-25, WORKED_POINTS, WORKED_POINTS]), 85);
        assert_eq!(score([NO_SHOW_POINTS, -10]), -10);
        assert_eq!(score([-85, -85, WORKED_POINTS]), -65);
    }
}
