//! Demo data for `make up`: an admin, a verifier, two facilities each with a scheduler,
//! and a few nurses. Running it again changes nothing.

use anyhow::Context;
use chrono::NaiveDate;
use secrecy::SecretString;
use shiftwire_api::{AppState, Settings, state::Providers};
use shiftwire_auth::{AuthError, PasswordHasher, Users, users::NewStaffUser};
use shiftwire_core::{CredentialKind, Email, Phone, Role, UsState, new_id};
use shiftwire_matching::{HandoffPacket, NewShift};
use shiftwire_verification::NewCredential;
use sqlx::PgPool;
use uuid::{Uuid, uuid};

/// The password of every demo staff account. Demo data is refused in production.
pub const DEMO_PASSWORD: &str = "shiftwire-demo-2026";

struct DemoFacility {
    id: Uuid,
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
        id: uuid!("019ab000-0000-7000-8000-000000000001"),
        name: "Mercy General Hospital",
        address: "4001 J St, Sacramento, CA 95819",
        lat: 38.5703,
        lon: -121.4466,
        timezone: "America/Los_Angeles",
        state: "CA",
        scheduler: "scheduler@mercy-general.example",
    },
    DemoFacility {
        id: uuid!("019ab000-0000-7000-8000-000000000002"),
        name: "Bayview Care Center",
        address: "1500 Evans Ave, San Francisco, CA 94124",
        lat: 37.7402,
        lon: -122.3850,
        timezone: "America/Los_Angeles",
        state: "CA",
        scheduler: "scheduler@bayview-care.example",
    },
];

const NURSES: [(&str, &str, &str); 3] = [
    (
        "+14155550101",
        "Amara Okafor",
        "verified: RN licence approved by the registry",
    ),
    (
        "+14155550102",
        "Luis Herrera",
        "pending: licence flagged name_mismatch for a verifier",
    ),
    (
        "+19165550103",
        "Grace Kim",
        "unverified: nothing on file yet",
    ),
];

pub async fn run(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    let users = Users::new(pool.clone());
    let hasher = PasswordHasher::new(settings.password_hash_concurrency)?;

    for f in &FACILITIES {
        sqlx::query!(
            "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
             VALUES ($1, $2, $3, ST_SetSRID(ST_MakePoint($4, $5), 4326)::geography, $6, $7, 200)
             ON CONFLICT (id) DO NOTHING",
            f.id,
            f.name,
            f.address,
            f.lon,
            f.lat,
            f.timezone,
            f.state
        )
        .execute(pool)
        .await
        .context("seeding facilities")?;
    }

    let mut staff: Vec<(Role, &str, Vec<Uuid>)> = vec![
        (Role::Admin, "admin@shiftwire.example", vec![]),
        (Role::Verifier, "verifier@shiftwire.example", vec![]),
    ];
    staff.extend(
        FACILITIES
            .iter()
            .map(|f| (Role::Scheduler, f.scheduler, vec![f.id])),
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

    for (phone, name, _) in NURSES {
        let phone = Phone::parse(phone).map_err(|e| anyhow::anyhow!("{phone}: {e}"))?;
        sqlx::query!(
            "INSERT INTO users (id, role, phone, name, home) VALUES ($1, 'nurse', $2, $3,
                 ST_SetSRID(ST_MakePoint(-122.27, 37.80), 4326)::geography)
             ON CONFLICT (phone) DO NOTHING",
            new_id(),
            phone.as_e164(),
            name
        )
        .execute(pool)
        .await
        .context("seeding nurses")?;
    }

    seed_credentials(pool, settings).await?;
    seed_shifts(pool, settings).await?;
    print_sign_ins(settings, &staff);
    Ok(())
}

/// The application's services for seeding; their background tasks stop when the guard
/// is dropped.
pub async fn services(
    settings: &Settings,
    pool: &PgPool,
) -> anyhow::Result<(AppState, tokio_util::sync::DropGuard)> {
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let state = AppState::new(
        settings,
        pool.clone(),
        Providers::default(),
        &tasks,
        stop.clone(),
    )
    .await?;
    Ok((state, stop.drop_guard()))
}

/// Open shifts at both demo facilities, starting tomorrow, each with its handoff packet.
/// Amara (verified RN, home in Oakland, 25 km, BLS card still in review) sees Bayview's
/// Med-Surg shift in nearby search; the ICU one needs BLS and ACLS, Mercy is too far.
async fn seed_shifts(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    let (state, _stop) = services(settings, pool).await?;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    for f in &FACILITIES {
        let posted = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM shifts WHERE facility_id = $1"#,
            f.id
        )
        .fetch_one(pool)
        .await?;
        if posted > 0 {
            continue;
        }
        let owner: Uuid = sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", f.scheduler)
            .fetch_one(pool)
            .await?;
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
            let new = NewShift {
                role,
                starts_at,
                ends_at: starts_at + chrono::Duration::hours(12),
                hourly_rate_cents: if role == CredentialKind::RN {
                    7200
                } else {
                    4600
                },
                required_certifications: certifications,
                unit: unit.into(),
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
            };
            state
                .matching
                .create_shift(owner, &[f.id], f.id, new)
                .await
                .map_err(|e| anyhow::anyhow!("seeding a shift: {e}"))?;
        }
    }
    Ok(())
}

/// A minimal, valid PDF standing in for a scanned licence card.
const DEMO_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// Credentials that show each path of verification (see registry/README.md):
/// Amara's licence is approved by the registry, Luis's is flagged for a person (the
/// registry's holder name differs) with his card uploaded, Amara's BLS card awaits a
/// person too, and Grace has nothing on file yet (unverified).
async fn seed_credentials(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    let (state, _stop) = services(settings, pool).await?;
    let verification = &state.verification;
    let date = |s: &str| s.parse::<NaiveDate>().context("demo date");
    let plan = [
        (
            NURSES[0].0,
            CredentialKind::RN,
            "RN-100234",
            Some("CA"),
            date("2028-03-31")?,
            false,
        ),
        (
            NURSES[0].0,
            CredentialKind::BLS,
            "AHA-5520913",
            None,
            date("2027-04-30")?,
            true,
        ),
        (
            NURSES[1].0,
            CredentialKind::LPN,
            "LVN-204518",
            Some("CA"),
            date("2027-09-30")?,
            true,
        ),
    ];
    for (phone, kind, number, issuing_state, expires_on, upload) in plan {
        let nurse_id: Uuid = sqlx::query_scalar!("SELECT id FROM users WHERE phone = $1", phone)
            .fetch_one(pool)
            .await?;
        let on_file = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM credentials WHERE nurse_id = $1 AND kind = $2"#,
            nurse_id,
            kind.as_str()
        )
        .fetch_one(pool)
        .await?;
        if on_file > 0 {
            continue;
        }
        let new = NewCredential {
            kind,
            number: number.into(),
            issuing_state: issuing_state
                .map(UsState::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            expires_on,
            multistate: false,
        };
        let credential = verification
            .submit(nurse_id, new)
            .await
            .map_err(|e| anyhow::anyhow!("seeding {number}: {e}"))?;
        if upload {
            verification
                .upload_document(nurse_id, credential.id, bytes::Bytes::from_static(DEMO_PDF))
                .await
                .map_err(|e| anyhow::anyhow!("seeding the document of {number}: {e}"))?;
        }
    }
    while verification
        .check_next()
        .await
        .map_err(|e| anyhow::anyhow!("automatic check: {e}"))?
    {}
    Ok(())
}

fn print_sign_ins(settings: &Settings, staff: &[(Role, &str, Vec<Uuid>)]) {
    let base = format!("http://{}", settings.bind_addr);
    println!("Demo data is loaded. Sign in as:");
    for (role, email, facility_ids) in staff {
        let at = FACILITIES
            .iter()
            .filter(|f| facility_ids.contains(&f.id))
            .map(|f| format!(" ({})", f.name))
            .collect::<String>();
        println!("  {:<10} {email}{at}", role.as_str());
    }
    println!("  every staff password: {DEMO_PASSWORD}");
    println!(
        "  (the verifier's queue holds Luis Herrera's licence, flagged name_mismatch, and Amara Okafor's BLS card)"
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
