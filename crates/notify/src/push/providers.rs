//! Where pushes go: the `PushSender` providers. `log` (development), `webhook` (a POST of
//! the contract's body), `fcm` (Firebase Cloud Messaging HTTP v1, with a service account's
//! OAuth token) and `apns` (Apple's HTTP/2 API with a token-based key). Every call has a
//! timeout; a provider's answer is sorted into delivered, dead token, retry later, or
//! refused. Tokens are never logged in full.

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::{
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

/// What a push says; no patient information, ever.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PushMessage {
    pub platform: String,
    pub token: String,
    pub title: String,
    pub body: String,
    pub data: PushData,
    /// Provider-side de-duplication: a resend with the same id replaces the first.
    #[serde(skip)]
    pub collapse_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PushData {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<uuid::Uuid>,
}

impl PushMessage {
    /// Offers and booking changes are urgent for the phone; a digest is not.
    pub fn high_priority(&self) -> bool {
        self.data.kind != "shift.digest"
    }
}

/// How a provider answered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PushError {
    /// The provider says the token will never work again: delete the device.
    #[error("the provider reports the device token dead")]
    DeadToken,
    /// Try again later (429, 5xx, timeout, connection refused), after `after` if the
    /// provider said.
    #[error("temporarily refused: {why}")]
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Refused for good (a malformed message, bad credentials).
    #[error("refused: {0}")]
    Refused(String),
}

#[async_trait]
pub trait PushSender: Send + Sync {
    /// The provider's name, as metrics label it: `log`, `webhook`, `fcm`, `apns`.
    fn name(&self) -> &'static str;
    async fn send(&self, message: &PushMessage) -> Result<(), PushError>;
}

/// The first and last four characters of a token: enough to tell devices apart in a log.
pub fn redacted(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 12 {
        return "…".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `Retry-After` in seconds, if the provider sent one.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn transport(error: reqwest::Error) -> PushError {
    PushError::Retry {
        after: None,
        why: if error.is_timeout() {
            "timed out".to_owned()
        } else {
            "could not reach the provider".to_owned()
        },
    }
}

/// 429 and 5xx are worth another try; the rest of the 4xx are not.
fn by_status(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) -> PushError {
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        PushError::Retry {
            after: retry_after(headers),
            why: format!("status {status}"),
        }
    } else {
        PushError::Refused(format!("status {status}"))
    }
}

// ---------------------------------------------------------------- log

/// Development: writes each push to the log (the token redacted).
pub struct LogPush;

#[async_trait]
impl PushSender for LogPush {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, message: &PushMessage) -> Result<(), PushError> {
        tracing::info!(
            platform = %message.platform,
            token = %redacted(&message.token),
            kind = %message.data.kind,
            title = %message.title,
            body = %message.body,
            "push (log provider)"
        );
        Ok(())
    }
}

// ---------------------------------------------------------------- webhook

/// POSTs `{ platform, token, title, body, data }` to `PUSH_WEBHOOK_URL`. 410 means the
/// token is dead.
pub struct WebhookPush {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl WebhookPush {
    pub fn new(url: reqwest::Url, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            url,
        })
    }
}

#[async_trait]
impl PushSender for WebhookPush {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, message: &PushMessage) -> Result<(), PushError> {
        let response = self
            .client
            .post(self.url.clone())
            // The body is the contract's; a job sent again (its first answer lost) carries
            // the same id, as FCM's collapse_key and APNs' apns-collapse-id do.
            .header("Shiftwire-Collapse-Id", &message.collapse_id)
            .json(message)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status == reqwest::StatusCode::GONE {
            Err(PushError::DeadToken)
        } else {
            Err(by_status(status, response.headers()))
        }
    }
}

// ---------------------------------------------------------------- FCM

/// The fields of a Google service-account JSON file that the token exchange needs.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    token_uri: String,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'static str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// Firebase Cloud Messaging HTTP v1. The service account signs a JWT (RS256) that its
/// `token_uri` exchanges for an OAuth access token, kept until a minute before it
/// expires.
pub struct FcmPush {
    client: reqwest::Client,
    account: ServiceAccount,
    key: EncodingKey,
    /// `https://fcm.googleapis.com` unless `FCM_ENDPOINT` says otherwise.
    endpoint: String,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

impl FcmPush {
    pub fn from_file(path: &Path, endpoint: String, timeout: Duration) -> anyhow::Result<Self> {
        let raw = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("reading FCM_CREDENTIALS_FILE {}: {e}", path.display()))?;
        let account: ServiceAccount = serde_json::from_slice(&raw)
            .map_err(|e| anyhow::anyhow!("FCM_CREDENTIALS_FILE is not a service account: {e}"))?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| anyhow::anyhow!("the service account's private_key: {e}"))?;
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            account,
            key,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn access_token(&self) -> Result<String, PushError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = AssertionClaims {
            iss: &self.account.client_email,
            scope: FCM_SCOPE,
            aud: &self.account.token_uri,
            iat: now,
            exp: now + 3600,
        };
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| PushError::Refused(format!("signing the token request: {e}")))?;
        let response = self
            .client
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            return Err(by_status(response.status(), response.headers()));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| PushError::Refused(format!("token endpoint answer: {e}")))?;
        let until = Instant::now() + Duration::from_secs(answer.expires_in.saturating_sub(60));
        *cached = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }
}

#[async_trait]
impl PushSender for FcmPush {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn send(&self, message: &PushMessage) -> Result<(), PushError> {
        let token = self.access_token().await?;
        let mut data = serde_json::Map::new();
        data.insert("type".into(), json!(message.data.kind));
        if let Some(id) = message.data.shift_id {
            data.insert("shift_id".into(), json!(id.to_string()));
        }
        if let Some(id) = message.data.booking_id {
            data.insert("booking_id".into(), json!(id.to_string()));
        }
        let body = json!({
            "message": {
                "token": message.token,
                "notification": { "title": message.title, "body": message.body },
                "data": data,
                "android": {
                    "priority": if message.high_priority() { "high" } else { "normal" },
                    "collapse_key": message.collapse_id,
                },
            }
        });
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.endpoint, self.account.project_id
        );
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let headers = response.headers().clone();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let unregistered = answer["error"]["details"]
            .as_array()
            .is_some_and(|details| details.iter().any(|d| d["errorCode"] == "UNREGISTERED"));
        if status == reqwest::StatusCode::NOT_FOUND || unregistered {
            return Err(PushError::DeadToken);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // The cached OAuth token was refused: fetch a new one next time.
            *self.token.lock().await = None;
        }
        Err(by_status(status, &headers))
    }
}

// ---------------------------------------------------------------- APNs

#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: u64,
}

/// Apple Push Notification service over HTTP/2 with token authentication: an ES256 JWT
/// of the team, signed with the `.p8` key, renewed every 50 minutes (Apple accepts one
/// for up to an hour).
pub struct ApnsPush {
    client: reqwest::Client,
    key: EncodingKey,
    key_id: String,
    team_id: String,
    topic: String,
    /// `https://api.push.apple.com` unless `APNS_ENDPOINT` says otherwise.
    endpoint: String,
    token: Mutex<Option<(String, Instant)>>,
}

/// How long a provider token is used before a new one is signed.
const APNS_TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

pub struct ApnsSettings<'a> {
    pub key_file: &'a Path,
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
    pub endpoint: String,
    pub timeout: Duration,
}

impl ApnsPush {
    pub fn new(settings: ApnsSettings<'_>) -> anyhow::Result<Self> {
        let pem = std::fs::read(settings.key_file).map_err(|e| {
            anyhow::anyhow!("reading APNS_KEY_FILE {}: {e}", settings.key_file.display())
        })?;
        let key = EncodingKey::from_ec_pem(&pem)
            .map_err(|e| anyhow::anyhow!("APNS_KEY_FILE is not an EC private key: {e}"))?;
        let mut builder = reqwest::Client::builder().timeout(settings.timeout);
        // Apple speaks HTTP/2 only: over TLS it is negotiated, over plain http (a stand-in)
        // it is assumed.
        if settings.endpoint.starts_with("http://") {
            builder = builder.http2_prior_knowledge();
        }
        Ok(Self {
            client: builder.build()?,
            key,
            key_id: settings.key_id,
            team_id: settings.team_id,
            topic: settings.topic,
            endpoint: settings.endpoint.trim_end_matches('/').to_owned(),
            token: Mutex::new(None),
        })
    }

    fn provider_token(&self) -> Result<String, PushError> {
        let mut cached = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, signed)) = cached.as_ref()
            && signed.elapsed() < APNS_TOKEN_LIFETIME
        {
            return Ok(token.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = ProviderClaims {
            iss: &self.team_id,
            iat: chrono::Utc::now().timestamp().max(0) as u64,
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| PushError::Refused(format!("signing the provider token: {e}")))?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }
}

#[async_trait]
impl PushSender for ApnsPush {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn send(&self, message: &PushMessage) -> Result<(), PushError> {
        let token = self.provider_token()?;
        let body = json!({
            "aps": {
                "alert": { "title": message.title, "body": message.body },
                "sound": "default",
            },
            "type": message.data.kind,
            "shift_id": message.data.shift_id,
            "booking_id": message.data.booking_id,
        });
        let url = format!("{}/3/device/{}", self.endpoint, message.token);
        let response = self
            .client
            .post(url)
            .header("authorization", format!("bearer {token}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header(
                "apns-priority",
                if message.high_priority() { "10" } else { "5" },
            )
            .header("apns-collapse-id", &message.collapse_id)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let headers = response.headers().clone();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let reason = answer["reason"].as_str().unwrap_or_default();
        if status == reqwest::StatusCode::GONE
            || matches!(reason, "Unregistered" | "BadDeviceToken")
        {
            return Err(PushError::DeadToken);
        }
        if matches!(reason, "ExpiredProviderToken" | "InvalidProviderToken") {
            *self
                .token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        Err(by_status(status, &headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_never_shown_whole() {
        let token = "fcm-token-0123456789abcdefghij";
        let shown = redacted(token);
        assert_eq!(shown, "fcm-…ghij");
        assert!(!shown.contains("0123456789"));
        assert_eq!(redacted("short"), "…");
    }
}
