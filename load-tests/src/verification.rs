//! The `verification` scenario: how long from a nurse submitting a licence until the
//! automatic registry check's decision is visible to them?
//!
//! Set-up signs nurses in by SMS code and has a verifier approve their identities. Then
//! licences that the registry table (`gen-registry`) lists as clean matches are submitted
//! one at a time and by concurrent submitters, each timed from just before its POST until
//! a poll of the credential (every `--poll-interval-us`, which bounds the resolution)
//! shows `automatic_check_done: true`. Any outcome but approval is an error.

use crate::{
    net,
    registry::{
        self, BENCH_EXPIRY, BENCH_STATE, LICENCES_PER_NURSE, MAX_NURSES, licence_number, nurse_name,
    },
    report::{self, Markdown, Percentiles, Recorder, Stats, Table, ms, per_sec},
    sms,
};
use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{net::TcpListener, task::JoinSet, time::Instant};

/// Client timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of the whole setup (sign-ins and names).
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of the warm-up.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a sign-in code after its send was answered.
const CODE_WAIT: Duration = Duration::from_secs(10);
/// Nurses signed in at once during setup.
const SETUP_WORKERS: u64 = 8;
/// The benchmark nurses' phones are `sms::phone(PHONE_OFFSET + n)`, apart from the
/// `auth` scenario's.
const PHONE_OFFSET: u64 = 700_000;

#[derive(Args, Debug, Clone, Serialize)]
pub struct VerificationArgs {
    /// Server under test; loopback addresses only. It must use the table from
    /// `gen-registry` (`LICENSE_REGISTRY_CSV`) and a database without these nurses.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base_url: String,
    /// Credentials submitted in each measured phase (sequential, then concurrent).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    submissions: u64,
    /// Concurrent submitters in the second phase.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    concurrency: u64,
    /// Unmeasured submissions before the phases, by a nurse of their own.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=LICENCES_PER_NURSE))]
    warmup: u64,
    /// Pause between two polls of one credential, in microseconds (0: poll again as soon
    /// as the answer arrives). Bounds the resolution of the decision time.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    poll_interval_us: u64,
    /// A submission without a decision this many seconds after its POST is an error.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=30))]
    decision_timeout_secs: u64,
    /// Deadline of each measured phase, in seconds; submissions not started by then are
    /// counted as errors.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=300))]
    phase_timeout_secs: u64,
    /// Benchmark nurses whose licences the server's table lists (`gen-registry --nurses`).
    #[arg(long, default_value_t = registry::DEFAULT_NURSES, value_parser = clap::value_parser!(u64).range(1..=MAX_NURSES))]
    registry_nurses: u64,
    /// Where this process receives the server's SMS webhook (`SMS_WEBHOOK_URL` must be
    /// `http://<this>/sms`); loopback addresses only.
    #[arg(long, default_value = "127.0.0.1:18099")]
    webhook_addr: SocketAddr,
    /// A verifier account that approves the benchmark nurses' identities during set-up.
    #[arg(long, default_value = "bench-verifier@shiftwire.example")]
    verifier_email: String,
    /// Its password (or SHIFTWIRE_BENCH_PASSWORD, to keep it off the command line).
    #[arg(long, env = "SHIFTWIRE_BENCH_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    verifier_password: String,
    #[command(flatten)]
    #[serde(flatten)]
    out: report::Outputs,
}

/// Which nurses submit in a phase, and which of their licences: submission `i` goes to
/// nurse `first + i % nurses`, so concurrent submitters work for different nurses (a
/// submission locks its nurse's row) as long as `nurses >= submitters`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseNurses {
    pub first: u64,
    pub nurses: u64,
}

impl PhaseNurses {
    /// Enough nurses for `submissions` licences at 40 each, and at least one per
    /// submitter.
    pub fn new(first: u64, submissions: u64, submitters: u64) -> Self {
        let nurses = submissions
            .div_ceil(LICENCES_PER_NURSE)
            .max(submitters.min(submissions))
            .max(1);
        Self { first, nurses }
    }

    /// The nurse and licence slot of submission `i`.
    pub fn item(&self, i: u64) -> (u64, u64) {
        (self.first + i % self.nurses, i / self.nurses)
    }

    fn end(&self) -> u64 {
        self.first + self.nurses
    }
}

/// Nurse 0 warms up; the sequential and concurrent phases have nurses of their own.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Layout {
    pub sequential: PhaseNurses,
    pub concurrent: PhaseNurses,
}

impl Layout {
    pub fn new(submissions: u64, concurrency: u64) -> Self {
        let sequential = PhaseNurses::new(1, submissions, 1);
        let concurrent = PhaseNurses::new(sequential.end(), submissions, concurrency);
        Self {
            sequential,
            concurrent,
        }
    }

    pub fn nurses(&self) -> u64 {
        self.concurrent.end()
    }
}

/// A signed-in benchmark nurse.
struct Nurse {
    token: String,
}

/// What the server answers about a credential (the fields this scenario reads).
#[derive(Debug, Deserialize)]
struct CredentialView {
    id: String,
    status: String,
    reason_code: Option<String>,
    automatic_check_done: bool,
    submitted_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct TokenPair {
    access_token: String,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
    credentials: Vec<serde_json::Value>,
}

/// One measured phase.
#[derive(Debug, Serialize)]
pub struct PhaseReport {
    submissions: u64,
    submitters: u64,
    nurses: PhaseNurses,
    /// From just before the POST until a poll shows `automatic_check_done: true`.
    /// Latencies are of approvals only; every other outcome is an error, by kind. The
    /// rate is approvals per second of the phase's wall time.
    decision: Stats,
    /// Submissions by outcome: `approved`, `pending (not_found)`, `submit failed`, ...
    outcomes: BTreeMap<String, u64>,
    /// `POST /v1/me/credentials` answered 201.
    submit: Stats,
    /// Every poll `GET /v1/me/credentials/{id}`.
    poll: Stats,
    polls_per_submission: f64,
    /// Time between the sends of two consecutive polls of one credential: the pause
    /// asked for, the timer's rounding, and the round trip.
    poll_gap_ms: Percentiles,
    /// The server's own timestamps of approvals, `decided_at - submitted_at`: the start
    /// of the submission's transaction (PostgreSQL `now()`) to the moment the check's
    /// update ran (`clock_timestamp()`). Leaves out polling and the rest of the check's
    /// transaction (audit row, commit).
    server_decided_minus_submitted: Stats,
}

#[derive(Debug, Serialize)]
pub struct VerificationReport {
    scenario: &'static str,
    started_at: String,
    config: VerificationArgs,
    layout: Layout,
    setup_secs: f64,
    warmup: PhaseReport,
    /// `GET /v1/me/credentials/{id}` of the credential just decided, once between two
    /// sequential submissions.
    baseline_get: Stats,
    sequential: PhaseReport,
    concurrent: PhaseReport,
    webhook_messages_without_code: u64,
}

pub async fn run(args: VerificationArgs) -> anyhow::Result<()> {
    let base = net::loopback_base_url(&args.base_url)?;
    let webhook_addr = net::loopback_listen_addr(args.webhook_addr, "--webhook-addr")?;
    let layout = Layout::new(args.submissions, args.concurrency);
    if layout.nurses() > args.registry_nurses {
        bail!(
            "{} submissions per phase with {} submitters need {} benchmark nurses, but the \
             registry lists licences for {} (--registry-nurses); regenerate it with \
             `shiftwire-loadgen gen-registry --nurses {}`",
            args.submissions,
            args.concurrency,
            layout.nurses(),
            args.registry_nurses,
            layout.nurses()
        );
    }
    // Bind first: a busy port should fail the run before any load is sent.
    let listener = TcpListener::bind(webhook_addr)
        .await
        .with_context(|| format!("binding the SMS webhook on {webhook_addr}"))?;
    let phase_timeout = Duration::from_secs(args.phase_timeout_secs);
    let decision_timeout = Duration::from_secs(args.decision_timeout_secs);
    let hard_cap = hard_cap(phase_timeout, decision_timeout);
    eprintln!(
        "verification benchmark against {base}: {} submissions per phase, {} concurrent, \
         {} nurses, poll every {} µs; hard cap {}s",
        args.submissions,
        args.concurrency,
        layout.nurses(),
        args.poll_interval_us,
        hard_cap.as_secs()
    );
    let report = net::within(hard_cap, "the run", phases(&args, &base, layout, listener)).await?;

    let markdown = markdown(&report);
    args.out.publish(&report, &markdown)
}

/// Setup, warm-up, and two phases, each with its deadline (a submission started just
/// before it may take one decision timeout and one last request more).
fn hard_cap(phase_timeout: Duration, decision_timeout: Duration) -> Duration {
    SETUP_TIMEOUT
        + WARMUP_TIMEOUT
        + 2 * (phase_timeout + decision_timeout + REQUEST_TIMEOUT)
        + Duration::from_secs(30)
}

/// Where the requests go.
struct Target {
    client: reqwest::Client,
    base: reqwest::Url,
    credentials: reqwest::Url,
    poll_interval: Duration,
    decision_timeout: Duration,
}

impl Target {
    /// A `POST` to `path` on the server.
    fn post(&self, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        Ok(self.client.post(self.base.join(path)?))
    }
}

async fn phases(
    args: &VerificationArgs,
    base: &reqwest::Url,
    layout: Layout,
    listener: TcpListener,
) -> anyhow::Result<VerificationReport> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let target = Arc::new(Target {
        client: net::client(REQUEST_TIMEOUT)?,
        base: base.clone(),
        credentials: base.join("/v1/me/credentials")?,
        poll_interval: Duration::from_micros(args.poll_interval_us),
        decision_timeout: Duration::from_secs(args.decision_timeout_secs),
    });
    net::server_up(&target.client, &base.join("/healthz")?).await?;

    eprintln!(
        "setup: signing in {} nurses and verifying their identities",
        layout.nurses()
    );
    let (inbox, webhook) = sms::serve_webhook(listener);
    let setup_started = Instant::now();
    let verifier = net::sign_in(
        &target.client,
        base,
        &args.verifier_email,
        &args.verifier_password,
    );
    let verifier = verifier.await?;
    let signing_in = sign_in_all(&target, &inbox, &verifier, layout.nurses());
    let nurses = net::within(SETUP_TIMEOUT, "setup", signing_in).await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();
    webhook.abort();
    let nurses = Arc::new(nurses);

    eprintln!("warm-up: {} submissions", args.warmup);
    let warmup_nurses = PhaseNurses {
        first: 0,
        nurses: 1,
    };
    let warmup = sequential(
        &target,
        &nurses,
        warmup_nurses,
        args.warmup,
        Instant::now() + WARMUP_TIMEOUT,
        false,
    )
    .await;

    let phase_timeout = Duration::from_secs(args.phase_timeout_secs);
    eprintln!("phase 1/2: {} submissions one at a time", args.submissions);
    let seq = sequential(
        &target,
        &nurses,
        layout.sequential,
        args.submissions,
        Instant::now() + phase_timeout,
        true,
    )
    .await;
    eprintln!(
        "phase 2/2: {} submissions by {} concurrent submitters",
        args.submissions, args.concurrency
    );
    let conc = concurrent(
        &target,
        &nurses,
        layout.concurrent,
        args.submissions,
        args.concurrency,
        Instant::now() + phase_timeout,
    )
    .await;

    Ok(VerificationReport {
        scenario: "verification",
        started_at,
        config: args.clone(),
        layout,
        setup_secs,
        warmup: warmup.report(args.warmup, 1, warmup_nurses),
        baseline_get: seq.baseline.stats(seq.elapsed),
        sequential: seq.report(args.submissions, 1, layout.sequential),
        concurrent: conc.report(args.submissions, args.concurrency, layout.concurrent),
        webhook_messages_without_code: inbox.messages_without_code(),
    })
}

/// A 1×1 PNG: the photo ID and selfie of a benchmark nurse, as far as the server's content
/// check goes.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Submits the nurse's identity (legal name `name`) and has the verifier approve it.
async fn verify_identity(
    target: &Target,
    verifier: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<()> {
    let image = |file: &'static str| {
        reqwest::multipart::Part::bytes(PNG)
            .file_name(file)
            .mime_str("image/png")
    };
    let form = reqwest::multipart::Form::new()
        .text("legal_name", name.to_owned())
        .text("date_of_birth", "1990-04-17")
        .part("id_document", image("id.png")?)
        .part("selfie", image("selfie.png")?);
    let identity = target.post("/v1/me/identity")?.bearer_auth(token);
    let identity = identity.multipart(form);
    let submitted: serde_json::Value = net::json(identity, StatusCode::CREATED)
        .await
        .map_err(|e| anyhow!("POST /v1/me/identity for {name}: {e}"))?;
    let id = submitted["id"]
        .as_str()
        .ok_or_else(|| anyhow!("POST /v1/me/identity answered no id"))?;
    let approve = target.post(&format!("/v1/admin/identities/{id}/approve"))?;
    let approve = approve.bearer_auth(verifier);
    net::outcome(approve.json(&serde_json::json!({})), StatusCode::OK)
        .await
        .map_err(|e| anyhow!("approving the identity of {name}: {e}"))
}

/// Signs in nurses `0..count` with SMS codes, names them and verifies their identities;
/// any failure fails the run.
async fn sign_in_all(
    target: &Arc<Target>,
    inbox: &Arc<sms::Inbox>,
    verifier: &str,
    count: u64,
) -> anyhow::Result<Vec<Nurse>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..SETUP_WORKERS.min(count) {
        let (target, inbox, next) = (target.clone(), inbox.clone(), next.clone());
        let verifier = verifier.to_owned();
        set.spawn(async move {
            let mut signed_in = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, anyhow::Error>(signed_in);
                }
                let nurse = sign_in(&target, &inbox, n).await?;
                verify_identity(&target, &verifier, &nurse.token, &nurse_name(n)).await?;
                signed_in.push((n, nurse));
            }
        });
    }
    let mut nurses = Vec::new();
    while let Some(joined) = set.join_next().await {
        nurses.extend(joined.context("a sign-in worker failed")??);
    }
    nurses.sort_by_key(|(n, _)| *n);
    Ok(nurses.into_iter().map(|(_, nurse)| nurse).collect())
}

async fn sign_in(target: &Target, inbox: &sms::Inbox, n: u64) -> anyhow::Result<Nurse> {
    let phone = sms::phone(PHONE_OFFSET + n);
    let send = target.post("/v1/auth/otp")?;
    net::outcome(
        send.json(&serde_json::json!({ "phone": phone })),
        StatusCode::ACCEPTED,
    )
    .await
    .map_err(|e| anyhow!("POST /v1/auth/otp for {phone}: {e}"))?;
    // The 202 comes after the server's webhook call returned; allow for stragglers.
    let waiting = Instant::now();
    let code = loop {
        if let Some(code) = inbox.code(&phone) {
            break code;
        }
        if waiting.elapsed() > CODE_WAIT {
            bail!("no sign-in code for {phone} reached the webhook");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let verify = target.post("/v1/auth/otp/verify")?;
    let verify = verify.json(&serde_json::json!({ "phone": phone, "code": code }));
    let tokens: TokenPair = net::json(verify, StatusCode::OK)
        .await
        .map_err(|e| anyhow!("POST /v1/auth/otp/verify for {phone}: {e}"))?;
    let name = nurse_name(n);
    let me = target.base.join("/v1/me")?;
    let rename = target.client.patch(me).bearer_auth(&tokens.access_token);
    let profile: Profile = net::json(
        rename.json(&serde_json::json!({ "name": name })),
        StatusCode::OK,
    )
    .await
    .map_err(|e| anyhow!("PATCH /v1/me for {phone}: {e}"))?;
    if profile.name.as_deref() != Some(name.as_str()) {
        bail!(
            "PATCH /v1/me for {phone}: the profile name is {:?}, not {name:?}",
            profile.name
        );
    }
    if !profile.credentials.is_empty() {
        bail!(
            "nurse {phone} already has {} credentials: run against a fresh database \
             (scripts/bench.sh verification creates one)",
            profile.credentials.len()
        );
    }
    Ok(Nurse {
        token: tokens.access_token,
    })
}

/// What one submitter (or a whole phase, merged) saw.
#[derive(Default)]
struct Observed {
    decision: Recorder,
    submit: Recorder,
    poll: Recorder,
    poll_gap: Recorder,
    server: Recorder,
    baseline: Recorder,
    polls: u64,
    outcomes: BTreeMap<String, u64>,
    /// Wall time of the phase, from its start to the last submission's end.
    elapsed: Duration,
}

impl Observed {
    fn merge(&mut self, other: &Observed) {
        self.decision.merge(&other.decision);
        self.submit.merge(&other.submit);
        self.poll.merge(&other.poll);
        self.poll_gap.merge(&other.poll_gap);
        self.server.merge(&other.server);
        self.baseline.merge(&other.baseline);
        self.polls += other.polls;
        for (outcome, n) in &other.outcomes {
            *self.outcomes.entry(outcome.clone()).or_default() += n;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// A submission that ended without a decision: `None`, for `submit_and_wait`.
    fn failed(&mut self, error: impl Into<String>, outcome: &str) -> Option<reqwest::Url> {
        self.decision.error(error, 1);
        self.outcome(outcome);
        None
    }

    fn outcome(&mut self, outcome: impl Into<String>) {
        *self.outcomes.entry(outcome.into()).or_default() += 1;
    }

    /// Submissions never started before the phase deadline.
    fn not_started(&mut self, n: u64) {
        if n > 0 {
            self.decision.error("not started: phase deadline", n);
            *self
                .outcomes
                .entry("not started: phase deadline".into())
                .or_default() += n;
        }
    }

    fn report(&self, submissions: u64, submitters: u64, nurses: PhaseNurses) -> PhaseReport {
        let submitted = self.submit.requests().max(1);
        PhaseReport {
            submissions,
            submitters,
            nurses,
            decision: self.decision.stats(self.elapsed),
            outcomes: self.outcomes.clone(),
            submit: self.submit.stats(self.elapsed),
            poll: self.poll.stats(self.elapsed),
            polls_per_submission: self.polls as f64 / submitted as f64,
            poll_gap_ms: self.poll_gap.percentiles(),
            server_decided_minus_submitted: self.server.stats(self.elapsed),
        }
    }
}

/// Submits nurse `nurse`'s licence `slot` and polls it until the automatic check is
/// done; records everything in `seen`. Returns the credential's URL once decided.
async fn submit_and_wait(
    target: &Target,
    nurse: &Nurse,
    number: String,
    seen: &mut Observed,
) -> Option<reqwest::Url> {
    let client = &target.client;
    let body = serde_json::json!({
        "kind": "RN",
        "number": number,
        "issuing_state": BENCH_STATE,
        "expires_on": BENCH_EXPIRY,
    });
    let started = Instant::now();
    let submit = client
        .post(target.credentials.clone())
        .bearer_auth(&nurse.token);
    let submitted: Result<CredentialView, String> =
        net::json(submit.json(&body), StatusCode::CREATED).await;
    seen.submit.record(
        started.elapsed(),
        submitted.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let mut credential = match submitted {
        Ok(credential) => credential,
        Err(error) => {
            return seen.failed(format!("submit: {error}"), "submit failed");
        }
    };
    let Ok(url) = target
        .base
        .join(&format!("/v1/me/credentials/{}", credential.id))
    else {
        return seen.failed("submit: unusable credential id", "submit failed");
    };
    let deadline = started + target.decision_timeout;
    let mut last_poll: Option<Instant> = None;
    while !credential.automatic_check_done {
        if Instant::now() >= deadline {
            let late = format!("no decision within {}s", target.decision_timeout.as_secs());
            return seen.failed(late, "no decision in time");
        }
        // The first poll goes out as soon as the POST is answered.
        if last_poll.is_some() && !target.poll_interval.is_zero() {
            tokio::time::sleep(target.poll_interval).await;
        }
        let sending = Instant::now();
        if let Some(previous) = last_poll {
            seen.poll_gap.record(sending - previous, Ok(()));
        }
        last_poll = Some(sending);
        let polled: Result<CredentialView, String> = net::json(
            client.get(url.clone()).bearer_auth(&nurse.token),
            StatusCode::OK,
        )
        .await;
        seen.poll.record(
            sending.elapsed(),
            polled.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        seen.polls += 1;
        match polled {
            Ok(now) => credential = now,
            Err(error) => {
                return seen.failed(format!("poll: {error}"), "poll failed");
            }
        }
    }
    let decided = started.elapsed();

    let outcome = match (credential.status.as_str(), &credential.reason_code) {
        ("approved", _) => "approved".to_owned(),
        (status, Some(code)) => format!("{status} ({code})"),
        (status, None) => status.to_owned(),
    };
    if outcome == "approved" {
        seen.decision.record(decided, Ok(()));
        if let Some(decided_at) = credential.decided_at {
            // PostgreSQL timestamps (the submission's transaction start, the check's
            // update); a negative difference, should one ever occur, records as 0.
            let server = (decided_at - credential.submitted_at)
                .to_std()
                .unwrap_or_default();
            seen.server.record(server, Ok(()));
        }
    } else {
        seen.decision
            .record(decided, Err(format!("decided: {outcome}")));
    }
    seen.outcome(outcome);
    Some(url)
}

/// `count` submissions one at a time; with `baseline`, one timed GET of each decided
/// credential between two submissions.
async fn sequential(
    target: &Target,
    nurses: &[Nurse],
    phase: PhaseNurses,
    count: u64,
    deadline: Instant,
    baseline: bool,
) -> Observed {
    let mut seen = Observed::default();
    let started = Instant::now();
    for i in 0..count {
        if Instant::now() >= deadline {
            seen.not_started(count - i);
            break;
        }
        let (n, slot) = phase.item(i);
        let nurse = &nurses[n as usize];
        let decided = submit_and_wait(target, nurse, licence_number(n, slot), &mut seen).await;
        if let (true, Some(url)) = (baseline, decided) {
            let sending = Instant::now();
            let outcome = net::outcome(
                target.client.get(url).bearer_auth(&nurse.token),
                StatusCode::OK,
            )
            .await;
            seen.baseline.record(sending.elapsed(), outcome);
        }
    }
    seen.elapsed = started.elapsed();
    seen
}

/// `count` submissions by `submitters` closed-loop submitters.
async fn concurrent(
    target: &Arc<Target>,
    nurses: &Arc<Vec<Nurse>>,
    phase: PhaseNurses,
    count: u64,
    submitters: u64,
    deadline: Instant,
) -> Observed {
    let (target, nurses, started) = (target.clone(), nurses.clone(), Instant::now());
    let work = move |i, mut seen: Observed| {
        let (target, nurses) = (target.clone(), nurses.clone());
        async move {
            let (n, slot) = phase.item(i);
            let licence = licence_number(n, slot);
            submit_and_wait(&target, &nurses[n as usize], licence, &mut seen).await;
            seen.elapsed = started.elapsed();
            seen
        }
    };
    let (tallies, taken) = net::closed_loop(submitters, count, deadline, work).await;
    let mut all = Observed::default();
    for tally in tallies {
        match tally {
            Ok(seen) => all.merge(&seen),
            Err(error) => {
                all.decision.error(format!("submitter failed: {error}"), 1);
                all.outcome("submitter failed");
            }
        }
    }
    all.not_started(count - taken);
    all
}

fn markdown(r: &VerificationReport) -> String {
    let c = &r.config;
    let mut out = Markdown::default();
    let interval_ms = c.poll_interval_us as f64 / 1000.0;
    writeln!(
        out,
        "{} RN licence submissions per phase, each with an exact, clean match in the \
         server's registry table; {} nurses in the sequential phase, {} in the concurrent \
         one (at most {} licences each), after {} unmeasured warm-up submissions. Each \
         submission is timed from just before `POST /v1/me/credentials` until a poll of \
         `GET /v1/me/credentials/{{id}}` shows `automatic_check_done: true`; a poll follows \
         the previous answer after a {} ms pause.\n",
        c.submissions,
        r.layout.sequential.nurses,
        r.layout.concurrent.nurses,
        c.submissions.div_ceil(
            r.layout
                .sequential
                .nurses
                .min(r.layout.concurrent.nurses)
                .max(1)
        ),
        c.warmup,
        interval_ms
    );

    let mut decisions = Table::new(
        "Submission → decision seen | approved | errors | decisions/s | p50 | p90 | p99 | p99.9 \
         | max | polls per submission",
    );
    let phases = [
        ("sequential (one at a time)".to_owned(), &r.sequential),
        (
            format!("{} concurrent submitters", c.concurrency),
            &r.concurrent,
        ),
    ];
    for (name, p) in &phases {
        let l = &p.decision.latency_ms;
        decisions.row(vec![
            name.clone(),
            p.decision.ok.to_string(),
            p.decision.errors_cell(),
            per_sec(p.decision.ok_per_sec),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            format!("{:.1}", p.polls_per_submission),
        ]);
    }
    out.table(&decisions);

    let mut parts = Table::new("Baseline and parts | count | errors | p50 | p99 | p99.9 | max");
    parts.row(r.baseline_get.row(
        "**baseline**: `GET /v1/me/credentials/{id}` of a decided credential, between \
         sequential submissions",
    ));
    for (name, p) in &phases {
        parts.row(
            p.submit
                .row(format!("`POST /v1/me/credentials` → 201, {name}")),
        );
    }
    for (name, p) in &phases {
        parts.row(
            p.poll
                .row(format!("poll `GET /v1/me/credentials/{{id}}`, {name}")),
        );
    }
    for (name, p) in &phases {
        parts.row(
            p.server_decided_minus_submitted
                .row(format!("server clock `decided_at − submitted_at`, {name}")),
        );
    }
    out.table(&parts);

    let mut outcomes = Vec::new();
    for (name, p) in [("warm-up", &r.warmup)]
        .into_iter()
        .chain(phases.iter().map(|(n, p)| (n.as_str(), *p)))
    {
        let counts: Vec<String> = p
            .outcomes
            .iter()
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect();
        outcomes.push(format!(
            "{name}: {}",
            if counts.is_empty() {
                "none".to_owned()
            } else {
                counts.join(", ")
            }
        ));
    }
    writeln!(out, "Outcomes: {}.\n", outcomes.join("; "));

    let base = r.baseline_get.latency_ms.p50;
    if base > 0.0 {
        writeln!(
            out,
            "Decision p50 is {:.1}× the baseline `GET` p50 sequentially and {:.1}× with {} submitters.\n",
            r.sequential.decision.latency_ms.p50 / base,
            r.concurrent.decision.latency_ms.p50 / base,
            c.concurrency
        );
    }
    writeln!(
        out,
        "Resolution: a decision is seen by the first poll after it commits, so the time \
         measured exceeds the true one by at most one gap between polls plus one `GET` \
         round trip. The pause asked for was {} ms; the measured gap between the sends of \
         two polls of one credential (the pause, rounded up to the timer's 1 ms ticks, plus \
         the previous poll's round trip) was p50 {} sequentially and {} concurrently (max \
         {} and {}). The polls are load too: {} `GET`/s during the concurrent phase ({} \
         sequentially), served by the same server and database as the submissions and the \
         check. The server-clock rows use the server's own timestamps (`submitted_at`: \
         when the submission's transaction began; `decided_at`: when the check's update \
         ran), so they leave out polling and the check's commit. Latencies are of \
         approved submissions only; any other outcome is an error, counted by kind. Rates \
         are approvals per second of the phase's wall time ({:.1} s and {:.1} s); setup \
         (sign-in of {} nurses) took {:.1} s.",
        interval_ms,
        ms(r.sequential.poll_gap_ms.p50),
        ms(r.concurrent.poll_gap_ms.p50),
        ms(r.sequential.poll_gap_ms.max),
        ms(r.concurrent.poll_gap_ms.max),
        per_sec(r.concurrent.poll.ok_per_sec),
        per_sec(r.sequential.poll.ok_per_sec),
        r.sequential.decision.elapsed_secs,
        r.concurrent.decision.elapsed_secs,
        r.layout.nurses(),
        r.setup_secs
    );
    if r.webhook_messages_without_code > 0 {
        writeln!(out);
        writeln!(
            out,
            "{} webhook messages had no code.",
            r.webhook_messages_without_code
        );
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_default_run_spreads_licences_over_25_nurses_per_phase() {
        let layout = Layout::new(1000, 16);
        assert_eq!(
            layout.sequential,
            PhaseNurses {
                first: 1,
                nurses: 25
            }
        );
        assert_eq!(
            layout.concurrent,
            PhaseNurses {
                first: 26,
                nurses: 25
            }
        );
        assert_eq!(layout.nurses(), 51);
        assert!(layout.nurses() <= registry::DEFAULT_NURSES);
    }

    #[test]
    fn every_submission_is_a_distinct_licence_within_the_per_nurse_cap() {
        for (submissions, concurrency) in [(1000, 16), (1, 1), (7, 16), (100, 64), (10_000, 256)] {
            let layout = Layout::new(submissions, concurrency);
            let mut seen = HashSet::new();
            for phase in [layout.sequential, layout.concurrent] {
                for i in 0..submissions {
                    let (n, slot) = phase.item(i);
                    assert!(n >= phase.first && n < phase.end() && n > 0);
                    assert!(
                        slot < LICENCES_PER_NURSE,
                        "{submissions}/{concurrency}: slot {slot}"
                    );
                    assert!(seen.insert((n, slot)));
                }
            }
            // Concurrent submitters taking consecutive items work for different nurses.
            let c = layout.concurrent;
            assert!(c.nurses >= concurrency.min(submissions));
        }
    }

    #[test]
    fn the_hard_cap_stays_within_an_access_tokens_lifetime() {
        let longest = hard_cap(Duration::from_secs(300), Duration::from_secs(30));
        // Tokens last 15 minutes from sign-in, which happens in the first minute.
        assert!(longest < Duration::from_secs(15 * 60), "{longest:?}");
    }
}
