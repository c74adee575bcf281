use serde::{Deserialize, Serialize};

/// Where a shift stands. `open → booked → in_progress → completed`, `open|booked →
/// cancelled`, and a nurse's release returns `booked → open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftStatus {
    Open,
    Booked,
    InProgress,
    Completed,
    Cancelled,
}

/// Something that happens to a shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftAction {
    Claim,
    Release,
    CheckIn,
    CheckOut,
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} shift cannot be {action:?}")]
pub struct IllegalTransition {
    pub from: ShiftStatus,
    pub action: ShiftAction,
}

named!(ShiftStatus, UnknownShiftStatus, {
    Open => "open", Booked => "booked", InProgress => "in_progress",
    Completed => "completed", Cancelled => "cancelled",
});

impl ShiftStatus {
    /// The status after `action`, or why it is not allowed.
    pub fn apply(self, action: ShiftAction) -> Result<ShiftStatus, IllegalTransition> {
        use ShiftAction as A;
        use ShiftStatus as S;
        match (self, action) {
            (S::Open, A::Claim) => Ok(S::Booked),
            (S::Booked, A::Release) => Ok(S::Open),
            (S::Booked, A::CheckIn) => Ok(S::InProgress),
            (S::InProgress, A::CheckOut) => Ok(S::Completed),
            (S::Open | S::Booked, A::Cancel) => Ok(S::Cancelled),
            (from, action) => Err(IllegalTransition { from, action }),
        }
    }

    /// No action leads anywhere from here.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown shift status")]
pub struct UnknownShiftStatus;

/// Where a booking stands. `booked → in_progress → completed`; a booked booking may also
/// be `released` by its nurse, `cancelled` (by the facility, or because its nurse may no
/// longer work it), or a `no_show` when nobody checked in by the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Booked,
    InProgress,
    Completed,
    Released,
    Cancelled,
    NoShow,
}

/// Something that happens to a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingAction {
    CheckIn,
    CheckOut,
    Release,
    Cancel,
    /// Nobody checked in by the deadline.
    MissDeadline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} booking cannot be {action:?}")]
pub struct IllegalBookingTransition {
    pub from: BookingStatus,
    pub action: BookingAction,
}

named!(BookingStatus, UnknownShiftStatus, {
    Booked => "booked", InProgress => "in_progress", Completed => "completed",
    Released => "released", Cancelled => "cancelled", NoShow => "no_show",
});

impl BookingStatus {
    /// The status after `action`, or why it is not allowed.
    pub fn apply(self, action: BookingAction) -> Result<BookingStatus, IllegalBookingTransition> {
        use BookingAction as A;
        use BookingStatus as B;
        match (self, action) {
            (B::Booked, A::CheckIn) => Ok(B::InProgress),
            (B::InProgress, A::CheckOut) => Ok(B::Completed),
            (B::Booked, A::Release) => Ok(B::Released),
            (B::Booked, A::Cancel) => Ok(B::Cancelled),
            (B::Booked, A::MissDeadline) => Ok(B::NoShow),
            (from, action) => Err(IllegalBookingTransition { from, action }),
        }
    }

    /// The booking still holds its shift (the nurse is expected, or there).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Booked | Self::InProgress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACTIONS: [ShiftAction; 5] = [
        ShiftAction::Claim,
        ShiftAction::Release,
        ShiftAction::CheckIn,
        ShiftAction::CheckOut,
        ShiftAction::Cancel,
    ];

    #[test]
    fn the_lifecycle_of_a_shift() {
        let s = ShiftStatus::Open;
        let s = s.apply(ShiftAction::Claim).expect("claim");
        assert_eq!(s.apply(ShiftAction::Release), Ok(ShiftStatus::Open));
        let s = s.apply(ShiftAction::CheckIn).expect("check in");
        assert!(
            s.apply(ShiftAction::Cancel).is_err(),
            "a started shift is not cancelled"
        );
        assert!(s.apply(ShiftAction::Release).is_err(), "nor released");
        assert_eq!(s.apply(ShiftAction::CheckOut), Ok(ShiftStatus::Completed));
        for status in ShiftStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
    }

    #[test]
    fn the_lifecycle_of_a_booking() {
        use BookingAction as A;
        use BookingStatus as B;
        assert_eq!(B::Booked.apply(A::CheckIn), Ok(B::InProgress));
        assert_eq!(B::InProgress.apply(A::CheckOut), Ok(B::Completed));
        assert_eq!(B::Booked.apply(A::Release), Ok(B::Released));
        assert_eq!(B::Booked.apply(A::Cancel), Ok(B::Cancelled));
        assert_eq!(B::Booked.apply(A::MissDeadline), Ok(B::NoShow));
        for from in [
            B::InProgress,
            B::Completed,
            B::Released,
            B::Cancelled,
            B::NoShow,
        ] {
            assert!(from.apply(A::Release).is_err(), "{from}");
            assert!(from.apply(A::Cancel).is_err(), "{from}");
            assert!(from.apply(A::CheckIn).is_err(), "{from}");
            assert!(from.apply(A::MissDeadline).is_err(), "{from}");
        }
        for status in B::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
    }

    proptest! {
        /// Whatever happens, final states stay final, a shift is cancelled only from
        /// open or booked, and completed only through in_progress.
        #[test]
        fn any_sequence_of_actions_respects_the_machine(actions in prop::collection::vec(0..5usize, 0..40)) {
            let mut status = ShiftStatus::Open;
            for i in actions {
                let action = ACTIONS[i];
                match status.apply(action) {
                    Ok(next) => {
                        prop_assert!(!status.is_final());
                        if next == ShiftStatus::Cancelled {
                            prop_assert!(matches!(status, ShiftStatus::Open | ShiftStatus::Booked));
                        }
                        if next == ShiftStatus::Completed {
                            prop_assert_eq!(status, ShiftStatus::InProgress);
                        }
                        if next == ShiftStatus::Booked {
                            prop_assert_eq!(status, ShiftStatus::Open);
                        }
                        status = next;
                    }
                    Err(e) => prop_assert_eq!(e.from, status),
                }
            }
        }
    }
}
