//! The rooms on their own, for the domain crates' own tests: a marketplace whose nurses'
//! standing the test decides ([`GivenStandings`]), a verification service against a
//! registry table, an event bus that remembers what was published, and the accounts
//! they act on. No HTTP, no other room.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use shiftwire_core::{
    Coordinates, CredentialKind, EventBus, HourlyRate, PublishedEvent, Role, ShiftTerms,
    ShiftWindow, Unit, UsState,
    eligibility::{HeldCredential, Standing},
};
use shiftwire_matching::{
    Booking, Facility, HandoffPacket, Matching, MatchingError, NewFacility, NewShift,
    ProfileChange, Shift, ShiftPatch, Standings,
};
use shiftwire_outbox::Consequence;
use shiftwire_verification::{
    Credential, FsDocumentStore, ManualIdentity, NewCredential, TableRegistry, Verification,
    VerificationConfig, VerificationProviders,
};
use sqlx::{PgConnection, PgPool};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration as StdDuration,
};
use uuid::Uuid;

/// An event bus that keeps what was published.
#[derive(Default)]
pub struct Published(Mutex<Vec<PublishedEvent>>);

impl EventBus for Published {
    fn publish(&self, event: PublishedEvent) {
        self.0.lock().expect("events").push(event);
    }
}

impl Published {
    /// The topics published so far, in order.
    pub fn topics(&self) -> Vec<&'static str> {
        self.0
            .lock()
            .expect("events")
            .iter()
            .map(|p| p.event.topic())
            .collect()
    }
}

/// Nurses' standing as the test sets it; anyone not given one is not a nurse. The next
/// read can be held (`hold_next_read`) until the test releases it, to put something
/// between a read and what the reader does with it.
#[derive(Default)]
pub struct GivenStandings {
    given: Mutex<HashMap<Uuid, Standing>>,
    hold: std::sync::atomic::AtomicBool,
    /// Notified when a held read has begun.
    pub entered: tokio::sync::Notify,
    /// Notify to let the held read finish.
    pub release: tokio::sync::Notify,
}

impl GivenStandings {
    pub fn set(&self, nurse_id: Uuid, standing: Standing) {
        self.given
            .lock()
            .expect("standings")
            .insert(nurse_id, standing);
    }

    pub fn suspend(&self, nurse_id: Uuid) {
        if let Some(standing) = self.given.lock().expect("standings").get_mut(&nurse_id) {
            standing.suspended = true;
        }
    }

    /// The next read answers what it read only after [`Self::release`] is notified.
    pub fn hold_next_read(&self) {
        self.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Standings for GivenStandings {
    async fn of(
        &self,
        _conn: &mut PgConnection,
        nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Standing>, sqlx::Error> {
        let read: HashMap<Uuid, Standing> = {
            let given = self.given.lock().expect("standings");
            nurse_ids
                .iter()
                .filter_map(|id| given.get(id).map(|s| (*id, s.clone())))
                .collect()
        };
        if self.hold.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        Ok(read)
    }
}

/// An RN licensed in `state` through 2030, with BLS.
pub fn verified_rn(state: &str) -> Standing {
    let through = NaiveDate::from_ymd_opt(2030, 1, 31).expect("date");
    Standing {
        suspended: false,
        credentials: vec![
            HeldCredential {
                kind: CredentialKind::RN,
                state: Some(state.into()),
                multistate: false,
                expires_on: through,
            },
            HeldCredential {
                kind: CredentialKind::BLS,
                state: None,
                multistate: false,
                expires_on: through,
            },
        ],
    }
}

/// A user of `role`, straight into the accounts' table (the room under test does not
/// own it).
pub async fn user(pool: &PgPool, role: Role) -> Uuid {
    let id = Uuid::now_v7();
    let (phone, email) = match role {
        Role::Nurse => (Some(format!("+1916{:07}", id.as_u128() % 10_000_000)), None),
        _ => (None, Some(format!("{id}@shiftwire.example"))),
    };
    sqlx::query(
        "INSERT INTO users (id, role, phone, email, password_hash)
         VALUES ($1, $2, $3, $4, CASE WHEN $4 IS NULL THEN NULL ELSE '-' END)",
    )
    .bind(id)
    .bind(role.as_str())
    .bind(phone)
    .bind(email)
    .execute(pool)
    .await
    .expect("user");
    id
}

/// The marketplace alone: one facility (Mercy General, Sacramento, CA, geofence 200 m)
/// with its scheduler, nurses whose standing the test gives, and the events it published.
pub struct Marketplace {
    pub matching: Matching,
    pub standings: Arc<GivenStandings>,
    pub events: Arc<Published>,
    pub pool: PgPool,
    pub scheduler: Uuid,
    pub facility: Facility,
}

/// Where [`Marketplace`]'s facility stands.
pub const MERCY_GENERAL: (f64, f64) = (38.57, -121.45);

impl Marketplace {
    pub async fn new(pool: PgPool) -> Self {
        let standings = Arc::new(GivenStandings::default());
        let events = Arc::new(Published::default());
        let matching = Matching::new(
            pool.clone(),
            events.clone(),
            standings.clone(),
            StdDuration::from_secs(3600),
        );
        let facility = matching
            .create_facility(NewFacility {
                name: "Mercy General Hospital".into(),
                address: "4001 J St, Sacramento, CA 95819".into(),
                location: Coordinates::new(MERCY_GENERAL.0, MERCY_GENERAL.1).expect("location"),
                timezone: "America/Los_Angeles".into(),
                state: UsState::parse("CA").expect("state"),
                geofence_m: 200,
            })
            .await
            .expect("facility");
        let scheduler = user(&pool, Role::Scheduler).await;
        Self {
            matching,
            standings,
            events,
            pool,
            scheduler,
            facility,
        }
    }

    /// A verified Californian RN living 1 km from the facility, going 25 km.
    pub async fn nurse(&self) -> Uuid {
        let id = user(&self.pool, Role::Nurse).await;
        self.standings.set(id, verified_rn("CA"));
        let home = Coordinates::new(MERCY_GENERAL.0 + 0.009, MERCY_GENERAL.1).expect("home");
        let change = ProfileChange {
            home: Some(Some(home)),
            ..ProfileChange::default()
        };
        self.matching
            .update_profile(id, change)
            .await
            .expect("profile");
        id
    }

    /// Posts an RN shift needing BLS, starting `starts_in` from now, `hours` long.
    pub async fn post(&self, starts_in: Duration, hours: i64) -> Shift {
        let starts_at = Utc::now() + starts_in;
        let new = NewShift {
            terms: rn_terms(starts_at, hours),
            handoff: HandoffPacket {
                report_to: "Charge nurse, 4 West".into(),
                arrival_instructions: "Staff entrance on J St".into(),
                parking: None,
                unit_notes: None,
                exceptions: vec![],
            },
            favourites_first_minutes: 0,
        };
        let id = self.facility.id;
        self.matching
            .create_shift(self.scheduler, &[id], id, new)
            .await
            .expect("shift")
    }
}

impl Marketplace {
    /// The nurse claims the shift; it must be booked.
    pub async fn claim(&self, nurse_id: Uuid, shift_id: Uuid) -> Booking {
        self.matching
            .claim(nurse_id, shift_id)
            .await
            .expect("claim")
    }

    /// The shift as the facility's scheduler sees it now.
    pub async fn shift(&self, shift_id: Uuid) -> Shift {
        let scope = [self.facility.id];
        self.matching.shift(&scope, shift_id).await.expect("shift")
    }

    /// The facility's scheduler changes the shift.
    pub async fn update_shift(
        &self,
        shift_id: Uuid,
        patch: ShiftPatch,
    ) -> Result<Shift, MatchingError> {
        let scope = [self.facility.id];
        self.matching
            .update_shift(self.scheduler, &scope, shift_id, patch)
            .await
    }

    /// The facility's scheduler cancels the shift, for `reason`.
    pub async fn cancel_shift(&self, shift_id: Uuid, reason: &str) -> Result<Shift, MatchingError> {
        let scope = [self.facility.id];
        self.matching
            .cancel_shift(self.scheduler, &scope, shift_id, reason)
            .await
    }

    /// The nurse's booking as she sees it now.
    pub async fn booking(&self, nurse_id: Uuid, booking_id: Uuid) -> Booking {
        self.matching
            .booking(nurse_id, booking_id)
            .await
            .expect("booking")
    }

    /// Releases what the nurse may no longer work, as a change of her standing does.
    pub async fn release_ineligible(&self, nurse_id: Uuid) -> Vec<PublishedEvent> {
        release_ineligible(&self.matching, &self.pool, nurse_id).await
    }
}

/// Releases, in a transaction of its own, the bookings the nurse may no longer work (as
/// a change of her standing does); the events of the release.
pub async fn release_ineligible(
    matching: &Matching,
    pool: &PgPool,
    nurse_id: Uuid,
) -> Vec<PublishedEvent> {
    let mut tx = pool.begin().await.expect("tx");
    let events = matching
        .release_ineligible_in(&mut tx, nurse_id)
        .await
        .expect("release");
    tx.commit().await.expect("commit");
    events
}

/// RN terms needing BLS on 4 West at $65/h.
pub fn rn_terms(starts_at: DateTime<Utc>, hours: i64) -> ShiftTerms {
    ShiftTerms::new(
        CredentialKind::RN,
        ShiftWindow::new(starts_at, starts_at + Duration::hours(hours)).expect("window"),
        HourlyRate::new(6500).expect("rate"),
        Unit::new("4 West").expect("unit"),
        vec![CredentialKind::BLS],
    )
    .expect("terms")
}

/// A consequence that remembers whom it was asked about.
#[derive(Default)]
pub struct Followed(pub Mutex<Vec<Uuid>>);

#[async_trait::async_trait]
impl Consequence for Followed {
    async fn follow(
        &self,
        _conn: &mut PgConnection,
        subject: Uuid,
    ) -> Result<Vec<PublishedEvent>, sqlx::Error> {
        self.0.lock().expect("followed").push(subject);
        Ok(Vec::new())
    }
}

/// Verification alone, against `registry_csv`, with documents in a temporary folder,
/// manual identity review, and the consequences it asked for remembered.
pub struct Verifying {
    pub verification: Verification,
    pub followed: Arc<Followed>,
    pub events: Arc<Published>,
    pub pool: PgPool,
    pub verifier: Uuid,
    _documents: tempfile::TempDir,
}

impl Verifying {
    pub async fn new(pool: PgPool, registry_csv: &str) -> Self {
        let documents = tempfile::tempdir().expect("document dir");
        let followed = Arc::new(Followed::default());
        let events = Arc::new(Published::default());
        let verification = Verification::new(
            pool.clone(),
            VerificationProviders {
                registry: Arc::new(
                    TableRegistry::from_reader(registry_csv.as_bytes()).expect("registry"),
                ),
                documents: Arc::new(FsDocumentStore::new(documents.path()).expect("store")),
                identity: Arc::new(ManualIdentity),
                on_ineligible: followed.clone(),
                events: events.clone(),
            },
            VerificationConfig {
                registry_timeout: StdDuration::from_secs(2),
                recheck: Default::default(),
            },
        );
        let verifier = user(&pool, Role::Verifier).await;
        Self {
            verification,
            followed,
            events,
            pool,
            verifier,
            _documents: documents,
        }
    }

    /// Runs the automatic check until nothing is left to check.
    pub async fn check_all(&self) {
        while self.verification.check_next().await.expect("check") {}
    }

    /// Submits a credential for the nurse and runs the automatic check; the credential
    /// as the check left it.
    pub async fn submit_checked(&self, nurse_id: Uuid, new: NewCredential) -> Credential {
        let submitted = self
            .verification
            .submit(nurse_id, new)
            .await
            .expect("submit");
        self.check_all().await;
        self.credential(submitted.id).await
    }

    /// A credential as verification has it now.
    pub async fn credential(&self, id: Uuid) -> Credential {
        self.verification.credential(id).await.expect("credential")
    }
}
