//! Demo data for `make up`: an admin, a verifier, two facilities each with a scheduler,
//! a few nurses, and a completed shift with a submitted timesheet. Running it again
//! changes nothing.

use anyhow::Context;
use secrecy::SecretString;
use shiftwire_api::{AppState, Settings, application::Application};
use shiftwire_auth::{AuthError, PasswordHasher, Users, users::NewStaffUser};
use shiftwire_core::{
    Coordinates, CredentialKind, Email, HourlyRate, Phone, Role, ShiftTerms, ShiftWindow, Unit,
    UsState,
};
use shiftwire_matching::{
    Facility, HandoffPacket, NewFacility, NewShift, ProfileChange, ShiftFilter, TimesheetFilter,
};
use shiftwire_verification::{NewCredential, NewIdentity};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// The password of every demo staff account. Demo data is refused in production.
pub const DEMO_PASSWORD: &str = "shiftwire-demo-2026";

struct DemoFacility {
    name: &'static str,
    address: &'static str,
    lat: f64,
    lon: f64,
    timezone: &'static str,
    state: &'static str,
    scheduler: &'static str,
}

const FACILITIES: [DemoFacility; 2] = [
    DemoFacility {
        name: "Mercy General Hospital",
        address: "4001 J St, Sacramento, CA 95819",
        lat: 38.5703,
        lon: -121.4466,
        timezone: "America/Los_Angeles",
        state: "CA",
        scheduler: "scheduler@mercy-general.example",
    },
    DemoFacility {
        name: "Bayview Care Center",
        address: "1500 Evans Ave, San Francisco, CA 94124",
        lat: 37.7402,
        lon: -122.3850,
        timezone: "America/Los_Angeles",
        state: "CA",
        scheduler: "scheduler@bayview-care.example",
    },
];

const NURSES: [(&str, &str, &str); 4] = [
    (
        "+14155550101",
        "Amara Okafor",
        "verified: identity checked, RN licence approved by the registry",
    ),
    (
        "+14155550102",
        "Luis Herrera",
        "pending: identity awaiting a verifier; his licence waits for it",
    ),
    (
        "+19165550103",
        "Grace Kim",
        "pending: licence submitted, identity_unverified (no identity yet)",
    ),
    (
        "+14155550104",
        "Ama O.",
        "pending: a second account claiming Amara's licence (licence_in_use)",
    ),
];

/// Where the demo nurses live: Oakland.
const NURSE_HOME: (f64, f64) = (37.80, -122.27);

/// Loads the demo data through the domain crates, as requests would; everything that is
/// already there is left as it is.
pub async fn run(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    let services = Application::services(settings, pool.clone()).await?;
    let state = &services.state;
    let users = Users::new(pool.clone());
    let hasher = PasswordHasher::new(settings.password_hash_concurrency)?;

    let facilities = seed_facilities(state).await?;
    let mut staff: Vec<(Role, &str, Vec<Uuid>)> = vec![
        (Role::Admin, "admin@shiftwire.example", vec![]),
        (Role::Verifier, "verifier@shiftwire.example", vec![]),
    ];
    staff.extend(
        FACILITIES
            .iter()
            .map(|f| (Role::Scheduler, f.scheduler, vec![facilities[f.name].id])),
    );
    for (role, email, facility_ids) in &staff {
        let created = users
            .create_staff(
                &hasher,
                NewStaffUser {
                    email: Email::parse(email).map_err(|e| anyhow::anyhow!("{email}: {e}"))?,
                    password: SecretString::from(DEMO_PASSWORD),
                    role: *role,
                    facility_ids: facility_ids.clone(),
                },
            )
            .await;
        match created {
            Ok(_) | Err(AuthError::EmailTaken) => {}
            Err(e) => return Err(anyhow::anyhow!("seeding {email}: {e}")),
        }
    }

    let home = Coordinates::new(NURSE_HOME.0, NURSE_HOME.1)?;
    for (phone, name, _) in NURSES {
        let phone = Phone::parse(phone).map_err(|e| anyhow::anyhow!("{phone}: {e}"))?;
        let (nurse_id, _) = users
            .nurse_for_phone(&phone)
            .await
            .map_err(|e| anyhow::anyhow!("seeding a nurse: {e}"))?;
        let account = state
            .accounts
            .nurse(nurse_id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if account.name.is_none() {
            state
                .accounts
                .set_name(nurse_id, name)
                .await
                .map_err(|e| anyhow::anyhow!("naming a nurse: {e}"))?;
            let change = ProfileChange {
                home: Some(Some(home)),
                ..ProfileChange::default()
            };
            state
                .matching
                .update_profile(nurse_id, change)
                .await
                .map_err(|e| anyhow::anyhow!("a nurse's home: {e}"))?;
        }
    }

    seed_credentials(state, &users).await?;
    seed_shifts(state, &users, &facilities).await?;
    if let Err(error) = seed_timesheet(state, &users, &facilities).await {
        // The rest of the demo stands without it.
        eprintln!("demo timesheet not seeded: {error:#}");
    }
    if let Err(error) = seed_after_the_claim(state, &users, &facilities).await {
        eprintln!("demo favourites, block, boost and attendance not seeded: {error:#}");
    }
    print_sign_ins(settings, &staff, &facilities);
    Ok(())
}

/// The demo facilities, created if missing, by name.
async fn seed_facilities(state: &AppState) -> anyhow::Result<HashMap<&'static str, Facility>> {
    let existing = state
        .matching
        .facilities()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut seeded = HashMap::new();
    for f in &FACILITIES {
        let facility = match existing.iter().find(|e| e.name == f.name) {
            Some(facility) => facility.clone(),
            None => state
                .matching
                .create_facility(NewFacility {
                    name: f.name.into(),
                    address: f.address.into(),
                    location: Coordinates::new(f.lat, f.lon)?,
                    timezone: f.timezone.into(),
                    state: UsState::parse(f.state).map_err(|e| anyhow::anyhow!("{e}"))?,
                    geofence_m: 200,
                })
                .await
                .map_err(|e| anyhow::anyhow!("seeding {}: {e}", f.name))?,
        };
        seeded.insert(f.name, facility);
    }
    Ok(seeded)
}

/// A staff member's id, by email.
async fn staff_id(users: &Users, email: &str) -> anyhow::Result<Uuid> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
    Ok(users
        .staff_login(&email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_context(|| format!("{} is missing", email.as_str()))?
        .id)
}

/// Open shifts at both demo facilities, starting tomorrow, each with its handoff packet.
/// Amara (verified RN, home in Oakland, 25 km, BLS card still in review) sees Bayview's
/// Med-Surg shift in nearby search; the ICU one needs BLS and ACLS, Mercy is too far.
async fn seed_shifts(
    state: &AppState,
    users: &Users,
    facilities: &HashMap<&'static str, Facility>,
) -> anyhow::Result<()> {
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    for f in &FACILITIES {
        let facility_id = facilities[f.name].id;
        let any = ShiftFilter {
            limit: 1,
            ..ShiftFilter::default()
        };
        let posted = state
            .matching
            .facility_shifts(&[facility_id], facility_id, &any)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if !posted.is_empty() {
            continue;
        }
        let owner = staff_id(users, f.scheduler).await?;
        for (role, start_hour, unit, certifications) in [
            (CredentialKind::RN, 7, "4 West, Med-Surg", vec![]),
            (
                CredentialKind::RN,
                19,
                "ICU",
                vec![CredentialKind::BLS, CredentialKind::ACLS],
            ),
            (CredentialKind::LPN, 15, "Skilled nursing, wing B", vec![]),
        ] {
            // Start times in UTC for simplicity of the demo (7:00 UTC is 23:00 in California).
            let starts_at = tomorrow
                .and_hms_opt(start_hour, 0, 0)
                .context("demo start time")?
                .and_utc();
            let rate = if role == CredentialKind::RN {
                7200
            } else {
                4600
            };
            let new = NewShift {
                terms: ShiftTerms::new(
                    role,
                    ShiftWindow::new(starts_at, starts_at + chrono::Duration::hours(12))?,
                    HourlyRate::new(rate)?,
                    Unit::new(unit)?,
                    certifications,
                )?,
                handoff: HandoffPacket {
                    report_to: format!("Charge nurse, {unit}"),
                    arrival_instructions: format!(
                        "Use the staff entrance at {}; security issues your badge.",
                        f.address
                    ),
                    parking: Some("Staff garage, any level; validate at security".into()),
                    unit_notes: Some("Epic access is set up for agency staff on arrival.".into()),
                    exceptions: vec![],
                },
                favourites_first_minutes: 0,
            };
            state
                .matching
                .create_shift(owner, &[facility_id], facility_id, new)
                .await
                .map_err(|e| anyhow::anyhow!("seeding a shift: {e}"))?;
        }
    }
    Ok(())
}

/// A completed shift with a submitted timesheet at Bayview, for its scheduler to approve:
/// Amara (verified RN) claims a Med-Surg shift starting in two minutes, checks in at the
/// facility and out again. Worked time is real time, so the timesheet shows the minutes she
/// was there: none, straight after seeding.
async fn seed_timesheet(
    state: &AppState,
    users: &Users,
    facilities: &HashMap<&'static str, Facility>,
) -> anyhow::Result<()> {
    let bayview = &FACILITIES[1];
    let facility = &facilities[bayview.name];
    let any = TimesheetFilter {
        limit: 1,
        ..TimesheetFilter::default()
    };
    let existing = state
        .matching
        .facility_timesheets(&[facility.id], facility.id, &any)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !existing.is_empty() {
        return Ok(());
    }
    let amara = demo_nurse_id(users, 0).await?;
    let owner = staff_id(users, bayview.scheduler).await?;
    let new = bayview_rn_shift(chrono::Duration::minutes(2), "4 West, Med-Surg", 7200)?;
    let matching = &state.matching;
    let step = |what: &'static str| {
        move |e: shiftwire_matching::MatchingError| anyhow::anyhow!("{what}: {e}")
    };
    let shift = matching
        .create_shift(owner, &[facility.id], facility.id, new)
        .await
        .map_err(step("posting the shift"))?;
    let booking = matching
        .claim(amara, shift.id)
        .await
        .map_err(step("claiming it"))?;
    let at = Coordinates::new(bayview.lat, bayview.lon)?;
    matching
        .check_in(amara, booking.id, at)
        .await
        .map_err(step("checking in"))?;
    matching
        .check_out(amara, booking.id, at)
        .await
        .map_err(step("checking out"))?;
    Ok(())
}

/// After the claim, at Bayview: Amara is a favourite and her attendance has a history (a
/// late release, −70, besides the +5 of her worked shift); Ama O. is on the do-not-return
/// list with the scheduler's reason; an unfilled ICU night shift is boosted (urgent).
/// Skipped when Bayview already lists its nurses.
async fn seed_after_the_claim(
    state: &AppState,
    users: &Users,
    facilities: &HashMap<&'static str, Facility>,
) -> anyhow::Result<()> {
    let bayview = &FACILITIES[1];
    let facility = &facilities[bayview.name];
    let scope = [facility.id];
    let matching = &state.matching;
    let step = |what: &'static str| {
        move |e: shiftwire_matching::MatchingError| anyhow::anyhow!("{what}: {e}")
    };
    let known = matching
        .facility_nurses(&scope, facility.id)
        .await
        .map_err(step("listing Bayview's nurses"))?;
    if known.iter().any(|n| n.favourite || n.blocked) {
        return Ok(());
    }
    let (amara, ama) = (
        demo_nurse_id(users, 0).await?,
        demo_nurse_id(users, 3).await?,
    );
    let owner = staff_id(users, bayview.scheduler).await?;
    matching
        .set_favourite(owner, &scope, facility.id, amara, true)
        .await
        .map_err(step("a favourite"))?;
    matching
        .set_block(
            owner,
            &scope,
            facility.id,
            ama,
            Some("Left the unit before handing off to the next shift"),
        )
        .await
        .map_err(step("a block"))?;

    // Amara gives back a shift 6 hours before it starts: −70, with its reason.
    let released = matching
        .create_shift(
            owner,
            &scope,
            facility.id,
            bayview_rn_shift(chrono::Duration::hours(6), "3 East, Telemetry", 7000)?,
        )
        .await
        .map_err(step("posting the released shift"))?;
    let booking = matching
        .claim(amara, released.id)
        .await
        .map_err(step("claiming it"))?;
    matching
        .release(amara, booking.id, "Childcare fell through")
        .await
        .map_err(step("releasing it"))?;
    // An ICU night nobody took, boosted.
    let night = matching
        .create_shift(
            owner,
            &scope,
            facility.id,
            bayview_rn_shift(chrono::Duration::hours(30), "ICU", 8500)?,
        )
        .await
        .map_err(step("posting the night shift"))?;
    matching
        .boost_shift(owner, &scope, night.id, HourlyRate::new(9800)?)
        .await
        .map_err(step("boosting it"))?;
    Ok(())
}

/// The id of demo nurse `i` of [`NURSES`].
async fn demo_nurse_id(users: &Users, i: usize) -> anyhow::Result<Uuid> {
    let phone = Phone::parse(NURSES[i].0).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (id, _) = users
        .nurse_for_phone(&phone)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(id)
}

/// An 8-hour RN shift at Bayview starting `starts_in` from now, with its handoff packet.
fn bayview_rn_shift(
    starts_in: chrono::Duration,
    unit: &str,
    rate_cents: i32,
) -> anyhow::Result<NewShift> {
    let starts_at = chrono::Utc::now() + starts_in;
    Ok(NewShift {
        terms: ShiftTerms::new(
            CredentialKind::RN,
            ShiftWindow::new(starts_at, starts_at + chrono::Duration::hours(8))?,
            HourlyRate::new(rate_cents)?,
            Unit::new(unit)?,
            vec![],
        )?,
        handoff: HandoffPacket {
            report_to: format!("Charge nurse, {unit}"),
            arrival_instructions: format!(
                "Use the staff entrance at {}; security issues your badge.",
                FACILITIES[1].address
            ),
            parking: None,
            unit_notes: None,
            exceptions: vec![],
        },
        favourites_first_minutes: 0,
    })
}

/// Demo images: photo IDs, a selfie and a licence card, each marked as demo data.
const ID_AMARA: &[u8] = include_bytes!("../demo/id-amara-okafor.png");
const ID_LUIS: &[u8] = include_bytes!("../demo/id-luis-herrera-diaz.png");
const SELFIE: &[u8] = include_bytes!("../demo/selfie.png");
const CARD_LUIS: &[u8] = include_bytes!("../demo/licence-luis-herrera-diaz.png");
/// A one-page PDF standing in for a scanned BLS card (it says it is demo data).
const DEMO_PDF: &[u8] = include_bytes!("../demo/bls-card.pdf");

/// A demo credential: kind, number, issuing state, expiry, and an uploaded document.
type DemoCredential = (
    CredentialKind,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static [u8]>,
);

/// One demo nurse's verification: her identity (legal name, date of birth, photo ID, and
/// whether a verifier approved it) and her credentials.
struct DemoNurse {
    phone: &'static str,
    identity: Option<(&'static str, &'static str, &'static [u8], bool)>,
    credentials: &'static [DemoCredential],
}

const PLAN: [DemoNurse; 4] = [
    // Verified identity, RN licence approved by the registry, BLS card in review.
    DemoNurse {
        phone: NURSES[0].0,
        identity: Some(("Amara Okafor", "1990-04-17", ID_AMARA, true)),
        credentials: &[
            (
                CredentialKind::RN,
                "RN-100234",
                Some("CA"),
                "2028-03-31",
                None,
            ),
            (
                CredentialKind::BLS,
                "AHA-5520913",
                None,
                "2027-04-30",
                Some(DEMO_PDF),
            ),
        ],
    },
    // Identity awaiting a verifier; his licence (card uploaded) waits for it and is
    // approved by the registry the moment the identity is.
    DemoNurse {
        phone: NURSES[1].0,
        identity: Some(("Luis Herrera-Diaz", "1986-11-02", ID_LUIS, false)),
        credentials: &[(
            CredentialKind::LPN,
            "LVN-204518",
            Some("CA"),
            "2027-09-30",
            Some(CARD_LUIS),
        )],
    },
    // A licence without an identity: pending `identity_unverified`.
    DemoNurse {
        phone: NURSES[2].0,
        identity: None,
        credentials: &[(
            CredentialKind::RN,
            "RN-118870",
            Some("CA"),
            "2028-07-31",
            None,
        )],
    },
    // A second account with a verified identity of the same name, submitting Amara's
    // licence: pending `licence_in_use`.
    DemoNurse {
        phone: NURSES[3].0,
        identity: Some(("Amara Okafor", "1990-04-17", ID_AMARA, true)),
        credentials: &[(
            CredentialKind::RN,
            "RN-100234",
            Some("CA"),
            "2028-03-31",
            None,
        )],
    },
];

/// Identities and credentials that show each path of verification (see registry/README.md).
/// Nurses are seeded in order, each fully checked before the next, so the second account
/// meets Amara's approved licence.
async fn seed_credentials(state: &AppState, users: &Users) -> anyhow::Result<()> {
    let verification = &state.verification;
    let verifier = staff_id(users, "verifier@shiftwire.example").await?;
    for nurse in &PLAN {
        let phone = Phone::parse(nurse.phone).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (nurse_id, _) = users
            .nurse_for_phone(&phone)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let on_file = verification
            .credentials_of(nurse_id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some((legal_name, born, id_image, approve)) = nurse.identity
            && verification
                .current_identity(nurse_id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .is_none()
        {
            let submitted = verification
                .submit_identity(
                    nurse_id,
                    NewIdentity {
                        legal_name: legal_name.into(),
                        date_of_birth: born.parse().context("demo date")?,
                        id_document: bytes::Bytes::from_static(id_image),
                        selfie: bytes::Bytes::from_static(SELFIE),
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("seeding an identity: {e}"))?;
            if approve {
                verification
                    .approve_identity(verifier, submitted.identity.id)
                    .await
                    .map_err(|e| anyhow::anyhow!("approving a demo identity: {e}"))?;
            }
        }
        for (kind, number, issuing_state, expires_on, document) in nurse.credentials {
            if on_file.iter().any(|c| c.kind == *kind) {
                continue;
            }
            let new = NewCredential {
                kind: *kind,
                number: (*number).into(),
                issuing_state: issuing_state
                    .map(UsState::parse)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                expires_on: expires_on.parse().context("demo date")?,
                multistate: false,
            };
            let credential = verification
                .submit(nurse_id, new)
                .await
                .map_err(|e| anyhow::anyhow!("seeding {number}: {e}"))?;
            if let Some(document) = document {
                verification
                    .upload_document(nurse_id, credential.id, bytes::Bytes::from_static(document))
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding the document of {number}: {e}"))?;
            }
        }
        while verification
            .check_next()
            .await
            .map_err(|e| anyhow::anyhow!("automatic check: {e}"))?
        {}
    }
    Ok(())
}

fn print_sign_ins(
    settings: &Settings,
    staff: &[(Role, &str, Vec<Uuid>)],
    facilities: &HashMap<&'static str, Facility>,
) {
    let base = format!("http://{}", settings.bind_addr);
    println!("Demo data is loaded. Sign in as:");
    for (role, email, facility_ids) in staff {
        let at = FACILITIES
            .iter()
            .filter(|f| facility_ids.contains(&facilities[f.name].id))
            .map(|f| format!(" ({})", f.name))
            .collect::<String>();
        println!("  {:<10} {email}{at}", role.as_str());
    }
    println!("  every staff password: {DEMO_PASSWORD}");
    println!(
        "  (the verifier's queue holds Luis Herrera's identity, the second account's claim on Amara's licence (licence_in_use) and Amara's BLS card)"
    );
    for (phone, name, standing) in NURSES {
        println!("  {:<10} {phone} ({name}, {standing})", "nurse");
    }
    println!("  nurses sign in by SMS code: with SMS_PROVIDER=log it appears in the server log");
    println!();
    println!("  curl -s {base}/v1/auth/login -H 'content-type: application/json' \\");
    println!(
        "       -d '{{\"email\":\"admin@shiftwire.example\",\"password\":\"{DEMO_PASSWORD}\"}}'"
    );
    println!(
        "  curl -s {base}/v1/auth/otp -H 'content-type: application/json' -d '{{\"phone\":\"{}\"}}'",
        NURSES[0].0
    );
}
