//! Typed settings, read once from the environment. Secrets are `SecretString`s: their
//! `Debug` prints `[REDACTED]`, so logging `Settings` never leaks them.

use anyhow::{Context, bail};
use secrecy::SecretString;
use shiftwire_auth::{OtpPolicy, RateLimitSettings};
use std::{env, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub enum SmsProvider {
    Log,
    Webhook {
        url: reqwest::Url,
        timeout: Duration,
    },
}

/// Where pushes to nurses whose app is closed go (`PUSH_PROVIDER`).
#[derive(Debug, Clone)]
pub enum PushProvider {
    Log,
    Webhook {
        url: reqwest::Url,
    },
    Fcm {
        credentials_file: PathBuf,
        endpoint: String,
    },
    Apns {
        key_file: PathBuf,
        key_id: String,
        team_id: String,
        topic: String,
        endpoint: String,
    },
}

#[derive(Debug, Clone)]
pub enum RegistryProvider {
    /// A CSV table loaded at start-up.
    Table { csv: PathBuf },
    /// A board's HTTP lookup service.
    Http { url: reqwest::Url },
}

/// Who decides identities (`IDENTITY_PROVIDER`).
#[derive(Debug, Clone)]
pub enum IdentityProviderKind {
    /// A verifier, in the review queue.
    Manual,
    /// An identity-verification service at `url`; its results arrive at the webhook.
    External {
        url: reqwest::Url,
        timeout: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub bind_addr: SocketAddr,
    pub jwt_secret: SecretString,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub otp_secret: SecretString,
    pub otp: OtpPolicy,
    pub login_backoff: shiftwire_auth::LoginBackoffPolicy,
    /// Browser sessions of the portal and console (`WEB_SESSION_IDLE_MINUTES`,
    /// `WEB_SESSION_ABSOLUTE_HOURS`).
    pub web_session: shiftwire_auth::WebSessionPolicy,
    pub sms: SmsProvider,
    pub rate_limits: RateLimitSettings,
    pub password_hash_concurrency: usize,
    pub trust_forwarded_for: bool,
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub document_dir: PathBuf,
    pub license_registry: RegistryProvider,
    pub license_registry_timeout: Duration,
    pub registry_recheck: shiftwire_verification::RecheckPolicy,
    pub identity_provider: IdentityProviderKind,
    /// Signs the identity provider's webhook deliveries; without it every delivery is
    /// refused (401).
    pub identity_webhook_secret: Option<SecretString>,
    pub verification_sweep_interval: Duration,
    pub unfilled_alert: Duration,
    /// How long after its start a booking nobody checked in to becomes a no-show.
    pub no_show_grace: Duration,
    /// A submitted timesheet nobody at the facility acted on for this long is approved
    /// automatically (`TIMESHEET_AUTO_APPROVE_HOURS`, default 72).
    pub timesheet_auto_approve: Duration,
    pub verification_checkers: usize,
    pub event_bus: EventBusKind,
    /// Browser origins allowed to call the API (the scheduler portal, the verification
    /// console); empty: no cross-origin access.
    pub cors_allowed_origins: Vec<axum::http::HeaderValue>,
    /// SO_SNDBUF of client connections; `None` leaves it to the kernel's autotuning.
    pub tcp_send_buffer: Option<usize>,
    pub notify: shiftwire_notify::NotifyConfig,
    /// Pushes to nurses whose app is closed.
    pub push_provider: PushProvider,
    /// Timeout of one provider call (`PUSH_TIMEOUT_SECONDS`).
    pub push_timeout: Duration,
    pub push: shiftwire_notify::push::PushConfig,
    /// Where `/metrics` is served without a token (`None`: nowhere but the API's port,
    /// with `METRICS_TOKEN`).
    pub metrics_addr: Option<SocketAddr>,
    pub metrics_token: Option<SecretString>,
    /// `SHIFTWIRE_ENV=dev` was set explicitly (not just the default).
    pub dev_explicit: bool,
}

/// Where committed events travel between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBusKind {
    /// In process: one node.
    Local,
    /// NATS core: several nodes behind one load balancer.
    Nats { url: String, subject: String },
}

const DEV_JWT_SECRET: &str = "shiftwire-dev-only-jwt-secret-change-me";
const DEV_OTP_SECRET: &str = "shiftwire-dev-only-otp-secret-change-me";
/// 256 bits written as text; a shorter HMAC key is guessable offline from one token.
const MIN_SECRET_LEN: usize = 32;

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={raw:?} is not valid: {e}")),
    }
}

/// `https://portal.example.org,https://console.example.org`: exact origins, no wildcards
/// (a wildcard would hand any site the API of a signed-in user's browser).
fn cors_origins(raw: Option<&str>) -> anyhow::Result<Vec<axum::http::HeaderValue>> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.contains('*')
                && !origin.ends_with('/');
            if !valid {
                bail!("CORS_ALLOWED_ORIGINS: {origin:?} is not an origin like https://portal.example.org");
            }
            axum::http::HeaderValue::from_str(origin)
                .map_err(|_| anyhow::anyhow!("CORS_ALLOWED_ORIGINS: {origin:?} is not valid"))
        })
        .collect()
}

fn secret(name: &str, environment: Environment, dev_default: &str) -> anyhow::Result<SecretString> {
    match (var(name), environment) {
        (Some(value), _) if value.len() >= MIN_SECRET_LEN => Ok(SecretString::from(value)),
        (Some(_), _) => bail!("{name} must be at least {MIN_SECRET_LEN} characters"),
        (None, Environment::Dev) => Ok(SecretString::from(dev_default)),
        (None, Environment::Production) => {
            bail!("{name} is required outside development (SHIFTWIRE_ENV=production)")
        }
    }
}

impl Settings {
    /// Reads every setting from the environment, with development defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        let dev_explicit = matches!(var("SHIFTWIRE_ENV").as_deref(), Some("dev" | "development"));
        let environment = match var("SHIFTWIRE_ENV").as_deref() {
            None | Some("dev") | Some("development") => Environment::Dev,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => bail!("SHIFTWIRE_ENV={other:?}: expected dev or production"),
        };
        let sms = match var("SMS_PROVIDER").as_deref() {
            None | Some("log") => SmsProvider::Log,
            Some("webhook") => SmsProvider::Webhook {
                url: var("SMS_WEBHOOK_URL")
                    .context("SMS_PROVIDER=webhook needs SMS_WEBHOOK_URL")?
                    .parse()
                    .context("SMS_WEBHOOK_URL is not a URL")?,
                timeout: Duration::from_secs(parsed("SMS_WEBHOOK_TIMEOUT_SECONDS", 5)?),
            },
            Some(other) => bail!("SMS_PROVIDER={other:?}: expected log or webhook"),
        };
        let log_format = match var("LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if environment == Environment::Production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => bail!("LOG_FORMAT={other:?}: expected pretty or json"),
        };
        let license_registry = match var("LICENSE_REGISTRY").as_deref() {
            None | Some("table") => RegistryProvider::Table {
                csv: var("LICENSE_REGISTRY_CSV")
                    .unwrap_or_else(|| "registry/demo-licenses.csv".into())
                    .into(),
            },
            Some("http") => RegistryProvider::Http {
                url: var("LICENSE_REGISTRY_URL")
                    .context("LICENSE_REGISTRY=http needs LICENSE_REGISTRY_URL")?
                    .parse()
                    .context("LICENSE_REGISTRY_URL is not a URL")?,
            },
            Some(other) => bail!("LICENSE_REGISTRY={other:?}: expected table or http"),
        };
        let identity_provider = match var("IDENTITY_PROVIDER").as_deref() {
            None | Some("manual") => IdentityProviderKind::Manual,
            Some("external") => IdentityProviderKind::External {
                url: var("IDENTITY_PROVIDER_URL")
                    .context("IDENTITY_PROVIDER=external needs IDENTITY_PROVIDER_URL")?
                    .parse()
                    .context("IDENTITY_PROVIDER_URL is not a URL")?,
                timeout: Duration::from_secs(parsed("IDENTITY_PROVIDER_TIMEOUT_SECONDS", 10)?),
            },
            Some(other) => bail!("IDENTITY_PROVIDER={other:?}: expected manual or external"),
        };
        let identity_webhook_secret = match var("IDENTITY_WEBHOOK_SECRET") {
            Some(value) if value.len() >= MIN_SECRET_LEN => Some(SecretString::from(value)),
            Some(_) => {
                bail!("IDENTITY_WEBHOOK_SECRET must be at least {MIN_SECRET_LEN} characters")
            }
            None if matches!(identity_provider, IdentityProviderKind::External { .. }) => {
                bail!("IDENTITY_PROVIDER=external needs IDENTITY_WEBHOOK_SECRET")
            }
            None => None,
        };
        let recheck_defaults = shiftwire_verification::RecheckPolicy::default();
        let registry_recheck = shiftwire_verification::RecheckPolicy {
            every: Duration::from_secs(86_400 * parsed::<u64>("REGISTRY_RECHECK_DAYS", 30)?.max(1)),
            batch: parsed::<i64>("REGISTRY_RECHECK_BATCH", recheck_defaults.batch)?.max(1),
            concurrency: parsed::<usize>(
                "REGISTRY_RECHECK_CONCURRENCY",
                recheck_defaults.concurrency,
            )?
            .max(1),
            idle: Duration::from_secs(
                parsed::<u64>(
                    "REGISTRY_RECHECK_INTERVAL_SECONDS",
                    recheck_defaults.idle.as_secs(),
                )?
                .max(1),
            ),
            ..recheck_defaults
        };
        let event_bus = match var("EVENT_BUS").as_deref() {
            None | Some("local") => EventBusKind::Local,
            Some("nats") => EventBusKind::Nats {
                url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
                subject: var("NATS_SUBJECT")
                    .unwrap_or_else(|| shiftwire_notify::NATS_SUBJECT.into()),
            },
            Some(other) => bail!("EVENT_BUS={other:?}: expected local or nats"),
        };
        let required = |name: &str, provider: &str| {
            var(name).with_context(|| format!("PUSH_PROVIDER={provider} needs {name}"))
        };
        let push_provider = match var("PUSH_PROVIDER").as_deref() {
            None | Some("log") => PushProvider::Log,
            Some("webhook") => PushProvider::Webhook {
                url: required("PUSH_WEBHOOK_URL", "webhook")?
                    .parse()
                    .context("PUSH_WEBHOOK_URL is not a URL")?,
            },
            Some("fcm") => PushProvider::Fcm {
                credentials_file: required("FCM_CREDENTIALS_FILE", "fcm")?.into(),
                endpoint: var("FCM_ENDPOINT")
                    .unwrap_or_else(|| "https://fcm.googleapis.com".into()),
            },
            Some("apns") => PushProvider::Apns {
                key_file: required("APNS_KEY_FILE", "apns")?.into(),
                key_id: required("APNS_KEY_ID", "apns")?,
                team_id: required("APNS_TEAM_ID", "apns")?,
                topic: required("APNS_TOPIC", "apns")?,
                endpoint: var("APNS_ENDPOINT")
                    .unwrap_or_else(|| "https://api.push.apple.com".into()),
            },
            Some(other) => bail!("PUSH_PROVIDER={other:?}: expected log, webhook, fcm or apns"),
        };
        let push_defaults = shiftwire_notify::push::PushConfig::default();
        let push = shiftwire_notify::push::PushConfig {
            coalesce: Duration::from_secs(parsed(
                "PUSH_COALESCE_SECONDS",
                push_defaults.coalesce.as_secs(),
            )?),
            concurrency: parsed::<usize>("PUSH_CONCURRENCY", push_defaults.concurrency)?.max(1),
            urgent_within: Duration::from_secs(
                parsed::<u64>(
                    "URGENT_WITHIN_HOURS",
                    push_defaults.urgent_within.as_secs() / 3600,
                )?
                .min(24 * 365)
                    * 3600,
            ),
            texts_per_nurse_per_day: parsed::<i64>(
                "SMS_URGENT_PER_NURSE_PER_DAY",
                push_defaults.texts_per_nurse_per_day,
            )?
            .max(0),
            ..push_defaults
        };
        let notify_defaults = shiftwire_notify::NotifyConfig::default();
        let notify = shiftwire_notify::NotifyConfig {
            queue_capacity: parsed::<usize>("WS_QUEUE_FRAMES", notify_defaults.queue_capacity)?
                .max(1),
            ping_interval: Duration::from_secs(
                parsed::<u64>(
                    "WS_PING_INTERVAL_SECONDS",
                    notify_defaults.ping_interval.as_secs(),
                )?
                .max(1),
            ),
            messages_per_second: parsed(
                "WS_MESSAGES_PER_SECOND",
                notify_defaults.messages_per_second,
            )?,
            message_burst: parsed("WS_MESSAGE_BURST", notify_defaults.message_burst)?,
            max_connections_per_user: parsed::<usize>(
                "WS_MAX_CONNECTIONS_PER_USER",
                notify_defaults.max_connections_per_user,
            )?
            .max(1),
            ..notify_defaults
        };
        let metrics_addr = match var("METRICS_ADDR").as_deref() {
            Some("off") => None,
            Some(raw) => Some(
                raw.trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("METRICS_ADDR={raw:?} is not valid: {e}"))?,
            ),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        };
        let metrics_token = match var("METRICS_TOKEN") {
            Some(token) if token.len() >= MIN_SECRET_LEN => Some(SecretString::from(token)),
            Some(_) => bail!("METRICS_TOKEN must be at least {MIN_SECRET_LEN} characters"),
            None => None,
        };
        let defaults = RateLimitSettings::default();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            environment,
            database_url: SecretString::from(
                var("DATABASE_URL")
                    .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/shiftwire".into()),
            ),
            database_max_connections: parsed("DATABASE_MAX_CONNECTIONS", 20)?,
            bind_addr: parsed("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            jwt_secret: secret("JWT_SECRET", environment, DEV_JWT_SECRET)?,
            jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "shiftwire".into()),
            jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "shiftwire-api".into()),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(
                parsed::<u64>("REFRESH_TOKEN_TTL_DAYS", 30)? * 24 * 3600,
            ),
            otp_secret: secret("OTP_SECRET", environment, DEV_OTP_SECRET)?,
            otp: OtpPolicy {
                sends_per_phone: parsed("OTP_SENDS_PER_PHONE", 3)?,
                sends_per_prefix_per_hour: parsed(
                    "OTP_SENDS_PER_PREFIX_PER_HOUR",
                    OtpPolicy::default().sends_per_prefix_per_hour,
                )?,
                sends_per_hour: parsed("OTP_SENDS_PER_HOUR", OtpPolicy::default().sends_per_hour)?,
                ..OtpPolicy::default()
            },
            login_backoff: shiftwire_auth::LoginBackoffPolicy {
                free_attempts: parsed("LOGIN_FAILURES_BEFORE_BACKOFF", 5)?,
                max_lock: Duration::from_secs(parsed("LOGIN_MAX_BACKOFF_SECONDS", 900)?),
                account_alert: parsed("LOGIN_FAILURES_ACCOUNT_ALERT", 100)?,
            },
            web_session: shiftwire_auth::WebSessionPolicy {
                idle: Duration::from_secs(
                    parsed::<u64>("WEB_SESSION_IDLE_MINUTES", 30)?.max(1) * 60,
                ),
                absolute: Duration::from_secs(
                    parsed::<u64>("WEB_SESSION_ABSOLUTE_HOURS", 12)?.max(1) * 3600,
                ),
            },
            sms,
            rate_limits: RateLimitSettings {
                otp_sends_per_ip_per_hour: parsed(
                    "OTP_SENDS_PER_IP_PER_HOUR",
                    defaults.otp_sends_per_ip_per_hour,
                )?,
                otp_verifies_per_ip_per_minute: parsed(
                    "OTP_VERIFY_ATTEMPTS_PER_IP_PER_MINUTE",
                    defaults.otp_verifies_per_ip_per_minute,
                )?,
                login_attempts_per_ip_per_minute: parsed(
                    "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE",
                    defaults.login_attempts_per_ip_per_minute,
                )?,
                refreshes_per_ip_per_minute: parsed(
                    "REFRESHES_PER_IP_PER_MINUTE",
                    defaults.refreshes_per_ip_per_minute,
                )?,
            },
            password_hash_concurrency: parsed("PASSWORD_HASH_CONCURRENCY", cores)?,
            trust_forwarded_for: parsed("TRUST_X_FORWARDED_FOR", false)?,
            request_timeout: Duration::from_secs(parsed("REQUEST_TIMEOUT_SECONDS", 30)?),
            header_read_timeout: Duration::from_secs(
                parsed::<u64>("HEADER_READ_TIMEOUT_SECONDS", 10)?.max(1),
            ),
            shutdown_grace: Duration::from_secs(parsed("SHUTDOWN_GRACE_SECONDS", 10)?),
            log_format,
            document_dir: var("DOCUMENT_DIR")
                .unwrap_or_else(|| "data/documents".into())
                .into(),
            license_registry,
            license_registry_timeout: Duration::from_secs(parsed(
                "LICENSE_REGISTRY_TIMEOUT_SECONDS",
                5,
            )?),
            registry_recheck,
            identity_provider,
            identity_webhook_secret,
            verification_sweep_interval: Duration::from_secs(parsed(
                "VERIFICATION_SWEEP_INTERVAL_SECONDS",
                3600,
            )?),
            unfilled_alert: Duration::from_secs(60 * parsed::<u64>("UNFILLED_ALERT_MINUTES", 120)?),
            no_show_grace: Duration::from_secs(
                60 * parsed::<u64>("NO_SHOW_GRACE_MINUTES", 15)?.min(24 * 60),
            ),
            timesheet_auto_approve: Duration::from_secs(
                3600 * parsed::<u64>("TIMESHEET_AUTO_APPROVE_HOURS", 72)?.clamp(1, 24 * 365),
            ),
            verification_checkers: parsed::<usize>("VERIFICATION_CHECKERS", 4)?.max(1),
            event_bus,
            cors_allowed_origins: cors_origins(var("CORS_ALLOWED_ORIGINS").as_deref())?,
            tcp_send_buffer: var("TCP_SEND_BUFFER_BYTES")
                .map(|raw| {
                    raw.trim().parse::<usize>().map_err(|e| {
                        anyhow::anyhow!("TCP_SEND_BUFFER_BYTES={raw:?} is not valid: {e}")
                    })
                })
                .transpose()?,
            notify,
            push_provider,
            push_timeout: Duration::from_secs(parsed::<u64>("PUSH_TIMEOUT_SECONDS", 5)?.max(1)),
            push,
            metrics_addr,
            metrics_token,
            dev_explicit,
        })
    }

    /// Whether the JWT or OTP secret is the one written in this source code.
    pub fn uses_builtin_secrets(&self) -> bool {
        use secrecy::ExposeSecret;
        self.jwt_secret.expose_secret() == DEV_JWT_SECRET
            || self.otp_secret.expose_secret() == DEV_OTP_SECRET
    }

    /// Refuses to serve with the secrets written in this source code where anyone but this
    /// machine could reach the server, unless development was asked for by name: anyone
    /// could mint an admin token with them.
    pub fn check_serving_secrets(&self) -> anyhow::Result<()> {
        if self.uses_builtin_secrets() && !self.bind_addr.ip().is_loopback() && !self.dev_explicit {
            bail!(
                "refusing to serve on {} with the development JWT/OTP secrets: set JWT_SECRET and \
                 OTP_SECRET (and SHIFTWIRE_ENV=production), bind to loopback, or set \
                 SHIFTWIRE_ENV=dev explicitly for a development server on a network",
                self.bind_addr
            );
        }
        Ok(())
    }

    /// Settings for tests and tools: development defaults, nothing read from the environment.
    pub fn for_tests() -> Self {
        Self {
            environment: Environment::Dev,
            database_url: SecretString::from("postgres://postgres@127.0.0.1:5432/shiftwire"),
            database_max_connections: 10,
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: SecretString::from(DEV_JWT_SECRET),
            jwt_issuer: "shiftwire".into(),
            jwt_audience: "shiftwire-api".into(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            otp_secret: SecretString::from(DEV_OTP_SECRET),
            otp: OtpPolicy::default(),
            login_backoff: shiftwire_auth::LoginBackoffPolicy::default(),
            web_session: shiftwire_auth::WebSessionPolicy::default(),
            sms: SmsProvider::Log,
            rate_limits: RateLimitSettings::default(),
            password_hash_concurrency: 2,
            trust_forwarded_for: false,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            log_format: LogFormat::Pretty,
            document_dir: std::env::temp_dir().join("shiftwire-test-documents"),
            license_registry: RegistryProvider::Table {
                csv: PathBuf::from("../../registry/demo-licenses.csv"),
            },
            license_registry_timeout: Duration::from_secs(2),
            registry_recheck: shiftwire_verification::RecheckPolicy::default(),
            identity_provider: IdentityProviderKind::Manual,
            identity_webhook_secret: None,
            verification_sweep_interval: Duration::from_secs(3600),
            unfilled_alert: Duration::from_secs(120 * 60),
            no_show_grace: Duration::from_secs(15 * 60),
            timesheet_auto_approve: Duration::from_secs(72 * 3600),
            verification_checkers: 2,
            event_bus: EventBusKind::Local,
            cors_allowed_origins: Vec::new(),
            tcp_send_buffer: None,
            notify: shiftwire_notify::NotifyConfig::default(),
            push_provider: PushProvider::Log,
            push_timeout: Duration::from_secs(5),
            push: shiftwire_notify::push::PushConfig::default(),
            metrics_addr: None,
            metrics_token: None,
            dev_explicit: false,
        }
    }
}
