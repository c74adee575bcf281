//! Shiftwire's domain vocabulary: identifiers, validated value types, roles, credentials
//! and the domain events other crates announce.
//! Nothing here performs I/O; every other crate builds on these types.

/// `ALL`, `as_str`, `Display` and `FromStr` (failing with `$unknown`) of an enum whose
/// variants have names as stored and as sent.
macro_rules! named {
    ($ty:ident, $unknown:ident, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: [$ty; { [$(stringify!($variant)),+].len() }] = [$(Self::$variant),+];

            /// The name as stored and as sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $unknown;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or($unknown)
            }
        }
    };
}

pub mod attendance;
pub mod clock;
pub mod credential;
pub mod delivery;
pub mod eligibility;
pub mod email;
pub mod events;
pub mod geo;
pub mod id;
pub mod no_show;
pub mod phone;
pub mod role;
pub mod shift;
pub mod terms;
pub mod text;
pub mod timesheet;
pub mod ws;

pub use clock::{Clock, SystemClock};
pub use credential::{
    CredentialKind, CredentialStatus, IdentityStatus, UsState, VerificationStatus,
};
pub use email::{Email, EmailError};
pub use events::{DomainEvent, EventBus, OpenedShift, PublishedEvent, ReleaseReason};
pub use geo::Coordinates;
pub use id::new_id;
pub use phone::{Phone, PhoneError};
pub use role::{Role, UnknownRole};
pub use shift::{BookingAction, BookingStatus, ShiftAction, ShiftStatus};
pub use terms::{HourlyRate, InvalidTerms, ShiftTerms, ShiftWindow, Unit};
pub use timesheet::{TimesheetAction, TimesheetStatus, TimesheetTimes};
