//! The real-time layer: WebSocket connections, the in-memory index of connected nurses,
//! fan-out of offers and withdrawals, `resume`, and backpressure. Events come from the
//! outbox in stream order (woken early by the [`Bus`]); each node delivers only to its
//! own sockets. Knows nothing of HTTP: `api` adapts the socket to [`Incoming`] and
//! [`Outgoing`].

mod bus;
mod connection;
mod dispatcher;
#[cfg(test)]
mod fake;
mod hub;
mod index;
pub mod push;
mod resume;
mod source;
mod taken;
#[cfg(test)]
mod tests;
mod writers;

pub use bus::{Bus, NATS_SUBJECT};
pub use connection::{Incoming, Outgoing, TransportError};
pub use hub::{Frame, Hub, NotifyConfig, Principal, Reauthenticate};
pub use source::{DeliveryLog, DeliverySource};

use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

impl Hub {
    /// Starts this node's real-time layer: the dispatcher and the background writers,
    /// owned by `tracker` and stopped by `shutdown` (which also closes sockets with 1001).
    /// `pool` holds the outbox; `source` and `log` are the rooms behind the seam.
    pub fn start(
        config: NotifyConfig,
        pool: PgPool,
        source: Arc<dyn DeliverySource>,
        log: Arc<dyn DeliveryLog>,
        bus: &Bus,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let offer_log = writers::OfferLog::offers(log.clone(), tracker, shutdown.clone());
        let locations = writers::LocationWriter::locations(log.clone(), tracker, shutdown.clone());
        let (hub, registrations) = Hub::new(
            config,
            pool,
            source,
            log,
            shutdown,
            (offer_log, locations),
            bus.taken(),
        );
        let dispatcher = dispatcher::Dispatcher::new(hub.clone(), bus.subscribe(), registrations);
        tracker.spawn(dispatcher.run());
        hub
    }

    /// Deletes delivered history nobody needs any more: outbox events older than a day
    /// (every node has dispatched them; clients away longer resume from the shifts
    /// themselves) and offers of shifts that ended. Returns rows deleted.
    pub async fn prune_history(&self) -> anyhow::Result<u64> {
        let outbox =
            shiftwire_outbox::prune(&self.inner.pool, std::time::Duration::from_secs(86_400))
                .await?;
        let offers = self.inner.log.prune_offers().await?;
        Ok(outbox + offers)
    }
}
