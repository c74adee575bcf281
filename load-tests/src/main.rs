//! `shiftwire-loadgen`: the load generator behind `make bench`.
//!
//! Each scenario is a subcommand. Every scenario talks to a server on the loopback
//! interface only, sends a bounded number of requests and stops by itself within a hard
//! time cap, so it is safe to run on a developer machine or in CI.

mod auth;
mod net;
mod report;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "shiftwire-loadgen",
    version,
    about = "Benchmarks a Shiftwire server running on this machine (loopback only)"
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Auth(args) => auth::run(args).await,
    }
}
