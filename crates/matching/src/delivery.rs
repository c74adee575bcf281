//! What the real-time layer reads and writes through the marketplace: the open shifts
//! and held offers a `resume` catches a nurse up with, the booking a cancellation
//! concerns, and the offer log (who was offered which opening: `resume` and the
//! unfilled-shift alert read it).

use crate::{Matching, MatchingError, geo_sql};
use shiftwire_core::{
    Coordinates, OpenedShift,
    delivery::{CatchUp, HeldOffer, OfferRecord, OpenShift},
    ws::WithdrawReason,
};
use uuid::Uuid;

/// The opened shift of a row that selected its terms (see `terms_of!`), `facility_name`,
/// `facility_state` and `location`.
macro_rules! opened_of {
    ($row:ident) => {
        (|| -> Result<OpenedShift, MatchingError> {
            Ok(OpenedShift {
                location: geo_sql::from_sql($row.location)?,
                terms: terms_of!($row)?,
                facility_name: $row.facility_name,
                facility_state: $row.facility_state,
                excluded: $row.excluded,
                facility_id: $row.facility_id,
                favourites_until: $row.favourites_until,
            })
        })()
    };
}

impl Matching {
    /// Open shifts within `since.radius_m` of `position`, opened in `(last_seq, up_to]`,
    /// newest first, at most `since.limit`.
    ///
    /// Read from the node's book of open shifts once it has followed the outbox to
    /// `up_to` (the connection's registration point: the dispatcher hands the book each
    /// event before it moves the hub's cursor, so this holds unless an event was
    /// unreadable). Otherwise, and as the reference the book is tested against, from
    /// PostGIS ([`Self::open_shifts_since_in_postgis`]).
    pub async fn open_shifts_since(
        &self,
        since: CatchUp,
        position: Coordinates,
    ) -> Result<Vec<OpenShift>, MatchingError> {
        if self.book.is_ready() && self.book.followed() >= since.up_to {
            metrics::counter!("resume_open_shift_reads_total", "read" => "book").increment(1);
            return Ok(self.open_shifts_since_in_book(since, position));
        }
        metrics::counter!("resume_open_shift_reads_total", "read" => "postgis").increment(1);
        self.open_shifts_since_in_postgis(since, position).await
    }

    /// [`Self::open_shifts_since`] from the book of open shifts, complete or not.
    pub fn open_shifts_since_in_book(
        &self,
        since: CatchUp,
        position: Coordinates,
    ) -> Vec<OpenShift> {
        self.book.opened_since(&since, position, self.clock.now())
    }

    /// [`Self::open_shifts_since`] in PostGIS.
    pub async fn open_shifts_since_in_postgis(
        &self,
        since: CatchUp,
        position: Coordinates,
    ) -> Result<Vec<OpenShift>, MatchingError> {
        let rows = sqlx::query!(
            r#"SELECT s.id, s.opened_seq AS "opened_seq!", s.facility_id,
                      f.name AS facility_name, s.facility_state, s.role,
                      s.location::geometry AS "location!: geo_sql::Wkb",
                      s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit,
                      s.required_certifications, s.favourites_until,
                      shift_no_shows(s.id) AS "excluded!"
               FROM shifts s JOIN facilities f ON f.id = s.facility_id
               WHERE s.status = 'open' AND COALESCE(s.late_claim_until, s.starts_at) > now()
                 AND s.opened_seq > $1 AND s.opened_seq <= $2
                 AND ST_DWithin(s.location, ST_SetSRID($3::geometry, 4326)::geography, $4)
               ORDER BY s.opened_seq DESC
               LIMIT $5"#,
            since.last_seq,
            since.up_to,
            geo_sql::to_sql(position) as _,
            since.radius_m + 1.0,
            since.limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OpenShift {
                    id: r.id,
                    opened_seq: r.opened_seq,
                    facility_id: r.facility_id,
                    shift: opened_of!(r)?,
                })
            })
            .collect()
    }

    /// Shifts that have not started which `nurse_id` was offered by `last_seq` (the
    /// offer log), and shifts within `radius_m` of one of `positions` that were open at
    /// `last_seq` and closed after it (she may have been offered them): for each, whether
    /// it is still open under that opening, whether its terms changed after `last_seq`,
    /// and its last close if that came after `last_seq`. At most `limit` of each kind.
    pub async fn held_offers(
        &self,
        nurse_id: Uuid,
        since: CatchUp,
        positions: &[Coordinates],
    ) -> Result<Vec<HeldOffer>, MatchingError> {
        let last_seq = since.last_seq;
        let points: Vec<geo_sql::WkbParam> =
            positions.iter().copied().map(geo_sql::to_sql).collect();
        let rows = sqlx::query!(
            r#"WITH logged AS (
                   SELECT DISTINCT ON (o.shift_id) o.shift_id, o.seq
                   FROM offer_log o
                   WHERE o.nurse_id = $1 AND o.seq <= $2
                   ORDER BY o.shift_id, o.seq DESC
                   LIMIT $5
               ), nearby_closed AS (
                   SELECT s.id AS shift_id, s.opened_seq AS seq
                   FROM shifts s
                   WHERE s.closed_seq > $2 AND s.opened_seq <= $2
                     AND COALESCE(s.late_claim_until, s.starts_at) > now()
                     AND EXISTS (
                         SELECT 1 FROM unnest($3::geometry[]) AS p (point)
                         WHERE ST_DWithin(s.location, ST_SetSRID(p.point, 4326)::geography, $4))
                   ORDER BY s.closed_seq DESC
                   LIMIT $5
               ), held AS (
                   SELECT shift_id, max(seq) AS seq FROM (
                       SELECT * FROM logged UNION ALL SELECT * FROM nearby_closed) h
                   GROUP BY shift_id
               )
               SELECT h.shift_id AS "shift_id!", h.seq AS "seq!", s.status, s.opened_seq,
                      s.closed_seq, s.closed_reason, s.updated_seq, s.facility_id,
                      f.name AS facility_name, s.role, s.facility_state,
                      s.location::geometry AS "location!: geo_sql::Wkb",
                      s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit,
                      s.required_certifications, s.favourites_until,
                      shift_no_shows(s.id) AS "excluded!"
               FROM held h
               JOIN shifts s ON s.id = h.shift_id
               JOIN facilities f ON f.id = s.facility_id
               WHERE COALESCE(s.late_claim_until, s.starts_at) > now()"#,
            nurse_id,
            last_seq,
            &points as _,
            since.radius_m + 1.0,
            since.limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let still_open = r.status == "open" && r.opened_seq == Some(r.seq);
                let closed = match (r.closed_seq, r.closed_reason.as_deref()) {
                    (Some(seq), Some(reason)) if seq > last_seq && seq > r.seq => Some((
                        seq,
                        if reason == "cancelled" {
                            WithdrawReason::Cancelled
                        } else {
                            WithdrawReason::Booked
                        },
                    )),
                    _ => None,
                };
                let shift = opened_of!(r)?;
                Ok(HeldOffer {
                    shift_id: r.shift_id,
                    facts: shift.facts(),
                    open: still_open.then_some(OpenShift {
                        id: r.shift_id,
                        opened_seq: r.seq,
                        facility_id: r.facility_id,
                        shift,
                    }),
                    updated_seq: r.updated_seq.filter(|seq| *seq > last_seq),
                    closed,
                })
            })
            .collect()
    }

    /// The latest booking of `shift_id` by `nurse_id` (the one a cancellation ended).
    pub async fn booking_of_shift(
        &self,
        nurse_id: Uuid,
        shift_id: Uuid,
    ) -> Result<Option<Uuid>, MatchingError> {
        Ok(sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE shift_id = $1 AND nurse_id = $2
             ORDER BY created_at DESC LIMIT 1",
            shift_id,
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Logs offers made (several nodes may log the same one; offers of shifts deleted
    /// meanwhile are dropped).
    pub async fn record_offers(&self, batch: &[OfferRecord]) -> Result<(), MatchingError> {
        let nurses: Vec<Uuid> = batch.iter().map(|r| r.nurse_id).collect();
        let seqs: Vec<i64> = batch.iter().map(|r| r.seq).collect();
        let shifts: Vec<Uuid> = batch.iter().map(|r| r.shift_id).collect();
        sqlx::query!(
            "INSERT INTO offer_log (nurse_id, seq, shift_id)
             SELECT o.nurse_id, o.seq, o.shift_id
             FROM unnest($1::uuid[], $2::bigint[], $3::uuid[]) AS o (nurse_id, seq, shift_id)
             WHERE EXISTS (SELECT 1 FROM shifts s WHERE s.id = o.shift_id)
             ON CONFLICT DO NOTHING",
            &nurses,
            &seqs,
            &shifts
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the offers of shifts that ended more than a day ago; returns how many.
    pub async fn prune_offers(&self) -> Result<u64, MatchingError> {
        let deleted = sqlx::query!(
            "DELETE FROM offer_log o USING shifts s
             WHERE s.id = o.shift_id AND s.ends_at < now() - interval '1 day'"
        )
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }
}
