//! Shiftwire's domain vocabulary: identifiers, validated value types and roles.
//! Nothing here performs I/O; every other crate builds on these types.

pub mod email;
pub mod id;
pub mod phone;
pub mod role;

pub use email::{Email, EmailError};
pub use id::new_id;
pub use phone::{Phone, PhoneError};
pub use role::{Role, UnknownRole};
