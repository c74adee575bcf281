//! Timesheets: the hours a check-out submits and what happens to them.
//!
//! `submitted → approved | adjusted | rejected` (the facility, or the auto-approval for
//! `approved`), `adjusted | rejected → disputed` (the nurse, within
//! [`DISPUTE_WINDOW`] of the decision), `disputed → approved` (an admin resolves it,
//! with the times that stand). Worked time is clock-out − clock-in − break, in whole
//! minutes, never negative.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long after an adjustment or a rejection the nurse may dispute it.
pub const DISPUTE_WINDOW: Duration = Duration::hours(48);
/// The longest span between clock-in and clock-out anyone may record: a 24-hour shift,
/// checked in 30 minutes early and counted until 30 minutes after its end, with room.
pub const MAX_SPAN: Duration = Duration::hours(26);
/// The longest break anyone may record.
pub const MAX_BREAK_MINUTES: i32 = 480;

/// Where a timesheet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimesheetStatus {
    Submitted,
    Approved,
    Adjusted,
    Disputed,
    Rejected,
}

named!(TimesheetStatus, UnknownTimesheetStatus, {
    Submitted => "submitted", Approved => "approved", Adjusted => "adjusted",
    Disputed => "disputed", Rejected => "rejected",
});

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown timesheet status")]
pub struct UnknownTimesheetStatus;

/// Something that happens to a timesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimesheetAction {
    /// Check-out created it.
    Submit,
    /// The facility accepted the hours as submitted.
    Approve,
    /// Nobody at the facility acted in time: Shiftwire accepted them.
    AutoApprove,
    /// The facility changed the times, with a reason.
    Adjust,
    /// The facility refused the hours, with a reason.
    Reject,
    /// The nurse contests an adjustment or a rejection, with a reason.
    Dispute,
    /// An admin settled a dispute with the times that stand.
    Resolve,
}

named!(TimesheetAction, UnknownTimesheetStatus, {
    Submit => "submitted", Approve => "approved", AutoApprove => "auto_approved",
    Adjust => "adjusted", Reject => "rejected", Dispute => "disputed", Resolve => "resolved",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} timesheet cannot be {action}")]
pub struct IllegalTimesheetTransition {
    pub from: TimesheetStatus,
    pub action: TimesheetAction,
}

impl TimesheetStatus {
    /// The status after `action`, or why it is not allowed. (`Submit` creates a timesheet;
    /// nothing already there can be submitted again.)
    pub fn apply(
        self,
        action: TimesheetAction,
    ) -> Result<TimesheetStatus, IllegalTimesheetTransition> {
        use TimesheetAction as A;
        use TimesheetStatus as S;
        match (self, action) {
            (S::Submitted, A::Approve | A::AutoApprove) => Ok(S::Approved),
            (S::Submitted, A::Adjust) => Ok(S::Adjusted),
            (S::Submitted, A::Reject) => Ok(S::Rejected),
            (S::Adjusted | S::Rejected, A::Dispute) => Ok(S::Disputed),
            (S::Disputed, A::Resolve) => Ok(S::Approved),
            (from, action) => Err(IllegalTimesheetTransition { from, action }),
        }
    }

    /// The hours are final and payroll pays them: approved (by the facility, by the
    /// auto-approval or by an admin's resolution), or adjusted with the dispute window
    /// closed without a dispute.
    pub fn is_payable(self, decided_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match self {
            Self::Approved => true,
            Self::Adjusted => decided_at.is_some_and(|at| !dispute_open(at, now)),
            Self::Submitted | Self::Disputed | Self::Rejected => false,
        }
    }
}

/// Whether a decision made at `decided_at` may still be disputed at `now` (48 hours,
/// the last instant included).
pub fn dispute_open(decided_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now <= decided_at + DISPUTE_WINDOW
}

/// Whether a timesheet submitted at `submitted_at` and left alone is approved
/// automatically at `now`, `after` the submission (at the deadline itself, it is).
pub fn auto_approval_due(submitted_at: DateTime<Utc>, after: Duration, now: DateTime<Utc>) -> bool {
    now >= submitted_at + after
}

/// Where check-out stops the count: at check-out, at most `cap_after` the shift's end.
pub fn counted_clock_out(
    checked_out_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    cap_after: Duration,
) -> DateTime<Utc> {
    checked_out_at.min(ends_at + cap_after)
}

/// Whole minutes from `clock_in` to `clock_out`, less the break; never negative.
pub fn worked_minutes(
    clock_in: DateTime<Utc>,
    clock_out: DateTime<Utc>,
    break_minutes: i32,
) -> i32 {
    let span = (clock_out - clock_in).num_minutes().max(0);
    let worked = span - i64::from(break_minutes.max(0));
    i32::try_from(worked.max(0)).unwrap_or(i32::MAX)
}

/// Times a person records on a timesheet (a facility's adjustment, an admin's
/// resolution), checked: clock-out after clock-in, at most [`MAX_SPAN`] apart, a break
/// of 0 to [`MAX_BREAK_MINUTES`] minutes and no longer than the time between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimesheetTimes {
    pub clock_in: DateTime<Utc>,
    pub clock_out: DateTime<Utc>,
    pub break_minutes: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTimesheetTimes {
    #[error("clock_out must be after clock_in")]
    OutBeforeIn,
    #[error("clock_in and clock_out may be at most 26 hours apart")]
    TooLong,
    #[error("break_minutes must be 0 to 480")]
    BreakOutOfRange,
    #[error("break_minutes must not be longer than the time between clock_in and clock_out")]
    BreakLongerThanSpan,
}

impl TimesheetTimes {
    pub fn new(
        clock_in: DateTime<Utc>,
        clock_out: DateTime<Utc>,
        break_minutes: i32,
    ) -> Result<Self, InvalidTimesheetTimes> {
        if clock_out <= clock_in {
            return Err(InvalidTimesheetTimes::OutBeforeIn);
        }
        if clock_out - clock_in > MAX_SPAN {
            return Err(InvalidTimesheetTimes::TooLong);
        }
        if !(0..=MAX_BREAK_MINUTES).contains(&break_minutes) {
            return Err(InvalidTimesheetTimes::BreakOutOfRange);
        }
        if i64::from(break_minutes) > (clock_out - clock_in).num_minutes() {
            return Err(InvalidTimesheetTimes::BreakLongerThanSpan);
        }
        Ok(Self {
            clock_in,
            clock_out,
            break_minutes,
        })
    }

    /// Worked minutes of these times.
    pub fn worked_minutes(&self) -> i32 {
        worked_minutes(self.clock_in, self.clock_out, self.break_minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimesheetAction as A;
    use TimesheetStatus as S;
    use proptest::prelude::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time") + Duration::minutes(minutes)
    }

    #[test]
    fn the_machine_allows_exactly_the_contracts_steps() {
        let allowed = [
            (S::Submitted, A::Approve, S::Approved),
            (S::Submitted, A::AutoApprove, S::Approved),
            (S::Submitted, A::Adjust, S::Adjusted),
            (S::Submitted, A::Reject, S::Rejected),
            (S::Adjusted, A::Dispute, S::Disputed),
            (S::Rejected, A::Dispute, S::Disputed),
            (S::Disputed, A::Resolve, S::Approved),
        ];
        let actions = [
            A::Submit,
            A::Approve,
            A::AutoApprove,
            A::Adjust,
            A::Reject,
            A::Dispute,
            A::Resolve,
        ];
        for from in S::ALL {
            for action in actions {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                assert_eq!(from.apply(action).ok(), expected, "{from} + {action}");
            }
        }
    }

    #[test]
    fn approved_submitted_and_disputed_timesheets_cannot_be_disputed() {
        for from in [S::Submitted, S::Approved, S::Disputed] {
            assert!(from.apply(A::Dispute).is_err(), "{from}");
        }
    }

    #[test]
    fn the_dispute_window_is_48_hours_with_its_last_instant() {
        let decided = at(0);
        assert!(dispute_open(decided, decided));
        assert!(dispute_open(decided, decided + Duration::hours(48)));
        assert!(!dispute_open(
            decided,
            decided + Duration::hours(48) + Duration::seconds(1)
        ));
    }

    #[test]
    fn auto_approval_is_due_at_the_deadline_not_before() {
        let submitted = at(0);
        let after = Duration::hours(72);
        assert!(!auto_approval_due(
            submitted,
            after,
            submitted + after - Duration::seconds(1)
        ));
        assert!(auto_approval_due(submitted, after, submitted + after));
    }

    #[test]
    fn adjusted_hours_are_payable_once_the_dispute_window_closed() {
        let decided = at(0);
        assert!(S::Approved.is_payable(Some(decided), decided));
        assert!(!S::Adjusted.is_payable(Some(decided), decided + Duration::hours(47)));
        assert!(S::Adjusted.is_payable(Some(decided), decided + Duration::hours(49)));
        for status in [S::Submitted, S::Disputed, S::Rejected] {
            assert!(!status.is_payable(Some(decided), decided + Duration::days(30)));
        }
    }

    #[test]
    fn worked_minutes_subtract_the_break_and_floor_at_zero() {
        assert_eq!(worked_minutes(at(0), at(8 * 60), 30), 450);
        assert_eq!(worked_minutes(at(0), at(20), 30), 0);
        assert_eq!(worked_minutes(at(10), at(0), 0), 0);
        // Seconds short of a minute do not count.
        assert_eq!(worked_minutes(at(0), at(61) - Duration::seconds(1), 0), 60);
    }

    #[test]
    fn check_out_counts_until_30_minutes_after_the_end() {
        let ends = at(8 * 60);
        let cap = Duration::minutes(30);
        assert_eq!(counted_clock_out(at(9 * 60), ends, cap), at(8 * 60 + 30));
        assert_eq!(
            counted_clock_out(at(8 * 60 + 10), ends, cap),
            at(8 * 60 + 10)
        );
    }

    #[test]
    fn recorded_times_are_checked() {
        assert_eq!(
            TimesheetTimes::new(at(60), at(60), 0),
            Err(InvalidTimesheetTimes::OutBeforeIn)
        );
        assert_eq!(
            TimesheetTimes::new(at(0), at(27 * 60), 0),
            Err(InvalidTimesheetTimes::TooLong)
        );
        assert_eq!(
            TimesheetTimes::new(at(0), at(600), -1),
            Err(InvalidTimesheetTimes::BreakOutOfRange)
        );
        assert_eq!(
            TimesheetTimes::new(at(0), at(600), 481),
            Err(InvalidTimesheetTimes::BreakOutOfRange)
        );
        assert_eq!(
            TimesheetTimes::new(at(0), at(20), 30),
            Err(InvalidTimesheetTimes::BreakLongerThanSpan)
        );
        let times = TimesheetTimes::new(at(0), at(8 * 60), 45).expect("valid");
        assert_eq!(times.worked_minutes(), 435);
    }

    proptest! {
        #[test]
        fn worked_minutes_are_never_negative_nor_more_than_the_span(
            clock_in in -100_000i64..100_000,
            span in -2_000i64..2_000,
            break_minutes in -10i32..600,
        ) {
            let worked = worked_minutes(at(clock_in), at(clock_in + span), break_minutes);
            prop_assert!(worked >= 0);
            prop_assert!(i64::from(worked) <= span.max(0));
            if break_minutes >= 0 && span >= i64::from(break_minutes) {
                prop_assert_eq!(i64::from(worked), span - i64::from(break_minutes));
            }
        }

        #[test]
        fn valid_times_always_leave_worked_minutes_within_the_span(
            clock_in in -100_000i64..100_000,
            span in 1i64..(26 * 60),
            break_minutes in 0i32..=480,
        ) {
            if let Ok(times) = TimesheetTimes::new(at(clock_in), at(clock_in + span), break_minutes) {
                let worked = i64::from(times.worked_minutes());
                prop_assert_eq!(worked, span - i64::from(break_minutes));
            } else {
                prop_assert!(i64::from(break_minutes) > span);
            }
        }

        #[test]
        fn once_final_a_timesheet_only_moves_by_dispute_and_resolution(
            steps in proptest::collection::vec(0usize..7, 0..12),
        ) {
            let actions = [A::Submit, A::Approve, A::AutoApprove, A::Adjust, A::Reject, A::Dispute, A::Resolve];
            let mut status = S::Submitted;
            let mut disputes = 0;
            for i in steps {
                if let Ok(next) = status.apply(actions[i]) {
                    if actions[i] == A::Dispute {
                        disputes += 1;
                    }
                    status = next;
                }
            }
            // A timesheet is disputed at most once: resolution ends in approved, which
            // nothing leaves.
            prop_assert!(disputes <= 1);
        }
    }
}
