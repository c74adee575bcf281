use crate::config::{
    Environment, EventBusKind, IdentityProviderKind, RegistryProvider, Settings, SmsProvider,
};
use anyhow::Context;
use async_trait::async_trait;
use secrecy::SecretString;
use shiftwire_auth::{
    IpRateLimits, JwtKeys, LogSms, OtpService, PasswordHasher, RefreshTokens, SmsSender, Users,
    WebhookSms, WsTickets,
};
use shiftwire_core::PublishedEvent;
use shiftwire_matching::{Matching, MatchingError};
use shiftwire_notify::{Bus, Hub};
use shiftwire_verification::{
    BookingGuard, DocumentStore, ExternalIdentity, FsDocumentStore, HttpRegistry, IdentityVerifier,
    LicenseRegistry, ManualIdentity, TableRegistry, Verification, VerificationConfig,
    VerificationError, VerificationProviders,
};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

/// Everything a request handler can reach. Cheap to clone: shared parts sit behind `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub jwt: Arc<JwtKeys>,
    pub otp: OtpService,
    pub login_backoff: shiftwire_auth::LoginBackoff,
    pub refresh: RefreshTokens,
    pub users: Users,
    pub passwords: PasswordHasher,
    pub ip_limits: Arc<IpRateLimits>,
    pub trust_forwarded_for: bool,
    pub verification: Verification,
    pub matching: Matching,
    pub events: Arc<Bus>,
    pub hub: Hub,
    pub tickets: WsTickets,
    /// Signs the identity provider's webhook deliveries.
    pub identity_webhook_secret: Option<SecretString>,
    /// Lets a scraper read `/metrics` on the API's port.
    pub metrics_token: Option<SecretString>,
}

/// External effects a test may replace; production builds them from settings.
#[derive(Default)]
pub struct Providers {
    pub sms: Option<Arc<dyn SmsSender>>,
    pub registry: Option<Arc<dyn LicenseRegistry>>,
    pub documents: Option<Arc<dyn DocumentStore>>,
    pub identity: Option<Arc<dyn IdentityVerifier>>,
}

/// Verification's view of the marketplace: a nurse who stops being eligible loses the
/// bookings she may no longer work, in the transaction that made her ineligible.
struct MarketplaceBookings(Matching);

#[async_trait]
impl BookingGuard for MarketplaceBookings {
    async fn release_ineligible(
        &self,
        conn: &mut PgConnection,
        nurse_id: Uuid,
    ) -> Result<Vec<PublishedEvent>, VerificationError> {
        self.0
            .release_ineligible_in(conn, nurse_id)
            .await
            .map_err(|error| match error {
                MatchingError::Database(e) => VerificationError::Database(e),
                other => VerificationError::Internal(other.to_string()),
            })
    }
}

fn identity_verifier(settings: &Settings) -> anyhow::Result<Arc<dyn IdentityVerifier>> {
    Ok(match &settings.identity_provider {
        IdentityProviderKind::Manual => Arc::new(ManualIdentity),
        IdentityProviderKind::External { url, timeout } => {
            Arc::new(ExternalIdentity::new(url.clone(), *timeout)?)
        }
    })
}

fn registry(settings: &Settings) -> anyhow::Result<Arc<dyn LicenseRegistry>> {
    Ok(match &settings.license_registry {
        RegistryProvider::Table { csv } => {
            let table = TableRegistry::from_path(csv)
                .with_context(|| format!("loading LICENSE_REGISTRY_CSV={}", csv.display()))?;
            tracing::info!(records = table.len(), "licence registry table loaded");
            Arc::new(table)
        }
        RegistryProvider::Http { url } => Arc::new(HttpRegistry::new(
            url.clone(),
            settings.license_registry_timeout,
        )?),
    })
}

impl AppState {
    /// Builds the state and starts this node's real-time layer (its tasks are owned by
    /// `tasks` and stop with `shutdown`).
    pub async fn new(
        settings: &Settings,
        pool: PgPool,
        providers: Providers,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let sms: Arc<dyn SmsSender> = match (providers.sms, &settings.sms) {
            (Some(sms), _) => sms,
            (None, SmsProvider::Log) => Arc::new(LogSms {
                dev: settings.environment == Environment::Dev,
            }),
            (None, SmsProvider::Webhook { url, timeout }) => {
                Arc::new(WebhookSms::new(url.clone(), *timeout)?)
            }
        };
        let registry = match providers.registry {
            Some(registry) => registry,
            None => registry(settings)?,
        };
        let documents: Arc<dyn DocumentStore> = match providers.documents {
            Some(documents) => documents,
            None => Arc::new(FsDocumentStore::new(&settings.document_dir)?),
        };
        let events = Arc::new(match &settings.event_bus {
            EventBusKind::Local => Bus::local(),
            EventBusKind::Nats { url, subject } => {
                Bus::nats(url, subject, tasks, shutdown.clone()).await?
            }
        });
        let jwt = Arc::new(JwtKeys::new(
            &settings.jwt_secret,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl,
        ));
        let identity = match providers.identity {
            Some(identity) => identity,
            None => identity_verifier(settings)?,
        };
        let matching = Matching::new(pool.clone(), events.clone(), settings.unfilled_alert);
        let verification = Verification::new(
            pool.clone(),
            VerificationProviders {
                registry,
                documents,
                identity,
                bookings: Arc::new(MarketplaceBookings(matching.clone())),
                events: events.clone(),
            },
            VerificationConfig {
                registry_timeout: settings.license_registry_timeout,
                recheck: settings.registry_recheck.clone(),
            },
        );
        let hub = Hub::start(
            settings.notify.clone(),
            pool.clone(),
            matching.clone(),
            verification.clone(),
            &events,
            tasks,
            shutdown,
        );
        Ok(Self {
            otp: OtpService::new(
                pool.clone(),
                sms,
                settings.otp_secret.clone(),
                settings.otp.clone(),
            ),
            login_backoff: shiftwire_auth::LoginBackoff::new(
                pool.clone(),
                settings.otp_secret.clone(),
                settings.login_backoff.clone(),
            ),
            refresh: RefreshTokens::new(
                pool.clone(),
                jwt.clone(),
                settings.refresh_token_ttl,
                events.clone(),
            ),
            users: Users::new(pool.clone()),
            passwords: PasswordHasher::new(settings.password_hash_concurrency)?,
            ip_limits: Arc::new(IpRateLimits::new(&settings.rate_limits)),
            trust_forwarded_for: settings.trust_forwarded_for,
            verification,
            matching,
            events,
            hub,
            tickets: WsTickets::new(pool.clone()),
            identity_webhook_secret: settings.identity_webhook_secret.clone(),
            metrics_token: settings.metrics_token.clone(),
            jwt,
            pool,
        })
    }
}
