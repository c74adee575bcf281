//! Shiftwire's domain vocabulary: identifiers, validated value types, roles, credentials
//! and the domain events other crates announce.
//! Nothing here performs I/O; every other crate builds on these types.

pub mod credential;
pub mod delivery;
pub mod eligibility;
pub mod email;
pub mod events;
pub mod geo;
pub mod id;
pub mod phone;
pub mod role;
pub mod shift;
pub mod terms;
pub mod text;
pub mod ws;

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
