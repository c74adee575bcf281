use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Something that happened which the real-time layer must announce. Written to the
/// outbox in the transaction that made it happen, then published after commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "topic", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A credential's status changed (automatic check, verifier decision, expiry).
    VerificationUpdated {
        nurse_id: Uuid,
        credential_id: Uuid,
        status: crate::CredentialStatus,
    },
    /// A nurse's identity check was submitted or decided.
    IdentityUpdated {
        nurse_id: Uuid,
        identity_id: Uuid,
        status: crate::IdentityStatus,
    },
    /// A nurse's profile changed in a way matching cares about (location, radius, availability).
    ProfileUpdated {
        nurse_id: Uuid,
    },
    /// A user was suspended: sessions end, sockets close, offers stop.
    UserSuspended {
        user_id: Uuid,
    },
    UserReinstated {
        user_id: Uuid,
    },
    /// A user signed out: their sockets close, and the devices the ended session
    /// registered are forgotten.
    UserSignedOut {
        user_id: Uuid,
        /// The ended sign-in session (refresh family); none for a web page's session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<Uuid>,
    },
    /// A shift opened (posted, or re-opened by a release): offer it. Carries what the
    /// offer and eligibility need, so the dispatcher reads nothing from the database.
    ShiftOpened {
        shift_id: Uuid,
        facility_id: Uuid,
        shift: Box<OpenedShift>,
    },
    /// The terms of an open shift changed: holders of its offer who are still eligible get
    /// the new terms, the others a withdrawal, and newly eligible nurses an offer.
    ShiftUpdated {
        shift_id: Uuid,
        facility_id: Uuid,
        shift: Box<OpenedShift>,
        /// The event that opened the shift: new offers belong to that opening.
        opened_seq: i64,
        /// A rate boost: the shift counts as urgent and is announced again to nurses
        /// whose app is closed (push, and an urgent text to those who asked).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        boosted: bool,
        /// A favourites-first window ended: the terms are the same, and every eligible
        /// nurse who does not hold the offer now gets it (holders hear nothing new).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        widened: bool,
    },
    /// A nurse claimed a shift: withdraw its offers, tell the schedulers.
    ShiftBooked {
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
    },
    /// A booked shift lost its nurse before the start (she released it, or she is no
    /// longer eligible); a `ShiftOpened` follows.
    ShiftReleased {
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        /// Events written before reasons existed were all the nurse's own releases.
        #[serde(default)]
        reason: ReleaseReason,
    },
    /// A scheduler cancelled a shift (and its booking, if any).
    ShiftCancelled {
        shift_id: Uuid,
        facility_id: Uuid,
        nurse_id: Option<Uuid>,
    },
    /// The handoff packet of a booked shift changed: the nurse must acknowledge again.
    HandoffUpdated {
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        version: i32,
    },
    HandoffAcknowledged {
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        version: i32,
    },
    /// Check-in or check-out changed a booking.
    BookingUpdated {
        booking_id: Uuid,
        shift_id: Uuid,
        facility_id: Uuid,
        nurse_id: Uuid,
    },
    /// The nurse of a booking said she is on her way, expected at `eta_at`.
    BookingOnTheWay {
        booking_id: Uuid,
        shift_id: Uuid,
        facility_id: Uuid,
        nurse_id: Uuid,
        eta_at: chrono::DateTime<chrono::Utc>,
    },
    /// Nobody checked in to a booking by its deadline. Its shift's owner is told; a
    /// `ShiftOpened` follows when the shift goes back out (`reoffered`).
    BookingNoShow {
        booking_id: Uuid,
        shift_id: Uuid,
        facility_id: Uuid,
        nurse_id: Uuid,
        owner_id: Uuid,
        reoffered: bool,
    },
    /// A shift is still open close to its start: its owner decides what to do.
    ShiftUnfilled {
        shift_id: Uuid,
        facility_id: Uuid,
        owner_id: Uuid,
        offered_count: i32,
        release_count: i32,
    },
}

impl DomainEvent {
    /// The outbox topic, e.g. `verification.updated`.
    pub fn topic(&self) -> &'static str {
        match self {
            Self::VerificationUpdated { .. } => "verification.updated",
            Self::IdentityUpdated { .. } => "identity.updated",
            Self::ProfileUpdated { .. } => "profile.updated",
            Self::UserSuspended { .. } => "user.suspended",
            Self::UserReinstated { .. } => "user.reinstated",
            Self::UserSignedOut { .. } => "user.signed_out",
            Self::ShiftOpened { .. } => "shift.opened",
            Self::ShiftUpdated { .. } => "shift.updated",
            Self::ShiftBooked { .. } => "shift.booked",
            Self::ShiftReleased { .. } => "shift.released",
            Self::ShiftCancelled { .. } => "shift.cancelled",
            Self::HandoffUpdated { .. } => "handoff.updated",
            Self::HandoffAcknowledged { .. } => "handoff.acknowledged",
            Self::BookingUpdated { .. } => "booking.updated",
            Self::BookingOnTheWay { .. } => "booking.on_the_way",
            Self::BookingNoShow { .. } => "booking.no_show",
            Self::ShiftUnfilled { .. } => "shift.unfilled",
        }
    }

    /// The facility whose schedulers the event concerns, if one.
    pub fn facility_id(&self) -> Option<Uuid> {
        match self {
            Self::ShiftOpened { facility_id, .. }
            | Self::ShiftUpdated { facility_id, .. }
            | Self::ShiftBooked { facility_id, .. }
            | Self::ShiftReleased { facility_id, .. }
            | Self::ShiftCancelled { facility_id, .. }
            | Self::HandoffUpdated { facility_id, .. }
            | Self::HandoffAcknowledged { facility_id, .. }
            | Self::BookingUpdated { facility_id, .. }
            | Self::BookingOnTheWay { facility_id, .. }
            | Self::BookingNoShow { facility_id, .. }
            | Self::ShiftUnfilled { facility_id, .. } => Some(*facility_id),
            Self::VerificationUpdated { .. }
            | Self::IdentityUpdated { .. }
            | Self::ProfileUpdated { .. }
            | Self::UserSuspended { .. }
            | Self::UserReinstated { .. }
            | Self::UserSignedOut { .. } => None,
        }
    }

    /// The user the event concerns, if one.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::VerificationUpdated { nurse_id, .. }
            | Self::IdentityUpdated { nurse_id, .. }
            | Self::ProfileUpdated { nurse_id }
            | Self::ShiftBooked { nurse_id, .. }
            | Self::ShiftReleased { nurse_id, .. }
            | Self::HandoffUpdated { nurse_id, .. }
            | Self::HandoffAcknowledged { nurse_id, .. }
            | Self::BookingUpdated { nurse_id, .. }
            | Self::BookingOnTheWay { nurse_id, .. }
            | Self::BookingNoShow { nurse_id, .. } => Some(*nurse_id),
            Self::UserSuspended { user_id }
            | Self::UserReinstated { user_id }
            | Self::UserSignedOut { user_id, .. } => Some(*user_id),
            Self::ShiftCancelled { nurse_id, .. } => *nurse_id,
            Self::ShiftUnfilled { owner_id, .. } => Some(*owner_id),
            Self::ShiftOpened { .. } | Self::ShiftUpdated { .. } => None,
        }
    }
}

/// Why a booked shift lost its nurse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// She gave it back herself.
    #[default]
    NurseReleased,
    /// She may no longer work it: suspended, licence revoked or expired.
    NurseIneligible,
}

/// What an opened shift's offer and its eligibility check need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenedShift {
    pub facility_name: String,
    pub facility_state: String,
    pub location: crate::Coordinates,
    #[serde(flatten)]
    pub terms: crate::ShiftTerms,
    /// Nurses who may not take it: those who did not come to it before it re-opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Uuid>,
    /// The facility (whose blocks and favourites eligibility reads).
    #[serde(default)]
    pub facility_id: Uuid,
    /// Until then only the facility's favourites may take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favourites_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl OpenedShift {
    /// What eligibility needs of it.
    pub fn facts(&self) -> crate::eligibility::ShiftFacts {
        crate::eligibility::ShiftFacts {
            terms: self.terms.clone(),
            facility_state: self.facility_state.clone(),
            facility_location: self.location,
            excluded: self.excluded.clone(),
            facility_id: self.facility_id,
            favourites_until: self.favourites_until,
        }
    }
}

/// A committed event with its outbox id. Outbox ids are read in order with no gap (a
/// reader waits for an id still being written), so `seq` is the position of the event in
/// one stream every node sees the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedEvent {
    pub seq: i64,
    pub event: DomainEvent,
}

/// Where committed events go. Publishing never blocks: a bus that cannot keep up drops,
/// and the outbox is the record to catch up from.
pub trait EventBus: Send + Sync {
    fn publish(&self, event: PublishedEvent);
}
