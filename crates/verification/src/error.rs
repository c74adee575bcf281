use crate::documents::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    InvalidCredential(String),
    #[error("{0}")]
    InvalidProfile(String),
    #[error("this credential is already on file and pending or approved")]
    DuplicateCredential,
    #[error("this credential has already been decided")]
    AlreadyDecided,
    #[error("this credential has expired and cannot be approved")]
    CredentialExpired,
    #[error("the document must be a PDF, JPEG or PNG file")]
    UnsupportedDocumentType,
    #[error("a reason is required")]
    ReasonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
