//! Signatures per the Standard Webhooks specification (v1): the receiver recomputes
//! `HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}")` and compares it with each
//! `v1,<base64>` entry of `webhook-signature`. The id stays the same across retries; the
//! timestamp is the attempt's, so a delivery is signed when it is sent (a redelivery after a
//! restart still falls inside the receiver's tolerance window).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a secret as shown to the admin once (`whsec_` + base64 of its bytes).
const PREFIX: &str = "whsec_";
/// 32 random bytes: the specification asks for 24 to 64.
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Its bytes never leave the server but in the answer that
/// creates or rotates it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Secret {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::fill(&mut bytes[..]);
        Secret(bytes)
    }

    /// The stored bytes, as read back from the database.
    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// As the admin copies it into their receiver: `whsec_...`.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of one attempt.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cold]
fn unreachable_key() -> ! {
    // Hmac<Sha256> accepts keys of every length (longer ones are hashed first).
    panic!("HMAC-SHA256 refused a key")
}

/// The `webhook-signature` header: one `v1,` entry per secret, space separated (the current
/// secret and, while a rotation's grace lasts, the previous one).
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example: secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`,
    /// id `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn signs_the_specification_s_example() {
        let secret = Secret(
            STANDARD
                .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap_or_default(),
        );
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(secret.reveal(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_and_secrets_do_not_print() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 32);
        let header = signature_header(&[&a, &b], "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            vec![a.sign("msg_1", 1, b"{}"), b.sign("msg_1", 1, b"{}")]
        );
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }
}
