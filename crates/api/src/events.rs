//! The in-process event bus: committed domain events fan out to whoever listens in this
//! process (the real-time layer). Bounded; a listener that falls behind misses events
//! and catches up from the outbox.

use shiftwire_core::{DomainEvent, EventBus};
use tokio::sync::broadcast;

/// Events held for slow listeners before the oldest are dropped.
const CAPACITY: usize = 4096;

pub struct LocalEventBus {
    sender: broadcast::Sender<DomainEvent>,
}

impl Default for LocalEventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl LocalEventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.sender.subscribe()
    }
}

impl EventBus for LocalEventBus {
    fn publish(&self, event: DomainEvent) {
        metrics::counter!("domain_events_published_total", "topic" => event.topic()).increment(1);
        // No listener yet is fine: the outbox has the event.
        let _ = self.sender.send(event);
    }
}
