//! Nearby search from the node's book of open shifts against the PostGIS search it
//! replaced, kept as the reference: randomized worlds (facilities on both sides of a state
//! line, shifts of every role, certification and date, favourites windows, blocks,
//! favourites, a booking, shifts booked, cancelled and changed after they were posted),
//! randomized searches (point, radius, role, dates, page size), every page compared.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use shiftwire_core::{
    Coordinates, CredentialKind,
    delivery::{CatchUp, OpenShift},
};
use shiftwire_matching::{NearbyQuery, NearbyShift};
use shiftwire_test_support::{
    TestApp, assert_json,
    builders::{
        Facility, book, cancel_shift, facility_at, id_of, nearby_nurse, nurse_at, post_shift,
        put_on_list, shift_body, shift_changed,
    },
    db, spawn_app,
};
use sqlx::PgPool;
use uuid::Uuid;

/// A small deterministic generator (splitmix64): the same world for the same seed.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[lo, hi)`.
    fn within(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const HOME: (f64, f64) = (38.60, -121.50);

/// Every page of a search, from the book and from PostGIS, must be the same.
async fn pages_agree(app: &TestApp, nurse_id: Uuid, query: NearbyQuery) -> usize {
    let matching = &app.state.matching;
    let mut seen = 0;
    // Each pages with its own cursor: the page orders (great-circle distances) are
    // computed apart and differ in the last digits.
    let mut book_query = query.clone();
    let mut postgis_query = query.clone();
    loop {
        let from_book = matching
            .nearby_in_book(nurse_id, &book_query)
            .await
            .expect("book");
        let from_postgis = matching
            .nearby_in_postgis(nurse_id, &postgis_query)
            .await
            .expect("postgis");
        let ids = |page: &[NearbyShift]| page.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(
            ids(&from_book),
            ids(&from_postgis),
            "the same page, in the same order (point {:?}, radius {} km, role {:?}, limit {})",
            query.point,
            query.radius_km,
            query.role,
            query.limit
        );
        for (b, p) in from_book.iter().zip(&from_postgis) {
            assert!(
                (b.distance_km - p.distance_km).abs() < 1e-6,
                "the same geodesic distance: {} vs {}",
                b.distance_km,
                p.distance_km
            );
            assert_eq!(b.facility_name, p.facility_name);
            assert_eq!(b.terms, p.terms);
        }
        seen += from_book.len();
        match (from_book.last(), from_postgis.last()) {
            (Some(b), Some(p)) if from_book.len() as i64 == query.limit => {
                book_query.after = Some((b.order_key, b.id));
                postgis_query.after = Some((p.order_key, p.id));
            }
            _ => return seen,
        }
    }
}

/// Facilities around her home, a quarter of them across the state line.
async fn facilities(app: &TestApp, draw: &mut Draw) -> Vec<Facility> {
    let mut facilities: Vec<Facility> = Vec::new();
    for n in 0..8 {
        let state = if draw.chance(25) { "NV" } else { "CA" };
        let at = (
            HOME.0 + draw.within(-1.2, 1.2),
            HOME.1 + draw.within(-1.2, 1.2),
        );
        facilities.push(facility_at(app, &format!("Facility {n}"), state, at).await);
    }
    facilities
}

/// A nurse with drawn credentials, radius, block and favourite, and more shifts.
async fn world(app: &TestApp, facilities: &[Facility], draw: &mut Draw) -> Uuid {
    let radius = *draw.pick(&[40.0, 90.0, 200.0]);
    let (nurse, nurse_id) = nurse_at(app, HOME, radius).await;
    // Her RN licence (CA) and BLS from `nurse_at`, with drawn expiries; maybe an LPN
    // multistate licence and an ACLS.
    let expiries = ["2027-01-15", "2027-06-30", "2028-03-31"];
    let [rn, bls] = [*draw.pick(&expiries), *draw.pick(&expiries)];
    db::credential_expires_on(&app.pool, nurse_id, "RN", rn).await;
    db::credential_expires_on(&app.pool, nurse_id, "BLS", bls).await;
    if draw.chance(50) {
        // One approved licence per number: each world's nurse has her own.
        let number = format!("LPN-{}", &nurse_id.simple().to_string()[24..]);
        db::approved_multistate_licence(&app.pool, nurse_id, "LPN", &number, "TX", "2028-12-31")
            .await;
    }
    if draw.chance(50) {
        db::approved_credential(&app.pool, nurse_id, "ACLS", "ACLS-X", None, "2027-03-01").await;
    }
    let blocked = draw.below(facilities.len() as u64) as usize;
    let favourite = (blocked + 1) % facilities.len();
    let status = put_on_list(
        app,
        &facilities[blocked],
        "blocks",
        nurse_id,
        &json!({ "reason": "Do not return" }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let status = put_on_list(
        app,
        &facilities[favourite],
        "favourites",
        nurse_id,
        &json!(null),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut shifts = Vec::new();
    for _ in 0..90 {
        let f = draw.below(facilities.len() as u64) as usize;
        let mut body = shift_body(
            i64::try_from(draw.below(400 * 24 * 60)).expect("minutes") + 60,
            *draw.pick(&[4, 8, 12]),
        );
        body["role"] = json!(draw.pick(&["RN", "RN", "RN", "LPN", "CNA"]));
        body["required_certifications"] = json!(draw.pick(&[
            json!([]),
            json!([]),
            json!(["BLS"]),
            json!(["ACLS"]),
            json!(["ACLS", "BLS"])
        ]));
        if draw.chance(20) {
            body["favourites_first_minutes"] = json!(60);
        }
        shifts.push((f, id_of(&post_shift(app, &facilities[f], &body).await)));
    }
    // After posting: some are booked by someone else, cancelled, or change their rate;
    // she books one (what overlaps it drops out).
    let (other, _) = nearby_nurse(app).await;
    let mut booked_one = false;
    for (f, shift) in &shifts {
        match draw.below(10) {
            0 => {
                let _ = cancel_shift(app, &facilities[*f], *shift, "No longer needed").await;
            }
            1 => {
                // The other nurse may not be eligible: then it stays open.
                let _ = shiftwire_test_support::builders::claim(app, &other, *shift).await;
            }
            2 => {
                shift_changed(
                    app,
                    &facilities[*f],
                    *shift,
                    &json!({ "hourly_rate_cents": 7100 }),
                )
                .await;
            }
            3 if !booked_one => {
                let answer = shiftwire_test_support::builders::claim(app, &nurse, *shift).await;
                booked_one = answer.status() == StatusCode::CREATED;
                if booked_one {
                    let booking = id_of(&assert_json(answer, StatusCode::CREATED).await);
                    // Sometimes her attendance score falls to 0: favourites only.
                    if draw.chance(50) {
                        sqlx::query(
                            "INSERT INTO attendance_events (id, nurse_id, booking_id, cause, points, reason, at)
                             VALUES ($1, $2, $3, 'release', -100, 'Released late', now())",
                        )
                        .bind(Uuid::now_v7())
                        .bind(nurse_id)
                        .bind(booking)
                        .execute(&app.pool)
                        .await
                        .expect("attendance");
                    }
                }
            }
            _ => {}
        }
    }
    // Sometimes she reported a live location a minute ago: she is matched from there.
    if draw.chance(40) {
        let at = (
            HOME.0 + draw.within(-0.5, 0.5),
            HOME.1 + draw.within(-0.5, 0.5),
        );
        db::live_location_reported(&app.pool, nurse_id, at, 1).await;
    }
    nurse_id
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn nearby_from_the_book_agrees_with_postgis_on_randomized_worlds(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut draw = Draw(0x5348_4946_5457_4952);
    wait_for_the_book(&app).await;
    let book = app.state.matching.book();
    let facilities = facilities(&app, &mut draw).await;
    let mut found = 0;
    for _world in 0..4 {
        let nurse_id = world(&app, &facilities, &mut draw).await;
        assert!(
            book.caught_up(std::time::Duration::from_secs(10)).await,
            "the dispatcher brings the book every event"
        );
        let roles = [None, Some(CredentialKind::RN), Some(CredentialKind::LPN)];
        for _search in 0..25 {
            let point = draw.chance(70).then(|| {
                Coordinates::new(
                    HOME.0 + draw.within(-0.8, 0.8),
                    HOME.1 + draw.within(-0.8, 0.8),
                )
                .expect("point")
            });
            let from = draw.chance(30).then(|| {
                Utc::now() + Duration::days(i64::try_from(draw.below(200)).expect("days"))
            });
            let to = draw.chance(30).then(|| {
                Utc::now() + Duration::days(100 + i64::try_from(draw.below(300)).expect("days"))
            });
            let query = NearbyQuery {
                point,
                radius_km: *draw.pick(&[5.0, 30.0, 80.0, 200.0]),
                from,
                to,
                role: *draw.pick(&roles),
                after: None,
                limit: i64::try_from(draw.below(12)).expect("limit") + 1,
            };
            found += pages_agree(&app, nurse_id, query).await;
        }
    }
    assert!(
        found > 100,
        "the searches found shifts ({found}): the comparison is not empty"
    );
}

/// What a resume offers (the open shifts opened since a client's last position, near
/// where she is matched from), from the book against the PostGIS reference: randomized
/// worlds, positions, radii, ranges of positions and limits.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn resume_from_the_book_agrees_with_postgis_on_randomized_worlds(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut draw = Draw(0x5245_5355_4D45_2121);
    wait_for_the_book(&app).await;
    let matching = &app.state.matching;
    let book = matching.book();
    let facilities = facilities(&app, &mut draw).await;
    let (mut found, mut cut) = (0, 0);
    for _world in 0..3 {
        world(&app, &facilities, &mut draw).await;
        assert!(
            book.caught_up(std::time::Duration::from_secs(10)).await,
            "the dispatcher brings the book every event"
        );
        let head = book.followed();
        for _resume in 0..40 {
            let last_seq = i64::try_from(draw.below(u64::try_from(head).expect("head") + 1))
                .expect("last_seq");
            let up_to = last_seq
                + i64::try_from(draw.below(u64::try_from(head - last_seq).expect("span") + 1))
                    .expect("up_to");
            let since = CatchUp {
                last_seq,
                up_to,
                radius_m: *draw.pick(&[5_000.0, 30_000.0, 80_000.0, 200_000.0]),
                limit: *draw.pick(&[1, 3, 10, 500]),
            };
            let position = Coordinates::new(
                HOME.0 + draw.within(-0.8, 0.8),
                HOME.1 + draw.within(-0.8, 0.8),
            )
            .expect("position");
            let from_book = matching.open_shifts_since_in_book(since, position);
            let from_postgis = matching
                .open_shifts_since_in_postgis(since, position)
                .await
                .expect("postgis");
            let ids = |found: &[OpenShift]| {
                found
                    .iter()
                    .map(|s| (s.opened_seq, s.id))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                ids(&from_book),
                ids(&from_postgis),
                "the same shifts, newest first ({since:?} at {position:?})"
            );
            for (book_shift, postgis_shift) in from_book.iter().zip(&from_postgis) {
                assert_eq!(
                    book_shift, postgis_shift,
                    "the same terms, place and facility ({since:?})"
                );
            }
            // The book reads newest-first by opening, and walks its spatial index when
            // that read grows long: both ways, and a switch half-way, give the same.
            for opening_walk in [0, 1, 7] {
                let walked = book.opened_since_reading(&since, position, Utc::now(), opening_walk);
                assert_eq!(
                    ids(&walked),
                    ids(&from_postgis),
                    "the same shifts reading at most {opening_walk} by opening ({since:?})"
                );
            }
            found += from_book.len();
            if from_book.len() as i64 == since.limit {
                cut += 1;
            }
        }
    }
    assert!(
        found > 100 && cut > 5,
        "the resumes found shifts ({found}) and some were cut at their limit ({cut}): the \
         comparison is not empty"
    );
}

/// A shift posted on this node is found by the very next search on it: the search waits
/// for the book to follow the node's own commit.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_search_right_after_a_post_finds_the_shift(pool: PgPool) {
    let app = spawn_app(pool).await;
    wait_for_the_book(&app).await;
    let f = facility_at(&app, "Mercy General", "CA", (38.58, -121.46)).await;
    let (_, nurse_id) = nearby_nurse(&app).await;
    for round in 0..10 {
        let shift = id_of(&post_shift(&app, &f, &shift_body(600 + round, 8)).await);
        assert!(lists(&app, nurse_id, shift).await, "round {round}");
        let _ = book(&app, &nearby_nurse(&app).await.0, shift).await;
        assert!(!lists(&app, nurse_id, shift).await, "booked, round {round}");
    }
}

/// Whether the nurse's nearby search (from home, 200 km) lists `shift`.
async fn lists(app: &TestApp, nurse_id: Uuid, shift: Uuid) -> bool {
    let query = NearbyQuery {
        point: None,
        radius_km: 200.0,
        from: None,
        to: None,
        role: None,
        after: None,
        limit: 20,
    };
    let found = app
        .state
        .matching
        .nearby(nurse_id, &query)
        .await
        .expect("nearby");
    found.iter().any(|s| s.id == shift)
}

async fn wait_for_the_book(app: &TestApp) {
    for _ in 0..1000 {
        if app.state.matching.book().is_ready() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the dispatcher loads the book at start");
}
