//! Which shifts this node knows are booked, from the event stream: a claim of one can be
//! refused at once, without the database (see `shiftwire_api::claim_gate`).
//!
//! Fed wherever events reach the node: its own commits as they are published (so the
//! node that released a shift forgets it was taken before the release is answered),
//! events from other nodes as NATS brings them, and everything the dispatcher reads from
//! the outbox. Each shift keeps the position of the last event applied, so an event that
//! arrives late by one path never undoes a newer one from another.

use shiftwire_core::{DomainEvent, PublishedEvent};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// How long a booking is remembered: a storm comes within seconds of a shift's posting,
/// and a claim after that goes to the database like any other.
const MEMORY: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy)]
struct Known {
    seq: i64,
    taken: bool,
    at: Instant,
}

#[derive(Default)]
pub struct TakenShifts {
    shifts: Mutex<HashMap<Uuid, Known>>,
}

impl TakenShifts {
    /// Takes in one committed event (any path, any order).
    pub fn apply(&self, published: &PublishedEvent) {
        let (shift_id, taken) = match &published.event {
            DomainEvent::ShiftBooked { shift_id, .. } => (*shift_id, true),
            DomainEvent::ShiftOpened { shift_id, .. }
            | DomainEvent::ShiftReleased { shift_id, .. }
            | DomainEvent::ShiftCancelled { shift_id, .. }
            | DomainEvent::BookingNoShow { shift_id, .. } => (*shift_id, false),
            _ => return,
        };
        let mut shifts = self.lock();
        if !taken && !shifts.contains_key(&shift_id) {
            return;
        }
        let known = shifts.entry(shift_id).or_insert(Known {
            seq: i64::MIN,
            taken,
            at: Instant::now(),
        });
        if published.seq > known.seq {
            *known = Known {
                seq: published.seq,
                taken,
                at: Instant::now(),
            };
        }
    }

    /// Whether the newest event this node has of `shift_id` booked it.
    pub fn is_taken(&self, shift_id: Uuid) -> bool {
        self.lock()
            .get(&shift_id)
            .is_some_and(|k| k.taken && k.at.elapsed() < MEMORY)
    }

    /// Forgets shifts heard of long ago.
    pub fn prune(&self) {
        self.lock().retain(|_, k| k.at.elapsed() < MEMORY);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Known>> {
        // Each entry is replaced whole: a panic elsewhere cannot leave one half-written.
        self.shifts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiftwire_core::ReleaseReason;

    fn booked(seq: i64, shift_id: Uuid) -> PublishedEvent {
        PublishedEvent {
            seq,
            event: DomainEvent::ShiftBooked {
                shift_id,
                facility_id: Uuid::nil(),
                booking_id: Uuid::nil(),
                nurse_id: Uuid::nil(),
            },
        }
    }

    fn released(seq: i64, shift_id: Uuid) -> PublishedEvent {
        PublishedEvent {
            seq,
            event: DomainEvent::ShiftReleased {
                shift_id,
                facility_id: Uuid::nil(),
                booking_id: Uuid::nil(),
                nurse_id: Uuid::nil(),
                reason: ReleaseReason::default(),
            },
        }
    }

    #[test]
    fn a_booking_is_taken_until_a_newer_release() {
        let taken = TakenShifts::default();
        let shift = Uuid::now_v7();
        assert!(!taken.is_taken(shift));
        taken.apply(&booked(10, shift));
        assert!(taken.is_taken(shift));
        taken.apply(&released(11, shift));
        assert!(!taken.is_taken(shift));
        taken.apply(&booked(12, shift));
        assert!(taken.is_taken(shift));
    }

    #[test]
    fn an_event_arriving_late_by_another_path_changes_nothing() {
        let taken = TakenShifts::default();
        let shift = Uuid::now_v7();
        taken.apply(&booked(10, shift));
        taken.apply(&released(11, shift));
        // The dispatcher reads the booking from the outbox after NATS brought both.
        taken.apply(&booked(10, shift));
        assert!(!taken.is_taken(shift));
        taken.apply(&booked(12, shift));
        taken.apply(&released(11, shift));
        assert!(taken.is_taken(shift));
    }

    #[test]
    fn shifts_never_booked_are_not_remembered() {
        let taken = TakenShifts::default();
        taken.apply(&released(3, Uuid::now_v7()));
        assert_eq!(taken.len(), 0);
    }
}
