//! Credential verification, the first handoff from machine to person: nurses submit
//! licences and certifications, the licence registry approves the clear cases, and every
//! other case reaches a verifier with the reason the automation had. Every decision and
//! every document access is written to an append-only audit log.

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
pub use profile::approved_credentials_in;
pub use recheck::RecheckPolicy;
pub use registry::{HttpRegistry, LicenseRegistry, TableRegistry};

use shiftwire_core::{DomainEvent, EventBus, PublishedEvent};
use shiftwire_outbox::Consequence;
use sqlx::{PgPool, Postgres, Transaction};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// External parts of the verification service.
pub struct VerificationProviders {
    pub registry: Arc<dyn LicenseRegistry>,
    pub documents: Arc<dyn DocumentStore>,
    pub identity: Arc<dyn IdentityVerifier>,
    /// What becomes of a nurse's bookings when she may no longer work them (a licence
    /// revoked or lapsed): the marketplace releases them, inside the transaction that
    /// made her ineligible. `api` wires it in.
    pub on_ineligible: Arc<dyn Consequence>,
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
    on_ineligible: Arc<dyn Consequence>,
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
            on_ineligible: providers.on_ineligible,
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
