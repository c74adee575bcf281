//! Credential documents: type recognised by content, stored under an id.

use async_trait::async_trait;
use bytes::Bytes;
use std::path::PathBuf;
use uuid::Uuid;

/// Largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// The document types a verifier can open: recognised by their first bytes, never by the
/// file name or the type the phone declared.
pub fn sniff_document_type(bytes: &[u8]) -> Option<&'static str> {
    match infer::get(bytes)?.mime_type() {
        "application/pdf" => Some("application/pdf"),
        "image/jpeg" => Some("image/jpeg"),
        "image/png" => Some("image/png"),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("document store: {0}")]
pub struct StoreError(pub String);

/// Where document bytes live. Keys are generated ids, never user-supplied names.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    async fn put(&self, key: Uuid, bytes: Bytes) -> Result<(), StoreError>;
    async fn get(&self, key: Uuid) -> Result<Bytes, StoreError>;
    async fn delete(&self, key: Uuid) -> Result<(), StoreError>;
}

/// Files in one directory, named by key. Writes go to a temporary file first, so a
/// crash never leaves a half-written document under a real key.
pub struct FsDocumentStore {
    dir: PathBuf,
}

impl FsDocumentStore {
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self { dir })
    }

    fn path(&self, key: Uuid) -> PathBuf {
        self.dir.join(key.to_string())
    }
}

#[async_trait]
impl DocumentStore for FsDocumentStore {
    async fn put(&self, key: Uuid, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path(key);
        let partial = self.dir.join(format!("{key}.partial"));
        tokio::fs::write(&partial, &bytes)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn get(&self, key: Uuid) -> Result<Bytes, StoreError> {
        tokio::fs::read(self.path(key))
            .await
            .map(Bytes::from)
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn delete(&self, key: Uuid) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_documents_by_content_only() {
        assert_eq!(
            sniff_document_type(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
            Some("application/pdf")
        );
        assert_eq!(
            sniff_document_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_document_type(&[
                0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D
            ]),
            Some("image/png")
        );
        for other in [
            b"MZ\x90\x00\x03\x00\x00\x00".as_slice(), // a Windows executable
            b"\x7fELF\x02\x01\x01\x00".as_slice(),    // a Linux executable
            b"Dear verifier, please approve".as_slice(), // text
            b"PK\x03\x04\x14\x00".as_slice(),         // a zip
            b"".as_slice(),
        ] {
            assert_eq!(sniff_document_type(other), None, "{other:?}");
        }
    }

    #[tokio::test]
    async fn stores_and_deletes_by_key() {
        let dir = tempfile::tempdir().expect("dir");
        let store = FsDocumentStore::new(dir.path()).expect("store");
        let key = Uuid::now_v7();
        store
            .put(key, Bytes::from_static(b"%PDF-1.4"))
            .await
            .expect("put");
        assert_eq!(store.get(key).await.expect("get").as_ref(), b"%PDF-1.4");
        store.delete(key).await.expect("delete");
        assert!(store.get(key).await.is_err());
        store.delete(key).await.expect("deleting twice is fine");
    }
}
