//! The `scale` scenario: real-time offers with many live WebSocket connections to one
//! server, judged by an independent delivery oracle, with NATS core fan-out and the
//! WebSocket ping → pong round trip as same-run baselines. `--preset realtime` is its
//! small case (`make bench-realtime`): one eligible nurse among 1,001 connections, and
//! fan-out to 1,000.
//!
//! The connections are held by worker processes ([`crate::fleet`]), which timestamp
//! every frame on arrival with the wall clock; each POST is timestamped just before it
//! is sent. Every shift the run posts is judged by the oracle at the end, whatever the
//! phases (`--scenarios`): who had to get it, who did, how often.

use crate::{
    fanout::{self, FanoutRecorder, FanoutStats, NatsReport, NatsRun, Round},
    fleet::{self, Command, Fleet, FleetConfig, Ledger, lock, now_ns},
    marketplace::{self, Nurse},
    net,
    oracle::{self, Rng, ShiftSpec, Verdict, World},
    report::{self, Markdown, Recorder, Stats, Table, ms},
};
use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use chrono::Utc;
use clap::{Args, ValueEnum};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::{
    sync::Semaphore,
    task::JoinSet,
    time::{Instant, MissedTickBehavior},
};
use uuid::Uuid;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a fan-out round waits for its last delivery before the next one.
const ROUND_WAIT: Duration = Duration::from_secs(3);
/// After a phase's last post: deliveries still on their way settle (no new delivery for
/// [`QUIET`]) within this.
const SETTLE_MAX: Duration = Duration::from_secs(8);
const QUIET: Duration = Duration::from_millis(500);
/// POSTs in flight at once during the sustained phase.
const POSTS_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Idle,
    Latency,
    Fanout,
    Sustained,
    Oracle,
    Storm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Up to 19,000 connections, fan-out to 100 / 1,000 / 10,000, every phase.
    Scale,
    /// `make bench-realtime`: 1,001 connections, fan-out to 1,000, no sustained load,
    /// reconnects or storm.
    Realtime,
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct ScaleArgs {
    /// Server under test; loopback addresses only.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base_url: String,
    /// NATS server for the baseline; loopback addresses only.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// `id<TAB>access-token` lines of synthetic nurses (`shiftwire seed --tokens-out`).
    #[arg(long)]
    tokens: PathBuf,
    /// The world as seeded: the output of `crates/test-support/sql/oracle-world.sql`.
    #[arg(long)]
    world: PathBuf,
    /// `group<TAB>facility<TAB>nurse` lines: `target` and `fanout-<n>` groups.
    #[arg(long)]
    groups: PathBuf,
    /// Email of a scheduler of every facility.
    #[arg(long, env = "SHIFTWIRE_BENCH_EMAIL")]
    email: String,
    /// Its password (or SHIFTWIRE_BENCH_PASSWORD).
    #[arg(long, env = "SHIFTWIRE_BENCH_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    password: String,
    /// The server's process id, for its memory and CPU (`/proc/<pid>`).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Sizes and phases: `realtime` changes the defaults of the flags below that name it
    /// (flags given still win).
    #[arg(long, value_enum, default_value = "scale")]
    preset: Preset,
    /// Live WebSocket connections (one nurse each). Preset realtime: 1,001.
    #[arg(long, default_value_t = 19_000, default_value_if("preset", "realtime", "1001"), value_parser = clap::value_parser!(u32).range(1..=19_500))]
    connections: u32,
    /// Worker processes holding the connections. Preset realtime: 2.
    #[arg(long, default_value_t = 4, default_value_if("preset", "realtime", "2"), value_parser = clap::value_parser!(u64).range(1..=32))]
    workers: u64,
    /// Loopback source addresses (127.0.0.2, 127.0.0.3, …), dealt out to the workers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=200))]
    source_addrs: u64,
    /// Connections each worker opens at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1000))]
    connect_concurrency: u64,
    /// Phases to run, comma-separated. Preset realtime: idle,latency,fanout.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "idle,latency,fanout,sustained,oracle,storm",
        default_value_if("preset", "realtime", "idle,latency,fanout")
    )]
    scenarios: Vec<Phase>,
    /// JSON ping → pong round trips on the target's connection. Preset realtime: 20.
    #[arg(
        long,
        default_value_t = 50,
        default_value_if("preset", "realtime", "20")
    )]
    pings: u32,
    /// Unmeasured posts for the target before the latency phase's.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmup_posts: u64,
    /// Shifts posted for the target alone.
    #[arg(long, alias = "offers", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3000))]
    latency_posts: u64,
    #[arg(long, alias = "interval-ms", default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    latency_interval_ms: u64,
    /// Fan-out sizes; each needs a `fanout-<n>` group. Preset realtime: 1000.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,1000,10000",
        default_value_if("preset", "realtime", "1000")
    )]
    fanout_sizes: Vec<u32>,
    /// Shifts posted per fan-out size (and NATS publishes). Preset realtime: 20.
    #[arg(long, alias = "rounds", default_value_t = 10, default_value_if("preset", "realtime", "20"), value_parser = clap::value_parser!(u64).range(1..=100))]
    fanout_rounds: u64,
    /// Pause between fan-out rounds, ms. Preset realtime: 200.
    #[arg(
        long,
        default_value_t = 300,
        default_value_if("preset", "realtime", "200")
    )]
    round_gap_ms: u64,
    /// NATS connections at most; more subscribers share them in turn.
    #[arg(long, default_value_t = 10_000)]
    nats_max_connections: u32,
    /// Shifts posted per second in the sustained phase.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    sustained_rate: u64,
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    sustained_secs: u64,
    /// Shifts posted during the oracle's reconnect phase.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    oracle_posts: u64,
    /// Posts per second in the oracle phase.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    oracle_rate: u64,
    /// Share of the clients that disconnect and reconnect with `resume`, percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
    reconnect_percent: u64,
    /// Nurses claiming the storm shift at once.
    #[arg(long, default_value_t = 1000)]
    storm_claimants: u32,
    /// Seed of the random shifts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    #[serde(flatten)]
    out: report::Outputs,
}

/// One connected nurse.
#[derive(Debug, Clone)]
pub struct Client {
    pub nurse: Uuid,
    pub token: String,
}

/// One POST as the load generator made it.
#[derive(Debug, Clone)]
pub struct Post {
    pub phase: &'static str,
    pub spec: ShiftSpec,
    pub id: Result<Uuid, String>,
    /// Wall clock just before the send, and at the answer (UNIX ns).
    pub sent_ns: u64,
    pub answered_ns: u64,
    pub sent_at: Instant,
}

impl Post {
    fn took(&self) -> Duration {
        Duration::from_nanos(self.answered_ns.saturating_sub(self.sent_ns))
    }
}

/// A driver of one run: the workers, the scheduler's posts, the world.
pub struct Session {
    pub fleet: Fleet,
    pub poster: Poster,
    pub world: Arc<World>,
    pub clients: Vec<Client>,
}

/// How to start a session.
pub struct SessionConfig {
    pub base: reqwest::Url,
    pub scheduler_token: String,
    pub world: Arc<World>,
    pub clients: Vec<Client>,
    pub fleet: FleetConfig,
}

/// Connecting: how it went.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    pub wanted: u64,
    pub opened: u64,
    pub failed: BTreeMap<String, u64>,
    pub elapsed_secs: f64,
    pub per_sec: f64,
    pub connect: Stats,
}

/// The oracle's verdict on a set of posts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OracleReport {
    pub shifts: u64,
    /// Shifts whose POST failed (not judged).
    pub post_errors: u64,
    pub clients: u64,
    /// (client, shift) pairs the oracle says must be offered.
    pub expected: u64,
    pub delivered: u64,
    pub missed: u64,
    pub wrong: u64,
    pub duplicates: u64,
    /// Pairs within ±0.6 % of the nurse's radius: not judged; how many got the offer.
    pub borderline: u64,
    pub borderline_delivered: u64,
    /// Nurses with a live location (not judged).
    pub unknown: u64,
    /// Offers to clients that never connected, or for shifts the run did not post.
    pub strays: u64,
    /// Deliveries that came in a `resume` replay (before `resumed`).
    pub replayed: u64,
    /// Copies the contract allows: the offer reached a resuming connection that ended
    /// before its `resumed`, so the client's committed position did not move and its next
    /// `resume` covered the same gap again (`api-spec/websocket.md`, "Committing
    /// `last_seq`"). Not duplicates.
    pub resent_after_drop: u64,
    /// Up to 10 examples of each failure: (kind, nurse, shift).
    pub examples: Vec<(String, Uuid, Uuid)>,
    /// Per phase: (phase, shifts, expected, missed, wrong, duplicates).
    pub by_phase: Vec<(String, u64, u64, u64, u64, u64)>,
}

impl OracleReport {
    pub fn ok(&self) -> bool {
        self.missed == 0 && self.wrong == 0 && self.duplicates == 0 && self.strays == 0
    }
}

/// The reconnect phase as the clients saw it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconnectReport {
    pub posts: u64,
    pub post_errors: u64,
    pub cohort: u64,
    pub cycles: u64,
    pub dropped: u64,
    pub resumed: u64,
    pub replayed_offers: u64,
    pub reconnect: Option<Stats>,
    /// From `resume` sent to `resumed` read.
    pub resume: Option<Stats>,
    pub reconnect_failed: BTreeMap<String, u64>,
}

/// Latencies in µs, and a count of failures of one kind.
fn stats_of(us: &[u64], (failure, failed): (&str, u64), elapsed: Duration) -> Stats {
    let mut r = Recorder::new();
    for &u in us {
        r.record(Duration::from_micros(u), Ok(()));
    }
    r.error(failure, failed);
    r.stats(elapsed)
}

impl Session {
    pub async fn start(config: SessionConfig) -> anyhow::Result<Self> {
        let fleet = Fleet::start(&config.fleet).await?;
        Ok(Self {
            fleet,
            poster: Poster {
                http: net::client(REQUEST_TIMEOUT)?,
                base: config.base,
                token: config.scheduler_token,
                posts: Arc::default(),
            },
            world: config.world,
            clients: config.clients,
        })
    }

    /// Connects every client; waits (bounded) until each has opened or failed.
    pub async fn connect_all(&mut self, deadline: Duration) -> anyhow::Result<ConnectReport> {
        let tokens = self.clients.iter().map(|c| c.token.clone());
        let list: Vec<(u32, String)> = (0..).zip(tokens).collect();
        let n = list.len();
        let started = Instant::now();
        self.fleet.connect(&list).await?;
        let answered = |l: &Ledger| l.first_hello.len() + l.failed.values().sum::<u64>() as usize;
        let done = self
            .fleet
            .wait_until(started + deadline, |l| answered(l) >= n)
            .await;
        let elapsed = started.elapsed();
        let l = lock(&self.fleet.ledger);
        let mut failed = l.failed.clone();
        if !done {
            failed.insert(
                "no answer by the deadline".into(),
                (n - answered(&l)) as u64,
            );
        }
        let opened = l.first_hello.len() as u64;
        Ok(ConnectReport {
            wanted: n as u64,
            opened,
            failed,
            elapsed_secs: elapsed.as_secs_f64(),
            per_sec: opened as f64 / elapsed.as_secs_f64().max(1e-9),
            connect: stats_of(&l.connect_us, ("", 0), elapsed),
        })
    }

    /// Posts `spec` as the scheduler; records it.
    pub async fn post(&self, phase: &'static str, spec: ShiftSpec) -> Post {
        self.poster.post(phase, spec).await
    }

    /// Waits until no delivery has arrived for [`QUIET`] (at most [`SETTLE_MAX`]).
    pub async fn settle(&self) {
        let deadline = Instant::now() + SETTLE_MAX;
        let count = |l: &Ledger| l.offers.values().map(Vec::len).sum::<usize>();
        let mut last = count(&lock(&self.fleet.ledger));
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = count(&lock(&self.fleet.ledger));
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= QUIET {
                return;
            }
        }
    }

    /// Posts `posts` random shifts at `rate` a second while `percent` % of the clients
    /// (every k-th) disconnect and reconnect with `resume`, twice; then waits for every
    /// reconnection's `resumed` and for deliveries to settle.
    pub async fn reconnect_phase(
        &mut self,
        posts: u64,
        rate: u64,
        percent: u64,
        rng: &mut Rng,
        facilities: &[Uuid],
    ) -> anyhow::Result<ReconnectReport> {
        let connected: Vec<u32> = {
            let l = lock(&self.fleet.ledger);
            let mut c: Vec<u32> = l.first_hello.iter().copied().collect();
            c.sort_unstable();
            c
        };
        let cohort: Vec<u32> = if percent == 0 {
            Vec::new()
        } else {
            let want = (connected.len() as u64 * percent).div_ceil(100) as usize;
            let step = (connected.len() / want.max(1)).max(1);
            connected.iter().copied().step_by(step).take(want).collect()
        };
        let (resumed_before, dropped_before, replays_before) = {
            let l = lock(&self.fleet.ledger);
            (l.resumed.len(), l.dropped, l.reconnect_us.len())
        };
        let interval = Duration::from_micros(1_000_000 / rate.max(1));
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Drop at 1/5 and 3/5 of the posts, resume at 2/5 and 4/5.
        let marks = [posts / 5, 2 * posts / 5, 3 * posts / 5, 4 * posts / 5];
        let now = Utc::now();
        let mut report = ReconnectReport {
            cohort: cohort.len() as u64,
            ..Default::default()
        };
        let mut in_flight = JoinSet::new();
        let shared = Arc::new(self.poster.clone());
        for k in 0..posts {
            ticks.tick().await;
            if !cohort.is_empty() {
                if k == marks[0] || k == marks[2] {
                    self.fleet
                        .tell(&cohort, |clients| Command::Drop { clients })
                        .await?;
                    report.cycles += 1;
                } else if k == marks[1] || k == marks[3] {
                    self.fleet
                        .tell(&cohort, |clients| Command::Resume { clients })
                        .await?;
                }
            }
            let spec = oracle::random_shift(rng, facilities, now);
            let poster = shared.clone();
            in_flight.spawn(async move { poster.post("oracle", spec).await });
        }
        while let Some(done) = in_flight.join_next().await {
            report.posts += 1;
            if !matches!(done, Ok(ref p) if p.id.is_ok()) {
                report.post_errors += 1;
            }
        }
        if !cohort.is_empty() && report.cycles > 0 {
            // Small runs may end before the second resume mark.
            let waiting = lock(&self.fleet.ledger).dropped - dropped_before;
            let expected_resumes = report.cycles as usize * cohort.len();
            if (waiting as usize) < expected_resumes {
                self.fleet
                    .wait_until(Instant::now() + Duration::from_secs(10), |l| {
                        (l.dropped - dropped_before) as usize >= expected_resumes
                    })
                    .await;
            }
            // Every cohort client that is not connected now is resumed.
            self.fleet
                .tell(&cohort, |clients| Command::Resume { clients })
                .await?;
            self.fleet
                .wait_until(Instant::now() + Duration::from_secs(30), |l| {
                    l.resumed.len() - resumed_before >= expected_resumes
                })
                .await;
        }
        self.settle().await;
        let l = lock(&self.fleet.ledger);
        report.dropped = l.dropped - dropped_before;
        report.resumed = (l.resumed.len() - resumed_before) as u64;
        report.replayed_offers = l.resumed[resumed_before..]
            .iter()
            .map(|&n| u64::from(n))
            .sum();
        let reconnects = &l.reconnect_us[replays_before..];
        report.reconnect = Some(stats_of(reconnects, ("", 0), Duration::from_secs(1)));
        let resumes = &l.resume_us[resumed_before..];
        report.resume = Some(stats_of(resumes, ("", 0), Duration::from_secs(1)));
        report.reconnect_failed = l.reconnect_failed.clone();
        Ok(report)
    }

    /// Judges every post so far; while offers are missing, waits for stragglers (a
    /// loaded machine may pause deliveries longer than one quiet period) up to 3 times.
    pub async fn judge_settled(&self) -> OracleReport {
        let mut report = self.judge();
        for _ in 0..3 {
            if report.missed == 0 {
                break;
            }
            self.settle().await;
            report = self.judge();
        }
        report
    }

    /// Judges every post so far against what the clients received.
    pub fn judge(&self) -> OracleReport {
        let l = lock(&self.fleet.ledger);
        judge(&self.world, &self.clients, &self.poster.posted(0), &l)
    }
}

/// The scheduler: posts shifts and keeps every post (cheap to clone, for spawned tasks).
#[derive(Clone)]
pub struct Poster {
    http: reqwest::Client,
    base: reqwest::Url,
    token: String,
    posts: Arc<Mutex<Vec<Post>>>,
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

impl Poster {
    /// Posts `spec` and records the post.
    pub async fn post(&self, phase: &'static str, spec: ShiftSpec) -> Post {
        let post = self.send(phase, spec).await;
        self.lock().push(post.clone());
        post
    }

    /// The posts made so far, from the `from`-th on.
    pub fn posted(&self, from: usize) -> Vec<Post> {
        self.lock().get(from..).unwrap_or_default().to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Post>> {
        self.posts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(&self, phase: &'static str, spec: ShiftSpec) -> Post {
        let body = serde_json::json!({
            "role": spec.role,
            "starts_at": spec.starts_at,
            "ends_at": spec.ends_at,
            "hourly_rate_cents": 6500,
            "required_certifications": spec.certifications,
            "unit": "Bench scale",
            "handoff": {
                "report_to": "Charge nurse",
                "arrival_instructions": "Staff entrance, badge at security"
            }
        });
        let url = self
            .base
            .join(&format!("/v1/facilities/{}/shifts", spec.facility));
        let sent_at = Instant::now();
        let sent_ns = now_ns();
        let id = match url {
            Ok(url) => {
                let request = self.http.post(url).bearer_auth(&self.token).json(&body);
                net::json::<Created>(request, StatusCode::CREATED)
                    .await
                    .map(|c| c.id)
            }
            Err(e) => Err(format!("bad URL: {e}")),
        };
        Post {
            phase,
            spec,
            id,
            sent_ns,
            answered_ns: now_ns(),
            sent_at,
        }
    }
}

/// The oracle's count: for every post and every connected client, the verdict against
/// what arrived.
pub fn judge(world: &World, clients: &[Client], posts: &[Post], ledger: &Ledger) -> OracleReport {
    let now = Utc::now();
    let mut r = OracleReport {
        clients: ledger.first_hello.len() as u64,
        ..Default::default()
    };
    let connected: Vec<(u32, &Client)> = clients
        .iter()
        .enumerate()
        .filter(|(i, _)| ledger.first_hello.contains(&(*i as u32)))
        .map(|(i, c)| (i as u32, c))
        .collect();
    let mut posted: HashSet<Uuid> = HashSet::new();
    let mut phases: BTreeMap<&str, (u64, u64, u64, u64, u64)> = BTreeMap::new();
    let example = |r: &mut OracleReport, kind: &str, nurse: Uuid, shift: Uuid| {
        let same_kind = |e: &&(String, Uuid, Uuid)| e.0.split(' ').next() == kind.split(' ').next();
        if r.examples.iter().filter(same_kind).count() < 10 {
            r.examples.push((kind.to_owned(), nurse, shift));
        }
    };
    for post in posts {
        let Ok(shift) = post.id else {
            r.post_errors += 1;
            continue;
        };
        r.shifts += 1;
        posted.insert(shift);
        let phase = phases.entry(post.phase).or_default();
        phase.0 += 1;
        // Copies per client, how many of them came in a `resume` replay, and how many on
        // each connection.
        let mut got: HashMap<u32, (u32, u32, HashMap<u32, u32>)> = HashMap::new();
        for d in ledger.offers.get(&shift).into_iter().flatten() {
            let entry = got.entry(d.client).or_default();
            entry.0 += 1;
            *entry.2.entry(d.connection).or_default() += 1;
            if d.replay {
                entry.1 += 1;
                r.replayed += 1;
            }
        }
        for &(client, c) in &connected {
            let (copies, replayed, connections) = got.remove(&client).unwrap_or_default();
            let copies_of = Copies::count(&connections, |conn| {
                ledger.unresumed.contains(&(client, conn))
            });
            r.resent_after_drop += u64::from(copies_of.resent_after_drop);
            if copies_of.duplicates > 0 {
                r.duplicates += u64::from(copies_of.duplicates);
                phase.4 += u64::from(copies_of.duplicates);
                let kind = format!(
                    "duplicate ({copies} copies on {} connection(s), {replayed} of them in a resume replay)",
                    connections.len()
                );
                example(&mut r, &kind, c.nurse, shift);
            }
            match world.verdict(&c.nurse, &post.spec, now) {
                Some(Verdict::Eligible) => {
                    r.expected += 1;
                    phase.1 += 1;
                    if copies > 0 {
                        r.delivered += 1;
                    } else {
                        r.missed += 1;
                        phase.2 += 1;
                        example(&mut r, "missed", c.nurse, shift);
                    }
                }
                Some(Verdict::Ineligible) | None => {
                    if copies > 0 {
                        r.wrong += 1;
                        phase.3 += 1;
                        example(&mut r, "wrong", c.nurse, shift);
                    }
                }
                Some(Verdict::Borderline) => {
                    r.borderline += 1;
                    if copies > 0 {
                        r.borderline_delivered += 1;
                    }
                }
                Some(Verdict::Unknown) => r.unknown += 1,
            }
        }
        // Whatever is left went to clients that never connected.
        r.strays += got.values().map(|(n, ..)| u64::from(*n)).sum::<u64>();
    }
    r.strays += ledger
        .offers
        .iter()
        .filter(|(shift, _)| !posted.contains(shift))
        .map(|(_, d)| d.len() as u64)
        .sum::<u64>();
    r.by_phase = phases
        .into_iter()
        .map(|(p, (s, e, m, w, d))| (p.to_owned(), s, e, m, w, d))
        .collect();
    r
}

/// One client's copies of one offer, judged by the contract.
#[derive(Debug, Default, PartialEq)]
struct Copies {
    /// Copies beyond the first on one connection, and one for each further connection
    /// that kept its copy (reached `resumed`, or needed none).
    duplicates: u32,
    /// Further connections whose copy the contract allows: each ended before its
    /// `resumed`, so the next `resume` covered the same gap again.
    resent_after_drop: u32,
}

impl Copies {
    /// `per_connection`: copies on each connection; `unresumed`: whether that connection
    /// was resuming and ended before its `resumed`.
    fn count(per_connection: &HashMap<u32, u32>, unresumed: impl Fn(u32) -> bool) -> Self {
        let same_connection: u32 = per_connection.values().map(|n| n.saturating_sub(1)).sum();
        let kept = per_connection
            .keys()
            .filter(|conn| !unresumed(**conn))
            .count();
        let dropped = per_connection.len() - kept;
        let kept = u32::try_from(kept).unwrap_or(u32::MAX);
        let dropped = u32::try_from(dropped).unwrap_or(u32::MAX);
        Self {
            duplicates: same_connection + kept.saturating_sub(1),
            // Every connection but one may be a dropped one's re-send.
            resent_after_drop: if kept > 0 {
                dropped
            } else {
                dropped.saturating_sub(1)
            },
        }
    }
}

/// Adds `post` to `rec` as one round; `expected` says which clients must get it. Arrivals
/// (wall clock) become instants after the post's own `Instant`, by the difference.
fn tally(rec: &mut FanoutRecorder, post: &Post, l: &Ledger, expected: impl Fn(usize) -> bool) {
    match post.id {
        Ok(id) => {
            let arrival = |d: &fleet::Delivery| {
                let after = Duration::from_nanos(d.t_ns.saturating_sub(post.sent_ns));
                (d.client as usize, post.sent_at + after)
            };
            let offers = l.offers.get(&id).into_iter().flatten();
            let deliveries: Vec<(usize, Instant)> = offers.map(arrival).collect();
            rec.add(
                id.to_string(),
                post.sent_at,
                post.took(),
                &deliveries,
                expected,
            );
        }
        Err(ref e) => rec.send_failed(e.clone(), post.took()),
    }
}

// ------------------------------------------------------------------------------------
// The scenario.

#[derive(Debug, Serialize)]
pub struct IdleReport {
    pub connections: ConnectReport,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub rss_per_connection_kib: Option<f64>,
    pub server_open_files_limit: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LatencyReport {
    /// Unmeasured posts before the measured ones.
    pub warmup_posts: u64,
    pub warmup_errors: u64,
    pub posts: u64,
    pub expected_recipients: Vec<u64>,
    pub offer: Stats,
    pub post: Stats,
    pub missing: u64,
    pub duplicates: u64,
    pub strangers: u64,
    /// Offers that reached the target before the POST's own answer did.
    pub offered_before_answer: u64,
    pub late_posts: u64,
}

#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub size: u32,
    pub facility: Uuid,
    /// The oracle's count of recipients of each round's shift.
    pub expected: Vec<u64>,
    pub shiftwire: FanoutStats,
    pub rounds: Vec<Round>,
    pub nats: Option<NatsReport>,
    pub nats_error: Option<String>,
    /// Shiftwire's last-delivery p50 over NATS core's.
    pub last_p50_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SustainedReport {
    pub rate: u64,
    pub secs: u64,
    pub posts: u64,
    pub post_errors: u64,
    pub late_posts: u64,
    pub deliveries: u64,
    pub every: Stats,
    pub last: Stats,
    pub post: Stats,
    /// Server CPU over the phase (utime + stime), as a share of one core.
    pub server_cpu_cores: Option<f64>,
    pub elapsed_secs: f64,
}

#[derive(Debug, Serialize)]
pub struct StormSummary {
    pub group: String,
    pub report: marketplace::StormReport,
}

#[derive(Debug, Serialize)]
pub struct ScaleReport {
    pub scenario: &'static str,
    pub started_at: String,
    pub config: ScaleArgs,
    pub workers: u64,
    pub worker_pids: Vec<u32>,
    pub source_addrs: Vec<String>,
    pub idle: IdleReport,
    pub echo: Stats,
    pub latency: Option<LatencyReport>,
    pub fanout: Vec<FanoutReport>,
    pub sustained: Option<SustainedReport>,
    pub reconnect: Option<ReconnectReport>,
    pub oracle: OracleReport,
    pub storm: Option<StormSummary>,
    pub storm_error: Option<String>,
    pub connections_ended: BTreeMap<String, u64>,
    pub other_frames: BTreeMap<String, u64>,
    pub unreadable_worker_lines: u64,
    pub ok: bool,
}

/// Reads `/proc/<pid>/status` VmRSS, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    kib.split_whitespace().next()?.parse().ok()
}

/// utime + stime of `pid`, in clock ticks (USER_HZ, 100 a second on Linux).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn open_files_limit(pid: u32) -> Option<String> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft_hard: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    Some(soft_hard.join(" / "))
}

/// Groups: name → (facility, nurses).
type Groups = BTreeMap<String, (Uuid, Vec<Uuid>)>;

fn read_groups(path: &std::path::Path) -> anyhow::Result<Groups> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut groups: Groups = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, facility, nurse] = f[..] else {
            bail!(
                "{}: not group<TAB>facility<TAB>nurse: {line:?}",
                path.display()
            );
        };
        let facility: Uuid = facility.parse().context("group facility")?;
        let nurse: Uuid = nurse.parse().context("group nurse")?;
        let entry = groups
            .entry(name.to_owned())
            .or_insert_with(|| (facility, Vec::new()));
        if entry.0 != facility {
            bail!("group {name} has two facilities");
        }
        entry.1.push(nurse);
    }
    Ok(groups)
}

/// How long the run may take at most.
fn planned(args: &ScaleArgs) -> Duration {
    let secs = |d: u64| Duration::from_secs(d);
    let ms = Duration::from_millis;
    let fanout_rounds = args.fanout_sizes.len() as u32 * args.fanout_rounds as u32;
    secs(60 + u64::from(args.connections) / 200) // connecting
        + ms(u64::from(args.pings) * 200)
        + ms((args.warmup_posts + args.latency_posts) * args.latency_interval_ms)
        + 2 * fanout_rounds * (ROUND_WAIT + ms(args.round_gap_ms))
        + args.fanout_sizes.len() as u32 * secs(60) // NATS connections
        + secs(args.sustained_secs)
        + ms(args.oracle_posts * 1000 / args.oracle_rate.max(1))
        + secs(60) // reconnects, storm
        + 8 * SETTLE_MAX
}

pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    let base = net::loopback_base_url(&args.base_url)?;
    net::loopback_nats_url(&args.nats_url)?;
    let tokens = marketplace::read_tokens(&args.tokens)?;
    let token_of: HashMap<Uuid, String> = tokens
        .iter()
        .filter_map(|n| Some((n.id.parse().ok()?, n.token.clone())))
        .collect();
    let world = Arc::new(World::read(&args.world)?);
    let groups = read_groups(&args.groups)?;
    let hard_cap = planned(&args);
    let valid_for = marketplace::tokens_valid_for(&tokens)?;
    if valid_for < hard_cap {
        bail!(
            "the access tokens in {} expire in {}s, but this run may take up to {}s: seed again right before the run",
            args.tokens.display(),
            valid_for.as_secs(),
            hard_cap.as_secs()
        );
    }

    // Clients: every group member first, then other nurses (by id) up to --connections.
    let target_nurse = *groups
        .get("target")
        .and_then(|g| g.1.first())
        .ok_or_else(|| anyhow!("{} has no `target` group", args.groups.display()))?;
    let mut chosen: Vec<Uuid> = groups.values().flat_map(|g| g.1.iter().copied()).collect();
    let grouped: HashSet<Uuid> = chosen.iter().copied().collect();
    if grouped.len() < chosen.len() {
        bail!("{}: a nurse is in two groups", args.groups.display());
    }
    let ungrouped = world
        .nurses
        .keys()
        .copied()
        .filter(|id| !grouped.contains(id));
    let mut others: Vec<Uuid> = ungrouped.filter(|id| token_of.contains_key(id)).collect();
    others.sort_unstable();
    let wanted = args.connections as usize;
    if chosen.len() > wanted {
        bail!(
            "--connections {wanted} is fewer than the {} nurses of the groups",
            chosen.len()
        );
    }
    chosen.extend(others.into_iter().take(wanted - chosen.len()));
    if chosen.len() < wanted {
        bail!(
            "only {} nurses with tokens for --connections {wanted}",
            chosen.len()
        );
    }
    let clients: Vec<Client> = chosen
        .iter()
        .map(|id| {
            Ok(Client {
                nurse: *id,
                token: token_of
                    .get(id)
                    .cloned()
                    .ok_or_else(|| anyhow!("nurse {id} has no token"))?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "scale benchmark against {base}: {} connections over {} worker processes and {} source addresses; phases {:?}; hard cap {}s, tokens valid for {}s",
        clients.len(),
        args.workers,
        args.source_addrs,
        args.scenarios,
        hard_cap.as_secs(),
        valid_for.as_secs()
    );
    let run = phases(&args, base, world, groups, clients, target_nurse, hard_cap);
    let report = net::within(hard_cap, "the run", run).await?;
    let markdown = markdown(&report);
    if !report.ok {
        eprintln!(
            "scale: DELIVERIES WERE MISSED, WRONG OR DUPLICATED, OR SOMETHING FAILED; see the report"
        );
    }
    args.out.publish(&report, &markdown)
}

#[allow(clippy::too_many_arguments)]
async fn phases(
    args: &ScaleArgs,
    base: reqwest::Url,
    world: Arc<World>,
    groups: Groups,
    clients: Vec<Client>,
    target_nurse: Uuid,
    hard_cap: Duration,
) -> anyhow::Result<ScaleReport> {
    let started_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let http = net::client(REQUEST_TIMEOUT)?;
    let scheduler_token = net::sign_in(&http, &base, &args.email, &args.password).await?;
    let mut ws_url = base.join("/v1/ws")?;
    ws_url
        .set_scheme("ws")
        .map_err(|()| anyhow!("cannot make a ws:// URL of {base}"))?;
    let addrs = fleet::source_addrs(args.source_addrs as usize);
    let fleet_config = FleetConfig {
        bin: fleet::this_binary()?,
        workers: args.workers as usize,
        ws_url: ws_url.to_string(),
        source_addrs: addrs.clone(),
        connect_concurrency: args.connect_concurrency as usize,
        max_secs: hard_cap.as_secs() + 30,
    };
    let mut session = Session::start(SessionConfig {
        base: base.clone(),
        scheduler_token,
        world: world.clone(),
        clients,
        fleet: fleet_config,
    })
    .await?;
    let on = |p: Phase| args.scenarios.contains(&p);
    let target_client = session
        .clients
        .iter()
        .position(|c| c.nurse == target_nurse)
        .ok_or_else(|| anyhow!("the target nurse is not among the clients"))?
        as u32;

    // 1. idle
    let rss_before = args.server_pid.and_then(rss_kib);
    eprintln!("idle: connecting {} clients", session.clients.len());
    let connections = session
        .connect_all(Duration::from_secs(60 + u64::from(args.connections) / 200))
        .await?;
    eprintln!(
        "idle: {} of {} open in {:.1} s ({:.0}/s), {} failed",
        connections.opened,
        connections.wanted,
        connections.elapsed_secs,
        connections.per_sec,
        connections.failed.values().sum::<u64>()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = args.server_pid.and_then(rss_kib);
    let idle = IdleReport {
        rss_per_connection_kib: rss_before
            .zip(rss_after)
            .filter(|_| connections.opened > 0)
            .map(|(a, b)| (b as f64 - a as f64) / connections.opened as f64),
        connections,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        server_open_files_limit: args.server_pid.and_then(open_files_limit),
    };

    // The floor: JSON ping → pong on the target's connection.
    let echo_started = Instant::now();
    let lost = session.fleet.pings(target_client, args.pings).await?;
    let echo = stats_of(
        &lock(&session.fleet.ledger).pongs_us,
        ("no pong", lost),
        echo_started.elapsed(),
    );

    // 2. latency
    let latency = if on(Phase::Latency) {
        let facility = groups["target"].0;
        eprintln!(
            "latency: {} warm-up posts, then {} for the target alone, one every {} ms",
            args.warmup_posts, args.latency_posts, args.latency_interval_ms
        );
        let mut ticks = tokio::time::interval(Duration::from_millis(args.latency_interval_ms));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut posts = Vec::new();
        let mut late = 0;
        let now = Utc::now();
        for k in 0..args.warmup_posts + args.latency_posts {
            let slot = ticks.tick().await;
            let warmup = k < args.warmup_posts;
            if !warmup && slot.elapsed() > Duration::from_millis(5) {
                late += 1;
            }
            let phase = if warmup { "warm-up" } else { "latency" };
            posts.push(session.post(phase, rn_shift(facility, now, k)).await);
        }
        session.settle().await;
        let l = lock(&session.fleet.ledger);
        let (warmup, measured) = posts.split_at(args.warmup_posts as usize);
        let mut rec = FanoutRecorder::new(1);
        let mut expected = Vec::new();
        let mut offered_before_answer = 0;
        for p in measured {
            tally(&mut rec, p, &l, |c| c == target_client as usize);
            let Ok(id) = p.id else { continue };
            expected.push(expected_count(&world, &session.clients, &l, &p.spec));
            let offers = l.offers.get(&id).into_iter().flatten();
            if offers
                .filter(|d| d.client == target_client)
                .any(|d| d.t_ns < p.answered_ns)
            {
                offered_before_answer += 1;
            }
        }
        let s = rec.stats(Duration::from_millis(
            args.latency_posts * args.latency_interval_ms,
        ));
        expected.sort_unstable();
        expected.dedup();
        Some(LatencyReport {
            warmup_posts: warmup.len() as u64,
            warmup_errors: warmup.iter().filter(|p| p.id.is_err()).count() as u64,
            posts: measured.len() as u64,
            expected_recipients: expected,
            offer: s.first.clone(),
            post: s.send.clone(),
            missing: s.missing,
            duplicates: s.duplicates,
            strangers: s.strangers,
            offered_before_answer,
            late_posts: late,
        })
    } else {
        None
    };

    // 3. fan-out, each size followed by its NATS baseline.
    let mut fanout = Vec::new();
    if on(Phase::Fanout) {
        for &size in &args.fanout_sizes {
            let name = format!("fanout-{size}");
            let Some((facility, _)) = groups.get(&name) else {
                bail!(
                    "--fanout-sizes has {size}, but {} has no {name} group",
                    args.groups.display()
                );
            };
            eprintln!("fanout: {} rounds to the {name} group", args.fanout_rounds);
            let now = Utc::now();
            let mut posts = Vec::new();
            for k in 0..args.fanout_rounds {
                let spec = rn_shift(*facility, now, 1000 + k);
                let expected = {
                    let l = lock(&session.fleet.ledger);
                    expected_count(&world, &session.clients, &l, &spec)
                };
                let post = session.post("fanout", spec).await;
                if let Ok(id) = post.id {
                    let (fleet, due) = (&session.fleet, Instant::now() + ROUND_WAIT);
                    let reached = |l: &Ledger| l.offers.get(&id).map_or(0, Vec::len) as u64;
                    fleet.wait_until(due, |l| reached(l) >= expected).await;
                }
                posts.push((post, expected));
                tokio::time::sleep(Duration::from_millis(args.round_gap_ms)).await;
            }
            session.settle().await;
            let (shiftwire, rounds, sample) = {
                let l = lock(&session.fleet.ledger);
                let mut rec = FanoutRecorder::new(posts.first().map_or(0, |p| p.1));
                for (p, _) in &posts {
                    // Borderline nurses may get it: not judged here either.
                    let not_ineligible = |v| v != Some(Verdict::Ineligible);
                    let may =
                        connected_where(&world, &session.clients, &l, &p.spec, not_ineligible);
                    tally(&mut rec, p, &l, |c| may.contains(&c));
                }
                (
                    rec.stats(Duration::from_secs(1)),
                    rec.rounds,
                    l.sample.clone(),
                )
            };
            let payload = sample.unwrap_or_else(|| "x".repeat(450));
            eprintln!(
                "fanout {size}: last delivery p50 {}; NATS baseline with {size} subscribers",
                ms(shiftwire.last.latency_ms.p50)
            );
            let run = NatsRun {
                url: &args.nats_url,
                subscribers: size,
                max_connections: args.nats_max_connections,
                rounds: args.fanout_rounds,
                round_wait: ROUND_WAIT,
                round_gap: Duration::from_millis(args.round_gap_ms),
            };
            let (nats, nats_error) = match fanout::nats_baseline(&run, Bytes::from(payload)).await {
                Ok(n) => (Some(n), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            };
            fanout.push(FanoutReport {
                size,
                facility: *facility,
                expected: posts.iter().map(|p| p.1).collect(),
                last_p50_ratio: nats
                    .as_ref()
                    .and_then(|n| shiftwire.last_p50_over(&n.fanout)),
                shiftwire,
                rounds,
                nats,
                nats_error,
            });
        }
    }

    // 4. sustained
    let sustained = if on(Phase::Sustained) {
        eprintln!(
            "sustained: {} shifts a second for {} s",
            args.sustained_rate, args.sustained_secs
        );
        let facilities = random_facilities(&world, &groups);
        let mut rng = Rng::new(args.seed);
        let poster = Arc::new(session.poster.clone());
        let first_post = session.poster.posted(0).len();
        let cpu0 = args.server_pid.and_then(cpu_ticks);
        let started = Instant::now();
        let interval = Duration::from_micros(1_000_000 / args.sustained_rate);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let permits = Arc::new(Semaphore::new(POSTS_IN_FLIGHT));
        let mut set = JoinSet::new();
        let total = args.sustained_rate * args.sustained_secs;
        let now = Utc::now();
        let mut late = 0;
        for _ in 0..total {
            let slot = ticks.tick().await;
            if slot.elapsed() > Duration::from_millis(5) {
                late += 1;
            }
            let spec = oracle::random_shift(&mut rng, &facilities, now);
            let (poster, permit) = (poster.clone(), permits.clone().acquire_owned().await?);
            set.spawn(async move {
                let p = poster.post("sustained", spec).await;
                drop(permit);
                p
            });
        }
        while set.join_next().await.is_some() {}
        let posting = started.elapsed();
        let cpu1 = args.server_pid.and_then(cpu_ticks);
        session.settle().await;
        let posts = session.poster.posted(first_post);
        let l = lock(&session.fleet.ledger);
        let mut rec = FanoutRecorder::new(0);
        let mut deliveries = 0;
        for p in &posts {
            let offers = p.id.as_ref().ok().and_then(|id| l.offers.get(id));
            let n = offers.map_or(0, Vec::len);
            deliveries += n as u64;
            // A shift nobody is eligible for is no round.
            if p.id.is_err() || n > 0 {
                tally(&mut rec, p, &l, |_| true);
            }
        }
        let s = rec.stats(posting);
        Some(SustainedReport {
            rate: args.sustained_rate,
            secs: args.sustained_secs,
            posts: posts.len() as u64,
            post_errors: s.send_errors,
            late_posts: late,
            deliveries,
            every: s.every.clone(),
            last: s.last.clone(),
            post: s.send.clone(),
            server_cpu_cores: match (cpu0, cpu1) {
                (Some(a), Some(b)) => Some((b - a) as f64 / 100.0 / posting.as_secs_f64()),
                _ => None,
            },
            elapsed_secs: posting.as_secs_f64(),
        })
    } else {
        None
    };

    // 5. oracle with reconnects
    let reconnect = if on(Phase::Oracle) {
        eprintln!(
            "oracle: {} shifts while {} % of the clients reconnect with resume",
            args.oracle_posts, args.reconnect_percent
        );
        let facilities = random_facilities(&world, &groups);
        let mut rng = Rng::new(args.seed ^ 0x5eed);
        let (posts, rate, percent) = (args.oracle_posts, args.oracle_rate, args.reconnect_percent);
        let reconnecting = session.reconnect_phase(posts, rate, percent, &mut rng, &facilities);
        Some(reconnecting.await?)
    } else {
        None
    };
    session.settle().await;
    eprintln!("oracle: judging every shift posted against every connected client");
    let oracle = session.judge_settled().await;
    eprintln!(
        "oracle: {} shifts, {} offers expected, {} missed, {} wrong, {} duplicates ({} borderline, {} replayed, {} sent again after a drop before `resumed`)",
        oracle.shifts,
        oracle.expected,
        oracle.missed,
        oracle.wrong,
        oracle.duplicates,
        oracle.borderline,
        oracle.replayed,
        oracle.resent_after_drop
    );

    eprintln!("closing the connections");
    session.fleet.close_all().await?;
    let (connections_ended, other_frames, unreadable, worker_pids) = {
        let l = lock(&session.fleet.ledger);
        (
            l.ended.clone(),
            l.other_frames.clone(),
            l.unreadable_lines,
            l.worker_pids.clone(),
        )
    };
    let workers = session.fleet.workers() as u64;
    let poster = session.poster.clone();
    let clients = session.clients.iter();
    let tokens: HashMap<Uuid, String> = clients.map(|c| (c.nurse, c.token.clone())).collect();
    session.fleet.shutdown().await;

    // 6. storm
    let (storm, storm_error) = if on(Phase::Storm) {
        match claim_storm(args, &base, &poster, &groups, &tokens).await {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        }
    } else {
        (None, None)
    };

    let ok = idle.connections.failed.is_empty()
        && oracle.ok()
        && connections_ended.is_empty()
        && unreadable == 0
        && echo.errors == 0
        && latency.as_ref().is_none_or(|l| {
            l.warmup_errors + l.post.errors + l.missing + l.duplicates + l.strangers == 0
        })
        && fanout.iter().all(|f| {
            let s = &f.shiftwire;
            s.send_errors + s.missing + s.duplicates + s.strangers == 0 && f.nats_error.is_none()
        })
        && sustained.as_ref().is_none_or(|s| s.post_errors == 0)
        && reconnect
            .as_ref()
            .is_none_or(|r| r.post_errors == 0 && r.reconnect_failed.is_empty())
        && storm_error.is_none()
        && storm.as_ref().is_none_or(|s| s.report.ok);
    Ok(ScaleReport {
        scenario: "scale",
        started_at,
        config: args.clone(),
        workers,
        worker_pids,
        source_addrs: addrs.iter().map(ToString::to_string).collect(),
        idle,
        echo,
        latency,
        fanout,
        sustained,
        reconnect,
        oracle,
        storm,
        storm_error,
        connections_ended,
        other_frames,
        unreadable_worker_lines: unreadable,
        ok,
    })
}

/// The connected clients whose oracle verdict on `spec` passes `keep`.
fn connected_where(
    world: &World,
    clients: &[Client],
    l: &Ledger,
    spec: &ShiftSpec,
    keep: impl Fn(Option<Verdict>) -> bool,
) -> HashSet<usize> {
    let now = Utc::now();
    let judged = |(_, c): &(usize, &Client)| keep(world.verdict(&c.nurse, spec, now));
    let connected = clients
        .iter()
        .enumerate()
        .filter(|(i, _)| l.first_hello.contains(&(*i as u32)));
    connected.filter(judged).map(|(i, _)| i).collect()
}

/// The oracle's number of recipients of `spec` among the connected clients.
fn expected_count(world: &World, clients: &[Client], l: &Ledger, spec: &ShiftSpec) -> u64 {
    let eligible = |v| v == Some(Verdict::Eligible);
    connected_where(world, clients, l, spec, eligible).len() as u64
}

/// Seeded facilities (not the groups' remote ones) for random shifts.
fn random_facilities(world: &World, groups: &Groups) -> Vec<Uuid> {
    let remote: HashSet<Uuid> = groups.values().map(|g| g.0).collect();
    world
        .facility_order
        .iter()
        .filter(|f| !remote.contains(f))
        .copied()
        .collect()
}

/// An open RN shift without required certifications at `facility`; `k` spreads the
/// start times.
pub fn rn_shift(facility: Uuid, now: chrono::DateTime<Utc>, k: u64) -> ShiftSpec {
    let starts_at = now
        + chrono::Duration::hours(24)
        + chrono::Duration::minutes(5 * i64::try_from(k % 10_000).unwrap_or(0));
    ShiftSpec {
        facility,
        role: "RN".into(),
        starts_at,
        ends_at: starts_at + chrono::Duration::hours(8),
        certifications: vec![],
    }
}

/// The smallest fan-out group with at least `--storm-claimants` nurses claims one new
/// shift at its facility at once.
async fn claim_storm(
    args: &ScaleArgs,
    base: &reqwest::Url,
    poster: &Poster,
    groups: &Groups,
    tokens: &HashMap<Uuid, String>,
) -> anyhow::Result<StormSummary> {
    let n = args.storm_claimants as usize;
    let (name, (facility, nurses)) = groups
        .iter()
        .filter(|(name, g)| name.starts_with("fanout-") && g.1.len() >= n)
        .min_by_key(|(_, g)| g.1.len())
        .ok_or_else(|| anyhow!("no fan-out group has {n} nurses for the storm"))?;
    let post = poster
        .post(
            "storm",
            rn_shift(*facility, Utc::now() + chrono::Duration::days(20), 0),
        )
        .await;
    let shift = post
        .id
        .map_err(|e| anyhow!("posting the storm shift: {e}"))?;
    let claimants: Vec<Nurse> = nurses
        .iter()
        .take(n)
        .map(|id| Nurse {
            id: id.to_string(),
            token: tokens.get(id).cloned().unwrap_or_default(),
        })
        .collect();
    eprintln!("storm: {n} nurses of {name} claim shift {shift} at once");
    let target = Arc::new(marketplace::Target::new(base)?);
    let (report, _, _) =
        marketplace::storm(&target, &Arc::new(claimants), &shift.to_string()).await?;
    Ok(StormSummary {
        group: name.clone(),
        report,
    })
}

// ------------------------------------------------------------------------------------
// Markdown.

fn list(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "p50 …, p99 …" of `stats` ("–" for each when there are none).
fn p50_p99(stats: Option<&Stats>) -> String {
    let at = |p: fn(&Stats) -> f64| stats.map_or_else(|| "–".into(), |s| ms(p(s)));
    format!(
        "p50 {}, p99 {}",
        at(|s| s.latency_ms.p50),
        at(|s| s.latency_ms.p99)
    )
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn markdown(r: &ScaleReport) -> String {
    let c = &r.config;
    let mut out = Markdown::default();
    let i = &r.idle;
    writeln!(
        out,
        "**Connections.** {} nurses connected (`GET /v1/ws`, Bearer token) from {} `shiftwire-loadgen worker` processes bound to {} loopback source addresses ({}); {} opened, {} failed ({}), in {:.1} s: **{:.0} connections/s** (each worker opening {} at a time); connect to `hello` p50 {}, p99 {}. Server open-files limit (soft / hard): {}.\n",
        thousands(i.connections.wanted),
        r.workers,
        r.source_addrs.len(),
        r.source_addrs.join(", "),
        thousands(i.connections.opened),
        i.connections.failed.values().sum::<u64>(),
        list(&i.connections.failed),
        i.connections.elapsed_secs,
        i.connections.per_sec,
        c.connect_concurrency,
        ms(i.connections.connect.latency_ms.p50),
        ms(i.connections.connect.latency_ms.p99),
        i.server_open_files_limit.as_deref().unwrap_or("unknown"),
    );

    let mib = |k: Option<u64>| {
        k.map_or_else(
            || "–".to_owned(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        )
    };
    let mut t = Table::new("Idle connections | value");
    t.row(vec![
        "server RSS before connecting (`/proc/<pid>/status` VmRSS)".into(),
        mib(i.rss_before_kib),
    ]);
    t.row(vec![
        "server RSS with every connection open, 2 s later".into(),
        mib(i.rss_after_kib),
    ]);
    t.row(vec![
        "**server memory per connection**".into(),
        i.rss_per_connection_kib
            .map_or_else(|| "–".into(), |k| format!("**{k:.1} KiB**")),
    ]);
    t.row(vec![
        "connect rate".into(),
        format!("{:.0} /s", i.connections.per_sec),
    ]);
    out.table(&t);

    let mut lat =
        Table::new("Latency, from just before the POST | count | errors | p50 | p99 | p99.9 | max");
    if let Some(l) = &r.latency {
        let recipients: Vec<String> = l.expected_recipients.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "**POST → offer, one eligible nurse among {} connected.** After {} unmeasured posts ({} failed), {} open RN shifts posted at the target's remote facility, one every {} ms ({} sent late); the oracle counts {} eligible connected nurse(s) for each. Missing {}, duplicated {}, offers to anyone else {}; {} of the offers arrived before the POST's own answer.\n",
            thousands(i.connections.opened),
            l.warmup_posts,
            l.warmup_errors,
            l.posts,
            c.latency_interval_ms,
            l.late_posts,
            recipients.join("/"),
            l.missing,
            l.duplicates,
            l.strangers,
            l.offered_before_answer
        );

        lat.row(l.offer.row("POST → `shift.offered` on the target's socket"));
        lat.row(l.post.row("**baseline**: the POST itself → 201"));
    }
    lat.row(r.echo.row(
        "**floor**: JSON `ping` → `pong` on the target's socket (the real server, same connection)",
    ));
    out.table(&lat);

    if !r.fanout.is_empty() {
        writeln!(
            out,
            "**Fan-out.** For each size n, {} open RN shifts posted at the remote facility of a group of n connected nurses homed there (all {} connections open), each once the previous one reached every recipient (or after {} s) and a pause of {} ms; first, median and last delivery from just before the POST. Baseline in the same run, right after: NATS core (`{}`) fanning the bytes of a real `shift.offered` frame out to n subscriptions of one subject, on min(n, {}) connections (subscriptions share connections in turn beyond that), published the same number of times and paced the same way; the WebSocket connections stay open meanwhile.\n",
            c.fanout_rounds,
            thousands(i.connections.opened),
            ROUND_WAIT.as_secs(),
            c.round_gap_ms,
            c.nats_url,
            thousands(u64::from(c.nats_max_connections))
        );

        let mut t = Table::new(
            "Fan-out to n (per round) | oracle's n | first p50 | median p50 | last p50 | last p99 \
             | NATS first p50 | NATS median p50 | NATS last p50 | NATS last p99 \
             | last p50 Shiftwire / NATS | missing / dup.",
        );
        for f in &r.fanout {
            let s = &f.shiftwire;
            let n = f.nats.as_ref().map(|n| &n.fanout);
            let nc =
                |pick: fn(&FanoutStats) -> f64| n.map_or_else(|| "–".to_owned(), |n| ms(pick(n)));
            let mut oracle_n: Vec<String> = f.expected.iter().map(|&n| thousands(n)).collect();
            oracle_n.dedup();
            t.row(vec![
                thousands(u64::from(f.size)),
                oracle_n.join("/"),
                ms(s.first.latency_ms.p50),
                ms(s.median.latency_ms.p50),
                ms(s.last.latency_ms.p50),
                ms(s.last.latency_ms.p99),
                nc(|n| n.first.latency_ms.p50),
                nc(|n| n.median.latency_ms.p50),
                nc(|n| n.last.latency_ms.p50),
                nc(|n| n.last.latency_ms.p99),
                f.last_p50_ratio
                    .map_or_else(|| "–".into(), |x| format!("**{x:.1}×**")),
                format!("{} / {}", s.missing, s.duplicates),
            ]);
        }
        out.table(&t);
        for f in &r.fanout {
            if let Some(e) = &f.nats_error {
                writeln!(out, "**NATS baseline for {} failed**: {e}.\n", f.size);
            } else if let Some(n) = &f.nats
                && (n.connect_failed > 0 || n.fanout.missing > 0)
            {
                writeln!(
                    out,
                    "NATS for {}: {} connections failed, {} deliveries missing.\n",
                    f.size, n.connect_failed, n.fanout.missing
                );
            }
        }
    }

    if let Some(s) = &r.sustained {
        writeln!(
            out,
            "**Sustained.** {} random shifts a second for {} s ({} posted, {} failed, {} sent late; at most {} POSTs in flight) at random seeded facilities, drawn like the seed draws (RN/LPN/CNA, no certification / BLS / BLS+ACLS, 8–12 h within two weeks), with all {} connections open: {} offers delivered. Server CPU over the posting window (`/proc/<pid>/stat` utime+stime): **{}**.\n",
            s.rate,
            s.secs,
            s.posts,
            s.post_errors,
            s.late_posts,
            POSTS_IN_FLIGHT,
            thousands(i.connections.opened),
            thousands(s.deliveries),
            s.server_cpu_cores
                .map_or_else(|| "–".into(), |x| format!("{:.0} % of one core", x * 100.0)),
        );

        let mut t = Table::new(
            "Sustained, from just before the POST | count | errors | p50 | p99 | p99.9 | max",
        );
        t.row(s.every.row("every delivery (end to end)"));
        t.row(s.last.row("last delivery of each shift"));
        t.row(s.post.row("the POST → 201"));
        out.table(&t);
    }

    let o = &r.oracle;
    if let Some(rc) = &r.reconnect {
        writeln!(
            out,
            "**Reconnects with `resume`.** {} random shifts posted at {} a second while {} clients ({} %) closed their connections and reconnected with `resume {{ last_seq }}` (the committed position, per `api-spec/websocket.md`), {} times: {} closes, {} `resumed`, {} offers replayed; reconnect to `hello` {}; `resume` sent to `resumed` read {}; reconnects that failed: {}.\n",
            rc.posts,
            c.oracle_rate,
            thousands(rc.cohort),
            c.reconnect_percent,
            rc.cycles,
            rc.dropped,
            rc.resumed,
            rc.replayed_offers,
            p50_p99(rc.reconnect.as_ref()),
            p50_p99(rc.resume.as_ref()),
            list(&rc.reconnect_failed),
        );
    }
    writeln!(
        out,
        "**Delivery oracle.** The load generator decides on its own who must get each offer: the seeded data exported with psql (`crates/test-support/sql/oracle-world.sql`), its own eligibility rule and its own haversine distance; nurses within ±{} % of their radius are borderline (the server measures on the ellipsoid) and not judged. Every shift the run posted ({} shifts, {} POSTs failed) against every connected client ({}):\n",
        oracle::BORDERLINE * 100.0,
        thousands(o.shifts),
        o.post_errors,
        thousands(o.clients),
    );

    let mut t = Table::new("Phase | shifts | offers expected | missed | wrong | duplicates");
    for (p, s, e, m, w, d) in &o.by_phase {
        t.row(vec![
            p.clone(),
            thousands(*s),
            thousands(*e),
            m.to_string(),
            w.to_string(),
            d.to_string(),
        ]);
    }
    t.row(vec![
        "**all**".into(),
        thousands(o.shifts),
        thousands(o.expected),
        format!("**{}**", o.missed),
        format!("**{}**", o.wrong),
        format!("**{}**", o.duplicates),
    ]);
    out.table(&t);
    writeln!(
        out,
        "Borderline pairs: {} ({} of them offered); nurses with a live location (not judged): {}; offers of shifts the run did not post or to clients that never connected: {}; offers that came in a `resume` replay: {}; copies sent again because the connection that got the first ended before its `resumed` (the next `resume` covers that gap again, as `api-spec/websocket.md` says; not duplicates): {}.{}\n",
        thousands(o.borderline),
        o.borderline_delivered,
        o.unknown,
        o.strays,
        thousands(o.replayed),
        o.resent_after_drop,
        if o.examples.is_empty() {
            String::new()
        } else {
            format!(
                " Examples: {}.",
                o.examples
                    .iter()
                    .map(|(k, n, s)| format!("{k} nurse `{n}` shift `{s}`"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );

    if let Some(s) = &r.storm {
        let st = &s.report;
        writeln!(
            out,
            "**Claim storm** (after the WebSockets closed, so the server's sockets stay under its open-files limit): {} nurses of the {} group, each on a warm HTTP connection of its own, claim one new shift at their facility at once: {} × 201, {} × 409 `shift_taken`, other answers: {}; the winner's bookings list it: {}. Claim latency p50 {}, p99 {}, max {}. The floor of such a burst here: the same connections then send `GET /healthz` at once (no token, no database): p50 {}, p99 {}, last answer after {} ({} errors).\n",
            st.claimants,
            s.group,
            st.created,
            st.shift_taken,
            list(&st.unexpected),
            st.winner_booking_listed,
            ms(st.claims.latency_ms.p50),
            ms(st.claims.latency_ms.p99),
            ms(st.claims.latency_ms.max),
            ms(st.floor.latency_ms.p50),
            ms(st.floor.latency_ms.p99),
            ms(st.floor_all_answered_after_ms),
            st.floor.errors,
        );
    } else if let Some(e) = &r.storm_error {
        writeln!(out, "**The claim storm failed**: {e}.\n");
    }
    writeln!(
        out,
        "Connections the server ended (the clients reconnected with `resume`): {}. Other frames received: {}.\n",
        list(&r.connections_ended),
        list(&r.other_frames)
    );

    if r.ok {
        writeln!(
            out,
            "Every connection opened; the oracle found no missed, wrong or duplicate offer; every phase completed without errors."
        );
    } else {
        writeln!(
            out,
            "**SOMETHING FAILED: missed, wrong or duplicate offers, failed connections or requests, or a storm without exactly one booking; see above.**"
        );
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_duplicates_unless_a_connection_ended_before_its_resumed() {
        let conns = |pairs: &[(u32, u32)]| pairs.iter().copied().collect::<HashMap<u32, u32>>();
        let dropped = |ids: &'static [u32]| move |conn: u32| ids.contains(&conn);
        let count = |pairs: &[(u32, u32)], ids: &'static [u32]| {
            let c = Copies::count(&conns(pairs), dropped(ids));
            (c.duplicates, c.resent_after_drop)
        };
        assert_eq!(count(&[], &[]), (0, 0));
        assert_eq!(count(&[(1, 1)], &[]), (0, 0));
        // Twice on one connection: a duplicate, dropped before `resumed` or not.
        assert_eq!(count(&[(1, 2)], &[]), (1, 0));
        assert_eq!(count(&[(1, 2)], &[1]), (1, 0));
        // On two connections that both kept it: a duplicate.
        assert_eq!(count(&[(1, 1), (2, 1)], &[]), (1, 0));
        // The first ended before its `resumed`: the second resume covered the gap again.
        assert_eq!(count(&[(1, 1), (2, 1)], &[1]), (0, 1));
        assert_eq!(count(&[(1, 1), (2, 1), (3, 1)], &[1, 2]), (0, 2));
        assert_eq!(count(&[(1, 1), (2, 1)], &[1, 2]), (0, 1));
        // Two kept it and a third was dropped: one duplicate, one allowed copy.
        assert_eq!(count(&[(1, 1), (2, 1), (3, 1)], &[3]), (1, 1));
    }

    #[test]
    fn cpu_ticks_read_this_process() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }

    fn parse(extra: &[&str]) -> ScaleArgs {
        use clap::Parser;
        #[derive(Parser)]
        #[command(args_override_self = true)]
        struct Cli {
            #[command(flatten)]
            args: ScaleArgs,
        }
        let required = ["x", "--tokens", "t", "--world", "w", "--groups", "g"];
        let auth = ["--email", "s@example.com", "--password", "p"];
        Cli::parse_from(required.iter().chain(&auth).chain(extra)).args
    }

    #[test]
    fn the_default_run_ends_within_a_seeded_tokens_lifetime() {
        let args = parse(&[]);
        assert_eq!(args.connections, 19_000);
        assert_eq!(args.fanout_sizes, vec![100, 1000, 10_000]);
        // Tokens last 15 minutes from seeding; set-up takes under a minute of that.
        assert!(
            planned(&args) <= Duration::from_secs(14 * 60),
            "{:?}",
            planned(&args)
        );
    }

    #[test]
    fn the_realtime_preset_is_the_small_case_and_given_flags_win() {
        let args = parse(&["--preset", "realtime"]);
        assert_eq!((args.connections, args.workers, args.pings), (1001, 2, 20));
        assert_eq!(
            (args.fanout_sizes.as_slice(), args.fanout_rounds),
            (&[1000][..], 20)
        );
        assert_eq!(args.scenarios, [Phase::Idle, Phase::Latency, Phase::Fanout]);
        // The smoke run's flags, under their old `realtime` names too.
        let args = parse(&["--preset", "realtime", "--offers", "30", "--rounds", "3"]);
        assert_eq!((args.latency_posts, args.fanout_rounds), (30, 3));
        assert_eq!(parse(&["--fanout-rounds", "2"]).fanout_rounds, 2);
    }

    #[test]
    fn thousands_have_commas() {
        assert_eq!(thousands(19_000), "19,000");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
