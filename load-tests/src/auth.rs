//! The `auth` scenario: does password hashing stall the server, and how fast are SMS
//! sign-in codes verified? `GET /healthz` goes open-loop on a fixed schedule (so a stall
//! shows as latency, not as requests never sent), alone and during password login loops;
//! then codes the server texts to a webhook this process serves are verified concurrently.

use crate::{
    net,
    report::{self, Markdown, Percentiles, Recorder, Stats, Table, ms},
    sms::{self, phone},
};
use anyhow::{Context, bail};
use clap::Args;
use reqwest::StatusCode;
use serde::Serialize;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, mpsc},
    task::JoinSet,
    time::Instant,
};

/// Client timeout of one `/healthz` request.
const HEALTHZ_TIMEOUT: Duration = Duration::from_secs(10);
/// Client timeout of one login: 50 of them queue behind a few argon2 permits.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Client timeout of one OTP send or verify.
const OTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Open-loop requests allowed in flight at once; past that a scheduled request is
/// counted as an error instead of piling up connections.
const MAX_HEALTHZ_IN_FLIGHT: usize = 1024;
/// Logins run this long before the healthz measurement of phase 2 starts, so it sees
/// the steady state (every login loop busy) rather than the ramp.
const LOGIN_RAMP: Duration = Duration::from_secs(1);
/// How long to wait for codes still on their way after the last send was answered.
const CODE_WAIT: Duration = Duration::from_secs(10);

#[derive(Args, Debug, Clone, Serialize)]
pub struct AuthArgs {
    /// Server under test; loopback addresses only.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base_url: String,
    /// Email of the staff account the login loops sign in as.
    #[arg(long, env = "SHIFTWIRE_BENCH_EMAIL")]
    email: String,
    /// Its password (or SHIFTWIRE_BENCH_PASSWORD, to keep it off the command line).
    #[arg(long, env = "SHIFTWIRE_BENCH_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    password: String,
    /// Length of each timed phase (healthz alone, healthz during logins), in seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration_secs: u64,
    /// Concurrent login loops in the second phase.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    logins: u64,
    /// /healthz requests per second, sent open-loop on a fixed schedule.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=5000))]
    healthz_rate: u64,
    /// Distinct phone numbers that get a sign-in code, then verify it.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    otp_phones: u64,
    /// Concurrent workers sending and verifying codes.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=512))]
    otp_concurrency: u64,
    /// Deadline of the whole OTP phase (sends, code delivery, verifies), in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=600))]
    otp_timeout_secs: u64,
    /// Where this process receives the server's SMS webhook (`SMS_WEBHOOK_URL` must be
    /// `http://<this>/sms`); loopback addresses only.
    #[arg(long, default_value = "127.0.0.1:18099")]
    webhook_addr: SocketAddr,
    #[command(flatten)]
    #[serde(flatten)]
    out: report::Outputs,
}

/// `/healthz` in one phase.
#[derive(Debug, Serialize)]
pub struct HealthzStats {
    /// Latency from the moment the request was handed to the client to the last byte
    /// of the response.
    #[serde(flatten)]
    stats: Stats,
    /// Latency from the request's scheduled send time instead: adds any delay of the
    /// load generator itself in sending it (it shares the CPU with the server).
    latency_from_schedule_ms: Percentiles,
    /// Largest delay between a request's scheduled time and when it was sent.
    max_send_lag_ms: f64,
    /// Requests per second asked for (`--healthz-rate`).
    target_rate: u64,
}

#[derive(Debug, Serialize)]
pub struct OtpStats {
    phones: u64,
    /// `POST /v1/auth/otp`; answered once the server's webhook call returned.
    send: Stats,
    /// Codes that were accepted (202) but never reached the webhook in time.
    codes_missing: u64,
    /// Webhook messages in which no 6-digit code was found.
    webhook_messages_without_code: u64,
    /// `POST /v1/auth/otp/verify` with the right code; the rate is successes over the
    /// wall time from the first verify to the last answer.
    verify: Stats,
}

#[derive(Debug, Serialize)]
pub struct AuthReport {
    scenario: &'static str,
    started_at: String,
    config: AuthArgs,
    healthz_alone: HealthzStats,
    healthz_during_logins: HealthzStats,
    /// `POST /v1/auth/login`; the rate is successes over the wall time from the first
    /// login to the last answer.
    logins: Stats,
    otp: OtpStats,
}

pub async fn run(args: AuthArgs) -> anyhow::Result<()> {
    let base = net::loopback_base_url(&args.base_url)?;
    let webhook_addr = net::loopback_listen_addr(args.webhook_addr, "--webhook-addr")?;
    // Bind first: a busy port should fail the run before any load is sent.
    let listener = TcpListener::bind(webhook_addr)
        .await
        .with_context(|| format!("binding the SMS webhook on {webhook_addr}"))?;
    let duration = Duration::from_secs(args.duration_secs);
    let hard_cap = duration * 3 + Duration::from_secs(args.otp_timeout_secs + 60);
    eprintln!(
        "auth benchmark against {base}: {}s per phase, {} logins, /healthz at {}/s, {} OTP phones; hard cap {}s",
        args.duration_secs,
        args.logins,
        args.healthz_rate,
        args.otp_phones,
        hard_cap.as_secs()
    );
    let report = net::within(hard_cap, "the run", phases(&args, &base, listener)).await?;

    let markdown = markdown(&report);
    args.out.publish(&report, &markdown)
}

async fn phases(
    args: &AuthArgs,
    base: &reqwest::Url,
    listener: TcpListener,
) -> anyhow::Result<AuthReport> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let duration = Duration::from_secs(args.duration_secs);
    let healthz_url = base.join("/healthz")?;
    let login_url = base.join("/v1/auth/login")?;
    // Separate clients (and so connection pools) for the probe and for the load.
    let healthz_client = net::client(HEALTHZ_TIMEOUT)?;
    let login_client = net::client(LOGIN_TIMEOUT)?;
    let login_body = Arc::new(serde_json::json!({
        "email": args.email,
        "password": args.password,
    }));

    // Preflight: the server answers, and the account signs in. Not measured.
    for _ in 0..20 {
        net::server_up(&healthz_client, &healthz_url).await?;
    }
    net::sign_in(&login_client, base, &args.email, &args.password).await?;

    eprintln!("phase 1/3: /healthz alone for {}s", args.duration_secs);
    let healthz_alone =
        healthz_open_loop(&healthz_client, &healthz_url, args.healthz_rate, duration).await;

    eprintln!(
        "phase 2/3: /healthz during {} concurrent login loops for {}s",
        args.logins, args.duration_secs
    );
    let logins_started = Instant::now();
    let stop_logins = logins_started + LOGIN_RAMP + duration;
    let mut loops = JoinSet::new();
    for _ in 0..args.logins {
        loops.spawn(login_loop(
            login_client.clone(),
            login_url.clone(),
            login_body.clone(),
            stop_logins,
        ));
    }
    tokio::time::sleep(LOGIN_RAMP).await;
    let healthz_during =
        healthz_open_loop(&healthz_client, &healthz_url, args.healthz_rate, duration).await;
    let mut logins = Recorder::new();
    let mut last_login_done = logins_started;
    let drain = tokio::time::timeout_at(
        stop_logins + LOGIN_TIMEOUT + Duration::from_secs(5),
        async {
            while let Some(joined) = loops.join_next().await {
                if let Ok((recorder, last)) = joined {
                    logins.merge(&recorder);
                    last_login_done = last_login_done.max(last);
                }
            }
        },
    )
    .await;
    if drain.is_err() {
        let unfinished = loops.len() as u64;
        loops.abort_all();
        logins.error("loop still waiting at the drain deadline", unfinished);
    }
    let logins = logins.stats(last_login_done - logins_started);

    eprintln!(
        "phase 3/3: OTP for {} phones, {} workers",
        args.otp_phones, args.otp_concurrency
    );
    let otp = otp_phase(args, base, listener).await?;

    Ok(AuthReport {
        scenario: "auth",
        started_at,
        config: args.clone(),
        healthz_alone,
        healthz_during_logins: healthz_during,
        logins,
        otp,
    })
}

/// `GET url` at `rate` per second for `duration`, open-loop: request *i* is sent at
/// `start + i / rate` on its own task, however slow earlier answers are.
async fn healthz_open_loop(
    client: &reqwest::Client,
    url: &reqwest::Url,
    rate: u64,
    duration: Duration,
) -> HealthzStats {
    let total = rate * duration.as_secs();
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let in_flight = Arc::new(Semaphore::new(MAX_HEALTHZ_IN_FLIGHT));
    let mut service = Recorder::new();
    let mut scheduled = Recorder::new();
    let mut max_lag = Duration::ZERO;
    let mut sent = 0u64;
    let start = Instant::now() + Duration::from_millis(10);
    for i in 0..total {
        let intended = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(intended).await;
        max_lag = max_lag.max(intended.elapsed());
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            service.error("not sent: too many in flight", 1);
            scheduled.error("not sent: too many in flight", 1);
            continue;
        };
        sent += 1;
        let (client, url, tx) = (client.clone(), url.clone(), tx.clone());
        tokio::spawn(async move {
            let sending = Instant::now();
            let outcome = net::outcome(client.get(url), StatusCode::OK).await;
            let _ = tx.send(Sample {
                from_send: sending.elapsed(),
                from_schedule: intended.elapsed(),
                outcome,
            });
            drop(permit);
        });
    }
    drop(tx);
    let end = Instant::now();
    let mut answered = 0u64;
    // Every request has a client timeout, so this ends; the deadline is a second guard.
    let _ = tokio::time::timeout(HEALTHZ_TIMEOUT + Duration::from_secs(2), async {
        while let Some(sample) = rx.recv().await {
            answered += 1;
            scheduled.record(sample.from_schedule, sample.outcome.clone());
            service.record(sample.from_send, sample.outcome);
        }
    })
    .await;
    service.error("no answer by the phase deadline", sent - answered);
    scheduled.error("no answer by the phase deadline", sent - answered);
    HealthzStats {
        stats: service.stats(end - start),
        latency_from_schedule_ms: scheduled.percentiles(),
        max_send_lag_ms: max_lag.as_secs_f64() * 1000.0,
        target_rate: rate,
    }
}

struct Sample {
    from_send: Duration,
    from_schedule: Duration,
    outcome: Result<(), String>,
}

/// Signs in again and again until `stop_at`; returns what it saw and when its last
/// answer came.
async fn login_loop(
    client: reqwest::Client,
    url: reqwest::Url,
    body: Arc<serde_json::Value>,
    stop_at: Instant,
) -> (Recorder, Instant) {
    let mut recorder = Recorder::new();
    let mut last = Instant::now();
    while Instant::now() < stop_at {
        let sending = Instant::now();
        let outcome = net::outcome(client.post(url.clone()).json(&*body), StatusCode::OK).await;
        last = Instant::now();
        recorder.record(last - sending, outcome);
    }
    (recorder, last)
}

async fn otp_phase(
    args: &AuthArgs,
    base: &reqwest::Url,
    listener: TcpListener,
) -> anyhow::Result<OtpStats> {
    let deadline = Instant::now() + Duration::from_secs(args.otp_timeout_secs);
    let (inbox, webhook) = sms::serve_webhook(listener);
    let client = net::client(OTP_TIMEOUT)?;
    let workers = usize::try_from(args.otp_concurrency)?;
    let phones: Arc<Vec<String>> = Arc::new((0..args.otp_phones).map(phone).collect());

    // Sends.
    let send_url = base.join("/v1/auth/otp")?;
    let started = Instant::now();
    let results = run_workers(workers, phones.len(), deadline, {
        let (client, phones) = (client.clone(), phones.clone());
        move |i| {
            let (client, url, phones) = (client.clone(), send_url.clone(), phones.clone());
            async move {
                let body = serde_json::json!({ "phone": phones[i] });
                net::outcome(client.post(url).json(&body), StatusCode::ACCEPTED).await
            }
        }
    })
    .await;
    let send = results.recorder.stats(started.elapsed());
    let accepted: Vec<usize> = results.succeeded;

    // Every 202 comes after the server's webhook call returned, so the codes should all
    // be here; wait a little for stragglers all the same.
    let wait_until = deadline.min(Instant::now() + CODE_WAIT);
    let ready: Vec<(String, String)> = loop {
        let found: Vec<(String, String)> = accepted
            .iter()
            .filter_map(|&i| inbox.code(&phones[i]).map(|code| (phones[i].clone(), code)))
            .collect();
        if found.len() == accepted.len() || Instant::now() >= wait_until {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let codes_missing = (accepted.len() - ready.len()) as u64;

    // Verifies.
    let verify_url = base.join("/v1/auth/otp/verify")?;
    let ready = Arc::new(ready);
    let started = Instant::now();
    let mut results = run_workers(workers, ready.len(), deadline, {
        let ready = ready.clone();
        move |i| {
            let (client, url, ready) = (client.clone(), verify_url.clone(), ready.clone());
            async move {
                let (phone, code) = &ready[i];
                let body = serde_json::json!({ "phone": phone, "code": code });
                net::outcome(client.post(url).json(&body), StatusCode::OK).await
            }
        }
    })
    .await;
    results.recorder.error(
        "no code to verify (send failed or code missing)",
        args.otp_phones - ready.len() as u64,
    );
    let verifying = results.last_done.map_or(Duration::ZERO, |t| t - started);
    let verify = results.recorder.stats(verifying);
    webhook.abort();

    if send.ok == 0 {
        bail!("no sign-in code was accepted: {}", send.errors_cell());
    }
    Ok(OtpStats {
        phones: args.otp_phones,
        send,
        codes_missing,
        webhook_messages_without_code: inbox.messages_without_code(),
        verify,
    })
}

/// What the workers of one step did.
#[derive(Default)]
struct WorkerResults {
    recorder: Recorder,
    /// Indexes whose request succeeded.
    succeeded: Vec<usize>,
    /// When the last answer came.
    last_done: Option<Instant>,
}

/// Runs `request(i)` for every `i < items` on `workers` concurrent workers; items not
/// started by `deadline` are counted as errors.
async fn run_workers<F, Fut>(
    workers: usize,
    items: usize,
    deadline: Instant,
    request: F,
) -> WorkerResults
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let work = move |i: u64, mut done: WorkerResults| {
        let request = request.clone();
        async move {
            let sending = Instant::now();
            let outcome = request(i as usize).await;
            let answered = Instant::now();
            if outcome.is_ok() {
                done.succeeded.push(i as usize);
            }
            done.recorder.record(answered - sending, outcome);
            done.last_done = Some(answered);
            done
        }
    };
    let (tallies, started) = net::closed_loop(workers as u64, items as u64, deadline, work).await;
    let mut results = WorkerResults::default();
    for tally in tallies {
        match tally {
            Ok(t) => {
                results.recorder.merge(&t.recorder);
                results.succeeded.extend(t.succeeded);
                results.last_done = results.last_done.max(t.last_done);
            }
            Err(error) => results.recorder.error(error, 1),
        }
    }
    let not_started = items as u64 - started;
    results
        .recorder
        .error("not started: phase deadline", not_started);
    results
}

fn markdown(r: &AuthReport) -> String {
    let c = &r.config;
    let mut out = Markdown::default();
    writeln!(
        out,
        "Phases of {} s; `/healthz` at {} req/s open-loop; {} concurrent login loops; {} phones for OTP with {} workers.\n",
        c.duration_secs, c.healthz_rate, c.logins, c.otp_phones, c.otp_concurrency
    );

    let mut healthz = Table::new(
        "`GET /healthz` | requests | errors | p50 | p99 | p99.9 | max | p99 from schedule",
    );
    for (name, h) in [
        ("alone".to_owned(), &r.healthz_alone),
        (
            format!("during {} concurrent logins", c.logins),
            &r.healthz_during_logins,
        ),
    ] {
        let mut row = h.stats.row(name);
        row.push(ms(h.latency_from_schedule_ms.p99));
        healthz.row(row);
    }
    out.table(&healthz);
    let (alone, during) = (
        r.healthz_alone.stats.latency_ms.p99,
        r.healthz_during_logins.stats.latency_ms.p99,
    );
    if alone > 0.0 {
        writeln!(
            out,
            "`/healthz` p99 during logins is {:.1}× its p99 alone.\n",
            during / alone
        );
    }

    let mut logins = Table::new(
        "`POST /v1/auth/login` (argon2id m=19 MiB, t=2, p=1) \
         | logins | errors | logins/s | p50 | p99 | max",
    );
    logins.row(r.logins.rate_row(format!("{} concurrent loops", c.logins)));
    out.table(&logins);

    let mut otp = Table::new("SMS sign-in codes | ok | errors | per second | p50 | p99 | max");
    let workers = c.otp_concurrency;
    let send = format!("send `POST /v1/auth/otp` (incl. webhook), {workers} workers");
    otp.row(r.otp.send.rate_row(send));
    let verify = format!("verify `POST /v1/auth/otp/verify`, {workers} workers");
    otp.row(r.otp.verify.rate_row(verify));
    out.table(&otp);
    if r.otp.codes_missing > 0 || r.otp.webhook_messages_without_code > 0 {
        writeln!(
            out,
            "{} accepted codes never reached the webhook; {} webhook messages had no code.\n",
            r.otp.codes_missing, r.otp.webhook_messages_without_code
        );
    }
    writeln!(
        out,
        "Latency: from handing the request to the client to the last byte of the answer, \
         successful requests only (errors are counted by kind, never averaged in). \
         \"p99 from schedule\" measures from each request's scheduled send time instead, \
         so it adds the load generator's own lag (max {:.1} ms alone, {:.1} ms during logins). \
         Rates are successes per second of wall time.",
        r.healthz_alone.max_send_lag_ms, r.healthz_during_logins.max_send_lag_ms
    );
    out.finish()
}
