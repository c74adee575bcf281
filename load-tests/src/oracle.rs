//! The delivery oracle: who must receive an offer, computed by the load generator on its
//! own from the seeded data, never by asking the server or calling its code.
//!
//! The rule is the one `CONTRACT.md` states ("Matching and claims"), written out again
//! here: not suspended; verified (an approved, unexpired licence of any kind); available;
//! an approved licence of the shift's role that is valid in the facility's state
//! (issued there, or multistate) and does not expire before the day the shift ends
//! (UTC); every required certification approved and valid through that day; within the
//! nurse's radius of the facility; and no current booking overlapping the shift.
//!
//! Distances are great-circle (haversine on a sphere of the earth's mean radius), not the
//! server's ellipsoidal geodesic: the two differ by up to about 0.5 %, so a nurse whose
//! distance is within ±[`BORDERLINE`] of their radius is *borderline*: counted on its
//! own and left out of the missed and wrong counts.

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

/// Relative band around a nurse's radius where the oracle does not judge.
pub const BORDERLINE: f64 = 0.006;
/// Mean radius of the earth (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Credential kinds that are licences (the others are certifications).
const LICENCES: [&str; 4] = ["RN", "LPN", "CNA", "NP"];

/// An approved credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub kind: String,
    /// Issuing state of a licence; `None` for certifications.
    pub state: Option<String>,
    pub multistate: bool,
    pub expires_on: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct NurseRow {
    pub id: Uuid,
    pub lat: f64,
    pub lon: f64,
    pub radius_km: f64,
    pub available: bool,
    pub suspended: bool,
    /// A live location reported in the last 15 minutes counts instead of home: the
    /// oracle cannot tell where, so such a nurse is not judged.
    pub live: bool,
    pub credentials: Vec<Credential>,
    pub booked: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Debug, Clone)]
pub struct FacilityRow {
    pub id: Uuid,
    pub lat: f64,
    pub lon: f64,
    pub state: String,
}

/// Nurses and facilities as seeded (`sql/oracle-world.sql`).
#[derive(Debug, Default)]
pub struct World {
    pub nurses: HashMap<Uuid, NurseRow>,
    pub facilities: HashMap<Uuid, FacilityRow>,
    /// Facility ids in the order of the export (sorted), for reproducible choices.
    pub facility_order: Vec<Uuid>,
}

/// A shift as the load generator posted it.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftSpec {
    pub facility: Uuid,
    pub role: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub certifications: Vec<String>,
}

/// The oracle's answer for one nurse and one shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Eligible,
    Ineligible,
    /// Every rule but distance holds, and the distance is within ±0.6 % of the radius.
    Borderline,
    /// The nurse reported a live location: not judged.
    Unknown,
}

fn field<'a>(fields: &[&'a str], i: usize, line: &str) -> anyhow::Result<&'a str> {
    fields
        .get(i)
        .copied()
        .ok_or_else(|| anyhow!("short line in the world export: {line:?}"))
}

fn boolean(text: &str) -> anyhow::Result<bool> {
    match text {
        "true" | "t" => Ok(true),
        "false" | "f" => Ok(false),
        _ => bail!("not a boolean: {text:?}"),
    }
}

fn epoch(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let secs: f64 = text
        .parse()
        .with_context(|| format!("not a time: {text:?}"))?;
    let micros = (secs * 1e6).round() as i64;
    DateTime::from_timestamp_micros(micros).ok_or_else(|| anyhow!("time out of range: {text:?}"))
}

impl World {
    /// Parses the lines of `sql/oracle-world.sql`'s output.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Self> {
        let mut world = World::default();
        let mut credentials = Vec::new();
        let mut bookings = Vec::new();
        for line in lines {
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i| field(&f, i, line);
            let num = |i| -> anyhow::Result<f64> {
                get(i)?
                    .parse::<f64>()
                    .with_context(|| format!("not a number in {line:?}"))
            };
            let id = || -> anyhow::Result<Uuid> {
                get(1)?
                    .parse()
                    .with_context(|| format!("not an id in {line:?}"))
            };
            match get(0)? {
                "N" => {
                    let nurse = NurseRow {
                        id: id()?,
                        lat: num(2)?,
                        lon: num(3)?,
                        radius_km: num(4)?,
                        available: boolean(get(5)?)?,
                        suspended: boolean(get(6)?)?,
                        live: boolean(get(7)?)?,
                        credentials: Vec::new(),
                        booked: Vec::new(),
                    };
                    world.nurses.insert(nurse.id, nurse);
                }
                "C" => {
                    let state = get(3)?;
                    credentials.push((
                        id()?,
                        Credential {
                            kind: get(2)?.to_owned(),
                            state: (state != "-").then(|| state.to_owned()),
                            multistate: boolean(get(4)?)?,
                            expires_on: get(5)?
                                .parse()
                                .with_context(|| format!("not a date in {line:?}"))?,
                        },
                    ));
                }
                "B" => bookings.push((id()?, epoch(get(2)?)?, epoch(get(3)?)?)),
                "F" => {
                    let facility = FacilityRow {
                        id: id()?,
                        lat: num(2)?,
                        lon: num(3)?,
                        state: get(4)?.to_owned(),
                    };
                    world.facility_order.push(facility.id);
                    world.facilities.insert(facility.id, facility);
                }
                other => bail!("unknown record {other:?} in the world export"),
            }
        }
        for (nurse, credential) in credentials {
            if let Some(n) = world.nurses.get_mut(&nurse) {
                n.credentials.push(credential);
            }
        }
        for (nurse, start, end) in bookings {
            if let Some(n) = world.nurses.get_mut(&nurse) {
                n.booked.push((start, end));
            }
        }
        world.facility_order.sort_unstable();
        Ok(world)
    }

    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the world export {}", path.display()))?;
        Self::parse(text.lines())
    }

    /// The oracle's answer for `nurse` and `shift` at `now`; `None` if either is unknown.
    pub fn verdict(&self, nurse: &Uuid, shift: &ShiftSpec, now: DateTime<Utc>) -> Option<Verdict> {
        let nurse = self.nurses.get(nurse)?;
        let facility = self.facilities.get(&shift.facility)?;
        Some(verdict(nurse, facility, shift, now))
    }
}

/// Great-circle distance in km (haversine).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// The rule, independently: see the module documentation.
pub fn verdict(
    nurse: &NurseRow,
    facility: &FacilityRow,
    shift: &ShiftSpec,
    now: DateTime<Utc>,
) -> Verdict {
    let today = now.date_naive();
    let last_day = shift.ends_at.date_naive();
    let is_licence = |c: &&Credential| LICENCES.contains(&c.kind.as_str());
    if nurse.suspended || !nurse.available {
        return Verdict::Ineligible;
    }
    let verified = nurse
        .credentials
        .iter()
        .filter(is_licence)
        .any(|c| c.expires_on >= today);
    let licensed_here = nurse.credentials.iter().filter(is_licence).any(|c| {
        c.kind == shift.role
            && c.expires_on >= today
            && c.expires_on >= last_day
            && (c.multistate || c.state.as_deref() == Some(facility.state.as_str()))
    });
    let certified = shift.certifications.iter().all(|required| {
        nurse
            .credentials
            .iter()
            .any(|c| &c.kind == required && c.expires_on >= last_day)
    });
    let free = !nurse
        .booked
        .iter()
        .any(|(start, end)| *start < shift.ends_at && shift.starts_at < *end);
    if !(verified && licensed_here && certified && free) {
        return Verdict::Ineligible;
    }
    if nurse.live {
        return Verdict::Unknown;
    }
    let d = haversine_km(nurse.lat, nurse.lon, facility.lat, facility.lon);
    if (d - nurse.radius_km).abs() <= BORDERLINE * nurse.radius_km {
        Verdict::Borderline
    } else if d < nurse.radius_km {
        Verdict::Eligible
    } else {
        Verdict::Ineligible
    }
}

/// SplitMix64's output for state `x`: a small, fast, deterministic mixer.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic generator (splitmix64), so every run posts the same shifts.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let z = splitmix(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// A random shift at one of `facilities`, drawn like `shiftwire-loadgen seed` draws its
/// shifts and nurses: RN 60 %, LPN 24 %, CNA 16 %; no certification 40 %, BLS 50 %,
/// BLS and ACLS 10 %; 8 to 12 hours, starting 1 to 13 days from `now`.
pub fn random_shift(rng: &mut Rng, facilities: &[Uuid], now: DateTime<Utc>) -> ShiftSpec {
    let facility = facilities[rng.below(facilities.len())];
    let r = rng.unit();
    let role = if r < 0.6 {
        "RN"
    } else if r < 0.84 {
        "LPN"
    } else {
        "CNA"
    };
    let c = rng.unit();
    let certifications = if c < 0.4 {
        vec![]
    } else if c < 0.9 {
        vec!["BLS".to_owned()]
    } else {
        vec!["BLS".to_owned(), "ACLS".to_owned()]
    };
    let start_minutes = 24 * 60 + rng.below(12 * 24 * 60) as i64;
    let hours = 8 + rng.below(5) as i64;
    let starts_at = now + chrono::Duration::minutes(start_minutes);
    ShiftSpec {
        facility,
        role: role.to_owned(),
        starts_at,
        ends_at: starts_at + chrono::Duration::hours(hours),
        certifications,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().expect("time")
    }

    fn world() -> World {
        World::parse(
            "N\t00000000-0000-7000-8000-000000000001\t37.8\t-122.27\t25\ttrue\tfalse\tfalse
C\t00000000-0000-7000-8000-000000000001\tRN\tCA\tfalse\t2028-03-31
C\t00000000-0000-7000-8000-000000000001\tBLS\t-\tfalse\t2027-01-31
B\t00000000-0000-7000-8000-000000000001\t1796097600\t1796112000
F\t00000000-0000-7000-8000-0000000000f1\t37.74\t-122.385\tCA
F\t00000000-0000-7000-8000-0000000000f2\t37.74\t-122.385\tNV"
                .lines(),
        )
        .expect("world")
    }

    fn shift(facility: &str) -> ShiftSpec {
        ShiftSpec {
            facility: facility.parse().expect("id"),
            role: "RN".into(),
            starts_at: now() + chrono::Duration::hours(2),
            ends_at: now() + chrono::Duration::hours(14),
            certifications: vec!["BLS".into()],
        }
    }

    const NURSE: &str = "00000000-0000-7000-8000-000000000001";
    const CA: &str = "00000000-0000-7000-8000-0000000000f1";
    const NV: &str = "00000000-0000-7000-8000-0000000000f2";

    #[test]
    fn the_rule_holds_each_condition() {
        let w = world();
        let id: Uuid = NURSE.parse().expect("id");
        assert_eq!(w.verdict(&id, &shift(CA), now()), Some(Verdict::Eligible));
        assert_eq!(w.verdict(&id, &shift(NV), now()), Some(Verdict::Ineligible));
        let mut s = shift(CA);
        s.role = "LPN".into();
        assert_eq!(w.verdict(&id, &s, now()), Some(Verdict::Ineligible));
        let mut s = shift(CA);
        s.certifications.push("ACLS".into());
        assert_eq!(w.verdict(&id, &s, now()), Some(Verdict::Ineligible));
        // BLS lapses before the shift ends.
        let mut s = shift(CA);
        s.starts_at = "2027-01-31T20:00:00Z".parse().expect("time");
        s.ends_at = "2027-02-01T04:00:00Z".parse().expect("time");
        assert_eq!(w.verdict(&id, &s, now()), Some(Verdict::Ineligible));
        // The booking (2026-12-01 04:00–08:00 UTC) overlaps.
        let mut s = shift(CA);
        s.starts_at = "2026-12-01T07:00:00Z".parse().expect("time");
        s.ends_at = "2026-12-01T15:00:00Z".parse().expect("time");
        assert_eq!(w.verdict(&id, &s, now()), Some(Verdict::Ineligible));
        s.starts_at = "2026-12-01T08:00:00Z".parse().expect("time");
        assert_eq!(w.verdict(&id, &s, now()), Some(Verdict::Eligible));
    }

    #[test]
    fn distances_near_the_radius_are_borderline() {
        let mut w = world();
        let id: Uuid = NURSE.parse().expect("id");
        let n = w.nurses.get_mut(&id).expect("nurse");
        let d = haversine_km(37.8, -122.27, 37.74, -122.385);
        n.radius_km = d * 1.003;
        assert_eq!(w.verdict(&id, &shift(CA), now()), Some(Verdict::Borderline));
        let n = w.nurses.get_mut(&id).expect("nurse");
        n.radius_km = d * 0.99;
        assert_eq!(w.verdict(&id, &shift(CA), now()), Some(Verdict::Ineligible));
        let n = w.nurses.get_mut(&id).expect("nurse");
        n.radius_km = d * 1.01;
        assert_eq!(w.verdict(&id, &shift(CA), now()), Some(Verdict::Eligible));
    }

    #[test]
    fn haversine_agrees_with_known_distances() {
        // One degree of a great circle on the mean sphere.
        let d = haversine_km(0.0, 0.0, 1.0, 0.0);
        assert!((d - 111.195).abs() < 0.01, "{d}");
        assert!(haversine_km(37.0, -122.0, 37.0, -122.0) < 1e-9);
    }

    #[test]
    fn random_shifts_are_reproducible() {
        let f: Vec<Uuid> = vec![CA.parse().expect("id"), NV.parse().expect("id")];
        let a = random_shift(&mut Rng::new(7), &f, now());
        let b = random_shift(&mut Rng::new(7), &f, now());
        assert_eq!(
            (a.facility, a.role, a.starts_at),
            (b.facility, b.role, b.starts_at)
        );
    }
}
