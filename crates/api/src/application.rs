//! Shiftwire started in one place: `serve`, `seed`, the tests and the load generator all
//! build it here, so they run the same wiring. [`Application::build`] connects to the
//! database (migrating it), wires the rooms together ([`AppState`]) and binds the
//! listeners; [`Application::run_until_stopped`] starts the background work and serves
//! until the shutdown token fires. [`Application::services`] is the wiring without HTTP,
//! for tools that act through the domain crates (demo data).

use crate::{AppState, MIGRATOR, Settings, app, state::Providers};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::{net::SocketAddr, str::FromStr, time::Duration};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Where the application's database comes from.
pub enum Database {
    /// Connect to `DATABASE_URL` and apply pending migrations first.
    Migrate,
    /// Connect lazily and migrate nothing: start even while the database is down
    /// (`/readyz` reports it until it is back).
    Lazy,
    /// A pool the caller owns and has migrated (tests); it is not closed on stop.
    Pool(PgPool),
}

/// A running configuration of Shiftwire: its rooms, its background work, its listeners.
pub struct Application {
    state: AppState,
    settings: Settings,
    pool: PgPool,
    owns_pool: bool,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// The rooms wired together without HTTP; their background tasks stop when it is dropped.
pub struct Services {
    pub state: AppState,
    _tasks: tokio_util::sync::DropGuard,
}

impl Application {
    /// Connects, wires and binds (`BIND_ADDR`; port 0 picks a free one). Nothing runs
    /// until [`Self::run_until_stopped`], except the real-time layer's tasks, which wait
    /// for connections.
    pub async fn build(
        settings: Settings,
        database: Database,
        providers: Providers,
    ) -> anyhow::Result<Self> {
        settings.check_serving_secrets()?;
        let (pool, owns_pool) = match database {
            Database::Migrate => (connect_and_migrate(&settings).await?, true),
            Database::Lazy => (
                pool_options(&settings).connect_lazy_with(connect_options(&settings)?),
                true,
            ),
            Database::Pool(pool) => (pool, false),
        };
        // Load the phone-number metadata now, not on the first nurse's sign-in.
        let _ = shiftwire_core::Phone::parse("+14155552671");
        let (state, tasks, shutdown) = wire(&settings, pool.clone(), providers).await?;
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("binding {}", settings.bind_addr))?;
        let metrics = match settings.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding METRICS_ADDR {addr}"))?,
            ),
            None => None,
        };
        Ok(Self {
            state,
            settings,
            pool,
            owns_pool,
            listener,
            metrics,
            tasks,
            shutdown,
        })
    }

    /// The rooms alone, on `pool`, with the default providers (demo data goes through
    /// them exactly as requests do).
    pub async fn services(settings: &Settings, pool: PgPool) -> anyhow::Result<Services> {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let state = AppState::new(
            settings,
            pool,
            Providers::default(),
            &tasks,
            shutdown.clone(),
        )
        .await?;
        Ok(Services {
            state,
            _tasks: shutdown.drop_guard(),
        })
    }

    /// The address the API listens on.
    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.settings.bind_addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Cancelling it stops the application: listeners close, in-flight requests get the
    /// grace period, background tasks end.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts the background work and serves until the shutdown token fires; then waits
    /// for every task and closes the pool it opened.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (tasks, shutdown) = (&self.tasks, &self.shutdown);
        tracing::info!(addr = %self.address(), "Shiftwire is listening");
        app::spawn_background(&self.state, &self.settings, tasks, shutdown.clone());
        if let Some(metrics) = self.metrics {
            tracing::info!(addr = %metrics.local_addr()?, "metrics are served without a token");
            let stop = shutdown.clone();
            tasks.spawn(async move {
                if let Err(error) = app::serve_metrics(metrics, stop).await {
                    tracing::warn!(%error, "the metrics listener stopped");
                }
            });
        }
        let router = app::build_router(self.state, &self.settings);
        let served = app::serve(self.listener, router, shutdown.clone(), &self.settings).await;
        // Whatever ended the serving ends the rest too.
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        if self.owns_pool {
            self.pool.close().await;
        }
        served.context("serving")?;
        Ok(())
    }
}

/// The rooms wired together on `pool`, with the task tracker and shutdown token that own
/// their background work.
async fn wire(
    settings: &Settings,
    pool: PgPool,
    providers: Providers,
) -> anyhow::Result<(AppState, TaskTracker, CancellationToken)> {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let state = AppState::new(settings, pool, providers, &tasks, shutdown.clone()).await?;
    Ok((state, tasks, shutdown))
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

/// A pool on `DATABASE_URL`.
pub async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    pool_options(settings)
        .connect_with(connect_options(settings)?)
        .await
        .context("connecting to DATABASE_URL")
}

/// A pool on `DATABASE_URL`, with every pending migration applied.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<PgPool> {
    let pool = connect(settings).await?;
    MIGRATOR
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(pool)
}
