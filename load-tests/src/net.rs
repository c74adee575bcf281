//! HTTP plumbing shared by the scenarios: loopback-only targets and how a request's
//! outcome is classified.

use anyhow::{Context, bail};
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

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

/// How one request ended: `Ok` when the server gave the expected status, otherwise a
/// short label that is counted in the report (`HTTP 503`, `timeout`, ...).
pub async fn outcome(
    result: Result<reqwest::Response, reqwest::Error>,
    expected: reqwest::StatusCode,
) -> Result<(), String> {
    match result {
        Ok(response) => {
            let status = response.status();
            // Read the whole body: a response is only complete once its body arrived.
            match response.bytes().await {
                Ok(_) if status == expected => Ok(()),
                Ok(_) => Err(format!("HTTP {}", status.as_u16())),
                Err(error) => Err(classify(&error)),
            }
        }
        Err(error) => Err(classify(&error)),
    }
}

/// Like [`outcome`], and parses the JSON body of the expected answer.
pub async fn json<T: serde::de::DeserializeOwned>(
    result: Result<reqwest::Response, reqwest::Error>,
    expected: reqwest::StatusCode,
) -> Result<T, String> {
    match result {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(body) if status == expected => {
                    serde_json::from_slice(&body).map_err(|_| "unexpected body".into())
                }
                Ok(_) => Err(format!("HTTP {}", status.as_u16())),
                Err(error) => Err(classify(&error)),
            }
        }
        Err(error) => Err(classify(&error)),
    }
}

/// The status and whole body of an answer, whatever the status; `Err` only when no
/// complete answer arrived (timeout, connection error, ...).
pub async fn answer(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<(reqwest::StatusCode, axum::body::Bytes), String> {
    let response = result.map_err(|error| classify(&error))?;
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
