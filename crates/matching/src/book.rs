//! The book of open shifts: each node keeps every open shift in memory, in a spatial index
//! with the facts eligibility needs, so that nearby search walks it nearest-first and
//! applies the one rule of `shiftwire_core::eligibility` without a PostGIS query.
//!
//! It is loaded at start in one snapshot together with the outbox position that snapshot
//! reflects; the dispatcher then starts at that position and hands the book every event
//! after it, in outbox order (`follow`). So the book is as current as the dispatcher, and
//! PostGIS stays the system of record: a claim re-checks everything in the database.
//!
//! Points are unit vectors on the sphere: the straight-line (chord) distance between two
//! of them grows with the great-circle distance, so the R*-tree's nearest-first walk is a
//! great-circle walk. The page order (`order_key`) is that great-circle distance in
//! metres; the distance shown to the nurse is geodesic (WGS 84), as before.

use crate::{MatchingError, NearbyQuery, NearbyShift, stored};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use rstar::{AABB, PointDistance, RTree, RTreeNode, RTreeObject};
use shiftwire_core::{
    Coordinates, DomainEvent, OpenedShift, PublishedEvent,
    delivery::{CatchUp, OpenShift},
    eligibility::{NurseFacts, ShiftFacts, distance_m, eligible_at_distance},
    no_show::REOFFER_MIN_REMAINING,
};
use sqlx::{PgPool, Row};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};
use tokio::sync::watch;
use uuid::Uuid;

/// Mean Earth radius (IUGG), metres: what great-circle distances are measured on.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Most equally distant shifts (one facility's) a page boundary may cut through before the
/// page is cut there anyway; the same bound the SQL search has.
const TIE_CAP: usize = 1000;

/// Most shifts a resume reads newest-first by opening before it walks the spatial index
/// instead (a client away for long, or far from where the newest shifts opened).
const OPENING_WALK: usize = 4096;

/// A shift's place in the spatial index.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spot {
    xyz: [f64; 3],
    id: Uuid,
}

impl RTreeObject for Spot {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.xyz)
    }
}

impl PointDistance for Spot {
    fn distance_2(&self, point: &[f64; 3]) -> f64 {
        chord_2(self.xyz, *point)
    }
}

/// The point on the unit sphere at `at`.
fn unit(at: Coordinates) -> [f64; 3] {
    let (lat, lon) = (at.lat().to_radians(), at.lon().to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn chord_2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// Great-circle metres of a squared chord of the unit sphere.
fn great_circle_m(chord_2: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord_2.sqrt() / 2.0).min(1.0).asin()
}

/// Chord (on the unit sphere) of a great-circle distance in metres.
fn chord_of_m(metres: f64) -> f64 {
    let angle = (metres / EARTH_RADIUS_M).min(std::f64::consts::PI);
    2.0 * (angle / 2.0).sin()
}

/// A tree node waiting in the walk, by its (least) squared chord to the centre.
struct Waiting<'t> {
    chord_2: f64,
    node: &'t RTreeNode<Spot>,
}

impl PartialEq for Waiting<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.chord_2.total_cmp(&other.chord_2).is_eq()
    }
}

impl Eq for Waiting<'_> {}

impl PartialOrd for Waiting<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiting<'_> {
    /// Reversed: the heap pops the nearest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.chord_2.total_cmp(&self.chord_2)
    }
}

/// The shifts of `tree` nearest-first from `centre` (with their squared chords), visiting
/// only the parts of the tree that may hold a shift within `reach_chord` of `from`: the
/// nurse's reach. Searching around a point far from her, the walk does not wade through
/// every shift near that point that she could not take.
struct Walk<'t> {
    heap: std::collections::BinaryHeap<Waiting<'t>>,
    centre: [f64; 3],
    from: [f64; 3],
    reach_chord_2: f64,
}

impl<'t> Walk<'t> {
    fn new(tree: &'t RTree<Spot>, centre: [f64; 3], from: [f64; 3], reach_chord: f64) -> Self {
        let mut walk = Self {
            heap: std::collections::BinaryHeap::new(),
            centre,
            from,
            reach_chord_2: reach_chord * reach_chord,
        };
        walk.push_children(tree.root().children());
        walk
    }

    fn push_children(&mut self, children: &'t [RTreeNode<Spot>]) {
        for node in children {
            let (to_centre, to_from) = match node {
                RTreeNode::Leaf(spot) => {
                    (chord_2(spot.xyz, self.centre), chord_2(spot.xyz, self.from))
                }
                RTreeNode::Parent(parent) => {
                    let envelope = parent.envelope();
                    (
                        envelope.distance_2(&self.centre),
                        envelope.distance_2(&self.from),
                    )
                }
            };
            if to_from <= self.reach_chord_2 {
                self.heap.push(Waiting {
                    chord_2: to_centre,
                    node,
                });
            }
        }
    }
}

impl<'t> Iterator for Walk<'t> {
    type Item = (f64, &'t Spot);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(Waiting { chord_2, node }) = self.heap.pop() {
            match node {
                RTreeNode::Leaf(spot) => return Some((chord_2, spot)),
                RTreeNode::Parent(parent) => self.push_children(parent.children()),
            }
        }
        None
    }
}

/// An open shift as the book keeps it.
struct Open {
    facts: ShiftFacts,
    facility_name: Arc<str>,
    /// Claimable until then: its start, or for a shift re-offered after a no-show, an hour
    /// before its end.
    open_until: DateTime<Utc>,
    /// The outbox position of the event that opened it (offers carry it); 0 if unknown.
    opened_seq: i64,
    xyz: [f64; 3],
}

#[derive(Default)]
struct Shelves {
    /// Boxed: a map's buckets are allocated to a power of two above its size, so an entry
    /// kept inline would cost its size up to twice over.
    shifts: HashMap<Uuid, Box<Open>>,
    tree: RTree<Spot>,
    /// Open shifts by the time they stop being claimable, so the tick drops them.
    closing: BTreeSet<(DateTime<Utc>, Uuid)>,
    /// Open shifts by the position of the event that opened them (known ones), so a
    /// resume reads the few opened since a client's last position first.
    by_opening: BTreeMap<i64, Uuid>,
    /// Facility names, shared by their shifts.
    names: HashMap<Uuid, Arc<str>>,
}

impl Shelves {
    fn name(&mut self, facility_id: Uuid, name: &str) -> Arc<str> {
        match self.names.get(&facility_id) {
            Some(known) if **known == *name => known.clone(),
            _ => {
                let name: Arc<str> = Arc::from(name);
                self.names.insert(facility_id, name.clone());
                name
            }
        }
    }

    fn put(&mut self, id: Uuid, open: Box<Open>) {
        self.take(id);
        self.tree.insert(Spot { xyz: open.xyz, id });
        self.shelve(id, open);
    }

    /// Files `open` everywhere but the spatial index (the loader bulk-loads that).
    fn shelve(&mut self, id: Uuid, open: Box<Open>) {
        self.closing.insert((open.open_until, id));
        if open.opened_seq > 0 {
            self.by_opening.insert(open.opened_seq, id);
        }
        self.shifts.insert(id, open);
    }

    fn take(&mut self, id: Uuid) -> Option<Box<Open>> {
        let open = self.shifts.remove(&id)?;
        self.tree.remove(&Spot { xyz: open.xyz, id });
        self.closing.remove(&(open.open_until, id));
        if self.by_opening.get(&open.opened_seq) == Some(&id) {
            self.by_opening.remove(&open.opened_seq);
        }
        Some(open)
    }
}

/// The node's book of open shifts. Shared (`Arc`) by nearby search and the dispatcher.
pub struct ShiftBook {
    shelves: RwLock<Shelves>,
    /// Loaded: until then nearby search reads PostGIS.
    ready: AtomicBool,
    /// The outbox position the book reflects.
    followed: watch::Sender<i64>,
    /// The last position of an event this node committed that changes the book: a search
    /// on this node waits for the book to reach it (a scheduler who just posted a shift,
    /// or a nurse who just released one, finds it).
    committed: AtomicI64,
}

impl Default for ShiftBook {
    fn default() -> Self {
        Self {
            shelves: RwLock::default(),
            ready: AtomicBool::new(false),
            followed: watch::Sender::new(0),
            committed: AtomicI64::new(0),
        }
    }
}

/// How a search is bounded and paged.
pub(crate) struct BookSearch<'a> {
    /// The nurse, positioned where she is matched from.
    pub nurse: &'a NurseFacts,
    pub query: &'a NearbyQuery,
    /// Where the search is centred.
    pub point: Coordinates,
    /// Geodesic search radius, metres.
    pub radius_m: f64,
    pub want: usize,
    pub now: DateTime<Utc>,
}

impl ShiftBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the book is loaded and followed (nearby search reads it).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether the book has followed every event this node committed that changes it,
    /// waiting at most `within` for the dispatcher to get there.
    pub async fn caught_up(&self, within: Duration) -> bool {
        let target = self.committed.load(Ordering::Acquire);
        if *self.followed.borrow() >= target {
            return true;
        }
        let mut followed = self.followed.subscribe();
        matches!(
            tokio::time::timeout(within, followed.wait_for(|at| *at >= target)).await,
            Ok(Ok(_))
        )
    }

    /// Notes that this node committed an event changing the book at `position`.
    pub fn committed(&self, position: i64) {
        self.committed.fetch_max(position, Ordering::AcqRel);
    }

    /// Open shifts in the book.
    pub fn len(&self) -> usize {
        self.read().shifts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, Shelves> {
        // Only in-memory code runs under the lock; a panic there leaves whole entries.
        self.shelves
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Shelves> {
        self.shelves
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads every open shift in one snapshot and answers the outbox position it
    /// reflects: the caller follows the events after it. Marks the book ready.
    pub async fn load(&self, pool: &PgPool) -> Result<i64, MatchingError> {
        // Event writers are held back (after those in flight finish) until the snapshot
        // is taken, so it holds exactly the events up to its largest position: none
        // below it is still being written. The snapshot's connection is taken first
        // (its snapshot starts at its first query, not here): held-back writers keep
        // their connections, and the pool could have none left for it.
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut paused = pool.begin().await?;
        shiftwire_outbox::pause_writers(&mut paused).await?;
        let position: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM outbox")
            .fetch_one(&mut *tx)
            .await?;
        paused.commit().await?;
        let mut shelves = Shelves::default();
        let mut spots = Vec::new();
        {
            let mut rows = sqlx::query(
                "SELECT s.id, s.facility_id, f.name AS facility_name, s.facility_state, s.role,
                        ST_Y(s.location::geometry) AS lat, ST_X(s.location::geometry) AS lon,
                        s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit,
                        s.required_certifications, s.favourites_until,
                        COALESCE(s.late_claim_until, s.starts_at) AS open_until,
                        COALESCE(s.opened_seq, 0) AS opened_seq,
                        COALESCE(ns.nurses, '{}') AS excluded
                 FROM shifts s
                 JOIN facilities f ON f.id = s.facility_id
                 LEFT JOIN (SELECT shift_id, array_agg(nurse_id) AS nurses FROM bookings
                            WHERE status = 'no_show' GROUP BY shift_id) ns ON ns.shift_id = s.id
                 WHERE s.status = 'open' AND COALESCE(s.late_claim_until, s.starts_at) > now()",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let id: Uuid = row.try_get("id")?;
                let facility_id: Uuid = row.try_get("facility_id")?;
                let location = Coordinates::new(row.try_get("lat")?, row.try_get("lon")?)
                    .map_err(|e| MatchingError::Invalid(format!("stored location: {e}")))?;
                let name: String = row.try_get("facility_name")?;
                let facility_name = shelves.name(facility_id, &name);
                let facts = ShiftFacts {
                    terms: stored::terms(
                        row.try_get("role")?,
                        row.try_get("starts_at")?,
                        row.try_get("ends_at")?,
                        row.try_get("hourly_rate_cents")?,
                        row.try_get("unit")?,
                        &row.try_get::<Vec<String>, _>("required_certifications")?,
                    )?,
                    facility_state: row.try_get("facility_state")?,
                    facility_location: location,
                    excluded: row.try_get("excluded")?,
                    facility_id,
                    favourites_until: row.try_get("favourites_until")?,
                };
                let xyz = unit(location);
                spots.push(Spot { xyz, id });
                shelves.shelve(
                    id,
                    Box::new(Open {
                        facts,
                        facility_name,
                        open_until: row.try_get("open_until")?,
                        opened_seq: row.try_get("opened_seq")?,
                        xyz,
                    }),
                );
            }
        }
        tx.commit().await?;
        shelves.tree = RTree::bulk_load(spots);
        *self.write() = shelves;
        self.followed.send_replace(position);
        self.ready.store(true, Ordering::Release);
        Ok(position)
    }

    /// Applies one committed event (the dispatcher's, in outbox order).
    pub fn follow(&self, published: &PublishedEvent) {
        match &published.event {
            DomainEvent::ShiftOpened {
                shift_id, shift, ..
            } => self.open(*shift_id, shift, None, published.seq),
            DomainEvent::ShiftUpdated {
                shift_id,
                shift,
                opened_seq,
                ..
            } => {
                // A re-offer's claim deadline was fixed when it re-opened.
                let kept = self.read().shifts.get(shift_id).map(|o| o.open_until);
                self.open(*shift_id, shift, kept, *opened_seq);
            }
            DomainEvent::ShiftBooked { shift_id, .. }
            | DomainEvent::ShiftCancelled { shift_id, .. } => {
                self.write().take(*shift_id);
            }
            _ => {}
        }
        self.followed.send_if_modified(|at| {
            let moved = published.seq > *at;
            *at = (*at).max(published.seq);
            moved
        });
    }

    fn open(
        &self,
        shift_id: Uuid,
        shift: &OpenedShift,
        open_until: Option<DateTime<Utc>>,
        opened_seq: i64,
    ) {
        let open_until = open_until.unwrap_or_else(|| claimable_until(shift));
        let mut shelves = self.write();
        let facility_name = shelves.name(shift.facility_id, &shift.facility_name);
        shelves.put(
            shift_id,
            Box::new(Open {
                facts: shift.facts(),
                facility_name,
                open_until,
                opened_seq,
                xyz: unit(shift.location),
            }),
        );
    }

    /// The outbox position the book reflects.
    pub fn followed(&self) -> i64 {
        *self.followed.borrow()
    }

    /// What a resume offers: the shifts still claimable at `now` that were opened in
    /// `(since.last_seq, since.up_to]` within `since.radius_m` (geodesic, plus a metre, as
    /// the PostGIS reference has it) of `position`, newest opening first, at most
    /// `since.limit`. Complete only once the book has followed `since.up_to`.
    pub fn opened_since(
        &self,
        since: &CatchUp,
        position: Coordinates,
        now: DateTime<Utc>,
    ) -> Vec<OpenShift> {
        self.opened_since_reading(since, position, now, OPENING_WALK)
    }

    /// [`Self::opened_since`], reading at most `opening_walk` shifts newest-first by
    /// opening before it walks the spatial index instead (tests take either way).
    pub fn opened_since_reading(
        &self,
        since: &CatchUp,
        position: Coordinates,
        now: DateTime<Utc>,
        opening_walk: usize,
    ) -> Vec<OpenShift> {
        let radius_m = since.radius_m + 1.0;
        let limit = usize::try_from(since.limit).unwrap_or(0);
        let after = since.last_seq.max(0);
        if after >= since.up_to || limit == 0 {
            return Vec::new();
        }
        let shelves = self.read();
        let wanted = |open: &Open| {
            open.opened_seq > after
                && open.opened_seq <= since.up_to
                && open.open_until > now
                && distance_m(position, open.facts.facility_location) <= radius_m
        };
        // Newest opening first: a client away for minutes has few to read. If that read
        // is long (away for hours, or far from where shifts opened), the spatial walk
        // reads only the shifts near her instead.
        let mut found: Vec<(i64, Uuid, &Open)> = Vec::new();
        let mut complete = true;
        for (read, (&seq, id)) in shelves
            .by_opening
            .range(after + 1..=since.up_to)
            .rev()
            .enumerate()
        {
            if read >= opening_walk {
                complete = false;
                break;
            }
            if let Some(open) = shelves.shifts.get(id)
                && open.opened_seq == seq
                && wanted(open)
            {
                found.push((seq, *id, &**open));
                if found.len() >= limit {
                    break;
                }
            }
        }
        if !complete {
            // Great-circle and geodesic distances differ by < 0.6 %: the walk takes in
            // every shift within the geodesic radius, and the exact distance decides.
            let chord = chord_of_m(radius_m * 1.01 + 1.0);
            found = shelves
                .tree
                .locate_within_distance(unit(position), chord * chord)
                .filter_map(|spot| {
                    let open = shelves.shifts.get(&spot.id)?;
                    wanted(open).then_some((open.opened_seq, spot.id, &**open))
                })
                .collect();
            found.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            found.truncate(limit);
        }
        found
            .into_iter()
            .map(|(opened_seq, id, open)| {
                let facts = &open.facts;
                OpenShift {
                    id,
                    opened_seq,
                    facility_id: facts.facility_id,
                    shift: OpenedShift {
                        facility_name: open.facility_name.to_string(),
                        facility_state: facts.facility_state.clone(),
                        location: facts.facility_location,
                        terms: facts.terms.clone(),
                        excluded: facts.excluded.clone(),
                        facility_id: facts.facility_id,
                        favourites_until: facts.favourites_until,
                    },
                }
            })
            .collect()
    }

    /// Drops the shifts no longer claimable at `now`.
    pub fn prune(&self, now: DateTime<Utc>) -> usize {
        let mut shelves = self.write();
        let due: Vec<Uuid> = shelves
            .closing
            .iter()
            .take_while(|(until, _)| *until <= now)
            .map(|(_, id)| *id)
            .collect();
        for id in &due {
            shelves.take(*id);
        }
        due.len()
    }

    /// The eligible open shifts of `search`, nearest first by `(order_key, id)`, after the
    /// query's cursor, at most `search.want` of them.
    pub(crate) fn search(&self, search: &BookSearch<'_>) -> Vec<NearbyShift> {
        let BookSearch {
            nurse,
            query,
            point,
            radius_m,
            want,
            now,
        } = *search;
        let centre = unit(point);
        // Geodesic and great-circle distances differ by < 0.6 %: past this great-circle
        // distance no shift is within the geodesic radius (nor within her reach).
        let walk_limit = radius_m * 1.01 + 1.0;
        let Some(from) = nurse.position else {
            return Vec::new();
        };
        let reach_chord = chord_of_m(nurse.max_distance_km * 1000.0 * 1.01 + 1.0);
        let shelves = self.read();
        let mut found: Vec<NearbyShift> = Vec::new();
        // The great-circle distance of the page's last shift, once the page is full: the
        // walk goes on only through shifts equally far (ties are ordered by id).
        let mut page_reach: Option<f64> = None;
        let mut ties = 0;
        for (chord_2, spot) in Walk::new(&shelves.tree, centre, unit(from), reach_chord) {
            let order_key = great_circle_m(chord_2);
            if order_key > walk_limit {
                break;
            }
            if let Some(reach) = page_reach
                && (order_key > reach || ties >= TIE_CAP)
            {
                break;
            }
            if let Some((after_d, after_id)) = query.after
                && (order_key < after_d || (order_key == after_d && spot.id <= after_id))
            {
                continue;
            }
            let Some(open) = shelves.shifts.get(&spot.id) else {
                continue;
            };
            let terms = &open.facts.terms;
            if open.open_until <= now
                || query.role.is_some_and(|role| role != terms.role)
                || query.from.is_some_and(|from| terms.starts_at() < from)
                || query.to.is_some_and(|to| terms.starts_at() >= to)
                || eligible_at_distance(nurse, &open.facts, now).is_err()
            {
                continue;
            }
            let distance = distance_m(point, open.facts.facility_location);
            if distance > radius_m + 0.001 {
                continue;
            }
            found.push(NearbyShift {
                id: spot.id,
                facility_id: open.facts.facility_id,
                facility_name: open.facility_name.to_string(),
                facility_location: open.facts.facility_location,
                terms: terms.clone(),
                distance_km: distance / 1000.0,
                order_key,
            });
            if page_reach.is_some() {
                ties += 1;
            } else if found.len() >= want {
                page_reach = Some(order_key);
            }
        }
        drop(shelves);
        found.sort_by(|a, b| a.order_key.total_cmp(&b.order_key).then(a.id.cmp(&b.id)));
        found.truncate(want);
        found
    }
}

/// The process's resident memory in KiB (`/proc/self/status`), where Linux tells it.
pub(crate) fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The last position among `events` of one the book applies.
pub(crate) fn last_change(events: &[PublishedEvent]) -> Option<i64> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                DomainEvent::ShiftOpened { .. }
                    | DomainEvent::ShiftUpdated { .. }
                    | DomainEvent::ShiftBooked { .. }
                    | DomainEvent::ShiftCancelled { .. }
            )
        })
        .map(|e| e.seq)
        .max()
}

/// Until when an opened shift may be claimed: its start; a shift re-offered after a
/// no-show (someone is excluded from it, and it is open past its start) until an hour
/// before its end (`shiftwire_core::no_show`), as the database's `late_claim_until` says.
fn claimable_until(shift: &OpenedShift) -> DateTime<Utc> {
    if shift.excluded.is_empty() {
        shift.terms.starts_at()
    } else {
        (shift.terms.ends_at() - REOFFER_MIN_REMAINING).max(shift.terms.starts_at())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};
    use shiftwire_core::{
        CredentialKind, HourlyRate, ShiftTerms, ShiftWindow, Unit, eligibility::HeldCredential,
    };

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).expect("coordinates")
    }

    /// An RN shift in California at (`lat`, `lon`), starting `in_hours` from now.
    fn shift(lat: f64, lon: f64, in_hours: i64, facility_id: Uuid) -> Box<OpenedShift> {
        let starts_at = Utc::now() + Duration::hours(in_hours);
        Box::new(OpenedShift {
            facility_name: "Mercy General".into(),
            facility_state: "CA".into(),
            location: at(lat, lon),
            terms: ShiftTerms::new(
                CredentialKind::RN,
                ShiftWindow::new(starts_at, starts_at + Duration::hours(8)).expect("window"),
                HourlyRate::new(9000).expect("rate"),
                Unit::new("ICU").expect("unit"),
                vec![],
            )
            .expect("terms"),
            excluded: vec![],
            facility_id,
            favourites_until: None,
        })
    }

    fn nurse() -> NurseFacts {
        NurseFacts {
            nurse_id: Uuid::now_v7(),
            suspended: false,
            available: true,
            credentials: vec![HeldCredential {
                kind: CredentialKind::RN,
                state: Some("CA".into()),
                multistate: false,
                expires_on: NaiveDate::from_ymd_opt(2099, 1, 1).expect("date"),
            }],
            position: Some(at(38.58, -121.46)),
            max_distance_km: 50.0,
            booked: vec![],
            blocked_at: vec![],
            favourite_of: vec![],
            restricted_until: None,
        }
    }

    fn opened(seq: i64, shift_id: Uuid, shift: Box<OpenedShift>) -> PublishedEvent {
        PublishedEvent {
            seq,
            event: DomainEvent::ShiftOpened {
                shift_id,
                facility_id: shift.facility_id,
                shift,
            },
        }
    }

    /// `shift_id` booked by someone, at `seq`.
    fn booked(seq: i64, shift_id: Uuid, facility_id: Uuid) -> PublishedEvent {
        PublishedEvent {
            seq,
            event: DomainEvent::ShiftBooked {
                shift_id,
                facility_id,
                booking_id: Uuid::now_v7(),
                nurse_id: Uuid::now_v7(),
            },
        }
    }

    /// New terms of `shift_id` (opened at `opened_seq`), at `seq`.
    fn updated(
        seq: i64,
        shift_id: Uuid,
        shift: Box<OpenedShift>,
        opened_seq: i64,
    ) -> PublishedEvent {
        PublishedEvent {
            seq,
            event: DomainEvent::ShiftUpdated {
                shift_id,
                facility_id: shift.facility_id,
                shift,
                opened_seq,
                boosted: false,
                widened: false,
            },
        }
    }

    fn ids(
        book: &ShiftBook,
        nurse: &NurseFacts,
        after: Option<(f64, Uuid)>,
        want: usize,
    ) -> Vec<(f64, Uuid)> {
        let query = NearbyQuery {
            point: None,
            radius_km: 50.0,
            from: None,
            to: None,
            role: None,
            after,
            limit: want as i64,
        };
        book.search(&BookSearch {
            nurse,
            query: &query,
            point: nurse.position.expect("position"),
            radius_m: 50_000.0,
            want,
            now: Utc::now(),
        })
        .into_iter()
        .map(|s| (s.order_key, s.id))
        .collect()
    }

    #[tokio::test]
    async fn the_book_follows_openings_bookings_cancellations_and_changes() {
        let book = ShiftBook::new();
        let facility = Uuid::now_v7();
        let (near, far, booked_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        book.follow(&opened(1, near, shift(38.59, -121.47, 5, facility)));
        book.follow(&opened(2, far, shift(38.70, -121.60, 5, facility)));
        book.follow(&opened(3, booked_id, shift(38.60, -121.48, 5, facility)));
        // Out of the nurse's reach: never listed.
        book.follow(&opened(4, Uuid::now_v7(), shift(40.0, -121.0, 5, facility)));
        let nurse = nurse();
        let found: Vec<Uuid> = ids(&book, &nurse, None, 10)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(found, [near, booked_id, far], "nearest first");
        book.follow(&booked(5, booked_id, facility));
        book.follow(&PublishedEvent {
            seq: 6,
            event: DomainEvent::ShiftCancelled {
                shift_id: near,
                facility_id: facility,
                nurse_id: None,
            },
        });
        let found: Vec<Uuid> = ids(&book, &nurse, None, 10)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(found, [far]);
        // New terms: an LPN shift is not hers any more.
        let mut changed = shift(38.70, -121.60, 5, facility);
        changed.terms = ShiftTerms::new(
            CredentialKind::LPN,
            changed.terms.window,
            HourlyRate::new(9500).expect("rate"),
            Unit::new("ICU").expect("unit"),
            vec![],
        )
        .expect("terms");
        book.follow(&updated(7, far, changed, 2));
        assert!(ids(&book, &nurse, None, 10).is_empty());
        assert_eq!(book.len(), 2, "the changed shift and the one out of reach");
        assert!(book.caught_up(std::time::Duration::ZERO).await);
        book.committed(9);
        assert!(
            !book.caught_up(std::time::Duration::from_millis(10)).await,
            "9 not followed yet"
        );
    }

    #[test]
    fn a_resume_reads_each_shift_under_its_latest_opening_both_ways() {
        let book = ShiftBook::new();
        let facility = Uuid::now_v7();
        let (kept, reopened, changed) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        book.follow(&opened(1, kept, shift(38.59, -121.47, 5, facility)));
        book.follow(&opened(2, reopened, shift(38.60, -121.48, 5, facility)));
        book.follow(&opened(3, changed, shift(38.61, -121.49, 5, facility)));
        // Booked, then released: it opens again at 5, and its old opening is gone.
        book.follow(&booked(4, reopened, facility));
        book.follow(&opened(5, reopened, shift(38.60, -121.48, 5, facility)));
        // New terms keep the opening they belong to.
        book.follow(&updated(6, changed, shift(38.61, -121.49, 6, facility), 3));
        let since = |last_seq, up_to, limit| CatchUp {
            last_seq,
            up_to,
            radius_m: 50_000.0,
            limit,
        };
        let home = at(38.58, -121.46);
        for opening_walk in [0, 1, OPENING_WALK] {
            let read = |catch_up: CatchUp| -> Vec<(i64, Uuid)> {
                book.opened_since_reading(&catch_up, home, Utc::now(), opening_walk)
                    .into_iter()
                    .map(|s| (s.opened_seq, s.id))
                    .collect()
            };
            assert_eq!(
                read(since(0, 6, 10)),
                [(5, reopened), (3, changed), (1, kept)],
                "reading {opening_walk} by opening"
            );
            assert_eq!(read(since(1, 4, 10)), [(3, changed)], "the range is (1, 4]");
            assert_eq!(
                read(since(0, 6, 2)),
                [(5, reopened), (3, changed)],
                "the newest"
            );
            assert_eq!(read(since(5, 6, 10)), [], "nothing opened after 5");
            assert_eq!(read(since(6, 6, 10)), [], "an empty range");
        }
        // Out of reach of where she is matched from.
        let far = book.opened_since(&since(0, 6, 10), at(40.5, -121.0), Utc::now());
        assert!(far.is_empty());
    }

    #[test]
    fn a_shift_leaves_the_book_when_it_can_no_longer_be_claimed() {
        let book = ShiftBook::new();
        let facility = Uuid::now_v7();
        let soon = Uuid::now_v7();
        book.follow(&opened(1, soon, shift(38.59, -121.47, 1, facility)));
        book.follow(&opened(
            2,
            Uuid::now_v7(),
            shift(38.59, -121.47, 5, facility),
        ));
        // Re-offered after a no-show: claimable until an hour before its end.
        let mut late = shift(38.59, -121.47, -2, facility);
        late.excluded = vec![Uuid::now_v7()];
        let late_id = Uuid::now_v7();
        book.follow(&opened(3, late_id, late));
        assert_eq!(
            book.prune(Utc::now()),
            0,
            "the re-offer is open for 5 more hours"
        );
        assert_eq!(book.prune(Utc::now() + Duration::minutes(61)), 1);
        assert_eq!(book.prune(Utc::now() + Duration::minutes(5 * 60 + 1)), 2);
        assert!(book.is_empty());
    }

    /// The pruned walk finds exactly what checking every shift finds, in the same order,
    /// wherever the search point is relative to the nurse's reach.
    #[test]
    fn the_walk_finds_what_checking_every_shift_finds() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut draw = |lo: f64, hi: f64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            lo + (hi - lo) * (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let book = ShiftBook::new();
        let facility = Uuid::now_v7();
        let mut all = Vec::new();
        for seq in 0..3000 {
            let id = Uuid::now_v7();
            let at = (38.6 + draw(-1.0, 1.0), -121.5 + draw(-1.0, 1.0));
            book.follow(&opened(seq, id, shift(at.0, at.1, 5, facility)));
            all.push((id, at));
        }
        let (mut listed, mut empty) = (0, 0);
        for round in 0..200 {
            let mut nurse = nurse();
            nurse.position = Some(at(38.6 + draw(-0.8, 0.8), -121.5 + draw(-0.8, 0.8)));
            nurse.max_distance_km = draw(5.0, 60.0);
            let point = at(38.6 + draw(-0.8, 0.8), -121.5 + draw(-0.8, 0.8));
            let radius_m = draw(1.0, 80.0) * 1000.0;
            let want = 1 + (draw(0.0, 40.0) as usize);
            let query = NearbyQuery {
                point: Some(point),
                radius_km: radius_m / 1000.0,
                from: None,
                to: None,
                role: None,
                after: None,
                limit: want as i64,
            };
            let now = Utc::now();
            let found: Vec<Uuid> = book
                .search(&BookSearch {
                    nurse: &nurse,
                    query: &query,
                    point,
                    radius_m,
                    want,
                    now,
                })
                .into_iter()
                .map(|s| s.id)
                .collect();
            let home = nurse.position.expect("position");
            let mut every: Vec<(f64, Uuid)> = all
                .iter()
                .filter(|(_, (lat, lon))| {
                    let there = at(*lat, *lon);
                    distance_m(home, there) <= nurse.max_distance_km * 1000.0 + 0.001
                        && distance_m(point, there) <= radius_m + 0.001
                })
                .map(|(id, (lat, lon))| {
                    (
                        great_circle_m(chord_2(unit(point), unit(at(*lat, *lon)))),
                        *id,
                    )
                })
                .collect();
            every.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let expected: Vec<Uuid> = every.into_iter().take(want).map(|(_, id)| id).collect();
            assert_eq!(found, expected, "round {round}");
            listed += found.len();
            empty += usize::from(found.is_empty());
        }
        assert!(
            listed > 1000 && empty > 10,
            "both outcomes: {listed} listed, {empty} empty"
        );
    }

    #[test]
    fn pages_of_equally_distant_shifts_continue_by_id() {
        let book = ShiftBook::new();
        let facility = Uuid::now_v7();
        for seq in 0..25 {
            book.follow(&opened(
                seq,
                Uuid::now_v7(),
                shift(38.60, -121.50, 5, facility),
            ));
        }
        book.follow(&opened(
            30,
            Uuid::now_v7(),
            shift(38.61, -121.50, 5, facility),
        ));
        let nurse = nurse();
        let all = ids(&book, &nurse, None, 100);
        assert_eq!(all.len(), 26);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = ids(&book, &nurse, after, 7);
            paged.extend(page.iter().copied());
            match page.last() {
                Some(last) if page.len() == 7 => after = Some(*last),
                _ => break,
            }
        }
        assert_eq!(paged, all, "every shift once, in (distance, id) order");
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_chord_walk_is_the_great_circle_order() {
        let sf = at(37.7749, -122.4194);
        let oakland = at(37.8044, -122.2712);
        let la = at(34.0522, -118.2437);
        let to_oakland = great_circle_m(chord_2(unit(sf), unit(oakland)));
        let to_la = great_circle_m(chord_2(unit(sf), unit(la)));
        assert!(to_oakland < to_la);
        // Within 0.6 % of the geodesic distance, as the walk's limit assumes.
        for (gc, other) in [(to_oakland, oakland), (to_la, la)] {
            let geodesic = distance_m(sf, other);
            assert!(
                (gc - geodesic).abs() / geodesic < 0.006,
                "{gc} vs {geodesic}"
            );
        }
        assert_eq!(great_circle_m(chord_2(unit(sf), unit(sf))), 0.0);
    }
}
