//! The SMS side of sign-in, shared by the scenarios: test phone numbers, and the webhook
//! the server "texts" its sign-in codes to (`SMS_PROVIDER=webhook`), which this process
//! serves itself and which keeps the newest code of each phone.

use http_body_util::BodyExt;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, service::service_fn};
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::{net::TcpListener, task::JoinHandle};

/// The `i`-th test phone number: +1 212 2xx-xxxx, a valid (libphonenumber) New York
/// number range; distinct for `i < 800_000`.
pub fn phone(i: u64) -> String {
    format!("+1212{:03}{:04}", 200 + i / 10_000, i % 10_000)
}

/// The sign-in code in an SMS: its only run of exactly six digits.
pub fn six_digit_code(body: &str) -> Option<&str> {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
}

/// What the webhook received: the newest code of each phone.
#[derive(Default)]
pub struct Inbox {
    codes: Mutex<HashMap<String, String>>,
    without_code: AtomicU64,
}

impl Inbox {
    /// The newest code sent to `phone`, if any arrived.
    pub fn code(&self, phone: &str) -> Option<String> {
        self.codes.lock().ok()?.get(phone).cloned()
    }

    /// Webhook messages in which no 6-digit code was found.
    pub fn messages_without_code(&self) -> u64 {
        self.without_code.load(Ordering::Relaxed)
    }
}

#[derive(Deserialize)]
struct SmsMessage {
    to: String,
    body: String,
}

/// Answers one webhook request: 204 with a code stored, 422 without a code.
async fn receive_sms(inbox: &Inbox, request: Request<Incoming>) -> Response<String> {
    let status = if request.method() != Method::POST || request.uri().path() != "/sms" {
        StatusCode::NOT_FOUND
    } else {
        let body = request.into_body().collect().await.map(|b| b.to_bytes());
        match body
            .ok()
            .and_then(|b| serde_json::from_slice::<SmsMessage>(&b).ok())
        {
            None => StatusCode::BAD_REQUEST,
            Some(sms) => match six_digit_code(&sms.body) {
                Some(code) => {
                    if let Ok(mut codes) = inbox.codes.lock() {
                        codes.insert(sms.to, code.to_owned());
                    }
                    StatusCode::NO_CONTENT
                }
                None => {
                    inbox.without_code.fetch_add(1, Ordering::Relaxed);
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            },
        }
    };
    let mut response = Response::new(String::new());
    *response.status_mut() = status;
    response
}

/// Serves `POST /sms` on `listener` (HTTP/1.1) until the returned task is aborted.
pub fn serve_webhook(listener: TcpListener) -> (Arc<Inbox>, JoinHandle<std::io::Result<()>>) {
    let inbox = Arc::new(Inbox::default());
    let served = inbox.clone();
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await?;
            let inbox = served.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let inbox = inbox.clone();
                    async move { Ok::<_, hyper::Error>(receive_sms(&inbox, request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (inbox, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code_in_the_servers_sms() {
        let body = "Your Shiftwire sign-in code is 042917. It expires in 10 minutes. \
                    Shiftwire staff will never ask you for it.";
        assert_eq!(six_digit_code(body), Some("042917"));
        assert_eq!(six_digit_code("no code, 12345 or 1234567"), None);
    }

    #[test]
    fn test_phones_are_distinct_valid_us_numbers() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..2_000).chain([9_999, 10_000, 700_000, 700_999, 799_999]) {
            let p = phone(i);
            let parsed = shiftwire_core::Phone::parse(&p)
                .unwrap_or_else(|e| panic!("{p} is not accepted by the server: {e}"));
            assert_eq!(parsed.as_e164(), p);
            assert!(seen.insert(p));
        }
    }
}
