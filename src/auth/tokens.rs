//! Access tokens (short-lived JWTs) and refresh tokens (opaque, stored hashed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Role;
use crate::error::AppError;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The member id.
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// The organisation the member belongs to.
    pub org: Uuid,
    /// The role at the time of issue. Informational for clients: the server reads the current
    /// role from the database on every request, so a demotion takes effect at once.
    pub role: Role,
    /// The session (refresh-token family) this token belongs to.
    pub sid: Uuid,
}

/// Signing and verification keys. HS256 only: the algorithm is pinned, whatever the token's
/// header claims, so `alg: none` and algorithm-confusion tokens are refused.
pub struct JwtKeys {
    active_kid: String,
    encoding: EncodingKey,
    decoding: Vec<(String, DecodingKey)>,
    issuer: String,
    audience: String,
    pub access_ttl_secs: i64,
}

/// The key id: a fingerprint of the key, so rotating keys needs no extra configuration.
fn kid_of(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

impl JwtKeys {
    /// `keys[0]` signs; all of them verify (the rest are keys being rotated out).
    pub fn new(
        keys: &[Vec<u8>],
        issuer: &str,
        audience: &str,
        access_ttl_secs: i64,
    ) -> Option<Self> {
        let active = keys.first()?;
        Some(JwtKeys {
            active_kid: kid_of(active),
            encoding: EncodingKey::from_secret(active),
            decoding: keys
                .iter()
                .map(|k| (kid_of(k), DecodingKey::from_secret(k)))
                .collect(),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            access_ttl_secs,
        })
    }

    pub fn issue(
        &self,
        member: Uuid,
        org: Uuid,
        role: Role,
        session: Uuid,
    ) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: member,
            iat: now,
            exp: now + self.access_ttl_secs,
            org,
            role,
            sid: session,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active_kid.clone());
        encode(&header, &claims, &self.encoding).map_err(AppError::internal)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let invalid = || AppError::Unauthorized("the access token is invalid".into());
        let header = decode_header(token).map_err(|_| invalid())?;
        let kid = header.kid.ok_or_else(invalid)?;
        let key = self
            .decoding
            .iter()
            .find(|(k, _)| *k == kid)
            .map(|(_, key)| key)
            .ok_or_else(invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    AppError::Unauthorized("the access token has expired; refresh it".into())
                }
                _ => invalid(),
            })
    }
}

/// A fresh opaque token (refresh tokens, invites) and the hash we store instead of it.
pub fn new_opaque_token(prefix: &str) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_opaque_token(&token);
    (token, hash)
}

/// SHA-256 is enough here: the tokens carry 256 bits of randomness, so there is nothing to
/// brute-force, and a fast hash lets us look them up by hash.
pub fn hash_opaque_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
