//! Writes that follow delivery without holding it up: the offer log and live locations,
//! each batched by one background task through a bounded queue.

use crate::DeliveryLog;
use chrono::{DateTime, Utc};
use shiftwire_core::{
    Coordinates,
    delivery::{LocationRecord, OfferRecord},
};
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

/// Records waiting to be written; beyond this they are dropped and counted.
const QUEUE: usize = 65_536;
/// Most records per statement.
const BATCH: usize = 5_000;
/// How long a record may wait for its batch.
const LINGER: Duration = Duration::from_millis(20);

/// A bounded queue of records and the one task that writes them in batches; a record
/// that finds the queue full is dropped and counted under `dropped`.
pub(crate) struct Writer<T> {
    sender: mpsc::Sender<T>,
    dropped: &'static str,
}

impl<T> Clone for Writer<T> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            dropped: self.dropped,
        }
    }
}

impl<T: Send + 'static> Writer<T> {
    fn start<F, Fut>(
        tracker: &TaskTracker,
        shutdown: CancellationToken,
        dropped: &'static str,
        write: F,
    ) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tracker.spawn(batches(receiver, shutdown, write));
        Self { sender, dropped }
    }

    fn push(&self, record: T) {
        if self.sender.try_send(record).is_err() {
            metrics::counter!(self.dropped).increment(1);
        }
    }
}

/// The log of offers made, read by `resume` and by the unfilled-shift alert.
pub(crate) type OfferLog = Writer<OfferRecord>;

impl OfferLog {
    pub(crate) fn offers(
        log: Arc<dyn DeliveryLog>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self::start(
            tracker,
            shutdown,
            "ws_offer_log_dropped_total",
            move |batch| {
                let log = log.clone();
                async move { log.record_offers(&batch).await }
            },
        )
    }

    pub(crate) fn record(&self, record: OfferRecord) {
        self.push(record);
    }
}

/// Stores nurses' live locations, so claims and nearby search on any node use them too.
pub(crate) type LocationWriter = Writer<LocationRecord>;

impl LocationWriter {
    pub(crate) fn locations(
        log: Arc<dyn DeliveryLog>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self::start(
            tracker,
            shutdown,
            "ws_location_writes_dropped_total",
            move |batch| {
                let log = log.clone();
                async move { log.record_locations(&batch).await }
            },
        )
    }

    pub(crate) fn record(&self, nurse_id: Uuid, at: Coordinates, reported_at: DateTime<Utc>) {
        self.push(LocationRecord {
            nurse_id,
            at,
            reported_at,
        });
    }
}

/// Collects records into batches (up to [`BATCH`], waiting at most [`LINGER`]) and
/// writes each; on shutdown, writes what is left.
async fn batches<T, F, Fut>(
    mut receiver: mpsc::Receiver<T>,
    shutdown: CancellationToken,
    mut write: F,
) where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
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
            tracing::warn!(error = %format!("{error:#}"), "a real-time write batch failed");
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
        tracing::warn!(error = %format!("{error:#}"), "the last real-time write batch failed");
    }
}
