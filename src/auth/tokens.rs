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

/// What a verified access token names: all the request guards need of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub member: Uuid,
    pub organisation: Uuid,
    pub session: Uuid,
    /// Expiry (Unix seconds).
    pub exp: i64,
}

/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_SECS: i64 = 5;

/// Bytes of tokens the verification memo holds (a token is ~350 bytes: ~45,000 tokens).
const MEMO_BYTES: u64 = 16 << 20;

/// Signing and verification keys. HS256 only: the algorithm is pinned, whatever the token's
/// header claims, so `alg: none` and algorithm-confusion tokens are refused.
pub struct JwtKeys {
    active_kid: String,
    encoding: EncodingKey,
    decoding: Vec<(String, DecodingKey)>,
    issuer: String,
    audience: String,
    pub access_ttl_secs: i64,
    /// Tokens that passed verification, by their exact text. A client sends the same token
    /// for many requests until it expires, and checking it again (base64, two JSON documents,
    /// an HMAC) cost as much as the rest of a cached leaderboard request. Only the very string
    /// that verified hits, so a memo cannot be fooled by a forged or altered token; expiry is
    /// still checked on every hit. Whether the session behind it lives is checked by the
    /// guard on every request, as before.
    verified: quick_cache::sync::Cache<Box<str>, TokenSubject, TokenBytes>,
}

#[derive(Clone)]
struct TokenBytes;

impl quick_cache::Weighter<Box<str>, TokenSubject> for TokenBytes {
    fn weight(&self, token: &Box<str>, _: &TokenSubject) -> u64 {
        token.len() as u64 + 96
    }
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
            verified: quick_cache::sync::Cache::with_weighter(
                (MEMO_BYTES / 448) as usize,
                MEMO_BYTES,
                TokenBytes,
            ),
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

    /// Check an access token: signature, issuer, audience, expiry.
    pub fn verify(&self, token: &str) -> Result<TokenSubject, AppError> {
        let now = chrono::Utc::now().timestamp();
        let subject = match self.verified.get(token) {
            Some(subject) => subject,
            None => {
                let claims = self.verify_signed(token)?;
                let subject = TokenSubject {
                    member: claims.sub,
                    organisation: claims.org,
                    session: claims.sid,
                    exp: claims.exp,
                };
                self.verified.insert(token.into(), subject);
                subject
            }
        };
        if subject.exp < now - LEEWAY_SECS {
            return Err(expired());
        }
        Ok(subject)
    }

    fn verify_signed(&self, token: &str) -> Result<Claims, AppError> {
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
        validation.leeway = LEEWAY_SECS as u64;
        decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => expired(),
                _ => invalid(),
            })
    }
}

fn expired() -> AppError {
    AppError::Unauthorized("the access token has expired; refresh it".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &[b"unit-test-secret-unit-test-secret-0123".to_vec()],
            "i",
            "a",
            60,
        )
        .unwrap()
    }

    #[test]
    fn a_verified_token_is_remembered_only_by_its_exact_text() {
        let keys = keys();
        let (member, org, session) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let token = keys.issue(member, org, Role::Employee, session).unwrap();
        let first = keys.verify(&token).unwrap();
        assert_eq!(
            (first.member, first.organisation, first.session),
            (member, org, session)
        );
        assert_eq!(keys.verify(&token).unwrap(), first);
        // The memo holds the good token; a copy with its signature altered is still refused.
        let mut altered = token.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&altered).is_err());
        assert!(keys.verify(&format!("{token} ")).is_err());
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let keys = keys();
        let token = keys
            .issue(
                Uuid::new_v4(),
                Uuid::new_v4(),
                Role::Employee,
                Uuid::new_v4(),
            )
            .unwrap();
        let mut subject = keys.verify(&token).unwrap();
        // As if the token had been verified a while ago and its time were now up.
        subject.exp = chrono::Utc::now().timestamp() - LEEWAY_SECS - 1;
        keys.verified.insert(token.as_str().into(), subject);
        let refused = keys.verify(&token).unwrap_err();
        assert!(refused.to_string().contains("expired"), "{refused}");
    }
}
