//! What the scheduler portal reads besides shifts: how many nurses each shift was offered
//! to, its offer history, and the facility's saved shift templates.

use crate::{HandoffPacket, Matching, MatchingError, in_scope};
use chrono::{DateTime, NaiveTime, Utc};
use shiftwire_core::{CredentialKind, HourlyRate, Unit, new_id, terms::certifications};
use std::collections::HashMap;
use uuid::Uuid;

/// One offer of a shift: who heard of it, and when.
#[derive(Debug, Clone)]
pub struct OfferEntry {
    pub nurse_id: Uuid,
    pub seq: i64,
    pub offered_at: DateTime<Utc>,
}

/// A saved shift template: what a scheduler posts again and again.
#[derive(Debug, Clone)]
pub struct ShiftTemplate {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub name: String,
    pub role: CredentialKind,
    /// Local wall-clock start, in the facility's time zone.
    pub start_time: NaiveTime,
    pub duration_minutes: i32,
    pub hourly_rate_cents: HourlyRate,
    pub unit: Unit,
    pub required_certifications: Vec<CredentialKind>,
    pub handoff: HandoffPacket,
}

/// A template to save (its name is 1 to 80 visible characters; saving a name again
/// replaces that template).
pub struct NewShiftTemplate {
    pub name: String,
    pub role: CredentialKind,
    pub start_time: NaiveTime,
    pub duration_minutes: i32,
    pub hourly_rate_cents: HourlyRate,
    pub unit: Unit,
    pub required_certifications: Vec<CredentialKind>,
    pub handoff: HandoffPacket,
}

impl Matching {
    /// How many distinct nurses each of `shift_ids` was offered to (absent: none).
    pub async fn offered_counts(
        &self,
        shift_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, i64>, MatchingError> {
        let rows = sqlx::query!(
            r#"SELECT shift_id, count(DISTINCT nurse_id) AS "offered!"
               FROM offer_log WHERE shift_id = ANY($1) GROUP BY shift_id"#,
            shift_ids
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.shift_id, r.offered)).collect())
    }

    /// Every offer of a shift in `scope`, oldest first (at most `limit`).
    pub async fn offer_history(
        &self,
        scope: &[Uuid],
        shift_id: Uuid,
        limit: i64,
    ) -> Result<Vec<OfferEntry>, MatchingError> {
        // Tenancy first: another facility's shift is not found.
        self.shift(scope, shift_id).await?;
        let rows = sqlx::query_as!(
            OfferEntry,
            "SELECT nurse_id, seq, offered_at FROM offer_log
             WHERE shift_id = $1 ORDER BY offered_at, seq LIMIT $2",
            shift_id,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The saved templates of a facility in `scope`, by name.
    pub async fn templates(
        &self,
        scope: &[Uuid],
        facility_id: Uuid,
    ) -> Result<Vec<ShiftTemplate>, MatchingError> {
        in_scope(scope, facility_id)?;
        let rows = sqlx::query!(
            r#"SELECT id, facility_id, name, role, start_time, duration_minutes,
                      hourly_rate_cents, unit, required_certifications, handoff
               FROM shift_templates WHERE facility_id = $1 ORDER BY name, id LIMIT 200"#,
            facility_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let stored = |_| MatchingError::Invalid("a stored template is unreadable".into());
                Ok(ShiftTemplate {
                    id: r.id,
                    facility_id: r.facility_id,
                    name: r.name,
                    role: r.role.parse().map_err(stored)?,
                    start_time: r.start_time,
                    duration_minutes: r.duration_minutes,
                    hourly_rate_cents: HourlyRate::from_stored(r.hourly_rate_cents),
                    unit: Unit::from_stored(r.unit),
                    required_certifications: r
                        .required_certifications
                        .iter()
                        .map(|c| c.parse())
                        .collect::<Result<_, _>>()
                        .map_err(stored)?,
                    handoff: serde_json::from_value(r.handoff).map_err(|_| {
                        MatchingError::Invalid("a stored template is unreadable".into())
                    })?,
                })
            })
            .collect()
    }

    /// Saves a template for a facility in `scope`; a template of the same name is replaced.
    pub async fn save_template(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        facility_id: Uuid,
        new: NewShiftTemplate,
    ) -> Result<Uuid, MatchingError> {
        in_scope(scope, facility_id)?;
        let name = Some(new.name.trim())
            .filter(|n| !shiftwire_core::text::is_blank(n) && n.chars().count() <= 80)
            .ok_or_else(|| {
                MatchingError::Invalid("template name must be 1 to 80 characters".into())
            })?;
        if !(60..=1440).contains(&new.duration_minutes) {
            return Err(MatchingError::Invalid("a shift lasts 1 to 24 hours".into()));
        }
        let certs: Vec<String> = certifications(new.required_certifications)?
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let handoff = serde_json::to_value(&new.handoff)
            .map_err(|e| MatchingError::Invalid(e.to_string()))?;
        let id = sqlx::query_scalar!(
            "INSERT INTO shift_templates (id, facility_id, name, role, start_time,
                 duration_minutes, hourly_rate_cents, unit, required_certifications, handoff,
                 created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (facility_id, name) DO UPDATE SET role = EXCLUDED.role,
                 start_time = EXCLUDED.start_time, duration_minutes = EXCLUDED.duration_minutes,
                 hourly_rate_cents = EXCLUDED.hourly_rate_cents, unit = EXCLUDED.unit,
                 required_certifications = EXCLUDED.required_certifications,
                 handoff = EXCLUDED.handoff, created_by = EXCLUDED.created_by
             RETURNING id",
            new_id(),
            facility_id,
            name,
            new.role.as_str(),
            new.start_time,
            new.duration_minutes,
            new.hourly_rate_cents.cents(),
            new.unit.as_str(),
            &certs,
            handoff,
            actor
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }
}
