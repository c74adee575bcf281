//! What verification says of nurses to the rest of Shiftwire: the licence statuses their
//! verification status is derived from, and the approved credentials eligibility reads.

use crate::{Verification, VerificationError};
use shiftwire_core::{CredentialKind, CredentialStatus, eligibility::HeldCredential};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// The advisory-lock class of one nurse's verification records (the other key is from
/// her id): submissions of one nurse serialise on it.
const NURSE_LOCK_CLASS: i32 = 0x5357_5631;

/// Serialises changes to one nurse's credentials and identities until the commit.
pub(crate) async fn lock_nurse(conn: &mut PgConnection, nurse_id: Uuid) -> Result<(), sqlx::Error> {
    let n = nurse_id.as_u128();
    let key = (n as u32 ^ (n >> 32) as u32 ^ (n >> 64) as u32 ^ (n >> 96) as u32) as i32;
    sqlx::query!(
        "SELECT pg_advisory_xact_lock($1, $2)",
        NURSE_LOCK_CLASS,
        key
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The approved credentials of each of `nurse_ids`, read on the caller's connection
/// (inside its transaction, so a decision in progress there counts).
pub async fn approved_credentials_in(
    conn: &mut PgConnection,
    nurse_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<HeldCredential>>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT nurse_id, kind, issuing_state, multistate, expires_on FROM credentials
         WHERE nurse_id = ANY($1) AND status = 'approved'",
        nurse_ids
    )
    .fetch_all(conn)
    .await?;
    let mut held: HashMap<Uuid, Vec<HeldCredential>> = HashMap::new();
    for c in rows {
        // A kind this build does not know cannot make anyone eligible.
        let Ok(kind) = c.kind.parse::<CredentialKind>() else {
            continue;
        };
        held.entry(c.nurse_id).or_default().push(HeldCredential {
            kind,
            state: c.issuing_state,
            multistate: c.multistate,
            expires_on: c.expires_on,
        });
    }
    Ok(held)
}

impl Verification {
    /// The statuses of the nurse's licences (approved ones only while unexpired), from
    /// which `VerificationStatus::derive` tells where she stands.
    pub async fn licence_statuses(
        &self,
        nurse_id: Uuid,
    ) -> Result<Vec<CredentialStatus>, VerificationError> {
        let statuses = sqlx::query_scalar!(
            "SELECT status FROM credentials
             WHERE nurse_id = $1 AND kind IN ('RN', 'LPN', 'CNA', 'NP')
               AND (status <> 'approved' OR expires_on >= (now() AT TIME ZONE 'UTC')::date)",
            nurse_id
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(statuses.iter().filter_map(|s| s.parse().ok()).collect())
    }
}
