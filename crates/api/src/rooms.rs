//! The arrows between rooms, wired here and nowhere else. Each domain crate states what
//! it needs of the others as a trait; these adapters answer with the crate that owns the
//! answer:
//! - the marketplace's [`Standings`]: suspension from the accounts, approved credentials
//!   from verification, read inside the caller's transaction;
//! - the accounts' and verification's [`Consequence`] of a nurse becoming ineligible:
//!   the marketplace releases the bookings she may no longer work, in the same
//!   transaction;
//! - the real-time layer's [`DeliverySource`] and [`DeliveryLog`]: bookings, offers and
//!   live locations from the marketplace, credentials and identities from verification,
//!   names from the accounts;
//! - the push planner's [`UrgentTexts`]: phone numbers, the SMS gateway and the SMS
//!   budget stay with sign-in.

use anyhow::Context;
use async_trait::async_trait;
use shiftwire_auth::{Accounts, NurseTexts, TextRefused};
use shiftwire_core::{
    Coordinates, PublishedEvent,
    delivery::{CatchUp, HeldOffer, LocationRecord, OfferRecord, OpenShift},
    eligibility::{NurseRecord, Standing},
};
use shiftwire_matching::{Matching, MatchingError, Standings};
use shiftwire_notify::{
    DeliveryLog, DeliverySource,
    push::{TextError, UrgentTexts},
};
use shiftwire_outbox::Consequence;
use shiftwire_verification::{Verification, VerificationError};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// A nurse's standing, as the accounts and verification hold it.
pub(crate) struct NurseStandings;

#[async_trait]
impl Standings for NurseStandings {
    async fn of(
        &self,
        conn: &mut PgConnection,
        nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Standing>, sqlx::Error> {
        let suspended = shiftwire_auth::nurse_standing_in(&mut *conn, nurse_ids).await?;
        let mut credentials =
            shiftwire_verification::approved_credentials_in(&mut *conn, nurse_ids).await?;
        Ok(suspended
            .into_iter()
            .map(|(id, suspended)| {
                let standing = Standing {
                    suspended,
                    credentials: credentials.remove(&id).unwrap_or_default(),
                };
                (id, standing)
            })
            .collect())
    }
}

/// Bookings follow eligibility: the marketplace releases what she may no longer work.
pub(crate) struct ReleaseIneligibleBookings(pub(crate) Matching);

#[async_trait]
impl Consequence for ReleaseIneligibleBookings {
    async fn follow(
        &self,
        conn: &mut PgConnection,
        nurse_id: Uuid,
    ) -> Result<Vec<PublishedEvent>, sqlx::Error> {
        self.0
            .release_ineligible_in(conn, nurse_id)
            .await
            .map_err(|error| match error {
                MatchingError::Database(e) => e,
                // A stored value the marketplace cannot read.
                other => sqlx::Error::Decode(other.into()),
            })
    }
}

/// What the real-time layer reads and records, from the rooms that own it.
pub(crate) struct Delivery {
    pub(crate) matching: Matching,
    pub(crate) verification: Verification,
    pub(crate) accounts: Accounts,
}

/// `None` for what is gone, an error for what failed.
fn found<T>(result: Result<T, VerificationError>) -> anyhow::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(VerificationError::NotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl DeliverySource for Delivery {
    async fn nurse_records(
        &self,
        nurse_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, NurseRecord>> {
        Ok(self.matching.nurse_records(nurse_ids).await?)
    }

    async fn nurses_near(&self, at: shiftwire_core::Coordinates) -> anyhow::Result<Vec<Uuid>> {
        Ok(self.matching.nurses_near(at).await?)
    }

    async fn booking(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        match self.matching.booking(nurse_id, booking_id).await {
            Ok(booking) => Ok(Some(serde_json::to_value(booking)?)),
            Err(MatchingError::NotFound) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn booking_of_shift(
        &self,
        nurse_id: Uuid,
        shift_id: Uuid,
    ) -> anyhow::Result<Option<Uuid>> {
        Ok(self.matching.booking_of_shift(nurse_id, shift_id).await?)
    }

    async fn credential(&self, credential_id: Uuid) -> anyhow::Result<Option<serde_json::Value>> {
        found(self.verification.credential(credential_id).await)?
            .map(serde_json::to_value)
            .transpose()
            .context("serialising a credential")
    }

    async fn identity(&self, identity_id: Uuid) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(
            found(self.verification.identity_by_id(identity_id).await)?.map(|identity| {
                serde_json::json!({
                    "id": identity.id,
                    "status": identity.status,
                    "legal_name": identity.effective_legal_name(),
                    "decision_reason": identity.decision_reason,
                    "decided_at": identity.decided_at,
                })
            }),
        )
    }

    async fn nurse_name(&self, nurse_id: Uuid) -> anyhow::Result<Option<String>> {
        Ok(self
            .accounts
            .names(&[nurse_id])
            .await?
            .remove(&nurse_id)
            .flatten())
    }

    async fn open_shifts_since(
        &self,
        since: CatchUp,
        position: Coordinates,
    ) -> anyhow::Result<Vec<OpenShift>> {
        Ok(self.matching.open_shifts_since(since, position).await?)
    }

    async fn held_offers(
        &self,
        nurse_id: Uuid,
        since: CatchUp,
        positions: &[Coordinates],
    ) -> anyhow::Result<Vec<HeldOffer>> {
        Ok(self
            .matching
            .held_offers(nurse_id, since, positions)
            .await?)
    }

    async fn load_followers(&self) -> anyhow::Result<Option<i64>> {
        Ok(Some(self.matching.load_book().await?))
    }

    fn follow(&self, event: &shiftwire_core::PublishedEvent) {
        self.matching.book().follow(event);
    }

    fn follow_tick(&self, now: chrono::DateTime<chrono::Utc>) {
        self.matching.book().prune(now);
    }
}

#[async_trait]
impl DeliveryLog for Delivery {
    async fn record_offers(&self, batch: &[OfferRecord]) -> anyhow::Result<()> {
        Ok(self.matching.record_offers(batch).await?)
    }

    async fn record_locations(&self, batch: &[LocationRecord]) -> anyhow::Result<()> {
        Ok(self.matching.record_live_locations(batch).await?)
    }

    async fn prune_offers(&self) -> anyhow::Result<u64> {
        Ok(self.matching.prune_offers().await?)
    }
}

/// Urgent-shift texts through sign-in's SMS gateway and budget.
pub(crate) struct TextsBySms(pub NurseTexts);

#[async_trait]
impl UrgentTexts for TextsBySms {
    async fn urgent_shift(&self, nurse_id: Uuid, body: &str) -> Result<(), TextError> {
        self.0
            .urgent_shift(nurse_id, body)
            .await
            .map_err(|refused| match refused {
                TextRefused::Budget => TextError::Budget,
                TextRefused::NoPhone => TextError::NoPhone,
                TextRefused::Gateway(why) => TextError::Retry(why),
            })
    }
}
