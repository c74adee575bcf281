//! The narrow seam between delivery and the rooms that own the data: what the real-time
//! layer needs to know (a nurse's eligibility facts, a booking, a credential, an
//! identity, a name, the open shifts and held offers a `resume` catches up with) and
//! what it records (offers made, live locations). `api` implements both over the domain
//! crates; `notify` runs no SQL on their tables and knows none of them.

use async_trait::async_trait;
use shiftwire_core::{
    Coordinates, PublishedEvent,
    delivery::{CatchUp, HeldOffer, LocationRecord, OfferRecord, OpenShift},
    eligibility::NurseRecord,
};
use std::collections::HashMap;
use uuid::Uuid;

/// What delivery reads. Payloads of frames (`booking`, `credential`, `identity`) come
/// as the JSON the client receives, so their shapes stay with their owners.
#[async_trait]
pub trait DeliverySource: Send + Sync {
    /// Eligibility facts of each of `nurse_ids` that is a nurse.
    async fn nurse_records(&self, nurse_ids: &[Uuid])
    -> anyhow::Result<HashMap<Uuid, NurseRecord>>;

    /// Available nurses whose reach (home, or a fresh live location, and their own
    /// radius) takes in `at`: the first cut of who may hear of a shift by push.
    async fn nurses_near(&self, at: Coordinates) -> anyhow::Result<Vec<Uuid>>;

    /// One of the nurse's bookings, as `booking.updated` carries it.
    async fn booking(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
    ) -> anyhow::Result<Option<serde_json::Value>>;

    /// The latest booking of `shift_id` by `nurse_id`.
    async fn booking_of_shift(
        &self,
        nurse_id: Uuid,
        shift_id: Uuid,
    ) -> anyhow::Result<Option<Uuid>>;

    /// A credential, as `verification.updated` carries it.
    async fn credential(&self, credential_id: Uuid) -> anyhow::Result<Option<serde_json::Value>>;

    /// An identity check, as `identity.updated` carries it; `None` if superseded.
    async fn identity(&self, identity_id: Uuid) -> anyhow::Result<Option<serde_json::Value>>;

    /// A nurse's display name, for her facility's schedulers.
    async fn nurse_name(&self, nurse_id: Uuid) -> anyhow::Result<Option<String>>;

    /// Open shifts in reach of `position` opened since the catch-up's `last_seq`, newest
    /// first.
    async fn open_shifts_since(
        &self,
        since: CatchUp,
        position: Coordinates,
    ) -> anyhow::Result<Vec<OpenShift>>;

    /// Offers the nurse held (or may have held, in reach of `positions`) at `last_seq`,
    /// with what became of each since.
    async fn held_offers(
        &self,
        nurse_id: Uuid,
        since: CatchUp,
        positions: &[Coordinates],
    ) -> anyhow::Result<Vec<HeldOffer>>;

    /// Loads what the node keeps in memory of the committed event stream beside the
    /// dispatcher (the book of open shifts nearby search reads), and answers the outbox
    /// position it reflects: the dispatcher starts there and hands every later event to
    /// [`Self::follow`]. `None`: nothing is kept; the dispatcher starts at the end.
    async fn load_followers(&self) -> anyhow::Result<Option<i64>> {
        Ok(None)
    }

    /// One committed event, in outbox order, after the position `load_followers` gave.
    fn follow(&self, _event: &PublishedEvent) {}

    /// Once a second, from the dispatcher.
    fn follow_tick(&self, _now: chrono::DateTime<chrono::Utc>) {}
}

/// What delivery records, in batches, after the frames went out.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    async fn record_offers(&self, batch: &[OfferRecord]) -> anyhow::Result<()>;
    async fn record_locations(&self, batch: &[LocationRecord]) -> anyhow::Result<()>;
    /// Deletes offers nobody needs any more; returns how many.
    async fn prune_offers(&self) -> anyhow::Result<u64>;
}
