//! Fan-out rounds as their receivers saw them, and the same-run baseline they are compared
//! with: NATS core fanning the bytes of a real offer out to as many subscribers.

use crate::report::{Recorder, Stats};
use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::{sync::Semaphore, task::JoinSet, time::Instant};
use uuid::Uuid;

/// The NATS header that says which round a message belongs to.
const ROUND_HEADER: &str = "Bench-Round";
const NATS_CONNECT_CONCURRENCY: usize = 64;
const NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of opening every NATS connection of one baseline.
const NATS_CONNECT_PHASE: Duration = Duration::from_secs(60);
/// After the last publish: time for late or duplicate copies to show up.
const NATS_SETTLE: Duration = Duration::from_millis(300);

/// One fan-out round (or one post for a single nurse) as the receivers saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The shift id (WebSocket) or round number (NATS).
    pub id: String,
    pub receivers: u64,
    /// Receivers that got it at least once.
    pub received: u64,
    pub missing: u64,
    /// Copies beyond the first, over all receivers.
    pub duplicates: u64,
    /// Copies that reached a connection that should not have got it.
    pub strangers: u64,
    /// From just before the send, of the receivers' first copies.
    pub first_ms: Option<f64>,
    pub median_ms: Option<f64>,
    pub last_ms: Option<f64>,
    /// The send's own round trip: `POST` → 201, or publish + flush.
    pub send_ms: f64,
}

/// Rounds summed up: the first, median and last deliveries across rounds, and every
/// delivery.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutStats {
    pub receivers: u64,
    pub rounds: u64,
    /// Rounds whose send failed (no shift id, or the publish failed).
    pub send_errors: u64,
    pub expected: u64,
    pub received: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub strangers: u64,
    pub send: Stats,
    pub first: Stats,
    pub median: Stats,
    pub last: Stats,
    pub every: Stats,
}

impl FanoutStats {
    /// This fan-out's last-delivery p50 over the baseline's.
    pub fn last_p50_over(&self, baseline: &FanoutStats) -> Option<f64> {
        let base = baseline.last.latency_ms.p50;
        (base > 0.0 && self.last.ok > 0).then(|| self.last.latency_ms.p50 / base)
    }
}

#[derive(Default)]
pub struct FanoutRecorder {
    receivers: u64,
    pub rounds: Vec<Round>,
    send_errors: u64,
    send: Recorder,
    first: Recorder,
    median: Recorder,
    last: Recorder,
    every: Recorder,
}

impl FanoutRecorder {
    pub fn new(receivers: u64) -> Self {
        Self {
            receivers,
            ..Self::default()
        }
    }

    /// Adds one round: `deliveries` are (receiver, arrival) of its copies; receivers are
    /// those for which `expected` holds.
    pub fn add(
        &mut self,
        id: String,
        sent: Instant,
        send_took: Duration,
        deliveries: &[(usize, Instant)],
        expected: impl Fn(usize) -> bool,
    ) {
        let mut first_at: HashMap<usize, Instant> = HashMap::new();
        let (mut duplicates, mut strangers) = (0, 0);
        for &(receiver, at) in deliveries {
            if !expected(receiver) {
                strangers += 1;
                continue;
            }
            match first_at.entry(receiver) {
                Entry::Occupied(_) => duplicates += 1,
                Entry::Vacant(slot) => {
                    slot.insert(at);
                }
            }
        }
        let mut times: Vec<Duration> = first_at
            .values()
            .map(|at| at.saturating_duration_since(sent))
            .collect();
        times.sort_unstable();
        for t in &times {
            self.every.record(*t, Ok(()));
        }
        let first = times.first().copied();
        // The median of n deliveries: the ⌈n/2⌉-th (the 500th of 1,000).
        let median = times.get(times.len().saturating_sub(1) / 2).copied();
        let last = times.last().copied();
        for (recorder, value) in [
            (&mut self.first, first),
            (&mut self.median, median),
            (&mut self.last, last),
        ] {
            match value {
                Some(t) => recorder.record(t, Ok(())),
                None => recorder.error("nothing delivered", 1),
            }
        }
        self.send.record(send_took, Ok(()));
        let received = times.len() as u64;
        let as_ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.rounds.push(Round {
            id,
            receivers: self.receivers,
            received,
            missing: self.receivers.saturating_sub(received),
            duplicates,
            strangers,
            first_ms: first.map(as_ms),
            median_ms: median.map(as_ms),
            last_ms: last.map(as_ms),
            send_ms: as_ms(send_took),
        });
    }

    pub fn send_failed(&mut self, kind: String, took: Duration) {
        self.send_errors += 1;
        self.send.record(took, Err(kind));
    }

    pub fn stats(&self, elapsed: Duration) -> FanoutStats {
        let sum = |f: fn(&Round) -> u64| self.rounds.iter().map(f).sum::<u64>();
        let rounds = self.rounds.len() as u64 + self.send_errors;
        FanoutStats {
            receivers: self.receivers,
            rounds,
            send_errors: self.send_errors,
            expected: rounds * self.receivers,
            received: sum(|r| r.received),
            // A round whose send failed delivered nothing to anyone.
            missing: sum(|r| r.missing) + self.send_errors * self.receivers,
            duplicates: sum(|r| r.duplicates),
            strangers: sum(|r| r.strangers),
            send: self.send.stats(elapsed),
            first: self.first.stats(elapsed),
            median: self.median.stats(elapsed),
            last: self.last.stats(elapsed),
            every: self.every.stats(elapsed),
        }
    }
}

/// Polls `done` every millisecond until it holds or `deadline` passes.
pub async fn poll_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A NATS baseline paced like the WebSocket rounds it is compared with.
pub struct NatsRun<'a> {
    pub url: &'a str,
    pub subscribers: u32,
    /// Connections at most; beyond that, subscriptions share them in turn.
    pub max_connections: u32,
    pub rounds: u64,
    /// How long a round waits for its last copy before the pause and the next round.
    pub round_wait: Duration,
    pub round_gap: Duration,
}

#[derive(Debug, Serialize)]
pub struct NatsReport {
    pub subscribers: u64,
    pub connections: u64,
    pub connect_failed: u64,
    pub payload_bytes: usize,
    pub fanout: FanoutStats,
}

/// Deliveries of the NATS rounds: round → (subscriber, arrival).
type NatsSeen = Arc<Mutex<HashMap<u64, Vec<(usize, Instant)>>>>;

fn lock(seen: &NatsSeen) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<(usize, Instant)>>> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// NATS core: `subscribers` subscriptions of one unique subject on their connections, a
/// publisher on its own connection, `rounds` publishes of `payload`.
pub async fn nats_baseline(run: &NatsRun<'_>, payload: Bytes) -> anyhow::Result<NatsReport> {
    let subject = format!("shiftwire.bench.{}", Uuid::now_v7().simple());
    let connect = || {
        async_nats::ConnectOptions::new()
            .connection_timeout(NATS_CONNECT_TIMEOUT)
            .connect(run.url.to_owned())
    };
    let conns = run.subscribers.min(run.max_connections.max(1)) as usize;
    let permits = Arc::new(Semaphore::new(NATS_CONNECT_CONCURRENCY));
    let mut connecting = JoinSet::new();
    for _ in 0..conns {
        let (opening, permits) = (connect(), permits.clone());
        connecting.spawn(async move {
            let _permit = permits.acquire_owned().await;
            tokio::time::timeout(NATS_CONNECT_TIMEOUT, opening).await
        });
    }
    let mut clients = Vec::new();
    let mut connect_failed = 0u64;
    let deadline = Instant::now() + NATS_CONNECT_PHASE;
    loop {
        let joined = tokio::select! {
            j = connecting.join_next() => j,
            () = tokio::time::sleep_until(deadline) => {
                connect_failed += connecting.len() as u64;
                connecting.abort_all();
                break;
            }
        };
        let Some(joined) = joined else { break };
        match joined {
            Ok(Ok(Ok(c))) => clients.push(c),
            _ => connect_failed += 1,
        }
    }
    if clients.is_empty() {
        bail!("no NATS connection opened");
    }
    let seen: NatsSeen = Arc::default();
    let mut readers = JoinSet::new();
    for i in 0..run.subscribers as usize {
        let mut sub = clients[i % clients.len()]
            .subscribe(subject.clone())
            .await
            .map_err(|e| anyhow!("subscribe: {e}"))?;
        let seen = seen.clone();
        readers.spawn(async move {
            while let Some(message) = sub.next().await {
                let at = Instant::now();
                let round = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(ROUND_HEADER))
                    .and_then(|v| v.as_str().parse::<u64>().ok());
                if let Some(round) = round {
                    lock(&seen).entry(round).or_default().push((i, at));
                }
            }
        });
    }
    // The server has every subscription once each connection's flush is back.
    for c in &clients {
        c.flush().await.map_err(|e| anyhow!("flush: {e}"))?;
    }
    let publisher = connect().await.context("connecting the NATS publisher")?;
    let started = Instant::now();
    let mut sends = Vec::new();
    for round in 0..run.rounds {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(ROUND_HEADER, round.to_string());
        let sent = Instant::now();
        let published = async {
            publisher
                .publish_with_headers(subject.clone(), headers, payload.clone())
                .await
                .map_err(|e| format!("publish: {}", e.kind()))?;
            publisher
                .flush()
                .await
                .map_err(|_| "flush failed".to_owned())
        }
        .await;
        let took = sent.elapsed();
        if published.is_ok() {
            poll_until(Instant::now() + run.round_wait, || {
                lock(&seen).get(&round).map_or(0, Vec::len) >= run.subscribers as usize
            })
            .await;
        }
        sends.push((round, sent, took, published));
        tokio::time::sleep(run.round_gap).await;
    }
    tokio::time::sleep(NATS_SETTLE).await;
    readers.abort_all();
    let elapsed = started.elapsed();
    drop(clients);
    drop(publisher);
    let seen = lock(&seen);
    let mut rec = FanoutRecorder::new(u64::from(run.subscribers));
    for (round, sent, took, published) in sends {
        match published {
            Ok(()) => rec.add(
                round.to_string(),
                sent,
                took,
                seen.get(&round).map_or(&[], Vec::as_slice),
                |_| true,
            ),
            Err(kind) => rec.send_failed(kind, took),
        }
    }
    Ok(NatsReport {
        subscribers: u64::from(run.subscribers),
        connections: conns as u64 - connect_failed,
        connect_failed,
        payload_bytes: payload.len(),
        fanout: rec.stats(elapsed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_counts_first_copies_duplicates_and_strangers() {
        let sent = Instant::now();
        let at = |ms: u64| sent + Duration::from_millis(ms);
        let mut rec = FanoutRecorder::new(4);
        // Receivers 1..=4; 0 must not get it. 4 never does; 2 gets it twice.
        let deliveries = [(1, at(3)), (2, at(5)), (3, at(9)), (2, at(7)), (0, at(4))];
        let expected = |c| (1..=4).contains(&c);
        rec.add(
            "s".into(),
            sent,
            Duration::from_millis(2),
            &deliveries,
            expected,
        );
        let r = &rec.rounds[0];
        assert_eq!(
            (r.received, r.missing, r.duplicates, r.strangers),
            (3, 1, 1, 1)
        );
        assert_eq!(
            (r.first_ms, r.median_ms, r.last_ms),
            (Some(3.0), Some(5.0), Some(9.0))
        );
        rec.send_failed("HTTP 500".into(), Duration::from_millis(1));
        let stats = rec.stats(Duration::from_secs(1));
        assert_eq!((stats.rounds, stats.expected, stats.missing), (2, 8, 5));
        assert_eq!(stats.send.errors, 1);
    }

    #[test]
    fn the_median_of_a_thousand_is_the_five_hundredth() {
        let sent = Instant::now();
        let deliveries: Vec<(usize, Instant)> = (1..=1000)
            .map(|c| (c, sent + Duration::from_micros(c as u64 * 10)))
            .collect();
        let mut rec = FanoutRecorder::new(1000);
        rec.add("s".into(), sent, Duration::ZERO, &deliveries, |_| true);
        let median = rec.rounds[0].median_ms.expect("median");
        assert!((median - 5.0).abs() < 1e-9, "{median}");
    }
}
