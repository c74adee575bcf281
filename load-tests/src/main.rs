//! `shiftwire-loadgen`: the load generator behind `make bench`.
//!
//! Each scenario is a subcommand. Every scenario talks to a server on the loopback
//! interface only, sends a bounded number of requests and stops by itself within a hard
//! time cap, so it is safe to run on a developer machine or in CI. `gen-registry` and
//! `seed` are no scenarios: they write the data the servers of the scenarios start with.

use clap::{Parser, Subcommand};
use shiftwire_loadgen::{
    auth, event_commits, fleet, marketplace, no_shows, push, registry, scale, verification,
};

#[derive(Parser)]
#[command(
    name = "shiftwire-loadgen",
    version,
    about = "Benchmarks a Shiftwire server running on this machine (loopback only)",
    // A flag given twice takes its last value, so `make bench-<scenario> ARGS="..."` can
    // override what scripts/bench.sh passes.
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Sign-in: /healthz latency alone and during concurrent password logins, then SMS
    /// code (OTP) verify throughput.
    Auth(auth::AuthArgs),
    /// Credential verification: time from a licence submission until the automatic
    /// registry check's decision is visible to the nurse, one at a time and concurrently,
    /// with the round trip of a plain credential read as the baseline.
    Verification(verification::VerificationArgs),
    /// Marketplace: nearby search over bulk synthetic shifts (`shiftwire-loadgen seed`),
    /// one at a time and concurrently, with `/healthz` and `/v1/me` as the baseline; then
    /// claim storms, many nurses claiming one shift at once (exactly one must win).
    Marketplace(marketplace::MarketplaceArgs),
    /// Real-time offers over WebSocket, up to 19,000 connections to one server held by
    /// `worker` child processes: idle cost per connection, POST → offer latency, fan-out to
    /// 100 / 1,000 / 10,000, sustained posting, a delivery oracle with reconnects and
    /// `resume`, a claim storm, with NATS core fan-out and the WebSocket ping → pong round
    /// trip as baselines. `--preset realtime`: one eligible nurse among 1,001 connected,
    /// fan-out to 1,000.
    Scale(scale::ScaleArgs),
    /// Pushes to nurses whose app is closed: POST of a shift → the last of its pushes
    /// handed to a webhook stand-in served here, 10,000 eligible offline nurses among
    /// 100,000; the server's time to find them; pushes per second back to back; the same
    /// webhook calls made from here as the baseline.
    Push(push::PushArgs),
    /// The no-show detector over 100,000 booked bookings in a fresh `DATABASE_URL`: a
    /// sweep while nothing is due (against reading every booking), then deciding them all.
    NoShows(no_shows::NoShowArgs),
    /// The ceiling on event-writing commits in a fresh `DATABASE_URL`: 1, 8 and 64 writers
    /// recording one event per transaction in the outbox, against the same inserts into a
    /// table without the outbox's ordering lock.
    EventCommits(event_commits::EventCommitArgs),
    /// Internal: a child process of `scale` that holds WebSocket connections and reports
    /// what they receive as JSON lines on stdout (commands come as JSON lines on stdin).
    #[command(hide = true)]
    Worker(fleet::WorkerArgs),
    /// Writes a fictional licence registry table (`LICENSE_REGISTRY_CSV`) that lists the
    /// licences the `verification` scenario submits, padded with varied filler rows.
    GenRegistry(registry::GenRegistryArgs),
    /// Writes bulk synthetic data over the Bay Area into `DATABASE_URL`, straight into the
    /// tables before the server starts (test-support's generator): facilities, verified
    /// nurses and open shifts, and an access token per nurse signed with the server's key.
    Seed(SeedArgs),
}

#[derive(clap::Args)]
struct SeedArgs {
    /// Open shifts to generate.
    #[arg(long)]
    shifts: i64,
    /// Facilities to spread them over (default: shifts / 100).
    #[arg(long)]
    facilities: Option<i64>,
    /// Verified synthetic nurses.
    #[arg(long, default_value_t = 1000)]
    nurses: i64,
    /// Where to write one `id<TAB>access token` line per nurse, for the scenarios.
    #[arg(long)]
    tokens_out: Option<std::path::PathBuf>,
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let facilities = args.facilities.unwrap_or((args.shifts / 100).max(1));
    let scale =
        shiftwire_test_support::scale::Scale::bay_area(args.shifts, facilities, args.nurses);
    shiftwire_test_support::scale::seed_database(&scale, args.tokens_out.as_deref()).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Auth(args) => auth::run(args).await,
        Scenario::Verification(args) => verification::run(args).await,
        Scenario::Marketplace(args) => marketplace::run(args).await,
        Scenario::Scale(args) => scale::run(args).await,
        Scenario::Push(args) => push::run(args).await,
        Scenario::NoShows(args) => no_shows::run(args).await,
        Scenario::EventCommits(args) => event_commits::run(args).await,
        Scenario::Worker(args) => fleet::worker(args).await,
        Scenario::GenRegistry(args) => registry::run(args),
        Scenario::Seed(args) => seed(args).await,
    }
}
