//! The WebSocket protocol's messages (`GET /v1/ws`): what clients send, what the server
//! sends. The server and the load generator share these types. The full protocol is in
//! `api-spec/websocket.md`.

use crate::{Coordinates, OpenedShift, ShiftTerms};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest client message accepted, in bytes; a bigger one closes the socket with 1009.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// WebSocket close codes the server uses.
pub mod close {
    /// Signed out.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect (to another node) and resume.
    pub const GOING_AWAY: u16 = 1001;
    /// Suspended, signed out, too many messages, or no pong.
    pub const POLICY: u16 = 1008;
    /// A client message over [`super::MAX_CLIENT_MESSAGE`].
    pub const TOO_BIG: u16 = 1009;
    /// The client did not read fast enough: its queue filled. Reconnect and resume.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The access token (or the ticket's) expired and no fresh one came with `auth`.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// The user opened more connections than allowed; this, the oldest, gave way.
    pub const REPLACED: u16 = 4002;
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// A nurse's live position; not acknowledged.
    Location { lat: f64, lon: f64 },
    /// Re-send what was missed after `last_seq`.
    Resume { last_seq: i64 },
    /// Answered with `pong`. (A struct variant, so unknown fields are refused here too.)
    Ping {},
    /// A fresh access token of the same user: the connection lives on until it expires.
    Auth { access_token: String },
}

/// Why an offer was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    Booked,
    Cancelled,
    Ineligible,
}

/// The facility as an offer shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferFacility {
    pub id: Uuid,
    pub name: String,
    pub location: Coordinates,
}

/// An open shift as offered to one nurse. No other nurse's data, no patient data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftOffer {
    pub id: Uuid,
    pub facility: OfferFacility,
    #[serde(flatten)]
    pub terms: ShiftTerms,
    /// Geodesic distance from the nurse's position. Kept last: the server serialises an
    /// offer once and writes each recipient's distance at the end.
    pub distance_km: f64,
}

impl ShiftOffer {
    /// The offer of an opened shift to a nurse `distance_km` away (rounded to metres):
    /// the one place an offer is built, for live frames and resumes alike.
    pub fn of(shift_id: Uuid, facility_id: Uuid, shift: &OpenedShift, distance_km: f64) -> Self {
        Self {
            id: shift_id,
            facility: OfferFacility {
                id: facility_id,
                name: shift.facility_name.clone(),
                location: shift.location,
            },
            terms: shift.terms.clone(),
            distance_km: (distance_km * 1000.0).round() / 1000.0,
        }
    }
}

/// The nurse who booked, as a facility's schedulers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookedBy {
    pub id: Uuid,
    pub name: Option<String>,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// The connection is registered: every event committed after `last_seq` reaches it.
    #[serde(rename = "hello")]
    Hello { session_id: Uuid, last_seq: i64 },
    #[serde(rename = "shift.offered")]
    ShiftOffered { seq: i64, shift: ShiftOffer },
    #[serde(rename = "shift.withdrawn")]
    ShiftWithdrawn {
        seq: i64,
        shift_id: Uuid,
        reason: WithdrawReason,
    },
    /// The terms of an offer the nurse holds changed (same shape as the offer).
    #[serde(rename = "shift.updated")]
    ShiftUpdated { seq: i64, shift: ShiftOffer },
    /// The nurse's booking changed (booked, released, cancelled, handoff, check-in/out).
    #[serde(rename = "booking.updated")]
    BookingUpdated {
        seq: i64,
        booking: serde_json::Value,
    },
    #[serde(rename = "verification.updated")]
    VerificationUpdated {
        seq: i64,
        credential: serde_json::Value,
    },
    /// The nurse's identity check was decided.
    #[serde(rename = "identity.updated")]
    IdentityUpdated {
        seq: i64,
        identity: serde_json::Value,
    },
    #[serde(rename = "shift.booked")]
    ShiftBooked {
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse: BookedBy,
    },
    #[serde(rename = "shift.released")]
    ShiftReleased {
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        reason: crate::ReleaseReason,
    },
    #[serde(rename = "handoff.acknowledged")]
    HandoffAcknowledged {
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        version: i32,
    },
    /// A booked nurse is on her way, expected at `eta_at`.
    #[serde(rename = "booking.on_the_way")]
    BookingOnTheWay {
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        eta_at: chrono::DateTime<chrono::Utc>,
    },
    /// Nobody checked in by the deadline; `reoffered`: the shift went back out as urgent.
    #[serde(rename = "booking.no_show")]
    BookingNoShow {
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        owner_id: Uuid,
        reoffered: bool,
    },
    #[serde(rename = "shift.unfilled")]
    ShiftUnfilled {
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        owner_id: Uuid,
        offered_count: i32,
        release_count: i32,
    },
    /// The end of a `resume` replay: how much was re-sent.
    #[serde(rename = "resumed")]
    Resumed {
        last_seq: i64,
        offers: u32,
        withdrawals: u32,
    },
    #[serde(rename = "pong")]
    Pong,
    /// A client message the server could not use; the connection stays open.
    #[serde(rename = "error")]
    Error { code: String, detail: String },
}

impl ServerMessage {
    /// The frame's `type`, as it travels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::ShiftOffered { .. } => "shift.offered",
            Self::ShiftWithdrawn { .. } => "shift.withdrawn",
            Self::ShiftUpdated { .. } => "shift.updated",
            Self::BookingUpdated { .. } => "booking.updated",
            Self::VerificationUpdated { .. } => "verification.updated",
            Self::IdentityUpdated { .. } => "identity.updated",
            Self::ShiftBooked { .. } => "shift.booked",
            Self::ShiftReleased { .. } => "shift.released",
            Self::HandoffAcknowledged { .. } => "handoff.acknowledged",
            Self::BookingOnTheWay { .. } => "booking.on_the_way",
            Self::BookingNoShow { .. } => "booking.no_show",
            Self::ShiftUnfilled { .. } => "shift.unfilled",
            Self::Resumed { .. } => "resumed",
            Self::Pong => "pong",
            Self::Error { .. } => "error",
        }
    }

    /// The event sequence number a frame carries, if it carries one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::ShiftOffered { seq, .. }
            | Self::ShiftWithdrawn { seq, .. }
            | Self::ShiftUpdated { seq, .. }
            | Self::BookingUpdated { seq, .. }
            | Self::VerificationUpdated { seq, .. }
            | Self::IdentityUpdated { seq, .. }
            | Self::ShiftBooked { seq, .. }
            | Self::ShiftReleased { seq, .. }
            | Self::HandoffAcknowledged { seq, .. }
            | Self::BookingOnTheWay { seq, .. }
            | Self::BookingNoShow { seq, .. }
            | Self::ShiftUnfilled { seq, .. } => Some(*seq),
            Self::Hello { .. } | Self::Resumed { .. } | Self::Pong | Self::Error { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_strictly() {
        let parse = serde_json::from_str::<ClientMessage>;
        assert_eq!(
            parse(r#"{"type":"resume","last_seq":42}"#).ok(),
            Some(ClientMessage::Resume { last_seq: 42 })
        );
        assert_eq!(
            parse(r#"{"type":"ping"}"#).ok(),
            Some(ClientMessage::Ping {})
        );
        assert!(matches!(
            parse(r#"{"type":"location","lat":37.8,"lon":-122.2}"#),
            Ok(ClientMessage::Location { .. })
        ));
        assert!(parse(r#"{"type":"ping","extra":1}"#).is_err());
        assert!(parse(r#"{"type":"subscribe"}"#).is_err());
        assert!(parse(r#"{"type":"resume"}"#).is_err());
        assert_eq!(
            parse(r#"{"type":"auth","access_token":"t"}"#).ok(),
            Some(ClientMessage::Auth {
                access_token: "t".into()
            })
        );
    }

    #[test]
    fn an_offer_ends_with_its_distance() {
        let offer = ServerMessage::ShiftOffered {
            seq: 7,
            shift: ShiftOffer {
                id: Uuid::nil(),
                facility: OfferFacility {
                    id: Uuid::nil(),
                    name: "\"distance_km\":".into(),
                    location: Coordinates::new(1.0, 2.0).expect("coordinates"),
                },
                terms: crate::ShiftTerms::new(
                    crate::CredentialKind::RN,
                    crate::ShiftWindow::new(
                        chrono::DateTime::UNIX_EPOCH,
                        chrono::DateTime::UNIX_EPOCH + chrono::Duration::hours(8),
                    )
                    .expect("window"),
                    crate::HourlyRate::new(1).expect("rate"),
                    crate::Unit::new("ICU").expect("unit"),
                    vec![],
                )
                .expect("terms"),
                distance_km: 1.5,
            },
        };
        let text = serde_json::to_string(&offer).expect("serialise");
        assert!(text.ends_with(r#","distance_km":1.5}}"#), "{text}");
        assert!(
            text.starts_with(r#"{"type":"shift.offered","seq":7,"#),
            "{text}"
        );
        assert!(
            text.contains(r#""role":"RN","starts_at":"1970-01-01T00:00:00Z","ends_at":"1970-01-01T08:00:00Z","hourly_rate_cents":1,"unit":"ICU","required_certifications":[]"#),
            "the terms are flat, in their order: {text}"
        );
        let back: ServerMessage = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, offer);
    }
}
