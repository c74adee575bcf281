//! Credential verification, the first handoff from machine to person: nurses submit
//! licences and certifications, the licence registry approves the clear cases, and every
//! other case reaches a verifier with the reason the automation had. Every decision and
//! every document access is written to an append-only audit log.

mod accounts;
mod audit;
mod check;
mod credentials;
pub mod documents;
mod error;
mod model;
mod profile;
pub mod registry;

pub use audit::AuditFilter;
pub use documents::{DocumentStore, FsDocumentStore, MAX_DOCUMENT_BYTES, sniff_document_type};
pub use error::VerificationError;
pub use model::*;
pub use registry::{HttpRegistry, LicenseRegistry, TableRegistry};

use shiftwire_core::{DomainEvent, EventBus, PublishedEvent};
use sqlx::{PgPool, Postgres, Transaction};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// The verification service. Cheap to clone.
#[derive(Clone)]
pub struct Verification {
    pool: PgPool,
    registry: Arc<dyn LicenseRegistry>,
    documents: Arc<dyn DocumentStore>,
    events: Arc<dyn EventBus>,
    /// Wakes the automatic-check worker when a credential is submitted.
    wake_checker: Arc<Notify>,
    registry_timeout: Duration,
}

impl Verification {
    pub fn new(
        pool: PgPool,
        registry: Arc<dyn LicenseRegistry>,
        documents: Arc<dyn DocumentStore>,
        events: Arc<dyn EventBus>,
        registry_timeout: Duration,
    ) -> Self {
        Self {
            pool,
            registry,
            documents,
            events,
            wake_checker: Arc::new(Notify::new()),
            registry_timeout,
        }
    }

    /// Records `events` in the outbox, commits `tx`, then publishes them.
    async fn commit(
        &self,
        mut tx: Transaction<'_, Postgres>,
        events: Vec<DomainEvent>,
    ) -> Result<(), VerificationError> {
        let published = record_events(&mut tx, events).await?;
        commit_published(tx, published, self.events.as_ref()).await?;
        Ok(())
    }
}

/// Commits `tx`, whose events [`record_events`] wrote, then publishes them: the bus
/// only ever carries committed events.
pub async fn commit_published(
    tx: Transaction<'_, Postgres>,
    published: Vec<PublishedEvent>,
    bus: &dyn EventBus,
) -> Result<(), sqlx::Error> {
    tx.commit().await?;
    for event in published {
        bus.publish(event);
    }
    Ok(())
}

/// The advisory lock that orders outbox inserts: held from the insert to the commit, so
/// outbox ids become visible in the order they were assigned.
const OUTBOX_ORDER_LOCK: i64 = 0x5348_4946_5457_0001;

/// Writes `events` to the outbox inside the caller's transaction, which must commit right
/// after: they commit with the change they announce, or not at all. Returns them with
/// their stream positions.
///
/// Inserts are serialised until commit by an advisory lock, which makes the outbox id a
/// commit-ordered sequence: a reader that sees id N sees every committed id below N.
/// The real-time layer relies on that for gap-free delivery and resume.
pub async fn record_events(
    tx: &mut Transaction<'_, Postgres>,
    events: Vec<DomainEvent>,
) -> Result<Vec<PublishedEvent>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", OUTBOX_ORDER_LOCK)
        .execute(&mut **tx)
        .await?;
    let mut published = Vec::with_capacity(events.len());
    for event in events {
        let payload = serde_json::to_value(&event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let seq = sqlx::query_scalar!(
            "INSERT INTO outbox (topic, user_id, facility_id, payload) VALUES ($1, $2, $3, $4)
             RETURNING id",
            event.topic(),
            event.user_id(),
            event.facility_id(),
            payload
        )
        .fetch_one(&mut **tx)
        .await?;
        published.push(PublishedEvent { seq, event });
    }
    Ok(published)
}
