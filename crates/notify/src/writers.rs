//! Writes that follow delivery without holding it up: the offer log and live locations,
//! each batched by one background task through a bounded queue.

use chrono::{DateTime, Utc};
use shiftwire_core::Coordinates;
use sqlx::PgPool;
use std::{collections::HashMap, time::Duration};
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

/// Records waiting to be written; beyond this they are dropped and counted.
const QUEUE: usize = 65_536;
/// Most records per statement.
const BATCH: usize = 5_000;
/// How long a record may wait for its batch.
const LINGER: Duration = Duration::from_millis(20);

/// One offer made: `nurse_id` was offered the opening `seq` of `shift_id`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OfferRecord {
    pub(crate) nurse_id: Uuid,
    pub(crate) seq: i64,
    pub(crate) shift_id: Uuid,
}

/// The log of offers made, read by `resume` and by the unfilled-shift alert.
#[derive(Clone)]
pub(crate) struct OfferLog {
    sender: mpsc::Sender<OfferRecord>,
}

impl OfferLog {
    pub(crate) fn start(pool: PgPool, tracker: &TaskTracker, shutdown: CancellationToken) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tracker.spawn(batches(
            receiver,
            shutdown,
            move |batch: Vec<OfferRecord>| {
                let pool = pool.clone();
                async move { write_offers(&pool, &batch).await }
            },
        ));
        Self { sender }
    }

    pub(crate) fn record(&self, record: OfferRecord) {
        if self.sender.try_send(record).is_err() {
            metrics::counter!("ws_offer_log_dropped_total").increment(1);
        }
    }
}

async fn write_offers(pool: &PgPool, batch: &[OfferRecord]) -> Result<(), sqlx::Error> {
    let nurses: Vec<Uuid> = batch.iter().map(|r| r.nurse_id).collect();
    let seqs: Vec<i64> = batch.iter().map(|r| r.seq).collect();
    let shifts: Vec<Uuid> = batch.iter().map(|r| r.shift_id).collect();
    // Only offers of shifts that still exist; several nodes may log the same offer.
    sqlx::query!(
        "INSERT INTO offer_log (nurse_id, seq, shift_id)
         SELECT o.nurse_id, o.seq, o.shift_id
         FROM unnest($1::uuid[], $2::bigint[], $3::uuid[]) AS o (nurse_id, seq, shift_id)
         WHERE EXISTS (SELECT 1 FROM shifts s WHERE s.id = o.shift_id)
         ON CONFLICT DO NOTHING",
        &nurses,
        &seqs,
        &shifts
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A live location to store.
#[derive(Debug, Clone, Copy)]
struct LocationRecord {
    nurse_id: Uuid,
    at: Coordinates,
    reported_at: DateTime<Utc>,
}

/// Stores nurses' live locations, so claims and nearby search on any node use them too.
#[derive(Clone)]
pub(crate) struct LocationWriter {
    sender: mpsc::Sender<LocationRecord>,
}

impl LocationWriter {
    pub(crate) fn start(pool: PgPool, tracker: &TaskTracker, shutdown: CancellationToken) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tracker.spawn(batches(
            receiver,
            shutdown,
            move |batch: Vec<LocationRecord>| {
                let pool = pool.clone();
                async move { write_locations(&pool, batch).await }
            },
        ));
        Self { sender }
    }

    pub(crate) fn record(&self, nurse_id: Uuid, at: Coordinates, reported_at: DateTime<Utc>) {
        let record = LocationRecord {
            nurse_id,
            at,
            reported_at,
        };
        if self.sender.try_send(record).is_err() {
            metrics::counter!("ws_location_writes_dropped_total").increment(1);
        }
    }
}

async fn write_locations(pool: &PgPool, batch: Vec<LocationRecord>) -> Result<(), sqlx::Error> {
    // The newest report per nurse wins.
    let latest: HashMap<Uuid, LocationRecord> =
        batch.into_iter().map(|r| (r.nurse_id, r)).collect();
    let ids: Vec<Uuid> = latest.keys().copied().collect();
    let lats: Vec<f64> = ids.iter().map(|id| latest[id].at.lat()).collect();
    let lons: Vec<f64> = ids.iter().map(|id| latest[id].at.lon()).collect();
    let times: Vec<DateTime<Utc>> = ids.iter().map(|id| latest[id].reported_at).collect();
    sqlx::query!(
        "UPDATE users u
         SET live_location = ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326)::geography,
             live_location_at = l.at
         FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::timestamptz[])
              AS l (id, lat, lon, at)
         WHERE u.id = l.id AND u.role = 'nurse'
           AND (u.live_location_at IS NULL OR u.live_location_at < l.at)",
        &ids,
        &lats,
        &lons,
        &times
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Collects records into batches (up to [`BATCH`], waiting at most [`LINGER`]) and
/// writes each; on shutdown, writes what is left.
async fn batches<T, F, Fut>(
    mut receiver: mpsc::Receiver<T>,
    shutdown: CancellationToken,
    mut write: F,
) where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    loop {
        let first = tokio::select! {
            record = receiver.recv() => record,
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else {
            break;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(record)) => batch.push(record),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(error) = write(batch).await {
            tracing::warn!(%error, "a real-time write batch failed");
        }
    }
    // Drain what arrived before shutdown.
    receiver.close();
    let mut rest = Vec::new();
    while let Some(record) = receiver.recv().await {
        rest.push(record);
    }
    if !rest.is_empty()
        && let Err(error) = write(rest).await
    {
        tracing::warn!(%error, "the last real-time write batch failed");
    }
}
