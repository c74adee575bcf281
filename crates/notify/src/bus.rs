//! The event bus between committing requests and every node's dispatcher: in-process by
//! default, or NATS so that several `shiftwire serve` processes each deliver to their
//! own sockets. Either way it only wakes dispatchers early; the outbox is the record.

use crate::taken::TakenShifts;
use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use shiftwire_core::{EventBus, PublishedEvent};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Events held for a slow listener before the oldest are dropped (it then reads the
/// outbox instead).
const CAPACITY: usize = 4096;
/// The default NATS subject events travel on. One subject per deployment (database):
/// nodes of another deployment on the same NATS must use their own.
pub const NATS_SUBJECT: &str = "shiftwire.events";

pub struct Bus {
    local: broadcast::Sender<PublishedEvent>,
    /// With NATS, publishing goes out through NATS and comes back to every node
    /// (this one included) through the subscription.
    nats: Option<mpsc::Sender<PublishedEvent>>,
    /// Bookings as this node hears of them, its own as soon as they are published.
    taken: Arc<TakenShifts>,
}

impl Bus {
    /// The in-process bus: one node.
    pub fn local() -> Self {
        Self {
            local: broadcast::channel(CAPACITY).0,
            nats: None,
            taken: Arc::default(),
        }
    }

    /// A bus over NATS core at `url`.
    pub async fn nats(
        url: &str,
        subject: &str,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = async_nats::connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        let mut subscription = client
            .subscribe(subject.to_owned())
            .await
            .context("subscribing to the event subject")?;
        let local = broadcast::channel(CAPACITY).0;
        let (outgoing, mut to_publish) = mpsc::channel::<PublishedEvent>(CAPACITY);
        let subject = subject.to_owned();

        let incoming = local.clone();
        let taken = Arc::<TakenShifts>::default();
        let heard = taken.clone();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => break,
                    message = subscription.next() => message,
                };
                let Some(message) = message else { break };
                match serde_json::from_slice::<PublishedEvent>(&message.payload) {
                    Ok(event) => {
                        heard.apply(&event);
                        let _ = incoming.send(event);
                    }
                    Err(error) => tracing::warn!(%error, "ignoring an unreadable NATS event"),
                }
            }
        });
        tracker.spawn(async move {
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => break,
                    event = to_publish.recv() => event,
                };
                let Some(event) = event else { break };
                let Ok(payload) = serde_json::to_vec(&event) else {
                    continue;
                };
                if let Err(error) = client.publish(subject.clone(), Bytes::from(payload)).await {
                    // The other nodes read the outbox within a second anyway.
                    tracing::warn!(%error, "publishing an event on NATS failed");
                }
            }
            let _ = client.flush().await;
        });
        Ok(Self {
            local,
            nats: Some(outgoing),
            taken,
        })
    }

    /// Committed events as this node hears them.
    pub fn subscribe(&self) -> broadcast::Receiver<PublishedEvent> {
        self.local.subscribe()
    }

    /// The shifts this node knows are booked.
    pub(crate) fn taken(&self) -> Arc<TakenShifts> {
        self.taken.clone()
    }
}

impl EventBus for Bus {
    fn publish(&self, event: PublishedEvent) {
        metrics::counter!("domain_events_published_total", "topic" => event.event.topic())
            .increment(1);
        self.taken.apply(&event);
        match &self.nats {
            Some(nats) => {
                if nats.try_send(event).is_err() {
                    metrics::counter!("domain_events_unpublished_total").increment(1);
                }
            }
            // No listener yet is fine: the outbox has the event.
            None => {
                let _ = self.local.send(event);
            }
        }
    }
}
