//! The hub: every connection on this node, the index of connected nurses, and which
//! connections hold which offers. One mutex guards it all; the dispatcher holds it only
//! for in-memory work (no I/O, no awaiting), and connections only to (un)register, move,
//! or fold in a resume.

use crate::DeliverySource;
use crate::{
    index::NurseIndex,
    writers::{LocationWriter, OfferLog},
};
use bytes::Bytes;
use shiftwire_core::{
    Role,
    eligibility::ShiftFacts,
    ws::{ServerMessage, WithdrawReason, close},
};
use sqlx::PgPool;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One text frame, ready to write. Cheap to clone: frames shared by many recipients
/// are serialised once. Sixteen bytes (a shared `str`), because every connection's queue
/// allocates its first block of slots up front: at tens of thousands of idle connections
/// the slot size is memory.
#[derive(Debug, Clone)]
pub struct Frame(Arc<str>);

/// A frame's text handed to the transport without copying it.
struct FrameBytes(Arc<str>);

impl AsRef<[u8]> for FrameBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Frame {
    pub fn new(text: String) -> Self {
        Self(Arc::from(text))
    }

    pub fn of(message: &ServerMessage) -> Self {
        // Serialising our own enum cannot fail (no maps with non-string keys).
        Self::new(serde_json::to_string(message).unwrap_or_default())
    }

    /// The UTF-8 text of the frame.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(FrameBytes(self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Tuning of the real-time layer.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Frames queued per connection before it counts as too slow and is closed (1013).
    pub queue_capacity: usize,
    /// Protocol pings; a connection that has not answered the previous one is closed.
    pub ping_interval: Duration,
    /// Client messages per second (sustained) and in a burst before the socket closes.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// Most offers a `resume` re-sends (the newest); older ones are in nearby search.
    pub resume_limit: i64,
    /// Connections one user may hold on this node; a new one closes the oldest (4002).
    pub max_connections_per_user: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            ping_interval: Duration::from_secs(20),
            messages_per_second: 10,
            message_burst: 30,
            resume_limit: 500,
            max_connections_per_user: 5,
        }
    }
}

/// How a connection is asked to close, from outside its task.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) closed: CancellationToken,
    code: AtomicU16,
}

impl Control {
    /// Asks the connection to close with `code`; the first code asked for wins.
    pub(crate) fn close(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.closed.cancel();
    }

    pub(crate) fn code(&self) -> u16 {
        match self.code.load(Ordering::Acquire) {
            0 => 1000,
            code => code,
        }
    }
}

pub(crate) type ConnId = u64;

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    /// The facilities of a scheduler.
    pub facility_ids: Vec<Uuid>,
    /// When the credential that opened the connection expires; the client must send a
    /// fresh access token (`auth`) before then, or the connection closes (4001).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Checks an access token a client sends over its socket (`auth`): whose it is (a token
/// that is invalid, expired, of an older generation or of a suspended user is `None`) and
/// when it expires.
#[async_trait::async_trait]
pub trait Reauthenticate: Send + Sync {
    async fn check(&self, access_token: &str) -> Option<(Uuid, chrono::DateTime<chrono::Utc>)>;
}

pub(crate) struct ConnEntry {
    pub(crate) principal: Principal,
    queue: mpsc::Sender<Frame>,
    pub(crate) control: Arc<Control>,
    /// Open shifts this connection was offered (and not yet withdrawn).
    pub(crate) offered: HashSet<Uuid>,
}

/// An open shift that connections on this node were offered.
pub(crate) struct OfferedShift {
    pub(crate) facts: ShiftFacts,
    pub(crate) conns: Vec<ConnId>,
}

#[derive(Default)]
pub(crate) struct HubState {
    pub(crate) conns: HashMap<ConnId, ConnEntry>,
    pub(crate) by_user: HashMap<Uuid, Vec<ConnId>>,
    pub(crate) by_facility: HashMap<Uuid, Vec<ConnId>>,
    pub(crate) index: NurseIndex,
    pub(crate) offered: HashMap<Uuid, OfferedShift>,
    /// Shifts booked or cancelled recently, with the event's seq: a resume folded in
    /// after the close was dispatched must not offer them.
    pub(crate) closed: HashMap<Uuid, (i64, WithdrawReason, Instant)>,
    /// The last event this node has dispatched.
    pub(crate) cursor: i64,
    next_conn: ConnId,
}

/// How long a closed shift is remembered for resumes in flight.
const CLOSED_MEMORY: Duration = Duration::from_secs(600);

impl HubState {
    /// Queues `frame` for `conn`. A full queue means the client does not keep up: it is
    /// closed (1013) rather than allowed to hold anything up.
    pub(crate) fn deliver(&self, conn: ConnId, frame: Frame) -> bool {
        let Some(entry) = self.conns.get(&conn) else {
            return false;
        };
        match entry.queue.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !entry.control.closed.is_cancelled() {
                    metrics::counter!("ws_clients_dropped_total", "reason" => "slow").increment(1);
                    tracing::info!(conn, "closing a connection that does not keep up");
                }
                entry.control.close(close::TRY_AGAIN_LATER);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub(crate) fn deliver_to_user(&self, user_id: Uuid, frame: &Frame) {
        for conn in self.by_user.get(&user_id).into_iter().flatten() {
            self.deliver(*conn, frame.clone());
        }
    }

    pub(crate) fn deliver_to_facility(&self, facility_id: Uuid, frame: &Frame) {
        for conn in self.by_facility.get(&facility_id).into_iter().flatten() {
            self.deliver(*conn, frame.clone());
        }
    }

    pub(crate) fn close_user(&self, user_id: Uuid, code: u16) {
        for conn in self.by_user.get(&user_id).into_iter().flatten() {
            if let Some(entry) = self.conns.get(conn) {
                entry.control.close(code);
            }
        }
    }

    /// Remembers that `conn` holds the offer of `shift_id`.
    pub(crate) fn note_offer(&mut self, conn: ConnId, shift_id: Uuid, facts: &ShiftFacts) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        // The connection's set and the shift's list are kept together, so a connection
        // new to the set is not in the list: no scan of the list (quadratic in a fan-out to
        // thousands). The scan is left for one that already held it, as a safeguard.
        let new_holder = entry.offered.insert(shift_id);
        let offered = self
            .offered
            .entry(shift_id)
            .or_insert_with(|| OfferedShift {
                facts: facts.clone(),
                conns: Vec::new(),
            });
        if new_holder || !offered.conns.contains(&conn) {
            offered.conns.push(conn);
        }
    }

    /// Withdraws `shift_id` from every connection holding it, except those of `except`.
    pub(crate) fn withdraw(
        &mut self,
        shift_id: Uuid,
        seq: i64,
        reason: WithdrawReason,
        except: Option<Uuid>,
    ) -> usize {
        if reason != WithdrawReason::Ineligible {
            self.closed.insert(shift_id, (seq, reason, Instant::now()));
        }
        let Some(offered) = self.offered.remove(&shift_id) else {
            return 0;
        };
        let frame = Frame::of(&ServerMessage::ShiftWithdrawn {
            seq,
            shift_id,
            reason,
        });
        let mut sent = 0;
        for conn in offered.conns {
            let Some(entry) = self.conns.get_mut(&conn) else {
                continue;
            };
            entry.offered.remove(&shift_id);
            if Some(entry.principal.user_id) != except && self.deliver(conn, frame.clone()) {
                sent += 1;
            }
        }
        sent
    }

    /// Forgets who holds an offer of `shift_id`, on both sides (the shift's list and each
    /// holder's set, which `note_offer` keeps together), without telling anyone.
    pub(crate) fn forget_offers(&mut self, shift_id: Uuid) {
        if let Some(offered) = self.offered.remove(&shift_id) {
            for conn in offered.conns {
                if let Some(entry) = self.conns.get_mut(&conn) {
                    entry.offered.remove(&shift_id);
                }
            }
        }
    }

    /// Forgets offers of shifts that have started and closes remembered long ago.
    pub(crate) fn prune(&mut self, now: chrono::DateTime<chrono::Utc>) {
        let started: Vec<Uuid> = self
            .offered
            .iter()
            .filter(|(_, o)| o.facts.terms.starts_at() <= now)
            .map(|(id, _)| *id)
            .collect();
        for shift_id in started {
            self.forget_offers(shift_id);
        }
        self.closed
            .retain(|_, (_, _, at)| at.elapsed() < CLOSED_MEMORY);
    }

    pub(crate) fn remove_conn(&mut self, conn: ConnId) {
        let Some(entry) = self.conns.remove(&conn) else {
            return;
        };
        for shift_id in &entry.offered {
            if let Some(offered) = self.offered.get_mut(shift_id) {
                offered.conns.retain(|c| *c != conn);
            }
        }
        let user_id = entry.principal.user_id;
        if let Some(conns) = self.by_user.get_mut(&user_id) {
            conns.retain(|c| *c != conn);
            if conns.is_empty() {
                self.by_user.remove(&user_id);
                self.index.remove(user_id);
            }
        }
        for facility_id in &entry.principal.facility_ids {
            if let Some(conns) = self.by_facility.get_mut(facility_id) {
                conns.retain(|c| *c != conn);
                if conns.is_empty() {
                    self.by_facility.remove(facility_id);
                }
            }
        }
        metrics::gauge!("ws_connections").decrement(1.0);
    }
}

/// A connection asking to be registered with the dispatcher.
pub(crate) struct Registration {
    pub(crate) principal: Principal,
    pub(crate) queue: mpsc::Sender<Frame>,
    pub(crate) control: Arc<Control>,
    pub(crate) reply: oneshot::Sender<Registered>,
}

/// A registered connection: it receives every event after `after_seq`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registered {
    pub(crate) conn: ConnId,
    pub(crate) after_seq: i64,
}

/// The real-time layer of one node. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub(crate) state: Mutex<HubState>,
    pub(crate) config: NotifyConfig,
    /// The outbox's database: the dispatcher reads events from it in order.
    pub(crate) pool: PgPool,
    pub(crate) source: Arc<dyn DeliverySource>,
    pub(crate) log: Arc<dyn crate::DeliveryLog>,
    pub(crate) register: mpsc::Sender<Registration>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) offer_log: OfferLog,
    pub(crate) locations: LocationWriter,
    /// The shifts this node knows are booked (shared with the bus).
    pub(crate) taken: Arc<crate::taken::TakenShifts>,
    /// The clock of every connection's message limit, made once: making one reads the
    /// CPU's features, which costs about 15 µs in a virtual machine, per connection.
    pub(crate) clock: governor::clock::DefaultClock,
}

/// Registrations waiting for the dispatcher; connects beyond this wait their turn.
const REGISTRATION_QUEUE: usize = 4096;

impl Hub {
    /// A hub and the receiving end of its registrations, for [`crate::Dispatcher`].
    pub(crate) fn new(
        config: NotifyConfig,
        pool: PgPool,
        source: Arc<dyn DeliverySource>,
        log: Arc<dyn crate::DeliveryLog>,
        shutdown: CancellationToken,
        (offer_log, locations): (OfferLog, LocationWriter),
        taken: Arc<crate::taken::TakenShifts>,
    ) -> (Self, mpsc::Receiver<Registration>) {
        let (register, registrations) = mpsc::channel(REGISTRATION_QUEUE);
        let hub = Self {
            inner: Arc::new(HubInner {
                state: Mutex::new(HubState::default()),
                config,
                pool,
                source,
                log,
                register,
                shutdown,
                offer_log,
                locations,
                taken,
                clock: governor::clock::DefaultClock::default(),
            }),
        };
        (hub, registrations)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock would be a bug in pure in-memory code; the
        // state is still consistent enough to keep serving rather than poisoning every
        // connection.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.inner.config
    }

    /// Whether `shift_id` is booked as far as this node has heard: its own commits as
    /// they are published, other nodes' as the bus brings them, and the outbox as the
    /// dispatcher reads it (for ten minutes after the booking, unless released, re-opened
    /// or cancelled since). Another node's release may not have arrived yet (NATS within
    /// milliseconds, the outbox within a second): a claim refused on that ground is the
    /// price of not asking the database, and a claim it lets through is decided there.
    pub fn known_taken(&self, shift_id: Uuid) -> bool {
        self.inner.taken.is_taken(shift_id)
    }

    /// Connections open on this node.
    pub fn connections(&self) -> usize {
        self.state().conns.len()
    }

    /// Registers a connection through the dispatcher, so it is either fully before or
    /// fully after each event.
    pub(crate) async fn register(
        &self,
        principal: Principal,
        queue: mpsc::Sender<Frame>,
        control: Arc<Control>,
    ) -> Option<Registered> {
        let (reply, registered) = oneshot::channel();
        self.inner
            .register
            .send(Registration {
                principal,
                queue,
                control,
                reply,
            })
            .await
            .ok()?;
        registered.await.ok()
    }

    pub(crate) fn unregister(&self, conn: ConnId) {
        self.state().remove_conn(conn);
    }
}

impl HubState {
    /// Adds a registered connection (called by the dispatcher, between events).
    pub(crate) fn add_conn(
        &mut self,
        principal: Principal,
        queue: mpsc::Sender<Frame>,
        control: Arc<Control>,
        max_per_user: usize,
    ) -> ConnId {
        self.next_conn += 1;
        let conn = self.next_conn;
        let theirs = self.by_user.entry(principal.user_id).or_default();
        // Beyond the cap, the oldest connections give way (they close with 4002 and
        // unregister themselves).
        let excess = (theirs.len() + 1).saturating_sub(max_per_user.max(1));
        let replaced: Vec<ConnId> = theirs.iter().take(excess).copied().collect();
        theirs.push(conn);
        for old in replaced {
            if let Some(entry) = self.conns.get(&old) {
                metrics::counter!("ws_clients_dropped_total", "reason" => "replaced").increment(1);
                entry.control.close(close::REPLACED);
            }
        }
        if principal.role != Role::Nurse {
            for facility_id in &principal.facility_ids {
                self.by_facility.entry(*facility_id).or_default().push(conn);
            }
        }
        self.conns.insert(
            conn,
            ConnEntry {
                principal,
                queue,
                control,
                offered: HashSet::new(),
            },
        );
        metrics::gauge!("ws_connections").increment(1.0);
        conn
    }
}
