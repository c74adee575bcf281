use crate::documents::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    InvalidCredential(String),
    #[error("{0}")]
    InvalidIdentity(String),
    #[error("this credential is already on file and pending or approved")]
    DuplicateCredential,
    #[error("this credential has already been decided")]
    AlreadyDecided,
    #[error("this credential has expired and cannot be approved")]
    CredentialExpired,
    #[error("this licence is approved on another account")]
    LicenceInUse,
    #[error("the nurse has no verified identity yet")]
    IdentityUnverified,
    #[error("this identity is already verified")]
    IdentityAlreadyVerified,
    #[error("only an approved credential can be revoked")]
    NotRevocable,
    #[error("the document must be a PDF, JPEG or PNG file")]
    UnsupportedDocumentType,
    #[error("{0}")]
    UnsupportedIdentityDocument(&'static str),
    #[error("a reason is required")]
    ReasonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
