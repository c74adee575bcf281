//! `resume { last_seq }`: what a nurse missed while away, from the shifts themselves.
//!
//! A registered connection receives every event after its registration point live. A
//! resume covers the rest:
//! - offers of shifts opened after `last_seq` (up to registration) that are still open and
//!   that the nurse is eligible for now;
//! - for offers held from before `last_seq` whose terms changed after it, the new terms
//!   (`shift.updated`), or a withdrawal if she no longer qualifies;
//! - withdrawals of every shift booked or cancelled after `last_seq` that she was offered
//!   (the offer log) or may have been: every such shift within her reach of home or of her
//!   last live location. The offer log is written just after delivery, so an offer whose
//!   socket dropped at once may not be in it yet; a withdrawal is never omitted for it.
//!   Clients ignore withdrawals of shifts they never saw.
//!
//! Shifts still open keep this connection as a holder, so later withdrawals reach it live.

use crate::dispatcher::shift_facts;
use crate::hub::{ConnId, Frame, Hub};
use crate::writers::OfferRecord;
use chrono::Utc;
use shiftwire_core::{
    Coordinates, CredentialKind, OpenedShift,
    eligibility::{ShiftFacts, eligible_at_distance},
    ws::{OfferFacility, ServerMessage, ShiftOffer, WithdrawReason},
};
use uuid::Uuid;

/// Most withdrawals one resume looks at.
const WITHDRAWAL_LIMIT: i64 = 2000;

/// An open shift, as read for a resume.
struct OpenShift {
    id: Uuid,
    opened_seq: i64,
    facility_id: Uuid,
    shift: OpenedShift,
}

/// A shift the nurse held an offer of (or may have) before `last_seq`.
struct HeldOffer {
    shift_id: Uuid,
    facts: ShiftFacts,
    /// Still open under the offered opening: the shift as it stands now.
    open: Option<OpenShift>,
    /// Its terms changed after `last_seq`.
    updated_seq: Option<i64>,
    /// The last booking or cancellation, if after `last_seq`.
    closed: Option<(i64, WithdrawReason)>,
}

/// The frames of one resume, in seq order, ending with `resumed`.
pub(crate) async fn resume(
    hub: &Hub,
    conn: ConnId,
    nurse_id: Uuid,
    last_seq: i64,
    after_seq: i64,
) -> Result<Vec<Frame>, sqlx::Error> {
    let now = Utc::now();
    let (reach, positions) = {
        let mut state = hub.state();
        let positions = state.index.positions(nurse_id);
        let reach = state
            .index
            .facts_at(nurse_id, now)
            .map(|facts| (facts.position, facts.max_distance_km * 1000.0));
        (reach, positions)
    };
    let opened = match reach {
        Some((Some(position), radius_m)) => {
            open_shifts_since(hub, last_seq, after_seq, position, radius_m).await?
        }
        _ => Vec::new(),
    };
    let radius_m = reach.map_or(0.0, |(_, r)| r);
    let held = held_offers(hub, nurse_id, last_seq, &positions, radius_m).await?;

    let mut frames: Vec<(i64, Frame)> = Vec::new();
    let mut logged = Vec::new();
    let (mut offers, mut withdrawals) = (0u32, 0u32);
    {
        let mut state = hub.state();
        let cursor = state.cursor;
        for open in opened {
            // Closed after we read it, and that close already dispatched: skip.
            if state
                .closed
                .get(&open.id)
                .is_some_and(|(seq, _, _)| *seq > open.opened_seq)
            {
                continue;
            }
            let facts = shift_facts(&open.shift);
            let Some(nurse) = state.index.facts_at(nurse_id, now) else {
                break;
            };
            let Ok(distance_m) = eligible_at_distance(nurse, &facts, now) else {
                continue;
            };
            frames.push((
                open.opened_seq,
                Frame::of(&ServerMessage::ShiftOffered {
                    seq: open.opened_seq,
                    shift: offer_of(&open, distance_m / 1000.0),
                }),
            ));
            state.note_offer(conn, open.id, &facts);
            logged.push(OfferRecord {
                nurse_id,
                seq: open.opened_seq,
                shift_id: open.id,
            });
            offers += 1;
        }
        for held in held {
            // A close the dispatcher handled after our read counts too.
            let closed = match (held.closed, state.closed.get(&held.shift_id)) {
                (Some(closed), _) => Some(closed),
                (None, Some((seq, reason, _))) if *seq > last_seq => Some((*seq, *reason)),
                _ => None,
            };
            match (closed, held.open) {
                // Already dispatched: only this resume can tell the client.
                (Some((seq, reason)), _) if seq <= cursor => {
                    frames.push((
                        seq,
                        Frame::of(&ServerMessage::ShiftWithdrawn {
                            seq,
                            shift_id: held.shift_id,
                            reason,
                        }),
                    ));
                    withdrawals += 1;
                }
                // Its close is still to be dispatched: hold it, so the withdrawal reaches
                // this connection live.
                (Some(_), _) => state.note_offer(conn, held.shift_id, &held.facts),
                (None, Some(open)) => {
                    let facts = shift_facts(&open.shift);
                    let eligible = state
                        .index
                        .facts_at(nurse_id, now)
                        .and_then(|nurse| eligible_at_distance(nurse, &facts, now).ok());
                    match (held.updated_seq, eligible) {
                        // Changed while she was away: the new terms, or a withdrawal.
                        (Some(seq), Some(distance_m)) => {
                            frames.push((
                                seq,
                                Frame::of(&ServerMessage::ShiftUpdated {
                                    seq,
                                    shift: offer_of(&open, distance_m / 1000.0),
                                }),
                            ));
                            state.note_offer(conn, held.shift_id, &facts);
                        }
                        (Some(seq), None) => {
                            frames.push((
                                seq,
                                Frame::of(&ServerMessage::ShiftWithdrawn {
                                    seq,
                                    shift_id: held.shift_id,
                                    reason: WithdrawReason::Ineligible,
                                }),
                            ));
                            withdrawals += 1;
                        }
                        (None, _) => state.note_offer(conn, held.shift_id, &facts),
                    }
                }
                (None, None) => {}
            }
        }
    }
    for record in logged {
        hub.inner.offer_log.record(record);
    }
    frames.sort_by_key(|(seq, _)| *seq);
    let mut out: Vec<Frame> = frames.into_iter().map(|(_, f)| f).collect();
    out.push(Frame::of(&ServerMessage::Resumed {
        last_seq: after_seq.max(last_seq),
        offers,
        withdrawals,
    }));
    Ok(out)
}

fn offer_of(open: &OpenShift, distance_km: f64) -> ShiftOffer {
    ShiftOffer {
        id: open.id,
        facility: OfferFacility {
            id: open.facility_id,
            name: open.shift.facility_name.clone(),
            location: open.shift.location,
        },
        role: open.shift.role,
        starts_at: open.shift.starts_at,
        ends_at: open.shift.ends_at,
        hourly_rate_cents: open.shift.hourly_rate_cents,
        unit: open.shift.unit.clone(),
        required_certifications: open.shift.required_certifications.clone(),
        distance_km: (distance_km * 1000.0).round() / 1000.0,
    }
}

/// Credential kinds as stored; `None` if one is unknown (the row is skipped).
fn kinds(stored: &[String]) -> Option<Vec<CredentialKind>> {
    stored.iter().map(|k| k.parse().ok()).collect()
}

/// Open shifts within reach, opened in `(last_seq, up_to]`, newest first up to the limit.
async fn open_shifts_since(
    hub: &Hub,
    last_seq: i64,
    up_to: i64,
    position: Coordinates,
    radius_m: f64,
) -> Result<Vec<OpenShift>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT s.id, s.opened_seq AS "opened_seq!", s.facility_id, f.name AS facility_name,
                  s.facility_state, s.role,
                  ST_Y(s.location::geometry) AS "lat!", ST_X(s.location::geometry) AS "lon!",
                  s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit,
                  s.required_certifications
           FROM shifts s JOIN facilities f ON f.id = s.facility_id
           WHERE s.status = 'open' AND s.starts_at > now()
             AND s.opened_seq > $1 AND s.opened_seq <= $2
             AND ST_DWithin(s.location, ST_SetSRID(ST_MakePoint($3, $4), 4326)::geography, $5)
           ORDER BY s.opened_seq DESC
           LIMIT $6"#,
        last_seq,
        up_to,
        position.lon(),
        position.lat(),
        radius_m + 1.0,
        hub.config().resume_limit
    )
    .fetch_all(&hub.inner.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(OpenShift {
                id: r.id,
                opened_seq: r.opened_seq,
                facility_id: r.facility_id,
                shift: OpenedShift {
                    role: r.role.parse().ok()?,
                    facility_name: r.facility_name,
                    facility_state: r.facility_state,
                    location: Coordinates::new(r.lat, r.lon).ok()?,
                    starts_at: r.starts_at,
                    ends_at: r.ends_at,
                    hourly_rate_cents: r.hourly_rate_cents,
                    unit: r.unit,
                    required_certifications: kinds(&r.required_certifications)?,
                },
            })
        })
        .collect())
}

/// Shifts that have not started which the nurse was offered by `last_seq` (the offer
/// log), and shifts within her reach of `positions` that were open at `last_seq` and
/// closed after it (she may have been offered them): for each, whether it is still open
/// under that opening, whether its terms changed after `last_seq`, and its last close if
/// that came after `last_seq`.
async fn held_offers(
    hub: &Hub,
    nurse_id: Uuid,
    last_seq: i64,
    positions: &[Coordinates],
    radius_m: f64,
) -> Result<Vec<HeldOffer>, sqlx::Error> {
    let lons: Vec<f64> = positions.iter().map(|p| p.lon()).collect();
    let lats: Vec<f64> = positions.iter().map(|p| p.lat()).collect();
    let rows = sqlx::query!(
        r#"WITH logged AS (
               SELECT DISTINCT ON (o.shift_id) o.shift_id, o.seq
               FROM offer_log o
               WHERE o.nurse_id = $1 AND o.seq <= $2
               ORDER BY o.shift_id, o.seq DESC
               LIMIT $6
           ), nearby_closed AS (
               SELECT s.id AS shift_id, s.opened_seq AS seq
               FROM shifts s
               WHERE s.closed_seq > $2 AND s.opened_seq <= $2 AND s.starts_at > now()
                 AND EXISTS (
                     SELECT 1 FROM unnest($3::float8[], $4::float8[]) AS p (lon, lat)
                     WHERE ST_DWithin(s.location,
                                      ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography,
                                      $5))
               ORDER BY s.closed_seq DESC
               LIMIT $6
           ), held AS (
               SELECT shift_id, max(seq) AS seq FROM (
                   SELECT * FROM logged UNION ALL SELECT * FROM nearby_closed) h
               GROUP BY shift_id
           )
           SELECT h.shift_id AS "shift_id!", h.seq AS "seq!", s.status, s.opened_seq,
                  s.closed_seq, s.closed_reason, s.updated_seq, s.facility_id,
                  f.name AS facility_name, s.role, s.facility_state,
                  ST_Y(s.location::geometry) AS "lat!", ST_X(s.location::geometry) AS "lon!",
                  s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit, s.required_certifications
           FROM held h
           JOIN shifts s ON s.id = h.shift_id
           JOIN facilities f ON f.id = s.facility_id
           WHERE s.starts_at > now()"#,
        nurse_id,
        last_seq,
        &lons,
        &lats,
        radius_m + 1.0,
        WITHDRAWAL_LIMIT
    )
    .fetch_all(&hub.inner.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
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
            let shift = OpenedShift {
                role: r.role.parse().ok()?,
                facility_name: r.facility_name,
                facility_state: r.facility_state,
                location: Coordinates::new(r.lat, r.lon).ok()?,
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                hourly_rate_cents: r.hourly_rate_cents,
                unit: r.unit,
                required_certifications: kinds(&r.required_certifications)?,
            };
            Some(HeldOffer {
                shift_id: r.shift_id,
                facts: shift_facts(&shift),
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
        .collect())
}
