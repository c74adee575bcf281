//! Demo data for `make up`: an admin, a verifier, two facilities each with a scheduler,
//! and a few nurses. Running it again changes nothing.

use anyhow::Context;
use secrecy::SecretString;
use shiftwire_api::Settings;
use shiftwire_auth::{AuthError, PasswordHasher, Users, users::NewStaffUser};
use shiftwire_core::{Email, Phone, Role, new_id};
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

const NURSES: [(&str, &str); 3] = [
    ("+14155550101", "Amara Okafor"),
    ("+14155550102", "Luis Herrera"),
    ("+19165550103", "Grace Kim"),
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

    for (phone, name) in NURSES {
        let phone = Phone::parse(phone).map_err(|e| anyhow::anyhow!("{phone}: {e}"))?;
        sqlx::query!(
            "INSERT INTO users (id, role, phone, name) VALUES ($1, 'nurse', $2, $3)
             ON CONFLICT (phone) DO NOTHING",
            new_id(),
            phone.as_e164(),
            name
        )
        .execute(pool)
        .await
        .context("seeding nurses")?;
    }

    print_sign_ins(settings, &staff);
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
    for (phone, name) in NURSES {
        println!(
            "  {:<10} {phone} ({name}): the SMS code appears in the server log",
            "nurse"
        );
    }
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
