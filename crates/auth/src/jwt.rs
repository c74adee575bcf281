use crate::AuthError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shiftwire_core::Role;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The only token type accepted on API requests.
pub const ACCESS_TYPE: &str = "access";

/// Claims of a Shiftwire access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub role: Role,
    /// The session (refresh family) the token belongs to: tickets it asks for die with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// The user's token generation when it was issued: a token of an older generation (one
    /// issued before a suspension) is refused.
    #[serde(default)]
    pub epoch: i32,
    pub typ: String,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// Signs and checks access tokens (HS256, pinned: a token naming any other algorithm fails).
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &SecretString, issuer: &str, audience: &str, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// Lifetime of an access token.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        session: Uuid,
        epoch: i32,
    ) -> Result<String, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| AuthError::Internal(e.to_string()))?
            .as_secs();
        let claims = AccessClaims {
            sub: user_id,
            role,
            sid: Some(session),
            epoch,
            typ: ACCESS_TYPE.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(e.to_string()))
    }

    /// Checks signature, algorithm, issuer, audience, expiry and token type.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?;
        if data.claims.typ != ACCESS_TYPE {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims)
    }
}
