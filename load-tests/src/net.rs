//! HTTP plumbing shared by the scenarios: loopback-only targets, how a request's outcome
//! is classified, and closed-loop workers.

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{task::JoinSet, time::Instant};

/// Parses `raw` and refuses anything that is not on this machine's loopback interface:
/// a benchmark must never send its load anywhere else.
pub fn loopback_base_url(raw: &str) -> anyhow::Result<reqwest::Url> {
    let url: reqwest::Url = raw
        .parse()
        .with_context(|| format!("--base-url {raw:?} is not a URL"))?;
    if url.scheme() != "http" {
        bail!("--base-url must be http:// (the benchmark targets a local server)");
    }
    if !on_loopback(&url) {
        bail!("--base-url must point at the loopback interface (127.0.0.0/8, localhost or [::1])");
    }
    Ok(url)
}

/// Refuses a NATS URL (the real-time baselines' server) outside the loopback interface.
pub fn loopback_nats_url(raw: &str) -> anyhow::Result<()> {
    let url: reqwest::Url = raw
        .parse()
        .with_context(|| format!("--nats-url {raw:?} is not a URL"))?;
    if url.scheme() != "nats" || !on_loopback(&url) {
        bail!("--nats-url must be nats:// on the loopback interface (e.g. nats://127.0.0.1:4222)");
    }
    Ok(())
}

fn on_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Refuses a listening address outside the loopback interface.
pub fn loopback_listen_addr(addr: SocketAddr, flag: &str) -> anyhow::Result<SocketAddr> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ok(addr),
        IpAddr::V6(ip) if ip.is_loopback() => Ok(addr),
        _ => bail!("{flag} must be a loopback address (e.g. 127.0.0.1:18099)"),
    }
}

/// A client for the server under test: no proxy (so nothing leaves the machine), no
/// Nagle delay, and a hard per-request timeout.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .build()
        .context("building the HTTP client")
}

/// Signs in with a password (`POST /v1/auth/login`): the access token.
pub async fn sign_in(
    client: &reqwest::Client,
    base: &reqwest::Url,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct TokenPair {
        access_token: String,
    }
    let body = serde_json::json!({ "email": email, "password": password });
    let request = client.post(base.join("/v1/auth/login")?).json(&body);
    let pair: TokenPair = json(request, StatusCode::OK)
        .await
        .map_err(|e| anyhow!("signing in as {email} failed ({e})"))?;
    Ok(pair.access_token)
}

/// `workers` closed-loop workers take items 0, 1, … in turn until `items` are taken or
/// `deadline` passes, each folding the items it takes into a tally of its own with
/// `work`. Returns the tallies (a worker that failed, as its error) and how many items
/// were taken.
pub async fn closed_loop<T, F, Fut>(
    workers: u64,
    items: u64,
    deadline: Instant,
    work: F,
) -> (Vec<Result<T, String>>, u64)
where
    T: Default + Send + 'static,
    F: Fn(u64, T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..workers.min(items) {
        let (next, work) = (next.clone(), work.clone());
        set.spawn(async move {
            let mut tally = T::default();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items {
                    break;
                }
                tally = work(i, tally).await;
            }
            tally
        });
    }
    let mut tallies = Vec::new();
    while let Some(joined) = set.join_next().await {
        tallies.push(joined.map_err(|error| format!("worker failed: {error}")));
    }
    (tallies, next.load(Ordering::Relaxed).min(items))
}

/// Fails unless `url` (the server's `/healthz`) answers 200.
pub async fn server_up(client: &reqwest::Client, url: &reqwest::Url) -> anyhow::Result<()> {
    outcome(client.get(url.clone()), StatusCode::OK)
        .await
        .map_err(|e| anyhow!("GET {url} failed ({e}); is the server running?"))
}

/// `work`, or an error saying that `what` took longer than `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let late = || anyhow!("{what} took longer than {}s", limit.as_secs());
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| late())?
}

/// Sends `request`: `Ok` when the server gave the expected status, otherwise a short label
/// that is counted in the report (`HTTP 503`, `timeout`, ...).
pub async fn outcome(request: RequestBuilder, expected: StatusCode) -> Result<(), String> {
    expect(request, expected).await.map(drop)
}

/// Like [`outcome`], and parses the JSON body of the expected answer.
pub async fn json<T: DeserializeOwned>(
    request: RequestBuilder,
    expected: StatusCode,
) -> Result<T, String> {
    let body = expect(request, expected).await?;
    serde_json::from_slice(&body).map_err(|_| "unexpected body".into())
}

async fn expect(request: RequestBuilder, expected: StatusCode) -> Result<Bytes, String> {
    match answer(request).await? {
        (status, body) if status == expected => Ok(body),
        (status, _) => Err(format!("HTTP {}", status.as_u16())),
    }
}

/// Sends `request`: the status and whole body of the answer (a response is only complete
/// once its body arrived), whatever the status; `Err` only when no complete answer
/// arrived (timeout, connection error, ...).
pub async fn answer(request: RequestBuilder) -> Result<(StatusCode, Bytes), String> {
    let response = request.send().await.map_err(|error| classify(&error))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|error| classify(&error))?;
    Ok((status, body))
}

fn classify(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect error".into()
    } else if error.is_body() || error.is_decode() {
        "body error".into()
    } else {
        "request error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_loopback() {
        assert!(loopback_base_url("http://127.0.0.1:18080").is_ok());
        assert!(loopback_base_url("http://10.0.0.1:18080").is_err());
        assert!(loopback_nats_url("nats://127.0.0.1:4222").is_ok());
        assert!(loopback_nats_url("nats://localhost:4222").is_ok());
        assert!(loopback_nats_url("nats://10.0.0.1:4222").is_err());
        assert!(loopback_nats_url("http://127.0.0.1:4222").is_err());
    }
}
