use async_trait::async_trait;
use serde::Serialize;
use shiftwire_core::Phone;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("SMS delivery failed: {0}")]
pub struct SmsError(pub String);

/// Delivers a text message to a phone. Implementations must never log the message body
/// (it carries a sign-in code) outside development.
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, to: &Phone, body: &str) -> Result<(), SmsError>;
}

/// Development sender: writes the message to the server log so a developer can sign in
/// without an SMS gateway. Outside development it writes only that a message was dropped.
pub struct LogSms {
    pub dev: bool,
}

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, to: &Phone, body: &str) -> Result<(), SmsError> {
        if self.dev {
            tracing::info!(to = %to.masked(), body, "SMS (dev log provider)");
        } else {
            tracing::warn!(
                to = %to.masked(),
                "SMS_PROVIDER=log outside development: message not delivered and not logged"
            );
        }
        Ok(())
    }
}

/// Sends `POST {url}` with `{ "to": "+1555…", "body": "…" }` to an SMS gateway.
pub struct WebhookSms {
    client: reqwest::Client,
    url: reqwest::Url,
}

#[derive(Serialize)]
struct WebhookMessage<'a> {
    to: &'a str,
    body: &'a str,
}

impl WebhookSms {
    pub fn new(url: reqwest::Url, timeout: Duration) -> Result<Self, SmsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SmsError(e.to_string()))?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl SmsSender for WebhookSms {
    async fn send(&self, to: &Phone, body: &str) -> Result<(), SmsError> {
        let response = self
            .client
            .post(self.url.clone())
            .json(&WebhookMessage {
                to: to.as_e164(),
                body,
            })
            .send()
            .await
            // reqwest errors can include the URL but never the body; still, keep it short.
            .map_err(|e| SmsError(format!("webhook request failed: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(SmsError(format!("webhook answered {}", response.status())));
        }
        Ok(())
    }
}
