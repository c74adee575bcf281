//! Verification's invariants, on its own against PostgreSQL: a licence is approved only
//! against a verified legal name, a verifier's decision is taken once, one licence is
//! approved on one account only, and a revocation asks for its consequence (the
//! marketplace releasing bookings) inside its own transaction.

use chrono::NaiveDate;
use shiftwire_core::{CredentialKind, CredentialStatus, Role, UsState};
use shiftwire_test_support::{
    PNG,
    domain::{Verifying, user},
};
use shiftwire_verification::{NewCredential, NewIdentity, VerificationError};
use sqlx::PgPool;
use uuid::Uuid;

const REGISTRY: &str = "number,state,kind,holder_name,status,expires_on,discipline_flag
RN-100234,CA,RN,Amara Okafor,active,2028-03-31,false
RN-300001,CA,RN,Amara Okafor,active,2028-03-31,true
";

fn licence(number: &str) -> NewCredential {
    NewCredential {
        kind: CredentialKind::RN,
        number: number.into(),
        issuing_state: Some(UsState::parse("CA").expect("state")),
        expires_on: NaiveDate::from_ymd_opt(2028, 3, 31).expect("date"),
        multistate: false,
    }
}

/// A nurse whose identity a verifier approved under `legal_name`.
async fn verified_nurse(v: &Verifying, legal_name: &str) -> Uuid {
    let nurse = user(&v.pool, Role::Nurse).await;
    let submitted = v
        .verification
        .submit_identity(
            nurse,
            NewIdentity {
                legal_name: legal_name.into(),
                date_of_birth: NaiveDate::from_ymd_opt(1990, 4, 17).expect("date"),
                id_document: bytes::Bytes::from_static(PNG),
                selfie: bytes::Bytes::from_static(PNG),
            },
        )
        .await
        .expect("identity");
    v.verification
        .approve_identity(v.verifier, submitted.identity.id)
        .await
        .expect("approve identity");
    nurse
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_licence_waits_for_a_verified_identity_then_the_registry_decides(pool: PgPool) {
    let v = Verifying::new(pool, REGISTRY).await;
    let nurse = user(&v.pool, Role::Nurse).await;
    let waiting = v.submit_checked(nurse, licence("RN-100234")).await;
    assert_eq!(waiting.status, CredentialStatus::Pending);
    assert_eq!(waiting.reason_code.as_deref(), Some("identity_unverified"));

    let verified = verified_nurse(&v, "Amara Okafor").await;
    let approved = v.submit_checked(verified, licence("RN-100234")).await;
    assert_eq!(approved.status, CredentialStatus::Approved, "{approved:?}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_verifier_decides_a_flagged_licence_once(pool: PgPool) {
    let v = Verifying::new(pool, REGISTRY).await;
    let nurse = verified_nurse(&v, "Amara Okafor").await;
    // The registry reports a discipline flag: a person decides.
    let case = v.submit_checked(nurse, licence("RN-300001")).await;
    assert_eq!(case.status, CredentialStatus::Pending);
    assert!(case.reason.is_some(), "the verifier sees why: {case:?}");

    assert!(matches!(
        v.verification.reject(v.verifier, case.id, " ").await,
        Err(VerificationError::ReasonRequired)
    ));
    let approved = v
        .verification
        .approve(v.verifier, case.id)
        .await
        .expect("approve");
    assert_eq!(approved.status, CredentialStatus::Approved);
    assert!(matches!(
        v.verification
            .reject(v.verifier, case.id, "second thoughts")
            .await,
        Err(VerificationError::AlreadyDecided)
    ));
    assert!(matches!(
        v.verification.approve(v.verifier, case.id).await,
        Err(VerificationError::AlreadyDecided)
    ));
}

#[sqlx::test(migrations = "../../migrations")]
async fn one_licence_is_approved_on_one_account_only(pool: PgPool) {
    let v = Verifying::new(pool, REGISTRY).await;
    let first = verified_nurse(&v, "Amara Okafor").await;
    let second = verified_nurse(&v, "Amara Okafor").await;
    let hers = v.submit_checked(first, licence("RN-100234")).await;
    let theirs = v.submit_checked(second, licence("RN-100234")).await;
    assert_eq!(
        v.credential(hers.id).await.status,
        CredentialStatus::Approved
    );
    let claimed = v.credential(theirs.id).await;
    assert_eq!(claimed.reason_code.as_deref(), Some("licence_in_use"));
    assert!(matches!(
        v.verification.approve(v.verifier, theirs.id).await,
        Err(VerificationError::LicenceInUse)
    ));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_revocation_asks_for_its_consequence_and_only_an_approval_is_revocable(pool: PgPool) {
    let v = Verifying::new(pool, REGISTRY).await;
    let nurse = verified_nurse(&v, "Amara Okafor").await;
    let pending = v.submit_checked(nurse, licence("RN-300001")).await;
    assert!(matches!(
        v.verification
            .revoke(v.verifier, pending.id, "board action")
            .await,
        Err(VerificationError::NotRevocable)
    ));
    assert!(v.followed.0.lock().expect("followed").is_empty());
    v.verification
        .approve(v.verifier, pending.id)
        .await
        .expect("approve");
    let revoked = v
        .verification
        .revoke(v.verifier, pending.id, "board action")
        .await
        .expect("revoke");
    assert_eq!(revoked.status, CredentialStatus::Revoked);
    assert_eq!(*v.followed.0.lock().expect("followed"), vec![nurse]);
    assert!(
        v.events.topics().ends_with(&["verification.updated"]),
        "{:?}",
        v.events.topics()
    );
}
