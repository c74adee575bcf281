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

use crate::hub::{ConnId, Frame, Hub};
use chrono::Utc;
use shiftwire_core::{
    delivery::{CatchUp, OfferRecord, OpenShift},
    eligibility::eligible_at_distance,
    ws::{ServerMessage, ShiftOffer, WithdrawReason},
};
use uuid::Uuid;

/// Most withdrawals one resume looks at.
const WITHDRAWAL_LIMIT: i64 = 2000;

/// The frames of one resume, in seq order, ending with `resumed`.
pub(crate) async fn resume(
    hub: &Hub,
    conn: ConnId,
    nurse_id: Uuid,
    last_seq: i64,
    after_seq: i64,
) -> anyhow::Result<Vec<Frame>> {
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
    let source = &hub.inner.source;
    let since = CatchUp {
        last_seq,
        up_to: after_seq,
        radius_m: reach.map_or(0.0, |(_, r)| r),
        limit: hub.config().resume_limit,
    };
    let opened = match reach {
        Some((Some(position), _)) => source.open_shifts_since(since, position).await?,
        _ => Vec::new(),
    };
    let withdrawals = CatchUp {
        limit: WITHDRAWAL_LIMIT,
        ..since
    };
    let held = source
        .held_offers(nurse_id, withdrawals, &positions)
        .await?;

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
            let facts = open.shift.facts();
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
                    let facts = open.shift.facts();
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
    ShiftOffer::of(open.id, open.facility_id, &open.shift, distance_km)
}
