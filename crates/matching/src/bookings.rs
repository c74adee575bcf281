use crate::{BookedShift, Booking, Facility, Matching, MatchingError, geo_sql, stored};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Matching {
    /// One of the nurse's bookings; another nurse's answers `NotFound`.
    pub async fn booking(&self, nurse_id: Uuid, id: Uuid) -> Result<Booking, MatchingError> {
        self.select_bookings(nurse_id, Some(id), None, None, None, 1)
            .await?
            .pop()
            .ok_or(MatchingError::NotFound)
    }

    /// The nurse's bookings whose shift starts in `[from, to)`, by start time.
    pub async fn bookings_of(
        &self,
        nurse_id: Uuid,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Booking>, MatchingError> {
        self.select_bookings(nurse_id, None, from, to, after, limit)
            .await
    }

    async fn select_bookings(
        &self,
        nurse_id: Uuid,
        id: Option<Uuid>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Booking>, MatchingError> {
        let (after_at, after_id) = after.unzip();
        let rows = sqlx::query!(
            r#"SELECT b.id, b.status, b.nurse_id, b.shift_id, b.handoff_acknowledged_version,
                      b.checked_in_at, b.checked_out_at, b.worked_minutes, b.created_at,
                      b.cancel_reason, b.cancel_detail, b.on_the_way_at, b.eta_at, b.no_show_at,
                      b.late_cancel_pay_minutes,
                      s.status AS shift_status, s.role, s.starts_at, s.ends_at,
                      s.hourly_rate_cents, s.unit, s.required_certifications, s.handoff,
                      s.handoff_version,
                      f.id AS facility_id, f.name AS facility_name, f.address, f.timezone,
                      f.state, f.geofence_m, f.created_at AS facility_created_at,
                      f.location::geometry AS "location!: geo_sql::Wkb"
               FROM bookings b
               JOIN shifts s ON s.id = b.shift_id
               JOIN facilities f ON f.id = s.facility_id
               WHERE b.nurse_id = $1
                 AND ($2::uuid IS NULL OR b.id = $2)
                 AND ($3::timestamptz IS NULL OR s.starts_at >= $3)
                 AND ($4::timestamptz IS NULL OR s.starts_at < $4)
                 AND ($5::timestamptz IS NULL OR (s.starts_at, b.id) > ($5, $6))
               ORDER BY s.starts_at, b.id
               LIMIT $7"#,
            nurse_id,
            id,
            from,
            to,
            after_at,
            after_id,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Booking {
                    id: r.id,
                    status: stored::parse(&r.status, "booking status")?,
                    nurse_id: r.nurse_id,
                    shift: BookedShift {
                        id: r.shift_id,
                        status: stored::parse(&r.shift_status, "status")?,
                        terms: terms_of!(r)?,
                    },
                    facility: Facility {
                        id: r.facility_id,
                        name: r.facility_name,
                        address: r.address,
                        location: geo_sql::from_sql(r.location)?,
                        timezone: r.timezone,
                        state: r.state,
                        geofence_m: r.geofence_m,
                        created_at: r.facility_created_at,
                    },
                    handoff: serde_json::from_value(r.handoff)
                        .map_err(|e| MatchingError::Invalid(e.to_string()))?,
                    handoff_version: r.handoff_version,
                    handoff_acknowledged: r.handoff_acknowledged_version == Some(r.handoff_version),
                    checked_in_at: r.checked_in_at,
                    checked_out_at: r.checked_out_at,
                    worked_minutes: r.worked_minutes,
                    cancel_reason: r.cancel_reason,
                    cancel_detail: r.cancel_detail,
                    on_the_way_at: r.on_the_way_at,
                    eta_at: r.eta_at,
                    no_show_at: r.no_show_at,
                    late_cancel_pay_minutes: r.late_cancel_pay_minutes,
                    created_at: r.created_at,
                })
            })
            .collect()
    }
}
