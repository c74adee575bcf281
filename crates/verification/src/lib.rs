//! Credential verification, the first handoff from machine to person: nurses submit
//! licences and certifications, the licence registry approves the clear cases, and every
//! other case reaches a verifier with the reason the automation had. Every decision and
//! every document access is written to an append-only audit log.

mod accounts;
mod check;
mod credentials;
pub mod documents;
mod error;
pub mod identity;
mod model;
pub mod names;
mod profile;
mod queue;
mod recheck;
pub mod registry;

pub use documents::{DocumentStore, FsDocumentStore, MAX_DOCUMENT_BYTES, sniff_document_type};
pub use error::VerificationError;
pub use identity::{
    ExternalIdentity, IdentityProviderError, IdentityStarted, IdentityVerifier, ManualIdentity,
    ProviderResult, WebhookSignatureError, verify_webhook_signature,
};
pub use model::*;
pub use recheck::RecheckPolicy;
pub use registry::{HttpRegistry, LicenseRegistry, TableRegistry};

use async_trait::async_trait;
use shiftwire_core::{DomainEvent, EventBus, PublishedEvent};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use uuid::Uuid;

/// What becomes of a nurse's bookings when she may no longer work them (suspended, a
/// licence revoked or expired). The marketplace implements it; `api` wires it in. It runs
/// inside the transaction that made her ineligible, records the events of what it
/// changed, and returns them for publishing after the commit.
#[async_trait]
pub trait BookingGuard: Send + Sync {
    async fn release_ineligible(
        &self,
        conn: &mut PgConnection,
        nurse_id: Uuid,
    ) -> Result<Vec<PublishedEvent>, VerificationError>;
}

/// External parts of the verification service.
pub struct VerificationProviders {
    pub registry: Arc<dyn LicenseRegistry>,
    pub documents: Arc<dyn DocumentStore>,
    pub identity: Arc<dyn IdentityVerifier>,
    pub bookings: Arc<dyn BookingGuard>,
    pub events: Arc<dyn EventBus>,
}

/// Tuning of the verification service.
#[derive(Debug, Clone)]
pub struct VerificationConfig {
    /// A registry slower than this leaves the licence pending (`registry_unavailable`).
    pub registry_timeout: Duration,
    pub recheck: RecheckPolicy,
}

/// The verification service. Cheap to clone.
#[derive(Clone)]
pub struct Verification {
    pool: PgPool,
    registry: Arc<dyn LicenseRegistry>,
    documents: Arc<dyn DocumentStore>,
    identity: Arc<dyn IdentityVerifier>,
    bookings: Arc<dyn BookingGuard>,
    events: Arc<dyn EventBus>,
    /// Wakes the automatic-check worker when a credential is submitted.
    wake_checker: Arc<Notify>,
    config: VerificationConfig,
}

impl Verification {
    pub fn new(pool: PgPool, providers: VerificationProviders, config: VerificationConfig) -> Self {
        Self {
            pool,
            registry: providers.registry,
            documents: providers.documents,
            identity: providers.identity,
            bookings: providers.bookings,
            events: providers.events,
            wake_checker: Arc::new(Notify::new()),
            config,
        }
    }

    /// Records `events` in the outbox, commits `tx`, then publishes them.
    async fn commit(
        &self,
        tx: Transaction<'_, Postgres>,
        events: Vec<DomainEvent>,
    ) -> Result<(), VerificationError> {
        self.commit_with(tx, events, Vec::new()).await
    }

    /// As [`Self::commit`], with events another service already recorded in `tx`.
    async fn commit_with(
        &self,
        mut tx: Transaction<'_, Postgres>,
        events: Vec<DomainEvent>,
        mut recorded: Vec<PublishedEvent>,
    ) -> Result<(), VerificationError> {
        recorded.extend(shiftwire_outbox::record(&mut tx, events).await?);
        shiftwire_outbox::commit(tx, recorded, self.events.as_ref()).await?;
        Ok(())
    }
}
