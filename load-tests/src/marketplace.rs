//! The `marketplace` scenario: how fast is nearby search over a million open shifts, and
//! does a storm of simultaneous claims book a shift exactly once, and how fast?
//!
//! A baseline (`GET /healthz`, `GET /v1/me`) before any search; nearby searches one at a
//! time, from home and at points of the area, each followed by the baseline pair again;
//! concurrent searches by closed-loop clients; then claim storms, each claimant on a warm
//! connection of its own behind a barrier: exactly one 201, every other answer 409
//! `shift_taken`. `scripts/bench.sh marketplace` seeds the data and picks the storm shifts
//! and nurses with psql.

use crate::{
    net,
    report::{self, Markdown, Percentiles, Recorder, Stats, Table, ms, per_sec},
};
use anyhow::{Context, anyhow, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::Args;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{sync::Barrier, task::JoinSet, time::Instant};

/// Centre and half-width (degrees) of the area `shiftwire-loadgen seed` fills: the
/// San Francisco Bay Area. "At a point" searches are spread over it.
pub const CENTRE: (f64, f64) = (37.70, -122.20);
pub const SPREAD_DEG: f64 = 0.6;
/// Client timeout of one search or baseline request: above `scripts/bench.sh`'s
/// statement timeout (10 s), so a query the database cuts off shows as the server's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Client timeout of one claim: a storm's last answer waits for all the others.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of one storm: opening the connections, the claims, and the winner's check.
const STORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of reading every claimant's bookings after the storms.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Concurrent readers of the claimants' bookings after the storms.
const CHECK_WORKERS: u64 = 16;
/// Added to the planned length of the run for its hard cap.
const HARD_CAP_SLACK: Duration = Duration::from_secs(60);
/// The error code of a claim that lost the race.
const SHIFT_TAKEN: &str = "shift_taken";

#[derive(Args, Debug, Clone, Serialize)]
pub struct MarketplaceArgs {
    /// Server under test; loopback addresses only.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base_url: String,
    /// `id<TAB>access-token` lines of synthetic nurses, from
    /// `shiftwire-loadgen seed --shifts N --tokens-out FILE` (tokens last 15 minutes).
    #[arg(long)]
    tokens: PathBuf,
    /// Nurse ids, one per line, that claim in the storms (and so do not search from
    /// home: their homes were moved to the storm facility). Without it, no storms.
    #[arg(long, requires = "storm_shifts")]
    storm_nurses: Option<PathBuf>,
    /// Shift ids, one per line, one storm each: open, every storm nurse eligible, no two
    /// overlapping in time (the winner of one storm claims in the next).
    #[arg(long, requires = "storm_nurses")]
    storm_shifts: Option<PathBuf>,
    /// Storms to run (at most one per storm shift); 0 skips them.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=50))]
    storms: u64,
    /// Nurses that claim each storm shift at once.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    claimants: u64,
    /// `GET /healthz` + `GET /v1/me` pairs timed before any search (the phase also ends
    /// after --phase-secs).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    baseline_requests: u64,
    /// Most searches in each nearby phase (the phase also ends after --phase-secs).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    nearby_requests: u64,
    /// Length cap of each nearby phase, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=300))]
    phase_secs: u64,
    /// Closed-loop clients in the concurrent nearby phase.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    concurrency: u64,
    /// Unmeasured nearby searches before the phases, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=120))]
    warmup_secs: u64,
    #[command(flatten)]
    #[serde(flatten)]
    out: report::Outputs,
}

/// A synthetic nurse and their access token.
#[derive(Debug, Clone)]
pub struct Nurse {
    pub(crate) id: String,
    pub(crate) token: String,
}

/// What a phase has each nurse do, in turn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// A nearby search from the nurse's home (no `lat`/`lon`).
    FromHome,
    /// A nearby search at the `i`-th pseudo-random point of the area.
    AtPoint,
    /// The baseline pair: the nurse's `GET /v1/me`, then `GET /healthz`.
    Baseline,
}

/// Counts of the items nearby searches returned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Items {
    pages: u64,
    items: u64,
    /// Pages with no shift at all.
    empty: u64,
    /// Pages with a `next_cursor`: more shifts than one page (50) within reach.
    full: u64,
    max: u64,
}

impl Items {
    fn add(&mut self, n: u64, more: bool) {
        self.pages += 1;
        self.items += n;
        self.empty += u64::from(n == 0);
        self.full += u64::from(more);
        self.max = self.max.max(n);
    }

    fn merge(&mut self, other: &Items) {
        self.pages += other.pages;
        self.items += other.items;
        self.empty += other.empty;
        self.full += other.full;
        self.max = self.max.max(other.max);
    }

    pub fn mean(&self) -> f64 {
        if self.pages == 0 {
            0.0
        } else {
            self.items as f64 / self.pages as f64
        }
    }
}

/// What one nearby phase (or one of its clients) saw.
#[derive(Default)]
struct Observed {
    nearby: Recorder,
    /// How long the searches that failed took to fail (their answer or the client's
    /// timeout).
    failed: Recorder,
    items: Items,
    healthz: Recorder,
    me: Recorder,
    elapsed: Duration,
}

impl Observed {
    fn merge(&mut self, other: &Observed) {
        self.nearby.merge(&other.nearby);
        self.failed.merge(&other.failed);
        self.items.merge(&other.items);
        self.healthz.merge(&other.healthz);
        self.me.merge(&other.me);
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    fn report(&self, searchers: usize, clients: u64) -> NearbyReport {
        NearbyReport {
            searchers,
            clients,
            nearby: self.nearby.stats(self.elapsed),
            failed_after_ms: self.failed.percentiles(),
            items: self.items.clone(),
            items_mean: self.items.mean(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NearbyReport {
    /// Distinct nurses searching, in turn.
    searchers: usize,
    clients: u64,
    /// `GET /v1/shifts/nearby` answered 200; latency to the last byte of the answer.
    nearby: Stats,
    /// Time to failure of the searches that failed.
    failed_after_ms: Percentiles,
    items: Items,
    items_mean: f64,
}

#[derive(Debug, Serialize)]
pub struct StormReport {
    pub(crate) shift_id: String,
    pub(crate) claimants: u64,
    /// 201 answers: exactly one is right.
    pub(crate) created: u64,
    /// 409 `shift_taken` answers: every other one is right.
    pub(crate) shift_taken: u64,
    /// Any other answer, by kind (`HTTP 409 schedule_conflict`, `timeout`, ...).
    pub(crate) unexpected: BTreeMap<String, u64>,
    /// Every claim answered 201 or 409 `shift_taken`, timed from just before its send
    /// to the last byte; the rate is answers per second from the release to the last
    /// answer.
    pub(crate) claims: Stats,
    /// From the barrier's release to the 201 answer.
    pub(crate) winner_answered_after_ms: Option<f64>,
    /// From the barrier's release to the last claim's send: the load generator's own
    /// spread in sending.
    pub(crate) last_sent_after_ms: f64,
    /// From the barrier's release to the last answer.
    pub(crate) all_answered_after_ms: f64,
    /// The winner's `GET /v1/me/bookings` lists a `booked` booking of this shift.
    pub(crate) winner_booking_listed: bool,
    /// Warm-up `GET /healthz` that failed (the claimant then connected during its claim).
    pub(crate) warm_up_errors: u64,
    /// After the claims, the same connections send `GET /healthz` at once (no token, no
    /// database): the floor of a burst this size on this machine, timed like the claims.
    pub(crate) floor: Stats,
    /// From that burst's release to its last answer.
    pub(crate) floor_all_answered_after_ms: f64,
    /// Exactly one 201, every other answer 409 `shift_taken`, the winner's booking listed.
    pub(crate) ok: bool,
}

#[derive(Debug, Serialize)]
pub struct BookingCheck {
    /// Claimants whose `GET /v1/me/bookings` answered.
    claimants_read: u64,
    errors: u64,
    /// Bookings of each storm shift across all claimants (exactly one each is right).
    bookings_per_shift: BTreeMap<String, u64>,
    ok: bool,
}

#[derive(Debug, Serialize)]
pub struct MarketplaceReport {
    scenario: &'static str,
    started_at: String,
    config: MarketplaceArgs,
    nurses: usize,
    storm_nurses: usize,
    /// Seconds from the start of the run until the first seeded token expires.
    tokens_valid_for_secs: u64,
    warmup: Stats,
    /// Sequential: by the nurses not in the storms, from home.
    nearby_home: NearbyReport,
    /// Sequential: by every nurse, at pseudo-random points of the area.
    nearby_point: NearbyReport,
    /// `--concurrency` closed-loop clients, from home.
    nearby_concurrent: NearbyReport,
    /// `GET /healthz`, one at a time before any search.
    baseline_healthz: Stats,
    /// `GET /v1/me` by the nurses in turn, one at a time before any search.
    baseline_me: Stats,
    /// `GET /healthz` after each sequential search.
    between_healthz: Stats,
    /// `GET /v1/me` of the searching nurse after each sequential search.
    between_me: Stats,
    storms: Vec<StormReport>,
    /// Every storm's claims together.
    claims: Stats,
    booking_check: Option<BookingCheck>,
    /// Every storm booked its shift exactly once, and nothing unexpected was answered.
    storms_ok: bool,
}

pub async fn run(args: MarketplaceArgs) -> anyhow::Result<()> {
    let base = net::loopback_base_url(&args.base_url)?;
    let nurses = read_tokens(&args.tokens)?;
    let (storm_nurses, storm_shifts) = match (&args.storm_nurses, &args.storm_shifts) {
        (Some(n), Some(s)) => (read_ids(n)?, read_ids(s)?),
        _ => (Vec::new(), Vec::new()),
    };
    let storms = if storm_shifts.is_empty() {
        0
    } else {
        usize::try_from(args.storms)?
    };
    if storms > storm_shifts.len() {
        bail!(
            "--storms {storms} needs as many storm shifts, but {} lists {}",
            path_shown(args.storm_shifts.as_deref()),
            storm_shifts.len()
        );
    }
    let split = split_nurses(
        &nurses,
        &storm_nurses,
        usize::try_from(args.claimants)?,
        storms,
    )?;

    let plan = planned(&args, storms);
    let hard_cap = plan + HARD_CAP_SLACK;
    let tokens_valid_for = tokens_valid_for(&nurses)?;
    if tokens_valid_for < hard_cap {
        bail!(
            "the access tokens in {} expire in {}s, but this run may take up to {}s: \
             seed again (`shiftwire-loadgen seed --shifts ... --tokens-out ...`) right before the run",
            args.tokens.display(),
            tokens_valid_for.as_secs(),
            hard_cap.as_secs()
        );
    }
    eprintln!(
        "marketplace benchmark against {base}: {} nurses ({} search from home), \
         {} storms of {} claimants; hard cap {}s, tokens valid for {}s",
        nurses.len(),
        split.home.len(),
        storms,
        args.claimants,
        hard_cap.as_secs(),
        tokens_valid_for.as_secs()
    );
    let run = phases(&args, &base, nurses, split, storm_shifts, storms);
    let report = net::within(hard_cap, "the run", run).await?;
    let report = MarketplaceReport {
        tokens_valid_for_secs: tokens_valid_for.as_secs(),
        ..report
    };

    let markdown = markdown(&report);
    if !report.storms_ok {
        eprintln!(
            "marketplace: A CLAIM STORM DID NOT END WITH EXACTLY ONE BOOKING AND {} × 409 {SHIFT_TAKEN}; see the report",
            args.claimants - 1
        );
    }
    args.out.publish(&report, &markdown)
}

/// How long the run should take at most, before the slack of the hard cap.
fn planned(args: &MarketplaceArgs, storms: usize) -> Duration {
    let phase = Duration::from_secs(args.phase_secs) + REQUEST_TIMEOUT;
    Duration::from_secs(args.warmup_secs)
        + REQUEST_TIMEOUT
        + 4 * phase
        + u32::try_from(storms).unwrap_or(u32::MAX) * STORM_TIMEOUT
        + if storms > 0 {
            CHECK_TIMEOUT
        } else {
            Duration::ZERO
        }
}

/// Which nurses search from home, and which claim in the storms.
#[derive(Debug)]
struct Split {
    /// Nurses not in the storms: their homes are where the seed put them.
    home: Vec<Nurse>,
    /// The first `--claimants` storm nurses (empty without storms).
    claimants: Vec<Nurse>,
}

fn split_nurses(
    nurses: &[Nurse],
    storm_ids: &[String],
    claimants: usize,
    storms: usize,
) -> anyhow::Result<Split> {
    let by_id: HashMap<&str, &Nurse> = nurses.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut picked = Vec::new();
    for id in storm_ids {
        match by_id.get(id.as_str()) {
            Some(nurse) => picked.push((*nurse).clone()),
            None => bail!("storm nurse {id} has no token in the tokens file"),
        }
    }
    if storms > 0 && picked.len() < claimants {
        bail!(
            "{claimants} claimants per storm, but only {} storm nurses",
            picked.len()
        );
    }
    let in_storm: std::collections::HashSet<&str> = storm_ids.iter().map(String::as_str).collect();
    let home: Vec<Nurse> = nurses
        .iter()
        .filter(|n| !in_storm.contains(n.id.as_str()))
        .cloned()
        .collect();
    if home.is_empty() {
        bail!("every nurse is a storm nurse: none is left to search from home");
    }
    picked.truncate(if storms > 0 { claimants } else { 0 });
    Ok(Split {
        home,
        claimants: picked,
    })
}

/// Where the requests go.
pub(crate) struct Target {
    pub(crate) client: reqwest::Client,
    pub(crate) base: reqwest::Url,
    pub(crate) nearby: reqwest::Url,
    pub(crate) healthz: reqwest::Url,
    pub(crate) me: reqwest::Url,
    pub(crate) bookings: reqwest::Url,
}

impl Target {
    /// A `GET` of `url` as `nurse`.
    fn get(&self, url: &reqwest::Url, nurse: &Nurse) -> reqwest::RequestBuilder {
        self.client.get(url.clone()).bearer_auth(&nurse.token)
    }

    pub(crate) fn new(base: &reqwest::Url) -> anyhow::Result<Self> {
        Ok(Self {
            client: net::client(REQUEST_TIMEOUT)?,
            base: base.clone(),
            nearby: base.join("/v1/shifts/nearby")?,
            healthz: base.join("/healthz")?,
            me: base.join("/v1/me")?,
            bookings: base.join("/v1/me/bookings?limit=200")?,
        })
    }
}

async fn phases(
    args: &MarketplaceArgs,
    base: &reqwest::Url,
    nurses: Vec<Nurse>,
    split: Split,
    storm_shifts: Vec<String>,
    storms: usize,
) -> anyhow::Result<MarketplaceReport> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let target = Arc::new(Target::new(base)?);
    net::server_up(&target.client, &target.healthz).await?;
    let first = &split.home[0];
    net::outcome(target.get(&target.me, first), StatusCode::OK)
        .await
        .map_err(|e| {
            anyhow!(
                "GET /v1/me as nurse {} failed ({e}): was the tokens file written for this \
             server's database and JWT secret?",
                first.id
            )
        })?;
    let all = Arc::new(nurses);
    let home = Arc::new(split.home);
    let phase = Duration::from_secs(args.phase_secs);

    eprintln!(
        "baseline: {} × GET /healthz and GET /v1/me, one at a time",
        args.baseline_requests
    );
    let alone = sequential(
        &target,
        &all,
        &[Step::Baseline],
        args.baseline_requests,
        phase,
    )
    .await;

    eprintln!("warm-up: nearby searches for {}s", args.warmup_secs);
    let warmup_secs = Duration::from_secs(args.warmup_secs);
    let warmup = sequential(&target, &home, &[Step::FromHome], u64::MAX, warmup_secs).await;

    eprintln!(
        "phase 1/3: nearby from home, one at a time, by {} nurses (up to {} searches or {}s)",
        home.len(),
        args.nearby_requests,
        args.phase_secs
    );
    let (count, steps) = (args.nearby_requests, [Step::FromHome, Step::Baseline]);
    let seq_home = sequential(&target, &home, &steps, count, phase).await;
    eprintln!(
        "phase 2/3: nearby at points of the area, one at a time, by {} nurses",
        all.len()
    );
    let steps = [Step::AtPoint, Step::Baseline];
    let seq_point = sequential(&target, &all, &steps, count, phase).await;
    eprintln!(
        "phase 3/3: nearby from home by {} concurrent clients",
        args.concurrency
    );
    let conc = concurrent(
        &target,
        &home,
        args.nearby_requests,
        phase,
        args.concurrency,
    )
    .await;

    let claimants = Arc::new(split.claimants);
    let mut storm_reports = Vec::new();
    let mut claims = Recorder::new();
    let mut claims_elapsed = Duration::ZERO;
    for (i, shift) in storm_shifts.iter().take(storms).enumerate() {
        eprintln!(
            "storm {}/{storms}: {} nurses claim shift {shift} at once",
            i + 1,
            claimants.len()
        );
        let storming = storm(&target, &claimants, shift);
        let (report, recorder, elapsed) =
            net::within(STORM_TIMEOUT, &format!("storm {}", i + 1), storming).await?;
        eprintln!(
            "storm {}/{storms}: {} × 201, {} × 409 {SHIFT_TAKEN}, {} other; last answer after {}",
            i + 1,
            report.created,
            report.shift_taken,
            report.unexpected.values().sum::<u64>(),
            ms(report.all_answered_after_ms)
        );
        claims.merge(&recorder);
        claims_elapsed += elapsed;
        storm_reports.push(report);
    }
    let booking_check = if storms > 0 {
        eprintln!(
            "check: every claimant's bookings ({} nurses)",
            claimants.len()
        );
        let shifts: Vec<String> = storm_shifts.iter().take(storms).cloned().collect();
        let reading = async { Ok(check_bookings(&target, &claimants, &shifts).await) };
        Some(net::within(CHECK_TIMEOUT, "reading the claimants' bookings", reading).await?)
    } else {
        None
    };
    let storms_ok =
        storm_reports.iter().all(|s| s.ok) && booking_check.as_ref().is_none_or(|c| c.ok);

    let mut between = Observed::default();
    between.merge(&seq_home);
    between.merge(&seq_point);
    let between_elapsed = seq_home.elapsed + seq_point.elapsed;
    Ok(MarketplaceReport {
        scenario: "marketplace",
        started_at,
        config: args.clone(),
        nurses: all.len(),
        storm_nurses: claimants.len(),
        tokens_valid_for_secs: 0,
        warmup: warmup.nearby.stats(warmup.elapsed),
        nearby_home: seq_home.report(home.len(), 1),
        nearby_point: seq_point.report(all.len(), 1),
        nearby_concurrent: conc.report(home.len(), args.concurrency),
        baseline_healthz: alone.healthz.stats(alone.elapsed),
        baseline_me: alone.me.stats(alone.elapsed),
        between_healthz: between.healthz.stats(between_elapsed),
        between_me: between.me.stats(between_elapsed),
        storms: storm_reports,
        claims: claims.stats(claims_elapsed),
        booking_check,
        storms_ok,
    })
}

#[derive(Deserialize)]
struct NearbyPage {
    items: Vec<serde::de::IgnoredAny>,
    next_cursor: Option<String>,
}

/// One timed nearby search, from home or at the `i`-th point of the area.
async fn search(target: &Target, nurse: &Nurse, step: Step, i: u64, seen: &mut Observed) {
    let mut url = target.nearby.clone();
    if step == Step::AtPoint {
        let (lat, lon) = search_point(i);
        url.query_pairs_mut()
            .append_pair("lat", &format!("{lat:.5}"))
            .append_pair("lon", &format!("{lon:.5}"));
    }
    let sending = Instant::now();
    let page: Result<NearbyPage, String> = net::json(target.get(&url, nurse), StatusCode::OK).await;
    let took = sending.elapsed();
    match page {
        Ok(page) => {
            seen.items
                .add(page.items.len() as u64, page.next_cursor.is_some());
            seen.nearby.record(took, Ok(()));
        }
        Err(error) => {
            seen.failed.record(took, Ok(()));
            seen.nearby.record(took, Err(error));
        }
    }
}

/// `steps` for `nurses` in turn, one at a time, until `count` nurses had their turn or
/// `duration` passed.
async fn sequential(
    target: &Target,
    nurses: &[Nurse],
    steps: &[Step],
    count: u64,
    duration: Duration,
) -> Observed {
    let mut seen = Observed::default();
    let started = Instant::now();
    let deadline = started + duration;
    let mut i = 0;
    while i < count && Instant::now() < deadline {
        let nurse = &nurses[(i % nurses.len() as u64) as usize];
        for &step in steps {
            if step != Step::Baseline {
                search(target, nurse, step, i, &mut seen).await;
                continue;
            }
            let sending = Instant::now();
            let outcome = net::outcome(target.get(&target.me, nurse), StatusCode::OK).await;
            seen.me.record(sending.elapsed(), outcome);
            let healthz = target.client.get(target.healthz.clone());
            let sending = Instant::now();
            let outcome = net::outcome(healthz, StatusCode::OK).await;
            seen.healthz.record(sending.elapsed(), outcome);
        }
        i += 1;
    }
    // The rate's wall time includes any baseline pairs (milliseconds each).
    seen.elapsed = started.elapsed();
    seen
}

/// `clients` closed-loop clients searching from home, by `nurses` in turn.
async fn concurrent(
    target: &Arc<Target>,
    nurses: &Arc<Vec<Nurse>>,
    count: u64,
    duration: Duration,
    clients: u64,
) -> Observed {
    let (target, nurses, started) = (target.clone(), nurses.clone(), Instant::now());
    let work = move |i, mut seen: Observed| {
        let (target, nurses) = (target.clone(), nurses.clone());
        async move {
            let nurse = &nurses[(i % nurses.len() as u64) as usize];
            search(&target, nurse, Step::FromHome, i, &mut seen).await;
            seen.elapsed = started.elapsed();
            seen
        }
    };
    let (tallies, _) = net::closed_loop(clients, count, started + duration, work).await;
    let mut all = Observed::default();
    for tally in tallies {
        match tally {
            Ok(seen) => all.merge(&seen),
            Err(error) => all.nearby.error(error, 1),
        }
    }
    all
}

/// How one claim ended.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// 201, with the booking's id.
    Won(String),
    /// 409 `shift_taken`.
    Taken,
    /// Anything else, by kind.
    Unexpected(String),
}

#[derive(Deserialize)]
struct BookingAnswer {
    id: String,
    status: String,
    shift: BookingShift,
}

#[derive(Deserialize)]
struct BookingShift {
    id: String,
}

#[derive(Deserialize)]
struct ProblemAnswer {
    code: String,
}

/// What a claim's answer means.
fn verdict(status: StatusCode, body: &[u8], shift_id: &str) -> Verdict {
    match status {
        StatusCode::CREATED => match serde_json::from_slice::<BookingAnswer>(body) {
            Ok(b) if b.shift.id == shift_id && b.status == "booked" => Verdict::Won(b.id),
            Ok(b) => Verdict::Unexpected(format!(
                "HTTP 201 for shift {} with status {}",
                b.shift.id, b.status
            )),
            Err(_) => Verdict::Unexpected("HTTP 201 with an unexpected body".into()),
        },
        _ => match serde_json::from_slice::<ProblemAnswer>(body) {
            Ok(p) if status == StatusCode::CONFLICT && p.code == SHIFT_TAKEN => Verdict::Taken,
            Ok(p) => Verdict::Unexpected(format!("HTTP {} {}", status.as_u16(), p.code)),
            Err(_) => Verdict::Unexpected(format!("HTTP {}", status.as_u16())),
        },
    }
}

/// One claim as the claimant saw it.
struct Claim {
    nurse: usize,
    sent: Instant,
    answered: Instant,
    verdict: Verdict,
}

/// `claimants` claim `shift_id` at once. Returns the report, the claims' recorder and the
/// storm's wall time (release to last answer).
pub(crate) async fn storm(
    target: &Arc<Target>,
    claimants: &Arc<Vec<Nurse>>,
    shift_id: &str,
) -> anyhow::Result<(StormReport, Recorder, Duration)> {
    let claim_url = target
        .base
        .join(&format!("/v1/shifts/{shift_id}/claim"))
        .context("storm shift id")?;
    let n = claimants.len();
    // One client for the storm, whose pool keeps a warm connection per claimant: all
    // claimants send a `GET /healthz` at once, so each needs a connection of its own.
    let client = net::client(CLAIM_TIMEOUT)?;
    let warm = Arc::new(Barrier::new(n));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (client, url, warm) = (client.clone(), target.healthz.clone(), warm.clone());
        set.spawn(async move {
            warm.wait().await;
            net::outcome(client.get(url), StatusCode::OK).await
        });
    }
    let mut warm_up_errors = 0;
    while let Some(joined) = set.join_next().await {
        if !matches!(joined, Ok(Ok(()))) {
            warm_up_errors += 1;
        }
    }

    let go = Arc::new(Barrier::new(n + 1));
    let mut set = JoinSet::new();
    for nurse in 0..n {
        let (client, url, go, claimants) = (
            client.clone(),
            claim_url.clone(),
            go.clone(),
            claimants.clone(),
        );
        let shift_id = shift_id.to_owned();
        set.spawn(async move {
            go.wait().await;
            let sent = Instant::now();
            let answer = net::answer(client.post(url).bearer_auth(&claimants[nurse].token)).await;
            let answered = Instant::now();
            let verdict = match answer {
                Ok((status, body)) => verdict(status, &body, &shift_id),
                Err(kind) => Verdict::Unexpected(kind),
            };
            Claim {
                nurse,
                sent,
                answered,
                verdict,
            }
        });
    }
    go.wait().await;
    let released = Instant::now();
    let mut claims = Vec::with_capacity(n);
    let mut recorder = Recorder::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(claim) => claims.push(claim),
            Err(error) => recorder.error(format!("claimant failed: {error}"), 1),
        }
    }

    let mut created = 0;
    let mut shift_taken = 0;
    let mut unexpected: BTreeMap<String, u64> = BTreeMap::new();
    let mut winners = Vec::new();
    let mut last_sent = released;
    let mut last_answer = released;
    for claim in &claims {
        last_sent = last_sent.max(claim.sent);
        last_answer = last_answer.max(claim.answered);
        let took = claim.answered - claim.sent;
        match &claim.verdict {
            Verdict::Won(booking) => {
                created += 1;
                winners.push((claim.nurse, booking.clone(), claim.answered));
                recorder.record(took, Ok(()));
            }
            Verdict::Taken => {
                shift_taken += 1;
                recorder.record(took, Ok(()));
            }
            Verdict::Unexpected(kind) => {
                *unexpected.entry(kind.clone()).or_default() += 1;
                recorder.record(took, Err(kind.clone()));
            }
        }
    }
    let failed_tasks = n as u64 - claims.len() as u64;
    if failed_tasks > 0 {
        *unexpected.entry("claimant failed".into()).or_default() += failed_tasks;
    }
    let elapsed = last_answer - released;

    // The winner's own view: their bookings list this one, booked.
    let mut winner_booking_listed = false;
    if let [(nurse, booking, _)] = winners.as_slice() {
        let winner = target.get(&target.bookings, &claimants[*nurse]);
        let listed: Result<BookingsPage, String> = net::json(winner, StatusCode::OK).await;
        winner_booking_listed = listed.is_ok_and(|page| {
            page.items
                .iter()
                .any(|b| &b.id == booking && b.shift.id == shift_id && b.status == "booked")
        });
    }
    let (floor, floor_elapsed) = healthz_burst(&client, &target.healthz, n).await;
    let ok = created == 1
        && shift_taken == n as u64 - 1
        && unexpected.is_empty()
        && winner_booking_listed;
    let since_release = |at: Instant| (at - released).as_secs_f64() * 1000.0;
    Ok((
        StormReport {
            shift_id: shift_id.to_owned(),
            claimants: n as u64,
            created,
            shift_taken,
            unexpected,
            claims: recorder.stats(elapsed),
            winner_answered_after_ms: winners.first().map(|(_, _, at)| since_release(*at)),
            last_sent_after_ms: since_release(last_sent),
            all_answered_after_ms: since_release(last_answer),
            winner_booking_listed,
            warm_up_errors,
            floor: floor.stats(floor_elapsed),
            floor_all_answered_after_ms: floor_elapsed.as_secs_f64() * 1000.0,
            ok,
        },
        recorder,
        elapsed,
    ))
}

/// `n` tasks send `GET /healthz` at once on `client`'s warm connections. Returns their
/// latencies and the time from the release to the last answer.
async fn healthz_burst(
    client: &reqwest::Client,
    url: &reqwest::Url,
    n: usize,
) -> (Recorder, Duration) {
    let go = Arc::new(Barrier::new(n + 1));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (client, url, go) = (client.clone(), url.clone(), go.clone());
        set.spawn(async move {
            go.wait().await;
            let sent = Instant::now();
            let outcome = net::outcome(client.get(url), StatusCode::OK).await;
            let answered = Instant::now();
            (answered, answered - sent, outcome)
        });
    }
    go.wait().await;
    let released = Instant::now();
    let mut recorder = Recorder::new();
    let mut last = released;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((answered, took, outcome)) => {
                last = last.max(answered);
                recorder.record(took, outcome);
            }
            Err(error) => recorder.error(format!("burst task failed: {error}"), 1),
        }
    }
    (recorder, last - released)
}

#[derive(Deserialize)]
struct BookingsPage {
    items: Vec<BookingAnswer>,
}

/// Reads every claimant's bookings and counts those of each storm shift.
async fn check_bookings(
    target: &Arc<Target>,
    claimants: &Arc<Vec<Nurse>>,
    shifts: &[String],
) -> BookingCheck {
    let (target, nurses) = (target.clone(), claimants.clone());
    // Per reader: the shifts its claimants have booked, bookings read, errors.
    let work = move |i, (mut booked, mut read, mut errors): (Vec<String>, u64, u64)| {
        let (target, nurses) = (target.clone(), nurses.clone());
        async move {
            let request = target.get(&target.bookings, &nurses[i as usize]);
            match net::json::<BookingsPage>(request, StatusCode::OK).await {
                Ok(page) => {
                    read += 1;
                    let items = page.items.into_iter().filter(|b| b.status == "booked");
                    booked.extend(items.map(|b| b.shift.id));
                }
                Err(_) => errors += 1,
            }
            (booked, read, errors)
        }
    };
    let (n, deadline) = (claimants.len() as u64, Instant::now() + CHECK_TIMEOUT);
    let (tallies, _) = net::closed_loop(CHECK_WORKERS, n, deadline, work).await;
    let mut bookings_per_shift: BTreeMap<String, u64> =
        shifts.iter().map(|s| (s.clone(), 0)).collect();
    let (mut claimants_read, mut errors) = (0, 0);
    for tally in tallies {
        let Ok((booked, read, failed)) = tally else {
            errors += 1;
            continue;
        };
        claimants_read += read;
        errors += failed;
        for shift in booked {
            if let Some(count) = bookings_per_shift.get_mut(&shift) {
                *count += 1;
            }
        }
    }
    let ok = errors == 0 && claimants_read == n && bookings_per_shift.values().all(|&n| n == 1);
    BookingCheck {
        claimants_read,
        errors,
        bookings_per_shift,
        ok,
    }
}

/// The `i`-th search point: pseudo-random (splitmix64 of `i`), uniform over the seeded
/// area, the same in every run.
pub fn search_point(i: u64) -> (f64, f64) {
    let unit = |x: u64| (splitmix64(x) >> 11) as f64 / (1u64 << 53) as f64;
    let lat = CENTRE.0 + (unit(2 * i) * 2.0 - 1.0) * SPREAD_DEG;
    let lon = CENTRE.1 + (unit(2 * i + 1) * 2.0 - 1.0) * SPREAD_DEG;
    (lat, lon)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `id<TAB>token` lines.
pub fn parse_tokens(text: &str) -> anyhow::Result<Vec<Nurse>> {
    let mut nurses = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (id, token) = line
            .split_once('\t')
            .ok_or_else(|| anyhow!("line {}: expected `id<TAB>token`", n + 1))?;
        nurses.push(Nurse {
            id: id.trim().to_owned(),
            token: token.trim().to_owned(),
        });
    }
    if nurses.is_empty() {
        bail!("no tokens");
    }
    Ok(nurses)
}

pub(crate) fn read_tokens(path: &Path) -> anyhow::Result<Vec<Nurse>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_tokens(&text).with_context(|| format!("in {}", path.display()))
}

/// One id per line (blank lines skipped).
fn read_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ids = text.lines().map(str::trim).filter(|l| !l.is_empty());
    Ok(ids.map(str::to_owned).collect())
}

fn path_shown(path: Option<&Path>) -> String {
    path.map_or_else(|| "-".into(), |p| p.display().to_string())
}

/// How long until the first of the tokens expires (their `exp` claim; the signature is
/// the server's business).
pub(crate) fn tokens_valid_for(nurses: &[Nurse]) -> anyhow::Result<Duration> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut first = u64::MAX;
    for nurse in nurses {
        let exp = token_expiry(&nurse.token)
            .ok_or_else(|| anyhow!("the token of nurse {} is not a JWT with `exp`", nurse.id))?;
        first = first.min(exp);
    }
    Ok(Duration::from_secs(first.saturating_sub(now)))
}

/// The `exp` claim of a JWT, unverified.
pub fn token_expiry(token: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Claims {
        exp: u64,
    }
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<Claims>(&payload)
        .ok()
        .map(|c| c.exp)
}

fn markdown(r: &MarketplaceReport) -> String {
    let c = &r.config;
    let mut out = Markdown::default();
    writeln!(
        out,
        "{} synthetic nurses (access tokens from `shiftwire-loadgen seed`). Nearby \
         searches use the default radius (the nurse's `max_distance_km`, 10–50 km) and \
         page size (50), each by the next nurse in turn: \"from home\" (no `lat`/`lon`) \
         by the {} nurses not in the storms, \"at a point\" (`lat`/`lon` pseudo-random \
         within 37.70 ± 0.6°, −122.20 ± 0.6°) by all {}. Each phase runs {} searches or \
         {} s, whichever ends first, after {} s of unmeasured searches ({}, of which {} \
         failed).\n",
        r.nurses,
        r.nearby_home.searchers,
        r.nurses,
        c.nearby_requests,
        c.phase_secs,
        c.warmup_secs,
        r.warmup.requests,
        r.warmup.errors
    );

    let mut nearby = Table::new(
        "`GET /v1/shifts/nearby` | searches | errors | searches/s | items (mean) | empty pages \
         | full pages | p50 | p90 | p99 | p99.9 | max | errors answered after (p50, max)",
    );
    let share = |n: u64, of: u64| {
        if of == 0 {
            "–".to_owned()
        } else {
            format!("{:.0}%", n as f64 * 100.0 / of as f64)
        }
    };
    for (name, p) in [
        ("sequential, from home".to_owned(), &r.nearby_home),
        ("sequential, at a point".to_owned(), &r.nearby_point),
        (
            format!("{} concurrent clients, from home", c.concurrency),
            &r.nearby_concurrent,
        ),
    ] {
        let l = &p.nearby.latency_ms;
        nearby.row(vec![
            name,
            p.nearby.requests.to_string(),
            p.nearby.errors_cell(),
            per_sec(p.nearby.ok_per_sec),
            format!("{:.1}", p.items_mean),
            share(p.items.empty, p.items.pages),
            share(p.items.full, p.items.pages),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            if p.nearby.errors == 0 {
                "–".into()
            } else {
                format!(
                    "{}, {}",
                    ms(p.failed_after_ms.p50),
                    ms(p.failed_after_ms.max)
                )
            },
        ]);
    }
    out.table(&nearby);

    let mut base =
        Table::new("Baseline, one at a time | requests | errors | p50 | p90 | p99 | p99.9 | max");
    for (name, s) in [
        (
            "`GET /healthz` (no auth, no database), before any search",
            &r.baseline_healthz,
        ),
        (
            "`GET /v1/me` (token check, user lookup, profile), by the nurses in turn, before any search",
            &r.baseline_me,
        ),
        (
            "`GET /healthz`, after each sequential search",
            &r.between_healthz,
        ),
        (
            "`GET /v1/me` of the nurse who just searched, after each sequential search",
            &r.between_me,
        ),
    ] {
        let l = &s.latency_ms;
        base.row(vec![
            name.to_owned(),
            s.requests.to_string(),
            s.errors_cell(),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
        ]);
    }
    out.table(&base);
    let (home, point) = (&r.nearby_home.nearby, &r.nearby_point.nearby);
    // The goal of nearby search over 1,000,000 open shifts, sequential, over HTTP.
    const GOAL_P99_MS: f64 = 2.0;
    let met = |s: &Stats| s.ok > 0 && s.errors == 0 && s.latency_ms.p99 <= GOAL_P99_MS;
    let verdict = if met(home) && met(point) {
        "met"
    } else {
        "**not met**"
    };
    let p99 = |s: &Stats| {
        if s.ok == 0 {
            "no successful search".to_owned()
        } else {
            ms(s.latency_ms.p99)
        }
    };
    writeln!(
        out,
        "Goal nearby p99 ≤ {GOAL_P99_MS} ms (sequential, no errors): {verdict} (p99 {} from \
         home, {} at a point, {} and {} errors; `GET /v1/me` alone p50 {}, p99 {}).\n",
        p99(home),
        p99(point),
        home.errors,
        point.errors,
        ms(r.baseline_me.latency_ms.p50),
        ms(r.baseline_me.latency_ms.p99),
    );

    let fewest = [&r.nearby_home, &r.nearby_point, &r.nearby_concurrent]
        .iter()
        .map(|p| p.nearby.ok)
        .min()
        .unwrap_or(0);
    if fewest < 100 {
        writeln!(
            out,
            "Few searches succeeded (as few as {fewest} in a phase): their percentiles are the \
             slowest few answers, not a distribution. Errors are answers other than 200 \
             (or none within {} s); latencies and item counts are of the 200s only.\n",
            REQUEST_TIMEOUT.as_secs()
        );
    }

    if r.storms.is_empty() {
        writeln!(out, "No claim storms in this run.");
        return out.finish();
    }
    let mut storms = Table::new(
        "Claim storm | claimants | 201 | 409 `shift_taken` | other | winner's 201 after \
         | last sent after | last answer after | claim p50 | p90 | p99 | max \
         | winner's booking listed",
    );
    for (i, s) in r.storms.iter().enumerate() {
        let l = &s.claims.latency_ms;
        let other: u64 = s.unexpected.values().sum();
        storms.row(vec![
            (i + 1).to_string(),
            s.claimants.to_string(),
            s.created.to_string(),
            s.shift_taken.to_string(),
            if other == 0 {
                "0".into()
            } else {
                s.claims.errors_cell()
            },
            s.winner_answered_after_ms.map_or_else(|| "–".into(), ms),
            ms(s.last_sent_after_ms),
            ms(s.all_answered_after_ms),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max),
            if s.winner_booking_listed {
                "yes".into()
            } else {
                "**no**".into()
            },
        ]);
    }
    let l = &r.claims.latency_ms;
    let total = |f: fn(&StormReport) -> u64| r.storms.iter().map(f).sum::<u64>().to_string();
    storms.row(vec![
        format!("all {} storms", r.storms.len()),
        total(|s| s.claimants),
        total(|s| s.created),
        total(|s| s.shift_taken),
        r.claims.errors_cell(),
        "".into(),
        "".into(),
        "".into(),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.max),
        "".into(),
    ]);
    out.table(&storms);
    let shift = |s: &StormReport| format!("`{}`", s.shift_id);
    let shifts: Vec<String> = r.storms.iter().map(shift).collect();
    writeln!(out, "Storm shifts, in order: {}.\n", shifts.join(", "));

    let check = match &r.booking_check {
        Some(c) => {
            let booked = &c.bookings_per_shift;
            let count =
                |s: &StormReport| booked.get(&s.shift_id).map_or("?".into(), u64::to_string);
            let counts: Vec<String> = r.storms.iter().map(count).collect();
            format!(
                "After the storms, every claimant's `GET /v1/me/bookings` ({} read, {} errors) \
                 lists these bookings of the storm shifts, in order: {} (exactly 1 each is \
                 right).",
                c.claimants_read,
                c.errors,
                counts.join(", ")
            )
        }
        None => String::new(),
    };
    if r.storms_ok {
        writeln!(
            out,
            "Every storm booked its shift exactly once: one 201, {} × 409 `shift_taken`, \
             nothing else. {check}",
            c.claimants - 1
        );
    } else {
        writeln!(
            out,
            "**A STORM DID NOT END WITH EXACTLY ONE BOOKING AND ONLY `shift_taken` \
             REFUSALS: see the table.** {check}"
        );
    }
    writeln!(out);
    let drain: Vec<f64> = r.storms.iter().map(|s| s.all_answered_after_ms).collect();
    let mean_drain = drain.iter().sum::<f64>() / drain.len() as f64;
    writeln!(
        out,
        "Goal claim p99 ≤ 50 ms: {} ({} over {} claims). The claimants' {} connections are \
         opened before each storm (a synchronised `GET /healthz`); the claims then wait at \
         a barrier and each is timed from just before its `POST /v1/shifts/{{id}}/claim` \
         (no body) to the last byte of the answer. \"After\" columns count from the \
         barrier's release. A storm's answers take {} on average from the release to the \
         last one, about {:.0} claims/s: with {} claims arriving at once, the slowest \
         answer waits for nearly all the others, so the storm's p99 is about its drain \
         time.",
        if l.p99 <= 50.0 && r.claims.errors == 0 {
            "met"
        } else {
            "**not met**"
        },
        ms(l.p99),
        r.claims.requests,
        c.claimants,
        ms(mean_drain),
        if mean_drain > 0.0 {
            c.claimants as f64 * 1000.0 / mean_drain
        } else {
            0.0
        },
        c.claimants
    );
    writeln!(out);
    let floors: Vec<f64> = r
        .storms
        .iter()
        .map(|s| s.floor_all_answered_after_ms)
        .collect();
    let floor_p99 = r
        .storms
        .iter()
        .map(|s| s.floor.latency_ms.p99)
        .fold(0.0, f64::max);
    let floor_errors: u64 = r.storms.iter().map(|s| s.floor.errors).sum();
    writeln!(
        out,
        "The floor of such a burst on this machine: after each storm the same {} connections \
         send `GET /healthz` at once (no token, no database). Their answers take {} on \
         average from the release to the last one, p99 at most {} ({floor_errors} errors): \
         no storm of this size is answered faster here, whatever the claim does.",
        c.claimants,
        ms(floors.iter().sum::<f64>() / floors.len() as f64),
        ms(floor_p99),
    );
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_points_are_deterministic_and_cover_the_seeded_area() {
        let points: Vec<(f64, f64)> = (0..10_000).map(search_point).collect();
        assert_eq!(points[17], search_point(17));
        for &(lat, lon) in &points {
            assert!((lat - CENTRE.0).abs() <= SPREAD_DEG, "{lat}");
            assert!((lon - CENTRE.1).abs() <= SPREAD_DEG, "{lon}");
        }
        // Spread over the area, not bunched: each quadrant gets about a quarter.
        let north_east = points
            .iter()
            .filter(|(lat, lon)| *lat > CENTRE.0 && *lon > CENTRE.1)
            .count();
        assert!((2_200..2_800).contains(&north_east), "{north_east}");
    }

    #[test]
    fn tokens_file_lines_split_on_the_tab() {
        let nurses = parse_tokens("a1\tt.o.k\n\nb2\tx.y.z\n").expect("parse");
        assert_eq!(nurses.len(), 2);
        assert_eq!(
            (nurses[1].id.as_str(), nurses[1].token.as_str()),
            ("b2", "x.y.z")
        );
        assert!(parse_tokens("no tab here\n").is_err());
        assert!(parse_tokens("\n").is_err());
    }

    #[test]
    fn decodes_the_expiry_of_a_jwt() {
        // {"alg":"HS256","typ":"JWT"} . {"sub":"x","exp":1700000900} . signature
        let token =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4IiwiZXhwIjoxNzAwMDAwOTAwfQ.c2ln";
        assert_eq!(token_expiry(token), Some(1_700_000_900));
        assert_eq!(token_expiry("not-a-jwt"), None);
    }

    #[test]
    fn only_one_booked_201_and_shift_taken_409s_are_expected() {
        let shift = "0190aaaa-0000-7000-8000-000000000001";
        let won = format!(r#"{{"id":"b1","status":"booked","shift":{{"id":"{shift}"}}}}"#);
        assert_eq!(
            verdict(StatusCode::CREATED, won.as_bytes(), shift),
            Verdict::Won("b1".into())
        );
        assert_eq!(
            verdict(StatusCode::CREATED, won.as_bytes(), "another"),
            Verdict::Unexpected(format!("HTTP 201 for shift {shift} with status booked"))
        );
        let taken = br#"{"type":"urn:shiftwire:problem:shift_taken","code":"shift_taken"}"#;
        assert_eq!(verdict(StatusCode::CONFLICT, taken, shift), Verdict::Taken);
        let conflict = br#"{"code":"schedule_conflict"}"#;
        assert_eq!(
            verdict(StatusCode::CONFLICT, conflict, shift),
            Verdict::Unexpected("HTTP 409 schedule_conflict".into())
        );
        assert_eq!(
            verdict(StatusCode::INTERNAL_SERVER_ERROR, b"", shift),
            Verdict::Unexpected("HTTP 500".into())
        );
    }

    #[test]
    fn storm_nurses_are_left_out_of_searches_from_home() {
        let nurses: Vec<Nurse> = (0..10)
            .map(|i| Nurse {
                id: format!("n{i}"),
                token: format!("t{i}"),
            })
            .collect();
        let storm: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        let split = split_nurses(&nurses, &storm, 4, 2).expect("split");
        assert_eq!(split.home.len(), 4);
        assert!(split.home.iter().all(|n| !storm.contains(&n.id)));
        assert_eq!(split.claimants.len(), 4);
        assert!(split_nurses(&nurses, &storm, 7, 2).is_err());
        assert!(split_nurses(&nurses, &["zz".into()], 1, 1).is_err());
        // Without storms every nurse searches from home.
        assert_eq!(
            split_nurses(&nurses, &[], 1000, 0)
                .expect("split")
                .home
                .len(),
            10
        );
    }

    #[test]
    fn the_default_run_ends_well_within_a_seeded_tokens_lifetime() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: MarketplaceArgs,
        }
        let cli = Cli::parse_from(["x", "--tokens", "t.tsv"]);
        let hard_cap = planned(&cli.args, 5) + HARD_CAP_SLACK;
        // Tokens last 15 minutes from the end of seeding; allow 2 for the server's start.
        assert!(hard_cap <= Duration::from_secs(13 * 60), "{hard_cap:?}");
    }

    #[test]
    fn item_counts_average_over_pages() {
        let mut items = Items::default();
        items.add(50, true);
        items.add(0, false);
        items.add(10, false);
        assert_eq!(
            (items.pages, items.empty, items.full, items.max),
            (3, 1, 1, 50)
        );
        assert!((items.mean() - 20.0).abs() < 1e-9);
    }
}
