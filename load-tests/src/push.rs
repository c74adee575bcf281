//! The `push` scenario: how long from a scheduler's POST of a shift until the last of its
//! pushes is handed to the provider, when one shift reaches 10,000 eligible nurses, all
//! offline (no socket) with a device, among 100,000 verified nurses?
//!
//! The provider is a webhook stand-in served by this process (`PUSH_PROVIDER=webhook`,
//! `PUSH_WEBHOOK_URL=http://<--webhook-addr>/push`). It answers 200 at once and notes when
//! each push of each shift arrived. The server runs with `PUSH_COALESCE_SECONDS=0`, so
//! each shift is a full burst (otherwise later shifts would fold into digests).
//!
//! Phases:
//! 1. baseline: this process hands `--group` push bodies to its own stand-in,
//!    `--concurrency` at a time (as the server's `PUSH_CONCURRENCY`): the floor of that
//!    many loopback HTTP calls on this machine, in the same run;
//! 2. latency: `--shifts` shifts posted one at a time; for each, POST sent → first and
//!    last push received, and the server's own time to find the recipients and plan the
//!    jobs (its log line "push jobs planned", read from `--server-log`);
//! 3. sustained: `--sustained-shifts` shifts posted back to back; pushes per second from
//!    the first POST to the last push.

use crate::{
    net,
    report::{self, Markdown, Percentiles, Recorder, Table, ms, per_sec},
};
use anyhow::{Context, bail};
use chrono::{Duration as ChronoDuration, Utc};
use clap::Args;
use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use serde::Serialize;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{net::TcpListener, time::Instant};

#[derive(Args, Debug, Clone, Serialize)]
pub struct PushArgs {
    /// Server under test; loopback addresses only.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base_url: String,
    /// The scheduler who posts the shifts (a scheduler of `--facility`).
    #[arg(long)]
    email: String,
    #[arg(long, env = "SHIFTWIRE_BENCH_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    password: String,
    /// The facility whose `--group` nurses are the eligible ones.
    #[arg(long)]
    facility: uuid::Uuid,
    /// Eligible, offline nurses with a device: pushes expected per shift.
    #[arg(long, default_value_t = 10_000)]
    group: u64,
    /// Shifts of the latency phase, one at a time.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=200))]
    shifts: u64,
    /// Shifts of the sustained phase, posted back to back.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    sustained_shifts: u64,
    /// Baseline calls in flight (the server's `PUSH_CONCURRENCY`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Where this process serves the webhook; loopback addresses only.
    #[arg(long, default_value = "127.0.0.1:18099")]
    webhook_addr: SocketAddr,
    /// The server's log (JSON lines), for its own time to find the recipients.
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// A shift whose pushes have not all arrived after this many seconds is an error.
    #[arg(long, default_value_t = 60)]
    shift_timeout_secs: u64,
    #[command(flatten)]
    #[serde(flatten)]
    out: report::Outputs,
}

/// When the pushes of one shift arrived.
#[derive(Debug, Clone, Copy)]
struct Arrivals {
    count: u64,
    first: Instant,
    last: Instant,
}

#[derive(Default)]
struct StandIn {
    by_shift: Mutex<HashMap<String, Arrivals>>,
}

impl StandIn {
    fn arrivals(&self, shift: &str) -> Option<Arrivals> {
        self.by_shift.lock().ok()?.get(shift).copied()
    }

    async fn receive(&self, request: Request<Incoming>) -> Response<String> {
        let at = Instant::now();
        let body = request.into_body().collect().await.map(|b| b.to_bytes());
        let shift = body
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["data"]["shift_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if let Ok(mut by_shift) = self.by_shift.lock() {
            let a = by_shift.entry(shift).or_insert(Arrivals {
                count: 0,
                first: at,
                last: at,
            });
            a.count += 1;
            a.last = a.last.max(at);
        }
        Response::new(String::new())
    }
}

fn serve(listener: TcpListener, stand_in: Arc<StandIn>) {
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let _ = tcp.set_nodelay(true);
            let stand_in = stand_in.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let stand_in = stand_in.clone();
                    async move { Ok::<_, hyper::Error>(stand_in.receive(request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
}

#[derive(Debug, Serialize)]
struct ShiftRun {
    shift_id: String,
    pushes: u64,
    first_ms: f64,
    last_ms: f64,
    /// The server's time to find the recipients and to plan the jobs, from its log.
    finding_ms: Option<f64>,
    planning_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    args: PushArgs,
    baseline_ms: f64,
    baseline_per_sec: f64,
    shifts: Vec<ShiftRun>,
    to_first: Percentiles,
    to_last: Percentiles,
    finding: Percentiles,
    planning: Percentiles,
    missing: u64,
    sustained_pushes: u64,
    sustained_secs: f64,
    sustained_per_sec: f64,
}

pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let base = net::loopback_base_url(&args.base_url)?;
    let addr = net::loopback_listen_addr(args.webhook_addr, "--webhook-addr")?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the push webhook on {addr}"))?;
    let stand_in = Arc::new(StandIn::default());
    serve(listener, stand_in.clone());
    let client = net::client(Duration::from_secs(30))?;
    let token = net::sign_in(&client, &base, &args.email, &args.password).await?;

    // 1. The baseline: the same number of webhook calls from here.
    let push_url = format!("http://{addr}/push");
    let body = serde_json::json!({
        "platform": "android", "token": "baseline-device-token", "title": "New shift near you",
        "body": "Open Shiftwire to see it and claim it.",
        "data": { "type": "shift.offered", "shift_id": "baseline" }
    });
    let baseline_client = net::client(Duration::from_secs(10))?;
    let started = Instant::now();
    let failures = futures::stream::iter(0..args.group)
        .map(|_| {
            let request = baseline_client.post(&push_url).json(&body);
            async move { request.send().await.map(|r| r.status().is_success()) }
        })
        .buffer_unordered(args.concurrency.max(1))
        .filter(|r| std::future::ready(!matches!(r, Ok(true))))
        .count()
        .await;
    let baseline = started.elapsed();
    if failures > 0 {
        bail!("{failures} baseline webhook calls failed");
    }
    println!(
        "baseline: {} webhook calls in {:.1} ms",
        args.group,
        baseline.as_secs_f64() * 1e3
    );

    // 2. One shift at a time.
    let mut runs = Vec::new();
    let mut missing = 0;
    let (mut first, mut last, mut finding, mut planning) = (
        Recorder::new(),
        Recorder::new(),
        Recorder::new(),
        Recorder::new(),
    );
    for i in 0..args.shifts {
        let sent = Instant::now();
        let shift_id = post_shift(&client, &base, &token, args.facility, i).await?;
        let arrived = wait_for(&stand_in, &shift_id, args.group, args.shift_timeout_secs).await;
        let pushes = arrived.map_or(0, |a| a.count);
        missing += args.group.saturating_sub(pushes);
        let (first_ms, last_ms) = arrived.map_or((0.0, 0.0), |a| {
            (
                (a.first - sent).as_secs_f64() * 1e3,
                (a.last - sent).as_secs_f64() * 1e3,
            )
        });
        if pushes >= args.group {
            first.record(Duration::from_secs_f64(first_ms / 1e3), Ok(()));
            last.record(Duration::from_secs_f64(last_ms / 1e3), Ok(()));
        }
        let (found_ms, planned_ms) = planned_in_log(args.server_log.as_deref(), &shift_id);
        for (recorder, value) in [(&mut finding, found_ms), (&mut planning, planned_ms)] {
            if let Some(v) = value {
                recorder.record(Duration::from_secs_f64(v / 1e3), Ok(()));
            }
        }
        println!(
            "shift {i}: {pushes} pushes, first {first_ms:.1} ms, last {last_ms:.1} ms, finding {found_ms:?} ms"
        );
        runs.push(ShiftRun {
            shift_id,
            pushes,
            first_ms,
            last_ms,
            finding_ms: found_ms,
            planning_ms: planned_ms,
        });
        // Let the server settle (the sender's last chunk) before the next one.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 3. Back to back.
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..args.sustained_shifts {
        ids.push(post_shift(&client, &base, &token, args.facility, 1000 + i).await?);
    }
    let mut sustained_pushes = 0;
    let mut sustained_end = started;
    for id in &ids {
        if let Some(a) = wait_for(&stand_in, id, args.group, args.shift_timeout_secs).await {
            sustained_pushes += a.count;
            sustained_end = sustained_end.max(a.last);
        }
    }
    missing += (args.group * args.sustained_shifts).saturating_sub(sustained_pushes);
    let sustained_secs = (sustained_end - started).as_secs_f64();

    let report = Report {
        baseline_ms: baseline.as_secs_f64() * 1e3,
        baseline_per_sec: args.group as f64 / baseline.as_secs_f64(),
        to_first: first.percentiles(),
        to_last: last.percentiles(),
        finding: finding.percentiles(),
        planning: planning.percentiles(),
        shifts: runs,
        missing,
        sustained_pushes,
        sustained_secs,
        sustained_per_sec: sustained_pushes as f64 / sustained_secs.max(1e-9),
        args,
    };
    let markdown = markdown(&report);
    report.args.out.publish(&report, &markdown)?;
    if report.missing > 0 {
        bail!("{} pushes never arrived", report.missing);
    }
    Ok(())
}

/// Posts an RN shift without required certifications at the facility, starting in a
/// day (plus `i` hours, so no two overlap); its id.
async fn post_shift(
    client: &reqwest::Client,
    base: &reqwest::Url,
    token: &str,
    facility: uuid::Uuid,
    i: u64,
) -> anyhow::Result<String> {
    let starts_at = Utc::now() + ChronoDuration::days(1) + ChronoDuration::hours(i as i64 * 9);
    let body = serde_json::json!({
        "role": "RN",
        "starts_at": starts_at,
        "ends_at": starts_at + ChronoDuration::hours(8),
        "hourly_rate_cents": 7000,
        "required_certifications": [],
        "unit": "Bench push unit",
        "handoff": { "report_to": "Charge nurse", "arrival_instructions": "Main entrance" }
    });
    let url = base.join(&format!("/v1/facilities/{facility}/shifts"))?;
    let answer: serde_json::Value = net::json(
        client.post(url).bearer_auth(token).json(&body),
        reqwest::StatusCode::CREATED,
    )
    .await
    .map_err(|e| anyhow::anyhow!("posting a shift failed ({e})"))?;
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .context("the posted shift has no id")
}

/// Waits until `expected` pushes of `shift` arrived (or the timeout); what arrived.
async fn wait_for(
    stand_in: &StandIn,
    shift: &str,
    expected: u64,
    timeout_secs: u64,
) -> Option<Arrivals> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        let arrived = stand_in.arrivals(shift);
        if arrived.is_some_and(|a| a.count >= expected) || Instant::now() > deadline {
            return arrived;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The server's "push jobs planned" line for `shift`: (finding_ms, planning_ms).
fn planned_in_log(log: Option<&std::path::Path>, shift: &str) -> (Option<f64>, Option<f64>) {
    let Some(text) = log.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return (None, None);
    };
    let Some(line) = text
        .lines()
        .find(|l| l.contains("push jobs planned") && l.contains(shift))
    else {
        return (None, None);
    };
    let field = |name: &str| {
        let at = line.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = &line[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    (field("finding_ms"), field("planning_ms"))
}

fn markdown(r: &Report) -> String {
    let mut md = Markdown::default();
    let mut table = Table::new("measure | p50 | p99 | max");
    for (name, p) in [
        ("POST → first push handed over", &r.to_first),
        ("POST → last push handed over", &r.to_last),
        ("finding the recipients (server)", &r.finding),
        ("planning the jobs, finding included (server)", &r.planning),
    ] {
        table.row(vec![name.into(), ms(p.p50), ms(p.p99), ms(p.max)]);
    }
    md.table(&table);
    writeln!(
        md,
        "\n{} shifts posted one at a time, each to {} eligible offline nurses with a device; pushes missing: {}.",
        r.shifts.len(),
        r.args.group,
        r.missing
    );
    writeln!(
        md,
        "Sustained: {} shifts posted back to back, {} pushes in {:.2} s: {} pushes/s.",
        r.args.sustained_shifts,
        r.sustained_pushes,
        r.sustained_secs,
        per_sec(r.sustained_per_sec)
    );
    writeln!(
        md,
        "Baseline, same run: the load generator itself made the same {} webhook calls, {} at a time, in {} ({} calls/s).",
        r.args.group,
        r.args.concurrency,
        ms(r.baseline_ms),
        per_sec(r.baseline_per_sec)
    );
    md.finish()
}
