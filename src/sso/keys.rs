//! A provider's signing keys (its JWKS) and the check of an ID token's signature with them.
//!
//! Keys are cached per issuer for an hour. Providers rotate them: a token signed by a key we
//! have not seen (an unknown `kid`, or no cached key that verifies it) fetches the set again,
//! but at most once per [`REFETCH_EVERY`] per provider, so a flood of tokens with forged key
//! ids cannot make us hammer the provider. One fetch at a time per provider: concurrent
//! sign-ins wait for it and use what it brought.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind};
use reqwest::Url;
use serde_json::{Map, Value};

use crate::outbound::Client;

/// How long a key set is used before it is fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of one provider's keys.
pub const REFETCH_EVERY: Duration = Duration::from_secs(30);
/// The largest key set read (real ones are a few KiB).
const KEYS_CAP: usize = 256 * 1024;
/// The most keys kept of a set.
const MAX_KEYS: usize = 64;

/// Asymmetric algorithms only: an ID token signed with a shared secret (`HS256`), or not at
/// all (`none`), is refused whatever the provider says.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One usable key of a set.
struct SigningKey {
    kid: Option<String>,
    /// The `alg` the set pins the key to, if it does.
    alg: Option<String>,
    key: DecodingKey,
}

/// A provider's keys as last fetched.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    /// Where they came from (a changed `jwks_uri` fetches again).
    from: Option<Url>,
    fetched: Option<Instant>,
}

impl KeySet {
    fn stale(&self, jwks_uri: &Url, now: Instant) -> bool {
        self.from.as_ref() != Some(jwks_uri)
            || self
                .fetched
                .is_none_or(|at| now.saturating_duration_since(at) >= KEYS_TTL)
    }

    fn may_refetch(&self, now: Instant) -> bool {
        self.fetched
            .is_none_or(|at| now.saturating_duration_since(at) >= REFETCH_EVERY)
    }

    async fn fetch(&mut self, client: &Client, jwks_uri: &Url, now: Instant) -> Result<(), String> {
        // Counted as a fetch even when it fails: a provider that is down is not asked again
        // sooner than one that answered.
        self.fetched = Some(now);
        let fetched = client
            .get(jwks_uri, "application/json", KEYS_CAP)
            .await
            .map_err(|e| format!("its keys could not be fetched: {e}"))?;
        if fetched.status != 200 {
            return Err(format!("its keys answered HTTP {}", fetched.status));
        }
        let set: Value = serde_json::from_slice(&fetched.body)
            .map_err(|_| "its key set is not JSON".to_string())?;
        self.keys = usable_keys(&set);
        self.from = Some(jwks_uri.clone());
        tracing::info!(keys = self.keys.len(), "identity provider keys fetched");
        Ok(())
    }

    /// Verify `token` with the keys that may have signed it: `Ok(claims)`, or why not.
    fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
        validation: &Validation,
    ) -> Result<Map<String, Value>, Failure> {
        let name = format!("{alg:?}");
        let candidates = self.keys.iter().filter(|k| {
            k.alg.as_deref().is_none_or(|a| a == name)
                && k.key.family() == alg.family()
                && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid))
        });
        let mut failure = Failure::NoKey;
        for candidate in candidates {
            match decode::<Map<String, Value>>(token, &candidate.key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => match e.kind() {
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidRsaKey(_)
                    | ErrorKind::InvalidEddsaKey
                    | ErrorKind::InvalidKeyFormat => failure = Failure::BadSignature,
                    _ => return Err(Failure::Claims(describe(e.kind()))),
                },
            }
        }
        Err(failure)
    }
}

/// Why a token did not verify.
enum Failure {
    /// No key of the set is the token's (its `kid`, its algorithm).
    NoKey,
    /// Keys were tried; none verified the signature.
    BadSignature,
    /// The signature verified; a standard claim did not pass.
    Claims(String),
}

/// The keys of a JWKS that can verify signatures; any other entry is skipped, not fatal.
fn usable_keys(set: &Value) -> Vec<SigningKey> {
    let entries = set.get("keys").and_then(Value::as_array);
    entries
        .into_iter()
        .flatten()
        .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
        .filter(|jwk| {
            !matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
            )
        })
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            // A shared secret in a public key set is a mistake or a trap: never a verifier.
            (key.family() != jsonwebtoken::AlgorithmFamily::Hmac).then(|| SigningKey {
                kid: jwk.common.key_id.clone(),
                alg: jwk.common.key_algorithm.map(|a| format!("{a:?}")),
                key,
            })
        })
        .take(MAX_KEYS)
        .collect()
}

/// Verify an ID token's signature and standard claims (`validation` for its algorithm),
/// fetching `jwks_uri` when the cached keys are stale or do not know the token's key. `now`
/// is the service's clock (tests move it past the refetch interval).
pub async fn verify(
    client: &Client,
    key_set: &tokio::sync::Mutex<KeySet>,
    jwks_uri: &Url,
    now: Instant,
    token: &str,
    validation_for: impl Fn(Algorithm) -> Validation,
) -> Result<Map<String, Value>, String> {
    let header = decode_header(token).map_err(|_| "the ID token is not a JWT".to_string())?;
    if !ALLOWED.contains(&header.alg) {
        return Err(format!(
            "the ID token is signed with {:?}, which is not accepted",
            header.alg
        ));
    }
    let validation = validation_for(header.alg);
    let kid = header.kid.as_deref();
    let mut keys = key_set.lock().await;
    if keys.stale(jwks_uri, now)
        && let Err(e) = keys.fetch(client, jwks_uri, now).await
    {
        // Keys fetched before still serve while the provider does not answer.
        tracing::warn!(error = %e, "identity provider keys: fetch failed");
    }
    match keys.verify(token, header.alg, kid, &validation) {
        Ok(claims) => return Ok(claims),
        Err(Failure::Claims(why)) => return Err(why),
        Err(Failure::NoKey | Failure::BadSignature) if keys.may_refetch(now) => {
            // A key we have not seen: the provider may have rotated.
            keys.fetch(client, jwks_uri, now).await?;
        }
        Err(failure) => return Err(failure_text(&failure, true)),
    }
    keys.verify(token, header.alg, kid, &validation)
        .map_err(|f| failure_text(&f, false))
}

fn failure_text(failure: &Failure, throttled: bool) -> String {
    let when = if throttled {
        " (the provider's keys were fetched less than 30 s ago)"
    } else {
        ""
    };
    match failure {
        Failure::NoKey => format!("the ID token names a key the provider does not publish{when}"),
        Failure::BadSignature => format!("the ID token's signature does not verify{when}"),
        Failure::Claims(why) => why.clone(),
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the ID token has expired".into(),
        ErrorKind::InvalidIssuer => "the ID token is from another issuer".into(),
        ErrorKind::InvalidAudience => "the ID token is for another client (aud)".into(),
        ErrorKind::ImmatureSignature => "the ID token is not valid yet (nbf)".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the ID token has no {claim}"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the ID token's {claim} is malformed"),
        ErrorKind::InvalidAlgorithm => "the ID token's algorithm does not fit its key".into(),
        _ => "the ID token is malformed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_signature_keys_of_asymmetric_kinds_are_kept() {
        let rsa = json!({"kty": "RSA", "kid": "a", "use": "sig", "alg": "RS256",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
            "e": "AQAB"});
        let mut encryption = rsa.clone();
        encryption["use"] = json!("enc");
        let secret = json!({"kty": "oct", "k": "c2VjcmV0"});
        let unknown = json!({"kty": "XYZ"});
        let keys = usable_keys(&json!({ "keys": [rsa, encryption, secret, unknown] }));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("a"));
        assert_eq!(keys[0].alg.as_deref(), Some("RS256"));
        assert!(usable_keys(&json!({"nope": 1})).is_empty());
    }
}
