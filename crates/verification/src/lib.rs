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

use shiftwire_core::{DomainEvent, EventBus};
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

    /// Commits `tx`, then publishes what it recorded in the outbox.
    async fn commit(
        &self,
        tx: Transaction<'_, Postgres>,
        events: Vec<DomainEvent>,
    ) -> Result<(), VerificationError> {
        tx.commit().await?;
        for event in events {
            self.events.publish(event);
        }
        Ok(())
    }
}

/// Writes `event` to the outbox inside the caller's transaction: it commits with the
/// change it announces, or not at all.
pub async fn record_event(
    tx: &mut Transaction<'_, Postgres>,
    event: &DomainEvent,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query!(
        "INSERT INTO outbox (topic, user_id, facility_id, payload) VALUES ($1, $2, $3, $4)",
        event.topic(),
        event.user_id(),
        event.facility_id(),
        payload
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
