//! The in-memory index of connected nurses: what eligibility needs about each, and an
//! R-tree of the area each can reach, so matching a shift visits the nurses whose reach
//! covers its facility instead of every connection.

use chrono::{DateTime, Utc};
use rstar::{RTree, primitives::GeomWithData, primitives::Rectangle};
use shiftwire_core::eligibility::NurseRecord;
use shiftwire_core::{Coordinates, eligibility::NurseFacts};
use std::collections::HashMap;
use uuid::Uuid;

/// A box in (lon, lat) degrees that holds every point within a nurse's radius.
type Reach = GeomWithData<Rectangle<[f64; 2]>, Uuid>;

/// The smallest radius of the earth (polar), so angles derived from it are upper bounds.
const POLAR_RADIUS_M: f64 = 6_356_752.3;
/// Margin on every box, for the ellipsoid and rounding: boxes only pre-filter.
const MARGIN: f64 = 1.01;

struct IndexedNurse {
    record: NurseRecord,
    reaches: Vec<Reach>,
}

#[derive(Default)]
pub(crate) struct NurseIndex {
    tree: RTree<Reach>,
    nurses: HashMap<Uuid, IndexedNurse>,
}

impl NurseIndex {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.nurses.len()
    }

    pub(crate) fn contains(&self, nurse_id: Uuid) -> bool {
        self.nurses.contains_key(&nurse_id)
    }

    /// Adds or replaces a nurse's facts.
    pub(crate) fn upsert(&mut self, nurse_id: Uuid, record: NurseRecord) {
        self.remove(nurse_id);
        let reaches = reaches_of(nurse_id, &record);
        for reach in &reaches {
            self.tree.insert(*reach);
        }
        self.nurses
            .insert(nurse_id, IndexedNurse { record, reaches });
    }

    pub(crate) fn remove(&mut self, nurse_id: Uuid) {
        if let Some(old) = self.nurses.remove(&nurse_id) {
            for reach in &old.reaches {
                self.tree.remove(reach);
            }
        }
    }

    /// Records a live location reported over the WebSocket.
    pub(crate) fn set_live(&mut self, nurse_id: Uuid, at: Coordinates, now: DateTime<Utc>) {
        if let Some(mut entry) = self.nurses.remove(&nurse_id) {
            for reach in &entry.reaches {
                self.tree.remove(reach);
            }
            entry.record.live = Some((at, now));
            let record = entry.record.positioned(now);
            self.upsert(nurse_id, record);
        }
    }

    /// Nurses whose reach may cover `point` (each once); eligibility decides.
    pub(crate) fn candidates(&self, point: Coordinates) -> Vec<Uuid> {
        let mut found: Vec<Uuid> = self
            .tree
            .locate_all_at_point(&[point.lon(), point.lat()])
            .map(|reach| reach.data)
            .collect();
        // A nurse has up to four boxes (home and live, each maybe split at ±180°).
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Every position a nurse may have been matched from lately: home, and the last live
    /// location whatever its age.
    pub(crate) fn positions(&self, nurse_id: Uuid) -> Vec<Coordinates> {
        self.nurses
            .get(&nurse_id)
            .map(|n| {
                [n.record.home, n.record.live.map(|(at, _)| at)]
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A nurse's facts with the position that counts at `now` (a live location older
    /// than 15 minutes gives way to home).
    pub(crate) fn facts_at(&mut self, nurse_id: Uuid, now: DateTime<Utc>) -> Option<&NurseFacts> {
        let entry = self.nurses.get_mut(&nurse_id)?;
        entry.record.facts.position = entry.record.position_at(now);
        Some(&entry.record.facts)
    }
}

/// Boxes covering the nurse's radius around home and around the live location: the
/// position that counts changes with time (a live location expires), and both stay
/// candidates until eligibility decides.
fn reaches_of(nurse_id: Uuid, record: &NurseRecord) -> Vec<Reach> {
    let radius_m = record.facts.max_distance_km * 1000.0;
    let mut reaches = Vec::new();
    for centre in [record.home, record.live.map(|(at, _)| at)]
        .into_iter()
        .flatten()
    {
        for rect in boxes_around(centre, radius_m) {
            reaches.push(GeomWithData::new(rect, nurse_id));
        }
    }
    reaches
}

/// (lon, lat) boxes that together hold every point within `radius_m` of `centre`: one,
/// or two when the circle crosses the antimeridian, or a full band of latitude near a pole.
fn boxes_around(centre: Coordinates, radius_m: f64) -> Vec<Rectangle<[f64; 2]>> {
    let angle = radius_m / POLAR_RADIUS_M * MARGIN + 1e-9;
    let dlat = angle.to_degrees();
    let (lat, lon) = (centre.lat(), centre.lon());
    let south = (lat - dlat).max(-90.0);
    let north = (lat + dlat).min(90.0);
    // Widest longitude span of a spherical circle: sin(dlon) = sin(r) / cos(lat).
    let sin_dlon = angle.sin() / lat.to_radians().cos();
    // NaN (never expected) also takes the full band.
    if sin_dlon.is_nan() || sin_dlon >= 1.0 || north >= 90.0 || south <= -90.0 {
        return vec![Rectangle::from_corners([-180.0, south], [180.0, north])];
    }
    let dlon = (sin_dlon.asin() * MARGIN).to_degrees();
    let (west, east) = (lon - dlon, lon + dlon);
    if west < -180.0 {
        vec![
            Rectangle::from_corners([-180.0, south], [east, north]),
            Rectangle::from_corners([west + 360.0, south], [180.0, north]),
        ]
    } else if east > 180.0 {
        vec![
            Rectangle::from_corners([west, south], [180.0, north]),
            Rectangle::from_corners([-180.0, south], [east - 360.0, north]),
        ]
    } else {
        vec![Rectangle::from_corners([west, south], [east, north])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstar::{AABB, Envelope, RTreeObject};
    use shiftwire_core::eligibility::distance_m;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).expect("coordinates")
    }

    fn covered(boxes: &[Rectangle<[f64; 2]>], p: Coordinates) -> bool {
        boxes
            .iter()
            .any(|b| b.envelope().contains_point(&[p.lon(), p.lat()]))
    }

    fn record(home: Coordinates, km: f64) -> NurseRecord {
        NurseRecord {
            facts: NurseFacts {
                nurse_id: Uuid::nil(),
                suspended: false,
                available: true,
                credentials: vec![],
                position: Some(home),
                max_distance_km: km,
                booked: vec![],
                blocked_at: vec![],
                favourite_of: vec![],
                restricted_until: None,
            },
            home: Some(home),
            live: None,
        }
    }

    #[test]
    fn candidates_are_the_nurses_whose_reach_covers_the_point() {
        let mut index = NurseIndex::default();
        let (near, far) = (Uuid::now_v7(), Uuid::now_v7());
        index.upsert(near, record(at(37.80, -122.27), 25.0));
        index.upsert(far, record(at(34.05, -118.24), 25.0));
        assert_eq!(index.candidates(at(37.74, -122.38)), vec![near]);
        index.set_live(far, at(37.70, -122.40), Utc::now());
        let mut both = vec![near, far];
        both.sort_unstable();
        assert_eq!(index.candidates(at(37.74, -122.38)), both);
        index.remove(near);
        assert_eq!(index.candidates(at(37.74, -122.38)), vec![far]);
        // Home still counts as a candidate position: the live one may expire.
        assert_eq!(index.candidates(at(34.06, -118.25)), vec![far]);
        assert_eq!(index.len(), 1);
        assert_eq!(index.tree.size(), 2);
    }

    #[test]
    fn a_reach_across_the_antimeridian_is_split() {
        let boxes = boxes_around(at(0.0, 179.95), 50_000.0);
        assert_eq!(boxes.len(), 2);
        assert!(covered(&boxes, at(0.0, -179.9)));
        assert!(covered(&boxes, at(0.0, 179.7)));
        assert!(!covered(&boxes, at(0.0, -179.0)));
        let polar = boxes_around(at(89.9, 10.0), 50_000.0);
        assert_eq!(
            polar[0].envelope(),
            AABB::from_corners([-180.0, polar[0].lower()[1]], [180.0, 90.0])
        );
    }

    proptest! {
        /// Every point within the radius (by the eligibility rule's own distance) lies in
        /// a box: the pre-filter never drops an eligible nurse.
        #[test]
        fn boxes_hold_every_point_in_the_radius(
            lat in -89.5f64..=89.5, lon in -180.0f64..=180.0,
            km in 1.0f64..=200.0, bearing in 0.0f64..360.0, fraction in 0.0f64..=1.0,
        ) {
            let centre = at(lat, lon);
            let boxes = boxes_around(centre, km * 1000.0);
            // A point roughly `fraction` of the radius away along `bearing`.
            let d = km * 1000.0 * fraction / 6_371_008.8;
            let (phi, lam, theta) = (lat.to_radians(), lon.to_radians(), bearing.to_radians());
            let phi2 = (phi.sin() * d.cos() + phi.cos() * d.sin() * theta.cos()).asin();
            let lam2 = lam + (theta.sin() * d.sin() * phi.cos()).atan2(d.cos() - phi.sin() * phi2.sin());
            let lon2 = (lam2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
            let p = at(phi2.to_degrees().clamp(-90.0, 90.0), lon2.clamp(-180.0, 180.0));
            if distance_m(centre, p) <= km * 1000.0 {
                prop_assert!(covered(&boxes, p), "{p:?} within {km} km of {centre:?}");
            }
        }
    }
}
