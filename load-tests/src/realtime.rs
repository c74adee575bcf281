//! The `realtime` scenario: how soon after a scheduler posts a shift does the offer reach
//! an eligible nurse's WebSocket, alone among 1,000 connected nurses and when all 1,000
//! are eligible, next to NATS core fanning the same bytes out to 1,000 subscribers?
//!
//! The server's database must hold bulk synthetic data from
//! `shiftwire seed --scale N --tokens-out FILE` (the nurses' access tokens, `--tokens`)
//! and, set up with psql by `scripts/bench.sh realtime` (bench data only): `--crowd`
//! verified RNs homed at one facility (`--crowd-facility`, `--crowd-nurses`) and one more
//! homed at another facility far away (`--target-facility`, `--target-nurse`), and a
//! scheduler of both facilities (`--email`, password in `SHIFTWIRE_BENCH_PASSWORD`).
//! Every nurse is within reach of the shifts of their own facility, whatever their radius,
//! and out of reach of the other facility's.
//!
//! 1. **Connections**: the target and the crowd open `GET /v1/ws` (Bearer token), each
//!    waiting for its `hello`; each socket then has a task of its own that reads every
//!    frame and timestamps it on arrival. The target's socket times `--pings` JSON
//!    `ping` → `pong` round trips (the socket's own floor).
//! 2. **One eligible nurse among many connected**: after `--warmup-posts` unmeasured
//!    posts, the scheduler posts `--offers` shifts at the target's facility, one every
//!    `--interval-ms` (`POST /v1/facilities/{fid}/shifts`, one at a time). Each offer is
//!    timed from just before its POST until the target's socket holds the
//!    `shift.offered` of that shift id; the POST's own round trip is the baseline. The
//!    crowd must get none of these offers.
//! 3. **Fan-out**: `--rounds` shifts at the crowd's facility, each posted once the
//!    previous one reached every crowd socket (or after a second) and a pause of
//!    `--round-gap-ms`. For each, the first, median and last delivery to the crowd, from
//!    just before the POST. Every crowd socket must get every offer exactly once, and the
//!    target none.
//! 4. **Baseline, NATS core**: `--crowd` subscribers, each on its own connection to
//!    `--nats-url`, subscribed to one unique subject; a publisher on its own connection
//!    publishes the text of one real `shift.offered` frame of step 3 `--rounds` times,
//!    paced the same way, each timed from just before the publish to the first, median
//!    and last receipt.
//!
//! The server's `/metrics` are read before step 2, between steps 2 and 3, and after
//! step 3, for its own account of the fan-outs (`ws_fanout_seconds`: matching and
//! queueing one shift's offers). Everything is bounded: connection and round deadlines,
//! per-request timeouts, and a hard cap on the whole run.

use crate::{
    marketplace::{self, Nurse},
    net,
    report::{self, Recorder, Stats, Table, ms, push_line},
};
use anyhow::{Context, anyhow, bail};
use axum::http::StatusCode;
use bytes::Bytes;
use chrono::Utc;
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use shiftwire_core::ws::{ClientMessage, ServerMessage};
use std::{
    collections::{BTreeMap, HashMap, HashSet, hash_map::Entry},
    net::IpAddr,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};
use tokio::{
    net::TcpStream,
    sync::{Semaphore, mpsc},
    task::JoinSet,
    time::{Instant, MissedTickBehavior},
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, protocol::WebSocketConfig},
};
use uuid::Uuid;

/// Client timeout of one POST (and of the sign-in and the metrics reads).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of one connection: WebSocket handshake and `hello`, or NATS connect,
/// subscribe and flush.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of opening all connections of one kind (WebSocket, NATS).
const CONNECT_PHASE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections opened at once.
const CONNECT_CONCURRENCY: usize = 32;
/// Pause between two JSON pings of the target (the server allows 10 messages/s).
const PING_GAP: Duration = Duration::from_millis(150);
/// How long one `pong` may take.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// After the last post of step 2: how long offers still on their way may take.
const OFFER_WAIT: Duration = Duration::from_secs(3);
/// How long a fan-out round waits for its last delivery before the next round. A
/// fan-out to 1,000 takes tens of milliseconds; deliveries after this still count, with
/// their real times (they are tallied at the end).
const ROUND_WAIT: Duration = Duration::from_secs(1);
/// After the last round: time for late or duplicate deliveries to show up.
const SETTLE: Duration = Duration::from_millis(500);
/// Closing the WebSockets at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a waiting phase looks at what arrived.
const POLL: Duration = Duration::from_millis(1);
/// Bytes each client socket reads at a time (tungstenite's default, 128 KiB, is a lot
/// for 1,000 sockets).
const WS_READ_BUFFER: usize = 16 * 1024;
/// Added to the planned length of the run for its hard cap.
const HARD_CAP_SLACK: Duration = Duration::from_secs(15);
/// The NATS header that says which round a message belongs to.
const ROUND_HEADER: &str = "Bench-Round";

#[derive(Args, Debug, Clone, Serialize)]
pub struct RealtimeArgs {
    /// Server under test; loopback addresses only.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base_url: String,
    /// NATS server for the baseline; loopback addresses only.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// `id<TAB>access-token` lines of synthetic nurses, from
    /// `shiftwire seed --scale N --tokens-out FILE` (tokens last 15 minutes).
    #[arg(long)]
    tokens: PathBuf,
    /// Nurse ids, one per line, homed at --crowd-facility (the first --crowd connect).
    #[arg(long)]
    crowd_nurses: PathBuf,
    /// The nurse homed at --target-facility.
    #[arg(long)]
    target_nurse: String,
    /// Facility the fan-out shifts are posted at (the crowd's home).
    #[arg(long)]
    crowd_facility: Uuid,
    /// Facility the single-nurse shifts are posted at (the target's home).
    #[arg(long)]
    target_facility: Uuid,
    /// Email of a scheduler of both facilities.
    #[arg(long, env = "SHIFTWIRE_BENCH_EMAIL")]
    email: String,
    /// Its password (or SHIFTWIRE_BENCH_PASSWORD, to keep it off the command line).
    #[arg(long, env = "SHIFTWIRE_BENCH_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    password: String,
    /// Crowd connections (WebSocket, and NATS subscribers in the baseline).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=5000))]
    crowd: u64,
    /// Shifts posted for the target alone (step 2).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3000))]
    offers: u64,
    /// Milliseconds between two posts of step 2.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    interval_ms: u64,
    /// Unmeasured posts for the target before step 2.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmup_posts: u64,
    /// Fan-out rounds: shifts posted for the crowd (step 3), and NATS publishes.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100))]
    rounds: u64,
    /// Pause after a round's last delivery before the next round, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=5000))]
    round_gap_ms: u64,
    /// JSON ping → pong round trips timed on the target's socket.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=200))]
    pings: u64,
    /// Write the full report as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Write the result tables as a Markdown fragment here.
    #[arg(long)]
    markdown_out: Option<PathBuf>,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The target's connection; the crowd's are 1..=crowd.
const TARGET: usize = 0;

/// Everything the WebSocket connections received, filled in by their reader tasks.
#[derive(Default)]
struct Seen {
    /// Offers by shift id: which connection, and when the frame arrived.
    offers: HashMap<Uuid, Vec<(usize, Instant)>>,
    /// JSON ping → pong round trips on the target's socket.
    pings: Vec<Duration>,
    /// Frames other than offers and pongs, by type.
    other: BTreeMap<String, u64>,
    /// Connections that ended before the load generator closed them, by how.
    ended: BTreeMap<String, u64>,
    /// The text of one offer a crowd connection received: the NATS baseline's payload.
    sample: Option<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> MutexGuard<'_, Seen> {
    // Readers only push to it; a panic in one leaves it consistent enough to report.
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

fn count(map: &mut BTreeMap<String, u64>, kind: impl Into<String>) {
    *map.entry(kind.into()).or_default() += 1;
}

/// What a connection's reader task is asked to do.
enum Command {
    Ping,
    Close,
}

struct Conn {
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    /// Connections asked for.
    wanted: u64,
    opened: u64,
    failed: BTreeMap<String, u64>,
    /// From just before the connect to the `hello` (or, for NATS, to the subscription's
    /// flush).
    connect: Stats,
}

/// One fan-out round (or one post of step 2) as the receivers saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The shift id (WebSocket) or round number (NATS).
    pub(crate) id: String,
    pub(crate) receivers: u64,
    /// Receivers that got it at least once.
    pub(crate) received: u64,
    pub(crate) missing: u64,
    /// Copies beyond the first, over all receivers.
    pub(crate) duplicates: u64,
    /// Copies that reached a connection that should not have got it.
    pub(crate) strangers: u64,
    /// From just before the send, of the receivers' first copies.
    pub(crate) first_ms: Option<f64>,
    pub(crate) median_ms: Option<f64>,
    pub(crate) last_ms: Option<f64>,
    /// The send's own round trip: `POST` → 201, or publish + flush.
    pub(crate) send_ms: f64,
}

/// Rounds summed up: the first, median and last deliveries across rounds, and every
/// delivery.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutStats {
    pub(crate) receivers: u64,
    pub(crate) rounds: u64,
    /// Rounds whose send failed (no shift id, or the publish failed).
    pub(crate) send_errors: u64,
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) missing: u64,
    pub(crate) duplicates: u64,
    pub(crate) strangers: u64,
    pub(crate) send: Stats,
    pub(crate) first: Stats,
    pub(crate) median: Stats,
    pub(crate) last: Stats,
    pub(crate) every: Stats,
}

#[derive(Default)]
pub(crate) struct FanoutRecorder {
    receivers: u64,
    pub(crate) rounds: Vec<Round>,
    send_errors: u64,
    send: Recorder,
    first: Recorder,
    median: Recorder,
    last: Recorder,
    every: Recorder,
}

impl FanoutRecorder {
    pub(crate) fn new(receivers: u64) -> Self {
        Self {
            receivers,
            ..Self::default()
        }
    }

    /// Adds one round: `deliveries` are (receiver, arrival) of its copies; receivers are
    /// those for which `expected` holds.
    pub(crate) fn add(
        &mut self,
        id: String,
        sent: Instant,
        send_took: Duration,
        deliveries: &[(usize, Instant)],
        expected: impl Fn(usize) -> bool,
    ) {
        let mut first_at: HashMap<usize, Instant> = HashMap::new();
        let (mut duplicates, mut strangers) = (0, 0);
        for &(receiver, at) in deliveries {
            if !expected(receiver) {
                strangers += 1;
                continue;
            }
            match first_at.entry(receiver) {
                Entry::Occupied(_) => duplicates += 1,
                Entry::Vacant(slot) => {
                    slot.insert(at);
                }
            }
        }
        let mut times: Vec<Duration> = first_at
            .values()
            .map(|at| at.saturating_duration_since(sent))
            .collect();
        times.sort_unstable();
        for t in &times {
            self.every.record(*t, Ok(()));
        }
        let first = times.first().copied();
        // The median of n deliveries: the ⌈n/2⌉-th (the 500th of 1,000).
        let median = times.get(times.len().saturating_sub(1) / 2).copied();
        let last = times.last().copied();
        for (recorder, value) in [
            (&mut self.first, first),
            (&mut self.median, median),
            (&mut self.last, last),
        ] {
            match value {
                Some(t) => recorder.record(t, Ok(())),
                None => recorder.error("nothing delivered", 1),
            }
        }
        self.send.record(send_took, Ok(()));
        let received = times.len() as u64;
        let as_ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.rounds.push(Round {
            id,
            receivers: self.receivers,
            received,
            missing: self.receivers.saturating_sub(received),
            duplicates,
            strangers,
            first_ms: first.map(as_ms),
            median_ms: median.map(as_ms),
            last_ms: last.map(as_ms),
            send_ms: as_ms(send_took),
        });
    }

    pub(crate) fn send_failed(&mut self, kind: String, took: Duration) {
        self.send_errors += 1;
        self.send.record(took, Err(kind));
    }

    pub(crate) fn stats(&self, elapsed: Duration) -> FanoutStats {
        let sum = |f: fn(&Round) -> u64| self.rounds.iter().map(f).sum::<u64>();
        let rounds = self.rounds.len() as u64 + self.send_errors;
        FanoutStats {
            receivers: self.receivers,
            rounds,
            send_errors: self.send_errors,
            expected: rounds * self.receivers,
            received: sum(|r| r.received),
            // A round whose send failed delivered nothing to anyone.
            missing: sum(|r| r.missing) + self.send_errors * self.receivers,
            duplicates: sum(|r| r.duplicates),
            strangers: sum(|r| r.strangers),
            send: self.send.stats(elapsed),
            first: self.first.stats(elapsed),
            median: self.median.stats(elapsed),
            last: self.last.stats(elapsed),
            every: self.every.stats(elapsed),
        }
    }
}

/// Step 2: one eligible nurse.
#[derive(Debug, Serialize)]
pub struct SingleReport {
    posts: u64,
    /// `POST /v1/facilities/{fid}/shifts` → 201.
    post: Stats,
    /// From just before the POST to the target's `shift.offered` of that shift.
    offer: Stats,
    offers_missing: u64,
    duplicates: u64,
    /// Offers of these shifts to crowd connections (0 is right).
    crowd_offers: u64,
    /// Offers that arrived before the POST's answer did.
    offered_before_answer: u64,
    /// Posts sent later than their 100 ms slot because the previous one was still out.
    late_posts: u64,
    elapsed_secs: f64,
}

/// The server's histogram of one metric, as scraped (cumulative buckets).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Histogram {
    count: u64,
    sum_secs: f64,
    /// (upper bound in seconds, observations at or below it); `+Inf` left out.
    buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// `name`'s histogram in a Prometheus text exposition, of the series carrying
    /// `label` (when given).
    fn parse(text: &str, name: &str, label: Option<(&str, &str)>) -> Self {
        let mut h = Histogram::default();
        let bucket = format!("{name}_bucket");
        let (sum, total) = (format!("{name}_sum"), format!("{name}_count"));
        for (metric, labels, value) in samples(text) {
            if label.is_some_and(|(k, v)| labels.get(k) != Some(&v)) {
                continue;
            }
            if metric == bucket {
                if let Some(le) = labels.get("le").and_then(|le| le.parse::<f64>().ok())
                    && le.is_finite()
                {
                    h.buckets.push((le, value as u64));
                }
            } else if metric == sum {
                h.sum_secs += value;
            } else if metric == total {
                h.count += value as u64;
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        h
    }

    /// What was observed between `before` and `self`.
    fn since(&self, before: &Histogram) -> Histogram {
        let earlier = |le: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0, |(_, n)| *n)
        };
        Histogram {
            count: self.count.saturating_sub(before.count),
            sum_secs: (self.sum_secs - before.sum_secs).max(0.0),
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| (le, n.saturating_sub(earlier(le))))
                .collect(),
        }
    }

    /// The smallest bucket bound that holds the `q` quantile; `None` above the largest.
    fn quantile_bound(&self, q: f64) -> Option<f64> {
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank)
            .map(|(le, _)| *le)
    }

    fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_secs * 1000.0 / self.count as f64
        }
    }
}

/// `(metric, labels, value)` of each sample line.
fn samples(text: &str) -> impl Iterator<Item = (&str, HashMap<&str, &str>, f64)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (key, value) = line.rsplit_once(' ')?;
        let value: f64 = value.parse().ok()?;
        let (metric, labels) = match key.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (key, ""),
        };
        let labels = labels
            .split(',')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                Some((k.trim(), v.trim().trim_matches('"')))
            })
            .collect();
        Some((metric, labels, value))
    })
}

/// The sum of a counter over all its series.
fn counter(text: &str, name: &str) -> f64 {
    samples(text)
        .filter(|(metric, _, _)| *metric == name)
        .map(|(_, _, v)| v)
        .sum()
}

/// The server's own account of one phase, from `/metrics` before and after it.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsWindow {
    phase: &'static str,
    /// `ws_fanout_seconds`: matching one opened shift and queueing its offers.
    fanout: Histogram,
    /// `ws_dispatch_seconds{topic="shift.opened"}`: the dispatcher's whole handling.
    dispatch_opened: Histogram,
    offers_sent: f64,
    clients_dropped: f64,
    offer_log_dropped: f64,
}

impl MetricsWindow {
    fn between(phase: &'static str, before: &str, after: &str) -> Self {
        let h = |text: &str, name: &str, label: Option<(&str, &str)>| {
            Histogram::parse(text, name, label)
        };
        let delta = |name: &str| (counter(after, name) - counter(before, name)).max(0.0);
        Self {
            phase,
            fanout: h(after, "ws_fanout_seconds", None).since(&h(
                before,
                "ws_fanout_seconds",
                None,
            )),
            dispatch_opened: h(
                after,
                "ws_dispatch_seconds",
                Some(("topic", "shift.opened")),
            )
            .since(&h(
                before,
                "ws_dispatch_seconds",
                Some(("topic", "shift.opened")),
            )),
            offers_sent: delta("ws_offers_sent_total"),
            clients_dropped: delta("ws_clients_dropped_total"),
            offer_log_dropped: delta("ws_offer_log_dropped_total"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NatsReport {
    subject: String,
    payload_bytes: usize,
    connections: ConnectReport,
    fanout: FanoutStats,
    rounds: Vec<Round>,
    /// Subscribers whose subscription ended during the run.
    subscriptions_ended: u64,
}

#[derive(Debug, Serialize)]
pub struct RealtimeReport {
    scenario: &'static str,
    started_at: String,
    config: RealtimeArgs,
    /// Seconds from the start of the run until the first seeded token expires.
    tokens_valid_for_secs: u64,
    websockets: ConnectReport,
    /// JSON `ping` → `pong` on the target's socket, before any post.
    ws_ping: Stats,
    warmup_posts: u64,
    warmup_errors: u64,
    single: SingleReport,
    fanout: FanoutStats,
    fanout_rounds: Vec<Round>,
    nats: Option<NatsReport>,
    /// Why the NATS baseline did not run, if it did not.
    nats_error: Option<String>,
    /// Shiftwire's last-delivery p50 over NATS core's.
    last_p50_ratio: Option<f64>,
    /// Frames other than hello, offers and pongs, by type.
    other_frames: BTreeMap<String, u64>,
    /// WebSocket connections that ended before the load generator closed them, by how.
    connections_ended: BTreeMap<String, u64>,
    /// From the server's `/metrics`, when it could be read.
    server_metrics: Vec<MetricsWindow>,
    /// Every offer reached exactly the nurses it should, exactly once, and no
    /// connection failed or ended.
    ok: bool,
}

pub async fn run(args: RealtimeArgs) -> anyhow::Result<()> {
    let base = net::loopback_base_url(&args.base_url)?;
    loopback_nats_url(&args.nats_url)?;
    let nurses = marketplace::read_tokens(&args.tokens)?;
    let crowd_ids = marketplace::read_ids(&args.crowd_nurses)?;
    let wanted = usize::try_from(args.crowd)?;
    if crowd_ids.len() < wanted {
        bail!(
            "--crowd {wanted}, but {} lists only {} nurses",
            args.crowd_nurses.display(),
            crowd_ids.len()
        );
    }
    let by_id: HashMap<&str, &Nurse> = nurses.iter().map(|n| (n.id.as_str(), n)).collect();
    let token_of = |id: &str| {
        by_id
            .get(id)
            .map(|n| n.token.clone())
            .ok_or_else(|| anyhow!("nurse {id} has no token in {}", args.tokens.display()))
    };
    let target_token = token_of(&args.target_nurse)?;
    let crowd: Vec<String> = crowd_ids[..wanted]
        .iter()
        .map(|id| token_of(id))
        .collect::<anyhow::Result<_>>()?;
    if crowd_ids[..wanted].contains(&args.target_nurse) {
        bail!(
            "the target nurse {} is also in the crowd",
            args.target_nurse
        );
    }

    let hard_cap = planned(&args) + HARD_CAP_SLACK;
    let tokens_valid_for = marketplace::tokens_valid_for(&nurses)?;
    if tokens_valid_for < hard_cap {
        bail!(
            "the access tokens in {} expire in {}s, but this run may take up to {}s: \
             seed again (`shiftwire seed --scale ... --tokens-out ...`) right before the run",
            args.tokens.display(),
            tokens_valid_for.as_secs(),
            hard_cap.as_secs()
        );
    }
    eprintln!(
        "realtime benchmark against {base}: 1 target + {} crowd WebSocket connections, {} posts \
         every {} ms, {} fan-out rounds, NATS baseline at {}; hard cap {}s, tokens valid for {}s",
        crowd.len(),
        args.offers,
        args.interval_ms,
        args.rounds,
        args.nats_url,
        hard_cap.as_secs(),
        tokens_valid_for.as_secs()
    );
    let report = tokio::time::timeout(hard_cap, phases(&args, &base, target_token, crowd))
        .await
        .map_err(|_| anyhow!("the run exceeded its hard cap of {}s", hard_cap.as_secs()))??;
    let report = RealtimeReport {
        tokens_valid_for_secs: tokens_valid_for.as_secs(),
        ..report
    };

    let markdown = markdown(&report);
    println!("{markdown}");
    if !report.ok {
        eprintln!(
            "realtime: OFFERS WERE MISSING, DUPLICATED OR MISDIRECTED, OR CONNECTIONS FAILED; see the report"
        );
    }
    report::write_outputs(
        &report,
        &markdown,
        args.json_out.as_deref(),
        args.markdown_out.as_deref(),
    )
}

/// How long the run should take at most, before the slack of the hard cap.
fn planned(args: &RealtimeArgs) -> Duration {
    let rounds = u32::try_from(args.rounds).unwrap_or(u32::MAX);
    let posts = u32::try_from(args.warmup_posts + args.offers).unwrap_or(u32::MAX);
    let round = ROUND_WAIT + Duration::from_millis(args.round_gap_ms);
    CONNECT_PHASE_TIMEOUT
        + u32::try_from(args.pings).unwrap_or(u32::MAX) * PING_GAP
        + posts * Duration::from_millis(args.interval_ms)
        + OFFER_WAIT
        + 2 * rounds * round
        + 2 * SETTLE
        + CLOSE_TIMEOUT
        + CONNECT_PHASE_TIMEOUT
}

/// Refuses a NATS URL outside the loopback interface.
pub(crate) fn loopback_nats_url(raw: &str) -> anyhow::Result<()> {
    let url: reqwest::Url = raw
        .parse()
        .with_context(|| format!("--nats-url {raw:?} is not a URL"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if url.scheme() != "nats" || !loopback {
        bail!("--nats-url must be nats:// on the loopback interface (e.g. nats://127.0.0.1:4222)");
    }
    Ok(())
}

/// Where the scheduler's requests go.
struct Target {
    client: reqwest::Client,
    metrics: reqwest::Url,
    token: String,
}

#[derive(Deserialize)]
struct TokenPair {
    access_token: String,
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

async fn phases(
    args: &RealtimeArgs,
    base: &reqwest::Url,
    target_token: String,
    crowd: Vec<String>,
) -> anyhow::Result<RealtimeReport> {
    let started_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let client = net::client(REQUEST_TIMEOUT)?;
    let healthz = base.join("/healthz")?;
    net::outcome(client.get(healthz.clone()).send().await, StatusCode::OK)
        .await
        .map_err(|e| anyhow!("GET {healthz} failed ({e}); is the server running?"))?;
    let pair: TokenPair = net::json(
        client
            .post(base.join("/v1/auth/login")?)
            .json(&serde_json::json!({ "email": args.email, "password": args.password }))
            .send()
            .await,
        StatusCode::OK,
    )
    .await
    .map_err(|e| anyhow!("signing in as the scheduler {} failed ({e})", args.email))?;
    let target = Target {
        client,
        metrics: base.join("/metrics")?,
        token: pair.access_token,
    };
    let target_shifts = base.join(&format!("/v1/facilities/{}/shifts", args.target_facility))?;
    let crowd_shifts = base.join(&format!("/v1/facilities/{}/shifts", args.crowd_facility))?;
    let mut ws_url = base.join("/v1/ws")?;
    ws_url
        .set_scheme("ws")
        .map_err(|()| anyhow!("cannot make a ws:// URL of {base}"))?;
    let ws_url = ws_url.to_string();

    // 1. Connections: the target first, then the crowd.
    eprintln!(
        "connections: 1 + {} WebSockets to {ws_url}, {CONNECT_CONCURRENCY} at a time",
        crowd.len()
    );
    let seen: Shared = Arc::default();
    let mut tokens = vec![target_token];
    tokens.extend(crowd);
    let (conns, websockets) = open_websockets(&ws_url, &tokens, &seen).await?;
    if !conns.contains_key(&TARGET) {
        bail!(
            "the target nurse's WebSocket did not open: {:?}",
            websockets.failed
        );
    }
    let crowd_conns: HashSet<usize> = conns.keys().copied().filter(|&c| c != TARGET).collect();
    eprintln!(
        "connections: {} of {} open ({} failed)",
        websockets.opened,
        websockets.wanted,
        websockets.failed.values().sum::<u64>()
    );

    eprintln!(
        "pings: {} JSON ping → pong on the target's socket",
        args.pings
    );
    let ws_ping = pings(&conns[&TARGET], &seen, args.pings).await;

    let metrics_start = scrape(&target).await;
    eprintln!(
        "warm-up: {} posts at the target's facility (not measured)",
        args.warmup_posts
    );
    let interval = Duration::from_millis(args.interval_ms);
    let (warmup, _, _) = post_every(&target, &target_shifts, 0, args.warmup_posts, interval).await;
    let warmup_errors = warmup.iter().filter(|p| p.id.is_err()).count() as u64;
    let warmup_ids: Vec<Uuid> = warmup
        .iter()
        .filter_map(|p| p.id.as_ref().ok().copied())
        .collect();
    wait_for(Instant::now() + OFFER_WAIT, || {
        let seen = lock(&seen);
        warmup_ids.iter().all(|id| seen.offers.contains_key(id))
    })
    .await;

    // 2. One eligible nurse among many connected.
    eprintln!(
        "step 2: {} posts at the target's facility, one every {} ms, while {} other nurses are connected",
        args.offers,
        args.interval_ms,
        crowd_conns.len()
    );
    let (posted, late_posts, elapsed) = post_every(
        &target,
        &target_shifts,
        args.warmup_posts,
        args.offers,
        interval,
    )
    .await;
    let posted_ids: Vec<Uuid> = posted
        .iter()
        .filter_map(|p| p.id.as_ref().ok().copied())
        .collect();
    wait_for(Instant::now() + OFFER_WAIT, || {
        let seen = lock(&seen);
        posted_ids.iter().all(|id| {
            seen.offers
                .get(id)
                .is_some_and(|d| d.iter().any(|(c, _)| *c == TARGET))
        })
    })
    .await;
    let metrics_between = scrape(&target).await;

    // 3. Fan-out to the crowd.
    eprintln!(
        "step 3: {} shifts at the crowd's facility, each to {} nurses",
        args.rounds,
        crowd_conns.len()
    );
    let receivers = crowd_conns.len();
    let fanout_started = Instant::now();
    let mut fanout_posts = Vec::new();
    for k in 0..args.rounds {
        let post = post_shift(&target, &crowd_shifts, 10_000 + k).await;
        if let Ok(id) = post.id {
            wait_for(Instant::now() + ROUND_WAIT, || {
                lock(&seen).offers.get(&id).map_or(0, Vec::len) >= receivers
            })
            .await;
        }
        fanout_posts.push(post);
        tokio::time::sleep(Duration::from_millis(args.round_gap_ms)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let fanout_elapsed = fanout_started.elapsed();
    let metrics_end = scrape(&target).await;

    // Tally steps 2 and 3 from what the sockets received.
    let (single, fanout, fanout_rounds, sample, other_frames, connections_ended) = {
        let seen = lock(&seen);
        let no_deliveries = Vec::new();
        let deliveries = |id: &Uuid| seen.offers.get(id).unwrap_or(&no_deliveries);
        let mut alone = FanoutRecorder::new(1);
        let mut offered_before_answer = 0;
        for p in &posted {
            match p.id {
                Ok(id) => {
                    let d = deliveries(&id);
                    if d.iter()
                        .filter(|(c, _)| *c == TARGET)
                        .any(|(_, at)| *at < p.answered)
                    {
                        offered_before_answer += 1;
                    }
                    alone.add(id.to_string(), p.sent, p.answered - p.sent, d, |c| {
                        c == TARGET
                    });
                }
                Err(ref kind) => alone.send_failed(kind.clone(), p.answered - p.sent),
            }
        }
        let a = alone.stats(elapsed);
        let single = SingleReport {
            posts: posted.len() as u64,
            post: a.send.clone(),
            offer: a.first.clone(),
            offers_missing: a.missing,
            duplicates: a.duplicates,
            crowd_offers: a.strangers,
            offered_before_answer,
            late_posts,
            elapsed_secs: elapsed.as_secs_f64(),
        };
        let mut crowd_rec = FanoutRecorder::new(receivers as u64);
        for p in &fanout_posts {
            match p.id {
                Ok(id) => crowd_rec.add(
                    id.to_string(),
                    p.sent,
                    p.answered - p.sent,
                    deliveries(&id),
                    |c| crowd_conns.contains(&c),
                ),
                Err(ref kind) => crowd_rec.send_failed(kind.clone(), p.answered - p.sent),
            }
        }
        (
            single,
            crowd_rec.stats(fanout_elapsed),
            crowd_rec.rounds,
            seen.sample.clone(),
            seen.other.clone(),
            seen.ended.clone(),
        )
    };
    eprintln!(
        "step 2: offer p50 {} p99 {} (POST p50 {}), {} missing; step 3: last delivery p50 {} p99 {}, {} missing, {} duplicates",
        ms(single.offer.latency_ms.p50),
        ms(single.offer.latency_ms.p99),
        ms(single.post.latency_ms.p50),
        single.offers_missing,
        ms(fanout.last.latency_ms.p50),
        ms(fanout.last.latency_ms.p99),
        fanout.missing,
        fanout.duplicates
    );

    eprintln!("closing the WebSockets");
    close_all(conns).await;

    // 4. The NATS baseline, with the bytes of a real offer.
    let (nats, nats_error) = match sample {
        None => (
            None,
            Some("no crowd connection received an offer to take the payload from".to_owned()),
        ),
        Some(text) => {
            eprintln!(
                "baseline: NATS core fan-out of one offer's {} bytes to {} subscribers",
                text.len(),
                receivers
            );
            match nats_baseline(args, receivers, Bytes::from(text)).await {
                Ok(report) => (Some(report), None),
                Err(error) => {
                    eprintln!("baseline: NATS failed: {error:#}");
                    (None, Some(format!("{error:#}")))
                }
            }
        }
    };
    let last_p50_ratio = nats.as_ref().and_then(|n| {
        let nats = n.fanout.last.latency_ms.p50;
        (nats > 0.0 && fanout.last.ok > 0).then(|| fanout.last.latency_ms.p50 / nats)
    });

    let mut server_metrics = Vec::new();
    if let (Some(start), Some(between), Some(end)) =
        (&metrics_start, &metrics_between, &metrics_end)
    {
        server_metrics.push(MetricsWindow::between(
            "warm-up and step 2 (one eligible nurse)",
            start,
            between,
        ));
        server_metrics.push(MetricsWindow::between(
            "step 3 (fan-out to the crowd)",
            between,
            end,
        ));
    }
    let ok = websockets.failed.is_empty()
        && connections_ended.is_empty()
        && warmup_errors == 0
        && single.post.errors == 0
        && single.offers_missing == 0
        && single.duplicates == 0
        && single.crowd_offers == 0
        && fanout.send_errors == 0
        && fanout.missing == 0
        && fanout.duplicates == 0
        && fanout.strangers == 0;
    Ok(RealtimeReport {
        scenario: "realtime",
        started_at,
        config: args.clone(),
        tokens_valid_for_secs: 0,
        websockets,
        ws_ping,
        warmup_posts: warmup.len() as u64,
        warmup_errors,
        single,
        fanout,
        fanout_rounds,
        nats,
        nats_error,
        last_p50_ratio,
        other_frames,
        connections_ended,
        server_metrics,
        ok,
    })
}

/// Opens a WebSocket per token (index = connection number), each greeted by `hello`,
/// and starts its reader.
async fn open_websockets(
    url: &str,
    tokens: &[String],
    seen: &Shared,
) -> anyhow::Result<(BTreeMap<usize, Conn>, ConnectReport)> {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut set = JoinSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let (url, token, permits) = (url.to_owned(), token.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let connecting = Instant::now();
            let result = tokio::time::timeout(CONNECT_TIMEOUT, connect(&url, &token))
                .await
                .unwrap_or_else(|_| Err("timeout".into()));
            (i, result, connecting.elapsed())
        });
    }
    let deadline = started + CONNECT_PHASE_TIMEOUT;
    let mut conns = BTreeMap::new();
    let mut recorder = Recorder::new();
    loop {
        let joined = tokio::select! {
            joined = set.join_next() => joined,
            () = tokio::time::sleep_until(deadline) => {
                recorder.error("connect phase deadline", set.len() as u64);
                set.abort_all();
                break;
            }
        };
        let Some(joined) = joined else { break };
        match joined {
            Ok((i, Ok(socket), took)) => {
                recorder.record(took, Ok(()));
                let (commands, receiving) = mpsc::channel(4);
                let task = tokio::spawn(read_frames(i, socket, receiving, seen.clone()));
                conns.insert(i, Conn { commands, task });
            }
            Ok((_, Err(kind), took)) => recorder.record(took, Err(kind)),
            Err(error) => recorder.error(format!("connect task failed: {error}"), 1),
        }
    }
    let connect = recorder.stats(started.elapsed());
    Ok((
        conns,
        ConnectReport {
            wanted: tokens.len() as u64,
            opened: connect.ok,
            failed: connect.errors_by_kind.clone(),
            connect,
        },
    ))
}

/// One WebSocket, up to its `hello`.
async fn connect(url: &str, token: &str) -> Result<Ws, String> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad request: {e}"))?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "token is not a header value".to_owned())?,
    );
    let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| ws_error(&e))?;
    loop {
        return match socket.next().await {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(ServerMessage::Hello { .. }) => Ok(socket),
                Ok(other) => Err(format!("{} before hello", kind(&other))),
                Err(_) => Err("unreadable first frame".into()),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(_))) => Err("binary frame before hello".into()),
            Some(Ok(Message::Close(frame))) => Err(format!(
                "closed before hello ({})",
                frame.map_or_else(|| "no code".into(), |f| u16::from(f.code).to_string())
            )),
            Some(Err(error)) => Err(ws_error(&error)),
            None => Err("ended before hello".into()),
        };
    }
}

fn ws_error(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => format!("HTTP {}", response.status().as_u16()),
        tungstenite::Error::Io(_) => "I/O error".into(),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            "connection closed".into()
        }
        tungstenite::Error::Protocol(e) => format!("protocol error: {e}"),
        _ => "WebSocket error".into(),
    }
}

/// A server frame's `type`, with an error's code.
fn kind(message: &ServerMessage) -> String {
    match message {
        ServerMessage::Error { code, .. } => format!("error {code}"),
        other => other.kind().to_owned(),
    }
}

/// Reads one connection's frames until it ends, timestamping each on arrival; sends a
/// JSON ping or closes when asked.
async fn read_frames(
    conn: usize,
    mut socket: Ws,
    mut commands: mpsc::Receiver<Command>,
    seen: Shared,
) {
    let ping = serde_json::to_string(&ClientMessage::Ping {}).unwrap_or_default();
    let mut ping_sent: Option<Instant> = None;
    // Once closing: until when the server's Close may take.
    let mut closing: Option<Instant> = None;
    loop {
        let give_up = closing.unwrap_or_else(Instant::now);
        let frame = tokio::select! {
            command = commands.recv(), if closing.is_none() => {
                match command {
                    Some(Command::Ping) => {
                        ping_sent = Some(Instant::now());
                        if socket.send(Message::text(ping.clone())).await.is_err() {
                            count(&mut lock(&seen).ended, "sending a ping failed");
                            return;
                        }
                    }
                    Some(Command::Close) | None => {
                        closing = Some(Instant::now() + CLOSE_TIMEOUT);
                        // The close handshake completes as the server's Close is read.
                        let _ = socket.close(None).await;
                    }
                }
                continue;
            }
            () = tokio::time::sleep_until(give_up), if closing.is_some() => return,
            frame = socket.next() => frame,
        };
        let at = Instant::now();
        match frame {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(ServerMessage::ShiftOffered { shift, .. }) => {
                    let mut seen = lock(&seen);
                    seen.offers.entry(shift.id).or_default().push((conn, at));
                    if conn != TARGET && seen.sample.is_none() {
                        seen.sample = Some(text.as_str().to_owned());
                    }
                }
                Ok(ServerMessage::Pong) => match ping_sent.take() {
                    Some(sent) => lock(&seen).pings.push(at - sent),
                    None => count(&mut lock(&seen).other, "pong (unasked)"),
                },
                Ok(other) => count(&mut lock(&seen).other, kind(&other)),
                Err(_) => count(&mut lock(&seen).other, "unreadable frame"),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(_))) => count(&mut lock(&seen).other, "binary frame"),
            Some(Ok(Message::Close(frame))) => {
                if closing.is_none() {
                    let code =
                        frame.map_or_else(|| "no code".into(), |f| u16::from(f.code).to_string());
                    count(
                        &mut lock(&seen).ended,
                        format!("closed by the server ({code})"),
                    );
                    closing = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            }
            Some(Err(error)) => {
                if closing.is_none() {
                    count(&mut lock(&seen).ended, ws_error(&error));
                }
                return;
            }
            None => {
                if closing.is_none() {
                    count(&mut lock(&seen).ended, "ended");
                }
                return;
            }
        }
    }
}

/// `n` JSON ping → pong round trips on one connection, one at a time.
async fn pings(conn: &Conn, seen: &Shared, n: u64) -> Stats {
    let started = Instant::now();
    let mut recorder = Recorder::new();
    for _ in 0..n {
        let before = lock(seen).pings.len();
        if conn.commands.send(Command::Ping).await.is_err() {
            recorder.error("connection gone", 1);
            break;
        }
        let answered = wait_for(Instant::now() + PING_TIMEOUT, || {
            lock(seen).pings.len() > before
        })
        .await;
        if answered {
            let rtt = lock(seen).pings[before];
            recorder.record(rtt, Ok(()));
        } else {
            recorder.error("no pong within 1 s", 1);
        }
        tokio::time::sleep(PING_GAP).await;
    }
    recorder.stats(started.elapsed())
}

/// Polls `done` every millisecond until it holds or `deadline` passes.
async fn wait_for(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One POST as the scheduler saw it.
struct Posted {
    id: Result<Uuid, String>,
    sent: Instant,
    answered: Instant,
}

/// Posts an open RN shift (no required certification) at `url`'s facility; `k` spreads
/// the start times.
async fn post_shift(target: &Target, url: &reqwest::Url, k: u64) -> Posted {
    let starts_at = Utc::now()
        + chrono::Duration::hours(24)
        + chrono::Duration::minutes(5 * i64::try_from(k % 10_000).unwrap_or(0));
    let body = serde_json::json!({
        "role": "RN",
        "starts_at": starts_at,
        "ends_at": starts_at + chrono::Duration::hours(8),
        "hourly_rate_cents": 6500,
        "required_certifications": [],
        "unit": "Bench realtime",
        "handoff": {
            "report_to": "Charge nurse",
            "arrival_instructions": "Staff entrance, badge at security"
        }
    });
    let request = target
        .client
        .post(url.clone())
        .bearer_auth(&target.token)
        .json(&body);
    let sent = Instant::now();
    let created: Result<Created, String> =
        net::json(request.send().await, StatusCode::CREATED).await;
    Posted {
        id: created.map(|c| c.id),
        sent,
        answered: Instant::now(),
    }
}

/// `n` posts, one per `interval` tick (a post waits for the previous answer); returns
/// them, how many went out late, and the wall time.
async fn post_every(
    target: &Target,
    url: &reqwest::Url,
    first_k: u64,
    n: u64,
    interval: Duration,
) -> (Vec<Posted>, u64, Duration) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut posted = Vec::new();
    let mut late = 0;
    for k in 0..n {
        let slot = ticks.tick().await;
        if slot.elapsed() > Duration::from_millis(5) {
            late += 1;
        }
        posted.push(post_shift(target, url, first_k + k).await);
    }
    (posted, late, started.elapsed())
}

/// The server's `/metrics`, if it answers.
async fn scrape(target: &Target) -> Option<String> {
    let mut request = target.client.get(target.metrics.clone());
    // The server serves them on its API port only with its METRICS_TOKEN.
    if let Ok(token) = std::env::var("SHIFTWIRE_METRICS_TOKEN") {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.text().await.ok()
}

/// Closes every WebSocket and waits (bounded) for the readers to finish.
async fn close_all(conns: BTreeMap<usize, Conn>) {
    let mut tasks = Vec::new();
    for conn in conns.into_values() {
        let _ = conn.commands.send(Command::Close).await;
        tasks.push(conn.task);
    }
    let all = futures::future::join_all(tasks);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT + Duration::from_secs(1), all).await;
}

/// Deliveries of the NATS rounds: round → (subscriber, arrival).
type NatsSeen = Arc<Mutex<HashMap<u64, Vec<(usize, Instant)>>>>;

/// Step 4: `subscribers` NATS connections on one unique subject, a publisher on its own,
/// `--rounds` publishes of `payload`.
async fn nats_baseline(
    args: &RealtimeArgs,
    subscribers: usize,
    payload: Bytes,
) -> anyhow::Result<NatsReport> {
    let subject = format!("shiftwire.bench.realtime.{}", Uuid::now_v7().simple());
    let seen: NatsSeen = Arc::default();
    let ended = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut connecting = JoinSet::new();
    for i in 0..subscribers {
        let (url, subject, permits) = (args.nats_url.clone(), subject.clone(), permits.clone());
        connecting.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let began = Instant::now();
            let result = tokio::time::timeout(CONNECT_TIMEOUT, async {
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(CONNECT_TIMEOUT)
                    .connect(url.as_str())
                    .await
                    .map_err(|e| format!("connect: {}", e.kind()))?;
                let subscriber = client
                    .subscribe(subject)
                    .await
                    .map_err(|_| "subscribe failed".to_owned())?;
                // The server has the subscription once the flush's PONG is back.
                client
                    .flush()
                    .await
                    .map_err(|_| "flush failed".to_owned())?;
                Ok::<_, String>((client, subscriber))
            })
            .await
            .unwrap_or_else(|_| Err("timeout".into()));
            (i, result, began.elapsed())
        });
    }
    let deadline = started + CONNECT_PHASE_TIMEOUT;
    let mut clients = Vec::new();
    let mut readers = JoinSet::new();
    let mut recorder = Recorder::new();
    loop {
        let joined = tokio::select! {
            joined = connecting.join_next() => joined,
            () = tokio::time::sleep_until(deadline) => {
                recorder.error("connect phase deadline", connecting.len() as u64);
                connecting.abort_all();
                break;
            }
        };
        let Some(joined) = joined else { break };
        match joined {
            Ok((i, Ok((client, mut subscriber)), took)) => {
                recorder.record(took, Ok(()));
                clients.push(client);
                let (seen, ended) = (seen.clone(), ended.clone());
                readers.spawn(async move {
                    while let Some(message) = subscriber.next().await {
                        let at = Instant::now();
                        let round = message
                            .headers
                            .as_ref()
                            .and_then(|h| h.get(ROUND_HEADER))
                            .and_then(|v| v.as_str().parse::<u64>().ok());
                        if let Some(round) = round {
                            seen.lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .entry(round)
                                .or_default()
                                .push((i, at));
                        }
                    }
                    ended.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                });
            }
            Ok((_, Err(kind), took)) => recorder.record(took, Err(kind)),
            Err(error) => recorder.error(format!("connect task failed: {error}"), 1),
        }
    }
    let connect = recorder.stats(started.elapsed());
    let connections = ConnectReport {
        wanted: subscribers as u64,
        opened: connect.ok,
        failed: connect.errors_by_kind.clone(),
        connect,
    };
    eprintln!(
        "baseline: {} of {} NATS subscribers ready",
        connections.opened, subscribers
    );
    let publisher = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(args.nats_url.as_str())
        .await
        .with_context(|| format!("connecting the publisher to {}", args.nats_url))?;
    let receivers = clients.len();

    let rounds_started = Instant::now();
    let mut sends = Vec::new();
    for round in 0..args.rounds {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(ROUND_HEADER, round.to_string());
        let sent = Instant::now();
        let published = async {
            publisher
                .publish_with_headers(subject.clone(), headers, payload.clone())
                .await
                .map_err(|e| format!("publish: {}", e.kind()))?;
            publisher
                .flush()
                .await
                .map_err(|_| "flush failed".to_owned())
        }
        .await;
        let took = sent.elapsed();
        if published.is_ok() {
            wait_for(Instant::now() + ROUND_WAIT, || {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&round)
                    .map_or(0, Vec::len)
                    >= receivers
            })
            .await;
        }
        sends.push((round, sent, took, published));
        tokio::time::sleep(Duration::from_millis(args.round_gap_ms)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let elapsed = rounds_started.elapsed();
    readers.abort_all();
    drop(clients);
    drop(publisher);
    let subscriptions_ended = ended.load(std::sync::atomic::Ordering::Relaxed);

    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    let mut fanout = FanoutRecorder::new(receivers as u64);
    let none = Vec::new();
    for (round, sent, took, published) in sends {
        match published {
            Ok(()) => fanout.add(
                round.to_string(),
                sent,
                took,
                seen.get(&round).unwrap_or(&none),
                |_| true,
            ),
            Err(kind) => fanout.send_failed(kind, took),
        }
    }
    Ok(NatsReport {
        subject,
        payload_bytes: payload.len(),
        connections,
        fanout: fanout.stats(elapsed),
        rounds: fanout.rounds,
        subscriptions_ended,
    })
}

fn markdown(r: &RealtimeReport) -> String {
    let c = &r.config;
    let crowd = r.websockets.wanted.saturating_sub(1);
    let mut out = String::new();
    push_line(
        &mut out,
        format_args!(
            "{} WebSocket connections (`GET /v1/ws`, Bearer token): 1 target nurse and {} \
             other nurses (\"the crowd\"), each read by a task of its own that timestamps every \
             frame on arrival; {} opened, {} failed, connect to `hello` p50 {}, p99 {}. \
             {} of them ended before the load generator closed them.",
            r.websockets.wanted,
            crowd,
            r.websockets.opened,
            r.websockets.connect.errors_cell(),
            ms(r.websockets.connect.latency_ms.p50),
            ms(r.websockets.connect.latency_ms.p99),
            if r.connections_ended.is_empty() {
                "None".to_owned()
            } else {
                format!("**{}**", list(&r.connections_ended))
            }
        ),
    );
    push_line(&mut out, "");

    let s = &r.single;
    push_line(
        &mut out,
        format_args!(
            "**One eligible nurse, {} others connected.** After {} unmeasured posts, the \
             scheduler posted {} open RN shifts (no required certification) at the target's \
             facility, one every {} ms ({} sent late), each with `POST \
             /v1/facilities/{{fid}}/shifts`; the crowd is homed at a facility out of reach of \
             this one. Each offer is timed from just before its POST until the target's socket \
             holds the `shift.offered` of that shift id.",
            r.websockets.opened.saturating_sub(1),
            r.warmup_posts,
            s.posts,
            c.interval_ms,
            s.late_posts
        ),
    );
    push_line(&mut out, "");
    let mut single = Table::new(&[
        "One eligible nurse",
        "count",
        "errors",
        "p50",
        "p90",
        "p99",
        "max",
    ]);
    for (name, st) in [
        (
            "POST → `shift.offered` on the target's socket".to_owned(),
            &s.offer,
        ),
        (
            "**baseline**: the POST itself, `POST /v1/facilities/{fid}/shifts` → 201".to_owned(),
            &s.post,
        ),
        (
            "JSON `ping` → `pong` on the target's socket, before any post".to_owned(),
            &r.ws_ping,
        ),
    ] {
        let l = &st.latency_ms;
        single.row(vec![
            name,
            st.requests.to_string(),
            st.errors_cell(),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max),
        ]);
    }
    out.push_str(&single.markdown());
    push_line(&mut out, "");
    push_line(
        &mut out,
        format_args!(
            "Offers missing: {}; duplicated: {}; offers of these shifts to the crowd: {} (0 is \
             right). {} of {} offers arrived before the POST's own answer.",
            s.offers_missing, s.duplicates, s.crowd_offers, s.offered_before_answer, s.posts
        ),
    );
    push_line(&mut out, "");

    let f = &r.fanout;
    push_line(
        &mut out,
        format_args!(
            "**Fan-out to {} eligible nurses, and NATS core as the baseline.** {} shifts \
             posted at the crowd's facility (every crowd nurse homed there), each once the \
             previous one had reached every crowd socket (or after {} s) and a pause of {} ms. \
             Baseline in the same run: {} subscribers, each on its own NATS connection to {}, \
             subscribed to one unique subject; a publisher on its own connection publishes the \
             text of one real `shift.offered` frame of this run ({}) {} times, paced the same \
             way, with a `{ROUND_HEADER}` header saying which round it is. Times are from just \
             before the POST / publish to the first, median ({}th) and last arrival at the \
             receivers; the receivers' tasks share the machine's cores with the server (and \
             NATS), so \"last\" includes the load generator reading {} sockets in both columns.",
            f.receivers,
            f.rounds,
            ROUND_WAIT.as_secs(),
            c.round_gap_ms,
            r.nats.as_ref().map_or(0, |n| n.connections.opened),
            c.nats_url,
            r.nats
                .as_ref()
                .map_or_else(|| "–".to_owned(), |n| format!("{} bytes", n.payload_bytes)),
            c.rounds,
            f.receivers.div_ceil(2).max(1),
            f.receivers
        ),
    );
    push_line(&mut out, "");
    let mut fan = Table::new(&[
        "Per round, from just before the send",
        "Shiftwire p50",
        "p99",
        "max",
        "NATS core p50",
        "p99",
        "max",
    ]);
    let nats = r.nats.as_ref().map(|n| &n.fanout);
    let cells = |st: Option<&Stats>| -> Vec<String> {
        match st {
            Some(st) => vec![
                ms(st.latency_ms.p50),
                ms(st.latency_ms.p99),
                ms(st.latency_ms.max),
            ],
            None => vec!["–".into(), "–".into(), "–".into()],
        }
    };
    let rows: [(&str, PickStats); 5] = [
        ("first delivery", |f| &f.first),
        ("median delivery", |f| &f.median),
        ("last delivery", |f| &f.last),
        ("every delivery", |f| &f.every),
        ("the send itself: POST → 201 / publish + flush", |f| {
            &f.send
        }),
    ];
    for (name, pick) in rows {
        let mut row = vec![name.to_owned()];
        row.extend(cells(Some(pick(f))));
        row.extend(cells(nats.map(pick)));
        fan.row(row);
    }
    out.push_str(&fan.markdown());
    push_line(&mut out, "");
    let ratio = r
        .last_p50_ratio
        .map_or_else(|| "–".to_owned(), |x| format!("**{x:.1}×**"));
    push_line(
        &mut out,
        format_args!(
            "Last delivery p50, Shiftwire / NATS core: {ratio}. With {} rounds, p99 is the \
             slowest round.",
            c.rounds
        ),
    );
    push_line(&mut out, "");
    push_line(
        &mut out,
        format_args!(
            "Deliveries, Shiftwire: {} offers expected ({} shifts × {} nurses), {} received, {} \
             missing, {} duplicated; {} of them also reached the target (0 is right); {} POSTs \
             failed.{}",
            f.expected,
            f.rounds,
            f.receivers,
            f.received,
            f.missing,
            f.duplicates,
            f.strangers,
            f.send_errors,
            match &r.nats {
                Some(n) => format!(
                    " NATS core: {} expected, {} received, {} missing, {} duplicated; {} \
                     publishes failed; {} of {} subscribers connected ({} failed).",
                    n.fanout.expected,
                    n.fanout.received,
                    n.fanout.missing,
                    n.fanout.duplicates,
                    n.fanout.send_errors,
                    n.connections.opened,
                    n.connections.wanted,
                    n.connections.connect.errors_cell()
                ),
                None => format!(
                    " **The NATS baseline did not run**: {}.",
                    r.nats_error.as_deref().unwrap_or("unknown")
                ),
            }
        ),
    );
    push_line(&mut out, "");
    if !r.other_frames.is_empty() {
        push_line(
            &mut out,
            format_args!(
                "Other frames received (besides `hello`, offers and asked-for `pong`s): {}.",
                list(&r.other_frames)
            ),
        );
        push_line(&mut out, "");
    }

    if r.server_metrics.is_empty() {
        push_line(&mut out, "The server's `/metrics` could not be read.");
    } else {
        let mut m = Table::new(&[
            "Server's own histograms (`/metrics`)",
            "phase",
            "count",
            "mean",
            "p50 ≤",
            "p99 ≤",
            "offers sent",
            "clients dropped",
            "offer log dropped",
        ]);
        let bound = |h: &Histogram, q: f64| {
            if h.count == 0 {
                "–".to_owned()
            } else {
                h.quantile_bound(q)
                    .map_or_else(|| "> 5 s".to_owned(), |le| ms(le * 1000.0))
            }
        };
        for w in &r.server_metrics {
            for (name, h) in [
                (
                    "`ws_fanout_seconds` (match + queue one shift's offers)",
                    &w.fanout,
                ),
                (
                    "`ws_dispatch_seconds{topic=\"shift.opened\"}`",
                    &w.dispatch_opened,
                ),
            ] {
                m.row(vec![
                    name.to_owned(),
                    w.phase.to_owned(),
                    h.count.to_string(),
                    if h.count == 0 {
                        "–".into()
                    } else {
                        ms(h.mean_ms())
                    },
                    bound(h, 0.5),
                    bound(h, 0.99),
                    format!("{:.0}", w.offers_sent),
                    format!("{:.0}", w.clients_dropped),
                    format!("{:.0}", w.offer_log_dropped),
                ]);
            }
        }
        out.push_str(&m.markdown());
        push_line(&mut out, "");
        push_line(
            &mut out,
            "The server's histograms have buckets at 0.5, 1, 2.5, 5, 10, 25 ms, ...: \"p50 ≤\" \
             is the bucket bound that holds the median, not a measurement to the microsecond.",
        );
        push_line(&mut out, "");
    }
    if r.ok {
        push_line(
            &mut out,
            "Every offer reached exactly the nurses it should, exactly once; no connection \
             failed or ended early.",
        );
    } else {
        push_line(
            &mut out,
            "**OFFERS WERE MISSING, DUPLICATED OR MISDIRECTED, OR CONNECTIONS FAILED: see \
             above.**",
        );
    }
    out
}

/// Which of a fan-out's statistics a table row shows.
type PickStats = fn(&FanoutStats) -> &Stats;

/// `a: 1, b: 2`.
fn list(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_counts_first_copies_duplicates_and_strangers() {
        let sent = Instant::now();
        let at = |ms: u64| sent + Duration::from_millis(ms);
        let mut rec = FanoutRecorder::new(4);
        // Receivers 1..=4; 0 must not get it. 4 never does; 2 gets it twice.
        let deliveries = [(1, at(3)), (2, at(5)), (3, at(9)), (2, at(7)), (0, at(4))];
        rec.add(
            "s".into(),
            sent,
            Duration::from_millis(2),
            &deliveries,
            |c| (1..=4).contains(&c),
        );
        let round = &rec.rounds[0];
        assert_eq!(
            (
                round.received,
                round.missing,
                round.duplicates,
                round.strangers
            ),
            (3, 1, 1, 1)
        );
        assert_eq!(round.first_ms, Some(3.0));
        assert_eq!(round.median_ms, Some(5.0));
        assert_eq!(round.last_ms, Some(9.0));
        rec.send_failed("HTTP 500".into(), Duration::from_millis(1));
        let stats = rec.stats(Duration::from_secs(1));
        assert_eq!((stats.rounds, stats.expected, stats.missing), (2, 8, 5));
        assert_eq!(stats.send.errors, 1);
    }

    #[test]
    fn the_median_of_a_thousand_is_the_five_hundredth() {
        let sent = Instant::now();
        let deliveries: Vec<(usize, Instant)> = (1..=1000)
            .map(|c| (c, sent + Duration::from_micros(c as u64 * 10)))
            .collect();
        let mut rec = FanoutRecorder::new(1000);
        rec.add("s".into(), sent, Duration::ZERO, &deliveries, |_| true);
        let median = rec.rounds[0].median_ms.expect("median");
        assert!((median - 5.0).abs() < 1e-9, "{median}");
    }

    #[test]
    fn histograms_come_from_the_prometheus_text() {
        let before = "# TYPE ws_fanout_seconds histogram\n\
            ws_fanout_seconds_bucket{le=\"0.0005\"} 2\n\
            ws_fanout_seconds_bucket{le=\"0.001\"} 2\n\
            ws_fanout_seconds_bucket{le=\"+Inf\"} 2\n\
            ws_fanout_seconds_sum 0.0004\n\
            ws_fanout_seconds_count 2\n\
            ws_dispatch_seconds_bucket{topic=\"shift.opened\",le=\"0.001\"} 1\n\
            ws_dispatch_seconds_bucket{topic=\"shift.booked\",le=\"0.001\"} 7\n\
            ws_offers_sent_total 2\n";
        let after = "ws_fanout_seconds_bucket{le=\"0.0005\"} 50\n\
            ws_fanout_seconds_bucket{le=\"0.001\"} 101\n\
            ws_fanout_seconds_bucket{le=\"+Inf\"} 102\n\
            ws_fanout_seconds_sum 0.0604\n\
            ws_fanout_seconds_count 102\n\
            ws_dispatch_seconds_bucket{topic=\"shift.opened\",le=\"0.001\"} 4\n\
            ws_offers_sent_total 102\n";
        let w = MetricsWindow::between("p", before, after);
        assert_eq!(w.fanout.count, 100);
        assert!((w.fanout.mean_ms() - 0.6).abs() < 1e-9);
        assert_eq!(w.fanout.buckets, vec![(0.0005, 48), (0.001, 99)]);
        assert_eq!(w.fanout.quantile_bound(0.5), Some(0.001));
        assert_eq!(w.fanout.quantile_bound(0.4), Some(0.0005));
        assert_eq!(w.fanout.quantile_bound(0.999), None);
        assert_eq!(w.dispatch_opened.buckets, vec![(0.001, 3)]);
        assert!((w.offers_sent - 100.0).abs() < 1e-9);
    }

    #[test]
    fn nats_urls_must_be_loopback() {
        assert!(loopback_nats_url("nats://127.0.0.1:4222").is_ok());
        assert!(loopback_nats_url("nats://localhost:4222").is_ok());
        assert!(loopback_nats_url("nats://10.0.0.1:4222").is_err());
        assert!(loopback_nats_url("http://127.0.0.1:4222").is_err());
    }

    #[test]
    fn the_default_run_stays_under_three_minutes() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: RealtimeArgs,
        }
        let cli = Cli::parse_from([
            "x",
            "--tokens",
            "t.tsv",
            "--crowd-nurses",
            "c.txt",
            "--target-nurse",
            "n",
            "--crowd-facility",
            "0190aaaa-0000-7000-8000-000000000001",
            "--target-facility",
            "0190aaaa-0000-7000-8000-000000000002",
            "--email",
            "s@example.com",
            "--password",
            "p",
        ]);
        let hard_cap = planned(&cli.args) + HARD_CAP_SLACK;
        assert!(hard_cap <= Duration::from_secs(180), "{hard_cap:?}");
    }

    #[test]
    fn client_pings_are_the_protocols() {
        assert_eq!(
            serde_json::to_string(&ClientMessage::Ping {}).expect("json"),
            r#"{"type":"ping"}"#
        );
    }
}
