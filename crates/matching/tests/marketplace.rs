//! The marketplace's invariants, on its own against PostgreSQL + PostGIS: the first valid
//! claim wins, a release re-opens the shift, one nurse never holds two overlapping
//! bookings, the shift and booking machines refuse what they do not allow, and a nurse
//! who stops being eligible loses the bookings she may no longer work. Nurses' standing
//! is what the test says it is (`GivenStandings`), as the accounts and verification
//! would say.

use chrono::Duration;
use futures::future::join_all;
use shiftwire_core::{BookingStatus, Coordinates, ShiftStatus, eligibility::Ineligible};
use shiftwire_matching::{MatchingError, ShiftPatch};
use shiftwire_test_support::domain::{MERCY_GENERAL, Marketplace, release_ineligible};
use sqlx::PgPool;

fn at_the_door() -> Coordinates {
    Coordinates::new(MERCY_GENERAL.0, MERCY_GENERAL.1).expect("coordinates")
}

#[sqlx::test(migrations = "../../migrations")]
async fn of_many_concurrent_claims_exactly_one_wins(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    let shift = market.post(Duration::hours(4), 8).await;
    let mut nurses = Vec::new();
    for _ in 0..12 {
        nurses.push(market.nurse().await);
    }
    let claims = join_all(
        nurses
            .iter()
            .map(|nurse| market.matching.claim(*nurse, shift.id)),
    )
    .await;
    let won: Vec<_> = claims.iter().filter_map(|c| c.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{claims:?}");
    assert!(
        claims
            .iter()
            .filter_map(|c| c.as_ref().err())
            .all(|e| matches!(e, MatchingError::ShiftTaken)),
        "{claims:?}"
    );
    assert_eq!(won[0].status, BookingStatus::Booked);
    let booked = market.shift(shift.id).await;
    assert_eq!(booked.status, ShiftStatus::Booked);
    assert_eq!(booked.booking.map(|b| b.nurse_id), Some(won[0].nurse_id));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_release_reopens_the_shift_for_someone_else(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    let shift = market.post(Duration::hours(4), 8).await;
    let (first, second) = (market.nurse().await, market.nurse().await);
    let booking = market.claim(first, shift.id).await;
    let released = market
        .matching
        .release(first, booking.id, "my child is sick")
        .await
        .expect("release");
    assert_eq!(released.status, BookingStatus::Released);
    assert!(matches!(
        market.matching.release(first, booking.id, "again").await,
        Err(MatchingError::NotReleasable)
    ));
    let reopened = market.shift(shift.id).await;
    assert_eq!(
        (reopened.status, reopened.release_count),
        (ShiftStatus::Open, 1)
    );
    assert!(
        market
            .events
            .topics()
            .ends_with(&["shift.released", "shift.opened"])
    );
    let rebooked = market.claim(second, shift.id).await;
    assert_eq!(rebooked.nurse_id, second);
}

#[sqlx::test(migrations = "../../migrations")]
async fn one_nurse_never_holds_two_overlapping_bookings(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    let day = market.post(Duration::hours(4), 8).await;
    let overlapping = market.post(Duration::hours(8), 8).await;
    let back_to_back = market.post(Duration::hours(12), 8).await;
    let nurse = market.nurse().await;
    let (a, b) = tokio::join!(
        market.matching.claim(nurse, day.id),
        market.matching.claim(nurse, overlapping.id)
    );
    let refused = [&a, &b]
        .iter()
        .filter(|c| matches!(c, Err(MatchingError::ScheduleConflict)))
        .count();
    assert_eq!(
        (a.is_ok() as u8 + b.is_ok() as u8, refused),
        (1, 1),
        "{a:?} {b:?}"
    );
    // Whichever won, the shift after the day shift does not overlap it...
    let after = market.matching.claim(nurse, back_to_back.id).await;
    if a.is_ok() {
        assert!(after.is_ok(), "back to back is not overlapping: {after:?}");
    } else {
        assert!(matches!(after, Err(MatchingError::ScheduleConflict)));
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_machines_refuse_what_they_do_not_allow(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    let door = at_the_door();
    let shift = market.post(Duration::minutes(20), 8).await;
    let nurse = market.nurse().await;
    let booking = market.claim(nurse, shift.id).await;
    assert!(matches!(
        market.matching.check_out(nurse, booking.id, door).await,
        Err(MatchingError::NotCheckable(BookingStatus::Booked, "out"))
    ));
    let started = market
        .matching
        .check_in(nurse, booking.id, door)
        .await
        .expect("check in");
    assert_eq!(started.status, BookingStatus::InProgress);
    assert_eq!(started.shift.status, ShiftStatus::InProgress);
    assert!(matches!(
        market
            .matching
            .release(nurse, booking.id, "changed my mind")
            .await,
        Err(MatchingError::NotReleasable)
    ));
    assert!(matches!(
        market.cancel_shift(shift.id, "no longer needed").await,
        Err(MatchingError::ShiftNotCancellable(ShiftStatus::InProgress))
    ));
    let patch = ShiftPatch {
        unit: Some(shiftwire_core::Unit::new("ICU").expect("unit")),
        ..ShiftPatch::default()
    };
    assert!(matches!(
        market.update_shift(shift.id, patch).await,
        Err(MatchingError::ShiftNotEditable(ShiftStatus::InProgress))
    ));
    assert!(matches!(
        market.matching.check_in(nurse, booking.id, door).await,
        Err(MatchingError::NotCheckable(BookingStatus::InProgress, "in"))
    ));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_booked_shifts_terms_are_the_bookings(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    let shift = market.post(Duration::hours(4), 8).await;
    let nurse = market.nurse().await;
    market.claim(nurse, shift.id).await;
    let later = ShiftPatch {
        starts_at: Some(shift.terms.starts_at() + Duration::hours(1)),
        ends_at: Some(shift.terms.ends_at() + Duration::hours(1)),
        ..ShiftPatch::default()
    };
    assert!(matches!(
        market.update_shift(shift.id, later).await,
        Err(MatchingError::ShiftBooked(_))
    ));
    let raise = ShiftPatch {
        hourly_rate_cents: Some(shiftwire_core::HourlyRate::new(7000).expect("rate")),
        ..ShiftPatch::default()
    };
    let raised = market.update_shift(shift.id, raise).await.expect("a raise");
    assert_eq!(raised.terms.hourly_rate_cents.cents(), 7000);
    let booking = market
        .matching
        .bookings_of(nurse, None, None, None, 10)
        .await
        .expect("bookings");
    assert_eq!(
        booking[0].shift.terms, raised.terms,
        "the booking shows the shift as it is"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_nurse_who_becomes_ineligible_loses_her_future_bookings_and_cannot_claim(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    let (kept, lost) = (
        market.post(Duration::hours(4), 8).await,
        market.post(Duration::hours(30), 8).await,
    );
    let nurse = market.nurse().await;
    market.claim(nurse, kept.id).await;
    let booking = market.claim(nurse, lost.id).await;

    market.standings.suspend(nurse);
    let events = market.release_ineligible(nurse).await;
    // Both bookings were in the future: both go, each re-opening its shift.
    let topics: Vec<_> = events.iter().map(|e| e.event.topic()).collect();
    assert_eq!(
        topics,
        [
            "shift.released",
            "shift.opened",
            "shift.released",
            "shift.opened"
        ]
    );
    let cancelled = market.booking(nurse, booking.id).await;
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    assert_eq!(cancelled.cancel_reason.as_deref(), Some("nurse_ineligible"));
    assert_eq!(cancelled.cancel_detail.as_deref(), Some("suspended"));
    for shift in [kept.id, lost.id] {
        let reopened = market.shift(shift).await;
        assert_eq!(reopened.status, ShiftStatus::Open);
    }
    assert!(matches!(
        market.matching.claim(nurse, kept.id).await,
        Err(MatchingError::NotEligible(Ineligible::Suspended))
    ));
}

/// A suspension lands between a claim's read of the nurse's standing and its commit:
/// the release of her bookings waits for the claim, then releases what it booked. Never
/// a booking that outlives the suspension.
#[sqlx::test(migrations = "../../migrations")]
async fn a_suspension_in_the_middle_of_a_claim_still_releases_its_booking(pool: PgPool) {
    let market = Marketplace::new(pool).await;
    for _ in 0..5 {
        let shift = market.post(Duration::hours(4), 8).await;
        let nurse = market.nurse().await;
        market.standings.hold_next_read();
        let claiming = {
            let matching = market.matching.clone();
            tokio::spawn(async move { matching.claim(nurse, shift.id).await })
        };
        // The claim has read her standing (verified) and waits to go on.
        market.standings.entered.notified().await;
        market.standings.suspend(nurse);
        let releasing = {
            let (matching, pool) = (market.matching.clone(), market.pool.clone());
            tokio::spawn(async move { release_ineligible(&matching, &pool, nurse).await.len() })
        };
        // Give the release every chance to finish first if nothing held it back.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        market.standings.release.notify_one();
        let booking = claiming
            .await
            .expect("claim task")
            .expect("the claim read her as verified");
        assert_eq!(
            releasing.await.expect("release task"),
            2,
            "released and re-opened"
        );
        let now = market.booking(nurse, booking.id).await;
        assert_eq!(
            now.status,
            BookingStatus::Cancelled,
            "the booking did not outlive the suspension"
        );
    }
}
