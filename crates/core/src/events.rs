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
}

impl DomainEvent {
    /// The outbox topic, e.g. `verification.updated`.
    pub fn topic(&self) -> &'static str {
        match self {
            Self::VerificationUpdated { .. } => "verification.updated",
            Self::ProfileUpdated { .. } => "profile.updated",
            Self::UserSuspended { .. } => "user.suspended",
            Self::UserReinstated { .. } => "user.reinstated",
        }
    }

    /// The user the event concerns.
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::VerificationUpdated { nurse_id, .. } | Self::ProfileUpdated { nurse_id } => {
                *nurse_id
            }
            Self::UserSuspended { user_id } | Self::UserReinstated { user_id } => *user_id,
        }
    }
}

/// Where committed events go. Publishing never blocks: a bus that cannot keep up drops,
/// and the outbox is the record to catch up from.
pub trait EventBus: Send + Sync {
    fn publish(&self, event: DomainEvent);
}
