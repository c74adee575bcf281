//! Claim storms refused in memory. When a shift is posted, hundreds of nurses may claim it
//! within the same few milliseconds; only one can win, and the database should not have to
//! tell the other 999 one by one (each would queue on the shift's row lock for a
//! connection and a transaction).
//!
//! Per node and per shift, one claim at a time goes to the database (single flight); the
//! others wait for its outcome. If it booked the shift, or found it taken, they are
//! answered `shift_taken` without touching the database; if the shift is closed or unknown
//! they get that answer too; if it failed for that nurse only (not eligible, a schedule
//! conflict, an error), the next waiting claim goes. A shift this node already knows is
//! taken, from the event stream, is refused before any of that
//! ([`shiftwire_notify::Hub::known_taken`]).
//!
//! The database stays the guard: the claim's conditional update and the bookings'
//! constraints are unchanged, so several nodes, each with its own gate, still book a shift
//! exactly once.

use shiftwire_matching::MatchingError;
use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
};
use tokio::sync::watch;
use uuid::Uuid;

/// What a claim in flight found out, as far as the claims waiting behind it care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    /// Booked (by this claim or another): every waiting claim is `shift_taken`.
    Taken,
    /// Not open any more (cancelled, started): the same answer for everyone.
    NotOpen,
    /// No such shift.
    NotFound,
    /// A refusal of that nurse only, or an error: the next claim goes.
    Next,
}

impl Outcome {
    fn of<T>(result: &Result<T, MatchingError>) -> Self {
        match result {
            Ok(_) | Err(MatchingError::ShiftTaken) => Self::Taken,
            Err(MatchingError::ShiftNotOpen) => Self::NotOpen,
            Err(MatchingError::NotFound) => Self::NotFound,
            Err(_) => Self::Next,
        }
    }

    /// The answer for a claim that waited behind this outcome, or `None` to go next.
    fn for_waiting(self) -> Option<MatchingError> {
        match self {
            Self::Taken => Some(MatchingError::ShiftTaken),
            Self::NotOpen => Some(MatchingError::ShiftNotOpen),
            Self::NotFound => Some(MatchingError::NotFound),
            Self::Pending | Self::Next => None,
        }
    }
}

/// This node's claims in flight, by shift. Cheap to clone.
#[derive(Clone, Default)]
pub struct ClaimGate {
    flights: Arc<Mutex<HashMap<Uuid, watch::Receiver<Outcome>>>>,
}

/// Why a claim was answered without going to the database, for the metrics.
const REFUSED_WAITING: &str = "waited_for_another_claim";

impl ClaimGate {
    /// Runs `claim` for `shift_id` once no other claim of it is in flight on this node, or
    /// answers from the outcome of the one that was.
    pub async fn claim<T, F, Fut>(&self, shift_id: Uuid, claim: F) -> Result<T, MatchingError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, MatchingError>>,
    {
        loop {
            // Either wait behind the claim in flight, or become it.
            let flight = {
                let mut flights = self.lock();
                match flights.get(&shift_id) {
                    Some(flight) => Err(flight.clone()),
                    None => {
                        let (sender, receiver) = watch::channel(Outcome::Pending);
                        flights.insert(shift_id, receiver);
                        Ok(sender)
                    }
                }
            };
            match flight {
                Ok(sender) => {
                    let flight = Flight {
                        gate: self,
                        shift_id,
                        sender,
                        outcome: Outcome::Next,
                    };
                    let result = claim().await;
                    flight.land(Outcome::of(&result));
                    return result;
                }
                Err(mut waiting) => {
                    // An error means the claim in flight was dropped (its client went
                    // away) without an outcome: go again.
                    let outcome = waiting
                        .wait_for(|o| *o != Outcome::Pending)
                        .await
                        .map(|o| *o)
                        .unwrap_or(Outcome::Next);
                    if let Some(answer) = outcome.for_waiting() {
                        metrics::counter!("claims_refused_in_memory_total", "why" => REFUSED_WAITING)
                            .increment(1);
                        return Err(answer);
                    }
                }
            }
        }
    }

    /// Shifts with a claim in flight on this node.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, watch::Receiver<Outcome>>> {
        // The map holds no invariant a panic could break half-way.
        self.flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The claim that goes to the database. However it ends (an outcome, or dropped because
/// its request was), the shift's entry is removed so that the next claim can go; claims
/// that arrive after that go to the database themselves.
struct Flight<'a> {
    gate: &'a ClaimGate,
    shift_id: Uuid,
    sender: watch::Sender<Outcome>,
    /// What the waiting claims are told: `Next` unless the claim landed.
    outcome: Outcome,
}

impl Flight<'_> {
    fn land(mut self, outcome: Outcome) {
        self.outcome = outcome;
        // `Drop` tells the waiting claims.
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        // The entry goes first, so that a waiting claim told to go next finds the way
        // clear rather than this finished flight.
        self.gate.lock().remove(&self.shift_id);
        self.sender.send_replace(self.outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A claim that takes a while in the database and answers `result`, counting calls.
    async fn slow(
        calls: &AtomicUsize,
        result: Result<u32, MatchingError>,
    ) -> Result<u32, MatchingError> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        result
    }

    #[tokio::test]
    async fn claims_waiting_behind_a_booking_are_taken_without_a_second_call() {
        let gate = ClaimGate::default();
        let shift = Uuid::now_v7();
        let calls = AtomicUsize::new(0);
        let answers = join_all((0..100).map(|_| gate.claim(shift, || slow(&calls, Ok(7))))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1);
        assert_eq!(
            answers
                .iter()
                .filter(|a| matches!(a, Err(MatchingError::ShiftTaken)))
                .count(),
            99
        );
        assert_eq!(gate.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_refusal_of_one_nurse_lets_the_next_claim_go() {
        let gate = ClaimGate::default();
        let shift = Uuid::now_v7();
        let calls = AtomicUsize::new(0);
        // The first two claims are refused for their nurse; the third books.
        let answer = |n: usize| {
            let calls = &calls;
            async move {
                let result = if calls.load(Ordering::SeqCst) < 2 {
                    Err(MatchingError::ScheduleConflict)
                } else {
                    Ok(n as u32)
                };
                slow(calls, result).await
            }
        };
        let answers = join_all((0..10).map(|n| gate.claim(shift, move || answer(n)))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let conflicts = answers
            .iter()
            .filter(|a| matches!(a, Err(MatchingError::ScheduleConflict)))
            .count();
        assert_eq!(conflicts, 2);
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1);
        let taken = answers
            .iter()
            .filter(|a| matches!(a, Err(MatchingError::ShiftTaken)))
            .count();
        assert_eq!(taken, 7);
    }

    #[tokio::test]
    async fn a_closed_or_unknown_shift_is_the_same_answer_for_everyone_waiting() {
        for not_open in [true, false] {
            let refusal = || {
                if not_open {
                    MatchingError::ShiftNotOpen
                } else {
                    MatchingError::NotFound
                }
            };
            let gate = ClaimGate::default();
            let calls = AtomicUsize::new(0);
            let shift = Uuid::now_v7();
            let answers =
                join_all((0..20).map(|_| gate.claim(shift, || slow(&calls, Err(refusal()))))).await;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            for answer in answers {
                assert_eq!(
                    format!("{answer:?}"),
                    format!("{:?}", Err::<u32, _>(refusal()))
                );
            }
        }
    }

    #[tokio::test]
    async fn a_claim_dropped_in_flight_lets_the_next_one_go() {
        let gate = ClaimGate::default();
        let shift = Uuid::now_v7();
        let calls = AtomicUsize::new(0);
        let abandoned = gate.claim(shift, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<u32, MatchingError>>().await
        });
        // The first claim is in flight, and then its request goes away.
        let timed_out = tokio::time::timeout(Duration::from_millis(20), abandoned).await;
        assert!(timed_out.is_err());
        assert_eq!(gate.in_flight(), 0);
        let next = gate.claim(shift, || slow(&calls, Ok(1))).await;
        assert_eq!(next.ok(), Some(1));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_claim_waiting_behind_a_dropped_one_goes_itself() {
        let gate = ClaimGate::default();
        let shift = Uuid::now_v7();
        let calls = AtomicUsize::new(0);
        let first = gate.claim(shift, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<u32, MatchingError>>().await
        });
        let second = gate.claim(shift, || slow(&calls, Ok(2)));
        // The first is dropped after 20 ms, while the second waits behind it.
        let (first, second) = tokio::join!(
            tokio::time::timeout(Duration::from_millis(20), first),
            second
        );
        assert!(first.is_err());
        assert_eq!(second.ok(), Some(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn claims_of_different_shifts_do_not_wait_for_each_other() {
        let gate = ClaimGate::default();
        let calls = AtomicUsize::new(0);
        let answers =
            join_all((0..10).map(|_| gate.claim(Uuid::now_v7(), || slow(&calls, Ok(1))))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 10);
        assert!(answers.iter().all(Result::is_ok));
    }
}
