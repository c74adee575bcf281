//! A fake of the rooms behind the seam, for the real-time layer's unit tests: what a
//! test puts in it is what delivery reads, and what delivery records stays in it.

use crate::{DeliveryLog, DeliverySource};
use async_trait::async_trait;
use chrono::{Duration, NaiveDate, Utc};
use shiftwire_core::{
    Coordinates, CredentialKind, HourlyRate, OpenedShift, ShiftTerms, ShiftWindow, Unit,
    delivery::{CatchUp, HeldOffer, LocationRecord, OfferRecord, OpenShift},
    eligibility::{HeldCredential, NurseFacts, NurseRecord},
};
use std::{collections::HashMap, sync::Mutex};
use uuid::Uuid;

pub(crate) fn at(lat: f64, lon: f64) -> Coordinates {
    Coordinates::new(lat, lon).expect("coordinates")
}

/// An open RN shift in California at (`lat`, `lon`), starting in two hours.
pub(crate) fn opened_shift(lat: f64, lon: f64) -> OpenedShift {
    let starts_at = Utc::now() + Duration::hours(2);
    OpenedShift {
        facility_name: "Mercy General".into(),
        facility_state: "CA".into(),
        location: at(lat, lon),
        terms: ShiftTerms::new(
            CredentialKind::RN,
            ShiftWindow::new(starts_at, starts_at + Duration::hours(12)).expect("window"),
            HourlyRate::new(9000).expect("rate"),
            Unit::new("ICU").expect("unit"),
            vec![],
        )
        .expect("terms"),
        excluded: vec![],
        facility_id: uuid::Uuid::nil(),
        favourites_until: None,
    }
}

/// A verified, available Californian RN at home at (`lat`, `lon`), going 25 km.
pub(crate) fn nurse_at(lat: f64, lon: f64) -> NurseRecord {
    NurseRecord {
        facts: NurseFacts {
            nurse_id: uuid::Uuid::now_v7(),
            suspended: false,
            available: true,
            credentials: vec![HeldCredential {
                kind: CredentialKind::RN,
                state: Some("CA".into()),
                multistate: false,
                expires_on: NaiveDate::from_ymd_opt(2099, 1, 1).expect("date"),
            }],
            position: Some(at(lat, lon)),
            max_distance_km: 25.0,
            booked: vec![],
            blocked_at: vec![],
            favourite_of: vec![],
            restricted_until: None,
        },
        home: Some(at(lat, lon)),
        live: None,
    }
}

#[derive(Default)]
pub(crate) struct FakeRooms {
    pub(crate) nurses: Mutex<HashMap<Uuid, NurseRecord>>,
    pub(crate) bookings: Mutex<HashMap<Uuid, serde_json::Value>>,
    pub(crate) names: Mutex<HashMap<Uuid, String>>,
    pub(crate) open: Mutex<Vec<OpenShift>>,
    pub(crate) offers: Mutex<Vec<OfferRecord>>,
    pub(crate) locations: Mutex<Vec<LocationRecord>>,
}

#[async_trait]
impl DeliverySource for FakeRooms {
    async fn nurse_records(
        &self,
        nurse_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, NurseRecord>> {
        let nurses = self.nurses.lock().expect("lock");
        Ok(nurse_ids
            .iter()
            .filter_map(|id| nurses.get(id).map(|n| (*id, n.clone())))
            .collect())
    }

    async fn nurses_near(&self, at: shiftwire_core::Coordinates) -> anyhow::Result<Vec<Uuid>> {
        let nurses = self.nurses.lock().expect("lock");
        Ok(nurses
            .iter()
            .filter(|(_, n)| {
                n.facts.position.is_some_and(|p| {
                    shiftwire_core::eligibility::distance_m(p, at)
                        <= n.facts.max_distance_km * 1000.0
                })
            })
            .map(|(id, _)| *id)
            .collect())
    }

    async fn booking(
        &self,
        _nurse_id: Uuid,
        booking_id: Uuid,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(self
            .bookings
            .lock()
            .expect("lock")
            .get(&booking_id)
            .cloned())
    }

    async fn booking_of_shift(&self, _: Uuid, _: Uuid) -> anyhow::Result<Option<Uuid>> {
        Ok(None)
    }

    async fn credential(&self, _: Uuid) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(None)
    }

    async fn identity(&self, _: Uuid) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(None)
    }

    async fn nurse_name(&self, nurse_id: Uuid) -> anyhow::Result<Option<String>> {
        Ok(self.names.lock().expect("lock").get(&nurse_id).cloned())
    }

    async fn open_shifts_since(
        &self,
        since: CatchUp,
        _position: Coordinates,
    ) -> anyhow::Result<Vec<OpenShift>> {
        Ok(self
            .open
            .lock()
            .expect("lock")
            .iter()
            .filter(|o| o.opened_seq > since.last_seq && o.opened_seq <= since.up_to)
            .cloned()
            .collect())
    }

    async fn held_offers(
        &self,
        _: Uuid,
        _: CatchUp,
        _: &[Coordinates],
    ) -> anyhow::Result<Vec<HeldOffer>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl DeliveryLog for FakeRooms {
    async fn record_offers(&self, batch: &[OfferRecord]) -> anyhow::Result<()> {
        self.offers.lock().expect("lock").extend_from_slice(batch);
        Ok(())
    }

    async fn record_locations(&self, batch: &[LocationRecord]) -> anyhow::Result<()> {
        self.locations
            .lock()
            .expect("lock")
            .extend_from_slice(batch);
        Ok(())
    }

    async fn prune_offers(&self) -> anyhow::Result<u64> {
        Ok(0)
    }
}
