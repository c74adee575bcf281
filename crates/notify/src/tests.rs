//! The dispatcher against a fake of the rooms behind the seam: events in, frames out,
//! no database.

use crate::{
    Frame, Hub, NotifyConfig, Principal,
    dispatcher::Dispatcher,
    fake::{FakeRooms, nurse_at, opened_shift},
    hub::{Control, Registration},
    writers::{LocationWriter, OfferLog},
};
use shiftwire_core::{
    CredentialKind, DomainEvent, OpenedShift, PublishedEvent, Role,
    ws::{ServerMessage, close},
};
use std::{sync::Arc, time::Duration};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

/// Mercy General, in San Francisco; a nurse 5 km away is in reach, one in Sacramento not.
const HOSPITAL: (f64, f64) = (37.7402, -122.385);
const NEARBY: (f64, f64) = (37.7852, -122.385);
const FAR: (f64, f64) = (38.5816, -121.4944);

struct World {
    rooms: Arc<FakeRooms>,
    dispatcher: Dispatcher,
    hub: Hub,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    seq: i64,
}

/// A connection as the test sees it: the frames queued for it, and how it was closed.
struct Socket {
    frames: mpsc::Receiver<Frame>,
    control: Arc<Control>,
}

impl Socket {
    fn next(&mut self) -> Option<ServerMessage> {
        self.frames
            .try_recv()
            .ok()
            .map(|f| serde_json::from_str(f.as_str()).expect("a protocol message"))
    }
}

impl World {
    fn new() -> Self {
        let rooms = Arc::new(FakeRooms::default());
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        // The outbox is never read here: the test hands the dispatcher its events.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        let offer_log = OfferLog::offers(rooms.clone(), &tracker, shutdown.clone());
        let locations = LocationWriter::locations(rooms.clone(), &tracker, shutdown.clone());
        let (hub, _registrations) = Hub::new(
            NotifyConfig::default(),
            pool,
            rooms.clone(),
            rooms.clone(),
            shutdown.clone(),
            (offer_log, locations),
            Arc::default(),
        );
        let (_events, receiver) = broadcast::channel(16);
        let (_register, registrations) = mpsc::channel(16);
        let dispatcher = Dispatcher::new(hub.clone(), receiver, registrations);
        Self {
            rooms,
            dispatcher,
            hub,
            tracker,
            shutdown,
            seq: 0,
        }
    }

    async fn connect(&mut self, user_id: Uuid, role: Role, facility_ids: Vec<Uuid>) -> Socket {
        let (queue, frames) = mpsc::channel(64);
        let control = Arc::new(Control::default());
        let (reply, registered) = oneshot::channel();
        let registration = Registration {
            principal: Principal {
                user_id,
                role,
                facility_ids,
                expires_at: None,
            },
            queue,
            control: control.clone(),
            reply,
        };
        self.dispatcher.register(vec![registration]).await;
        registered.await.expect("registered");
        Socket { frames, control }
    }

    async fn nurse(&mut self, (lat, lon): (f64, f64)) -> (Uuid, Socket) {
        let id = Uuid::now_v7();
        self.rooms
            .nurses
            .lock()
            .expect("lock")
            .insert(id, nurse_at(lat, lon));
        (id, self.connect(id, Role::Nurse, vec![]).await)
    }

    async fn happen(&mut self, event: DomainEvent) -> i64 {
        self.seq += 1;
        let seq = self.seq;
        self.dispatcher
            .dispatch(PublishedEvent { seq, event })
            .await;
        seq
    }

    async fn open(&mut self, shift_id: Uuid, facility_id: Uuid) -> i64 {
        let shift = opened_shift(HOSPITAL.0, HOSPITAL.1);
        self.happen(DomainEvent::ShiftOpened {
            shift_id,
            facility_id,
            shift: Box::new(shift),
        })
        .await
    }

    /// The open shift (opened at `opened_seq`) now has the terms of `shift`.
    async fn update(
        &mut self,
        shift_id: Uuid,
        facility_id: Uuid,
        shift: OpenedShift,
        opened_seq: i64,
    ) -> i64 {
        self.happen(DomainEvent::ShiftUpdated {
            shift_id,
            facility_id,
            shift: Box::new(shift),
            opened_seq,
            boosted: false,
            widened: false,
        })
        .await
    }

    async fn stop(self) -> Arc<FakeRooms> {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        drop(self.hub);
        self.rooms
    }
}

#[tokio::test]
async fn an_opened_shift_is_offered_to_the_nurses_in_reach_once_and_logged() {
    let mut world = World::new();
    let (near_id, mut near) = world.nurse(NEARBY).await;
    let (_, mut far) = world.nurse(FAR).await;
    let (shift_id, facility_id) = (Uuid::now_v7(), Uuid::now_v7());
    let seq = world.open(shift_id, facility_id).await;

    let Some(ServerMessage::ShiftOffered { seq: got, shift }) = near.next() else {
        panic!("the nurse in reach gets the offer");
    };
    assert_eq!(
        (got, shift.id, shift.facility.id),
        (seq, shift_id, facility_id)
    );
    assert!(
        (shift.distance_km - 5.0).abs() < 0.1,
        "{}",
        shift.distance_km
    );
    assert!(near.next().is_none(), "once");
    assert!(far.next().is_none(), "the nurse out of reach hears nothing");

    let rooms = world.stop().await;
    let offers = rooms.offers.lock().expect("lock").clone();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(
        (offers[0].nurse_id, offers[0].shift_id, offers[0].seq),
        (near_id, shift_id, seq)
    );
}

#[tokio::test]
async fn a_booking_withdraws_the_offer_and_tells_the_nurse_and_the_schedulers() {
    let mut world = World::new();
    let (winner_id, mut winner) = world.nurse(NEARBY).await;
    let (_, mut other) = world.nurse(NEARBY).await;
    let (shift_id, facility_id, booking_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let scheduler = Uuid::now_v7();
    let mut desk = world
        .connect(scheduler, Role::Scheduler, vec![facility_id])
        .await;
    world.open(shift_id, facility_id).await;
    assert!(matches!(
        winner.next(),
        Some(ServerMessage::ShiftOffered { .. })
    ));
    assert!(matches!(
        other.next(),
        Some(ServerMessage::ShiftOffered { .. })
    ));
    assert!(desk.next().is_none(), "offers are for nurses");

    world.rooms.bookings.lock().expect("lock").insert(
        booking_id,
        serde_json::json!({ "id": booking_id, "status": "booked" }),
    );
    world
        .rooms
        .names
        .lock()
        .expect("lock")
        .insert(winner_id, "Amara Okafor".into());
    let seq = world
        .happen(DomainEvent::ShiftBooked {
            shift_id,
            facility_id,
            booking_id,
            nurse_id: winner_id,
        })
        .await;

    let Some(ServerMessage::BookingUpdated { booking, .. }) = winner.next() else {
        panic!("the winner gets her booking");
    };
    assert_eq!(booking["status"], "booked");
    let Some(ServerMessage::ShiftWithdrawn {
        seq: got,
        shift_id: withdrawn,
        ..
    }) = other.next()
    else {
        panic!("the other nurse's offer is withdrawn");
    };
    assert_eq!((got, withdrawn), (seq, shift_id));
    let Some(ServerMessage::ShiftBooked { nurse, .. }) = desk.next() else {
        panic!("the schedulers hear who booked");
    };
    assert_eq!(nurse.name.as_deref(), Some("Amara Okafor"));
    world.stop().await;
}

#[tokio::test]
async fn new_terms_reach_holders_still_eligible_and_withdraw_the_rest() {
    let mut world = World::new();
    let (_, mut holder) = world.nurse(NEARBY).await;
    let (shift_id, facility_id) = (Uuid::now_v7(), Uuid::now_v7());
    let opened_seq = world.open(shift_id, facility_id).await;
    assert!(matches!(
        holder.next(),
        Some(ServerMessage::ShiftOffered { .. })
    ));

    let mut raised = opened_shift(HOSPITAL.0, HOSPITAL.1);
    raised.terms.hourly_rate_cents = shiftwire_core::HourlyRate::new(12_000).expect("rate");
    world
        .update(shift_id, facility_id, raised, opened_seq)
        .await;
    let Some(ServerMessage::ShiftUpdated { shift, .. }) = holder.next() else {
        panic!("the holder hears the new rate");
    };
    assert_eq!(shift.terms.hourly_rate_cents.cents(), 12_000);

    let mut np_only = opened_shift(HOSPITAL.0, HOSPITAL.1);
    np_only.terms.role = CredentialKind::NP;
    world
        .update(shift_id, facility_id, np_only, opened_seq)
        .await;
    assert!(
        matches!(holder.next(), Some(ServerMessage::ShiftWithdrawn { shift_id: s, .. }) if s == shift_id),
        "an RN no longer qualifies for an NP shift"
    );
    world.stop().await;
}

#[tokio::test]
async fn suspension_and_sign_out_close_the_users_sockets() {
    let mut world = World::new();
    let (suspended, socket) = world.nurse(NEARBY).await;
    let (signed_out, other) = world.nurse(NEARBY).await;
    world
        .happen(DomainEvent::UserSuspended { user_id: suspended })
        .await;
    world
        .happen(DomainEvent::UserSignedOut {
            user_id: signed_out,
            session_id: None,
        })
        .await;
    tokio::time::timeout(Duration::from_secs(1), socket.control.closed.cancelled())
        .await
        .expect("closed");
    assert_eq!(socket.control.code(), close::POLICY);
    assert_eq!(other.control.code(), close::NORMAL);
    world.stop().await;
}

#[test]
fn a_queued_frame_takes_sixteen_bytes() {
    // Every connection's queue allocates a block of slots up front, so this is memory per
    // idle connection (BENCHMARKS.md, "memory per connection").
    assert_eq!(std::mem::size_of::<Frame>(), 16);
    let frame = Frame::new("{\"type\":\"pong\"}".to_owned());
    assert_eq!(frame.as_str(), "{\"type\":\"pong\"}");
    assert_eq!(&frame.into_bytes()[..], b"{\"type\":\"pong\"}");
}
