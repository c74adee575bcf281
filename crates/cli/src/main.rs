//! `shiftwire`: serve the API, migrate the database, seed demo data, manage staff users.

mod seed;

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use shiftwire_api::{
    Settings,
    application::{Application, Database, connect, connect_and_migrate},
    config::Environment,
    state::Providers,
    telemetry,
};
use shiftwire_auth::{PasswordHasher, Users, users::NewStaffUser};
use shiftwire_core::{Email, Role};
use tokio_util::sync::CancellationToken;
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
    /// Load demo data (idempotent) and print how to sign in as each demo user. (Bulk
    /// synthetic data for benchmarks: `shiftwire-loadgen seed`.)
    Seed,
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
            connect_and_migrate(&settings).await?.close().await;
            println!("database is up to date");
            Ok(())
        }
        Command::Seed => {
            if settings.environment == Environment::Production {
                anyhow::bail!("refusing to load demo accounts with SHIFTWIRE_ENV=production");
            }
            seed::run(&connect(&settings).await?, &settings).await
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

async fn serve(settings: Settings, no_migrate: bool) -> anyhow::Result<()> {
    telemetry::install_metrics();
    let database = if no_migrate {
        Database::Lazy
    } else {
        Database::Migrate
    };
    let app = Application::build(settings, database, Providers::default()).await?;
    tokio::spawn(stop_on_signal(app.shutdown_token()));
    app.run_until_stopped().await?;
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
