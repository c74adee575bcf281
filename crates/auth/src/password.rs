use crate::AuthError;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version,
    password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Shortest and longest passwords accepted for staff accounts.
pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 128;

/// Hashes and checks staff passwords with argon2id (m = 19 MiB, t = 2, p = 1).
///
/// Hashing runs on the blocking pool, never on the async runtime, and at most
/// `concurrency` hashes run at once so a burst of logins cannot exhaust memory
/// (19 MiB each) or take every core from the request handlers.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, checked when the email is unknown so that an unknown
    /// email costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // These parameters are constants known to be valid.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl PasswordHasher {
    /// Builds the hasher; computes the decoy hash, so call it once at start-up.
    pub fn new(concurrency: usize) -> Result<Self, AuthError> {
        let decoy: String = {
            use rand::Rng;
            rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect()
        };
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: hash_blocking(&decoy)?.into(),
        })
    }

    /// Checks length rules; the only password policy (NIST 800-63B: length, not composition).
    pub fn check_policy(password: &str) -> Result<(), AuthError> {
        let len = password.chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err(AuthError::InvalidStaffUser(
                "password must be at least 12 characters",
            ));
        }
        if len > MAX_PASSWORD_LEN {
            return Err(AuthError::InvalidStaffUser(
                "password must be at most 128 characters",
            ));
        }
        Ok(())
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        let _permit = self.permits.acquire().await.map_err(|_| closed())?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?
    }

    /// True when `password` matches `hash`. With no hash (unknown user) a decoy hash is
    /// checked instead and the answer is always false.
    pub async fn verify(&self, hash: Option<&str>, password: &SecretString) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.clone();
        let matched =
            tokio::task::spawn_blocking(move || verify_blocking(&hash, password.expose_secret()))
                .await
                .unwrap_or(false);
        known && matched
    }
}

fn closed() -> AuthError {
    AuthError::Internal("password hasher is shut down".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::new(2).expect("hasher");
        let password = SecretString::from("correct horse battery");
        let hash = hasher.hash(&password).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(Some(&hash), &password).await);
        assert!(
            !hasher
                .verify(Some(&hash), &SecretString::from("wrong password!"))
                .await
        );
        assert!(!hasher.verify(None, &password).await);
    }

    #[test]
    fn policy_is_about_length() {
        assert!(PasswordHasher::check_policy("short").is_err());
        assert!(PasswordHasher::check_policy(&"x".repeat(129)).is_err());
        assert!(PasswordHasher::check_policy("twelve chars").is_ok());
    }
}
