//! `shiftwire`: serve the API, migrate the database, seed demo data, manage staff users.

mod seed;
mod seed_scale;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use shiftwire_api::{
    AppState, MIGRATOR, Settings, app, config::Environment, state::Providers, telemetry,
};
use shiftwire_auth::{PasswordHasher, Users, users::NewStaffUser};
use shiftwire_core::{Email, Role};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::str::FromStr;
use std::time::Duration;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "shiftwire",
    version,
    about = "Shiftwire shift marketplace server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (applies pending migrations first unless --no-migrate).
    Serve {
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load demo data (idempotent) and print how to sign in as each demo user; with
    /// --scale, generate bulk synthetic data for benchmarks instead.
    Seed {
        /// Generate this many open shifts over one metro area (benchmarks only).
        #[arg(long)]
        scale: Option<i64>,
        /// With --scale: facilities to spread them over (default scale / 100).
        #[arg(long, requires = "scale")]
        facilities: Option<i64>,
        /// With --scale: verified synthetic nurses (default 1000).
        #[arg(long, requires = "scale")]
        nurses: Option<i64>,
        /// With --scale: write an access token per synthetic nurse to this file.
        #[arg(long, requires = "scale")]
        tokens_out: Option<std::path::PathBuf>,
    },
    /// Administration commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document (YAML) generated from the code.
    Openapi,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff user (scheduler, verifier or admin).
    CreateUser {
        #[arg(long)]
        email: String,
        /// Read from SHIFTWIRE_PASSWORD when not given, to keep it out of shell history.
        #[arg(long, env = "SHIFTWIRE_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        role: String,
        /// A facility the scheduler works for; repeat for several.
        #[arg(long = "facility")]
        facilities: Vec<Uuid>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", shiftwire_api::openapi::spec_yaml()?);
        return Ok(());
    }
    let settings = Settings::from_env()?;
    telemetry::init_tracing(settings.log_format);
    match cli.command {
        Command::Serve { no_migrate } => serve(settings, no_migrate).await,
        Command::Migrate => {
            let pool = connect(&settings).await?;
            MIGRATOR
                .run(&pool)
                .await
                .context("migrating the database")?;
            println!("database is up to date");
            Ok(())
        }
        Command::Seed {
            scale,
            facilities,
            nurses,
            tokens_out,
        } => {
            if settings.environment == Environment::Production {
                anyhow::bail!("refusing to load demo accounts with SHIFTWIRE_ENV=production");
            }
            let pool = connect(&settings).await?;
            match scale {
                None => seed::run(&pool, &settings).await,
                Some(shifts) => {
                    let (state, _stop) = seed::services(&settings, &pool).await?;
                    let scale = seed_scale::Scale {
                        shifts: shifts.max(0),
                        facilities: facilities.unwrap_or((shifts / 100).max(1)),
                        nurses: nurses.unwrap_or(1000),
                        tokens_out,
                    };
                    seed_scale::run(&pool, &state, scale).await
                }
            }
        }
        Command::Admin {
            command:
                AdminCommand::CreateUser {
                    email,
                    password,
                    role,
                    facilities,
                },
        } => {
            let pool = connect(&settings).await?;
            let role: Role = role
                .parse()
                .map_err(|_| anyhow::anyhow!("--role must be scheduler, verifier or admin"))?;
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let hasher = PasswordHasher::new(1)?;
            let user = Users::new(pool)
                .create_staff(
                    &hasher,
                    NewStaffUser {
                        email,
                        password: SecretString::from(password),
                        role,
                        facility_ids: facilities,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created {} {} ({})", user.role, user.email, user.id);
            Ok(())
        }
        Command::Openapi => Ok(()),
    }
}

/// Connection settings for every pool: JIT compilation off, because it costs hundreds of
/// milliseconds on a large plan and Shiftwire's queries are short.
fn connect_options(settings: &Settings) -> anyhow::Result<PgConnectOptions> {
    Ok(
        PgConnectOptions::from_str(settings.database_url.expose_secret())
            .context("DATABASE_URL is not a valid PostgreSQL URL")?
            .options([("jit", "off")]),
    )
}

fn pool_options(settings: &Settings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(Duration::from_secs(3))
}

async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    pool_options(settings)
        .connect_with(connect_options(settings)?)
        .await
        .context("connecting to DATABASE_URL")
}

async fn serve(settings: Settings, no_migrate: bool) -> anyhow::Result<()> {
    settings.check_serving_secrets()?;
    telemetry::install_metrics();
    let pool = if no_migrate {
        // Start even while the database is down; /readyz reports it until it is back.
        pool_options(&settings).connect_lazy_with(connect_options(&settings)?)
    } else {
        let pool = connect(&settings).await?;
        MIGRATOR
            .run(&pool)
            .await
            .context("migrating the database")?;
        pool
    };
    // Load the phone-number metadata now, not on the first nurse's sign-in.
    let _ = shiftwire_core::Phone::parse("+14155552671");
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let state = AppState::new(
        &settings,
        pool.clone(),
        Providers::default(),
        &tasks,
        shutdown.clone(),
    )
    .await?;
    let router = app::build_router(state.clone(), &settings);
    let listener = tokio::net::TcpListener::bind(settings.bind_addr)
        .await
        .with_context(|| format!("binding {}", settings.bind_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "Shiftwire is listening");

    app::spawn_background(&state, &settings, &tasks, shutdown.clone());
    tokio::spawn(stop_on_signal(shutdown.clone()));
    if let Some(addr) = settings.metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding METRICS_ADDR {addr}"))?;
        tracing::info!(addr = %metrics.local_addr()?, "metrics are served without a token");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = app::serve_metrics(metrics, stop).await;
            if let Err(error) = served {
                tracing::warn!(%error, "the metrics listener stopped");
            }
        });
    }

    app::serve(listener, router, shutdown, &settings).await?;
    tasks.close();
    tasks.wait().await;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
    shutdown.cancel();
}
