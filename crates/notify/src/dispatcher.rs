//! The dispatcher: one task per node that turns committed events into frames for this
//! node's sockets, strictly in outbox order. It wakes on the bus and also reads the
//! outbox (on a gap, on lag, and every second), so an event whose publication was lost
//! still arrives. It also registers connections, between events, in batches.

use crate::hub::{ConnId, Frame, Hub, HubState, Registration};
use chrono::Utc;
use shiftwire_core::{
    DomainEvent, OpenedShift, PublishedEvent, ReleaseReason, Role,
    delivery::OfferRecord,
    eligibility::{eligibility, eligible_at_distance},
    ws::{BookedBy, ServerMessage, ShiftOffer, WithdrawReason, close},
};
use shiftwire_outbox::Stored;
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// Events read from the outbox per query while catching up.
const CATCH_UP_BATCH: i64 = 1000;
/// Registrations folded into one facts query.
const REGISTRATION_BATCH: usize = 1000;
const TICK: Duration = Duration::from_secs(1);

/// A shift offer serialised once: only each recipient's distance is written per frame.
struct OfferTemplate {
    /// Everything up to and including `"distance_km":`.
    prefix: String,
}

/// Which frame a template makes: a new offer, or new terms of a held one.
#[derive(Clone, Copy)]
enum OfferFrame {
    Offered,
    Updated,
}

impl OfferTemplate {
    fn new(seq: i64, shift_id: Uuid, facility_id: Uuid, shift: &OpenedShift) -> Self {
        Self::of(OfferFrame::Offered, seq, shift_id, facility_id, shift)
    }

    fn of(
        kind: OfferFrame,
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        shift: &OpenedShift,
    ) -> Self {
        let offer = ShiftOffer::of(shift_id, facility_id, shift, 0.0);
        let message = match kind {
            OfferFrame::Offered => ServerMessage::ShiftOffered { seq, shift: offer },
            OfferFrame::Updated => ServerMessage::ShiftUpdated { seq, shift: offer },
        };
        let mut prefix = serde_json::to_string(&message).unwrap_or_default();
        // `distance_km` is the last field of the last object; strings inside the frame
        // escape their quotes, so the last unescaped key is this one.
        let cut = prefix
            .rfind("\"distance_km\":")
            .map_or(prefix.len(), |i| i + "\"distance_km\":".len());
        prefix.truncate(cut);
        Self { prefix }
    }

    fn frame(&self, distance_km: f64) -> Frame {
        use std::fmt::Write;
        let mut text = String::with_capacity(self.prefix.len() + 16);
        text.push_str(&self.prefix);
        // Metres are enough; JSON numbers must be finite, and distances are.
        let _ = write!(text, "{}", (distance_km * 1000.0).round() / 1000.0);
        text.push_str("}}");
        Frame::new(text)
    }
}

pub(crate) struct Dispatcher {
    hub: Hub,
    events: broadcast::Receiver<PublishedEvent>,
    registrations: mpsc::Receiver<Registration>,
    /// The highest position announced on the bus (that event has committed): events
    /// between the cursor and it are read from the outbox once what comes before them is.
    announced: i64,
    /// The position the last read from the outbox stopped at, its writer still at work.
    /// Later events from the bus do not read again (each read would wait for that writer
    /// and hold up registrations); its own event from the bus, or the next tick, does.
    blocked_at: Option<i64>,
}

impl Dispatcher {
    pub(crate) fn new(
        hub: Hub,
        events: broadcast::Receiver<PublishedEvent>,
        registrations: mpsc::Receiver<Registration>,
    ) -> Self {
        Self {
            hub,
            events,
            registrations,
            announced: 0,
            blocked_at: None,
        }
    }

    /// Runs until shutdown. Starts at the end of the outbox: no socket is connected yet,
    /// and clients that were connected elsewhere catch up with `resume`.
    pub(crate) async fn run(mut self) {
        let start = loop {
            let start = match self.hub.inner.source.load_followers().await {
                Ok(Some(position)) => Ok(position),
                Ok(None) => shiftwire_outbox::last_position(&self.hub.inner.pool)
                    .await
                    .map_err(anyhow::Error::from),
                // While the database answers, what the followers could not load (a stored
                // value they cannot read) must not hold offers up: delivery starts without
                // them (nearby search then keeps reading PostGIS). An unreachable database
                // fails both, and both are tried again.
                Err(error) => match shiftwire_outbox::last_position(&self.hub.inner.pool).await {
                    Ok(position) => {
                        tracing::error!(%error, "the book of open shifts could not be loaded; nearby search reads PostGIS");
                        Ok(position)
                    }
                    Err(_) => Err(error),
                },
            };
            match start {
                Ok(position) => break position,
                Err(error) => {
                    tracing::warn!(%error, "dispatcher cannot read the outbox yet");
                    tokio::select! {
                        () = self.hub.inner.shutdown.cancelled() => return,
                        () = tokio::time::sleep(TICK) => {}
                    }
                }
            }
        };
        self.hub.state().cursor = start;
        let mut tick = tokio::time::interval(TICK);
        let shutdown = self.hub.inner.shutdown.clone();
        loop {
            // Events before registrations: a storm of connects must not hold offers up
            // (registrations are batched, so they drain quickly anyway).
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                received = self.events.recv() => match received {
                    Ok(published) => self.on_published(published).await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        metrics::counter!("ws_dispatcher_lagged_total").increment(missed);
                        self.catch_up().await;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(first) = self.registrations.recv() => {
                    let mut batch = vec![first];
                    while batch.len() < REGISTRATION_BATCH {
                        match self.registrations.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    self.register(batch).await;
                }
                _ = tick.tick() => {
                    self.catch_up().await;
                    let now = Utc::now();
                    self.hub.state().prune(now);
                    self.hub.inner.taken.prune();
                    self.hub.inner.source.follow_tick(now);
                }
            }
        }
    }

    fn cursor(&self) -> i64 {
        self.hub.state().cursor
    }

    async fn on_published(&mut self, published: PublishedEvent) {
        let cursor = self.cursor();
        if published.seq <= cursor {
            return;
        }
        self.announced = self.announced.max(published.seq);
        if published.seq == cursor + 1 {
            let seq = published.seq;
            self.dispatch(published).await;
            // Later events announced while this one was still being written wait in the
            // outbox.
            if self.announced > seq {
                self.catch_up().await;
            }
        } else if self.blocked_at != Some(cursor + 1) {
            // Something between is missing here: another node's event, an event of this
            // node still being written (ids commit out of order), or a rolled-back id.
            // The outbox answers in order, waiting briefly for a writer at work.
            self.catch_up().await;
        }
    }

    /// Dispatches everything in the outbox after the cursor.
    async fn catch_up(&mut self) {
        self.read_outbox().await;
        let cursor = self.cursor();
        self.blocked_at = (self.announced > cursor).then_some(cursor + 1);
    }

    async fn read_outbox(&mut self) {
        loop {
            let cursor = self.cursor();
            let rows =
                match shiftwire_outbox::read_after(&self.hub.inner.pool, cursor, CATCH_UP_BATCH)
                    .await
                {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(%error, "dispatcher cannot read the outbox");
                        return;
                    }
                };
            let full = rows.len() as i64 == CATCH_UP_BATCH;
            for row in rows {
                match row {
                    Stored::Event(published) => self.dispatch(published).await,
                    Stored::Hole { seq } => self.hub.state().cursor = seq,
                    Stored::Unreadable { seq, error } => {
                        tracing::warn!(%error, seq, "skipping an unreadable outbox event");
                        self.hub.state().cursor = seq;
                    }
                }
            }
            if !full {
                return;
            }
        }
    }

    pub(crate) async fn register(&mut self, batch: Vec<Registration>) {
        let nurses: Vec<Uuid> = batch
            .iter()
            .filter(|r| r.principal.role == Role::Nurse)
            .map(|r| r.principal.user_id)
            .collect();
        let mut records = if nurses.is_empty() {
            HashMap::new()
        } else {
            match self.hub.inner.source.nurse_records(&nurses).await {
                Ok(records) => records,
                Err(error) => {
                    // Dropping the replies refuses the connections; clients retry.
                    tracing::warn!(error = %format!("{error:#}"), "cannot load nurses for new connections");
                    return;
                }
            }
        };
        let mut state = self.hub.state();
        let after_seq = state.cursor;
        for registration in batch {
            let user_id = registration.principal.user_id;
            if registration.principal.role == Role::Nurse {
                if let Some(record) = records.remove(&user_id) {
                    state.index.upsert(user_id, record);
                } else if !state.index.contains(user_id) {
                    continue;
                }
            }
            let conn = state.add_conn(
                registration.principal,
                registration.queue,
                registration.control,
                self.hub.inner.config.max_connections_per_user,
            );
            let registered = crate::hub::Registered { conn, after_seq };
            if registration.reply.send(registered).is_err() {
                state.remove_conn(conn);
            }
        }
    }

    /// Turns one event into frames, by family. Each family reads what it needs before
    /// taking the hub's lock, and moves the cursor to `seq` under it.
    pub(crate) async fn dispatch(&mut self, published: PublishedEvent) {
        let started = std::time::Instant::now();
        self.hub.inner.taken.apply(&published);
        self.hub.inner.source.follow(&published);
        let PublishedEvent { seq, event } = published;
        let topic = event.topic();
        match event {
            DomainEvent::ShiftOpened {
                shift_id,
                facility_id,
                shift,
            } => self.on_opened(seq, shift_id, facility_id, &shift),
            DomainEvent::ShiftUpdated {
                shift_id,
                facility_id,
                shift,
                opened_seq,
                widened,
                ..
            } => self.on_terms_changed(seq, opened_seq, shift_id, facility_id, &shift, widened),
            DomainEvent::ShiftBooked {
                shift_id,
                facility_id,
                booking_id,
                nurse_id,
            } => {
                self.on_booked(seq, shift_id, facility_id, booking_id, nurse_id)
                    .await;
            }
            DomainEvent::ShiftReleased {
                shift_id,
                facility_id,
                booking_id,
                nurse_id,
                reason,
            } => {
                self.on_released(seq, shift_id, facility_id, booking_id, nurse_id, reason)
                    .await;
            }
            DomainEvent::ShiftCancelled {
                shift_id, nurse_id, ..
            } => self.on_cancelled(seq, shift_id, nurse_id).await,
            DomainEvent::HandoffUpdated {
                booking_id,
                nurse_id,
                ..
            }
            | DomainEvent::BookingUpdated {
                booking_id,
                nurse_id,
                ..
            } => self.on_booking_changed(seq, nurse_id, booking_id).await,
            DomainEvent::HandoffAcknowledged {
                shift_id,
                facility_id,
                booking_id,
                nurse_id,
                version,
            } => self.to_facility(
                seq,
                facility_id,
                &ServerMessage::HandoffAcknowledged {
                    seq,
                    shift_id,
                    facility_id,
                    booking_id,
                    nurse_id,
                    version,
                },
            ),
            DomainEvent::BookingOnTheWay {
                booking_id,
                shift_id,
                facility_id,
                nurse_id,
                eta_at,
            } => self.to_facility(
                seq,
                facility_id,
                &ServerMessage::BookingOnTheWay {
                    seq,
                    shift_id,
                    facility_id,
                    booking_id,
                    nurse_id,
                    eta_at,
                },
            ),
            DomainEvent::BookingNoShow {
                booking_id,
                shift_id,
                facility_id,
                nurse_id,
                owner_id,
                reoffered,
            } => {
                self.on_booking_changed(seq, nurse_id, booking_id).await;
                self.to_facility(
                    seq,
                    facility_id,
                    &ServerMessage::BookingNoShow {
                        seq,
                        shift_id,
                        facility_id,
                        booking_id,
                        nurse_id,
                        owner_id,
                        reoffered,
                    },
                );
            }
            DomainEvent::ShiftUnfilled {
                shift_id,
                facility_id,
                owner_id,
                offered_count,
                release_count,
            } => self.to_facility(
                seq,
                facility_id,
                &ServerMessage::ShiftUnfilled {
                    seq,
                    shift_id,
                    facility_id,
                    owner_id,
                    offered_count,
                    release_count,
                },
            ),
            DomainEvent::VerificationUpdated {
                nurse_id,
                credential_id,
                ..
            } => self.on_credential(seq, nurse_id, credential_id).await,
            DomainEvent::IdentityUpdated {
                nurse_id,
                identity_id,
                ..
            } => self.on_identity(seq, nurse_id, identity_id).await,
            DomainEvent::ProfileUpdated { nurse_id } => {
                self.refresh_nurse(nurse_id).await;
                let mut state = self.hub.state();
                state.cursor = seq;
                recheck_offers(&mut state, nurse_id, seq);
            }
            DomainEvent::UserSuspended { user_id } => self.close_user(seq, user_id, close::POLICY),
            DomainEvent::UserSignedOut { user_id, .. } => {
                self.close_user(seq, user_id, close::NORMAL)
            }
            DomainEvent::UserReinstated { .. } => self.hub.state().cursor = seq,
        }
        metrics::histogram!("ws_dispatch_seconds", "topic" => topic)
            .record(started.elapsed().as_secs_f64());
    }

    // ------------------------------------------------------------ offers

    fn on_opened(&self, seq: i64, shift_id: Uuid, facility_id: Uuid, shift: &OpenedShift) {
        let mut state = self.hub.state();
        state.cursor = seq;
        let offers = offer(&mut state, seq, shift_id, facility_id, shift);
        drop(state);
        for record in offers {
            self.hub.inner.offer_log.record(record);
        }
    }

    fn on_terms_changed(
        &self,
        seq: i64,
        opened_seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        shift: &OpenedShift,
        widened: bool,
    ) {
        let mut state = self.hub.state();
        state.cursor = seq;
        let offers = update_offers(
            &mut state,
            seq,
            opened_seq,
            shift_id,
            facility_id,
            shift,
            !widened,
        );
        drop(state);
        for record in offers {
            self.hub.inner.offer_log.record(record);
        }
    }

    // ------------------------------------------------------------ shifts closing and re-opening

    async fn on_booked(
        &self,
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
    ) {
        let name = self.scheduler_view_name(facility_id, nurse_id).await;
        let nurse_here = self.refresh_nurse(nurse_id).await;
        let booking = self
            .booking_frame(nurse_here, seq, nurse_id, booking_id)
            .await;
        let mut state = self.hub.state();
        state.cursor = seq;
        state.withdraw(shift_id, seq, WithdrawReason::Booked, Some(nurse_id));
        if let Some(frame) = booking {
            state.deliver_to_user(nurse_id, &frame);
        }
        state.deliver_to_facility(
            facility_id,
            &Frame::of(&ServerMessage::ShiftBooked {
                seq,
                shift_id,
                facility_id,
                booking_id,
                nurse: BookedBy { id: nurse_id, name },
            }),
        );
        recheck_offers(&mut state, nurse_id, seq);
    }

    async fn on_released(
        &self,
        seq: i64,
        shift_id: Uuid,
        facility_id: Uuid,
        booking_id: Uuid,
        nurse_id: Uuid,
        reason: ReleaseReason,
    ) {
        let nurse_here = self.refresh_nurse(nurse_id).await;
        let booking = self
            .booking_frame(nurse_here, seq, nurse_id, booking_id)
            .await;
        let state = self.deliver_to(seq, nurse_id, booking);
        state.deliver_to_facility(
            facility_id,
            &Frame::of(&ServerMessage::ShiftReleased {
                seq,
                shift_id,
                facility_id,
                booking_id,
                nurse_id,
                reason,
            }),
        );
    }

    async fn on_cancelled(&self, seq: i64, shift_id: Uuid, nurse_id: Option<Uuid>) {
        let booking = match nurse_id {
            Some(nurse_id) if self.refresh_nurse(nurse_id).await => {
                match self
                    .read(
                        "a cancelled booking",
                        self.hub.inner.source.booking_of_shift(nurse_id, shift_id),
                    )
                    .await
                {
                    Some(id) => self.booking_frame(true, seq, nurse_id, id).await,
                    None => None,
                }
            }
            _ => None,
        };
        let mut state = self.hub.state();
        state.cursor = seq;
        state.withdraw(shift_id, seq, WithdrawReason::Cancelled, None);
        if let (Some(nurse_id), Some(frame)) = (nurse_id, booking) {
            state.deliver_to_user(nurse_id, &frame);
        }
    }

    // ------------------------------------------------------------ bookings and facilities

    async fn on_booking_changed(&self, seq: i64, nurse_id: Uuid, booking_id: Uuid) {
        let here = self.refresh_nurse(nurse_id).await;
        let booking = self.booking_frame(here, seq, nurse_id, booking_id).await;
        drop(self.deliver_to(seq, nurse_id, booking));
    }

    fn to_facility(&self, seq: i64, facility_id: Uuid, message: &ServerMessage) {
        let mut state = self.hub.state();
        state.cursor = seq;
        state.deliver_to_facility(facility_id, &Frame::of(message));
    }

    // ------------------------------------------------------------ a nurse's standing and sessions

    async fn on_credential(&self, seq: i64, nurse_id: Uuid, credential_id: Uuid) {
        let frame = if self.refresh_nurse(nurse_id).await {
            self.read(
                "a credential",
                self.hub.inner.source.credential(credential_id),
            )
            .await
            .map(|credential| Frame::of(&ServerMessage::VerificationUpdated { seq, credential }))
        } else {
            None
        };
        let mut state = self.deliver_to(seq, nurse_id, frame);
        recheck_offers(&mut state, nurse_id, seq);
    }

    async fn on_identity(&self, seq: i64, nurse_id: Uuid, identity_id: Uuid) {
        let frame = if self.is_connected(nurse_id) {
            // Superseded by a newer submission: nothing to tell.
            self.read("an identity", self.hub.inner.source.identity(identity_id))
                .await
                .map(|identity| Frame::of(&ServerMessage::IdentityUpdated { seq, identity }))
        } else {
            None
        };
        drop(self.deliver_to(seq, nurse_id, frame));
    }

    /// Moves the cursor to `seq` and queues `frame`, if any, for `user_id`'s sockets; the
    /// hub stays locked for what the caller does next.
    fn deliver_to(
        &self,
        seq: i64,
        user_id: Uuid,
        frame: Option<Frame>,
    ) -> std::sync::MutexGuard<'_, HubState> {
        let mut state = self.hub.state();
        state.cursor = seq;
        if let Some(frame) = frame {
            state.deliver_to_user(user_id, &frame);
        }
        state
    }

    fn close_user(&self, seq: i64, user_id: Uuid, code: u16) {
        let mut state = self.hub.state();
        state.cursor = seq;
        state.close_user(user_id, code);
    }

    // ------------------------------------------------------------ reads through the seam

    fn is_connected(&self, user_id: Uuid) -> bool {
        self.hub.state().by_user.contains_key(&user_id)
    }

    /// A read through the seam; a failure is logged and the frame it was for is not sent
    /// (the client's REST reads and `resume` still have the state).
    async fn read<T>(
        &self,
        what: &str,
        read: impl std::future::Future<Output = anyhow::Result<Option<T>>>,
    ) -> Option<T> {
        match read.await {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot read {what} to announce");
                None
            }
        }
    }

    /// Reloads a connected nurse's facts after something about them changed; returns
    /// whether they are connected here.
    async fn refresh_nurse(&self, nurse_id: Uuid) -> bool {
        if !self.is_connected(nurse_id) {
            return false;
        }
        match self.hub.inner.source.nurse_records(&[nurse_id]).await {
            Ok(mut records) => {
                if let Some(record) = records.remove(&nurse_id) {
                    let mut state = self.hub.state();
                    // Still connected, and keeping the live location reported meanwhile.
                    if state.index.contains(nurse_id) {
                        state.index.upsert(nurse_id, record);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot reload a connected nurse");
            }
        }
        true
    }

    async fn booking_frame(
        &self,
        nurse_here: bool,
        seq: i64,
        nurse_id: Uuid,
        booking_id: Uuid,
    ) -> Option<Frame> {
        if !nurse_here {
            return None;
        }
        self.read(
            "a booking",
            self.hub.inner.source.booking(nurse_id, booking_id),
        )
        .await
        .map(|booking| Frame::of(&ServerMessage::BookingUpdated { seq, booking }))
    }

    /// The booking nurse's name, read only when a scheduler of the facility is here.
    async fn scheduler_view_name(&self, facility_id: Uuid, nurse_id: Uuid) -> Option<String> {
        if !self.hub.state().by_facility.contains_key(&facility_id) {
            return None;
        }
        self.read("a nurse's name", self.hub.inner.source.nurse_name(nurse_id))
            .await
    }
}

/// Offers a newly opened shift to every eligible nurse connected here: candidates from
/// the index, the one eligibility rule, one serialisation, and a non-blocking queue
/// push per connection. Returns what to log.
fn offer(
    state: &mut HubState,
    seq: i64,
    shift_id: Uuid,
    facility_id: Uuid,
    shift: &OpenedShift,
) -> Vec<OfferRecord> {
    let started = std::time::Instant::now();
    // A re-opened shift is a new offer: forget the previous opening's holders.
    state.forget_offers(shift_id);
    let template = OfferTemplate::new(seq, shift_id, facility_id, shift);
    let logged = offer_to_candidates(state, seq, shift_id, shift, &template, &HashSet::new());
    metrics::counter!("ws_offers_sent_total").increment(logged.len() as u64);
    metrics::histogram!("ws_fanout_seconds").record(started.elapsed().as_secs_f64());
    logged
}

/// Offers `shift` (opened at `opened_seq`) to each eligible nurse connected here but
/// those in `skip`, from `template`; notes the holders and returns what to log.
fn offer_to_candidates(
    state: &mut HubState,
    opened_seq: i64,
    shift_id: Uuid,
    shift: &OpenedShift,
    template: &OfferTemplate,
    skip: &HashSet<Uuid>,
) -> Vec<OfferRecord> {
    let now = Utc::now();
    let facts = shift.facts();
    let mut logged = Vec::new();
    let mut holders = Vec::new();
    for nurse_id in state.index.candidates(shift.location) {
        if skip.contains(&nurse_id) {
            continue;
        }
        let Some(nurse) = state.index.facts_at(nurse_id, now) else {
            continue;
        };
        let Ok(distance) = eligible_at_distance(nurse, &facts, now) else {
            continue;
        };
        let frame = template.frame(distance / 1000.0);
        let mut delivered = false;
        for conn in state.by_user.get(&nurse_id).into_iter().flatten() {
            if state.deliver(*conn, frame.clone()) {
                holders.push(*conn);
                delivered = true;
            }
        }
        if delivered {
            logged.push(OfferRecord {
                nurse_id,
                seq: opened_seq,
                shift_id,
            });
        }
    }
    for conn in holders {
        state.note_offer(conn, shift_id, &facts);
    }
    logged
}

/// The terms of an open shift changed: each holder of its offer on this node gets the new
/// terms if still eligible (when `terms_changed`; a favourites window that ended changes
/// none), else a withdrawal (`ineligible`); connected nurses newly eligible get an offer.
/// Returns the new offers to log (under the shift's opening).
fn update_offers(
    state: &mut HubState,
    seq: i64,
    opened_seq: i64,
    shift_id: Uuid,
    facility_id: Uuid,
    shift: &OpenedShift,
    terms_changed: bool,
) -> Vec<OfferRecord> {
    let now = Utc::now();
    let facts = shift.facts();
    let updated = OfferTemplate::of(OfferFrame::Updated, seq, shift_id, facility_id, shift);
    let withdrawn = Frame::of(&ServerMessage::ShiftWithdrawn {
        seq,
        shift_id,
        reason: WithdrawReason::Ineligible,
    });
    let holders: Vec<ConnId> = state
        .offered
        .get(&shift_id)
        .map(|o| o.conns.clone())
        .unwrap_or_default();
    let mut holding_nurses = HashSet::new();
    for conn in holders {
        let Some(nurse_id) = state.conns.get(&conn).map(|e| e.principal.user_id) else {
            continue;
        };
        holding_nurses.insert(nurse_id);
        let distance = state
            .index
            .facts_at(nurse_id, now)
            .and_then(|nurse| eligible_at_distance(nurse, &facts, now).ok());
        match distance {
            Some(_) if !terms_changed => {}
            Some(distance) => {
                state.deliver(conn, updated.frame(distance / 1000.0));
            }
            None => {
                if let Some(entry) = state.conns.get_mut(&conn) {
                    entry.offered.remove(&shift_id);
                }
                if let Some(o) = state.offered.get_mut(&shift_id) {
                    o.conns.retain(|c| *c != conn);
                }
                state.deliver(conn, withdrawn.clone());
            }
        }
    }
    if let Some(o) = state.offered.get_mut(&shift_id) {
        o.facts = facts;
    }
    let offered = OfferTemplate::new(seq, shift_id, facility_id, shift);
    offer_to_candidates(
        state,
        opened_seq,
        shift_id,
        shift,
        &offered,
        &holding_nurses,
    )
}

/// After a nurse's facts changed, withdraws offers they no longer qualify for.
fn recheck_offers(state: &mut HubState, nurse_id: Uuid, seq: i64) {
    let now = Utc::now();
    let conns: Vec<_> = state.by_user.get(&nurse_id).cloned().unwrap_or_default();
    let held: Vec<Uuid> = conns
        .iter()
        .filter_map(|c| state.conns.get(c))
        .flat_map(|entry| entry.offered.iter().copied())
        .collect();
    for shift_id in held {
        let Some(offered) = state.offered.get(&shift_id) else {
            continue;
        };
        let facts = offered.facts.clone();
        let still = state
            .index
            .facts_at(nurse_id, now)
            .is_some_and(|nurse| eligibility(nurse, &facts, now).is_ok());
        if still {
            continue;
        }
        let frame = Frame::of(&ServerMessage::ShiftWithdrawn {
            seq,
            shift_id,
            reason: WithdrawReason::Ineligible,
        });
        for conn in &conns {
            let holds = state
                .conns
                .get_mut(conn)
                .is_some_and(|entry| entry.offered.remove(&shift_id));
            if holds {
                if let Some(offered) = state.offered.get_mut(&shift_id) {
                    offered.conns.retain(|c| c != conn);
                }
                state.deliver(*conn, frame.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::opened_shift;

    #[test]
    fn a_templated_offer_is_the_serialised_offer() {
        let mut shift = opened_shift(37.7, -122.4);
        shift.facility_name = "St. \"distance_km\": Mary's".into();
        let (id, facility) = (Uuid::now_v7(), Uuid::now_v7());
        let frame = OfferTemplate::new(41, id, facility, &shift).frame(12.345_678);
        let parsed: ServerMessage = serde_json::from_str(frame.as_str()).expect("valid JSON");
        let ServerMessage::ShiftOffered { seq, shift: offer } = parsed else {
            panic!("not an offer: {}", frame.as_str());
        };
        assert_eq!(seq, 41);
        assert_eq!(offer.id, id);
        assert_eq!(offer.facility.name, shift.facility_name);
        assert!((offer.distance_km - 12.346).abs() < 1e-9);
    }
}
