use crate::claim_gate::ClaimGate;
use crate::config::{
    Environment, EventBusKind, IdentityProviderKind, PushProvider, RegistryProvider, Settings,
    SmsProvider,
};
use crate::rooms::{Delivery, NurseStandings, ReleaseIneligibleBookings, TextsBySms};
use anyhow::Context;
use secrecy::SecretString;
use shiftwire_auth::{
    Accounts, IpRateLimits, JwtKeys, LogSms, OtpService, PasswordHasher, RefreshTokens, SmsSender,
    Users, WebSessions, WebhookSms, WsTickets,
};
use shiftwire_matching::Matching;
use shiftwire_notify::{
    Bus, Hub,
    push::{
        Push,
        providers::{ApnsPush, ApnsSettings, FcmPush, LogPush, PushSender, WebhookPush},
    },
};
use shiftwire_verification::{
    DocumentStore, ExternalIdentity, FsDocumentStore, HttpRegistry, IdentityVerifier,
    LicenseRegistry, ManualIdentity, TableRegistry, Verification, VerificationConfig,
    VerificationProviders,
};
use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Everything a request handler can reach. Cheap to clone: shared parts sit behind `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub jwt: Arc<JwtKeys>,
    pub otp: OtpService,
    pub login_backoff: shiftwire_auth::LoginBackoff,
    pub refresh: RefreshTokens,
    pub users: Users,
    /// Nurses' accounts: display names, suspension.
    pub accounts: Accounts,
    pub passwords: PasswordHasher,
    pub ip_limits: Arc<IpRateLimits>,
    pub trust_forwarded_for: bool,
    pub verification: Verification,
    pub matching: Matching,
    /// This node's claims in flight, one per shift at a time (claim storms).
    pub claims: ClaimGate,
    pub events: Arc<Bus>,
    pub hub: Hub,
    pub tickets: WsTickets,
    /// Pushes to nurses whose app is closed: devices, preferences, planning, sending.
    pub push: Push,
    /// Browser sessions of the portal and console.
    pub web_sessions: WebSessions,
    /// The session cookie is `Secure` (and `__Host-` prefixed) unless the server listens
    /// on loopback only.
    pub secure_cookies: bool,
    /// Origins other than the server's own whose pages may open `/v1/ws` with a session
    /// cookie (`CORS_ALLOWED_ORIGINS`).
    pub web_origins: Vec<axum::http::HeaderValue>,
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
    pub push: Option<Arc<dyn PushSender>>,
    /// The time the marketplace's rules read (the system clock unless a test moves one).
    pub clock: Option<Arc<dyn shiftwire_core::Clock>>,
}

fn push_sender(settings: &Settings) -> anyhow::Result<Arc<dyn PushSender>> {
    let timeout = settings.push_timeout;
    Ok(match &settings.push_provider {
        PushProvider::Log => Arc::new(LogPush),
        PushProvider::Webhook { url } => Arc::new(WebhookPush::new(url.clone(), timeout)?),
        PushProvider::Fcm {
            credentials_file,
            endpoint,
        } => Arc::new(FcmPush::from_file(
            credentials_file,
            endpoint.clone(),
            timeout,
        )?),
        PushProvider::Apns {
            key_file,
            key_id,
            team_id,
            topic,
            endpoint,
        } => Arc::new(ApnsPush::new(ApnsSettings {
            key_file,
            key_id: key_id.clone(),
            team_id: team_id.clone(),
            topic: topic.clone(),
            endpoint: endpoint.clone(),
            timeout,
        })?),
    })
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
        let matching = Matching::new(
            pool.clone(),
            events.clone(),
            Arc::new(NurseStandings),
            settings.unfilled_alert,
        )
        .with_clock(
            providers
                .clock
                .clone()
                .unwrap_or_else(|| Arc::new(shiftwire_core::SystemClock)),
        )
        .with_no_show_grace(
            chrono::Duration::from_std(settings.no_show_grace)
                .unwrap_or(chrono::Duration::minutes(15)),
        )
        .with_timesheet_auto_approval(
            chrono::Duration::from_std(settings.timesheet_auto_approve)
                .unwrap_or(chrono::Duration::hours(72)),
        );
        let release_bookings = Arc::new(ReleaseIneligibleBookings(matching.clone()));
        let accounts = Accounts::new(pool.clone(), events.clone(), release_bookings.clone());
        let verification = Verification::new(
            pool.clone(),
            VerificationProviders {
                registry,
                documents,
                identity,
                on_ineligible: release_bookings,
                events: events.clone(),
            },
            VerificationConfig {
                registry_timeout: settings.license_registry_timeout,
                recheck: settings.registry_recheck.clone(),
            },
        );
        let delivery = Arc::new(Delivery {
            matching: matching.clone(),
            verification: verification.clone(),
            accounts: accounts.clone(),
        });
        let push_sender = match providers.push {
            Some(sender) => sender,
            None => push_sender(settings)?,
        };
        let texts =
            shiftwire_auth::NurseTexts::new(pool.clone(), sms.clone(), settings.otp.sends_per_hour);
        let push = Push::new(
            pool.clone(),
            push_sender,
            delivery.clone(),
            Some(Arc::new(TextsBySms(texts))),
            settings.push.clone(),
        );
        let hub = Hub::start(
            settings.notify.clone(),
            pool.clone(),
            delivery.clone(),
            delivery,
            &events,
            tasks,
            shutdown,
        );
        let web_sessions =
            WebSessions::new(pool.clone(), settings.web_session.clone(), events.clone());
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
            accounts,
            passwords: PasswordHasher::new(settings.password_hash_concurrency)?,
            ip_limits: Arc::new(IpRateLimits::new(&settings.rate_limits)),
            trust_forwarded_for: settings.trust_forwarded_for,
            verification,
            matching,
            claims: ClaimGate::default(),
            events,
            hub,
            tickets: WsTickets::new(pool.clone()),
            web_sessions,
            push,
            secure_cookies: !settings.bind_addr.ip().is_loopback(),
            web_origins: settings.cors_allowed_origins.clone(),
            identity_webhook_secret: settings.identity_webhook_secret.clone(),
            metrics_token: settings.metrics_token.clone(),
            jwt,
            pool,
        })
    }
}
