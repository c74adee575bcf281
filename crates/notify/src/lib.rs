//! The real-time layer: WebSocket connections, the in-memory index of connected nurses,
//! fan-out of offers and withdrawals, `resume`, and backpressure. Events come from the
//! outbox in commit order (woken early by the [`Bus`]); each node delivers only to its
//! own sockets. Knows nothing of HTTP: `api` adapts the socket to [`Incoming`] and
//! [`Outgoing`].

mod bus;
mod connection;
mod dispatcher;
mod hub;
mod index;
mod resume;
mod writers;

pub use bus::{Bus, NATS_SUBJECT};
pub use connection::{Incoming, Outgoing, TransportError};
pub use hub::{Frame, Hub, NotifyConfig, Principal, Reauthenticate};

use shiftwire_matching::Matching;
use shiftwire_verification::Verification;
use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

impl Hub {
    /// Starts this node's real-time layer: the dispatcher and the background writers,
    /// owned by `tracker` and stopped by `shutdown` (which also closes sockets with 1001).
    pub fn start(
        config: NotifyConfig,
        pool: PgPool,
        matching: Matching,
        verification: Verification,
        bus: &Bus,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let offer_log = writers::OfferLog::start(pool.clone(), tracker, shutdown.clone());
        let locations = writers::LocationWriter::start(pool.clone(), tracker, shutdown.clone());
        let (hub, registrations) = Hub::new(
            config,
            pool,
            matching,
            verification,
            shutdown,
            offer_log,
            locations,
        );
        let dispatcher = dispatcher::Dispatcher::new(hub.clone(), bus.subscribe(), registrations);
        tracker.spawn(dispatcher.run());
        hub
    }

    /// Deletes delivered history nobody needs any more: outbox events older than a day
    /// (every node has dispatched them; clients away longer resume from the shifts
    /// themselves) and offers of shifts that ended. Returns rows deleted.
    pub async fn prune_history(&self) -> Result<u64, sqlx::Error> {
        let outbox =
            shiftwire_outbox::prune(&self.inner.pool, std::time::Duration::from_secs(86_400))
                .await?;
        let offers = sqlx::query!(
            "DELETE FROM offer_log o USING shifts s
             WHERE s.id = o.shift_id AND s.ends_at < now() - interval '1 day'"
        )
        .execute(&self.inner.pool)
        .await?;
        Ok(outbox + offers.rows_affected())
    }
}
