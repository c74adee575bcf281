//! What the real-time layer reads from the marketplace to catch a nurse up (`resume`):
//! the shapes cross the seam between `matching`, which owns the shifts, and `notify`,
//! which delivers them, without either knowing the other.

use crate::{OpenedShift, eligibility::ShiftFacts, ws::WithdrawReason};
use uuid::Uuid;

/// What a `resume` catches up on: what happened after `last_seq` (and up to `up_to`, the
/// connection's registration point) within `radius_m` of where the nurse may be matched
/// from, at most `limit` shifts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatchUp {
    pub last_seq: i64,
    pub up_to: i64,
    pub radius_m: f64,
    pub limit: i64,
}

/// An open shift under one opening: offers of it carry `opened_seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenShift {
    pub id: Uuid,
    pub opened_seq: i64,
    pub facility_id: Uuid,
    pub shift: OpenedShift,
}

/// A shift a nurse held an offer of before a resume's `last_seq` (or may have: one in
/// her reach that closed after it).
#[derive(Debug, Clone)]
pub struct HeldOffer {
    pub shift_id: Uuid,
    pub facts: ShiftFacts,
    /// Still open under the offered opening: the shift as it stands now.
    pub open: Option<OpenShift>,
    /// Its terms changed after `last_seq`.
    pub updated_seq: Option<i64>,
    /// Its last booking or cancellation, if after `last_seq`.
    pub closed: Option<(i64, WithdrawReason)>,
}

/// One offer made: `nurse_id` was offered the opening `seq` of `shift_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferRecord {
    pub nurse_id: Uuid,
    pub seq: i64,
    pub shift_id: Uuid,
}

/// A live location a nurse reported over the WebSocket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocationRecord {
    pub nurse_id: Uuid,
    pub at: crate::Coordinates,
    pub reported_at: chrono::DateTime<chrono::Utc>,
}
