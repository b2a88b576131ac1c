//! What an ID token must say before we believe it (OpenID Connect Core 1.0, 3.1.3.7), and the
//! identity read from it.
//!
//! `keys::verify` checks the signature and, through [`validation`], `iss` (the provider's
//! issuer exactly), `aud` (our client id among them), `exp` and `nbf` (a minute's leeway) and
//! that `sub` is there. The rest is here: `azp` (our client id whenever it is present, and
//! required when there are several audiences), `iat` (present and not in the future), `nonce`
//! (the one this sign-in sent, compared by hash) and the subject claim the organisation chose.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Clock skew tolerated between us and the provider.
pub const LEEWAY_SECS: u64 = 60;
/// The longest subject (or email) accepted.
const MAX_SUBJECT: usize = 255;

/// The standard checks of an ID token signed with `alg`.
pub fn validation(alg: Algorithm, issuer: &str, client_id: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = LEEWAY_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
    v
}

/// What this sign-in expects of its token, besides the standard checks.
pub struct Expected<'a> {
    pub client_id: &'a str,
    /// SHA-256 of the nonce the sign-in sent.
    pub nonce_hash: &'a [u8],
    /// The claim that names the person (`sub`, `oid`, ...).
    pub subject_claim: &'a str,
    /// Seconds since the epoch, now.
    pub now: i64,
}

/// Who the provider vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The value of the organisation's subject claim.
    pub subject: String,
    /// Lower-cased, as the token gave it (not checked as an address here).
    pub email: Option<String>,
    /// The provider says the email belongs to this person (`email_verified`, or Entra ID's
    /// `xms_edov`: the email's domain is verified by its owner).
    pub email_verified: bool,
    pub name: Option<String>,
}

pub fn nonce_hash(nonce: &str) -> Vec<u8> {
    Sha256::digest(nonce.as_bytes()).to_vec()
}

/// The identity of a token whose signature and standard claims passed, or why it is refused.
pub fn identity(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<Identity, String> {
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").map(Value::as_str) {
        Some(Some(azp)) if azp == expected.client_id => {}
        Some(_) => return Err("the ID token was issued to another party (azp)".into()),
        None if several => {
            return Err("the ID token has several audiences and no azp".into());
        }
        None => {}
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("the ID token has no iat")?;
    if iat > expected.now + LEEWAY_SECS as i64 {
        return Err("the ID token was issued in the future (iat)".into());
    }
    let nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .ok_or("the ID token has no nonce")?;
    if nonce_hash(nonce) != expected.nonce_hash {
        return Err("the ID token's nonce is not this sign-in's".into());
    }
    let subject = claims
        .get(expected.subject_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= MAX_SUBJECT)
        .ok_or_else(|| {
            format!(
                "the ID token has no usable {} (the subject claim)",
                expected.subject_claim
            )
        })?;
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty() && e.chars().count() <= MAX_SUBJECT);
    let said = |name: &str| match claims.get(name) {
        Some(Value::Bool(b)) => *b,
        // Some providers send booleans as strings.
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Identity {
        subject: subject.to_string(),
        email,
        email_verified: said("email_verified") || said("xms_edov"),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(extra: Value) -> Map<String, Value> {
        let mut base = json!({
            "iss": "https://idp.example", "aud": "client-1", "sub": "s-1", "oid": "o-1",
            "exp": 2_000_000_000i64, "iat": 1_000, "nonce": "n-1",
            "email": "Ana@Example.com", "email_verified": true, "name": "Ana",
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        base.as_object().cloned().unwrap_or_default()
    }

    fn check(extra: Value, subject_claim: &str) -> Result<Identity, String> {
        let hash = nonce_hash("n-1");
        identity(
            &claims(extra),
            &Expected {
                client_id: "client-1",
                nonce_hash: &hash,
                subject_claim,
                now: 1_000,
            },
        )
    }

    #[test]
    fn a_good_token_gives_its_identity() {
        assert_eq!(
            check(json!({}), "sub"),
            Ok(Identity {
                subject: "s-1".into(),
                email: Some("ana@example.com".into()),
                email_verified: true,
                name: Some("Ana".into()),
            })
        );
        assert_eq!(check(json!({}), "oid").map(|i| i.subject), Ok("o-1".into()));
        assert!(check(json!({}), "upn").is_err());
    }

    #[test]
    fn nonce_azp_and_iat_are_checked() {
        assert!(check(json!({"nonce": "other"}), "sub").is_err_and(|e| e.contains("nonce")));
        assert!(check(json!({"nonce": null}), "sub").is_err());
        assert!(check(json!({"azp": "client-2"}), "sub").is_err_and(|e| e.contains("azp")));
        assert!(check(json!({"azp": "client-1"}), "sub").is_ok());
        assert!(check(json!({"aud": ["client-1", "api"]}), "sub").is_err());
        assert!(
            check(
                json!({"aud": ["client-1", "api"], "azp": "client-1"}),
                "sub"
            )
            .is_ok()
        );
        assert!(check(json!({"iat": 1_000 + 61}), "sub").is_err_and(|e| e.contains("iat")));
        assert!(check(json!({"iat": null}), "sub").is_err());
    }

    #[test]
    fn an_email_counts_as_verified_only_when_the_provider_says_so() {
        let unverified = check(json!({"email_verified": null}), "sub");
        assert_eq!(unverified.map(|i| i.email_verified), Ok(false));
        let entra = check(json!({"email_verified": null, "xms_edov": true}), "sub");
        assert_eq!(entra.map(|i| i.email_verified), Ok(true));
        let string = check(json!({"email_verified": "true"}), "sub");
        assert_eq!(string.map(|i| i.email_verified), Ok(true));
    }
}
